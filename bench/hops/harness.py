"""Per-hop failover timings of one bench pair (tracking by fault, v2 advert_int 1).

    PYTHONPATH=$PWD/bench/hops:$PWD/src:$PWD python3 bench/hops/harness.py vipkeeper 0 RUNS OUTDIR
    python3 bench/hops/summary.py OUTDIR

Builds bench.lab's Pair (daemons under /usr/bin/python3, sitecustomize.py stamping inside them),
kills a's tracked process RUNS times and records per run: t0 (monotonic, just before the kill),
the priority-0 advert's kernel receive stamp on b's eth0, the VIP's netlink event on b, the PIDs.
summary.py joins that with the daemons' stamps into per-hop medians.
"""
import json, os, sys, time, tempfile
from bench.lab import Pair, PairSettings, VIP
from vipkeeper.lab.watch import FrameCapture, is_vrrp_or_arp
from vipkeeper.lab.nodes import set_daemon_python
set_daemon_python("/usr/bin/python3")

impl, fast, runs, out = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), sys.argv[4]
os.makedirs(out, exist_ok=True)
os.environ["VK_HOPS"] = out
work = tempfile.mkdtemp(prefix="h4hops-")
def off():  # realtime - monotonic, seconds
    a = time.monotonic(); r = time.time(); b = time.monotonic()
    return r - (a + b) / 2
pair = Pair(impl, PairSettings(1.0, 2, "fault", fast_handover=fast), work, f"{impl[:2]}{int(fast)}")
cap_b = FrameCapture(pair.b.ns, "eth0", keep=is_vrrp_or_arp)
res = []
try:
    assert pair.steady(14), "not steady"
    for run in range(runs):
        o = off()
        tracked_pid = pair.tracked["a"].proc.pid
        t0 = time.time()
        t0m = time.monotonic_ns()
        pair.tracked["a"].kill()
        vip = pair.watch_b.wait(lambda: pair.watch_b.first(VIP, added=True, after=t0), 5)
        time.sleep(0.3)
        prio0 = next((f.time for f, adv in cap_b.adverts(after=t0) if adv.advertisement.priority == 0), None)
        b_mac = bytes.fromhex(pair.b.mac.replace(":", ""))
        # b's first advert after t0 (sent on becoming master)
        res.append(dict(run=run, t0m=t0m, off=o, tracked=tracked_pid, vip=vip, prio0=prio0,
                        pid_a=pair.daemons["a"].pid, pid_b=pair.daemons["b"].pid))
        print(f"run {run}: vip {(vip - t0) * 1000 if vip else None:.3f} ms  prio0@b {(prio0 - t0) * 1000 if prio0 else float('nan'):.3f} ms", flush=True)
        pair.restore("process")
        assert pair.steady(14), "not steady"
finally:
    cap_b.close()
    pair.close()
with open(os.path.join(out, "runs.json"), "w") as f:
    json.dump(res, f)
