"""Routes and policy rules vipkeeper installs (virtual_* while Master, static_* while running).

Rules
- A RouteOwner removes only what it added itself: an add the kernel refuses with EEXIST (the
  same route or rule was there already, an admin's or another daemon's) is logged and never
  counted as ours, so it is never deleted. Deletes name protocol 18 (route_requests.py).
- `sync(routes, rules)` makes what it owns equal to what is wanted: rules go before routes
  when removing and after them when adding (keepalived's order: "removing Virtual Rules",
  "removing Virtual Routes" / "setting Virtual Routes", "setting Virtual Rules"), and an entry
  that stays wanted is not touched, so a reload that changes one route leaves the others in place.
- Entries are compared by what the kernel is told (the line number and the words are not part
  of it), so moving a line or rewording `gw` as `via` changes nothing.
- A delete the kernel answers with ESRCH/ENOENT means the entry is gone already (the kernel
  flushes routes with their device or their source address): no longer ours, not an error.
- Tracking (keepalived 2.2.7, measured): a virtual route with a device, or any virtual rule,
  without `no_track`, that someone else deletes makes its instance leave MASTER (priority 0
  first) and is put back only at the next MASTER. `RouteWatch` hears deletions with protocol 18;
  our own deletes are told apart by remembering them until their event comes.
- Synchronous, like the VIP requests: one send and one ack per entry (address_requests.py).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import struct
from collections.abc import Iterable
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

from vipkeeper import records
from vipkeeper.net.address_requests import AddressSocket
from vipkeeper.net.route_requests import (
    RTM_DELROUTE,
    RTM_DELRULE,
    RTM_NEWROUTE,
    RTM_NEWRULE,
    RTPROT_KEEPALIVED,
    route_message,
    rule_message,
)

log = logging.getLogger("vipkeeper.routes")

_GONE = (errno.ESRCH, errno.ENOENT, errno.ENODEV)


def key_of(entry: Any) -> Any:
    """What the kernel is told about a route or rule (not its words or line)."""
    return records.replace(entry, words=(), where=None, no_track=False,
                               **({"priority_defaulted": False} if hasattr(entry, "priority_defaulted") else {}))


class RouteOwner:
    """Adds and removes routes and rules, and remembers which are its own."""

    def __init__(self, label: str, netns: str | None = None) -> None:
        self.label = label  # "(VI_1)" or "static", for log lines
        self.netns = netns
        self._requests: AddressSocket | None = None
        self.routes: dict[Any, tuple[Any, int | None]] = {}  # key -> (route, oif used)
        self.rules: dict[Any, Any] = {}
        self.failures = 0
        # our own deletes, until the route watch has seen them (a delete and a quick re-add of
        # the same entry must not look like someone else's delete)
        self._deleted: list[tuple[str, Any]] = []

    def _socket(self) -> AddressSocket:
        if self._requests is None:
            if self.netns is None:
                self._requests = AddressSocket()
            else:
                from vipkeeper.net.netns import call_in

                self._requests = call_in(self.netns, AddressSocket)
        return self._requests

    def _index(self, ifname: str) -> int:
        # on the request socket (its namespace, no new descriptor: address_requests.py)
        return self._socket().index(ifname)

    @property
    def empty(self) -> bool:
        return not self.routes and not self.rules

    def sync(self, routes: Iterable[Any], rules: Iterable[Any]) -> bool:
        """Own exactly these routes and rules; True when anything was changed."""
        want_routes = {key_of(r): r for r in routes}
        want_rules = {key_of(r): r for r in rules}
        if want_routes.keys() == self.routes.keys() and want_rules.keys() == self.rules.keys():
            return False
        for key in [k for k in self.rules if k not in want_rules]:
            self._del_rule(key)
        for key in [k for k in self.routes if k not in want_routes]:
            self._del_route(key)
        for key, route in want_routes.items():
            if key not in self.routes:
                self._add_route(key, route)
        for key, rule in want_rules.items():
            if key not in self.rules:
                self._add_rule(key, rule)
        return True

    def take_lost(self, kind: str, fields: dict[str, Any]) -> Any:
        """A tracked entry of ours (with a device, no `no_track`) that the kernel reports
        deleted by someone else: forgotten (it is not ours any more) and returned; else None."""
        for i, (own_kind, entry) in enumerate(self._deleted):
            if own_kind == kind and matches(kind, fields, entry):
                del self._deleted[i]  # the kernel telling us of our own delete
                return None
        book = self.routes if kind == "route" else self.rules
        for key, value in list(book.items()):
            entry = value[0] if kind == "route" else value
            if matches(kind, fields, entry):
                del book[key]
                if entry.no_track or (kind == "route" and entry.dev is None):
                    return None  # keepalived does not track these
                return entry
        return None

    def release_all(self) -> None:
        self.sync((), ())

    def reinstate(self, ifname: str) -> list[Any]:
        """Put back our tracked routes through `ifname` (the kernel drops them, without telling,
        when the link goes down): keepalived 2.2.7's static_track_group_reinstate_config on an
        interface coming up. The routes added again (present already counts as there)."""
        back = []
        for key, (route, _oif) in list(self.routes.items()):
            if route.dev != ifname or route.no_track:
                continue
            try:
                oif = self._index(ifname)
            except OSError:
                continue
            err = self._request(lambda seq, r=route, o=oif: route_message(RTM_NEWROUTE, seq, r, o))
            if err == 0:
                back.append(route)
            if err in (0, errno.EEXIST):
                self.routes[key] = (route, oif)
            else:
                self._failed("restore route", route, err)
        return back

    def _request(self, build: Any) -> int:
        try:
            return self._socket().request(build)
        except OSError as exc:
            return exc.errno or errno.EIO

    def _add_route(self, key: Any, route: Any) -> None:
        oif = None
        if route.dev is not None:
            try:
                oif = self._index(route.dev)
            except OSError:
                self._failed("add route", route, errno.ENODEV)
                return
        err = self._request(lambda seq: route_message(RTM_NEWROUTE, seq, route, oif))
        if err == 0:
            self.routes[key] = (route, oif)
        elif err == errno.EEXIST:
            log.warning("%s route '%s' exists already and is not vipkeeper's: leaving it alone",
                        self.label, route.text)
        else:
            self._failed("add route", route, err)

    def _del_route(self, key: Any) -> None:
        route, oif = self.routes.pop(key)
        err = self._request(lambda seq: route_message(RTM_DELROUTE, seq, route, oif))
        if err == 0:
            self._note_deleted("route", route)
        if err not in (0, *_GONE):
            self._failed("remove route", route, err)

    def _add_rule(self, key: Any, rule: Any) -> None:
        err = self._request(lambda seq: rule_message(RTM_NEWRULE, seq, rule))
        if err == 0:
            self.rules[key] = rule
        elif err == errno.EEXIST:
            log.warning("%s rule '%s' exists already and is not vipkeeper's: leaving it alone", self.label, rule.text)
        else:
            self._failed("add rule", rule, err)

    def _del_rule(self, key: Any) -> None:
        rule = self.rules.pop(key)
        err = self._request(lambda seq: rule_message(RTM_DELRULE, seq, rule))
        if err == 0:
            self._note_deleted("rule", rule)
        if err not in (0, *_GONE):
            self._failed("remove rule", rule, err)

    def _note_deleted(self, kind: str, entry: Any) -> None:
        self._deleted.append((kind, entry))
        del self._deleted[:-1024]  # bounded: a lost event must not make it grow for ever

    def _failed(self, what: str, entry: Any, err: int) -> None:
        self.failures += 1
        log.error("%s cannot %s '%s' (%s): %s", self.label, what, entry.text, entry.where,
                  errno.errorcode.get(err, err) if err else "?")

    def close(self) -> None:
        if self._requests is not None:
            self._requests.close()
            self._requests = None


# -- tracking: deletions by someone else ---------------------------------------------------------

RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV4_RULE = 0x80
RTMGRP_IPV6_ROUTE = 0x400
RTNLGRP_IPV6_RULE = 19
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
_HDR = struct.Struct("=IHHII")
_RT = struct.Struct("=BBBBBBBBI")


def _attrs(body: bytes, off: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while off + 4 <= len(body):
        length, kind = struct.unpack_from("=HH", body, off)
        if length < 4:
            break
        out.setdefault(kind & 0x3FFF, body[off + 4: off + length])
        off += (length + 3) & ~3
    return out


def _prefix(family: int, raw: bytes | None, length: int) -> Any:
    if raw is None:
        return None
    return ipaddress.ip_network((ipaddress.ip_address(raw), length), strict=False)


def deletions(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """("route"|"rule", fields) of every RTM_DELROUTE / RTM_DELRULE with protocol 18 in a datagram."""
    out = []
    off = 0
    while off + _HDR.size <= len(data):
        length, mtype, _flags, _seq, _pid = _HDR.unpack_from(data, off)
        if length < _HDR.size:
            break
        body = data[off + _HDR.size: off + length]
        off += (length + 3) & ~3
        if mtype not in (RTM_DELROUTE, RTM_DELRULE) or len(body) < _RT.size:
            continue
        family, dst_len, src_len, _tos, table, proto, _scope, _rtype, _f = _RT.unpack_from(body)
        attrs = _attrs(body, _RT.size)
        if 15 in attrs:  # RTA_TABLE / FRA_TABLE
            table = struct.unpack("=I", attrs[15])[0]
        if mtype == RTM_DELROUTE:
            if proto != RTPROT_KEEPALIVED:
                continue
            out.append(("route", {"family": family, "dst": _prefix(family, attrs.get(1), dst_len) or
                                  _prefix(family, bytes(4 if family == socket.AF_INET else 16), 0),
                                  "table": table, "via": ipaddress.ip_address(attrs[5]) if 5 in attrs else None,
                                  "metric": struct.unpack("=I", attrs[6])[0] if 6 in attrs else 0}))
        else:
            if attrs.get(21, b"\0")[:1] != bytes([RTPROT_KEEPALIVED]):
                continue
            out.append(("rule", {"family": family, "priority": struct.unpack("=I", attrs[6])[0] if 6 in attrs else 0,
                                 "table": table, "src": _prefix(family, attrs.get(2), src_len),
                                 "dst": _prefix(family, attrs.get(1), dst_len)}))
    return out


def matches(kind: str, fields: dict[str, Any], entry: Any) -> bool:
    """Whether a deletion the kernel reported is this route or rule of ours."""
    if kind == "route":
        metric = entry.metric if entry.metric is not None else (0 if entry.family == 4 else 1024)
        return (entry.dst == fields["dst"] and entry.table == fields["table"] and metric == fields["metric"]
                and (entry.via is None or entry.via == fields["via"]))
    family = socket.AF_INET if entry.family == 4 else socket.AF_INET6
    return (family == fields["family"] and entry.priority == fields["priority"]
            and (entry.table or 0) == fields["table"] and entry.src == fields["src"] and entry.dst == fields["dst"])


class RouteWatch:
    """Route and rule deletions with protocol 18, from the kernel's route/rule groups. Our own
    deletions arrive too: by then the entry is no longer in the owner's books, so they match
    nothing (RouteOwner.take_lost)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 0)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, RTMGRP_IPV4_ROUTE | RTMGRP_IPV4_RULE | RTMGRP_IPV6_ROUTE))
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, RTNLGRP_IPV6_RULE)
        except OSError:
            pass  # no IPv6: no IPv6 rules to watch
        self._loop: Any = None

    def start(self, callback: Any, loop: Any = None) -> None:
        import asyncio

        self._loop = loop or asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._readable, callback)

    def _readable(self, callback: Any) -> None:
        for _ in range(64):
            try:
                data = self.sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError as exc:  # ENOBUFS: events lost, nothing to resync from
                log.warning("route watch: %s", exc.strerror or exc)
                return
            for kind, fields in deletions(data):
                callback(kind, fields)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
        self.sock.close()
