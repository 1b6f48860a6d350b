"""The relay pair as its clients see it: haproxy in front of postfix on two nodes, one VIP, mail.

Built from the lab (vipkeeper.lab): a bridge with nodes a (priority 150, the Master) and b (100)
and a client namespace (Topology.add_bridge_lan); each node is a `LabNode` with its own PID and
mount namespace, a real haproxy (port 2525 on the node's address and the VIP) and a real postfix
`master` started by the lab's start_haproxy / start_postfix. The VRRP daemons are the lab's
`HostDaemon` (bench/daemons.py's reasoning: both track through the process connector only from
the initial namespaces), so every node's processes are visible to every daemon: each node runs
*renamed copies* of haproxy and master (`<prefix>ha`, `<prefix>ma` for node a ...) and its
configuration tracks those names. The check script of the seed configuration is the seed's
script with the same two names put in; nothing else in it changes.

Postfix delivers locally: `virtual_mailbox_domains = relay.example`, every recipient into one
maildir per node (`<node>/mail/box/new/`), so the harness counts delivered ids by reading the
`X-Bench-Id` header of each file at the end. The client (`bench/smtp_client.py`) runs in the
client namespace and writes one JSON line per session; `Load` collects them as they come.

Failures injected on the Master (a), and how `restore` undoes them:
- haproxy: its haproxy SIGKILLed (restarted);
- postfix: its postfix `master` SIGKILLed (restarted once the port is free);
- sigkill / sigterm: its VRRP daemon (started again; a SIGKILLed daemon's VIP is removed first,
  as an admin would find and remove it);
- link: its bridge port taken down (Topology.cut: no carrier; brought up again);
- reload: SIGHUP with the file unchanged (nothing to undo).
Everything started here is stopped in close(), by PID; the Topology removes the namespaces.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.native import named_copy
from vipkeeper.lab import nodes as labnodes
from vipkeeper.lab.nodes import HostDaemon, LabNode
from vipkeeper.lab.proc import NodeProcess
from vipkeeper.lab.topology import LabError, Topology
from vipkeeper.lab.watch import AddressWatch

VIP = "192.0.2.25"
PORT = 2525
REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "tests" / "data" / "seed"
FAILURES = ["haproxy", "postfix", "sigkill", "sigterm", "link", "reload"]
FAILURE_TEXT = {
    "haproxy": "haproxy SIGKILLed on the Master",
    "postfix": "postfix master SIGKILLed on the Master",
    "sigkill": "Master's VRRP daemon SIGKILLed",
    "sigterm": "Master's VRRP daemon SIGTERMed",
    "link": "Master's link cut (no carrier)",
    "reload": "Master's daemon reloaded (SIGHUP, same file)",
}
# (label, daemon, fast_handover)
VARIANTS = [("vipkeeper fast", "vipkeeper", True), ("vipkeeper rfc", "vipkeeper", False), ("keepalived", "keepalived", False)]

# the lab's postfix (lab/nodes.py) plus local delivery into maildirs and a use limit per process
POSTFIX_MAIN = labnodes.POSTFIX_MAIN + """\
biff = no
smtpd_peername_lookup = no
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = relay.example
virtual_mailbox_base = {mail}
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
max_use = {max_use}
"""

POSTFIX_MASTER = """\
smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
proxymap  unix  -       -       n       -       -       proxymap
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
virtual   unix  -       n       n       -       -       virtual
postlog   unix-dgram n  -       n       -       1       postlogd
"""

QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")


def relay_config(kind: str, node: str, names: dict[str, str], script: str | None, fast: bool) -> str:
    """The configuration one node's daemon reads.

    kind "fixed": tests/data/seed/smtp-relay-node1.conf / -node2.conf (what `vipkeeper lint`
    proposes for the seed: each process tracked once, by vrrp_track_process with `delay 1`, no
    pidof script). kind "seed": tests/data/seed/smtp-relay-antipattern.conf (node 2: the same
    file with router_id relay2, state BACKUP, priority 100), its script at `script`. With the
    seed's `weight -20` a failed script takes a from 150 to 130, still above b's 100: the script
    alone can never move the VIP. kind "seed-w60" is the seed with `weight -60` (a hypothetical
    admin's weight that outweighs the gap): each failed script run on a then moves the VIP.
    kind "seed-qmax1" is the seed with `quorum_max 1` on track_postfix (hypothetical too): postfix's
    master forks each child under its own name before the exec, so for that instant two processes
    are named master, one more than quorum_max, and no `delay` rides it out.
    Process names are the node's renamed copies; `fast_handover` is added for vipkeeper fast.
    """
    if kind == "fixed":
        text = (SEED / f"smtp-relay-node{1 if node == 'a' else 2}.conf").read_text()
    elif kind in ("seed", "seed-w60", "seed-qmax1"):
        text = (SEED / "smtp-relay-antipattern.conf").read_text()
        if kind == "seed-w60":  # not the seed: a weight that outweighs the priority gap (150 - 60 < 100)
            text = text.replace("  weight -20\n", "  weight -60\n", 1)
        if kind == "seed-qmax1":  # not the seed: "exactly one postfix master", without delay
            text = text.replace("  process master\n", "  process master\n  quorum_max 1\n", 1)
        if node != "a":
            text = text.replace("router_id relay1", "router_id relay2").replace("state MASTER", "state BACKUP")
            text = text.replace("priority 150", "priority 100")
        assert script is not None
        text = text.replace("/etc/keepalived/check_services.sh", script)
    else:
        raise ValueError(kind)
    text = re.sub(r"(?m)^(\s*process) haproxy\b", rf"\1 {names['haproxy']}", text)
    text = re.sub(r"(?m)^(\s*process) master\b", rf"\1 {names['master']}", text)
    if fast:
        text = text.replace("  virtual_ipaddress {", "  fast_handover\n  virtual_ipaddress {", 1)
    return text


def seed_script(path: Path, names: dict[str, str]) -> None:
    """tests/data/seed/check_services.sh with the node's process names; executable, root-owned."""
    text = (SEED / "check_services.sh").read_text()
    text = text.replace("pidof haproxy", f"pidof {names['haproxy']}").replace("pidof master", f"pidof {names['master']}")
    path.write_text(text)
    path.chmod(0o755)


@dataclass
class Session:
    id: str
    t0: float
    t1: float
    result: str
    stage: str
    data_sent: bool

    @property
    def ok(self) -> bool:
        return self.result == "ok"


class Load:
    """One run of bench/smtp_client.py in the client namespace; its sessions as they end."""

    def __init__(self, topo: Topology, ns: str, prefix: str, rate: float, concurrency: int, duration: float,
                 max_sessions: int = 100000) -> None:
        argv = [sys.executable, "-m", "bench.smtp_client", "--vip", VIP, "--port", str(PORT), "--prefix", prefix,
                "--rate", f"{rate:g}", "--concurrency", str(concurrency), "--duration", f"{duration:g}",
                "--max-sessions", str(max_sessions)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        self.proc: NodeProcess = topo.popen(ns, argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=str(REPO))
        self.sessions: list[Session] = []
        self.ended = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, name=f"load-{prefix}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        import json

        assert self.proc.popen.stdout is not None
        for raw in iter(self.proc.popen.stdout.readline, b""):
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            with self._cond:
                if "end" in rec:
                    self.ended = True
                else:
                    self.sessions.append(Session(rec["id"], rec["t0"], rec["t1"], rec["result"], rec["stage"], rec["data_sent"]))
                self._cond.notify_all()
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    def snapshot(self) -> list[Session]:
        with self._cond:
            return list(self.sessions)

    def wait_ok(self, count: int, after: float, timeout: float) -> bool:
        """Until `count` sessions started at or after `after` have succeeded."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(1 for s in self.sessions if s.ok and s.t0 >= after) < count:
                left = deadline - time.monotonic()
                if left <= 0 or self.ended:
                    return False
                self._cond.wait(left)
        return True

    def stop(self, timeout: float = 40.0) -> list[Session]:
        """SIGTERM: no new sessions; those in flight end within their timeouts."""
        if self.proc.running:
            self.proc.popen.send_signal(signal.SIGTERM)
        try:
            self.proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.stop(1.0)
        self._thread.join(5.0)
        return self.snapshot()


@dataclass
class RelayNode:
    lab: LabNode
    names: dict[str, str]  # haproxy/master -> process name (comm) on this node
    binaries: dict[str, str]
    watch: AddressWatch
    daemon: HostDaemon | None = None
    mail: Path = field(default_factory=Path)


class RelayPair:
    """Nodes a and b with haproxy + postfix, one daemon kind and configuration; a client namespace."""

    def __init__(self, impl: str, fast: bool, workdir: str | Path, label: str, config: str = "fixed",
                 max_use: int = 100) -> None:
        self.impl = impl
        self.fast = fast
        self.label = label
        self.config = config
        self.max_use = max_use
        self.workdir = Path(workdir) / label
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o755)
        self.topo = Topology()
        self.nodes: dict[str, RelayNode] = {}
        self.failures_injected = 0
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # -- building --------------------------------------------------------------------------
    def _build(self) -> None:
        self.lan = self.topo.add_bridge_lan(nodes=("a", "b"), client="client", ipv6=False)
        self.client_ns = self.lan["client"].ns
        uid, gid = 65534, 65534  # nobody/nogroup owns the maildirs (virtual_uid_maps)
        for name in ("a", "b"):
            node = self.lan[name]
            lab = LabNode(self.topo, node, self.workdir / name)
            lab.start_init()
            bindir = lab.workdir / "bin"
            bindir.mkdir(parents=True, exist_ok=True)
            names = {"haproxy": f"{self.topo.prefix}h{name}", "master": f"{self.topo.prefix}m{name}"}
            binaries = {"haproxy": named_copy("/usr/sbin/haproxy", str(bindir), names["haproxy"]),
                        "master": named_copy("/usr/lib/postfix/sbin/master", str(bindir), names["master"])}
            (lab.workdir / "haproxy.cfg").write_text(labnodes.HAPROXY_CFG.replace("{address}", "0.0.0.0"))
            etc = labnodes.prepare_postfix(lab)
            mail = lab.workdir / "mail"
            mail.mkdir(exist_ok=True)
            os.chown(mail, uid, gid)
            (etc / "main.cf").write_text(POSTFIX_MAIN.format(spool=lab.workdir / "postfix" / "spool",
                                                             data=lab.workdir / "postfix" / "data", host=name,
                                                             mail=mail, uid=uid, gid=gid, max_use=self.max_use))
            (etc / "master.cf").write_text(POSTFIX_MASTER)
            rn = RelayNode(lab, names, binaries, AddressWatch(node.ns), mail=mail)
            self.nodes[name] = rn
            self.start_service(rn, "haproxy")
            self.start_service(rn, "postfix")
        for name, rn in self.nodes.items():
            script = None
            if self.config.startswith("seed"):
                script = str(rn.lab.workdir / "check_services.sh")
                seed_script(Path(script), rn.names)
            conf = rn.lab.workdir / f"{self.impl}.conf"
            conf.write_text(relay_config(self.config, name, rn.names, script, self.fast and self.impl == "vipkeeper"))
            rn.daemon = HostDaemon(self.impl, rn.lab.ns, conf, rn.lab.workdir, "vrrp")
            rn.daemon.start()

    def start_service(self, rn: RelayNode, service: str, timeout: float = 10.0) -> None:
        """Start haproxy or postfix on a node; retried while the old one's port is still held
        (a killed postfix master's children finish their sessions first)."""
        deadline = time.monotonic() + timeout
        while True:
            if service == "haproxy":
                proc = labnodes.start_haproxy(rn.lab, binary=rn.binaries["haproxy"])
            else:
                proc = labnodes.start_postfix(rn.lab, binary=rn.binaries["master"])
            time.sleep(0.3)
            if proc.running:
                return
            rn.lab.procs.pop("haproxy" if service == "haproxy" else "postfix", None)
            if time.monotonic() >= deadline:
                raise LabError(f"{self.label}: {service} on {rn.lab.name} does not stay up")
            time.sleep(0.2)

    # -- state -----------------------------------------------------------------------------
    def holders(self) -> list[str]:
        return [n for n, rn in self.nodes.items() if rn.watch.holds(VIP)]

    def steady(self, timeout: float) -> bool:
        """a alone holds the VIP, for one advert interval and a bit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.holders() == ["a"]:
                time.sleep(1.2)
                if self.holders() == ["a"]:
                    return True
            time.sleep(0.05)
        return False

    def vip_moved(self, after: float) -> float | None:
        """When b got the VIP at or after `after` (netlink), else None."""
        return self.nodes["b"].watch.first(VIP, added=True, after=after)

    # -- failures --------------------------------------------------------------------------
    def inject(self, how: str) -> float:
        a = self.nodes["a"]
        assert a.daemon is not None
        self.failures_injected += 1
        if how == "haproxy":
            return a.lab.procs["haproxy"].kill(signal.SIGKILL)
        if how == "postfix":
            return a.lab.procs["postfix"].kill(signal.SIGKILL)
        if how == "sigkill":
            return a.daemon.signal(signal.SIGKILL)
        if how == "sigterm":
            return a.daemon.signal(signal.SIGTERM)
        if how == "reload":
            return a.daemon.signal(signal.SIGHUP)
        if how == "link":
            t = time.time()
            self.topo.cut(self.lan["a"])
            return t
        raise ValueError(how)

    def restore(self, how: str) -> None:
        a = self.nodes["a"]
        assert a.daemon is not None
        if how in ("haproxy", "postfix"):
            name = "haproxy" if how == "haproxy" else "postfix"
            proc = a.lab.procs.pop(name)
            proc.wait(5.0)
            proc.handle.stop(2.0)
            self.start_service(a, how)
        elif how in ("sigkill", "sigterm"):
            a.daemon.wait(10)
            a.daemon.stop()
            if a.watch.holds(VIP):  # a SIGKILLed daemon leaves its VIP behind, as a crashed one would
                self.topo.run(a.lab.ns, ["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"], check=False)
            a.daemon.start()
        elif how == "link":
            self.topo.restore(self.lan["a"])

    # -- mail ------------------------------------------------------------------------------
    def queued(self) -> int:
        """Messages still in any node's postfix queue."""
        count = 0
        for rn in self.nodes.values():
            spool = rn.lab.workdir / "postfix" / "spool"
            for q in QUEUES:
                for _root, _dirs, files in os.walk(spool / q):
                    count += len(files)
        return count

    def drain(self, timeout: float = 60.0) -> int:
        """Wait (bounded) for both queues to empty; returns what is left queued."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.queued()
            if left == 0 or time.monotonic() >= deadline:
                return left
            time.sleep(0.2)

    def delivered(self) -> dict[str, list[str]]:
        """id -> the nodes whose maildir holds it (once per copy)."""
        found: dict[str, list[str]] = {}
        for name, rn in self.nodes.items():
            for sub in ("new", "cur"):
                d = rn.mail / "box" / sub
                if not d.is_dir():
                    continue
                for entry in os.scandir(d):
                    try:
                        with open(entry.path, "rb") as f:
                            head = f.read(4096)
                    except OSError:
                        continue
                    m = re.search(rb"^X-Bench-Id: (\S+)", head, re.MULTILINE)
                    if m:
                        found.setdefault(m.group(1).decode(), []).append(name)
        return found

    def load(self, prefix: str, rate: float, concurrency: int, duration: float) -> Load:
        return Load(self.topo, self.client_ns, prefix, rate, concurrency, duration)

    # -- teardown --------------------------------------------------------------------------
    def daemon_log(self, node: str) -> list[str]:
        d = self.nodes[node].daemon
        return d.log_lines() if d else []

    def close(self) -> None:
        """Stop the daemons (their logs are written to <node>/daemon.log for --keep), the
        watchers, then every process and namespace of the topology."""
        for rn in self.nodes.values():
            if rn.daemon is not None:
                try:
                    rn.daemon.stop()
                except (OSError, subprocess.SubprocessError) as exc:
                    print(f"  warning: stopping {self.label}/{rn.lab.name}: {exc}", file=sys.stderr)
                try:
                    (rn.lab.workdir / "daemon.log").write_text("\n".join(rn.daemon.log_lines()) + "\n")
                except OSError:
                    pass
            rn.watch.close()
        self.topo.close()


def prerequisites() -> list[str]:
    missing = [p for p in ("/usr/sbin/haproxy", "/usr/lib/postfix/sbin/master", "/usr/sbin/keepalived") if not os.path.exists(p)]
    return missing + ([] if shutil.which("pidof") else ["pidof"])
