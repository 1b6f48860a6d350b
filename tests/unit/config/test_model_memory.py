"""What a loaded configuration keeps per instance stays small (issue 18: 1,000 instances).

Structural checks, not sizes (the RSS figure is bench/scale.py's): the model's records have no
`__dict__` each; a VIP's address keeps no network object and behaves exactly as the stdlib's
interface (config/ip_interface.py); values written many times are one object in the model; and
the slotted records still copy, pickle, compare and `replace` as before.
"""

from __future__ import annotations

import copy
import ipaddress
import operator
import pickle

import pytest

from vipkeeper import records
from vipkeeper.config import loads, model
from vipkeeper.config.ip_interface import IPv4Interface, IPv6Interface, ip_interface


def _instance(name: str, vrid: int, addresses: str) -> str:
    """One vrrp_instance of CONF: the same text in each but for the name, VRID and addresses (the
    values written many times, shared within a parse)."""
    return f"""vrrp_instance {name} {{
  interface eth0
  state BACKUP
  virtual_router_id {vrid}
  advert_int 0.5
  version 3
  unicast_src_ip 192.0.2.1
  unicast_peer {{
    192.0.2.2
  }}
{addresses}}}
"""


CONF = """
global_defs {
  router_id r1
}
""" + _instance("VI_1", 1, """  virtual_ipaddress {
    198.51.100.1/24 dev eth0
  }
""") + _instance("VI_2", 2, """  virtual_ipaddress {
    198.51.100.2/24
  }
  virtual_ipaddress_excluded {
    2001:db8::1/64
  }
  use_ipvlan ipv0 198.51.100.9/24
""")


def model_records() -> list[type]:
    return [v for v in vars(model).values() if isinstance(v, type) and hasattr(v, "__record_fields__")]


def test_every_model_record_is_slotted() -> None:
    classes = model_records()
    assert len(classes) >= 20  # Where, Instance, VirtualAddress, Notifies, Garp, Config, ...
    for cls in classes:
        assert "__slots__" in vars(cls), cls.__name__
        assert cls.__dictoffset__ == 0, cls.__name__  # instances have no __dict__


def test_loaded_records_have_no_dict_each() -> None:
    config = loads(CONF, name="t.conf")
    assert config.usable, config.diagnostics
    one = config.instances[0]
    for value in (config, config.global_defs, one, one.where, one.notify, one.garp, one.virtual_ipaddress[0],
                  one.virtual_ipaddress[0].where):
        assert not hasattr(value, "__dict__"), type(value).__name__


def test_slotted_records_copy_pickle_replace_and_compare() -> None:
    config = loads(CONF, name="t.conf")
    again = loads(CONF, name="t.conf")
    assert config == again and hash(config.instances[0]) == hash(again.instances[0])
    assert pickle.loads(pickle.dumps(config)) == config
    assert copy.deepcopy(config) == config and copy.copy(config.instances[0]) == config.instances[0]
    moved = records.replace(config.instances[0], priority=150)
    assert moved.priority == 150 and moved != config.instances[0] and moved.name == "VI_1"
    assert records.asdict(config.instances[0])["virtual_router_id"] == 1
    with pytest.raises(records.FrozenInstanceError):
        config.instances[0].priority = 1  # type: ignore[misc]
    assert model.Where("a", 1) < model.Where("a", 2)


def test_vip_addresses_keep_no_network_object() -> None:
    config = loads(CONF, name="t.conf")
    v4 = config.instances[0].virtual_ipaddress[0].address
    v6 = config.instances[1].virtual_ipaddress_excluded[0].address
    ipvlan = config.instances[1].ipvlan_address
    for address in (v4, v6, ipvlan):
        assert isinstance(address, (IPv4Interface, IPv6Interface))
        assert "network" not in vars(address)
        assert list(vars(address)) == ["netmask", "_prefixlen"]  # no more per object than that...
        stdlib = ipaddress.IPv4Interface if address.version == 4 else ipaddress.IPv6Interface
        assert type(address).__basicsize__ == stdlib.__basicsize__  # ...and no slot beside the stdlib's
    assert v4 == ipaddress.ip_interface("198.51.100.1/24") and str(v4.network) == "198.51.100.0/24"
    assert v6.network == ipaddress.IPv6Network("2001:db8::/64") and str(ipvlan) == "198.51.100.9/24"


def test_repeated_values_are_one_object() -> None:
    config = loads(CONF, name="t.conf")
    a, b = config.instances
    assert a.unicast_src_ip is b.unicast_src_ip and a.unicast_peers[0] is b.unicast_peers[0]
    assert a.interface is b.interface and a.state is b.state and a.advert_int is b.advert_int
    assert a.notify is b.notify and a.garp is b.garp
    assert a.name is not b.name


def test_shared_values_keep_their_type_and_sign() -> None:
    from vipkeeper.config.keywords import Sink

    sink = Sink()
    address = sink.shared(ipaddress.ip_address("192.0.2.1"))
    interface = sink.shared(ip_interface("192.0.2.1/32"))
    assert address == interface.ip and type(interface) is IPv4Interface and type(address) is ipaddress.IPv4Address
    zero = sink.shared(0.0)
    negative = sink.shared(-0.0)
    assert str(zero) == "0.0" and str(negative) == "-0.0"
    assert sink.shared(1) == 1 and sink.shared(True) is True


CASES = ["198.51.100.1/32", "198.51.100.1/24", "198.51.100.1", "10.0.0.0/8", "1.2.3.4/255.255.0.0",
         "1.2.3.4/0.0.255.255", "2001:db8::1/64", "2001:db8::/64", "fe80::1%eth0/64", "fe80::%eth0/64",
         "fe80::1%eth0", "::1/128", "::/0", "0.0.0.0/0", ipaddress.IPv4Address("192.0.2.4"),
         ipaddress.IPv6Address("2001:db8::5"), 5, 2**100, b"\xc0\x00\x02\x04", ("192.0.2.4", 24), ("2001:db8::1", 48)]
BAD = ["1.2.3.4/33", "1.2.3.4/x", "2001:db8::1/129", "garbage", "1.2.3.256/24", "", "1.2.3.4/", "/24",
       "1.2.3.4/24/3", "1.2.3.4/255.0.255.0"]


@pytest.mark.parametrize("text", CASES, ids=str)
def test_lean_interface_is_the_stdlib_interface(text: object) -> None:
    ours, theirs = ip_interface(text), ipaddress.ip_interface(text)
    assert type(ours).__name__ == type(theirs).__name__ and isinstance(ours, type(theirs))
    assert ours == theirs and theirs == ours and hash(ours) == hash(theirs)
    assert (str(ours), repr(ours)) == (str(theirs), repr(theirs))
    for name in ("ip", "network", "netmask", "hostmask", "with_prefixlen", "with_netmask", "with_hostmask", "version",
                 "max_prefixlen", "packed", "is_private", "is_global", "is_multicast", "is_loopback", "is_link_local",
                 "is_unspecified", "is_reserved"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert str(ours.network) == str(theirs.network)
    assert pickle.loads(pickle.dumps(ours)) == ours and type(copy.deepcopy(ours)) is type(ours)


@pytest.mark.parametrize("text", BAD)
def test_lean_interface_refuses_as_the_stdlib(text: str) -> None:
    with pytest.raises(ValueError) as theirs:
        ipaddress.ip_interface(text)
    with pytest.raises(ValueError) as ours:
        ip_interface(text)
    assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


def test_lean_interfaces_compare_and_order_as_the_stdlib() -> None:
    pairs = [(ip_interface(t), ipaddress.ip_interface(t)) for t in CASES]
    for ours_a, theirs_a in pairs:
        assert (ours_a == theirs_a.ip) == (theirs_a == theirs_a.ip)
        for ours_b, theirs_b in pairs:
            assert (ours_a == ours_b) == (theirs_a == theirs_b) == (ours_a == theirs_b)
            assert (ours_a != ours_b) == (theirs_a != theirs_b)
            if theirs_a.version == theirs_b.version:
                for op in (operator.lt, operator.le, operator.gt, operator.ge):
                    assert op(ours_a, ours_b) == op(theirs_a, theirs_b), (ours_a, ours_b, op)


def test_vip_tuple_is_the_walked_one_and_a_dropped_vip_leaves_a_tuple_of_the_rest() -> None:
    both = loads("vrrp_instance A { interface eth0\n virtual_router_id 1\n"
                 " virtual_ipaddress { 192.0.2.1/32\n 2001:db8::1/128\n 192.0.2.2/32 } }\n", name="t.conf")
    (a,) = both.instances
    assert type(a.virtual_ipaddress) is tuple
    assert [str(v.address) for v in a.virtual_ipaddress] == ["192.0.2.1/32", "192.0.2.2/32"]
    assert any("address family must match" in d.message for d in both.diagnostics)
    plain = loads("vrrp_instance A { interface eth0\n virtual_router_id 1\n"
                  " virtual_ipaddress { 192.0.2.1/32\n 192.0.2.2/32 } }\n", name="t.conf")
    assert type(plain.instances[0].virtual_ipaddress) is tuple and len(plain.instances[0].virtual_ipaddress) == 2
