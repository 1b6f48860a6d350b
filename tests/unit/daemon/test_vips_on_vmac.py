"""Which device each VIP goes on under use_vmac (keepalived 2.2.7, measured in a namespace: VIPs
and eVIPs of the instance's family without `dev`, or with the instance's own interface as `dev`,
go on the VMAC; other interfaces and the other family stay where they are)."""

from __future__ import annotations

from vipkeeper.config import loads
from vipkeeper.daemon.router import vips_of

CONF = """vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 71
  use_vmac
  virtual_ipaddress {
    192.0.2.71/24
    192.0.2.72/24 dev eth0
    198.51.100.71/24 dev eth1
  }
  virtual_ipaddress_excluded {
    192.0.2.73/24
    2001:db8::71/64
  }
}
"""


def test_vips_on_the_vmac() -> None:
    model = loads(CONF).instances[0]
    assert [(str(v.address), v.ifname) for v in vips_of(model)] == [
        ("192.0.2.71/24", "vrrp.71"), ("192.0.2.72/24", "vrrp.71"), ("198.51.100.71/24", "eth1"),
        ("192.0.2.73/24", "vrrp.71"), ("2001:db8::71/64", "eth0")]
    plain = loads(CONF.replace("  use_vmac\n", "")).instances[0]
    assert {v.ifname for v in vips_of(plain)} == {"eth0", "eth1"}
