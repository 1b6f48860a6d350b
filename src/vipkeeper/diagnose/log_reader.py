"""Log lines from keepalived and vipkeeper, whatever wrote them down, as one kind of value.

Rules
- Understood formats, detected per line: classic syslog (`Nov 25 14:00:50 host prog[pid]: msg`,
  also `journalctl` default), RFC 3339 / `journalctl -o short-iso[-precise]`
  (`2026-11-25T14:00:50.123+0000 host prog[pid]: msg`), vipkeeper's console lines (ISO stamp
  then `vipkeeper[pid]: msg`, no host), keepalived's console lines (`Wed Nov 25 14:00:50 2026:
  msg`, `keepalived -l`), `journalctl -o json` objects and vipkeeper's `--log-json` objects.
- The node is the host name when the line has one; otherwise the file's name without its
  extension (one file per node). Lines of other programs are dropped, except the pidof race
  message, which can come from anywhere.
- Time is float seconds since the epoch. Classic syslog lines have no year and no zone: the
  caller gives the year; they are read as UTC like every other zoneless stamp.
- Pure apart from `read_file`; a line that fits no format is skipped, never an error.
"""

from __future__ import annotations

import calendar
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from vipkeeper.config.model import Where

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}

_CLASSIC = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<time>\d\d:\d\d:\d\d(?:\.\d+)?) (?P<rest>.*)$")
_ISO = re.compile(
    r"^(?P<stamp>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?) (?P<rest>.*)$")
_KEEPALIVED_CONSOLE = re.compile(
    r"^(?:[A-Z][a-z]{2}) (?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<time>\d\d:\d\d:\d\d(?:\.\d+)?) "
    r"(?P<year>\d{4}): (?P<msg>.*)$")
_PROGRAM = re.compile(r"^(?P<prog>[\w.@/-]+?)(?:\[(?P<pid>\d+)\])?: (?P<msg>.*)$")
_HOST_PROGRAM = re.compile(r"^(?P<host>\S+) (?P<prog>[\w.@/-]+?)(?:\[(?P<pid>\d+)\])?: (?P<msg>.*)$")
PIDOF_RACE = re.compile(r"can't read from /proc/(\d+)/stat")


@dataclass(frozen=True)
class LogLine:
    node: str
    ts: float | None
    program: str
    pid: int | None
    message: str
    where: Where


def interesting(program: str, message: str) -> bool:
    p = program.lower()
    return p.startswith("keepalived") or p.startswith("vipkeeper") or bool(PIDOF_RACE.search(message))


def _iso(stamp: str) -> float | None:
    s = stamp.replace(",", ".").replace(" ", "T", 1)
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    m = re.search(r"([+-]\d\d)(\d\d)$", s)
    if m and ":" not in s[-6:]:
        s = s[: m.start()] + f"{m.group(1)}:{m.group(2)}"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _classic(mon: str, day: str, time: str, year: int) -> float | None:
    month = _MONTHS.get(mon)
    if month is None:
        return None
    hms, _, frac = time.partition(".")
    h, mi, s = (int(x) for x in hms.split(":"))
    try:
        base = calendar.timegm((year, month, int(day), h, mi, s, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    return base + (float("0." + frac) if frac else 0.0)


def _json_line(obj: dict[str, object], default_node: str, where: Where) -> LogLine | None:
    if "MESSAGE" in obj:  # journalctl -o json
        msg = obj["MESSAGE"]
        if isinstance(msg, list):  # journald stores non-UTF-8 messages as byte arrays
            msg = bytes(int(b) for b in msg if isinstance(b, int)).decode("utf-8", "replace")
        program = str(obj.get("SYSLOG_IDENTIFIER") or obj.get("_COMM") or "")
        pid_text = obj.get("SYSLOG_PID") or obj.get("_PID")
        ts_text = obj.get("__REALTIME_TIMESTAMP")
        ts = int(str(ts_text)) / 1e6 if ts_text is not None and str(ts_text).isdigit() else None
        node = str(obj.get("_HOSTNAME") or default_node)
        pid = int(str(pid_text)) if pid_text is not None and str(pid_text).isdigit() else None
        return LogLine(node, ts, program, pid, str(msg), where)
    if "message" in obj and "ts" in obj:  # vipkeeper --log-json
        try:
            ts = float(obj["ts"])  # type: ignore[arg-type]
        except (TypeError, ValueError):
            ts = None
        pid = obj.get("pid")
        return LogLine(str(obj.get("host") or default_node), ts, "vipkeeper",
                       pid if isinstance(pid, int) else None, str(obj["message"]), where)
    return None


def parse_line(text: str, default_node: str, where: Where, year: int) -> LogLine | None:
    """One line in any known format, or None."""
    text = text.rstrip("\r\n")
    if not text or text.startswith("-- "):
        return None
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        return _json_line(obj, default_node, where) if isinstance(obj, dict) else None
    m = _KEEPALIVED_CONSOLE.match(text)
    if m:
        ts = _classic(m.group("mon"), m.group("day"), m.group("time"), int(m.group("year")))
        return LogLine(default_node, ts, "keepalived", None, m.group("msg"), where)
    ts: float | None
    m = _ISO.match(text)
    if m:
        ts, rest = _iso(m.group("stamp")), m.group("rest")
    else:
        m = _CLASSIC.match(text)
        if not m:
            return None
        ts, rest = _classic(m.group("mon"), m.group("day"), m.group("time"), year), m.group("rest")
    p = _PROGRAM.match(rest)
    if p and p.group("prog").lower().startswith(("keepalived", "vipkeeper")):
        node, prog, pid, msg = default_node, p.group("prog"), p.group("pid"), p.group("msg")
    else:
        h = _HOST_PROGRAM.match(rest)
        if not h:
            return None
        node, prog, pid, msg = h.group("host"), h.group("prog"), h.group("pid"), h.group("msg")
    return LogLine(node, ts, prog, int(pid) if pid else None, msg, where)


def node_name_for(path: str) -> str:
    if path == "-":
        return "stdin"
    base = os.path.basename(path)
    for ext in (".log", ".txt", ".json", ".journal"):
        if base.endswith(ext):
            return base[: -len(ext)]
    return base


def parse_lines(lines: list[str], label: str, year: int, node: str | None = None) -> list[LogLine]:
    """The interesting lines of one file; `label` is the file name used in evidence."""
    default = node or node_name_for(label)
    out = []
    for number, text in enumerate(lines, start=1):
        line = parse_line(text, default, Where(label, number), year)
        if line is not None and interesting(line.program, line.message):
            out.append(line)
    return out


def read_file(path: str, year: int | None = None) -> list[LogLine]:
    """Read a log file (or stdin for "-"); undecodable bytes are replaced, never fatal."""
    import sys

    if year is None:
        year = datetime.now(timezone.utc).year
    if path == "-":
        text = sys.stdin.buffer.read().decode("utf-8", "replace")
    else:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8", "replace")
    return parse_lines(text.splitlines(), path, year)
