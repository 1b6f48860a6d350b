"""RTM_NEWROUTE / RTM_DELROUTE / RTM_NEWRULE / RTM_DELRULE messages, built by hand like the
address messages in address_requests.py (same socket, same one-send-one-ack request).

Rules
- Every route and rule vipkeeper adds carries protocol 18 ("keepalived" in iproute2's
  rt_protos), as keepalived 2.2.7's do (measured: `ip route` shows `proto keepalived`). A
  delete names the same protocol, so the kernel never deletes a route or rule of the same key
  that someone else added with another protocol.
- Adds ask for NLM_F_CREATE | NLM_F_EXCL: a route or rule that is already there is reported
  (EEXIST) and left alone, never replaced.
- Tables above 255 go in RTA_TABLE / FRA_TABLE (the header's one-byte field says
  RT_TABLE_UNSPEC), as iproute2 does.
Pure: bytes in, bytes out.
"""

from __future__ import annotations

import socket
import struct
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)

from vipkeeper.net.address_requests import (
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_EXCL,
    NLM_F_REQUEST,
)

if TYPE_CHECKING:  # the config's frozen dataclasses; net/ imports nothing of config at run time
    from vipkeeper.config.model import VirtualRoute, VirtualRule

RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_NEWRULE = 32
RTM_DELRULE = 33
RTPROT_KEEPALIVED = 18
RTA_DST = 1
RTA_SRC = 2
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_PREFSRC = 7
RTA_TABLE = 15
RTNH_F_ONLINK = 4
ROUTE_TYPES = {"unicast": 1, "blackhole": 6, "unreachable": 7, "prohibit": 8}
FRA_DST = 1
FRA_SRC = 2
FRA_IIFNAME = 3
FRA_PRIORITY = 6
FRA_FWMARK = 10
FRA_TABLE = 15
FRA_FWMASK = 16
FRA_OIFNAME = 17
FRA_PROTOCOL = 21
FIB_RULE_INVERT = 0x2
RULE_ACTIONS = {"table": 1, "blackhole": 6, "unreachable": 7, "prohibit": 8}

_NLMSGHDR = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_NLATTR = struct.Struct("=HH")
_U32 = struct.Struct("=I")


def _attr(kind: int, value: bytes) -> bytes:
    length = _NLATTR.size + len(value)
    return _NLATTR.pack(length, kind) + value + bytes(-length & 3)


def _family(version: int) -> int:
    return socket.AF_INET if version == 4 else socket.AF_INET6


def _message(kind: int, seq: int, body: bytes) -> bytes:
    flags = NLM_F_REQUEST | NLM_F_ACK
    if kind in (RTM_NEWROUTE, RTM_NEWRULE):
        flags |= NLM_F_CREATE | NLM_F_EXCL
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags, seq, 0) + body


def route_message(kind: int, seq: int, route: VirtualRoute, oif: int | None) -> bytes:
    """An RTM_NEWROUTE or RTM_DELROUTE for `route`; `oif` is the index of its `dev`."""
    table = route.table
    flags = RTNH_F_ONLINK if route.onlink else 0
    body = _RTMSG.pack(_family(route.family), route.dst.prefixlen, 0, 0, table if table < 256 else 0,
                       RTPROT_KEEPALIVED, route.scope, ROUTE_TYPES[route.type], flags)
    body += _attr(RTA_TABLE, _U32.pack(table))
    body += _attr(RTA_DST, route.dst.network_address.packed)
    if route.via is not None:
        body += _attr(RTA_GATEWAY, route.via.packed)
    if oif is not None:
        body += _attr(RTA_OIF, _U32.pack(oif))
    if route.src is not None:
        body += _attr(RTA_PREFSRC, route.src.packed)
    if route.metric is not None:
        body += _attr(RTA_PRIORITY, _U32.pack(route.metric))
    return _message(kind, seq, body)


def rule_message(kind: int, seq: int, rule: VirtualRule) -> bytes:
    """An RTM_NEWRULE or RTM_DELRULE for `rule`."""
    table = rule.table or 0
    body = _RTMSG.pack(_family(rule.family), rule.dst.prefixlen if rule.dst else 0,
                       rule.src.prefixlen if rule.src else 0, 0, table if table < 256 else 0, 0, 0,
                       RULE_ACTIONS[rule.action], FIB_RULE_INVERT if rule.invert else 0)
    body += _attr(FRA_PRIORITY, _U32.pack(rule.priority))
    body += _attr(FRA_PROTOCOL, bytes([RTPROT_KEEPALIVED]))
    if table:
        body += _attr(FRA_TABLE, _U32.pack(table))
    if rule.src is not None:
        body += _attr(FRA_SRC, rule.src.network_address.packed)
    if rule.dst is not None:
        body += _attr(FRA_DST, rule.dst.network_address.packed)
    if rule.fwmark is not None:
        body += _attr(FRA_FWMARK, _U32.pack(rule.fwmark))
    if rule.fwmask is not None:
        body += _attr(FRA_FWMASK, _U32.pack(rule.fwmask))
    if rule.iif is not None:
        body += _attr(FRA_IIFNAME, rule.iif.encode() + b"\0")
    if rule.oif is not None:
        body += _attr(FRA_OIFNAME, rule.oif.encode() + b"\0")
    return _message(kind, seq, body)
