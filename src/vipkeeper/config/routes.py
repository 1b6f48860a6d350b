"""Reading keepalived's route and rule lines (`virtual_routes`, `static_routes`, `virtual_rules`,
`static_rules`) into `VirtualRoute` / `VirtualRule`.

Rules
- The words are keepalived 2.2.7's (iproute2's): a route is
  `[src ADDR] [to] [TYPE] DEST [via|gw ADDR] [dev IF] [table N] [metric|preference|priority N]
  [scope S] [onlink] [no_track]`, TYPE one of unicast, blackhole, unreachable, prohibit (a TYPE
  may also come first); a rule is `[not] [from PREFIX|all] [to PREFIX|all] [fwmark N[/MASK]]
  [iif|iifname IF] [oif|oifname IF] [priority|preference|pref N] [table|lookup N] [no_track]`
  with an action of `table N`, `blackhole`, `unreachable` or `prohibit`.
- vipkeeper supports that subset. Any other word (mtu, realms, nexthop, `or`, encap, goto,
  table names from rt_tables other than main/local/default, ...) raises `Invalid`, which the
  caller makes an error at the line: a route vipkeeper would install differently from what the
  admin wrote must not be half-installed.
- Defaults follow keepalived, measured in a namespace: table main; scope global (keepalived does
  not pick scope link for a route without a gateway, unlike `ip route add`); a rule without a
  priority gets 16384 (keepalived warns "Rule has no preference specified - setting to 16384");
  the family is the family of the addresses on the line, IPv4 when it has none.
Pure: no sockets, nothing read from the host.
"""

from __future__ import annotations

import ipaddress

from .model import VirtualRoute, VirtualRule

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up, issue 18)
if TYPE_CHECKING:
    from typing import Any

ROUTE_TYPES = ("unicast", "blackhole", "unreachable", "prohibit")
RULE_ACTIONS = ("blackhole", "unreachable", "prohibit")
TABLES = {"main": 254, "local": 255, "default": 253}
SCOPES = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
DEFAULT_RULE_PRIORITY = 16384


class Invalid(Exception):
    """The words do not make a route or rule vipkeeper can install; the message says why."""


def _take(words: list[str], option: str) -> str:
    if not words:
        raise Invalid(f"'{option}' needs a value")
    return words.pop(0)


def _address(text: str) -> Any:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise Invalid(f"invalid address '{text}'") from None


def _prefix(text: str) -> Any:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise Invalid(f"invalid prefix '{text}'") from None


def _number(text: str, what: str, high: int = 2**32 - 1) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise Invalid(f"invalid {what} '{text}'") from None
    if not 0 <= value <= high:
        raise Invalid(f"{what} '{text}' outside range [0, {high}]")
    return value


def _table(text: str) -> int:
    if text in TABLES:
        return TABLES[text]
    if not text.isdigit():
        raise Invalid(f"table '{text}': give the table's number (vipkeeper reads no rt_tables file; "
                      "main, local and default are known)")
    value = _number(text, "table")
    if value == 0:
        raise Invalid("table 0 is not a routing table")
    return value


def _families(*values: Any) -> set[int]:
    return {v.version for v in values if v is not None}


def parse_route(words: tuple[str, ...]) -> dict[str, Any]:
    """The fields of a VirtualRoute from one line's words; raises Invalid."""
    rest = list(words)
    fields: dict[str, Any] = {"type": "unicast"}
    dest = None
    while rest:
        word = rest.pop(0)
        if word == "src":
            fields["src"] = _address(_take(rest, word))
        elif word in ("via", "gw"):
            fields["via"] = _address(_take(rest, word))
        elif word == "dev":
            fields["dev"] = _take(rest, word)
        elif word == "table":
            fields["table"] = _table(_take(rest, word))
        elif word in ("metric", "preference", "priority"):
            fields["metric"] = _number(_take(rest, word), "metric")
        elif word == "scope":
            scope = _take(rest, word)
            if scope not in SCOPES and not scope.isdigit():
                raise Invalid(f"unknown scope '{scope}'")
            fields["scope"] = SCOPES.get(scope, None) if not scope.isdigit() else _number(scope, "scope", 255)
        elif word == "onlink":
            fields["onlink"] = True
        elif word == "no_track":
            fields["no_track"] = True
        elif word == "track_group":  # static routes only: route_block drops it elsewhere
            fields["track_group"] = _take(rest, word)
        elif word in ROUTE_TYPES and dest is None:
            fields["type"] = word
        elif word == "to" and dest is None:
            dest = _destination(_take(rest, word))
        elif dest is None and word not in ("or",) and (word[:1].isdigit() or ":" in word or word == "default"):
            dest = _destination(word)
        else:
            raise Invalid(f"'{word}' in a route is not supported by vipkeeper (supported: src, [to] PREFIX, "
                          "via/gw, dev, table, metric, scope, onlink, no_track, track_group, blackhole/unreachable/prohibit)")
    if dest is None:
        raise Invalid("a route needs a destination prefix")
    if dest == "default":
        version = next(iter(_families(fields.get("src"), fields.get("via"))), 4)
        dest = ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0")
    families = _families(dest, fields.get("src"), fields.get("via"))
    if len(families) > 1:
        raise Invalid("a route mixes IPv4 and IPv6 addresses")
    if fields["type"] != "unicast" and ("via" in fields or "dev" in fields):
        raise Invalid(f"a {fields['type']} route takes no 'via' or 'dev'")
    if fields["type"] == "unicast" and "via" not in fields and "dev" not in fields:
        raise Invalid("a unicast route needs 'via' or 'dev'")
    fields["dst"] = dest
    return fields


def _destination(text: str) -> Any:
    return "default" if text == "default" else _prefix(text)


def parse_rule(words: tuple[str, ...]) -> dict[str, Any]:
    """The fields of a VirtualRule from one line's words; raises Invalid."""
    rest = list(words)
    fields: dict[str, Any] = {}
    while rest:
        word = rest.pop(0)
        if word == "not":
            fields["invert"] = True
        elif word in ("from", "to"):
            value = _take(rest, word)
            if value != "all":
                fields["src" if word == "from" else "dst"] = _prefix(value)
        elif word == "fwmark":
            value = _take(rest, word)
            mark, _, mask = value.partition("/")
            fields["fwmark"] = _number(mark, "fwmark")
            if mask:
                fields["fwmask"] = _number(mask, "fwmark mask")
        elif word in ("iif", "iifname"):
            fields["iif"] = _take(rest, word)
        elif word in ("oif", "oifname"):
            fields["oif"] = _take(rest, word)
        elif word in ("priority", "preference", "pref"):
            fields["priority"] = _number(_take(rest, word), "priority")
        elif word in ("table", "lookup"):
            if "action" in fields:
                raise Invalid("a rule has one action")
            fields["action"] = "table"
            fields["table"] = _table(_take(rest, word))
        elif word in RULE_ACTIONS:
            if "action" in fields:
                raise Invalid("a rule has one action")
            fields["action"] = word
        elif word == "no_track":
            fields["no_track"] = True
        elif word == "track_group":  # static rules only: rule_block drops it elsewhere
            fields["track_group"] = _take(rest, word)
        else:
            raise Invalid(f"'{word}' in a rule is not supported by vipkeeper (supported: not, from, to, fwmark, "
                          "iif, oif, priority, table/lookup, blackhole/unreachable/prohibit, no_track, track_group)")
    if "action" not in fields:
        raise Invalid("a rule needs an action: table N, blackhole, unreachable or prohibit")
    families = _families(fields.get("src"), fields.get("dst"))
    if len(families) > 1:
        raise Invalid("a rule mixes IPv4 and IPv6 prefixes")
    fields["family"] = next(iter(families), 4)
    return fields


def route_of(words: tuple[str, ...], where: Any) -> VirtualRoute:
    return VirtualRoute(words, where, **parse_route(words))


def rule_of(words: tuple[str, ...], where: Any) -> VirtualRule:
    fields = parse_rule(words)
    defaulted = "priority" not in fields
    if defaulted:
        fields["priority"] = DEFAULT_RULE_PRIORITY
    return VirtualRule(words, where, priority_defaulted=defaulted, **fields)
