"""`vipkeeper status`: what the running daemon holds, and why, as a table an admin reads at a glance.

The table is plain text that stays readable without colour (a serial console, `| less`, a mail);
click adds colour to the state words only when stdout is a terminal. Relative times are computed
against the daemon's own `now` from the snapshot, so a skewed client clock cannot lie.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from typing import Any

import click

from vipkeeper.control.client import ControlError, request
from vipkeeper.control.server import DEFAULT_PATH

_STATE_COLOURS = {"MASTER": "green", "BACKUP": "cyan", "FAULT": "red", "STOP": "yellow"}
_TRACKER_COLOURS = {"up": "green", "down": "red", "init": "yellow"}


def format_duration(seconds: float) -> str:
    """Compact relative time: 4.2s, 3m12s, 2h05m, 3d04h."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def _signed(value: Any) -> str:
    return f"{value:+d}" if isinstance(value, int) and value else str(value if value is not None else "-")


def _table(rows: list[list[str]], indent: str) -> list[str]:
    """Left-aligned columns; widths from the visible text (styles are added afterwards)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows
    ]


def _counts(mapping: dict[str, Any] | None) -> str:
    items = [(k, v) for k, v in sorted((mapping or {}).items()) if v]
    return ", ".join(f"{k} {v}" for k, v in items)


def render(snapshot: dict) -> str:
    """The whole status page for one snapshot (without ANSI styles; see `_style_line`)."""
    daemon = snapshot.get("daemon") or {}
    now = daemon.get("now") or time.time()
    lines: list[str] = []
    head = f"vipkeeper {daemon.get('version', '?')}  pid {daemon.get('pid', '?')}"
    if daemon.get("started"):
        head += f"  up {format_duration(now - daemon['started'])}"
    if daemon.get("netns"):
        head += f"  netns {daemon['netns']}"
    lines.append(head)
    if daemon.get("config"):
        reloads = daemon.get("reloads", 0)
        line = f"config {daemon['config']}  reloads {reloads}"
        if daemon.get("reload_failures"):
            line += f" ({daemon['reload_failures']} failed: {daemon.get('last_reload_error') or '?'})"
        lines.append(line)
    tracker = snapshot.get("process_tracker") or {}
    mode = tracker.get("mode") or daemon.get("process_tracking")
    if mode:
        line = f"process tracking {mode}"
        extra = _counts({k: tracker.get(k) for k in ("events", "rescans", "enobufs")})
        lines.append(line + (f"  ({extra})" if extra else ""))
    instances = snapshot.get("instances") or []
    if not instances:
        lines.append("")
        lines.append("no VRRP instances")
    for inst in instances:
        lines.append("")
        lines.extend(_render_instance(inst, now))
    scripts = snapshot.get("scripts") or []
    if scripts:
        lines.append("")
        lines.append("scripts")
        rows = [["NAME", "STATE", "RUNS", "FAILED", "TIMEOUTS", "LAST", "EXIT"]]
        for s in scripts:
            dur = s.get("last_duration")
            rows.append([
                str(s.get("name", "?")), str(s.get("state", "?")), str(s.get("runs", 0)),
                str(s.get("failures", 0)), str(s.get("timeouts", 0)),
                f"{dur:.3f}s" if isinstance(dur, (int, float)) else "-",
                str(s.get("last_exit")) if s.get("last_exit") is not None else "-",
            ])
        lines.extend(_table(rows, "  "))
    tracked = tracker.get("tracked") or []
    if tracked:
        lines.append("")
        lines.append("tracked processes")
        rows = [["NAME", "COUNT", "QUORUM"]]
        rows += [[str(t.get("name")), str(t.get("count", 0)), "yes" if t.get("quorum") else "NO"]
                 for t in tracked]
        lines.extend(_table(rows, "  "))
    witnesses = snapshot.get("witnesses") or []
    if witnesses:
        lines.append("")
        lines.append("quorum witness (etcd)")
        rows = [["FOR", "KEY", "HOLDER", "US", "LEASE LEFT", "POLICY", "ETCD"]]
        for w in witnesses:
            left = w.get("lease_remaining")
            etcd = "DEGRADED" if w.get("degraded") else ("ok" if w.get("reachable") else "UNREACHABLE")
            rows.append([
                str(w.get("name", "?")), str(w.get("key", "?")), str(w.get("holder") or "-"),
                "holding" if w.get("holding") else ("waiting" if w.get("wanted") else "-"),
                f"{left:.2f}s" if isinstance(left, (int, float)) else "-",
                str(w.get("policy", "?")), f"{etcd} {w.get('endpoint', '')}".strip(),
            ])
        lines.extend(_table(rows, "  "))
    drops = _counts(snapshot.get("drops"))
    if drops:
        lines.append("")
        lines.append(f"dropped before matching an instance: {drops}")
    return "\n".join(lines)


def _render_instance(inst: dict, now: float) -> list[str]:
    state = str(inst.get("state", "?"))
    since = inst.get("since")
    title = f"{inst.get('name', '?')}  {state}"
    if since:
        title += f" for {format_duration(now - since)}"
    if inst.get("sync_group"):
        title += f"  (sync group {inst['sync_group']})"
    lines = [title]
    transport = "unicast" if inst.get("unicast") else "multicast"
    rows = [
        ["interface", f"{inst.get('interface', '?')}  vrid {inst.get('vrid', '?')}  "
         f"VRRPv{inst.get('version', '?')} IPv{inst.get('family', '?')} {transport}  "
         f"advert {_seconds(inst.get('advert_int'))}"],
        ["priority", _priority(inst)],
    ]
    master = inst.get("master")
    if state == "MASTER":
        rows.append(["master", "this node"])
    elif master:
        heard = master.get("last_heard")
        ago = f", heard {format_duration(now - heard)} ago" if heard else ""
        rows.append(["master", f"{master.get('address', '?')} priority {master.get('priority', '?')}{ago}"])
    else:
        rows.append(["master", "none heard"])
    vips = inst.get("vips") or []
    if not vips:
        rows.append(["VIPs", "none"])
    for n, vip in enumerate(vips):
        present = "present" if vip.get("present") else "absent"
        rows.append(["VIPs" if n == 0 else "", f"{vip.get('address', '?')} on {vip.get('dev', '?')}  {present}"])
    for n, c in enumerate(inst.get("vip_conflicts") or []):
        peer = f" (VRRP router {c['peer']})" if c.get("peer") else ""
        since = f" for {format_duration(now - c['since'])}" if c.get("since") else ""
        text = f"{c.get('address', '?')} also answered by {c.get('mac', '?')}{peer}{since}"
        rows.append(["CONFLICT" if n == 0 else "", text])
    counters = inst.get("counters") or {}
    sent_received = (
        f"adverts sent {counters.get('adverts_sent', 0)} received {counters.get('adverts_received', 0)}, "
        f"transitions {counters.get('transitions', 0)}, became master {counters.get('became_master', 0)}"
    )
    prio0 = _counts({"sent": counters.get("priority_zero_sent"),
                     "received": counters.get("priority_zero_received")})
    if prio0:
        sent_received += f", priority 0 {prio0}"
    rows.append(["counters", sent_received])
    drops = _counts(counters.get("drops"))
    if drops:
        rows.append(["drops", drops])
    sock = inst.get("socket")
    if isinstance(sock, dict):
        if sock.get("fault"):
            rows.append(["socket", f"FAULT: {sock['fault']}"])
        errors = _counts(sock.get("errors"))
        if errors or sock.get("reopens"):
            rows.append(["socket" if not sock.get("fault") else "",
                         ", ".join(x for x in (errors, f"reopened {sock['reopens']}" if sock.get("reopens") else "")
                                   if x)])
    trackers = inst.get("trackers") or []
    if not trackers:
        rows.append(["trackers", "none"])
    lines += _table(rows, "  ")
    if trackers:
        trows = [["TRACKER", "KIND", "STATE", "WEIGHT", "CONTRIB", "CHANGED"]]
        for t in trackers:
            weight = _signed(t.get("weight"))
            if t.get("reverse"):
                weight += " reverse"
            tstate = str(t.get("state", "?"))
            if t.get("fault"):
                tstate += " FAULT"
            changed = t.get("since")
            trows.append([
                str(t.get("name", "?")), str(t.get("kind", "?")), tstate, weight,
                _signed(t.get("contribution")),
                f"{format_duration(now - changed)} ago" if changed else "-",
            ])
        lines += _table(trows, "  ")
    return lines


def _seconds(value: Any) -> str:
    return f"{value:g}s" if isinstance(value, (int, float)) else "?"


def _priority(inst: dict) -> str:
    base, effective = inst.get("base_priority", "?"), inst.get("effective_priority", "?")
    text = f"base {base}  effective {effective}"
    if isinstance(base, int) and isinstance(effective, int) and base != effective:
        text += f" ({effective - base:+d} from trackers)"
    return text


def _style_line(line: str) -> str:
    """Colour the state words. click.echo strips the styles when stdout is not a terminal."""
    words = line.split(" ")
    for i, word in enumerate(words):
        bare = word.strip()
        if bare in _STATE_COLOURS:
            words[i] = click.style(word, fg=_STATE_COLOURS[bare], bold=True)
        elif bare in ("absent", "NO", "FAULT"):
            words[i] = click.style(word, fg="red", bold=True)
    return " ".join(words)


def _styled(text: str) -> Iterable[str]:
    return (_style_line(line) for line in text.split("\n"))


def _fetch(socket_path: str) -> dict:
    data = request("status", path=socket_path)
    if not isinstance(data, dict):
        raise ControlError("unexpected status answer from the daemon")
    return data


@click.command(name="status")
@click.option("--socket", "socket_path", default=DEFAULT_PATH, show_default=True,
              metavar="PATH", help="The daemon's control socket.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw snapshot as JSON.")
@click.option("--watch", type=click.FloatRange(min=0.1), is_flag=False, flag_value=2.0,
              default=None, metavar="[SECONDS]",
              help="Refresh in place every SECONDS (default 2) until Ctrl-C.")
def status(socket_path: str, as_json: bool, watch: float | None) -> None:
    """Show the running daemon's instances, trackers and counters."""
    try:
        if watch is None:
            _show_once(socket_path, as_json)
            return
        while True:
            try:
                text = _page(_fetch(socket_path), as_json)
            except ControlError as exc:
                text = f"vipkeeper status: {exc}"
            click.clear()
            click.echo(time.strftime("%H:%M:%S") + f"  every {watch:g}s, Ctrl-C to stop\n")
            for line in (text.split("\n") if as_json else _styled(text)):
                click.echo(line)
            sys.stdout.flush()
            time.sleep(watch)
    except KeyboardInterrupt:
        return


def _page(snapshot: dict, as_json: bool) -> str:
    return json.dumps(snapshot, indent=2, sort_keys=True) if as_json else render(snapshot)


def _show_once(socket_path: str, as_json: bool) -> None:
    try:
        snapshot = _fetch(socket_path)
    except ControlError as exc:
        click.echo(f"vipkeeper status: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(_page(snapshot, True))
        return
    for line in _styled(render(snapshot)):
        click.echo(line)
