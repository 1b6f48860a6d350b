"""`vipkeeper doctor`: read keepalived's (and vipkeeper's) log lines and say what went wrong.

Rules
- Input is `LogLine`s from one or several nodes (log_reader.py); output is findings with the
  lines that prove them (FILE:LINE) and a merged timeline of the events that matter. Pure: no
  clock, no files; "now" is the last time stamp seen.
- Wording matched is keepalived 2.2.7's (keepalived-notes.md), which vipkeeper also logs:
  `(VI_1) Entering MASTER STATE`, older `VRRP_Instance(VI_1) Entering ...` too.
- Finding ids are stable, VK5xx. Thresholds are parameters (`Thresholds`) with defaults that
  keep a normal preemption or failover quiet.

Theory of operation: every line is classified once by a table of (regex, kind). State lines
build, per (node, instance), a list of state periods; MASTER periods of different nodes for the
same instance are intersected to find split brain; transitions are counted in a sliding minute
to find flapping. Every other kind is grouped and turned into one finding per (kind, node,
subject) with up to `MAX_EVIDENCE` example lines.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from vipkeeper.config.model import Where

from .findings import Finding, Level
from .log_reader import LogLine

MAX_EVIDENCE = 6


@dataclass(frozen=True)
class Thresholds:
    overlap: float = 2.0  # seconds two MASTERs may overlap before it is split brain
    flaps_per_minute: int = 4  # state transitions of one instance within any 60 s
    script_flaps_per_minute: int = 4  # script OK<->KO changes within any 60 s


@dataclass(frozen=True)
class Event:
    """A classified line."""

    kind: str
    line: LogLine
    subject: str = ""  # instance or script or tracker name
    detail: str = ""

    @property
    def ts(self) -> float:
        return self.line.ts if self.line.ts is not None else 0.0


@dataclass(frozen=True)
class Report:
    findings: list[Finding]
    timeline: list[Event] = field(default_factory=list)
    nodes: tuple[str, ...] = ()


_I = r"(?:VRRP_Instance)?\((?P<inst>[^)]+)\)"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("state", re.compile(_I + r" Entering (?P<state>MASTER|BACKUP|FAULT) STATE(?P<init> \(init\))?")),
    ("stopping", re.compile(r"^(?:Stopping|Stopped)\b")),
    ("starting", re.compile(r"^Starting (?:Keepalived|VRRP child process|vipkeeper)")),
    ("sent_prio0", re.compile(_I + r" sent 0 priority")),
    ("rx_prio0", re.compile(_I + r" (?:Backup received priority 0 advertisement|Master received priority 0 message)")),
    ("lower_prio", re.compile(_I + r" (?:Received advert from (?P<ip>\S+) with lower priority (?P<p>\d+), ours (?P<q>\d+)"
                              r"|received lower priority \((?P<p2>\d+)\) advert from (?P<ip2>\S+))")),
    ("higher_prio", re.compile(_I + r" Master received advert from (?P<ip>\S+) with (?:higher priority (?P<p>\d+)"
                               r"|same priority)")),
    ("interval_mismatch", re.compile(r"(?:" + _I + r" )?advertisement interval mismatch(?P<rest>.*)", re.I)),
    ("auth_mismatch", re.compile(r"(?:" + _I + r" )?.*(?:invalid passwd|auth(?:entication)? type mismatch"
                                 r"|invalid auth|bad auth)", re.I)),
    ("vip_mismatch", re.compile(r"(?:" + _I + r" )?.*ip address associated with VRID not present", re.I)),
    ("version_mismatch", re.compile(r"(?:" + _I + r" )?.*(?:wrong VRRP version|invalid version|version mismatch)", re.I)),
    ("owner_conflict", re.compile(r"both configured as address owner")),
    ("script_failed", re.compile(r"VRRP_Script\((?P<script>[^)]+)\) (?:failed(?P<why> \(.*\))?|timed_out)")),
    ("script_ok", re.compile(r"VRRP_Script\((?P<script>[^)]+)\) succeeded")),
    ("script_timeout", re.compile(r"VRRP_Script\((?P<script>[^)]+)\) timed_out")),
    ("script_stuck", re.compile(r"Script (?P<script>\S+) child \(PID \d+\) failed to terminate")),
    ("script_skip", re.compile(r"Track script (?P<script>\S+) is (?:already running|being timed out)")),
    ("script_disabled", re.compile(r"(?:Unsafe permissions found for script '(?P<s1>[^']+)'.*disabling"
                                   r"|Cannot find script (?P<s2>\S+).*disabling"
                                   r"|script '(?P<s3>[^']+)' is not executable.*disabling)")),
    ("pidof_race", re.compile(r"can't read from /proc/(?P<pid>\d+)/stat")),
    ("unknown_keyword", re.compile(r"Unknown keyword '(?P<kw>[^']+)'")),
    ("security_violation", re.compile(r"SECURITY VIOLATION")),
    ("connector", re.compile(r"Failed to set/clear process event listen - errno (?P<errno>\d+)")),
    ("quorum_lost", re.compile(r"Quorum lost for tracked process (?P<proc>\S+)")),
    ("quorum_gained", re.compile(r"Quorum gained for tracked process (?P<proc>\S+)")),
    ("thread_late", re.compile(r"VRRP thread timer expired")),
    ("priority_change", re.compile(_I + r" Changing effective priority from (?P<a>\d+) to (?P<b>\d+)")),
    # vipkeeper's VIP conflict detection (daemon/vip_conflicts.py)
    ("vip_conflict", re.compile(_I + r" VIP conflict: (?P<vip>\S+) is also answered by (?P<mac>\S+)")),
    ("vip_conflict_end", re.compile(_I + r" VIP conflict on (?P<vip>\S+) with (?P<mac>\S+) ended")),
    # vipkeeper's quorum witness (witness/driver.py)
    ("witness_acquired", re.compile(_I + r" witness key (?P<key>\S+) acquired")),
    ("witness_waiting", re.compile(_I + r" witness key (?P<key>\S+) is held by (?P<holder>\S+) - waiting")),
    ("witness_lost", re.compile(_I + r" witness key (?P<key>\S+) not held - VIPs removed")),
    ("witness_released", re.compile(_I + r" witness key (?P<key>\S+) released")),
    ("witness_degraded", re.compile(_I + r" witness (?P<w>\S+) unreachable - DEGRADED")),
    ("witness_fault", re.compile(_I + r" witness (?P<w>\S+) unreachable - FAULT")),
]
_TIMELINE_KINDS = frozenset({
    "state", "stopping", "starting", "sent_prio0", "rx_prio0", "lower_prio", "higher_prio", "script_failed",
    "script_ok", "script_stuck", "pidof_race", "connector", "quorum_lost", "quorum_gained", "priority_change",
    "thread_late", "owner_conflict", "interval_mismatch", "auth_mismatch", "script_disabled",
    "vip_conflict", "vip_conflict_end",
    "witness_acquired", "witness_waiting", "witness_lost", "witness_degraded", "witness_fault",
})


def classify(line: LogLine) -> Event | None:
    for kind, pattern in _PATTERNS:
        m = pattern.search(line.message)
        if not m:
            continue
        groups = {k: v for k, v in m.groupdict().items() if v}
        subject = (groups.get("inst") or groups.get("script") or groups.get("s1") or groups.get("s2")
                   or groups.get("s3") or groups.get("proc") or groups.get("kw") or "")
        detail = groups.get("state", "") or groups.get("holder", "")
        if kind == "script_failed" and "timed_out" in line.message:
            kind = "script_timeout"
        return Event(kind, line, subject, detail)
    return None


def _ev(events: list[Event]) -> tuple[str, ...]:
    return tuple(f"{e.line.where}: [{e.line.node}] {e.line.message}" for e in events[:MAX_EVIDENCE])


def _fmt_ts(ts: float) -> str:
    import time as _time

    whole = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(ts))
    return f"{whole}.{int(round((ts % 1) * 1000)) % 1000:03d}Z"


def _finding(rule: str, sev: Level, events: list[Event], message: str, fix: str) -> Finding:
    where = events[0].line.where if events else Where("<log>", 0)
    return Finding(rule, sev, where, message, fix, (), _ev(events))


@dataclass
class _Period:
    node: str
    instance: str
    state: str
    start: float
    end: float | None
    start_event: Event
    end_event: Event | None = None


def _periods(events: list[Event], last_ts: dict[str, float]) -> list[_Period]:
    """State periods per (node, instance); a stop or restart of the daemon ends them all."""
    open_: dict[tuple[str, str], _Period] = {}
    out: list[_Period] = []
    for e in events:
        node = e.line.node
        if e.kind == "state":
            key = (node, e.subject)
            prev = open_.pop(key, None)
            if prev is not None:
                prev.end, prev.end_event = e.ts, e
                out.append(prev)
            open_[key] = _Period(node, e.subject, e.detail, e.ts, None, e)
        elif e.kind in ("stopping", "starting", "sent_prio0"):
            for key in [k for k in open_ if k[0] == node and (e.kind != "sent_prio0" or k[1] == e.subject)]:
                prev = open_.pop(key)
                prev.end, prev.end_event = e.ts, e
                out.append(prev)
    for p in open_.values():
        p.end = last_ts.get(p.node, p.start)
        out.append(p)
    return out


def _without_key(p: _Period, events: list[Event]) -> bool:
    """A MASTER period in which the quorum witness kept the VIPs off: the node logged that
    another held the key and never that it acquired it."""
    def inside(e: Event) -> bool:
        return (e.line.node == p.node and e.subject == p.instance and e.ts >= p.start
                and (p.end is None or e.ts <= p.end))
    waited = any(e.kind == "witness_waiting" and inside(e) for e in events)
    return waited and not any(e.kind == "witness_acquired" and inside(e) for e in events)


def _split_brain(periods: list[_Period], th: Thresholds, events: list[Event] = ()) -> list[Finding]:  # type: ignore[assignment]
    findings = []
    masters: dict[str, list[_Period]] = defaultdict(list)
    for p in periods:
        if p.state == "MASTER" and not _without_key(p, list(events)):
            masters[p.instance].append(p)
    for inst, ps in sorted(masters.items()):
        ps.sort(key=lambda p: p.start)
        for i, a in enumerate(ps):
            for b in ps[i + 1:]:
                if a.node == b.node:
                    continue
                start, end = max(a.start, b.start), min(a.end or a.start, b.end or b.start)
                if end - start <= th.overlap:
                    continue
                still = (a.end_event is None or b.end_event is None)
                evidence = [a.start_event, b.start_event] + [x for x in (a.end_event, b.end_event) if x]
                evidence.sort(key=lambda e: e.ts)
                findings.append(_finding(
                    "VK501", "error", evidence,
                    f"({inst}) two MASTERs at once: {a.node} and {b.node} from {_fmt_ts(start)} to "
                    f"{_fmt_ts(end)}{' (end of log)' if still else ''}, {end - start:.1f}s: both hold the VIP "
                    "(split brain)",
                    "the nodes did not hear each other's adverts: check VRRP (IP protocol 112) is not filtered "
                    "between them, the same VRID/version/advert_int/authentication, unicast peers pointing at "
                    "each other (`vipkeeper lint` both configs)",
                ))
    return findings


def _max_in_window(times: list[float], window: float = 60.0) -> tuple[int, int]:
    """Largest count of stamps within `window`, and the index where that window starts."""
    best, best_i, j = 0, 0, 0
    for i in range(len(times)):
        while times[i] - times[j] > window:
            j += 1
        if i - j + 1 > best:
            best, best_i = i - j + 1, j
    return best, best_i


def _flapping(events: list[Event], th: Thresholds) -> list[Finding]:
    findings = []
    by_key: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in events:
        if e.kind == "state" and "(init)" not in e.line.message:
            by_key[(e.line.node, e.subject)].append(e)
    for (node, inst), evs in sorted(by_key.items()):
        count, start = _max_in_window([e.ts for e in evs])
        if count >= th.flaps_per_minute:
            window = evs[start:start + count]
            findings.append(_finding(
                "VK502", "warning", window,
                f"({inst}) on {node}: {count} state changes within one minute (threshold "
                f"{th.flaps_per_minute}); the VIP keeps moving",
                "find what drives it in the timeline (a script failing and recovering, priority changes, lost "
                "adverts); add rise/fall to flapping scripts, `delay` to vrrp_track_process",
            ))
    return findings


def _scripts(events: list[Event], th: Thresholds) -> list[Finding]:
    findings = []
    changes: dict[tuple[str, str], list[Event]] = defaultdict(list)
    failures: dict[tuple[str, str], list[Event]] = defaultdict(list)
    timeouts: dict[tuple[str, str], list[Event]] = defaultdict(list)
    stuck: dict[tuple[str, str], list[Event]] = defaultdict(list)
    skips: dict[tuple[str, str], list[Event]] = defaultdict(list)
    disabled: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in events:
        key = (e.line.node, e.subject)
        if e.kind in ("script_failed", "script_ok", "script_timeout"):
            changes[key].append(e)
        if e.kind == "script_failed":
            failures[key].append(e)
        elif e.kind == "script_timeout":
            timeouts[key].append(e)
        elif e.kind == "script_stuck":
            stuck[key].append(e)
        elif e.kind == "script_skip":
            skips[key].append(e)
        elif e.kind == "script_disabled":
            disabled[key].append(e)
    for (node, script), evs in sorted(changes.items()):
        count, start = _max_in_window([e.ts for e in evs])
        if count >= th.script_flaps_per_minute:
            findings.append(_finding(
                "VK503", "warning", evs[start:start + count],
                f"vrrp_script {script} on {node} flaps: {count} changes between OK and failed within one minute",
                "add `rise 2`/`fall 3` (or more) to the vrrp_script; if it checks a process, use "
                "vrrp_track_process (event driven) instead",
            ))
        elif (node, script) in failures:
            fails = failures[(node, script)]
            findings.append(_finding(
                "VK504", "warning", fails,
                f"vrrp_script {script} on {node} failed {len(fails)} time(s)",
                "see the evidence for the exit status; run the script by hand as the script user",
            ))
    for (node, script), evs in sorted(timeouts.items()):
        findings.append(_finding(
            "VK505", "warning", evs,
            f"vrrp_script {script} on {node} timed out {len(evs)} time(s): keepalived killed it and counted a "
            "failure",
            "find what blocks the script (DNS, a hung mount, a slow service); keep timeout below interval",
        ))
    for (node, script), evs in sorted(skips.items()):
        findings.append(_finding(
            "VK505", "warning", evs,
            f"vrrp_script {script} on {node} was still running at its next interval {len(evs)} time(s); runs "
            "were skipped",
            "make the script faster, or set a timeout shorter than the interval",
        ))
    for (node, script), evs in sorted(stuck.items()):
        findings.append(_finding(
            "VK506", "error", evs,
            f"vrrp_script {script} on {node}: a run could not be killed ('failed to terminate after kill'); "
            "the check is stuck (process in uninterruptible sleep?)",
            "look for a hung NFS mount or device the script touches; do not read such paths in checks",
        ))
    for (node, script), evs in sorted(disabled.items()):
        findings.append(_finding(
            "VK507", "error", evs,
            f"script {script} on {node} was disabled by keepalived: the instance no longer tracks it",
            "fix the path/permissions (root-owned, not group/world-writable, executable); `vipkeeper lint` "
            "checks this",
        ))
    return findings


def _grouped(events: list[Event], kind: str, rule: str, sev: Level, message: str, fix: str,
             per_subject: bool = False) -> list[Finding]:
    groups: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in events:
        if e.kind == kind:
            groups[(e.line.node, e.subject if per_subject else "")].append(e)
    out = []
    for (node, subject), evs in sorted(groups.items()):
        out.append(_finding(rule, sev, evs, message.format(node=node, subject=subject, n=len(evs)), fix))
    return out


def _quorum_bounce(events: list[Event]) -> list[Finding]:
    """Quorum lost and gained again within 5 s: a restart that a `delay` would ride out."""
    out = []
    lost: dict[tuple[str, str], Event] = {}
    bounces: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in events:
        key = (e.line.node, e.subject)
        if e.kind == "quorum_lost":
            lost[key] = e
        elif e.kind == "quorum_gained" and key in lost and e.ts - lost[key].ts <= 5.0:
            bounces[key] += [lost.pop(key), e]
    for (node, proc), evs in sorted(bounces.items()):
        out.append(_finding(
            "VK513", "warning", evs,
            f"tracked process {proc} on {node} lost and regained quorum within seconds {len(evs) // 2} time(s): "
            "a restart or reload moved the VIP",
            "add `delay 1` (or terminate_delay) to the vrrp_track_process block",
        ))
    return out


def diagnose(lines: list[LogLine], th: Thresholds = Thresholds()) -> Report:
    """All findings over the lines of every node, and the merged timeline."""
    ordered = sorted(lines, key=lambda l: (l.ts if l.ts is not None else 0.0))
    events = [e for e in (classify(l) for l in ordered) if e is not None]
    last_ts: dict[str, float] = {}
    for l in ordered:
        if l.ts is not None:
            last_ts[l.node] = max(last_ts.get(l.node, l.ts), l.ts)
    findings: list[Finding] = []
    findings += _split_brain(_periods(events, last_ts), th, events)
    findings += _flapping(events, th)
    findings += _scripts(events, th)
    findings += _grouped(
        events, "pidof_race", "VK508", "error",
        "pidof on {node} hit a process that exited during its /proc scan ('can't read from /proc/NNN/stat', "
        "{n} time(s)): a check script built on pidof's output reads that as 'service down'",
        "track the process with vrrp_track_process (with `delay`), or call `vipkeeper pidcheck NAME` "
        "(race-free) instead of pidof; never test pidof's output",
    )
    findings += _grouped(
        events, "connector", "VK509", "error",
        "the process connector refused the subscription on {node} ('Failed to set/clear process event listen "
        "- errno 111'): it only answers in the initial network namespace, so vrrp_track_process cannot work "
        "and its instances stay in FAULT",
        "run the daemon in the host namespace (vipkeeper: `run --netns NAME` opens the connector first), or "
        "check those processes with a vrrp_script calling `vipkeeper pidcheck NAME`",
    )
    findings += _grouped(
        events, "lower_prio", "VK510", "warning",
        "({subject}) on {node}: {n} advert(s) with a lower priority than ours: another node believed it was "
        "MASTER (a split brain healing, or a node that never hears us)",
        "look at the timeline around these lines for the other node's MASTER period", per_subject=True,
    )
    findings += _grouped(
        events, "rx_prio0", "VK511", "info",
        "({subject}) on {node}: {n} priority-0 advert(s) received: the MASTER left on purpose (stop, FAULT, "
        "reload) and handed over", "none; check the other node's log for why it left", per_subject=True,
    )
    findings += _grouped(
        events, "sent_prio0", "VK511", "info",
        "({subject}) on {node}: sent priority 0 {n} time(s): left MASTER on purpose and handed the VIP over",
        "none; look just before these lines for the cause (stop, FAULT)", per_subject=True,
    )
    findings += _grouped(
        events, "interval_mismatch", "VK512", "error",
        "advertisement interval mismatch on {node} ({n} line(s)): VRRPv2 drops these adverts, so the nodes "
        "ignore each other and both may become MASTER", "use one advert_int on every node",
    )
    findings += _grouped(
        events, "auth_mismatch", "VK512", "error",
        "authentication mismatch on {node} ({n} line(s)): adverts dropped, both nodes may become MASTER",
        "use the same authentication block on every node",
    )
    findings += _grouped(
        events, "version_mismatch", "VK512", "error",
        "VRRP version mismatch on {node} ({n} line(s)): adverts dropped",
        "use the same `version` in every node's instance (`vrrp_version` inside an instance is ignored)",
    )
    findings += _grouped(
        events, "vip_mismatch", "VK512", "warning",
        "the VIP list in the peer's adverts differs from ours on {node} ({n} line(s))",
        "list the same virtual_ipaddress entries on every node",
    )
    findings += _grouped(
        events, "owner_conflict", "VK512", "error",
        "two nodes configured as address owner (priority 255) on {node}", "only one node may use priority 255",
    )
    findings += _quorum_bounce(events)
    findings += _grouped(
        events, "vip_conflict", "VK517", "error",
        "({subject}) on {node}: another MAC answered for a VIP this MASTER held ({n} time(s)): a second "
        "MASTER (split brain) or a host configured with the VIP", per_subject=True,
        fix="run `vipkeeper watch IFACE` on the LAN to see who advertises and answers, and "
            "`vipkeeper doctor --host -f CONF` on each node (a firewall dropping IP protocol 112?)",
    )
    findings += _grouped(
        events, "unknown_keyword", "VK514", "warning",
        "keepalived on {node} ignored keyword '{subject}': the line has no effect", per_subject=True,
        fix="fix the spelling or move it to the right block (`vrrp_version` belongs in global_defs; use "
            "`version` in an instance); `vipkeeper lint` shows these",
    )
    findings += _grouped(
        events, "security_violation", "VK515", "info",
        "scripts run without enable_script_security on {node} ({n} start(s))",
        "add enable_script_security to global_defs, with root-owned scripts",
    )
    findings += _grouped(
        events, "thread_late", "VK516", "warning",
        "keepalived's VRRP thread ran late on {node} ({n} time(s)) and a MASTER stepped down: the machine "
        "was too busy to send adverts", "find the load (check scripts forking too often?), raise advert_int",
    )
    findings += _grouped(
        events, "witness_waiting", "VK520", "info",
        "({subject}) on {node}: VRRP MASTER {n} time(s) while another router held the witness key: the "
        "routers did not hear each other and the quorum witness kept the VIP on one of them",
        "check why VRRP adverts did not pass between the routers (timeline); the witness did its job",
        per_subject=True,
    )
    findings += _grouped(
        events, "witness_lost", "VK521", "warning",
        "({subject}) on {node}: the witness key was lost while MASTER ({n} time(s)): its VIPs were removed "
        "(etcd majority unreachable from this node, or the lease expired)",
        "check this node's path to the etcd members and the etcd cluster's health", per_subject=True,
    )
    findings += _grouped(
        events, "witness_degraded", "VK522", "warning",
        "({subject}) on {node}: etcd unreachable, running as plain VRRP (fail_open) {n} time(s): no split-brain "
        "protection meanwhile", "restore the etcd quorum or the path to it", per_subject=True,
    )
    findings += _grouped(
        events, "witness_fault", "VK522", "error",
        "({subject}) on {node}: etcd unreachable, instance in FAULT (fail_closed) {n} time(s): no VIP on "
        "this node meanwhile", "restore the etcd quorum or the path to it", per_subject=True,
    )
    timeline = [e for e in events if e.kind in _TIMELINE_KINDS]
    nodes = tuple(sorted({l.node for l in lines}))
    return Report(findings, timeline, nodes)


def timeline_text(events: list[Event]) -> list[str]:
    return [f"{_fmt_ts(e.ts)} {e.line.node:<12} {e.line.message}   ({e.line.where})" for e in events]


def timeline_json(events: list[Event]) -> list[dict[str, object]]:
    return [{"ts": e.ts, "time": _fmt_ts(e.ts), "node": e.line.node, "kind": e.kind, "subject": e.subject,
             "message": e.line.message, "file": e.line.where.file, "line": e.line.where.line} for e in events]
