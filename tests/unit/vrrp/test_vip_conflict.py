"""The Master's VIP conflict detection core on a fake clock."""

from __future__ import annotations

import ipaddress
import time

from vipkeeper.vrrp.vip_conflict import ConflictCore, ConflictEnded, ConflictStarted

VIP = ipaddress.ip_address("192.0.2.50")
VIP6 = ipaddress.ip_address("2001:db8::50")
OTHER = "02:00:00:00:00:0b"


def run_until(core, start, end, step=0.01):
    """Tick the core as the shell's timer would; returns (time, probes, ended) for each tick with output."""
    out = []
    for i in range(round((end - start) / step) + 1):
        t = round(start + i * step, 6)
        probes, ended = core.tick(t)
        if probes or ended:
            out.append((round(t, 3), probes, ended))
    return out


def test_first_round_after_settle_then_every_interval():
    core = ConflictCore(interval=2.0, settle=0.25)
    core.became_master("VI_1", (VIP, VIP6), 10.0)
    assert core.next_deadline() == 10.25
    rounds = run_until(core, 10.0, 14.5)
    assert [t for t, _, _ in rounds] == [10.25, 12.25, 14.25]
    assert rounds[0][1] == [VIP, VIP6]


def test_conflict_confirmed_by_a_probe_answer_and_named_with_the_peer():
    core = ConflictCore(interval=2.0)
    core.advert_seen(OTHER, "192.0.2.2", 51, 100)
    core.became_master("VI_1", (VIP,), 0.0)
    core.tick(0.25)
    (started,) = core.claim(0.251, VIP, OTHER, answer=True)
    assert started == ConflictStarted("VI_1", VIP, OTHER, "192.0.2.2 (VRID 51, priority 100)")
    assert core.claim(0.26, VIP, OTHER, answer=True) == []  # one event per conflict
    assert [c.mac for _, c in core.conflicts("VI_1")] == [OTHER]
    assert core.conflicts_seen == 1


def test_unsolicited_claims_only_bring_the_check_forward():
    core = ConflictCore(interval=10.0, settle=0.25)
    core.became_master("VI_1", (VIP,), 0.0)
    core.tick(0.25)
    assert core.next_deadline() == 10.25
    assert core.claim(3.0, VIP, OTHER, answer=False) == []  # a GARP: suspicion, no conflict
    assert core.next_deadline() == 3.0
    probes, _ = core.tick(3.0)
    assert probes == [VIP]


def test_preemption_race_is_not_a_conflict():
    """The new Master's GARP arrives before its advert has made us step down: no report."""
    core = ConflictCore()
    core.became_master("VI_1", (VIP,), 0.0)
    core.tick(0.25)
    assert core.claim(5.000, VIP, OTHER, answer=False) == []
    assert core.left_master("VI_1", 5.002) == []
    assert core.tick(5.01) == ([], [])


def test_answers_before_settle_do_not_count_and_na_is_an_answer_only_right_after_a_probe():
    core = ConflictCore(reply_wait=0.1)
    core.became_master("VI_1", (VIP6,), 0.0)
    assert core.claim(0.1, VIP6, OTHER, answer=True) == []  # no probe of ours yet
    core.tick(0.25)
    assert core.claim(0.5, VIP6, OTHER, answer=None) == []  # NA long after the probe: unsolicited
    core.tick(0.5)
    assert len(core.claim(0.55, VIP6, OTHER, answer=None)) == 1  # NA right after our probe


def test_conflict_ends_when_a_later_probe_goes_unanswered_and_asks_for_reannouncement():
    core = ConflictCore(interval=10.0, recheck=0.2, reply_wait=0.1)
    core.became_master("VI_1", (VIP,), 0.0)
    core.tick(0.25)
    core.claim(0.252, VIP, OTHER, answer=True)
    # While the other keeps answering, rechecks every 0.2 s keep the conflict.
    t = 0.26
    ended = []
    while t < 1.5:
        probes, e = core.tick(t)
        ended += e
        if probes:
            core.claim(t + 0.001, VIP, OTHER, answer=True)
        t = round(t + 0.01, 3)
    assert ended == [] and core.conflicts("VI_1")
    # It stops answering: the end is seen within recheck + reply_wait.
    rounds = run_until(core, 1.5, 2.0)
    ends = [(t, e) for t, _, e in rounds if e]
    assert len(ends) == 1
    t_end, (ev,) = ends[0]
    assert isinstance(ev, ConflictEnded) and ev.reannounce and ev.mac == OTHER
    assert t_end <= 1.5 + 0.2 + 0.1 + 0.011
    assert core.next_deadline() >= t_end + 9.0  # back to the normal interval


def test_leaving_master_ends_conflicts_without_reannouncement():
    core = ConflictCore()
    core.became_master("VI_1", (VIP,), 0.0)
    core.tick(0.25)
    core.claim(0.26, VIP, OTHER, answer=True)
    (ev,) = core.left_master("VI_1", 1.0)
    assert ev.reannounce is False and core.next_deadline() is None
    assert core.claim(1.1, VIP, OTHER, answer=True) == []


def test_rate_limit_spreads_a_large_round():
    core = ConflictCore(interval=10.0, max_rate=100.0)
    vips = tuple(ipaddress.ip_address(f"198.51.100.{i}") for i in range(1, 251))
    core.became_master("VI_1", vips, 0.0)
    sent = [len(p) for _, p, _ in run_until(core, 0.25, 3.0, step=0.5)]
    assert sent[0] == 100 and sum(sent) == 250 and max(sent) <= 100


def test_cost_of_a_round_at_1000_vips():
    """Measured, not just bounded: a round (probes chosen) plus one answer per VIP for 1,000 VIPs."""
    core = ConflictCore(interval=10.0, max_rate=1e9)
    vips = tuple(ipaddress.ip_address(f"10.{i // 250}.{i % 250}.1") for i in range(1000))
    core.became_master("VI_1", vips, 0.0)
    t0 = time.perf_counter()
    probes, _ = core.tick(0.25)
    for vip in probes:
        core.claim(0.26, vip, "02:00:00:00:00:01", answer=False)
    elapsed = time.perf_counter() - t0
    print(f"conflict core: 1000 VIPs, one round + 1000 claims: {elapsed * 1e3:.2f} ms")
    assert len(probes) == 1000 and elapsed < 0.5


def test_reconfigured_master_checks_its_new_vip_set_only():
    core = ConflictCore()
    core.became_master("VI_1", (VIP, VIP6), 0.0)
    core.tick(0.25)
    core.became_master("VI_1", (VIP,), 1.0)  # a reload removed the IPv6 VIP
    assert core.claim(1.3, VIP6, OTHER, answer=True) == []
    probes, _ = core.tick(1.25)
    assert probes == [VIP]


class _WalkEveryone(ConflictCore):
    """The core as it was before the round heap: every tick walks every Master and VIP. The
    reference the heap must agree with, event for event."""

    def tick(self, now):  # type: ignore[no-untyped-def]
        ended = []
        for vip, state in self.vips.items():
            if not state.conflicts or state.last_probe is None or now < state.last_probe + self.reply_wait:
                continue
            for mac in [m for m in state.conflicts if state.answers.get(m, 0.0) < state.last_probe]:
                c = state.conflicts.pop(mac)
                ended.append(ConflictEnded(state.owner, vip, mac, now - c.since, True))
        for name, m in self.masters.items():
            if now >= m.next_round:
                busy = any(self.vips[v].conflicts for v in m.vips if v in self.vips)
                m.next_round = now + (self.recheck if busy else self.interval)
                for vip in m.vips:
                    if vip not in self._queued and self.vips.get(vip) is not None and self.vips[vip].owner == name:
                        self._queue.append(vip)
                        self._queued.add(vip)
        return self._take(now), ended

    def next_deadline(self):  # type: ignore[no-untyped-def]
        times = [m.next_round for m in self.masters.values()]
        for state in self.vips.values():
            if state.conflicts and state.last_probe is not None:
                times.append(state.last_probe + self.reply_wait)
        if self._queue:
            times.append((self._tokens_at or 0.0) + 1.0 / self.max_rate)
        return min(times) if times else None


def test_the_round_heap_sends_what_walking_every_master_sent():
    """300 Masters coming and going, suspicions, answers and a conflict that ends: the heap core
    gives the same deadlines, probes and ended conflicts as the walk over everyone."""
    import random

    rnd = random.Random(18)
    cores = (ConflictCore(interval=2.0, max_rate=200.0), _WalkEveryone(interval=2.0, max_rate=200.0))
    vip = [ipaddress.ip_address(f"198.51.100.{i % 250 + 1}") if i < 250 else ipaddress.ip_address(f"2001:db8::{i:x}")
           for i in range(300)]
    now = 0.0
    seen: list[list[object]] = [[], []]
    rnd_answer: bool | None = True
    for step in range(3000):
        action = rnd.random()
        k = rnd.randrange(300)
        for core, out in zip(cores, seen):
            if action < 0.02:
                core.became_master(f"VI_{k}", (vip[k],), now)
            elif action < 0.03:
                out.append(("left", core.left_master(f"VI_{k}", now)))
            elif action < 0.15:
                out.append(("claim", core.claim(now, vip[k], f"02:00:00:00:00:{k % 7:02x}", rnd_answer)))
            deadline = core.next_deadline()
            out.append(("deadline", deadline))
        rnd_answer = [True, True, None, False][step % 4]
        deadlines = {seen[0][-1], seen[1][-1]}
        assert len(deadlines) == 1, (step, deadlines)
        (d,) = deadlines
        now = max(now, d[1]) if d[1] is not None else now + 0.05
        for core, out in zip(cores, seen):
            out.append(("tick", now, core.tick(now)))
        now += rnd.choice((0.0, 0.001, 0.03))
    assert seen[0] == seen[1]
    assert cores[0].probes_sent == cores[1].probes_sent > 300
    ended = [e for entry in seen[0] if entry[0] == "tick" for e in entry[2][1]]
    assert cores[0].conflicts_seen > 5 and len(ended) > 5, (cores[0].conflicts_seen, len(ended))


def test_a_tick_with_slack_starts_rounds_due_within_it_and_the_next_an_interval_after():
    core = ConflictCore(interval=2.0, settle=0.25)
    core.became_master("VI_1", (VIP,), 10.0)
    core.became_master("VI_2", (VIP6,), 10.03)
    assert core.next_round() == 10.25
    probes, _ = core.tick(10.25, early=0.05)  # VI_2's round (10.28) rides on VI_1's
    assert probes == [VIP, VIP6]
    assert core.next_round() == 12.25
    assert core.tick(12.19, early=0.05) == ([], [])  # not within the slack yet
    assert core.tick(12.2, early=0.05)[0] == [VIP, VIP6]
    assert core.next_round() == 14.2
