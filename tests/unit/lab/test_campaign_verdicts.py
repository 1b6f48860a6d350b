"""The campaign's verdicts and schedules, on hand-made records (pure: no root, no namespaces).

They live next to the campaign tests because their module is the campaign's; they need no
`net` mark."""

from __future__ import annotations

import ipaddress

from bench.campaign import campaign
from bench.campaign.campaign import Fault, Record, Schedule
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
                 events=[(9.9, "daemon_kill", "a", "apply"), (9.9, "reload_priority", "a", "apply 90"),
                         (12.0, "daemon_start", "a", "restart")])  # a restarts below b: b stays
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
                 events=[(0.0, "reload_priority", "b", "apply 200")],  # b is the best until it crashes
                 health=[{"kind": "crash", "t": 9.6, "detail": "b daemon exited with 2"}])
    assert sorted(kinds(rec)) == ["crash", "orphan_vip"]


def test_after_a_crash_the_others_must_still_agree_on_one_holder():
    rec = record(timeline((0, 10, "b"), (10, 20, "")), crashed={"b": [[9.5, float("inf")]]},
                 events=[(0.0, "reload_priority", "b", "apply 200")])
    assert kinds(rec) == ["not_one_holder"]


# --- delay faults ---------------------------------------------------------------------------


def test_schedules_draw_delay_faults_replayably_within_the_advert_interval():
    with_delay = []
    for seed in range(100):
        sch = campaign.make_schedule(seed)
        assert sch == campaign.make_schedule(seed)
        for f in sch.faults:
            if f.kind == "delay":
                with_delay.append(seed)
                assert f.node in campaign.NODES and f.duration > 0
                assert f.arg in campaign.DELAYS_MS and f.arg <= sch.advert_int * 1000
        # one network fault per node at a time: delay never overlaps loss/partition/link down there
        for n in campaign.NODES:
            spans = sorted((f.start, f.end) for f in sch.faults if f.node == n and f.kind in campaign.NET_KINDS)
            assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), (seed, n, spans)
    assert len(set(with_delay)) >= 20, with_delay  # a common fault, not a rarity
    # every delay value is drawn somewhere, 250 ms only where advert_int allows it
    drawn = {(f.arg, campaign.make_schedule(s).advert_int) for s in set(with_delay)
             for f in campaign.make_schedule(s).faults if f.kind == "delay"}
    assert {d for d, _ in drawn} == set(campaign.DELAYS_MS)
    assert all(adv >= 0.25 for d, adv in drawn if d == 250)
    # the seed the smoke replay uses (bench/campaign/README.md) keeps its delays: a change of the
    # draw is noticed here, not by a replay that suddenly has none
    assert [(f.start, f.node, f.duration, f.arg) for f in campaign.make_schedule(31).faults if f.kind == "delay"] == [
        (15.21, "a", 1.62, 250), (18.08, "b", 4.51, 50)]


# SCHEDULE: advert_int 0.2, so the plain split-brain bound is 0.2 + SLACK = 0.5 s.


def test_a_split_brain_within_the_delay_widened_bound_is_allowed():
    samples = timeline((0, 10, "a"), (10, 10.6, "ab"), (10.6, 20, "a"))
    assert kinds(record(samples)) == ["split_brain", "not_one_holder"]  # control: 0.6 s > 0.5 s
    # a 100 ms delay on a: its adverts reach b 0.1 s late, bound 0.6 s
    assert kinds(record(samples, delayed={"a": [[8.0, 11.0, 0.1]]},
                        events=[(8.0, "delay", "a", "apply 100"), (11.0, "delay", "a", "revert 100")])) == []


def test_a_split_brain_beyond_the_delay_widened_bound_is_reported():
    samples = timeline((0, 10, "a"), (10, 10.8, "ab"), (10.8, 20, "a"))
    rec = record(samples, delayed={"a": [[8.0, 11.0, 0.1]]},
                 events=[(8.0, "delay", "a", "apply 100"), (11.0, "delay", "a", "revert 100")])
    found = campaign.judge(rec)
    assert [v.kind for v in found] == ["split_brain_delay"]
    assert found[0].at == 10.0 and "0.60s" in found[0].detail


def test_both_nodes_delayed_add_their_delays():
    samples = timeline((0, 10, "a"), (10, 10.75, "ab"), (10.75, 20, "a"))
    one = {"a": [[8.0, 11.0, 0.1]]}
    two = {"a": [[8.0, 11.0, 0.1]], "b": [[9.0, 12.0, 0.2]]}  # a out 0.1 + b in 0.2: bound 0.8
    events = [(8.0, "delay", "a", "apply"), (12.0, "delay", "b", "revert")]
    assert kinds(record(samples, delayed=one, events=events)) == ["split_brain_delay"]
    assert kinds(record(samples, delayed=two, events=events)) == []


def test_delay_spans_are_not_quiet_for_not_one_holder_and_bursts():
    # no holder for 0.5 s while b is delayed: not judged (the same gap in quiet is: see above)
    samples = timeline((0, 10, "a"), (10, 10.5, ""), (10.5, 20, "a"))
    assert kinds(record(samples, delayed={"b": [[9.0, 10.6, 0.05]]})) == []
    burst = {"kind": "bad_ttl", "t0": 15.0, "t1": 15.15, "sent": 20, "holders_before": ["a"],
             "holders_after": ["b"], "counted": {}, "transitions": {}}
    events = [(15.0, "bad_burst", None, "apply bad_ttl")]
    assert kinds(record(timeline((0, 20, "a")), bursts=[burst], events=events)) == ["bad_packet_changed_state"]
    assert kinds(record(timeline((0, 20, "a")), bursts=[burst], events=events,
                        delayed={"c": [[14.0, 15.1, 0.02]]})) == []


def test_the_table_has_a_delay_row():
    assert "split_brain_delay" in campaign.table([])


WITNESS_SCHEDULE = Schedule(seed=9, duration=20.0, advert_int=0.2, faults=(), witness=True)


def test_witness_schedules_judge_two_live_holders_whatever_the_network():
    # the routers could not hear each other (a vrrp_split): allowed by split_brain, not by dual_holder
    rec = Record("vipkeeper", WITNESS_SCHEDULE, samples=timeline((0, 10, "a"), (10, 12, "ab"), (12, 20, "a")),
                 isolated={"b": [[9.0, 12.0]]}, events=[(9.0, "vrrp_split", "b", "apply"), (12.0, "vrrp_split", "b", "revert")])
    assert kinds(rec) == ["dual_holder"]
    assert campaign.judge(rec)[-1].at == 10.0
    # the same samples in a plain schedule: no verdict (VRRP gives two holders there by design)
    plain = record(rec.samples, isolated=rec.isolated, events=rec.events)
    assert kinds(plain) == []
    # a dead daemon's leftover VIP is not a live holder
    rec.daemon_down = {"b": [[9.0, 13.0]]}
    assert kinds(rec) == []


def test_with_a_witness_the_quiet_window_grows_by_a_lease():
    samples = timeline((0, 10, "a"), (10, 11.5, ""), (11.5, 20, "b"))
    down = {"a": [[10.0, 20.0]]}
    assert "not_one_holder" in kinds(record(samples, daemon_down=down, events=[(10.0, "daemon_kill", "a", "apply")]))
    rec = record(samples, daemon_down=down, events=[(10.0, "daemon_kill", "a", "apply")])
    rec.witness_ttl = 2.0
    assert kinds(rec) == []


def test_witness_schedules_replay_and_keep_the_plain_ones_as_they_were():
    plain = campaign.make_schedule(5, duration=60.0, advert_int=0.2)
    assert not plain.witness and not any(f.kind in campaign.WITNESS_KINDS for f in plain.faults)
    many = [campaign.make_schedule(seed, duration=60.0, advert_int=0.2, witness=True) for seed in range(1, 6)]
    assert many[0] == campaign.make_schedule(1, duration=60.0, advert_int=0.2, witness=True)
    drawn = {f.kind for s in many for f in s.faults}
    assert set(campaign.WITNESS_KINDS) <= drawn
    assert all(f.node in campaign.NODES for s in many for f in s.faults if f.kind in campaign.WITNESS_KINDS)


def test_the_witness_table_has_three_daemons_and_the_dual_holder_row():
    results = [{"daemon": d, "seed": 1, "duration": 30.0, "witness": True, "violations": violations,
                "checked": {"dual_samples": n}}
               for d, violations, n in (("vipkeeper", [{"kind": "dual_holder", "seed": 1, "at": 5.0, "detail": ""}], 40),
                                        ("keepalived", [{"kind": "dual_holder", "seed": 1, "at": 5.0, "detail": ""}], 45),
                                        (campaign.WITNESS_FLAVOUR, [], 0))]
    text = campaign.table(results, ("vipkeeper", "keepalived", campaign.WITNESS_FLAVOUR))
    row = next(line for line in text.splitlines() if line.startswith("dual_holder"))
    assert row.split()[1:] == ["1", "(seeds", "1)", "1", "(seeds", "1)", "0"]
    assert "two-holder samples seen" in text and "--witness" in text
    assert "dual_holder" not in campaign.table([dict(r, witness=False) for r in results])
