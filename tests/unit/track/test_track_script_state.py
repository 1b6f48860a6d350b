"""rise/fall counting exactly as keepalived (research notes §5)."""

import pytest

from vipkeeper.track.script_state import ScriptState


def run(state, results):
    return [state.record(r) for r in results]


def test_initial_one_result_decides():
    assert run(ScriptState(3, 3), [True]) == [True]
    assert run(ScriptState(3, 3), [False]) == [False]


def test_init_fail_needs_rise_successes():
    s = ScriptState(2, 1, init_fail=True)
    assert s.ok is False
    assert run(s, [True, True]) == [None, True]


@pytest.mark.parametrize("rise,fall", [(1, 1), (2, 3), (3, 2), (5, 5)])
def test_rise_and_fall_streaks(rise, fall):
    s = ScriptState(rise, fall)
    s.record(True)
    assert s.ok is True
    # fall-1 failures keep it OK, the fall-th flips it
    assert run(s, [False] * (fall - 1)) == [None] * (fall - 1)
    assert s.record(False) is False
    # rise-1 successes keep it KO, the rise-th flips it
    assert run(s, [True] * (rise - 1)) == [None] * (rise - 1)
    assert s.record(True) is True


def test_success_rearms_the_fall_counter():
    s = ScriptState(1, 3)
    s.record(True)
    assert run(s, [False, False, True, False, False]) == [None] * 5
    assert s.record(False) is False


def test_interrupted_rise_restarts_counting():
    s = ScriptState(3, 1)
    s.record(False)
    assert run(s, [True, True, False, True, True]) == [None] * 5
    assert s.record(True) is True
