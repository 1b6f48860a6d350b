"""One virtual router in the shell: the core `Instance` plus the things it acts through.

Why a class of its own: the core decides, this carries out, in order. Every action runs at once,
in the order the core chose (a log line aside: it is written after the sends and VIP changes
that follow it, with the time it was met; `enqueue`), inside the callback that delivered the
event: adverts and GARPs are one send each, and VIP changes are synchronous netlink requests
(net/address_requests.py), so the order on the wire and in netlink is the core's (priority 0
before the VIPs go; the first advert before the VIPs come) and a failover costs no task switch
between the advert and the VIP.

A steady Master (the core's `steady()`: MASTER, its next advert due before anything else) sends its
adverts from its own timer callback: the prebuilt datagram, one heap entry, no event through the
core, at the deadlines of vrrp/advert_schedule.py (the core's first deadline moved earlier onto a
grid every instance shares, then one interval after the other, whenever the send went), so that
instances on one grid point go out in one wake-up, none early. Anything handed to the router
first gives the core the deadline reached (`resume_steady`), so the core goes on from where the
adverts got to; a sync group member always goes through the core.

Nothing here decides protocol behaviour. It counts what it sees (adverts, drops by reason,
transitions) because counters are facts of the shell, and it keeps the few facts the snapshot
shows that the core does not (when the state changed, who the master was and when we heard it).
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import itertools
import logging
import os
import time
from collections.abc import Callable
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any, ClassVar

from vipkeeper import log_hold
from vipkeeper.config.model import Instance as InstanceModel
from vipkeeper.net.addresses import AddressError, AddressOwner, Vip
from vipkeeper.net.announce import Announcer
from vipkeeper.net.libnftables import NftError
from vipkeeper.net.vrrp_socket import VrrpSocket
from vipkeeper.precise_timers import PreciseTimers, TimerHandle
from vipkeeper.vrrp import packet
from vipkeeper.vrrp.advert_schedule import AdvertSchedule
from vipkeeper.vrrp.garp_extra_if import extra_if_targets
from vipkeeper.vrrp.instance import (
    Action,
    AddVips,
    AdvertReceived,
    Announce,
    DelVips,
    Drop,
    Event,
    Instance,
    InstanceParams,
    Log,
    Notify,
    SendAdvert,
    State,
    TimerFired,
    steady_early,
)

if TYPE_CHECKING:  # net/firewall.py is imported by the runtime only when `nftables` is configured (issue 18)
    from vipkeeper.net.firewall import Firewall
    from vipkeeper.net.routes import RouteOwner  # likewise net/routes.py: virtual_routes/rules, static ones
    from vipkeeper.vrrp.sync_group import SyncGroup  # and vrrp/sync_group.py when a sync group is (GroupDriver)

log = logging.getLogger("vipkeeper.vrrp")

# One event object for every timer (it carries nothing): not one allocation per advert.
TIMER_FIRED = TimerFired()

# Each router's place among timers due at the same moment (precise_timers.py: `rank`): the
# routers whose adverts share a grid point send in one fixed order, batch after batch.
_RANKS = itertools.count(1)

# What peers, clients and the kernel see of an action at once: the lines before them wait (enqueue).
_ON_THE_WIRE = frozenset((SendAdvert, AddVips, DelVips, Announce))

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class RouterCounters:
    """What the shell counts for one router. Slotted (one per instance, issue 18), and the drops by
    reason made at the first drop: most routers never drop an advert."""

    __slots__ = ("adverts_sent", "adverts_received", "priority_zero_sent", "priority_zero_received",
                 "transitions", "became_master", "released_master", "_drops")

    def __init__(self) -> None:
        self.clear()

    @property
    def drops(self) -> collections.Counter[str]:
        drops = self._drops
        if drops is None:
            drops = self._drops = collections.Counter()
        return drops

    def as_dict(self) -> dict[str, Any]:
        return {
            "adverts_sent": self.adverts_sent,
            "adverts_received": self.adverts_received,
            "priority_zero_sent": self.priority_zero_sent,
            "priority_zero_received": self.priority_zero_received,
            "transitions": self.transitions,
            "became_master": self.became_master,
            "released_master": self.released_master,
            "drops": dict(self._drops) if self._drops else {},
        }

    def clear(self) -> None:
        """keepalived's STATS_CLEAR signal: every counter back to zero."""
        self.adverts_sent = 0
        self.adverts_received = 0
        self.priority_zero_sent = 0
        self.priority_zero_received = 0
        self.transitions = 0
        self.became_master = 0
        self.released_master = 0
        self._drops: collections.Counter[str] | None = None


class Router:
    """Drives one core Instance: timers, actions, counters.

    Slotted: a daemon holds one per instance (issue 18: a thousand of them), and with more than
    30 attributes CPython 3.11 gives each instance a dict of its own. Every attribute is listed
    here; the callbacks handed in are shared by every router (the runtime binds each once)."""

    __slots__ = (
        "model", "_params", "core", "socket", "addresses", "announcer", "counters", "state_since",
        "master_heard", "_on_notify", "_on_state", "_timer", "_timer_at", "_loop", "_timers", "_mcast_dst",
        "_on_send_failed", "_steady_at", "_schedule", "_steady_prio", "_steady_until", "group", "firewall",
        "route_owner", "_routes_synced", "_witness", "pacing", "announcer_for", "_advert_prio", "_advert_wire",
        "_advert_zero", "_rank",
    )

    # Counts, over every router, what can change whether a router wants its VIPs or which ones
    # (a state change, new parameters, the witness's gate or binding): the runtime's once-a-
    # second check of every Master's VIPs is skipped while this and the owned set are unchanged.
    wants_changed: ClassVar[int] = 0

    def __init__(
        self,
        model: InstanceModel,
        params: InstanceParams,
        socket_: VrrpSocket | None,
        addresses: AddressOwner,
        announcer: Announcer | None,
        on_notify: Callable[[Router, Notify], None],
        on_state: Callable[[Router, State, State], None] | None = None,
        timers: PreciseTimers | None = None,
        on_send_failed: Callable[[Router], None] | None = None,
    ) -> None:
        self.model = model
        self.params = params
        self.core = Instance(params)
        self.socket = socket_
        self.addresses = addresses
        self.announcer = announcer
        self.counters = RouterCounters()
        self.state_since = time.time()
        self.master_heard: float | None = None
        self._on_notify = on_notify
        self._on_state = on_state
        self._timer: asyncio.TimerHandle | TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop = asyncio.get_running_loop()
        # Deadlines (skew time, master-down interval, adverts) fire on the microsecond
        # (precise_timers.py says why); without `timers`, on asyncio's millisecond ones.
        self._timers = timers
        self._rank = next(_RANKS)
        self._mcast_dst = socket_.group if socket_ is not None else None
        self._on_send_failed = on_send_failed
        self._steady_at: float | None = None  # a steady Master's next advert (module docstring); else None
        self._schedule: AdvertSchedule | None = None  # a steady Master's advert deadlines
        self._steady_prio = 0
        self._steady_until: float | None = None
        self.group: GroupDriver | None = None
        # keepalived's firewall drop rules for a Master without accept mode (net/firewall.py):
        # set by the runtime when `nftables`/`vrrp_iptables` applies to this instance
        self.firewall: Firewall | None = None
        # virtual_routes / virtual_rules: opened on first use (most instances have none)
        self.route_owner: RouteOwner | None = None
        self._routes_synced: tuple[Any, bool] | None = None  # (model object, master) last synced
        # A quorum witness (witness/driver.py) that must admit every AddVips/Announce: VRRP
        # decides who wants the VIPs, the witness whether it may have them now.
        self._witness: Any = None
        # garp_group / vrrp_garp_interval / vrrp_gna_interval: the runtime's one AnnouncePacing
        # (daemon/announce_pacing.py), which spaces this router's GARPs/NAs per interface
        self.pacing: Any = None
        # The announcer of another interface (a VIP's `dev`), from the runtime; None: the
        # router's own announcer sends for every VIP
        self.announcer_for: Callable[[str], Announcer | None] | None = None

    @property
    def name(self) -> str:
        return self.params.name

    @property
    def witness(self) -> Any:
        return self._witness

    @witness.setter
    def witness(self, value: Any) -> None:
        Router.wants_changed += 1
        self._witness = value

    @property
    def state(self) -> State:
        return self.core.state

    def start(self) -> None:
        """Nothing to start: actions run inline (module docstring); kept for the runtime's
        start/settle/close life cycle."""

    # -- events in ---------------------------------------------------------------------------

    def feed(self, event: Event, now: float | None = None) -> None:
        """Hand one event to the core now; its actions run in order before this returns.

        A member of a sync group hands it to the group instead, which may move the other
        members too."""
        if self._steady_at is not None:
            self.leave_steady()
        if self.group is not None:
            self.group.feed(self, event, now)
            return
        before = self.core.state
        self.enqueue(self.core.handle(event, self._loop.time() if now is None else now))
        self.after(before)

    def enqueue(self, actions: list[Action]) -> None:
        """Carry the actions out in the core's order, except that a log line goes after the
        sends and VIP changes that follow it: a new Master's "Receive advertisement timeout",
        "Entering MASTER STATE" after its VIP, advert and GARPs; a faulting Master's "Entering
        FAULT STATE" after its priority-0 advert and the VIP's removal. Writing a line costs
        more than the send it would delay (issue 18). A line passed over is written, with the
        time it was met, before the next action that is neither (a notify, a drop) or at the
        end: lines keep their order among themselves, and every other effect its place. Nothing
        but the action's class is looked at before the first send or VIP change."""
        deferred: list[Log] | None = None
        met = 0.0
        for action in actions:
            cls = action.__class__
            if cls is Log:
                if deferred is None:
                    deferred = [action]  # type: ignore[list-item]
                    met = time.time()
                else:
                    deferred.append(action)  # type: ignore[arg-type]
                continue
            if deferred is not None and cls not in _ON_THE_WIRE:
                self._write_lines(deferred, met)
                deferred = None
            try:
                if cls is SendAdvert:
                    self.send_advert(action.priority)  # type: ignore[union-attr]
                else:
                    self._execute_sync(action)
            except Exception as exc:
                self._failed(action, exc)
        if deferred is not None:
            self._write_lines(deferred, met)

    def _write_lines(self, lines: list[Log], met: float) -> None:
        extra = {"vrid": self.params.vrid}  # journald's VRRP_VRID field (daemon/logsetup.py)
        for action in lines:
            try:
                log_hold.line(log, _LEVELS.get(action.level, logging.INFO), action.message, extra, met)
            except Exception as exc:
                self._failed(action, exc)

    def after(self, before: State) -> None:
        """Bookkeeping once the core has handled something: counters, timers."""
        after = self.core.state
        if after != before:
            Router.wants_changed += 1
            self.counters.transitions += 1
            self.state_since = time.time()
            if after == State.MASTER:
                self.counters.became_master += 1
            elif before == State.MASTER:
                self.counters.released_master += 1
            if self._on_state is not None:
                self._on_state(self, before, after)
            if self.witness is not None:
                self.witness.state_changed(self)
        self.sync_routes()
        self._rearm()

    def route_entries(self, kind: str) -> list[dict[str, Any]]:
        """virtual_routes ("routes") or virtual_rules ("rules") for the snapshot: each line as
        written and whether vipkeeper has it installed now."""
        from vipkeeper.net.routes import key_of

        owner = self.route_owner
        installed = (owner.routes if kind == "routes" else owner.rules) if owner is not None else {}
        entries = self.model.virtual_routes if kind == "routes" else self.model.virtual_rules
        return [{"entry": e.text, "installed": key_of(e) in installed} for e in entries]

    def sync_routes(self) -> None:
        """virtual_routes and virtual_rules are installed exactly while Master (net/routes.py
        keeps keepalived's order and leaves unchanged entries alone). Runs right after the VIPs
        come and right before they go, and after every event so a reload's new lists apply. A
        quorum witness gates them as it gates the VIPs: no routes while its gate is shut."""
        model = self.model
        master = self.vips_wanted
        synced = self._routes_synced
        if synced is not None and synced[0] is model and synced[1] == master:
            return  # the common case (an advert, a timer): nothing changed, no work
        if self.route_owner is None:
            if not (model.virtual_routes or model.virtual_rules) or not master:
                return
            from vipkeeper.net.routes import RouteOwner

            self.route_owner = RouteOwner(f"({self.name})")
        self._routes_synced = (model, master)
        if master:
            self.route_owner.sync(model.virtual_routes, model.virtual_rules)
        else:
            self.route_owner.sync((), ())

    def received(self, got: packet.Received, at: float | None = None) -> None:
        """An advert for this router; `at`: when it arrived (loop clock, the kernel's receive
        stamp: net/rx_time.py), the time the core's timers run from. None: now."""
        adv = got.advertisement
        self.counters.adverts_received += 1
        if adv.priority == 0:
            self.counters.priority_zero_received += 1
        before_master = self.core.master_source
        self.feed(AdvertReceived(adv, got.source), at)
        if self.core.master_source is not None and (
            self.core.master_source == got.source or before_master != self.core.master_source
        ):
            self.master_heard = time.time()

    async def settle(self) -> None:
        """Every action has been carried out by the time `feed` returns: nothing to wait for."""

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.route_owner is not None:
            # Routes were removed with the VIPs (Shutdown); with --dont-release-vrrp they stay.
            self.route_owner.close()

    # -- timers ------------------------------------------------------------------------------

    def now(self) -> float:
        return self._loop.time()

    def next_deadline(self) -> float | None:
        """When this router next acts on its own (the snapshot's `next_deadline_in`)."""
        return self._steady_at if self._steady_at is not None else self.core.next_deadline()

    def _rearm(self) -> None:
        if self._timers is not None and self.group is None:
            steady = self.core.steady()
            if steady is not None:
                self._go_steady(*steady)
                return
        deadline = self.core.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            if self._timers is None:
                self._timer = self._loop.call_at(deadline, self._fire)
            else:
                # A Master's other deadlines (a delayed GARP burst, a refresh) may go up to the
                # core's steady_early ahead of time, on a wake-up the adverts make anyway; its
                # advert never goes early (the grid, vrrp/advert_schedule.py, batches those).
                early = 0.0
                if self.core.state == State.MASTER and deadline != self.core.advert_deadline():
                    early = steady_early(self.params.advert_int)
                self._timer = self._timers.call_at(deadline, self._fire, early=early, rank=self._rank)

    def _go_steady(self, at: float, interval: float, priority: int, until: float | None) -> None:
        assert self._timers is not None
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = None
        # The core's deadline, moved earlier onto the shared grid (a deadline already on it,
        # as the one handed back by `leave_steady`, stays where it is).
        self._schedule = schedule = AdvertSchedule(at, interval)
        self._steady_at = at = schedule.at
        self._steady_prio = priority
        self._steady_until = until
        self._timer = self._timers.call_at(at, self._steady_fire, rank=self._rank)

    def _steady_fire(self) -> None:
        """One advert of a steady Master, as the core's `steady()` says: now (on time or late),
        the next one interval after this one's deadline (vrrp/advert_schedule.py). The next
        deadline first: a failed send below may hand the router an event, which must find
        the schedule up to date."""
        assert self._timers is not None and isinstance(self._timer, TimerHandle) and self._schedule is not None
        self._steady_at = at = self._schedule.advance(self._loop.time())
        until = self._steady_until
        if until is None or at < until:
            self._timer = self._timers.again(self._timer, at)
            self.send_advert(self._steady_prio)
            return
        # The next advert is not due before the core's other timer: this is the last one sent
        # here; then the core has its timers back and the router its ordinary timer.
        self._timer = None
        self.send_advert(self._steady_prio)
        if self._steady_at is not None:  # (a failed send may have handed it back already)
            self.leave_steady()
            self._rearm()

    def leave_steady(self) -> None:
        """Before anything reaches the core: the advert deadline the steady sends reached goes
        to the core, and the steady timer goes (the next `_rearm` sets the right one)."""
        at = self._steady_at
        if at is None:
            return
        self._steady_at = None
        self.core.resume_steady(at)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = None

    def _fire(self) -> None:
        at = self._timer_at
        self._timer = None
        self._timer_at = None
        now = self._loop.time()
        # Fired early (see _rearm): the core sees its deadline, not an earlier time.
        self.feed(TIMER_FIRED, now if at is None or now > at else at)

    # -- actions out -------------------------------------------------------------------------

    def _failed(self, action: Action, exc: Exception) -> None:
        # One line, not a traceback: a systemic failure (netlink gone) hits every router at
        # once, and a thousand tracebacks would starve the adverts.
        log.error("(%s) %s failed: %s: %s", self.name, type(action).__name__, type(exc).__name__, exc)
        log.debug("(%s) %s failed", self.name, type(action).__name__, exc_info=True)

    def _execute_sync(self, action: Action) -> None:
        # The action's class compared (the actions are final records): the way to a VIP change
        # on a failover asks nothing it need not (issue 18).
        cls = action.__class__
        if cls is SendAdvert:
            self.send_advert(action.priority)  # type: ignore[union-attr]
        elif cls is AddVips:
            witness = self._witness
            if witness is None or witness.admit(self):
                if self.firewall is not None:  # the drop rule first, then the VIPs (keepalived's order)
                    self._firewall(True, action.vips)  # type: ignore[union-attr]
                self._change_vips(action.vips, self.addresses.add_now, "add")  # type: ignore[union-attr]
                self.sync_routes()  # routes after the VIPs (a route's `src` may be a VIP)
        elif cls is DelVips:
            self.sync_routes()  # rules and routes before the VIPs, as keepalived
            self._change_vips(action.vips, self.addresses.remove_now, "remove")  # type: ignore[union-attr]
            if self.firewall is not None:
                self._firewall(False, action.vips)  # type: ignore[union-attr]
        elif cls is Announce:
            witness = self._witness
            if witness is None or witness.admit(self):
                self._announce(action)  # type: ignore[arg-type]
        elif cls is Notify:
            self._on_notify(self, action)  # type: ignore[arg-type]
        elif cls is Drop:
            self.counters.drops[action.reason.value] += 1  # type: ignore[union-attr]

    def _firewall(self, block: bool, vips: tuple[Any, ...]) -> None:
        if self.firewall is None:
            return
        try:
            if block:
                self.firewall.block(self.name, vips)
            else:
                self.firewall.unblock(self.name, vips)
        except NftError as exc:
            log.error("(%s) cannot %s firewall drop rule: %s", self.name, "set" if block else "remove", exc)

    @property
    def vips_wanted(self) -> bool:
        """Should this router's VIPs be on their interfaces now: MASTER, and admitted by the
        quorum witness when one guards it. The runtime's safety nets (a VIP deleted under a
        Master, lost address events, the maintenance pass) put back only what this says."""
        return self.core.state == State.MASTER and (self.witness is None or self.witness.gate_open)

    def hold_vips(self, on: bool) -> None:
        """The witness opened (on) or closed its gate: add and announce, or remove, the VIPs."""
        Router.wants_changed += 1
        if on:
            self._change_vips(self.params.vips, self.addresses.add_now, "add")
            self.sync_routes()  # routes after the VIPs, as on becoming Master
            self._announce(Announce(max(1, self.params.garp_master_repeat), self.params.vips))
        else:
            self.sync_routes()  # rules and routes before the VIPs
            self._change_vips(self.params.vips, self.addresses.remove_now, "remove")

    def reannounce(self, address: Any) -> None:
        """A burst (garp_master_repeat rounds) for one of our VIPs, on its interface and spacing
        as every other announcement (a VIP conflict has ended while we are Master)."""
        vips = tuple(v for v in self.params.vips if isinstance(v, Vip) and v.ip == address)
        if vips:
            self._announce(Announce(max(1, self.params.garp_master_repeat), vips))

    def _change_vips(self, vips: tuple[Any, ...], change: Callable[[Vip], bool], verb: str) -> None:
        for vip in vips:
            try:
                change(vip)
            except AddressError as exc:  # one VIP the kernel refuses must not stop the others
                log.error("(%s) cannot %s VIP %s: %s", self.name, verb, vip, exc.strerror or exc)

    def rebind(self, socket_: VrrpSocket | None, announcer: Announcer | None) -> None:
        """The runtime reopened (or lost) the socket and announcer of this router's interface."""
        self.socket = socket_
        self.announcer = announcer
        if socket_ is not None:
            self._mcast_dst = socket_.group
        self._advert_prio = -1
        self._advert_wire = ()
        self._advert_zero = None

    @property
    def params(self) -> InstanceParams:
        return self._params

    @params.setter
    def params(self, value: InstanceParams) -> None:
        Router.wants_changed += 1
        self._params = value
        # the datagrams of the last advert built, at `_advert_prio` (-1: none yet)
        self._advert_prio = -1
        self._advert_wire: tuple[Any, ...] = ()
        self._advert_zero: tuple[Any, ...] | None = None

    def send_advert(self, priority: int) -> None:
        sock = self.socket
        if sock is None:  # interface missing: the instance is in FAULT (runtime.py)
            return
        # An advert's datagrams depend only on the parameters, the socket and the priority:
        # built once per priority change (rebind and a new `params` start afresh); only the last
        # one is kept (a Master sends one priority until something changes it), and beside it the
        # priority-0 advert, ready before it is needed: it starts a failover.
        if priority == self._advert_prio:
            wire = self._advert_wire
        elif priority == 0 and self._advert_zero is not None:
            wire = self._advert_zero
        else:
            wire = self._prepare_advert(sock, priority)
            if priority:
                self._advert_prio = priority
                self._advert_wire = wire
                if self._advert_zero is None:
                    self._advert_zero = self._prepare_advert(sock, 0)
            else:
                self._advert_zero = wire
        for prepared in wire:
            if sock.send_prepared(prepared):
                self.counters.adverts_sent += 1
                if priority == 0:
                    self.counters.priority_zero_sent += 1
            else:
                if sock.failing == 1:  # once per streak, in keepalived's words
                    err = sock.last_send_error or 0
                    log.warning("(%s): send advert error %d (%s)", self.name, err, os.strerror(err))
                if self._on_send_failed is not None:
                    self._on_send_failed(self)

    def _prepare_advert(self, sock: VrrpSocket, priority: int) -> tuple[Any, ...]:
        adv = advert_for(self.params, priority)
        targets = self.params.unicast_peers or (self._mcast_dst,)
        return tuple(sock.prepare(packet.encode(adv, sock.src, dst), dst) for dst in targets)

    def _announce(self, action: Announce) -> None:
        """Rounds of GARP/NA, each VIP on its own interface (keepalived sends a `dev eth1` VIP's on
        eth1), spaced per interface when the configuration asks (self.pacing)."""
        if self.announcer is None:
            return
        if action.source_address:
            if self.socket is None:
                return
            frames = [(-1, self.announcer, self.socket.src)]
        else:
            vips = [vip for vip in action.vips if isinstance(vip, Vip)]
            if action.extra_if:
                ours = {name for name, _, _ in self.model.address_vmacs}
                if self.model.vmac_interface:
                    ours.add(self.model.vmac_interface)
                vips = extra_if_targets(vips, lambda v: v.ifname, self.announcer.ifname, ours,
                                        self.model.garp_extra_if_all, self.model.vmac_xmit_base)
            frames = self._frames_of(vips)
        if self.pacing is not None:
            self.pacing.announce(self, frames, action.rounds)
        elif all(announcer is self.announcer for _, announcer, _ in frames):
            targets = [ip for _, _, ip in frames]
            for _ in range(action.rounds):
                self.announcer.announce(targets)
        else:
            for _ in range(action.rounds):
                for _, announcer, ip in frames:
                    announcer.announce([ip])

    def _frames_of(self, vips: list[Vip]) -> list[tuple[int, Announcer, Any]]:
        """(place among the instance's VIPs, announcer of the VIP's interface, address)."""
        assert self.announcer is not None
        place = {vip: i for i, vip in enumerate(self.params.vips)}
        out = []
        for vip in vips:
            announcer: Announcer | None = self.announcer
            if vip.ifname != self.announcer.ifname and self.announcer_for is not None:
                announcer = self.announcer_for(vip.ifname)
            if announcer is not None:
                out.append((place.get(vip, len(place)), announcer, vip.ip))
        return out


class GroupDriver:
    """Routes member events through the core's SyncGroup and fans its actions back out.

    The members' cores are the group's members (the same objects), so a router's snapshot and
    timers stay right whichever member an event was for."""

    def __init__(self, name: str, routers: list[Router], notify: Callable[[str, str], None]) -> None:
        from vipkeeper.vrrp.sync_group import SyncGroup  # only with a vrrp_sync_group (issue 18: RSS)

        self.name = name
        self.routers = {r.name: r for r in routers}
        self.core: SyncGroup = SyncGroup(name, [r.core for r in routers])
        self._notify = notify
        for router in routers:
            router.leave_steady()  # the group's core must see every member's timers as they are
            router.group = self

    def feed(self, router: Router, event: Event, now: float | None = None) -> None:
        from vipkeeper.vrrp.sync_group import GroupNotify  # loaded by __init__ already: a dict look-up

        before = {name: r.core.state for name, r in self.routers.items()}
        tagged = self.core.handle(router.name, event, router.now() if now is None else now)
        # the members' lines are written once every action has been carried out (Router.enqueue)
        held = log_hold.hold() if len(tagged) > 2 else None
        try:
            for member, action in tagged:
                if member is None:
                    if isinstance(action, GroupNotify):
                        self._notify(action.group, action.state)
                    elif isinstance(action, Log):
                        # In the queue of the member that caused it, so it prints after that
                        # member's own lines, not ahead of them.
                        router.enqueue([action])
                else:
                    self.routers[member].enqueue([action])
        finally:
            log_hold.release(held)
        for name, r in self.routers.items():
            r.after(before[name])

    def detach(self) -> None:
        for router in self.routers.values():
            router.group = None


def advert_for(p: InstanceParams, priority: int) -> packet.Advertisement:
    """The advertisement this router sends at `priority` (v2 carries whole seconds)."""
    if p.version == 2:
        auth = packet.pad_auth(p.auth_data) if p.auth_type else bytes(packet.AUTH_DATA_LEN)
        return packet.Advertisement(2, p.vrid, priority, p.addresses, max(1, round(p.advert_int)) * 100,
                                    p.auth_type, auth)
    return packet.Advertisement(3, p.vrid, priority, p.addresses, p.advert_int_cs)


def vips_of(model: InstanceModel) -> tuple[Vip, ...]:
    """The addresses a Master holds: VIPs then excluded VIPs, each on its own device. With
    use_vmac, those of the instance's family whose `dev` is absent or the instance's interface
    go on the VMAC (keepalived 2.2.7, measured: `dev eth0` on an eth0 instance lands on vrrp.VRID);
    those given an address VMAC (use_vmac_addr, a VIP's use_vmac) go on that."""
    out = []
    vmac = model.vmac_interface
    for entry in model.virtual_ipaddress + model.virtual_ipaddress_excluded:
        dev = entry.dev or model.interface
        if vmac and entry.family == model.family and dev == model.interface:
            dev = vmac
        if entry.vmac:  # use_vmac_addr / the VIP's use_vmac: its own VMAC (config/vmac_addr.py)
            dev = entry.vmac
        out.append(
            Vip.make(
                dev,
                entry.address,
                broadcast=entry.brd if entry.brd not in (None, "+", "-") else None,
                scope=entry.scope or "global",
                label=entry.label,
            )
        )
    return tuple(out)


def advertised_addresses(model: InstanceModel, vips: tuple[Vip, ...] | None = None) -> tuple[packet.IPAddress, ...]:
    """The addresses carried in our adverts: the VIPs of the instance's own family (keepalived
    leaves excluded VIPs and the other family out). With `vips` (`vips_of(model)`, which starts
    with the virtual_ipaddress entries in order): their own address objects, not new ones."""
    return tuple(
        entry.address.ip if vips is None else vips[i].ip
        for i, entry in enumerate(model.virtual_ipaddress) if entry.address.version == model.family
    )


def auth_of(model: InstanceModel) -> tuple[int, bytes]:
    auth = model.authentication
    if auth is None or model.version != 2:
        return packet.AUTH_NONE, b""
    if auth.auth_type == "PASS":
        return packet.AUTH_PASS, auth.auth_pass.encode()[: packet.AUTH_DATA_LEN]
    # AH is a configuration error (config/parser.py): a config with it never reaches here.
    raise ValueError(f"({model.name}) auth_type {auth.auth_type} is not implemented")


def ip(value: str) -> packet.IPAddress:
    return ipaddress.ip_address(value)
