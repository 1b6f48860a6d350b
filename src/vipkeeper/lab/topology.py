"""Test networks out of real network namespaces: a bridge LAN, two or three nodes and a client.

Shared by the namespace tests, the benchmarks and `vipkeeper lab`. Rules:
- Every name carries a random per-run prefix ("vk" + 6 hex digits), so runs never collide and
  nothing outside the run is ever touched. Addresses come from 192.0.2.0/24 and 2001:db8::/64.
- The bridge lives in its own namespace; each node is a namespace whose eth0 is a veth whose other
  end is a port of that bridge. Multicast snooping is off, so VRRP multicast always floods.
- IPv6 duplicate address detection is off in lab namespaces, so every address (link-local
  included) is usable the moment it exists.
- Everything created is destroyed by close(): processes first (by PID, through their process
  group), then namespaces. close() runs on __exit__ (exceptions, Ctrl-C) and at interpreter
  exit for a Topology that was never closed.
- Building and reading links uses pyroute2; `tc` (netem, filters) and sysctls shell out, where
  pyroute2 is awkward. The synchronous pyroute2 API cannot run on a thread whose asyncio loop
  is running, so from async code netlink calls here hop to a one-off worker thread (this is the
  lab, not the daemon; blocking the test's loop for a millisecond is fine).

Partition tools, from coarse to fine:
- cut(node) / restore(node): the bridge port goes down; the node loses carrier (RUNNING clears).
- partition(*nodes) / heal(): bridge port isolation; isolated ports cannot talk to each other,
  but every node still reaches the client (the classic split brain).
- block_vrrp(node): drop IP protocol 112 that the node sends, nothing else (tc u32 filter).
  (No nftables or tc drop action on this kernel; see block_vrrp.)
- netem(node, loss=..., delay=...): loss and delay on the node's eth0 (and the port with both_ways);
  needs sch_netem, which some kernels (this sandbox's) lack: then it raises LabError.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import ipaddress
import secrets
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyroute2 import NetNS, netns

from vipkeeper.lab.proc import LabTimeout, NodeProcess, netns_argv, wait_for, wait_for_async

__all__ = ["Topology", "Node", "Lan", "NodeProcess", "LabTimeout", "wait_for", "wait_for_async"]

T = TypeVar("T")
V4_NET = ipaddress.IPv4Network("192.0.2.0/24")
V6_NET = ipaddress.IPv6Network("2001:db8::/64")
CLIENT_HOST = 200
BLACKHOLE = "blackhole"

Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


class LabError(RuntimeError):
    """The lab could not be built or changed; the message says which step failed."""


@dataclass
class Node:
    """One namespace on the LAN. `port` is its veth end on the bridge (in the bridge namespace)."""

    name: str
    ns: str
    port: str
    ipv4: ipaddress.IPv4Interface
    ipv6: ipaddress.IPv6Interface | None
    ifname: str = "eth0"
    mac: str = ""


@dataclass
class Lan:
    bridge_ns: str
    bridge: str
    nodes: list[Node]
    client: Node | None

    def __getitem__(self, name: str) -> Node:
        for node in self.all:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def all(self) -> list[Node]:
        return self.nodes + ([self.client] if self.client else [])


@dataclass
class Topology:
    """Namespaces, links and processes of one lab run; use as a context manager."""

    prefix: str = field(default_factory=lambda: "vk" + secrets.token_hex(3))
    namespaces: list[str] = field(default_factory=list)
    processes: list[NodeProcess] = field(default_factory=list)
    lans: list[Lan] = field(default_factory=list)

    def __post_init__(self) -> None:
        atexit.register(self.close)

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building ------------------------------------------------------------------------
    def add_namespace(self, name: str) -> str:
        """Create namespace PREFIX-NAME with lo up and DAD off; returns its full name."""
        full = f"{self.prefix}-{name}"
        if full in self.namespaces:
            raise LabError(f"namespace {full} exists already")
        try:
            netns.create(full)
        except OSError as exc:
            raise LabError(f"cannot create namespace {full}: {exc}") from None
        self.namespaces.append(full)
        self._sysctl(
            full,
            {
                "net.ipv6.conf.all.accept_dad": "0",
                "net.ipv6.conf.default.accept_dad": "0",
                "net.ipv6.conf.all.dad_transmits": "0",
                "net.ipv6.conf.default.dad_transmits": "0",
            },
        )
        self._netlink(full, lambda ipr: ipr.link("set", index=_index(ipr, "lo"), state="up"))
        return full

    def add_bridge_lan(
        self,
        nodes: Sequence[str] = ("a", "b"),
        client: str | None = "client",
        ipv6: bool = True,
        v4_net: str = str(V4_NET),
        v6_net: str = str(V6_NET),
    ) -> Lan:
        """A bridge in its own namespace, one namespace per node and the client, all on it.

        Node i (from 0) gets host number i+1 (192.0.2.1, 192.0.2.2, ...), the client 200.
        """
        net4 = ipaddress.IPv4Network(v4_net)
        net6 = ipaddress.IPv6Network(v6_net)
        index = len(self.lans)
        bridge_ns = self.add_namespace(f"br{index}" if index else "br")
        bridge = "br0"

        def make_bridge(ipr: Any) -> None:
            ipr.link("add", ifname=bridge, kind="bridge", br_mcast_snooping=0, br_forward_delay=0, br_stp_state=0)
            ipr.link("set", index=_index(ipr, bridge), state="up")

        self._netlink(bridge_ns, make_bridge)
        members = [(name, host) for host, name in enumerate(nodes, start=1)]
        if client:
            members.append((client, CLIENT_HOST))
        made = []
        for name, host in members:
            node = Node(
                name=name,
                ns=self.add_namespace(name),
                port=f"p-{name}"[:15],
                ipv4=ipaddress.IPv4Interface(f"{net4.network_address + host}/{net4.prefixlen}"),
                ipv6=ipaddress.IPv6Interface(f"{net6.network_address + host}/{net6.prefixlen}") if ipv6 else None,
            )
            self._join(node, bridge_ns, bridge)
            made.append(node)
        lan = Lan(bridge_ns, bridge, made[: len(nodes)], made[len(nodes)] if client else None)
        self.lans.append(lan)
        for node in lan.all:
            wait_for(lambda n=node: self._usable(n), 5.0, what=f"{node.ns} {node.ifname} ready")
        return lan

    def _join(self, node: Node, bridge_ns: str, bridge: str) -> None:
        def make_port(ipr: Any) -> None:
            ipr.link("add", ifname=node.port, kind="veth", peer={"ifname": node.ifname, "net_ns_fd": node.ns})
            port = _index(ipr, node.port)
            ipr.link("set", index=port, master=_index(ipr, bridge))
            ipr.link("set", index=port, state="up")

        def configure(ipr: Any) -> None:
            idx = _index(ipr, node.ifname)
            ipr.addr("add", index=idx, address=str(node.ipv4.ip), prefixlen=node.ipv4.network.prefixlen)
            if node.ipv6 is not None:
                ipr.addr("add", index=idx, address=str(node.ipv6.ip), prefixlen=node.ipv6.network.prefixlen, flags=0x02)
            ipr.link("set", index=idx, state="up")
            link = ipr.get_links(idx)[0]
            node.mac = link.get("IFLA_ADDRESS")

        self._netlink(bridge_ns, make_port)
        self._netlink(node.ns, configure)

    def _usable(self, node: Node) -> bool:
        addrs = self.addresses(node.ns, node.ifname)
        if node.ipv4 not in addrs:
            return False
        if node.ipv6 is None:
            return True
        return any(a.version == 6 and a.ip.is_link_local for a in addrs)

    # -- processes -----------------------------------------------------------------------
    def run(
        self, ns: str, argv: Sequence[str], check: bool = True, timeout: float = 10.0, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to completion in namespace `ns`; output captured as text."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        try:
            return subprocess.run(netns_argv(ns, argv), check=check, timeout=timeout, **kwargs)
        except subprocess.CalledProcessError as exc:
            raise LabError(f"in {ns}: {' '.join(map(str, argv))} failed ({exc.returncode}): {exc.stderr}") from None

    def popen(self, ns: str, argv: Sequence[str], pid_ns: bool = False, **kwargs: Any) -> NodeProcess:
        """Start a process in `ns` (own PID + mount namespace with pid_ns); stopped by close()."""
        proc = NodeProcess(ns, argv, pid_ns=pid_ns, **kwargs)
        self.processes.append(proc)
        return proc

    # -- reading -------------------------------------------------------------------------
    def addresses(self, ns: str, ifname: str = "eth0") -> list[Interface]:
        """Every address on `ifname` in `ns` now, with its prefix length."""

        def read(ipr: Any) -> list[Interface]:
            found = ipr.link_lookup(ifname=ifname)
            if not found:
                return []
            return [
                ipaddress.ip_interface(f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}")
                for a in ipr.get_addr(index=found[0])
            ]

        return self._netlink(ns, read)

    def link_local(self, node: Node) -> ipaddress.IPv6Address:
        for addr in self.addresses(node.ns, node.ifname):
            if addr.version == 6 and addr.ip.is_link_local:
                return addr.ip  # type: ignore[return-value]
        raise LabError(f"{node.ns} {node.ifname} has no link-local address")

    # -- changing the network ------------------------------------------------------------
    def link_set(self, ns: str, ifname: str, up: bool) -> None:
        self._netlink(ns, lambda ipr: ipr.link("set", index=_index(ipr, ifname), state="up" if up else "down"))

    def delete_link(self, node: Node) -> None:
        """Delete the node's interface, as `ip link del eth0` inside the node would (the veth
        pair goes, bridge port included)."""
        self._netlink(node.ns, lambda ipr: ipr.link("del", index=_index(ipr, node.ifname)))

    def recreate_link(self, node: Node) -> None:
        """Create the node's interface again under the same name, addresses and bridge port (a
        new ifindex and MAC, as after a driver reload or an admin's re-creation)."""
        lan = self._lan_of(node)
        self._join(node, lan.bridge_ns, lan.bridge)
        wait_for(lambda: self._usable(node), 5.0, what=f"{node.ns} {node.ifname} ready again")

    def cut(self, node: Node) -> None:
        """Take the node's bridge port down: the node sees no carrier and reaches no one."""
        self.link_set(self._lan_of(node).bridge_ns, node.port, False)

    def restore(self, node: Node) -> None:
        self.link_set(self._lan_of(node).bridge_ns, node.port, True)

    def partition(self, *nodes: Node) -> None:
        """The given nodes stop hearing each other; each still talks to the client."""
        for node in nodes:
            self._bridge_port(node, "isolated", "on")

    def heal(self, *nodes: Node) -> None:
        """Undo partition() for `nodes` (all nodes of every LAN when none given)."""
        for node in nodes or [n for lan in self.lans for n in lan.nodes]:
            self._bridge_port(node, "isolated", "off")

    def block_vrrp(self, node: Node, on: bool = True) -> None:
        """Drop VRRP (IPv4 and IPv6 protocol 112) that `node` sends; other traffic passes.

        This kernel offers no tc drop action (act_gact cannot load, no nftables), so the filter
        redirects VRRP to a veth that stays down, where the kernel drops it.
        """
        ns, port = self._lan_of(node).bridge_ns, node.port
        if not on:
            self.run(ns, ["tc", "qdisc", "del", "dev", port, "clsact"], check=False)
            return

        def blackhole(ipr: Any) -> None:
            if not ipr.link_lookup(ifname=BLACKHOLE):
                ipr.link("add", ifname=BLACKHOLE, kind="veth", peer={"ifname": BLACKHOLE + "p"})

        self._netlink(ns, blackhole)
        self.run(ns, ["tc", "qdisc", "replace", "dev", port, "clsact"])
        for proto, match in (("ip", ["ip", "protocol"]), ("ipv6", ["ip6", "protocol"])):
            self.run(
                ns,
                ["tc", "filter", "add", "dev", port, "ingress", "protocol", proto, "u32", "match", *match, "112", "0xff",
                 "action", "mirred", "egress", "redirect", "dev", BLACKHOLE],
            )

    def netem(self, node: Node, loss: float | None = None, delay_ms: float | None = None, both_ways: bool = False) -> None:
        """Loss (percent) and/or delay on what the node sends (and receives, with both_ways)."""
        spec: list[str] = []
        if loss is not None:
            spec += ["loss", f"{loss:g}%"]
        if delay_ms is not None:
            spec += ["delay", f"{delay_ms:g}ms"]
        if not spec:
            raise LabError("netem needs loss or delay")
        done = self.run(node.ns, ["tc", "qdisc", "replace", "dev", node.ifname, "root", "netem", *spec], check=False)
        if done.returncode != 0:
            raise LabError(f"netem on {node.ns} {node.ifname} failed (is sch_netem in this kernel?): {done.stderr.strip()}")
        if both_ways:
            self.run(self._lan_of(node).bridge_ns, ["tc", "qdisc", "replace", "dev", node.port, "root", "netem", *spec])

    def clear_netem(self, node: Node) -> None:
        self.run(node.ns, ["tc", "qdisc", "del", "dev", node.ifname, "root"], check=False)
        self.run(self._lan_of(node).bridge_ns, ["tc", "qdisc", "del", "dev", node.port, "root"], check=False)

    # -- teardown ------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every process started here, then delete every namespace made here. Idempotent."""
        procs, self.processes = self.processes[::-1], []
        for proc in procs:  # all get SIGTERM first, so they wind down in parallel
            if proc.running:
                proc.terminate()
        deadline = time.monotonic() + 2.0
        for proc in procs:
            try:
                proc.stop(timeout=max(0.1, deadline - time.monotonic()))
            except Exception:  # keep tearing down; one stuck process must not leak namespaces
                pass
        while self.namespaces:
            name = self.namespaces.pop()
            try:
                netns.remove(name)
            except OSError:
                pass
        self.lans.clear()
        atexit.unregister(self.close)

    # -- internals -----------------------------------------------------------------------
    def _lan_of(self, node: Node) -> Lan:
        for lan in self.lans:
            if node in lan.all:
                return lan
        raise LabError(f"{node.name} is not on a LAN of this topology")

    def _bridge_port(self, node: Node, option: str, value: str) -> None:
        self.run(self._lan_of(node).bridge_ns, ["bridge", "link", "set", "dev", node.port, option, value])

    def _sysctl(self, ns: str, values: dict[str, str]) -> None:
        self.run(ns, ["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values.items())])

    def _netlink(self, ns: str, fn: Callable[[Any], T]) -> T:
        def call() -> T:
            with NetNS(ns) as ipr:
                return fn(ipr)

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return _wrap(ns, call)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(_wrap, ns, call).result()


def _wrap(ns: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except (OSError, KeyError) as exc:
        raise LabError(f"netlink in {ns}: {exc}") from None


def _index(ipr: Any, ifname: str) -> int:
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise LabError(f"no interface {ifname}")
    return int(found[0])


