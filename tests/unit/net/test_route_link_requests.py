"""The hand-built route, rule and link requests say what pyroute2's parser reads back, field by
field (pyroute2 is the independent reader here; the daemon never imports it)."""

from __future__ import annotations

import socket

from pyroute2.netlink.rtnl.fibmsg import fibmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from vipkeeper.config import loads
from vipkeeper.net import link_requests as lr
from vipkeeper.net import route_requests as rr
from vipkeeper.net.vmac import vmac_mac

BASE = """vrrp_instance VI_1 {{
  interface eth0
  virtual_router_id 7
  virtual_ipaddress {{
    2001:db8::7/64
  }}
{body}
}}
"""


def decoded(cls, data: bytes):  # type: ignore[no-untyped-def]
    msg = cls(data)
    msg.decode()
    return msg


def test_ipv6_route_reads_back() -> None:
    config = loads(BASE.format(body="  virtual_routes {\n    2001:db8:1::/48 via 2001:db8::1 dev eth0 metric 5\n"
                                    "    unreachable 2001:db8:2::/48 table 300\n  }"))
    via, unreachable = config.instances[0].virtual_routes
    msg = decoded(rtmsg, rr.route_message(rr.RTM_NEWROUTE, 4, via, 2))
    assert (msg["family"], msg["dst_len"], msg["proto"], msg["type"]) == (socket.AF_INET6, 48, 18, 1)
    assert (msg.get("RTA_DST"), msg.get("RTA_GATEWAY"), msg.get("RTA_OIF"), msg.get("RTA_PRIORITY")) == (
        "2001:db8:1::", "2001:db8::1", 2, 5)
    assert msg.get("RTA_TABLE") == 254 and msg["table"] == 254
    msg = decoded(rtmsg, rr.route_message(rr.RTM_DELROUTE, 5, unreachable, None))
    assert msg["header"]["type"] == rr.RTM_DELROUTE
    assert (msg["type"], msg["table"], msg.get("RTA_TABLE"), msg.get("RTA_OIF")) == (7, 0, 300, None)


def test_rule_reads_back() -> None:
    config = loads(BASE.format(body="  virtual_rules {\n    from 2001:db8::/64 iif eth1 prohibit priority 9\n  }"))
    rule = config.instances[0].virtual_rules[0]
    msg = decoded(fibmsg, rr.rule_message(rr.RTM_NEWRULE, 1, rule))
    assert (msg["family"], msg["src_len"], msg["action"]) == (socket.AF_INET6, 64, 8)
    assert (msg.get("FRA_SRC"), msg.get("FRA_IIFNAME"), msg.get("FRA_PRIORITY"), msg.get("FRA_TABLE")) == (
        "2001:db8::", "eth1", 9, None)


def test_macvlan_request_reads_back() -> None:
    data = lr.macvlan_message(3, "vrrp.7", 2, vmac_mac(7, 4))
    msg = decoded(ifinfmsg, data)
    assert msg["header"]["flags"] & 0x600 == 0x600  # create, exclusive: never takes over a name
    assert (msg.get("IFLA_IFNAME"), msg.get("IFLA_LINK"), msg.get("IFLA_ADDRESS")) == (
        "vrrp.7", 2, "00:00:5e:00:01:07")
    info = msg.get("IFLA_LINKINFO")
    assert info.get("IFLA_INFO_KIND") == "macvlan"
    assert info.get("IFLA_INFO_DATA").get("IFLA_MACVLAN_MODE") == "private"
    back = lr.parse_link_info(data[16:])
    assert (back.kind, back.parent, back.mac) == ("macvlan", 2, vmac_mac(7, 4))


def test_vmac_addresses_as_keepalived() -> None:
    assert vmac_mac(71, 4).hex(":") == "00:00:5e:00:01:47"
    assert vmac_mac(71, 6).hex(":") == "00:00:5e:00:02:47"
    assert vmac_mac(9, 4, "02:00:5e:00:01").hex(":") == "02:00:5e:00:01:09"  # 5 octets: the VRID is the sixth
    assert vmac_mac(9, 4, "02:00:5e:00:01:aa").hex(":") == "02:00:5e:00:01:aa"
