"""The SMTP relay lab behind `vipkeeper lab`: build, elect, break, watch, restore.

What it shows a new user, in order: two (or three) relay nodes on one bridge, each with its own
haproxy and postfix `master` in its own PID namespace and `vipkeeper run` tracking them; who is
Master; then a failure (the tracked haproxy killed, or the Master's daemon SIGKILLed) and the
failover as a timeline of millisecond offsets from the kill, built from what the system reports:
the daemons' own log lines for state changes, netlink address events in each node's namespace for
the VIP, and the client namespace's packet capture for gratuitous ARP. Then the repair, and the
Master preempting back.

Every wait is bounded; a phase that does not reach its expected end raises LabError with what was
seen. Nothing here decides protocol behaviour; it only watches the daemons do it.
"""

from __future__ import annotations

import ipaddress
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Self

from vipkeeper.lab import nodes as labnodes
from vipkeeper.lab.nodes import LabNode, NodeProc
from vipkeeper.lab.topology import LabError, Lan, Topology
from vipkeeper.lab.watch import AddressWatch, FrameCapture, is_vrrp_or_arp
from vipkeeper.net.frames import mac_bytes, mac_text

VIP = ipaddress.IPv4Address("192.0.2.25")
INSTANCE = "VI_SMTP"
PRIORITIES = {"node1": 150, "node2": 100, "node3": 50}
TRACK_DELAY = 1.0  # the configs' `delay` in vrrp_track_process
ADVERT_INT = 1.0
SCENARIOS = ("service", "node", "both")
_INTERESTING = ("Entering", "Quorum lost", "Quorum gained", "leftover VIP")


def config_path(node_name: str) -> Path:
    """The shipped configuration for a lab node (relay-node1.conf ...)."""
    ref = resources.files("vipkeeper.lab").joinpath("configs", f"relay-{node_name}.conf")
    return Path(str(ref))


@dataclass
class Event:
    time: float
    node: str
    kind: str  # kill, start, state, track, vip-added, vip-removed, garp, note
    text: str

    def as_dict(self, t0: float) -> dict[str, Any]:
        return {"ms": round((self.time - t0) * 1000), "node": self.node, "kind": self.kind, "text": self.text}


@dataclass
class Phase:
    name: str
    title: str
    t0: float
    events: list[Event] = field(default_factory=list)
    summary: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "t0": self.t0,
                "events": [e.as_dict(self.t0) for e in sorted(self.events, key=lambda e: e.time)],
                "summary": self.summary, **self.facts}


@dataclass
class RelayNode:
    lab: LabNode
    priority: int
    watch: AddressWatch | None = None
    logs: list[Any] = field(default_factory=list)  # every daemon log this node had

    @property
    def name(self) -> str:
        return self.lab.name

    def proc(self, name: str) -> NodeProc:
        return self.lab.procs[name]

    def holds_vip(self) -> bool:
        return self.watch is not None and self.watch.holds(VIP)


class RelayLab:
    """One lab run. Use as a context manager: leaving it (normally, on error, on Ctrl-C) cleans up."""

    def __init__(self, nodes: int = 2, progress: Callable[[str], None] | None = None) -> None:
        if nodes not in (2, 3):
            raise LabError("the lab has 2 or 3 nodes")
        self.count = nodes
        self.progress = progress or (lambda _msg: None)
        self.topo = Topology()
        self.workdir = labnodes.make_workdir()
        self.nodes: list[RelayNode] = []
        self.lan: Lan | None = None
        self.capture: FrameCapture | None = None
        self.phases: list[Phase] = []
        self.started = time.time()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building ------------------------------------------------------------------------
    def build(self) -> Phase:
        t0 = time.time()
        names = [f"node{i}" for i in range(1, self.count + 1)]
        self.lan = self.topo.add_bridge_lan(names, client="client", ipv6=False)
        self.capture = FrameCapture(self.lan.client.ns, self.lan.client.ifname, is_vrrp_or_arp)  # type: ignore[union-attr]
        phase = Phase("setup", "Setup", t0)
        for node in self.lan.nodes:
            rn = RelayNode(LabNode(self.topo, node, self.workdir / node.name), PRIORITIES[node.name])
            rn.lab.start_init()
            rn.watch = AddressWatch(node.ns)
            self.nodes.append(rn)
        for rn in self.nodes:
            hap = labnodes.start_haproxy(rn.lab)
            pfx = labnodes.start_postfix(rn.lab)
            phase.events.append(Event(time.time(), rn.name, "start", f"haproxy pid {hap.pid}, postfix master pid {pfx.pid}"))
        for rn in self.nodes:
            self._start_daemon(rn, phase)
        phase.facts["nodes"] = [self.describe(rn) for rn in self.nodes]
        phase.facts["client"] = str(self.lan.client.ipv4)  # type: ignore[union-attr]
        phase.facts["namespaces"] = f"{self.topo.prefix}-*"
        phase.facts["workdir"] = str(self.workdir)
        self.phases.append(phase)
        return phase

    def describe(self, rn: RelayNode) -> dict[str, Any]:
        procs = {name: p.pid for name, p in rn.lab.procs.items()}
        return {"name": rn.name, "address": str(rn.lab.node.ipv4.ip), "mac": rn.lab.node.mac,
                "priority": rn.priority, "namespace": rn.lab.ns, "pids": procs}

    def _start_daemon(self, rn: RelayNode, phase: Phase) -> NodeProc:
        proc = labnodes.start_daemon(rn.lab, config_path(rn.name))
        rn.logs.append(proc.log)
        phase.events.append(Event(time.time(), rn.name, "start", f"vipkeeper pid {proc.pid} ({config_path(rn.name).name})"))
        return proc

    # -- observing -----------------------------------------------------------------------
    def expected_master(self, excluding: set[str] = frozenset()) -> RelayNode:  # type: ignore[assignment]
        return max((rn for rn in self.nodes if rn.name not in excluding), key=lambda rn: rn.priority)

    def state_of(self, rn: RelayNode) -> str | None:
        for log in reversed(rn.logs):
            st = log.state(INSTANCE)
            if st:
                return st
        return None

    def wait_settled(self, master: RelayNode, timeout: float, what: str) -> None:
        """Until `master` holds the VIP and says MASTER, and no other node holds the VIP."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_daemons()
            others = [rn for rn in self.nodes if rn is not master and rn.holds_vip()]
            if master.holds_vip() and self.state_of(master) == "MASTER" and not others:
                return
            if time.monotonic() >= deadline:
                seen = ", ".join(f"{rn.name}: {self.state_of(rn) or '?'}{' +VIP' if rn.holds_vip() else ''}"
                                 for rn in self.nodes)
                raise LabError(f"{what}: {master.name} not sole Master with the VIP within {timeout:g}s ({seen})")
            time.sleep(0.005)

    def _check_daemons(self) -> None:
        for rn in self.nodes:
            proc = rn.lab.procs.get("daemon")
            if proc is not None and not proc.handle.running:
                tail = "\n".join(proc.log.text().splitlines()[-5:]) if proc.log else ""
                raise LabError(f"vipkeeper on {rn.name} exited unexpectedly:\n{tail}")

    def collect(self, phase: Phase, until: float | None = None) -> None:
        """Fill `phase` with what daemons, netlink and the capture reported since its start."""
        t0 = phase.t0
        end = until or time.time()
        by_mac = {mac_bytes(rn.lab.node.mac): rn.name for rn in self.nodes}
        for rn in self.nodes:
            for log in rn.logs:
                for line in log.snapshot():
                    if t0 <= line.time <= end and any(k in line.text for k in _INTERESTING):
                        text = line.text.split(": ", 1)[-1]
                        phase.events.append(Event(line.time, rn.name, "state" if line.state else "track", text))
            assert rn.watch is not None
            for ev in list(rn.watch.events):
                if ev.address == VIP and t0 <= ev.time <= end:
                    phase.events.append(Event(ev.time, rn.name, "vip-added" if ev.added else "vip-removed",
                                              f"VIP {VIP} {'added' if ev.added else 'removed'} (netlink)"))
        assert self.capture is not None
        garps = [f for f in self.capture.garps(VIP, after=t0) if f.time <= end]
        bursts: list[list[Any]] = []
        for frame in garps:
            if bursts and frame.time - bursts[-1][-1].time < 0.5 and frame.src_mac == bursts[-1][0].src_mac:
                bursts[-1].append(frame)
            else:
                bursts.append([frame])
        for burst in bursts:
            sender = by_mac.get(burst[0].src_mac, mac_text(burst[0].src_mac))
            phase.events.append(Event(burst[0].time, "client", "garp",
                                      f"gratuitous ARP {VIP} is-at {mac_text(burst[0].src_mac)} ({sender})"
                                      + (f", {len(burst)} frames" if len(burst) > 1 else "")))

    def first(self, phase: Phase, kind: str, node: str | None = None, contains: str = "") -> float | None:
        times = [e.time for e in phase.events
                 if e.kind == kind and (node is None or e.node == node) and contains in e.text]
        return min(times) - phase.t0 if times else None

    def _wait_garp(self, after: float, timeout: float = 1.5) -> None:
        assert self.capture is not None
        self.capture.wait(lambda: self.capture.garps(VIP, after=after), timeout)  # type: ignore[union-attr]

    def _linger(self, seconds: float) -> None:
        """Let trailing events (a last GARP, the old Master's log line) arrive; bounded."""
        time.sleep(seconds)

    # -- phases --------------------------------------------------------------------------
    def election(self) -> Phase:
        phase = Phase("election", "Election", self.phases[0].t0 if self.phases else time.time())
        master = self.expected_master()
        self.wait_settled(master, 3 * ADVERT_INT + 3.0, "election")
        self._wait_garp(phase.t0)
        self.collect(phase)
        phase.events = [e for e in phase.events if e.kind in ("state", "vip-added", "garp")]
        phase.facts["master"] = master.name
        phase.facts["states"] = {rn.name: self.state_of(rn) for rn in self.nodes}
        phase.summary = f"{master.name} is Master and holds {VIP}"
        self.phases.append(phase)
        return phase

    def kill_service(self) -> Phase:
        old = self.expected_master()
        new = self.expected_master({old.name})
        hap = old.proc("haproxy")
        phase = Phase("service-failover", f"Failover: SIGKILL haproxy on {old.name}", 0.0)
        phase.t0 = hap.kill(signal.SIGKILL)
        phase.events.append(Event(phase.t0, old.name, "kill", f"haproxy (pid {hap.pid}) killed with SIGKILL"))
        hap.wait(2.0)
        self.wait_settled(new, TRACK_DELAY + 3 * ADVERT_INT + 3.0, "failover")
        self._wait_garp(phase.t0)
        self._linger(0.15)
        self.collect(phase)
        self._summarise_move(phase, old, new, note=f"incl. the {TRACK_DELAY:g} s track_process delay")
        self.phases.append(phase)
        return phase

    def restore_service(self) -> Phase:
        home = self.expected_master()
        phase = Phase("service-restore", f"Restore: start haproxy on {home.name}", time.time())
        hap = labnodes.start_haproxy(home.lab)
        phase.events.append(Event(phase.t0, home.name, "start", f"haproxy started (pid {hap.pid})"))
        self.wait_settled(home, 3 * ADVERT_INT + 3.0, "preempt back")
        self._wait_garp(phase.t0)
        self._linger(0.15)
        self.collect(phase)
        self._summarise_move(phase, None, home, note="preempted back")
        self.phases.append(phase)
        return phase

    def kill_daemon(self) -> Phase:
        old = self.expected_master()
        new = self.expected_master({old.name})
        daemon = old.proc("daemon")
        phase = Phase("node-failover", f"Failover: SIGKILL vipkeeper on {old.name}", 0.0)
        phase.t0 = daemon.kill(signal.SIGKILL)
        phase.events.append(Event(phase.t0, old.name, "kill", f"vipkeeper (pid {daemon.pid}) killed with SIGKILL"))
        daemon.wait(2.0)
        old.lab.procs.pop("daemon")
        # The killed daemon cannot remove its VIP; the new Master must take it anyway.
        deadline = time.monotonic() + 3 * ADVERT_INT + 3.0
        while not (new.holds_vip() and self.state_of(new) == "MASTER"):
            if time.monotonic() >= deadline:
                raise LabError(f"failover: {new.name} did not take over after the Master's daemon was killed")
            self._check_daemons()
            time.sleep(0.005)
        self._wait_garp(phase.t0 + 0.001)
        self._linger(0.15)
        self.collect(phase)
        self._summarise_move(phase, old, new, note=f"master-down interval {3 * ADVERT_INT + (256 - new.priority) / 256:.2f} s")
        if old.holds_vip():
            phase.facts["left_behind"] = old.name
            phase.summary += f"; {VIP} is still on {old.name}: a SIGKILLed daemon cannot remove it"
        self.phases.append(phase)
        return phase

    def restore_daemon(self) -> Phase:
        home = self.expected_master()
        phase = Phase("node-restore", f"Restore: start vipkeeper on {home.name}", time.time())
        self._start_daemon(home, phase)
        phase.events[-1].time = phase.t0
        self.wait_settled(home, 3 * ADVERT_INT + 4.0, "preempt back")
        self._wait_garp(phase.t0)
        self._linger(0.15)
        self.collect(phase)
        self._summarise_move(phase, None, home, note="preempted back")
        self.phases.append(phase)
        return phase

    def _summarise_move(self, phase: Phase, old: RelayNode | None, new: RelayNode, note: str) -> None:
        added = self.first(phase, "vip-added", new.name)
        removed = self.first(phase, "vip-removed", old.name) if old else None
        garp = self.first(phase, "garp", contains=f"({new.name})")
        phase.facts.update({"master": new.name, "vip_added_ms": _ms(added), "vip_removed_ms": _ms(removed),
                            "garp_ms": _ms(garp)})
        parts = [f"{VIP} on {new.name} after {_ms(added)} ms" if added is not None else f"{VIP} on {new.name}"]
        if garp is not None:
            parts.append(f"client saw GARP at {_ms(garp)} ms")
        phase.summary = "; ".join(parts) + f" ({note})"

    # -- running ---------------------------------------------------------------------------
    def run(self, scenario: str) -> list[Phase]:
        if scenario not in SCENARIOS:
            raise LabError(f"unknown scenario {scenario!r} (choose from {', '.join(SCENARIOS)})")
        self.progress("setup")
        self.build()
        self.progress("election")
        self.election()
        if scenario in ("service", "both"):
            self.progress("service-failover")
            self.kill_service()
            self.progress("service-restore")
            self.restore_service()
        if scenario in ("node", "both"):
            self.progress("node-failover")
            self.kill_daemon()
            self.progress("node-restore")
            self.restore_daemon()
        return self.phases

    def close(self) -> None:
        """Stop everything by PID, delete the namespaces and the work directory. Idempotent."""
        watchers = [rn.watch for rn in self.nodes if rn.watch is not None]
        for w in watchers:
            w.close()
        if self.capture is not None:
            self.capture.close()
        self.topo.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)
