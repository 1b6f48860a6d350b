"""Figures 8 and 9: what a client of the SMTP relay sees -- mail through the VIP.

Figure 8 (`client`): failovers seen by the client. Three relay pairs (bench/relay.py) run side by
side, one per daemon: vipkeeper with `fast_handover`, vipkeeper RFC-exact and keepalived 2.2.7,
all on the configuration `vipkeeper lint` proposes for the seed (tests/data/seed/
smtp-relay-node1.conf / -node2.conf: haproxy and postfix `master` tracked by vrrp_track_process
with `delay 1`, no pidof script). Each pair works through the failures in the same order in its
own thread, so the three see the same machine load. One run:
1. the client (bench/smtp_client.py, in the client namespace) starts sessions to the VIP at
   RATE per second whatever happens to earlier ones (many independent clients: a session that
   hangs does not hold the next one back), at most CONCURRENCY (64) at once; the harness waits for 5 good sessions and a
   random part of a second (the failure lands at a random phase of the advert timer);
2. the failure is injected on the Master (a) at t0 (relay.FAILURES);
3. the window closes once the VIP is on b (netlink) and 5 sessions started after that have
   succeeded, or 12 s after t0; for a reload (no failover expected), 5 s after t0 (if the VIP
   moved anyway, as for a failover). Then the client stops (sessions in flight end) and a is
   restored and waits until it is the sole holder again -- that failback is not measured.
Per run: failed sessions by kind (refused / reset / timeout / rejected / error); good sessions
that took over 1 s (slow: a connect that waited for a retransmitted SYN); the outage: from the
end of the last good session before the first failed one started, to the end of the first good
session started after the last failed one (0 when no session failed; resolution about 1/RATE);
accepted ids (250 to the final dot). After all runs the queues are drained (bounded) and both
nodes' maildirs read: an accepted id found nowhere is *lost* (one still in a queue is counted as
queued, not lost), an id found twice is a *duplicate*, and a failed session whose message was
delivered anyway is *delivered unconfirmed* (a client that retries it makes a duplicate).

Figure 9 (`seed`): the original failure. Four pairs (by default) run at once under sustained mail load for
DURATION: keepalived and vipkeeper (RFC-exact) with the seed configuration (tests/data/seed/
smtp-relay-antipattern.conf: a `vrrp_script` judging pidof's *output* beside vrrp_track_process
for the same processes, no delay; vipkeeper runs the admin's racy script as is, only the process
names are the node's), and both with the fixed configuration. Postfix runs with `max_use 1`, so
every session forks a new smtpd and cleanup (and postfix's master forks them under its own name
before they exec): the fork/exit churn the pidof script races with. Counted: state transitions
(daemon log lines `Entering ... STATE` after the pair settled), VIP moves (netlink), failed
script runs and tracker quorum losses (log lines), client sessions failed, lost, duplicated.
No failure is injected: every transition is spurious. Optional pairs that are not the seed (W60_VARIANTS,
QMAX1_VARIANTS: one line changed, see relay.relay_config) and a crowd of idle processes (bench/crowd.py, a
bigger /proc for every pidof walk) show what the race needs; bench/README.md says why.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import sys
import threading
import time
from collections import Counter

from bench.crowd import Crowd, count_processes
from bench.relay import FAILURE_TEXT, FAILURES, QUEUES, VARIANTS, RelayPair, Session
from bench.report import Table

RESULTS_KINDS = ("refused", "reset", "timeout", "rejected", "error")


def outage(sessions: list[Session], t0: float) -> float:
    """ms from the end of the last good session that ended before the first failed one started, to
    the end of the first good session started after the last failed one started; 0 when no
    session failed. Failed sessions count from their start: one that hangs until the client's
    timeout says when the client tried, not how long the relay was away; a good session that
    was slow to connect (SYN retransmitted while nobody answered for the VIP) counts at its end."""
    failed = [s for s in sessions if not s.ok and s.t1 >= t0]
    if not failed:
        return 0.0
    first_fail = min(s.t0 for s in failed)
    last_fail = max(s.t0 for s in failed)
    before = [s.t1 for s in sessions if s.ok and s.t1 <= first_fail]
    after = [s.t1 for s in sessions if s.ok and s.t0 >= last_fail]
    start = max(before) if before else min(s.t0 for s in sessions)
    end = min(after) if after else max(s.t1 for s in sessions)
    return max(0.0, end - start) * 1000


def queued_ids(pair: RelayPair) -> set[str]:
    """Ids of messages still in a queue file on either node."""
    found: set[str] = set()
    for rn in pair.nodes.values():
        spool = rn.lab.workdir / "postfix" / "spool"
        for q in QUEUES:
            for path in (spool / q).rglob("*"):
                if path.is_file():
                    try:
                        data = path.read_bytes()
                    except OSError:
                        continue
                    found.update(m.decode() for m in re.findall(rb"X-Bench-Id: (\S+)", data))
    return found


def mail_fate(pair: RelayPair, runs: list[dict], drain_timeout: float) -> None:
    """Fill each run's lost / dup / queued / unconfirmed_delivered from the maildirs."""
    left = pair.drain(drain_timeout)
    delivered = pair.delivered()
    queued = queued_ids(pair) if left else set()
    for run in runs:
        run["lost"] = sorted(i for i in run["accepted_ids"] if i not in delivered and i not in queued)
        run["queued"] = sorted(i for i in run["accepted_ids"] if i not in delivered and i in queued)
        run["dup"] = sorted(i for i in run["all_ids"] if len(delivered.get(i, ())) > 1)
        run["unconfirmed_delivered"] = sorted(i for i in run["failed_ids"] if i in delivered)


class ClientTable(Table):
    """One line per (failure, daemon): sessions, failures by kind, outage quantiles, mail fate."""

    def render(self) -> str:
        head = (f"{'failure':<10} {'daemon':<15} {'runs':>4} {'sess':>6} {'failed':>6} {'f/run':>9} "
                f"{'slow':>5} {'refused':>7} {'reset':>6} {'tmout':>6} {'other':>6} {'outage ms: min':>14} {'med':>7} {'p90':>7} "
                f"{'max':>7} {'VIP@b med':>9} {'accept':>6} {'lost':>4} {'dup':>4} {'queued':>6} {'unconf':>6}")
        lines = [f"== {self.figure}: {self.title}", head, "-" * len(head)]
        for e in self.rows:
            k = e["kinds"]
            per = e["failed_per_run"]
            f_run = f"{statistics.median(per):.0f}/{max(per)}" if per else "-"
            vals = " ".join(f"{e[c]:7.0f}" if c in e else f"{'-':>7}" for c in ("median", "p90", "max"))
            moved = [m for m in e.get("vip_moved_ms", []) if m is not None]
            vals += f" {statistics.median(moved):9.0f}" if moved else f" {'-':>9}"
            lines.append(
                f"{e['row']:<10} {e['impl']:<15} {len(per):>4} {e['sessions']:>6} {e['failed']:>6} {f_run:>9} {e['slow']:>5} "
                f"{k.get('refused', 0):>7} {k.get('reset', 0):>6} {k.get('timeout', 0):>6} "
                f"{k.get('rejected', 0) + k.get('error', 0):>6} {e.get('min', float('nan')):14.0f} {vals} "
                f"{e['accepted']:>6} {e['lost']:>4} {e['dup']:>4} {e['queued']:>6} {e['unconfirmed_delivered']:>6}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def run_pair(pair: RelayPair, failures: list[str], runs: int, rate: float, concurrency: int,
             out: list[dict], log) -> None:  # type: ignore[no-untyped-def]
    if not pair.steady(20):
        log(f"  warning: {pair.label} never reached a steady state (a sole holder)")
    for how in failures:
        for n in range(runs):
            prefix = f"{pair.label.replace(' ', '')}-{how}-{n}"
            load = pair.load(prefix, rate, concurrency, duration=60)
            try:
                started = time.time()
                if not load.wait_ok(5, started, 15):
                    log(f"  warning: {pair.label} {how} run {n}: no 5 good sessions before the failure")
                time.sleep(random.uniform(0, 1.0))
                t0 = pair.inject(how)
                moved = None
                if how == "reload":
                    time.sleep(max(0.0, t0 + 5.0 - time.time()))
                    moved = pair.vip_moved(t0)
                else:
                    moved = pair.nodes["b"].watch.wait(lambda t0=t0: pair.vip_moved(t0), 10.0) or None
                if moved is not None:
                    load.wait_ok(5, moved, max(0.5, t0 + 12.0 - time.time()))
            finally:
                sessions = load.stop()
            failed = [s for s in sessions if not s.ok]
            out.append({
                "failure": how, "run": n, "t0": t0, "vip_moved_ms": None if moved is None else (moved - t0) * 1000,
                "sessions": len(sessions), "failed": len(failed), "kinds": dict(Counter(s.result for s in failed)),
                "slow": sum(1 for s in sessions if s.ok and s.t1 - s.t0 > 1.0),
                "outage_ms": outage(sessions, t0),
                "accepted_ids": [s.id for s in sessions if s.ok], "failed_ids": [s.id for s in failed],
                "all_ids": [s.id for s in sessions],
                "failed_stages": dict(Counter(f"{s.result}@{s.stage}" for s in failed)),
            })
            pair.restore(how)
            if not pair.steady(20):
                log(f"  warning: {pair.label} not steady after {how} run {n} (holders {pair.holders()})")
            print(".", end="", file=sys.stderr, flush=True)


def figure8(runs: int, workdir: str, rate: float = 20.0, concurrency: int = 64,
            failures: list[str] | None = None, log=None) -> ClientTable:  # type: ignore[no-untyped-def]
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    failures = failures or FAILURES
    table = ClientTable("fig8-client-failover", "what a client of the SMTP relay sees when the Master fails", "sessions / ms")
    pairs: list[tuple[str, RelayPair]] = []
    results: dict[str, list[dict]] = {}
    errors: list[str] = []
    started = time.time()
    try:
        for label, impl, fast in VARIANTS:
            pairs.append((label, RelayPair(impl, fast, workdir, label.replace(" ", "-"))))
            results[label] = []
        threads = []
        for label, pair in pairs:
            def body(label: str = label, pair: RelayPair = pair) -> None:
                try:
                    run_pair(pair, failures, runs, rate, concurrency, results[label], log)
                    mail_fate(pair, results[label], 60.0)
                except Exception as exc:  # noqa: BLE001 -- reported in the table, the other pairs go on
                    errors.append(f"{label}: {type(exc).__name__}: {exc}")
            t = threading.Thread(target=body, name=f"fig8-{label}")
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        print(file=sys.stderr)
    finally:
        for _, pair in pairs:
            pair.close()
    for how in failures:
        for label, _, _ in VARIANTS:
            rows = [r for r in results[label] if r["failure"] == how]
            kinds: Counter = Counter()
            for r in rows:
                kinds.update(r["kinds"])
            entry = table.add(how, label, [r["outage_ms"] for r in rows])
            entry.update(
                sessions=sum(r["sessions"] for r in rows), failed=sum(r["failed"] for r in rows),
                slow=sum(r["slow"] for r in rows),
                failed_per_run=[r["failed"] for r in rows], kinds=dict(kinds),
                accepted=sum(len(r["accepted_ids"]) for r in rows),
                lost=sum(len(r.get("lost", ())) for r in rows), dup=sum(len(r.get("dup", ())) for r in rows),
                queued=sum(len(r.get("queued", ())) for r in rows),
                unconfirmed_delivered=sum(len(r.get("unconfirmed_delivered", ())) for r in rows),
                vip_moved_ms=[r["vip_moved_ms"] for r in rows],
                failed_stages=dict(sum((Counter(r["failed_stages"]) for r in rows), Counter())),
                lost_ids=[i for r in rows for i in r.get("lost", ())], dup_ids=[i for r in rows for i in r.get("dup", ())],
            )
    table.notes.append("failures: " + "; ".join(f"{k} = {v}" for k, v in FAILURE_TEXT.items() if k in failures))
    table.notes.append(f"client: {rate:g} sessions/s, at most {concurrency} at once, connect timeout 2 s, reply timeout 5 s; "
                       "configuration: tests/data/seed/smtp-relay-node1/2.conf (track_process with delay 1), vipkeeper fast adds fast_handover")
    table.notes.append("failed = sessions refused/reset/timed out/rejected; f/run = median/max per run; slow = good sessions that took over 1 s; outage = end of the last good "
                       "session before the first failed one started -> end of the first good one started after the last (0: none failed); lost = accepted (250 to the dot) "
                       "but in no maildir and no queue; dup = delivered twice; queued = still queued after a 60 s drain; "
                       "unconf = failed sessions whose message was delivered anyway; VIP@b = median ms from the failure to the VIP on b (netlink; - : it never moved)")
    table.notes.append(f"wall time {time.time() - started:.0f} s; the failback to a (preemption after the restore) is not measured")
    for err in errors:
        table.notes.append(f"error: {err}")
    return table


# -- figure 9: the original failure -------------------------------------------------------

SEED_VARIANTS = [("keepalived seed", "keepalived", "seed"), ("vipkeeper seed", "vipkeeper", "seed"),
                 ("keepalived fixed", "keepalived", "fixed"), ("vipkeeper fixed", "vipkeeper", "fixed")]
# Not the seed: its script with a weight that can move the VIP (relay.relay_config); --variants w60
W60_VARIANTS = [("keepalived seed-w60", "keepalived", "seed-w60"), ("vipkeeper seed-w60", "vipkeeper", "seed-w60")]
# Not the seed either: quorum_max 1 on the postfix master tracker (relay.relay_config); --variants qmax1
QMAX1_VARIANTS = [("keepalived seed-qmax1", "keepalived", "seed-qmax1"), ("vipkeeper seed-qmax1", "vipkeeper", "seed-qmax1")]
STATE_LINE = re.compile(r"\(VI_SMTP\) Entering (\w+) STATE")
# a script that starts failing: keepalived logs `VRRP_Script(chk_services) failed (exited with status 1)` or
# `... timed_out` (killed at the timeout, which defaults to the interval); vipkeeper `... failed (...)`
SCRIPT_FAIL = re.compile(r"chk_services.*(failed|timed_out|timed out|now returning [1-9])|(failed|returning [1-9]).*chk_services",
                         re.IGNORECASE)
SCRIPT_TIMEOUT = re.compile(r"chk_services.*(timed_out|timed out)", re.IGNORECASE)
QUORUM_LOST = re.compile(r"Quorum lost", re.IGNORECASE)


class SeedTable(Table):
    def render(self) -> str:
        head = (f"{'daemon + configuration':<22} {'minutes':>7} {'sess/s':>6} {'sessions':>8} {'failed':>6} {'transitions':>11} "
                f"{'/hour':>6} {'VIP moves':>9} {'script fails':>12} {'timeouts':>8} {'quorum lost':>11} {'lost':>4} {'dup':>4}")
        lines = [f"== {self.figure}: {self.title}", head, "-" * len(head)]
        for e in self.rows:
            lines.append(
                f"{e['impl']:<22} {e['minutes']:7.1f} {e['rate']:6.1f} {e['sessions']:>8} {e['failed']:>6} {e['transitions']:>11} "
                f"{e['transitions_per_hour']:6.1f} {e['vip_moves']:>9} {e['script_failures']:>12} {e.get('script_timeouts', 0):>8} "
                f"{e['quorum_lost']:>11} "
                f"{e['lost']:>4} {e['dup']:>4}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def figure9(duration: float, workdir: str, rate: float = 10.0, concurrency: int = 64, log=None,
            variants: list[tuple[str, str, str]] | None = None, crowd: int = 0) -> SeedTable:  # type: ignore[no-untyped-def]
    """`crowd` idle processes (bench/crowd.py) are started before the pairs and kept for the whole
    run: a stress amplifier for the pidof script (every run walks all of /proc, twice)."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    variants = variants or SEED_VARIANTS
    table = SeedTable("fig9-seed-churn", "the original failure: seed configuration under sustained mail load, no failure injected",
                      "per run")
    pairs: list[tuple[str, RelayPair]] = []
    loads = {}
    loadavg: list[float] = []
    nprocs: list[int] = []
    crowd_procs = Crowd(crowd, workdir)
    try:
        for label, impl, config in variants:
            pairs.append((label, RelayPair(impl, False, workdir, label.replace(" ", "-"), config=config, max_use=1)))
        for label, pair in pairs:
            if not pair.steady(20):
                log(f"  warning: {label} never reached a steady state")
        t_start = time.time()
        lines_before = {label: {n: len(pair.daemon_log(n)) for n in pair.nodes} for label, pair in pairs}
        for label, pair in pairs:
            loads[label] = pair.load(f"{label.replace(' ', '')}-seed", rate, concurrency, duration + 5)
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            time.sleep(min(30.0, max(0.0, deadline - time.monotonic())))
            loadavg.append(os.getloadavg()[0])
            nprocs.append(count_processes())
            print(".", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        for label, pair in pairs:
            sessions = loads[label].stop()
            t_end = time.time()
            minutes = (t_end - t_start) / 60
            new_lines = [line for n in pair.nodes for line in pair.daemon_log(n)[lines_before[label][n]:]]
            transitions = [line for line in new_lines if STATE_LINE.search(line)]
            moves = sum(1 for rn in pair.nodes.values() for ev in rn.watch.events
                        if str(ev.address) == "192.0.2.25" and ev.added and ev.time >= t_start)
            run = {"accepted_ids": [s.id for s in sessions if s.ok], "failed_ids": [s.id for s in sessions if not s.ok],
                   "all_ids": [s.id for s in sessions]}
            mail_fate(pair, [run], 60.0)
            failed = [s for s in sessions if not s.ok]
            table.rows.append({
                "row": "seed", "impl": label, "minutes": minutes, "rate": len(sessions) / (minutes * 60),
                "sessions": len(sessions), "failed": len(failed), "kinds": dict(Counter(s.result for s in failed)),
                "transitions": len(transitions), "transitions_per_hour": len(transitions) / (minutes / 60),
                "vip_moves": moves, "script_failures": sum(1 for line in new_lines if SCRIPT_FAIL.search(line)),
                "script_timeouts": sum(1 for line in new_lines if SCRIPT_TIMEOUT.search(line)),
                "quorum_lost": sum(1 for line in new_lines if QUORUM_LOST.search(line)),
                "lost": len(run["lost"]), "dup": len(run["dup"]), "queued": len(run["queued"]),
                "transition_lines": transitions[:50],
                "script_lines": [line for line in new_lines if SCRIPT_FAIL.search(line)][:50],
            })
    finally:
        for _, pair in pairs:
            pair.close()
        crowd_procs.close()
    table.notes.append("seed = tests/data/seed/smtp-relay-antipattern.conf + check_services.sh (pidof output parsed, track_process "
                       "without delay; node b: priority 100, BACKUP); fixed = smtp-relay-node1/2.conf (what vipkeeper lint proposes); "
                       "vipkeeper runs the seed's racy script as is (process names replaced by the node's)")
    if any(config == "seed-w60" for _, _, config in variants):
        table.notes.append("seed-w60 = NOT the seed: the seed with weight -60 instead of -20 (150 - 60 < 100), so a failed or "
                           "timed-out script run on a moves the VIP; the seed's own weight cannot (150 - 20 = 130 > 100)")
    table.notes.append(f"load: {rate:g} sessions/s per pair ({len(variants)} pairs at once), postfix max_use 1: every session forks and reaps "
                       "an smtpd and a cleanup; transitions = `Entering ... STATE` lines on both nodes after settling; "
                       "script fails = log lines of a script that starts failing (not every failed run); timeouts = those that were killed at "
                       "the 1 s timeout (= interval)")
    if any(config == "seed-qmax1" for _, _, config in variants):
        table.notes.append("seed-qmax1 = NOT the seed: the seed with quorum_max 1 on the postfix master tracker; postfix's master forks "
                           "each child under its own name before the exec, so the count briefly exceeds quorum_max")
    if loadavg:
        table.notes.append(f"machine: {os.cpu_count()} cores, load average (1 min) mean {statistics.mean(loadavg):.1f} max {max(loadavg):.1f}; "
                           f"processes in /proc mean {statistics.mean(nprocs):.0f} (crowd of {crowd} idle processes: "
                           f"{'a stress amplifier' if crowd else 'none'})")
    return table

