"""Sync groups: members move together; one member's fault faults the group."""

from __future__ import annotations

import ipaddress

from vipkeeper.vrrp.instance import (
    AdvertReceived, DelVips, Instance, InstanceParams, SendAdvert, Startup, State, TimerFired, TrackerChanged,
)
from vipkeeper.vrrp.packet import Advertisement
from vipkeeper.vrrp.sync_group import GroupNotify, SyncGroup

PEER = ipaddress.IPv4Address("192.0.2.2")


def group() -> SyncGroup:
    mk = lambda name, vrid: Instance(InstanceParams(name=name, vrid=vrid, version=3, vips=(name,),
                                                    source_address=ipaddress.IPv4Address("192.0.2.1")))
    return SyncGroup("VG_1", [mk("VI_1", 51), mk("VI_2", 52)])


def states(g: SyncGroup) -> list[State]:
    return [m.state for m in g.members.values()]


def test_startup_and_master_together() -> None:
    g = group()
    out = g.handle_all(Startup(), 0.0)
    assert (None, GroupNotify("VG_1", "BACKUP")) in out
    # VI_2 hears a master, VI_1 does not: VI_1's timer runs out and pulls VI_2 along
    g.handle("VI_2", AdvertReceived(Advertisement.v3(52, 200, ()), PEER), 1.0)
    out = g.handle("VI_1", TimerFired(), 3.609375)
    assert states(g) == [State.MASTER, State.MASTER]
    assert (None, GroupNotify("VG_1", "MASTER")) in out
    assert ("VI_2", SendAdvert(100)) in out


def test_one_fault_faults_all_and_recovery() -> None:
    g = group()
    g.handle_all(Startup(), 0.0)
    g.handle("VI_1", TimerFired(), 3.609375)
    out = g.handle("VI_2", TrackerChanged("chk", 0, True), 5.0)
    assert states(g) == [State.FAULT, State.FAULT]
    assert ("VI_1", SendAdvert(0)) in out and ("VI_1", DelVips(("VI_1",))) in out
    assert (None, GroupNotify("VG_1", "FAULT")) in out
    out = g.handle("VI_2", TrackerChanged("chk", 0, False), 6.0)
    assert states(g) == [State.BACKUP, State.BACKUP]
    assert (None, GroupNotify("VG_1", "BACKUP")) in out


def test_yield_pushes_others_to_backup() -> None:
    g = group()
    g.handle_all(Startup(), 0.0)
    g.handle("VI_1", TimerFired(), 3.609375)
    g.handle("VI_1", AdvertReceived(Advertisement.v3(51, 200, ()), PEER), 4.0)
    assert states(g) == [State.BACKUP, State.BACKUP]
