"""keepalived's contribution rules (research notes §3) as TrackerEffect triples."""

import pytest

from vipkeeper.config.model import Config, Instance, SyncGroup, TrackFile, TrackProcess, TrackRef, VrrpScript
from vipkeeper.track.interface import InterfaceStates
from vipkeeper.track.priority import ResolvedRef, TrackerEffect, file_effect, instance_refs, up_down_effect


def R(w, rev=False, kind="script"):
    return ResolvedRef(kind, "x", w, rev)


@pytest.mark.parametrize("w,rev,up,contrib,fault", [
    (10, False, True, 10, False), (10, False, False, 0, False),
    (-10, False, True, 0, False), (-10, False, False, -10, False),
    (10, True, True, -10, False), (10, True, False, 0, False),
    (-10, True, False, 10, False),
    (0, False, True, 0, False), (0, False, False, 0, True),
    (0, True, True, 0, True), (0, True, False, 0, False),
])
def test_up_down(w, rev, up, contrib, fault):
    assert up_down_effect(R(w, rev), up) == TrackerEffect("script:x", contrib, fault)


@pytest.mark.parametrize("w,rev,value,contrib,fault", [
    (0, False, 0, 0, False), (0, False, 3, 0, True), (0, True, 0, 0, True), (0, True, 5, 0, False),
    (1, False, 10, 10, False), (2, False, 200, 253, False), (1, False, -253, -253, False),
    (1, False, -254, 0, True), (254, False, -1, 0, True), (-1, False, 5, -5, False), (3, True, 2, -6, False),
])
def test_file(w, rev, value, contrib, fault):
    assert file_effect(R(w, rev, "file"), value) == TrackerEffect("file:x", contrib, fault)


def test_refs_defaults_overrides_and_sync_group_zeroing():
    cfg = Config(
        files=("k.conf",),
        instances=(Instance(name="vi", interface="eth0", virtual_router_id=1,
                            track_script=(TrackRef("chk"), TrackRef("chk2", weight=-5, reverse=True)),
                            track_process=(TrackRef("ha"),), track_file=(TrackRef("f", weight=3),),
                            track_interface=(TrackRef("eth1"),)),
                   Instance(name="vg", interface="eth0", virtual_router_id=2, track_script=(TrackRef("chk"),))),
        sync_groups=(SyncGroup(name="g", group=("vg",), track_process=(TrackRef("ha"),)),),
        scripts=(VrrpScript(name="chk", script="x", argv=("x",), weight=20),
                 VrrpScript(name="chk2", script="x", argv=("x",))),
        track_processes=(TrackProcess(name="ha", process="haproxy", weight=-30),),
        track_files=(TrackFile(name="f", file="/tmp/f"),),
    )
    refs = {r.key: r for r in instance_refs(cfg, cfg.instance("vi"))}
    assert refs["script:chk"].weight == 20
    assert (refs["script:chk2"].weight, refs["script:chk2"].reverse) == (-5, True)
    assert refs["process:ha"].weight == -30
    assert refs["file:f"].weight == 3
    assert refs["interface:eth1"].weight == 0
    grefs = {r.key: r for r in instance_refs(cfg, cfg.instance("vg"))}
    assert grefs["script:chk"].weight == 0  # member tracker zeroed in a sync group
    assert grefs["process:ha"].weight == -30  # group tracker applies to the member


def test_interface_unknown_is_down_then_follows_events():
    s = InterfaceStates()
    ref = ResolvedRef("interface", "eth1", 0, False)
    assert s.effect(ref).fault is True
    assert s.link_changed("eth1", True) is True
    assert s.effect(ref) == TrackerEffect("interface:eth1", 0, False)
    assert s.link_changed("eth1", True) is False
