"""Where the daemon's log lines go, and how they look.

Admins grep for keepalived's wording (`(VI_1) Entering MASTER STATE`), so the message text is
the core's; this module only decides the envelope:
- syslog/journald by default. The ident is `Keepalived_vrrp` when started by keepalived's command
  line (a drop-in: rsyslog `programname` rules, Loki/ELK queries and grep alerts keyed on
  keepalived's ident keep matching) and `vipkeeper` under `vipkeeper run`; `--log-ident` sets it
  either way. When journald's native socket exists the lines go there, each state line carrying
  VRRP_INSTANCE, VRRP_STATE and VRRP_VRID fields (the native protocol is a datagram of KEY=value
  lines: no python3-systemd needed); otherwise to /dev/log with the `-S` facility;
- `-l/--log-console`: also to stderr, one line per event with an ISO timestamp in milliseconds,
  because failover timelines are read at that resolution;
- `--log-json`: one JSON object per line on stderr, for log shippers.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import struct
import sys
import time

IDENT = "vipkeeper"
KEEPALIVED_IDENT = "Keepalived_vrrp"
JOURNAL_SOCKET = "/run/systemd/journal/socket"

# keepalived -S: 0-7 mean local0-7; also local0..local7, user, daemon (case as keepalived: lower)
FACILITIES = {**{str(n): f"local{n}" for n in range(8)}, **{f"local{n}": f"local{n}" for n in range(8)},
              "user": "user", "daemon": "daemon"}


# syslog's facility numbers (RFC 5424; logging.handlers.SysLogHandler.facility_names), here so
# that a daemon logging to the journal or the console does not import logging.handlers (and with
# it pickle and queue) before it has opened its sockets (daemon/early_listen.py)
FACILITY_CODES = {"user": 1, "daemon": 3, **{f"local{n}": 16 + n for n in range(8)}}


def parse_facility(text: str) -> str | None:
    """keepalived's `-S` argument to a facility name, None when keepalived would refuse it."""
    return FACILITIES.get(text)

_STATE_LINE = re.compile(r"^\((?P<instance>[^)]+)\) Entering (?P<state>[A-Z]+) STATE")


class ConsoleFormatter(logging.Formatter):
    """`2026-11-25T14:00:00.123+00:00 vipkeeper[123]: (VI_1) Entering MASTER STATE`."""

    def __init__(self, ident: str = IDENT) -> None:
        super().__init__()
        self.ident = ident

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
        millis = int(record.msecs)
        zone = time.strftime("%z", time.localtime(record.created))
        zone = f"{zone[:3]}:{zone[3:]}" if len(zone) == 5 else zone
        text = f"{stamp}.{millis:03d}{zone} {self.ident}[{record.process}]: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `instance` is set when the message starts with `(NAME)`."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        payload: dict[str, object] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": message,
        }
        if message.startswith("(") and ")" in message:
            payload["instance"] = message[1 : message.index(")")]
        import json  # only for --log-json

        return json.dumps(payload, separators=(",", ":"))


class SyslogFormatter(logging.Formatter):
    def __init__(self, ident: str = IDENT) -> None:
        super().__init__()
        self.ident = ident

    def format(self, record: logging.LogRecord) -> str:
        return f"{self.ident}[{record.process}]: {record.getMessage()}"


def journal_fields(record: logging.LogRecord, ident: str, facility: int) -> dict[str, str]:
    """The journal entry of one record: message, priority, ident, and for a state line the
    instance, state and VRID (VRID from the `vrid` attribute the router puts on its lines)."""
    message = record.getMessage()
    if record.exc_info:
        message += "\n" + logging.Formatter().formatException(record.exc_info)
    priority = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
                logging.CRITICAL: 2}.get(record.levelno, 6)
    fields = {"MESSAGE": message, "PRIORITY": str(priority), "SYSLOG_IDENTIFIER": ident,
              "SYSLOG_FACILITY": str(facility), "SYSLOG_PID": str(record.process)}
    m = _STATE_LINE.match(message)
    if m:
        fields["VRRP_INSTANCE"] = m["instance"]
        fields["VRRP_STATE"] = m["state"]
        vrid = getattr(record, "vrid", None)
        if vrid is not None:
            fields["VRRP_VRID"] = str(vrid)
    return fields


def encode_journal(fields: dict[str, str]) -> bytes:
    """journald's native datagram: `KEY=value\\n`, or for a value with a newline
    `KEY\\n` + 64-bit little-endian length + value + `\\n`."""
    out = bytearray()
    for key, value in fields.items():
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalHandler(logging.Handler):
    """Sends records to journald's native socket (one datagram per record)."""

    def __init__(self, path: str, ident: str, facility: int) -> None:
        super().__init__()
        self.path = path
        self.ident = ident
        self.facility = facility
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sock.sendto(encode_journal(journal_fields(record, self.ident, self.facility)), self.path)
        except OSError:
            self.handleError(record)

    def close(self) -> None:
        self.sock.close()
        super().close()


def configure(*, console: bool, json_lines: bool = False, syslog: bool = True,
              detail: bool = False, facility: str = "daemon", ident: str = IDENT,
              journal_socket: str | None = JOURNAL_SOCKET) -> None:
    """Install the handlers on the `vipkeeper` logger tree (and nothing else)."""
    root = logging.getLogger("vipkeeper")
    root.handlers.clear()
    root.propagate = False
    root.setLevel(logging.DEBUG if detail else logging.INFO)
    if console or json_lines:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if json_lines else ConsoleFormatter(ident))
        root.addHandler(handler)
    code = FACILITY_CODES.get(facility, FACILITY_CODES["daemon"])
    if syslog and journal_socket and os.path.exists(journal_socket):
        try:
            root.addHandler(JournalHandler(journal_socket, ident, code))
        except OSError:
            pass
    elif syslog and os.path.exists("/dev/log"):
        from logging.handlers import SysLogHandler

        try:
            sys_handler = SysLogHandler(address="/dev/log", facility=code)
        except OSError:
            sys_handler = None
        if sys_handler is not None:
            sys_handler.setFormatter(SyslogFormatter(ident))
            root.addHandler(sys_handler)
    if not root.handlers:
        # Neither a console was asked for nor a syslog socket exists: never lose the lines.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(ConsoleFormatter(ident))
        root.addHandler(handler)
