"""Raw VRRP sockets (IP protocol 112), one per interface, family and mode, on the asyncio loop.

Rules:
- Out: TTL / hop limit 255, IPv4 TOS and IPv6 traffic class 0xc0 (what keepalived sends), bound
  to the interface with SO_BINDTODEVICE, multicast loopback off so we never hear ourselves.
- IPv4 goes out with IP_HDRINCL and a header we build like keepalived's: DF clear, an ID that
  counts up, the source we announce (`src`); the kernel fills in the header checksum. Building the header ourselves means the source in the
  VRRPv3 pseudo-header checksum and the one on the wire cannot differ.
- IPv6 carries the source and interface in IPV6_PKTINFO on every send (the link-local address of
  the interface unless `src` is configured). IPV6_CHECKSUM is left off on purpose: the codec
  computes the VRRP checksum (as keepalived does) and the kernel must not rewrite or check it;
  the core verifies it on receive.
- The IPv4 source, unless configured, is the interface's primary IPv4 address that is not a VIP
  (`not_from`, every address the configuration makes virtual): keepalived 2.2.7 likewise never
  takes a VIP or eVIP as an interface's address (keepalived_netlink.c,
  ignore_address_if_ours_or_link_local). On an interface that was flushed while its Master put
  the VIP back, the VIP is the primary address; an advert from it is dropped by the kernel of
  every peer that holds the VIP too (its source is a local address there), so the two Masters
  would never hear each other. With no other address there is nothing to send from (the
  instance waits, as for a missing interface). The addresses are read with one RTM_GETADDR
  dump, in the kernel's order (primaries first).
- In: bytes and the facts only the kernel knows (source, destination, TTL / hop limit, interface,
  and when the datagram arrived: SO_TIMESTAMPNS, turned into the loop's clock by net/rx_time.py,
  so a Backup's timers run from the arrival as RFC 5798 says, not from when Python read it)
  go to `on_receive` as a RawReceived. The shell does not judge TTL 255 or the VRRP fields: the
  codec and instance do, so the counters they keep name the reason. For IPv4 `data` is the whole
  datagram (the codec may want the header); for IPv6 it is the VRRP payload (the kernel keeps the
  header). `payload` is the VRRP part for both.
- A socket that could not read counts the reason in `errors` and carries on; a receive error
  never ends the daemon. Sends are not queued: an advert that cannot leave now is stale at the
  next interval anyway, so a failed send is counted and reported by returning False;
  `failing` counts failed sends since the last one that left and `last_send_error` keeps the
  errno, so the owner can tell a lost packet from a dead socket (an interface deleted under it:
  the socket stays bound to the old ifindex and nothing it sends ever leaves again).

Theory of operation: `open()` makes and configures the socket (no event-loop netlink: one
synchronous address dump at most, so it works on or off the loop and after `netns.enter()`),
`start(on_receive)` adds a reader to the running loop; the reader drains what is queued (bounded per wake) and calls back synchronously. No threads.
"""

from __future__ import annotations

import collections
import errno
import ipaddress
import socket
import struct
import time

from vipkeeper.net.rx_time import ArrivalClock
from vipkeeper.records import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up, issue 18)
if TYPE_CHECKING:  # the loop is imported when a socket starts: the daemon opens its sockets first
    import asyncio
    from typing import Any, Callable, Collection

IPPROTO_VRRP = 112
VRRP_GROUP_V4 = ipaddress.IPv4Address("224.0.0.18")
VRRP_GROUP_V6 = ipaddress.IPv6Address("ff02::12")
VRRP_TTL = 255
VRRP_TOS = 0xC0
# Not exported by Python's socket module (linux/in.h, linux/in6.h).
IP_MULTICAST_ALL = 49
IPV6_MULTICAST_ALL = 29
_IFA_F_TENTATIVE = 0x40
_IPV6_LINK_SCOPE = 0x20
_MAX_DATAGRAM = 65535
_DRAIN_PER_WAKE = 64
SO_TIMESTAMPNS = 35  # linux/asm-generic/socket.h (SO_TIMESTAMPNS_OLD: a native struct timespec)
_TIMESPEC = struct.Struct("@ll")
_TS_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)
_V6_SPACE = socket.CMSG_SPACE(4) + socket.CMSG_SPACE(20) + _TS_SPACE

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def internet_checksum(data: bytes) -> int:  # noqa: F811 (the import below rebinds it)
    """vrrp/packet.py's, imported on the first use: the daemon opens its sockets before it loads
    the codec (daemon/early_listen.py). The import rebinds this name, so later calls go straight
    to the codec's function."""
    global internet_checksum
    from vipkeeper.vrrp.packet import internet_checksum  # noqa: F811 (rebinds the global)

    return internet_checksum(data)


class VrrpSocketError(OSError):
    """A VRRP socket could not be opened; the message names the interface and the cause."""


@record(frozen=True)
class RawReceived:
    """One datagram as the kernel delivered it; judging it is the codec's and instance's job."""

    data: bytes
    src: IPAddress
    dst: IPAddress
    hop_limit: int
    ifname: str
    at: float | None = None  # arrival on the loop's clock (net/rx_time.py); None: not known

    @property
    def family(self) -> int:
        return socket.AF_INET if self.src.version == 4 else socket.AF_INET6

    @property
    def payload(self) -> bytes:
        if self.src.version == 6:
            return self.data
        ihl = (self.data[0] & 0x0F) * 4
        total = struct.unpack_from("!H", self.data, 2)[0]
        return self.data[ihl:total]


_FRAG_TTL_PROTO = struct.pack("!HBB", 0, VRRP_TTL, IPPROTO_VRRP)  # no fragments; TTL 255; VRRP


def ipv4_header(
    src: ipaddress.IPv4Address,
    dst: ipaddress.IPv4Address,
    payload_len: int,
    ident: int,
    ttl: int = VRRP_TTL,
    tos: int = VRRP_TOS,
) -> bytes:
    """keepalived's IPv4 header for an advert: no options, DF clear, protocol 112, checksum set."""
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, tos, 20 + payload_len, ident & 0xFFFF, 0, ttl, IPPROTO_VRRP, 0, src.packed, dst.packed
    )
    return header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]


def parse_ipv4(datagram: bytes) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address, int, int] | str:
    """(src, dst, ttl, protocol) of a whole datagram, or the name of what is wrong with it."""
    if len(datagram) < 20:
        return "short_ipv4_header"
    if datagram[0] >> 4 != 4:
        return "not_ipv4"
    ihl = (datagram[0] & 0x0F) * 4
    total = struct.unpack_from("!H", datagram, 2)[0]
    if ihl < 20 or total < ihl or total > len(datagram):
        return "bad_ipv4_length"
    return (
        ipaddress.IPv4Address(datagram[12:16]),
        ipaddress.IPv4Address(datagram[16:20]),
        datagram[8],
        datagram[9],
    )


class VrrpSocket:
    """A raw protocol-112 socket on one interface; multicast (joined to `group`) or unicast."""

    def __init__(
        self,
        sock: socket.socket,
        ifname: str,
        ifindex: int,
        family: int,
        group: IPAddress | None,
        src: IPAddress,
    ) -> None:
        self.sock = sock
        self.ifname = ifname
        self.ifindex = ifindex
        self.family = family
        self.group = group
        self.src = src
        self.errors: collections.Counter[str] = collections.Counter()
        self.received = 0
        self.sent = 0
        self.failing = 0
        self.last_send_error: int | None = None
        self._ident = 0  # the last IPv4 ID sent
        self._dst_texts: dict[IPAddress, str] = {}
        self._routes: dict[tuple[Any, int], tuple] = {}
        self._prepared: dict[IPAddress, tuple] = {}  # destination -> what `prepare` shares for it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_receive: Callable[[RawReceived], None] | None = None
        self.arrivals = ArrivalClock()
        self._since = 0.0  # loop time reading began: nothing counts as arriving earlier

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        ifname: str,
        family: int,
        group: str | IPAddress | None = None,
        src: str | IPAddress | None = None,
        *,
        unicast: bool = False,
        not_from: Collection[IPAddress] = (),
    ) -> VrrpSocket:
        """Open for multicast (default group unless `group`) or, with unicast=True, for peers;
        without `src`, from the interface's address (never one of `not_from`, the VIPs)."""
        if family not in (socket.AF_INET, socket.AF_INET6):
            raise VrrpSocketError(errno.EAFNOSUPPORT, f"{ifname}: VRRP runs over IPv4 or IPv6, not family {family}")
        try:
            ifindex = socket.if_nametoindex(ifname)
        except OSError:
            raise VrrpSocketError(errno.ENODEV, f"{ifname}: no such interface") from None
        mcast: IPAddress | None = None
        if not unicast:
            mcast = _address(group, family) if group is not None else (
                VRRP_GROUP_V4 if family == socket.AF_INET else VRRP_GROUP_V6
            )
            if not mcast.is_multicast:
                raise VrrpSocketError(errno.EINVAL, f"{ifname}: {mcast} is not a multicast group")
        source = _address(src, family) if src is not None else _interface_source(ifname, ifindex, family, not_from)
        sock = socket.socket(family, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, IPPROTO_VRRP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            if family == socket.AF_INET:
                _configure_v4(sock, ifindex, mcast, source)
            else:
                _configure_v6(sock, ifindex, mcast)
        except OSError as exc:
            sock.close()
            raise VrrpSocketError(exc.errno, f"{ifname}: cannot set up the VRRP socket: {exc.strerror}") from None
        return cls(sock, ifname, ifindex, family, mcast, source)

    # -- receiving -----------------------------------------------------------------------
    def start(self, on_receive: Callable[[RawReceived], None], loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Deliver every datagram to `on_receive` from the running loop."""
        if loop is None:
            import asyncio

            loop = asyncio.get_running_loop()
        self._loop = loop
        self._on_receive = on_receive
        # Datagrams queued before now (daemon/early_listen.py) arrived before anyone listened:
        # they count as arriving now.
        self._since = loop.time()
        self._loop.add_reader(self.sock.fileno(), self._readable)

    @property
    def receive_errors(self) -> int:
        return sum(n for reason, n in self.errors.items() if not reason.startswith("send"))

    def _readable(self) -> None:
        for _ in range(_DRAIN_PER_WAKE):
            try:
                got = self.recv()
            except BlockingIOError:
                return
            except OSError as exc:
                self.errors[f"recv_{errno.errorcode.get(exc.errno or 0, 'oserror').lower()}"] += 1
                return
            if got is not None and self._on_receive is not None:
                self._on_receive(got)

    def recv(self) -> RawReceived | None:
        """Read one datagram now; None when it was unusable (counted in `errors`)."""
        if self.family == socket.AF_INET:
            data, ancdata, _flags, _addr = self.sock.recvmsg(_MAX_DATAGRAM, _TS_SPACE)
            at = self._arrival(ancdata)
            parsed = parse_ipv4(data)
            if isinstance(parsed, str):
                self.errors[parsed] += 1
                return None
            src, dst, ttl, proto = parsed
            if proto != IPPROTO_VRRP:
                self.errors["not_vrrp"] += 1
                return None
            self.received += 1
            return RawReceived(data, src, dst, ttl, self.ifname, at)
        data, ancdata, flags, addr = self.sock.recvmsg(_MAX_DATAGRAM, _V6_SPACE)
        at = self._arrival(ancdata)
        if flags & socket.MSG_TRUNC:
            self.errors["truncated"] += 1
            return None
        hop_limit = dst = None
        for level, kind, value in ancdata:
            if level != socket.IPPROTO_IPV6:
                continue
            if kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
                hop_limit = struct.unpack("@i", value[:4])[0]
            elif kind == socket.IPV6_PKTINFO and len(value) >= 16:
                dst = ipaddress.IPv6Address(value[:16])
        if hop_limit is None or dst is None:
            self.errors["no_ancillary_data"] += 1
            return None
        src = ipaddress.IPv6Address(addr[0].split("%", 1)[0])
        self.received += 1
        return RawReceived(data, src, dst, hop_limit, self.ifname, at)

    def _arrival(self, ancdata: list[tuple[int, int, bytes]]) -> float | None:
        """The datagram's arrival on the loop clock from its SCM_TIMESTAMPNS (net/rx_time.py);
        None without a loop (a socket read directly, not started)."""
        loop = self._loop
        if loop is None:
            return None
        stamp = None
        for level, kind, value in ancdata:
            if kind == SO_TIMESTAMPNS and level == socket.SOL_SOCKET and len(value) >= _TIMESPEC.size:
                sec, nsec = _TIMESPEC.unpack_from(value)
                stamp = sec + nsec * 1e-9
                break
        read_real = time.time()  # realtime first (net/rx_time.py says why)
        read_loop = loop.time()
        arrivals = self.arrivals
        at = arrivals.arrival(stamp, arrivals.offset(read_real, read_loop), read_loop)
        return at if at > self._since else self._since

    # -- sending -------------------------------------------------------------------------
    def send(self, payload: bytes, dst: str | IPAddress | None = None) -> bool:
        """Send one VRRP payload to `dst` (default: the group) from `src` with TTL 255."""
        # This is the per-advert path: everything that depends only on the destination and the
        # payload length (parsed address, text form, IPv4 header sum, IPv6 ancillary data) is
        # computed once per destination and kept.
        route = self._routes.get((dst, len(payload)))
        if route is None:
            route = self._route(dst, len(payload))
        if self.family == socket.AF_INET:
            partial, head, tail, text = route
            ident = self._ident = (self._ident + 1) & 0xFFFF
            total = partial + ident
            total = (total & 0xFFFF) + (total >> 16)
            total = (total & 0xFFFF) + (total >> 16)
            datagram = head + ident.to_bytes(2, "big") + _FRAG_TTL_PROTO + (~total & 0xFFFF).to_bytes(2, "big") + tail + payload
            return self._sendto(datagram, text)
        ancillary, address = route
        try:
            self.sock.sendmsg([payload], ancillary, 0, address)
        except OSError as exc:
            return self._send_failed(exc)
        self.sent += 1
        self.failing = 0
        return True

    def prepare(self, payload: bytes, dst: str | IPAddress | None = None) -> tuple:
        """Everything `send_prepared` needs to send `payload` to `dst` (default: the group), built
        once: a Master sends the same advert until its priority or parameters change. IPv4: the
        whole datagram, in which each send writes only the next ID (raw(7): with IP_HDRINCL the
        kernel always fills in the header checksum, so the one built here is never used)."""
        target = _address(dst, self.family) if dst is not None else self.group
        if target is None:
            raise ValueError(f"{self.ifname}: a unicast VRRP socket needs a destination")
        # What depends only on the socket and the destination (the address tuple, IPv6's
        # ancillary data) is one object for every advert prepared here: a socket serves up to
        # 255 instances, each holding its prepared advert (issue 18: memory per instance).
        shared = self._prepared.get(target)
        if self.family == socket.AF_INET:
            assert isinstance(self.src, ipaddress.IPv4Address) and isinstance(target, ipaddress.IPv4Address)
            if shared is None:
                shared = self._prepared[target] = (self._dst_text(target), 0)
            datagram = bytearray(ipv4_header(self.src, target, len(payload), 0) + payload)
            return (datagram, shared)
        if shared is None:
            pktinfo = struct.pack("@16sI", self.src.packed, self.ifindex)
            shared = self._prepared[target] = ([(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo)],
                                               (str(target), 0, 0, self.ifindex))
        return (None, (payload,), shared[0], shared[1])

    def send_prepared(self, prepared: tuple) -> bool:
        """Send what `prepare` built; True when it left (as `send`)."""
        datagram = prepared[0]
        try:
            if datagram is not None:
                ident = self._ident = (self._ident + 1) & 0xFFFF
                datagram[4] = ident >> 8
                datagram[5] = ident & 0xFF
                self.sock.sendto(datagram, prepared[1])
            else:
                self.sock.sendmsg(prepared[1], prepared[2], 0, prepared[3])
        except OSError as exc:
            return self._send_failed(exc)
        self.sent += 1
        self.failing = 0
        return True

    def _route(self, dst: str | IPAddress | None, length: int) -> tuple:
        target = _address(dst, self.family) if dst is not None else self.group
        if target is None:
            raise ValueError(f"{self.ifname}: a unicast VRRP socket needs a destination")
        if self.family == socket.AF_INET:
            assert isinstance(self.src, ipaddress.IPv4Address) and isinstance(target, ipaddress.IPv4Address)
            # ipv4_header with ident 0 and checksum 0: the ones'-complement sum of every other
            # word, to which each datagram adds only its ident.
            zero = ipv4_header(self.src, target, length, 0)
            zero = zero[:10] + b"\0\0" + zero[12:]
            partial = sum(struct.unpack("!10H", zero))
            route: tuple = (partial, zero[:4], zero[12:], self._dst_text(target))
        else:
            pktinfo = struct.pack("@16sI", self.src.packed, self.ifindex)
            route = ([(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo)], (str(target), 0, 0, self.ifindex))
        if len(self._routes) < 4096:
            self._routes[(dst, length)] = route
        return route

    def send_datagram(self, datagram: bytes) -> bool:
        """IPv4 only: send a whole datagram as given (header included) to its destination."""
        if self.family != socket.AF_INET:
            raise ValueError("whole datagrams are sent on IPv4 sockets only")
        parsed = parse_ipv4(datagram)
        if isinstance(parsed, str):
            raise ValueError(f"{self.ifname}: not an IPv4 datagram ({parsed})")
        return self._sendto(datagram, str(parsed[1]))

    def _sendto(self, datagram: bytes, dst: str) -> bool:
        try:
            self.sock.sendto(datagram, (dst, 0))
        except OSError as exc:
            return self._send_failed(exc)
        self.sent += 1
        self.failing = 0
        return True

    def _dst_text(self, target: IPAddress) -> str:
        text = self._dst_texts.get(target)
        if text is None:
            text = self._dst_texts[target] = str(target)
        return text

    def _send_failed(self, exc: OSError) -> bool:
        self.errors[f"send_{errno.errorcode.get(exc.errno or 0, 'oserror').lower()}"] += 1
        self.failing += 1
        self.last_send_error = exc.errno
        return False

    @property
    def send_errors(self) -> int:
        return sum(n for reason, n in self.errors.items() if reason.startswith("send"))

    # -- closing -------------------------------------------------------------------------
    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed() and self.sock.fileno() >= 0:
            self._loop.remove_reader(self.sock.fileno())
        self._loop = None
        self.sock.close()

    def __enter__(self) -> VrrpSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = f"group {self.group}" if self.group else "unicast"
        return f"<VrrpSocket {self.ifname} {mode} src {self.src}>"


def _configure_v4(sock: socket.socket, ifindex: int, group: IPAddress | None, src: IPAddress) -> None:
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, VRRP_TTL)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, VRRP_TOS)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, VRRP_TTL)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    # Only the groups this socket joined: a unicast socket must not see multicast adverts too.
    sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
    mreqn_if = struct.pack("@4s4si", b"\0" * 4, src.packed, ifindex)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn_if)
    if group is not None:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("@4s4si", group.packed, b"\0" * 4, ifindex))


def _configure_v6(sock: socket.socket, ifindex: int, group: IPAddress | None) -> None:
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_CHECKSUM, -1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, VRRP_TTL)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, VRRP_TTL)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, VRRP_TOS)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    if group is not None:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, struct.pack("@16sI", group.packed, ifindex))


def _address(value: str | IPAddress, family: int) -> IPAddress:
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise VrrpSocketError(errno.EINVAL, f"not an IP address: {value!r}") from None
    want = 4 if family == socket.AF_INET else 6
    if addr.version != want:
        raise VrrpSocketError(errno.EINVAL, f"{addr} is not an IPv{want} address")
    return addr


def _interface_source(ifname: str, ifindex: int, family: int, not_from: Collection[IPAddress] = (),
                      keep: IPAddress | None = None) -> IPAddress:
    """The address keepalived would send from: the primary IPv4 address that is not a VIP
    (`keep` instead while the interface still has it), or the IPv6 link-local address."""
    if family == socket.AF_INET:
        candidates = [a for a in ipv4_addresses(ifindex) if a not in not_from]
        if not candidates:
            raise VrrpSocketError(errno.EADDRNOTAVAIL, f"{ifname}: no IPv4 address to send VRRP from")
        return keep if keep in candidates else candidates[0]
    # /proc/thread-self/net follows this thread's network namespace, also after netns.enter().
    best: ipaddress.IPv6Address | None = None
    with open("/proc/thread-self/net/if_inet6") as table:
        for line in table:
            fields = line.split()
            if len(fields) < 6 or int(fields[1], 16) != ifindex or int(fields[3], 16) != _IPV6_LINK_SCOPE:
                continue
            addr = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
            if not int(fields[4], 16) & _IFA_F_TENTATIVE:
                return addr
            best = best or addr
    if best is None:
        raise VrrpSocketError(errno.EADDRNOTAVAIL, f"{ifname}: no IPv6 link-local address to send VRRP from")
    return best


_RTM_NEWADDR = 20
_RTM_GETADDR = 22
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_NLM_F_DUMP_REQUEST = 0x301  # NLM_F_REQUEST | NLM_F_DUMP
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_NLMSG_HDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")
_MAX_DUMP_READS = 1024


def ipv4_addresses(ifindex: int) -> list[ipaddress.IPv4Address]:
    """The interface's IPv4 addresses in the kernel's order (primaries before secondaries), read
    with one netlink dump in this thread's network namespace; [] if it cannot be read."""
    found: list[ipaddress.IPv4Address] = []
    try:
        nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
    except OSError:
        return found
    with nl:
        try:
            nl.sendto(_NLMSG_HDR.pack(_NLMSG_HDR.size + _IFADDRMSG.size, _RTM_GETADDR, _NLM_F_DUMP_REQUEST, 1, 0)
                      + _IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0), (0, 0))
            for _ in range(_MAX_DUMP_READS):
                data = nl.recv(65536)
                pos = 0
                while pos + _NLMSG_HDR.size <= len(data):
                    length, kind = _NLMSG_HDR.unpack_from(data, pos)[:2]
                    if length < _NLMSG_HDR.size or kind in (_NLMSG_DONE, _NLMSG_ERROR):
                        return found
                    if kind == _RTM_NEWADDR:
                        addr = _ifaddr(data[pos + _NLMSG_HDR.size:pos + length], ifindex)
                        if addr is not None:
                            found.append(addr)
                    pos += (length + 3) & ~3
        except OSError:
            pass
    return found


def _ifaddr(msg: bytes, ifindex: int) -> ipaddress.IPv4Address | None:
    """IFA_LOCAL (else IFA_ADDRESS) of one RTM_NEWADDR body, if it is an IPv4 address of `ifindex`."""
    if len(msg) < _IFADDRMSG.size:
        return None
    family, _, _, _, index = _IFADDRMSG.unpack_from(msg)
    if family != socket.AF_INET or index != ifindex:
        return None
    local = address = None
    pos = _IFADDRMSG.size
    while pos + _RTATTR.size <= len(msg):
        length, kind = _RTATTR.unpack_from(msg, pos)
        if length < _RTATTR.size:
            break
        if length == _RTATTR.size + 4 and kind in (_IFA_LOCAL, _IFA_ADDRESS):
            value = ipaddress.IPv4Address(msg[pos + 4:pos + 8])
            if kind == _IFA_LOCAL:
                local = value
            else:
                address = value
        pos += (length + 3) & ~3
    return local or address


def interface_source(ifname: str, family: int, not_from: Collection[IPAddress] = (),
                     keep: IPAddress | None = None) -> IPAddress:
    """The address VRRP is sent from on `ifname` (its primary IPv4 address that is none of
    `not_from`, kept at `keep` while the interface has it; the IPv6 link-local address): a VMAC
    has none of its own, so its adverts take the parent interface's (net/vmac.py)."""
    try:
        ifindex = socket.if_nametoindex(ifname)
    except OSError:
        raise VrrpSocketError(errno.ENODEV, f"{ifname}: no such interface") from None
    return _interface_source(ifname, ifindex, family, not_from, keep)
