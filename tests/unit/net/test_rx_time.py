"""net/rx_time.py: the kernel's receive stamp on the loop clock, and every case where the read
time is used instead because the stamp could start a timer too early."""

from __future__ import annotations

from vipkeeper.net.rx_time import MAX_AGE, STEP_TOLERANCE, ArrivalClock

OFFSET = 1_700_000_000.0  # realtime - loop clock


def test_a_stamp_becomes_the_arrival_on_the_loop_clock() -> None:
    clock = ArrivalClock()
    off = clock.offset(OFFSET + 50.0, 50.0)
    assert off == OFFSET
    assert abs(clock.arrival(OFFSET + 49.8, off, 50.0) - 49.8) < 1e-6  # floats near 1.7e9 s resolve ~0.2 us
    assert clock.stale == 0 and clock.stepped == 0


def test_no_stamp_means_the_read_time() -> None:
    clock = ArrivalClock()
    assert clock.arrival(None, clock.offset(OFFSET + 50.0, 50.0), 50.0) == 50.0


def test_a_stamp_after_the_read_means_the_read_time() -> None:
    clock = ArrivalClock()
    off = clock.offset(OFFSET + 50.0, 50.0)
    assert clock.arrival(OFFSET + 50.001, off, 50.0) == 50.0
    assert clock.stale == 1


def test_a_stamp_older_than_max_age_means_the_read_time() -> None:
    clock = ArrivalClock()
    off = clock.offset(OFFSET + 50.0, 50.0)
    assert abs(clock.arrival(OFFSET + 50.0 - MAX_AGE + 0.01, off, 50.0) - (50.0 - MAX_AGE + 0.01)) < 1e-6  # floats near 1.7e9 s resolve ~0.2 us
    assert clock.arrival(OFFSET + 50.0 - MAX_AGE - 0.01, off, 50.0) == 50.0
    assert clock.stale == 1


def test_a_realtime_step_forward_refuses_that_reads_stamps() -> None:
    clock = ArrivalClock()
    clock.offset(OFFSET + 50.0, 50.0)
    # the clock jumped 5 s forward between the datagram's arrival and its read: its stamp is in
    # the old scale, so converting it with the new offset would put it 5 s too early
    stepped = clock.offset(OFFSET + 5.0 + 51.0, 51.0)
    assert stepped is None and clock.stepped == 1
    assert clock.arrival(OFFSET + 50.9, stepped, 51.0) == 51.0
    # the next read has a steady offset again: stamps are used
    off = clock.offset(OFFSET + 5.0 + 52.0, 52.0)
    assert off == OFFSET + 5.0
    assert abs(clock.arrival(OFFSET + 5.0 + 51.9, off, 52.0) - 51.9) < 1e-6  # floats near 1.7e9 s resolve ~0.2 us


def test_reading_jitter_within_the_tolerance_is_no_step_and_a_step_back_is_safe() -> None:
    clock = ArrivalClock()
    clock.offset(OFFSET + 50.0, 50.0)
    assert clock.offset(OFFSET + STEP_TOLERANCE / 2 + 51.0, 51.0) is not None
    # backwards: stamps taken before it convert later than they were (never earlier): allowed
    back = clock.offset(OFFSET - 3.0 + 52.0, 52.0)
    assert back is not None
    assert clock.arrival(OFFSET + 51.95, back, 52.0) == 52.0  # "in the future": the read time
