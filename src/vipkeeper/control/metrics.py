"""Prometheus metrics, read from the daemon's snapshot at scrape time, served from the event loop.

Rules
- No double bookkeeping: the collector turns one `snapshot()` into metric families per scrape.
  The counters live in the daemon; here they are only named.
- Names follow what admins already graph from the community keepalived exporters
  (`keepalived_vrrp_state`, `keepalived_advertisements_sent_total`, `keepalived_script_status`, ...)
  with a `vipkeeper_` prefix and the same `iname`, `intf`, `vrid` labels, so a dashboard ports by
  renaming. `vipkeeper_vrrp_state` uses keepalived's numbering: 0 INIT, 1 BACKUP, 2 MASTER,
  3 FAULT (and 4 for STOP, which keepalived never exports).
- A scrape never fails because one field is missing: absent values are skipped, and if the
  snapshot itself raises, only `vipkeeper_up 0` is served (and the error logged).
- No thread and no prometheus_client (it imports ssl: +8.3 MiB RSS at 1,000 instances, and its
  per-sample objects +5.6 MiB more after a scrape): `MetricsServer` answers HTTP itself with
  asyncio, and exposition.py writes the text format, family by family, each instance family
  walking the instances as it is written. To an HTTP/1.1 request (Prometheus) the page goes out
  chunked, in pieces of about 16 KiB, so it is never held whole, and a page cut short by an error is a
  failed scrape; an HTTP/1.0 client (which takes no chunks) gets it whole with its length.

- The listener can never be the way to run the daemon out of descriptors, nor to flood its log:
  at most MAX_CLIENTS connections are served at once (more are closed at once and counted), each
  has CLIENT_DEADLINE from accept to close (reading, writing and closing: a client that stops
  reading is cut off), and an accept that fails for want of descriptors or memory pauses
  accepting for ACCEPT_RETRY and is logged once per episode (asyncio's own server logged a
  traceback per failed accept: 18.7 MB of log in 25 s).

Theory of operation
`MetricsServer(listen, snapshot)` parses `ADDRESS:PORT` (config/listen.py: `127.0.0.1:9650`,
`[::1]:9650`, `localhost:9650`, `:9650` and `[::]:9650` for every address), and `start()` binds
its own non-blocking sockets and accepts on the event loop. Each connection reads one bounded
request head within a short deadline, answers `GET /metrics` with the text exposition format
(chunked to HTTP/1.1; HEAD renders the page only to count its Content-Length), 404/405 otherwise, and closes.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable, Iterator

from vipkeeper.config.listen import ANY, ListenError, parse_listen

from .exposition import CONTENT_TYPE, Family, Registry, Row, iter_text
from .process_metrics import ProcessCollector

__all__ = ["ListenError", "MetricsServer", "SnapshotCollector", "make_registry", "parse_listen"]

log = logging.getLogger("vipkeeper.metrics")

STATE_NUMBERS = {"INIT": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3, "STOP": 4}
TRACKER_NUMBERS = {"up": 1, "down": 0, "init": -1}
INSTANCE_LABELS = ["iname", "intf", "vrid"]

HEAD_LIMIT = 8192
HEAD_TIMEOUT = 5.0
MAX_CLIENTS = 16  # connections served at once; more are closed at once (and counted)
CLIENT_DEADLINE = 10.0  # s one connection may take, request to close (a reader that stalls)
ACCEPT_RETRY = 1.0  # s accepting pauses after it failed for want of descriptors
ACCEPT_BATCH = 64  # accepts per wake-up
LISTEN_BACKLOG = 64


class SnapshotCollector:
    """The daemon's families over one `snapshot()` per scrape."""

    def __init__(self, snapshot: Callable[[], dict]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Family]:
        try:
            snap = self._snapshot()
        except Exception:
            log.exception("metrics: snapshot failed")
            yield _gauge("vipkeeper_up", "1 when the daemon's state could be read", 0)
            return
        yield _gauge("vipkeeper_up", "1 when the daemon's state could be read", 1)
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


def _gauge(name: str, doc: str, value: float, labels: list[str] | None = None) -> Family:
    return Family(name, doc, "gauge", labels or (), value=value)


def _counter(name: str, doc: str, value: float) -> Family:
    return Family(name, doc, "counter", value=value)


def _daemon_metrics(daemon: dict) -> Iterator[Family]:
    info = Family("vipkeeper_build_info", "vipkeeper version and process tracking mode", "gauge",
                  ["version", "process_tracking"])
    info.add_metric([str(daemon.get("version", "")), str(daemon.get("process_tracking", ""))], 1)
    yield info
    if _num(daemon.get("started")) is not None:
        yield _gauge("vipkeeper_start_time_seconds", "When the daemon started (UNIX time)", daemon["started"])
    for key, name, doc in (
        ("reloads", "vipkeeper_config_reloads", "Configuration reloads applied"),
        ("reload_failures", "vipkeeper_config_reload_failures", "Reloads refused (the old configuration stayed)"),
    ):
        if _num(daemon.get(key)) is not None:
            yield _counter(name, doc, daemon[key])
    yield from _loop_metrics(daemon.get("loop") or {})
    failed = daemon.get("last_reload_error")
    yield _gauge("vipkeeper_config_last_reload_successful", "0 when the last reload was refused",
                 0 if failed else 1)
    mail = daemon.get("mail") or {}
    for key, name, doc in (
        ("sent", "vipkeeper_mail_alerts_sent", "smtp_alert mails the SMTP server accepted"),
        ("failed", "vipkeeper_mail_alerts_failed", "smtp_alert mails not delivered (server down, refused, timed out)"),
    ):
        if _num(mail.get(key)) is not None:
            yield _counter(name, doc, mail[key])


def _loop_metrics(loop: dict) -> Iterator[Family]:
    """How late the event loop ran its timers (loop_lag.py), and the watchdog pings."""
    if _num(loop.get("last")) is not None:
        yield _gauge("vipkeeper_loop_lag_seconds", "How late the event loop ran its last timers", loop["last"])
    if _num(loop.get("max")) is not None:
        yield _gauge("vipkeeper_loop_lag_max_seconds", "The largest event loop lag since the daemon started",
                     loop["max"])
    buckets = loop.get("buckets")
    if isinstance(buckets, list) and _num(loop.get("count")) is not None and _num(loop.get("sum")) is not None:
        hist = Family("vipkeeper_loop_lag_histogram_seconds", "How late the event loop ran its timers, per wake-up",
                      "histogram")
        hist.add_histogram([], [(_le(le), n) for le, n in buckets] + [("+Inf", loop["count"])], loop["sum"])
        yield hist
    if _num(loop.get("late")) is not None:
        yield _counter("vipkeeper_loop_late_runs",
                       "Timer wake-ups later than a tenth of the shortest advert interval", loop["late"])
    if _num(loop.get("watchdog_pings")) is not None:
        yield _counter("vipkeeper_watchdog_pings", "systemd WATCHDOG=1 pings sent", loop["watchdog_pings"])


def _le(value: float) -> str:
    return repr(float(value))


Pairs = tuple[tuple[str, str], ...]


def _instance_metrics(instances: list[dict], global_drops: dict) -> Iterator[Family]:
    """One family at a time, each walking the instances as the page is written (no per-sample
    objects kept: at 1,000 instances they were most of a scrape's memory)."""
    keyed = [(inst, (("iname", str(inst.get("name", ""))), ("intf", str(inst.get("interface", ""))),
                     ("vrid", str(inst.get("vrid", ""))))) for inst in instances]

    def family(name: str, doc: str, type_: str, labels: list[str],
               rows_of: Callable[[dict, Pairs], Iterator[tuple[Pairs, float]]],
               tail: Callable[[], Iterator[tuple[Pairs, float]]] | None = None) -> Family:
        def rows() -> Iterator[Row]:
            for inst, pairs in keyed:
                for p, value in rows_of(inst, pairs):
                    yield "", p, value
            if tail is not None:
                for p, value in tail():
                    yield "", p, value
        return Family(name, doc, type_, INSTANCE_LABELS + labels, rows=rows())

    def state(inst: dict, pairs: Pairs) -> Iterator[tuple[Pairs, float]]:
        if inst.get("state") in STATE_NUMBERS:
            yield pairs, STATE_NUMBERS[inst["state"]]

    def field(key: str) -> Callable[[dict, Pairs], Iterator[tuple[Pairs, float]]]:
        def rows(inst: dict, pairs: Pairs) -> Iterator[tuple[Pairs, float]]:
            if _num(inst.get(key)) is not None:
                yield pairs, inst[key]
        return rows

    def master_priority(inst: dict, pairs: Pairs) -> Iterator[tuple[Pairs, float]]:
        master = inst.get("master") or {}
        if _num(master.get("priority")) is not None:
            yield pairs, master["priority"]

    def vips(inst: dict, pairs: Pairs) -> Iterator[tuple[Pairs, float]]:
        for v in inst.get("vips") or []:
            yield (*pairs, ("ip_address", str(v.get("address", ""))), ("dev", str(v.get("dev", "")))), \
                1 if v.get("present") else 0

    def conflicts(inst: dict, pairs: Pairs) -> Iterator[tuple[Pairs, float]]:
        for v in inst.get("vip_conflicts") or []:
            yield (*pairs, ("ip_address", str(v.get("address", ""))), ("mac", str(v.get("mac", "")))), 1

    def counter(key: str) -> Callable[[dict, Pairs], Iterator[tuple[Pairs, float]]]:
        def rows(inst: dict, pairs: Pairs) -> Iterator[tuple[Pairs, float]]:
            c = inst.get("counters") or {}
            if _num(c.get(key)) is not None:
                yield pairs, c[key]
        return rows

    def drops(inst: dict, pairs: Pairs) -> Iterator[tuple[Pairs, float]]:
        for reason, count in sorted(((inst.get("counters") or {}).get("drops") or {}).items()):
            if _num(count) is not None:
                yield (*pairs, ("reason", str(reason))), count

    def global_drop_rows() -> Iterator[tuple[Pairs, float]]:
        for reason, count in sorted(global_drops.items()):
            if _num(count) is not None:
                yield (("iname", ""), ("intf", ""), ("vrid", ""), ("reason", str(reason))), count

    def trackers(value: Callable[[dict], float | None]) -> Callable[[dict, Pairs], Iterator[tuple[Pairs, float]]]:
        def rows(inst: dict, pairs: Pairs) -> Iterator[tuple[Pairs, float]]:
            for t in inst.get("trackers") or []:
                v = value(t)
                if v is not None:
                    yield (pairs[0], ("kind", str(t.get("kind", ""))), ("name", str(t.get("name", "")))), v
        return rows

    def tracker_family(name: str, doc: str, value: Callable[[dict], float | None]) -> Family:
        f = family(name, doc, "gauge", [], trackers(value))
        f.labelnames = ("iname", "kind", "name")
        return f

    def socket_errors(inst: dict, pairs: Pairs) -> Iterator[tuple[Pairs, float]]:
        sock = inst.get("socket")
        if isinstance(sock, dict):
            for reason, count in sorted((sock.get("errors") or {}).items()):
                if _num(count) is not None:
                    yield (*pairs, ("reason", str(reason))), count

    def socket_reopens(inst: dict, pairs: Pairs) -> Iterator[tuple[Pairs, float]]:
        sock = inst.get("socket")
        if isinstance(sock, dict) and _num(sock.get("reopens")) is not None:
            yield pairs, sock["reopens"]

    def socket_open(inst: dict, pairs: Pairs) -> Iterator[tuple[Pairs, float]]:
        sock = inst.get("socket")
        if isinstance(sock, dict):
            yield pairs, 1 if sock.get("open") and not sock.get("fault") else 0

    yield family("vipkeeper_vrrp_state", "VRRP state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 4 STOP",
                 "gauge", [], state)
    yield family("vipkeeper_vrrp_effective_priority", "Priority after tracker weights", "gauge", [],
                 field("effective_priority"))
    yield family("vipkeeper_vrrp_base_priority", "Configured priority", "gauge", [], field("base_priority"))
    yield family("vipkeeper_vrrp_state_since_seconds", "When the instance entered its state (UNIX time)",
                 "gauge", [], field("since"))
    yield family("vipkeeper_vrrp_master_priority", "Priority of the master as last heard", "gauge", [],
                 master_priority)
    yield family("vipkeeper_vip_present", "1 when the virtual address is on the interface", "gauge",
                 ["ip_address", "dev"], vips)
    yield family("vipkeeper_vip_conflict", "1 while another MAC answers for a VIP this Master holds", "gauge",
                 ["ip_address", "mac"], conflicts)
    for key, name, doc in (
        ("adverts_sent", "vipkeeper_advertisements_sent", "Advertisements sent"),
        ("adverts_received", "vipkeeper_advertisements_received", "Advertisements received and accepted"),
        ("priority_zero_sent", "vipkeeper_priority_zero_sent", "Priority 0 advertisements sent"),
        ("priority_zero_received", "vipkeeper_priority_zero_received", "Priority 0 advertisements received"),
        ("transitions", "vipkeeper_vrrp_transitions", "State transitions"),
        ("became_master", "vipkeeper_become_master", "Times the instance became master"),
        ("vip_conflicts", "vipkeeper_vip_conflicts", "VIP conflicts detected (another MAC answering for a VIP)"),
    ):
        yield family(name, doc, "counter", [], counter(key))
    yield family("vipkeeper_packets_dropped",
                 "VRRP packets dropped, by reason (no iname: before an instance matched)", "counter", ["reason"],
                 drops, global_drop_rows)
    yield tracker_family("vipkeeper_tracker_status", "Tracker state: 1 up, 0 down, -1 init",
                         lambda t: TRACKER_NUMBERS.get(t.get("state")) if t.get("state") in TRACKER_NUMBERS
                         else None)
    yield tracker_family("vipkeeper_tracker_priority_contribution",
                         "What the tracker adds to the instance's priority now",
                         lambda t: t["contribution"] if _num(t.get("contribution")) is not None else None)
    yield tracker_family("vipkeeper_tracker_fault", "1 when the tracker holds the instance in FAULT",
                         lambda t: 1 if t.get("fault") else 0)
    yield family("vipkeeper_socket_errors", "Errors on the instance's VRRP socket and announcements, by reason "
                 "(per socket: instances sharing one show the same counts)", "counter", ["reason"], socket_errors)
    yield family("vipkeeper_socket_reopens",
                 "Times the VRRP socket was opened afresh (interface appeared or re-created)", "counter", [],
                 socket_reopens)
    yield family("vipkeeper_socket_open", "1 when the instance has a working VRRP socket", "gauge", [],
                 socket_open)


def _script_metrics(scripts: list[dict]) -> Iterator[Family]:
    status = Family("vipkeeper_script_status", "vrrp_script result: 1 good, 0 bad, -1 init", "gauge", ["name"])
    runs = Family("vipkeeper_script_runs", "vrrp_script runs", "counter", ["name"])
    failures = Family("vipkeeper_script_failures", "vrrp_script runs that failed", "counter", ["name"])
    timeouts = Family("vipkeeper_script_timeouts", "vrrp_script runs killed at their timeout", "counter", ["name"])
    duration = Family("vipkeeper_script_last_duration_seconds", "How long the last run of the vrrp_script took",
                      "gauge", ["name"])
    exit_code = Family("vipkeeper_script_last_exit_code", "Exit status of the last run", "gauge", ["name"])
    for s in scripts:
        name = [str(s.get("name", ""))]
        if s.get("state") in TRACKER_NUMBERS:
            status.add_metric(name, TRACKER_NUMBERS[s["state"]])
        for family, key in ((runs, "runs"), (failures, "failures"), (timeouts, "timeouts"),
                            (duration, "last_duration"), (exit_code, "last_exit")):
            if _num(s.get(key)) is not None:
                family.add_metric(name, s[key])
    yield from (status, runs, failures, timeouts, duration, exit_code)


def _process_metrics(tracker: dict) -> Iterator[Family]:
    for key, name, doc in (
        ("events", "vipkeeper_process_events", "Process events received (proc connector)"),
        ("rescans", "vipkeeper_process_rescans", "Full /proc rescans"),
        ("enobufs", "vipkeeper_process_enobufs", "Proc connector overruns (ENOBUFS)"),
        ("shortages", "vipkeeper_process_read_shortages",
         "Reads of /proc or pidfd_open that failed for want of descriptors or memory (retried)"),
    ):
        if _num(tracker.get(key)) is not None:
            yield _counter(name, doc, tracker[key])
    count = Family("vipkeeper_track_process_count", "Processes matching the vrrp_track_process", "gauge", ["name"])
    quorum = Family("vipkeeper_track_process_quorum", "1 when the quorum is met", "gauge", ["name"])
    for t in tracker.get("tracked") or []:
        name = [str(t.get("name", ""))]
        if _num(t.get("count")) is not None:
            count.add_metric(name, t["count"])
        quorum.add_metric(name, 1 if t.get("quorum") else 0)
    yield from (count, quorum)


def _witness_metrics(witnesses: list[dict]) -> Iterator[Family]:
    labels = ["name", "witness"]
    gauges = {
        "holding": Family("vipkeeper_witness_holding", "1 when this router holds the witness key under a live lease",
                          "gauge", labels),
        "reachable": Family("vipkeeper_witness_reachable", "1 when etcd answers (a lease is live)", "gauge", labels),
        "degraded": Family("vipkeeper_witness_degraded",
                           "1 under fail_open while etcd cannot be reached (plain VRRP)", "gauge", labels),
        "lease_remaining": Family("vipkeeper_witness_lease_remaining_seconds",
                                  "Seconds until the local lease deadline", "gauge", labels),
    }
    counters = {
        "acquisitions": Family("vipkeeper_witness_acquisitions", "Witness key acquisitions", "counter", labels),
        "leases_lost": Family("vipkeeper_witness_leases_lost", "Leases lost while holding the key", "counter",
                              labels),
        "io_failures": Family("vipkeeper_witness_io_failures", "etcd requests that no endpoint answered in time",
                              "counter", labels),
    }
    for w in witnesses:
        values = [str(w.get("name", "")), str(w.get("witness", ""))]
        for key, family in {**gauges, **counters}.items():
            if _num(w.get(key)) is not None:
                family.add_metric(values, float(w[key]))
    yield from (*gauges.values(), *counters.values())


def make_registry(snapshot: Callable[[], dict], *, process_metrics: bool = True) -> Registry:
    """Our snapshot plus the standard process_* set."""
    registry = Registry([SnapshotCollector(snapshot)])
    if process_metrics:
        registry.register(ProcessCollector())
    return registry


class MetricsServer:
    """The /metrics HTTP listener on the daemon's event loop (module docstring: its limits)."""

    def __init__(self, listen: str, snapshot: Callable[[], dict], *, process_metrics: bool = True,
                 max_clients: int = MAX_CLIENTS, client_deadline: float = CLIENT_DEADLINE) -> None:
        self.host, self.port = parse_listen(listen)
        self.registry = make_registry(snapshot, process_metrics=process_metrics)
        self.max_clients = max_clients
        self.client_deadline = client_deadline
        self._listeners: list[socket.socket] = []
        self._clients: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paused: asyncio.TimerHandle | None = None
        self._failing_since: float | None = None
        self.accept_failures = 0  # accepts that failed for want of descriptors or memory
        self.refused = 0  # connections closed at once: max_clients already served

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where it listens, with the real port when 0 was asked for."""
        return [s.getsockname()[:2] for s in self._listeners]

    def _bind(self) -> list[socket.socket]:
        if self.host in (ANY, "::"):
            # every address of both families: one dual-stack socket (IPv4 alone where the
            # host has no IPv6; `[::]` then is an error, `:PORT` is not)
            try:
                return [self._listen_on(socket.AF_INET6, "::", dual=True)]
            except OSError:
                if self.host == "::":
                    raise
                return [self._listen_on(socket.AF_INET, "0.0.0.0")]
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        out: list[socket.socket] = []
        try:
            for family, _, _, _, addr in dict.fromkeys(infos):
                out.append(self._listen_on(family, addr[0]))
        except OSError:
            for sock in out:
                sock.close()
            raise
        return out

    def _listen_on(self, family: int, host: str, dual: bool = False) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual else 1)
            sock.bind((host, self.port))
            sock.listen(LISTEN_BACKLOG)
        except OSError:
            sock.close()
            raise
        return sock

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._listeners = self._bind()
        self._watch()
        log.info("metrics listening on %s", ", ".join(f"{h}:{p}" for h, p in self.addresses))

    def _watch(self) -> None:
        assert self._loop is not None
        for sock in self._listeners:
            self._loop.add_reader(sock.fileno(), self._on_accept, sock)

    def _unwatch(self) -> None:
        assert self._loop is not None
        for sock in self._listeners:
            self._loop.remove_reader(sock.fileno())

    async def close(self) -> None:
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        if self._loop is not None and self._listeners:
            self._unwatch()
        for sock in self._listeners:
            sock.close()
        self._listeners = []
        for task in list(self._clients):
            task.cancel()
        if self._clients:
            await asyncio.gather(*self._clients, return_exceptions=True)

    def _on_accept(self, listener: socket.socket) -> None:
        assert self._loop is not None
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._accept_failed(exc)
                    return
                continue  # ECONNABORTED and the like: that client gave up
            if self._failing_since is not None:
                log.warning("metrics: accepting connections again after %.1fs (%d accepts failed)",
                            self._loop.time() - self._failing_since, self.accept_failures)
                self._failing_since = None
            if len(self._clients) >= self.max_clients:
                self.refused += 1
                conn.close()
                continue
            conn.setblocking(False)
            task = self._loop.create_task(self._serve_socket(conn))
            self._clients.add(task)
            task.add_done_callback(self._clients.discard)

    def _accept_failed(self, exc: OSError) -> None:
        """Out of descriptors or memory: one log line per episode, and a pause (the kernel keeps
        the queued connections) instead of a busy loop of failed accepts."""
        assert self._loop is not None
        self.accept_failures += 1
        if self._failing_since is None:
            self._failing_since = self._loop.time()
            log.warning("metrics: cannot accept connections: %s; retrying every %gs, "
                        "logged again when it works", exc.strerror or exc, ACCEPT_RETRY)
        if self._paused is None:
            self._unwatch()
            self._paused = self._loop.call_later(ACCEPT_RETRY, self._resume)

    def _resume(self) -> None:
        self._paused = None
        if self._listeners:
            self._watch()

    async def _serve_socket(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=conn, limit=HEAD_LIMIT)
        except OSError:
            conn.close()
            return
        try:
            await asyncio.wait_for(self._serve(reader, writer), self.client_deadline)
        except (TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()  # no-op after a clean close; frees a stuck one at once

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
            except asyncio.IncompleteReadError as exc:
                head = exc.partial  # HTTP/0.9-ish clients or a bare "GET /metrics\n"
            except (asyncio.LimitOverrunError, ValueError):
                await self._respond(writer, 431, b"request header too large\n")
                return
            except TimeoutError:
                return
            await self._answer(head, writer)
        finally:
            writer.close()
            await writer.wait_closed()

    async def _answer(self, head: bytes, writer: asyncio.StreamWriter) -> None:
        request_line = head.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) < 2:
            await self._respond(writer, 400, b"bad request\n")
            return
        method, target = parts[0], parts[1]
        path = target.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            await self._respond(writer, 405, b"method not allowed\n", extra=[("Allow", "GET, HEAD")])
            return
        if path == "/metrics":
            if method == "HEAD":
                try:
                    length = sum(len(chunk) for chunk in iter_text(self.registry))
                except Exception:
                    log.exception("metrics: generating the page failed")
                    await self._respond(writer, 500, b"metrics failed, see the daemon log\n")
                    return
                await self._respond(writer, 200, b"", content_type=CONTENT_TYPE, length=length)
                return
            if len(parts) > 2 and parts[2] != "HTTP/1.0":
                await self._stream(writer, iter_text(self.registry))
                return
            try:  # an HTTP/1.0 client takes no chunks: the page whole, with its length
                body = b"".join(iter_text(self.registry))
            except Exception:
                log.exception("metrics: generating the page failed")
                await self._respond(writer, 500, b"metrics failed, see the daemon log\n")
                return
            await self._respond(writer, 200, body, content_type=CONTENT_TYPE)
        elif path == "/":
            await self._respond(writer, 200, b"vipkeeper metrics: /metrics\n", head_only=method == "HEAD")
        else:
            await self._respond(writer, 404, b"not found; try /metrics\n")

    async def _stream(self, writer: asyncio.StreamWriter, chunks: Iterator[bytes]) -> None:
        """The page piece by piece, HTTP/1.1 chunked: its end is the last chunk, so a page cut
        short (a family that failed, after the head went out) is a failed scrape, not a short one."""
        try:
            first = next(chunks, b"")
        except Exception:
            log.exception("metrics: generating the page failed")
            await self._respond(writer, 500, b"metrics failed, see the daemon log\n")
            return
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE}\r\nTransfer-Encoding: chunked\r\n"
                     "Connection: close\r\n\r\n".encode("latin-1"))
        chunk = first
        while chunk:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()  # a piece at a time in the transport's buffer (above its high mark)
            try:
                chunk = next(chunks, b"")
            except Exception:
                log.exception("metrics: generating the page failed")
                return  # no last chunk: the client sees the page cut short
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    @staticmethod
    async def _respond(writer: asyncio.StreamWriter, code: int, body: bytes, *,
                       content_type: str = "text/plain; charset=utf-8",
                       extra: list[tuple[str, str]] | None = None, head_only: bool = False,
                       length: int | None = None) -> None:
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  431: "Request Header Fields Too Large", 500: "Internal Server Error"}[code]
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body) if length is None else length)),
                   ("Connection", "close"), *(extra or [])]
        out = f"HTTP/1.0 {code} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        writer.write(out.encode("latin-1") + (b"" if head_only else body))
        await writer.drain()
