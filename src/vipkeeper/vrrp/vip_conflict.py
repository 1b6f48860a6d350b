"""VIP conflict detection for a Master: does any other MAC answer for the VIPs it holds?

Rules
- Only a Master checks, and only its own VIPs. A check is a probe round: one ARP probe
  (RFC 5227, sender 0.0.0.0) per IPv4 VIP, one neighbour solicitation from our link-local
  address per IPv6 VIP; every host that has the address configured answers, unicast to us, so
  no client's cache moves (net/conflict_socket.py builds the frames).
- The first round goes `settle` seconds after becoming Master (long enough for an old Master
  that is being preempted to drop the VIP, short enough to count as "right after taking over"),
  then every `interval` seconds; while a conflict lasts, every `recheck` seconds, so its end is
  seen within a fraction of a second.
- A conflict is confirmed only by an answer to one of our probes: an ARP reply or solicited NA
  addressed to us (or, for the DAD fallback, an NA for the VIP within `reply_wait` of a probe).
  Unsolicited claims seen on the wire (a GARP, an ARP request from the VIP, an unsolicited NA
  from another MAC) are suspicions: they bring the next round forward, nothing more. So a normal
  preemption, where the new Master's GARPs may arrive a few milliseconds before its advert has
  made us step down, is never reported.
- A conflict ends when a round sent after that MAC's last answer got no answer from it within
  `reply_wait`. Ending while still Master asks for a re-announcement (GARP/NA burst), so clients
  that followed the other MAC come back; ending because we left MASTER does not.
- Cheap and bounded: probes are rate-limited to `max_rate` per second across all instances (a
  token bucket; what does not fit waits for the next tick), claims cost one dictionary lookup,
  and a tick touches only the Masters whose round is due (a heap of round times, stale entries
  skipped) and the VIPs in conflict: with 1,000 Masters on 10 s rounds, a tick per round no
  longer walks every Master and VIP (about 1.5 % of a core at advert_int 1, issue 18).
- `tick(now, early)` may start a round up to `early` before it is due (the next one an interval
  after it went): the shell passes its timer's slack, so a round rides on a wake-up the daemon
  makes anyway (a steady advert) instead of one of its own; a thousand Masters on 10 s rounds
  otherwise wake the daemon ~20 times a second, and a wake-up costs about as much as a dozen
  adverts (issue 18). Reply waits and the rate limit keep exact times.
- The other router's identity (VRRP source, VRID, priority) is remembered from adverts seen on
  the wire with the claiming MAC, even ones a firewall later drops.
- Pure: events in with `now`, events and probe lists out; no sockets, no clock.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections import deque
from types import MappingProxyType

from vipkeeper.records import record

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The answers and conflicts of a VIP nobody else answered for (nearly all): one shared read-only
# empty mapping; `claim` gives a VIP dicts of its own at its first answer.
_NONE: MappingProxyType = MappingProxyType({})


@record(frozen=True)
class ConflictStarted:
    instance: str
    vip: IPAddress
    mac: str
    peer: str | None  # "192.0.2.2 (VRID 51, priority 100)" when its adverts were seen


@record(frozen=True)
class ConflictEnded:
    instance: str
    vip: IPAddress
    mac: str
    duration: float
    reannounce: bool  # still Master: announce the VIP again


@record(slots=True)  # one per VIP or Master: no __dict__ each
class Conflict:
    mac: str
    since: float
    peer: str | None


@record(slots=True)  # one per VIP or Master: no __dict__ each
class _Vip:
    owner: str
    last_probe: float | None = None
    answers: dict[str, float] = _NONE  # type: ignore[assignment]  # mac -> last answer time
    conflicts: dict[str, Conflict] = _NONE  # type: ignore[assignment]


@record(slots=True)  # one per VIP or Master: no __dict__ each
class _Master:
    vips: tuple[IPAddress, ...]
    since: float
    next_round: float
    order: int = 0  # when it became Master, counted: its place among `masters` (dict order)


class ConflictCore:
    def __init__(self, interval: float = 10.0, settle: float = 0.25, recheck: float = 0.1,
                 reply_wait: float = 0.1, max_rate: float = 1000.0) -> None:
        self.interval = interval
        self.settle = settle
        self.recheck = recheck
        self.reply_wait = reply_wait
        self.max_rate = max_rate
        self.masters: dict[str, _Master] = {}
        self.vips: dict[IPAddress, _Vip] = {}
        self.identity: dict[str, str] = {}  # mac -> "source (VRID n, priority p)"
        self._queue: deque[IPAddress] = deque()
        self._queued: set[IPAddress] = set()
        self._tokens = max_rate
        self._tokens_at: float | None = None
        self.probes_sent = 0
        self.conflicts_seen = 0
        self._rounds: list[tuple[float, str]] = []  # (next_round, instance); stale kept
        self._became = 0  # Masters entered so far: the next one's `order`
        self._conflicted: set[IPAddress] = set()  # VIPs with at least one conflict

    def _plan(self, name: str, m: _Master) -> None:
        """(Re)enter a Master's round time in the heap; an older entry becomes stale. Entries of
        one time pop in name order: a tick sorts the Masters it starts by `order` anyway."""
        heapq.heappush(self._rounds, (m.next_round, name))

    # -- state of the instances -----------------------------------------------------------

    def became_master(self, instance: str, vips: tuple[IPAddress, ...], now: float) -> None:
        self.left_master(instance, now)  # a reconfigured Master starts over with its new VIP set
        self._became += 1
        m = self.masters[instance] = _Master(tuple(vips), now, now + self.settle, self._became)
        self._plan(instance, m)
        for vip in vips:
            self.vips[vip] = _Vip(instance)

    def left_master(self, instance: str, now: float) -> list[ConflictEnded]:
        m = self.masters.pop(instance, None)
        if m is None:
            return []
        out = []
        for vip in m.vips:
            state = self.vips.get(vip)
            if state is None or state.owner != instance:
                continue
            del self.vips[vip]
            out += [ConflictEnded(instance, vip, c.mac, now - c.since, False) for c in state.conflicts.values()]
        return out

    # -- the wire ---------------------------------------------------------------------------

    def advert_seen(self, mac: str, source: str, vrid: int, priority: int) -> None:
        self.identity[mac] = f"{source} (VRID {vrid}, priority {priority})"

    def claim(self, now: float, vip: IPAddress, mac: str, answer: bool | None) -> list[ConflictStarted]:
        """`mac` answered for `vip`: answer True (a reply to our probe), False (unsolicited), None
        (an NA: an answer if a probe of ours is outstanding)."""
        state = self.vips.get(vip)
        if state is None:
            return []
        m = self.masters[state.owner]
        if answer is None:
            answer = state.last_probe is not None and now - state.last_probe <= self.reply_wait
        if not answer or state.last_probe is None or state.last_probe < m.since + self.settle - 1e-9:
            if mac not in state.conflicts:  # a suspicion: check soon
                sooner = max(now, m.since + self.settle)
                if sooner < m.next_round:
                    m.next_round = sooner
                    self._plan(state.owner, m)
            return []
        if state.answers is _NONE:
            state.answers = {}
        state.answers[mac] = now
        if mac in state.conflicts:
            return []
        peer = self.identity.get(mac)
        if state.conflicts is _NONE:
            state.conflicts = {}
        state.conflicts[mac] = Conflict(mac, now, peer)
        self._conflicted.add(vip)
        self.conflicts_seen += 1
        if now + self.recheck < m.next_round:
            m.next_round = now + self.recheck
            self._plan(state.owner, m)
        return [ConflictStarted(state.owner, vip, mac, peer)]

    # -- time -------------------------------------------------------------------------------

    def tick(self, now: float, early: float = 0.0) -> tuple[list[IPAddress], list[ConflictEnded]]:
        """Probes to send now, and conflicts that ended; rounds due within `early` start now."""
        ended: list[ConflictEnded] = []
        conflicted = [v for v in self._conflicted if v in self.vips]
        if len(conflicted) > 1:  # in the VIPs' own order, as a walk over them gave
            order = {v: i for i, v in enumerate(self.vips)}
            conflicted.sort(key=order.__getitem__)
        for vip in conflicted:
            state = self.vips[vip]
            if not state.conflicts or state.last_probe is None or now < state.last_probe + self.reply_wait:
                continue
            for mac in [m for m in state.conflicts if state.answers.get(m, 0.0) < state.last_probe]:
                c = state.conflicts.pop(mac)
                ended.append(ConflictEnded(state.owner, vip, mac, now - c.since, True))
        self._conflicted = {v for v in self._conflicted if v in self.vips and self.vips[v].conflicts}
        due = []
        soon = now + early
        while self._rounds and self._rounds[0][0] <= soon:
            t, name = heapq.heappop(self._rounds)
            m = self.masters.get(name)
            if m is not None and m.next_round == t and soon >= m.next_round:
                due.append(name)
        if len(due) > 1:  # in the Masters' own order, as a walk over them gave (not a dict of all
            masters = self.masters  # n Masters per tick: that was most of a tick's cost, issue 18)
            due = sorted(set(due), key=lambda name: masters[name].order)
        for name in due:
            m = self.masters[name]
            busy = any(self.vips[v].conflicts for v in m.vips if v in self.vips)
            m.next_round = now + (self.recheck if busy else self.interval)
            self._plan(name, m)
            for vip in m.vips:
                if vip not in self._queued and self.vips.get(vip) is not None and self.vips[vip].owner == name:
                    self._queue.append(vip)
                    self._queued.add(vip)
        return self._take(now), ended

    def _take(self, now: float) -> list[IPAddress]:
        if self._tokens_at is not None:
            self._tokens = min(self.max_rate, self._tokens + (now - self._tokens_at) * self.max_rate)
        self._tokens_at = now
        out = []
        while self._queue and self._tokens >= 1:
            vip = self._queue.popleft()
            self._queued.discard(vip)
            state = self.vips.get(vip)
            if state is None:
                continue
            state.last_probe = now
            self._tokens -= 1
            out.append(vip)
        if not self._queue:
            self._queued.clear()  # (empty already) back to a small table: a round of 1,000 grew it to 64 KiB
        self.probes_sent += len(out)
        return out

    def next_round(self) -> float | None:
        """When the next round is due (a `tick` with `early` may start it that much before)."""
        self.next_deadline()  # drops stale round entries
        return self._rounds[0][0] if self._rounds else None

    def next_deadline(self) -> float | None:
        rounds = self._rounds
        while rounds:  # drop stale entries: a Master gone, or its round moved since
            t, name = rounds[0]
            m = self.masters.get(name)
            if m is not None and m.next_round == t:
                break
            heapq.heappop(rounds)
        times = [rounds[0][0]] if rounds else []
        for vip in self._conflicted:
            state = self.vips.get(vip)
            if state is not None and state.conflicts and state.last_probe is not None:
                times.append(state.last_probe + self.reply_wait)
        if self._queue:
            times.append((self._tokens_at or 0.0) + 1.0 / self.max_rate)
        return min(times) if times else None

    def conflicts(self, instance: str) -> list[tuple[IPAddress, Conflict]]:
        m = self.masters.get(instance)
        if m is None:
            return []
        return [(vip, c) for vip in m.vips if vip in self.vips for c in self.vips[vip].conflicts.values()]
