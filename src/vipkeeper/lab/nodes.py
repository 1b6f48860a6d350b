"""Lab nodes that own their processes: a network namespace plus a PID and mount namespace.

Why: network namespaces share PIDs (platform-notes.md), so a tracker on node A would see node B's
haproxy. Each node here starts one small init process under `unshare --pid --fork --mount-proc`;
everything else on the node (haproxy, postfix's `master`, the VRRP daemon) joins that init's PID
and mount namespaces with `nsenter --target INIT --pid --mount`, inside the node's network
namespace. The node's init reaps orphans (so an exited daemon never lingers as a zombie that a
/proc scan could count), and when it dies the kernel kills everything left in the node: stopping
the init is the last word in cleaning up a node.

Processes are known by the PID the lab sees (the initial PID namespace), taken from the nsenter
process's child; signals go to that PID, never to a name.

Daemons (`vipkeeper run` or keepalived 2.2.7) log to stderr; a thread per daemon reads the lines
and stamps each with the time in its own timestamp (vipkeeper's ISO time with milliseconds) or,
failing that, the time it was read.

A daemon can also run *beside* the nodes (`HostDaemon`): started in the initial network and PID
namespaces and pointed at a lab namespace with its own option (`vipkeeper run --netns NS`,
`keepalived --namespace NS`), it opens the process connector before it enters NS and so tracks
processes event-driven -- the one way both daemons track alike, since keepalived's tracker works
nowhere else. The fault campaign and the benchmarks (bench/) run daemons that way; their logs
are the same stamped `DaemonLog`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vipkeeper.lab.proc import LabTimeout, NodeProcess, wait_for
from vipkeeper.lab.topology import LabError, Node, Topology

# PID 1 of a node: reap every child, exit on SIGTERM/SIGINT (PID 1 ignores signals it has no handler for).
REAPER = (
    "import os,signal\n"
    "def reap(*_):\n"
    "    while True:\n"
    "        try:\n"
    "            pid, _ = os.waitpid(-1, os.WNOHANG)\n"
    "        except ChildProcessError:\n"
    "            return\n"
    "        if pid == 0:\n"
    "            return\n"
    "signal.signal(signal.SIGCHLD, reap)\n"
    "signal.signal(signal.SIGTERM, lambda *_: os._exit(0))\n"
    "signal.signal(signal.SIGINT, lambda *_: os._exit(0))\n"
    "while True:\n"
    "    signal.pause()\n"
)

STATE_RE = re.compile(r"\((?P<instance>[^)]+)\) Entering (?P<state>[A-Z]+) STATE")
VIPKEEPER_TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d) ")


@dataclass(frozen=True)
class LogLine:
    time: float
    text: str

    @property
    def state(self) -> tuple[str, str] | None:
        """(instance, state) when this line is a state change."""
        m = STATE_RE.search(self.text)
        return (m["instance"], m["state"]) if m else None


class DaemonLog:
    """The stderr of one daemon, line by line, stamped."""

    def __init__(self, stream, label: str) -> None:  # type: ignore[no-untyped-def]
        self.label = label
        self.lines: list[LogLine] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), name=f"log-{label}", daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:  # type: ignore[no-untyped-def]
        for raw in iter(stream.readline, b""):
            now = time.time()
            text = raw.decode("utf-8", "replace").rstrip("\n")
            m = VIPKEEPER_TIME_RE.match(text)
            if m:
                try:
                    now = dt.datetime.fromisoformat(m.group(1)).timestamp()
                except ValueError:
                    pass
            with self._cond:
                self.lines.append(LogLine(now, text))
                self._cond.notify_all()
        stream.close()

    def snapshot(self) -> list[LogLine]:
        with self._cond:
            return list(self.lines)

    def states(self, instance: str | None = None, after: float = 0.0) -> list[tuple[float, str, str]]:
        out = []
        for line in self.snapshot():
            st = line.state
            if st and line.time >= after and (instance is None or st[0] == instance):
                out.append((line.time, st[0], st[1]))
        return out

    def state(self, instance: str | None = None) -> str | None:
        found = self.states(instance)
        return found[-1][2] if found else None

    def wait_line(self, predicate: Callable[[LogLine], bool], timeout: float, after: float = 0.0) -> LogLine:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if line.time >= after and predicate(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LabTimeout(f"{self.label}: no matching log line within {timeout:g}s")
                self._cond.wait(left)

    def text(self) -> str:
        return "\n".join(line.text for line in self.snapshot())


@dataclass
class NodeProc:
    """A process inside a lab node; `pid` is its PID as the lab sees it."""

    name: str
    handle: NodeProcess
    pid: int
    log: DaemonLog | None = None

    @property
    def running(self) -> bool:
        if not self.handle.running:
            return False
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> float:
        """Signal the process itself; returns the wall time of the kill."""
        now = time.time()
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass
        return now

    def wait(self, timeout: float) -> int | None:
        try:
            return self.handle.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


@dataclass
class LabNode:
    """One node: namespaces, a work directory and the processes started in it."""

    topo: Topology
    node: Node
    workdir: Path
    init: NodeProcess | None = None
    init_pid: int = 0
    procs: dict[str, NodeProc] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def ns(self) -> str:
        return self.node.ns

    def start_init(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.init = self.topo.popen(self.ns, [sys.executable, "-c", REAPER], pid_ns=True)
        self.init_pid = wait_for(self.init.inner_pid, 5.0, 0.002, what=f"{self.ns} init")

    def spawn(self, name: str, argv: Sequence[str], capture: bool = False, **popen) -> NodeProc:  # type: ignore[no-untyped-def]
        """Start argv in this node's network, PID and mount namespaces."""
        if self.init is None:
            raise LabError(f"{self.name}: node not started")
        if capture:
            popen.setdefault("stderr", subprocess.PIPE)
            popen.setdefault("stdout", subprocess.DEVNULL)
        else:
            popen.setdefault("stdout", subprocess.DEVNULL)
            popen.setdefault("stderr", subprocess.DEVNULL)
        handle = self.topo.popen(
            self.ns, ["nsenter", "--target", str(self.init_pid), "--pid", "--mount", "--", *argv], **popen
        )
        try:
            pid = wait_for(lambda: _child_of(handle.pid) or (not handle.running and -1), 5.0, 0.001,
                           what=f"{self.name}: {name} started")
        except LabTimeout:
            handle.stop(1.0)
            raise
        if pid < 0:
            raise LabError(f"{self.name}: {name} exited at once ({' '.join(argv)})")
        proc = NodeProc(name, handle, pid, DaemonLog(handle.popen.stderr, f"{self.name}/{name}") if capture else None)
        self.procs[name] = proc
        return proc

    def stop(self, name: str, timeout: float = 3.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            proc.handle.stop(timeout)


def make_workdir(prefix: str = "vklab-") -> Path:
    """A fresh directory that unprivileged service users (postfix) can traverse; the caller removes it."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def _child_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = f.read().split()
    except OSError:
        return None
    return int(children[0]) if children else None


# -- services ----------------------------------------------------------------------------------

HAPROXY_CFG = """\
global
    maxconn 64
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend smtp_in
    bind {address}:2525
    default_backend postfix
backend postfix
    server local 127.0.0.1:25
"""

POSTFIX_MAIN = """\
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
myhostname = {host}.lab.example
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file = /dev/stdout
alias_maps =
alias_database =
"""

POSTFIX_MASTER = """\
smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
postlog   unix-dgram n  -       n       -       1       postlogd
"""

# queue directory layout as postfix's post-install creates it: (name, mode, group)
_POSTFIX_QUEUE = [(d, 0o700, None) for d in ("active", "bounce", "corrupt", "defer", "deferred", "flush",
                                              "hold", "incoming", "private", "saved", "trace")]
_POSTFIX_QUEUE += [("maildrop", 0o730, "postdrop"), ("public", 0o710, "postdrop")]


def write_haproxy_config(node: LabNode) -> Path:
    path = node.workdir / "haproxy.cfg"
    path.write_text(HAPROXY_CFG.format(address=node.node.ipv4.ip))
    return path


def start_haproxy(node: LabNode, name: str = "haproxy", binary: str = "/usr/sbin/haproxy") -> NodeProc:
    """haproxy in the foreground (-db) on the node's address; its comm is `haproxy` (the basename
    of `binary`: a renamed copy gives each node's haproxy a name of its own, for daemons that
    track processes from the initial PID namespace, where every node's processes are seen)."""
    cfg = node.workdir / "haproxy.cfg"
    if not cfg.exists():
        write_haproxy_config(node)
    return node.spawn(name, [binary, "-db", "-f", str(cfg)])


def prepare_postfix(node: LabNode) -> Path:
    """A private postfix instance: config dir, queue and data directories in the work dir."""
    import grp
    import pwd

    root = node.workdir / "postfix"
    etc, spool, data = root / "etc", root / "spool", root / "data"
    for d in (etc, spool, data):
        d.mkdir(parents=True, exist_ok=True)
    try:
        uid = pwd.getpwnam("postfix").pw_uid
        gids = {"postdrop": grp.getgrnam("postdrop").gr_gid, None: 0}
    except KeyError:
        raise LabError("postfix is not installed (no postfix user or postdrop group)") from None
    for path in (node.workdir, root):
        path.chmod(0o755)
    for parent in node.workdir.resolve().parents:
        if not parent.stat().st_mode & 0o001:
            raise LabError(f"postfix (user postfix) cannot reach {root}: {parent} is not searchable by others; "
                           "use a work directory from make_workdir()")
    os.chown(data, uid, 0)
    data.chmod(0o700)
    spool.chmod(0o755)
    for name, mode, group in _POSTFIX_QUEUE:
        d = spool / name
        d.mkdir(exist_ok=True)
        os.chown(d, uid, gids[group])
        d.chmod(mode)
    (spool / "pid").mkdir(exist_ok=True)
    (etc / "main.cf").write_text(POSTFIX_MAIN.format(spool=spool, data=data, host=node.name))
    (etc / "master.cf").write_text(POSTFIX_MASTER)
    return etc


def start_postfix(node: LabNode, name: str = "postfix", binary: str = "/usr/lib/postfix/sbin/master") -> NodeProc:
    """postfix's `master` in the foreground (-d) with the node's private config; its comm is the
    basename of `binary` (`master`, or a renamed copy's name as for haproxy)."""
    etc = node.workdir / "postfix" / "etc"
    if not (etc / "main.cf").exists():
        etc = prepare_postfix(node)
    return node.spawn(name, [binary, "-c", str(etc), "-d"])


def process_visible(node: LabNode, comm: str) -> bool:
    """Whether a live process named `comm` runs in the node's PID namespace (read from its /proc)."""
    out = node.topo.run(node.ns, ["nsenter", "--target", str(node.init_pid), "--pid", "--mount", "--",
                                  "ps", "-e", "-o", "stat=,comm="], check=False)
    return any(line.split()[1:] == [comm] and not line.split()[0].startswith("Z")
               for line in out.stdout.splitlines() if line.strip())


# -- daemons -----------------------------------------------------------------------------------

_DAEMON_PYTHON: list[str] = []


def set_daemon_python(python: str) -> None:
    """Run the lab's `vipkeeper` commands with `python` rather than this interpreter (the bench
    measures the daemon under the interpreter the Debian package runs, /usr/bin/python3). This
    source tree goes first on PYTHONPATH, so that interpreter runs the same code."""
    import vipkeeper

    root = os.path.dirname(os.path.dirname(os.path.abspath(vipkeeper.__file__)))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])
    _DAEMON_PYTHON[:] = [python]


def daemon_python() -> str:
    """The interpreter the lab starts `vipkeeper` with (this one unless set_daemon_python chose)."""
    return _DAEMON_PYTHON[0] if _DAEMON_PYTHON else sys.executable


def vipkeeper_argv(node: LabNode, conf: Path | str, tag: str = "vk", extra: Sequence[str] = ()) -> list[str]:
    w = node.workdir
    return [daemon_python(), "-m", "vipkeeper", "run", "-n", "-l", "--no-syslog", "-f", str(conf),
            "-p", str(w / f"{tag}.pid"), "--control-socket", str(w / f"{tag}.ctl"),
            "--data-file", str(w / f"{tag}.data"), *extra]


def keepalived_argv(node: LabNode, conf: Path | str, tag: str = "ka") -> list[str]:
    w = node.workdir
    return ["/usr/sbin/keepalived", "-n", "-l", "-D", "-G", "-P", "-f", str(conf), "-p", str(w / f"{tag}.pid"),
            "-r", str(w / f"{tag}-vrrp.pid"), "-c", str(w / f"{tag}-checkers.pid")]


def start_daemon(node: LabNode, conf: Path | str, kind: str = "vipkeeper", name: str = "daemon",
                 extra: Sequence[str] = ()) -> NodeProc:
    argv = vipkeeper_argv(node, conf, extra=extra) if kind == "vipkeeper" else keepalived_argv(node, conf)
    return node.spawn(name, argv, capture=True)


class HostDaemon:
    """`vipkeeper run --netns NS` or `keepalived --namespace NS`, started from the initial namespaces.

    Files live in `workdir`, named by `tag`; each start gets fresh pid files (PID 1 of a sandbox
    may reap orphans late, and keepalived refuses to start while the PID in an old pid file is
    still a zombie). stdout and stderr of each start are one `DaemonLog`. Signals go to the PID
    we started (its process group when stopping), never to a name.
    """

    def __init__(self, kind: str, ns: str, conf: Path | str, workdir: Path | str, tag: str,
                 extra: Sequence[str] = ()) -> None:
        if kind not in ("vipkeeper", "keepalived"):
            raise ValueError(f"unknown daemon kind {kind!r}")
        self.kind = kind
        self.ns = ns
        self.conf = str(conf)
        self.workdir = Path(workdir)
        self.tag = tag
        self.extra = list(extra)
        self.control_socket = str(self.workdir / f"{tag}.ctl")
        self.popen: subprocess.Popen[bytes] | None = None
        self.logs: list[DaemonLog] = []
        self.starts = 0
        self.started_at = 0.0
        self.pid_file = ""
        self.vrrp_pid_file = ""
        self.env: dict[str, str] = {}  # added to the inherited environment at each start

    def argv(self) -> list[str]:
        w, n = self.workdir, self.starts
        self.pid_file = str(w / f"{self.tag}.{n}.pid")
        if self.kind == "vipkeeper":
            return [daemon_python(), "-m", "vipkeeper", "run", "-n", "-l", "--no-syslog", "--netns", self.ns,
                    "-f", self.conf, "-p", self.pid_file, "--control-socket", self.control_socket,
                    "--data-file", str(w / f"{self.tag}.data"), *self.extra]
        self.vrrp_pid_file = str(w / f"{self.tag}.{n}.vrrp.pid")
        return ["/usr/sbin/keepalived", "-n", "-l", "-G", "-P", "-R", "--namespace", self.ns, "-f", self.conf,
                "-p", self.pid_file, "-r", self.vrrp_pid_file, *self.extra]

    def start(self) -> None:
        self.starts += 1
        argv = self.argv()
        self.started_at = time.time()
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, start_new_session=True,
                                      env={**os.environ, **self.env} if self.env else None)
        self.logs.append(DaemonLog(self.popen.stdout, f"{self.ns}/{self.tag}.{self.starts}"))

    @property
    def log(self) -> DaemonLog | None:
        """The log of the current (last) start."""
        return self.logs[-1] if self.logs else None

    def log_lines(self) -> list[str]:
        """Every line logged since the first start, in order."""
        return [line.text for log in self.logs for line in log.snapshot()]

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise LabError(f"{self.tag}: not started")
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def vrrp_child(self) -> int | None:
        """keepalived's VRRP child (its PID file, checked to be our child), else None."""
        if self.kind != "keepalived" or not self.running:
            return None
        try:
            with open(self.vrrp_pid_file) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/stat") as f:  # a stale file must not name someone else's process
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            return None
        return pid if ppid == self.pid else None

    def pids(self) -> list[int]:
        """The daemon's processes: vipkeeper is one; keepalived a parent plus its VRRP child."""
        if not self.running:
            return []
        child = self.vrrp_child()
        return [self.pid] + ([child] if child else [])

    def signal(self, sig: int) -> float:
        """Signal the daemon as an admin (TERM, HUP) or a crash (KILL) would; returns the wall time.
        SIGKILL takes keepalived's VRRP child down first: killing only the parent would let the
        child see it die and shut down cleanly (priority 0), which is not a crash."""
        now = time.time()
        if sig == signal.SIGKILL:
            child = self.vrrp_child()
            if child:
                os.kill(child, sig)
        if self.running:
            os.kill(self.pid, sig)
        return now

    def wait(self, timeout: float) -> bool:
        """Whether the daemon has exited within `timeout`."""
        if self.popen is None:
            return True
        try:
            self.popen.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL to its process group after `timeout`; anything it left in its
        process group (scripts, children) is killed too."""
        if self.popen is None:
            return
        if self.running:
            os.kill(self.pid, signal.SIGTERM)
            if not self.wait(timeout):
                _killpg(self.pid)
                self.wait(timeout)
        _killpg(self.pid)


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
