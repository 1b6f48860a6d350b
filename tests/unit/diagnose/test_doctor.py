"""`vipkeeper doctor` on log excerpts: every format, every finding, the exit status."""

from __future__ import annotations

import json
import textwrap

from click.testing import CliRunner

from vipkeeper.diagnose.cli import doctor
from vipkeeper.diagnose.doctor import Thresholds, diagnose
from vipkeeper.diagnose.log_reader import parse_lines


def lines(text: str, label: str = "node.log"):
    return parse_lines(textwrap.dedent(text).strip("\n").splitlines(), label, 2026)


def rules(report):
    return [f.rule for f in report.findings]


def test_formats_are_read_with_node_and_time():
    got = lines("""
        Nov 25 14:00:50 relay1 Keepalived_vrrp[812]: (VI_1) Entering MASTER STATE
        2026-11-25T14:00:51+0000 relay2 Keepalived_vrrp[900]: (VI_1) Entering BACKUP STATE
        2026-11-25T14:00:52.250+00:00 vipkeeper[77]: (VI_1) Entering FAULT STATE
        Wed Nov 25 14:00:53 2026: (VI_1) Entering MASTER STATE
        {"__REALTIME_TIMESTAMP": "1795615254000000", "_HOSTNAME": "relay3", "SYSLOG_IDENTIFIER": "Keepalived_vrrp", "_PID": "5", "MESSAGE": "(VI_1) Entering BACKUP STATE"}
        {"ts": 1795615255.5, "level": "info", "logger": "vipkeeper", "pid": 9, "message": "(VI_1) Entering MASTER STATE"}
        Nov 25 14:00:56 relay1 sshd[1]: Accepted publickey for root
        -- Boot 1234 --
        """, "b.log")
    assert [(l.node, l.program, l.pid) for l in got] == [
        ("relay1", "Keepalived_vrrp", 812), ("relay2", "Keepalived_vrrp", 900), ("b", "vipkeeper", 77),
        ("b", "keepalived", None), ("relay3", "Keepalived_vrrp", 5), ("b", "vipkeeper", 9)]
    assert got[0].ts == 1795615250.0 and got[2].ts == 1795615252.25
    assert got[0].where.line == 1 and got[5].where.line == 6


def test_two_masters_overlapping_is_split_brain_with_start_end_duration():
    a = lines("""
        Nov 25 14:00:00 a Keepalived_vrrp[1]: (VI_1) Entering BACKUP STATE (init)
        Nov 25 14:00:04 a Keepalived_vrrp[1]: (VI_1) Entering MASTER STATE
        Nov 25 14:00:30 a Keepalived_vrrp[1]: (VI_1) Received advert from 192.0.2.2 with lower priority 100, ours 150, forcing new election
        """, "a.log")
    b = lines("""
        Nov 25 14:00:00 b Keepalived_vrrp[2]: (VI_1) Entering BACKUP STATE (init)
        Nov 25 14:00:10 b Keepalived_vrrp[2]: (VI_1) Entering MASTER STATE
        Nov 25 14:00:30 b Keepalived_vrrp[2]: (VI_1) Master received advert from 192.0.2.1 with higher priority 150, ours 100
        Nov 25 14:00:30 b Keepalived_vrrp[2]: (VI_1) Entering BACKUP STATE
        """, "b.log")
    report = diagnose(a + b)
    sb = [f for f in report.findings if f.rule == "VK501"]
    assert len(sb) == 1
    assert "a and b" in sb[0].message and "20.0s" in sb[0].message
    assert "T14:00:10" in sb[0].message and "T14:00:30" in sb[0].message
    assert any("b.log:2" in e for e in sb[0].evidence) and any("a.log:2" in e for e in sb[0].evidence)
    assert "VK510" in rules(report)
    assert [e.line.node for e in report.timeline][:2] == ["a", "b"]


def test_normal_failover_is_not_split_brain():
    a = lines("""
        Nov 25 14:00:04 a Keepalived_vrrp[1]: (VI_1) Entering MASTER STATE
        Nov 25 14:00:20 a Keepalived_vrrp[1]: Stopping
        Nov 25 14:00:20 a Keepalived_vrrp[1]: (VI_1) sent 0 priority
        """, "a.log")
    b = lines("""
        Nov 25 14:00:01 b Keepalived_vrrp[2]: (VI_1) Entering BACKUP STATE
        Nov 25 14:00:21 b Keepalived_vrrp[2]: (VI_1) Backup received priority 0 advertisement
        Nov 25 14:00:21 b Keepalived_vrrp[2]: (VI_1) Entering MASTER STATE
        """, "b.log")
    report = diagnose(a + b)
    assert "VK501" not in rules(report)
    assert not [f for f in report.findings if f.severity != "info"]
    assert "VK511" in rules(report)


def test_preemption_overlap_below_threshold_is_quiet():
    a = lines("""
        Nov 25 14:00:04 a Keepalived_vrrp[1]: (VI_1) Entering MASTER STATE
        Nov 25 14:00:50 a Keepalived_vrrp[1]: (VI_1) Entering BACKUP STATE
        """, "a.log")
    b = lines("""
        Nov 25 14:00:49 b Keepalived_vrrp[2]: (VI_1) Entering MASTER STATE
        Nov 25 14:00:59 b Keepalived_vrrp[2]: (VI_1) Entering MASTER STATE
        """, "b.log")
    assert "VK501" not in rules(diagnose(a + b))
    assert "VK501" in rules(diagnose(a + b, Thresholds(overlap=0.5)))


def test_state_flapping():
    text = "\n".join(f"Nov 25 14:00:{s:02d} a Keepalived_vrrp[1]: (VI_1) Entering {st} STATE"
                     for s, st in zip(range(0, 50, 5), ["MASTER", "BACKUP"] * 5))
    report = diagnose(lines(text))
    flap = [f for f in report.findings if f.rule == "VK502"]
    assert len(flap) == 1 and "10 state changes" in flap[0].message
    slow = "\n".join(f"Nov 25 14:{m:02d}:00 a Keepalived_vrrp[1]: (VI_1) Entering {st} STATE"
                     for m, st in zip(range(0, 50, 10), ["MASTER", "BACKUP"] * 3))
    assert "VK502" not in rules(diagnose(lines(slow)))


def test_script_flapping_failures_timeouts_and_stuck_children():
    flapping = "\n".join(
        f"Nov 25 14:00:{s:02d} a Keepalived_vrrp[1]: VRRP_Script(chk) " + ("failed (exited with status 1)" if s % 2 else "succeeded")
        for s in range(10))
    assert "VK503" in rules(diagnose(lines(flapping)))
    report = diagnose(lines("""
        Nov 25 14:00:01 a Keepalived_vrrp[1]: VRRP_Script(chk_db) failed (exited with status 2)
        Nov 25 14:00:09 a Keepalived_vrrp[1]: VRRP_Script(chk_slow) timed_out
        Nov 25 14:00:09 a Keepalived_vrrp[1]: Track script chk_slow is already running, expect idle - skipping run
        Nov 25 14:00:20 a Keepalived_vrrp[1]: Script chk_slow child (PID 4242) failed to terminate after kill
        Nov 25 14:00:21 a Keepalived_vrrp[1]: Unsafe permissions found for script '/etc/keepalived/x.sh' - disabling.
        """))
    got = rules(report)
    assert {"VK504", "VK505", "VK506", "VK507"} <= set(got)
    assert next(f for f in report.findings if f.rule == "VK506").severity == "error"


def test_pidof_race_connector_and_config_messages():
    report = diagnose(lines("""
        Nov 25 14:00:01 relay1 Keepalived_vrrp[1]: Failed to set/clear process event listen - errno 111 - Connection refused
        Nov 25 14:00:02 relay1 Keepalived_vrrp[1]: (keepalived.conf: Line 12) Unknown keyword 'vrrp_version'
        Nov 25 14:00:02 relay1 Keepalived_vrrp[1]: SECURITY VIOLATION - scripts are being executed but script_security not enabled.
        Nov 25 14:00:03 relay1 Keepalived_vrrp[1]: (VI_1) advertisement interval mismatch mine=1 sec rcv'd=2 sec
        Nov 25 14:00:05 relay1 check_services.sh[99]: pidof: can't read from /proc/31337/stat
        Nov 25 14:00:06 relay1 Keepalived_vrrp[1]: Quorum lost for tracked process track_haproxy
        Nov 25 14:00:07 relay1 Keepalived_vrrp[1]: Quorum gained for tracked process track_haproxy
        """))
    by_rule = {f.rule: f for f in report.findings}
    assert "network namespace" in by_rule["VK509"].message
    assert "pidcheck" in by_rule["VK508"].fix and "31337" in by_rule["VK508"].evidence[0]
    assert "vrrp_version" in by_rule["VK514"].message
    assert {"VK512", "VK513", "VK515"} <= set(by_rule)


def test_cli_exit_status_and_json(tmp_path):
    quiet = tmp_path / "quiet.log"
    quiet.write_text("Nov 25 14:00:00 a Keepalived_vrrp[1]: (VI_1) Entering BACKUP STATE (init)\n")
    runner = CliRunner()
    ok = runner.invoke(doctor, [str(quiet)])
    assert ok.exit_code == 0, ok.output
    bad = tmp_path / "bad.log"
    bad.write_text("Nov 25 14:00:00 a Keepalived_vrrp[1]: VRRP_Script(chk) failed (exited with status 1)\n")
    res = runner.invoke(doctor, [str(bad), "--format", "json"])
    assert res.exit_code == 1
    data = json.loads(res.output)
    assert data["findings"][0]["rule"] == "VK504" and data["timeline"][0]["node"] == "a"
    assert runner.invoke(doctor, [str(tmp_path / "absent.log")]).exit_code == 2
    stdin = runner.invoke(doctor, ["-"], input=bad.read_text())
    assert stdin.exit_code == 1 and "VK504" in stdin.output


def test_garbage_input_is_not_an_error():
    report = diagnose(lines("\x00\x01binary\n{not json\nNov 99 99:99:99 x y: z\n"))
    assert report.findings == []


def test_vip_conflict_lines_from_vipkeeper():
    """vipkeeper's conflict detection lines (as the daemon writes them) become VK517 and timeline events."""
    t = "2026-11-25T14:00:0{}+00:00 vipkeeper[7]: (VI_1) "
    report = diagnose(lines("\n".join([
        t.format("1.000") + "Entering MASTER STATE",
        t.format("1.500") + "VIP conflict: 192.0.2.50 is also answered by 02:00:00:00:00:0b, VRRP router 192.0.2.2 "
                            "(VRID 51, priority 150)",
        t.format("9.000") + "VIP conflict on 192.0.2.50 with 02:00:00:00:00:0b ended after 7.5 s; announcing the "
                            "VIP again",
    ]), "a.log"))
    (f,) = [f for f in report.findings if f.rule == "VK517"]
    assert f.severity == "error" and "(VI_1) on a" in f.message and str(f.where) == "a.log:2"
    assert [e.kind for e in report.timeline] == ["state", "vip_conflict", "vip_conflict_end"]
    quiet = diagnose(lines("2026-11-25T14:00:01.000+00:00 vipkeeper[7]: (VI_1) Entering MASTER STATE\n"))
    assert "VK517" not in rules(quiet)


WITNESS_A = """
    2026-11-30T11:28:51.444+00:00 vipkeeper[4]: (VI_1) Entering MASTER STATE
    2026-11-30T11:28:51.459+00:00 vipkeeper[4]: (VI_1) witness key /vipkeeper/instance/VI_1 acquired
    2026-11-30T11:29:30.000+00:00 vipkeeper[4]: (VI_1) Received advert from 192.0.2.2 with lower priority 100, ours 200, forcing new election
    """
WITNESS_B = """
    2026-11-30T11:28:51.000+00:00 vipkeeper[5]: (VI_1) Entering BACKUP STATE (init)
    2026-11-30T11:29:00.169+00:00 vipkeeper[5]: (VI_1) Entering MASTER STATE
    2026-11-30T11:29:00.170+00:00 vipkeeper[5]: (VI_1) witness key /vipkeeper/instance/VI_1 is held by a - waiting
    2026-11-30T11:29:30.001+00:00 vipkeeper[5]: (VI_1) Master received advert from 192.0.2.1 with higher priority 200, ours 100
    2026-11-30T11:29:30.001+00:00 vipkeeper[5]: (VI_1) Entering BACKUP STATE
    """


def test_a_master_kept_off_the_vip_by_the_witness_is_not_split_brain():
    report = diagnose(lines(WITNESS_A, "a.log") + lines(WITNESS_B, "b.log"))
    assert "VK501" not in rules(report)
    waiting = [f for f in report.findings if f.rule == "VK520"]
    assert len(waiting) == 1 and "(VI_1) on b" in waiting[0].message
    assert any(e.kind == "witness_acquired" and e.line.node == "a" for e in report.timeline)
    # the same two MASTER periods without the witness lines are a split brain
    plain = [l for l in lines(WITNESS_A, "a.log") + lines(WITNESS_B, "b.log") if "witness" not in l.message]
    assert "VK501" in rules(diagnose(plain))


def test_witness_lost_degraded_and_fault_are_findings():
    report = diagnose(lines("""
        2026-11-30T11:30:00.000+00:00 vipkeeper[4]: (VI_1) witness key /vipkeeper/instance/VI_1 not held - VIPs removed
        2026-11-30T11:30:00.001+00:00 vipkeeper[4]: (VI_1) witness closed unreachable - FAULT (policy fail_closed)
        2026-11-30T11:30:00.002+00:00 vipkeeper[4]: (VI_2) witness open unreachable - DEGRADED: plain VRRP (policy fail_open)
        """, "a.log"))
    found = {(f.rule, f.severity) for f in report.findings}
    assert {("VK521", "warning"), ("VK522", "error"), ("VK522", "warning")} <= found
