"""One claim on a witness key: when a router may hold its VIPs (pure; time passed in).

Rule kept
---------
A router holds the VIPs of an instance (or of a sync group) only while it holds that instance's
key in etcd under a lease of its own, and it lets the VIPs go *before* the lease can have expired
on the etcd side. VRRP decides who wants the key (a MASTER wants it); this decides whether the
wanting router may act on it.

How
---
The claim keeps: the lease (id and a *local* deadline), whether our acquire transaction
succeeded under that lease, the holder last seen on the key (watch or transaction answer), and
whether etcd is reachable. Inputs are the answers of the shell's I/O (`lease_granted`,
`keepalive_ok`, `io_failed`, `acquired`, `key_changed`) and `tick(now)`; each returns the commands
the shell must send (`Grant`, `KeepAlive`, `Acquire`, `Release`). The shell asks `gate_open(now)`
(may the VIPs be up?) and `fault(now)` (should the instance be in FAULT?) after every input.

Clock arithmetic (why the Master lets go in time)
-------------------------------------------------
Let ``s`` be the local monotonic time at which a keepalive REQUEST was sent, ``T`` the TTL the
answer grants, ``rho`` a bound on how much the two clocks' rates may differ (we take 1e-3, far above
what NTP-disciplined or even free-running quartz clocks drift) and ``m`` a margin for our own
reaction (timer lateness plus the netlink delete; default 0.2 s). etcd's leader receives the
request at some time after ``s``, and expires the lease no earlier than ``T`` of *its* seconds
after that receipt; a leader change only renews leases, never shortens them. So in our clock the
key cannot be deleted by expiry before ``s + T * (1 - rho)``. We call

    deadline = s + T * (1 - rho) - m

and at ``deadline`` (unless a later keepalive moved it) the gate closes, the VIPs go, and the
instance enters FAULT so VRRP hands over. The other router can acquire the key only after the
server deleted it, i.e. after ``s + T*(1-rho)`` in our clock: the two VIP holdings never overlap
by at least ``m``. Keepalives are sent every ``T/3``, so two may be lost before the deadline.

Policies, when etcd cannot be reached (lease lost, or no lease could be granted for ``T``):
``fail_closed``: no VIP without the witness (gate closed, FAULT). ``fail_open``: plain VRRP (gate
open, no FAULT), reported as *degraded* until a lease is granted again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

RATE_BOUND = 1e-3  # rho above
DEFAULT_MARGIN = 0.2  # m above, seconds


class Policy(str, enum.Enum):
    FAIL_CLOSED = "fail_closed"
    FAIL_OPEN = "fail_open"


@dataclass(frozen=True)
class Grant:
    """Ask etcd for a new lease of `ttl` seconds; answer with lease_granted or io_failed."""

    ttl: int


@dataclass(frozen=True)
class KeepAlive:
    lease: int


@dataclass(frozen=True)
class Acquire:
    """Transaction: put the key (value = owner) under `lease` iff it is absent or already ours."""

    lease: int


@dataclass(frozen=True)
class Release:
    """Transaction: delete the key iff its value is still ours."""


Command = Grant | KeepAlive | Acquire | Release


class Claim:
    def __init__(self, key: str, owner: str, ttl: int, policy: Policy, now: float,
                 margin: float = DEFAULT_MARGIN, rate: float = RATE_BOUND) -> None:
        if ttl * (1 - rate) - margin <= ttl / 3:
            raise ValueError(f"lease_ttl {ttl} is too short for a margin of {margin} s")
        self.key = key
        self.owner = owner
        self.ttl = ttl
        self.policy = policy
        self.margin = margin
        self.rate = rate
        self.wanted = False
        self.lease: int | None = None
        self.deadline: float | None = None  # local: the VIPs must be gone by then
        self.next_keepalive: float | None = None
        self.holding = False  # our acquire succeeded under self.lease and nothing said otherwise
        self.holder: str | None = None  # as last seen on the key
        self.reachable = True
        self.failing_since: float | None = None  # first failed grant since the last success
        self.grant_inflight = False
        self.keepalive_inflight = False
        self.acquire_inflight = False
        self.release_pending = False  # must delete our key once the current op is done
        self.retry_at: float | None = now  # grant at once
        self.revision = 0  # etcd revision of the newest key state we know (ignore older news)
        self.acquisitions = 0
        self.lost = 0  # leases lost while holding the key

    # -- what the shell asks -------------------------------------------------------------------

    def gate_open(self, now: float) -> bool:
        if self.degraded:
            return True
        return self.holding and self.deadline is not None and now < self.deadline

    def fault(self, now: float) -> bool:
        return self.policy == Policy.FAIL_CLOSED and not self.reachable

    @property
    def degraded(self) -> bool:
        return self.policy == Policy.FAIL_OPEN and not self.reachable

    def lease_remaining(self, now: float) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - now)

    def next_deadline(self) -> float | None:
        times = [t for t in (self.deadline, self.retry_at, self.failure_deadline) if t is not None]
        if self.next_keepalive is not None and not self.keepalive_inflight:
            times.append(self.next_keepalive)
        return min(times) if times else None

    @property
    def failure_deadline(self) -> float | None:
        if self.failing_since is None or not self.reachable:
            return None
        return self.failing_since + self.ttl

    # -- inputs ------------------------------------------------------------------------------

    def want(self, on: bool, now: float) -> list[Command]:
        if on == self.wanted:
            return []
        self.wanted = on
        if on:
            return self._maybe_acquire()
        # Letting go: the VIPs are already gone (the shell releases after DelVips).
        was = self.holding
        self.holding = False
        if self.acquire_inflight:
            self.release_pending = True
            return []
        if was or self.holder == self.owner:
            return [Release()]
        return []

    def lease_granted(self, lease: int, ttl: int, sent_at: float, now: float) -> list[Command]:
        self.grant_inflight = False
        self.lease = lease
        self._renewed(ttl, sent_at)
        self._reached()
        return self._maybe_acquire() + self.tick(now)

    def keepalive_ok(self, lease: int, ttl: int, sent_at: float, now: float) -> list[Command]:
        self.keepalive_inflight = False
        if lease != self.lease:
            return self.tick(now)
        if ttl <= 0:  # etcd says the lease is gone
            return self._lease_lost(now, unreachable=False)
        self._renewed(ttl, sent_at)
        self._reached()
        return self.tick(now)

    def io_failed(self, command: Command, now: float) -> list[Command]:
        """A request found no etcd member that answered (or the cluster had no quorum)."""
        if isinstance(command, Grant):
            self.grant_inflight = False
            if self.failing_since is None:
                self.failing_since = now
            self.retry_at = now + min(1.0, self.ttl / 3)
        elif isinstance(command, KeepAlive):
            self.keepalive_inflight = False
            # Retry soon; the deadline (tick) decides when the lease counts as lost.
            self.next_keepalive = now + min(0.25, self.ttl / 6)
        elif isinstance(command, Acquire):
            self.acquire_inflight = False
            if self.release_pending:
                self.release_pending = False
                return [Release()]
            self.retry_at = now + min(0.25, self.ttl / 6)
        elif isinstance(command, Release):
            pass  # the lease will expire; nothing else to do
        return self.tick(now)

    def acquired(self, lease: int, ok: bool, holder: str | None, now: float, revision: int = 0) -> list[Command]:
        self.acquire_inflight = False
        self._reached()
        self.revision = max(self.revision, revision)
        if ok and lease == self.lease and self.deadline is not None and now < self.deadline:
            self.holder = self.owner
            if self.release_pending or not self.wanted:
                self.release_pending = False
                return [Release()]
            self.holding = True
            self.acquisitions += 1
            return []
        self.release_pending = False
        self.holder = holder
        # Someone else holds it: wait for the watch to say it was deleted.
        return self._maybe_acquire()

    def key_changed(self, holder: str | None, now: float, revision: int = 0) -> list[Command]:
        """The watch (or a read) saw the key: `holder` is its value, None when deleted, as of
        etcd `revision`. News older than what a transaction already told us is ignored (the
        watch stream and the transaction travel on different connections)."""
        if revision and revision < self.revision:
            return []
        self.revision = max(self.revision, revision)
        self.holder = holder
        if holder != self.owner:
            self.holding = False
        return self._maybe_acquire()

    def released(self, now: float) -> list[Command]:
        self.holder = None
        return []

    def tick(self, now: float) -> list[Command]:
        out: list[Command] = []
        if self.deadline is not None and now >= self.deadline:
            out += self._lease_lost(now, unreachable=True)
        if self.failure_deadline is not None and now >= self.failure_deadline:
            self.reachable = False
        if self.retry_at is not None and now >= self.retry_at:
            self.retry_at = None
            if self.lease is None:
                if not self.grant_inflight:
                    self.grant_inflight = True
                    out.append(Grant(self.ttl))
            else:
                out += self._maybe_acquire()
        if (self.next_keepalive is not None and now >= self.next_keepalive and self.lease is not None
                and not self.keepalive_inflight):
            self.keepalive_inflight = True
            self.next_keepalive = None
            out.append(KeepAlive(self.lease))
        return out

    # -- internals ---------------------------------------------------------------------------

    def _renewed(self, ttl: int, sent_at: float) -> None:
        deadline = sent_at + ttl * (1 - self.rate) - self.margin
        self.deadline = deadline if self.deadline is None else max(self.deadline, deadline)
        self.next_keepalive = sent_at + ttl / 3

    def _reached(self) -> None:
        self.reachable = True
        self.failing_since = None

    def _lease_lost(self, now: float, unreachable: bool) -> list[Command]:
        if self.holding:
            self.lost += 1
        self.holding = False
        self.lease = None
        self.deadline = None
        self.next_keepalive = None
        self.keepalive_inflight = False
        if unreachable:
            self.reachable = False
        if not self.grant_inflight:
            self.grant_inflight = True
            return [Grant(self.ttl)]
        return []

    def _maybe_acquire(self) -> list[Command]:
        if (not self.wanted or self.holding or self.lease is None or self.acquire_inflight
                or self.holder not in (None, self.owner)):
            return []
        self.acquire_inflight = True
        return [Acquire(self.lease)]
