"""Static track groups (config/track_groups.py): the interfaces a track_group makes its instances
watch, and keepalived 2.2.7's lines for the cases it does not track (its words, read from its
vrrp_static_track.c / vrrp_ipaddress.c / vrrp_iproute.c and checked with `keepalived -t`)."""

from __future__ import annotations

from vipkeeper.config import loads

GROUP = "track_group G1 {\n group {\n VI_1\n VI_2\n }\n}\n"
INSTANCES = "".join(
    f"vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n priority 100\n{extra}"
    f" virtual_ipaddress {{\n 192.0.2.{vrid}/24\n }}\n}}\n"
    for name, vrid, extra in (("VI_1", 11, " track_interface {\n eth3 weight 10\n }\n"), ("VI_2", 12, ""),
                              ("VI_3", 13, "")))


def tracked(config, name):
    return [(r.name, r.weight) for r in config.instance(name).track_interface]


def messages(config):
    return [(d.where.line, d.message) for d in config.diagnostics]


def test_group_members_track_the_interface_of_each_static_entry_unweighted():
    text = (GROUP + "static_ipaddress {\n 198.51.100.5/24 dev eth1 track_group G1\n 198.51.100.6/24 track_group G1\n}\n"
            "static_routes {\n 198.51.100.128/25 dev eth2 track_group G1\n}\n"
            "static_rules {\n from 198.51.100.0/24 iif eth3 table 100 priority 100 track_group G1\n}\n"
            "global_defs {\n default_interface eth4\n}\n" + INSTANCES)
    config = loads(text, name="t.conf", config_id="x")
    assert config.usable, messages(config)
    # eth3 was weighted (10) on VI_1: the group's unweighted tracking wins, as keepalived's
    # add_vrrp_to_interface keeps the 0 it is given; eth4 is default_interface (no dev)
    assert tracked(config, "VI_1") == [("eth3", 0), ("eth1", 0), ("eth4", 0), ("eth2", 0)]
    assert tracked(config, "VI_2") == [("eth1", 0), ("eth4", 0), ("eth2", 0), ("eth3", 0)]
    assert tracked(config, "VI_3") == []  # not in the group
    assert [e.track_group for e in config.static_addresses] == ["G1", "G1"]
    assert config.static_routes[0].track_group == "G1" and config.static_rules[0].track_group == "G1"


def test_a_group_defined_below_its_use_is_not_found_as_keepalived_reads_in_order():
    # keepalived 2.2.7 -t: "(t.conf: Line 2) track_group G1 not found"
    text = "static_ipaddress {\n 198.51.100.5/24 dev eth1 track_group G1\n}\n" + GROUP + INSTANCES
    config = loads(text, name="t.conf", config_id="x")
    assert (2, "track_group G1 not found") in messages(config)
    assert config.static_addresses[0].track_group is None
    assert tracked(config, "VI_2") == []


def test_untrackable_entries_and_unknown_members_get_keepalived_lines():
    text = ("track_group G1 {\n group {\n VI_1\n VI_9\n }\n}\n"
            "static_ipaddress {\n 198.51.100.5/24 dev eth1 no_track track_group G1\n}\n"
            "static_routes {\n 198.51.100.128/25 via 198.51.100.1 track_group G1\n}\n"
            "static_rules {\n from 198.51.100.0/24 table 100 priority 100 track_group G1\n}\n"
            "track_group G1 {\n group {\n VI_2\n }\n}\n"
            "track_group {\n group {\n VI_2\n }\n}\n" + INSTANCES)
    config = loads(text, name="t.conf", config_id="x")
    found = messages(config)
    assert (1, "vrrp instance VI_9 specified in track group G1 doesn't exist - ignoring") in found
    assert (8, "Static address has both track_group and no_track set - not tracking") in found
    assert (11, "Static route cannot have track group if no oif specified") in found
    assert (16, "track_group G1 already defined") in found
    assert (21, "track_group must have a name - skipping") in found
    # a rule without iif has no interface to track: nothing, silently (keepalived alike)
    assert tracked(config, "VI_1") == [("eth3", 10)] and tracked(config, "VI_2") == []


def test_track_group_is_for_static_entries_only():
    text = (GROUP + "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 11\n"
            " virtual_ipaddress {\n 192.0.2.11/24 track_group G1\n }\n"
            " virtual_routes {\n 198.51.100.0/25 dev eth0 track_group G1\n }\n}\n")
    config = loads(text, name="t.conf", config_id="x")
    assert (11, "Unknown configuration entry 'track_group' for ip address - ignoring") in messages(config)
    assert config.instances[0].virtual_ipaddress[0].track_group is None
    [error] = config.errors
    assert error.where.line == 14 and "'track_group' only applies to static routes and rules" in error.message


def test_own_interface_is_tracked_again_only_under_dont_track_primary():
    head = "track_group G1 {\n group {\n VI_1\n }\n}\nstatic_ipaddress {\n 198.51.100.5/24 dev eth0 track_group G1\n}\n"
    body = "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 11\n{}}}\n"
    assert tracked(loads(head + body.format(""), name="t.conf", config_id="x"), "VI_1") == []
    assert tracked(loads(head + body.format(" dont_track_primary\n"), name="t.conf", config_id="x"),
                   "VI_1") == [("eth0", 0)]
