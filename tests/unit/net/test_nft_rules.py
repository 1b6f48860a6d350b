"""The nft JSON that net/nft_rules.py builds: which set each VIP goes to, one command per set,
and the rules keepalived 2.2.7 has (the namespace test compares the kernel's listing with a real
keepalived's; this pins the data itself)."""

from __future__ import annotations

import ipaddress

from vipkeeper.net import nft_rules


def test_each_vip_goes_to_its_set():
    ip = ipaddress.ip_address
    assert nft_rules.element(ip("192.0.2.5"), "eth0") == (4, "vips", "192.0.2.5")
    assert nft_rules.element(ip("2001:db8::5"), "eth0") == (6, "vips", "2001:db8::5")
    assert nft_rules.element(ip("fe80::5"), "eth1") == (6, "vips_link_local", ("fe80::5", "eth1"))


def test_elements_one_command_per_set():
    items = [(4, "vips", "192.0.2.5"), (4, "vips", "192.0.2.6"), (6, "vips_link_local", ("fe80::5", "eth1"))]
    assert nft_rules.elements("delete", "t", items) == [
        {"delete": {"element": {"family": "ip", "table": "t", "name": "vips", "elem": ["192.0.2.5", "192.0.2.6"]}}},
        {"delete": {"element": {"family": "ip6", "table": "t", "name": "vips_link_local",
                                "elem": [{"concat": ["fe80::5", "eth1"]}]}}}]


def test_setup_rules_priority_and_counters():
    v4 = nft_rules.setup("keepalived", 4, priority=-5, counters=True)
    chains = [c["add"]["chain"] for c in v4 if "chain" in c.get("add", {})]
    assert [(c["name"], c["hook"], c["prio"], c["policy"]) for c in chains] == [
        ("out", "output", -5, "accept"), ("in", "input", -5, "accept")]
    rules = [c["add"]["rule"] for c in v4 if "rule" in c.get("add", {})]
    assert [r["expr"][0]["match"]["left"]["payload"]["field"] for r in rules] == ["saddr", "daddr"]
    assert all(r["expr"][1:] == [{"counter": None}, {"drop": None}] for r in rules)
    v6 = nft_rules.setup("keepalived", 6)
    names = [c["add"]["set"]["name"] for c in v6 if "set" in c.get("add", {})]
    assert names == ["vips", "neighbor-discovery", "vips_link_local"]
    assert nft_rules.teardown("keepalived", 6) == [{"delete": {"table": {"family": "ip6", "name": "keepalived"}}}]
