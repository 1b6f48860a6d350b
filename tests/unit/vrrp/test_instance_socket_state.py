"""SocketState: the shell says the VRRP socket is unusable (interface missing, sends failing).

It is a fault of its own: FAULT with keepalived's reason line, priority 0 before the VIPs go,
back to BACKUP (listening a full master-down interval) when the socket works again, and not
masked by dont_track_primary the way a down interface is (the shell simply never sends
InterfaceDown then)."""

from __future__ import annotations

import ipaddress

from vipkeeper.vrrp.instance import (
    AddVips,
    DelVips,
    Instance,
    InstanceParams,
    InterfaceDown,
    InterfaceUp,
    Log,
    Notify,
    SendAdvert,
    SocketState,
    Startup,
    State,
    TimerFired,
    TrackerChanged,
)

ME = ipaddress.IPv4Address("192.0.2.1")
VIP = ipaddress.IPv4Address("192.0.2.100")


def params(**kw) -> InstanceParams:
    base = {"name": "VI_1", "vrid": 51, "version": 3, "priority": 100, "advert_int": 1.0, "source_address": ME,
            "vips": ("vip",), "addresses": (VIP,)}
    base.update(kw)
    return InstanceParams(**base)


def master(p: InstanceParams) -> Instance:
    inst = Instance(p)
    inst.handle(Startup(), 0.0)
    inst.handle(TimerFired(), inst.next_deadline())
    assert inst.state == State.MASTER
    return inst


def test_missing_interface_at_start_enters_fault_init_with_keepalived_reason() -> None:
    inst = Instance(params())
    before = inst.handle(SocketState(False, "interface vX down"), 0.0)
    assert [a.message for a in before if isinstance(a, Log)] == ["(VI_1): entering FAULT state (interface vX down)"]
    assert inst.state == State.INIT  # not started yet: no transition before Startup
    out = inst.handle(Startup(), 0.0)
    assert inst.state == State.FAULT
    assert "(VI_1) Entering FAULT STATE (init)" in [a.message for a in out if isinstance(a, Log)]
    assert inst.next_deadline() is None  # FAULT: no timer, no adverts


def test_master_losing_its_socket_sends_priority_zero_then_drops_vips() -> None:
    inst = master(params())
    out = inst.handle(SocketState(False, "send advert error 19 (No such device)"), 5.0)
    acts = [a for a in out if not isinstance(a, Log)]
    assert acts[0] == SendAdvert(0)
    assert acts[1] == DelVips(("vip",))
    assert Notify("FAULT", 100) in acts
    assert inst.state == State.FAULT


def test_socket_back_returns_to_backup_and_waits_master_down() -> None:
    inst = master(params())
    inst.handle(SocketState(False, "interface vX down"), 5.0)
    out = inst.handle(SocketState(True), 7.0)
    assert inst.state == State.BACKUP
    assert Notify("BACKUP", 100) in out
    assert not any(isinstance(a, AddVips) for a in out)  # listens before it claims anything
    assert inst.next_deadline() == 7.0 + inst.master_down_us() / 1_000_000


def test_repeated_reports_change_nothing() -> None:
    inst = master(params())
    inst.handle(SocketState(False, "x"), 5.0)
    assert inst.handle(SocketState(False, "x"), 6.0) == []
    inst.handle(SocketState(True), 7.0)
    assert inst.handle(SocketState(True), 7.5) == []
    assert inst.state == State.BACKUP


def test_socket_fault_and_interface_down_are_separate_faults() -> None:
    inst = master(params())
    inst.handle(InterfaceDown(), 5.0)
    inst.handle(SocketState(False, "interface vX down"), 5.0)
    inst.handle(InterfaceUp(), 6.0)
    assert inst.state == State.FAULT  # the socket is still gone
    inst.handle(SocketState(True), 7.0)
    assert inst.state == State.BACKUP


def test_socket_fault_with_a_tracker_fault_needs_both_cleared() -> None:
    inst = master(params())
    inst.handle(TrackerChanged("chk", 0, True), 5.0)
    inst.handle(SocketState(False, "interface vX down"), 5.0)
    inst.handle(SocketState(True), 6.0)
    assert inst.state == State.FAULT
    inst.handle(TrackerChanged("chk", 0, False), 7.0)
    assert inst.state == State.BACKUP


def test_a_sync_group_follows_a_member_that_lost_its_socket() -> None:
    from vipkeeper.vrrp.sync_group import SyncGroup

    one, two = Instance(params(name="VI_1")), Instance(params(name="VI_2", vrid=52))
    group = SyncGroup("G", [one, two])
    group.handle_all(Startup(), 0.0)
    group.handle_all(TimerFired(), one.next_deadline())
    assert one.state == two.state == State.MASTER
    group.handle("VI_1", SocketState(False, "interface vX down"), 5.0)
    assert one.state == two.state == State.FAULT
    group.handle("VI_1", SocketState(True), 6.0)
    assert one.state == two.state == State.BACKUP
