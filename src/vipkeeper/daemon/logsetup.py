"""Where the daemon's log lines go, and how they look.

Admins grep for keepalived's wording (`(VI_1) Entering MASTER STATE`), so the message text is
the core's; this module only decides the envelope:
- syslog/journald by default (ident `vipkeeper`, as keepalived logs as `Keepalived_vrrp`), so
  `journalctl -t vipkeeper` and `vipkeeper doctor` find the lines where keepalived's would be;
- `-l/--log-console`: also to stderr, one line per event with an ISO timestamp in milliseconds,
  because failover timelines are read at that resolution;
- `--log-json`: one JSON object per line on stderr, for log shippers.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
import time

IDENT = "vipkeeper"


class ConsoleFormatter(logging.Formatter):
    """`2026-11-25T14:00:00.123+00:00 vipkeeper[123]: (VI_1) Entering MASTER STATE`."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
        millis = int(record.msecs)
        zone = time.strftime("%z", time.localtime(record.created))
        zone = f"{zone[:3]}:{zone[3:]}" if len(zone) == 5 else zone
        text = f"{stamp}.{millis:03d}{zone} {IDENT}[{record.process}]: {record.getMessage()}"
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
        return json.dumps(payload, separators=(",", ":"))


class SyslogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{IDENT}[{record.process}]: {record.getMessage()}"


def configure(*, console: bool, json_lines: bool = False, syslog: bool = True,
              detail: bool = False, facility: str = "daemon") -> None:
    """Install the handlers on the `vipkeeper` logger tree (and nothing else)."""
    root = logging.getLogger("vipkeeper")
    root.handlers.clear()
    root.propagate = False
    root.setLevel(logging.DEBUG if detail else logging.INFO)
    if console or json_lines:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if json_lines else ConsoleFormatter())
        root.addHandler(handler)
    if syslog and os.path.exists("/dev/log"):
        try:
            sys_handler = logging.handlers.SysLogHandler(
                address="/dev/log",
                facility=logging.handlers.SysLogHandler.facility_names.get(facility, logging.handlers.SysLogHandler.LOG_DAEMON),
            )
        except OSError:
            sys_handler = None
        if sys_handler is not None:
            sys_handler.setFormatter(SyslogFormatter())
            root.addHandler(sys_handler)
    if not root.handlers:
        # Neither a console was asked for nor a syslog socket exists: never lose the lines.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(ConsoleFormatter())
        root.addHandler(handler)
