"""Addresses with a prefix length (`virtual_ipaddress`, `use_ipvlan`), held as lean interfaces.

Rule: `ip_interface(text)` returns what `ipaddress.ip_interface(text)` returns -- the same class
names, values, `str`, `repr`, equality, hash, ordering and errors -- but the object keeps only the
address and its prefix length (the netmask object is the stdlib's shared one). The stdlib's
interface also keeps a network object with an address object of its own (about 0.4 KiB per VIP,
issue 18: 1,000 instances hold one each for the daemon's whole life); here `network` is made
when asked for and not kept. It is asked for rarely (a netlink request's prefix length is read
from it once per VIP, `lint`), never per advert.

How: subclasses of `ipaddress.IPv4Interface`/`IPv6Interface` (so `isinstance` holds everywhere)
sharing one mixin, placed first, that adds no slot and holds the methods; each subclass only
names its family's address and network classes. `__init__` validates exactly as the stdlib's --
it builds the network the same way and drops it -- and `network` is a property. `__eq__` and
`__hash__` give the stdlib's results without building networks: two interfaces with equal
addresses have equal networks exactly when their prefix lengths are equal, and the network
address is the address masked.
"""

from __future__ import annotations

import ipaddress


class _LeanInterface:
    """What both families' lean interfaces do (module docstring); a subclass names its family's
    address and network classes. Class attributes only and empty `__slots__`: the object is laid
    out exactly as the stdlib's interface (its address's slots and a dict of `netmask` and
    `_prefixlen`), nothing more per object."""

    __slots__ = ()
    _address_class: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]
    _network_class: type[ipaddress.IPv4Network] | type[ipaddress.IPv6Network]

    def __init__(self, address: object) -> None:  # noqa: D107
        addr, mask = self._split_addr_prefix(address)  # type: ignore[attr-defined]
        self._address_class.__init__(self, addr)  # type: ignore[arg-type]
        network = self._network_class((addr, mask), strict=False)  # the stdlib's checks; not kept
        self.netmask = network.netmask
        self._prefixlen = network._prefixlen  # type: ignore[union-attr]

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return self._network_class((self._network_address(), self._prefixlen), strict=False)

    def _network_address(self) -> int | str:
        return self._ip  # type: ignore[attr-defined,no-any-return]

    def __eq__(self, other: object) -> bool:
        equal = self._address_class.__eq__(self, other)  # type: ignore[arg-type]
        if equal is NotImplemented or not equal:
            return equal
        try:
            return self._prefixlen == other._prefixlen  # type: ignore[attr-defined,no-any-return]
        except AttributeError:  # a plain address is not an interface (the stdlib's rule)
            return False

    def __hash__(self) -> int:
        return hash((self._ip, self._prefixlen, self._ip & int(self.netmask)))  # type: ignore[attr-defined]


class IPv4Interface(_LeanInterface, ipaddress.IPv4Interface):  # type: ignore[misc]
    """`ipaddress.IPv4Interface` without a kept network (module docstring)."""

    _address_class = ipaddress.IPv4Address
    _network_class = ipaddress.IPv4Network


class IPv6Interface(_LeanInterface, ipaddress.IPv6Interface):  # type: ignore[misc]
    """`ipaddress.IPv6Interface` without a kept network (module docstring)."""

    _address_class = ipaddress.IPv6Address
    _network_class = ipaddress.IPv6Network

    def _network_address(self) -> int | str:
        # with a scope (fe80::1%eth0/64) the address as text carries it, as the stdlib's network
        return self._ip if self._scope_id is None else ipaddress.IPv6Address.__str__(self)


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
