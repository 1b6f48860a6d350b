"""Timers that fire within microseconds of their deadline, on the asyncio loop.

Why: asyncio sleeps in epoll_wait, whose timeout is whole milliseconds, and Python rounds it
up, so a `loop.call_at` callback runs on average half a millisecond (at worst one) after its
time. For VRRP that lateness lands directly on the failover time: a Backup's skew time or
master-down interval ends, and the takeover waits for the next millisecond tick. keepalived
arms its timers with microsecond precision; so do we, with one CLOCK_MONOTONIC timerfd per loop
(asyncio's clock is time.monotonic, the same clock) armed at the earliest deadline with
TFD_TIMER_ABSTIME. The kernel's hrtimer wakes epoll when it expires.

Rules:
- `call_at(when, callback, *args)` and `handle.cancel()` mean what they mean in asyncio;
  callbacks due at the same moment run in the order they were scheduled, unless a `rank` was
  given: then those of lower rank run first whenever they were scheduled (the routers of a
  shared advert grid, vrrp/advert_schedule.py, keep one place in their batch even when one
  leaves the steady path and comes back, so a batch's send time never shows as one long gap).
- Cancelled handles stay in the heap until their time (as in asyncio) and are skipped.
- `again(handle, when)`, from inside the handle's own callback, schedules it once more: a
  periodic timer costs one heap entry per period and no new handle.
- Where no timerfd can be had (not Linux, no libc), `PreciseTimers` hands everything to
  `loop.call_at`: less precise, same behaviour.
- `on_lag(lag, now)`, when given, hears once per wake-up how late the loop ran the timers:
  now − the deadline the timerfd was armed for (loop_lag.py keeps the record). A stalled loop
  shows here first: the kernel's timer expired on time, the loop read it late. Measured at the
  wake-up, heard after the callbacks due: the record's bookkeeping is not on the way to a
  Backup's takeover (issue 18).
"""

from __future__ import annotations

import asyncio
import ctypes
import heapq
import itertools
import os
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any, Callable

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = 0o4000
TFD_CLOEXEC = 0o2000000
TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> Any:
    # The interpreter's own symbols (dlopen(NULL)) include libc's: no `ctypes.util.find_library`,
    # which runs `ldconfig -p` in a subprocess (tens of milliseconds of start-up, issue 18).
    try:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p]
        return lib
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


class TimerHandle:
    __slots__ = ("_when", "_callback", "_args", "cancelled", "_inner", "early", "rank")

    def __init__(self, when: float, callback: Callable[..., None], args: tuple[Any, ...], early: float = 0.0,
                 rank: int = 0) -> None:
        self._when = when
        self.early = early
        self.rank = rank
        self._callback = callback
        self._args = args
        self.cancelled = False
        self._inner: asyncio.TimerHandle | None = None

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self.cancelled = True
        self._callback = _noop
        self._args = ()
        if self._inner is not None:
            self._inner.cancel()


def _noop(*_: Any) -> None:
    pass


class PreciseTimers:
    """A heap of deadlines behind one timerfd on `loop`."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 on_lag: Callable[[float, float], None] | None = None) -> None:
        self._loop = loop
        self.on_lag = on_lag
        self._heap: list[tuple[float, int, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._armed: float | None = None
        self._expiring = False  # inside _expired: it arms once at the end, not per callback
        self._spec = _Itimerspec()
        self.fd = -1
        if _LIBC is not None:
            fd = _LIBC.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
            if fd >= 0:
                self.fd = fd
                loop.add_reader(fd, self._expired)

    @property
    def precise(self) -> bool:
        return self.fd >= 0

    def call_at(self, when: float, callback: Callable[..., None], *args: Any, early: float = 0.0,
                rank: int = 0) -> TimerHandle:
        """`early`: the callback may run up to this long before `when`, together with another
        that is due (periodic sends whose exact phase does not matter: one wake-up serves
        several of them). `rank`: among callbacks due at the same moment, the lower rank runs
        first (then the order of scheduling)."""
        handle = TimerHandle(when, callback, args, early, rank)
        if self.fd < 0:
            handle._inner = self._loop.call_at(when, callback, *args)
            return handle
        heapq.heappush(self._heap, (when, rank, next(self._seq), handle))
        if not self._expiring and (self._armed is None or when < self._armed):
            self._arm(when)
        return handle

    def again(self, handle: TimerHandle, when: float) -> TimerHandle:
        """Run `handle`'s callback again at `when`, from inside that callback (a periodic timer
        without a new handle per period; the steady Master's adverts, daemon/router.py)."""
        if self.fd < 0:
            return self.call_at(when, handle._callback, *handle._args, early=handle.early, rank=handle.rank)
        handle._when = when
        heapq.heappush(self._heap, (when, handle.rank, next(self._seq), handle))
        if not self._expiring and (self._armed is None or when < self._armed):
            self._arm(when)
        return handle

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> TimerHandle:
        return self.call_at(self._loop.time() + delay, callback, *args)

    def _arm(self, when: float) -> None:
        self._armed = when
        sec = int(when)
        nsec = int((when - sec) * 1e9)
        if sec == 0 and nsec == 0:
            nsec = 1  # an all-zero it_value would disarm the timer
        value = self._spec.it_value
        value.tv_sec = sec
        value.tv_nsec = nsec
        if _LIBC.timerfd_settime(self.fd, TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    def _expired(self) -> None:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass
        armed = self._armed
        self._armed = None
        heap = self._heap
        now = woke = self._loop.time()
        self._expiring = True
        pop = heapq.heappop
        clock = self._loop.time
        try:
            while heap:
                when, _rank, _seq, handle = heap[0]
                if when > now and when - handle.early > now:
                    break
                pop(heap)
                if handle.cancelled:
                    continue
                try:
                    handle._callback(*handle._args)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    self._loop.call_exception_handler({"message": "exception in a precise timer callback",
                                                       "exception": exc, "handle": handle})
                now = clock()
            if armed is not None and self.on_lag is not None:
                self.on_lag(woke - armed, woke)
        finally:
            self._expiring = False
            while heap and heap[0][3].cancelled:
                heapq.heappop(heap)
            if heap and self.fd >= 0:
                self._arm(heap[0][0])

    def close(self) -> None:
        for _when, _rank, _seq, handle in self._heap:
            handle.cancel()
        self._heap.clear()
        if self.fd >= 0:
            if not self._loop.is_closed():
                self._loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
