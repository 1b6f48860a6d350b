"""garp_extra_if: which VIPs a round announces (vrrp/garp_extra_if.py), when a MASTER asks for a
round (vrrp/instance.py), and how the keywords read (config)."""

from __future__ import annotations

import ipaddress

from vipkeeper.config import loads
from vipkeeper.vrrp.garp_extra_if import extra_if_targets
from vipkeeper.vrrp.instance import (
    Announce,
    Instance,
    InstanceParams,
    Reconfigure,
    Startup,
    State,
    TimerFired,
)

# (address, interface) pairs stand for VIPs
OWN = "eth0"


def targets(vips, own=OWN, ours=(), all_if=False, xmit_base=False):
    return [a for a, _ in extra_if_targets(vips, lambda v: v[1], own, set(ours), all_if, xmit_base)]


def test_all_vips_on_the_own_interface_send_nothing_even_with_all() -> None:
    vips = [("a", OWN), ("b", OWN)]
    assert targets(vips, all_if=True) == []
    assert targets(vips, all_if=True, xmit_base=True) == []


def test_other_interfaces_need_all_unless_they_are_our_vmacs() -> None:
    vips = [("a", OWN), ("b", "eth1")]
    assert targets(vips) == []
    assert targets(vips, all_if=True) == ["b"]
    assert targets(vips, ours={"eth1"}) == ["b"]


def test_one_frame_per_interface_first_vip_wins_in_order() -> None:
    vips = [("a", OWN), ("b", "eth1"), ("c", "eth2"), ("d", "eth1"), ("e", "eth2")]
    assert targets(vips, all_if=True) == ["b", "c"]


def test_own_vmac_is_refreshed_only_with_xmit_base_and_another_interface() -> None:
    vips = [("a", "vrrp.5"), ("b", "eth1")]
    assert targets(vips, own="vrrp.5", ours={"vrrp.5"}, all_if=True) == ["b"]
    assert targets(vips, own="vrrp.5", ours={"vrrp.5"}, all_if=True, xmit_base=True) == ["a", "b"]
    # without `all` eth1 is not ours: the feature is off, whatever xmit_base says
    assert targets(vips, own="vrrp.5", ours={"vrrp.5"}, xmit_base=True) == []


def params(**kw) -> InstanceParams:
    base = {"name": "VI_1", "vrid": 51, "version": 3, "priority": 100, "advert_int": 1.0,
            "source_address": ipaddress.IPv4Address("192.0.2.1"), "vips": ("vip",),
            "addresses": (ipaddress.IPv4Address("192.0.2.100"),), "garp_master_delay": 0.0}
    base.update(kw)
    return InstanceParams(**base)


def extra_rounds(inst: Instance, until: float) -> list[float]:
    out = []
    for _ in range(10_000):
        d = inst.next_deadline()
        if d is None or d > until:
            return out
        out += [round(d, 6) for a in inst.handle(TimerFired(), d) if isinstance(a, Announce) and a.extra_if]
    raise AssertionError("timer loop did not settle")


def master(p: InstanceParams) -> tuple[Instance, float]:
    inst = Instance(p)
    inst.handle(Startup(), 0.0)
    t0 = inst.next_deadline()
    inst.handle(TimerFired(), t0)
    assert inst.state == State.MASTER
    return inst, t0


def test_a_master_asks_with_the_first_advert_n_seconds_on_then_every_n() -> None:
    inst, t0 = master(params(garp_extra_if=3.0))
    assert [round(t - t0, 6) for t in extra_rounds(inst, t0 + 10)] == [3.0, 6.0, 9.0]


def test_the_round_waits_for_an_advert_when_n_is_not_a_multiple_of_the_interval() -> None:
    inst, t0 = master(params(garp_extra_if=2.0, advert_int=1.5))
    assert [round(t - t0, 6) for t in extra_rounds(inst, t0 + 10)] == [3.0, 6.0, 9.0]


def test_off_by_default_and_with_zero() -> None:
    inst, t0 = master(params())
    assert extra_rounds(inst, t0 + 10) == []


def test_a_reload_turning_it_on_counts_from_the_reload() -> None:
    inst, t0 = master(params())
    extra_rounds(inst, t0 + 4.5)
    inst.handle(Reconfigure(params(garp_extra_if=2.0)), t0 + 4.5)
    assert [round(t - t0, 6) for t in extra_rounds(inst, t0 + 9)] == [7.0, 9.0]


CONF = """
global_defs {{
  {globals}
}}
vrrp_instance VI_1 {{
  interface eth0
  virtual_router_id 5
  {instance}
  virtual_ipaddress {{
    192.0.2.9/24
  }}
}}
"""


def read(globals_: str = "", instance: str = ""):
    config = loads(CONF.format(globals=globals_, instance=instance))
    inst = config.instances[0]
    return (inst.garp_extra_if, inst.garp_extra_if_all), [str(d) for d in config.diagnostics]


def test_instance_value_over_global_and_all_goes_with_its_own_line() -> None:
    assert read("vrrp_garp_extra_if all 100") == ((100.0, True), [])
    assert read("vrrp_garp_extra_if all 100", "garp_extra_if 30") == ((30.0, False), [])
    assert read("", "garp_extra_if all 0") == ((0.0, True), [])
    assert read() == ((0.0, False), [])


def test_bad_values_are_one_line_at_their_line_and_keep_the_default() -> None:
    value, diags = read("vrrp_garp_extra_if 0")
    assert value == (0.0, False) and len(diags) == 1
    assert ":3: warning: number '0' outside range [1, 86400]" in diags[0]
    value, diags = read("", "garp_extra_if all")
    assert value == (0.0, False) and len(diags) == 1
    assert ":8: warning: garp_extra_if specified without time - ignoring" in diags[0]
    value, diags = read("", "vmac_garp_intvl 40")
    assert value == (40.0, False)
    assert len(diags) == 1 and 'Keyword "vmac_garp_intvl" is deprecated - please use "garp_extra_if"' in diags[0]
