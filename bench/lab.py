"""The bench's labs on top of vipkeeper.lab: tracked processes and a two-node pair.

What happens is watched with the lab's own observers (vipkeeper.lab.watch): `AddressWatch`
stamps every address change in a namespace, `FrameCapture` keeps kernel-timestamped frames,
`FifoWatch` stamps notify-fifo lines, so the bench asks "the first VIP-added event on B at or
after t0" instead of polling. Daemons are vipkeeper.lab.nodes.HostDaemon (bench/daemons.py).
Everything started here is stopped in close(), by PID; the Topology removes the namespaces.
Every wait is bounded.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.daemons import IMPLS, Config, Daemon, Instance
from bench.native import named_copy
from vipkeeper.lab.topology import Topology
from vipkeeper.lab.watch import AddressWatch, FrameCapture, is_vrrp_or_arp

VIP = "192.0.2.100"


class Tracked:
    """A long-running process of a given name (a renamed copy of /bin/sleep)."""

    def __init__(self, workdir: str, name: str) -> None:
        self.path = named_copy("/bin/sleep", workdir, name)
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.path, "100000"], stdin=subprocess.DEVNULL, start_new_session=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)

    def reap(self) -> None:
        if self.proc is not None:
            self.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


@dataclass
class PairSettings:
    advert_int: float
    version: int
    tracking: str  # "fault" (weight 0) or "weight"
    fast_handover: bool = False
    witness: bool = False  # three etcd members beside the pair, vipkeeper's quorum witness on them

    @property
    def weight(self) -> int:
        return 0 if self.tracking == "fault" else -100


class Pair:
    """Nodes a (priority 150, Master) and b (100) on a bridge with a client; one implementation.

    Each node tracks its own process (names differ per node and per lab), so killing a's process
    touches a only. Watchers: netlink address events on b, gratuitous ARPs at the client.
    """

    PRIO_A, PRIO_B = 150, 100

    def __init__(self, impl: str, settings: PairSettings, workdir: str, label: str) -> None:
        self.impl = impl
        self.settings = settings
        self.label = label
        self.workdir = os.path.join(workdir, label)
        os.makedirs(self.workdir, exist_ok=True)
        self.topo = Topology()
        self.daemons: dict[str, Daemon] = {}
        self.tracked: dict[str, Tracked] = {}
        self.etcd = None
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        s = self.settings
        members = ("e1", "e2", "e3") if s.witness else ()
        lan = self.topo.add_bridge_lan(nodes=("a", "b") + members, client="client", ipv6=False)
        self.lan = lan
        endpoints: tuple[str, ...] = ()
        if members:
            from vipkeeper.lab.etcd import EtcdCluster

            self.etcd = EtcdCluster(self.topo, [lan[m] for m in members], Path(self.workdir))
            self.etcd.start()
            endpoints = tuple(self.etcd.endpoints)
        self.a, self.b, self.client = lan["a"], lan["b"], lan["client"]
        for node in ("a", "b"):
            self.tracked[node] = Tracked(self.workdir, f"{self.topo.prefix}{node}")
            self.tracked[node].start()
        self.watch_b = AddressWatch(self.b.ns)
        self.watch_client = FrameCapture(self.client.ns, self.client.ifname, keep=is_vrrp_or_arp)
        for node, prio in (("a", self.PRIO_A), ("b", self.PRIO_B)):
            config = Config(
                instances=[Instance("VI_1", "eth0", 51, prio, s.advert_int, s.version, [f"{VIP}/24"],
                                    track="trk", fast_handover=s.fast_handover)],
                tracked={"trk": (self.tracked[node].name, s.weight)},
                router_id=f"{self.label}_{node}",
                witness_endpoints=endpoints,
            )
            ns = self.a.ns if node == "a" else self.b.ns
            self.daemons[node] = IMPLS[self.impl](ns, config, self.workdir, node)
            self.daemons[node].start()

    # -- state -----------------------------------------------------------------------------
    def has_vip(self, node: str) -> bool:
        ns = self.a.ns if node == "a" else self.b.ns
        return any(str(a.ip) == VIP for a in self.topo.addresses(ns))

    def steady(self, timeout: float) -> bool:
        """a holds the VIP, b does not, then a random part of an advert interval passes so the
        failure lands at a random phase of the advert timer."""
        ok = wait_until(lambda: self.has_vip("a") and not self.has_vip("b"), timeout)
        if ok:
            adv = self.settings.advert_int
            time.sleep(adv + random.uniform(0, adv) + 0.1)
            ok = self.has_vip("a") and not self.has_vip("b")
        return ok

    # -- one failover ----------------------------------------------------------------------
    def failover(self, how: str, timeout: float) -> tuple[float | None, float | None]:
        """Inject a failure on a; returns (ms to VIP on b, ms to the client seeing b's GARP)."""
        daemon_a = self.daemons["a"]
        t0 = time.time()
        if how == "process":
            self.tracked["a"].kill()
        elif how == "sigkill":
            daemon_a.signal(signal.SIGKILL)
        elif how == "sigterm":
            daemon_a.signal(signal.SIGTERM)
        else:
            raise ValueError(how)
        vip = self.watch_b.wait(lambda: self.watch_b.first(VIP, added=True, after=t0), timeout)
        b_mac = bytes.fromhex(self.b.mac.replace(":", ""))

        def garp_from_b() -> float | None:
            for frame in self.watch_client.garps(VIP, after=t0):
                arp = frame.arp()
                if arp is not None and arp.sender_mac == b_mac:
                    return frame.time
            return None

        garp = self.watch_client.wait(garp_from_b, 1.0 if vip is None else 2.0)
        return ((vip - t0) * 1000 if vip else None, (garp - t0) * 1000 if garp else None)

    def restore(self, how: str) -> None:
        """Bring a back as it was before the failure."""
        if how == "process":
            self.tracked["a"].reap()
            self.tracked["a"].start()
            return
        daemon_a = self.daemons["a"]
        daemon_a.wait(10)
        daemon_a.stop()
        if self.has_vip("a"):  # a SIGKILLed daemon leaves its VIP behind, as a crashed one would
            self.topo.run(self.a.ns, ["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"], check=False)
        daemon_a.start()

    def close(self) -> None:
        for daemon in self.daemons.values():
            try:
                daemon.stop()
            except (OSError, subprocess.SubprocessError) as exc:  # keep closing the rest
                print(f"  warning: stopping {daemon.tag}: {exc}", file=sys.stderr)
        for tracked in self.tracked.values():
            tracked.reap()
        for watch in (getattr(self, "watch_b", None), getattr(self, "watch_client", None)):
            if watch is not None:
                watch.close()
        if self.etcd is not None:
            self.etcd.stop()
        self.topo.close()
