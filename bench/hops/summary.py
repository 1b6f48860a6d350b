"""Per-hop medians (us) over runs: Master (pidfd/connector wake -> priority-0 sendto), Backup (timer wake -> VIP add)."""
import json, sys, os, statistics
def load(d, pid):
    p = os.path.join(d, f"{pid}.jsonl")
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
def first(recs, t, pred):
    return next((r for r in recs if r[0] >= t and pred(r)), None)
for d in sys.argv[1:]:
    runs = json.load(open(os.path.join(d, "runs.json")))
    rows = []
    gcs = 0
    for run in runs:
        t0, off = run["t0m"], run["off"]
        A, B = load(d, run["pid_a"]), load(d, run["pid_b"])
        r = {}
        wake = first(A, t0, lambda x: x[1] in ("m_wake_pidfd", "m_wake_conn", "m_wake_tick"))
        s0 = first(A, t0, lambda x: x[1] == "adv_start" and x[2] == 0)
        e0 = first(A, t0, lambda x: x[1] == "adv_end" and x[2] == 0)
        if wake and s0:
            r["M kill->wake"] = (wake[0] - t0) / 1e3
            r["M wake->sendto"] = (s0[0] - wake[0]) / 1e3
            gcs += sum(1 for x in A if wake[0] <= x[0] <= s0[0] and x[1] == "gc_start")
        if run["prio0"] and e0 is not None:
            pass
        rx = first(B, t0, lambda x: x[1] == "rx_router" and x[2] == 0)
        if run["prio0"] and rx:
            arr = (run["prio0"] - off) * 1e9
            r["B arrival->read"] = (rx[0] - arr) / 1e3
            dn = first(B, t0, lambda x: x[1] == "rx_done" and x[2] == 0)
            if dn and dn[3]:
                r["B deadline-(arrival+skew)"] = (dn[3] - arr) / 1e3 - 609375
        tw = first(B, t0 + 500_000_000, lambda x: x[1] == "tfd_wake")
        tf = first(B, t0 + 500_000_000, lambda x: x[1] == "timer_fire")
        va = first(B, t0 + 500_000_000, lambda x: x[1] == "vip_add_start")
        bs = first(B, t0 + 500_000_000, lambda x: x[1] == "adv_start")
        if tf and tf[2] and tw:
            r["B deadline->tfd wake"] = (tw[0] - tf[2]) / 1e3
        if tw and va:
            r["B tfd wake->VIP add"] = (va[0] - tw[0]) / 1e3
            gcs += sum(1 for x in B if tw[0] <= x[0] <= va[0] and x[1] == "gc_start")
        if tw and bs:
            r["B tfd wake->advert sendto"] = (bs[0] - tw[0]) / 1e3
        if run["vip"]:
            r["kill->VIP seen (ms)"] = (run["vip"] - off) * 1e3 - t0 / 1e6
        rows.append(r)
    keys = [k for k in rows[0]] if rows else []
    print(f"{d}: {len(rows)} runs, gc passes on the paths: {gcs}")
    for k in keys:
        v = [x[k] for x in rows if k in x]
        print(f"  {k:28s} median {statistics.median(v):9.1f}  min {min(v):9.1f}  max {max(v):9.1f}   (n={len(v)})")
