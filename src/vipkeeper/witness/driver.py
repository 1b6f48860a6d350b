"""The asyncio shell of one witness claim: etcd I/O, the claim's timer, and the routers it gates.

Rule kept
---------
witness/claim.py decides; this carries out, without blocking the loop: each command becomes a
task whose answer is fed back into the claim, key transactions run one at a time in the order
they were decided (a release is never overtaken by the next acquire), and the key is watched
(never polled) so that a deleted key is acquired as soon as etcd says so.

After every input the gate and the fault are compared with what the routers were last told:

- gate closes -> every router that holds VIPs drops them at once (`hold_vips(False)`);
- gate opens  -> every router that is MASTER adds its VIPs and announces them;
- fault changes -> every router hears `TrackerChanged("@witness", fault=...)`, so VRRP itself
  hands over (priority 0 advert) when the witness is lost under `fail_closed`.

A router asks `admit()` before it adds VIPs or announces them, and calls `state_changed()` after
every transition: the claim wants the key while any of its routers (one instance, or the members
of a sync group) is MASTER.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from vipkeeper.vrrp.instance import State, TrackerChanged

from .claim import Acquire, Claim, Command, Grant, KeepAlive
from .etcd_gateway import EtcdGateway, EtcdUnavailable

log = logging.getLogger("vipkeeper.witness")

WITNESS_TRACKER = "@witness"


class Gated(Protocol):
    name: str

    @property
    def state(self) -> State: ...

    def feed(self, event: Any, now: float | None = None) -> None: ...

    def hold_vips(self, on: bool) -> None: ...


class ClaimDriver:
    def __init__(self, name: str, witness: str, claim: Claim, gateway: EtcdGateway, model: Any = None) -> None:
        self.name = name  # instance or sync group
        self.witness = witness  # the vipkeeper_witness block's name
        self.model = model  # the block itself (config.model.Witness): a reload compares it
        self.claim = claim
        self.gateway = gateway
        self.routers: list[Gated] = []
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._key_lock = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None
        self._watch_endpoint = -1
        self._gate = False
        self._fault = False
        self.closed = False
        self.watch_events = 0
        self.io_failures = 0
        self.degraded_since: float | None = None
        self.last_acquire_seconds: float | None = None
        self._want_since = 0.0

    # -- life cycle ----------------------------------------------------------------------------

    def set_routers(self, routers: list[Gated]) -> None:
        """The routers this key gates now (start, or a reload). A router newly gated while it is
        MASTER drops its VIPs until the key is held: a VIP is never up without the key."""
        for router in self.routers:
            if router not in routers and getattr(router, "witness", None) is self:
                router.witness = None  # type: ignore[attr-defined]
        for router in routers:
            new = router not in self.routers
            router.witness = self  # type: ignore[attr-defined]
            if new and router.state == State.MASTER and not self._gate:
                router.hold_vips(False)
        self.routers = list(routers)
        if not self.closed:
            self.state_changed(None)

    def detach(self) -> list[Gated]:
        """Stop gating (the witness was removed from the config): the routers are free again."""
        freed = [r for r in self.routers if getattr(r, "witness", None) is self]
        for router in freed:
            router.witness = None  # type: ignore[attr-defined]
        self.routers = []
        return freed

    def start(self) -> None:
        self._restart_watch()
        self._apply(self.claim.tick(self._loop.time()))

    async def close(self, budget: float = 1.0, release: bool = True) -> None:
        """Release the key if we hold it (bounded), then stop all I/O."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._watch is not None:
            self._watch.cancel()
        if release and (self.claim.holding or self.claim.holder == self.claim.owner or self._tasks):
            try:
                async with asyncio.timeout(budget):
                    async with self._key_lock:
                        await self.gateway.release(self.claim.key, self.claim.owner)
                    log.info("(%s) witness key %s released", self.name, self.claim.key)
            except (EtcdUnavailable, TimeoutError) as exc:
                log.warning("(%s) cannot release witness key %s: %s", self.name, self.claim.key, exc)
        for task in list(self._tasks):
            task.cancel()
        await self.gateway.close()

    # -- what routers call ---------------------------------------------------------------------

    @property
    def gate_open(self) -> bool:
        """What the routers were last told: may the VIPs be up (no side effect)."""
        return self._gate

    def admit(self, router: Gated) -> bool:
        """May `router` add/announce its VIPs now? If not, it gets them when the gate opens."""
        self.state_changed(router)
        return self._gate

    def state_changed(self, router: Gated | None) -> None:
        if self.closed:
            return
        want = any(r.state == State.MASTER for r in self.routers)
        if want != self.claim.wanted:
            if want:
                self._want_since = time.monotonic()
            commands = self.claim.want(want, self._loop.time())
            holder = self.claim.holder
            if want and not commands and holder not in (None, self.claim.owner):
                log.info("(%s) witness key %s is held by %s - waiting", self.name, self.claim.key, holder)
            self._apply(commands)

    # -- the claim's commands ------------------------------------------------------------------

    def _apply(self, commands: list[Command]) -> None:
        if self.closed:
            return
        for command in commands:
            self._spawn(command)
        self._reconcile()
        self._rearm()

    def _spawn(self, command: Command) -> None:
        task = self._loop.create_task(self._do(command), name=f"witness {self.name} {type(command).__name__}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _do(self, command: Command) -> None:
        sent = self._loop.time()
        claim = self.claim
        try:
            if isinstance(command, Grant):
                lease, ttl = await self.gateway.grant(command.ttl)
                log.info("(%s) witness lease %x granted, TTL %d s", self.name, lease, ttl)
                out = claim.lease_granted(lease, ttl, sent, self._loop.time())
            elif isinstance(command, KeepAlive):
                ttl = await self.gateway.keepalive(command.lease)
                out = claim.keepalive_ok(command.lease, ttl, sent, self._loop.time())
            elif isinstance(command, Acquire):
                async with self._key_lock:
                    answer = await self.gateway.acquire(claim.key, claim.owner, command.lease)
                holder = claim.owner if answer.succeeded else answer.current.value
                if answer.succeeded:
                    self.last_acquire_seconds = time.monotonic() - self._want_since
                    log.info("(%s) witness key %s acquired", self.name, claim.key)
                elif holder is not None:
                    log.info("(%s) witness key %s is held by %s - waiting", self.name, claim.key, holder)
                out = claim.acquired(command.lease, answer.succeeded, holder, self._loop.time(), answer.revision)
            else:
                async with self._key_lock:
                    await self.gateway.release(claim.key, claim.owner)
                log.info("(%s) witness key %s released", self.name, claim.key)
                out = claim.released(self._loop.time())
        except EtcdUnavailable as exc:
            if self.closed:
                return
            # The watch may hang on the same dead path without noticing: start it anew once a
            # request succeeds again.
            self._watch_endpoint = -1
            self.io_failures += 1
            log.warning("(%s) witness %s failed: %s", self.name, type(command).__name__, exc)
            out = claim.io_failed(command, self._loop.time())
        if self.gateway.current != self._watch_endpoint:
            self._restart_watch()
        self._apply(out)

    # -- timer ---------------------------------------------------------------------------------

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.claim.next_deadline()
        if deadline is not None and not self.closed:
            self._timer = self._loop.call_at(deadline, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._apply(self.claim.tick(self._loop.time()))

    # -- the watch -----------------------------------------------------------------------------

    def _restart_watch(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        self._watch_endpoint = self.gateway.current
        self._watch = self._loop.create_task(self._watch_key(), name=f"witness {self.name} watch")

    async def _watch_key(self) -> None:
        while not self.closed:
            try:
                kv, revision = await self.gateway.get(self.claim.key)
                self._apply(self.claim.key_changed(kv.value, self._loop.time(), revision))
                async for event in self.gateway.watch(self.claim.key, revision + 1):
                    self.watch_events += 1
                    self._apply(self.claim.key_changed(event.value, self._loop.time(), event.mod_revision))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001  (a broken stream, whatever broke it: read and watch again)
                log.debug("(%s) witness watch: %s", self.name, exc)
            await asyncio.sleep(0.2)

    # -- gate and fault ------------------------------------------------------------------------

    def _reconcile(self) -> None:
        now = self._loop.time()
        gate = self.claim.gate_open(now)
        fault = self.claim.fault(now)
        degraded = self.claim.degraded
        if degraded and self.degraded_since is None:
            self.degraded_since = time.time()
            log.warning("(%s) witness %s unreachable - DEGRADED: plain VRRP (policy fail_open)",
                        self.name, self.witness)
        elif not degraded and self.degraded_since is not None:
            self.degraded_since = None
            log.info("(%s) witness %s reachable again", self.name, self.witness)
        if gate != self._gate:
            self._gate = gate
            if not gate:
                log.warning("(%s) witness key %s not held - VIPs removed", self.name, self.claim.key)
            for router in self.routers:
                if router.state == State.MASTER or not gate:
                    router.hold_vips(gate)
        if fault != self._fault:
            self._fault = fault
            if fault:
                log.warning("(%s) witness %s unreachable - FAULT (policy fail_closed)", self.name, self.witness)
            for router in self.routers:
                router.feed(TrackerChanged(WITNESS_TRACKER, 0, fault))

    # -- status --------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        now = self._loop.time()
        c = self.claim
        return {
            "name": self.name,
            "witness": self.witness,
            "key": c.key,
            "owner": c.owner,
            "holder": c.holder,
            "holding": c.gate_open(now) and not c.degraded,
            "wanted": c.wanted,
            "lease": None if c.lease is None else f"{c.lease:x}",
            "lease_remaining": c.lease_remaining(now),
            "lease_ttl": c.ttl,
            "policy": c.policy.value,
            "reachable": c.reachable,
            "degraded": c.degraded,
            "endpoint": self.gateway.endpoint,
            "acquisitions": c.acquisitions,
            "leases_lost": c.lost,
            "io_failures": self.io_failures,
            "watch_events": self.watch_events,
            "last_acquire_seconds": self.last_acquire_seconds,
        }
