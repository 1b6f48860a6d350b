"""The daemon's watch on its own event loop: lag record, late-run log line, systemd watchdog.

Kept apart from the runtime because it decides nothing about VRRP. The record is loop_lag.py's;
this connects it to the timers (precise_timers.py calls `on_lag` once per wake-up), the log and
systemd. The watchdog pings (WATCHDOG=1, every half WATCHDOG_USEC) are timers on the same loop,
so a loop that stops running timers stops pinging, and systemd restarts the daemon (the unit's
WatchdogSec=).
"""

from __future__ import annotations

import logging
import os
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

from vipkeeper.daemon.process import NotifySocket, watchdog_interval
from vipkeeper.loop_lag import LoopLag
from vipkeeper.precise_timers import PreciseTimers, TimerHandle

log = logging.getLogger("vipkeeper")


class LoopWatch:
    def __init__(self) -> None:
        self.lag = LoopLag()
        self.watchdog_interval: float | None = None
        self.watchdog_pings = 0
        self._notify: NotifySocket | None = None
        self._timers: PreciseTimers | None = None
        self._handle: TimerHandle | None = None

    def on_lag(self, lag: float, now: float) -> None:
        line = self.lag.record(lag, now)
        if line is not None:
            log.warning("%s", line)

    def start_watchdog(self, timers: PreciseTimers, environ: dict[str, str] | None = None) -> None:
        """Ping at once, then every half WATCHDOG_USEC, if systemd asked for it."""
        env = os.environ if environ is None else environ
        interval = watchdog_interval(env)
        if interval is None:
            return
        try:
            self._notify = NotifySocket(env["NOTIFY_SOCKET"])
        except OSError as exc:
            log.error("watchdog: cannot reach NOTIFY_SOCKET: %s", exc)
            return
        self.watchdog_interval = interval
        self._timers = timers
        log.info("systemd watchdog: pinging every %.3g s", interval)
        self._ping()

    def _ping(self) -> None:
        assert self._notify is not None and self._timers is not None and self.watchdog_interval
        if self._notify.send(b"WATCHDOG=1"):
            self.watchdog_pings += 1
        self._handle = self._timers.call_later(self.watchdog_interval, self._ping)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._notify is not None:
            self._notify.close()
            self._notify = None

    def as_dict(self) -> dict[str, Any]:
        return {**self.lag.as_dict(), "watchdog_interval": self.watchdog_interval,
                "watchdog_pings": self.watchdog_pings}
