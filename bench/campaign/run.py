"""The long fault campaign: seeded schedules against vipkeeper and keepalived 2.2.7.

Each seed is played against vipkeeper and keepalived, and each run appends one JSON line to the
results file, so the campaign can be stopped at any moment and resumed (runs already in the file
are skipped). Logs of runs with violations are kept under RESULTS_DIR/logs/DAEMON-SEED/.

    python bench/campaign/run.py --schedules 200 [--results DIR] [--first-seed 1]   # run/resume
    python bench/campaign/run.py --schedules 200 --jobs 2                           # 2 at a time
    python bench/campaign/run.py --table                                            # print the table
    python bench/campaign/run.py --summary                                          # a row per mode (Markdown)
    python bench/campaign/run.py --replay SEED --daemon vipkeeper -v                # one schedule
    python bench/campaign/run.py --witness --schedules 50                          # witness mode

Witness mode (--witness) plays the witness schedules (three etcd members on the LAN; faults
`vrrp_split`, the routers cannot hear each other, and `etcd_cut` besides the others) against
keepalived, plain vipkeeper and vipkeeper with the quorum witness, into results-witness.jsonl,
and judges `dual_holder`: the VIP on two live nodes at any 10 ms sample.

With --jobs N, N worker processes run at once, each playing one (seed, daemon) pair in its own
process (own child-subreaper flag, own signal handling, own namespaces) and appending its line
with one O_APPEND write. SIGTERM or Ctrl-C to the driver reaches every worker; each tears its
schedule down, and the driver waits for them (a worker still running after WORKER_GRACE is
SIGKILLed; what it leaves is removed by the next run's stale-runner cleanup).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python bench/campaign/run.py): the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.campaign import campaign  # noqa: E402
from vipkeeper.lab.topology import LabError  # noqa: E402

DEFAULT_RESULTS = Path("/var/tmp/vipkeeper-campaign")
WORKER_GRACE = 30.0  # seconds a stopped worker gets to tear its schedule down


def append_line(path: Path, summary: dict) -> None:
    """One write() with O_APPEND: parallel workers' lines never interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(summary) + "\n").encode())
    finally:
        os.close(fd)


def results_file(results: Path, witness: bool) -> Path:
    return results / ("results-witness.jsonl" if witness else "results.jsonl")


def play(seed: int, daemon: str, results: Path, verbose: bool = False, witness: bool = False,
         mode: str = "lan4") -> dict:
    schedule = campaign.make_schedule(seed, witness=witness, mode=mode)
    logs = results / "logs" / (f"{daemon}-{seed}" if mode == "lan4" else f"{mode}-{daemon}-{seed}")
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
    append_line(results_file(results, witness), summary)
    return summary


def play_and_report(seed: int, daemon: str, results: Path, verbose: bool, witness: bool = False,
                    mode: str = "lan4") -> bool:
    """play() with retries of a failed lab build; prints one line. False if it never ran."""
    started = time.monotonic()
    for attempt in range(3):
        try:
            summary = play(seed, daemon, results, verbose, witness, mode)
            break
        except LabError as exc:  # building the LAN failed: not a verdict
            print(f"{mode} seed {seed} {daemon}: lab setup failed ({exc}); retry {attempt + 1}", flush=True)
            time.sleep(2)
    else:
        return False
    kinds = [v["kind"] for v in summary["violations"]]
    print(f"{mode} seed {seed} {daemon}: {summary['duration']:g}s, {summary['faults']} faults, "
          f"{len(kinds)} violations {sorted(set(kinds))} ({time.monotonic() - started:.0f}s wall)", flush=True)
    return True


def run_parallel(pairs: list[tuple[str, int, str]], jobs: int, results: Path, verbose: bool,
                 witness: bool = False) -> None:
    """Keep `jobs` worker processes busy, one (seed, daemon) pair each, until all are played.

    An exception here (SIGTERM's SystemExit, Ctrl-C's KeyboardInterrupt) stops the workers: each
    gets SIGTERM (a Ctrl-C at the terminal reached them already; they ignore a second signal
    while they tear down) and the driver waits for them."""
    todo = list(pairs)
    running: dict[int, tuple[subprocess.Popen, int, str]] = {}  # pid -> (worker, seed, "MODE DAEMON")
    try:
        while todo or running:
            while todo and len(running) < jobs:
                mode, seed, daemon = todo.pop(0)
                argv = [sys.executable, os.path.abspath(__file__), "--play", str(seed), "--daemon", daemon,
                        "--mode", mode, "--results", str(results)] + (["-v"] if verbose else []) + (["--witness"] if witness else [])
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
                running[proc.pid] = (proc, seed, f"{mode} {daemon}")
            pid, status = os.wait()  # the driver has no other children
            if pid in running:
                proc, seed, daemon = running.pop(pid)
                proc.returncode = os.waitstatus_to_exitcode(status)
                if proc.returncode != 0:
                    print(f"seed {seed} {daemon}: worker {pid} exited with {proc.returncode}", flush=True)
    finally:
        stop_workers([proc for proc, _s, _d in running.values()])


def stop_workers(procs: list[subprocess.Popen]) -> None:
    # no second signal may cut the driver's own wait short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + WORKER_GRACE
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"worker {proc.pid} did not stop in {WORKER_GRACE:g}s: SIGKILL", flush=True)
            proc.kill()
            proc.wait()



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    ap.add_argument("--schedules", type=int, default=200, help="seeds to play (each against both daemons)")
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--daemon", choices=("vipkeeper", "keepalived", campaign.WITNESS_FLAVOUR, "both"), default="both",
                    help="both: vipkeeper and keepalived (with --witness also vipkeeper+witness)")
    ap.add_argument("--witness", action="store_true", help="witness mode (see above)")
    ap.add_argument("--mode", default="lan4",
                    help=f"comma-separated modes, or all: {', '.join(campaign.MODES)} (default lan4)")
    ap.add_argument("--replay", type=int, metavar="SEED", help="play one seed and print its violations")
    ap.add_argument("--jobs", type=int, default=1, metavar="N", help="schedules played at once, one worker process each")
    ap.add_argument("--play", type=int, metavar="SEED", help=argparse.SUPPRESS)  # a --jobs worker
    ap.add_argument("--table", action="store_true", help="print the table of the results so far")
    ap.add_argument("--summary", action="store_true", help="one Markdown row per mode (the README's table)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    modes = list(campaign.MODES) if args.mode == "all" else [m.strip() for m in args.mode.split(",") if m.strip()]
    unknown = [m for m in modes if m not in campaign.MODES]
    if unknown or not modes:
        ap.error(f"unknown mode(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(campaign.MODES)} or all")
    if (args.play is not None or args.replay is not None) and len(modes) != 1:
        ap.error("--play and --replay take one mode")
    # SIGTERM unwinds like Ctrl-C, so the schedule in progress tears its namespaces down.
    # (SIGINT too: a shell's background job starts with SIGINT ignored.) pyroute2 forks helper
    # processes that get this handler too: there SIGTERM keeps its default meaning.
    main_pid = os.getpid()

    def on_term(*_: object) -> None:
        if os.getpid() != main_pid:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        if args.play is not None:  # a worker: the first signal unwinds, a second must not cut the teardown
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(143)

    def on_int(*_: object) -> None:
        if args.play is not None and os.getpid() == main_pid:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_int)
    args.results.mkdir(parents=True, exist_ok=True)
    both = ("vipkeeper", "keepalived") + ((campaign.WITNESS_FLAVOUR,) if args.witness else ())
    daemons = both if args.daemon == "both" else (args.daemon,)
    results_path = results_file(args.results, args.witness)
    if args.summary:
        print(campaign.summary(campaign.load_results(results_path)))
        return 0
    if args.table:
        print(campaign.tables(campaign.load_results(results_path), both))
        return 0
    if args.play is not None:
        return 0 if play_and_report(args.play, args.daemon, args.results, args.verbose, args.witness, modes[0]) else 1
    for what in campaign.reap_stale():  # what a killed runner left (its PID is dead)
        print(f"removed stale {what}", flush=True)
    if args.replay is not None:
        schedule = campaign.make_schedule(args.replay, witness=args.witness, mode=modes[0])
        print(f"{modes[0]} seed {args.replay}: {schedule.duration:g}s, advert_int {schedule.advert_int}")
        for fault in schedule.faults:
            print(f"  {fault}")
        for d in daemons:
            rec = campaign.run_schedule(schedule, d, verbose=args.verbose)
            found = campaign.judge(rec)
            for v in found:
                print(f"  {d}: {v.kind} at {v.at}s: {v.detail}")
            if not found:
                print(f"  {d}: no violation")
        return 0
    done = {(r.get("mode", "lan4"), r["daemon"], r["seed"]) for r in campaign.load_results(results_path)}
    # seed by seed, each mode and daemon side by side: a run cut short leaves every mode about as far
    pairs = [(m, seed, d) for seed in range(args.first_seed, args.first_seed + args.schedules) for m in modes
             for d in daemons if (m, d, seed) not in done]
    if args.jobs > 1:
        run_parallel(pairs, args.jobs, args.results, args.verbose, args.witness)
    else:
        for m, seed, d in pairs:
            play_and_report(seed, d, args.results, args.verbose, args.witness, m)
    print(campaign.tables(campaign.load_results(results_path), both))
    return 0


if __name__ == "__main__":
    sys.exit(main())
