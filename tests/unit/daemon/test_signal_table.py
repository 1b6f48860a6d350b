"""The `run` command protects itself from signals before it imports anything heavy.

`cli.entry` installs daemon/signal_table.py's early handlers first thing: SIGHUP and the dump
and stray signals have a (no-op) handler before asyncio or the runtime is imported, so a reload
or a `kill -USR1` sent while the daemon starts cannot kill it (tests/net/test_signal_at_start.py
sends them). Checked in a child interpreter that records, in order, each handler installed and
each module imported, for a `run` whose configuration file does not exist.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from vipkeeper.daemon import signal_table

PROBE = r"""
import json, signal, sys
events = []
real_signal = signal.signal
def recording(sig, handler):
    events.append(("signal", int(sig)))
    return real_signal(sig, handler)
signal.signal = recording
class Finder:
    def find_spec(self, name, path=None, target=None):
        if name in ("asyncio", "vipkeeper.daemon.runtime", "click"):
            events.append(("import", name))
        return None
sys.meta_path.insert(0, Finder())
sys.argv = ["vipkeeper"] + sys.argv[1:]
from vipkeeper.cli import entry
try:
    entry()
except SystemExit:
    pass
print("EVENTS=" + json.dumps(events))
"""


def events_of(*argv: str) -> list[tuple[str, object]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60,
                          check=False)
    line = next(x for x in done.stdout.splitlines() if x.startswith("EVENTS="))
    return [tuple(e) for e in json.loads(line[len("EVENTS="):])]


def test_early_handlers_cover_reload_dumps_and_strays_but_not_stop():
    covered = {int(s) for s in (*signal_table.IGNORED_SIGNALS, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)}
    assert not covered & {int(s) for s in signal_table.STOP_SIGNALS}


def test_run_sets_the_reload_handler_before_importing_asyncio():
    for argv in (["run", "-f", "/nonexistent/keepalived.conf"], ["-f", "/nonexistent/keepalived.conf", "-n"]):
        events = events_of(*argv)
        hup = events.index(("signal", int(signal.SIGHUP))) if ("signal", int(signal.SIGHUP)) in events else None
        assert hup is not None, (argv, events)
        later = [name for kind, name in events[:hup] if kind == "import"]
        assert later == [], f"{argv}: imported {later} before SIGHUP had a handler"
        usr1 = events.index(("signal", int(signal.SIGUSR1)))
        assert usr1 < hup or all(kind != "import" for kind, _ in events[:usr1])
