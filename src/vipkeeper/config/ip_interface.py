"""Addresses with a prefix length (`virtual_ipaddress`, `use_ipvlan`), held as lean interfaces.

Rule: `ip_interface(text)` returns what `ipaddress.ip_interface(text)` returns -- the same class
names, values, `str`, `repr`, equality, hash, ordering and errors -- but the object keeps only the
address and its prefix length (the netmask object is the stdlib's shared one). The stdlib's
interface also keeps a network object with an address object of its own (about 0.4 KiB per VIP,
issue 18: 1,000 instances hold one each for the daemon's whole life); here `network` is made
when asked for and not kept. It is asked for rarely (a netlink request's prefix length is read
from it once per VIP, `lint`), never per advert.

How: subclasses of `ipaddress.IPv4Interface`/`IPv6Interface` (so `isinstance` holds everywhere)
whose `__init__` validates exactly as the stdlib's -- it builds the network the same way and
drops it -- and whose `network` is a property. `__eq__` and `__hash__` give the stdlib's results
without building networks: two interfaces with equal addresses have equal networks exactly when
their prefix lengths are equal, and the network address is the address masked.
"""

from __future__ import annotations

import ipaddress


class IPv4Interface(ipaddress.IPv4Interface):
    """`ipaddress.IPv4Interface` without a kept network (module docstring)."""

    def __init__(self, address: object) -> None:  # noqa: D107
        addr, mask = self._split_addr_prefix(address)  # type: ignore[attr-defined]
        ipaddress.IPv4Address.__init__(self, addr)
        network = ipaddress.IPv4Network((addr, mask), strict=False)  # the stdlib's checks; not kept
        self.netmask = network.netmask
        self._prefixlen = network._prefixlen

    @property  # type: ignore[override]
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network((self._ip, self._prefixlen), strict=False)

    def __eq__(self, other: object) -> bool:
        equal = ipaddress.IPv4Address.__eq__(self, other)
        if equal is NotImplemented or not equal:
            return equal
        try:
            return self._prefixlen == other._prefixlen  # type: ignore[attr-defined,no-any-return]
        except AttributeError:  # a plain address is not an interface (the stdlib's rule)
            return False

    def __hash__(self) -> int:
        return hash((self._ip, self._prefixlen, self._ip & int(self.netmask)))


class IPv6Interface(ipaddress.IPv6Interface):
    """`ipaddress.IPv6Interface` without a kept network (module docstring)."""

    def __init__(self, address: object) -> None:  # noqa: D107
        addr, mask = self._split_addr_prefix(address)  # type: ignore[attr-defined]
        ipaddress.IPv6Address.__init__(self, addr)
        network = ipaddress.IPv6Network((addr, mask), strict=False)  # the stdlib's checks; not kept
        self.netmask = network.netmask
        self._prefixlen = network._prefixlen

    @property  # type: ignore[override]
    def network(self) -> ipaddress.IPv6Network:
        # with a scope (fe80::1%eth0/64) the address as text carries it, as the stdlib's network
        address = self._ip if self._scope_id is None else ipaddress.IPv6Address.__str__(self)
        return ipaddress.IPv6Network((address, self._prefixlen), strict=False)

    def __eq__(self, other: object) -> bool:
        equal = ipaddress.IPv6Address.__eq__(self, other)
        if equal is NotImplemented or not equal:
            return equal
        try:
            return self._prefixlen == other._prefixlen  # type: ignore[attr-defined,no-any-return]
        except AttributeError:
            return False

    def __hash__(self) -> int:
        return hash((self._ip, self._prefixlen, self._ip & int(self.netmask)))


def ip_interface(address: object) -> IPv4Interface | IPv6Interface:
    """As `ipaddress.ip_interface`: IPv4 first, then IPv6, the stdlib's ValueError otherwise."""
    try:
        return IPv4Interface(address)
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError):
        pass
    try:
        return IPv6Interface(address)
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError):
        pass
    raise ValueError(f"{address!r} does not appear to be an IPv4 or IPv6 interface")
