"""What a Master runs between waking on a tracked process's exit and the priority-0 sendto, counted.

Deterministic where wall-clock time is not (a loaded host): the Python function calls and the
C calls (builtins, methods of C types) made from the event loop's return from epoll to the
sendto of the priority-0 advert, and the system calls in between (strace).

Two parts:
- `install(outdir)`, called by sitecustomize.py in a `vipkeeper run` daemon when VK_PATHCOUNT names
  a directory: from each return of the loop's epoll until the next call of it, a profile hook
  (sys.setprofile) lists every call; an iteration that sent a priority-0 advert (the Master) or
  added a VIP (the Backup taking over) is written to OUTDIR/PID.paths.jsonl (the calls before
  the sendto / the VIP's netlink request, and the iteration's total).
- run as a script: a bench Pair (tracking by fault, v2 advert_int 1), a's tracked process killed
  RUNS times, then the counts per run; with --strace, the Master is traced instead (no profile
  hook) and the system calls from the epoll_wait that woke it to the priority-0 sendto listed.

    PYTHONPATH=$PWD/bench/hops:$PWD/src:$PWD python3 bench/hops/pathcount.py RUNS OUTDIR [--strace]

A development tool: the hook changes nothing the daemon decides, it only watches (and slows it).
"""
from __future__ import annotations

import json
import os
import sys


def install(outdir: str) -> None:
    import selectors

    state: dict = {"rec": None, "at": None, "prio": None, "vip": None}

    def prof(frame, event, arg):  # noqa: ANN001
        rec = state["rec"]
        if rec is None:
            return
        if event == "call":
            co = frame.f_code
            rec.append("py " + os.path.basename(co.co_filename) + ":" + co.co_qualname)
            if co.co_name == "send_advert" and state["prio"] is None:
                state["prio"] = frame.f_locals.get("priority")
            elif co.co_name == "add_now" and state["vip"] is None:  # a Backup taking over
                state["vip"] = len(rec)
        elif event == "c_call":
            name = getattr(arg, "__qualname__", None) or repr(arg)
            rec.append("c  " + name)
            if name in ("socket.sendto", "socket.sendmsg") and state["prio"] == 0 and state["at"] is None:
                state["at"] = len(rec)

    orig = selectors.EpollSelector.select
    path = os.path.join(outdir, f"{os.getpid()}.paths.jsonl")

    def select(self, timeout=None):  # noqa: ANN001
        rec = state["rec"]
        if rec is not None:
            sys.setprofile(None)
            state["rec"] = None
            if state["at"] is not None:
                with open(path, "a") as f:
                    f.write(json.dumps({"before_send": state["at"], "iteration": len(rec),
                                        "calls": rec[: state["at"]]}) + "\n")
            elif state["vip"] is not None:
                with open(path, "a") as f:
                    f.write(json.dumps({"before_vip": state["vip"], "iteration": len(rec),
                                        "calls": rec[: state["vip"]]}) + "\n")
        r = orig(self, timeout)
        if r:
            state["rec"], state["at"], state["prio"], state["vip"] = [], None, None, None
            sys.setprofile(prof)
        return r

    selectors.EpollSelector.select = select


def _strace_window(lines: list[str]) -> list[str] | None:
    """The system calls from the epoll_wait that returned last before the priority-0 sendto
    (a VRRP datagram whose priority byte, IP header + 2, is 0) up to that sendto."""
    import re
    start = None
    for i, line in enumerate(lines):
        if "epoll_wait(" in line and "<unfinished" not in line and not re.search(r"= 0$", line):
            start = i
        elif "epoll_wait resumed" in line and not re.search(r"= 0$", line):
            start = i
        m = re.search(r'sendto\(\d+, "((?:\\x[0-9a-f]{2})+)', line)
        if m and start is not None:
            data = bytes.fromhex(m.group(1).replace("\\x", ""))
            ihl = (data[0] & 0x0F) * 4 if data and data[0] >> 4 == 4 else 0
            if ihl and len(data) > ihl + 2 and data[9] == 112 and data[ihl + 2] == 0:
                return lines[start : i + 1]
    return None


def main() -> None:
    import subprocess
    import tempfile
    import time
    from bench.lab import Pair, PairSettings, VIP  # noqa: F401
    from vipkeeper.lab.nodes import set_daemon_python
    set_daemon_python("/usr/bin/python3")

    runs, out = int(sys.argv[1]), sys.argv[2]
    use_strace = "--strace" in sys.argv
    os.makedirs(out, exist_ok=True)
    if not use_strace:
        os.environ["VK_PATHCOUNT"] = out
    work = tempfile.mkdtemp(prefix="pathcount-")
    pair = Pair("vipkeeper", PairSettings(1.0, 2, "fault"), work, "pc0")
    try:
        assert pair.steady(14), "not steady"
        for run in range(runs):
            t0 = time.time()
            tracer = None
            if use_strace:
                trace = os.path.join(out, f"strace-{run}.txt")
                tracer = subprocess.Popen(["strace", "-f", "-qq", "-xx", "-s", "64", "-o", trace,
                                           "-p", str(pair.daemons["a"].pid)])
                time.sleep(1.0)  # attached (strace has no ready signal; a bounded wait)
            pair.tracked["a"].kill()
            vip = pair.watch_b.wait(lambda: pair.watch_b.first(VIP, added=True, after=t0), 5)
            time.sleep(0.3)
            if tracer is not None:
                tracer.terminate()
                tracer.wait(10)
                window = _strace_window(open(trace).read().splitlines())
                print(f"run {run}: VIP on b {vip is not None}; syscalls from wake to priority-0 sendto: "
                      f"{None if window is None else len(window) - 2}", flush=True)
                if window is not None:
                    for line in window:
                        print("   ", line[:150])
            else:
                print(f"run {run}: VIP on b {vip is not None}", flush=True)
            pair.restore("process")
            assert pair.steady(14), "not steady"
    finally:
        pair.close()
    if not use_strace:
        for name in os.listdir(out):
            if name.endswith(".paths.jsonl"):
                for line in open(os.path.join(out, name)):
                    row = json.loads(line)
                    py = sum(1 for c in row["calls"] if c.startswith("py"))
                    lazy = sum(1 for c in row["calls"] if c.endswith(("records.py:_bind", "records.py:_compile_init")))
                    what, n = (("priority-0 sendto (Master)", row["before_send"]) if "before_send" in row
                               else ("VIP add (Backup taking over)", row["before_vip"]))
                    print(f"{name}: calls before the {what} {n} (python {py}, C {n - py}, record inits "
                          f"bound/compiled {lazy}); whole loop iteration {row['iteration']}")


if __name__ == "__main__":
    main()
