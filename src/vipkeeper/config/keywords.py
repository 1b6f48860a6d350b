"""Keyword tables: every keyword vipkeeper knows, its type, range and where its value goes.

Rules
- One table per block (`GLOBAL_DEFS`, `INSTANCE`, `SYNC_GROUP`, `SCRIPT`, `TRACK_PROCESS`,
  `TRACK_FILE`, `AUTHENTICATION`, `WITNESS` (vipkeeper's own `vipkeeper_witness`), `TOP`). A row says: the model field the value goes to (None:
  understood, kept in `extras`), how the words are read (`Reader`), and whether keepalived's
  keyword is supported at all (`status`).
- A value that does not read (wrong type, out of range) is a warning naming the keyword and the
  line; the keyword is then ignored, so the default stays - that is what keepalived 2.2.7 does,
  and its wording is kept where an admin would grep for it ("number 'X' outside range [A, B]").
- Every keyword vipkeeper does not act on is named once at its line, with what keepalived would
  have done (`note`, read as "keepalived would ..."): `ignored` when nothing vipkeeper does needs
  it (process tuning, buffer sizes), `unsupported` when keepalived acts on it and vipkeeper does
  not (mail, SNMP, startup scripts). A block of such a keyword is not walked inside.
- `refuse=True`: the absence of the feature changes what goes on the wire or who holds a VIP
  (VMAC, routes and rules, firewall rules, LVS, ...). The parser makes it an error unless
  global_defs says `vipkeeper_run_without FEATURE`; `REFUSABLE` lists the FEATURE names.
- `support_table()` is the whole classification as data (a README table can be made from it).
- Readers return a value, or a dict of several fields (`multi=True`), or raise `Invalid`.
Cross-keyword checks and defaults that depend on other blocks live in `parser.py`.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Callable

from vipkeeper import records
from vipkeeper.records import record

from . import routes
from .ip_interface import ip_interface
from .listen import ListenError, parse_listen
from .model import (
    Diagnostic,
    GarpGroup,
    IPAddress,
    ScriptCommand,
    StaticTrackGroup,
    TrackRef,
    VirtualAddress,
    VirtualRoute,
    VirtualRule,
)
from .tree import Node

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up, issue 18)
if TYPE_CHECKING:
    from typing import Any, Literal


class Invalid(Exception):
    """A keyword's words do not read; the message is the diagnostic."""


class Sink:
    """Where readers report; kept tiny so readers stay pure functions of (node, sink)."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        # (feature, where, message): features vipkeeper lacks whose absence changes the wire or
        # who holds a VIP; the parser makes each an error unless global_defs opts out of it.
        self.refusals: list[tuple[str, Any, str]] = []
        self._shared: dict[Any, Any] = {}

    def shared(self, value: Any) -> Any:
        """An equal value of the same type met before in this parse, else `value`: the model holds
        one object for an address written many times (the same unicast peer or source in 1,000
        instances), not one each (issue 18). The table dies with the parse."""
        key = (float, value.hex()) if type(value) is float else (type(value), value)  # -0.0 is not 0.0
        return self._shared.setdefault(key, value)

    def warning(self, node_or_where: Any, message: str) -> None:
        self._add(node_or_where, "warning", message)

    def error(self, node_or_where: Any, message: str) -> None:
        self._add(node_or_where, "error", message)

    def unsupported(self, node_or_where: Any, message: str) -> None:
        self._add(node_or_where, "unsupported", message)

    def ignored(self, node_or_where: Any, message: str) -> None:
        self._add(node_or_where, "ignored", message)

    def refuse(self, node_or_where: Any, feature: str, message: str) -> None:
        where = node_or_where.where if isinstance(node_or_where, Node) else node_or_where
        self.refusals.append((feature, where, message))

    def _add(self, node_or_where: Any, severity: Any, message: str) -> None:
        where = node_or_where.where if isinstance(node_or_where, Node) else node_or_where
        self.diagnostics.append(Diagnostic(where, severity, message))


if TYPE_CHECKING:
    Reader = Callable[[Node, Sink], Any]
    Status = Literal["ok", "ignored", "unsupported"]


@record(frozen=True)
class Keyword:
    field: str | None
    read: Reader | None = None
    block: bool = False  # the value is in the node's `{ }` block
    multi: bool = False  # the reader returns {field: value, ...}
    status: Status = "ok"
    # ignored/unsupported: what keepalived 2.2.7 does with the keyword, as "keepalived would <note>"
    note: str = ""
    fatal: bool = False  # an invalid value is an error (keepalived cannot run the block), not a warning
    # unsupported and its absence changes what goes on the wire or who holds a VIP: `run` refuses
    # the configuration unless global_defs says `vipkeeper_run_without FEATURE`
    refuse: bool = False
    feature: str = ""  # the FEATURE name for vipkeeper_run_without; the keyword itself when empty


def ok(field: str | None, read: Reader, *, block: bool = False, multi: bool = False,
       fatal: bool = False) -> Keyword:
    return Keyword(field, read, block=block, multi=multi, fatal=fatal)


def ignored(note: str, *, block: bool = False, field: str | None = None, read: Reader | None = None) -> Keyword:
    """Understood; vipkeeper does nothing with it and nothing VRRP does depends on it."""
    return Keyword(field, read, block=block, status="ignored", note=note)


def unsupported(note: str, *, block: bool = False, refuse: bool = False, feature: str = "",
                field: str | None = None, read: Reader | None = None, multi: bool = False) -> Keyword:
    """keepalived acts on it, vipkeeper does not. With `refuse`, running without it would change
    the wire or VIP ownership, so the configuration is refused unless opted out."""
    return Keyword(field, read, block=block, multi=multi, status="unsupported", note=note,
                   refuse=refuse, feature=feature)


RUN_WITHOUT = "vipkeeper_run_without"


def describe(keyword: str, spec: Keyword) -> str:
    """The one-line message naming a keyword vipkeeper does not act on."""
    if spec.status == "ignored":
        return f"'{keyword}' ignored by vipkeeper (keepalived would {spec.note})"
    return f"'{keyword}' is not supported by vipkeeper (keepalived would {spec.note})"


def report(keyword: str, spec: Keyword, where: Any, sink: Sink) -> None:
    """Name a keyword that is not `ok` at its line: ignored, unsupported, or a refusal."""
    message = describe(keyword, spec)
    if spec.refuse:
        sink.refuse(where, spec.feature or keyword, message)
    elif spec.status == "ignored":
        sink.ignored(where, message)
    else:
        sink.unsupported(where, message)


# -- readers -----------------------------------------------------------------------------------

BOOLS = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}


def _one(node: Node) -> str:
    if not node.args:
        raise Invalid(f"'{node.keyword}' needs a value")
    return node.args[0]


def parse_int(text: str, low: int, high: int) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise Invalid(f"invalid number '{text}'") from None
    if not low <= value <= high:
        raise Invalid(f"number '{text}' outside range [{low}, {high}]")
    return value


def parse_float(text: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise Invalid(f"invalid number '{text}'") from None
    if value != value or not low <= value <= high:  # NaN or out of range
        raise Invalid(f"number '{text}' outside range [{low:f}, {high:f}]")
    return value


def integer(low: int, high: int) -> Reader:
    return lambda node, sink: parse_int(_one(node), low, high)


def timer(low: float, high: float) -> Reader:
    return lambda node, sink: parse_float(_one(node), low, high)


def boolean(node: Node, sink: Sink) -> bool:
    """`<BOOL>` optional: a bare keyword means on."""
    if not node.args:
        return True
    value = BOOLS.get(node.args[0].lower())
    if value is None:
        raise Invalid(f"'{node.keyword}' expects on|off|true|false|yes|no, not '{node.args[0]}'")
    return value


def flag(node: Node, sink: Sink) -> bool:
    if node.args:
        sink.warning(node, f"'{node.keyword}' takes no value - ignoring '{' '.join(node.args)}'")
    return True


def dynamic_interfaces(node: Node, sink: Sink) -> bool:
    """`dynamic_interfaces [allow_if_changes]` (keepalived's optional word changes nothing here)."""
    extra = [a for a in node.args if a != "allow_if_changes"]
    if extra:
        sink.warning(node, f"'{node.keyword}' takes no value but allow_if_changes - ignoring '{' '.join(extra)}'")
    return True


def const(value: Any) -> Reader:
    def read(node: Node, sink: Sink) -> Any:
        if node.args:
            sink.warning(node, f"'{node.keyword}' takes no value - ignoring '{' '.join(node.args)}'")
        return value

    return read


def word(node: Node, sink: Sink) -> str:
    return _one(node)


def listen_address(node: Node, sink: Sink) -> str:
    """ADDRESS:PORT (listen.py); a bad one is an error: the daemon would refuse to start."""
    text = _one(node)
    try:
        parse_listen(text)
    except ListenError as exc:
        raise Invalid(str(exc)) from None
    return text


def words(node: Node, sink: Sink) -> tuple[str, ...]:
    return node.args


def parse_address(text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        raise Invalid(f"invalid IP address '{text}'") from None


def address(node: Node, sink: Sink) -> IPAddress:
    return sink.shared(parse_address(_one(node)))  # type: ignore[no-any-return]


def multicast(version: int) -> Reader:
    def read(node: Node, sink: Sink) -> IPAddress:
        value = parse_address(_one(node))
        if value.version != version or not value.is_multicast:
            raise Invalid(f"'{node.keyword}' must be an IPv{version} multicast address, not '{node.args[0]}'")
        return sink.shared(value)  # type: ignore[no-any-return]

    return read


def choice(*values: str, unknown: str = "") -> Reader:
    """One of `values`, exactly: keepalived 2.2.7 compares case-sensitively (`state master` is an
    unknown state there, so BACKUP). `unknown` is keepalived's message, '{}' the word."""

    def read(node: Node, sink: Sink) -> str:
        value = _one(node)
        if value not in values:
            expected = f"must be one of {'|'.join(values)}, case-sensitive"
            raise Invalid(f"{unknown.format(value)} ({expected})" if unknown else
                          f"'{node.keyword}' {expected}, not '{value}'")
        return value

    return read


def split_command(command: str) -> tuple[str, ...]:
    """keepalived splits a script line into words honouring quotes, like a shell."""
    try:
        return tuple(shlex.split(command))
    except ValueError:
        return tuple(command.split())


def script(node: Node, sink: Sink) -> ScriptCommand:
    """`KEYWORD COMMAND [username [groupname]]`: COMMAND is one (usually quoted) word."""
    command = _one(node)
    if len(node.args) > 3:
        sink.warning(node, f"'{node.keyword}': extra words after the user and group - ignoring "
                           f"'{' '.join(node.args[3:])}' (quote the command if it has arguments)")
    user = node.args[1] if len(node.args) > 1 else None
    group = node.args[2] if len(node.args) > 2 else None
    return ScriptCommand(command, split_command(command), user, group, node.where)


def optional_script(node: Node, sink: Sink) -> ScriptCommand | bool:
    """`notify_deleted [COMMAND ...]`: bare keyword = report DELETED without a script."""
    return script(node, sink) if node.args else True


def user_group(prefix: str) -> Reader:
    def read(node: Node, sink: Sink) -> dict[str, Any]:
        name = _one(node)
        return {f"{prefix}user": name, f"{prefix}group": node.args[1] if len(node.args) > 1 else None}

    return read


def weight(low: int, high: int) -> Reader:
    """`weight N [reverse]` inside a tracker block."""

    def read(node: Node, sink: Sink) -> dict[str, Any]:
        value = parse_int(_one(node), low, high)
        reverse = False
        for extra in node.args[1:]:
            if extra == "reverse":
                reverse = True
            elif extra not in ("noreverse", "no_reverse"):
                sink.warning(node, f"unknown '{extra}' after weight - ignoring")
        return {"weight": value, "reverse": reverse}

    return read


# -- block readers -----------------------------------------------------------------------------

def children(node: Node) -> list[Node]:
    return node.children or []


def _words_entries(node: Node, sink: Sink) -> list[Node]:
    entries = []
    for child in children(node):
        if child.children is not None:
            sink.warning(child, f"unexpected block inside '{node.keyword}' - ignoring it")
            continue
        entries.append(child)
    return entries


def name_list(node: Node, sink: Sink) -> tuple[tuple[str, Any], ...]:
    """A block of names (sync group `group { }`), each with the line it is on."""
    return tuple((word, child.where) for child in _words_entries(node, sink) for word in child.words)


LABEL_MAX = 15
VIP_FLAGS = frozenset({"home", "-nodad", "nodad", "mngtmpaddr", "noprefixroute", "autojoin", "use_vmac"})
SCOPES = frozenset({"site", "link", "host", "nowhere", "global"})


def parse_vip(child: Node, sink: Sink) -> VirtualAddress:
    """One `virtual_ipaddress` line: `ADDR[/LEN] [brd X] [dev X] [scope X] [label X] ...`."""
    text = child.keyword
    try:
        if "/" in text:
            host, _, length = text.partition("/")
            base = parse_address(host)
            if length.isdigit() and int(length) > base.max_prefixlen:
                # keepalived 2.2.7: "Invalid address prefix len 33 for address X/33 - using 32"
                sink.warning(child, f"number '{length}' outside range [0, {base.max_prefixlen}]; Invalid "
                                    f"address prefix len {length} for address {text} - using {base.max_prefixlen}")
                length = str(base.max_prefixlen)
            interface = ip_interface(f"{host}/{length}")
        else:
            interface = ip_interface(parse_address(text))
    except (ValueError, Invalid):
        raise Invalid(f"VRRP parsed invalid IP {text}. skipping IP...") from None
    interface = sink.shared(interface)
    fields: dict[str, Any] = {}
    options: list[str] = []
    args = list(child.args)
    index = 0
    while index < len(args):
        option = args[index]
        index += 1
        if option in ("brd", "dev", "scope", "label", "peer", "preferred_lft", "track_group"):
            if index >= len(args):
                sink.warning(child, f"'{option}' needs a value for ip address {text} - ignoring")
                break
            value = args[index]
            index += 1
            if option == "scope" and value not in SCOPES and not value.isdigit():
                sink.warning(child, f"Invalid scope '{value}' for ip address {text} - ignoring")
            elif option == "label" and len(value) > LABEL_MAX:  # IFNAMSIZ - 1: the kernel refuses it
                raise Invalid(f"Address label {value} is longer than maximum length {LABEL_MAX} - removing address")
            elif option in ("brd", "dev", "scope", "label", "peer", "track_group"):
                fields[option] = value
            else:
                options.extend((option, value))
        elif option == "no_track":
            fields["no_track"] = True
        elif option in VIP_FLAGS:
            options.append(option)
        else:
            sink.warning(child, f"Unknown configuration entry '{option}' for ip address - ignoring")
    return VirtualAddress(interface, where=child.where, options=tuple(options), **fields)


def vip_block(node: Node, sink: Sink) -> tuple[VirtualAddress, ...]:
    result = []
    for child in _words_entries(node, sink):
        try:
            vip = parse_vip(child, sink)
        except Invalid as exc:
            sink.warning(child, str(exc))
            continue
        if vip.track_group is not None and node.keyword != "static_ipaddress":  # keepalived 2.2.7's words
            sink.warning(child, "Unknown configuration entry 'track_group' for ip address - ignoring")
            vip = records.replace(vip, track_group=None)
        result.append(vip)
    return tuple(result)


def _static_only(node: Node, child: Node, entry: Any, sink: Sink) -> bool:
    """`track_group` is for static routes and rules: keepalived drops a virtual one that has it."""
    if entry.track_group is not None and not node.keyword.startswith("static_"):
        sink.error(child, f"{node.keyword}: 'track_group' only applies to static routes and rules: "
                          f"'{' '.join(child.words)}'")
        return False
    return True


def route_block(node: Node, sink: Sink) -> tuple[VirtualRoute, ...]:
    """`virtual_routes { ... }` / `static_routes { ... }`: a line vipkeeper cannot install as
    written is an error at its line (config/routes.py has the supported words)."""
    out = []
    for child in _words_entries(node, sink):
        try:
            route = routes.route_of(child.words, child.where)
        except routes.Invalid as exc:
            sink.error(child, f"{node.keyword}: {exc}: '{' '.join(child.words)}'")
            continue
        # keepalived 2.2.7's warnings, word for word
        if "gw" in child.words:
            sink.warning(child, '"gw" for routes is deprecated. Please use "via"')
        if route.dev is None and not route.no_track:
            sink.warning(child, f"Warning - cannot track route {route.dst} with no interface specified, "
                                "not tracking")
        if _static_only(node, child, route, sink):
            out.append(route)
    return tuple(out)


def rule_block(node: Node, sink: Sink) -> tuple[VirtualRule, ...]:
    """`virtual_rules { ... }` / `static_rules { ... }`, as route_block."""
    out = []
    for child in _words_entries(node, sink):
        try:
            rule = routes.rule_of(child.words, child.where)
        except routes.Invalid as exc:
            sink.error(child, f"{node.keyword}: {exc}: '{' '.join(child.words)}'")
            continue
        if rule.priority_defaulted:  # keepalived 2.2.7's words
            sink.warning(child, f"Rule has no preference specified - setting to {rule.priority}. "
                                "This is probably not what you want.")
        if _static_only(node, child, rule, sink):
            out.append(rule)
    return tuple(out)


def static_track_group(node: Node, sink: Sink) -> StaticTrackGroup | None:
    """`track_group NAME { group { VI_1 VI_2 } }` (keepalived 2.2.7's static track group; what it
    does is config/track_groups.py's). None when the block has no name."""
    if len(node.args) != 1:
        sink.warning(node, "track_group must have a name - skipping")
        return None
    name, members = node.args[0], None
    for child in children(node):
        if child.keyword != "group" or child.children is None:
            sink.warning(child, f"Unknown keyword '{child.keyword}' in track_group {name} - ignoring")
        elif members is not None:
            sink.warning(child, f"Group list already specified for sync group {name}")
        else:
            members = tuple(word for word, _ in name_list(child, sink))
            if not members:
                sink.warning(child, f"Warning - track group {name} has empty group block")
    return StaticTrackGroup(name, members or (), where=node.where)


def track_block(low: int, high: int, *, what: str) -> Reader:
    """`track_* { NAME [weight N [reverse|noreverse]] ... }`."""

    def read(node: Node, sink: Sink) -> tuple[TrackRef, ...]:
        refs = []
        for child in _words_entries(node, sink):
            name, args = child.keyword, list(child.args)
            ref_weight: int | None = None
            reverse: bool | None = None
            try:
                while args:
                    option = args.pop(0)
                    if option == "weight":
                        if not args:
                            raise Invalid(f"weight missing for {what} {name}")
                        raw = args.pop(0)
                        try:
                            ref_weight = parse_int(raw, low, high)
                        except Invalid as exc:
                            raise Invalid(f"{exc}; weight {raw} for {what} {name} must be between "
                                          f"[{low}..{high}] inclusive. Ignoring...") from None
                    elif option == "reverse":
                        reverse = True
                    elif option in ("noreverse", "no_reverse"):
                        reverse = False
                    else:
                        raise Invalid(f"unknown option '{option}' for {what} {name} - ignoring it")
            except Invalid as exc:
                sink.warning(child, str(exc))
                if "Ignoring" in str(exc):
                    continue
            refs.append(TrackRef(name, ref_weight, reverse, child.where))
        return tuple(refs)

    return read


def peer_block(node: Node, sink: Sink) -> dict[str, Any]:
    """`unicast_peer { ADDR [min_ttl N] [max_ttl N] ... }`: with a TTL range, adverts from that peer
    whose TTL (hop limit) is outside it are dropped, and check_unicast_src is set (keepalived 2.2.7)."""
    peers: list[IPAddress] = []
    ranges: list[tuple[IPAddress, int, int]] = []
    for child in _words_entries(node, sink):
        try:
            peer = sink.shared(parse_address(child.keyword))
        except Invalid as exc:
            sink.warning(child, f"{exc} in unicast_peer - ignoring")
            continue
        peers.append(peer)
        args = list(child.args)
        low, high, ranged = 0, 255, False
        while args:
            option = args.pop(0)
            if option in ("min_ttl", "max_ttl") and args:
                raw = args.pop(0)
                try:
                    value = parse_int(raw, 0, 255)
                except Invalid:
                    sink.warning(child, f"Invalid {option} '{raw}' for unicast peer {peer} - ignoring")
                    continue
                ranged = True
                if option == "min_ttl":
                    low = value
                else:
                    high = value
            else:
                sink.warning(child, f"unknown unicast_peer option '{option}' - ignoring")
        if ranged:
            if low > high:
                sink.warning(child, f"min_ttl {low} > max_ttl {high} for unicast peer {peer} - ignoring the range")
            else:
                ranges.append((peer, low, high))
    result: dict[str, Any] = {"unicast_peers": tuple(peers)}
    if ranges:
        result["check_unicast_src"] = True
        result["unicast_peer_ttl"] = tuple(ranges)
    return result


def use_vmac(node: Node, sink: Sink) -> dict[str, Any]:
    """`use_vmac [NAME] [MAC]`: MAC has 5 or 6 octets (5: the VRID is the sixth, as keepalived)."""
    name = ""
    mac = None
    for arg in node.args:
        if arg.count(":") >= 4:
            parts = arg.split(":")
            if len(parts) not in (5, 6) or not all(len(p) in (1, 2) and all(c in "0123456789abcdefABCDEF" for c in p)
                                                  for p in parts):
                raise Invalid(f"use_vmac: invalid MAC address '{arg}'")
            if int(parts[0], 16) & 1:
                raise Invalid(f"use_vmac: '{arg}' is a multicast MAC address")
            mac = arg.lower()
        elif len(arg) > LABEL_MAX or "/" in arg or " " in arg:
            raise Invalid(f"use_vmac: '{arg}' is not a valid interface name (at most {LABEL_MAX} characters)")
        else:
            name = arg
    result: dict[str, Any] = {"use_vmac": name}
    if mac is not None:
        result["vmac_address"] = mac
    return result


IPVLAN_MODES = ("bridge", "private", "vepa")


def use_ipvlan(node: Node, sink: Sink) -> dict[str, Any]:
    """`use_ipvlan [NAME] [ADDRESS[/LEN]] [bridge|private|vepa]`, in any order (keepalived 2.2.7's
    vrrp_ipvlan_handler: a second one of a kind is ignored with its line)."""
    result: dict[str, Any] = {"use_ipvlan": ""}
    for arg in node.args:
        if arg in IPVLAN_MODES:
            if "ipvlan_mode" in result:
                sink.warning(node, f"ipvlan type already specified - ignoring '{arg}'")
            else:
                result["ipvlan_mode"] = arg
            continue
        try:
            address = ip_interface(arg)
        except ValueError:
            address = None
        if address is not None:
            if "ipvlan_address" in result:
                sink.warning(node, f"ipvlan address already specified - ignoring '{arg}'")
            else:
                result["ipvlan_address"] = address
        elif result["use_ipvlan"]:
            sink.warning(node, f"IPVLAN interface already specified - ignoring '{arg}'")
        elif len(arg) > LABEL_MAX or "/" in arg:
            sink.warning(node, f"IPVLAN interface name '{arg}' too long - ignoring")
        else:
            result["use_ipvlan"] = arg
    return result


_EXTRA_IF_RENAMED = {"vmac_garp_intvl": "garp_extra_if", "vrrp_vmac_garp_intvl": "vrrp_garp_extra_if"}


def garp_extra_if(prefix: str, low: int) -> Reader:
    """`[vrrp_]garp_extra_if [all] SECONDS`: a GARP/NA every SECONDS on the other interfaces of
    the instance's VIPs (VMACs only, or every one with `all`); the instance's own may be 0 (off),
    the global one not (keepalived 2.2.7's ranges). Its deprecated spelling is still read."""
    def read(node: Node, sink: Sink) -> dict[str, Any]:
        if node.keyword in _EXTRA_IF_RENAMED:
            sink.warning(node, f'Keyword "{node.keyword}" is deprecated - please use '
                               f'"{_EXTRA_IF_RENAMED[node.keyword]}"')
        seconds = None
        for arg in node.args:
            if arg != "all":
                seconds = parse_int(arg, low, 86400)
        if seconds is None:
            raise Invalid(f"{node.keyword} specified without time - ignoring")
        return {f"{prefix}garp_extra_if": float(seconds), f"{prefix}garp_extra_if_all": "all" in node.args}
    return read


GARP_GROUP_MAX = 2147.483647  # s: keepalived reads the intervals as microseconds in an int


def garp_group(node: Node, sink: Sink) -> GarpGroup | None:
    """`garp_group { garp_interval S  gna_interval S  interface IF | interfaces { IF ... } }`;
    keepalived 2.2.7 drops a group with neither interval ("does not have any delay set")."""
    intervals: dict[str, float] = {}
    names: list[str] = []
    for child in children(node):
        key = child.keyword
        if key in ("garp_interval", "gna_interval"):
            try:
                intervals[key] = parse_float(_one(child), 0, GARP_GROUP_MAX)
            except Invalid as exc:
                sink.warning(child, f"garp_group {key}: {exc} - ignoring")
        elif key == "interface":
            if child.args:
                names.append(child.args[0])
            else:
                sink.warning(child, "garp_group interface: no interface named - ignoring")
        elif key == "interfaces":
            entries = _words_entries(child, sink)
            if not entries:
                sink.warning(child, "garp_group: empty interfaces block - ignoring")
            names.extend(word for entry in entries for word in entry.words)
        else:
            sink.warning(child, f"Unknown keyword '{key}' in garp_group - ignoring")
    if not intervals:
        sink.warning(node, "garp_group has neither garp_interval nor gna_interval - ignoring the group")
        return None
    if not names:
        sink.warning(node, "garp_group names no interface - it spaces nothing")
    return GarpGroup(intervals.get("garp_interval"), intervals.get("gna_interval"), tuple(names), node.where)


def preempt(node: Node, sink: Sink) -> dict[str, Any]:
    return {"nopreempt": False}


def accept(value: bool) -> Reader:
    return lambda node, sink: {"accept": value}


def strict(node: Node, sink: Sink) -> bool:
    return boolean(node, sink)


def min_garp(node: Node, sink: Sink) -> bool:
    return boolean(node, sink)


def process_words(node: Node, sink: Sink) -> dict[str, Any]:
    if not node.args:
        raise Invalid("'process' needs a process name")
    return {"process": node.args[0], "params": tuple(node.args[1:])}


def param_match(node: Node, sink: Sink) -> str:
    value = _one(node)
    if value not in ("initial", "partial"):
        raise Invalid(f"param_match must be initial or partial, not '{value}'")
    return value


def delay_both(node: Node, sink: Sink) -> dict[str, float]:
    value = parse_float(_one(node), 0.000001, 3600)
    return {"fork_delay": value, "terminate_delay": value}


def init_file(node: Node, sink: Sink) -> dict[str, Any]:
    value = 0
    overwrite = False
    for arg in node.args:
        if arg == "overwrite":
            overwrite = True
        else:
            try:
                value = int(arg)
            except ValueError:
                raise Invalid(f"invalid init_file value '{arg}'") from None
    return {"init_file": value, "init_file_overwrite": overwrite}


def quoted_path(node: Node, sink: Sink) -> str:
    return _one(node)


def email_block(node: Node, sink: Sink) -> tuple[str, ...]:
    """`notification_email { ADDR ... }`: every word is one address, as keepalived reads it."""
    addresses = tuple(word for child in _words_entries(node, sink) for word in child.words)
    if not addresses:
        sink.warning(node, "Warning - empty notification_email block")
    return addresses


def smtp_server(node: Node, sink: Sink) -> tuple[str, int]:
    """`smtp_server HOST|ADDRESS [PORT]` (port 25 by default)."""
    host = _one(node)
    port = 25
    if len(node.args) > 1:
        try:
            port = parse_int(node.args[1], 1, 65535)
        except Invalid:
            raise Invalid(f"Invalid smtp server {host} {node.args[1]}") from None
    return (host.strip("[]"), port)


def smtp_connect_timeout(node: Node, sink: Sink) -> float:
    """keepalived: [0, UINT_MAX/TIMER_HZ] seconds; 0 is raised to 1 with a warning."""
    try:
        value = parse_int(_one(node), 0, 4294)
    except Invalid:
        raise Invalid(f"smtp_connect_timeout '{node.args[0] if node.args else ''}' must be in [0, 4294] "
                      "- ignoring") from None
    if value == 0:
        sink.warning(node, "smtp_conect_timeout must be greater than 0, setting to 1")
        value = 1
    return float(value)


def nftables_table(node: Node, sink: Sink) -> str:
    """`nftables [TABLE]`: keepalived's table name, "keepalived" by default (at most 255)."""
    name = node.args[0] if node.args else "keepalived"
    if len(name) >= 256:
        raise Invalid("nftables table name too long - ignoring")
    return name


def iptables_as_nftables(node: Node, sink: Sink) -> str:
    """Debian's keepalived 2.2.7 is built with nftables only: `vrrp_iptables` takes its table."""
    sink.warning(node, "iptables not supported, using nftables instead. Please replace 'vrrp_iptables and "
                       "'vrrp_ipsets' with 'nftables' config option")
    return "keepalived"


def rt_priority(node: Node, sink: Sink) -> int:
    """SCHED_RR priority, clamped to [1, 99] with keepalived's warning."""
    if not node.args:
        raise Invalid("No vrrp process real-time priority specified")
    try:
        value = int(node.args[0], 10)
    except ValueError:
        raise Invalid(f"vrrp process real-time priority '{node.args[0]}' invalid") from None
    if value < 1:
        sink.warning(node, f"vrrp process real-time priority {value} less than minimum 1 - setting to minimum")
        value = 1
    elif value > 99:
        sink.warning(node, f"vrrp process real-time priority {value} greater than maximum 99 - setting to "
                           "maximum")
        value = 99
    return value


def cpu_list(node: Node, sink: Sink) -> tuple[int, ...]:
    """`vrrp_cpu_affinity CPU...`; whether each CPU exists is the host's business (checked at run)."""
    if not node.args:
        raise Invalid("No vrrp cpu_id set specified")
    cpus = []
    for arg in node.args:
        try:
            cpus.append(parse_int(arg, 0, 1023))
        except Invalid:
            raise Invalid(f"Invalid cpu_id:{arg} specified for vrrp process") from None
    return tuple(cpus)


def rlimit_rttime(node: Node, sink: Sink) -> int:
    """µs; 1 becomes 2 (keepalived halves it for the soft limit, which must not be 0)."""
    try:
        value = parse_int(_one(node), 1, 2**32 - 1)
    except Invalid:
        raise Invalid(f"Invalid vrrp real-time limit - {node.args[0] if node.args else ''}") from None
    return max(value, 2)


_UMASK_BITS = {"IRUSR": 0o400, "IWUSR": 0o200, "IXUSR": 0o100, "IRGRP": 0o040, "IWGRP": 0o020,
               "IXGRP": 0o010, "IROTH": 0o004, "IWOTH": 0o002, "IXOTH": 0o001}


def umask(node: Node, sink: Sink) -> int:
    """`umask 022` (C notation: 0x.., 0..., decimal) or `umask IWGRP|IWOTH` (keepalived 2.2.7)."""
    text = _one(node)
    if text[0].isdigit():
        if len(node.args) != 1:
            raise Invalid("Extra parameter(s) to umask option")
        try:
            value = int(text, 0) if not (text.startswith("0") and text[1:].isdigit()) else int(text, 8)
        except ValueError:
            raise Invalid(f"invalid umask value {text}") from None
        if value < 0 or value & ~0o777:
            raise Invalid(f"invalid umask value {text}")
        return value
    value = 0
    for word_ in node.args:
        for part in word_.split("|"):
            if not part:
                continue
            if part not in _UMASK_BITS:
                raise Invalid(f"Unknown umask bit {part}")
            value |= _UMASK_BITS[part]
    return value


def link_delays(node: Node, sink: Sink) -> tuple[tuple[str, float, float], ...]:
    """`interface_up_down_delays { IFNAME DOWN_DELAY [UP_DELAY] ... }`: seconds (to the
    microsecond, at most 255); UP_DELAY defaults to DOWN_DELAY (keepalived 2.2.7's man page)."""
    out = []
    for child in _words_entries(node, sink):
        values = []
        try:
            for raw in child.args[:2]:
                values.append(parse_float(raw, 0, 255))
        except Invalid as exc:
            sink.warning(child, f"interface_up_down_delays {child.keyword}: {exc} - ignoring")
            continue
        if not values:
            sink.warning(child, f"interface_up_down_delays {child.keyword}: no delay given - ignoring")
            continue
        if len(child.args) > 2:
            sink.warning(child, f"interface_up_down_delays {child.keyword}: extra '{' '.join(child.args[2:])}' "
                                "- ignoring")
        out.append((child.keyword, values[0], values[1] if len(values) > 1 else values[0]))
    return tuple(out)


def script_timeout(node: Node, sink: Sink) -> float:
    kind = node.keyword.split("_", 1)[0]
    try:
        return float(parse_int(_one(node), 1, 1000))
    except Invalid:
        raise Invalid(f"{kind}_script_timeout '{node.args[0] if node.args else ''}' must be in [1, 1000] "
                      "- ignoring") from None


# -- tables ------------------------------------------------------------------------------------
#
# Every keyword keepalived 2.2.7 reads in these blocks is here. `ok` rows are acted on; `ignored`
# and `unsupported` rows are named by `check` with FILE:LINE and what keepalived would have done
# (the note completes "keepalived would ..."); `refuse=True` rows are features whose absence
# changes what goes on the wire or who holds a VIP. `support_table()` lists them all.

LVS = "configure IPVS load balancing; vipkeeper implements VRRP only, not LVS"
SNMP = "serve state over SNMP AgentX; vipkeeper has no SNMP, see `vipkeeper status` and metrics_listen"
TUNING = "tune its checker/BFD processes, automatic priorities or spawning this way; vipkeeper has no " \
         "such process and does not need it"
BUFFERS = "size its netlink or socket receive buffers this way; vipkeeper sizes its own"
NAMING = "name its processes or files this way; vipkeeper does not"
WHERE_VIPS = "start VRRP inside this network namespace; vipkeeper would hold the VIPs in the namespace " \
             "it was started in; start it with `ip netns exec NAME vipkeeper ...`"

AUTHENTICATION: dict[str, Keyword] = {
    "auth_type": ok("auth_type", choice("PASS", "AH", unknown="unknown authentication type '{}'")),
    "auth_pass": ok("auth_pass", word),
}

_NOTIFIES: dict[str, Keyword] = {
    "notify_master": ok("notify_master", script),
    "notify_backup": ok("notify_backup", script),
    "notify_fault": ok("notify_fault", script),
    "notify_stop": ok("notify_stop", script),
    "notify": ok("notify_generic", script),
    "notify_priority_changes": ok("notify_priority_changes", boolean),
    "smtp_alert": ok("smtp_alert", boolean),
}

_TRACKERS: dict[str, Keyword] = {
    "track_interface": ok("track_interface", track_block(-253, 253, what="interface"), block=True),
    "track_script": ok("track_script", track_block(-253, 253, what="script"), block=True),
    "track_process": ok("track_process", track_block(-254, 254, what="process"), block=True),
    "track_file": ok("track_file", track_block(-254, 254, what="file"), block=True),
    "track_bfd": unsupported("lower the priority of, or fault, the instance when a BFD session goes down; "
                             "vipkeeper has no BFD, so it would keep the VIP", block=True, refuse=True),
}

INSTANCE: dict[str, Keyword] = {
    "state": ok("state", choice("MASTER", "BACKUP", unknown="unknown state '{}', defaulting to BACKUP")),
    "interface": ok("interface", word),
    "vrf": ok("vrf", word),  # keepalived's rules for it: parser.py (instance_vrf)
    "use_vmac": ok(None, use_vmac, multi=True),
    "use_vmac_addr": ok("use_vmac_addr", flag),  # config/vmac_addr.py
    "vmac_xmit_base": ok("vmac_xmit_base", flag),
    "use_ipvlan": ok(None, use_ipvlan, multi=True),
    "native_ipv6": ok("native_ipv6", flag),
    "dont_track_primary": ok("dont_track_primary", flag),
    **_TRACKERS,
    "mcast_src_ip": ok("mcast_src_ip", address),
    "unicast_src_ip": ok("unicast_src_ip", address),
    "mcast_dst_ip": ok("mcast_dst_ip", address),
    "track_src_ip": unsupported("put the instance in FAULT while its source address is missing",
                                field="track_src_ip", read=flag),
    "version": ok("version", integer(2, 3)),
    "check_unicast_src": ok("check_unicast_src", flag),
    "unicast_peer": ok(None, peer_block, block=True, multi=True),
    "unicast_fault_no_peer": unsupported("put a unicast instance without peers in FAULT",
                                         field="unicast_fault_no_peer", read=flag),
    "unicast_ttl": unsupported("send unicast adverts with this TTL and (with check_unicast_src) check it; "
                               "vipkeeper sends TTL 255", field="unicast_ttl", read=integer(0, 255)),
    "old_unicast_checksum": unsupported("checksum unicast adverts the way keepalived < 1.3.6 did; vipkeeper's "
                                        "adverts would fail such a peer's checksum", refuse=True),
    "garp_master_delay": ok("garp_master_delay", timer(0, 255)),
    "garp_master_repeat": ok("garp_master_repeat", integer(0, 255)),
    "garp_lower_prio_delay": ok("garp_lower_prio_delay", timer(0, 255)),
    "garp_lower_prio_repeat": ok("garp_lower_prio_repeat", integer(0, 255)),
    "garp_master_refresh": ok("garp_master_refresh", timer(0, 86400)),
    "garp_master_refresh_repeat": ok("garp_master_refresh_repeat", integer(0, 255)),
    # periodic GARP/NA on the VIPs' other interfaces (vrrp/garp_extra_if.py)
    "garp_extra_if": ok(None, garp_extra_if("", 0), multi=True),
    "vmac_garp_intvl": ok(None, garp_extra_if("", 0), multi=True),
    # keepalived 2.2.7's man page names it, its parser does not know it (`keepalived -t`: "Unknown
    # keyword 'garp_extra_if_vmac'"), so it does nothing there either
    "garp_extra_if_vmac": ignored("say \"Unknown keyword 'garp_extra_if_vmac'\" and do nothing: its man page "
                                  "names the keyword, its parser does not know it (measured)"),
    "down_timer_adverts": ok("down_timer_adverts", integer(1, 100)),
    "lower_prio_no_advert": ok("lower_prio_no_advert", boolean),
    "higher_prio_send_advert": ok("higher_prio_send_advert", boolean),
    "virtual_router_id": ok("virtual_router_id", integer(1, 255), fatal=True),
    "priority": ok("priority", integer(1, 255)),
    "advert_int": ok("advert_int", timer(0.01, 255)),
    "authentication": ok("authentication", lambda node, sink: node, block=True),
    "virtual_ipaddress": ok("virtual_ipaddress", vip_block, block=True),
    "virtual_ipaddress_excluded": ok("virtual_ipaddress_excluded", vip_block, block=True),
    # set from start-up on the instance's interface; without it vipkeeper still sets it before its
    # own first IPv4 delete there (net/addresses.py), and puts the old value back at exit
    "promote_secondaries": ok("promote_secondaries", flag),
    "virtual_routes": ok("virtual_routes", route_block, block=True),
    "virtual_rules": ok("virtual_rules", rule_block, block=True),
    "accept": ok(None, accept(True), multi=True),
    "no_accept": ok(None, accept(False), multi=True),
    "nopreempt": ok("nopreempt", flag),
    "preempt": ok(None, preempt, multi=True),
    "preempt_delay": ok("preempt_delay", timer(0, 1000)),
    "skip_check_adv_addr": ok("skip_check_adv_addr", boolean),
    "strict_mode": ok("strict_mode", strict),
    "debug": ignored("log more detail about this instance"),
    **_NOTIFIES,
    "notify_deleted": ok("notify_deleted", optional_script),
    "notify_master_rx_lower_pri": ok("notify_master_rx_lower_pri", script),
    "kernel_rx_buf_size": ignored(BUFFERS),
    "linkbeat_use_polling": ignored("poll the link state with MII/ethtool; vipkeeper follows it through netlink"),
    "lvs_sync_daemon_interface": unsupported(LVS),
    # vipkeeper's own
    "fast_handover": ok("fast_handover", boolean),
    "witness": ok("witness", word),
}

SYNC_GROUP: dict[str, Keyword] = {
    "group": ok("group", name_list, block=True),
    **_NOTIFIES,
    **_TRACKERS,
    "global_tracking": ok("global_tracking", flag),
    "sync_group_tracking_weight": ok("sync_group_tracking_weight", flag),
    # vipkeeper's own
    "witness": ok("witness", word),
}

SCRIPT: dict[str, Keyword] = {
    "script": ok("script", word),
    "interval": ok("interval", timer(0, 86400)),
    "timeout": ok("timeout", timer(0, 86400)),
    "weight": ok(None, weight(-253, 253), multi=True),
    "rise": ok("rise", integer(1, 65535)),
    "fall": ok("fall", integer(1, 65535)),
    "user": ok(None, user_group(""), multi=True),
    "init_fail": ok("init_fail", flag),
}

TRACK_PROCESS: dict[str, Keyword] = {
    "process": ok(None, process_words, multi=True),
    "param_match": ok("param_match", param_match),
    "weight": ok(None, weight(-254, 254), multi=True),
    "quorum": ok("quorum", integer(1, 65535)),
    "quorum_max": ok("quorum_max", integer(0, 65535)),
    "fork_delay": ok("fork_delay", timer(0.000001, 3600)),
    "terminate_delay": ok("terminate_delay", timer(0.000001, 3600)),
    "delay": ok(None, delay_both, multi=True),
    "full_command": ok("full_command", flag),
}

TRACK_FILE: dict[str, Keyword] = {
    "file": ok("file", quoted_path),
    "weight": ok(None, weight(-2147483647, 2147483647), multi=True),
    "init_file": ok(None, init_file, multi=True),
}


def _each(names: str, spec: Keyword) -> dict[str, Keyword]:
    return {name: spec for name in names.split()}


_GLOBAL_NOT_ACTED: dict[str, Keyword] = {
    **_each("tmp_config_directory config_save_dir", ignored("keep copies of the configuration it read there")),
    **_each("process_names process_name vrrp_process_name checker_process_name bfd_process_name "
            "use_pid_dir instance data_use_instance", ignored(NAMING)),
    **_each("checker_priority bfd_priority checker_no_swap bfd_no_swap checker_cpu_affinity bfd_cpu_affinity "
            "checker_rt_priority bfd_rt_priority checker_rlimit_rttime bfd_rlimit_rttime "
            "min_auto_priority_delay child_wait_time random_seed", ignored(TUNING)),
    "max_auto_priority": ignored(TUNING, field="max_auto_priority",
                                 read=lambda n, s: parse_int(n.args[0], -1, 99) if n.args else 99),
    **_each("vrrp_netlink_cmd_rcv_bufs vrrp_netlink_cmd_rcv_bufs_force vrrp_netlink_monitor_rcv_bufs "
            "vrrp_netlink_monitor_rcv_bufs_force process_monitor_rcv_bufs_force vrrp_rx_bufs_policy "
            "vrrp_rx_bufs_multiplier", ignored(BUFFERS)),
    "linkbeat_use_polling": ignored("poll link state with MII/ethtool; vipkeeper follows it through netlink"),
    **_each("reload_check_config include_check", ignored("check a new configuration before reloading it; "
                                                         "vipkeeper always does")),
    **_each("reload_time_file reload_repeat reload_file",
            unsupported("reload at the time written in this file, or mark reloads in it")),
    "vrrp_wait_after_boot": ignored(TUNING),
    "log_unknown_vrids": ok("log_unknown_vrids", flag),
    "umask": ok("umask", umask),
    "fifo_write_vrrp_states_on_reload": unsupported("write every instance's state to the notify FIFO "
                                                    "after a reload"),
    "default_interface": ok("default_interface", word),
    **_each("vmac_prefix vmac_addr_prefix", unsupported("name VMAC interfaces this way; vipkeeper creates none")),
    "disable_local_igmp": unsupported("stop the kernel sending IGMP reports for the VRRP group"),
    **_each("vrrp_ipsets nftables_ifindex",
            unsupported("shape the firewall rules of vrrp_iptables/nftables (ipsets; interface indexes "
                        "instead of names for link-local VIPs)")),
    **_each("enable_snmp_vrrp enable_snmp_rfc enable_snmp_rfcv2 enable_snmp_rfcv3 snmp_socket", unsupported(SNMP)),
    "enable_traps": unsupported("send SNMP traps on state changes; vipkeeper has no SNMP, use a notify "
                                "script or notify_fifo"),
    **_each("enable_dbus dbus_service_name", unsupported("publish instance states and take commands on "
                                                         "D-Bus; vipkeeper has no D-Bus, see `vipkeeper status`")),
    **_each("lvs_sync_daemon lvs_timeouts lvs_flush lvs_flush_on_stop lvs_notify_fifo lvs_notify_fifo_script "
            "rs_init_notifies no_checker_emails smtp_alert_checker checker_log_all_failures enable_snmp_checker "
            "lvs_netlink_cmd_rcv_bufs lvs_netlink_cmd_rcv_bufs_force lvs_netlink_monitor_rcv_bufs "
            "lvs_netlink_monitor_rcv_bufs_force nftables_ipvs nftables_ipvs_priority nftables_ipvs_start_fwmark "
            "net_namespace_ipvs namespace_with_ipsets", unsupported(LVS)),
    "net_namespace": unsupported(WHERE_VIPS, refuse=True),
}


def endpoint(node: Node, sink: Sink) -> tuple[str, ...]:
    """`endpoints URL...`: http:// or https://, host and port."""
    urls = list(node.args)
    if not urls:
        raise Invalid(f"'{node.keyword}' needs at least one URL")
    for url in urls:
        scheme, _, rest = url.partition("://")
        if scheme not in ("http", "https") or not rest or "/" in rest.rstrip("/"):
            raise Invalid(f"etcd endpoint '{url}' is not http(s)://HOST:PORT")
    return tuple(urls)


def policy(node: Node) -> str:
    value = _one(node).lower()
    if value not in ("fail_closed", "fail_open"):
        raise Invalid(f"'policy' must be fail_closed or fail_open, not '{node.args[0]}'")
    return value


def key_prefix(node: Node, sink: Sink) -> str:
    text = _one(node)
    if not text.startswith("/"):
        raise Invalid(f"witness prefix '{text}' must start with '/'")
    return text.rstrip("/") or "/"


# vipkeeper's own top-level block `vipkeeper_witness NAME { ... }` (keepalived -t calls it unknown).
WITNESS: dict[str, Keyword] = {
    "endpoints": ok("endpoints", endpoint, fatal=True),
    "cacert": ok("cacert", quoted_path, fatal=True),
    "cert": ok("cert", quoted_path, fatal=True),
    "key": ok("key", quoted_path, fatal=True),
    "prefix": ok("prefix", key_prefix, fatal=True),
    "lease_ttl": ok("lease_ttl", integer(1, 3600), fatal=True),
    "lease_margin": ok("lease_margin", timer(0.01, 60), fatal=True),
    "timeout": ok("timeout", timer(0.01, 60), fatal=True),
    "policy": ok("policy", lambda node, sink: policy(node), fatal=True),
}

GLOBAL_DEFS: dict[str, Keyword] = {
    **_GLOBAL_NOT_ACTED,
    "router_id": ok("router_id", word),
    # mail alerts (notify/mail.py)
    "notification_email": ok("notification_email", email_block, block=True),
    "notification_email_from": ok("notification_email_from", word),
    "smtp_server": ok("smtp_server", smtp_server),
    "smtp_helo_name": ok("smtp_helo_name", word),
    "smtp_connect_timeout": ok("smtp_connect_timeout", smtp_connect_timeout),
    "smtp_alert": ok("smtp_alert", boolean),
    "smtp_alert_vrrp": ok("smtp_alert_vrrp", boolean),
    "no_email_faults": ok("no_email_faults", flag),
    # firewall rules for VIPs without accept mode (net/firewall.py)
    "nftables": ok("nftables", nftables_table),
    "vrrp_iptables": ok("nftables", iptables_as_nftables),
    "nftables_priority": ok("nftables_priority", integer(-2**31, 2**31 - 1)),
    "nftables_counters": ok("nftables_counters", flag),
    # the daemon process (daemon/tuning.py)
    "vrrp_rt_priority": ok("vrrp_rt_priority", rt_priority),
    "vrrp_priority": ok("vrrp_priority", integer(-20, 19)),
    "vrrp_no_swap": ok("vrrp_no_swap", flag),
    "vrrp_cpu_affinity": ok("vrrp_cpu_affinity", cpu_list),
    "vrrp_rlimit_rttime": ok("vrrp_rlimit_rttime", rlimit_rttime),
    "vrrp_rlimit_rtime": ok("vrrp_rlimit_rttime", rlimit_rttime),  # deprecated spelling, still read
    # run once around VRRP (daemon/lifecycle_scripts.py)
    "startup_script": ok("startup_script", script),
    "startup_script_timeout": ok("startup_script_timeout", script_timeout),
    "shutdown_script": ok("shutdown_script", script),
    "shutdown_script_timeout": ok("shutdown_script_timeout", script_timeout),
    "script_user": ok(None, user_group("script_"), multi=True),
    "enable_script_security": ok("enable_script_security", flag),
    "vrrp_version": ok("vrrp_version", integer(2, 3)),
    "vrrp_mcast_group4": ok("vrrp_mcast_group4", multicast(4)),
    "vrrp_mcast_group6": ok("vrrp_mcast_group6", multicast(6)),
    "vrrp_strict": ok("vrrp_strict", flag),
    # keepalived 2.2.7: without it a missing interface stops the daemon; vipkeeper always runs
    # such an instance in FAULT until the interface appears (the flag only changes the wording).
    "dynamic_interfaces": ok("dynamic_interfaces", dynamic_interfaces),
    "vrrp_startup_delay": ok("vrrp_startup_delay", timer(0, 3600)),
    "vrrp_down_timer_adverts": ok("vrrp_down_timer_adverts", integer(1, 100)),
    "vrrp_skip_check_adv_addr": ok("vrrp_skip_check_adv_addr", boolean),
    "vrrp_notify_priority_changes": ok("vrrp_notify_priority_changes", boolean),
    "vrrp_min_garp": ok("vrrp_min_garp", boolean),
    "vrrp_garp_master_delay": ok("garp_master_delay", timer(0, 255)),
    "vrrp_garp_master_repeat": ok("garp_master_repeat", integer(0, 255)),
    "vrrp_garp_lower_prio_delay": ok("garp_lower_prio_delay", timer(0, 255)),
    "vrrp_garp_lower_prio_repeat": ok("garp_lower_prio_repeat", integer(0, 255)),
    "vrrp_garp_master_refresh": ok("garp_master_refresh", timer(0, 86400)),
    "vrrp_garp_master_refresh_repeat": ok("garp_master_refresh_repeat", integer(0, 255)),
    # spacing of GARPs/NAs per interface (vrrp/garp_pacing.py), with garp_group blocks
    "vrrp_garp_interval": ok("garp_interval", timer(0.000001, 4294.967295)),
    "vrrp_gna_interval": ok("garp_na_interval", timer(0.000001, 4294.967295)),
    "vrrp_garp_extra_if": ok(None, garp_extra_if("vrrp_", 1), multi=True),
    "vrrp_vmac_garp_intvl": ok(None, garp_extra_if("vrrp_", 1), multi=True),
    "vrrp_lower_prio_no_advert": ok("vrrp_lower_prio_no_advert", boolean),
    "vrrp_higher_prio_send_advert": ok("vrrp_higher_prio_send_advert", boolean),
    "vrrp_check_unicast_src": ok("vrrp_check_unicast_src", flag),
    "notify_fifo": ok("notify_fifo", script),
    "notify_fifo_script": ok("notify_fifo_script", script),
    "vrrp_notify_fifo": ok("vrrp_notify_fifo", script),
    "vrrp_notify_fifo_script": ok("vrrp_notify_fifo_script", script),
    "process_monitor_rcv_bufs": ok("process_monitor_rcv_bufs", integer(0, 2**31 - 1)),
    # vipkeeper's own
    "control_socket": ok("control_socket", word),
    "metrics_listen": ok("metrics_listen", listen_address, fatal=True),
    RUN_WITHOUT: ok("run_without", words),
}

# Top-level keywords other than the blocks parser.py walks with the tables above.
TOP: dict[str, Keyword] = {
    "static_ipaddress": ok("static_ipaddress", vip_block, block=True),
    "static_routes": ok("static_routes", route_block, block=True),
    "static_rules": ok("static_rules", rule_block, block=True),
    "virtual_server": unsupported(LVS, refuse=True, block=True),
    "virtual_server_group": unsupported(LVS, refuse=True, block=True, feature="virtual_server"),
    "SSL": unsupported(LVS, block=True),
    "bfd_instance": unsupported("run this BFD session; vipkeeper has no BFD", block=True),
    "linkbeat_interfaces": unsupported("poll these interfaces' link state with MII/ethtool; vipkeeper "
                                       "follows link state through netlink", block=True),
    "track_group": ok("track_groups", static_track_group, block=True),
    "garp_group": ok("garp_groups", garp_group, block=True),
    "interface_up_down_delays": ok("interface_up_down_delays", lambda node, sink: link_delays(node, sink), block=True),
    "net_namespace": unsupported(WHERE_VIPS, refuse=True),
    # global keywords that keepalived also reads outside global_defs (man page, "Global definitions")
    **{name: GLOBAL_DEFS[name] for name in ("net_namespace_ipvs", "namespace_with_ipsets", "instance",
                                            "use_pid_dir", "linkbeat_use_polling", "child_wait_time")},
}

# Blocks whose keywords are read from a table, by the name they are listed under in support_table().
TABLES: dict[str, dict[str, Keyword]] = {
    "top level": TOP, "global_defs": GLOBAL_DEFS, "vrrp_instance": INSTANCE, "vrrp_sync_group": SYNC_GROUP,
    "vrrp_script": SCRIPT, "vrrp_track_process": TRACK_PROCESS, "track_file": TRACK_FILE,
    "authentication": AUTHENTICATION, "vipkeeper_witness": WITNESS,
}

# auth_type AH cannot be opted out of: an AH peer rejects every advert vipkeeper sends (both
# nodes would become Master), and vipkeeper cannot check the AH adverts it receives.
REFUSABLE: frozenset[str] = frozenset(spec.feature or name for table in TABLES.values()
                                      for name, spec in table.items() if spec.refuse)


def support_table() -> list[tuple[str, str, str, str, str]]:
    """(block, keyword, status, what keepalived would do, opt-out) for every keyword vipkeeper
    does not act on: the data behind a README compatibility table."""
    rows = []
    for block, table in TABLES.items():
        for name, spec in table.items():
            if spec.status == "ok":
                continue
            status = "refused" if spec.refuse else spec.status
            opt_out = f"{RUN_WITHOUT} {spec.feature or name}" if spec.refuse else ""
            rows.append((block, name, status, spec.note, opt_out))
    return rows
