"""A Backup's timers run from when an advert arrived (the `now` handed in with it, the kernel's
receive stamp), not from when it was read; an advert that arrived before something the
instance has already handled is taken as of that, never earlier. Fake clock (plain floats)."""

from __future__ import annotations

import ipaddress

from vipkeeper.vrrp.instance import (
    AdvertReceived, Instance, InstanceParams, SendAdvert, Startup, State, TimerFired, TrackerChanged,
    master_down_us, skew_us,
)
from vipkeeper.vrrp.packet import Advertisement

PEER = ipaddress.IPv4Address("192.0.2.2")
VIP = ipaddress.IPv4Address("192.0.2.100")


def backup(version: int = 2) -> Instance:
    inst = Instance(InstanceParams(name="VI_1", vrid=51, version=version, priority=100, advert_int=1.0,
                                   source_address=ipaddress.IPv4Address("192.0.2.1"), vips=("vip",),
                                   addresses=(VIP,)))
    inst.handle(Startup(), 0.0)
    assert inst.state == State.BACKUP
    return inst


def heard(inst: Instance, prio: int, arrived: float) -> list:
    advert = Advertisement(inst.params.version, 51, prio, (VIP,), 100)
    return inst.handle(AdvertReceived(advert, PEER), arrived)


def test_skew_time_runs_from_the_arrival_of_priority_zero() -> None:
    inst = backup()
    heard(inst, 150, 10.0)
    heard(inst, 0, 10.4)  # arrived at 10.4 (read later, say at 10.6: the time given is the arrival)
    skew = skew_us(2, 100, 100) / 1e6
    assert inst.next_deadline() == 10.4 + skew
    assert inst.handle(TimerFired(), 10.4 + skew - 1e-6) == [] and inst.state == State.BACKUP
    actions = inst.handle(TimerFired(), 10.4 + skew)
    assert inst.state == State.MASTER and SendAdvert(100) in actions


def test_master_down_interval_runs_from_the_arrival_of_each_advert() -> None:
    inst = backup(version=3)
    heard(inst, 150, 20.25)
    assert inst.next_deadline() == 20.25 + master_down_us(3, 100, 100) / 1e6


def test_an_advert_that_arrived_before_a_handled_event_is_taken_as_of_that_event() -> None:
    inst = backup()
    heard(inst, 150, 10.0)
    # a tracker fault at 10.5, then back at 10.6: BACKUP again, master-down from 10.6
    inst.handle(TrackerChanged("t", 0, True), 10.5)
    inst.handle(TrackerChanged("t", 0, False), 10.6)
    assert inst.state == State.BACKUP
    # priority 0 that arrived at 10.55 (while in FAULT), read only now: counts from 10.6
    heard(inst, 0, 10.55)
    assert inst.next_deadline() == 10.6 + skew_us(2, 100, 100) / 1e6


def test_a_late_read_whose_skew_time_has_passed_takes_over_at_the_next_timer() -> None:
    inst = backup()
    heard(inst, 150, 10.0)
    heard(inst, 0, 10.1)  # read after the skew time had already run out (a stalled loop)
    deadline = inst.next_deadline()
    assert deadline is not None and deadline == 10.1 + skew_us(2, 100, 100) / 1e6
    inst.handle(TimerFired(), 11.5)  # the shell fires a past deadline at once
    assert inst.state == State.MASTER


def test_vips_first_adds_the_vips_before_the_new_masters_advert() -> None:
    for first in (False, True):
        inst = Instance(InstanceParams(name="VI_1", vrid=51, version=2, priority=100, vips=("vip",),
                                       addresses=(VIP,), vips_first=first))
        inst.handle(Startup(), 0.0)
        acts = inst.handle(TimerFired(), inst.next_deadline() or 0.0)
        kinds = [type(a).__name__ for a in acts if type(a).__name__ != "Log"]
        assert kinds == (["AddVips", "SendAdvert", "Announce", "Notify"] if first
                         else ["SendAdvert", "AddVips", "Announce", "Notify"])
