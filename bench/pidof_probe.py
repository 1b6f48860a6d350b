"""Probe: does Debian's `pidof` ever miss a live process while its parent forks and execs fast?

`python3 -m bench.pidof_probe [--seconds S] [--forks N] [--hold-us U] [--crowd C] [--hogs H]`
(root). Standalone, not part of a figure: it finds quickly whether the seed script's pidof can
print nothing for a process that lives, before an hour of mail load is spent on it.

What runs, all in a fresh PID + mount namespace (`unshare --pid --fork --mount-proc`: its /proc
shows only the probe's processes, and everything in it dies with the probe):
- the target: a C program copied under the tracked name (default `probema`, as postfix's
  `master`), which forks N children per second like postfix's master with `max_use 1`: each child
  keeps the parent's name (comm and argv[0]) for U microseconds, then execs a static no-op copied as
  `probesmtpd` that exits at once; the parent reaps them as they end;
- optionally C idle processes (a crowd: a bigger /proc for every pidof to walk) and H CPU hogs
  (busy loops: the pidof runs compete for the CPU).
Then, for S seconds, back to back: `/bin/pidof NAME` (stdin a pseudo-terminal, so its diagnostics
such as the field report's "can't read from N/stat" go to stderr, where they are counted, instead
of syslog), and every 10th time the seed script's test (`[ -z "$(pidof NAME)" ]` in `sh`) under a
1 s limit, as keepalived runs it (vrrp_script timeout = interval = 1 s).

Counted: pidof runs; runs whose output lacks the target's PID (wrong answers), empty outputs,
non-zero exits; "can't read from" diagnostics (a process vanished mid-walk: harmless, the walk
goes on); durations (p50 / p99 / max); script runs that failed or were cut at 1 s. One JSON line
on stdout, a summary on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import signal
import subprocess
import sys
import tempfile
import time

from bench.crowd import CROWD_C
from bench.native import TRUE_C, compile_c, named_copy

TARGET_C = r"""
#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
/* target RATE HOLD_US EXEC: fork RATE children a second; each keeps our name HOLD_US us, then execs EXEC. */
int main(int argc, char **argv) {
    if (argc != 4) return 2;
    double rate = atof(argv[1]);
    long hold = atol(argv[2]);
    struct timespec next, gap;
    long step = rate > 0 ? (long)(1e9 / rate) : 1000000000L;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {}
        if (rate > 0) {
            pid_t pid = fork();
            if (pid == 0) {
                if (hold > 0) { struct timespec h = {hold / 1000000, (hold % 1000000) * 1000}; nanosleep(&h, NULL); }
                char *av[] = {argv[3], "-n", "smtp", NULL};
                execv(argv[3], av);
                _exit(127);
            }
        }
        next.tv_nsec += step;
        while (next.tv_nsec >= 1000000000L) { next.tv_nsec -= 1000000000L; next.tv_sec++; }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {}
    }
}
"""


HOG_C = r"""
int main(void) { volatile unsigned long x = 0; for (;;) x++; }
"""

SCRIPT = 'if [ -z "$(pidof {name})" ]; then exit 1; fi; exit 0'


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def inner(args: argparse.Namespace) -> int:
    """Runs as PID 1 of the probe's namespace."""
    work = tempfile.mkdtemp(prefix="pidof-probe-")
    started: list[subprocess.Popen] = []
    try:
        target_bin = named_copy(compile_c(work, "target", TARGET_C), work, args.name)
        smtpd = named_copy(compile_c(work, "true_", TRUE_C, static=True), work, "probesmtpd")
        target = subprocess.Popen([target_bin, f"{args.forks:g}", str(args.hold_us), smtpd])
        started.append(target)
        if args.crowd:
            started.append(subprocess.Popen([compile_c(work, "crowd", CROWD_C), str(args.crowd)]))
        for _ in range(args.hogs):
            started.append(subprocess.Popen([compile_c(work, "hog", HOG_C)]))
        time.sleep(1.0 + args.crowd / 2000)  # the crowd forks, the target reaches its rate
        nprocs = sum(1 for d in os.listdir("/proc") if d.isdigit())
        master, slave = pty.openpty()
        os.set_blocking(master, False)
        runs = wrong = empty = nonzero = cant_read = 0
        durations: list[float] = []
        script_runs = script_fail = script_cut = 0
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            done = subprocess.run(["pidof", args.name], stdin=slave, capture_output=True, check=False)
            durations.append(time.monotonic() - t0)
            runs += 1
            pids = done.stdout.split()
            if str(target.pid).encode() not in pids:
                wrong += 1
            if not pids:
                empty += 1
            if done.returncode != 0:
                nonzero += 1
            cant_read += done.stderr.count(b"can't read from")
            try:
                while os.read(master, 65536):
                    pass
            except (BlockingIOError, OSError):
                pass
            if runs % 10 == 0:
                script_runs += 1
                sh = subprocess.Popen(["sh", "-c", SCRIPT.format(name=args.name)], start_new_session=True)
                try:
                    if sh.wait(1.0) != 0:
                        script_fail += 1
                except subprocess.TimeoutExpired:
                    script_cut += 1
                    os.killpg(sh.pid, signal.SIGKILL)
                    sh.wait()
        os.close(master)
        os.close(slave)
        alive = target.poll() is None
        result = {
            "seconds": args.seconds, "forks_per_s": args.forks, "hold_us": args.hold_us, "crowd": args.crowd,
            "hogs": args.hogs, "processes_in_proc": nprocs, "target_alive": alive, "pidof_runs": runs,
            "wrong": wrong, "empty": empty, "nonzero_exit": nonzero, "cant_read_from": cant_read,
            "ms_p50": quantile(durations, 0.5) * 1000, "ms_p99": quantile(durations, 0.99) * 1000,
            "ms_max": max(durations) * 1000 if durations else float("nan"),
            "script_runs": script_runs, "script_failed": script_fail, "script_cut_at_1s": script_cut,
        }
        print(json.dumps(result), flush=True)
        print(f"pidof probe: {runs} runs against a target forking {args.forks:g}/s (hold {args.hold_us} us), "
              f"{nprocs} processes in /proc, {args.hogs} hogs: wrong {wrong}, empty {empty}, exit!=0 {nonzero}, "
              f"\"can't read from\" {cant_read}; ms p50 {result['ms_p50']:.1f} p99 {result['ms_p99']:.1f} "
              f"max {result['ms_max']:.1f}; script {script_runs} runs, failed {script_fail}, cut at 1 s {script_cut}; "
              f"target alive {alive}", file=sys.stderr, flush=True)
        return 0
    finally:
        for p in started:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["rm", "-rf", work], check=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m bench.pidof_probe", description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--forks", type=float, default=200.0, help="target's forks per second (postfix: ~2 per session)")
    ap.add_argument("--hold-us", type=int, default=0, help="how long a child keeps the target's name before exec")
    ap.add_argument("--crowd", type=int, default=0, help="idle processes beside the target")
    ap.add_argument("--hogs", type=int, default=0, help="CPU busy loops beside the target")
    ap.add_argument("--name", default="probema")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.seconds > 600 or args.crowd > 20000 or args.hogs > 4:
        ap.error("bounded: --seconds <= 600, --crowd <= 20000, --hogs <= 4")
    if args.inner:
        return inner(args)
    if os.geteuid() != 0:
        ap.error("needs root (a PID namespace)")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([repo] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    argv2 = ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "bench.pidof_probe", "--inner",
             "--seconds", f"{args.seconds:g}", "--forks", f"{args.forks:g}", "--hold-us", str(args.hold_us),
             "--crowd", str(args.crowd), "--hogs", str(args.hogs), "--name", args.name]
    return subprocess.run(argv2, env=env, cwd=repo, timeout=args.seconds + 120, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
