"""Does this host's nftables ruleset let one VRRP packet through? Evaluated, not grepped.

Rules
- Input is the ruleset as `nft -j list ruleset` prints it (iptables-nft rules are in it too) and
  one packet: family, protocol 112, source and destination (an address or a whole network when
  only the subnet is known, e.g. "any peer on eth0's LAN"), the interface, the hook.
- Every base chain on the packet's hook whose family applies (ip/ip6/inet) is run in priority
  order, as the kernel does: an accept ends that chain only, the next base chain still runs; a
  drop or reject anywhere is final. A chain's rules run in order; a rule applies when all its
  matches hold; `jump` returns to the caller when the target falls off its end or says `return`,
  `goto` does not; a base chain that falls off its end applies its policy.
- Three-valued: a match is True, False or unknown. Payload matches of another protocol family
  or layer-4 protocol are False (nft adds those dependencies itself), `ct state` of a VRRP packet
  is `new` (VRRP never gets a reply, so conntrack never calls it established), TTL/hop limit
  is 255. Anything this module does not model (xt matches from iptables-nft extensions, fib,
  marks, limits, named maps...) is unknown. A rule with an unknown match and a verdict that
  would change the outcome makes the answer "undecided" at that rule instead of a guess.
- Pure: JSON in, an `Outcome` out.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

Net = ipaddress.IPv4Network | ipaddress.IPv6Network

PROTOCOLS = {"vrrp": 112, "carp": 112, "tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58, "icmpv6": 58, "esp": 50,
             "ah": 51, "gre": 47, "ospf": 89, "ospfigp": 89, "sctp": 132, "igmp": 2, "pim": 103, "udplite": 136,
             "dccp": 33, "ipip": 4, "ipv6": 41}
_OTHER_L4 = {"tcp", "udp", "icmp", "icmpv6", "sctp", "dccp", "udplite", "esp", "ah", "comp", "igmp"}
_NOOP = {"counter", "log", "comment", "notrack"}
_VERDICTS = {"accept", "drop", "reject", "jump", "goto", "return", "continue", "queue"}
_FAMILIES = {4: ("ip", "inet"), 6: ("ip6", "inet")}


@dataclass(frozen=True)
class Packet:
    family: int  # 4 or 6
    hook: str  # "input" or "output"
    saddr: Net
    daddr: Net
    ifname: str
    l4proto: int = 112


@dataclass(frozen=True)
class RuleRef:
    family: str
    table: str
    chain: str
    handle: int | None  # None: the chain's policy

    def __str__(self) -> str:
        what = f"handle {self.handle}" if self.handle is not None else "policy"
        return f"table {self.family} {self.table} chain {self.chain} {what}"


@dataclass(frozen=True)
class Outcome:
    verdict: str  # "accept", "drop" or "undecided"
    where: RuleRef | None = None  # the rule (or policy) that decided; None: no chain on the hook
    reason: str = ""


class _Fallthrough:
    pass


_FALL = _Fallthrough()


def evaluate(ruleset: list[dict[str, Any]], pkt: Packet) -> Outcome:
    rs = _Ruleset(ruleset)
    bases = [c for c in rs.chains.values()
             if c.get("hook") == pkt.hook and c.get("family") in _FAMILIES[pkt.family]
             and c.get("type", "filter") in ("filter", "route")]
    bases.sort(key=lambda c: _prio(c.get("prio", 0)))
    last: Outcome | None = None
    for chain in bases:
        result = rs.run(chain, pkt, 0)
        if isinstance(result, _Fallthrough):
            policy = chain.get("policy", "accept")
            ref = RuleRef(chain["family"], chain["table"], chain["name"], None)
            result = Outcome("accept" if policy == "accept" else "drop", ref, f"chain policy {policy}")
        if result.verdict != "accept":
            return result
        last = result
    return last or Outcome("accept", None, f"no base chain on the {pkt.hook} hook")


def _prio(value: Any) -> int:
    if isinstance(value, int):
        return value
    return {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}.get(str(value), 0)


class _Ruleset:
    def __init__(self, ruleset: list[dict[str, Any]]) -> None:
        self.chains: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.rules: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self.sets: dict[tuple[str, str, str], dict[str, Any]] = {}
        for item in ruleset:
            if "chain" in item:
                c = item["chain"]
                self.chains[(c["family"], c["table"], c["name"])] = c
            elif "rule" in item:
                r = item["rule"]
                self.rules.setdefault((r["family"], r["table"], r["chain"]), []).append(r)
            elif "set" in item:
                s = item["set"]
                self.sets[(s["family"], s["table"], s["name"])] = s

    def run(self, chain: dict[str, Any], pkt: Packet, depth: int) -> Outcome | _Fallthrough:
        key = (chain["family"], chain["table"], chain["name"])
        if depth > 16:
            return Outcome("undecided", RuleRef(*key, None), "jumps nested deeper than 16")
        for rule in self.rules.get(key, []):
            ref = RuleRef(*key, rule.get("handle"))
            applies: bool | None = True
            verdict: tuple[str, Any] | None = None
            unknown_why = ""
            for expr in rule.get("expr", []):
                kind, body = next(iter(expr.items()))
                if kind == "match":
                    m = self.match(body, pkt, chain["family"], chain["table"])
                    if m is False:
                        applies = False
                        break
                    if m is None:
                        applies = None
                        unknown_why = unknown_why or f"cannot evaluate the match {_short(body)}"
                elif kind in _NOOP:
                    continue
                elif kind in _VERDICTS:
                    verdict = (kind, body)
                    break
                else:
                    applies = None if applies is not False else False
                    unknown_why = unknown_why or f"cannot evaluate the statement {kind!r}"
            if applies is False or verdict is None:
                continue
            name, target = verdict
            if name == "continue":
                continue
            if applies is None:
                return Outcome("undecided", ref, unknown_why + f" before a {name} verdict")
            if name == "accept":
                return Outcome("accept", ref, "accept")
            if name in ("drop", "reject"):
                return Outcome("drop", ref, name)
            if name == "queue":
                return Outcome("undecided", ref, "queued to user space")
            if name == "return":
                return _FALL
            sub_key = (chain["family"], chain["table"], (target or {}).get("target", ""))
            sub = self.chains.get(sub_key)
            if sub is None:
                return Outcome("undecided", ref, f"{name} to unknown chain {sub_key[2]!r}")
            result = self.run(sub, pkt, depth + 1)
            if isinstance(result, _Fallthrough):
                if name == "goto":
                    return _FALL
                continue
            return result
        return _FALL

    # -- matches -----------------------------------------------------------------------------

    def match(self, body: dict[str, Any], pkt: Packet, family: str, table: str) -> bool | None:
        op = body.get("op", "==")
        value = self.value_of(body.get("left"), pkt)
        if value is _UNKNOWN:
            return None
        if value is _ABSENT:  # a header of another protocol: nft's implicit dependency fails
            return False
        right = body.get("right")
        if isinstance(right, str) and right.startswith("@"):
            s = self.sets.get((family, table, right[1:]))
            if s is None:
                return None
            right = {"set": s.get("elem", [])}
        if op in ("==", "in"):
            return _contains(right, value)
        if op == "!=":
            r = _contains(right, value)
            return None if r is None else not r
        return None

    def value_of(self, left: Any, pkt: Packet) -> Any:
        if not isinstance(left, dict):
            return _UNKNOWN
        if "payload" in left:
            p = left["payload"]
            proto, field = p.get("protocol"), p.get("field")
            if proto == "ip":
                if pkt.family != 4:
                    return _ABSENT
                return {"protocol": ("proto", pkt.l4proto), "saddr": ("addr", pkt.saddr),
                        "daddr": ("addr", pkt.daddr), "ttl": ("int", 255)}.get(field, _UNKNOWN)
            if proto == "ip6":
                if pkt.family != 6:
                    return _ABSENT
                return {"nexthdr": ("proto", pkt.l4proto), "saddr": ("addr", pkt.saddr),
                        "daddr": ("addr", pkt.daddr), "hoplimit": ("int", 255)}.get(field, _UNKNOWN)
            if proto in _OTHER_L4:
                return _ABSENT if pkt.l4proto != PROTOCOLS.get(proto, -1) else _UNKNOWN
            return _UNKNOWN
        if "meta" in left:
            key = left["meta"].get("key")
            if key == "l4proto":
                return ("proto", pkt.l4proto)
            if key == "nfproto":
                return ("name", "ipv4" if pkt.family == 4 else "ipv6")
            if key == "protocol":
                return ("name", "ip" if pkt.family == 4 else "ip6")
            if key in ("iifname", "iif"):
                return ("ifname", pkt.ifname if pkt.hook == "input" else "")
            if key in ("oifname", "oif"):
                return ("ifname", pkt.ifname if pkt.hook == "output" else "")
            if key == "pkttype" and pkt.hook == "input":
                return ("name", "multicast" if pkt.daddr.network_address.is_multicast else "host")
            return _UNKNOWN
        if "ct" in left:
            key = left["ct"].get("key")
            if key == "state":
                return ("flag", "new")
            if key == "direction":
                return ("name", "original")
            return _UNKNOWN
        return _UNKNOWN


class _Marker:
    pass


_UNKNOWN = _Marker()
_ABSENT = _Marker()


def _contains(right: Any, value: tuple[str, Any]) -> bool | None:
    """Whether `value` (kind, v) is matched by `right` (scalar, prefix, range, set or flag list)."""
    if isinstance(right, dict) and "set" in right:
        items = right["set"]
        results = [_contains(item, value) for item in (items if isinstance(items, list) else [items])]
        if any(r is True for r in results):
            return True
        if value[0] == "addr" and all(r is not None for r in results):
            return False if all(r is False for r in results) else None
        return None if any(r is None for r in results) else False
    if isinstance(right, list):
        return _contains({"set": right}, value)
    if isinstance(right, dict) and "elem" in right:
        return _contains(right["elem"].get("val"), value)
    kind, v = value
    if kind == "proto":
        if isinstance(right, int) or (isinstance(right, str) and right.isdigit()):
            return int(right) == v
        if isinstance(right, str) and right in PROTOCOLS:
            return PROTOCOLS[right] == v
        return None
    if kind == "addr":
        target = _net(right)
        if target is None:
            return None
        if target.version != v.version:
            return False
        if isinstance(target, tuple):
            lo, hi = target
            if lo <= v.network_address and v.broadcast_address <= hi:
                return True
            if v.broadcast_address < lo or v.network_address > hi:
                return False
            return None
        if v.subnet_of(target):
            return True
        if not v.overlaps(target):
            return False
        return None
    if kind == "ifname":
        if not isinstance(right, str):
            return None
        if right.endswith("*") and not right.endswith("\\*"):
            return v.startswith(right[:-1]) and v != ""
        return right == v
    if kind in ("name", "flag"):
        return right == v if isinstance(right, str) else None
    if kind == "int":
        return right == v if isinstance(right, int) else None
    return None


class _Range(tuple):
    version: int


def _net(right: Any) -> Any:
    try:
        if isinstance(right, str):
            return ipaddress.ip_network(right, strict=False)
        if isinstance(right, dict) and "prefix" in right:
            return ipaddress.ip_network(f"{right['prefix']['addr']}/{right['prefix']['len']}", strict=False)
        if isinstance(right, dict) and "range" in right:
            lo, hi = (ipaddress.ip_address(x) for x in right["range"])
            r = _Range((lo, hi))
            r.version = lo.version
            return r
    except (ValueError, TypeError, KeyError):
        return None
    return None


def _short(body: dict[str, Any]) -> str:
    left = body.get("left")
    if isinstance(left, dict):
        (k, v), = list(left.items())[:1] or [("?", {})]
        what = v.get("key") or f"{v.get('protocol', '')} {v.get('field', '')}".strip() if isinstance(v, dict) else k
        return f"{k} {what} {body.get('op', '==')} {body.get('right')!r}"
    return repr(body)
