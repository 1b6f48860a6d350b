"""The steady Master (vrrp/instance.py `steady`/`resume_steady`): the schedule the core gives
the shell is exactly what TimerFired would have done, and resuming it leaves the core as if
every advert had gone through it at the deadlines the shell kept (vrrp/advert_schedule.py).
A fake clock (plain floats)."""

from __future__ import annotations

import ipaddress

import pytest

from vipkeeper.vrrp.advert_schedule import AdvertSchedule
from vipkeeper.vrrp.instance import (
    AdvertReceived, Instance, InstanceParams, SendAdvert, Startup, State, TimerFired, TrackerChanged, steady_early,
)
from vipkeeper.vrrp.packet import Advertisement

ME = ipaddress.IPv4Address("192.0.2.1")
PEER = ipaddress.IPv4Address("192.0.2.2")
VIP = ipaddress.IPv4Address("192.0.2.100")


def master(**kw) -> Instance:
    base = dict(name="VI_1", vrid=51, version=3, priority=255, advert_int=1.0, source_address=ME,
                vips=("vip",), addresses=(VIP,), garp_master_delay=5.0)
    base.update(kw)
    inst = Instance(InstanceParams(**base))
    inst.handle(Startup(), 0.0)  # an address owner: MASTER at once
    assert inst.state == State.MASTER
    return inst


def test_steady_until_the_delayed_garp_then_steady_for_good() -> None:
    inst = master()
    assert inst.steady() == (1.0, 1.0, 255, 5.0)  # adverts at 1..4 s; the GARP burst is due at 5 s
    t = inst.next_deadline()
    while t is not None and t < 5.0:
        assert inst.handle(TimerFired(), t) == [SendAdvert(255)]
        t = inst.next_deadline()
    assert inst.steady() is None  # the advert and the GARP burst are both due at 5 s
    inst.handle(TimerFired(), 5.0)
    assert inst.steady() == (6.0, 1.0, 255, None)


def test_backup_is_never_steady_and_a_refresh_bounds_the_schedule() -> None:
    backup = Instance(InstanceParams(name="B", vrid=51, version=3, priority=100, source_address=ME))
    backup.handle(Startup(), 0.0)
    assert backup.state == State.BACKUP and backup.steady() is None
    refresh = master(garp_master_delay=0.0, garp_master_refresh=2.5)
    assert refresh.steady() == (1.0, 1.0, 255, 2.5)  # the periodic GARP refresh is the core's


def test_resumed_schedule_equals_every_timer_through_the_core() -> None:
    """Two Masters: one handed TimerFired at every deadline, the other following the steady
    schedule as the shell does (vrrp/advert_schedule.py; 1.0 is on its grid); then the same
    advert reaches both."""
    through, shell = master(garp_master_delay=0.0), master(garp_master_delay=0.0)
    assert shell.steady() == (1.0, 1.0, 255, None)
    at, interval, priority, _until = shell.steady()
    schedule = AdvertSchedule(at, interval)
    assert schedule.at == at
    for _ in range(5):
        now = schedule.at
        assert through.handle(TimerFired(), now) == [SendAdvert(priority)]
        schedule.advance(now)
    assert through.next_deadline() == schedule.at
    shell.resume_steady(schedule.at)
    assert shell.next_deadline() == through.next_deadline()
    now = schedule.at - 0.5
    advert = AdvertReceived(Advertisement(3, 51, 0, (VIP,), 100), PEER)
    assert shell.handle(advert, now) == through.handle(advert, now)
    assert shell.next_deadline() == through.next_deadline() and shell.state == through.state


def test_the_core_goes_on_from_the_deadline_the_shell_reached() -> None:
    """Late sends: the shell's fixed rate keeps the deadlines on the schedule (a core fed
    TimerFired late would have moved them); the core takes the one handed back as its own."""
    shell = master(garp_master_delay=0.0)
    at, interval, priority, _until = shell.steady()
    schedule = AdvertSchedule(at, interval)
    for late in (0.0003, 0.02, 0.0, 0.4):
        schedule.advance(schedule.at + late)
    assert schedule.at == 5.0
    shell.resume_steady(schedule.at)
    assert shell.next_deadline() == shell.advert_deadline() == 5.0
    assert shell.steady() == (5.0, 1.0, priority, None)
    assert shell.handle(TimerFired(), 5.0) == [SendAdvert(priority)] and shell.advert_deadline() == 6.0


def test_priority_change_shows_in_the_schedule() -> None:
    inst = Instance(InstanceParams(name="VI_1", vrid=51, version=3, priority=100, source_address=ME,
                                   vips=("vip",), addresses=(VIP,), garp_master_delay=0.0))
    inst.handle(Startup(), 0.0)  # not an owner: it listens first, then takes over
    while inst.state != State.MASTER:
        inst.handle(TimerFired(), inst.next_deadline())
    at = inst.next_deadline()
    assert inst.steady() == (at, 1.0, 100, None)
    inst.handle(TrackerChanged("chk", -20), at - 0.1)
    assert inst.steady() == (at, 1.0, 80, None)


def test_resume_outside_master_changes_nothing() -> None:
    backup = Instance(InstanceParams(name="B", vrid=51, version=3, priority=100, source_address=ME))
    backup.handle(Startup(), 0.0)
    before = backup.next_deadline()
    backup.resume_steady(99.0)
    assert backup.next_deadline() == before


def test_a_masters_garp_timer_may_go_a_tenth_of_the_interval_early_at_most_10_ms() -> None:
    assert steady_early(1.0) == 0.01 and steady_early(0.1) == pytest.approx(0.01) and steady_early(10.0) == 0.01
    assert steady_early(0.05) == pytest.approx(0.005)


def test_a_garp_extra_if_round_bounds_the_schedule_as_a_timer_does() -> None:
    """The advert that brings a garp_extra_if round is the core's to send: the shell's steady
    adverts stop short of it, and the rounds come when they would without the steady path."""
    inst = master(garp_master_delay=0.0, garp_extra_if=3.0)
    at, interval, priority, until = inst.steady()
    assert (at, interval, priority) == (1.0, 1.0, 255) and until is not None and 2.0 < until < 3.0
    rounds = []
    t = 0.0
    while t < 9.5:
        steady = inst.steady()
        if steady is not None:
            at, interval, _priority, until = steady
            while (until is None or at < until) and at < 10.0:  # the shell's sends, on time
                t, at = at, at + interval
            inst.resume_steady(at)
        t = inst.next_deadline()
        if t > 9.5:
            break
        if any(getattr(a, "extra_if", False) for a in inst.handle(TimerFired(), t)):
            rounds.append(t)
    assert rounds == [3.0, 6.0, 9.0]


def test_garp_extra_if_keeps_its_period_when_the_shell_moved_the_adverts_earlier() -> None:
    """Becoming Master at 0.037 s: the shell's adverts go at 1.035, 2.035, ... (on the grid, a
    step is 0.005 s), a little before the core's 1.037, 2.037, ...; the round due at 3.037 comes
    with the advert at 3.035 (within a step), not one whole interval later at 4.035 (keepalived's
    adverts drift late, so its rounds come every garp_extra_if seconds)."""
    inst = Instance(InstanceParams(name="VI_1", vrid=51, version=3, priority=255, advert_int=1.0,
                                   source_address=ME, vips=("vip",), addresses=(VIP,), garp_master_delay=0.0,
                                   garp_extra_if=3.0))
    inst.handle(Startup(), 0.037)
    rounds = []
    while True:
        steady = inst.steady()
        if steady is not None:
            at, interval, _priority, until = steady
            schedule = AdvertSchedule(at, interval)
            while until is None or schedule.at < until:  # the shell's sends, on time
                schedule.advance(schedule.at)
            inst.resume_steady(schedule.at)
        t = inst.next_deadline()
        if t > 10.0:
            break
        if any(getattr(a, "extra_if", False) for a in inst.handle(TimerFired(), t)):
            rounds.append(round(t, 6))
    assert rounds == [3.035, 6.035, 9.035]
