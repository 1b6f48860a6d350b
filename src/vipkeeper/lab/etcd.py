"""A three-member etcd cluster (Debian's etcd-server) in lab namespaces, for the quorum witness.

The witness tests (tests/net/test_witness.py) and the fault campaign's witness mode use it.
Each member runs in its own node's network namespace, with its data directory under the test's
temporary directory, started and stopped by PID through the topology (never the package's own
service, never by name). Timers are short (heartbeat 50 ms, election 500 ms) so that a lost
member or leader costs the tests well under a second; etcd then accepts leases from 1 s up.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import time
from pathlib import Path

from .proc import LabTimeout, NodeProcess
from .topology import Node, Topology

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"


class EtcdCluster:
    def __init__(self, topo: Topology, members: list[Node], workdir: Path,
                 tls: tuple[str, str] | None = None) -> None:
        """`tls` = (certificate, key) files: clients talk https to the members, with that
        certificate (which must name the members' addresses) as their CA; peers stay http."""
        self.topo = topo
        self.members = members
        self.workdir = workdir
        self.tls = tls
        self.procs: dict[str, NodeProcess] = {}

    def _ctl(self) -> list[str]:
        return [ETCDCTL, "--cacert", self.tls[0]] if self.tls else [ETCDCTL]

    @staticmethod
    def available() -> bool:
        return shutil.which(ETCD) is not None

    def client_url(self, node: Node) -> str:
        return f"{'https' if self.tls else 'http'}://{node.ipv4.ip}:2379"

    @property
    def endpoints(self) -> list[str]:
        return [self.client_url(n) for n in self.members]

    def start(self, timeout: float = 20.0) -> None:
        initial = ",".join(f"{n.name}=http://{n.ipv4.ip}:2380" for n in self.members)
        for node in self.members:
            data = self.workdir / f"etcd-{node.name}"
            data.mkdir(parents=True, exist_ok=True)
            log = open(self.workdir / f"etcd-{node.name}.log", "ab")
            argv = [ETCD, "--name", node.name, "--data-dir", str(data),
                    "--listen-client-urls", self.client_url(node),
                    "--advertise-client-urls", self.client_url(node),
                    "--listen-peer-urls", f"http://{node.ipv4.ip}:2380",
                    "--initial-advertise-peer-urls", f"http://{node.ipv4.ip}:2380",
                    "--initial-cluster", initial, "--initial-cluster-state", "new",
                    "--initial-cluster-token", f"vk-{self.topo.prefix}",
                    "--heartbeat-interval", "50", "--election-timeout", "500",
                    "--logger", "zap", "--log-outputs", "stderr"]
            if self.tls:
                argv += ["--cert-file", self.tls[0], "--key-file", self.tls[1]]
            self.procs[node.name] = self.topo.popen(node.ns, argv, stdout=log, stderr=log)
        self.wait_healthy(self.members, timeout)

    def healthy(self, node: Node) -> bool:
        done = self.topo.run(node.ns, [*self._ctl(), "--endpoints", self.client_url(node), "--command-timeout=1s",
                                       "endpoint", "health"], check=False)
        return done.returncode == 0

    def wait_healthy(self, nodes: list[Node], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if all(self.healthy(n) for n in nodes):
                return
            if time.monotonic() >= deadline:
                raise LabTimeout(f"etcd members {[n.name for n in nodes]} not healthy within {timeout:g}s:\n"
                                 + self.log_tail())
            time.sleep(0.2)

    def get(self, via: Node, key: str) -> str | None:
        done = self.topo.run(via.ns, [*self._ctl(), "--endpoints", self.client_url(via), "--command-timeout=2s",
                                      "get", key, "-w", "json"], check=False)
        if done.returncode != 0:
            raise LabTimeout(f"etcdctl get via {via.name}: {done.stderr.strip()}")
        kvs = json.loads(done.stdout).get("kvs") or []
        if not kvs:
            return None
        return base64.b64decode(kvs[0]["value"]).decode()

    def kill(self, node: Node) -> None:
        """SIGKILL one member (by the PID we started) and wait for it."""
        proc = self.procs.pop(node.name)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)

    def log_tail(self, lines: int = 5) -> str:
        out = []
        for node in self.members:
            path = self.workdir / f"etcd-{node.name}.log"
            if path.exists():
                out += [f"[{node.name}] {line}" for line in path.read_text(errors="replace").splitlines()[-lines:]]
        return "\n".join(out)

    def stop(self) -> None:
        for name in list(self.procs):
            proc = self.procs.pop(name)
            if proc.running:
                proc.stop(timeout=3.0)


def blackhole(topo: Topology, node: Node, targets: list[Node], on: bool = True) -> None:
    """`node` can no longer send to `targets` (host routes of type blackhole inside its own
    namespace; test addresses only): cut from them, while everyone else still reaches it."""
    for target in targets:
        topo.run(node.ns, ["ip", "route", "add" if on else "del", "blackhole", f"{target.ipv4.ip}/32"],
                 check=on)
