"""RTM_NEWADDR / RTM_DELADDR on a plain netlink socket, answered before `send()` returns.

Why not pyroute2 here: the kernel carries out an rtnetlink request inside the sender's
`sendmsg()` (netlink_unicast to the kernel socket runs rtnetlink_rcv in our context) and queues
the acknowledgement on our socket before the call returns. So a VIP change is one `send()` and
one non-blocking `recv()` of an ack that is already there: about 20 µs, no await, no task switch,
no marshalling library on the failover path. pyroute2's asynchronous request took about ten times
that and, being awaited, put a loop iteration between a new Master's first advert and its VIP.

The socket is opened in the namespace the addresses live in (the daemon's own after it entered
it, or a named one for the lab and the tests) and subscribes to no group, so nothing but our own
acknowledgements ever arrives on it.
"""

from __future__ import annotations

import errno
import ipaddress
import itertools
import socket
import struct

NETLINK_ROUTE = 0
RTM_NEWADDR = 20
RTM_DELADDR = 21
NLMSG_ERROR = 2
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

    def close(self) -> None:
        self.sock.close()
