"""The hand-built address requests say what pyroute2's parser reads back, field by field."""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct

from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

from vipkeeper.net.address_requests import (
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_EXCL,
    NLM_F_REQUEST,
    RTM_DELADDR,
    RTM_NEWADDR,
    ack_error,
    link_messages,
    parse_address,
    address_message,
)


def parse(data: bytes) -> ifaddrmsg:
    msg = ifaddrmsg(data)
    msg.decode()
    return msg


def test_new_ipv4_address_with_brd_label_scope() -> None:
    data = address_message(RTM_NEWADDR, 7, 3, ipaddress.ip_interface("198.51.100.101/24"), scope=200,
                           broadcast=ipaddress.IPv4Address("198.51.100.255"), label="eth0:vip")
    msg = parse(data)
    assert msg["header"]["type"] == RTM_NEWADDR and msg["header"]["sequence_number"] == 7
    assert msg["header"]["flags"] == NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    assert msg["header"]["length"] == len(data)
    assert (msg["family"], msg["prefixlen"], msg["scope"], msg["index"]) == (socket.AF_INET, 24, 200, 3)
    assert msg.get("IFA_LOCAL") == msg.get("IFA_ADDRESS") == "198.51.100.101"
    assert msg.get("IFA_BROADCAST") == "198.51.100.255"
    assert msg.get("IFA_LABEL") == "eth0:vip"
    assert msg.get("IFA_FLAGS") is None


def test_new_ipv6_address_carries_nodad_in_both_flag_fields() -> None:
    msg = parse(address_message(RTM_NEWADDR, 1, 9, ipaddress.ip_interface("2001:db8::100/64"), flags=0x02))
    assert (msg["family"], msg["prefixlen"], msg["flags"]) == (socket.AF_INET6, 64, 0x02)
    assert msg.get("IFA_FLAGS") == 0x02
    assert msg.get("IFA_ADDRESS") == "2001:db8::100"


def test_delete_names_the_address_only() -> None:
    msg = parse(address_message(RTM_DELADDR, 2, 4, ipaddress.ip_interface("192.0.2.100/32"), scope=200, label="x"))
    assert msg["header"]["type"] == RTM_DELADDR
    assert msg["header"]["flags"] == NLM_F_REQUEST | NLM_F_ACK
    assert (msg["prefixlen"], msg["scope"]) == (32, 0)
    assert msg.get("IFA_LABEL") is None and msg.get("IFA_LOCAL") == "192.0.2.100"


def _ack(seq: int, err: int) -> bytes:
    return struct.pack("=IHHII", 36, 2, 0, seq, 1) + struct.pack("=i", -err) + bytes(16)


def test_ack_error_finds_its_own_sequence() -> None:
    assert ack_error(_ack(5, 0), 5) == 0
    assert ack_error(_ack(5, errno.EEXIST), 5) == errno.EEXIST
    assert ack_error(_ack(4, errno.EEXIST) + _ack(5, 0), 5) == 0
    assert ack_error(_ack(4, 0), 5) is None
    assert ack_error(b"\x00" * 8, 5) is None


def _encoded(msg_class, fields: dict, attrs: list, mtype: int) -> bytes:  # type: ignore[no-untyped-def]
    msg = msg_class()
    for key, value in fields.items():
        msg[key] = value
    msg["attrs"] = attrs
    msg["header"]["type"] = mtype
    msg.encode()
    return bytes(msg.data)


def test_link_messages_read_what_pyroute2_writes() -> None:
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    up = _encoded(ifinfmsg, {"index": 4, "flags": 0x1 | 0x40}, [("IFLA_IFNAME", "eth0")], 16)
    gone = _encoded(ifinfmsg, {"index": 9, "flags": 0}, [("IFLA_MTU", 1500), ("IFLA_IFNAME", "vk1")], 17)
    other = address_message(RTM_NEWADDR, 1, 4, ipaddress.ip_interface("192.0.2.1/24"))
    assert link_messages(up + gone + other) == [(16, "eth0", 4, 0x41), (17, "vk1", 9, 0)]


def test_parse_address_prefers_local_and_reads_ipv6() -> None:
    v4 = _encoded(ifaddrmsg, {"family": socket.AF_INET, "prefixlen": 24, "index": 3},
                  [("IFA_ADDRESS", "198.51.100.9"), ("IFA_LOCAL", "192.0.2.5")], 20)
    v6 = _encoded(ifaddrmsg, {"family": socket.AF_INET6, "prefixlen": 64, "index": 7},
                  [("IFA_ADDRESS", "2001:db8::5")], 20)
    assert parse_address(v4[16:]) == (3, ipaddress.ip_address("192.0.2.5"), 24)
    assert parse_address(v6[16:]) == (7, ipaddress.ip_address("2001:db8::5"), 64)
    assert parse_address(b"\x02\x18") is None
