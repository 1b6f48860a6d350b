"""bench/client.py's outage: the span of session *starts* around the failed ones, as a client sees it."""

from bench.client import outage
from bench.relay import Session


def s(t0: float, t1: float, result: str = "ok") -> Session:
    return Session(f"x-{t0}", t0, t1, result, "quit" if result == "ok" else "connect", result == "ok")


def test_no_failed_session_is_no_outage() -> None:
    assert outage([s(0.0, 0.05), s(0.1, 0.15)], t0=0.05) == 0.0


def test_refused_sessions_between_good_ones() -> None:
    sessions = [s(0.0, 0.04), s(0.1, 0.14), s(0.2, 0.2, "refused"), s(0.3, 0.3, "refused"), s(0.4, 0.44)]
    assert abs(outage(sessions, t0=0.15) - 300.0) < 1e-6


def test_a_hung_session_counts_from_when_it_started_not_its_timeout() -> None:
    # started at 0.2, timed out 5 s later; the relay was back for the session started at 0.3
    sessions = [s(0.0, 0.04), s(0.1, 0.14), s(0.2, 5.2, "timeout"), s(0.3, 0.34), s(0.4, 0.44)]
    assert abs(outage(sessions, t0=0.15) - 200.0) < 1e-6


def test_failures_before_the_injection_are_not_this_runs() -> None:
    sessions = [s(0.0, 0.01, "reset"), s(0.1, 0.14), s(0.2, 0.24)]
    assert outage(sessions, t0=0.15) == 0.0


def test_a_good_session_slowed_by_a_retransmitted_syn_counts_at_its_end() -> None:
    sessions = [s(0.0, 0.04), s(0.1, 5.1, "timeout"), s(0.2, 1.25), s(1.3, 1.34)]
    assert abs(outage(sessions, t0=0.05) - 1210.0) < 1e-6
