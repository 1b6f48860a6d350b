"""One virtual router's state machine (RFC 5798 §6.4, as keepalived 2.2.7 refines it).

Everything that decides what a VRRP instance does lives in this file; the shell only feeds it
events and carries out the actions it returns.

Rules
-----
- Pure: no sockets, no clock reads, no tasks. Time comes in with every event (`now`, seconds
  on any monotonic scale); `next_deadline()` says when the shell must call back with
  `TimerFired`. For `AdvertReceived`, `now` is when the advert arrived (the kernel's receive
  stamp, net/rx_time.py), which may be before the shell read it: the RFC's timers (Skew_Time,
  Master_Down_Interval) run from the arrival. An advert that arrived before the latest `now`
  already handled is taken as of that time, so time never runs backwards here and no timer
  starts before a state the instance has since entered. Durations are computed in integer microseconds exactly as keepalived does, so
  that e.g. a priority-100 backup of a 1 s VRRPv3 master waits 3.609375 s, not 3.6094 s.
- `handle(event, now) -> list[Action]` returns actions in the order they must be executed. The
  order carries meaning: leaving MASTER for FAULT or STOP sends the priority-0 advert *before*
  the VIPs are deleted, and becoming MASTER sends an advert *before* announcing the VIPs (so
  the old master lets go first). keepalived also sends that advert before it adds the VIPs;
  with `vips_first` the VIPs come first (the shell sets it when adding them is one quick
  netlink request each, no firewall rule or route with them): what clients wait for is the
  address, and the advert's send (delivered to every listener on the LAN within the call, 0.1
  to 0.4 ms on a loaded host) would delay it, while the old master cannot act on the advert
  in the few microseconds the VIP comes earlier.
- The codec has already said the advert is well formed; this module says whether it is right
  for *this* router (VRID, version, interval for v2, authentication, peer, advertised VIPs) and
  answers `Drop(reason)` otherwise, with the same `DropReason` vocabulary the codec uses.
- Log lines use keepalived's wording, instance name first: `(VI_1) Entering MASTER STATE`.
- Nothing a peer sends can make us log, answer or notify without bound (vrrp/log_limit.py):
  lines caused by a received advert are rate-limited per reason (the first at once, then one
  per minute with a count of those left out; Drop actions, and so the counters, stay exact);
  a MASTER reacts to lower-priority or priority-0 adverts (advert, lower-priority GARPs,
  MASTER_RX_LOWER_PRI notify) at most once per advert interval - keepalived reacts to every
  one. The unicast peer check comes first, so a stranger's advert is dropped before any check
  that logs.

Theory of operation
-------------------
States: INIT -> BACKUP | FAULT on Startup; BACKUP <-> MASTER by election; any -> FAULT while a
fault is present (a tracker, the interface down, or the shell saying the VRRP socket is unusable:
interface missing or sends failing, `SocketState`); FAULT -> BACKUP when the last fault clears;
any -> STOP on Shutdown.

Timers (each a deadline or None):

  ``down``     BACKUP: master-down timer; expiry -> MASTER
  ``advert``   MASTER: next periodic advertisement
  ``garp``     MASTER: delayed GARP/NA burst (garp_master_delay after becoming master)
  ``refresh``  MASTER: periodic GARP/NA refresh (garp_master_refresh)
  ``lowgarp``  MASTER: delayed burst after a lower-priority advert (garp_lower_prio_delay)

Not a timer of its own: garp_extra_if (keepalived's vmac_garp_intvl) is looked at when a MASTER
sends an advert, as keepalived's vrrp_state_master_tx does: the first advert at or after
`garp_extra_if` seconds (less one step of the advert grid, vrrp/advert_schedule.py, by which the
shell may move adverts earlier) since becoming MASTER (or since the last one) also asks for
``Announce(extra_if=True)``; the shell picks the interfaces (vrrp/garp_extra_if.py).
  ``start``    INIT:   end of the startup delay

The steady Master: a MASTER whose next timer is ``advert`` would answer every TimerFired with
the same SendAdvert and a deadline one advert_int on, until its next other timer (a delayed
GARP burst, a refresh) is due; `steady()` says so, with the schedule, so that the shell can
repeat those adverts itself (the per-advert cost of a thousand instances) until anything else
happens or that other timer comes, and `resume_steady(at)` brings the advert timer up to date
first. The shell may move the first of those adverts earlier (by less than a tenth of the
interval, onto a grid every instance shares: vrrp/advert_schedule.py) and then sends one every
interval from that deadline, so that instances due at one grid point share one wake-up; no
gap is ever longer than the interval. The decision stays here: the shell repeats only what this
module said it would do, and the core goes on from the deadline the shell hands back.

Timing, from keepalived's vrrp.h (µs; MAI = Master_Adver_Interval):

  skew (v2)        = (256 - p) * 1e6 / 256
  skew (v3)        = (256 - p) * (MAI / 1 cs) * 625 / 16        (integer maths)
  master-down      = down_timer_adverts * MAI + skew
  p                = 255 for an address owner, else the effective priority

MAI starts as our own advert_int, is learnt (v3 only) from every advert a BACKUP accepts and
from the advert that makes a MASTER yield, and is reset to our own when leaving FAULT or
becoming MASTER.

What a BACKUP does with a valid advert (vrrp_state_backup):

  =====================================================  ======================================
  advert                                                 effect
  =====================================================  ======================================
  priority 0                                             down timer := skew (fast handover:
                                                         MASTER at once)
  nopreempt, or priority >= ours, or preempt_delay       accept: down timer := master-down,
  pending                                                learn MAI (v3)
  otherwise (lower, preempt on)                          log "... - discarding"; the running
                                                         down timer is left alone
  =====================================================  ======================================

What a MASTER does with a valid advert (vrrp_state_master_rx):

  =====================================================  ======================================
  priority 0                                             send an advert now, stay MASTER
  lower, or equal and sender's IP lower than ours        stay MASTER; advert now unless
                                                         lower_prio_no_advert; lower-prio GARPs
  higher, or equal and sender's IP higher                BACKUP (no priority-0 advert), learn
                                                         MAI (v3), DelVips
  =====================================================  ======================================

Startup: an address owner (priority 255) becomes MASTER at once; `state MASTER` otherwise
listens for MAI + minimum skew first (so an existing master is heard before we claim the
VIPs); everyone else waits a full master-down interval.

Fast handover (vipkeeper extension, off by default): when the only other router is known to
be this one's peer (unicast with exactly one peer, or `fast_handover=True`), a BACKUP that
hears priority 0 becomes MASTER immediately instead of waiting the skew time -- there is no
other backup to race with. A MASTER that faults sends its priority-0 advert as its very first
action. With it off the behaviour is RFC/keepalived exact.
"""

from __future__ import annotations

import enum

# hmac.compare_digest's own C code without hmac's import of OpenSSL's libcrypto (3.5 MiB of the
# daemon's RSS): hmac falls back to exactly this function when Python has no OpenSSL.
from _operator import _compare_digest as compare_digest
from operator import attrgetter
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

from vipkeeper.records import record

from .advert_schedule import grid_step
from .log_limit import LogLimiter
from .packet import AUTH_NONE, AUTH_PASS, Advertisement, DropReason, IPAddress, pad_auth

US = 1_000_000  # keepalived's TIMER_HZ
CENTI_US = 10_000  # TIMER_CENTI_HZ
OWNER_PRIORITY = 255
SYNC_GROUP_TRACKER = "@sync_group"  # reserved tracker name a sync group uses to fault members


class State(str, enum.Enum):
    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"
    STOP = "STOP"


# The parameters nearly every instance has alike (a configuration of 1,000 instances has a
# handful of distinct combinations): one shared record per combination, not ~24 slots each
# (issue 18: about 0.2 KiB per instance). InstanceParams reads them through properties.
COMMON_FIELDS = (
    "version", "family", "advert_int", "initial_state", "nopreempt", "preempt_delay", "skip_check_adv_addr",
    "check_unicast_src", "fast_handover", "down_timer_adverts", "garp_master_delay", "garp_master_repeat",
    "garp_master_refresh", "garp_master_refresh_repeat", "garp_lower_prio_delay", "garp_lower_prio_repeat",
    "garp_extra_if", "lower_prio_no_advert", "higher_prio_send_advert", "auth_type", "auth_data",
    "notify_priority_changes", "startup_delay", "vips_first",
)


@record(frozen=True, slots=True)
class InstanceCommon:
    """The part of `InstanceParams` instances share (see COMMON_FIELDS); one per combination."""

    version: int = 2
    family: int = 4
    advert_int: float = 1.0
    initial_state: State = State.BACKUP
    nopreempt: bool = False
    preempt_delay: float = 0.0
    skip_check_adv_addr: bool = False
    check_unicast_src: bool = False
    fast_handover: bool = False
    down_timer_adverts: int = 3
    garp_master_delay: float = 5.0
    garp_master_repeat: int = 5
    garp_master_refresh: float = 0.0
    garp_master_refresh_repeat: int = 1
    garp_lower_prio_delay: float = 5.0
    garp_lower_prio_repeat: int = 5
    garp_extra_if: float = 0.0  # s between GARP/NA rounds on the VIPs' other interfaces; 0: never
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    auth_type: int = AUTH_NONE
    auth_data: bytes = b""
    notify_priority_changes: bool = False
    startup_delay: float = 0.0
    vips_first: bool = False  # a new Master adds its VIPs before its first advert (module rules)


_COMMONS: dict[tuple, InstanceCommon] = {}
_COMMONS_MAX = 4096  # distinct combinations kept for sharing (reloads may bring new ones)


def _common(values: tuple) -> InstanceCommon:
    """The shared record for these values (keyed with their types too: 1 and 1.0, True and 1
    stay apart, as each instance's own values were)."""
    key = (values, tuple(map(type, values)))
    found = _COMMONS.get(key)
    if found is None:
        if len(_COMMONS) >= _COMMONS_MAX:
            _COMMONS.clear()
        found = _COMMONS[key] = InstanceCommon(*values)
    return found


@record(frozen=True, slots=True)
class InstanceParams:
    """Everything the state machine needs to know about one `vrrp_instance`.

    The shell builds it from the config model (defaults resolved against global_defs).
    `vips` is opaque to the core: it is passed back unchanged in AddVips/DelVips/Announce.
    `addresses` are the addresses this router puts in its adverts and expects in its peers'
    (empty: do not check).

    Slots, not a __dict__, and what instances have alike in one shared `InstanceCommon`
    (`common`; its fields read as this record's own: `params.advert_int`): one per instance,
    so every slot counts (issue 18). Built with every field as a keyword, as before the split.
    """

    name: str
    vrid: int
    priority: int = 100
    source_address: IPAddress | None = None
    vips: tuple[Any, ...] = ()
    addresses: tuple[IPAddress, ...] = ()
    unicast_peers: tuple[IPAddress, ...] = ()
    common: InstanceCommon = InstanceCommon()

    if TYPE_CHECKING:  # the shared fields, read through properties (below the class)
        version: int
        family: int
        advert_int: float
        initial_state: State
        nopreempt: bool
        preempt_delay: float
        skip_check_adv_addr: bool
        check_unicast_src: bool
        fast_handover: bool
        down_timer_adverts: int
        garp_master_delay: float
        garp_master_repeat: int
        garp_master_refresh: float
        garp_master_refresh_repeat: int
        garp_lower_prio_delay: float
        garp_lower_prio_repeat: int
        garp_extra_if: float
        lower_prio_no_advert: bool
        higher_prio_send_advert: bool
        auth_type: int
        auth_data: bytes
        notify_priority_changes: bool
        startup_delay: float
        vips_first: bool

    @property
    def is_owner(self) -> bool:
        return self.priority == OWNER_PRIORITY

    @property
    def advert_int_cs(self) -> int:
        return max(1, round(self.advert_int * 100))

    @property
    def fast_handover_applies(self) -> bool:
        return self.fast_handover or len(self.unicast_peers) == 1


_OWN_FIELDS = ("name", "vrid", "priority", "source_address", "vips", "addresses", "unicast_peers")
_COMMON_DEFAULTS = tuple(getattr(InstanceCommon(), n) for n in COMMON_FIELDS)


def _params_init(self: InstanceParams, *args: Any, **kwargs: Any) -> None:
    """InstanceParams(name, vrid, version=2, family=4, priority=100, ...): every field of the
    record as it was before the split (positional in that order, or by keyword), or
    `common=` an InstanceCommon (as `records.replace` passes it)."""
    if args:
        order = ("name", "vrid", "version", "family", "priority", "advert_int", "initial_state", "nopreempt",
                 "preempt_delay", "source_address", "vips", "addresses", "skip_check_adv_addr", "unicast_peers",
                 *COMMON_FIELDS[7:])
        if len(args) > len(order):
            raise TypeError(f"InstanceParams takes at most {len(order)} positional arguments")
        for name, value in zip(order, args):
            if name in kwargs:
                raise TypeError(f"InstanceParams got multiple values for argument '{name}'")
            kwargs[name] = value
    common = kwargs.pop("common", None)
    shared = [kwargs.pop(n, _MISSING) for n in COMMON_FIELDS]
    if common is None or any(v is not _MISSING for v in shared):
        base = _COMMON_DEFAULTS if common is None else tuple(getattr(common, n) for n in COMMON_FIELDS)
        values = tuple(b if v is _MISSING else v for v, b in zip(shared, base))
        common = _common(values)
    for n in ("name", "vrid"):
        if n not in kwargs:
            raise TypeError(f"InstanceParams missing required argument: '{n}'")
    unknown = set(kwargs) - set(_OWN_FIELDS)
    if unknown:
        raise TypeError(f"InstanceParams got an unexpected keyword argument '{min(unknown)}'")
    put = object.__setattr__
    put(self, "name", kwargs["name"])
    put(self, "vrid", kwargs["vrid"])
    put(self, "priority", kwargs.get("priority", 100))
    put(self, "source_address", kwargs.get("source_address"))
    put(self, "vips", kwargs.get("vips", ()))
    put(self, "addresses", kwargs.get("addresses", ()))
    put(self, "unicast_peers", kwargs.get("unicast_peers", ()))
    put(self, "common", common)


_MISSING: Any = object()
InstanceParams.__init__ = _params_init  # type: ignore[method-assign]
for _name in COMMON_FIELDS:
    setattr(InstanceParams, _name, property(attrgetter("common." + _name)))
del _name


# --- events -----------------------------------------------------------------------------------


@record(frozen=True)
class Startup:
    pass


@record(frozen=True)
class Shutdown:
    pass


@record(frozen=True)
class AdvertReceived:
    advert: Advertisement
    source: IPAddress


@record(frozen=True)
class TimerFired:
    pass


@record(frozen=True)
class TrackerChanged:
    """A tracker's current contribution to the priority and whether it puts us in FAULT."""

    name: str
    contribution: int = 0
    fault: bool = False


@record(frozen=True)
class InterfaceDown:
    pass


@record(frozen=True)
class InterfaceUp:
    pass


@record(frozen=True)
class SocketState:
    """The shell's word on the instance's VRRP socket: `ok` is False while the interface is
    missing or the socket cannot send (`reason`, in keepalived's words, e.g. "interface eth1
    down"). A fault like a down interface, but one `dont_track_primary` cannot mask: without a
    working socket the instance can neither advertise nor hear its peers."""

    ok: bool
    reason: str = ""


@record(frozen=True)
class Reconfigure:
    """New parameters for the same router (same name, VRID, version, family)."""

    params: InstanceParams


@record(frozen=True)
class ForceMaster:
    """Sync group: another member became MASTER; a BACKUP member follows."""


@record(frozen=True)
class ForceBackup:
    """Sync group: another member yielded; a MASTER member follows to BACKUP."""


@record(frozen=True)
class TrackedEntryLost:
    """A virtual route or rule vipkeeper installed (tracked: with a device, no `no_track`) was
    deleted by someone else: keepalived 2.2.7 leaves MASTER for BACKUP, priority 0 first
    (measured), and puts it back only when it is Master again."""

    what: str  # for the log line: "route 198.51.100.0/24 via ..."


Event = (  # a PEP 604 union (types.UnionType): typing.Union would import typing at run time
    Startup | Shutdown | AdvertReceived | TimerFired | TrackerChanged | InterfaceDown | InterfaceUp
    | SocketState | Reconfigure | ForceMaster | ForceBackup | TrackedEntryLost
)

# --- actions ----------------------------------------------------------------------------------


@record(frozen=True)
class SendAdvert:
    priority: int


@record(frozen=True)
class AddVips:
    vips: tuple[Any, ...]


@record(frozen=True)
class DelVips:
    vips: tuple[Any, ...]


@record(frozen=True)
class Announce:
    """Send `rounds` rounds of GARP/unsolicited NA: one per VIP per round, or one for our own
    source address when `source_address` is set (unicast instance leaving FAULT)."""

    rounds: int
    vips: tuple[Any, ...] = ()
    source_address: bool = False
    # garp_extra_if: one GARP/NA per other interface of the VIPs (vrrp/garp_extra_if.py says which)
    extra_if: bool = False


@record(frozen=True)
class Notify:
    """A notify (scripts, FIFO). `state`: MASTER BACKUP FAULT STOP, or the event words
    MASTER_RX_LOWER_PRI, MASTER_PRIORITY, BACKUP_PRIORITY."""

    state: str
    priority: int


@record(frozen=True)
class Log:
    level: str  # "debug" | "info" | "warning" | "error"
    message: str


@record(frozen=True)
class Drop:
    reason: DropReason
    source: IPAddress | None = None


Action = SendAdvert | AddVips | DelVips | Announce | Notify | Log | Drop

# The priority-0 advert (a frozen record: one object serves every instance) and the notify
# states' words, made once: what a failover's path builds, it should not compute.
PRIORITY_ZERO = SendAdvert(0)
_MASTER = State.MASTER.value
_FAULT = State.FAULT.value


# --- timing -----------------------------------------------------------------------------------


STEADY_EARLY_MAX = 0.010  # s


def steady_early(advert_int: float) -> float:
    """How long before it is due a Master's delayed GARP burst or refresh may go, on a wake-up
    the daemon makes anyway: a tenth of the interval (at least one step of the adverts' grid,
    vrrp/advert_schedule.py, which is a 50th of it, at most 5 ms: such a timer finds the wake-up
    of a grid point before it wherever Masters are steady), at most 10 ms. Each wake-up costs more than a dozen adverts (issue
    18). Adverts never go early: the shell batches them on the grid."""
    return min(STEADY_EARLY_MAX, advert_int * 0.1)


def skew_us(version: int, priority: int, mai_cs: int) -> int:
    """keepalived's VRRP_TIMER_SKEW in microseconds."""
    if version == 3:
        return (256 - priority) * mai_cs * 625 // 16
    return (256 - priority) * US // 256


def master_down_us(version: int, priority: int, mai_cs: int, down_timer_adverts: int = 3) -> int:
    """keepalived's VRRP_MS_DOWN_TIMER in microseconds."""
    return down_timer_adverts * mai_cs * CENTI_US + skew_us(version, priority, mai_cs)


def _addr_key(addr: IPAddress | None) -> int:
    return int(addr) if addr is not None else -1


TIMER_NAMES = ("start", "down", "advert", "garp", "refresh", "lowgarp")


class Timers:
    """An instance's timers by name (the module docstring's table): the deadline of each that
    runs, as a dict of them would hold it (`get`, `in`, `[name] = at`, `pop`, `del`, `items`,
    `values`, `len`, `clear`), in one slot per name: a dict per instance is 184 bytes, this 80
    (issue 18: memory at a thousand instances). Nothing depends on the order of the timers."""

    __slots__ = TIMER_NAMES

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.start = self.down = self.advert = self.garp = self.refresh = self.lowgarp = None

    def get(self, name: str, default: float | None = None) -> float | None:
        at = getattr(self, name)
        return default if at is None else at

    def __contains__(self, name: str) -> bool:
        return getattr(self, name) is not None

    def __getitem__(self, name: str) -> float:
        at = getattr(self, name)
        if at is None:
            raise KeyError(name)
        return at  # type: ignore[no-any-return]

    def __setitem__(self, name: str, at: float) -> None:
        setattr(self, name, at)

    def __delitem__(self, name: str) -> None:
        if getattr(self, name) is None:
            raise KeyError(name)
        setattr(self, name, None)

    def pop(self, name: str, default: float | None = None) -> float | None:
        at = getattr(self, name)
        setattr(self, name, None)
        return default if at is None else at

    def items(self) -> list[tuple[str, float]]:
        return [(name, at) for name, at in zip(TIMER_NAMES, self._all()) if at is not None]

    def values(self) -> list[float]:
        return [at for at in (self.start, self.down, self.advert, self.garp, self.refresh, self.lowgarp)
                if at is not None]

    def __len__(self) -> int:
        return len(self.values())

    def __bool__(self) -> bool:
        return bool(self.values())

    def _all(self) -> tuple[float | None, ...]:  # in TIMER_NAMES' order
        return (self.start, self.down, self.advert, self.garp, self.refresh, self.lowgarp)

    def take_due(self, now: float) -> str | None:
        """The name of the earliest timer due at `now` (ties: the first name alphabetically),
        cleared; None when none is due. Read slot by slot: this runs on every timer's wake-up,
        a failover's among them (issue 18: the Backup's way to its VIPs)."""
        name = None
        best = now
        at = self.advert
        if at is not None and at <= best:
            name, best = "advert", at
        at = self.down
        if at is not None and (at < best or (name is None and at <= best)):
            name, best = "down", at
        at = self.garp
        if at is not None and (at < best or (name is None and at <= best)):
            name, best = "garp", at
        at = self.lowgarp
        if at is not None and (at < best or (name is None and at <= best)):
            name, best = "lowgarp", at
        at = self.refresh
        if at is not None and (at < best or (name is None and at <= best)):
            name, best = "refresh", at
        at = self.start
        if at is not None and (at < best or (name is None and at <= best)):
            name, best = "start", at
        if name is None:
            return None
        if name == "down":
            self.down = None
        elif name == "advert":
            self.advert = None
        elif name == "garp":
            self.garp = None
        elif name == "lowgarp":
            self.lowgarp = None
        elif name == "refresh":
            self.refresh = None
        else:
            self.start = None
        return name

    def __repr__(self) -> str:
        return f"Timers({dict(self.items())!r})"


# The trackers of an instance that has none (most): shared, never written (`handle` gives an
# instance its own dict at its first TrackerChanged).
_NO_TRACKERS: dict[str, tuple[int, bool]] = {}


class Instance:
    """One VRRP virtual router. See the module docstring for the rules.

    Slotted, and what most instances never use (trackers, the log rate limiter) made at first
    use: a daemon holds one per instance (issue 18: memory at a thousand instances)."""

    __slots__ = ("params", "state", "master_adver_int_cs", "master_source", "master_priority", "_trackers",
                 "_iface_up", "_socket_ok", "_started", "_timers", "_preempt_at", "effective_priority",
                 "_log_limiter", "_reacted_at", "_extra_if_at", "reactions_skipped", "_clock")

    def __init__(self, params: InstanceParams) -> None:
        self.params = params
        self.state = State.INIT
        self.master_adver_int_cs = params.advert_int_cs
        self.master_source: IPAddress | None = None
        self.master_priority: int | None = None
        self._trackers = _NO_TRACKERS
        self._iface_up = True
        self._socket_ok = True
        self._started = False
        self._timers = Timers()
        self._preempt_at: float | None = None
        self.effective_priority = self._compute_priority()
        self._log_limiter: LogLimiter | None = None  # made at the first line a received advert causes
        self._reacted_at: float | None = None  # last answer to a lower/zero-priority advert
        self._extra_if_at: float | None = None  # MASTER: garp_extra_if due with the first advert from then
        self.reactions_skipped = 0
        self._clock = float("-inf")  # the latest `now` handled (an advert is never handled earlier)

    # --- queries ----------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        times = self._timers.values()
        return min(times) if times else None

    def steady(self) -> tuple[float, float, int, float | None] | None:
        """The steady Master's schedule, `(deadline, advert_int, priority, until)`, or None.

        A MASTER whose next timer is its advert does one thing until something else happens
        or its other earliest timer (`until`; None: it has none; a garp_extra_if round, which
        comes with an advert, counts as one) is due: `SendAdvert(priority)`
        when the advert is due, the next one advert_int after it. While that holds the shell
        may carry the schedule out itself, without a TimerFired per advert, for every advert
        due before `until`; it may move the first deadline earlier, by less than a tenth of
        advert_int, onto the grid of vrrp/advert_schedule.py (so that instances share
        wake-ups), and then keeps a fixed rate from it (the next deadline advert_int after the
        last deadline, whenever the send went); before it hands this instance anything else, or
        the next advert would not be due before `until`, it passes the deadline it reached to
        `resume_steady`."""
        if self.state is not State.MASTER:
            return None
        timers = self._timers
        at = timers.get("advert")
        if at is None:
            return None
        until = None
        if len(timers) > 1:
            until = min(t for name, t in timers.items() if name != "advert")
        if self._extra_if_at is not None:
            # the first advert from then on brings a garp_extra_if round with it (`_fire`)
            extra = self._extra_if_at - self._extra_if_slack()
            until = extra if until is None else min(until, extra)
        if until is not None and until <= at:
            return None
        return at, self.params.advert_int, self.effective_priority, until

    def advert_deadline(self) -> float | None:
        """A MASTER's next advert (None in any other state)."""
        return self._timers.get("advert")

    def resume_steady(self, at: float) -> None:
        """The shell carried out the steady schedule (see `steady`) up to the advert due at
        `at`: as if every TimerFired in between had been handed here."""
        timers = self._timers
        if self.state is State.MASTER and timers.advert is not None:
            timers.advert = at

    @property
    def lines_suppressed(self) -> int:
        """Log lines caused by received adverts and left out by the rate limit (log_limit.py)."""
        return self._log_limiter.suppressed_total if self._log_limiter is not None else 0

    @property
    def faulted(self) -> bool:
        if not self._iface_up or not self._socket_ok:
            return True
        for _, fault in self._trackers.values():  # a loop, not any(genexpr): on a failover's path
            if fault:
                return True
        return False

    @property
    def own_faulted(self) -> bool:
        """Faulted for a reason of its own (not only because its sync group is)."""
        return (not self._iface_up or not self._socket_ok
                or any(f for n, (_, f) in self._trackers.items() if n != SYNC_GROUP_TRACKER))

    def master_down_us(self) -> int:
        return master_down_us(self.params.version, self._skew_priority(), self.master_adver_int_cs,
                              self.params.down_timer_adverts)

    def skew_us(self) -> int:
        return skew_us(self.params.version, self._skew_priority(), self.master_adver_int_cs)

    # --- dispatch ---------------------------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Action]:
        out: list[Action] = []
        # The event's class compared, not isinstance() asked: the events are final records, and
        # this is the first step of every failover (issue 18: the calls on that path).
        cls = event.__class__
        if now >= self._clock:
            self._clock = now
        elif cls is AdvertReceived:
            # Arrived before something this instance has already handled (read late): it is
            # heard as of that, never in the past of a state it has since left or entered.
            now = self._clock
        if cls is AdvertReceived:
            self._on_advert(event, now, out)  # type: ignore[arg-type]
        elif cls is TimerFired:
            self._on_timers(now, out)
        elif cls is TrackerChanged:
            if self._trackers is _NO_TRACKERS:
                self._trackers = {}
            self._trackers[event.name] = (event.contribution, event.fault)  # type: ignore[union-attr]
            self._reassess(now, out)
        elif isinstance(event, InterfaceDown):
            self._iface_up = False
            self._reassess(now, out)
        elif isinstance(event, InterfaceUp):
            self._iface_up = True
            self._reassess(now, out)
        elif isinstance(event, SocketState):
            if event.ok != self._socket_ok:
                self._socket_ok = event.ok
                if not event.ok and event.reason:
                    # keepalived's wording, colon and all: "(VI_1): entering FAULT state (interface vX down)"
                    out.append(Log("info", f"({self.params.name}): entering FAULT state ({event.reason})"))
                self._reassess(now, out)
        elif isinstance(event, Startup):
            self._on_startup(now, out)
        elif isinstance(event, Shutdown):
            self._on_shutdown(out)
        elif isinstance(event, Reconfigure):
            self._on_reconfigure(event.params, now, out)
        elif isinstance(event, ForceMaster):
            if self.state == State.BACKUP and not self.faulted:
                self._become_master(now, out)
        elif isinstance(event, ForceBackup):
            if self.state == State.MASTER:
                self._become_backup(now, out)
        elif isinstance(event, TrackedEntryLost):
            if self.state == State.MASTER:
                self._log(out, f"{event.what} deleted - leaving MASTER", "warning")
                self._become_backup(now, out)
                # keepalived: "Entering BACKUP STATE", "sent 0 priority", then the VIPs go
                out.insert(next(i for i, a in enumerate(out) if isinstance(a, DelVips)), SendAdvert(0))
        else:  # pragma: no cover - typing guards this
            raise TypeError(f"unknown event {event!r}")
        return out

    # --- helpers ----------------------------------------------------------------------------

    def _p(self, message: str) -> str:
        return f"({self.params.name}) {message}"

    def _log(self, out: list[Action], message: str, level: str = "info") -> None:
        out.append(Log(level, self._p(message)))

    def _log_rx(self, out: list[Action], key: str, now: float, message: str, level: str = "info") -> None:
        """A line caused by a received advert: rate-limited per reason (log_limit.py)."""
        limiter = self._log_limiter
        if limiter is None:
            limiter = self._log_limiter = LogLimiter()
        write, skipped = limiter.allow(key, now)
        if write:
            if skipped:
                message += f" ({skipped} similar suppressed)"
            self._log(out, message, level)

    def _may_react(self, now: float) -> bool:
        """At most one answer to lower/zero-priority adverts per advert interval."""
        if self._reacted_at is not None and now - self._reacted_at < self.params.advert_int:
            self.reactions_skipped += 1
            return False
        self._reacted_at = now
        return True

    def _compute_priority(self) -> int:
        total = self.params.priority
        if total == OWNER_PRIORITY:
            return OWNER_PRIORITY  # trackers never move an address owner
        for contribution, _ in self._trackers.values():  # a loop: on a failover's path
            total += contribution
        return 1 if total < 1 else 254 if total > 254 else total

    def _skew_priority(self) -> int:
        return OWNER_PRIORITY if self.params.is_owner else self.effective_priority

    def _extra_if_slack(self) -> float:
        """garp_extra_if comes with the first advert at or after its time; the shell may have
        moved the adverts earlier by less than a grid step (`steady`), so an advert within a
        step of that time counts (else the round would wait a whole interval more than
        keepalived's, whose adverts drift late)."""
        return grid_step(self.params.advert_int)

    def _set(self, timer: str, at: float) -> None:
        self._timers[timer] = at

    def _cancel(self, *timers: str) -> None:
        for t in timers:
            self._timers.pop(t, None)

    def _arm_down(self, now: float, us: int) -> None:
        self._set("down", now + us / US)

    # --- startup and shutdown ---------------------------------------------------------------

    def _on_startup(self, now: float, out: list[Action]) -> None:
        if self.state != State.INIT or self._started or "start" in self._timers:
            return
        if self.params.startup_delay > 0:
            self._log(out, f"Delaying startup for {self.params.startup_delay:g} seconds")
            self._set("start", now + self.params.startup_delay)
            return
        self._begin(now, out)

    def _begin(self, now: float, out: list[Action]) -> None:
        self._started = True
        self.master_adver_int_cs = self.params.advert_int_cs
        if self.faulted:
            self.state = State.FAULT
            self._log(out, "Entering FAULT STATE (init)")
            out.append(Notify(State.FAULT.value, self.effective_priority))
            return
        if self.params.is_owner:
            self.state = State.BACKUP
            self._become_master(now, out)
            return
        self.state = State.BACKUP
        self._log(out, "Entering BACKUP STATE (init)")
        out.append(Notify(State.BACKUP.value, self.effective_priority))
        if self.params.initial_state == State.MASTER:
            # Listen for about one interval for an existing master before claiming the VIPs.
            self._arm_down(now, self.master_adver_int_cs * CENTI_US
                           + skew_us(self.params.version, 255, self.master_adver_int_cs))
        else:
            self._arm_down(now, self.master_down_us())

    def _on_shutdown(self, out: list[Action]) -> None:
        if self.state == State.STOP:
            return
        if self.state == State.MASTER:
            out.append(SendAdvert(0))
            out.append(DelVips(self.params.vips))
        self.state = State.STOP
        self._timers.clear()
        self._preempt_at = None
        self._log(out, "Stopped", "debug")
        out.append(Notify(State.STOP.value, self.effective_priority))

    # --- timers -----------------------------------------------------------------------------

    def _on_timers(self, now: float, out: list[Action]) -> None:
        take_due = self._timers.take_due
        for _ in range(64):  # bounded: each pass removes or moves the earliest due timer
            name = take_due(now)
            if name is None:
                return
            self._fire(name, now, out)

    def _fire(self, name: str, now: float, out: list[Action]) -> None:
        p = self.params
        if name == "start":
            self._log(out, "Delayed start completed")
            self._begin(now, out)
        elif name == "down" and self.state is State.BACKUP:
            out.append(Log("info", f"({p.name}) Receive advertisement timeout"))
            self._become_master(now, out)
        elif name == "advert" and self.state == State.MASTER:
            out.append(SendAdvert(self.effective_priority))
            self._set("advert", now + p.advert_int)
            if self._extra_if_at is not None and now >= self._extra_if_at - self._extra_if_slack():
                if p.vips:
                    out.append(Announce(1, p.vips, extra_if=True))
                self._extra_if_at = now + p.garp_extra_if
        elif name == "garp" and self.state == State.MASTER:
            if p.vips and p.garp_master_repeat > 0:
                out.append(Announce(p.garp_master_repeat, p.vips))
        elif name == "refresh" and self.state == State.MASTER:
            if p.vips and p.garp_master_refresh_repeat > 0:
                out.append(Announce(p.garp_master_refresh_repeat, p.vips))
            self._set("refresh", now + p.garp_master_refresh)
        elif name == "lowgarp" and self.state == State.MASTER:
            if p.vips and p.garp_lower_prio_repeat > 0:
                out.append(Announce(p.garp_lower_prio_repeat, p.vips))

    # --- transitions ------------------------------------------------------------------------

    def _become_master(self, now: float, out: list[Action]) -> None:
        # Timer slots written directly, no helpers: this is the Backup's way to its VIPs.
        p = self.params
        timers = self._timers
        timers.down = None
        self._preempt_at = None
        self.master_adver_int_cs = p.advert_int_cs
        self.state = State.MASTER
        self.master_source = p.source_address
        prio = self.master_priority = self.effective_priority
        if p.vips_first:
            out.append(AddVips(p.vips))
            out.append(SendAdvert(prio))
            out.append(Log("info", f"({p.name}) Entering MASTER STATE"))
        else:
            out.append(SendAdvert(prio))
            out.append(Log("info", f"({p.name}) Entering MASTER STATE"))
            out.append(AddVips(p.vips))
        if p.vips and p.garp_master_repeat > 0:
            out.append(Announce(p.garp_master_repeat, p.vips))
        timers.advert = now + p.advert_int
        if p.garp_master_delay > 0 and p.garp_master_repeat > 0:
            timers.garp = now + p.garp_master_delay
        if p.garp_master_refresh > 0:
            timers.refresh = now + p.garp_master_delay + p.garp_master_refresh
        self._extra_if_at = now + p.garp_extra_if if p.garp_extra_if > 0 else None
        out.append(Notify(_MASTER, prio))

    def _leave_master_timers(self) -> None:
        # Pending delayed GARPs are discarded when leaving MASTER (vrrp_remove_delayed_arp).
        self._cancel("advert", "garp", "refresh", "lowgarp")

    def _become_backup(self, now: float, out: list[Action]) -> None:
        """MASTER -> BACKUP because someone better is master: no priority-0 advert."""
        self._leave_master_timers()
        self.state = State.BACKUP
        self._preempt_at = None
        self._log(out, "Entering BACKUP STATE")
        out.append(DelVips(self.params.vips))
        out.append(Notify(State.BACKUP.value, self.effective_priority))
        self._arm_down(now, self.master_down_us())

    def _enter_fault(self, now: float, out: list[Action]) -> None:
        was_master = self.state is State.MASTER
        p = self.params
        if was_master:
            # Priority 0 first, before the log line and the VIPs: every microsecond here is on
            # the peer's failover time (with or without fast_handover).
            out.append(PRIORITY_ZERO)
        out.append(Log("info", f"({p.name}) Entering FAULT STATE"))
        if was_master:
            out.append(DelVips(p.vips))
        self._timers.clear()
        self._preempt_at = None
        self.state = State.FAULT
        out.append(Notify(_FAULT, self.effective_priority))

    def _leave_fault(self, now: float, out: list[Action]) -> None:
        self.master_adver_int_cs = self.params.advert_int_cs
        self.state = State.BACKUP
        self.master_source = None
        self.master_priority = None
        if self.params.is_owner:
            self._become_master(now, out)
            return
        self._log(out, "Entering BACKUP STATE")
        out.append(Notify(State.BACKUP.value, self.effective_priority))
        if self.params.unicast_peers:
            out.append(Announce(1, (), source_address=True))
        self._arm_down(now, self.master_down_us())

    def _reassess(self, now: float, out: list[Action]) -> None:
        """Recompute effective priority and fault after a tracker or interface change."""
        new_prio = self._compute_priority()
        if new_prio != self.effective_priority:
            self._log(out, f"Changing effective priority from {self.effective_priority} to {new_prio}")
            if self.state == State.BACKUP and "down" in self._timers:
                # keepalived shifts a running down timer by the change in skew.
                old_skew = self.skew_us()
                self.effective_priority = new_prio
                self._timers["down"] += (self.skew_us() - old_skew) / US
            else:
                self.effective_priority = new_prio
            if self.params.notify_priority_changes and self.state in (State.MASTER, State.BACKUP):
                out.append(Notify(f"{self.state.value}_PRIORITY", new_prio))
        if not self._started:
            return
        if self.faulted and self.state in (State.BACKUP, State.MASTER):
            self._enter_fault(now, out)
        elif not self.faulted and self.state == State.FAULT:
            self._leave_fault(now, out)

    def _on_reconfigure(self, params: InstanceParams, now: float, out: list[Action]) -> None:
        old = self.params
        if (params.name, params.vrid, params.version, params.family) != (old.name, old.vrid, old.version, old.family):
            raise ValueError("Reconfigure cannot change name, VRID, version or family; replace the instance")
        self.params = params
        if params.garp_extra_if <= 0 or self.state != State.MASTER:
            self._extra_if_at = None
        elif params.garp_extra_if != old.garp_extra_if or self._extra_if_at is None:
            self._extra_if_at = now + params.garp_extra_if
        if self.state == State.MASTER and params.vips != old.vips:
            gone = tuple(v for v in old.vips if v not in params.vips)
            new = tuple(v for v in params.vips if v not in old.vips)
            if gone:
                out.append(DelVips(gone))
            if new:
                out.append(AddVips(new))
                if params.garp_master_repeat > 0:
                    out.append(Announce(params.garp_master_repeat, new))
        if self.state not in (State.MASTER,) and params.advert_int != old.advert_int:
            self.master_adver_int_cs = params.advert_int_cs
        self._reassess(now, out)

    # --- receiving adverts ------------------------------------------------------------------

    def _check(self, adv: Advertisement, src: IPAddress, out: list[Action], now: float) -> DropReason | None:
        """Is this (valid) advert right for this router? keepalived's vrrp_check_packet."""
        p = self.params
        if adv.vrid != p.vrid:
            return DropReason.WRONG_VRID
        if p.source_address is not None and src == p.source_address:
            if adv.priority == self.effective_priority:
                self._log_rx(out, "own_address", now, "WARNING - equal priority advert received from remote "
                             "host with our IP address.", "warning")
            return DropReason.OWN_ADDRESS
        # Then: a host that is not a peer gets no further attention (and no other log line).
        if p.unicast_peers and p.check_unicast_src and src not in p.unicast_peers:
            self._log_rx(out, "unknown_peer", now, f"unicast source address {src} not a unicast peer")
            return DropReason.UNKNOWN_PEER
        if adv.version != p.version:
            self._log_rx(out, "version", now, f"received version {adv.version} advert, ours is {p.version}")
            return DropReason.WRONG_VERSION
        if p.version == 2:
            if adv.auth_type != p.auth_type:
                self._log_rx(out, "auth_type", now, f"received an invalid auth type {adv.auth_type}, ours is "
                             f"{p.auth_type}", "warning")
                return DropReason.AUTH_MISMATCH
            if p.auth_type == AUTH_PASS and not compare_digest(adv.auth_data, pad_auth(p.auth_data)):
                self._log_rx(out, "auth_pass", now, "received an invalid passwd!", "warning")
                return DropReason.AUTH_MISMATCH
            if adv.interval_cs != p.advert_int_cs:
                self._log_rx(out, "interval", now, f"advertisement interval mismatch mine={p.advert_int_cs // 100} "
                             f"sec rcv'd={adv.interval_cs // 100} sec", "warning")
                return DropReason.INTERVAL_MISMATCH
        if adv.priority != 0 and p.addresses and (not p.skip_check_adv_addr or src != self.master_source):
            if len(adv.addresses) != len(p.addresses):
                self._log_rx(out, "vip_mismatch", now,
                             f"expected {len(p.addresses)} VIPs but received {len(adv.addresses)}")
                return DropReason.VIP_MISMATCH
            for addr in p.addresses:
                if addr not in adv.addresses:
                    self._log_rx(out, "vip_mismatch", now, f"ip address associated with VRID {p.vrid} not "
                                 f"present in MASTER advert : {addr}")
                    return DropReason.VIP_MISMATCH
        return None

    def _on_advert(self, ev: AdvertReceived, now: float, out: list[Action]) -> None:
        if self.state not in (State.BACKUP, State.MASTER):
            out.append(Drop(DropReason.NOT_LISTENING, ev.source))
            return
        reason = self._check(ev.advert, ev.source, out, now)
        if reason is not None:
            out.append(Drop(reason, ev.source))
            return
        if self.state == State.BACKUP:
            self._backup_rx(ev.advert, ev.source, now, out)
        else:
            self._master_rx(ev.advert, ev.source, now, out)

    def _backup_rx(self, adv: Advertisement, src: IPAddress, now: float, out: list[Action]) -> None:
        p = self.params
        if adv.priority == 0:
            self._log_rx(out, "prio0", now, "Backup received priority 0 advertisement", "debug")
            if p.fast_handover_applies:
                self._become_master(now, out)
            else:
                self._arm_down(now, self.skew_us())
            return
        ours = self.effective_priority
        preempt_pending = p.preempt_delay > 0 and (self._preempt_at is None or now < self._preempt_at)
        self.master_source = src
        if p.nopreempt or adv.priority >= ours or preempt_pending:
            if adv.priority >= ours:
                if self._preempt_at is not None:
                    self._log(out, "stop preempt delay", "debug")
                    self._preempt_at = None
            elif p.preempt_delay > 0 and not p.nopreempt and self._preempt_at is None:
                self._log(out, "start preempt delay", "debug")
                self._preempt_at = now + p.preempt_delay
            self.master_priority = adv.priority
            if p.version == 3 and adv.interval_cs > 0:
                self.master_adver_int_cs = adv.interval_cs
            self._arm_down(now, self.master_down_us())
        else:
            self._log_rx(out, "lower_prio", now,
                         f"received lower priority ({adv.priority}) advert from {src} - discarding")

    def _master_rx(self, adv: Advertisement, src: IPAddress, now: float, out: list[Action]) -> None:
        p = self.params
        ours = self.effective_priority
        if adv.priority == 0:
            self._log_rx(out, "prio0", now, "Master received priority 0 message", "debug")
            if self._may_react(now):
                out.append(SendAdvert(ours))
                self._set("advert", now + p.advert_int)
            return
        if adv.priority == OWNER_PRIORITY and ours == OWNER_PRIORITY:
            self._log_rx(out, "two_owners", now, f"CONFIGURATION ERROR: local instance and {src} are both "
                         "configured as address owner, please resolve", "error")
        src_higher = _addr_key(src) > _addr_key(p.source_address)
        if adv.priority < ours or (adv.priority == ours and not src_higher):
            suffix = "" if p.lower_prio_no_advert else ", forcing new election"
            self._log_rx(out, "lower_prio", now,
                         f"Received advert from {src} with lower priority {adv.priority}, ours {ours}{suffix}")
            if not self._may_react(now):
                return
            if not p.lower_prio_no_advert:
                out.append(SendAdvert(ours))
                self._set("advert", now + p.advert_int)
            if p.vips and p.garp_lower_prio_repeat > 0:
                out.append(Announce(p.garp_lower_prio_repeat, p.vips))
                if p.garp_lower_prio_delay > 0:
                    self._set("lowgarp", now + p.garp_lower_prio_delay)
            out.append(Notify("MASTER_RX_LOWER_PRI", ours))
            return
        if p.higher_prio_send_advert:
            out.append(SendAdvert(ours))
        if adv.priority > ours:
            self._log(out, f"Master received advert from {src} with higher priority {adv.priority}, ours {ours}")
        else:
            self._log(out, f"Master received advert from {src} with same priority {adv.priority} "
                           "but higher IP address than ours")
        if p.version == 3 and adv.interval_cs > 0:
            self.master_adver_int_cs = adv.interval_cs
        self.master_source = src
        self.master_priority = adv.priority
        self._become_backup(now, out)
