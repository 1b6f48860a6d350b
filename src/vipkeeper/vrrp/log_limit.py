"""Rate limit for the log lines a received advert can cause.

Rule
- A flood of bad or lower-priority adverts must not become a flood of log lines (a reflected
  denial of service on the log and the disk), while every dropped advert is still counted: this
  only decides whether a line is *written*; counters are kept elsewhere and stay exact.
- keepalived >= 2.3.3 (vrrp.c log_rate_limited_error) logs each kind of error once per instance
  and stays silent until the instance changes state, so a second burst an hour later is
  invisible. vipkeeper logs the first line of each (instance, reason) at once, then at most one
  line per `interval` seconds, and that line says how many were left out since the last one.

How it works: per key, the time of the last written line and a count of the lines skipped since.
Time is passed in (any monotonic scale); nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Hashable

DEFAULT_INTERVAL = 60.0


class LogLimiter:
    """`allow(key, now)` -> (write it?, how many lines of this key were skipped before it)."""

    __slots__ = ("interval", "_last", "_skipped", "suppressed_total")

    def __init__(self, interval: float = DEFAULT_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[Hashable, float] = {}
        self._skipped: dict[Hashable, int] = {}
        self.suppressed_total = 0

    def allow(self, key: Hashable, now: float) -> tuple[bool, int]:
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._skipped[key] = self._skipped.get(key, 0) + 1
            self.suppressed_total += 1
            return False, 0
        self._last[key] = now
        return True, self._skipped.pop(key, 0)

    def suppressed(self, key: Hashable) -> int:
        """Lines of `key` skipped since its last written line."""
        return self._skipped.get(key, 0)
