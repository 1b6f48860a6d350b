"""RTM_NEWLINK / RTM_DELLINK / RTM_GETLINK messages for VMAC (macvlan) and ipvlan interfaces,
built by hand like the address messages in address_requests.py and sent over the same kind of
socket.

Rules
- A VMAC is a macvlan in mode private on the instance's interface (keepalived 2.2.7,
  vrrp_vmac.c, and measured: `ip -d link` shows `macvlan mode private`), with the virtual MAC
  set at creation. IPv6 address generation is turned off (addrgenmode none, as keepalived's) by
  the caller through its sysctl before the link goes up: the kernel refuses IFLA_AF_SPEC for
  AF_INET6 in the create request itself (EAFNOSUPPORT, the device has no IPv6 state yet).
- An ipvlan (keepalived's `use_ipvlan`) is mode L2 with flags bridge (0), private (1) or vepa
  (2), as keepalived 2.2.7's netlink_link_add_ipvlan asks; the request is byte for byte what
  iproute2 6.1 sends for `ip link add link PARENT name NAME type ipvlan mode l2 [FLAGS]`
  (captured with strace; tests/unit/net/test_ipvlan_requests.py holds the capture), created down.
- A kernel without the link kind (no ipvlan or vrf module, as on vipkeeper's test machines)
  answers RTM_NEWLINK with EOPNOTSUPP (95) and the extended-ack text "Unknown device type"
  (iproute2 prints "Error: Unknown device type."; keepalived logs "Netlink: error: Operation not
  supported(95), type=RTM_NEWLINK(16)"). Nothing is created then.
- A VMAC or ipvlan whose parent is enslaved to a VRF is created in that VRF (IFLA_MASTER), as
  keepalived 2.2.7 does; a parent in a bridge or bond does not pass that on.
- Creation asks for NLM_F_CREATE | NLM_F_EXCL: an interface of that name that is already there
  is never taken over by the create (the caller looks at it with `link_info` first).
- `link_info` reads one link back (kind, parent index, MAC, flags, master) to tell a leftover VMAC of
  ours from an interface someone else made.
Pure message building plus one small synchronous query.
"""

from __future__ import annotations

import errno
import socket
import struct

from vipkeeper.net.address_requests import (
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_EXCL,
    NLM_F_REQUEST,
    NLMSG_ERROR,
    RTM_DELLINK,
    RTM_NEWLINK,
    AddressSocket,
)
from vipkeeper.records import record

RTM_GETLINK = 18
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_MACVLAN_MODE = 1
MACVLAN_MODE_PRIVATE = 1
IFLA_IPVLAN_MODE = 1
IFLA_IPVLAN_FLAGS = 2
IPVLAN_MODE_L2 = 0
IPVLAN_FLAGS = {"bridge": 0, "private": 1, "vepa": 2}  # IPVLAN_F_PRIVATE, IPVLAN_F_VEPA
NLA_F_NESTED = 0x8000
IFF_UP = 0x1

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_NLATTR = struct.Struct("=HH")


def _attr(kind: int, value: bytes) -> bytes:
    length = _NLATTR.size + len(value)
    return _NLATTR.pack(length, kind) + value + bytes(-length & 3)


def _message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags, seq, 0) + body


def _master(index: int) -> bytes:
    return _attr(IFLA_MASTER, struct.pack("=I", index)) if index else b""


def macvlan_message(seq: int, name: str, parent: int, mac: bytes, vrf: int = 0) -> bytes:
    """Create `name`, a private-mode macvlan on interface index `parent` with MAC `mac`, down;
    enslaved to VRF device index `vrf` when the parent is (keepalived's IFLA_MASTER)."""
    info = _attr(IFLA_INFO_KIND, b"macvlan") + _attr(
        IFLA_INFO_DATA | NLA_F_NESTED, _attr(IFLA_MACVLAN_MODE, struct.pack("=I", MACVLAN_MODE_PRIVATE)))
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    body += _attr(IFLA_IFNAME, name.encode() + b"\0") + _attr(IFLA_LINK, struct.pack("=I", parent))
    body += _attr(IFLA_ADDRESS, mac) + _attr(IFLA_LINKINFO | NLA_F_NESTED, info) + _master(vrf)
    return _message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, body)


def ipvlan_message(seq: int, name: str, parent: int, flags: int = 0, vrf: int = 0) -> bytes:
    """Create `name`, an L2-mode ipvlan on interface index `parent` with IPVLAN flags `flags`
    (IPVLAN_FLAGS), down: the attributes in iproute2's order and encoding (no NLA_F_NESTED,
    the kind without its NUL, the name with it); IFLA_MASTER `vrf` last, as macvlan_message."""
    data = _attr(IFLA_IPVLAN_MODE, struct.pack("=H", IPVLAN_MODE_L2)) + _attr(IFLA_IPVLAN_FLAGS,
                                                                           struct.pack("=H", flags))
    info = _attr(IFLA_INFO_KIND, b"ipvlan") + _attr(IFLA_INFO_DATA, data)
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    body += _attr(IFLA_LINK, struct.pack("=I", parent)) + _attr(IFLA_IFNAME, name.encode() + b"\0")
    body += _attr(IFLA_LINKINFO, info) + _master(vrf)
    return _message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, body)


def set_up_message(seq: int, index: int, up: bool = True) -> bytes:
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP)
    return _message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, body)


def delete_message(seq: int, index: int) -> bytes:
    return _message(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0))


@record(frozen=True)
class LinkInfo:
    index: int
    kind: str  # "" for a plain device
    parent: int  # IFLA_LINK, 0 when none
    mac: bytes
    flags: int
    master: int = 0  # IFLA_MASTER (a bridge, bond or VRF it is enslaved to), 0 when none


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


def parse_link_info(body: bytes) -> LinkInfo:
    """The LinkInfo of an RTM_NEWLINK body."""
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(body)
    attrs = _attrs(body, _IFINFOMSG.size)
    kind = _attrs(attrs.get(IFLA_LINKINFO, b""), 0).get(IFLA_INFO_KIND, b"").split(b"\0", 1)[0].decode()
    parent = struct.unpack("=I", attrs[IFLA_LINK])[0] if len(attrs.get(IFLA_LINK, b"")) == 4 else 0
    master = struct.unpack("=I", attrs[IFLA_MASTER])[0] if len(attrs.get(IFLA_MASTER, b"")) == 4 else 0
    return LinkInfo(index, kind, parent, attrs.get(IFLA_ADDRESS, b""), flags, master)


def link_info(requests: AddressSocket, name: str) -> LinkInfo | None:
    """The link called `name`, None when there is none."""
    seq = 0x7FFF0000 | (len(name) & 0xFF)
    body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _attr(IFLA_IFNAME, name.encode() + b"\0")
    requests.sock.send(_message(RTM_GETLINK, NLM_F_REQUEST, seq, body))
    requests.sock.settimeout(1.0)
    try:
        for _ in range(16):  # bounded: the answer is one message
            data = requests.sock.recv(1 << 16)
            off = 0
            while off + _NLMSGHDR.size <= len(data):
                length, mtype, _flags, got_seq, _pid = _NLMSGHDR.unpack_from(data, off)
                if length < _NLMSGHDR.size:
                    break
                payload = data[off + _NLMSGHDR.size: off + length]
                off += (length + 3) & ~3
                if got_seq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", payload)[0]
                    if err in (errno.ENODEV, errno.ENOENT):
                        return None
                    raise OSError(err, f"{name}: link query: {errno.errorcode.get(err, err)}")
                if mtype == RTM_NEWLINK:
                    return parse_link_info(payload)
    finally:
        requests.sock.settimeout(None)
    raise OSError(errno.EIO, f"{name}: no answer to the link query")
