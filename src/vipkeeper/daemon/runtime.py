"""The daemon's runtime: builds routers from the configuration and routes events to them.

Rules
- This is the only place that owns sockets, timers and tasks (DESIGN.md). It decides nothing
  about VRRP: packets are decoded by vrrp/packet.py, judged and answered by vrrp/instance.py.
- One raw socket per (interface, family, multicast group or unicast source); routers that share
  an interface share the socket, and received adverts go to the router of their VRID. A packet
  that cannot be tied to a router is counted under the runtime's own drops.
- A reload never leaves a half-applied state. The new file is read and validated in a thread of
  its own, with a deadline (the event loop keeps its timers meanwhile); then everything is
  staged without touching what runs: a changed nftables table made, new VMACs, sockets and
  announcers opened (an instance on a missing interface gets none and waits in FAULT), routers
  built, new trackers started with their reports held back. Any failure (or exception) up to
  there undoes the stage (the running table put back) and counts a reload failure. Then one
  synchronous commit swaps it all in (the configuration, process tuning, firewall, mail
  settings, trackers, endpoints and VRID mappings, VIP-conflict and witness bindings, routers
  taken out of service); only after it are static addresses/routes synced, the fifos reopened,
  removed routers awaited while their VIPs go, and new ones started.
  An instance whose configuration did not change keeps its state, timers and VIPs; one that
  changed in a compatible way gets `Reconfigure`; one that changed VRID, interface, family or
  version, or was removed, is stopped (priority 0, VIPs released) and the new one started.
- Shutdown: every router gets `Shutdown` (priority 0 before VIPs go), the actions are drained,
  notify_stop scripts get their second, then sockets close.
- Interfaces come and go (interface_lifecycle below): an instance whose interface is missing
  (at start, at a reload, or deleted while running) is in FAULT (`SocketState`), the others run
  on. Its socket is reopened when the interface appears, also under a new ifindex (a socket
  bound to the old index would fail every send and hear nothing: a silent split brain). Sends
  that keep failing on a live interface put the instance in FAULT too, retried with back-off.
  Socket and announcement errors are counted per socket and shown in the snapshot.
- VIPs of a Master stay put: an RTM_DELADDR of a VIP that a MASTER holds (an admin's `ip addr
  del` or `flush`) adds it back at once, with one log line; deletes the kernel refused are
  retried on the maintenance tick until it confirms them (net/addresses.py keeps ownership).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import errno
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

from vipkeeper import __version__, records
from vipkeeper.config import release_parser
from vipkeeper.config.model import NOWHERE, Config, GlobalDefs
from vipkeeper.config.model import Instance as InstanceModel
from vipkeeper.config.scripts import notify_commands
from vipkeeper.daemon.announce_pacing import AnnouncePacing
from vipkeeper.daemon.config_file import StartupError, read_config
from vipkeeper.daemon.early_listen import (
    configured_source,
    endpoint_key,
    interface_source_of,
    not_sources,
    open_vrrp_socket,
    startup_time,
)
from vipkeeper.daemon.loop_watch import LoopWatch
from vipkeeper.daemon.process import raise_fd_limit
from vipkeeper.daemon.run_options import RunOptions
from vipkeeper.daemon.signal_table import IGNORED_SIGNALS, SIGNUM, STOP_SIGNALS
from vipkeeper.daemon.router import (
    GroupDriver,
    Router,
    advertised_addresses,
    auth_of,
    vips_of,
)
from vipkeeper.daemon.tracking import TrackingHub
from vipkeeper.daemon.tuning import ProcessTuner, Tuning
from vipkeeper.daemon.vip_conflicts import VipConflicts
from vipkeeper.net.addresses import (
    AddressChange,
    AddressError,
    AddressOwner,
    HostShortage,
    LinkState,
    LinkWatcher,
    Vip,
    interface_index,
    link_state,
)
from vipkeeper.net.announce import AnnounceError, Announcer
from vipkeeper.net.libnftables import NftError
from vipkeeper.net.vrrp_socket import (
    RawReceived,
    VrrpSocket,
    VrrpSocketError,
)
from vipkeeper.notify.scripts import NotifyRunner
from vipkeeper.precise_timers import PreciseTimers
from vipkeeper.records import factory, record
from vipkeeper.script_launch import set_script_umask
from vipkeeper.script_users import ScriptUsers
from vipkeeper.track.connector_error import ConnectorUnavailable
from vipkeeper.track.priority import TrackerEffect
from vipkeeper.vrrp import packet
from vipkeeper.vrrp.garp_pacing import plan_of
from vipkeeper.vrrp.instance import (
    AddVips,
    AdvertReceived,
    Announce,
    DelVips,
    InstanceParams,
    InterfaceDown,
    InterfaceUp,
    Log,
    Notify,
    Reconfigure,
    SendAdvert,
    Shutdown,
    SocketState,
    Startup,
    State,
    TrackedEntryLost,
    TrackerChanged,
)

if TYPE_CHECKING:  # notify/fifo.py is imported only when a fifo is configured (issue 18: RSS)
    from vipkeeper.net.firewall import Firewall  # and net/firewall.py when `nftables` is (likewise)
    from vipkeeper.net.routes import RouteOwner, RouteWatch  # and net/routes.py when routes or rules are
    from vipkeeper.net.vmac import VmacOwner  # net/vmac.py: when an instance uses a VMAC (Runtime.vmacs)
    from vipkeeper.notify.fifo import NotifyFifo
    from vipkeeper.notify.mail import Mailer  # notify/mail.py and smtp: when mail alerts are configured

log = logging.getLogger("vipkeeper.daemon")


_NO_MAIL = {"configured": False, "sent": 0, "failed": 0, "in_flight": 0, "last_error": None}  # Mailer.snapshot()
SEND_FAULT_AFTER = 3  # failed sends in a row on a live interface that put its instances in FAULT
MAINTENANCE_INTERVAL = 1.0  # s: retry refused VIP deletes, reopen missing sockets
RETRY_BACKOFF_MAX = 30.0  # s: longest wait before retrying a socket whose sends kept failing
# The records a failover builds (a tracked process's exit to the priority-0 advert and the VIPs
# going; a Backup's takeover): compiled by the first maintenance pass (records.compile_now), so
# that no failover binds them in Python or compiles one on its way (issue 18).
# (and track/process_table.py's Exit and StatusChange, when process tracking loaded it:
# `failover_records()`)
FAILOVER_RECORDS = (TrackerEffect, TrackerChanged, SocketState, InterfaceDown,
                    AdvertReceived, SendAdvert, Log, AddVips, DelVips, Announce, Notify)


def failover_records() -> tuple[type, ...]:
    table = sys.modules.get("vipkeeper.track.process_table")  # imported only for vrrp_track_process
    return FAILOVER_RECORDS + ((table.Exit, table.StatusChange) if table is not None else ())


@record
class Endpoint:
    """One VRRP socket and the routers on it. `socket` is None while the interface is missing
    (or has no address to send from); `fault` then says why, in keepalived's words. Counters
    live here, not in the socket, so they survive a reopen."""

    socket: VrrpSocket | None
    unicast: bool
    model: InstanceModel
    key: tuple
    routers: dict[int, Router] = factory(dict)
    errors: collections.Counter[str] = factory(collections.Counter)
    reopens: int = 0
    fault: str | None = None
    retry_at: float = 0.0
    backoff: float = MAINTENANCE_INTERVAL
    checking: bool = False
    # opened before the runtime started (daemon/early_listen.py): listening since then (the
    # loop's clock); read only once each of its routers has had its Startup (`started`)
    listening_since: float | None = None
    started: set[str] | None = None
    # the configured VIPs and eVIPs: never the adverts' source (net/vrrp_socket.py)
    not_from: frozenset = frozenset()

    @property
    def ifname(self) -> str:
        """The interface the socket is bound to: the instance's, or its VMAC (endpoint_key)."""
        return self.key[0]


@record
class StagedBuild:
    """What a reload opened and built before its commit (Runtime._stage_build)."""

    endpoints: dict[tuple, Endpoint] = factory(dict)
    announcers: dict[str, Announcer] = factory(dict)
    planned: list[tuple[InstanceModel, tuple]] = factory(list)
    routers: dict[str, Router] = factory(dict)
    vmacs: list[str] = factory(list)  # VMAC interfaces the stage created


def params_of(model: InstanceModel, config: Config, source: packet.IPAddress) -> InstanceParams:
    """The core's view of one instance, every default already resolved by the parser."""
    auth_type, auth_data = auth_of(model)
    g = config.global_defs
    vips = vips_of(model)
    return InstanceParams(
        name=model.name,
        vrid=model.virtual_router_id,
        version=model.version,
        family=model.family,
        priority=model.priority,
        advert_int=model.advert_int,
        initial_state=State.MASTER if model.state == "MASTER" else State.BACKUP,
        nopreempt=model.nopreempt,
        preempt_delay=model.preempt_delay,
        source_address=source,
        vips=vips,
        addresses=advertised_addresses(model, vips),  # the Vips' address objects, shared
        skip_check_adv_addr=model.skip_check_adv_addr,
        unicast_peers=tuple(model.unicast_peers),
        # The guide's rule: adverts from a host that is not a configured peer are dropped and
        # counted, whether or not the admin wrote check_unicast_src.
        check_unicast_src=bool(model.unicast_peers),
        fast_handover=model.fast_handover,
        down_timer_adverts=model.down_timer_adverts,
        garp_master_delay=model.garp.master_delay,
        garp_master_repeat=model.garp.master_repeat,
        garp_master_refresh=model.garp.master_refresh,
        garp_master_refresh_repeat=model.garp.master_refresh_repeat,
        garp_lower_prio_delay=model.garp.lower_prio_delay,
        garp_lower_prio_repeat=model.garp.lower_prio_repeat,
        garp_extra_if=model.garp_extra_if,
        lower_prio_no_advert=model.lower_prio_no_advert,
        higher_prio_send_advert=model.higher_prio_send_advert,
        auth_type=auth_type,
        auth_data=auth_data,
        notify_priority_changes=model.notify.priority_changes or g.vrrp_notify_priority_changes,
        startup_delay=g.vrrp_startup_delay,
        # VIPs before the first advert when they are only netlink requests: no nftables drop rule
        # and no virtual routes/rules go with them (instance.py's rules; keepalived's order else)
        vips_first=not (g.nftables is not None and Runtime._guarded(model))
        and not (model.virtual_routes or model.virtual_rules),
    )


def _strip_where(value: Any) -> Any:
    """A model value with every position erased, so that an edit elsewhere in the file (which
    moves line numbers) does not count as a change of this instance."""
    if records.is_record(value):
        changes = {}
        for f in records.fields(value):
            v = getattr(value, f.name)
            changes[f.name] = NOWHERE if f.name == "where" else _strip_where(v)
        return records.replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(_strip_where(v) for v in value)
    return value


async def _lifecycle_script(kind: str, g: GlobalDefs) -> None:
    """daemon/lifecycle_scripts.py's run_lifecycle_script, imported only when `global_defs` names
    a `startup_script`/`shutdown_script` (issue 18: what a daemon does not use costs no RSS)."""
    if getattr(g, f"{kind}_script") is None:
        return
    from vipkeeper.daemon.lifecycle_scripts import run_lifecycle_script

    await run_lifecycle_script(kind, g)


class Runtime:
    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.config: Config | None = None
        self.routers: dict[str, Router] = {}
        self._announcer_for = self._vip_announcer
        self.endpoints: dict[tuple, Endpoint] = {}
        self.addresses = AddressOwner()
        self.announcers: dict[str, Announcer] = {}
        self.notifier: NotifyRunner | None = None
        self.fifos: list[NotifyFifo] = []
        self.tracking: TrackingHub | None = None
        self.link_watcher: LinkWatcher | None = None
        self.drops: collections.Counter[str] = collections.Counter()
        self.started = time.time()
        self.reloads = 0
        self.reload_failures = 0
        self.last_reload_error: str | None = None
        self.control: Any = None
        self.metrics: Any = None
        self._stop = asyncio.Event()
        self._reloading = asyncio.Lock()
        self._link_up: dict[str, bool] = {}
        self._link_pending: dict[str, asyncio.TimerHandle] = {}  # interface_up_down_delays
        self._tasks: set[asyncio.Task[None]] = set()
        self._to_bring_up: list[Router] = []  # activated, brought up in the next loop iteration
        self.groups: dict[str, GroupDriver] = {}
        self.timers: PreciseTimers | None = None
        self.announce_errors: dict[str, collections.Counter[str]] = {}
        self._ifindex: dict[str, int] = {}  # the index each configured interface had when last seen (0: gone)
        self.vips_restored = 0
        self._complained: set[tuple[str, tuple]] = set()  # failures logged once until they clear
        # maintenance pass: router -> the params its VIPs were all found owned with, while the
        # address owner's removals count is `_vips_verified_at` (a removal voids every entry)
        self._vips_verified: dict[str, Any] = {}
        self._vips_verified_at = -1
        self._vips_clean: tuple[int, int] | None = None  # (removals, Router.wants_changed) of the last clean check
        self._vip_routers: dict[tuple, list[Router]] | None = None  # VIP key -> routers (built lazily)
        self.tuner: ProcessTuner | None = None
        self.mailer: Mailer | None = None
        self.firewall: Firewall | None = None
        self.script_users: ScriptUsers | None = None
        self.accept_failures = 0
        self._accept_logged = -1e9
        self._parse_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._parse_future: asyncio.Future[Any] | None = None
        self.conflicts: VipConflicts | None = None
        self.static_routes: RouteOwner | None = None  # static_routes / static_rules
        self.route_watch: RouteWatch | None = None  # deletions of tracked virtual routes/rules
        self._vmacs: VmacOwner | None = None  # use_vmac interfaces (made at the first: Runtime.vmacs)
        self.static_addresses: dict[Any, Vip] = {}  # static_ipaddress entries vipkeeper added
        self.witnesses: dict[str, Any] = {}  # key name -> witness.driver.ClaimDriver
        self.loop_watch = LoopWatch()  # lag record, late-run line, systemd watchdog
        self.pacing: AnnouncePacing | None = None  # garp_group / vrrp_garp_interval / vrrp_gna_interval
        # VRRP sockets opened before the start (daemon/early_listen.py): key -> (socket, since)
        self.early: dict[tuple, tuple[VrrpSocket, float]] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def read_config(self) -> Config:
        return read_config(self.options.config_file, self.options.config_id)

    @property
    def vmacs(self) -> VmacOwner:
        """The VMACs' owner, made (and net/vmac.py imported) when the first one is wanted:
        a daemon without use_vmac / use_vmac_addr never loads it (issue 18: RSS)."""
        if self._vmacs is None:
            from vipkeeper.net.vmac import VmacOwner

            self._vmacs = VmacOwner()
        return self._vmacs

    @property
    def vmacs_owned(self) -> dict[str, Any]:
        """The VMACs we own (name -> spec), without making the owner."""
        return self._vmacs.owned if self._vmacs is not None else {}

    def _mail_to(self, g: GlobalDefs) -> None:
        """The mailer reads `g` from now on; it is made (notify/mail.py and notify/smtp.py imported)
        once a configuration has `notification_email` and `smtp_server`, the only case that mails
        (Mailer.configured), and kept, with its counters, across reloads (issue 18: RSS)."""
        if self.mailer is not None:
            self.mailer.global_defs = g
        elif g.notification_email and g.smtp_server is not None:
            from vipkeeper.notify.mail import Mailer

            self.mailer = Mailer(g)

    async def start(self, config: Config, tracking: TrackingHub) -> None:
        self.config = config
        self.tracking = tracking
        raised = raise_fd_limit()
        if raised is not None:
            log.info("open files limit raised from %d to %d", *raised)
        asyncio.get_running_loop().set_exception_handler(self._loop_exception)
        if config.global_defs.umask is not None:  # keepalived applies it as it reads the file
            os.umask(config.global_defs.umask)
        set_script_umask(config.global_defs.umask)  # scripts: that one, or keepalived's 0177
        tuning = Tuning.of(config.global_defs)
        if tuning.wanted:
            self.tuner = ProcessTuner()
            self.tuner.apply(tuning)
        # keepalived starts VRRP once the start-up script has ended or timed out
        await _lifecycle_script("startup", config.global_defs)
        self.firewall = self._open_firewall(config)
        await self.addresses.__aenter__()
        self.timers = PreciseTimers(asyncio.get_running_loop(), on_lag=self.loop_watch.on_lag)
        self.loop_watch.lag.set_advert_interval(min((m.advert_int for m in config.instances), default=None))
        self.notifier = NotifyRunner(asyncio.get_running_loop())
        # Script users are looked up now, not at the first failover (script_users.py).
        self.script_users = ScriptUsers.of_config(config)
        self.notifier.users = tracking.script_users = self.script_users
        self._prepare_scripts(config)
        self._open_fifos(config)
        for _, name in socket.if_nameindex():  # what is there now is not news to report
            self._link_up[name] = link_state(name).up
        self._mail_to(config.global_defs)
        if self.options.vip_conflict_interval > 0:
            self.conflicts = VipConflicts(self.options.vip_conflict_interval, self._fifo_event, self.timers)
        for model in config.instances:
            state = link_state(model.interface)
            self._link_up[model.interface] = state.up
            self._ifindex[model.interface] = state.index
        self.link_watcher = LinkWatcher()
        self.link_watcher.start(self._on_link, on_address=self._on_address)
        self._pace(config)
        built = self._build(config, set())
        # Leftover VIPs from a daemon that died without cleaning up are ours to remove, as
        # keepalived's start-up does (vrrp_restore_interface with force).
        owner_of = {vip.key: router.name for router in built.values() for vip in router.params.vips}
        for model in config.instances:
            if any(key == "promote_secondaries" for key, _ in model.extras):
                try:
                    self.addresses.promote_secondaries(model.interface)
                except AddressError as exc:
                    log.warning("(%s) cannot set promote_secondaries on %s: %s", model.name, model.interface,
                                exc.strerror or exc)
        for vip in await self.addresses.claim_present([v for r in built.values() for v in r.params.vips]):
            log.info("(%s) removing leftover VIP %s", owner_of[vip.key], vip)
            try:
                self.addresses.remove_now(vip)
            except AddressError as exc:  # still owned: the maintenance tick retries it
                log.error("(%s) cannot remove leftover VIP %s: %s", owner_of[vip.key], vip, exc.strerror or exc)
        await self._sync_static(config)
        self._watch_routes(config)
        try:
            await tracking.start(self._on_tracker)
        except (OSError, ConnectorUnavailable) as exc:
            raise StartupError(f"trackers cannot start: {getattr(exc, 'strerror', None) or exc}") from None
        self._make_groups(config, built)
        self._attach_witnesses(config, built)
        for router in built.values():
            self._activate(router)
        self._close_early()
        task = asyncio.get_running_loop().create_task(self._maintain(), name="maintenance")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _static_watched(config: Config) -> set[str]:
        """The static entry kinds whose deletion keepalived 2.2.7 watches and undoes: routes once
        a static route names a track_group, rules once a static rule does (its
        process_static_entries); then any of that kind, without no_track, is put back."""
        return ({"route"} if any(r.track_group for r in config.static_routes) else set()) | (
            {"rule"} if any(r.track_group for r in config.static_rules) else set())

    def _pace(self, config: Config) -> None:
        """garp_group / vrrp_garp_interval / vrrp_gna_interval: one AnnouncePacing for every
        router (kept across a reload that leaves the spacing as it was, so an interface's next
        free time holds), or none when nothing is spaced."""
        g = config.global_defs
        plan = plan_of(((gg.garp_interval, gg.gna_interval, gg.interfaces) for gg in config.garp_groups),
                       g.garp.interval, g.garp.na_interval)
        if self.pacing is not None and (not plan.active or self.pacing.plan != plan):
            self.pacing.close()
            self.pacing = None
        if plan.active and self.pacing is None:
            self.pacing = AnnouncePacing(plan, self.routers.get, self.timers)
        if self.pacing is not None:
            self.pacing.order = {m.name: i for i, m in enumerate(config.instances)}
        for router in self.routers.values():
            router.pacing = self.pacing

    def _watch_routes(self, config: Config) -> None:
        """Listen for route/rule deletions once any instance has virtual routes or rules, or a
        static route or rule names a track_group."""
        if self.route_watch is None and (any(m.virtual_routes or m.virtual_rules for m in config.instances)
                                         or self._static_watched(config)):
            from vipkeeper.net.routes import RouteWatch

            try:
                self.route_watch = RouteWatch()
                self.route_watch.start(self._on_route_deleted)
            except OSError as exc:
                log.warning("cannot watch route deletions (virtual routes are not tracked): %s", exc)
                self.route_watch = None

    def _on_route_deleted(self, kind: str, fields: dict[str, Any]) -> None:
        for router in self.routers.values():
            entry = router.route_owner.take_lost(kind, fields) if router.route_owner is not None else None
            if entry is not None:
                router.feed(TrackedEntryLost(f"{kind} '{entry.text}'"))
                return
        config = self.config
        if self.static_routes is None or config is None or kind not in self._static_watched(config):
            return
        lost = self.static_routes.take_lost(kind, fields)
        if lost is not None and not lost.no_track:
            self.static_routes.sync(config.static_routes, config.static_rules)  # puts back what is missing
            log.info("Restoring deleted static %s %s", kind, lost.text)

    async def _sync_static(self, config: Config) -> None:
        """static_ipaddress, static_routes, static_rules: installed at start (addresses first, so
        a route may use one as `src`), kept while running, changed by a reload entry by entry,
        removed at exit (as keepalived 2.2.7, measured). An address that was there before is
        never ours (AddressOwner), so it stays at exit."""
        wanted = {}
        for entry in config.static_addresses:
            try:
                vip = self._static_vip(entry, config)
            except AddressError as exc:
                log.error("%s: static address %s: %s", entry.where, entry.address, exc.strerror or exc)
                continue
            wanted[vip.key] = vip
        for key in [k for k in self.static_addresses if k not in wanted]:
            self._static_change(self.addresses.remove_now, self.static_addresses.pop(key), "remove")
        for key, vip in wanted.items():
            if key in self.static_addresses:
                continue
            try:
                there = await self.addresses.present(vip)
            except AddressError:
                there = False
            if there:  # an admin's (AddressOwner would take an address it finds present as its own)
                log.warning("static address %s is there already and is not vipkeeper's: leaving it alone", vip)
                continue
            if self._static_change(self.addresses.add_now, vip, "add"):
                self.static_addresses[key] = vip
        if self.static_routes is None:
            if not (config.static_routes or config.static_rules):
                return
            from vipkeeper.net.routes import RouteOwner

            self.static_routes = RouteOwner("static")
        self.static_routes.sync(config.static_routes, config.static_rules)

    @staticmethod
    def _static_vip(entry: Any, config: Config) -> Vip:
        return Vip.make(entry.dev or config.global_defs.default_interface, entry.address,
                        broadcast=entry.brd if entry.brd not in (None, "+", "-") else None,
                        scope=entry.scope or "global", label=entry.label)

    def _static_address_deleted(self, change: AddressChange) -> None:
        """Someone deleted a static address of ours: keepalived 2.2.7 puts it back at once
        (unless no_track), with this line."""
        config = self.config
        vip = self.static_addresses[change.key]
        entry = next((e for e in config.static_addresses if e.address == vip.address
                      and (e.dev or config.global_defs.default_interface) == vip.ifname), None) if config else None
        if entry is None or entry.no_track:
            return
        if self._static_change(self.addresses.add_now, vip, "add"):
            log.info("Restoring deleted static address %s", vip)

    def _reinstate_static(self, ifname: str) -> None:
        """An interface came up: our static addresses and routes on it (without no_track) are put
        back, as keepalived 2.2.7 does (static_track_group_reinstate_config): the kernel drops
        the routes, and IPv6 addresses, of a link that goes down. Measured beside keepalived in
        tests/net/test_track_group.py."""
        config = self.config
        if config is None:
            return
        for entry in config.static_addresses:
            if entry.no_track:
                continue
            try:
                vip = self._static_vip(entry, config)
            except AddressError:
                continue
            if vip.ifname == ifname and vip.key in self.static_addresses and self._static_change(
                    self.addresses.add_now, vip, "add"):
                log.info("Restoring deleted static address %s", vip)  # keepalived's words
        if self.static_routes is not None:
            for route in self.static_routes.reinstate(ifname):
                log.info("Restoring deleted static route %s", route.text)

    @staticmethod
    def _static_change(change: Any, vip: Vip, verb: str) -> bool:
        try:
            return bool(change(vip))
        except AddressError as exc:
            log.error("cannot %s static address %s: %s", verb, vip, exc.strerror or exc)
            return False

    def _make_groups(self, config: Config, built: dict[str, Router]) -> None:
        """Bind sync-group members (all freshly built: a group is rebuilt as a whole)."""
        for group in config.sync_groups:
            members = [built[name] for name in group.group if name in built]
            if members and len(members) == len(group.group):
                self.groups[group.name] = GroupDriver(group.name, members, self._on_group_notify)

    def _attach_witnesses(self, config: Config, built: dict[str, Router]) -> None:
        """One witness claim per guarded sync group or lone instance (witness/driver.py); made
        before the routers start, so no VIP is ever added without it. Claims whose key or block
        changed on reload are released and made anew."""
        if not config.witnesses and not self.witnesses:
            return
        from vipkeeper.witness.explain import guarded, key_for

        wanted = {key_for(w, kind, name): (kind, name, w) for kind, name, w in guarded(config)}
        for key in list(self.witnesses):
            driver = self.witnesses[key]
            if key not in wanted or wanted[key][2] != driver.model:
                self.witnesses.pop(key)
                for router in driver.detach():
                    if router.state == State.MASTER and key not in wanted:
                        router.hold_vips(True)  # no witness any more: plain VRRP
                self._spawn(driver.close(), f"witness {key} close")
        if not wanted:
            return
        from vipkeeper.witness.claim import (  # importable: read_config checked
            Claim,
            Policy,
        )
        from vipkeeper.witness.driver import ClaimDriver
        from vipkeeper.witness.etcd_gateway import EtcdGateway

        owner = config.global_defs.router_id or socket.gethostname()
        now = asyncio.get_running_loop().time()
        for key, (kind, name, w) in wanted.items():
            driver = self.witnesses.get(key)
            if driver is None:
                gateway = EtcdGateway(w.endpoints, w.request_timeout, w.cacert, w.cert, w.key)
                claim = Claim(key, owner, w.lease_ttl, Policy(w.policy), now, margin=w.lease_margin)
                driver = ClaimDriver(name, w.name, claim, gateway, model=w)
                self.witnesses[key] = driver
                driver.start()
            routers = {**self.routers, **built}
            driver.set_routers([routers[m] for m in self.config_members(config, kind, name) if m in routers])

    @staticmethod
    def config_members(config: Config, kind: str, name: str) -> tuple[str, ...]:
        if kind == "instance":
            return (name,)
        group = next((g for g in config.sync_groups if g.name == name), None)
        return group.group if group is not None else ()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_group_notify(self, group: str, state: str) -> None:
        assert self.notifier is not None and self.config is not None
        model = next((g for g in self.config.sync_groups if g.name == group), None)
        if model is not None:
            self.notifier.notify("GROUP", group, state, 0, model.notify, self.fifos)
            if self.mailer is not None:  # after scripts and fifo, as keepalived (vrrp_notify.c)
                self.mailer.alert("GROUP", group, state, model.smtp_alert)

    def _activate(self, router: Router) -> None:
        self._vip_routers = None
        self.routers[router.name] = router
        router.pacing = self.pacing
        router.announcer_for = self._announcer_for  # one bound method for every router
        router.start()
        # Brought up in the next loop iteration, in the order activated, by one task for all of
        # them (as a task each did, but a thousand tasks held a thousand coroutines at once at
        # start-up: ~0.7 MiB of heap freed a moment later that stayed in the RSS, issue 18).
        # One that waits for its track scripts goes on in a task of its own.
        self._to_bring_up.append(router)
        if len(self._to_bring_up) == 1:
            self._spawn(self._bring_up_activated(), "start")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bring_up_activated(self) -> None:
        routers, self._to_bring_up = self._to_bring_up, []
        for router in routers:
            try:
                timeout = self._bring_up(router)
            except Exception as exc:  # noqa: BLE001 - one router's failure is its own (as in a task of its own)
                asyncio.get_running_loop().call_exception_handler(
                    {"message": f"start {router.name} failed", "exception": exc})
                continue
            if timeout is not None:
                self._spawn(self._bring_up_after_scripts(router, timeout), f"start {router.name}")

    def _bring_up(self, router: Router) -> float | None:
        """Startup for `router` now, or, when it waits for track scripts, how long it may wait
        (`_bring_up_after_scripts` then carries on)."""
        tracking = self.tracking
        assert tracking is not None and self.config is not None
        try:
            pending = tracking.pending_scripts(router.model)
            if pending:
                self._started(router)  # its Startup is now, whenever that is; the others hear on
                # keepalived keeps such an instance in INIT until the scripts have a verdict.
                specs = [self.config.script(n) for n in pending]
                timeout = max((s.timeout or s.interval) for s in specs if s is not None) + 1.0
                log.info("(%s) waiting for track script%s %s", router.name, "s" if len(pending) > 1 else "",
                         ", ".join(pending))
                return timeout
        except BaseException:
            self._started(router)
            raise
        self._bring_up_now(router, waited=False)
        return None

    async def _bring_up_after_scripts(self, router: Router, timeout: float) -> None:
        tracking = self.tracking
        assert tracking is not None
        try:
            await tracking.wait_scripts(router.model, timeout)
        except BaseException:
            self._started(router)
            raise
        self._bring_up_now(router, waited=True)

    def _bring_up_now(self, router: Router, waited: bool) -> None:
        """The rest of bringing `router` up: the trackers' and the interface's state, then
        Startup, dated from when its socket listened unless it `waited` for track scripts."""
        tracking = self.tracking
        assert tracking is not None
        try:
            for event in tracking.current(router.model):
                router.feed(event)
            if not self._link_up.get(router.model.interface, True) and not router.model.dont_track_primary:
                router.feed(InterfaceDown())
            ep = self._endpoint_of(router)
            if ep is not None and ep.socket is None:
                router.feed(SocketState(False, ep.fault or f"interface {ep.ifname} down"))
            since = ep.listening_since if ep is not None and not waited else None
            at = startup_time(since, asyncio.get_running_loop().time(), router.params.advert_int)
            if at is not None:
                log.debug("(%s) Startup dated from when its socket listened, %.1f ms ago", router.name,
                          (asyncio.get_running_loop().time() - at) * 1000)
            router.feed(Startup(), at)
        finally:
            self._started(router)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's servers (the control socket) report every accept that fails for want of
        descriptors with a traceback, up to a hundred per second; that is one warning per
        minute here, counted. Everything else goes to asyncio's default handler."""
        message = str(context.get("message", ""))
        if message.startswith("socket.accept() out of system resource"):
            self.accept_failures += 1
            now = loop.time()
            if now - self._accept_logged >= 60.0:
                self._accept_logged = now
                exc = context.get("exception")
                try:
                    where = context["socket"].getsockname()
                except (KeyError, AttributeError, OSError):
                    where = "?"
                log.warning("cannot accept connections on %s: %s (%d failed accepts so far; "
                            "logged at most once a minute)", where or "?",
                            getattr(exc, "strerror", None) or exc, self.accept_failures)
            return
        loop.default_exception_handler(context)

    async def run_until_stopped(self) -> None:
        await self._stop.wait()

    def request_stop(self) -> None:
        self._stop.set()

    async def shutdown(self) -> None:
        self._close_early()
        for task in list(self._tasks):
            task.cancel()
        if self.mailer is not None:
            self.mailer.closing = True
        if self.options.release_on_stop:
            for router in list(self.routers.values()):
                router.feed(Shutdown())
        else:
            log.info("Leaving VIPs in place at stop (--dont-release-vrrp)")
        for router in list(self.routers.values()):
            await router.settle()
        if self.pacing is not None:  # queued GARPs/NAs of VIPs that are gone
            self.pacing.close()
        # The VIPs are gone: delete the witness keys so that the next Master acquires at once.
        # With the VIPs left in place (-V), the keys stay too, until their leases expire.
        await asyncio.gather(*(driver.close(release=self.options.release_on_stop)
                               for driver in self.witnesses.values()))
        self.witnesses.clear()
        # The STOP lines are in the fifos: close them now, so that a fifo script reads them and
        # then end-of-file, and exits by itself within the drain below instead of being killed
        # with lines unread.
        for fifo in self.fifos:
            fifo.close()
        if self.notifier is not None:
            await self.notifier.drain()
        if self.mailer is not None:
            await self.mailer.drain()
        for router in list(self.routers.values()):
            await router.close()
        self.routers.clear()
        if self.firewall is not None:  # after every VIP went; the tables go with their elements
            self.firewall.close()
            self.firewall = None
        if self.conflicts is not None:
            self.conflicts.close()
        if self.tracking is not None:
            await self.tracking.close()
        for ep in self.endpoints.values():
            if ep.socket is not None:
                ep.socket.close()
        self.endpoints.clear()
        for announcer in self.announcers.values():
            announcer.close()
        self.announcers.clear()
        if self.link_watcher is not None:
            self.link_watcher.close()
        for pending in self._link_pending.values():
            pending.cancel()
        self._link_pending.clear()
        if self.route_watch is not None:
            self.route_watch.close()
            self.route_watch = None
        if self.static_routes is not None:
            if self.options.release_on_stop:
                self.static_routes.release_all()
            self.static_routes.close()
            self.static_routes = None
        if self.options.release_on_stop:
            await self.addresses.release_all()
            # VMACs after the VIPs on them; with --dont-release-vrrp they stay with their VIPs
            if self._vmacs is not None:
                self._vmacs.release_all()
        if self._vmacs is not None:
            self._vmacs.close()
        await self.addresses.close()
        self.loop_watch.close()
        if self.timers is not None:
            self.timers.close()
            self.timers = None
        if self._parse_executor is not None:
            self._parse_executor.shutdown(wait=False, cancel_futures=True)
            self._parse_executor = None
        if self.config is not None:  # after every instance stopped, as keepalived
            await _lifecycle_script("shutdown", self.config.global_defs)

    # -- building ----------------------------------------------------------------------------

    def _stage_build(self, config: Config, keep: set[str], firewall: Firewall | None) -> StagedBuild:
        """Routers (not started) for every instance not in `keep`, with the sockets and
        announcers they need, guarded by `firewall`, none of it yet known to the running state.
        An instance whose interface is missing gets an endpoint without a socket (it waits in
        FAULT). Raises StartupError with everything it opened closed again."""
        g = config.global_defs
        staged = StagedBuild()
        not_from = not_sources(config)
        try:
            for model in config.instances:
                if model.name in keep:
                    # a reconfigured instance may put VIPs on new address VMACs (a no-op unchanged)
                    staged.vmacs.extend(self._ensure_address_vmacs(model))
                    continue
                if self._ensure_vmac(model):  # before the socket, which may bind to it
                    staged.vmacs.append(model.vmac_interface or "")
                staged.vmacs.extend(self._ensure_address_vmacs(model))
                key = endpoint_key(model, g.vrrp_mcast_group4, g.vrrp_mcast_group6)
                if key not in self.endpoints and key not in staged.endpoints:
                    ep = Endpoint(None, unicast=bool(model.unicast_peers), model=model, key=key, not_from=not_from)
                    early = self.early.pop(key, None)
                    try:
                        if early is not None:
                            ep.socket, ep.listening_since = early
                            ep.started = set()
                        else:
                            ep.socket = self._open_socket(model, key, not_from)
                        ep.socket.errors = ep.errors
                    except VrrpSocketError as exc:
                        if exc.errno not in (errno.ENODEV, errno.EADDRNOTAVAIL):
                            raise StartupError(f"{model.where}: ({model.name}) {exc.strerror or exc}") from None
                        # the instance waits in FAULT for its interface (module docstring)
                        ep.fault = _missing_reason(model, exc)
                        self._log_missing(model, exc, config)
                    staged.endpoints[key] = ep
                staged.planned.append((model, key))
            # each bound once: every router holds the same three objects, not three of its own
            on_notify, on_state, on_send_failed = self._on_notify, self._on_state, self._on_send_failed
            for model, key in staged.planned:
                ep = self.endpoints.get(key) or staged.endpoints[key]
                ep.not_from = not_from
                params = params_of(model, config, _source(ep, model))
                announcer = (self._staged_announcer(model.vmac_interface or model.interface, staged)
                             if ep.socket is not None else None)
                router = Router(model, params, ep.socket, self.addresses, announcer,
                                on_notify, on_state, timers=self.timers, on_send_failed=on_send_failed)
                router.firewall = self._guard(firewall, model)
                staged.routers[model.name] = router
        except BaseException:
            self._abort_build(staged)
            raise
        return staged

    def _abort_build(self, staged: StagedBuild) -> None:
        for ep in staged.endpoints.values():  # a failed reload leaves no socket behind
            if ep.socket is not None:
                ep.socket.close()
        for announcer in staged.announcers.values():
            announcer.close()
        for name in staged.vmacs:  # nor a VMAC
            self.vmacs.remove(name)
        staged.endpoints.clear()
        staged.announcers.clear()
        staged.vmacs.clear()

    def _build(self, config: Config, keep: set[str]) -> dict[str, Router]:
        """At start: stage and take into service at once."""
        staged = self._stage_build(config, keep, self.firewall)
        self._take_build(staged)
        return staged.routers

    def _take_build(self, staged: StagedBuild) -> None:
        """Staged announcers, sockets and routers into the running state (start and commit)."""
        self.announcers.update(staged.announcers)
        for key, ep in staged.endpoints.items():
            self.endpoints[key] = ep
            if ep.socket is not None and ep.started is None:
                self._start_reading(ep)
        for model, key in staged.planned:
            self.endpoints[key].routers[model.virtual_router_id] = staged.routers[model.name]

    def _start_reading(self, ep: Endpoint) -> None:
        assert ep.socket is not None
        ep.started = None
        ep.socket.start(lambda raw, k=ep.key: self._on_packet(k, raw))

    def _started(self, router: Router) -> None:
        """`router` has had its Startup (or waits for its scripts): an early socket is read once
        every router on it has (daemon/early_listen.py), its queued adverts then heard."""
        ep = self._endpoint_of(router)
        if ep is None or ep.started is None or ep.socket is None:
            return
        ep.started.add(router.name)
        if all(r.name in ep.started for r in ep.routers.values()):
            self._start_reading(ep)

    def _close_early(self) -> None:
        """Early sockets the start did not take (a key it did not build) are not kept open."""
        for sock, _ in self.early.values():
            sock.close()
        self.early.clear()

    @staticmethod
    def _open_firewall(config: Config) -> Firewall | None:
        """keepalived's nftables table, when `nftables`/`vrrp_iptables` asks for it."""
        g = config.global_defs
        if g.nftables is None:
            return None
        from vipkeeper.net.firewall import Firewall

        firewall = Firewall(g.nftables, g.nftables_priority, g.nftables_counters)
        families = {vip.address.version for model in config.instances if Runtime._guarded(model)
                    for vip in model.virtual_ipaddress + model.virtual_ipaddress_excluded}
        try:
            firewall.open(families)
        except NftError as exc:
            raise StartupError(f"cannot set up nftables table {g.nftables}: {exc}") from None
        return firewall

    def _firewall_for(self, model: InstanceModel) -> Firewall | None:
        return self._guard(self.firewall, model)

    @classmethod
    def _guard(cls, firewall: Firewall | None, model: InstanceModel) -> Firewall | None:
        """`firewall`, for an instance whose VIPs it guards: neither the address owner nor in
        accept mode (keepalived 2.2.7's default: accept unless strict mode)."""
        if firewall is None or not cls._guarded(model):
            return None
        return firewall

    @staticmethod
    def _guarded(model: InstanceModel) -> bool:
        accept = model.accept if model.accept is not None else not model.strict_mode
        return model.priority != 255 and not accept
    def _ensure_vmac(self, model: InstanceModel) -> bool:
        """Create (or take over) the instance's VMAC; True when this call created it."""
        if model.vmac_interface is None or model.vmac_interface in self.vmacs_owned:
            return False
        from vipkeeper.net.vmac import VmacError, VmacSpec, vmac_mac  # only for a VMAC (issue 18: RSS)

        spec = VmacSpec(model.vmac_interface, model.interface,
                        vmac_mac(model.virtual_router_id, model.family, model.vmac_address), model.family,
                        kind="macvlan" if model.use_ipvlan is None else "ipvlan", ipvlan_mode=model.ipvlan_mode,
                        address=model.ipvlan_address,
                        other_family=any(e.family != model.family for e in model.virtual_ipaddress_excluded))
        try:
            created = self.vmacs.ensure(spec)
        except VmacError as exc:
            if exc.errno != errno.ENODEV:
                raise StartupError(f"{model.where}: ({model.name}) {exc.strerror or exc}") from None
            # the parent is missing: the instance waits in FAULT (its socket cannot open), and the
            # VMAC is made when the parent appears (_remake_vmacs)
            self.vmacs.owned[spec.name] = spec
            log.warning("(%s) %s: it is made when %s appears", model.name, exc.strerror or exc, model.interface)
            return False
        self._ifindex[spec.name] = link_state(spec.name).index  # so its deletion is reported
        return created

    def _ensure_address_vmacs(self, model: InstanceModel) -> list[str]:
        """Create (or take over) the VMACs of VIPs on other interfaces (use_vmac_addr, a VIP's
        use_vmac; config/vmac_addr.py); the names of those this call created."""
        if not model.address_vmacs:
            return []
        from vipkeeper.net.vmac import VmacError, VmacSpec, vmac_mac  # only for a VMAC (issue 18: RSS)

        created = []
        for name, parent, family in model.address_vmacs:
            if name in self.vmacs.owned:
                continue  # another instance's VIPs share it, or a reload keeps it
            spec = VmacSpec(name, parent, vmac_mac(model.virtual_router_id, family, model.vmac_address), family)
            try:
                if self.vmacs.ensure(spec):
                    created.append(name)
            except VmacError as exc:
                if exc.errno != errno.ENODEV:
                    for done in created:
                        self.vmacs.remove(done)
                    raise StartupError(f"{model.where}: ({model.name}) {exc.strerror or exc}") from None
                self.vmacs.owned[spec.name] = spec  # made when its parent appears (_remake_vmacs)
                log.warning("(%s) %s: it is made when %s appears", model.name, exc.strerror or exc, parent)
                continue
            self._ifindex[spec.name] = link_state(spec.name).index
        return created

    def _wanted_vmacs(self) -> set[str]:
        """The VMACs the running instances use: their own and their VIPs' address VMACs."""
        wanted = {r.model.vmac_interface for r in self.routers.values() if r.model.vmac_interface}
        for router in self.routers.values():
            wanted.update(name for name, _, _ in router.model.address_vmacs)
        return wanted

    def _remake_vmacs(self, state: LinkState) -> None:
        """A VMAC of ours that is gone (deleted by someone, or with its parent) is made again as
        soon as its parent exists, as keepalived 2.2.7 does (measured: FAULT, "Interface vrrp.71
        deleted", the VMAC created again, BACKUP, election). Its socket follows by itself: the
        new link's event reopens it (_on_link)."""
        if state.ifname not in self.vmacs_owned and not any(s.parent == state.ifname
                                                            for s in self.vmacs_owned.values()):
            return
        from vipkeeper.net.vmac import VmacError  # loaded: a VMAC of ours exists

        for name in self.vmacs.missing():
            spec = self.vmacs.owned[name]
            if name not in self._wanted_vmacs():
                continue
            try:
                self.vmacs.ensure(spec, again=True)
            except VmacError as exc:
                log.debug("%s: not yet: %s", name, exc.strerror or exc)
                continue
            self._on_link(link_state(name))

    def _open_socket(self, model: InstanceModel, key: tuple, not_from: frozenset = frozenset()) -> VrrpSocket:
        return open_vrrp_socket(model, key, not_from)

    def _log_missing(self, model: InstanceModel, exc: VrrpSocketError, config: Config) -> None:
        if exc.errno != errno.ENODEV:
            log.warning("(%s) %s - the instance waits in FAULT", model.name, exc.strerror or exc)
        elif config.global_defs.dynamic_interfaces:
            log.warning("Configuration specifies interface %s which doesn't currently exist - will use if created",
                        model.interface)
        else:
            # keepalived 2.2.7 stops here ("Non-existent interface specified in configuration");
            # vipkeeper keeps the other instances running and waits for the interface.
            log.warning("(%s) WARNING - interface %s for vrrp_instance %s doesn't exist - running it in FAULT "
                        "until the interface appears", model.where, model.interface, model.name)

    def _open_announcer(self, ifname: str) -> Announcer | None:
        """A new announcer on the interface, counting into its error counters (which outlive it)."""
        try:
            announcer = Announcer(ifname)
        except (AnnounceError, OSError) as exc:
            log.warning("%s: cannot send gratuitous ARP/NA: %s", ifname, exc)
            return None
        announcer.errors = self.announce_errors.setdefault(ifname, collections.Counter())
        return announcer

    def _staged_announcer(self, ifname: str, staged: StagedBuild) -> Announcer | None:
        """The running announcer of the interface, or one opened for the reload (taken into
        service at its commit, closed if it fails)."""
        if ifname in self.announcers:
            return self.announcers[ifname]
        if ifname not in staged.announcers:
            announcer = self._open_announcer(ifname)
            if announcer is None:
                return None
            staged.announcers[ifname] = announcer
        return staged.announcers[ifname]

    def _vip_announcer(self, ifname: str) -> Announcer | None:
        """The announcer of a VIP's own interface (`dev`) when it is not its instance's: opened
        on first use, again if the interface was re-created; None while it is missing."""
        try:
            index = socket.if_nametoindex(ifname)
        except OSError:
            return None
        return self._announcer(ifname, index)

    def _announcer(self, ifname: str, index: int | None = None) -> Announcer | None:
        """The interface's announcer; opened afresh when it is bound to another index than
        `index` (the interface was re-created). Shared by every router on the interface."""
        old = self.announcers.get(ifname)
        if old is not None and index is not None and old.ifindex != index:
            old.close()
            del self.announcers[ifname]
        if ifname not in self.announcers:
            announcer = self._open_announcer(ifname)
            if announcer is None:
                return None
            self.announcers[ifname] = announcer
        return self.announcers[ifname]

    def _prepare_scripts(self, config: Config) -> None:
        """Check every notify and fifo script of `config` (at start and at each reload)."""
        assert self.notifier is not None
        g = config.global_defs
        commands = notify_commands(config)
        verdicts = self.notifier.prepare(commands, default_user=g.script_user, default_group=g.script_group,
                                         script_security=g.enable_script_security)
        if commands and not g.enable_script_security and not config.scripts:
            # (with vrrp_scripts, the tracking hub already said it)
            log.warning("SECURITY VIOLATION - scripts are being executed but script_security not enabled.%s",
                        " There are insecure scripts." if any(v.unsafe for v in verdicts.values()) else "")

    async def _reopen_fifos(self, config: Config) -> None:
        """At a reload, as keepalived: close the fifos (their scripts read to end-of-file and
        exit, or are killed after a second), then open them again from the new configuration,
        so that a fifo replaced or re-owned since is checked again and a changed path or script
        takes effect."""
        assert self.notifier is not None
        old, self.fifos = self.fifos, []
        for fifo in old:
            fifo.close()
        await self.notifier.finish([f.script_run for f in old if f.script_run is not None])
        self._open_fifos(config)

    # -- interface lifecycle -----------------------------------------------------------------

    def _endpoint_of(self, router: Router) -> Endpoint | None:
        return next((e for e in self.endpoints.values() if e.routers.get(router.params.vrid) is router), None)

    def _live_routers(self, ep: Endpoint) -> list[Router]:
        return [r for r in ep.routers.values() if self.routers.get(r.name) is r]

    def _reopen(self, ep: Endpoint, why: str) -> bool:
        """Open the endpoint's socket afresh (none before, or bound to an index that is gone);
        True when it works now and its routers have been told."""
        try:
            sock = self._open_socket(ep.model, ep.key, ep.not_from)
        except VrrpSocketError as exc:
            log.debug("%s: cannot open the VRRP socket yet: %s", ep.ifname, exc)
            return False
        old, ep.socket = ep.socket, sock
        if old is not None:
            old.close()
        sock.errors = ep.errors
        ep.reopens += 1
        ep.fault = None
        self._start_reading(ep)
        announcer = self._announcer(ep.ifname, index=sock.ifindex)
        log.info("%s: VRRP socket opened on ifindex %d (%s)", ep.ifname, sock.ifindex, why)
        for router in self._live_routers(ep):
            router.rebind(sock, announcer)
            if sock.src != router.params.source_address:
                params = records.replace(router.params, source_address=sock.src)
                router.params = params
                router.feed(Reconfigure(params))
            router.feed(SocketState(True))
        return True

    def _reopen_or_lose(self, ep: Endpoint, why: str) -> None:
        """The interface is there under a new index: a socket on the old one is dead whether or
        not the new one can be opened yet (it may have no address so far)."""
        if not self._reopen(ep, why) and ep.socket is not None:
            self._lose(ep, f"interface {ep.ifname} down")

    def _lose(self, ep: Endpoint, reason: str, close: bool = True) -> None:
        """The endpoint's socket cannot be used: its routers go to FAULT for `reason`."""
        if close and ep.socket is not None:
            ep.socket.close()
            ep.socket = None
        ep.fault = reason
        for router in self._live_routers(ep):
            if close:
                router.rebind(None, None)
            router.feed(SocketState(False, reason))

    def _on_send_failed(self, router: Router) -> None:
        # Called from inside a send, inside the core's actions: look at it once the loop is free.
        ep = self._endpoint_of(router)
        if ep is not None and not ep.checking:
            ep.checking = True
            asyncio.get_running_loop().call_soon(self._check_sending, ep)

    def _check_sending(self, ep: Endpoint) -> None:
        ep.checking = False
        sock = ep.socket
        if sock is None or ep.fault is not None:
            return
        try:
            index = interface_index(ep.ifname)
        except HostShortage:
            return  # out of descriptors: that says nothing about the interface (issue 20 #3)
        if index == 0:
            self._lose(ep, f"interface {ep.ifname} down")
            return
        if index != sock.ifindex:
            self._reopen_or_lose(ep, f"{ep.ifname} re-created, was ifindex {sock.ifindex}")
        elif sock.failing >= SEND_FAULT_AFTER:
            err = sock.last_send_error or 0
            ep.retry_at = asyncio.get_running_loop().time() + ep.backoff
            ep.backoff = min(RETRY_BACKOFF_MAX, ep.backoff * 2)
            self._lose(ep, f"send advert error {err} ({os.strerror(err)})", close=False)

    async def _maintain(self) -> None:
        """The slow safety net under the netlink events: refused VIP deletes, missing sockets,
        interfaces re-created while events were lost, sockets whose sends kept failing."""
        loop = asyncio.get_running_loop()
        compiled = False
        while True:
            await asyncio.sleep(MAINTENANCE_INTERVAL)
            if not compiled:
                records.compile_now(*failover_records())
                compiled = True
            try:
                self._maintenance_pass(loop.time())
            except Exception as exc:  # noqa: BLE001 - never let the safety net end the daemon
                log.error("maintenance pass failed: %s: %s", type(exc).__name__, exc)

    def _maintenance_pass(self, now: float) -> None:
        for vip, error in self.addresses.retry_removals():
            if error is None:
                log.info("Removed VIP %s on retry", vip)
                self._complained.discard(("remove", vip.key))
            elif ("remove", vip.key) not in self._complained:  # once, not every second
                self._complained.add(("remove", vip.key))
                log.warning("Still cannot remove VIP %s: %s - retrying every %gs", vip, error.strerror or error,
                            MAINTENANCE_INTERVAL)
        # A Master lacking one of its VIPs (an add the kernel refused, an event lost) adds it.
        # Nothing to ask while no owned address was given up (AddressOwner.removals) and no
        # router's wish for VIPs changed (Router.wants_changed) since a check found all present:
        # the walk over a thousand Masters was a 1-3 ms stall each second (issue 18).
        removals = self.addresses.removals
        mark = (removals, Router.wants_changed)
        if mark != self._vips_clean:
            self._vips_clean = mark if self._check_vips(removals) else None
        for ep in list(self.endpoints.values()):
            if ep.socket is None:
                self._reopen(ep, "interface present again")
            elif ep.fault is not None:
                if now >= ep.retry_at:  # sends kept failing: try again, with back-off
                    ep.socket.failing = 0
                    ep.fault = None
                    if not self._reopen(ep, "retrying after send errors"):
                        self._lose(ep, f"interface {ep.ifname} down")
            else:
                try:
                    index = interface_index(ep.ifname)
                except HostShortage:
                    continue  # out of descriptors: nothing is known about the interface
                if index == 0:
                    self._lose(ep, f"interface {ep.ifname} down")
                    continue
                if index != ep.socket.ifindex:
                    self._reopen_or_lose(ep, f"{ep.ifname} re-created, was ifindex {ep.socket.ifindex}")
                elif ep.socket.failing == 0 and ep.socket.sent:
                    ep.backoff = MAINTENANCE_INTERVAL  # sends work again: the next failure starts afresh

    def _check_vips(self, removals: int) -> bool:
        """Add back any VIP a Master lacks; True when none was missing. A Master whose VIPs were
        all owned at a check, with the same parameters and no owned address given up since, is
        not asked again."""
        clean = True
        verified = self._vips_verified
        if removals != self._vips_verified_at:  # an owned address was given up: check every Master
            verified.clear()
            self._vips_verified_at = removals
        for router in tuple(self.routers.values()):  # (not a 2-tuple per Master each pass: issue 18)
            if not router.vips_wanted:
                continue
            name = router.name
            params = router.params
            if verified.get(name) is params:
                continue
            verified[name] = params  # (no tuple per Master: issue 18, memory per instance)
            for vip in params.vips:
                if self.addresses.owns(vip.key):
                    continue
                clean = False
                verified.pop(name, None)
                try:
                    self.addresses.add_now(vip)
                    log.warning("(%s) VIP %s was missing on a MASTER - added it", router.name, vip)
                    self._complained.discard(("add", vip.key))
                except AddressError as exc:
                    if ("add", vip.key) not in self._complained:
                        self._complained.add(("add", vip.key))
                        log.error("(%s) cannot add VIP %s: %s - retrying every %gs", router.name, vip,
                                  exc.strerror or exc, MAINTENANCE_INTERVAL)
        if len(verified) > len(self.routers):  # instances gone on a reload
            self._vips_verified = {name: seen for name, seen in verified.items() if name in self.routers}
        return clean

    def _open_fifos(self, config: Config) -> None:
        g = config.global_defs
        assert self.notifier is not None
        for fifo, script, label in ((g.notify_fifo, g.notify_fifo_script, "notify fifo"),
                                    (g.vrrp_notify_fifo, g.vrrp_notify_fifo_script, "vrrp notify fifo")):
            if fifo is None:
                continue
            from vipkeeper.notify.fifo import NotifyFifo  # only with a fifo configured (issue 18: RSS)

            handle = NotifyFifo.from_config(fifo, script, self.notifier, label=label)
            if handle.open():
                self.fifos.append(handle)

    # -- events in ---------------------------------------------------------------------------

    def _on_packet(self, key: tuple, raw: RawReceived) -> None:
        ep = self.endpoints.get(key)
        if ep is None:
            return
        # unicast_peer ... min_ttl/max_ttl: the TTL is judged per peer below, not against 255 here
        ranged = ep.unicast and any(r.model.unicast_peer_ttl for r in ep.routers.values())
        try:
            if raw.src.version == 4:
                got = packet.decode_ipv4_datagram(raw.data, check_ttl=not ranged)
            else:
                got = packet.decode_ipv6(raw.data, raw.src, raw.dst, raw.hop_limit, check_hop_limit=not ranged)
        except packet.MalformedPacket as exc:
            self._count_drop(ep, exc.reason.value)
            return
        # A multicast socket also sees unicast adverts addressed to us and the reverse; each
        # router only hears the mode it was configured for. Counted, unless another socket of
        # ours on the same interface is there for that mode (it gets its own copy).
        if ep.unicast == got.destination.is_multicast:
            if not any(k[:2] == key[:2] and other.unicast != ep.unicast for k, other in self.endpoints.items()):
                router = ep.routers.get(got.advertisement.vrid)
                if router is not None:
                    router.counters.drops[packet.DropReason.MODE_MISMATCH.value] += 1
                else:
                    self.drops[packet.DropReason.MODE_MISMATCH.value] += 1
            return
        router = ep.routers.get(got.advertisement.vrid)
        if router is None or router.name not in self.routers:
            self.drops[packet.DropReason.WRONG_VRID.value] += 1
            if self.config is not None and self.config.global_defs.log_unknown_vrids:
                log.info("Unknown VRID(%d) received on interface(%s). ignoring...", got.advertisement.vrid, key[0])
            return
        if ranged and not self._ttl_in_range(router, got):
            return
        router.received(got, raw.at)

    @staticmethod
    def _ttl_in_range(router: Router, got: packet.Received) -> bool:
        """keepalived 2.2.7: an advert from a peer with min_ttl/max_ttl outside that range is
        dropped (ip_ttl_err) with its log line. A peer without a range keeps vipkeeper's rule:
        TTL 255 (keepalived accepts any TTL from it)."""
        low, high = next(((lo, hi) for peer, lo, hi in router.model.unicast_peer_ttl if peer == got.source),
                         (packet.VRRP_TTL, packet.VRRP_TTL))
        if low <= got.ttl <= high:
            return True
        router.counters.drops[packet.DropReason.BAD_TTL.value] += 1
        log.info("(%s) TTL/HL %d not in range %d - %d", router.name, got.ttl, low, high)
        return False

    def _count_drop(self, ep: Endpoint, reason: str) -> None:
        # Attribute the drop to the only router of the endpoint when there is one, so that
        # `status` shows it where the admin looks; otherwise to the runtime.
        if len(ep.routers) == 1:
            next(iter(ep.routers.values())).counters.drops[reason] += 1
        else:
            self.drops[reason] += 1

    def _on_tracker(self, instance: str, event: TrackerChanged) -> None:
        router = self.routers.get(instance)
        if router is not None:
            router.feed(event)

    def _on_link(self, state: LinkState) -> None:
        """A link changed: up/down (debounced by `interface_up_down_delays`), deleted, re-created."""
        self._link_up_down(state.ifname, state.up)
        mine = [ep for ep in self.endpoints.values() if ep.ifname == state.ifname]
        if not state.exists:
            if self._ifindex.get(state.ifname):
                log.info("Interface %s deleted", state.ifname)
            self._ifindex[state.ifname] = 0
            announcer = self.announcers.pop(state.ifname, None)
            if announcer is not None:
                announcer.close()
            for ep in mine:
                if ep.socket is not None:
                    self._lose(ep, f"interface {state.ifname} down")
            self._remake_vmacs(state)
            return
        if self._ifindex.get(state.ifname) != state.index:
            if state.ifname in self._ifindex:
                log.info("Interface %s added", state.ifname)  # keepalived's words, also for a re-created one
            self._ifindex[state.ifname] = state.index
        stale = [ep for ep in mine if ep.socket is None or ep.socket.ifindex != state.index]
        for ep in stale:
            self._reopen_or_lose(ep, f"{state.ifname} is ifindex {state.index}")
        self._remake_vmacs(state)

    def _on_address(self, change: AddressChange | None) -> None:
        if change is None:  # events were lost: every Master puts back what is missing
            for router in list(self.routers.values()):
                if router.vips_wanted:
                    router._change_vips(router.params.vips, self.addresses.add_now, "add")
            self._check_sources(None, "address events lost")
            return
        if change.added:
            # An interface that had no address to send from may have one now.
            for ep in list(self.endpoints.values()):
                if ep.socket is None and ep.ifname == change.ifname:
                    self._reopen(ep, f"address {change.address} added")
        self._check_sources(change, f"address {change.address} {'added' if change.added else 'removed'}")
        if change.added:
            return
        self.addresses.forget(change.key)  # the kernel confirms: gone, whoever removed it
        if change.key in self.static_addresses:
            self._static_address_deleted(change)
        if self._vip_routers is None:  # our own deletes come back here too: no scan per event
            self._vip_routers = {}
            for r in self.routers.values():
                for v in r.params.vips:
                    self._vip_routers.setdefault(v.key, []).append(r)
        for router in self._vip_routers.get(change.key, ()):
            if not router.vips_wanted or self.routers.get(router.name) is not router:
                continue
            for vip in router.params.vips:
                if vip.key != change.key:
                    continue
                log.warning("Netlink reflector reports IP %s removed from %s - (%s) is MASTER, adding it back",
                            change.address, change.ifname, router.name)
                try:
                    self.addresses.add_now(vip)
                    self.vips_restored += 1
                except AddressError as exc:
                    if exc.errno != errno.ENODEV:  # a deleted interface is handled by its link event
                        log.error("(%s) cannot add VIP %s back: %s", router.name, vip, exc.strerror or exc)

    def _check_sources(self, change: AddressChange | None, why: str) -> None:
        """The adverts' source follows the interface's own IPv4 address (never a VIP; RFC 5798
        5.1.1.1: the primary IPv4 address of the interface): an open socket whose source is not
        configured is reopened when the interface's address to send from is another one now,
        e.g. the source address was removed and another remains, or the socket was opened
        while the VIP was the only (or the primary) address. A change of a VIP (every Master's
        add and delete) does not look. With no address left the source is kept (keepalived
        2.2.7 would put the instance in FAULT until an address returns)."""
        for ep in list(self.endpoints.values()):
            sock = ep.socket
            if sock is None or ep.key[1] != socket.AF_INET or configured_source(ep.model) is not None:
                continue
            if change is not None and (change.address in ep.not_from or
                                       change.ifname not in (ep.ifname, ep.model.interface)):
                continue
            try:
                wanted = interface_source_of(ep.model, ep.key, ep.not_from, keep=sock.src)
            except VrrpSocketError:
                continue  # nothing to send from: keep sending from the last address
            if wanted != sock.src:
                log.info("%s: VRRP source address %s, was %s (%s)", ep.ifname, wanted, sock.src, why)
                self._reopen(ep, f"source address {wanted}")

    def _link_up_down(self, ifname: str, up: bool) -> None:
        """With `interface_up_down_delays` for the link, an up/down change is acted on only once it
        has lasted the delay; if the link returns to its state before, nothing happens
        (keepalived 2.2.7's debouncing: no FAULT/BACKUP transition for a bounce)."""
        pending = self._link_pending.pop(ifname, None)
        if pending is not None:
            pending.cancel()
            if self._link_up.get(ifname) == up:
                log.info("Netlink reports %s %s again within its delay - no change", ifname, "up" if up else "down")
                return
        if self._link_up.get(ifname) == up:
            return
        delay = self._link_delay(ifname, up) if ifname in self._link_up else 0.0
        if delay > 0:
            log.info("Netlink reports %s %s - acting on it in %gs unless it changes back", ifname,
                     "up" if up else "down", delay)
            self._link_pending[ifname] = asyncio.get_running_loop().call_later(delay, self._apply_link, ifname, up)
            return
        self._apply_link(ifname, up)

    def _link_delay(self, ifname: str, up: bool) -> float:
        for name, down_delay, up_delay in (self.config.interface_up_down_delays if self.config else ()):
            if name == ifname:
                return up_delay if up else down_delay
        return 0.0

    def _apply_link(self, ifname: str, up: bool) -> None:
        self._link_pending.pop(ifname, None)
        previous = self._link_up.get(ifname)
        self._link_up[ifname] = up
        if previous == up:
            return
        if previous is not None or up:  # a new interface: only once it is up, as keepalived
            log.info("Netlink reports %s %s", ifname, "up" if up else "down")
        if up:
            self._reinstate_static(ifname)
        for router in self.routers.values():
            if router.model.interface == ifname and not router.model.dont_track_primary:
                router.feed(InterfaceUp() if up else InterfaceDown())
        if self.tracking is not None:
            self.tracking.link_changed(ifname, up)


    def _on_state(self, router: Router, before: State, after: State) -> None:
        if self.conflicts is not None:
            self.conflicts.state_changed(router, before, after)

    def _fifo_event(self, router: Router, event: str) -> None:
        for fifo in self.fifos:
            fifo.write("INSTANCE", router.name, event, router.core.effective_priority)

    def _on_notify(self, router: Router, action: Notify) -> None:
        assert self.notifier is not None
        if action.state in ("MASTER_RX_LOWER_PRI", "MASTER_PRIORITY", "BACKUP_PRIORITY"):
            self.notifier.notify_event("INSTANCE", router.name, action.state, action.priority,
                                       router.model.notify, self.fifos)
        else:
            self.notifier.notify("INSTANCE", router.name, action.state, action.priority,
                                 router.model.notify, self.fifos)
            if self.mailer is not None:  # after scripts and fifo, as keepalived (vrrp_notify.c)
                self.mailer.alert("INSTANCE", router.name, action.state, router.model.smtp_alert)

    # -- signals -----------------------------------------------------------------------------

    async def reload(self) -> bool:
        """SIGHUP (or `vipkeeper reload`): read and validate the new file off the event loop,
        stage everything, then commit in one synchronous step. False, with the running state
        unchanged and `reload_failures` counted, on any failure (module docstring)."""
        async with self._reloading:
            log.info("Reloading configuration from %s", self.options.config_file)
            try:
                config, users = await self._parse_off_loop()
            except StartupError as exc:
                return self._reload_failed(str(exc))
            finally:
                release_parser()  # the parser's code is not kept between reloads (config/__init__.py)
            try:
                return await self._apply(config, users)
            except StartupError as exc:
                return self._reload_failed(str(exc))
            except Exception as exc:  # noqa: BLE001 - never half-applied, never a traceback into asyncio
                return self._reload_failed(f"{type(exc).__name__}: {exc}")

    def _reload_failed(self, error: str) -> bool:
        self.reload_failures += 1
        self.last_reload_error = error
        log.error("Reload failed, keeping the running configuration: %s", error)
        return False

    def _parse_in_thread(self) -> tuple[Config, ScriptUsers]:
        """Runs in the parse thread: the file, its validation and the script users' lookups."""
        config = self.read_config()
        return config, ScriptUsers.of_config(config)

    async def _parse_off_loop(self) -> tuple[Config, ScriptUsers]:
        """The new file is parsed in a thread of its own with a deadline, so the event loop keeps
        sending adverts however slow the file is. A parse that overruns its deadline is given
        up (the lexer's budget bounds how long the thread still runs); a reload while an earlier
        parse is still running is refused."""
        if self._parse_future is not None and not self._parse_future.done():
            raise StartupError("the previous reload's configuration is still being parsed")
        loop = asyncio.get_running_loop()
        if self._parse_executor is None:
            self._parse_executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="reload-parse")
        self._parse_future = loop.run_in_executor(self._parse_executor, self._parse_in_thread)
        # a parse given up at its deadline ends later on its own: its error is not news
        self._parse_future.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            return await asyncio.wait_for(asyncio.shield(self._parse_future), self.options.reload_parse_deadline)
        except TimeoutError:
            raise StartupError(f"{self.options.config_file}: not parsed within "
                               f"{self.options.reload_parse_deadline:g}s, reload given up") from None

    def _plan(self, config: Config) -> tuple[set[str], set[str]]:
        """(unchanged, reconfigured) instance names; every other running one is replaced."""
        assert self.config is not None
        old_models = {m.name: m for m in self.config.instances}
        g_old, g_new = self.config.global_defs, config.global_defs
        unchanged: set[str] = set()
        reconfigure: set[str] = set()
        for new in config.instances:
            name = new.name
            old = old_models.get(name)
            if old is None or name not in self.routers:
                continue
            if _strip_where(old) == _strip_where(new) and _strip_where(g_old) == _strip_where(g_new):
                unchanged.add(name)
            elif (endpoint_key(old, g_old.vrrp_mcast_group4, g_old.vrrp_mcast_group6)
                  == endpoint_key(new, g_new.vrrp_mcast_group4, g_new.vrrp_mcast_group6)
                  and old.virtual_router_id == new.virtual_router_id and old.version == new.version):
                reconfigure.add(name)
        # A sync group moves as one: if the group or any member is new or changed, every
        # member is rebuilt, so no group ever mixes old and new members.
        old_groups = {g.name: g for g in self.config.sync_groups}
        for group in config.sync_groups:
            members = set(group.group)
            same = _strip_where(old_groups.get(group.name)) == _strip_where(group)
            if not same or not members <= unchanged:
                unchanged -= members
                reconfigure -= members
        new_group_names = {g.name for g in config.sync_groups}
        for old_group in self.config.sync_groups:
            if old_group.name not in new_group_names:
                unchanged -= set(old_group.group)
                reconfigure -= set(old_group.group)
        return unchanged, reconfigure

    def _stage_firewall(self, config: Config) -> Firewall | None:
        """The firewall the new file asks for: the running one when its nftables settings are
        unchanged, otherwise a new table made now (a same-named one is replaced in one
        transaction), before anything running changes. Raises StartupError."""
        assert self.config is not None
        g_old, g_new = self.config.global_defs, config.global_defs
        if ((g_old.nftables, g_old.nftables_priority, g_old.nftables_counters)
                == (g_new.nftables, g_new.nftables_priority, g_new.nftables_counters)):
            return self.firewall
        return self._open_firewall(config)

    async def _apply(self, config: Config, users: ScriptUsers) -> bool:
        assert self.config is not None and self.tracking is not None
        unchanged, reconfigure = self._plan(config)
        # Stage: everything that can fail, nothing running touched.
        firewall = self._stage_firewall(config)
        try:
            staged_build = self._stage_build(config, unchanged | reconfigure, firewall)
            try:
                staged_tracking = await self.tracking.stage(config)
            except BaseException:
                self._abort_build(staged_build)
                raise
        except BaseException:
            self._firewall_undo(firewall, self.config)
            raise
        # Commit: one synchronous step.
        removed = self._commit(config, users, unchanged, reconfigure, staged_build, staged_tracking, firewall)
        # After the commit: static addresses/routes/rules changed entry by entry (failures are
        # logged, never a reload failure), the route watch started if now needed.
        try:
            await self._sync_static(config)
            self._watch_routes(config)
        except Exception as exc:  # noqa: BLE001 - the reload is done; say what did not apply
            log.error("Static addresses/routes after reload: %s", exc)
        # After the commit: the fifos reopened from the new configuration (their scripts first
        # read what was written, the STOP lines of removed instances included).
        try:
            await self._reopen_fifos(config)
        except Exception as exc:  # noqa: BLE001 - the reload is done; say what did not reopen
            log.error("Reopening the notify fifos after reload: %s", exc)
        # Clean-up of what the commit took out of service (priority 0 sent, VIPs go now).
        for router in removed:
            try:
                await router.settle()
                await router.close()
            except Exception as exc:  # noqa: BLE001 - the reload is done; this is clean-up of what it removed
                log.error("(%s) clean-up after reload: %s", router.name, exc)
        for router in staged_build.routers.values():
            self._activate(router)
        self._close_idle_endpoints()
        self._vip_routers = None
        log.info("Reload finished: %d unchanged, %d reconfigured, %d started",
                 len(unchanged), len(reconfigure), len(staged_build.routers))
        return True

    def _commit(self, config: Config, users: ScriptUsers, unchanged: set[str], reconfigure: set[str],
                staged: StagedBuild, staged_tracking: Any, firewall: Firewall | None) -> list[Router]:
        assert self.tracking is not None and self.notifier is not None
        new_models = {m.name: m for m in config.instances}
        self.config = config
        self.script_users = users
        self.notifier.users = users
        self._prepare_scripts(config)  # every notify and fifo script checked again
        self.tracking.commit(staged_tracking, users)
        self._retune(config)
        if firewall is not self.firewall:
            old_firewall, self.firewall = self.firewall, firewall
            self._refirewall(old_firewall)
        self._mail_to(config.global_defs)
        self._take_build(staged)
        self._pace(config)
        # Take out of service what is gone or replaced (priority 0 now, VIPs after the commit).
        removed: list[Router] = []
        for name in list(self.routers):
            if name in unchanged or name in reconfigure:
                continue
            router = self.routers.pop(name)
            for ep in self.endpoints.values():
                if ep.routers.get(router.params.vrid) is router:
                    del ep.routers[router.params.vrid]
            router.feed(Shutdown())
            removed.append(router)
            log.info("(%s) removed by reload", name)
        for name in reconfigure:
            router = self.routers[name]
            ep = next(e for e in self.endpoints.values() if e.routers.get(router.params.vrid) is router)
            router.model = new_models[name]
            params = params_of(router.model, config, _source(ep, router.model))
            guard = self._firewall_for(router.model)
            try:
                if router.firewall is not None and guard is None:  # accept mode now: no drop rule
                    router.firewall.unblock(router.name)
            except NftError as exc:
                log.error("(%s) cannot remove firewall drop rule: %s", name, exc)
            router.firewall = guard
            router.params = params
            router.feed(Reconfigure(params))
            try:
                if guard is not None and router.state == State.MASTER:
                    guard.block(router.name, params.vips)
            except NftError as exc:
                log.error("(%s) cannot set firewall drop rule: %s", name, exc)
            if self.conflicts is not None and router.state == State.MASTER:
                self.conflicts.became_master(router)  # its VIP set may have changed
            for event in self.tracking.current(router.model):
                router.feed(event)
        for name in unchanged:
            self.routers[name].model = new_models[name]
        for gname in [g for g, d in self.groups.items() if any(r.name not in self.routers for r in d.routers.values())]:
            self.groups.pop(gname).detach()
        self._make_groups(config, staged.routers)
        self._attach_witnesses(config, staged.routers)  # before the new routers start
        self.reloads += 1
        self.last_reload_error = None
        self.loop_watch.lag.set_advert_interval(min((m.advert_int for m in config.instances), default=None))
        return removed

    def _refirewall(self, old: Firewall | None) -> None:
        """The nftables settings changed at a reload: the old table is gone (or was never there),
        the new one (if any) is empty; every running Master that it guards is put back in."""
        if old is not None:
            if self.firewall is not None and old.table == self.firewall.table:
                old.forget()  # the new table replaced it already
            else:
                old.close()
        for router in self.routers.values():
            router.firewall = self._firewall_for(router.model)
            if router.firewall is not None and router.state == State.MASTER:
                try:
                    router.firewall.block(router.name, router.params.vips)
                except NftError as exc:
                    log.error("(%s) cannot set firewall drop rule: %s", router.name, exc)

    def _firewall_undo(self, staged: Firewall | None, config: Config) -> None:
        """A reload failed after its firewall was staged (_stage_firewall): back to the running
        file's table. `config` is the running file."""
        old = self.firewall
        if staged is old or staged is None:
            return
        if old is not None and old.table == staged.table:  # the staged one replaced ours: rebuild it
            staged.forget()
            try:
                self.firewall = self._open_firewall(config)
            except StartupError as exc:
                log.error("%s", exc)
                self.firewall = None
            self._refirewall(old)
        else:
            staged.close()

    def _retune(self, config: Config) -> None:
        """A reload re-applies the process tuning of the new file (keepalived resets it at every
        reload and applies it again)."""
        tuning = Tuning.of(config.global_defs)
        if self.tuner is None and tuning.wanted:
            self.tuner = ProcessTuner()
        if self.tuner is not None:
            self.tuner.apply(tuning)

    def _close_idle_endpoints(self) -> None:
        for key in [k for k, ep in self.endpoints.items() if not ep.routers]:
            ep = self.endpoints.pop(key)
            if ep.socket is not None:
                ep.socket.close()
        # a VMAC whose socket is gone and no running instance names: a reload dropped it
        wanted = self._wanted_vmacs()
        for name in [n for n in self.vmacs_owned if n not in wanted]:
            self.vmacs.remove(name)

    def write_dump(self, kind: str) -> None:
        """One of keepalived's dump signals: kind is "data" (SIGUSR1), "stats" (SIGUSR2), "json"
        (keepalived's JSON signal) or "stats_clear" (writes the stats, then zeroes them)."""
        from vipkeeper.daemon import dumpfile, keepalived_dump

        snap = self.snapshot()
        pid = os.getpid()
        o = self.options
        if kind == "data":
            log.info("Printing VRRP data for process(%d) on signal", pid)
            files = [(o.data_file, keepalived_dump.data_text(snap))]
            if o.snapshot_file:
                try:
                    dumpfile.ensure_private_dir(os.path.dirname(os.path.abspath(o.snapshot_file)))
                except OSError:
                    pass  # reported by write_dump below
                files.append((o.snapshot_file, json.dumps(snap, indent=2) + "\n"))
        elif kind == "json":
            log.info("Printing VRRP as json for process(%d) on signal", pid)
            files = [(o.json_file, keepalived_dump.json_text(snap))]
        elif kind == "stats_clear":
            log.info("Printing and clearing VRRP stats for process(%d) on signal", pid)
            files = [(o.stats_file, keepalived_dump.stats_text(snap))]
            for router in self.routers.values():
                router.counters.clear()
        else:
            log.info("Printing VRRP stats for process(%d) on signal", pid)
            files = [(o.stats_file, keepalived_dump.stats_text(snap))]
        for path, text in files:
            try:
                refused = dumpfile.write_dump(path, text)
            except OSError as exc:  # e.g. /run/vipkeeper cannot be created
                refused = f"cannot write {path}: {exc.strerror or exc}"
            if refused:
                log.error("Not writing %s: %s", path, refused)

    # -- snapshot ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The daemon's state as `status` shows it (control/server.py), the metrics and dumps read it."""
        head, rows = self.snapshot_parts()
        head["instances"] = list(rows)
        return head

    def snapshot_parts(self) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
        """`snapshot()` in two: everything but the instances (their key is None), and the
        instances one at a time, each made when it is asked for. The control socket writes a
        status this way (control/server.py), so a thousand instances never exist as one
        structure: built whole, the status of 1,000 instances left the daemon's resident memory
        5 MiB larger (Python's allocator keeps arenas that a few long-lived objects pin)."""
        now_mono = asyncio.get_running_loop().time()
        tracking = self.tracking.snapshot() if self.tracking is not None else {}
        # once, not per instance: with 1,000 instances per instance it was a million set inserts
        # on the loop for every `status` or scrape
        owned = {v.key for v in self.addresses.owned}
        head = {
            "daemon": {
                "pid": os.getpid(), "version": __version__, "config": self.options.config_file,
                "started": self.started, "now": time.time(), "netns": self.options.netns,
                "process_tracking": tracking.get("mode", "off"),
                "reloads": self.reloads, "reload_failures": self.reload_failures,
                "last_reload_error": self.last_reload_error,
                "vips_restored": self.vips_restored,
                "vips_pending_removal": sorted(str(v) for v in self.addresses.pending_removal),
                "mail": self.mailer.snapshot() if self.mailer is not None else dict(_NO_MAIL),
                "firewall": {"table": self.firewall.table if self.firewall is not None else None,
                             "blocked": self.firewall.blocked() if self.firewall is not None else {}},
                "loop": self.loop_watch.as_dict(),
            },
            "global_defs": self._global_defs(),
            "instances": None,  # rows, below
            "process_tracker": tracking.get("process_tracker", {}),
            "scripts": tracking.get("scripts", []),
            "drops": dict(self.drops),
            "witnesses": [driver.snapshot() for driver in self.witnesses.values()],
        }
        routers = list(self.routers.values())
        return head, (self._instance_snapshot(router, owned, now_mono) for router in routers)

    def _instance_snapshot(self, router: Router, owned: set, now_mono: float) -> dict[str, Any]:
        core = router.core
        m = router.model
        master = None
        if core.state == State.MASTER:
            master = {"address": str(router.params.source_address), "priority": core.effective_priority,
                      "last_heard": time.time()}
        elif core.master_source is not None:
            master = {"address": str(core.master_source),
                      "priority": core.master_priority if core.master_priority is not None else -1,
                      "last_heard": router.master_heard}
        ep = self._endpoint_of(router)
        return {
            "name": router.name,
            "state": core.state.value,
            "since": router.state_since,
            "interface": m.interface,
            "vrid": m.virtual_router_id,
            "version": m.version,
            "family": m.family,
            "unicast": bool(m.unicast_peers),
            "base_priority": m.priority,
            "effective_priority": core.effective_priority,
            "advert_int": m.advert_int,
            "master_adver_int": core.master_adver_int_cs / 100,
            "master": master,
            "vips": [{"address": v.address.with_prefixlen, "dev": v.ifname, "present": v.key in owned}
                     for v in router.params.vips],
            "vmac": None if m.vmac_interface is None else {
                "interface": m.vmac_interface, "xmit_base": m.vmac_xmit_base,
                "present": m.vmac_interface in self.vmacs_owned},
            "virtual_routes": router.route_entries("routes"),
            "virtual_rules": router.route_entries("rules"),
            "trackers": self.tracking.trackers_of(m) if self.tracking is not None else [],
            "counters": {**router.counters.as_dict(),
                         # what the core left out under a flood (vrrp/log_limit.py)
                         "log_lines_suppressed": core.lines_suppressed,
                         "reactions_skipped": core.reactions_skipped,
                         "vip_conflicts": self.conflicts.counts.get(router.name, 0) if self.conflicts else 0},
            "vip_conflicts": self.conflicts.conflicts_of(router.name) if self.conflicts else [],
            "sync_group": m.sync_group,
            # what keepalived's dumps show (daemon/keepalived_dump.py)
            "source_address": str(router.params.source_address or ""),
            "mcast_group": None if m.unicast_peers else str(ep.key[2] if ep is not None else ""),
            "unicast_peers": [str(p) for p in m.unicast_peers],
            "garp": records.asdict(m.garp),
            "down_timer_adverts": m.down_timer_adverts,
            "lower_prio_no_advert": m.lower_prio_no_advert,
            "higher_prio_send_advert": m.higher_prio_send_advert,
            "accept": m.accept if m.accept is not None else not m.strict_mode,
            "smtp_alert": m.smtp_alert,
            "nopreempt": m.nopreempt,
            "preempt_delay": m.preempt_delay,
            "auth_type": m.authentication.auth_type if m.authentication else None,
            "dont_track_primary": m.dont_track_primary,
            "skip_check_adv_addr": m.skip_check_adv_addr,
            "strict_mode": m.strict_mode,
            "socket": self._socket_snapshot(ep),
            "witness": router.witness.claim.key if router.witness is not None else None,
            "next_deadline_in": (deadline - now_mono) if (deadline := router.next_deadline()) else None,
        }

    def _global_defs(self) -> dict[str, Any]:
        g = self.config.global_defs if self.config is not None else None
        if g is None:
            return {}
        return {
            "router_id": g.router_id,
            "vrrp_version": g.vrrp_version,
            "vrrp_mcast_group4": str(g.vrrp_mcast_group4),
            "vrrp_mcast_group6": str(g.vrrp_mcast_group6),
            "vrrp_strict": g.vrrp_strict,
            "vrrp_down_timer_adverts": g.vrrp_down_timer_adverts,
            "vrrp_skip_check_adv_addr": g.vrrp_skip_check_adv_addr,
            "vrrp_notify_priority_changes": g.vrrp_notify_priority_changes,
            "vrrp_lower_prio_no_advert": g.vrrp_lower_prio_no_advert,
            "vrrp_higher_prio_send_advert": g.vrrp_higher_prio_send_advert,
            "vrrp_check_unicast_src": g.vrrp_check_unicast_src,
            "enable_script_security": g.enable_script_security,
            "garp": records.asdict(g.garp),
        }

    def _socket_snapshot(self, ep: Endpoint | None) -> dict[str, Any] | None:
        if ep is None:
            return None
        sock = ep.socket
        announce = self.announce_errors.get(ep.ifname, collections.Counter())
        return {
            "open": sock is not None,
            "ifindex": sock.ifindex if sock is not None else None,
            "fault": ep.fault,
            "reopens": ep.reopens,
            "send_errors": sum(n for r, n in ep.errors.items() if r.startswith("send")),
            "receive_errors": sum(n for r, n in ep.errors.items() if not r.startswith("send")),
            "announce_errors": sum(announce.values()),
            "errors": {**dict(ep.errors), **{f"announce_{r}": n for r, n in announce.items()}},
        }


def _source(ep: Endpoint, model: InstanceModel) -> packet.IPAddress | None:
    """The address adverts go out from: the socket's, or the configured one while it is missing."""
    return ep.socket.src if ep.socket is not None else model.source_address


def _missing_reason(model: InstanceModel, exc: VrrpSocketError) -> str:
    """Why the instance is in FAULT, in keepalived's words."""
    if exc.errno == errno.ENODEV:
        return f"interface {model.interface} down"
    return f"no IPv{model.family} address for interface"


# Signals as keepalived 2.2.7 uses them: the numbers `keepalived --signum=NAME` prints on
# Debian 12 / glibc (measured: STATS_CLEAR 63, JSON 36; glibc's SIGRTMAX is 64, SIGRTMIN 34).
def install_signal_handlers(runtime: Runtime) -> None:
    """Every signal's handler, installed before `Runtime.start` so that none of them can kill a
    daemon that is adding VIPs. A reload asked for while starting is logged and dropped; call
    `enable_reload` once started."""
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, _stop_on, runtime, sig)
    loop.add_signal_handler(signal.SIGHUP, log.warning, "Reload requested while starting; ignored")
    for name, kind in (("DATA", "data"), ("STATS", "stats"), ("JSON", "json"), ("STATS_CLEAR", "stats_clear")):
        loop.add_signal_handler(SIGNUM[name], runtime.write_dump, kind)
    # The ignored ones (about 40, the real-time signals): a plain handler that hands the log line
    # to the loop, as asyncio's own does. Not loop.add_signal_handler: asyncio builds the set of
    # valid signals (64 enum members) on every call, 50 M instructions of start-up (issue 18).
    def ignored(sig: int, _frame: object) -> None:
        try:
            loop.call_soon_threadsafe(_ignore, sig)
        except RuntimeError:  # the loop has closed (shutting down): nothing to log to
            pass

    for sig in IGNORED_SIGNALS:
        signal.signal(sig, ignored)
        signal.siginterrupt(sig, False)  # as asyncio's handlers: system calls restart


def enable_reload(runtime: Runtime) -> None:
    """SIGHUP: reload through the runtime's one reload entry point."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(runtime.reload()))


def _stop_on(runtime: Runtime, sig: int) -> None:
    if sig not in (signal.SIGTERM, signal.SIGINT):
        log.info("Stopping on signal %s", signal.Signals(sig).name)
    runtime.request_stop()


def _ignore(sig: int) -> None:
    log.info("Ignoring signal %d (%s)", sig, signal.strsignal(sig) or sig)
