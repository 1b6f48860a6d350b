"""A VRRP testbed for integration tests: nodes with their own PID namespaces, and the kernel as witness.

Each node runs one daemon at a time (`vipkeeper run` or keepalived 2.2.7) in its network, PID and
mount namespaces (nodes.py). The testbed records, from the first moment:
- every address change in every node's namespace (`AddressWatch`), so "the VIP was never on two
  nodes at once" is checked over every instant, not a sample;
- every frame each node *sends*, captured on the node's bridge port with kernel timestamps, so
  who advertised as Master, with what priority and when, comes from the wire, multicast and
  unicast alike (`FrameCapture` skips frames the bridge sends towards the node).

Assertions belong in the tests; this module only builds, starts, stops and answers questions.
"""

from __future__ import annotations

import ipaddress
import shutil
import signal
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Self

from vipkeeper.lab import nodes as labnodes
from vipkeeper.lab.nodes import LabNode, NodeProc
from vipkeeper.lab.proc import LabTimeout
from vipkeeper.lab.topology import Lan, Topology
from vipkeeper.lab.watch import (
    AddressWatch,
    Frame,
    FrameCapture,
    is_vrrp_or_arp,
    overlaps,
)
from vipkeeper.vrrp.packet import Received


def vrrp_conf(
    name: str = "VI_1",
    *,
    vrid: int = 51,
    priority: int = 100,
    vips: Sequence[str] = ("192.0.2.50/24",),
    version: int = 3,
    advert_int: float = 0.5,
    state: str = "BACKUP",
    interface: str = "eth0",
    auth_pass: str | None = None,
    unicast_src: str | None = None,
    unicast_peers: Sequence[str] = (),
    nopreempt: bool = False,
    extra: Iterable[str] = (),
    global_defs: Iterable[str] = (),
) -> str:
    """One vrrp_instance in keepalived's language (read the same by keepalived and vipkeeper)."""
    lines = []
    if global_defs:
        lines += ["global_defs {", *(f"  {g}" for g in global_defs), "}", ""]
    lines += [f"vrrp_instance {name} {{", f"  state {state}", f"  interface {interface}",
              f"  virtual_router_id {vrid}", f"  priority {priority}", f"  advert_int {advert_int:g}",
              f"  version {version}"]
    if auth_pass is not None:
        lines += ["  authentication {", "    auth_type PASS", f"    auth_pass {auth_pass}", "  }"]
    if unicast_src:
        lines.append(f"  unicast_src_ip {unicast_src}")
    if unicast_peers:
        lines += ["  unicast_peer {", *(f"    {p}" for p in unicast_peers), "  }"]
    if nopreempt:
        lines.append("  nopreempt")
    lines += [f"  {e}" for e in extra]
    lines += ["  virtual_ipaddress {", *(f"    {v}" for v in vips), "  }", "}", ""]
    return "\n".join(lines)


class Testbed:
    """Nodes on one bridge plus a client; use as a context manager (closes watchers, then the topology)."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, topo: Topology, names: Sequence[str] = ("a", "b"), ipv6: bool = True) -> None:
        self.topo = topo
        self.workdir = labnodes.make_workdir("vktb-")
        self.lan: Lan = topo.add_bridge_lan(names, client="client", ipv6=ipv6)
        self.nodes: dict[str, LabNode] = {}
        self.watch: dict[str, AddressWatch] = {}
        self.wire: dict[str, FrameCapture] = {}
        self.logs: dict[str, list] = {n: [] for n in names}
        for node in self.lan.nodes:
            ln = LabNode(topo, node, self.workdir / node.name)
            ln.start_init()
            self.nodes[node.name] = ln
            self.watch[node.name] = AddressWatch(node.ns)
            self.wire[node.name] = FrameCapture(self.lan.bridge_ns, node.port, is_vrrp_or_arp)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for w in [*self.watch.values(), *self.wire.values()]:
            w.close()
        self.topo.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- daemons ---------------------------------------------------------------------------
    def conf_path(self, name: str, tag: str = "node") -> Path:
        return self.nodes[name].workdir / f"{tag}.conf"

    def write_conf(self, name: str, text: str, tag: str = "node") -> Path:
        path = self.conf_path(name, tag)
        path.write_text(text)
        return path

    def start(self, name: str, kind: str = "vipkeeper", conf: str | Path | None = None,
              extra: Sequence[str] = ()) -> NodeProc:
        """Start the node's daemon on `conf` (text, a path, or the file written before)."""
        if conf is None:
            path = self.conf_path(name)
        elif isinstance(conf, Path):
            path = conf
        else:
            path = self.write_conf(name, conf)
        proc = labnodes.start_daemon(self.nodes[name], path, kind=kind, extra=extra)
        self.logs[name].append(proc.log)
        return proc

    def daemon(self, name: str) -> NodeProc:
        return self.nodes[name].procs["daemon"]

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 5.0) -> float:
        """Signal the node's daemon and wait for it to exit; returns the time of the signal."""
        proc = self.nodes[name].procs.pop("daemon")
        when = proc.kill(sig)
        if proc.wait(timeout) is None:
            raise LabTimeout(f"{name}: daemon did not exit within {timeout:g}s of signal {sig}")
        return when

    def log_text(self, name: str) -> str:
        return "\n".join(log.text() for log in self.logs[name])

    # -- links ---------------------------------------------------------------------------
    def delete_link(self, name: str) -> float:
        """Delete the node's eth0 (and so its bridge port); returns when (time.time())."""
        when = time.time()
        self.topo.delete_link(self.lan[name])
        return when

    def recreate_link(self, name: str) -> float:
        """Create the node's eth0 again (new ifindex) and capture on its new bridge port;
        returns when the interface was usable again."""
        node = self.lan[name]
        self.wire[name].close()
        self.topo.recreate_link(node)
        self.wire[name] = FrameCapture(self.lan.bridge_ns, node.port, is_vrrp_or_arp)
        return time.time()

    # -- addresses -----------------------------------------------------------------------
    def holders(self, vip: str) -> list[str]:
        ip = _ip(vip)
        return [n for n, w in self.watch.items() if w.holds(ip)]

    def wait_sole(self, name: str, vip: str, timeout: float) -> float:
        """Until only `name` holds `vip`; returns when that became true (time.time())."""
        deadline = time.monotonic() + timeout
        while True:
            if self.holders(vip) == [name]:
                return time.time()
            if time.monotonic() >= deadline:
                raise LabTimeout(f"{vip} not on {name} alone within {timeout:g}s (holders: {self.holders(vip)})")
            time.sleep(0.002)

    def added_at(self, name: str, vip: str, after: float) -> float | None:
        return self.watch[name].first(_ip(vip), True, after)

    def removed_at(self, name: str, vip: str, after: float) -> float | None:
        return self.watch[name].first(_ip(vip), False, after)

    def dual_holding(self, vip: str, after: float = 0.0, before: float | None = None) -> list[tuple[float, float]]:
        """Spans (clipped to [after, before]) during which two or more nodes held `vip`."""
        end = before if before is not None else time.time()
        spans = {n: [(max(s, after), min(e, end)) for s, e in w.intervals(_ip(vip), end)]
                 for n, w in self.watch.items()}
        names = list(spans)
        found = []
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                found += [o for o in overlaps(spans[a], spans[b]) if o[1] > o[0]]
        return found

    # -- the wire ------------------------------------------------------------------------
    def adverts(self, name: str, after: float = 0.0, before: float | None = None,
                vrid: int | None = None) -> list[tuple[Frame, Received]]:
        """VRRP advertisements `name` sent (as captured on its bridge port)."""
        return [(f, r) for f, r in self.wire[name].adverts(after, before)
                if vrid is None or r.advertisement.vrid == vrid]

    def advertisers(self, after: float, before: float | None = None, vrid: int | None = None) -> set[str]:
        """Nodes that sent a non-zero-priority advert in the window: the ones acting as Master."""
        return {n for n in self.wire
                if any(r.advertisement.priority > 0 for _, r in self.adverts(n, after, before, vrid))}

    def priority_zero_at(self, name: str, after: float, vrid: int | None = None) -> float | None:
        for frame, rec in self.adverts(name, after, None, vrid):
            if rec.advertisement.priority == 0:
                return frame.time
        return None

    def wait_adverts(self, name: str, after: float, count: int, timeout: float, vrid: int | None = None) -> None:
        cap = self.wire[name]
        got = cap.wait(lambda: len([1 for _, r in self.adverts(name, after, None, vrid)
                                     if r.advertisement.priority > 0]) >= count, timeout)
        if not got:
            raise LabTimeout(f"{name} sent fewer than {count} adverts within {timeout:g}s")

    def wait_garps(self, vip: str, after: float, timeout: float) -> list[Frame]:
        """GARPs for `vip` sent after `after`, waiting up to `timeout` for the first: the new
        master announces just after its netlink add, which the address watch sees first."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.garps(vip, after)
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.005)

    def garps(self, vip: str, after: float = 0.0) -> list[Frame]:
        frames: list[Frame] = []
        for cap in self.wire.values():
            frames += cap.garps(_ip(vip), after)
        return sorted(frames, key=lambda f: f.time)


def _ip(vip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_interface(vip).ip if "/" in str(vip) else ipaddress.ip_address(vip)
