"""All trackers of one configuration, and what their states mean for each instance.

Why a hub: a tracker (a process, a script, a file, a link) may be referenced by several
instances with different weights, and a reference's meaning (weight, reverse, sync-group
forcing) is per instance. The sources (track/proc_connector, track/script, track/file, the link
watcher) report plain states here; `track/priority.py` turns them into effects; this hub sends
each instance a `TrackerChanged` only when its effect actually changed.

The process connector must be opened in the initial network namespace, before `--netns` moves
the daemon: `prepare()` does that and nothing else, so the CLI can call it at the right moment.

A tracker that many instances follow can move them all at once (one track_file flipping 100
instances to FAULT: each transition releases VIPs, logs, queues notify scripts - about a
millisecond apiece). Delivered in one callback, that stalls the loop for a tenth of a second
and every advert due meanwhile goes out late. So changes are delivered in order (first in, first
out) for at most DELIVERY_BUDGET of the callback that reported them; the rest go from a callback
of their own, one budget per loop pass, each pass after the I/O and timers that were due (so due
adverts go out between them). A change that moves a few instances is still delivered at once.
Which instances follow which tracker is indexed once per configuration, and with each follower of
an up/down tracker (process, script) what either state means to it, as the effect and the event
(shared by every follower with the same weight and direction): a lost process quorum reaches the
instance without computing or building anything (issue 18: the Master's way to its priority-0
advert).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

from vipkeeper.config.model import Config, GlobalDefs, VrrpScript
from vipkeeper.config.model import Instance as InstanceModel
from vipkeeper.net.addresses import link_state
from vipkeeper.script_launch import Vetted, resolve_identity, vet_command
from vipkeeper.script_users import ScriptUsers
from vipkeeper.track.interface import InterfaceStates
from vipkeeper.track.priority import (
    ResolvedRef,
    TrackerEffect,
    file_effect,
    instance_refs,
    up_down_effect,
)
from vipkeeper.track.connector_error import ConnectorUnavailable
from vipkeeper.vrrp.instance import TrackerChanged

if TYPE_CHECKING:  # track/proc_connector.py is imported only when a process is tracked (issue 18 memory)
    from vipkeeper.track.file import FileTracker  # likewise track/file.py for a vrrp_track_file
    from vipkeeper.track.script import ScriptRunner  # and track/script.py for a referenced vrrp_script
    from vipkeeper.track.proc_connector import ProcessConnector, ProcessTracker
    from vipkeeper.track.process_table import StatusChange

log = logging.getLogger("vipkeeper.track")

OnChange = Callable[[str, TrackerChanged], None]

# Seconds of delivering tracker changes to instances per callback (module docstring).
DELIVERY_BUDGET = 0.002

# What the two states of an up/down tracker mean to a follower: (effect, event) when down, when up
# (indexed by the state: False, True).
Outcomes = tuple[tuple[TrackerEffect, TrackerChanged], tuple[TrackerEffect, TrackerChanged]]
# A follower of a tracker: the instance, its reference, and the Outcomes of an up/down tracker.
Follower = tuple[InstanceModel, ResolvedRef, "Outcomes | None"]


def _outcomes(ref: ResolvedRef) -> Outcomes:
    down, up = up_down_effect(ref, False), up_down_effect(ref, True)
    return ((down, TrackerChanged(down.name, down.contribution, down.fault)),
            (up, TrackerChanged(up.name, up.contribution, up.fault)))


class TrackingHub:
    def __init__(self, config: Config, *, rescan_interval: float = 0.2) -> None:
        self.config = config
        self.rescan_interval = rescan_interval
        self._connector: ProcessConnector | None = None
        self._problem = ""
        self.processes: ProcessTracker | None = None
        self.scripts: dict[str, ScriptRunner] = {}
        self.disabled_scripts: set[str] = set()
        self.files: dict[str, FileTracker] = {}
        self.ifaces = InterfaceStates()
        self.proc_status: dict[str, bool | None] = {}
        self.script_status: dict[str, bool | None] = {}
        self.file_values: dict[str, int] = {}
        self.since: dict[str, float] = {}
        self._on_change: OnChange | None = None
        self._sent: dict[tuple[str, str], TrackerEffect] = {}
        self._script_seen = asyncio.Event() if _has_loop() else None
        self._stopping: set[asyncio.Task[None]] = set()
        self.script_users: ScriptUsers | None = None  # resolved with the configuration
        self._followers: dict[tuple[str, str], list[Follower]] | None = None
        self._followers_of: Config | None = None
        self._deliveries: deque[tuple[str, TrackerChanged]] = deque()
        self._pump: asyncio.TimerHandle | None = None
        self.delivery_budget = DELIVERY_BUDGET
        self.deferred_passes = 0  # loop passes that left deliveries for the next one

    # -- lifecycle ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """Open the process connector now (initial network namespace), if anything needs it."""
        if self.config.track_processes and self._connector is None and not self._problem:
            from vipkeeper.track.proc_connector import open_connector

            self._connector, self._problem = open_connector(self.config.global_defs.process_monitor_rcv_bufs)

    async def start(self, on_change: OnChange) -> None:
        self._on_change = on_change
        self._script_seen = asyncio.Event()
        await self._start_sources(self.config)
        self._followers_index()  # now, not on the first change's way to its instances (a failover's)

    async def _start_sources(self, config: Config) -> None:
        for model in config.instances:
            for ref in instance_refs(config, model):
                if ref.kind == "interface" and ref.tracker not in self.ifaces._up:
                    self.ifaces.link_changed(ref.tracker, link_state(ref.tracker).up)
        if config.track_processes and self.processes is None:
            from vipkeeper.track.proc_connector import ProcessTracker

            self.processes = ProcessTracker(
                list(config.track_processes), self._process_changed, connector=self._connector,
                connector_problem=self._problem, rescan_interval=self.rescan_interval,
                rcvbuf=config.global_defs.process_monitor_rcv_bufs,
            )
            self._connector = None  # the tracker owns it now
            initial = await self.processes.start()
            now = time.time()
            for name, up in initial.items():
                self.proc_status[name] = up
                self.since.setdefault(f"process:{name}", now)
        self._start_scripts(config)
        for spec in config.track_files:
            if spec.name in self.files:
                continue
            from vipkeeper.track.file import FileTracker

            tracker = FileTracker(spec, self._file_changed)
            self.files[spec.name] = tracker
            self.file_values[spec.name] = tracker.start()
            self.since[f"file:{spec.name}"] = time.time()

    def _start_scripts(self, config: Config) -> None:
        g = config.global_defs
        referenced = {ref.tracker for m in config.instances for ref in instance_refs(config, m) if ref.kind == "script"}
        insecure = []
        self.disabled_scripts = {n for n in self.disabled_scripts if config.script(n) is not None}
        for spec in config.scripts:
            if spec.name in self.scripts or spec.name not in referenced:
                continue
            verdict = _vet(spec, g, users=self.script_users)
            if verdict.unsafe:
                insecure.append(spec.name)
            if not verdict.ok:
                self.disabled_scripts.add(spec.name)
                continue
            self.disabled_scripts.discard(spec.name)
            from vipkeeper.track.script import ScriptRunner

            runner = ScriptRunner(spec, self._script_changed, vetted=verdict)
            self.scripts[spec.name] = runner
            self.script_status[spec.name] = runner.ok
            self.since[f"script:{spec.name}"] = time.time()
            runner.start()
        if self.scripts and not g.enable_script_security:
            log.warning("SECURITY VIOLATION - scripts are being executed but script_security not enabled.%s",
                        " There are insecure scripts." if insecure else "")

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        self._deliveries.clear()
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)
            self._stopping.clear()
        for runner in self.scripts.values():
            await runner.stop()
        self.scripts.clear()
        for tracker in self.files.values():
            tracker.stop()
        self.files.clear()
        if self.processes is not None:
            self.processes.stop()
            self.processes = None
        if self._connector is not None:
            self._connector.close()
            self._connector = None

    async def reconfigure(self, config: Config) -> bool:
        """Stage and commit in one go (see `stage`); False, with nothing changed, on failure."""
        try:
            staged = await self.stage(config)
        except (OSError, ConnectorUnavailable) as exc:
            log.error("Trackers could not be set up: %s", exc)
            return False
        self.commit(staged)
        return True

    async def stage(self, config: Config) -> TrackingStage:
        """Everything a reload needs from the trackers that can fail, made ready without touching
        the running ones: a new process tracker and new file trackers started (their reports
        held back until the commit), link states read. Raises (OSError, ConnectorUnavailable,
        anything) with nothing running changed; what it started is stopped again. Script runners
        are built and started by the commit (their users were resolved with the parse)."""
        old = self.config
        staged = TrackingStage(config)
        try:
            if tuple(config.track_processes) != tuple(old.track_processes) or \
                    (config.track_processes and self.processes is None):
                if config.track_processes:
                    from vipkeeper.track.proc_connector import ProcessTracker

                    tracker = ProcessTracker(
                        list(config.track_processes), staged.hold_process_change,
                        connector=None, connector_problem=self._problem,
                        rescan_interval=self.rescan_interval,
                        rcvbuf=config.global_defs.process_monitor_rcv_bufs,
                    )
                    staged.processes = tracker
                    staged.proc_initial = await tracker.start()
                staged.replace_processes = True
            for spec in config.track_files:
                if spec.name in self.files and old.track_file(spec.name) == spec:
                    continue
                from vipkeeper.track.file import FileTracker

                tracker = FileTracker(spec, staged.hold_file_change)
                staged.files[spec.name] = tracker
                staged.file_values[spec.name] = tracker.start()
            staged.ifaces = {
                ref.tracker: link_state(ref.tracker).up
                for model in config.instances for ref in instance_refs(config, model)
                if ref.kind == "interface" and ref.tracker not in self.ifaces._up
            }
        except BaseException:
            self.abort(staged)
            raise
        return staged

    def abort(self, staged: TrackingStage) -> None:
        """Undo `stage`: stop what it started."""
        if staged.processes is not None:
            staged.processes.stop()
            staged.processes = None
        for tracker in staged.files.values():
            tracker.stop()
        staged.files.clear()

    def commit(self, staged: TrackingStage, users: ScriptUsers | None = None) -> None:
        """Swap the staged sources in: synchronous, nothing here can fail on input. Sources that
        were changed or removed stop now (scripts finish stopping in the background)."""
        old, config = self.config, staged.config
        now = time.time()
        if staged.replace_processes:
            if self.processes is not None:
                self.processes.stop()
            self.proc_status.clear()
            self.processes = staged.processes
            for name, up in staged.proc_initial.items():
                self.proc_status[name] = up
                self.since.setdefault(f"process:{name}", now)
        for name, runner in list(self.scripts.items()):
            spec = config.script(name)
            # Unchanged scripts are checked again too: a reload re-checks every script, as
            # keepalived does, so a script made writable since the start stops running.
            if spec is None or spec != old.script(name) or \
                    not _vet(spec, config.global_defs, quiet=True, users=users or self.script_users).ok:
                task = asyncio.get_running_loop().create_task(runner.stop())
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)
                del self.scripts[name]
                self.script_status.pop(name, None)
        for name, tracker in list(self.files.items()):
            if name in staged.files or config.track_file(name) is None:
                tracker.stop()
                del self.files[name]
                self.file_values.pop(name, None)
        for name, tracker in staged.files.items():
            tracker.on_change = self._file_changed
            self.files[name] = tracker
            self.file_values[name] = staged.file_values[name]
            self.since[f"file:{name}"] = now
        for ifname, up in staged.ifaces.items():
            self.ifaces.link_changed(ifname, up)
        self.config = config
        if users is not None:
            self.script_users = users
        self._sent = {k: v for k, v in self._sent.items() if config.instance(k[0]) is not None}
        self._start_scripts(config)
        if staged.processes is not None:
            staged.processes.on_change = self._process_changed
        staged.release(self)
        self._followers_index()  # the new configuration's, before a change needs it

    # -- what instances see ------------------------------------------------------------------

    def _effect(self, ref: ResolvedRef) -> TrackerEffect | None:
        if ref.kind == "interface":
            return self.ifaces.effect(ref)
        if ref.kind == "process":
            status = self.proc_status.get(ref.tracker)
            return None if status is None else up_down_effect(ref, status)
        if ref.kind == "script":
            if ref.tracker in self.disabled_scripts:
                return None  # keepalived removes an insecure script from the instances
            status = self.script_status.get(ref.tracker)
            return None if status is None else up_down_effect(ref, status)
        if ref.kind == "file":
            return file_effect(ref, self.file_values.get(ref.tracker, 0))
        return None

    def current(self, model: InstanceModel) -> list[TrackerChanged]:
        """The events that bring a fresh instance up to date with every tracker it follows."""
        out = []
        for ref in instance_refs(self.config, model):
            effect = self._effect(ref)
            if effect is None:
                continue
            self._sent[(model.name, ref.key)] = effect
            out.append(TrackerChanged(effect.name, effect.contribution, effect.fault))
        return out

    def pending_scripts(self, model: InstanceModel) -> list[str]:
        """Weight-0 scripts this instance waits for before it may leave INIT (keepalived's
        num_script_init): starting without their verdict would mean a spurious FAULT or MASTER."""
        return [
            ref.tracker for ref in instance_refs(self.config, model)
            if ref.kind == "script" and ref.weight == 0 and ref.tracker in self.scripts
            and self.script_status.get(ref.tracker) is None
        ]

    async def wait_scripts(self, model: InstanceModel, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.pending_scripts(model) and loop.time() < deadline:
            assert self._script_seen is not None
            self._script_seen.clear()
            try:
                await asyncio.wait_for(self._script_seen.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                break

    def link_changed(self, ifname: str, up: bool) -> None:
        if self.ifaces.link_changed(ifname, up):
            self.since[f"interface:{ifname}"] = time.time()
            self._publish("interface", ifname)

    def _followers_index(self) -> dict[tuple[str, str], list[Follower]]:
        """(kind, tracker) -> the instances that follow it, with their reference and, for an
        up/down tracker, its `Outcomes`: built once per configuration (scanning every instance's
        references per change cost ~10 ms at 1,000)."""
        if self._followers is None or self._followers_of is not self.config:
            index: dict[tuple[str, str], list[Follower]] = {}
            shared: dict[ResolvedRef, Outcomes] = {}
            for model in self.config.instances:
                for ref in instance_refs(self.config, model):
                    outcomes = None
                    if ref.kind in ("process", "script"):
                        outcomes = shared.get(ref)
                        if outcomes is None:
                            outcomes = shared[ref] = _outcomes(ref)
                    index.setdefault((ref.kind, ref.tracker), []).append((model, ref, outcomes))
            self._followers, self._followers_of = index, self.config
        return self._followers

    def _publish(self, kind: str, name: str) -> None:
        if self._on_change is None:
            return
        for model, ref, _ in self._followers_index().get((kind, name), ()):
            effect = self._effect(ref)
            if effect is None:
                continue
            key = (model.name, ref.key)
            if self._sent.get(key) == effect:
                continue
            self._sent[key] = effect
            self._deliveries.append((model.name, TrackerChanged(effect.name, effect.contribution, effect.fault)))
        if self._deliveries:
            self._deliver()

    def _publish_up_down(self, kind: str, name: str, up: bool) -> None:
        """`_publish` for a process or script whose state is now `up` (and not disabled): the
        effects and events from the index, compared field by field (no call on the way)."""
        if self._on_change is None:
            return
        followers = self._followers if self._followers_of is self.config else None
        if followers is None:
            followers = self._followers_index()
        sent = self._sent
        queue = self._deliveries
        first = None
        for model, _ref, outcomes in followers.get((kind, name), ()):
            effect, event = outcomes[up]  # type: ignore[index]
            key = (model.name, effect.name)
            prev = sent.get(key)
            if prev is not None and prev.fault == effect.fault and prev.contribution == effect.contribution:
                continue
            sent[key] = effect
            if first is None and not queue:
                first = (model.name, event)  # nothing queued before it: delivered without the queue
            else:
                queue.append((model.name, event))
        if first is not None or queue:
            self._deliver(first)

    def _deliver(self, first: tuple[str, TrackerChanged] | None = None) -> None:
        """Deliver `first`, then queued changes, oldest first, for one budget; schedule the rest
        (docstring)."""
        deadline = time.perf_counter() + self.delivery_budget
        try:
            if first is not None and self._on_change is not None:
                self._on_change(*first)
                if time.perf_counter() >= deadline:
                    return
            while self._deliveries and self._on_change is not None:
                instance, event = self._deliveries.popleft()
                self._on_change(instance, event)
                if time.perf_counter() >= deadline:
                    break
        finally:
            if self._deliveries and self._pump is None:
                self.deferred_passes += 1
                loop = asyncio.get_running_loop()
                # a timer due now: the next pass runs it after the I/O and timers already due
                self._pump = loop.call_at(loop.time(), self._deliver_queued)

    def _deliver_queued(self) -> None:
        self._pump = None
        self._deliver()

    # -- sources report here -----------------------------------------------------------------

    def _process_changed(self, change: StatusChange) -> None:
        up = change.has_quorum
        if self.proc_status.get(change.name) == up:
            return
        self.proc_status[change.name] = up
        self._publish_up_down("process", change.name, up)  # first: a lost quorum may start a failover
        self.since[f"process:{change.name}"] = time.time()

    def _script_changed(self, name: str, ok: bool) -> None:
        self.script_status[name] = ok
        self.since[f"script:{name}"] = time.time()
        if self._script_seen is not None:
            self._script_seen.set()
        if name in self.disabled_scripts:
            self._publish("script", name)  # (nothing: a disabled script is no instance's)
        else:
            self._publish_up_down("script", name, ok)

    def _file_changed(self, name: str, value: int) -> None:
        self.file_values[name] = value
        self.since[f"file:{name}"] = time.time()
        self._publish("file", name)

    # -- snapshot ----------------------------------------------------------------------------

    def trackers_of(self, model: InstanceModel) -> list[dict[str, Any]]:
        out = []
        for ref in instance_refs(self.config, model):
            effect = self._effect(ref)
            if ref.kind == "process":
                status = self.proc_status.get(ref.tracker)
            elif ref.kind == "script":
                status = self.script_status.get(ref.tracker)
            elif ref.kind == "interface":
                status = self.ifaces.is_up(ref.tracker)
            else:
                status = self.file_values.get(ref.tracker, 0) == 0 if ref.weight == 0 else True
            entry: dict[str, Any] = {
                "kind": ref.kind, "name": ref.tracker,
                "state": "init" if status is None else ("up" if status else "down"),
                "weight": ref.weight, "reverse": ref.reverse,
                "contribution": effect.contribution if effect else 0,
                "fault": effect.fault if effect else False,
                "since": self.since.get(ref.key),
            }
            if ref.kind == "file":
                entry["value"] = self.file_values.get(ref.tracker, 0)
            if ref.kind == "script" and ref.tracker in self.disabled_scripts:
                entry["state"] = "disabled"
            out.append(entry)
        return out

    def snapshot(self) -> dict[str, Any]:
        proc: dict[str, Any] = {}
        mode = "off"
        if self.processes is not None:
            mode = "connector" if self.processes.mode == "connector" else "pidfd+rescan"
            c = self.processes.counters
            proc = {
                "mode": mode, "events": c.events, "rescans": c.rescans, "enobufs": c.enobufs,
                "seq_gaps": c.seq_gaps, "pidfd_exits": c.pidfd_exits, "shortages": c.shortages,
                "tracked": [
                    {"name": spec.name, "count": self.processes.table.count(spec.name),
                     "quorum": bool(self.proc_status.get(spec.name))}
                    for spec in self.config.track_processes
                ],
            }
        scripts = []
        for name, runner in self.scripts.items():
            status = self.script_status.get(name)
            scripts.append({
                "name": name, "state": "init" if status is None else ("up" if status else "down"),
                "runs": runner.runs, "failures": getattr(runner, "failures", 0), "timeouts": runner.timeouts,
                "skipped": runner.skipped, "last_duration": getattr(runner, "last_duration", None),
                "last_exit": getattr(runner, "_last_status", None),
            })
        return {"mode": mode, "process_tracker": proc, "scripts": scripts}


class TrackingStage:
    """What `TrackingHub.stage` made ready for a reload; reports of the new sources are held
    here until the commit, so a reload that fails later never shows them to an instance."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.processes: ProcessTracker | None = None
        self.proc_initial: dict[str, bool] = {}
        self.replace_processes = False
        self.files: dict[str, FileTracker] = {}
        self.file_values: dict[str, int] = {}
        self.ifaces: dict[str, bool] = {}
        self._held: list[tuple[str, Any]] = []

    def hold_process_change(self, change: StatusChange) -> None:
        self._held.append(("process", change))

    def hold_file_change(self, name: str, value: int) -> None:
        self._held.append(("file", (name, value)))

    def release(self, hub: TrackingHub) -> None:
        for kind, what in self._held:
            if kind == "process":
                hub._process_changed(what)
            else:
                hub._file_changed(*what)
        self._held.clear()


def _vet(spec: VrrpScript, g: GlobalDefs, quiet: bool = False, users: ScriptUsers | None = None) -> Vetted:
    """The verdict on a vrrp_script by keepalived's rules (script_launch.vet_command); a refusal
    is logged (`... - disabling`) unless `quiet`, and the script is then not run. `users`: the
    table resolved with the configuration (script_users.py), so no NSS lookup happens here."""
    try:
        if users is not None:
            identity = users.resolve(spec.user, spec.group, g.script_user, g.script_group,
                                     script_security=g.enable_script_security)
        else:
            identity = resolve_identity(spec.user, spec.group, g.script_user, g.script_group,
                                        script_security=g.enable_script_security)
    except LookupError as exc:
        if not quiet:
            log.error("Script %s: %s - disabling", spec.name, exc)
        return Vetted((), None, refused=str(exc))
    verdict = vet_command(spec.argv, spec.script, identity, g.enable_script_security)
    if not quiet:
        detail = f" ({'; '.join(verdict.unsafe)})" if verdict.unsafe else ""
        if verdict.refused:
            log.warning("VRRP_Script(%s) %s - disabling%s", spec.name, verdict.refused, detail)
        elif verdict.unsafe:
            log.warning("Unsafe permissions found for script '%s'%s", spec.script, detail)
    return verdict


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
