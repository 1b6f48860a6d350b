"""Log lines held back while time-critical work runs, then written in order.

Rule: a line keeps the time it was logged at (`record.created`); only the work -- making the
record, formatting it, writing it to stderr or journald: 60 to 350 µs a line in Python on a loaded
host, where the code is cold after a quiet second (issue 18) -- waits until the hold ends. Lines come out in the order they were
logged, none is lost, none is duplicated. Used where a line comes before work on a failover's
path: the process tracker's "Quorum lost ..." before the priority-0 advert it causes, the core's
"Receive advertisement timeout" / "Entering MASTER STATE" before the new Master's advert and VIPs
(daemon/router.py passes those over and writes them after, with `line(..., created=)`). keepalived writes the same lines in C, in a few microseconds; held, ours cost
the critical path only the making of the record.

How: `hold()` swaps the handlers of the `vipkeeper` logger for one that keeps the records;
`release(token)` puts the handlers back and hands each kept record to them. `line(logger, level,
message)` is the cheap form for the lines on the path itself: during a hold it keeps only the
message and the time (the record is made at release, with that time); otherwise it logs (with
`created`, a line met earlier and written now keeps that time). `hold_line(logger, level,
message)` starts a hold whose first line is that one, for the process tracker's "Quorum lost"
(the fewest calls before the change it announces goes out: the level is asked at release). Holds nest: only
the outermost release writes. Only a logger tree the daemon configured is held (handlers on
`vipkeeper`, no propagation to the root logger): anywhere else (tests, a library user) `hold()`
does nothing. A line logged from another thread during a hold is held too and written at
release, still in order; one that arrives after the release goes straight through.
"""

from __future__ import annotations

import logging
import threading
import time
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

_TREE = logging.getLogger("vipkeeper")  # getLogger takes logging's lock: looked up once
# Guards a holder's records against another thread's lines; one for every holder (a hold
# makes none: the fewest calls on a failover's path), each use a few instructions long.
_GUARD = threading.Lock()


class _Holder:
    """Stands in for the real handlers during a hold (all `Logger.callHandlers` asks of a
    handler is `level` and `handle`)."""

    level = logging.NOTSET

    def __init__(self, real: list[logging.Handler], first: Any = None) -> None:
        self.real = real
        # records, and lines from `line` not made into records yet: (logger, level, message, extra, time)
        self.records: list[Any] = [] if first is None else [first]
        self.active = True
        self.guard = _GUARD

    def handle(self, record: logging.LogRecord) -> bool:
        with self.guard:
            if self.active:
                self.records.append(record)
                return True
        _write(self.real, record)  # released meanwhile (another thread): straight through
        return True


def _write(handlers: list[logging.Handler], record: logging.LogRecord) -> None:
    for handler in handlers:
        if record.levelno >= handler.level:
            handler.handle(record)


def hold() -> _Holder | None:
    """Start holding the daemon's log lines; pass the result to `release`. None: nothing held
    (already holding, or the tree is not the daemon's)."""
    tree = _TREE
    handlers = tree.handlers
    if not handlers or tree.propagate or isinstance(handlers[0], _Holder):
        return None
    holder = _Holder(handlers)
    tree.handlers = [holder]  # type: ignore[list-item]
    return holder


def hold_line(logger: logging.Logger, level: int, message: str) -> _Holder | None:
    """`hold()`, with `line(logger, level, message)` its first line; pass the result to
    `release`. Where nothing can be held (already holding, not the daemon's tree), the line goes
    as `line` sends it and None comes back."""
    tree = _TREE
    handlers = tree.handlers
    if not handlers or tree.propagate or handlers[0].__class__ is _Holder:
        line(logger, level, message)
        return None
    holder = _Holder(handlers, (logger, level, message, None, time.time()))
    tree.handlers = [holder]  # type: ignore[list-item]
    return holder


def line(logger: logging.Logger, level: int, message: str, extra: dict[str, Any] | None = None,
         created: float | None = None) -> None:
    """`logger.log(level, "%s", message, extra=extra)`, made later during a hold (module
    docstring); `created`: the time the line stands for (time.time()'s scale), else now."""
    handlers = _TREE.handlers
    holder = handlers[0] if handlers else None
    if isinstance(holder, _Holder) and holder.active:
        if logger.isEnabledFor(level):
            holder.records.append((logger, level, message, extra, time.time() if created is None else created))
        return
    if created is None:
        logger.log(level, "%s", message, extra=extra)
    elif logger.isEnabledFor(level):
        logger.handle(_record((logger, level, message, extra, created)))


def _record(held: Any) -> logging.LogRecord:
    if isinstance(held, logging.LogRecord):
        return held
    logger, level, message, extra, created = held
    record = logger.makeRecord(logger.name, level, "", 0, "%s", (message,), None, extra=extra)
    record.created = created
    record.msecs = int((created - int(created)) * 1000) + 0.0  # as LogRecord computes it
    record.relativeCreated = (created - logging._startTime) * 1000  # type: ignore[attr-defined]
    return record


def release(holder: _Holder | None) -> None:
    """End the hold `hold()` returned and write what it kept, in order."""
    if holder is None:
        return
    tree = _TREE
    with holder.guard:
        holder.active = False
        tree.handlers = holder.real
        records, holder.records = holder.records, []
    for held in records:
        if held.__class__ is tuple and not held[0].isEnabledFor(held[1]):
            continue  # a hold_line below the level (line() asks before it keeps one)
        _write(holder.real, _record(held))
