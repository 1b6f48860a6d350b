"""Vip values and link state flags, without netlink."""

from __future__ import annotations

import ipaddress

import pytest

from vipkeeper.net.addresses import AddressError, LinkState, Vip


def test_bare_address_gets_host_prefix_and_key_ignores_label() -> None:
    assert Vip.make("eth0", "192.0.2.100").address == ipaddress.ip_interface("192.0.2.100/32")
    assert Vip.make("eth0", "2001:db8::1").address.network.prefixlen == 128
    assert Vip.make("eth0", "192.0.2.1/24", label="eth0:x").key == Vip.make("eth0", "192.0.2.1/24").key
    assert Vip.make("eth0", "192.0.2.1/24").key != Vip.make("eth0", "192.0.2.1/32").key


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"address": "192.0.2.300"}, "not an address"),
        ({"address": "192.0.2.1/24", "scope": "galaxy"}, "unknown scope"),
        ({"address": "2001:db8::1/64", "broadcast": "192.0.2.255"}, "brd is for IPv4"),
    ],
)
def test_bad_vips_are_one_clear_error(kwargs: dict, message: str) -> None:
    with pytest.raises(AddressError, match=message):
        Vip.make("eth0", **kwargs)


def test_link_is_up_only_with_up_and_running() -> None:
    assert LinkState("eth0", 2, 0x1 | 0x40).up
    assert not LinkState("eth0", 2, 0x1).up
    assert not LinkState("eth0", 2, 0x41, exists=False).up
