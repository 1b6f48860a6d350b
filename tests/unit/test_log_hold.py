"""log_hold.py: lines logged during a hold are written at its end, in order, with the time they
were logged; `line` makes its record only then; nothing is held where the daemon did not set
the logger tree up."""

from __future__ import annotations

import io
import logging
import time

import pytest

from vipkeeper import log_hold


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def tree():
    root = logging.getLogger("vipkeeper")
    saved = (root.handlers[:], root.propagate, root.level)
    lines = _Lines()
    root.handlers = [lines]
    root.propagate = False
    root.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        root.handlers, root.propagate, root.level = saved[0], saved[1], saved[2]


def test_held_lines_come_out_at_release_in_order_with_their_own_time(tree: _Lines) -> None:
    log = logging.getLogger("vipkeeper.vrrp")
    held = log_hold.hold()
    assert held is not None
    before = time.time()
    log.info("first %s", "line")
    log_hold.line(log, logging.INFO, "(VI_1) Entering MASTER STATE", {"vrid": 51})
    log_hold.line(log, logging.DEBUG, "below the level: dropped")
    logging.getLogger("vipkeeper.track").warning("third")
    after = time.time()
    assert tree.records == []  # nothing written during the hold
    time.sleep(0.01)
    log_hold.release(held)
    assert [r.getMessage() for r in tree.records] == ["first line", "(VI_1) Entering MASTER STATE", "third"]
    made = tree.records[1]
    assert before <= made.created <= after  # when it was logged, not when it was written
    assert made.msecs == int((made.created - int(made.created)) * 1000)
    assert made.vrid == 51 and made.name == "vipkeeper.vrrp" and made.levelno == logging.INFO
    assert logging.getLogger("vipkeeper").handlers == [tree]


def test_holds_nest_and_only_the_outer_release_writes(tree: _Lines) -> None:
    log = logging.getLogger("vipkeeper.vrrp")
    outer = log_hold.hold()
    inner = log_hold.hold()
    assert inner is None
    log.info("a")
    log_hold.release(inner)
    assert tree.records == []
    log_hold.release(outer)
    assert [r.getMessage() for r in tree.records] == ["a"]


def test_without_a_hold_line_logs_at_once(tree: _Lines) -> None:
    log_hold.line(logging.getLogger("vipkeeper.vrrp"), logging.INFO, "now")
    assert [r.getMessage() for r in tree.records] == ["now"]


def test_a_tree_that_propagates_is_not_held(caplog: pytest.LogCaptureFixture) -> None:
    root = logging.getLogger("vipkeeper")
    assert root.propagate  # as in a test or a library user: records go to the root logger
    caplog.set_level(logging.INFO)
    assert log_hold.hold() is None
    log_hold.line(logging.getLogger("vipkeeper.vrrp"), logging.INFO, "straight through")
    assert "straight through" in caplog.text


def test_the_console_formatter_prints_the_logged_time(tree: _Lines) -> None:
    from vipkeeper.daemon.logsetup import ConsoleFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ConsoleFormatter())
    logging.getLogger("vipkeeper").handlers = [handler]
    held = log_hold.hold()
    log_hold.line(logging.getLogger("vipkeeper.vrrp"), logging.INFO, "stamped")
    logged = time.time()
    time.sleep(0.05)
    log_hold.release(held)
    text = stream.getvalue()
    assert text.endswith("stamped\n")
    want = time.strftime("%H:%M:%S", time.localtime(logged))
    assert f"T{want}." in text


def test_hold_line_starts_a_hold_with_its_line_first(tree: _Lines) -> None:
    track = logging.getLogger("vipkeeper.track")
    before = time.time()
    held = log_hold.hold_line(track, logging.INFO, "Quorum lost for tracked process trk")
    after = time.time()
    assert held is not None
    assert log_hold.hold() is None  # it is the hold: another nests in it
    log_hold.line(logging.getLogger("vipkeeper.vrrp"), logging.INFO, "(VI_1) Entering FAULT STATE")
    assert tree.records == []
    log_hold.release(held)
    assert [r.getMessage() for r in tree.records] == ["Quorum lost for tracked process trk",
                                                      "(VI_1) Entering FAULT STATE"]
    assert before <= tree.records[0].created <= after
    assert tree.records[0].name == "vipkeeper.track"


def test_hold_line_below_the_level_is_dropped_at_release_and_without_a_hold_goes_at_once(tree: _Lines) -> None:
    track = logging.getLogger("vipkeeper.track")
    log_hold.release(log_hold.hold_line(track, logging.DEBUG, "not at INFO"))
    assert tree.records == []
    outer = log_hold.hold()
    assert log_hold.hold_line(track, logging.INFO, "nested") is None  # kept by the outer hold
    log_hold.release(outer)
    assert [r.getMessage() for r in tree.records] == ["nested"]


def test_a_line_written_later_keeps_the_time_it_was_met(tree: _Lines) -> None:
    vrrp = logging.getLogger("vipkeeper.vrrp")
    met = time.time() - 0.5
    log_hold.line(vrrp, logging.INFO, "(VI_1) Receive advertisement timeout", {"vrid": 51}, met)
    log_hold.line(vrrp, logging.DEBUG, "below the level", None, met)
    (made,) = tree.records
    assert made.created == met and made.vrid == 51 and made.getMessage() == "(VI_1) Receive advertisement timeout"
