"""Address VMACs (use_vmac_addr, a VIP's use_vmac): which VIPs get one and keepalived 2.2.7's
names for them (config/vmac_addr.py; the names checked against keepalived itself in
tests/net/test_vmac_addr_keepalived.py)."""

from __future__ import annotations

from vipkeeper.config import loads
from vipkeeper.config.vmac_addr import vmac_names


def instance(extra: str, vips: str, excluded: str = "", name: str = "V", vrid: int = 9, iface: str = "eth0") -> str:
    block = f" virtual_ipaddress_excluded {{\n{excluded} }}\n" if excluded else ""
    return (f"vrrp_instance {name} {{\n interface {iface}\n virtual_router_id {vrid}\n{extra}"
            f" virtual_ipaddress {{\n{vips} }}\n{block}}}\n")


def placed(text: str) -> list[tuple[str, str | None]]:
    config = loads(text)
    assert config.usable, config.diagnostics
    return [(str(v.address), v.vmac) for i in config.instances
            for v in i.virtual_ipaddress + i.virtual_ipaddress_excluded]


def test_names_follow_keepalived_s_create_vmac_name():
    assert list(vmac_names(9, 4))[:4] == ["vrrp.9", "vrrp1.9", "vrrp2.9", "vrrp3.9"]
    # IPv6 tries vrrp6 first, then 1..5, then skips 6
    assert list(vmac_names(9, 6))[:9] == ["vrrp.9", "vrrp6.9", "vrrp1.9", "vrrp2.9", "vrrp3.9", "vrrp4.9",
                                           "vrrp5.9", "vrrp7.9", "vrrp8.9"]


def test_which_vips_get_an_address_vmac():
    vips = " 192.0.2.9/24\n 192.0.2.10/24 dev eth0\n 198.51.100.9/24 dev eth1\n 198.51.100.10/24 dev eth1\n"
    six = " 2001:db8::9/64\n"
    # with use_vmac: the instance's own is vrrp.9, the eth1 VIPs share vrrp1.9, the IPv6 eVIP
    # (other family, no dev) gets one on eth0: vrrp.9 is taken, so vrrp6.9
    assert placed(instance(" use_vmac\n use_vmac_addr\n", vips, six)) == [
        ("192.0.2.9/24", None), ("192.0.2.10/24", None), ("198.51.100.9/24", "vrrp1.9"),
        ("198.51.100.10/24", "vrrp1.9"), ("2001:db8::9/64", "vrrp6.9")]
    # use_vmac_addr alone: the first free name is vrrp.9
    assert placed(instance(" use_vmac_addr\n", vips))[2:] == [("198.51.100.9/24", "vrrp.9"),
                                                              ("198.51.100.10/24", "vrrp.9")]
    # neither: no VMAC at all; a VIP's own use_vmac: only that VIP's interface
    assert all(vmac is None for _, vmac in placed(instance("", vips)))
    assert placed(instance("", " 192.0.2.9/24\n 198.51.100.9/24 dev eth1 use_vmac\n 198.51.100.137/25 dev eth2\n")) \
        == [("192.0.2.9/24", None), ("198.51.100.9/24", "vrrp.9"), ("198.51.100.137/25", None)]


def test_names_are_unique_across_instances_and_shared_by_the_same_vrid_and_interface():
    one = instance(" use_vmac\n use_vmac_addr\n", " 192.0.2.9/24\n 198.51.100.9/24 dev eth1\n", name="A")
    two = instance(" use_vmac vm-b\n use_vmac_addr\n", " 192.0.2.19/24\n 198.51.100.19/24 dev eth2\n", name="B",
                   vrid=9, iface="eth3")
    three = instance(" use_vmac_addr\n", " 192.0.2.29/24\n 198.51.100.29/24 dev eth1\n", name="C", vrid=9,
                     iface="eth4")
    assert [p for p in placed(one + two + three) if p[1]] == [
        ("198.51.100.9/24", "vrrp1.9"), ("198.51.100.19/24", "vrrp2.9"), ("198.51.100.29/24", "vrrp1.9")]


def test_keepalived_s_complaints_about_a_vip_s_use_vmac_are_warnings_at_its_line():
    config = loads(instance(" use_vmac\n use_vmac_addr\n", " 192.0.2.9/24 use_vmac\n 198.51.100.9/24 dev eth1 use_vmac\n"))
    assert config.usable
    found = [(d.where.line, d.severity, d.message) for d in config.diagnostics if "use_vmac" in d.message]
    assert found == [(7, "warning", "(V) use_vmac specified for VIP/eVIP 192.0.2.9 and vrrp instance"),
                     (8, "warning", "(V) use_vmac_addr specified and use_vmac specified for VIP/eVIP 198.51.100.9")]
    assert config.instances[0].virtual_ipaddress[1].vmac == "vrrp1.9"
