"""Where the steady Masters' advert-gap tail comes from (issue 18, development tool).

    PYTHONPATH=$PWD/bench/hops:$PWD/src:$PWD python3 bench/hops/advert_tail.py [--interval 1] [--instances 1000]

Runs `bench.scale.one` (vipkeeper alone, every instance Master, the wire's gaps as the bench
figure measures them) with VK_ADVERT_TAIL set: sitecustomize.py (same directory) then calls
`install()` inside the daemon, which stamps (CLOCK_MONOTONIC ns, kept in memory, written at exit):

- every timer wake-up (`PreciseTimers._expired`): the deadline the timerfd was armed for, when
  epoll last returned before it, when the callback began, the first and last steady advert it
  sent and how many, when it ended;
- every Python garbage collection (gc.callbacks: generation, start, stop, collected);
- every other loop callback that ran longer than 50 µs (asyncio Handle._run), by name.

It changes nothing the daemon decides; the wrappers cost well under a µs per advert.

Printed: the wire's gap − interval (p50/p99/max, ms), then per wake-up the lateness of the first
send (deadline → first send) and the batch's length (first → last send), and for the gaps of
the 1 % tail (in-process: an instance's gap = its batch's first-send lateness this round minus
last round's, plus its place in the batch) what ran between the deadline and the first send:
epoll returning late with the loop idle (the process was not on a CPU: the kernel's scheduling),
another callback, a garbage collection.
"""

from __future__ import annotations

import array
import os
import sys

# Flat arrays of machine integers, not tuples: a recorder that kept one tuple per advert would
# itself start the garbage collections it is looking for.
REC_WAKE = array.array("q")  # 7 per wake-up: armed, epoll return, begin, first, last, adverts, end
REC_SEND = array.array("q")  # 2 per steady advert: router rank, ns
REC_GC: list[tuple] = []
REC_SLOW: list[tuple] = []


def install(outdir: str) -> None:
    import asyncio.events
    import atexit
    import gc
    import json
    import selectors
    import time

    from vipkeeper import precise_timers
    from vipkeeper.daemon import router

    mono = time.monotonic_ns
    state = {"epoll": 0, "n": 0, "first": 0, "last": 0}

    orig_select = selectors.EpollSelector.select

    def select(self, timeout=None):  # type: ignore[no-untyped-def]
        r = orig_select(self, timeout)
        state["epoll"] = mono()
        return r

    selectors.EpollSelector.select = select  # type: ignore[method-assign]

    orig_expired = precise_timers.PreciseTimers._expired

    def expired(self):  # type: ignore[no-untyped-def]
        armed = self._armed
        t0 = mono()
        state["n"] = 0
        state["first"] = state["last"] = 0
        orig_expired(self)
        REC_WAKE.extend((-1 if armed is None else int(armed * 1e9), state["epoll"], t0, state["first"],
                         state["last"], state["n"], mono()))

    precise_timers.PreciseTimers._expired = expired  # type: ignore[method-assign]

    orig_fire = router.Router._steady_fire

    def steady_fire(self):  # type: ignore[no-untyped-def]
        t = mono()
        if not state["n"]:
            state["first"] = t
        orig_fire(self)
        state["n"] += 1
        state["last"] = t
        REC_SEND.append(self._rank)
        REC_SEND.append(t)

    router.Router._steady_fire = steady_fire  # type: ignore[method-assign]

    # branches that batch the steady adverts (net/send_batch.py): each flush's start, end and
    # adverts, and how many went by single sends instead of sendmmsg
    REC_FLUSH: list[int] = []
    singles = [0]
    try:
        from vipkeeper.net import send_batch, vrrp_socket
    except ImportError:
        send_batch = None
    if send_batch is not None:
        orig_flush = send_batch.SendBatch.flush

        def flush_(self):  # type: ignore[no-untyped-def]
            n = sum(len(v) for v in self._queued.values())
            t0 = mono()
            orig_flush(self)
            REC_FLUSH.extend((t0, mono(), n))

        send_batch.SendBatch.flush = flush_  # type: ignore[method-assign]
        orig_one = vrrp_socket.VrrpSocket._send_one

        def send_one(self, prepared):  # type: ignore[no-untyped-def]
            singles[0] += 1
            return orig_one(self, prepared)

        vrrp_socket.VrrpSocket._send_one = send_one  # type: ignore[method-assign]

    gc_start = [0]

    def gccb(phase, info):  # type: ignore[no-untyped-def]
        if phase == "start":
            gc_start[0] = mono()
        else:
            REC_GC.append((gc_start[0], mono(), info.get("generation"), info.get("collected")))

    gc.callbacks.append(gccb)

    orig_run = asyncio.events.Handle._run

    def run(self):  # type: ignore[no-untyped-def]
        t0 = mono()
        orig_run(self)
        t1 = mono()
        if t1 - t0 > 50_000:
            cb = getattr(self, "_callback", None)
            name = getattr(cb, "__qualname__", None) or repr(cb)[:60]
            REC_SLOW.append((t0, t1, name))

    asyncio.events.Handle._run = run  # type: ignore[method-assign]

    def flush() -> None:
        with open(os.path.join(outdir, f"{os.getpid()}.json"), "w") as f:
            w, sd = REC_WAKE.tolist(), REC_SEND.tolist()
            json.dump({"wake": [w[i:i + 7] if w[i] >= 0 else [None, *w[i + 1:i + 7]] for i in range(0, len(w), 7)],
                       "send": [sd[i:i + 2] for i in range(0, len(sd), 2)], "gc": REC_GC, "slow": REC_SLOW,
                       "gc_threshold": gc.get_threshold(), "gc_count": gc.get_count(),
                       "frozen": gc.get_freeze_count(), "flush": REC_FLUSH, "singles": singles[0]}, f)

    atexit.register(flush)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def window_of(data: dict, window: float) -> tuple[int, int]:
    """The capture window: the `window` s before the bench's last status request (a control
    connection accepted), which comes right after the capture ends."""
    accepts = [s[0] for s in data["slow"] if s[2].endswith("_accept_connection")]
    end = max(accepts) if accepts else max(w[6] for w in data["wake"])
    return end - int(window * 1e9), end


def analyse(data: dict, interval: float, span: tuple[int, int]) -> None:
    data = dict(data)
    data["gc"] = [g for g in data["gc"] if span[0] <= g[0] < span[1]]
    data["slow"] = [s for s in data["slow"] if span[0] <= s[0] < span[1]]
    data["wake"] = [w for w in data["wake"] if span[0] <= w[2] < span[1]]
    data["send"] = [x for x in data["send"] if span[0] <= x[1] < span[1]]
    wakes = [w for w in data["wake"] if w[0] is not None and w[5] > 0]
    late = [(w[3] - w[0]) / 1e3 for w in wakes]
    span = [(w[4] - w[3]) / 1e3 for w in wakes]
    epoll_late = [(w[1] - w[0]) / 1e3 for w in wakes]
    print(f"wake-ups with adverts: {len(wakes)}, adverts {sum(w[5] for w in wakes)}, "
          f"adverts per wake-up median {_pct([w[5] for w in wakes], 0.5)}")
    for name, v in (("deadline -> epoll return", epoll_late), ("deadline -> first send", late),
                    ("first -> last send", span)):
        print(f"  {name:26s} us: p50 {_pct(v, .5):8.1f}  p90 {_pct(v, .9):8.1f}  p99 {_pct(v, .99):8.1f}  "
              f"max {max(v) if v else float('nan'):8.1f}")
    # Each batch's first-send lateness round to round, keyed by its grid point's phase.
    iv = int(round(interval * 1e9))
    by_phase: dict[int, list[tuple]] = {}
    for w in wakes:
        by_phase.setdefault(round((w[0] % iv) / 1000), []).append(w)
    diffs = []  # (first-send lateness change in us, adverts, the later wake)
    for seq in by_phase.values():
        seq.sort()
        for a, b in zip(seq, seq[1:]):
            if abs((b[0] - a[0]) - iv) < 1000:
                diffs.append((((b[3] - b[0]) - (a[3] - a[0])) / 1e3, b[5], b, a))
    weighted = sorted(d for d, n, _, _ in diffs for _ in range(n))
    print(f"batch lateness change round to round (per advert, us): p50 {_pct(weighted, .5):.1f} "
          f"p99 {_pct(weighted, .99):.1f} max {weighted[-1] if weighted else float('nan'):.1f}")
    cut = _pct(weighted, 0.99)
    tail = [d for d in diffs if d[0] >= cut]
    gcs = data["gc"]
    slow = data["slow"]
    causes: dict[str, int] = {}
    print(f"tail batches (change >= {cut:.1f} us): {len(tail)}")
    for d, n, b, a in sorted(tail, key=lambda x: -x[0])[:40]:
        dl, ep, t0, first = b[0], b[1], b[2], b[3]
        in_gc = [g for g in gcs if g[1] > dl - 2_000_000 and g[0] < first]
        in_slow = [s for s in slow if s[1] > dl - 2_000_000 and s[0] < first and not s[2].endswith("expired")]
        prev = [w for w in data["wake"] if w[6] > dl - 2_000_000 and w[2] < dl and w is not b]
        why = []
        if in_gc:
            why.append("gc " + ",".join(f"gen{g[2]} {(g[1] - g[0]) / 1e3:.0f}us" for g in in_gc))
        if in_slow:
            why.append("cb " + ",".join(f"{s[2]} {(s[1] - s[0]) / 1e3:.0f}us" for s in in_slow))
        busy = [w for w in prev if w[6] > dl]
        if busy:
            why.append("timer batch before ran past the deadline by " + ",".join(
                f"{(w[6] - dl) / 1e3:.0f}us" for w in busy))
        if not why:
            why.append("loop idle: epoll returned late (not on a CPU)" if ep - dl > 100_000 else "small")
        key = why[0].split(" ")[0]
        causes[key] = causes.get(key, 0) + n
        print(f"  +{d:7.1f} us ({n:3d} adverts): deadline->epoll {(ep - dl) / 1e3:7.1f}  epoll->cb "
              f"{(t0 - ep) / 1e3:6.1f}  cb->first {(first - t0) / 1e3:6.1f}  prev round late "
              f"{(a[3] - a[0]) / 1e3:6.1f}  | {'; '.join(why)}")
    for d, n, b, a in tail:
        pass
    print("tail adverts by first cause (top 40 listed):", causes)
    print(f"gc collections: {len(gcs)}; by generation: "
          f"{ {g: sum(1 for x in gcs if x[2] == g) for g in (0, 1, 2)} }; longest "
          f"{max(((x[1] - x[0]) / 1e3 for x in gcs), default=0):.0f} us; gen2 durations us "
          f"{[round((x[1] - x[0]) / 1e3) for x in gcs if x[2] == 2][:10]}")
    print(f"slow callbacks (>50us) {len(slow)}: "
          f"{sorted({s[2] for s in slow})[:12]} longest {max(((s[1] - s[0]) / 1e3 for s in slow), default=0):.0f} us")
    print(f"gc threshold {data['gc_threshold']} frozen {data['frozen']}")
    fl = data.get("flush") or []
    fl = [fl[i:i + 3] for i in range(0, len(fl), 3) if span[0] <= fl[i] < span[1]]
    if fl:
        d = [(b - a) / 1e3 for a, b, _ in fl]
        print(f"flushes {len(fl)}, adverts per flush median {_pct([n for _, _, n in fl], .5)}, flush us p50 "
              f"{_pct(d, .5):.1f} p99 {_pct(d, .99):.1f} max {max(d):.1f}; single sends (whole run) {data.get('singles')}")


def analyse_sends(data: dict, interval: float, span: tuple[int, int]) -> None:
    """The same gaps in-process (each router's send stamps), and for the 1 % tail what made the
    gap: its batch's first send later than last round, a garbage collection inside the batch
    ahead of it (this round's minus last round's), or the rest of the batch ahead of it
    running slower (the sends themselves: kernel work, the CPU shared with the capture)."""
    import bisect

    iv = int(round(interval * 1e9))
    wakes = sorted(w for w in data["wake"] if w[0] is not None and w[5] > 0)
    firsts = [w[3] for w in wakes]
    gcs = sorted(data["gc"])
    per: dict[int, list[int]] = {}
    for rank, t in data["send"]:
        per.setdefault(rank, []).append(t)

    def wake_of(t: int) -> tuple | None:
        i = bisect.bisect_right(firsts, t) - 1
        return wakes[i] if i >= 0 else None

    def gc_in(a: int, b: int) -> int:
        return sum(min(g[1], b) - max(g[0], a) for g in gcs if g[1] > a and g[0] < b)

    gaps = []
    for ts in per.values():
        ts.sort()
        for a, b in zip(ts, ts[1:]):
            if span[0] <= a and b < span[1]:
                gaps.append(((b - a - iv) / 1e3, a, b))
    vals = sorted(g[0] for g in gaps)
    print(f"in-process gap - interval over {len(vals)} gaps, us: p50 {_pct(vals, .5):.1f} p99 {_pct(vals, .99):.1f} "
          f"max {vals[-1]:.1f}")
    cut = _pct(vals, 0.99)
    tot = {"first-send lateness": 0.0, "gc in batch": 0.0, "batch slower ahead": 0.0}
    tail = [g for g in gaps if g[0] >= cut]
    for d, a, b in tail:
        wa, wb = wake_of(a), wake_of(b)
        if wa is None or wb is None:
            continue
        dfirst = ((wb[3] - wb[0]) - (wa[3] - wa[0])) / 1e3
        dgc = (gc_in(wb[3], b) - gc_in(wa[3], a)) / 1e3
        doff = ((b - wb[3]) - (a - wa[3])) / 1e3
        tot["first-send lateness"] += dfirst
        tot["gc in batch"] += dgc
        tot["batch slower ahead"] += doff - dgc
    n = max(1, len(tail))
    print(f"tail (>= p99, {len(tail)} gaps), mean parts us: " + ", ".join(f"{k} {v / n:.1f}" for k, v in tot.items()))
    # offset-within-batch spread: the place of one router in its batch, round to round
    gw = [g for g in gcs if span[0] <= g[0] < span[1]]
    print(f"gcs in window: {len(gw)} (gen0/1/2 {[sum(1 for g in gw if g[2] == k) for k in (0, 1, 2)]}), "
          f"durations us p50 {_pct([(g[1] - g[0]) / 1e3 for g in gw], .5):.0f} "
          f"max {max([(g[1] - g[0]) / 1e3 for g in gw], default=0):.0f}")


def main() -> None:
    import argparse
    import glob
    import json
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--analyse", metavar="JSON", help="only analyse a stamp file written before")
    args = ap.parse_args()
    if args.analyse:
        with open(args.analyse) as f:
            data = json.load(f)
        span = window_of(data, args.window)
        analyse(data, args.interval, span)
        analyse_sends(data, args.interval, span)
        return
    out = args.out or tempfile.mkdtemp(prefix="advtail-")
    os.makedirs(out, exist_ok=True)
    os.environ["VK_ADVERT_TAIL"] = out
    here = os.path.dirname(os.path.abspath(__file__))
    os.environ["PYTHONPATH"] = os.pathsep.join([here, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]])
    from bench import scale
    from vipkeeper.lab.nodes import set_daemon_python

    set_daemon_python("/usr/bin/python3")
    work = tempfile.mkdtemp(prefix="advtail-w-")
    r = scale.one("vipkeeper", args.instances, args.interval, args.window, work)
    if "error" in r:
        sys.exit(r["error"])
    j = r["jitter_ms"]
    print(f"wire: gap - interval ms over {len(j)} gaps: p50 {_pct(j, .5):.3f} p99 {_pct(j, .99):.3f} max {max(j):.3f}; "
          f"cpu {r['cpu_pct']:.1f} %, lag {r['lag']}, load {os.getloadavg()}")
    files = glob.glob(os.path.join(out, "*.json"))
    if not files:
        sys.exit(f"no stamps in {out}")
    with open(max(files, key=os.path.getmtime)) as f:
        data = json.load(f)
    span = window_of(data, args.window)
    analyse(data, args.interval, span)
    analyse_sends(data, args.interval, span)


if __name__ == "__main__":
    main()
