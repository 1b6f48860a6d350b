"""The campaign's modes (issue 20): schedules, configurations and the mode verdicts (pure: no root).

Modes: ipv6, unicast, sync (a sync group of two instances), mixed (vipkeeper and keepalived in one
VRID), flush (an admin's address flush), fd (RLIMIT_NOFILE pressure), reload (a reload removes and
re-adds a second instance), ifrecreate (eth0 deleted and re-created)."""

from __future__ import annotations

import pytest

from bench.campaign import campaign
from bench.campaign.campaign import Record, Schedule
from vipkeeper.config import loads


def timeline(*spans):
    """[(from, to, holders)] -> 10 ms samples."""
    out = []
    for start, end, holders in spans:
        t = start
        while t < end - 1e-9:
            out.append((round(t, 2), tuple(holders)))
            t += 0.01
    return out


def kinds(rec):
    return [v.kind for v in campaign.judge(rec)]


@pytest.mark.parametrize("mode", campaign.MODES)
def test_a_mode_plays_only_its_kinds_and_replays(mode):
    allowed = set(campaign.mode_weights(mode))
    seen = set()
    for seed in range(1, 41):
        schedule = campaign.make_schedule(seed, mode=mode)
        assert schedule == campaign.make_schedule(seed, mode=mode)
        assert schedule.mode == mode
        seen |= {f.kind for f in schedule.faults}
        assert all(f.end <= schedule.duration - 4.0 for f in schedule.faults)
    assert seen <= allowed, seen - allowed
    # the mode's own kinds are drawn, and what it cannot play never is
    assert set(campaign.MODE_EXTRA.get(mode, {})) <= seen
    assert not seen & set(campaign.MODE_DROPS.get(mode, ()))


def test_lan4_is_the_default_and_other_modes_draw_other_schedules():
    for seed in (1, 2, 3):
        assert campaign.make_schedule(seed) == campaign.make_schedule(seed, mode="lan4")
        assert campaign.make_schedule(seed).faults != campaign.make_schedule(seed, mode="reload").faults
    assert list(campaign.mode_weights("lan4")) == list(campaign.FAULT_WEIGHTS)
    with pytest.raises(ValueError, match="unknown mode"):
        campaign.make_schedule(1, mode="token-ring")


@pytest.mark.parametrize("mode", campaign.MODES)
def test_each_mode_configuration_is_read_by_vipkeeper(mode):
    text = campaign.config_text("a", 150, 0.2, "vktest", mode=mode, src="192.0.2.1", peers=["192.0.2.2", "192.0.2.3"])
    config = loads(text, name=f"{mode}.conf")
    names = [i.name for i in config.instances]
    assert names == (["VI_CAMPAIGN", "VI_SECOND"] if mode in campaign.TWO_INSTANCES else ["VI_CAMPAIGN"])
    first = config.instances[0]
    assert [str(v.address) for v in first.virtual_ipaddress][0].startswith("2001:db8::100" if mode == "ipv6" else "192.0.2.100")
    assert first.is_unicast == (mode == "unicast")
    assert len(config.sync_groups) == (1 if mode == "sync" else 0)


def test_reload_mode_leaves_the_second_instance_out_and_sync_never_does():
    assert "VI_SECOND" not in campaign.config_text("a", 150, 0.2, "p", mode="reload", second=False)
    assert "VI_SECOND" in campaign.config_text("a", 150, 0.2, "p", mode="reload", second=True)
    assert "VI_SECOND" in campaign.config_text("a", 150, 0.2, "p", mode="sync", second=False)


SYNC = Schedule(seed=9, duration=20.0, advert_int=0.2, faults=(), mode="sync")
RELOAD = Schedule(seed=10, duration=20.0, advert_int=0.2, faults=(), mode="reload")


def test_a_sync_group_moving_together_is_clean():
    spans = ((0, 8, "a"), (8, 20, "b"))
    rec = Record("vipkeeper", SYNC, samples=timeline(*spans), samples2=timeline(*spans),
                 events=[(7.9, "reload_priority", "a", "apply 90")])
    assert kinds(rec) == []
    assert rec.stats["sync_samples"] > 0


def test_a_sync_group_apart_for_longer_than_an_advert_is_a_violation():
    rec = Record("vipkeeper", SYNC, samples=timeline((0, 8, "a"), (8, 20, "b")),
                 samples2=timeline((0, 9, "a"), (9, 20, "b")))  # VI_SECOND follows 1 s late
    found = [v for v in campaign.judge(rec) if v.kind == "sync_apart"]
    assert {v.detail.split(":")[0] for v in found} == {"a", "b"}
    assert all(v.at == 8.0 for v in found)
    # a lag within one advert interval + slack is one state change, not a violation
    rec = Record("vipkeeper", SYNC, samples=timeline((0, 8, "a"), (8, 20, "b")),
                 samples2=timeline((0, 8.3, "a"), (8.3, 20, "b")))
    assert "sync_apart" not in kinds(rec)


def test_a_removed_instance_keeping_its_vip_is_a_violation():
    rec = Record("vipkeeper", RELOAD, samples=timeline((0, 20, "a")), samples2=timeline((0, 20, "a")),
                 removed={"a": [[10.0, 14.0]]})
    assert "removed_vip_kept" in kinds(rec)
    rec = Record("vipkeeper", RELOAD, samples=timeline((0, 20, "a")),
                 samples2=timeline((0, 10.1, "a"), (10.1, 14.2, "b"), (14.2, 20, "a")),
                 removed={"a": [[10.0, 14.0]]})
    assert kinds(rec) == []
    assert rec.stats["removed_samples"] > 0


def test_a_reload_that_moves_the_other_instance_is_a_violation():
    events = [(10.0, "reload_remove", "a", "apply")]
    moved = Record("vipkeeper", RELOAD, samples=timeline((0, 10.2, "a"), (10.2, 10.6, ""), (10.6, 20, "a")),
                   samples2=timeline((0, 20, "b")), events=events)
    assert "reload_touched_other" in kinds(moved)
    still = Record("vipkeeper", RELOAD, samples=timeline((0, 20, "a")), samples2=timeline((0, 20, "b")),
                   events=list(events))
    assert "reload_touched_other" not in kinds(still)
    assert still.stats["quiet_reloads"] == 1
    # a reload beside another fault is not judged (the other fault may move the VIP)
    busy = Record("vipkeeper", RELOAD, samples=timeline((0, 10.2, "a"), (10.2, 10.6, ""), (10.6, 20, "a")),
                  samples2=timeline((0, 20, "b")), events=events + [(10.3, "link_down", "b", "apply")])
    assert "reload_touched_other" not in kinds(busy)


def test_the_table_is_per_mode():
    results = [
        {"daemon": "vipkeeper", "seed": 1, "duration": 30, "violations": []},  # before modes: lan4
        {"daemon": "vipkeeper", "mode": "sync", "seed": 1, "duration": 40,
         "violations": [{"kind": "sync_apart", "seed": 1, "at": 3.0, "detail": ""}]},
        {"daemon": "keepalived", "mode": "sync", "seed": 1, "duration": 40, "violations": []},
    ]
    text = campaign.tables(results)
    lan4, sync = text.split("\n\n", 1)
    assert lan4.startswith("mode lan4") and "sync_apart" in lan4
    assert [ln.split()[-1] for ln in lan4.splitlines() if ln.startswith("schedules run")] == ["0"]
    assert "sync_apart" in sync and "(seeds 1)" in sync and "--mode sync" in sync
    assert [ln.split()[2:] for ln in sync.splitlines() if ln.startswith("schedules run")] == [["1", "1"]]


LAN = Schedule(seed=11, duration=20.0, advert_int=0.2, faults=())


def test_a_lower_node_holding_in_a_quiet_network_is_not_the_best_holder():
    # a (150) healthy, yet b (120) holds: e.g. a stuck in FAULT with its process running
    rec = Record("vipkeeper", LAN, samples=timeline((0, 8, "a"), (8, 20, "b")),
                 events=[(7.9, "proc_kill", "a", "apply"), (8.5, "proc_kill", "a", "revert")])
    found = [v for v in campaign.judge(rec) if v.kind == "not_best_holder"]
    assert len(found) == 1 and found[0].detail.startswith("b (priority 120)"), found
    assert "not_one_holder" not in kinds(rec)  # one holder: the old verdict saw nothing wrong
    # while a's process is down, b is the best healthy node
    rec = Record("vipkeeper", LAN, samples=timeline((0, 8, "a"), (8, 20, "b")),
                 events=[(7.9, "proc_kill", "a", "apply")], proc_down={"a": [[7.9, 30.0]]})
    assert kinds(rec) == []


def test_a_reloaded_priority_decides_the_best_holder():
    events = [(7.9, "reload_priority", "a", "apply 90")]
    rec = Record("vipkeeper", LAN, samples=timeline((0, 8.5, "a"), (8.5, 20, "b")), events=list(events))
    assert kinds(rec) == []
    rec = Record("vipkeeper", LAN, samples=timeline((0, 20, "a")), events=list(events))
    assert kinds(rec) == ["not_best_holder"]
    # an equal priority may keep the VIP where it is
    rec = Record("vipkeeper", LAN, samples=timeline((0, 20, "a")), events=[(7.9, "reload_priority", "b", "apply 150")])
    assert kinds(rec) == []


def test_a_crash_of_the_keepalived_node_in_a_mixed_run_is_not_vipkeepers():
    crash_b = {"kind": "crash", "seed": 2, "at": 5.1, "detail": "b daemon exited with 2 (log x)"}
    crash_a = {"kind": "crash", "seed": 3, "at": 5.1, "detail": "a daemon exited with 1 (log x)"}
    results = [
        {"daemon": "vipkeeper", "mode": "mixed", "seed": 2, "duration": 30, "violations": [crash_b]},
        {"daemon": "vipkeeper", "mode": "mixed", "seed": 3, "duration": 30, "violations": [crash_a]},
        {"daemon": "keepalived", "mode": "mixed", "seed": 2, "duration": 30, "violations": [dict(crash_b)]},
    ]
    text = campaign.table(results, mode="mixed")
    rows = {ln.split()[0]: ln.split()[1:] for ln in text.splitlines() if ln and not ln.startswith(" ")}
    # vipkeeper's own crash (node a, seed 3) counts; node b's (keepalived) is listed apart
    assert rows["crash"][:3] == ["1", "(seeds", "3)"] and rows["crash"][3:] == ["1", "(seeds", "2)"]
    assert rows["schedules"][-2:] == ["1", "1"]  # 'schedules with violations': 1 and 1
    assert "on the keepalived node b of vipkeeper's mixed runs" in text and "  crash: 1 (seeds 2)" in text
    # outside the mixed mode a node-b crash is the run's own
    orphan = {"kind": "orphan_vip", "seed": 2, "at": 9.0, "detail": "b's daemon exited and left the VIP while a+c holds it"}
    results[0]["violations"].append(orphan)
    text = campaign.table(results, mode="mixed")
    assert "  orphan_vip: 1 (seeds 2)" in text
    assert [ln.split()[1] for ln in text.splitlines() if ln.startswith("orphan_vip")] == ["0"]
    lan = [dict(results[0], mode="lan4")]
    assert "on the keepalived node b" not in campaign.table(lan, mode="lan4")


def test_the_summary_has_a_row_per_mode_with_vipkeepers_own_violations_only():
    crash_b = {"kind": "crash", "seed": 2, "at": 5.1, "detail": "b daemon exited with 2 (log x)"}
    split = {"kind": "split_brain", "seed": 4, "at": 9.0, "detail": "a+b both hold the VIP"}
    results = [
        {"daemon": "vipkeeper", "mode": "mixed", "seed": 2, "duration": 30, "violations": [crash_b],
         "checked": {"quiet_samples": 100}},
        {"daemon": "keepalived", "mode": "mixed", "seed": 2, "duration": 30, "violations": [dict(crash_b)],
         "checked": {"quiet_samples": 90}},
        {"daemon": "vipkeeper", "mode": "flush", "seed": 4, "duration": 40, "violations": [split]},
        {"daemon": "keepalived", "mode": "flush", "seed": 4, "duration": 40, "violations": []},
    ]
    rows = [ln.split("|")[1:-1] for ln in campaign.summary(results).splitlines()[2:]]
    cells = {r[0].strip(): [c.strip() for c in r[1:]] for r in rows}
    assert list(cells) == ["mixed", "flush"]  # MODES order, only modes with results
    # mixed: node b's crash (keepalived) is not vipkeeper's, and is named apart
    assert cells["mixed"][:5] == ["1 / 1", "30", "100 / 90", "0", "1"]
    assert cells["mixed"][5] == "crash 1; on vipkeeper's runs' keepalived node b: crash 1"
    # flush: vipkeeper's own violation counts, by kind
    assert cells["flush"][3] == "1 (split_brain 1)" and cells["flush"][4] == "0" and cells["flush"][5] == "none"
