"""keepalived's route and rule lines: what vipkeeper reads from them, what it refuses at the line,
and the netlink messages it builds (decoded back field by field)."""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest

from vipkeeper.config import loads
from vipkeeper.config.routes import Invalid, parse_route, parse_rule
from vipkeeper.net import route_requests as rr
from vipkeeper.net.routes import key_of

BASE = """vrrp_instance VI_1 {{
  interface eth0
  virtual_router_id 7
  virtual_ipaddress {{
    192.0.2.7/24
  }}
{body}
}}
"""


def test_route_words_read_as_keepalived_writes_them() -> None:
    r = parse_route(("src", "192.0.2.7", "to", "198.51.100.0/25", "via", "192.0.2.254", "dev", "eth0",
                     "table", "100", "metric", "7", "scope", "link", "onlink"))
    assert r["dst"] == ipaddress.ip_network("198.51.100.0/25")
    assert (r["src"], r["via"], r["dev"], r["table"], r["metric"], r["scope"], r["onlink"]) == (
        ipaddress.ip_address("192.0.2.7"), ipaddress.ip_address("192.0.2.254"), "eth0", 100, 7, 253, True)
    assert parse_route(("blackhole", "198.51.100.128/26"))["type"] == "blackhole"
    assert parse_route(("0.0.0.0/0", "gw", "192.0.2.1", "table", "main"))["table"] == 254
    assert parse_route(("default", "via", "2001:db8::1"))["dst"] == ipaddress.ip_network("::/0")


@pytest.mark.parametrize("words, why", [
    (("198.51.100.0/24", "via", "192.0.2.1", "mtu", "1400"), "'mtu'"),
    (("198.51.100.0/24", "via", "192.0.2.1", "or", "192.0.2.2"), "'or'"),
    (("198.51.100.0/24",), "needs 'via' or 'dev'"),
    (("198.51.100.0/24", "via", "2001:db8::1"), "mixes"),
    (("198.51.100.0/24", "dev", "eth0", "table", "vip"), "number"),
    (("blackhole", "198.51.100.0/24", "dev", "eth0"), "takes no"),
])
def test_route_words_vipkeeper_cannot_install_are_refused(words, why) -> None:
    with pytest.raises(Invalid, match=why):
        parse_route(words)


def test_rule_words() -> None:
    r = parse_rule(("not", "from", "198.51.100.0/24", "to", "all", "fwmark", "0x5/0xff", "iif", "eth0",
                    "pref", "100", "lookup", "101"))
    assert (r["src"], r.get("dst"), r["fwmark"], r["fwmask"], r["iif"], r["priority"], r["table"], r["invert"]) == (
        ipaddress.ip_network("198.51.100.0/24"), None, 5, 0xFF, "eth0", 100, 101, True)
    assert parse_rule(("to", "2001:db8::/64", "prohibit"))["family"] == 6
    with pytest.raises(Invalid, match="action"):
        parse_rule(("from", "192.0.2.0/24"))
    with pytest.raises(Invalid, match="'goto'"):
        parse_rule(("from", "all", "goto", "5"))


def test_check_names_the_line_of_an_unsupported_route_and_the_defaulted_rule_priority() -> None:
    text = BASE.format(body="  virtual_routes {\n    198.51.100.0/24 via 192.0.2.254 realms 3\n  }\n"
                            "  virtual_rules {\n    from 198.51.100.0/24 table 100\n  }")
    config = loads(text, name="k.conf")
    errors = [str(d) for d in config.errors]
    assert len(errors) == 1 and errors[0].startswith("k.conf:8:") and "'realms'" in errors[0]
    warnings = [str(d) for d in config.diagnostics if d.severity == "warning"]
    assert any(w.startswith("k.conf:11:") and "setting to 16384" in w for w in warnings)


def test_config_carries_routes_and_rules() -> None:
    text = ("static_routes {\n  198.51.100.224/28 via 192.0.2.254 dev eth0\n}\n"
            "static_rules {\n  from 192.0.2.0/24 table 102 priority 300\n}\n"
            + BASE.format(body="  virtual_routes {\n    blackhole 198.51.100.128/26\n  }\n"
                               "  virtual_rules {\n    to 198.51.100.5 table 101 priority 7 no_track\n  }"))
    config = loads(text, name="k.conf")
    assert config.usable, [str(d) for d in config.diagnostics]
    assert [r.dst for r in config.static_routes] == [ipaddress.ip_network("198.51.100.224/28")]
    assert [(r.src, r.table, r.priority) for r in config.static_rules] == [
        (ipaddress.ip_network("192.0.2.0/24"), 102, 300)]
    vi = config.instances[0]
    assert [r.type for r in vi.virtual_routes] == ["blackhole"]
    assert [(r.dst, r.priority, r.no_track) for r in vi.virtual_rules] == [
        (ipaddress.ip_network("198.51.100.5/32"), 7, True)]


def _attrs(body: bytes, off: int) -> dict[int, bytes]:
    out = {}
    while off + 4 <= len(body):
        length, kind = struct.unpack_from("=HH", body, off)
        out[kind] = body[off + 4: off + length]
        off += (length + 3) & ~3
    return out


def test_route_message_fields() -> None:
    config = loads(BASE.format(body="  virtual_routes {\n    src 192.0.2.7 198.51.100.192/27 via 192.0.2.254 "
                                    "table 1000 metric 7\n  }"), name="k.conf")
    route = config.instances[0].virtual_routes[0]
    msg = rr.route_message(rr.RTM_NEWROUTE, 9, route, 3)
    length, kind, flags, seq, _ = struct.unpack_from("=IHHII", msg)
    assert (length, kind, seq) == (len(msg), rr.RTM_NEWROUTE, 9)
    assert flags & 0x600 == 0x600  # create, exclusive: never replaces someone else's route
    family, dst_len, _, _, table, proto, scope, rtype, _ = struct.unpack_from("=BBBBBBBBI", msg, 16)
    assert (family, dst_len, table, proto, scope, rtype) == (socket.AF_INET, 27, 0, 18, 0, 1)
    attrs = _attrs(msg, 28)
    assert struct.unpack("=I", attrs[rr.RTA_TABLE])[0] == 1000
    assert attrs[rr.RTA_DST] == ipaddress.ip_address("198.51.100.192").packed
    assert attrs[rr.RTA_GATEWAY] == ipaddress.ip_address("192.0.2.254").packed
    assert attrs[rr.RTA_PREFSRC] == ipaddress.ip_address("192.0.2.7").packed
    assert struct.unpack("=I", attrs[rr.RTA_OIF])[0] == 3
    assert struct.unpack("=I", attrs[rr.RTA_PRIORITY])[0] == 7
    delete = rr.route_message(rr.RTM_DELROUTE, 10, route, 3)
    assert struct.unpack_from("=H", delete, 6)[0] & 0x600 == 0
    assert delete[21] == 18  # the delete names vipkeeper's protocol too


def test_rule_message_fields() -> None:
    config = loads(BASE.format(body="  virtual_rules {\n    not from 198.51.100.0/24 fwmark 5/0xff oif eth1 "
                                    "table 300 priority 100\n  }"), name="k.conf")
    rule = config.instances[0].virtual_rules[0]
    msg = rr.rule_message(rr.RTM_NEWRULE, 1, rule)
    family, dst_len, src_len, _, table, _, _, action, flags = struct.unpack_from("=BBBBBBBBI", msg, 16)
    assert (family, dst_len, src_len, table, action, flags) == (socket.AF_INET, 0, 24, 0, 1, rr.FIB_RULE_INVERT)
    attrs = _attrs(msg, 28)
    assert struct.unpack("=I", attrs[rr.FRA_TABLE])[0] == 300
    assert struct.unpack("=I", attrs[rr.FRA_PRIORITY])[0] == 100
    assert attrs[rr.FRA_PROTOCOL] == bytes([18])
    assert (struct.unpack("=I", attrs[rr.FRA_FWMARK])[0], struct.unpack("=I", attrs[rr.FRA_FWMASK])[0]) == (5, 255)
    assert attrs[rr.FRA_OIFNAME] == b"eth1\0"


def test_an_entry_is_the_same_whatever_its_line_or_spelling() -> None:
    a = loads(BASE.format(body="  virtual_routes {\n    198.51.100.0/24 gw 192.0.2.254\n  }"), name="k.conf")
    b = loads(BASE.format(body="\n\n  virtual_routes {\n    to 198.51.100.0/24 via 192.0.2.254 no_track\n  }"),
              name="k.conf")
    ra, rb = a.instances[0].virtual_routes[0], b.instances[0].virtual_routes[0]
    assert ra != rb and key_of(ra) == key_of(rb)
