"""How late the event loop ran its timers: the record behind the lag gauge, histogram and log line.

Rule
- A daemon that stalls (a blocked loop, a stopped process, a starved CPU) misses its adverts and
  its takeover deadlines, and the peer takes over: a split brain no log explains (keepalived's
  "A thread timer expired" is the same symptom). So every time the loop runs a timer, how late
  it ran it (actual − scheduled, never negative) is recorded: last, max, sum and count, and a
  cumulative histogram on fixed buckets (Prometheus `le` semantics).
- A run later than `threshold` (a tenth of the shortest advert interval) is *late*: counted, and
  worth a log line; the line is rate limited (vrrp/log_limit.py) per order of magnitude of the
  lag (10 ms, 100 ms, 1 s, ...): at most one line per `log_interval` for each, saying how many
  late runs of that size it stands for. A loaded host that runs timers 20 ms late all the time
  does not flood its log, and a 300 ms stall in the middle of that still gets its line at once.

How it works: `record(lag, now)` is called by the timer path once per wake-up (precise_timers.py
measures it against the deadline the timerfd was armed for). It returns None, or the text of the
log line to write. Time is passed in; nothing here reads a clock.
"""

from __future__ import annotations

import bisect
import math
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

from vipkeeper.vrrp.log_limit import LogLimiter

# seconds; +Inf is implicit (the count)
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LOG_INTERVAL = 10.0  # s between two "ran late" lines at most


class LoopLag:
    __slots__ = ("threshold", "last", "max", "sum", "count", "late", "_counts", "_limiter")

    def __init__(self, threshold: float = 0.1, log_interval: float = LOG_INTERVAL) -> None:
        self.threshold = threshold
        self.last = 0.0
        self.max = 0.0
        self.sum = 0.0
        self.count = 0
        self.late = 0
        self._counts = [0] * (len(BUCKETS) + 1)
        self._limiter = LogLimiter(log_interval)

    def set_advert_interval(self, shortest: float | None) -> None:
        """The late threshold: a tenth of the shortest advert interval (1 s's tenth without one)."""
        self.threshold = (shortest if shortest else 1.0) / 10

    def record(self, lag: float, now: float) -> str | None:
        if lag < 0.0:
            lag = 0.0
        self.last = lag
        if lag > self.max:
            self.max = lag
        self.sum += lag
        self.count += 1
        self._counts[bisect.bisect_left(BUCKETS, lag)] += 1
        if lag <= self.threshold:
            return None
        self.late += 1
        write, skipped = self._limiter.allow(math.floor(math.log10(lag)), now)
        if not write:
            return None
        plural = "s" if skipped != 1 else ""
        more = f"; {skipped} more late run{plural} of this size since the last such line" if skipped else ""
        return (f"event loop ran its timers {lag * 1000:.1f} ms late (more than {self.threshold * 1000:.1f} ms, "
                f"a tenth of the shortest advert interval){more}")

    def buckets(self) -> list[list[float]]:
        """[[le, cumulative count], ...] for every finite bucket (the +Inf one is `count`)."""
        out, total = [], 0
        for le, n in zip(BUCKETS, self._counts):
            total += n
            out.append([le, total])
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"last": self.last, "max": self.max, "sum": self.sum, "count": self.count,
                "late": self.late, "late_threshold": self.threshold,
                "log_lines_suppressed": self._limiter.suppressed_total, "buckets": self.buckets()}
