"""garp_group, vrrp_garp_interval, vrrp_gna_interval, garp_extra_if_vmac as read by `check`: values,
keepalived 2.2.7's ranges and drops, one FILE:LINE line per bad value."""

from __future__ import annotations

from vipkeeper.config import loads
from vipkeeper.config.model import GarpGroup

INSTANCE = """
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 5
  virtual_ipaddress {
    192.0.2.9/24
  }
}
"""


def read(text: str):
    config = loads(text + INSTANCE, name="g.conf")
    return config, [str(d) for d in config.diagnostics]


def test_groups_and_global_intervals_read() -> None:
    config, diags = read("""global_defs {
  vrrp_garp_interval 0.001
  vrrp_gna_interval 0.000001
}
garp_group {
  garp_interval 0.25
  interface eth1
}
garp_group {
  gna_interval 1.5
  interfaces {
    eth2 eth3
    eth4
  }
}
""")
    assert diags == []
    assert config.global_defs.garp.interval == 0.001 and config.global_defs.garp.na_interval == 0.000001
    assert [(g.garp_interval, g.gna_interval, g.interfaces) for g in config.garp_groups] == [
        (0.25, None, ("eth1",)), (None, 1.5, ("eth2", "eth3", "eth4"))]
    assert config.garp_groups[0].where.line == 5


def test_bad_values_one_line_each_and_the_group_without_interval_dropped() -> None:
    config, diags = read("""global_defs {
  vrrp_garp_interval 0
  vrrp_gna_interval 5000
}
garp_group {
  garp_interval 0.5x
  interface eth1
}
garp_group {
  garp_interval -1
  gna_interval 0.1
  interface
  bogus 1
}
""")
    assert diags == [
        "g.conf:2: warning: number '0' outside range [0.000001, 4294.967295]",
        "g.conf:3: warning: number '5000' outside range [0.000001, 4294.967295]",
        "g.conf:5: warning: garp_group has neither garp_interval nor gna_interval - ignoring the group",
        "g.conf:6: warning: garp_group garp_interval: invalid number '0.5x' - ignoring",
        "g.conf:9: warning: garp_group names no interface - it spaces nothing",
        "g.conf:10: warning: garp_group garp_interval: number '-1' outside range [0.000000, 2147.483647] - ignoring",
        "g.conf:12: warning: garp_group interface: no interface named - ignoring",
        "g.conf:13: warning: Unknown keyword 'bogus' in garp_group - ignoring",
    ]
    assert config.usable
    assert config.global_defs.garp.interval == 0.0 and config.global_defs.garp.na_interval == 0.0
    assert config.garp_groups == (GarpGroup(None, 0.1, (), config.garp_groups[0].where),)


def test_an_interface_belongs_to_its_first_group() -> None:
    config, diags = read("""garp_group {
  garp_interval 0.1
  interface eth1
}
garp_group {
  gna_interval 0.2
  interfaces {
    eth1 eth2
  }
}
""")
    assert diags == ["g.conf:5: warning: garp_group already specified for eth1 - ignoring it here"]
    assert [g.interfaces for g in config.garp_groups] == [("eth1",), ("eth2",)]


def test_garp_extra_if_vmac_is_unknown_to_keepalived_and_so_does_nothing() -> None:
    config = loads(INSTANCE.replace("  interface eth0\n", "  interface eth0\n  garp_extra_if_vmac 10\n"), name="g.conf")
    (diag,) = config.diagnostics
    assert diag.severity == "ignored" and diag.where.line == 4
    assert "Unknown keyword 'garp_extra_if_vmac'" in diag.message
    assert config.instances[0].garp_extra_if == 0.0
