"""The campaign's verdicts and schedules, on hand-made records (pure: no root, no namespaces).

They live next to the campaign tests because their module is the campaign's; they need no
`net` mark."""

from __future__ import annotations

import ipaddress

from vipkeeper.lab import campaign
from vipkeeper.lab.campaign import Fault, Record, Schedule
from vipkeeper.vrrp import packet

SCHEDULE = Schedule(seed=7, duration=20.0, advert_int=0.2, faults=())


def record(samples, **tables) -> Record:
    rec = Record("vipkeeper", SCHEDULE, samples=samples)
    for name, value in tables.items():
        setattr(rec, name, value)
    return rec


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


def test_one_holder_throughout_is_clean():
    assert kinds(record(timeline((0, 20, "a")))) == []


def test_two_holders_that_hear_each_other_beyond_an_advert_interval_is_split_brain():
    rec = record(timeline((0, 10, "a"), (10, 11, "ab"), (11, 20, "a")))
    assert kinds(rec) == ["split_brain", "not_one_holder"]
    assert campaign.judge(rec)[0].seed == 7 and campaign.judge(rec)[0].at == 10.0


def test_a_short_overlap_during_handover_is_allowed():
    assert "split_brain" not in kinds(record(timeline((0, 10, "a"), (10, 10.4, "ab"), (10.4, 20, "b")),
                                             events=[(9.9, "reload_priority", "b", "")]))


def test_two_holders_across_a_partition_are_allowed():
    rec = record(timeline((0, 10, "a"), (10, 14, "ab"), (14, 20, "a")), isolated={"b": [[9.0, 14.0]]},
                 events=[(9.0, "partition", "b", "apply"), (14.0, "partition", "b", "revert")])
    assert kinds(rec) == []


def test_under_loss_the_bound_is_a_master_down_interval():
    samples = timeline((0, 10, "a"), (10, 10.9, "ab"), (10.9, 20, "a"))
    assert kinds(record(samples, lossy={"a": [[5.0, 12.0]]})) == []
    samples = timeline((0, 10, "a"), (10, 12, "ab"), (12, 20, "a"))
    assert kinds(record(samples, lossy={"a": [[5.0, 13.0]]})) == ["split_brain_loss"]


def test_no_holder_in_a_quiet_network_with_a_healthy_node():
    rec = record(timeline((0, 10, "a"), (10, 10.5, ""), (10.5, 20, "a")))
    assert kinds(rec) == ["not_one_holder"]


def test_no_holder_is_right_when_no_node_is_healthy():
    spans = {n: [[9.0, 20.0]] for n in campaign.NODES}
    assert kinds(record(timeline((0, 10, "a"), (10, 20, "")), proc_down=spans)) == []


def test_a_stale_vip_on_a_node_whose_daemon_is_dead_is_not_counted():
    rec = record(timeline((0, 10, "a"), (10, 15, "ab"), (15, 20, "b")), daemon_down={"a": [[9.9, 15.0]]},
                 events=[(9.9, "daemon_kill", "a", "apply"), (12.0, "daemon_start", "a", "restart")])
    assert kinds(rec) == []


def test_bursts_must_be_counted_and_change_nothing():
    burst = {"kind": "bad_ttl", "t0": 10.0, "t1": 10.15, "sent": 20, "holders_before": ["a"],
             "holders_after": ["b"], "counted": {"a": 20, "b": 19}, "transitions": {"a": (2, 3)}}
    rec = record(timeline((0, 20, "a")), bursts=[burst], events=[(10.0, "bad_burst", None, "apply bad_ttl")])
    assert sorted(kinds(rec)) == ["bad_packet_changed_state", "bad_packet_changed_state", "drop_not_counted"]


def test_health_observations_become_violations():
    rec = record(timeline((0, 20, "a")), health=[{"kind": "fd_leak", "t": 5.0, "detail": "a: fds 10 -> 30"}])
    assert kinds(rec) == ["fd_leak"]


def test_schedules_replay_and_end_quiet():
    for seed in range(50):
        sch = campaign.make_schedule(seed)
        assert sch == campaign.make_schedule(seed)
        assert 30 <= sch.duration <= 60 and sch.advert_int in (0.1, 0.2, 0.3, 0.5)
        assert all(f.end <= sch.duration - 4.0 and f.start >= 4.0 for f in sch.faults)
        assert sch.faults and all(f.kind in campaign.FAULT_WEIGHTS for f in sch.faults)
    assert campaign.make_schedule(1) != campaign.make_schedule(2)


def test_bad_frames_are_rejected_by_our_own_decoder_for_the_expected_reason():
    mac, src = bytes(6), ipaddress.IPv4Address("192.0.2.200")
    codec_reason = {"bad_ttl": "bad_ttl", "bad_checksum": "bad_checksum", "truncated": "truncated"}
    for kind, reason in codec_reason.items():
        for frame in campaign.bad_frames(kind, mac, src, 7):
            try:
                packet.decode_ipv4_datagram(frame[14:])
            except packet.MalformedPacket as exc:
                assert exc.reason.value == reason
            else:
                raise AssertionError(f"{kind} frame decoded")
    for frame in campaign.bad_frames("wrong_vrid", mac, src, 3):
        assert packet.decode_ipv4_datagram(frame[14:]).advertisement.vrid != campaign.VRID
    (v2,) = campaign.bad_frames("wrong_auth", mac, src, 1)
    assert packet.decode_ipv4_datagram(v2[14:]).advertisement.version == 2


def test_the_table_lists_both_daemons_and_seeds():
    results = [
        {"daemon": "vipkeeper", "seed": 1, "duration": 30, "violations": []},
        {"daemon": "keepalived", "seed": 1, "duration": 30, "violations": [
            {"kind": "crash", "seed": 1, "at": 3.0, "detail": "x"}]},
    ]
    text = campaign.table(results)
    assert "schedules run" in text and "crash" in text and "(seeds 1)" in text
    assert campaign.config_text("a", 150, 0.2, "vktest").count("{") == campaign.config_text("a", 150, 0.2, "vktest").count("}")


def test_fault_end():
    assert Fault(1.0, "loss", "a", 2.5, 10).end == 3.5


def test_a_vip_left_by_a_daemon_that_exited_on_its_own_is_an_orphan_not_a_split_brain():
    rec = record(timeline((0, 10, "b"), (10, 20, "ab")), crashed={"b": [[9.5, float("inf")]]},
                 health=[{"kind": "crash", "t": 9.6, "detail": "b daemon exited with 2"}])
    assert sorted(kinds(rec)) == ["crash", "orphan_vip"]


def test_after_a_crash_the_others_must_still_agree_on_one_holder():
    rec = record(timeline((0, 10, "b"), (10, 20, "")), crashed={"b": [[9.5, float("inf")]]})
    assert kinds(rec) == ["not_one_holder"]
