"""nftables evaluation of one VRRP packet, on rulesets printed by the real `nft -j list ruleset`."""

from __future__ import annotations

import ipaddress

from vipkeeper.diagnose.nft_eval import Packet, evaluate

# table inet fw: input policy drop; ct established accept; iifname lo accept; tcp dport 22 accept;
# jump vrrp_in (ip saddr != @peers return; ip protocol vrrp ip daddr 224.0.0.18 accept); counter.
# output policy accept: oifname "eth*" ip6 nexthdr vrrp drop; meta mark 1 accept.
FW = [{'table': {'family': 'inet', 'name': 'fw', 'handle': 1}},
      {'set': {'family': 'inet',
               'name': 'peers',
               'table': 'fw',
               'type': 'ipv4_addr',
               'handle': 4,
               'elem': ['192.0.2.2', '192.0.2.3']}},
      {'chain': {'family': 'inet',
                 'table': 'fw',
                 'name': 'in',
                 'handle': 1,
                 'type': 'filter',
                 'hook': 'input',
                 'prio': 0,
                 'policy': 'drop'}},
      {'chain': {'family': 'inet', 'table': 'fw', 'name': 'vrrp_in', 'handle': 2}},
      {'chain': {'family': 'inet',
                 'table': 'fw',
                 'name': 'out',
                 'handle': 3,
                 'type': 'filter',
                 'hook': 'output',
                 'prio': 0,
                 'policy': 'accept'}},
      {'rule': {'family': 'inet',
                'table': 'fw',
                'chain': 'in',
                'handle': 5,
                'expr': [{'match': {'op': 'in',
                                    'left': {'ct': {'key': 'state'}},
                                    'right': ['established', 'related']}},
                         {'accept': None}]}},
      {'rule': {'family': 'inet',
                'table': 'fw',
                'chain': 'in',
                'handle': 6,
                'expr': [{'match': {'op': '==', 'left': {'meta': {'key': 'iifname'}}, 'right': 'lo'}},
                         {'accept': None}]}},
      {'rule': {'family': 'inet',
                'table': 'fw',
                'chain': 'in',
                'handle': 7,
                'expr': [{'match': {'op': '==',
                                    'left': {'payload': {'protocol': 'tcp', 'field': 'dport'}},
                                    'right': 22}},
                         {'accept': None}]}},
      {'rule': {'family': 'inet',
                'table': 'fw',
                'chain': 'in',
                'handle': 8,
                'expr': [{'jump': {'target': 'vrrp_in'}}]}},
      {'rule': {'family': 'inet',
                'table': 'fw',
                'chain': 'in',
                'handle': 9,
                'expr': [{'counter': {'packets': 0, 'bytes': 0}}]}},
      {'rule': {'family': 'inet',
                'table': 'fw',
                'chain': 'vrrp_in',
                'handle': 10,
                'expr': [{'match': {'op': '!=',
                                    'left': {'payload': {'protocol': 'ip', 'field': 'saddr'}},
                                    'right': '@peers'}},
                         {'return': None}]}},
      {'rule': {'family': 'inet',
                'table': 'fw',
                'chain': 'vrrp_in',
                'handle': 11,
                'expr': [{'match': {'op': '==',
                                    'left': {'payload': {'protocol': 'ip', 'field': 'protocol'}},
                                    'right': 'vrrp'}},
                         {'match': {'op': '==',
                                    'left': {'payload': {'protocol': 'ip', 'field': 'daddr'}},
                                    'right': '224.0.0.18'}},
                         {'accept': None}]}},
      {'rule': {'family': 'inet',
                'table': 'fw',
                'chain': 'out',
                'handle': 12,
                'expr': [{'match': {'op': '==', 'left': {'meta': {'key': 'oifname'}}, 'right': 'eth*'}},
                         {'match': {'op': '==',
                                    'left': {'payload': {'protocol': 'ip6', 'field': 'nexthdr'}},
                                    'right': 'vrrp'}},
                         {'drop': None}]}},
      {'rule': {'family': 'inet',
                'table': 'fw',
                'chain': 'out',
                'handle': 13,
                'expr': [{'match': {'op': '==', 'left': {'meta': {'key': 'mark'}}, 'right': 1}},
                         {'accept': None}]}}]

# iptables-nft -A INPUT -p 112 -j DROP; iptables-nft -A INPUT -m limit --limit 1/s -j ACCEPT
IPT = [
    {"table": {"family": "ip", "name": "filter", "handle": 2}},
    {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 1, "type": "filter", "hook": "input",
               "prio": 0, "policy": "accept"}},
    {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 3, "expr": [
        {"limit": {"rate": 1, "burst": 5, "per": "second"}}, {"counter": {"packets": 0, "bytes": 0}},
        {"accept": None}]}},
    {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 2, "expr": [
        {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "vrrp"}},
        {"counter": {"packets": 0, "bytes": 0}}, {"drop": None}]}},
]


def pkt(src="192.0.2.2", dst="224.0.0.18", hook="input", ifname="eth0"):
    s, d = ipaddress.ip_network(src, strict=False), ipaddress.ip_network(dst, strict=False)
    return Packet(s.version, hook, s, d, ifname)


def test_peer_accepted_through_the_jump():
    out = evaluate(FW, pkt())
    assert out.verdict == "accept" and out.where.chain == "vrrp_in" and out.where.handle == 11


def test_non_peer_returns_and_falls_to_the_drop_policy():
    out = evaluate(FW, pkt(src="192.0.2.9"))
    assert out.verdict == "drop" and out.where.handle is None and "policy" in out.reason


def test_any_source_on_the_subnet_is_undecided_only_where_it_matters():
    # The whole /24 is neither inside nor outside @peers: the return rule cannot be decided.
    out = evaluate(FW, pkt(src="192.0.2.0/24"))
    assert out.verdict == "undecided" and out.where.handle == 10


def test_unicast_destination_not_accepted():
    out = evaluate(FW, pkt(dst="192.0.2.1"))
    assert out.verdict == "drop"


def test_output_ipv6_dropped_on_eth_wildcard_but_not_on_other_interfaces_or_ipv4():
    out = evaluate(FW, pkt(src="fe80::1", dst="ff02::12", hook="output"))
    assert out.verdict == "drop" and out.where.handle == 12
    # Another interface: the drop does not apply; the mark rule cannot be evaluated -> undecided.
    out = evaluate(FW, pkt(src="fe80::1", dst="ff02::12", hook="output", ifname="bond0"))
    assert out.verdict == "undecided" and out.where.handle == 13
    out = evaluate(FW, pkt(src="192.0.2.1", hook="output"))
    assert out.verdict == "undecided" and out.where.handle == 13


def test_ipv6_input_hits_the_policy_drop():
    out = evaluate(FW, pkt(src="fe80::2", dst="ff02::12"))
    assert out.verdict == "drop" and out.where.handle is None


def test_iptables_nft_unknown_limit_before_a_drop_is_undecided_and_rule_order_counts():
    out = evaluate(IPT, pkt())
    assert out.verdict == "undecided" and out.where.handle == 3
    ordered = [IPT[0], IPT[1], IPT[3], IPT[2]]
    out = evaluate(ordered, pkt())
    assert out.verdict == "drop" and out.where.handle == 2 and out.where.family == "ip"
    assert evaluate(ordered, pkt(src="fe80::2", dst="ff02::12")).verdict == "accept"  # ip family: IPv4 only


def test_two_base_chains_accept_in_one_does_not_save_from_a_drop_in_the_next():
    late = [
        {"chain": {"family": "inet", "table": "a", "name": "in", "hook": "input", "type": "filter", "prio": 0,
                   "policy": "accept"}},
        {"rule": {"family": "inet", "table": "a", "chain": "in", "handle": 4, "expr": [{"accept": None}]}},
        {"chain": {"family": "ip", "table": "b", "name": "in", "hook": "input", "type": "filter", "prio": 10,
                   "policy": "drop"}},
    ]
    out = evaluate(late, pkt())
    assert out.verdict == "drop" and out.where.table == "b"
    assert evaluate([], pkt()).verdict == "accept"
