"""keepalived 2.2.7's nftables layout for VIPs without accept mode, as nft JSON commands (pure).

Rules (keepalived vrrp/vrrp_nftables.c and vrrp_firewall.c, read for the facts; the layout
compared with `nft -j list ruleset` of a running keepalived 2.2.7 in tests/net/test_firewall.py)
- One table per family, `ip NAME` and `ip6 NAME` (NAME from `nftables [NAME]`, default
  "keepalived"), base chains `in` (hook input) and `out` (hook output), type filter, priority
  `nftables_priority` (default -1, "filter - 1"), policy accept.
- IPv4: set `vips` (ipv4_addr); `in`: `ip daddr @vips drop`; `out`: `ip saddr @vips drop`.
- IPv6: set `vips` (ipv6_addr), constant set `neighbor-discovery` (neighbour solicitations and
  advertisements stay allowed, so the address still resolves), set `vips_link_local`
  (ipv6_addr . iface_index) for fe80::/10 VIPs, chains `in_link_local`/`out_link_local` reached
  by `goto` for link-local addresses.
- What is dropped: traffic to and from the VIPs of a Master that is neither the address owner
  (priority 255) nor in accept mode - RFC 5798's accept mode. keepalived adds a Master's VIPs to
  the sets *before* adding the VIPs and removes them after the VIPs went; a Backup has none in
  the sets (it does not hold the VIPs).
- `nftables_counters` adds a counter to each drop rule.
"""

from __future__ import annotations

import ipaddress
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

FAMILIES = {4: "ip", 6: "ip6"}
LINK_LOCAL = ipaddress.ip_network("fe80::/10")


def _chain(family: str, table: str, name: str, hook: str | None = None, priority: int = -1) -> dict[str, Any]:
    chain: dict[str, Any] = {"family": family, "table": table, "name": name}
    if hook:
        chain.update(type="filter", hook=hook, prio=priority, policy="accept")
    return {"add": {"chain": chain}}


def _rule(family: str, table: str, chain: str, *expr: dict[str, Any]) -> dict[str, Any]:
    return {"add": {"rule": {"family": family, "table": table, "chain": chain, "expr": list(expr)}}}


def _match(left: Any, right: Any) -> dict[str, Any]:
    return {"match": {"op": "==", "left": left, "right": right}}


def _payload(protocol: str, field: str) -> dict[str, Any]:
    return {"payload": {"protocol": protocol, "field": field}}


def _drop(counters: bool) -> list[dict[str, Any]]:
    return ([{"counter": None}] if counters else []) + [{"drop": None}]


def setup(table: str, family: int, priority: int = -1, counters: bool = False) -> list[dict[str, Any]]:
    """Commands creating one family's table, sets, chains and rules."""
    fam = FAMILIES[family]
    out: list[dict[str, Any]] = [{"add": {"table": {"family": fam, "name": table}}}]
    if family == 4:
        out.append({"add": {"set": {"family": fam, "table": table, "name": "vips", "type": "ipv4_addr"}}})
        out.append(_chain(fam, table, "out", "output", priority))
        out.append(_chain(fam, table, "in", "input", priority))
        out.append(_rule(fam, table, "out", _match(_payload("ip", "saddr"), "@vips"), *_drop(counters)))
        out.append(_rule(fam, table, "in", _match(_payload("ip", "daddr"), "@vips"), *_drop(counters)))
        return out
    out.append({"add": {"set": {"family": fam, "table": table, "name": "vips", "type": "ipv6_addr"}}})
    out.append({"add": {"set": {"family": fam, "table": table, "name": "neighbor-discovery",
                                "type": "icmpv6_type", "flags": ["constant"],
                                "elem": ["nd-neighbor-solicit", "nd-neighbor-advert"]}}})
    out.append({"add": {"set": {"family": fam, "table": table, "name": "vips_link_local",
                                "type": ["ipv6_addr", "iface_index"]}}})
    out.append(_chain(fam, table, "out", "output", priority))
    out.append(_chain(fam, table, "in", "input", priority))
    out.append(_chain(fam, table, "in_link_local"))
    out.append(_chain(fam, table, "out_link_local"))
    nd = _match(_payload("icmpv6", "type"), "@neighbor-discovery")
    link_local = {"prefix": {"addr": "fe80::", "len": 10}}
    for chain, field in (("out", "saddr"), ("in", "daddr")):
        out.append(_rule(fam, table, chain, nd, {"accept": None}))
        out.append(_rule(fam, table, chain, _match(_payload("ip6", field), link_local),
                         {"goto": {"target": f"{chain}_link_local"}}))
        out.append(_rule(fam, table, chain, _match(_payload("ip6", field), "@vips"), *_drop(counters)))
    for chain, field, meta in (("in", "daddr", "iif"), ("out", "saddr", "oif")):
        out.append(_rule(fam, table, f"{chain}_link_local",
                         _match({"concat": [_payload("ip6", field), {"meta": {"key": meta}}]}, "@vips_link_local"),
                         *_drop(counters)))
    return out


def teardown(table: str, family: int) -> list[dict[str, Any]]:
    return [{"delete": {"table": {"family": FAMILIES[family], "name": table}}}]


Element = tuple[int, str, "str | tuple[str, str]"]


def element(address: ipaddress.IPv4Address | ipaddress.IPv6Address, ifname: str) -> Element:
    """(family, set name, element) for one VIP; hashable (a link-local one is (address, ifname))."""
    if address.version == 4:
        return 4, "vips", str(address)
    if address in LINK_LOCAL:
        return 6, "vips_link_local", (str(address), ifname)
    return 6, "vips", str(address)


def elements(verb: str, table: str, items: list[Element]) -> list[dict[str, Any]]:
    """`add`/`delete` commands for set elements, one per (family, set)."""
    grouped: dict[tuple[int, str], list[Any]] = {}
    for family, name, elem in items:
        grouped.setdefault((family, name), []).append({"concat": list(elem)} if isinstance(elem, tuple) else elem)
    return [{verb: {"element": {"family": FAMILIES[family], "table": table, "name": name, "elem": elems}}}
            for (family, name), elems in grouped.items()]
