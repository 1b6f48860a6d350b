"""The ipvlan create request (net/link_requests.py) is byte for byte what iproute2 sends for the
same link, and the kernel's "no such link kind" answer reads as one clear phrase.

The bytes below were captured from iproute2 6.1 (`strace -e trace=sendmsg -xx ip -n NS link add
link d0 name ipvl0 type ipvlan mode l2 {bridge,private,vepa}`, d0 being index 5 there); the body
follows the 16-byte netlink header, whose sequence number iproute2 picks itself.
tests/net/test_ipvlan_refused.py repeats the comparison live against the installed `ip`."""

from __future__ import annotations

import errno
import struct

import pytest

from vipkeeper.net import link_requests as lr
from vipkeeper.net.vmac import missing_kind_message


def iproute2_body(flags: str) -> bytes:
    return bytes.fromhex(
        "00000000000000000000000000000000"  # ifinfomsg: AF_UNSPEC, no index, no flags
        "0800050005000000"  # IFLA_LINK 5
        "0a0003006970766c30000000"  # IFLA_IFNAME "ipvl0" with its NUL
        "24001200"  # IFLA_LINKINFO, 36 bytes, no NLA_F_NESTED
        "0a0001006970766c616e0000"  # IFLA_INFO_KIND "ipvlan" without a NUL
        "14000200"  # IFLA_INFO_DATA, 20 bytes
        "0600010000000000"  # IFLA_IPVLAN_MODE l2 (0)
        f"06000200{flags}000000"  # IFLA_IPVLAN_FLAGS
    )


@pytest.mark.parametrize(("mode", "flags"), [("bridge", "00"), ("private", "01"), ("vepa", "02")])
def test_ipvlan_request_is_iproute2s(mode: str, flags: str) -> None:
    seq = 0x6B0D7539
    data = lr.ipvlan_message(seq, "ipvl0", 5, lr.IPVLAN_FLAGS[mode])
    length, kind, nl_flags, got_seq, pid = struct.unpack_from("=IHHII", data)
    # RTM_NEWLINK, NLM_F_REQUEST|NLM_F_ACK|NLM_F_EXCL|NLM_F_CREATE as iproute2's (0x605)
    assert (length, kind, nl_flags, got_seq, pid) == (88, 16, 0x605, seq, 0)
    assert data[16:] == iproute2_body(flags)


def test_ipvlan_request_reads_back_as_an_ipvlan_on_its_parent() -> None:
    back = lr.parse_link_info(lr.ipvlan_message(1, "vrrp.51", 7, 0)[16:])
    assert (back.kind, back.parent, back.index) == ("ipvlan", 7, 0)


def test_missing_kind_reads_as_the_kernels_missing_support() -> None:
    text = missing_kind_message("ipvlan", errno.EOPNOTSUPP)
    assert text.startswith("this kernel has no ipvlan support") and "EOPNOTSUPP" in text
    assert "Unknown device type" in text
    assert missing_kind_message("ipvlan", errno.EEXIST) == "EEXIST"


def test_vmac_and_ipvlan_join_the_parents_vrf_last_as_keepalived() -> None:
    master = bytes.fromhex("08000a000c000000")  # IFLA_MASTER 12
    for plain, in_vrf in ((lr.ipvlan_message(1, "v", 5, 0), lr.ipvlan_message(1, "v", 5, 0, vrf=12)),
                          (lr.macvlan_message(1, "v", 5, bytes(6)), lr.macvlan_message(1, "v", 5, bytes(6), vrf=12))):
        assert in_vrf[16:] == plain[16:] + master
        assert struct.unpack_from("=I", in_vrf)[0] == len(plain) + 8
        assert lr.parse_link_info(in_vrf[16:]).master == 12 and lr.parse_link_info(plain[16:]).master == 0
