"""When an advert arrived, on the loop's clock: the kernel's receive timestamp, checked.

Rule (RFC 5798 §6.4.2): a Backup's Skew_Time and Master_Down_Interval run from the arrival of
the advert. The kernel stamps every datagram on arrival (SO_TIMESTAMPNS, CLOCK_REALTIME); the
daemon reads it later -- after the loop wakes, after other callbacks, after a stall. Starting the
timers from the read would add that delay to every failover; starting them from the stamp
does not. A stamp is trusted only where it cannot make a timer start *earlier* than the RFC
allows; otherwise the read time is used, which is always late, never early:

- no stamp: the read time;
- the stamp is converted with an offset (CLOCK_REALTIME - loop clock) read beside it, realtime
  first, so that a pause between the two reads makes the arrival later, never earlier;
- a stamp after the read (a clock stepped back, a bad stamp): the read time;
- a stamp older than MAX_AGE: the read time (a stall that long is not a question of receive
  time; a stamp that old is more likely wrong than late);
- the realtime clock stepped forward since the previous read (the offset grew by more than
  STEP_TOLERANCE): a stamp taken before the step would convert too early, so this read's
  datagrams get the read time.

Pure: the caller passes the stamp and the two clock readings; `ArrivalClock` keeps the last
offset to see a step.
"""

from __future__ import annotations

MAX_AGE = 2.0  # s
STEP_TOLERANCE = 100e-6  # s the offset may grow between reads before it counts as a clock step


class ArrivalClock:
    """Converts kernel receive stamps to the loop clock; one per socket."""

    __slots__ = ("_offset", "stale", "stepped")

    def __init__(self) -> None:
        self._offset: float | None = None
        self.stale = 0  # stamps refused as too old or in the future (counted, for the snapshot)
        self.stepped = 0  # reads whose stamps were refused because the clock stepped

    def offset(self, read_real: float, read_loop: float) -> float | None:
        """The realtime-to-loop offset of this read (`read_real` taken first), or None when the
        realtime clock moved forward since the last read (a step: stamps of this read unusable)."""
        offset = read_real - read_loop
        last = self._offset
        self._offset = offset
        if last is not None and offset - last > STEP_TOLERANCE:
            self.stepped += 1
            return None
        return offset

    def arrival(self, stamp: float | None, offset: float | None, read_loop: float) -> float:
        """The arrival of a datagram stamped `stamp` (CLOCK_REALTIME s, None: none) on the loop
        clock, read at `read_loop` with `offset` from `offset()` (module rules)."""
        if stamp is None or offset is None:
            return read_loop
        at = stamp - offset
        if at > read_loop or read_loop - at > MAX_AGE:
            self.stale += 1
            return read_loop
        return at
