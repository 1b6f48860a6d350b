"""A seeded fault campaign against a three-node VRRP LAN: schedules, the runner and the verdicts.

Rules
-----
- A schedule is a pure function of its seed (`make_schedule`): the same seed replays the same
  faults at the same offsets, for vipkeeper and for keepalived alike.
- The runner only *does* and *records*: it applies each fault at its time, samples every 10 ms
  which node namespaces hold the VIP, captures the VRRP frames on the bridge from the client
  namespace, and watches the daemons' processes (fds, RSS, zombies, unexpected exits). The
  verdicts (`judge`) are pure functions of that record, so they are unit-tested without root.
- The network truth the verdicts rely on is the runner's log of what it actually did and when,
  never the daemons' opinion.
- Runners may run in parallel (bench/campaign/run.py --jobs): every name (namespaces, tracked
  process names) carries the Topology's random prefix. A runner that dies without tearing down
  leaves WORKDIR/owner.json; the next runner's `reap_stale()` removes what it names once its
  runner PID is dead.

Theory of operation
-------------------
Nodes a, b, c (priorities 150, 120, 100, VRRPv3, one VIP, preempt) each track their own process
(a copy of /bin/sleep with a per-node name; a node without it goes FAULT). The daemons run in
the initial network namespace and enter their node's namespace themselves (`--netns` /
keepalived `--namespace`), so the process connector works. Faults: random loss (nftables
`numgen random` on the node's link, both ways: on its input, and on the others' input for
frames from its MAC, never on its own output), delay (every IPv4 packet through the node's eth0,
both ways, is queued by iptables NFQUEUE and accepted `arg` ms later by a reader thread:
`nfqueue_delay`, since this kernel has no sch_netem), link down/up (the node's eth0), a partition that
isolates one node (nftables drops every IP packet arriving on its eth0, and on the others' every
packet from its MAC; its own output is never dropped, so no send fails: a partition is silence,
not a local error), the tracked process killed
and restarted, the daemon SIGKILLed and restarted, SIGHUP with a changed priority or a broken
file, and bursts of mutated VRRP frames from the client (wrong TTL, checksum, VRID, auth,
truncated), injected on the client's eth0 with AF_PACKET.

Verdicts, per schedule:
- split_brain: two nodes hold the VIP while they can hear each other (both links up, neither
  partitioned, both daemons up) for longer than one advert interval + slack; under random loss
  the bound is a master-down interval + one advert interval + slack (`split_brain_loss`).
  Under delay the bound grows by the pair's path delay (`split_brain_delay`, or the loss kind
  when both apply). Reasoning: a split brain between two nodes that hear each other ends when
  the lower one receives the higher one's advert. The higher sends one within an advert
  interval of taking the VIP; a delay fault holds every packet through the delayed node's eth0
  both ways, so that advert is late by the sender's delay (out) plus the receiver's (in): at
  most d_a + d_b, the largest each had during the episode. Nothing else in the handover waits
  on the wire (the VIP is removed when the advert is read).
  The delays a schedule draws (DELAYS_MS: 20, 50, 100, 250 ms) are capped at its advert
  interval. With d <= advert_int adverts stay in order and the one gap a delay's onset makes
  (advert_int + d <= 2 advert_int) stays below the master-down interval (> 3 advert_int), so a
  steady master is never timed out by delay alone; larger delays would only test that timers
  fire, which link_down and partition test already.
- not_best_holder: in the same quiet samples, the one holder is not a healthy node of the
  highest configured priority among the healthy nodes (all preempt; an equal priority may keep
  the VIP). A node left in FAULT with its tracked process running shows up here.
- not_one_holder: the network has been quiet (no fault active, no fault event) for a master-down
  interval plus slack (a delay span is a fault like loss: not quiet, nor is a burst overlapping
  it), a healthy node exists, and the number of holders among nodes whose
  daemon runs is not exactly one.
- crash / fd_leak / rss_leak / zombie: a daemon exited on its own, or grew fds or RSS beyond a
  bound during one incarnation, or kept a zombie child for three seconds. From its exit to its
  next start a crashed daemon's node counts as down for the verdicts above, and:
- orphan_vip: the node of a daemon that exited on its own still holds the VIP while a running
  node holds it too, for longer than one advert interval + slack (two hosts answer for the VIP).
- drop_not_counted (vipkeeper only): a node that could hear the burst did not grow its drop
  counters for that kind by at least the number of frames sent (a delayed node is not checked:
  its frames may still be held when the counters are read).
- bad_packet_changed_state: a burst in a quiet network changed the holders (either daemon) or a
  node's transition counter (vipkeeper).
- checker_gap: the checker's own failure (no sample for over 0.5 s): the schedule's verdicts
  are incomplete and it should be replayed; not a daemon fault.

Witness mode (schedules made with `witness=True`, played by keepalived, vipkeeper and
`vipkeeper+witness` alike): three etcd members (e1..e3, lab/etcd.py) join the LAN, started only
for the witness flavour; two more fault kinds are drawn: `vrrp_split` (the node's adverts are
dropped at every other router and theirs at it, on the receiving side, so that every send still
succeeds as behind a faulty switch: the routers cannot hear each other, yet all reach etcd and
the client; counted as isolated for the split_brain verdicts) and `etcd_cut` (the node's packets to and from the etcd members are
dropped; a network disturbance for not_one_holder). One more verdict:
- dual_holder: at some 10 ms sample two nodes whose daemons run hold the VIP, whatever the
  network -- the witness's promise; plain VRRP breaks it by design whenever routers cannot hear
  each other. For the witness flavour not_one_holder waits a lease TTL and WITNESS_SLACK longer
  (a Master that died without deleting its key is replaced once its lease expired in etcd).

Modes
-----
A schedule has a mode (`MODES`); lan4 is the LAN above, and the others change one thing:
- ipv6: the LAN has IPv6 and the VIP is VIP6 (VRRPv3 over IPv6 multicast); no delay (the NFQUEUE
  rules are IPv4 iptables) and no bursts (IPv4 frames).
- unicast: each node has unicast_src_ip and the other two as unicast_peer; no bursts (multicast
  frames, which a unicast instance drops before any check a burst kind is about).
- sync: a second instance (VRID2, VIP2) and a vrrp_sync_group of both. Verdict sync_apart: on a
  running node one instance holds its VIP and the other not, for over an advert interval + slack.
- mixed: in vipkeeper's runs node b runs keepalived (one VRID, both daemons, the same faults);
  keepalived's runs are all keepalived, the baseline. Burst counters are not checked.
- flush: fault addr_flush, an admin's `ip -4 addr flush dev eth0` (the node's own address and the
  VIP); at revert the node's address is added back. The node counts as isolated meanwhile.
- fd: fault fd_pressure, the daemon's RLIMIT_NOFILE soft limit set to its open fds (for
  keepalived both processes), restored at revert; proc_kill is drawn as often, so tracked
  processes restart under pressure (issue 20, finding 3).
- reload: the second instance without a sync group; fault reload_remove, SIGHUP with VI_SECOND
  left out, and SIGHUP with it back at revert. Verdicts removed_vip_kept (a node still holds
  VIP2 an advert interval + slack after its reload removed VI_SECOND) and reload_touched_other
  (a reload in a quiet network changed whether that node holds VI_CAMPAIGN's VIP within a
  master-down window).
- ifrecreate: fault if_recreate, the node's eth0 deleted and, at revert, re-created with the
  same name on the bridge (a new ifindex). The node counts as isolated meanwhile.
Every verdict above applies to VI_CAMPAIGN's VIP in every mode.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vipkeeper.vrrp import packet

NODES = ("a", "b", "c")
PRIORITIES = {"a": 150, "b": 120, "c": 100}
VRID = 51
VIP = ipaddress.IPv4Interface("192.0.2.100/24")
MCAST = ipaddress.IPv4Address("224.0.0.18")
SLACK = 0.3  # seconds: sampling, netlink latency, a loaded shared machine
STARTUP_GRACE = 3.0  # a (re)started daemon counts as up this long after its start
FD_GROWTH = 8  # open fds one incarnation may gain after its start-up grace
RSS_GROWTH_KB = 10_000  # resident memory one incarnation may gain after its start-up grace
# fds/RSS are measured from this long after a start: on a loaded machine Python may still be
# importing after STARTUP_GRACE (seen: 3 fds at 4 s, 15 once running)
FD_BASELINE_GRACE = 10.0
BURST_KINDS = ("bad_ttl", "bad_checksum", "truncated", "wrong_vrid", "wrong_auth")
# Which drop counters a burst kind must grow (any of the set; their sum >= frames sent).
BURST_REASONS = {
    "bad_ttl": {"bad_ttl"},
    "bad_checksum": {"bad_checksum"},
    "truncated": {"truncated"},
    "wrong_vrid": {"wrong_vrid"},
    "wrong_auth": {"wrong_version", "auth_mismatch", "not_listening"},
}
NET_KINDS = ("loss", "delay", "link_down", "partition")
FAULT_WEIGHTS = {
    "loss": 3, "delay": 2, "link_down": 2, "partition": 3, "proc_kill": 3, "daemon_kill": 2,
    "reload_priority": 2, "reload_broken": 1, "bad_burst": 3,
}
# Delay choices (ms, each way through the node's eth0); a schedule uses only those up to its
# advert interval (see "Verdicts" above for why).
DELAYS_MS = (20, 50, 100, 250)
OWNER_FILE = "owner.json"  # in a runner's workdir: whose it is, for reap_stale()
# Witness mode (schedules made with witness=True): three etcd members beside the routers, and two
# more fault kinds: `vrrp_split` (the node sends and hears no VRRP, yet reaches etcd and the
# client: the routers cannot hear each other) and `etcd_cut` (the node reaches no etcd member).
ETCD_NODES = ("e1", "e2", "e3")
WITNESS_FLAVOUR = "vipkeeper+witness"
WITNESS_TTL = 2
# etcd revokes expired leases from a loop that runs every 0.5 s, then the watch, a transaction and
# the new Master's netlink follow: what a takeover after a lease expiry adds beyond the TTL
WITNESS_SLACK = 1.0
WITNESS_KINDS = ("vrrp_split", "etcd_cut")
WITNESS_WEIGHTS = {"vrrp_split": 4, "etcd_cut": 3}

# Modes: the LAN, the configuration and the faults a schedule plays (see "Modes" above).
MODES = ("lan4", "ipv6", "unicast", "sync", "mixed", "flush", "fd", "reload", "ifrecreate")
VIP6 = ipaddress.IPv6Interface("2001:db8::100/64")
VIP2 = ipaddress.IPv4Interface("192.0.2.101/24")  # the second instance's (sync, reload)
VRID2 = 61  # away from the wrong_vrid bursts' VRIDs (52..54)
# kinds a mode cannot play: delay is iptables (IPv4) NFQUEUE; the bursts are IPv4 multicast
# frames (a unicast instance drops them before any check that a burst kind is about)
MODE_DROPS = {"ipv6": ("delay", "bad_burst"), "unicast": ("bad_burst",)}
MODE_EXTRA = {"flush": {"addr_flush": 4}, "fd": {"fd_pressure": 4, "proc_kill": 3},
              "reload": {"reload_remove": 4}, "ifrecreate": {"if_recreate": 4}}
TWO_INSTANCES = ("sync", "reload")


# --- schedules (pure) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One fault: applied at `start` (seconds from the schedule's start), reverted `duration` later
    (0 for instantaneous faults). `arg` is the loss percentage, the delay in ms, the new priority
    or the burst kind."""

    start: float
    kind: str
    node: str | None
    duration: float
    arg: Any = None

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Schedule:
    seed: int
    duration: float
    advert_int: float
    faults: tuple[Fault, ...]
    witness: bool = False  # etcd members on the LAN, vrrp_split/etcd_cut faults, dual_holder judged
    mode: str = "lan4"

    @property
    def master_down(self) -> float:
        """3 adverts + the largest skew (priority 100 gives the largest: (256-100)/256)."""
        return 3 * self.advert_int + (256 - min(PRIORITIES.values())) / 256 * self.advert_int


def mode_weights(mode: str) -> dict[str, int]:
    """The fault kinds a mode plays, with their weights (lan4: FAULT_WEIGHTS, in its order)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    weights = {k: w for k, w in FAULT_WEIGHTS.items() if k not in MODE_DROPS.get(mode, ())}
    weights.update(MODE_EXTRA.get(mode, {}))
    return weights


def make_schedule(seed: int, duration: float | None = None, advert_int: float | None = None,
                  witness: bool = False, mode: str = "lan4") -> Schedule:
    """A random but replayable schedule: faults start after a settling time, may overlap on
    different nodes (one network fault and one process fault per node at a time), and all end
    `tail` seconds before the end so that every schedule finishes with a quiet network.
    `witness`: the witness mode's schedule for the same seed (its two extra fault kinds drawn
    too), played alike by every daemon. lan4 draws from Random(seed) as it always did; other
    modes from Random("MODE:SEED")."""
    weights_by_kind = {**mode_weights(mode), **(WITNESS_WEIGHTS if witness else {})}
    rng = random.Random(seed if mode == "lan4" else f"{mode}:{seed}")
    if duration is None:
        duration = float(rng.randint(30, 60))
    if advert_int is None:
        advert_int = rng.choice((0.1, 0.2, 0.3, 0.5))
    settle, tail = 4.0, 4.0
    busy: dict[tuple[str, str], float] = {}
    faults: list[Fault] = []
    kinds = list(weights_by_kind)
    weights = [weights_by_kind[k] for k in kinds]
    t = settle
    while True:
        t += rng.uniform(0.3, 3.0)
        kind = rng.choices(kinds, weights)[0]
        length = 0.0
        node: str | None = rng.choice(NODES)
        arg: Any = None
        if kind in NET_KINDS or kind in WITNESS_KINDS or kind in ("proc_kill", "daemon_kill", "addr_flush", "if_recreate",
                                                                 "fd_pressure", "reload_remove"):
            length = round(rng.uniform(0.5, 6.0), 2)
        if kind == "loss":
            arg = rng.choice((5, 10, 20, 30))
        elif kind == "delay":
            arg = rng.choice(tuple(d for d in DELAYS_MS if d <= advert_int * 1000 + 1e-9))
        elif kind == "reload_priority":
            arg = rng.choice((90, 110, 130, 160, 200, PRIORITIES[node]))
        elif kind == "reload_broken":
            length = 0.5  # the broken file stays in place this long (no signal at the end)
        elif kind == "bad_burst":
            node, arg = None, rng.choice(BURST_KINDS)
        if t + length > duration - tail:
            break
        category = ("net" if kind in NET_KINDS or kind in WITNESS_KINDS or kind in ("addr_flush", "if_recreate")
                    else "proc" if kind in ("proc_kill", "daemon_kill", "reload_priority", "reload_broken",
                                            "fd_pressure", "reload_remove") else "client")
        key = (node or "client", category)
        if busy.get(key, 0.0) > t:
            continue
        # a restarted daemon gets its start-up time before the next signal: a SIGHUP that lands
        # while Python is still importing, or a broken file read at start-up, is not a reload test
        busy[key] = t + length + (STARTUP_GRACE if kind == "daemon_kill" else 0.2)
        faults.append(Fault(round(t, 2), kind, node, length, arg))
    return Schedule(seed, duration, advert_int, tuple(faults), witness, mode)


# --- the record of one run, and the verdicts (pure) ----------------------------------------


@dataclass
class Record:
    """What happened during one schedule, in seconds from its start."""

    daemon: str
    schedule: Schedule
    samples: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)
    events: list[tuple[float, str, str | None, str]] = field(default_factory=list)  # (t, kind, node, what)
    # Intervals [from, to) per node: when its link was down/partitioned, when it had loss or delay
    # (delayed spans carry a third item, the delay in seconds each way), when its daemon was down
    # (killed .. restarted + grace), when its tracked process was down.
    isolated: dict[str, list[list[float]]] = field(default_factory=dict)
    lossy: dict[str, list[list[float]]] = field(default_factory=dict)
    delayed: dict[str, list[list[float]]] = field(default_factory=dict)  # [from, to, delay in s]
    daemon_down: dict[str, list[list[float]]] = field(default_factory=dict)
    proc_down: dict[str, list[list[float]]] = field(default_factory=dict)
    crashed: dict[str, list[list[float]]] = field(default_factory=dict)  # exited on its own .. restarted
    etcd_cut: dict[str, list[list[float]]] = field(default_factory=dict)  # the node reached no etcd member
    witness_ttl: float = 0.0  # the daemon waited on a witness lease of this TTL (witness flavour)
    bursts: list[dict[str, Any]] = field(default_factory=list)
    health: list[dict[str, Any]] = field(default_factory=list)  # crash/leak observations
    frames: Counter[str] = field(default_factory=Counter)  # captured VRRP frames by source
    checker_errors: list[str] = field(default_factory=list)  # the checker's own trouble
    frame_log: list[tuple[float, str, int, int, int]] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)  # filled by judge()
    delay_stats: list[dict[str, Any]] = field(default_factory=list)  # per delay fault: packets held, lateness
    samples2: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)  # VIP2's holders (sync, reload)
    removed: dict[str, list[list[float]]] = field(default_factory=dict)  # reload mode: VI_SECOND not configured

    def add_interval(self, table: dict[str, list[list[float]]], node: str, start: float, end: float | None = None) -> None:
        table.setdefault(node, []).append([start, end if end is not None else float("inf")])

    def close_interval(self, table: dict[str, list[list[float]]], node: str, end: float) -> None:
        for span in table.get(node, []):
            if span[1] == float("inf"):
                span[1] = end


@dataclass(frozen=True)
class Violation:
    kind: str
    seed: int
    at: float
    detail: str


def _inside(spans: Iterable[Sequence[float]], t: float) -> bool:
    return any(s[0] <= t < s[1] for s in spans)


def _overlaps(spans: Iterable[Sequence[float]], a: float, b: float) -> bool:
    return any(s[0] < b and a < s[1] for s in spans)


def _delay_at(rec: Record, node: str, t: float) -> float:
    """The delay (s, each way) on the node's link at t; 0 when none."""
    return max((s[2] for s in rec.delayed.get(node, []) if s[0] <= t < s[1]), default=0.0)


def _priority_at(rec: Record, node: str, t: float) -> int:
    """The node's configured priority at t: the last reload_priority before t, else its own."""
    prio = PRIORITIES[node]
    for at, kind, n, what in rec.events:
        if at > t:
            break
        if kind == "reload_priority" and n == node and what.split() and what.split()[-1].isdigit():
            prio = int(what.split()[-1])
    return prio


def judge(rec: Record) -> list[Violation]:
    """Every verdict over one record."""
    sch = rec.schedule
    out: list[Violation] = []
    rec.stats = Counter()  # how much each verdict looked at, so that "no violation" means something
    adv, mdi = sch.advert_int, sch.master_down
    up = {n: (lambda t, n=n: not _inside(rec.daemon_down.get(n, []), t) and not _inside(rec.crashed.get(n, []), t))
          for n in NODES}

    def hears(a: str, b: str, t: float) -> bool:
        return all(up[n](t) and not _inside(rec.isolated.get(n, []), t) for n in (a, b))

    # split brain episodes, per pair
    for i, a in enumerate(NODES):
        for b in NODES[i + 1 :]:
            start: float | None = None
            lossy = False
            delays = {a: 0.0, b: 0.0}  # the largest delay each had during this episode
            reported = False
            for t, holders in rec.samples:
                both = a in holders and b in holders and hears(a, b, t)
                if hears(a, b, t):
                    rec.stats["hearing_pair_samples"] += 1
                if not both:
                    start, lossy, reported = None, False, False
                    delays = {a: 0.0, b: 0.0}
                    continue
                if start is None:
                    start = t
                lossy = lossy or _inside(rec.lossy.get(a, []), t) or _inside(rec.lossy.get(b, []), t)
                for n in (a, b):
                    delays[n] = max(delays[n], _delay_at(rec, n, t))
                # an advert from one to the other goes through the sender's delay (out) and the
                # receiver's delay (in): the pair's path delay is at most the sum
                path_delay = delays[a] + delays[b]
                bound = ((mdi + adv + SLACK) if lossy else (adv + SLACK)) + path_delay
                if not reported and t - start > bound:
                    reported = True
                    kind = "split_brain_loss" if lossy else "split_brain_delay" if path_delay else "split_brain"
                    out.append(Violation(kind, sch.seed, round(start, 2), f"{a}+{b} both hold the VIP and hear each other for > {bound:.2f}s"))

    # a VIP left behind by a daemon that exited on its own, while a running node holds it too
    for n in NODES:
        start = None
        for t, holders in rec.samples:
            orphan = n in holders and _inside(rec.crashed.get(n, []), t) and any(m != n and up[m](t) for m in holders)
            if not orphan:
                start = None
            elif start is None:
                start = t
            elif start != -1.0 and t - start > adv + SLACK:
                out.append(Violation("orphan_vip", sch.seed, round(start, 2), f"{n}'s daemon exited and left the VIP while {'+'.join(m for m in holders if m != n)} holds it"))
                start = -1.0

    # exactly one holder in a quiet network with a healthy node
    # a daemon going away or becoming up (start + grace) disturbs the network like a fault event
    event_times = sorted([t for t, *_ in rec.events] + [
        x for table in (rec.daemon_down, rec.crashed) for spans in table.values() for span in spans
        for x in span if x != float("inf")])
    net_spans = [s[:2] for table in (rec.isolated, rec.lossy, rec.delayed, rec.etcd_cut)
                 for spans in table.values() for s in spans]
    # ... and a (re)starting daemon disturbs it for its whole grace time (Python starts slowly)
    net_spans += [[b - STARTUP_GRACE, b] for table in (rec.daemon_down, rec.crashed) for spans in table.values()
                  for _a, b in spans if b != float("inf")]
    # with a witness, a Master that vanished without deleting its key is replaced once its lease
    # expired in etcd: up to a TTL more
    window = mdi + adv + SLACK + rec.witness_ttl
    bad_start: float | None = None
    worse_start: float | None = None
    for t, holders in rec.samples:
        recent = any(t - window <= e <= t for e in event_times)
        quiet = not recent and not _inside(net_spans, t) and t >= 2 * window + 1.0
        healthy = [n for n in NODES if up[n](t) and not _inside(rec.proc_down.get(n, []), t)]
        counted = [n for n in holders if up[n](t)]
        wrong = quiet and healthy and len(counted) != 1
        if quiet and healthy:
            rec.stats["quiet_samples"] += 1
        if wrong and bad_start is None:
            bad_start = t
            out.append(Violation("not_one_holder", sch.seed, round(t, 2), f"holders {sorted(counted) or 'none'}, healthy {healthy}"))
        elif not wrong:
            bad_start = None
        # ... and that one is a healthy node of the highest priority (preempt; ties may keep either)
        worse = False
        if quiet and healthy and len(counted) == 1:
            best = max(_priority_at(rec, n, t) for n in healthy)
            worse = counted[0] not in healthy or _priority_at(rec, counted[0], t) < best
        if worse and worse_start is None:
            worse_start = t
            out.append(Violation("not_best_holder", sch.seed, round(t, 2),
                                 f"{counted[0]} (priority {_priority_at(rec, counted[0], t)}) holds the VIP, healthy "
                                 + ", ".join(f"{n} {_priority_at(rec, n, t)}" for n in healthy)))
        elif not worse:
            worse_start = None

    for burst in rec.bursts:
        quiet = not any(burst["t0"] - window <= e <= burst["t1"] for e in event_times if e != burst["t0"]) and not _overlaps(net_spans, burst["t0"] - window, burst["t1"])
        if quiet and burst["holders_before"] != burst["holders_after"]:
            out.append(Violation("bad_packet_changed_state", sch.seed, round(burst["t0"], 2),
                                 f"{burst['kind']}: holders {burst['holders_before']} -> {burst['holders_after']}"))
        if quiet:
            for node, (before, after) in burst.get("transitions", {}).items():
                if before != after:
                    out.append(Violation("bad_packet_changed_state", sch.seed, round(burst["t0"], 2),
                                         f"{burst['kind']}: {node} transitions {before} -> {after}"))
        rec.stats["burst_node_checks"] += len(burst.get("counted", {}))
        rec.stats["quiet_bursts"] += bool(quiet)
        for node, grew in burst.get("counted", {}).items():
            if grew < burst["sent"]:
                out.append(Violation("drop_not_counted", sch.seed, round(burst["t0"], 2),
                                     f"{burst['kind']}: {node} counted {grew} of {burst['sent']} ({'/'.join(sorted(BURST_REASONS[burst['kind']]))})"))
    # witness schedules: the VIP on two live nodes at any moment, whatever the network (the
    # witness's promise; plain VRRP breaks it by design when the routers cannot hear each other)
    if sch.witness:
        start = None
        for t, holders in rec.samples:
            live = [n for n in holders if up[n](t)]
            if len(live) < 2:
                start = None
                continue
            rec.stats["dual_samples"] += 1
            if start is None:
                start = t
                out.append(Violation("dual_holder", sch.seed, round(t, 2), f"{'+'.join(live)} hold the VIP"))

    if sch.mode == "sync":
        out += _sync_apart(rec, up, adv)
    if sch.mode == "reload":
        out += _reload_verdicts(rec, up, adv, event_times, net_spans, window)
    # the checker itself: a gap in the samples means the verdicts above saw less than they claim
    last = 0.0
    for t, _holders in rec.samples:
        if t - last > 0.5:
            out.append(Violation("checker_gap", sch.seed, round(last, 2), f"no sample for {t - last:.2f}s"))
        last = t
    for h in rec.health:
        out.append(Violation(h["kind"], sch.seed, round(h["t"], 2), h["detail"]))
    return out


def _sync_apart(rec: Record, up: dict, adv: float) -> list[Violation]:
    """sync_apart: on a running node, one instance of the sync group holds its VIP and the other
    does not, for longer than one advert interval + slack (a sync group moves as one: both
    instances change state in the same step)."""
    out: list[Violation] = []
    for n in NODES:
        start: float | None = None
        reported = False
        for (t, h1), (_t2, h2) in zip(rec.samples, rec.samples2):
            if not up[n](t):
                start, reported = None, False
                continue
            rec.stats["sync_samples"] += 1
            if (n in h1) == (n in h2):
                start, reported = None, False
                continue
            if start is None:
                start = t
            if not reported and t - start > adv + SLACK:
                reported = True
                out.append(Violation("sync_apart", rec.schedule.seed, round(start, 2),
                                     f"{n}: VI_CAMPAIGN {'holds' if n in h1 else 'lacks'} its VIP, VI_SECOND "
                                     f"{'holds' if n in h2 else 'lacks'} its VIP, for > {adv + SLACK:.2f}s"))
    return out


def _reload_verdicts(rec: Record, up: dict, adv: float, event_times: list[float], net_spans: list,
                     window: float) -> list[Violation]:
    """removed_vip_kept: a node whose reload removed VI_SECOND still holds VI_SECOND's VIP an
    advert interval + slack after the reload (while its daemon runs).
    reload_touched_other: a reload that removed or re-added VI_SECOND on a node, in a quiet
    network, changed whether that node holds VI_CAMPAIGN's VIP within a master-down window."""
    out: list[Violation] = []
    for n, spans in rec.removed.items():
        for a, b in spans:
            for t, h2 in rec.samples2:
                if a + adv + SLACK <= t < b and up[n](t):
                    rec.stats["removed_samples"] += 1
                    if n in h2:
                        out.append(Violation("removed_vip_kept", rec.schedule.seed, round(a, 2),
                                             f"{n} still holds {VIP2.ip} at {t:.2f}s, VI_SECOND removed at {a:.2f}s"))
                        break
    for t_e, kind, n, what in rec.events:
        if kind != "reload_remove" or n is None:
            continue
        quiet = (not any(t_e - window <= e <= t_e + window for e in event_times if e != t_e)
                 and not _overlaps(net_spans, t_e - window, t_e + window)
                 and not _overlaps(rec.proc_down.get(n, []), t_e - window, t_e + window)
                 and all(up[n](t) for t in (t_e - window, t_e, t_e + window)))
        if not quiet:
            continue
        before = [h for t, h in rec.samples if t_e - window <= t < t_e - 0.2]
        after = [h for t, h in rec.samples if t_e - 0.2 <= t <= t_e + window]
        if not before or not after:
            continue
        rec.stats["quiet_reloads"] += 1
        held = n in before[-1]
        changed = [h for h in after if (n in h) != held]
        if changed:
            out.append(Violation("reload_touched_other", rec.schedule.seed, round(t_e, 2),
                                 f"{n} reload ({what}) of VI_SECOND: VI_CAMPAIGN's VIP {'held' if held else 'absent'} "
                                 f"before, {'absent' if held else 'held'} after"))
    return out


# --- bad frames (pure) ---------------------------------------------------------------------


def bad_frames(kind: str, src_mac: bytes, src: ipaddress.IPv4Address, count: int, seq: int = 0) -> list[bytes]:
    """`count` Ethernet frames of one mutation of a high-priority (254) advert for our VRID.

    Accepted, any of them would move the master: that is what makes "no state changed" mean
    something."""
    eth = bytes.fromhex("01005e000012") + src_mac + b"\x08\x00"
    frames = []
    for i in range(count):
        ip_id = (seq + i) & 0xFFFF
        v3 = packet.Advertisement.v3(VRID, 254, (VIP.ip,), 100)
        if kind == "bad_ttl":
            dgram = packet.encode_ipv4_datagram(v3, src, MCAST, ttl=64, ip_id=ip_id)
        elif kind == "wrong_vrid":
            dgram = packet.encode_ipv4_datagram(packet.Advertisement.v3(VRID + 1 + i % 3, 254, (VIP.ip,), 100), src, MCAST, ip_id=ip_id)
        elif kind == "wrong_auth":
            dgram = packet.encode_ipv4_datagram(packet.Advertisement.v2(VRID, 254, (VIP.ip,), 1, auth_pass=b"wr0ng!"), src, MCAST, ip_id=ip_id)
        elif kind == "bad_checksum":
            good = packet.encode(v3, src, MCAST)
            payload = good[:6] + bytes([good[6] ^ 0x5A, good[7] ^ (i % 255 + 1)]) + good[8:]
            dgram = _ipv4(payload, src, MCAST, ip_id)
        elif kind == "truncated":
            good = packet.encode(v3, src, MCAST)
            dgram = _ipv4(good[: 1 + i % 7], src, MCAST, ip_id)
        else:
            raise ValueError(f"unknown burst kind {kind}")
        frames.append(eth + dgram)
    return frames


def _ipv4(payload: bytes, src: ipaddress.IPv4Address, dst: ipaddress.IPv4Address, ip_id: int, ttl: int = 255) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(payload), ip_id, 0, ttl, 112, 0, src.packed, dst.packed)
    header = header[:10] + struct.pack("!H", packet.internet_checksum(header)) + header[12:]
    return header + payload


# --- configuration --------------------------------------------------------------------------


def config_text(node: str, priority: int, advert_int: float, process: str,
                witness_endpoints: Sequence[str] = (), mode: str = "lan4",
                src: str | None = None, peers: Sequence[str] = (), second: bool = True) -> str:
    """One node's keepalived.conf; read alike by vipkeeper and keepalived 2.2.7 (with
    `witness_endpoints`, vipkeeper's quorum witness on them: vipkeeper only).

    ipv6: the VIP is VIP6. unicast: unicast_src_ip SRC and the PEERS. sync: a second instance
    (VRID2, VIP2) and a sync group of both. reload: the second instance, without a sync group,
    left out when `second` is False."""
    witness = witness_block = ""
    if witness_endpoints:
        witness = "\n  witness etcd"
        witness_block = (f"vipkeeper_witness etcd {{\n  endpoints {' '.join(witness_endpoints)}\n"
                         f"  lease_ttl {WITNESS_TTL}\n  timeout 0.3\n  policy fail_closed\n}}\n")

    def instance(name: str, vrid: int, vip: ipaddress.IPv4Interface | ipaddress.IPv6Interface) -> str:
        unicast = ""
        if mode == "unicast":
            unicast = f"  unicast_src_ip {src}\n  unicast_peer {{\n" + "".join(f"    {p}\n" for p in peers) + "  }\n"
        return f"""vrrp_instance {name} {{
  state BACKUP
  interface eth0
  virtual_router_id {vrid}
  version 3
  priority {priority}
  advert_int {advert_int:g}
{unicast}  virtual_ipaddress {{
    {vip} dev eth0
  }}
  track_process {{
    track_{node}
  }}{witness}
}}
"""

    text = witness_block + f"""global_defs {{
  router_id node-{node}
  vrrp_garp_master_delay 0
  vrrp_garp_master_repeat 1
}}
vrrp_track_process track_{node} {{
  process {process}
  quorum 1
}}
"""
    text += instance("VI_CAMPAIGN", VRID, VIP6 if mode == "ipv6" else VIP)
    if mode in TWO_INSTANCES and (second or mode == "sync"):
        text += instance("VI_SECOND", VRID2, VIP2)
    if mode == "sync":
        text += "vrrp_sync_group SG_CAMPAIGN {\n  group {\n    VI_CAMPAIGN\n    VI_SECOND\n  }\n}\n"
    return text


BROKEN_CONFIG = "vrrp_instance VI_CAMPAIGN {\n  interface eth0\n  virtual_router_id {{{\n"


# --- the runner (root, namespaces) ----------------------------------------------------------


def _now() -> float:
    return time.monotonic()


class _Netlink:
    """A NETLINK_ROUTE socket made inside one namespace; dumps IPv4 addresses quickly."""

    def __init__(self, ns: str, family: int = socket.AF_INET) -> None:
        from vipkeeper.net.netns import call_in

        self.family = family

        self.sock: socket.socket = call_in(ns, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
        self.sock.bind((0, 0))
        self.sock.settimeout(1.0)
        self.seq = 0
        self.lock = threading.Lock()  # the sampler and a burst both ask; one dump at a time

    def ipv4(self) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        """The addresses of the socket's family (IPv4 unless made for AF_INET6)."""
        with self.lock:
            return self._dump()

    def _dump(self) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        self.seq += 1
        # nlmsghdr + ifaddrmsg (family AF_INET), RTM_GETADDR=22, NLM_F_REQUEST|NLM_F_DUMP
        msg = struct.pack("=LHHLL", 16 + 8, 22, 0x301, self.seq, 0) + struct.pack("=BBBBL", self.family, 0, 0, 0, 0)
        self.sock.send(msg)
        found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, mtype, _flags, seq, _pid = struct.unpack_from("=LHHLL", data, off)
                if length < 16:
                    return found
                if mtype == 3 or mtype == 2:  # DONE / ERROR
                    return found
                if mtype == 20 and seq == self.seq:
                    attr = off + 16 + 8
                    while attr + 4 <= off + length:
                        alen, atype = struct.unpack_from("=HH", data, attr)
                        if alen < 4:
                            break
                        if atype == 2 and self.family == socket.AF_INET:  # IFA_LOCAL
                            found.add(ipaddress.IPv4Address(data[attr + 4 : attr + 8]))
                        elif atype == 1 and self.family == socket.AF_INET6 and alen >= 20:  # IFA_ADDRESS
                            found.add(ipaddress.IPv6Address(data[attr + 4 : attr + 20]))
                        attr += (alen + 3) & ~3
                off += (length + 3) & ~3

    def close(self) -> None:
        self.sock.close()


class _Daemon:
    """One node's daemon (vipkeeper or keepalived), started from the initial namespace."""

    def __init__(self, flavour: str, node: str, ns: str, workdir: Path, log, owner: _Owner | None = None) -> None:
        self.flavour, self.node, self.ns, self.workdir = flavour, node, ns, workdir
        self.owner = owner
        self.conf = workdir / f"{node}.conf"
        self.sock = str(workdir / f"{node}.ctl")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = log
        self.incarnation = 0
        self.expected_exit = False
        self.started_at = 0.0
        self.log_mark: int | None = None  # log size after this start's marker, until it grows
        self.first_output: list[tuple[float, float]] = []  # (start, first log output), monotonic

    def start(self) -> None:
        self.incarnation += 1
        self.started_at = _now()
        if self.flavour.startswith("vipkeeper"):
            # a SIGKILLed incarnation leaves its socket file: `ready` means the new one made it
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.sock)
            argv = ["vipkeeper", "run", "-n", "-l", "--no-syslog", "-f", str(self.conf),
                    "-p", str(self.workdir / f"{self.node}.pid"), "--control-socket", self.sock,
                    "--netns", self.ns, "--data-file", str(self.workdir / f"{self.node}.data"),
                    "--stats-file", str(self.workdir / f"{self.node}.stats")]
        else:
            argv = ["keepalived", "-n", "-l", "-D", "-P", "-f", str(self.conf), "-s", self.ns,
                    "-p", str(self.workdir / f"{self.node}.pid"), "-r", str(self.workdir / f"{self.node}.vrrp.pid"),
                    "-i", self.node]
        with open(self.workdir / f"{self.node}.log", "ab") as errlog:
            errlog.write(f"=== start {self.incarnation} at {time.time():.3f}\n".encode())
            errlog.flush()
            self.log_mark = errlog.tell()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=errlog, stderr=errlog,
                                         start_new_session=True)
        if self.owner is not None:
            self.owner.add(self.proc.pid)
        self.expected_exit = False

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def ready(self) -> bool:
        """Done starting: vipkeeper's control socket exists (keepalived: always, after the grace)."""
        return not self.flavour.startswith("vipkeeper") or os.path.exists(self.sock)

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.proc is not None
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL (the whole process group for keepalived: parent and VRRP child)."""
        if self.proc is None:
            return
        self.expected_exit = True
        orphans = self.measured_pids()[1:]
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        # keepalived's VRRP child is orphaned by the kill; as child subreaper we adopt and reap
        # it, or its zombie keeps the PID in its pid file alive and the restarted keepalived
        # says "daemon is already running".
        for pid in orphans:
            _reap(pid, 3.0)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.expected_exit = True
        if self.alive:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        self.kill()

    def measured_pids(self) -> list[int]:
        """The processes whose fds/RSS we watch: the daemon, and keepalived's VRRP child."""
        if not self.alive:
            return []
        assert self.proc is not None
        pids = [self.proc.pid]
        if self.flavour == "keepalived":
            try:
                pids.append(int((self.workdir / f"{self.node}.vrrp.pid").read_text().split()[0]))
            except (OSError, ValueError, IndexError):
                pass
        return pids

    def status(self) -> dict[str, Any] | None:
        if not self.flavour.startswith("vipkeeper") or not self.alive:
            return None
        from vipkeeper.control.client import ControlError, request

        try:
            return request("status", path=self.sock, timeout=2.0)
        except ControlError:
            return None


def _start_time(pid: int) -> int | None:
    """A process's start time (clock ticks since boot), None when it is gone or a zombie (a
    killed runner stays one until its parent reaps it): PID + start time names one process,
    even after its PID is recycled."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


class _Owner:
    """The runner's claim on what it creates, in WORKDIR/owner.json: its own PID and start time,
    the Topology's namespace prefix, and every process it started (PID, start time). A runner
    that is SIGKILLed leaves this file behind; reap_stale() uses it to clean up after it."""

    def __init__(self, workdir: Path, prefix: str) -> None:
        self.path = workdir / OWNER_FILE
        me = os.getpid()
        self.data: dict[str, Any] = {"pid": me, "start": _start_time(me), "prefix": prefix, "pids": []}
        self._lock = threading.Lock()
        self._write()

    def add(self, pid: int) -> None:
        with self._lock:
            self.data["pids"].append([pid, _start_time(pid)])
            self._write()

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)


def reap_stale(tmpdir: Path | None = None) -> list[str]:
    """Clean up after campaign runners that died without tearing down (SIGKILL, OOM, power).

    Only workdirs with an owner file whose runner (PID + start time) no longer exists are
    touched, and of those only what the file names: the processes it records, each killed only
    if it is still the same process (same start time; a daemon's whole process group, as it was
    started in a session of its own), any process whose network namespace is one of the dead
    runner's (keepalived's VRRP child), then the namespaces PREFIX-* and the workdir. Nothing is
    found by name. Returns what was removed, for the log."""
    from pyroute2 import netns

    from vipkeeper.net.netns import NETNS_RUN_DIR

    done: list[str] = []
    base = tmpdir or Path(tempfile.gettempdir())
    for workdir in sorted(base.glob("vkcamp-*")):
        try:
            owner = json.loads((workdir / OWNER_FILE).read_text())
            runner, prefix = int(owner["pid"]), str(owner["prefix"])
            pids = [(int(p), s) for p, s in owner["pids"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # no claim (a runner still starting, or not ours): leave it alone
        start = owner.get("start")
        if (_start_time(runner) == start) if start is not None else os.path.exists(f"/proc/{runner}"):
            continue  # its runner is alive (maybe a parallel worker)
        if not prefix.startswith("vk") or "/" in prefix:
            continue
        for pid, start in pids:
            if start is not None and _start_time(pid) == start:
                try:
                    os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)
                    done.append(f"process {pid}")
                except OSError:
                    pass
        names = [n for n in (os.listdir(NETNS_RUN_DIR) if os.path.isdir(NETNS_RUN_DIR) else [])
                 if n.startswith(prefix + "-")]
        inodes = set()
        for name in names:
            try:
                inodes.add(os.stat(os.path.join(NETNS_RUN_DIR, name)).st_ino)
            except OSError:
                pass
        if inodes:
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes:
                        os.kill(int(entry), signal.SIGKILL)
                        done.append(f"process {entry} (in {prefix}-*)")
                except OSError:
                    pass
        for name in names:
            try:
                netns.remove(name)
                done.append(f"netns {name}")
            except OSError:
                pass
        shutil.rmtree(workdir, ignore_errors=True)
        done.append(f"workdir {workdir} (runner {runner})")
    return done


def _become_subreaper(on: bool = True) -> None:
    """PR_SET_CHILD_SUBREAPER: orphans of the daemons we start become our children (for the
    length of one schedule only)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(36, 1 if on else 0, 0, 0, 0)


def _reap(pid: int, timeout: float) -> None:
    deadline = _now() + timeout
    while _now() < deadline:
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            if not os.path.exists(f"/proc/{pid}"):
                return
            done = 0  # not adopted yet
        if done:
            return
        time.sleep(0.01)


def _proc_stats(pid: int) -> tuple[int, int, int] | None:
    """(fd count, RSS kB, zombie children) of a live PID, None when it is gone."""
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        rss = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except (OSError, ValueError):
        return None
    zombies = 0
    for child in children:
        try:
            with open(f"/proc/{child}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    zombies += 1
        except (OSError, IndexError):
            pass
    return fds, rss, zombies


def _drops(snapshot: dict[str, Any] | None) -> Counter[str]:
    total: Counter[str] = Counter()
    if not snapshot:
        return total
    total.update(snapshot.get("drops") or {})
    for inst in snapshot.get("instances") or []:
        total.update(inst.get("counters", {}).get("drops") or {})
    return total


def _transitions(snapshot: dict[str, Any] | None) -> int | None:
    if not snapshot:
        return None
    return sum(inst.get("counters", {}).get("transitions", 0) for inst in snapshot.get("instances") or [])


def run_schedule(schedule: Schedule, flavour: str, keep_dir: Path | None = None, verbose: bool = False) -> Record:
    """Build the LAN, start three daemons, play the schedule in real time, tear everything down."""
    from bench.campaign.nfqueue_delay import IPTABLES_RESTORE, NfqueueDelay, ruleset
    from vipkeeper.lab.topology import Topology
    from vipkeeper.net.netns import call_in

    if flavour == WITNESS_FLAVOUR and not schedule.witness:
        raise ValueError(f"{WITNESS_FLAVOUR} plays witness schedules only (make_schedule(..., witness=True))")
    reaped = reap_stale()
    rec = Record(flavour, schedule, witness_ttl=WITNESS_TTL + WITNESS_SLACK if flavour == WITNESS_FLAVOUR else 0.0)
    if reaped and verbose:
        print(f"  cleaned up after a dead runner: {', '.join(reaped)}", flush=True)
    _become_subreaper()
    workdir = Path(tempfile.mkdtemp(prefix=f"vkcamp-{flavour}-{schedule.seed}-"))
    topo = Topology()
    owner = _Owner(workdir, topo.prefix)  # before anything is built: a kill from here on is recoverable
    delayers: dict[str, NfqueueDelay] = {}
    daemons: dict[str, _Daemon] = {}
    sleepers: dict[str, subprocess.Popen[bytes] | None] = {}
    netlinks: dict[str, _Netlink] = {}
    stop = threading.Event()
    lock = threading.Lock()  # a daemon's kill/start against the watcher's crash detection
    starting: set[str] = set()  # nodes whose daemon was (re)started and is not up yet
    threads: list[threading.Thread] = []
    t_zero = _now()

    def rel() -> float:
        return _now() - t_zero

    def note(kind: str, node: str | None, what: str, at: float | None = None) -> None:
        # `at`: when the step began. An event is dated before its action, never after it: a
        # sample taken between a fault's effect and its note would otherwise count as quiet
        # (a tracked process killed drops its node's VIP within milliseconds).
        when = rel() if at is None else at
        rec.events.append((round(when, 3), kind, node, what))
        if verbose:
            print(f"  {when:6.2f} {flavour} {kind} {node or ''} {what}", flush=True)

    etcd = None
    try:
        mode = schedule.mode
        lan = topo.add_bridge_lan(NODES + (ETCD_NODES if schedule.witness else ()), client="client", ipv6=mode == "ipv6")
        main_ip = VIP6.ip if mode == "ipv6" else VIP.ip
        # mixed: node b runs keepalived in vipkeeper's runs (one VRID, both daemons, same faults);
        # keepalived's runs are keepalived throughout, the baseline beside it
        flavours = {n: "keepalived" if mode == "mixed" and n == "b" else flavour for n in NODES}
        removed_now: set[str] = set()  # reload mode: nodes whose configuration lacks VI_SECOND
        limits: dict[str, list[tuple[int, tuple[int, int]]]] = {}  # fd mode: RLIMIT_NOFILE to restore
        nodes = {n.name: n for n in lan.nodes}
        etcd_ips = ", ".join(str(nodes[e].ipv4.ip) for e in ETCD_NODES) if schedule.witness else ""
        endpoints: tuple[str, ...] = ()
        if flavour == WITNESS_FLAVOUR:
            from vipkeeper.lab.etcd import EtcdCluster

            etcd = EtcdCluster(topo, [nodes[e] for e in ETCD_NODES], workdir)
            etcd.start()
            endpoints = tuple(etcd.endpoints)
        client = lan.client
        assert client is not None
        # the process connector is global: parallel runners must never track each other's
        # process, so the name carries the topology's whole random prefix (10 of 15 comm chars)
        tag = topo.prefix[2:]
        procdir = workdir / "bin"
        procdir.mkdir()
        procname = {n: f"vkt{tag}{n}" for n in NODES}
        for n in NODES:
            shutil.copy("/bin/sleep", procdir / procname[n])
            sleepers[n] = None
        nft_rules: dict[str, dict[str, str]] = {n: {} for n in NODES}
        nft_in: dict[str, dict[str, str]] = {n: {} for n in NODES}  # input-only rules

        def nft_apply(n: str) -> None:
            body = "".join(f"  {r}\n" for r in nft_rules[n].values())
            in_only = "".join(f"  {r}\n" for r in nft_in[n].values())
            script = ("table inet vkcamp\nflush table inet vkcamp\ntable inet vkcamp {\n"
                      " chain in { type filter hook input priority 0; policy accept;\n"
                      + body.replace("DIR", "iifname") + in_only + " }\n"
                      " chain out { type filter hook output priority 0; policy accept;\n"
                      + body.replace("DIR", "oifname") + " }\n}\n")
            topo.run(nodes[n].ns, ["nft", "-f", "-"], input=script)

        def drop_at_input(n: str, key: str, match: str | None) -> None:
            """Drop (`match`: '' for every frame, or an nft match to drop some) or stop dropping
            (None) on n's input and, by n's MAC, on every other node's input: the node's link
            fails both ways while no send of anyone's fails."""
            for m in NODES:
                name = key if m == n else f"{key}_from_{n}"
                if match is None:
                    nft_in[m].pop(name, None)
                else:
                    mac = "" if m == n else f"ether saddr {nodes[n].mac} "
                    nft_in[m][name] = f'iifname "eth0" {mac}{match}drop'
            for m in NODES:
                nft_apply(m)

        def start_sleeper(n: str) -> None:
            sleepers[n] = subprocess.Popen([str(procdir / procname[n]), "100000"], start_new_session=True)
            owner.add(sleepers[n].pid)

        def stop_sleeper(n: str) -> None:
            proc = sleepers[n]
            if proc is not None:
                proc.kill()
                proc.wait(5)
            sleepers[n] = None

        priority = dict(PRIORITIES)

        def write_conf(n: str, text: str | None = None) -> None:
            d = daemons[n]
            peers = [str(o.ipv4.ip) for o in lan.nodes if o.name in NODES and o.name != n]
            # Written aside and renamed over: a daemon reading the file for a reload sees the old
            # text or the new, never an empty or half-written file (a reload_broken reverted a few
            # ms after its SIGHUP once let a daemon read the file between truncate and write).
            tmp = d.conf.with_name(d.conf.name + ".new")
            tmp.write_text(text if text is not None else config_text(
                n, priority[n], schedule.advert_int, procname[n], endpoints, mode=mode, src=str(nodes[n].ipv4.ip),
                peers=peers, second=n not in removed_now))
            os.replace(tmp, d.conf)

        for n in NODES:
            nft_apply(n)
            start_sleeper(n)
            daemons[n] = _Daemon(flavours[n], n, nodes[n].ns, workdir, None, owner)
            write_conf(n)
            netlinks[n] = _Netlink(nodes[n].ns, socket.AF_INET6 if mode == "ipv6" else socket.AF_INET)

        # the sampler: every 10 ms, who holds the VIP
        def sampler() -> None:
            while not stop.is_set():
                t = rel()
                try:
                    addrs = {n: netlinks[n].ipv4() for n in NODES}
                except OSError as exc:  # no sample this round; the record says so
                    rec.checker_errors.append(f"{t:.2f}s sampler: {exc}")
                    time.sleep(0.01)
                    continue
                # dated when the reads are done: every node's state was read at or before that time,
                # never after it (dated at the start, a read that a loaded machine finished after a
                # fault's action was dated before the action: reload seed 122)
                seen = rel()
                rec.samples.append((round(seen, 3), tuple(n for n in NODES if main_ip in addrs[n])))
                if mode in TWO_INSTANCES:  # in step with samples (the sync verdict zips them)
                    rec.samples2.append((round(seen, 3), tuple(n for n in NODES if VIP2.ip in addrs[n])))
                time.sleep(max(0.0, 0.01 - (rel() - t)))

        # the capture: VRRP frames on the bridge, seen from the client
        cap = call_in(client.ns, lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800)))
        cap.bind(("eth0", 0))
        cap.settimeout(0.2)
        tx = call_in(client.ns, lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
        tx.bind(("eth0", 0))
        client_mac = bytes.fromhex(client.mac.replace(":", ""))

        def capture() -> None:
            while not stop.is_set():
                try:
                    data, _addr = cap.recvfrom(2048)
                except (TimeoutError, OSError):
                    continue
                ip = data[14:]  # AF_PACKET SOCK_RAW: the Ethernet header comes first
                if len(ip) >= 20 and ip[9] == 112:
                    src = str(ipaddress.IPv4Address(ip[12:16]))
                    rec.frames[src] += 1
                    ihl = (ip[0] & 0x0F) * 4
                    if len(ip) >= ihl + 3:  # (t, source, TTL, VRID, priority) for the logs
                        rec.frame_log.append((round(rel(), 3), src, ip[8], ip[ihl + 1], ip[ihl + 2]))

        # the watcher: fds, RSS, zombies, unexpected exits, once a second
        def watcher() -> None:
            base: dict[tuple[str, int, int], tuple[int, int]] = {}
            zombie_seen: dict[tuple[str, int], int] = {}
            crashed: set[tuple[str, int]] = set()
            rounds = 0
            while not stop.wait(0.1):
                t = rel()
                rounds += 1
                # a (re)started daemon counts as down until its grace time is over and it is
                # ready (vipkeeper: its control socket exists), whichever comes later: under load
                # a start can outlast the grace, and a VIP left by the killed incarnation is
                # removed only once the new one runs
                for n in list(starting):
                    d = daemons[n]
                    if _now() - d.started_at > STARTUP_GRACE and d.ready:
                        rec.close_interval(rec.daemon_down, n, t)
                        rec.close_interval(rec.crashed, n, t)
                        starting.discard(n)
                for n, d in daemons.items():
                    if d.log_mark is not None:  # the first line this incarnation logs: it runs its code
                        try:
                            if os.path.getsize(d.workdir / f"{n}.log") > d.log_mark:
                                d.first_output.append((d.started_at, _now()))
                                d.log_mark = None
                        except OSError:
                            pass
                    key = (n, d.incarnation)
                    with lock:
                        if d.proc is not None and not d.alive and not d.expected_exit and key not in crashed:
                            crashed.add(key)
                            rec.add_interval(rec.crashed, n, t - 0.1)
                            rec.health.append({"kind": "crash", "t": t, "detail": f"{n} daemon exited with {d.proc.returncode} (log {d.workdir / (n + '.log')})"})
                    if rounds % 10:
                        continue
                    for pid in d.measured_pids():
                        stats = _proc_stats(pid)
                        if stats is None:
                            continue
                        fds, rss, zombies = stats
                        k = (n, d.incarnation, pid)
                        if k not in base:
                            # the baseline once started: after the grace time and, for vipkeeper,
                            # once its control socket exists (it is opened after every start-up
                            # step; with the witness, importing aiohttp and the first etcd
                            # connections can outlast the grace time on a loaded machine)
                            if _now() - d.started_at > FD_BASELINE_GRACE and d.ready:
                                base[k] = (fds, rss)
                            continue
                        fd0, rss0 = base[k]
                        if fds > fd0 + FD_GROWTH:
                            rec.health.append({"kind": "fd_leak", "t": t, "detail": f"{n} pid {pid}: fds {fd0} -> {fds}"})
                            base[k] = (fds, max(rss, rss0))
                        if rss > rss0 + RSS_GROWTH_KB:
                            rec.health.append({"kind": "rss_leak", "t": t, "detail": f"{n} pid {pid}: RSS {rss0} kB -> {rss} kB"})
                            base[k] = (fds, rss)
                        zk = (n, pid)
                        if zombies:
                            zombie_seen[zk] = zombie_seen.get(zk, 0) + 1
                            if zombie_seen[zk] == 3:
                                rec.health.append({"kind": "zombie", "t": t, "detail": f"{n} pid {pid}: {zombies} zombie children for 3 s"})
                        else:
                            zombie_seen[zk] = 0

        for fn in (sampler, capture, watcher):
            th = threading.Thread(target=fn, daemon=True, name=f"campaign-{fn.__name__}")
            threads.append(th)
        t_zero = _now()
        for th in threads:
            th.start()
        for n in NODES:
            daemons[n].start()
            note("daemon_start", n, "initial")
            rec.add_interval(rec.daemon_down, n, 0.0)
            starting.add(n)

        # the plan: (time, seq, action, fault)
        plan: list[tuple[float, int, str, Fault]] = []
        for i, f in enumerate(schedule.faults):
            plan.append((f.start, i, "apply", f))
            if f.duration > 0:
                plan.append((f.end, i, "revert", f))
        plan.sort(key=lambda p: (p[0], p[1]))
        burst_seq = 0
        for at, _i, action, f in plan:
            delay = at - rel()
            if delay > 0:
                time.sleep(delay)
            began = rel()
            n = f.node
            if f.kind == "loss":
                # loss on the node's link, both ways, as a faulty cable or switch port loses frames:
                # dropped on input only (an nft output drop is a local send error, EPERM, which the
                # daemon rightly treats as its own fault; a lossy network never says so)
                drop_at_input(n, "loss", f"numgen random mod 100 < {f.arg} " if action == "apply" else None)
                (rec.add_interval if action == "apply" else rec.close_interval)(rec.lossy, n, rel())
            elif f.kind == "delay":
                if action == "apply":
                    # reader first, then the rules: no packet is queued with no one to hold it
                    rec.delayed.setdefault(n, []).append([rel(), float("inf"), f.arg / 1000])
                    delayers[n] = NfqueueDelay(nodes[n].ns, f.arg / 1000).start()
                    topo.run(nodes[n].ns, IPTABLES_RESTORE, input=ruleset(True))
                else:
                    # rules first: once the reader closes, the kernel drops what is queued to it
                    topo.run(nodes[n].ns, IPTABLES_RESTORE, input=ruleset(False))
                    rec.delay_stats.append(_stop_delayer(delayers.pop(n), n, f.arg, rec))
                    rec.close_interval(rec.delayed, n, rel())
            elif f.kind == "partition":
                # a partition drops what reaches the node and what the others get from it (by its
                # MAC: IPv6 adverts come from a link-local address), never the node's own output:
                # a local send error is the daemon's business (vipkeeper: FAULT), not a partition's
                drop_at_input(n, "partition", "" if action == "apply" else None)
                (rec.add_interval if action == "apply" else rec.close_interval)(rec.isolated, n, rel())
            elif f.kind == "vrrp_split":
                # Silent, as a switch fault or a firewall between the routers is: dropped on the
                # receiving side only (the node's own sends succeed, so it does not go to FAULT
                # for failing sends), its adverts at every other router, theirs at it.
                split_from = f"{nodes[n].ipv4.ip}"
                if action == "apply":
                    nft_rules[n]["vrrp_split"] = 'iifname "eth0" ip protocol 112 drop'
                    for m in NODES:
                        if m != n:
                            nft_rules[m][f"vrrp_split_{n}"] = f'iifname "eth0" ip saddr {split_from} ip protocol 112 drop'
                    for m in NODES:
                        nft_apply(m)
                    rec.add_interval(rec.isolated, n, rel())  # it hears no router, nor they it
                else:
                    nft_rules[n].pop("vrrp_split", None)
                    for m in NODES:
                        nft_rules[m].pop(f"vrrp_split_{n}", None)
                    for m in NODES:
                        nft_apply(m)
                    rec.close_interval(rec.isolated, n, rel())
            elif f.kind == "etcd_cut":
                if action == "apply":
                    nft_rules[n]["etcd_cut"] = (f'DIR "eth0" ip daddr {{ {etcd_ips} }} drop\n'
                                                f'  DIR "eth0" ip saddr {{ {etcd_ips} }} drop')
                    nft_apply(n)
                    rec.add_interval(rec.etcd_cut, n, rel())
                else:
                    nft_rules[n].pop("etcd_cut", None)
                    nft_apply(n)
                    rec.close_interval(rec.etcd_cut, n, rel())
            elif f.kind == "link_down":
                if action == "apply":
                    rec.add_interval(rec.isolated, n, rel())
                    topo.link_set(nodes[n].ns, "eth0", False)
                else:
                    topo.link_set(nodes[n].ns, "eth0", True)
                    rec.close_interval(rec.isolated, n, rel())
            elif f.kind == "proc_kill":
                if action == "apply":
                    rec.add_interval(rec.proc_down, n, began)  # down from before the kill
                    stop_sleeper(n)
                else:
                    start_sleeper(n)
                    # the tracker's own delay/rescan: count it down until the next advert
                    rec.close_interval(rec.proc_down, n, rel() + schedule.advert_int + SLACK)
            elif f.kind == "daemon_kill":
                if action == "apply":
                    rec.add_interval(rec.daemon_down, n, rel())
                    with lock:
                        daemons[n].kill()
                else:
                    write_conf(n)
                    with lock:
                        daemons[n].start()
                    starting.add(n)  # the watcher closes daemon_down/crashed once it is up
                    note("daemon_start", n, "restart")
            elif f.kind == "reload_priority":
                priority[n] = f.arg
                write_conf(n)
                daemons[n].signal(signal.SIGHUP)
            elif f.kind == "reload_broken":
                if action == "apply":
                    write_conf(n, BROKEN_CONFIG)
                    daemons[n].signal(signal.SIGHUP)
                else:
                    write_conf(n)
            elif f.kind == "addr_flush":  # an admin's `ip -4 addr flush dev eth0`: VIP and own address go
                if action == "apply":
                    rec.add_interval(rec.isolated, n, rel())
                    topo.run(nodes[n].ns, ["ip", "-4", "addr", "flush", "dev", "eth0"])
                else:
                    topo.run(nodes[n].ns, ["ip", "addr", "add", str(nodes[n].ipv4), "dev", "eth0"])
                    rec.close_interval(rec.isolated, n, rel())
            elif f.kind == "if_recreate":  # eth0 deleted, later re-created with the same name
                if action == "apply":
                    rec.add_interval(rec.isolated, n, rel())
                    topo.run(nodes[n].ns, ["ip", "link", "del", "eth0"])
                else:
                    node_obj = lan[n]
                    topo._join(node_obj, lan.bridge_ns, lan.bridge)  # the LAN's own way of adding a port
                    deadline = _now() + 5
                    while not topo._usable(node_obj) and _now() < deadline:
                        time.sleep(0.02)
                    rec.close_interval(rec.isolated, n, rel())
            elif f.kind == "fd_pressure":  # RLIMIT_NOFILE down to the fds open now: no new fd at all
                if action == "apply":
                    limits[n] = []
                    for pid in daemons[n].measured_pids():
                        try:
                            old = resource.prlimit(pid, resource.RLIMIT_NOFILE)
                            resource.prlimit(pid, resource.RLIMIT_NOFILE, (len(os.listdir(f"/proc/{pid}/fd")), old[1]))
                            limits[n].append((pid, old))
                        except OSError:
                            pass
                else:
                    for pid, old in limits.pop(n, []):
                        try:
                            resource.prlimit(pid, resource.RLIMIT_NOFILE, old)
                        except OSError:  # gone
                            pass
            elif f.kind == "reload_remove":  # SIGHUP with VI_SECOND left out, later put back
                if action == "apply":
                    removed_now.add(n)
                    rec.add_interval(rec.removed, n, rel())
                else:
                    removed_now.discard(n)
                    rec.close_interval(rec.removed, n, rel())
                write_conf(n)
                daemons[n].signal(signal.SIGHUP)
            elif f.kind == "bad_burst":
                rec.bursts.append(_burst(f.arg, daemons, netlinks, tx, client_mac, client.ipv4.ip, burst_seq, rel, rec))
                burst_seq += 64
            note(f.kind, n, f"{action} {f.arg if f.arg is not None else ''}".strip(), at=began)
        delay = schedule.duration - rel()
        if delay > 0:
            time.sleep(delay)
        note("end", None, "")
        # A daemon counts as up STARTUP_GRACE after its start, or, when the interpreter took
        # longer than that to get going on a loaded machine, one second after its first log
        # line: until then it has not run a line of its own code (seen: 3.7 s with six jobs).
        for n, d in daemons.items():
            for started, first in d.first_output:
                began, ready = started - t_zero, first - t_zero + 1.0
                for table in (rec.daemon_down, rec.crashed):
                    for span in table.get(n, []):
                        if abs(span[1] - (began + STARTUP_GRACE)) < 0.5 and ready > span[1]:
                            span[1] = ready
    finally:
        stop.set()
        for n, delayer in list(delayers.items()):  # an interrupted schedule: unqueue, release
            try:
                topo.run(nodes[n].ns, IPTABLES_RESTORE, input=ruleset(False), check=False)
            except Exception:  # the namespace goes anyway; never skip the rest of the teardown
                pass
            _stop_delayer(delayer, n, None, rec)
        for th in threads:
            th.join(3)
        for d in daemons.values():
            d.stop()
        for n in list(sleepers):
            p = sleepers[n]
            if p is not None:
                p.kill()
                p.wait(5)
        for nl in netlinks.values():
            nl.close()
        if etcd is not None:
            etcd.stop()
        topo.close()
        if keep_dir is not None:
            keep_dir.mkdir(parents=True, exist_ok=True)
            for log in workdir.glob("*.log"):
                shutil.copy(log, keep_dir / log.name)
        shutil.rmtree(workdir, ignore_errors=True)
        # The caller (a test run, the lab) must not keep adopting other people's orphans.
        _become_subreaper(False)
    return rec


def _stop_delayer(delayer, node: str, ms: int | None, rec: Record) -> dict[str, Any]:
    delayer.stop()
    for err in delayer.errors[:5]:
        rec.checker_errors.append(f"delay on {node}: {err}")
    return {"node": node, "ms": ms, "held": delayer.received, "accepted": delayer.accepted,
            "max_late_ms": round(delayer.max_late * 1000, 1)}


def _burst(kind: str, daemons: dict[str, _Daemon], netlinks: dict[str, _Netlink], tx: socket.socket,
           mac: bytes, src: ipaddress.IPv4Address, seq: int, rel, rec: Record, count: int = 20) -> dict[str, Any]:
    """Send one burst; note holders, drop counters and transition counters either side."""
    before = {n: d.status() for n, d in daemons.items()}
    pids = {n: d.proc.pid if d.alive and d.proc else None for n, d in daemons.items()}
    holders_before = sorted(n for n in NODES if VIP.ip in netlinks[n].ipv4())
    t0 = rel()
    for frame in bad_frames(kind, mac, src, count, seq):
        tx.send(frame)
    time.sleep(0.15)
    t1 = rel()
    holders_after = sorted(n for n in NODES if VIP.ip in netlinks[n].ipv4())
    after = {n: d.status() for n, d in daemons.items()}
    out: dict[str, Any] = {"kind": kind, "t0": t0, "t1": t1, "sent": count,
                           "holders_before": holders_before, "holders_after": holders_after,
                           "counted": {}, "transitions": {}}
    if any(not d.flavour.startswith("vipkeeper") for d in daemons.values()):
        return out
    for n, d in daemons.items():
        could_hear = (
            before[n] is not None and after[n] is not None and pids[n] == (d.proc.pid if d.alive and d.proc else None)
            and not any(_overlaps(t.get(n, []), t0 - 0.05, t1) for t in (rec.isolated, rec.lossy, rec.delayed, rec.daemon_down))
        )
        if not could_hear:
            continue
        grew = sum(_drops(after[n])[r] - _drops(before[n])[r] for r in BURST_REASONS[kind])
        out["counted"][n] = grew
        out["transitions"][n] = (_transitions(before[n]), _transitions(after[n]))
    return out


# --- results file and table -----------------------------------------------------------------


def record_summary(rec: Record, violations: list[Violation]) -> dict[str, Any]:
    """One JSON line per schedule run, appended to the results file."""
    return {
        "daemon": rec.daemon, "mode": rec.schedule.mode, "seed": rec.schedule.seed, "duration": rec.schedule.duration,
        "witness": rec.schedule.witness,
        "advert_int": rec.schedule.advert_int, "faults": len(rec.schedule.faults),
        "fault_kinds": dict(Counter(f.kind for f in rec.schedule.faults)),
        "samples": len(rec.samples), "frames": dict(rec.frames), "checked": dict(rec.stats),
        "bursts": len(rec.bursts), "finished": time.time(), "checker_errors": rec.checker_errors[:20],
        "delays": rec.delay_stats,
        "violations": [asdict(v) for v in violations],
    }


def load_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a kill mid-write
    return out


VERDICT_KINDS = ("split_brain", "split_brain_loss", "split_brain_delay", "not_one_holder", "not_best_holder", "orphan_vip", "crash", "fd_leak", "rss_leak",
                 "zombie", "drop_not_counted", "bad_packet_changed_state", "sync_apart", "removed_vip_kept",
                 "reload_touched_other", "checker_gap", "dual_holder")


HEALTH_KINDS = ("crash", "fd_leak", "rss_leak", "zombie")  # verdicts about one node's daemon ("b daemon exited ...")


def on_keepalived_node(result: dict[str, Any], violation: dict[str, Any]) -> bool:
    """A health verdict about node b in a mixed run of vipkeeper, or a VIP its exited daemon left
    behind: that node runs keepalived, so the verdict is keepalived's, not vipkeeper's (the
    cluster verdicts stay the run's)."""
    return (result.get("mode") == "mixed" and result["daemon"].startswith("vipkeeper")
            and (violation["kind"] in HEALTH_KINDS and violation.get("detail", "").startswith("b ")
                 or violation["kind"] == "orphan_vip" and violation.get("detail", "").startswith("b's daemon")))


def table(results: list[dict[str, Any]], daemons: Sequence[str] = ("vipkeeper", "keepalived"),
          mode: str | None = None) -> str:
    """The campaign table: schedules run and violations by kind, with seeds to replay; with
    `mode`, of that mode's results only (a line without a mode is lan4's). In the mixed mode a
    health verdict about vipkeeper's run's keepalived node is listed on a line of its own."""
    lines = []
    if mode is not None:
        results = [r for r in results if r.get("mode", "lan4") == mode]
        lines.append(f"mode {mode}")
    peer = [(r, v) for r in results for v in r["violations"] if on_keepalived_node(r, v)]
    results = [dict(r, violations=[v for v in r["violations"] if not on_keepalived_node(r, v)]) for r in results]
    header = f"{'verdict':<26}" + "".join(f"{d:>36}" for d in daemons)
    lines.append(header)
    lines.append("-" * len(header))
    runs = {d: [r for r in results if r["daemon"] == d] for d in daemons}
    lines.append(f"{'schedules run':<26}" + "".join(f"{len(runs[d]):>36}" for d in daemons))
    lines.append(f"{'simulated seconds':<26}" + "".join(f"{sum(r['duration'] for r in runs[d]):>36.0f}" for d in daemons))
    lines.append(f"{'schedules with violations':<26}" + "".join(f"{sum(1 for r in runs[d] if r['violations']):>36}" for d in daemons))
    for stat, label in (("quiet_samples", "quiet samples judged"), ("burst_node_checks", "burst counter checks")):
        lines.append(f"{label:<26}" + "".join(f"{sum(r.get('checked', {}).get(stat, 0) for r in runs[d]):>36}" for d in daemons))
    witness = any(r.get("witness") for r in results)
    if witness:
        lines.append(f"{'two-holder samples seen':<26}" + "".join(
            f"{sum(r.get('checked', {}).get('dual_samples', 0) for r in runs[d]):>36}" for d in daemons))
    kinds = [k for k in VERDICT_KINDS if witness or k != "dual_holder"]
    for kind in kinds:
        cells = []
        for d in daemons:
            seeds = sorted({v["seed"] for r in runs[d] for v in r["violations"] if v["kind"] == kind})
            count = sum(1 for r in runs[d] for v in r["violations"] if v["kind"] == kind)
            if kind == "drop_not_counted" and not d.startswith("vipkeeper"):
                cells.append("n/a")
                continue
            shown = ",".join(map(str, seeds[:4])) + ("…" if len(seeds) > 4 else "")
            cells.append(f"{count}" + (f" (seeds {shown})" if seeds else ""))
        lines.append(f"{kind:<26}" + "".join(f"{c:>36}" for c in cells))
    if peer:
        lines.append("")
        lines.append("on the keepalived node b of vipkeeper's mixed runs (not counted above):")
        for kind in (*HEALTH_KINDS, "orphan_vip"):
            seeds = sorted({v["seed"] for _r, v in peer if v["kind"] == kind})
            if seeds:
                lines.append(f"  {kind}: {sum(1 for _r, v in peer if v['kind'] == kind)} (seeds {' '.join(map(str, seeds))})")
    replay = [f"  {d} {kind}: seeds {' '.join(map(str, seeds))}"
              for d in daemons for kind in kinds
              if (seeds := sorted({v['seed'] for r in runs[d] for v in r['violations'] if v['kind'] == kind}))]
    if replay:
        lines += ["", f"replay with: python bench/campaign/run.py --replay SEED --daemon DAEMON --mode {mode or 'lan4'} -v"
                  + (" --witness" if witness else ""), *replay]
    return "\n".join(lines)


def summary(results: list[dict[str, Any]]) -> str:
    """One Markdown row per mode, vipkeeper beside keepalived (the README's table): schedules
    played, simulated seconds, quiet samples judged, schedules with a violation, and keepalived's
    violations by kind. A health verdict about the keepalived node of vipkeeper's mixed runs is
    not vipkeeper's (as in `table`) and is named in the row's last cell."""
    rows = ["| mode | schedules (vk / ka) | simulated s | quiet samples judged (vk / ka) "
            "| schedules with violations: vipkeeper | keepalived | keepalived's violations |",
            "|---|--:|--:|--:|--:|--:|---|"]
    for mode in MODES:
        mine = [r for r in results if r.get("mode", "lan4") == mode]
        if not mine:
            continue
        runs = {d: [r for r in mine if r["daemon"] == d] for d in ("vipkeeper", "keepalived")}
        own = {d: [[v for v in r["violations"] if not on_keepalived_node(r, v)] for r in runs[d]] for d in runs}
        peer = Counter(v["kind"] for r in runs["vipkeeper"] for v in r["violations"] if on_keepalived_node(r, v))
        theirs = Counter(v["kind"] for vs in own["keepalived"] for v in vs)
        vk = Counter(v["kind"] for vs in own["vipkeeper"] for v in vs)
        vk_cell = str(sum(1 for vs in own["vipkeeper"] if vs))
        if vk:
            vk_cell += " (" + ", ".join(f"{k} {n}" for k, n in sorted(vk.items())) + ")"
        note = ", ".join(f"{k} {n}" for k, n in sorted(theirs.items())) or "none"
        if peer:
            note += "; on vipkeeper's runs' keepalived node b: " + ", ".join(f"{k} {n}" for k, n in sorted(peer.items()))
        quiet = " / ".join(str(sum(r.get("checked", {}).get("quiet_samples", 0) for r in runs[d])) for d in runs)
        rows.append(f"| {mode} | {len(runs['vipkeeper'])} / {len(runs['keepalived'])} "
                    f"| {sum(r['duration'] for r in runs['vipkeeper']):.0f} | {quiet} | {vk_cell} "
                    f"| {sum(1 for vs in own['keepalived'] if vs)} | {note} |")
    return "\n".join(rows)


def tables(results: list[dict[str, Any]], daemons: Sequence[str] = ("vipkeeper", "keepalived")) -> str:
    """One table per mode that has results, in MODES order."""
    present = {r.get("mode", "lan4") for r in results}
    return "\n\n".join(table(results, daemons, mode=m) for m in MODES if m in present)
