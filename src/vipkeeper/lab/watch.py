"""Observers of the system in the lab, the tests and the bench: addresses, frames, notify-fifo lines.

Why not logs: a daemon can say "Entering MASTER STATE" and still fail to add the VIP, or add it
twice. The lab and the integration tests judge from what the kernel reports, so these watchers
read the kernel directly:
- `AddressWatch`: an rtnetlink socket made inside a namespace (RTMGRP_IPV4/IPV6_IFADDR). It
  subscribes first, then takes a snapshot, so no change between the two is lost; every
  RTM_NEWADDR/RTM_DELADDR is stamped with time.time() when read. The history answers "when did
  the VIP appear/go" and "was it ever on two nodes at once" for every instant, not just sampled ones.
- `FrameCapture`: an AF_PACKET socket in a namespace (bound to one interface, or to all of the
  namespace's), with kernel receive timestamps (SO_TIMESTAMPNS, wall clock). Frames going *out*
  of a bridge port (towards the node) are skipped, so a capture on a node's bridge port holds
  exactly what that node sent.
- `FifoWatch`: the lines a daemon writes to a notify fifo, each stamped when read. The fifo is
  opened O_RDWR, so opening never waits and a daemon restart is never an end of file.

Each watcher runs one daemon thread that blocks in select() on its socket and a stop pipe; close()
ends it. Times are UNIX epoch floats so they compare with daemons' log timestamps.
"""

from __future__ import annotations

import ipaddress
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vipkeeper.net.frames import ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, ArpFrame, parse_arp
from vipkeeper.net.netns import call_in
from vipkeeper.vrrp import packet

NETLINK_ROUTE = 0
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_DONE = 3
IFA_ADDRESS = 1
IFA_LOCAL = 2
ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33  # root may pass net.core.rmem_max (a namespace's is 208 KiB: ~270 frames)
SOL_PACKET = 263
PACKET_STATISTICS = 6  # struct tpacket_stats {tp_packets, tp_drops}, reset by each read
PACKET_OUTGOING = 4

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class AddressEvent:
    time: float
    ns: str
    ifindex: int
    address: Address
    prefixlen: int
    added: bool


class _Reader:
    """A socket read on a daemon thread until close()."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self.sock = sock
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while True:
            ready, _, _ = select.select([self.sock, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                self.read_one()
            except OSError:
                continue

    def read_one(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self._stop_w < 0:
            return
        os.write(self._stop_w, b"x")
        self._thread.join(2.0)
        for fd in (self._stop_r, self._stop_w):
            os.close(fd)
        self._stop_w = -1
        self.sock.close()

    def wait(self, predicate: Callable[[], Any], timeout: float) -> Any:
        """Block until predicate() (called under the lock) is truthy or `timeout` passes."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return value
                self.changed.wait(left)

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AddressWatch(_Reader):
    """Every address change in one namespace from now on, after a snapshot of what is there."""

    def __init__(self, ns: str) -> None:
        def make() -> socket.socket:
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.bind((0, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
            return s

        super().__init__(call_in(ns, make), f"addrwatch-{ns}")
        self.ns = ns
        self.events: list[AddressEvent] = []
        self.present: set[tuple[Address, int]] = set()  # (address, ifindex)
        self.initial: set[tuple[Address, int]] = set()
        self._dump_done = False
        self._send_dump()
        self.start()
        self.wait(lambda: self._dump_done, 2.0)

    def _send_dump(self) -> None:
        body = struct.pack("=BBBBI", socket.AF_UNSPEC, 0, 0, 0, 0)
        header = struct.pack("=IHHII", 16 + len(body), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
        self.sock.send(header + body)

    def read_one(self) -> None:
        data = self.sock.recv(1 << 16)
        now = time.time()
        offset = 0
        with self.changed:
            while offset + 16 <= len(data):
                length, kind, _flags, seq, _pid = struct.unpack_from("=IHHII", data, offset)
                if length < 16:
                    break
                if kind == NLMSG_DONE and seq == 1:
                    self._dump_done = True
                elif kind in (RTM_NEWADDR, RTM_DELADDR):
                    parsed = _parse_ifaddr(data[offset + 16 : offset + length])
                    if parsed is not None:
                        addr, prefixlen, index = parsed
                        key = (addr, index)
                        if seq == 1 and not self._dump_done:
                            self.present.add(key)
                            self.initial.add(key)
                        else:
                            added = kind == RTM_NEWADDR
                            if added:
                                self.present.add(key)
                            else:
                                self.present.discard(key)
                            self.events.append(AddressEvent(now, self.ns, index, addr, prefixlen, added))
                offset += (length + 3) & ~3
            self.changed.notify_all()

    def holds(self, address: str | Address) -> bool:
        addr = ipaddress.ip_address(address)
        with self.lock:
            return any(a == addr for a, _ in self.present)

    def first(self, address: str | Address, added: bool, after: float = 0.0) -> float | None:
        """Time of the first add (or removal) of `address` at or after `after`."""
        addr = ipaddress.ip_address(address)
        with self.lock:
            for ev in self.events:
                if ev.address == addr and ev.added == added and ev.time >= after:
                    return ev.time
        return None

    def intervals(self, address: str | Address, until: float | None = None) -> list[tuple[float, float]]:
        """[start, end) spans during which `address` was present since the watch began."""
        addr = ipaddress.ip_address(address)
        end_time = until if until is not None else time.time()
        spans: list[tuple[float, float]] = []
        with self.lock:
            start: float | None = self.started if any(a == addr for a, _ in self.initial) else None
            for ev in self.events:
                if ev.address != addr:
                    continue
                if ev.added and start is None:
                    start = ev.time
                elif not ev.added and start is not None:
                    spans.append((start, ev.time))
                    start = None
        if start is not None:
            spans.append((start, end_time))
        return spans

    def wait_holds(self, address: str | Address, present: bool, timeout: float) -> bool:
        addr = ipaddress.ip_address(address)
        return bool(self.wait(lambda: any(a == addr for a, _ in self.present) == present, timeout))

    def start(self) -> None:
        self.started = time.time()
        super().start()


def _parse_ifaddr(body: bytes) -> tuple[Address, int, int] | None:
    if len(body) < 8:
        return None
    family, prefixlen, _flags, _scope, index = struct.unpack_from("=BBBBI", body)
    found: dict[int, bytes] = {}
    pos = 8
    while pos + 4 <= len(body):
        alen, atype = struct.unpack_from("=HH", body, pos)
        if alen < 4:
            break
        found[atype] = body[pos + 4 : pos + alen]
        pos += (alen + 3) & ~3
    raw = found.get(IFA_LOCAL) or found.get(IFA_ADDRESS)
    if raw is None:
        return None
    if family == socket.AF_INET and len(raw) == 4:
        return ipaddress.IPv4Address(raw), prefixlen, index
    if family == socket.AF_INET6 and len(raw) == 16:
        return ipaddress.IPv6Address(raw), prefixlen, index
    return None


def overlaps(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Where two span lists intersect (both nodes held the address)."""
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            start, end = max(s1, s2), min(e1, e2)
            if start < end:
                out.append((start, end))
    return out


@dataclass(frozen=True)
class Frame:
    time: float
    data: bytes

    @property
    def ethertype(self) -> int:
        return struct.unpack_from("!H", self.data, 12)[0] if len(self.data) >= 14 else 0

    @property
    def src_mac(self) -> bytes:
        return self.data[6:12]

    def arp(self) -> ArpFrame | None:
        return parse_arp(self.data) if self.ethertype == ETH_P_ARP else None

    def vrrp(self) -> packet.Received | None:
        """The VRRP advertisement in this frame, or None (not VRRP, or malformed)."""
        if self.ethertype not in (ETH_P_IP, ETH_P_IPV6):
            return None
        payload = self.data[14:]
        if self.ethertype == ETH_P_IP and (len(payload) < 20 or payload[9] != packet.IPPROTO_VRRP):
            return None
        if self.ethertype == ETH_P_IPV6 and (len(payload) < 40 or payload[6] != packet.IPPROTO_VRRP):
            return None
        try:
            return packet.decode_ip_datagram(payload, check_ttl=False)
        except packet.MalformedPacket:
            return None


class FrameCapture(_Reader):
    """Frames received on `ifname` in `ns` (every interface of `ns` when None; never those an
    interface sends), kernel-timestamped."""

    def __init__(self, ns: str, ifname: str | None, keep: Callable[[Frame], bool] | None = None,
                 rcvbuf: int = 4 << 20) -> None:
        def make() -> socket.socket:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            try:
                s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
            except PermissionError:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            if ifname is not None:
                s.bind((ifname, ETH_P_ALL))
            return s

        super().__init__(call_in(ns, make), f"capture-{ns}-{ifname}")
        self.ns = ns
        self.ifname = ifname
        self.keep = keep
        self.frames: list[Frame] = []
        self._dropped = 0
        self.start()

    @property
    def dropped(self) -> int:
        """Frames the kernel dropped because this capture's buffer was full (so far): a capture
        that missed frames would make a daemon look late or silent."""
        if self._stop_w >= 0:
            raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
            self._dropped += struct.unpack("II", raw)[1]
        return self._dropped

    def close(self) -> None:
        if self._stop_w >= 0:
            _ = self.dropped  # the count survives the socket
        super().close()

    def read_one(self) -> None:
        data, ancdata, _flags, addr = self.sock.recvmsg(65535, 64)
        if addr[2] == PACKET_OUTGOING:
            return
        stamp = time.time()
        for level, kind, value in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                sec, nsec = struct.unpack_from("qq", value)
                stamp = sec + nsec / 1e9
        frame = Frame(stamp, data)
        if self.keep is not None and not self.keep(frame):
            return
        with self.changed:
            self.frames.append(frame)
            self.changed.notify_all()

    def snapshot(self) -> list[Frame]:
        with self.lock:
            return list(self.frames)

    def garps(self, vip: str | Address, after: float = 0.0) -> list[Frame]:
        """Gratuitous ARPs announcing `vip` received at or after `after`."""
        addr = ipaddress.ip_address(vip)
        out = []
        for frame in self.snapshot():
            arp = frame.arp()
            if frame.time >= after and arp is not None and arp.is_gratuitous and arp.sender_ip == addr:
                out.append(frame)
        return out

    def adverts(self, after: float = 0.0, before: float | None = None) -> list[tuple[Frame, packet.Received]]:
        out = []
        for frame in self.snapshot():
            if frame.time < after or (before is not None and frame.time >= before):
                continue
            adv = frame.vrrp()
            if adv is not None:
                out.append((frame, adv))
        return out


def is_vrrp_or_arp(frame: Frame) -> bool:
    """A cheap filter so long captures keep only what the lab and the tests read."""
    if frame.ethertype == ETH_P_ARP:
        return True
    payload = frame.data[14:]
    if frame.ethertype == ETH_P_IP:
        return len(payload) >= 20 and payload[9] == packet.IPPROTO_VRRP
    if frame.ethertype == ETH_P_IPV6:
        return len(payload) >= 40 and payload[6] == packet.IPPROTO_VRRP
    return False


@dataclass(frozen=True)
class FifoLine:
    time: float
    text: str


class FifoWatch(_Reader):
    """Every line written to the notify fifo at `path` from now on, stamped when read."""

    def __init__(self, path: str) -> None:
        # O_RDWR: never blocks in open and never sees EOF when the daemon writing it restarts.
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        super().__init__(open(fd, "rb", buffering=0), f"fifowatch-{os.path.basename(path)}")  # type: ignore[arg-type]
        self.path = path
        self.lines: list[FifoLine] = []
        self._pending = b""
        self.start()

    def read_one(self) -> None:
        try:
            data = os.read(self.sock.fileno(), 1 << 16)
        except BlockingIOError:
            return
        now = time.time()
        *lines, self._pending = (self._pending + data).split(b"\n")
        with self.changed:
            self.lines += [FifoLine(now, line.decode(errors="replace")) for line in lines]
            self.changed.notify_all()

    def since(self, after: float) -> list[FifoLine]:
        with self.lock:
            return [line for line in self.lines if line.time >= after]

    def first(self, match: Callable[[FifoLine], bool], after: float, timeout: float) -> FifoLine | None:
        """The first matching line read at or after `after`; waits at most `timeout`."""
        found = self.wait(lambda: next((line for line in self.lines if line.time >= after and match(line)), None),
                          timeout)
        return found or None
