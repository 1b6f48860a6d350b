"""`python3 -m bench FIGURE... [--quick] [--runs N]`: vipkeeper against keepalived 2.2.7.

Figures: failover (1), node (2), detect (3), churn (4), scale (5), startup (6), realtime (7),
client (8: SMTP sessions through the VIP while the Master fails), seed (9: the seed configuration
under mail load), witness (10: vipkeeper with and without the etcd quorum witness; needs etcd-server),
stall (11: 1,000 instances while a chatty vrrp_script and 200 notify scripts run), scale4k (12:
4,000 instances on four interfaces, unicast and multicast, for --minutes, default 5), or all.
--quick runs few repetitions to check the harness; the default (full) mode runs at least 20 per
row. Tables go to stdout, progress to stderr, JSON to bench/results/. Needs root (namespaces).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

FIGURES = ["failover", "node", "detect", "churn", "scale", "startup", "realtime", "client", "seed", "witness", "stall", "scale4k"]


DEBIAN_PYTHON = "/usr/bin/python3"


def choose_python(choice: str) -> str | None:
    """The interpreter for the daemon: the product as the Debian package installs it runs under
    Debian's python3; a development interpreter (a version manager's, with its own site packages)
    starts slower and bigger, which is not the product's cost."""
    def usable(python: str) -> bool:
        try:
            done = subprocess.run([python, "-c", "import click"], capture_output=True, timeout=30,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0

    if choice == "current":
        return sys.executable
    if choice == "auto":
        return DEBIAN_PYTHON if os.path.exists(DEBIAN_PYTHON) and usable(DEBIAN_PYTHON) else sys.executable
    return choice if usable(choice) else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("figures", nargs="*", default=["all"], help=f"{', '.join(FIGURES)} or all")
    ap.add_argument("--quick", action="store_true", help="few runs: check the harness, not the numbers")
    ap.add_argument("--runs", type=int, default=None, help="runs per row (overrides the mode's default)")
    ap.add_argument("--minutes", type=float, default=None, help="seed: minutes of mail load (default 2 quick, 60 full); scale4k: minutes per run (1 quick, 5 full)")
    ap.add_argument("--rate", type=float, default=None, help="client, seed: SMTP sessions started per second per pair (20, 10)")
    ap.add_argument("--failures", default=None, help="client: comma-separated subset of haproxy,postfix,sigkill,sigterm,link,reload")
    ap.add_argument("--crowd", type=int, default=0, help="seed: idle processes kept beside the pairs (a bigger /proc for pidof)")
    ap.add_argument("--variants", default="seed,fixed",
                    help="seed: comma-separated seed,fixed,w60,qmax1 (not the seed: w60 = its script with weight -60, which can "
                         "move the VIP; qmax1 = quorum_max 1 on its postfix master tracker)")
    ap.add_argument("--instances", default=None, help="scale: comma-separated subset of 1,255,1000")
    ap.add_argument("--intervals", default=None, help="scale: comma-separated subset of 1,0.1")
    ap.add_argument("--settings", default=None, help="failover: comma-separated VERSION:ADVERT_INT subset of 2:1,3:1,3:0.1")
    ap.add_argument("--tracking", default=None, help="failover: comma-separated subset of fault,weight")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (configs, daemon logs)")
    ap.add_argument("--python", default="auto",
                    help="the interpreter vipkeeper runs under: a path, 'current' (this one), or 'auto' (default: "
                         f"{DEBIAN_PYTHON}, which the Debian package runs, when it can import the daemon's "
                         "dependencies; else this one)")
    args = ap.parse_args(argv)
    wanted = FIGURES if "all" in args.figures else args.figures
    unknown = [f for f in wanted if f not in FIGURES]
    if unknown:
        ap.error(f"unknown figure(s): {', '.join(unknown)}; choose from {', '.join(FIGURES)} or all")
    kinds = set(args.variants.split(","))
    if not kinds <= {"seed", "fixed", "w60", "qmax1"}:
        ap.error(f"--variants: choose from seed, fixed, w60, qmax1 (got {args.variants})")
    if args.crowd < 0 or args.crowd > 20000:
        ap.error("--crowd: 0 to 20000 idle processes")
    if os.geteuid() != 0:
        ap.error("the bench needs root (network namespaces, raw sockets)")
    for tool in ("keepalived", "gcc", "ip"):
        if shutil.which(tool) is None:
            ap.error(f"{tool} is not installed")

    if {"client", "seed"} & set(wanted):
        from bench.relay import prerequisites

        missing = prerequisites()
        if missing:
            ap.error(f"figures client and seed need {', '.join(missing)}")

    python = choose_python(args.python)
    if python is None:
        ap.error(f"--python {args.python}: not an interpreter that can import click")
    if python != sys.executable:
        from vipkeeper.lab.nodes import set_daemon_python

        set_daemon_python(python)
    print(f"vipkeeper runs under {python}", file=sys.stderr)

    from bench import churn, client, detect, failover, realtime, scale, startup
    from bench.native import Programs

    mode = "quick" if args.quick else "full"
    workdir = tempfile.mkdtemp(prefix="vkbench-")
    os.chmod(workdir, 0o755)  # postfix (user postfix) must reach the relay nodes' spools below it
    started = time.monotonic()
    try:
        programs = Programs(workdir)
        for figure in wanted:
            if figure == "failover":
                settings = [(int(v), float(a)) for v, a in (x.split(":") for x in args.settings.split(","))] \
                    if args.settings else None
                table = failover.figure1(args.runs or (3 if args.quick else 20), workdir, settings,
                                         tuple(args.tracking.split(",")) if args.tracking else ("fault", "weight"))
            elif figure == "node":
                table = failover.figure2(args.runs or (3 if args.quick else 20), workdir)
            elif figure == "detect":
                table = detect.figure3(args.runs or (30 if args.quick else 200), workdir, programs)
            elif figure == "churn":
                table = churn.figure4(args.runs or (2 if args.quick else 20), workdir, programs,
                                      processes=2000 if args.quick else 20000)
            elif figure == "witness":
                table = failover.figure_witness(args.runs or (3 if args.quick else 20), workdir)
            elif figure == "scale":
                table = scale.figure5(
                    workdir, quick=args.quick, runs=args.runs,
                    sizes=tuple(int(x) for x in args.instances.split(",")) if args.instances else (1, 255, 1000),
                    intervals=tuple(float(x) for x in args.intervals.split(",")) if args.intervals else (1.0, 0.1))
            elif figure == "realtime":
                table = realtime.figure7(workdir, quick=args.quick)
            elif figure == "client":
                table = client.figure8(args.runs or (2 if args.quick else 20), workdir, rate=args.rate or 20.0,
                                       failures=args.failures.split(",") if args.failures else None)
            elif figure == "stall":
                from bench import stall

                table = stall.figure11(args.runs or (1 if args.quick else 20), workdir, quick=args.quick)
            elif figure == "scale4k":
                from bench import scale4k

                table = scale4k.figure12(args.runs or 1, workdir, minutes=args.minutes or (1 if args.quick else 5))
            elif figure == "seed":
                variants = [v for v in client.SEED_VARIANTS if v[2] in kinds] + (client.W60_VARIANTS if "w60" in kinds else [])
                variants += client.QMAX1_VARIANTS if "qmax1" in kinds else []
                table = client.figure9(60 * (args.minutes or (2 if args.quick else 60)), workdir, rate=args.rate or 10.0,
                                       variants=variants, crowd=args.crowd)
            else:
                table = startup.figure6(args.runs or (3 if args.quick else 20), workdir)
            table.show()
            print(f"  results: {table.save(mode)}", flush=True)
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"bench finished in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
