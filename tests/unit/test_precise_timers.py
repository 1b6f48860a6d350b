"""Precise timers behave like asyncio's: order, cancel, rescheduling from a callback."""

from __future__ import annotations

import asyncio

from vipkeeper.precise_timers import PreciseTimers


def test_callbacks_run_in_deadline_order_and_cancelled_ones_never() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        timers = PreciseTimers(loop)
        assert timers.precise  # Linux: a timerfd backs them
        seen: list[str] = []
        done = asyncio.Event()
        now = loop.time()
        timers.call_at(now + 0.03, lambda: (seen.append("c"), done.set()))
        timers.call_at(now + 0.01, seen.append, "a")
        gone = timers.call_at(now + 0.005, seen.append, "never")
        timers.call_at(now + 0.02, seen.append, "b")
        timers.call_at(now + 0.02, seen.append, "b2")  # same deadline: scheduling order
        gone.cancel()
        await asyncio.wait_for(done.wait(), 5)
        timers.close()
        return seen

    assert asyncio.run(main()) == ["a", "b", "b2", "c"]


def test_callback_may_schedule_earlier_and_past_deadlines_fire_at_once() -> None:
    async def main() -> list[tuple[str, bool]]:
        loop = asyncio.get_running_loop()
        timers = PreciseTimers(loop)
        seen: list[tuple[str, bool]] = []
        done = asyncio.Event()

        def first() -> None:
            seen.append(("first", loop.time() >= start + 0.01))
            timers.call_at(loop.time() - 1.0, lambda: seen.append(("past", True)))
            timers.call_later(0.005, lambda: (seen.append(("later", loop.time() >= start + 0.015)), done.set()))

        start = loop.time()
        timers.call_at(start + 1000.0, seen.append, ("far", False))  # never reached: armed earlier below
        timers.call_at(start + 0.01, first)
        await asyncio.wait_for(done.wait(), 5)
        timers.close()
        return seen

    assert asyncio.run(main()) == [("first", True), ("past", True), ("later", True)]


def test_a_failing_callback_does_not_stop_the_others() -> None:
    async def main() -> tuple[list[str], list[object]]:
        loop = asyncio.get_running_loop()
        errors: list[object] = []
        loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx.get("exception")))
        timers = PreciseTimers(loop)
        seen: list[str] = []
        done = asyncio.Event()
        now = loop.time()
        timers.call_at(now + 0.005, lambda: 1 / 0)
        timers.call_at(now + 0.005, lambda: (seen.append("ok"), done.set()))
        await asyncio.wait_for(done.wait(), 5)
        timers.close()
        return seen, errors

    seen, errors = asyncio.run(main())
    assert seen == ["ok"] and len(errors) == 1 and isinstance(errors[0], ZeroDivisionError)


def test_a_lenient_timer_rides_along_with_one_that_is_due() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        timers = PreciseTimers(loop)
        seen: list[tuple[str, float]] = []
        done = asyncio.Event()
        start = loop.time()
        timers.call_at(start + 0.02, lambda: seen.append(("strict", loop.time() - start)))
        timers.call_at(start + 0.024, lambda: seen.append(("lenient", loop.time() - start)), early=0.01)
        timers.call_at(start + 0.026, lambda: (seen.append(("strict2", loop.time() - start)), done.set()), early=0.0)
        await asyncio.wait_for(done.wait(), 5)
        timers.close()
        return seen

    seen = asyncio.run(main())
    assert [name for name, _ in seen] == ["strict", "lenient", "strict2"]
    # the lenient one ran in the same wake-up as the strict one, before its own time; the
    # strict one after it never runs early
    assert seen[1][1] < 0.024 and seen[0][1] >= 0.02 and seen[2][1] >= 0.026


def test_strict_deadlines_never_run_early_among_lenient_ones() -> None:
    """A Backup's skew / master-down timer (early=0) shares the heap with Masters' adverts that
    may go up to `early` before their time: however the two interleave, no strict callback runs
    before its deadline (RFC 5798's lower bound), and each lenient one runs no earlier than its
    own allowance."""
    import random

    async def main() -> list[tuple[float, float, float]]:
        loop = asyncio.get_running_loop()
        timers = PreciseTimers(loop)
        rng = random.Random(7)
        ran: list[tuple[float, float, float]] = []  # (due, early, ran at)
        start = loop.time()
        last = start
        for _ in range(60):
            due = start + rng.uniform(0.002, 0.08)
            early = rng.choice((0.0, 0.0, 0.004, 0.01))
            last = max(last, due)
            timers.call_at(due, lambda d=due, e=early: ran.append((d, e, loop.time())), early=early)
        done = asyncio.Event()
        timers.call_at(last + 0.001, done.set)
        await asyncio.wait_for(done.wait(), 5)
        timers.close()
        return ran

    ran = asyncio.run(main())
    assert len(ran) == 60
    assert any(at < due for due, early, at in ran if early > 0), "no lenient timer rode along: the test proves nothing"
    for due, early, at in ran:
        assert at >= due - early, (due, early, at)
        if early == 0.0:
            assert at >= due, f"a strict timer ran {(due - at) * 1e6:.0f} µs early"


def test_ranked_timers_due_together_keep_their_order_when_one_is_scheduled_anew() -> None:
    """The routers of one advert grid point: each re-arms itself with `again`; one leaves the
    periodic path (a new handle by `call_at`, as a Master's delayed GARP round makes it) and comes
    back. Without ranks it would run last from then on, its gap stretched by the batch's length."""

    async def main() -> list[list[int]]:
        loop = asyncio.get_running_loop()
        timers = PreciseTimers(loop)
        rounds: list[list[int]] = [[] for _ in range(4)]
        done = asyncio.Event()
        step = 0.01
        start = loop.time() + step

        def fire(rank: int, n: int, handle_box: list) -> None:
            rounds[n].append(rank)
            if n + 1 == len(rounds):
                if rank == 5:
                    done.set()
                return
            when = start + (n + 1) * step
            if rank == 3 and n == 1:  # scheduled anew, after the others were
                loop.call_soon(lambda: handle_box.__setitem__(
                    0, timers.call_at(when, fire, rank, n + 1, handle_box, rank=rank)))
                return
            timers.again(handle_box[0], when)
            handle_box[0]._args = (rank, n + 1, handle_box)

        for rank in (4, 2, 5, 1, 3):  # scheduling order is not rank order
            box: list = [None]
            box[0] = timers.call_at(start, fire, rank, 0, box, rank=rank)
        await asyncio.wait_for(done.wait(), 5)
        timers.close()
        return rounds

    assert asyncio.run(main()) == [[1, 2, 3, 4, 5]] * 4
