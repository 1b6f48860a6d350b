"""Figures 1 and 2: failover time, service failure and node failure.

Three labs run side by side for each setting: vipkeeper with fast_handover, vipkeeper RFC-exact
and keepalived 2.2.7; the failure is injected on one lab at a time, rotating the order every
run, so the three see the same machine load. Per run: t0 = CLOCK_REALTIME right before the
SIGKILL (of the tracked process, or of the Master daemon) or SIGTERM; "VIP on Backup" is the
netlink RTM_NEWADDR seen in b's namespace; "GARP at client" is the kernel's receive timestamp of
b's gratuitous ARP in the client namespace. After each run a is restored and the failure waits a
random part of an advert interval, so it lands at a random phase of the advert timers.

Bounds (RFC 5798 §6.4.2, Backup priority 100): Skew_Time = (256-100)/256 x Master_Adver_Interval.
- tracked by fault (weight 0): the Master sends priority 0 -> Backup takes over after Skew_Time;
- tracked by weight (a drops below b): b ignores lower-priority adverts and takes over when its
  Master_Down_Interval (3 x interval + skew) runs out: at most that after the failure;
- Master SIGKILLed: Master_Down_Interval; Master SIGTERM: priority 0 -> Skew_Time.
Tracker detection (figure 3, a few ms) comes on top of each bound.
"""

from __future__ import annotations

import sys

from bench.lab import Pair, PairSettings
from bench.report import Table

PRIO_B = 100
VARIANTS = [("vipkeeper fast", "vipkeeper", True), ("vipkeeper rfc", "vipkeeper", False), ("keepalived", "keepalived", False)]


def skew(advert_int: float) -> float:
    return (256 - PRIO_B) / 256 * advert_int


def bound_ms(how: str, tracking: str, advert_int: float) -> float:
    down = 3 * advert_int + skew(advert_int)
    if how == "sigkill" or (how == "process" and tracking == "weight"):
        return down * 1000
    return skew(advert_int) * 1000


def measure(settings: PairSettings, hows: list[str], runs: int, workdir: str,
            tables: dict[str, Table], log=print, variants=None) -> None:
    pairs: list[tuple[str, Pair]] = []
    try:
        for label, impl, fast, *rest in variants or VARIANTS:
            witness = bool(rest and rest[0])
            s = PairSettings(settings.advert_int, settings.version, settings.tracking, fast_handover=fast,
                             witness=witness)
            tag = f"{impl[:2]}{'f' if fast else ''}{'w' if witness else ''}-v{s.version}-{s.advert_int:g}-{s.tracking}"
            pairs.append((label, Pair(impl, s, workdir, tag)))
        adv = settings.advert_int
        ready = 4 * adv + 10
        # with the witness a SIGKILLed Master's key lives until its lease (2 s) expires in etcd
        extra = 3.0 if any(p.settings.witness for _, p in pairs) else 0.0
        for _, pair in pairs:
            if not pair.steady(ready):
                log(f"  warning: {pair.label} never reached a steady state (a Master, b Backup)")
        for how in hows:
            results: dict[str, tuple[list, list]] = {label: ([], []) for label, _ in pairs}
            for run in range(runs):
                order = pairs[run % len(pairs):] + pairs[: run % len(pairs)]
                for label, pair in order:
                    vip, garp = pair.failover(how, timeout=3 * adv + skew(adv) + 3 + extra)
                    results[label][0].append(vip)
                    results[label][1].append(garp)
                    pair.restore(how)
                    if not pair.steady(ready):
                        log(f"  warning: {pair.label} not steady after run {run}")
                print(".", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
            row = f"v{settings.version} adv {adv:g} {settings.tracking if how == 'process' else how}"
            table = tables["process" if how == "process" else "node"]
            for label, _ in pairs:
                vip, garp = results[label]
                bound = bound_ms(how, settings.tracking, adv)
                table.add(f"{row} -> VIP", label, vip, bound)
                table.add(f"{row} -> GARP", label, garp, bound)
    finally:
        for _, pair in pairs:
            pair.close()


SERVICE_SETTINGS = [(2, 1.0), (3, 1.0), (3, 0.1)]
NODE_SETTINGS = [(2, 1.0), (3, 0.1)]


def figure1(runs: int, workdir: str, settings: list[tuple[int, float]] | None = None,
            trackings: tuple[str, ...] = ("fault", "weight")) -> Table:
    """`settings` (VRRP version, advert_int) and `trackings` pick a subset of the rows."""
    table = Table("fig1-service-failover", "tracked process SIGKILLed on the Master -> VIP on the Backup / GARP at client", "ms")
    tables = {"process": table}
    for version, adv in settings or SERVICE_SETTINGS:
        for tracking in trackings:
            print(f"fig1: v{version} advert_int {adv:g} tracking by {tracking}", file=sys.stderr, flush=True)
            measure(PairSettings(adv, version, tracking), ["process"], runs, workdir, tables)
    table.notes.append("bound = RFC 5798 time after detection: fault -> Skew_Time; weight -> Master_Down_Interval "
                       "(Backup ignores lower-priority adverts); add the tracker's detection latency (fig3)")
    table.notes.append("ratio = median of this row / keepalived's median of the same row")
    return table


def figure2(runs: int, workdir: str) -> Table:
    table = Table("fig2-node-failover", "Master daemon SIGKILLed / SIGTERMed -> VIP on the Backup / GARP at client", "ms")
    tables = {"node": table}
    for version, adv in NODE_SETTINGS:
        print(f"fig2: v{version} advert_int {adv:g}", file=sys.stderr, flush=True)
        measure(PairSettings(adv, version, "fault"), ["sigkill", "sigterm"], runs, workdir, tables)
    table.notes.append("bound: SIGKILL -> 3 x advert_int + Skew_Time; SIGTERM (priority 0 advert) -> Skew_Time")
    return table


WITNESS_VARIANTS = [("vipkeeper fast", "vipkeeper", True, False), ("fast + witness", "vipkeeper", True, True),
                    ("vipkeeper rfc", "vipkeeper", False, False), ("rfc + witness", "vipkeeper", False, True)]


def figure_witness(runs: int, workdir: str) -> Table:
    """vipkeeper with and without the quorum witness (three etcd members beside the pair, lease
    TTL 2 s): what the witness adds to each kind of failover."""
    table = Table("fig10-witness", "failover with and without the etcd quorum witness -> VIP on the Backup / GARP at client", "ms")
    tables = {"process": table, "node": table}
    for version, adv in ((3, 0.1), (2, 1.0)):
        print(f"fig10: v{version} advert_int {adv:g}", file=sys.stderr, flush=True)
        measure(PairSettings(adv, version, "fault"), ["process", "sigterm", "sigkill"], runs, workdir, tables,
                variants=WITNESS_VARIANTS)
    table.notes.append("witness: the Backup acquires the etcd key after the old Master deleted it (fault, SIGTERM: "
                       "delete + watch event + one transaction); after SIGKILL only once the old lease expired in "
                       "etcd (up to lease_ttl 2 s after its last renewal), so that row's bound is the lease, not VRRP's")
    return table
