"""The instance state machine, one rule per test, with a fake clock (plain floats)."""

from __future__ import annotations

import ipaddress

import pytest

from vipkeeper.vrrp.instance import (
    AddVips, AdvertReceived, Announce, DelVips, Drop, Instance, InstanceParams, InterfaceDown,
    InterfaceUp, Log, Notify, Reconfigure, SendAdvert, Shutdown, Startup, State, TimerFired,
    TrackerChanged, master_down_us, skew_us,
)
from vipkeeper.vrrp.packet import AUTH_PASS, Advertisement, DropReason

ME = ipaddress.IPv4Address("192.0.2.1")
PEER = ipaddress.IPv4Address("192.0.2.2")
LOW = ipaddress.IPv4Address("192.0.2.0")
VIP = ipaddress.IPv4Address("192.0.2.100")


def params(**kw) -> InstanceParams:
    base = dict(name="VI_1", vrid=51, version=3, priority=100, advert_int=1.0, source_address=ME,
                vips=("vip",), addresses=(VIP,))
    base.update(kw)
    return InstanceParams(**base)


def adv(prio: int, version: int = 3, vrid: int = 51, interval_cs: int = 100, **kw) -> Advertisement:
    return Advertisement(version, vrid, prio, (VIP,), interval_cs, **kw)


def rx(inst: Instance, prio: int, now: float, src=PEER, **kw):
    return inst.handle(AdvertReceived(adv(prio, version=inst.params.version, **kw), src), now)


def fire_until(inst: Instance, until: float) -> list:
    """Run the fake clock: fire every deadline up to `until`, return (time, actions)."""
    log = []
    for _ in range(10_000):
        d = inst.next_deadline()
        if d is None or d > until:
            return log
        log.append((d, inst.handle(TimerFired(), d)))
    raise AssertionError("timer loop did not settle")


def messages(actions) -> list[str]:
    return [a.message for a in actions if isinstance(a, Log)]


def non_log(actions) -> list:
    return [a for a in actions if not isinstance(a, Log)]


def kinds(actions) -> list[type]:
    return [type(a) for a in actions if not isinstance(a, Log)]


def started(p: InstanceParams, now: float = 0.0) -> tuple[Instance, list]:
    inst = Instance(p)
    return inst, inst.handle(Startup(), now)


def make_master(p: InstanceParams) -> Instance:
    inst, _ = started(p)
    fire_until(inst, inst.next_deadline())
    assert inst.state == State.MASTER
    return inst


# --- timing -----------------------------------------------------------------------------------

def test_formulas_match_keepalived() -> None:
    assert skew_us(3, 100, 100) == 609_375
    assert master_down_us(3, 100, 100) == 3_609_375
    assert skew_us(2, 100, 100) == 609_375  # v2: (256-p)/256 s, independent of the interval
    assert skew_us(2, 100, 300) == 609_375
    assert skew_us(3, 100, 300) == 1_828_125  # v3 scales with the interval
    assert master_down_us(3, 200, 50) == 1_609_375


def test_backup_takes_over_3_609375_after_last_v3_advert() -> None:
    inst, acts = started(params())
    assert inst.state == State.BACKUP
    assert "(VI_1) Entering BACKUP STATE (init)" in messages(acts)
    assert Notify("BACKUP", 100) in acts
    rx(inst, 200, 10.0)
    assert inst.next_deadline() == 10.0 + 3.609375
    assert fire_until(inst, 13.609) == []
    assert inst.state == State.BACKUP
    (t, acts), = fire_until(inst, 13.609375)
    assert t == 13.609375 and inst.state == State.MASTER
    assert "(VI_1) Entering MASTER STATE" in messages(acts)


def test_become_master_order() -> None:
    inst, _ = started(params())
    (_, acts), = fire_until(inst, 4.0)
    assert kinds(acts) == [SendAdvert, AddVips, Announce, Notify]
    assert non_log(acts)[0] == SendAdvert(100)
    assert Announce(5, ("vip",)) in acts


def test_v3_backup_learns_master_interval() -> None:
    inst, _ = started(params())
    rx(inst, 200, 1.0, interval_cs=50)
    assert inst.master_adver_int_cs == 50
    assert inst.next_deadline() == pytest.approx(1.0 + 1.5 + 156 * 50 * 625 // 16 / 1e6)


def test_v2_timings_and_interval_mismatch() -> None:
    p = params(version=2, advert_int=2.0, auth_type=AUTH_PASS, auth_data=b"s3cret")
    inst, _ = started(p)
    good = dict(interval_cs=200, auth_type=AUTH_PASS, auth_data=b"s3cret\0\0")
    rx(inst, 200, 0.0, **good)
    assert inst.next_deadline() == 6.0 + (256 - 100) / 256
    acts = rx(inst, 200, 1.0, interval_cs=100, auth_type=AUTH_PASS, auth_data=b"s3cret\0\0")
    assert Drop(DropReason.INTERVAL_MISMATCH, PEER) in acts
    assert inst.next_deadline() == 6.0 + (256 - 100) / 256  # not reset by a rejected advert
    acts = rx(inst, 200, 1.0, interval_cs=200, auth_type=AUTH_PASS, auth_data=b"wrong\0\0\0")
    assert Drop(DropReason.AUTH_MISMATCH, PEER) in acts
    acts = rx(inst, 200, 1.0, interval_cs=200)
    assert Drop(DropReason.AUTH_MISMATCH, PEER) in acts


def test_checks_vrid_vips_own_address_and_peer() -> None:
    inst, _ = started(params(unicast_peers=(PEER,), check_unicast_src=True))
    assert Drop(DropReason.WRONG_VRID, PEER) in rx(inst, 200, 0.0, vrid=52)
    a = Advertisement(3, 51, 200, (ipaddress.IPv4Address("192.0.2.99"),), 100)
    acts = inst.handle(AdvertReceived(a, PEER), 0.0)
    assert Drop(DropReason.VIP_MISMATCH, PEER) in acts
    assert "(VI_1) ip address associated with VRID 51 not present in MASTER advert : 192.0.2.100" in messages(acts)
    assert Drop(DropReason.OWN_ADDRESS, ME) in rx(inst, 100, 0.0, src=ME)
    assert Drop(DropReason.UNKNOWN_PEER, LOW) in rx(inst, 200, 0.0, src=LOW)


def test_priority_zero_advert_backup_takes_over_after_skew() -> None:
    inst, _ = started(params())
    rx(inst, 200, 5.0)
    rx(inst, 0, 5.5)
    assert inst.next_deadline() == 5.5 + 0.609375
    fire_until(inst, 6.109375)
    assert inst.state == State.MASTER


def test_fast_handover_takes_over_at_once_on_priority_zero() -> None:
    for p in (params(fast_handover=True), params(unicast_peers=(PEER,))):
        inst, _ = started(p)
        rx(inst, 200, 5.0)
        acts = rx(inst, 0, 5.5)
        assert inst.state == State.MASTER
        assert non_log(acts)[0] == SendAdvert(100)


def test_owner_becomes_master_at_once_and_ignores_trackers() -> None:
    inst, acts = started(params(priority=255))
    assert inst.state == State.MASTER and acts[0] == SendAdvert(255)
    acts = inst.handle(TrackerChanged("chk", -50, False), 1.0)
    assert inst.effective_priority == 255 and messages(acts) == []


def test_state_master_listens_one_interval_first() -> None:
    inst, _ = started(params(initial_state=State.MASTER))
    assert inst.state == State.BACKUP
    assert inst.next_deadline() == 1.0 + 625 * 100 // 16 / 1e6  # MAI + minimum skew
    rx(inst, 200, 0.5)  # an existing master is heard: stay backup
    assert inst.next_deadline() == 0.5 + 3.609375


def test_lower_priority_advert_discarded_by_preempting_backup() -> None:
    inst, _ = started(params(priority=150))
    acts = rx(inst, 90, 1.0)
    assert "(VI_1) received lower priority (90) advert from 192.0.2.2 - discarding" in messages(acts)
    assert inst.next_deadline() == master_down_us(3, 150, 100) / 1e6  # not reset
    fire_until(inst, 10)
    assert inst.state == State.MASTER


def test_nopreempt_accepts_lower_priority() -> None:
    inst, _ = started(params(priority=150, nopreempt=True))
    for t in range(1, 20):
        rx(inst, 90, float(t))
        fire_until(inst, float(t))
    assert inst.state == State.BACKUP


def test_preempt_delay() -> None:
    inst, _ = started(params(priority=150, preempt_delay=10.0))
    t = 0.0
    while inst.state == State.BACKUP and t < 60:
        t += 1.0
        fire_until(inst, t - 0.001)
        if inst.state == State.BACKUP:
            rx(inst, 90, t)
    # lower adverts are accepted for 10 s after the first, then discarded; the down timer
    # then runs out: takeover ~ preempt_delay + master-down interval
    down = master_down_us(3, 150, 100) / 1e6
    assert inst.state == State.MASTER
    assert 10 + down - 1 <= t <= 10 + down + 1


def test_master_receives_lower_sends_advert_and_garps() -> None:
    inst = make_master(params(priority=150))
    acts = rx(inst, 90, 10.0)
    assert inst.state == State.MASTER
    assert "(VI_1) Received advert from 192.0.2.2 with lower priority 90, ours 150, forcing new election" in messages(acts)
    assert SendAdvert(150) in acts and Announce(5, ("vip",)) in acts
    assert Notify("MASTER_RX_LOWER_PRI", 150) in acts
    inst2 = make_master(params(priority=150, lower_prio_no_advert=True, garp_lower_prio_repeat=0))
    acts = rx(inst2, 90, 10.0)
    assert SendAdvert(150) not in acts and not any(isinstance(a, Announce) for a in acts)


def test_master_yields_to_higher_without_priority_zero() -> None:
    inst = make_master(params())
    acts = rx(inst, 200, 10.0, interval_cs=50)
    assert inst.state == State.BACKUP
    assert "(VI_1) Master received advert from 192.0.2.2 with higher priority 200, ours 100" in messages(acts)
    assert SendAdvert(0) not in acts and DelVips(("vip",)) in acts
    assert inst.master_adver_int_cs == 50
    assert inst.next_deadline() == 10.0 + master_down_us(3, 100, 50) / 1e6


def test_higher_prio_send_advert() -> None:
    inst = make_master(params(higher_prio_send_advert=True))
    acts = rx(inst, 200, 10.0)
    assert acts[0] == SendAdvert(100) and inst.state == State.BACKUP


def test_equal_priority_tie_break_by_source_address() -> None:
    inst = make_master(params())
    acts = rx(inst, 100, 10.0, src=LOW)
    assert inst.state == State.MASTER and SendAdvert(100) in acts
    acts = rx(inst, 100, 11.0, src=PEER)
    assert inst.state == State.BACKUP
    assert "(VI_1) Master received advert from 192.0.2.2 with same priority 100 but higher IP address than ours" \
        in messages(acts)
    # a backup accepts equal priority whatever the address
    rx(inst, 100, 12.0, src=LOW)
    assert inst.next_deadline() == 12.0 + 3.609375


def test_master_receiving_priority_zero_sends_advert_at_once() -> None:
    inst = make_master(params())
    acts = rx(inst, 0, 10.0)
    assert acts[-1] == SendAdvert(100) and inst.state == State.MASTER


def test_master_sends_adverts_every_interval() -> None:
    inst = make_master(params(advert_int=0.5, garp_master_delay=0))
    t0 = inst.next_deadline()
    sent = [t for t, acts in fire_until(inst, t0 + 2.0) if SendAdvert(100) in acts]
    assert len(sent) == 5 and sent[1] - sent[0] == pytest.approx(0.5)


def test_tracker_weights_and_clamping() -> None:
    inst, _ = started(params(priority=150))
    acts = inst.handle(TrackerChanged("chk", -20), 1.0)
    assert "(VI_1) Changing effective priority from 150 to 130" in messages(acts)
    inst.handle(TrackerChanged("other", -500), 1.0)
    assert inst.effective_priority == 1
    inst.handle(TrackerChanged("other", 500), 1.0)
    assert inst.effective_priority == 254
    inst.handle(TrackerChanged("other", 0), 1.0)
    assert inst.effective_priority == 130


def test_priority_change_shifts_running_down_timer() -> None:
    inst, _ = started(params(priority=100))
    rx(inst, 200, 0.0)
    inst.handle(TrackerChanged("chk", 50), 1.0)
    assert inst.next_deadline() == 3.0 + skew_us(3, 150, 100) / 1e6


def test_fault_and_recovery() -> None:
    inst = make_master(params())
    acts = inst.handle(TrackerChanged("chk", 0, True), 10.0)
    assert inst.state == State.FAULT
    assert "(VI_1) Entering FAULT STATE" in messages(acts)
    assert kinds(acts) == [SendAdvert, DelVips, Notify]
    assert acts[[type(a) for a in acts].index(SendAdvert)] == SendAdvert(0)
    assert inst.next_deadline() is None
    assert Drop(DropReason.NOT_LISTENING, PEER) in rx(inst, 200, 11.0)
    inst.handle(InterfaceDown(), 12.0)
    inst.handle(TrackerChanged("chk", 0, False), 13.0)
    assert inst.state == State.FAULT  # the interface is still down
    acts = inst.handle(InterfaceUp(), 14.0)
    assert inst.state == State.BACKUP and "(VI_1) Entering BACKUP STATE" in messages(acts)
    assert inst.next_deadline() == 14.0 + 3.609375


def test_fast_handover_fault_sends_priority_zero_first() -> None:
    inst = make_master(params(fast_handover=True))
    acts = inst.handle(TrackerChanged("chk", 0, True), 10.0)
    assert acts[0] == SendAdvert(0)


def test_fault_at_startup_and_unicast_recovery_announces_source() -> None:
    inst = Instance(params(unicast_peers=(PEER,)))
    inst.handle(InterfaceDown(), 0.0)
    acts = inst.handle(Startup(), 0.0)
    assert inst.state == State.FAULT and "(VI_1) Entering FAULT STATE (init)" in messages(acts)
    acts = inst.handle(InterfaceUp(), 1.0)
    assert Announce(1, (), source_address=True) in acts


def test_shutdown_sends_priority_zero_before_delvips() -> None:
    inst = make_master(params())
    acts = inst.handle(Shutdown(), 20.0)
    assert kinds(acts) == [SendAdvert, DelVips, Notify]
    assert acts[0] == SendAdvert(0) and Notify("STOP", 100) in acts
    assert inst.state == State.STOP and inst.next_deadline() is None
    backup, _ = started(params())
    acts = backup.handle(Shutdown(), 1.0)
    assert kinds(acts) == [Notify]


def test_garp_schedule() -> None:
    inst, _ = started(params(garp_master_refresh=60.0, garp_master_refresh_repeat=2))
    t0 = inst.next_deadline()
    history = fire_until(inst, t0 + 200)
    announces = [(round(t - t0, 6), a.rounds) for t, acts in history for a in acts if isinstance(a, Announce)]
    assert announces[:3] == [(0.0, 5), (5.0, 5), (65.0, 2)]
    assert announces[3] == (125.0, 2)
    # leaving MASTER discards pending delayed GARPs
    inst2 = make_master(params())
    t1 = inst2.next_deadline()
    rx(inst2, 200, t1)
    history = fire_until(inst2, t1 + 3.6)
    assert inst2.state == State.BACKUP
    assert not any(isinstance(a, Announce) for _, acts in history for a in acts)


def test_no_garp_delay_when_zero() -> None:
    inst = make_master(params(garp_master_delay=0))
    assert "garp" not in inst._timers


def test_startup_delay() -> None:
    inst, acts = started(params(startup_delay=2.5))
    assert "(VI_1) Delaying startup for 2.5 seconds" in messages(acts)
    assert inst.state == State.INIT and inst.next_deadline() == 2.5
    assert Drop(DropReason.NOT_LISTENING, PEER) in rx(inst, 200, 1.0)
    (t, acts), = fire_until(inst, 2.5)
    assert "(VI_1) Delayed start completed" in messages(acts) and inst.state == State.BACKUP
    assert inst.next_deadline() == 2.5 + 3.609375


def test_reconfigure_changes_vips_and_priority() -> None:
    inst = make_master(params())
    acts = inst.handle(Reconfigure(params(vips=("vip", "vip2"), priority=120)), 10.0)
    assert AddVips(("vip2",)) in acts and inst.effective_priority == 120
    with pytest.raises(ValueError):
        inst.handle(Reconfigure(params(vrid=9)), 11.0)


def test_a_tracked_route_lost_makes_the_master_let_go_with_priority_zero() -> None:
    # keepalived 2.2.7 (measured): "Entering BACKUP STATE", "sent 0 priority", then the VIPs go
    from vipkeeper.vrrp.instance import TrackedEntryLost

    inst = make_master(params())
    now = inst.next_deadline() or 10.0
    out = inst.handle(TrackedEntryLost("route '198.51.100.0/24 via 192.0.2.254 dev eth0'"), now)
    assert inst.state == State.BACKUP
    assert messages(out) == ["(VI_1) route '198.51.100.0/24 via 192.0.2.254 dev eth0' deleted - leaving MASTER",
                             "(VI_1) Entering BACKUP STATE"]
    assert kinds(out) == [SendAdvert, DelVips, Notify] and non_log(out)[0].priority == 0
    assert inst.next_deadline() is not None  # the master-down timer runs: Master again if nobody else is
    assert inst.handle(TrackedEntryLost("rule 'x'"), now) == []  # only a Master reacts
