"""The metric families exactly as control/metrics.py built them with prometheus_client (before issue 18).

A frozen copy, kept only as the reference test_exposition.py renders with prometheus_client's
`generate_latest` and compares our own writer's page against; it is not used by the product.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector

log = logging.getLogger("vipkeeper.metrics.reference")

STATE_NUMBERS = {"INIT": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3, "STOP": 4}
TRACKER_NUMBERS = {"up": 1, "down": 0, "init": -1}
INSTANCE_LABELS = ["iname", "intf", "vrid"]


class SnapshotCollector:
    """A prometheus_client custom collector over the daemon's `snapshot()`."""

    def __init__(self, snapshot: Callable[[], dict]) -> None:
        self._snapshot = snapshot

    def describe(self) -> list[Metric]:
        # Describing must not call snapshot() at registration time; nothing to pre-declare.
        return []

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("vipkeeper_up", "1 when the daemon's state could be read")
        try:
            snap = self._snapshot()
        except Exception:
            log.exception("metrics: snapshot failed")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _daemon_metrics(snap.get("daemon") or {})
        yield from _instance_metrics(snap.get("instances") or [], snap.get("drops") or {})
        yield from _script_metrics(snap.get("scripts") or [])
        yield from _process_metrics(snap.get("process_tracker") or {})
        yield from _witness_metrics(snap.get("witnesses") or [])


def _num(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def _daemon_metrics(daemon: dict) -> Iterator[Metric]:
    info = GaugeMetricFamily("vipkeeper_build_info", "vipkeeper version and process tracking mode",
                             labels=["version", "process_tracking"])
    info.add_metric([str(daemon.get("version", "")), str(daemon.get("process_tracking", ""))], 1)
    yield info
    if _num(daemon.get("started")) is not None:
        yield GaugeMetricFamily("vipkeeper_start_time_seconds",
                                "When the daemon started (UNIX time)", value=daemon["started"])
    for key, name, doc in (
        ("reloads", "vipkeeper_config_reloads", "Configuration reloads applied"),
        ("reload_failures", "vipkeeper_config_reload_failures", "Reloads refused (the old configuration stayed)"),
    ):
        if _num(daemon.get(key)) is not None:
            yield CounterMetricFamily(name, doc, value=daemon[key])
    yield from _loop_metrics(daemon.get("loop") or {})
    failed = daemon.get("last_reload_error")
    yield GaugeMetricFamily("vipkeeper_config_last_reload_successful",
                            "0 when the last reload was refused", value=0 if failed else 1)
    mail = daemon.get("mail") or {}
    for key, name, doc in (
        ("sent", "vipkeeper_mail_alerts_sent", "smtp_alert mails the SMTP server accepted"),
        ("failed", "vipkeeper_mail_alerts_failed", "smtp_alert mails not delivered (server down, refused, timed out)"),
    ):
        if _num(mail.get(key)) is not None:
            yield CounterMetricFamily(name, doc, value=mail[key])


def _loop_metrics(loop: dict) -> Iterator[Metric]:
    """How late the event loop ran its timers (loop_lag.py), and the watchdog pings."""
    if _num(loop.get("last")) is not None:
        yield GaugeMetricFamily("vipkeeper_loop_lag_seconds",
                                "How late the event loop ran its last timers", value=loop["last"])
    if _num(loop.get("max")) is not None:
        yield GaugeMetricFamily("vipkeeper_loop_lag_max_seconds",
                                "The largest event loop lag since the daemon started", value=loop["max"])
    buckets = loop.get("buckets")
    if isinstance(buckets, list) and _num(loop.get("count")) is not None and _num(loop.get("sum")) is not None:
        hist = HistogramMetricFamily("vipkeeper_loop_lag_histogram_seconds",
                                     "How late the event loop ran its timers, per wake-up")
        hist.add_metric([], [(_le(le), n) for le, n in buckets] + [("+Inf", loop["count"])], loop["sum"])
        yield hist
    if _num(loop.get("late")) is not None:
        yield CounterMetricFamily("vipkeeper_loop_late_runs",
                                  "Timer wake-ups later than a tenth of the shortest advert interval",
                                  value=loop["late"])
    if _num(loop.get("watchdog_pings")) is not None:
        yield CounterMetricFamily("vipkeeper_watchdog_pings", "systemd WATCHDOG=1 pings sent",
                                  value=loop["watchdog_pings"])


def _le(value: float) -> str:
    return repr(float(value))


def _instance_metrics(instances: list[dict], global_drops: dict) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        "vipkeeper_vrrp_state", "VRRP state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 4 STOP",
        labels=INSTANCE_LABELS)
    prio = GaugeMetricFamily("vipkeeper_vrrp_effective_priority",
                             "Priority after tracker weights", labels=INSTANCE_LABELS)
    base = GaugeMetricFamily("vipkeeper_vrrp_base_priority",
                             "Configured priority", labels=INSTANCE_LABELS)
    since = GaugeMetricFamily("vipkeeper_vrrp_state_since_seconds",
                              "When the instance entered its state (UNIX time)", labels=INSTANCE_LABELS)
    master_prio = GaugeMetricFamily("vipkeeper_vrrp_master_priority",
                                    "Priority of the master as last heard", labels=INSTANCE_LABELS)
    vip = GaugeMetricFamily("vipkeeper_vip_present", "1 when the virtual address is on the interface",
                            labels=INSTANCE_LABELS + ["ip_address", "dev"])
    conflict = GaugeMetricFamily("vipkeeper_vip_conflict",
                                 "1 while another MAC answers for a VIP this Master holds",
                                 labels=INSTANCE_LABELS + ["ip_address", "mac"])
    counters = {
        key: CounterMetricFamily(name, doc, labels=INSTANCE_LABELS)
        for key, name, doc in (
            ("adverts_sent", "vipkeeper_advertisements_sent", "Advertisements sent"),
            ("adverts_received", "vipkeeper_advertisements_received", "Advertisements received and accepted"),
            ("priority_zero_sent", "vipkeeper_priority_zero_sent", "Priority 0 advertisements sent"),
            ("priority_zero_received", "vipkeeper_priority_zero_received", "Priority 0 advertisements received"),
            ("transitions", "vipkeeper_vrrp_transitions", "State transitions"),
            ("became_master", "vipkeeper_become_master", "Times the instance became master"),
            ("vip_conflicts", "vipkeeper_vip_conflicts", "VIP conflicts detected (another MAC answering for a VIP)"),
        )
    }
    drops = CounterMetricFamily(
        "vipkeeper_packets_dropped", "VRRP packets dropped, by reason (no iname: before an instance matched)",
        labels=INSTANCE_LABELS + ["reason"])
    t_status = GaugeMetricFamily("vipkeeper_tracker_status", "Tracker state: 1 up, 0 down, -1 init",
                                 labels=["iname", "kind", "name"])
    t_contrib = GaugeMetricFamily("vipkeeper_tracker_priority_contribution",
                                  "What the tracker adds to the instance's priority now",
                                  labels=["iname", "kind", "name"])
    t_fault = GaugeMetricFamily("vipkeeper_tracker_fault", "1 when the tracker holds the instance in FAULT",
                                labels=["iname", "kind", "name"])
    sock_errors = CounterMetricFamily(
        "vipkeeper_socket_errors", "Errors on the instance's VRRP socket and announcements, by reason "
        "(per socket: instances sharing one show the same counts)", labels=INSTANCE_LABELS + ["reason"])
    sock_reopens = CounterMetricFamily("vipkeeper_socket_reopens",
                                       "Times the VRRP socket was opened afresh (interface appeared or re-created)",
                                       labels=INSTANCE_LABELS)
    sock_open = GaugeMetricFamily("vipkeeper_socket_open", "1 when the instance has a working VRRP socket",
                                  labels=INSTANCE_LABELS)
    for inst in instances:
        labels = [str(inst.get("name", "")), str(inst.get("interface", "")), str(inst.get("vrid", ""))]
        if inst.get("state") in STATE_NUMBERS:
            state.add_metric(labels, STATE_NUMBERS[inst["state"]])
        for family, key in ((prio, "effective_priority"), (base, "base_priority"), (since, "since")):
            if _num(inst.get(key)) is not None:
                family.add_metric(labels, inst[key])
        master = inst.get("master") or {}
        if _num(master.get("priority")) is not None:
            master_prio.add_metric(labels, master["priority"])
        for v in inst.get("vips") or []:
            vip.add_metric(labels + [str(v.get("address", "")), str(v.get("dev", ""))],
                           1 if v.get("present") else 0)
        for v in inst.get("vip_conflicts") or []:
            conflict.add_metric(labels + [str(v.get("address", "")), str(v.get("mac", ""))], 1)
        c = inst.get("counters") or {}
        for key, family in counters.items():
            if _num(c.get(key)) is not None:
                family.add_metric(labels, c[key])
        for reason, count in sorted((c.get("drops") or {}).items()):
            if _num(count) is not None:
                drops.add_metric(labels + [str(reason)], count)
        for t in inst.get("trackers") or []:
            tl = [labels[0], str(t.get("kind", "")), str(t.get("name", ""))]
            if t.get("state") in TRACKER_NUMBERS:
                t_status.add_metric(tl, TRACKER_NUMBERS[t["state"]])
            if _num(t.get("contribution")) is not None:
                t_contrib.add_metric(tl, t["contribution"])
            t_fault.add_metric(tl, 1 if t.get("fault") else 0)
        sock = inst.get("socket")
        if isinstance(sock, dict):
            for reason, count in sorted((sock.get("errors") or {}).items()):
                if _num(count) is not None:
                    sock_errors.add_metric(labels + [str(reason)], count)
            if _num(sock.get("reopens")) is not None:
                sock_reopens.add_metric(labels, sock["reopens"])
            sock_open.add_metric(labels, 1 if sock.get("open") and not sock.get("fault") else 0)
    for reason, count in sorted(global_drops.items()):
        if _num(count) is not None:
            drops.add_metric(["", "", "", str(reason)], count)
    yield from (state, prio, base, since, master_prio, vip, conflict, *counters.values(), drops,
                t_status, t_contrib, t_fault, sock_errors, sock_reopens, sock_open)


def _script_metrics(scripts: list[dict]) -> Iterator[Metric]:
    status = GaugeMetricFamily("vipkeeper_script_status", "vrrp_script result: 1 good, 0 bad, -1 init",
                               labels=["name"])
    runs = CounterMetricFamily("vipkeeper_script_runs", "vrrp_script runs", labels=["name"])
    failures = CounterMetricFamily("vipkeeper_script_failures", "vrrp_script runs that failed",
                                   labels=["name"])
    timeouts = CounterMetricFamily("vipkeeper_script_timeouts", "vrrp_script runs killed at their timeout",
                                   labels=["name"])
    duration = GaugeMetricFamily("vipkeeper_script_last_duration_seconds",
                                 "How long the last run of the vrrp_script took", labels=["name"])
    exit_code = GaugeMetricFamily("vipkeeper_script_last_exit_code", "Exit status of the last run",
                                  labels=["name"])
    for s in scripts:
        name = [str(s.get("name", ""))]
        if s.get("state") in TRACKER_NUMBERS:
            status.add_metric(name, TRACKER_NUMBERS[s["state"]])
        for family, key in ((runs, "runs"), (failures, "failures"), (timeouts, "timeouts"),
                            (duration, "last_duration"), (exit_code, "last_exit")):
            if _num(s.get(key)) is not None:
                family.add_metric(name, s[key])
    yield from (status, runs, failures, timeouts, duration, exit_code)


def _process_metrics(tracker: dict) -> Iterator[Metric]:
    for key, name, doc in (
        ("events", "vipkeeper_process_events", "Process events received (proc connector)"),
        ("rescans", "vipkeeper_process_rescans", "Full /proc rescans"),
        ("enobufs", "vipkeeper_process_enobufs", "Proc connector overruns (ENOBUFS)"),
        ("shortages", "vipkeeper_process_read_shortages",
         "Reads of /proc or pidfd_open that failed for want of descriptors or memory (retried)"),
    ):
        if _num(tracker.get(key)) is not None:
            yield CounterMetricFamily(name, doc, value=tracker[key])
    count = GaugeMetricFamily("vipkeeper_track_process_count", "Processes matching the vrrp_track_process",
                              labels=["name"])
    quorum = GaugeMetricFamily("vipkeeper_track_process_quorum", "1 when the quorum is met",
                               labels=["name"])
    for t in tracker.get("tracked") or []:
        name = [str(t.get("name", ""))]
        if _num(t.get("count")) is not None:
            count.add_metric(name, t["count"])
        quorum.add_metric(name, 1 if t.get("quorum") else 0)
    yield from (count, quorum)


def _witness_metrics(witnesses: list[dict]) -> Iterator[Metric]:
    labels = ["name", "witness"]
    gauges = {
        "holding": GaugeMetricFamily("vipkeeper_witness_holding",
                                     "1 when this router holds the witness key under a live lease", labels=labels),
        "reachable": GaugeMetricFamily("vipkeeper_witness_reachable", "1 when etcd answers (a lease is live)",
                                       labels=labels),
        "degraded": GaugeMetricFamily("vipkeeper_witness_degraded",
                                      "1 under fail_open while etcd cannot be reached (plain VRRP)", labels=labels),
        "lease_remaining": GaugeMetricFamily("vipkeeper_witness_lease_remaining_seconds",
                                             "Seconds until the local lease deadline", labels=labels),
    }
    counters = {
        "acquisitions": CounterMetricFamily("vipkeeper_witness_acquisitions", "Witness key acquisitions",
                                            labels=labels),
        "leases_lost": CounterMetricFamily("vipkeeper_witness_leases_lost",
                                           "Leases lost while holding the key", labels=labels),
        "io_failures": CounterMetricFamily("vipkeeper_witness_io_failures",
                                           "etcd requests that no endpoint answered in time", labels=labels),
    }
    for w in witnesses:
        values = [str(w.get("name", "")), str(w.get("witness", ""))]
        for key, family in {**gauges, **counters}.items():
            if _num(w.get(key)) is not None:
                family.add_metric(values, float(w[key]))
    yield from (*gauges.values(), *counters.values())


def make_registry(snapshot: Callable[[], dict], *, process_metrics: bool = True) -> CollectorRegistry:
    """A registry of its own (not the global one): our snapshot plus the standard process_* set."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    if process_metrics:
        ProcessCollector(registry=registry)
    return registry
