"""The long fault campaign: seeded schedules against vipkeeper and keepalived 2.2.7, one at a time.

Each seed is played against vipkeeper, then keepalived, and each run appends one JSON line to the
results file, so the campaign can be stopped at any moment and resumed (runs already in the file
are skipped). Logs of runs with violations are kept under RESULTS_DIR/logs/DAEMON-SEED/.

    python bench/campaign/run.py --schedules 200 [--results DIR] [--first-seed 1]   # run/resume
    python bench/campaign/run.py --table                                            # print the table
    python bench/campaign/run.py --replay SEED --daemon vipkeeper -v                # one schedule
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from vipkeeper.lab import campaign
from vipkeeper.lab.topology import LabError

DEFAULT_RESULTS = Path("/var/tmp/vipkeeper-campaign")


def play(seed: int, daemon: str, results: Path, verbose: bool = False) -> dict:
    schedule = campaign.make_schedule(seed)
    logs = results / "logs" / f"{daemon}-{seed}"
    rec = campaign.run_schedule(schedule, daemon, keep_dir=logs, verbose=verbose)
    violations = campaign.judge(rec)
    summary = campaign.record_summary(rec, violations)
    if not violations:
        shutil.rmtree(logs, ignore_errors=True)
    else:
        (logs / "record.json").write_text(json.dumps({
            "schedule": [f.__dict__ for f in schedule.faults], "events": rec.events,
            "bursts": rec.bursts, "health": rec.health, "frames": rec.frame_log,
            "samples": rec.samples}, default=str))
    with open(results / "results.jsonl", "a") as f:
        f.write(json.dumps(summary) + "\n")
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    ap.add_argument("--schedules", type=int, default=200, help="seeds to play (each against both daemons)")
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--daemon", choices=("vipkeeper", "keepalived", "both"), default="both")
    ap.add_argument("--replay", type=int, metavar="SEED", help="play one seed and print its violations")
    ap.add_argument("--table", action="store_true", help="print the table of the results so far")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the schedule in progress tears its namespaces down.
    # (SIGINT too: a shell's background job starts with SIGINT ignored.) pyroute2 forks helper
    # processes that get this handler too: there SIGTERM keeps its default meaning.
    main_pid = os.getpid()

    def on_term(*_: object) -> None:
        if os.getpid() != main_pid:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args.results.mkdir(parents=True, exist_ok=True)
    daemons = ("vipkeeper", "keepalived") if args.daemon == "both" else (args.daemon,)
    if args.table:
        print(campaign.table(campaign.load_results(args.results / "results.jsonl")))
        return 0
    if args.replay is not None:
        schedule = campaign.make_schedule(args.replay)
        print(f"seed {args.replay}: {schedule.duration:g}s, advert_int {schedule.advert_int}")
        for fault in schedule.faults:
            print(f"  {fault}")
        for d in daemons:
            rec = campaign.run_schedule(schedule, d, verbose=args.verbose)
            for v in campaign.judge(rec):
                print(f"  {d}: {v.kind} at {v.at}s: {v.detail}")
        return 0
    done = {(r["daemon"], r["seed"]) for r in campaign.load_results(args.results / "results.jsonl")}
    for seed in range(args.first_seed, args.first_seed + args.schedules):
        for d in daemons:
            if (d, seed) in done:
                continue
            started = time.monotonic()
            for attempt in range(3):
                try:
                    summary = play(seed, d, args.results, args.verbose)
                    break
                except LabError as exc:  # building the LAN failed: not a verdict
                    print(f"seed {seed} {d}: lab setup failed ({exc}); retry {attempt + 1}", flush=True)
                    time.sleep(2)
            else:
                continue
            kinds = [v["kind"] for v in summary["violations"]]
            print(f"seed {seed} {d}: {summary['duration']:g}s, {summary['faults']} faults, "
                  f"{len(kinds)} violations {sorted(set(kinds))} ({time.monotonic() - started:.0f}s wall)", flush=True)
    print(campaign.table(campaign.load_results(args.results / "results.jsonl")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
