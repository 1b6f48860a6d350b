"""RTM_NEWADDR / RTM_DELADDR / address dumps on a plain netlink socket, and link messages.

Why not pyroute2 here: the kernel carries out an rtnetlink request inside the sender's
`sendmsg()` (netlink_unicast to the kernel socket runs rtnetlink_rcv in our context) and queues
the acknowledgement on our socket before the call returns. So a VIP change is one `send()` and
one non-blocking `recv()` of an ack that is already there: about 20 µs, no await, no task switch,
no marshalling library on the failover path. pyroute2's asynchronous request took about ten times
that and, being awaited, put a loop iteration between a new Master's first advert and its VIP.

The daemon needs no netlink library at all (pyroute2 cost 86 ms of its start-up in imports):
besides the requests above it dumps addresses once at start-up and reads link events, both a
few fixed structs.

The socket is opened in the namespace the addresses live in (the daemon's own after it entered
it, or a named one for the lab and the tests) and subscribes to no group, so nothing but our own
acknowledgements ever arrives on it. It also answers "which index has this interface now"
(SIOCGIFINDEX on the socket itself, which the kernel answers in the socket's namespace): no new
descriptor, unlike glibc's if_nametoindex, so a daemon out of descriptors can still take its VIPs
away (a lookup that failed for lack of a descriptor read as "no such interface", and the VIP was
forgotten instead of removed: the fault campaign, fd mode).
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import itertools
import socket
import struct

NETLINK_ROUTE = 0
SIOCGIFINDEX = 0x8933
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTM_GETLINK = 18
RTMGRP_LINK = 1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_DUMP = 0x300
IFLA_IFNAME = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
IFA_BROADCAST = 4
IFA_FLAGS = 8

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_NLATTR = struct.Struct("=HH")
_ERR = struct.Struct("=i")
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change


def _messages(data: bytes):  # type: ignore[no-untyped-def]
    """(type, seq, body) of each netlink message in one datagram."""
    off = 0
    while off + _NLMSGHDR.size <= len(data):
        length, mtype, _flags, seq, _pid = _NLMSGHDR.unpack_from(data, off)
        if length < _NLMSGHDR.size or off + length > len(data):
            return
        yield mtype, seq, data[off + _NLMSGHDR.size: off + length]
        off += (length + 3) & ~3


def _attrs(body: bytes, start: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    off = start
    while off + _NLATTR.size <= len(body):
        length, kind = _NLATTR.unpack_from(body, off)
        if length < _NLATTR.size:
            break
        out.setdefault(kind & 0x3FFF, body[off + _NLATTR.size: off + length])
        off += (length + 3) & ~3
    return out


def parse_link(mtype: int, body: bytes) -> tuple[str, int, int] | None:
    """(name, index, flags) of an RTM_NEWLINK / RTM_DELLINK body, None for anything else."""
    if mtype not in (RTM_NEWLINK, RTM_DELLINK) or len(body) < _IFINFOMSG.size:
        return None
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(body)
    name = _attrs(body, _IFINFOMSG.size).get(IFLA_IFNAME, b"").split(b"\0", 1)[0]
    return name.decode(errors="replace"), index, flags


def route_messages(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, seq, body) of every message in one datagram from a subscribed rtnetlink socket."""
    return list(_messages(data))


def link_messages(data: bytes) -> list[tuple[int, str, int, int]]:
    """(type, name, index, flags) of every link message in one datagram from RTMGRP_LINK."""
    out = []
    for mtype, _seq, body in _messages(data):
        link = parse_link(mtype, body)
        if link is not None:
            out.append((mtype, *link))
    return out


def parse_address(body: bytes) -> tuple[int, ipaddress.IPv4Address | ipaddress.IPv6Address, int] | None:
    """(index, address, prefixlen) of an RTM_NEWADDR body (IFA_LOCAL first, as `ip` shows it)."""
    if len(body) < _IFADDRMSG.size:
        return None
    family, prefixlen, _flags, _scope, index = _IFADDRMSG.unpack_from(body)
    attrs = _attrs(body, _IFADDRMSG.size)
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if raw is None or (family, len(raw)) not in ((socket.AF_INET, 4), (socket.AF_INET6, 16)):
        return None
    return index, ipaddress.ip_address(raw), prefixlen


def link_dump_request(seq: int) -> bytes:
    """An RTM_GETLINK dump request: every interface comes back as an RTM_NEWLINK message."""
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def _attr(kind: int, value: bytes) -> bytes:
    length = _NLATTR.size + len(value)
    return _NLATTR.pack(length, kind) + value + bytes(-length & 3)


def address_message(kind: int, seq: int, index: int, address: ipaddress.IPv4Interface | ipaddress.IPv6Interface,
                    *, scope: int = 0, flags: int = 0, broadcast: ipaddress.IPv4Address | None = None,
                    label: str | None = None) -> bytes:
    """One RTM_NEWADDR (create, fail if present) or RTM_DELADDR request asking for an ack."""
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    packed = address.ip.packed
    body = _IFADDRMSG.pack(family, address.network.prefixlen, flags & 0xFF, scope if kind == RTM_NEWADDR else 0, index)
    body += _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed)
    if kind == RTM_NEWADDR:
        if broadcast is not None:
            body += _attr(IFA_BROADCAST, broadcast.packed)
        if label is not None:
            body += _attr(IFA_LABEL, label.encode() + b"\0")
        if flags:
            body += _attr(IFA_FLAGS, struct.pack("=I", flags))
        msg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    else:
        msg_flags = NLM_F_REQUEST | NLM_F_ACK
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, msg_flags, seq, 0) + body


def ack_error(data: bytes, seq: int) -> int | None:
    """The errno (0 for success) of the ack for `seq` in one datagram, None if it holds none."""
    off = 0
    while off + _NLMSGHDR.size <= len(data):
        length, mtype, _flags, got_seq, _pid = _NLMSGHDR.unpack_from(data, off)
        if length < _NLMSGHDR.size:
            return None
        if mtype == NLMSG_ERROR and got_seq == seq and off + _NLMSGHDR.size + _ERR.size <= len(data):
            return -_ERR.unpack_from(data, off + _NLMSGHDR.size)[0]
        off += (length + 3) & ~3
    return None


class AddressSocket:
    """Synchronous address requests in the namespace the socket was opened in."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self._seq = itertools.count(1)

    def index(self, ifname: str) -> int:
        """The interface's index now, in the socket's namespace; OSError(ENODEV) when there is no
        such interface (any other errno means the kernel could not say)."""
        name = ifname.encode(errors="surrogateescape")
        if not name or len(name) > 15 or b"\0" in name:  # IFNAMSIZ: no interface can have it
            raise OSError(errno.ENODEV, "no such device")
        fd = self.sock.fileno()
        if fd < 0:  # closed under us: as a request on it would fail
            raise OSError(errno.EBADF, "netlink socket closed")
        reply = fcntl.ioctl(fd, SIOCGIFINDEX, struct.pack("16s16x", name))
        return struct.unpack_from("@i", reply, 16)[0]

    def request(self, message_for_seq) -> int:  # type: ignore[no-untyped-def]
        """Send the request built for a fresh sequence number; its errno (0: done)."""
        seq = next(self._seq) & 0xFFFFFFFF
        self.sock.send(message_for_seq(seq))
        # The ack is normally queued already (see the module docstring); the timeout only guards
        # against a kernel that answers later, so a request can never hang the daemon.
        for flags, timeout in ((socket.MSG_DONTWAIT, None), (0, 1.0), (0, 1.0)):
            try:
                if timeout is not None:
                    self.sock.settimeout(timeout)
                data = self.sock.recv(8192, flags)
            except BlockingIOError:
                continue
            except TimeoutError:
                break
            finally:
                if timeout is not None:
                    self.sock.settimeout(None)
            err = ack_error(data, seq)
            if err is not None:
                return err
        return errno.ETIMEDOUT

    def dump_addresses(self) -> list[tuple[int, ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
        """(index, address, prefixlen) of every address in the namespace (start-up, rare)."""
        seq = next(self._seq) & 0xFFFFFFFF
        req = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        self.sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(req), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + req)
        out = []
        self.sock.settimeout(2.0)
        try:
            for _ in range(100000):  # bounded: a dump ends with NLMSG_DONE
                data = self.sock.recv(1 << 16)
                for mtype, got_seq, body in _messages(data):
                    if got_seq != seq:
                        continue
                    if mtype == NLMSG_DONE:
                        return out
                    if mtype == NLMSG_ERROR:
                        err = -_ERR.unpack_from(body)[0] if len(body) >= 4 else errno.EIO
                        raise OSError(err, f"address dump: {errno.errorcode.get(err, err)}")
                    if mtype == RTM_NEWADDR:
                        got = parse_address(body)
                        if got is not None:
                            out.append(got)
        finally:
            self.sock.settimeout(None)
        raise OSError(errno.EIO, "address dump did not end")

    def close(self) -> None:
        self.sock.close()
