"""Several Instances on a simulated LAN, driven by seeded random schedules.

Invariants checked on every schedule:
1. Once the network has been quiet (no partitions, no loss, no restarts, no tracker or
   interface changes) for one master-down interval (plus link delays), exactly one healthy
   node (running, not FAULT) is MASTER -- and that stays so.
2. Two MASTERs that hear each other (both directions clean) never stay so for longer than one
   advert interval plus twice the largest link delay.
A failure prints the seed; rerun one with `SIM_SEED=<seed> pytest -k simulation`.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import os
import random
from dataclasses import dataclass, field

from vipkeeper.vrrp.instance import (
    AdvertReceived, Instance, InstanceParams, InterfaceDown, InterfaceUp, SendAdvert, Shutdown,
    Startup, State, TimerFired, TrackerChanged, master_down_us,
)
from vipkeeper.vrrp.packet import AUTH_PASS, Advertisement

SCHEDULES = 1000
ADVERT_INT = 1.0


@dataclass
class Node:
    params: InstanceParams
    inst: Instance | None = None

    @property
    def healthy(self) -> bool:
        return self.inst is not None and self.inst.state in (State.BACKUP, State.MASTER)

    @property
    def master(self) -> bool:
        return self.inst is not None and self.inst.state == State.MASTER


@dataclass
class Lan:
    rng: random.Random
    n: int
    version: int
    delay: dict[tuple[int, int], float] = field(default_factory=dict)
    blocked: set[tuple[int, int]] = field(default_factory=set)
    loss: float = 0.0

    def __post_init__(self) -> None:
        for a, b in itertools.permutations(range(self.n), 2):
            self.delay[a, b] = self.rng.uniform(0.0002, 0.03)

    def clean(self, a: int, b: int) -> bool:
        return self.loss == 0 and (a, b) not in self.blocked and (b, a) not in self.blocked


class Simulation:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        rng = self.rng = random.Random(seed)
        n = rng.choice([2, 2, 3, 3, 4])
        self.lan = Lan(rng, n, rng.choice([2, 3]))
        nopreempt = rng.random() < 0.2
        fast = rng.random() < 0.3
        prios = [rng.choice([rng.randint(20, 254), 100]) for _ in range(n)]
        self.nodes = [
            Node(InstanceParams(
                name=f"N{i}", vrid=51, version=self.lan.version, priority=prios[i], advert_int=ADVERT_INT,
                source_address=ipaddress.IPv4Address(f"192.0.2.{i + 1}"), vips=("vip",),
                nopreempt=nopreempt, fast_handover=fast, garp_master_delay=0,
                auth_type=AUTH_PASS if self.lan.version == 2 else 0, auth_data=b"pw" if self.lan.version == 2 else b"",
            ))
            for i in range(n)
        ]
        self.queue: list = []
        self.seq = itertools.count()
        self.now = 0.0
        self.max_delay = max(self.lan.delay.values())
        self.dual_since: dict[tuple[int, int], float] = {}
        self.trace: list[str] = []

    # --- plumbing ---------------------------------------------------------------------------

    def at(self, t: float, fn, *args) -> None:
        heapq.heappush(self.queue, (t, next(self.seq), fn, args))

    def act(self, i: int, actions) -> None:
        node = self.nodes[i]
        for a in actions:
            if isinstance(a, SendAdvert):
                p = node.params
                adv = Advertisement(p.version, p.vrid, a.priority, (), 100,
                                    p.auth_type, b"pw\0\0\0\0\0\0" if p.version == 2 else b"")
                for j in range(self.lan.n):
                    if j == i or (i, j) in self.lan.blocked or self.rng.random() < self.lan.loss:
                        continue
                    self.at(self.now + self.lan.delay[i, j], self.deliver, j, adv, p.source_address)

    def feed(self, i: int, event) -> None:
        inst = self.nodes[i].inst
        if inst is not None:
            self.act(i, inst.handle(event, self.now))

    def deliver(self, j: int, adv: Advertisement, src) -> None:
        self.feed(j, AdvertReceived(adv, src))

    def start(self, i: int) -> None:
        self.nodes[i].inst = Instance(self.nodes[i].params)
        self.feed(i, Startup())

    def stop(self, i: int) -> None:
        self.feed(i, Shutdown())
        self.nodes[i].inst = None

    # --- disruptions ------------------------------------------------------------------------

    def block(self, pairs, on: bool) -> None:
        for p in pairs:
            (self.lan.blocked.add if on else self.lan.blocked.discard)(p)

    def set_loss(self, level: float) -> None:
        self.lan.loss = level

    def tracker(self, i: int, name: str, contribution: int, fault: bool) -> None:
        self.feed(i, TrackerChanged(name, contribution, fault))

    def plan(self) -> float:
        """Schedule startups and disruptions; return when the network becomes quiet."""
        rng, n = self.rng, self.lan.n
        quiet = 0.0
        for i in range(n):
            t = rng.uniform(0, 0.5)
            self.at(t, self.start, i)
            quiet = max(quiet, t)
        chaos = rng.uniform(3, 15)
        for _ in range(rng.randint(1, 8)):
            t, dur, i = rng.uniform(0.5, chaos), rng.uniform(0.1, 6), rng.randrange(n)
            kind = rng.choice(["partition", "oneway", "loss", "prio", "fault", "restart", "iface"])
            if kind in ("partition", "oneway"):
                j = rng.choice([k for k in range(n) if k != i])
                pairs = [(i, j)] if kind == "oneway" else [(i, j), (j, i)]
                self.at(t, self.block, pairs, True)
                self.at(t + dur, self.block, pairs, False)
            elif kind == "loss":
                self.at(t, self.set_loss, rng.uniform(0.1, 0.9))
                self.at(t + dur, self.set_loss, 0.0)
            elif kind == "prio":
                self.at(t, self.tracker, i, f"w{t}", rng.randint(-120, 120), False)
                dur = 0
            elif kind == "fault":
                self.at(t, self.tracker, i, "f", 0, True)
                self.at(t + dur, self.tracker, i, "f", 0, False)
            elif kind == "restart":
                self.at(t, self.stop, i)
                self.at(t + dur, self.start, i)
            else:
                self.at(t, self.feed, i, InterfaceDown())
                self.at(t + dur, self.feed, i, InterfaceUp())
            quiet = max(quiet, t + dur)
        return quiet

    # --- the run ----------------------------------------------------------------------------

    def check_dual_masters(self) -> None:
        bound = ADVERT_INT + 2 * self.max_delay + 1e-9
        for a, b in itertools.combinations(range(self.lan.n), 2):
            if self.nodes[a].master and self.nodes[b].master and self.lan.clean(a, b):
                since = self.dual_since.setdefault((a, b), self.now)
                assert self.now - since <= bound, (
                    f"seed {self.seed}: N{a} and N{b} both MASTER hearing each other for "
                    f"{self.now - since:.3f}s > {bound:.3f}s at t={self.now:.3f}")
            else:
                self.dual_since.pop((a, b), None)

    def check_one_master(self, label: str) -> None:
        healthy = [i for i, nd in enumerate(self.nodes) if nd.healthy]
        masters = [i for i in healthy if self.nodes[i].master]
        states = {nd.params.name: (nd.inst.state.value if nd.inst else "DOWN", nd.inst.effective_priority
                                   if nd.inst else None) for nd in self.nodes}
        expected = 1 if healthy else 0
        assert len(masters) == expected, f"seed {self.seed}: {label}: masters {masters} among {healthy}: {states}"

    def run(self) -> None:
        quiet = self.plan()
        md = max(master_down_us(self.lan.version, 1, 100) / 1e6, 0)
        check_at = quiet + md + 2 * self.max_delay + 1e-3
        end = check_at + 3.0
        self.at(check_at, self.check_one_master, "quiet for one master-down interval")
        self.at(end, self.check_one_master, "still settled")
        for _ in range(200_000):
            t_queue = self.queue[0][0] if self.queue else None
            deadlines = [(d, i) for i, nd in enumerate(self.nodes)
                         if nd.inst is not None and (d := nd.inst.next_deadline()) is not None]
            t_timer, who = min(deadlines) if deadlines else (None, None)
            if t_timer is not None and (t_queue is None or t_timer < t_queue):
                self.now = max(self.now, t_timer)
                self.feed(who, TimerFired())
            elif t_queue is not None:
                t, _, fn, args = heapq.heappop(self.queue)
                self.now = max(self.now, t)
                fn(*args)
            if self.now > end:
                return
            self.check_dual_masters()
        raise AssertionError(f"seed {self.seed}: simulation did not finish")


def test_simulation_invariants() -> None:
    seeds = [int(os.environ["SIM_SEED"])] if "SIM_SEED" in os.environ else range(SCHEDULES)
    for seed in seeds:
        Simulation(seed).run()


def test_simulation_detects_split_brain() -> None:
    """The checker itself can fail: a permanent partition leaves two masters."""
    sim = Simulation(1)
    sim.lan.blocked = {(0, 1), (1, 0)}
    for i in range(sim.lan.n):
        sim.start(i)
    sim.now = 10.0
    for i, nd in enumerate(sim.nodes):
        d = nd.inst.next_deadline()
        sim.now = max(sim.now, d)
        sim.feed(i, TimerFired())
    try:
        sim.check_one_master("partitioned")
    except AssertionError as exc:
        assert "seed 1" in str(exc)
    else:
        raise AssertionError("two masters not detected")
