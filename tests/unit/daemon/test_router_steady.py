"""A steady Master's adverts leave from the router's own timer (daemon/router.py), and the
result is the core's: the same datagrams at the same deadlines as a router that hands every
timer to the core, and the same state and timers once anything else arrives.

No real time: the loop's clock is a float the test moves, and the timer heap is run by hand
(the timerfd is armed but the loop never gets to read it)."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools

import pytest

from vipkeeper.daemon.router import Router
from vipkeeper.precise_timers import PreciseTimers
from vipkeeper.vrrp import packet
from vipkeeper.vrrp.instance import Instance, Startup, State

from .router_harness import GROUP, on_loop, routers

CONFIG = """vrrp_instance VI_1 { interface eth0
  virtual_router_id 51 priority 255 advert_int 1 version 3
  garp_master_delay 2.5
  virtual_ipaddress { 192.0.2.100/32 } }"""
PEER = ipaddress.IPv4Address("192.0.2.2")


class _Capture:
    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.sent: list[tuple[float, bytes]] = []

    def sendto(self, data: bytes, address: object) -> int:
        self.sent.append((self.clock[0], bytes(data[:10] + data[12:])))  # the kernel sets the checksum
        return len(data)


def _router(clock: list[float], timers: PreciseTimers | None) -> tuple[Router, _Capture, list[int]]:
    cap = _Capture(clock)
    (router,) = routers(CONFIG, cap, timers=timers)
    handled = [0]

    class Counting(Instance):  # the core (slotted: no method to replace on the instance) counting its events
        __slots__ = ()

        def handle(self, event, now):  # type: ignore[no-untyped-def]
            handled[0] += 1
            return super().handle(event, now)

    router.core = Counting(router.params)  # before any event: nothing of the first core is lost
    return router, cap, handled


def _plain_run(until: float, lateness: list[float]) -> list[tuple[float, bytes]]:
    """A router without precise timers (every timer through the core), its timer fired by hand."""
    out: list[tuple[float, bytes]] = []

    def check(clock: list[float]) -> None:
        plain, cap, _handled = _router(clock, None)
        plain.feed(Startup())
        late = iter(lateness)
        while clock[0] < until:
            due = plain._timer_at
            assert due is not None
            clock[0] = due + next(late, 0.0)
            plain._timer = None
            plain._fire()
        out.extend(cap.sent)
        plain._timer = None

    on_loop(check, 1000.0)
    return out


def test_steady_adverts_go_on_the_grid_at_a_fixed_rate_without_the_core() -> None:
    """The steady router sends the core's datagrams, the first steady one at the core's
    deadline moved earlier onto the grid (a 5 ms step at advert_int 1), then one every
    interval from the *deadline*: a late send is followed by a shorter gap, never drift."""
    lateness = [0.0, 0.0004, 0.003, 0.0, 0.02, 0.0, 0.001, 0.0, 0.0, 0.005, 0.0, 0.0, 0.0]
    plain_sent = _plain_run(1012.5, [])

    def check(clock: list[float]) -> None:
        loop = asyncio.get_running_loop()
        timers = PreciseTimers(loop)
        steady, cap, handled = _router(clock, timers)
        steady.feed(Startup())  # BACKUP first (the VIP is not the interface's: no address owner)
        late = iter(lateness)
        wakeups = []  # (deadline, lateness, adverts sent)
        while clock[0] < 1012.5:
            due = timers._heap[0][0]
            clock[0] = due + (lt := next(late, 0.0))
            before = len(cap.sent)
            timers._expired()
            wakeups.append((due, lt, len(cap.sent) - before))
        # the same datagrams as the core sends
        assert [d for _, d in cap.sent] == [d for _, d in plain_sent][:len(cap.sent)]
        assert steady.state == State.MASTER and len(cap.sent) >= 9
        became = cap.sent[0][0]  # the transition advert: at once, at the master-down deadline
        assert became == wakeups[0][0] + wakeups[0][1] == plain_sent[0][0]
        adverts = [(due, lt) for due, lt, n in wakeups[1:] if n]
        assert all(n in (0, 1) for _, _, n in wakeups)
        first = adverts[0][0]
        assert became + 1.0 - 0.005 < first <= became + 1.0  # moved earlier onto the grid, by < a step
        for due, _ in adverts:
            assert abs(due * 200 - round(due * 200)) < 1e-6  # every steady deadline is a grid point
        for (a, _), (b, _) in itertools.pairwise(adverts):
            assert b - a == pytest.approx(1.0, abs=1e-9)  # fixed rate, from the deadlines
        sends = [t for t, _ in cap.sent[1:]]
        assert sends == [pytest.approx(due + lt, abs=1e-9) for due, lt in adverts]
        # the core saw Startup, the master-down timer and the delayed GARP (+2.5 s): no advert
        assert handled[0] == 3 and "garp" not in steady.core._timers
        assert steady._steady_at is not None and steady.next_deadline() == pytest.approx(first + len(adverts))
        # anything else: the core first hears where the adverts got to, then decides as usual;
        # priority 0 to a Master: one advert now, then steady again from a new first deadline
        clock[0] += 0.3
        count = len(cap.sent)
        steady.received(packet.Received(PEER, GROUP, 255,  # (the CONFIG's `version 3` is not an instance keyword: v2)
                                        packet.Advertisement(2, 51, 0, (ipaddress.IPv4Address("192.0.2.100"),), 100)))
        assert steady.counters.priority_zero_received == 1 and not steady.counters.drops
        assert len(cap.sent) == count + 1 and cap.sent[-1][0] == clock[0]  # the answer, at once
        assert steady.core.next_deadline() == clock[0] + 1.0
        assert clock[0] + 0.9 < steady.next_deadline() <= clock[0] + 1.0 + 1e-9 and steady._steady_at is not None
        timers.close()

    on_loop(check, 1000.0)


def test_masters_that_came_up_within_a_step_share_one_wake_up_in_a_stable_order() -> None:
    """Three Masters whose core deadlines are 1 ms apart (a step is 5 ms): one grid point, so
    each round is one wake-up, none early, and they go out in the same order every round."""

    def check(clock: list[float]) -> None:
        loop = asyncio.get_running_loop()
        timers = PreciseTimers(loop)
        masters = []
        for k in range(3):
            clock[0] = 2000.0015 + 0.001 * k  # master-down at 2003.0054, .0064, .0074: point 2003.005
            r, cap, _h = _router(clock, timers)
            r.feed(Startup())
            masters.append((r, cap))
        order = []
        while clock[0] < 2015.0:
            due = timers._heap[0][0]
            clock[0] = due
            before = [len(c.sent) for _, c in masters]
            timers._expired()
            sent = [k for k, (_, c) in enumerate(masters) if len(c.sent) > before[k]]
            if masters[0][0].state == State.MASTER and len(sent) > 0 and clock[0] > 2008.0:
                order.append((due, sent))
        assert all(r.state == State.MASTER for r, _ in masters)
        assert len(order) >= 5 and all(sent == [0, 1, 2] for _, sent in order)  # all three, same order
        for (a, _), (b, _) in itertools.pairwise(order):
            assert b - a == pytest.approx(1.0, abs=1e-9)  # one wake-up per interval for the three
        for r, cap in masters:
            assert all(t >= r0 for (t, _), r0 in zip(cap.sent[-5:], [d for d, _ in order[-5:]]))  # none early
        timers.close()

    on_loop(check, 2000.0)


def test_a_router_in_a_sync_group_never_goes_steady() -> None:
    from vipkeeper.daemon.router import GroupDriver

    def check(clock: list[float]) -> None:
        loop = asyncio.get_running_loop()
        timers = PreciseTimers(loop)
        router, _cap, _handled = _router(clock, timers)
        router.feed(Startup())
        for _ in range(10):  # master-down, then the delayed GARP: steady from there
            clock[0] = timers._heap[0][0]
            timers._expired()
        assert router.state == State.MASTER and router._steady_at is not None
        GroupDriver("G", [router], lambda g, s: None)
        assert router._steady_at is None
        assert router.core.next_deadline() is not None and router.core.next_deadline() > clock[0]
        clock[0] = router.core.next_deadline()
        timers._expired()  # nothing of the old steady timer is left; the group's path runs
        router.feed(Startup())  # any event: still not steady
        assert router._steady_at is None and isinstance(router.core, Instance)
        timers.close()

    on_loop(check, 50.0)


def test_a_priority_change_keeps_the_grid_deadline_and_sends_the_new_priority_there() -> None:
    """A tracker moves the priority of a steady Master: the core hears where the adverts got to,
    the schedule goes on from the same grid deadline (no advert at once, none later: the core
    sends none for a priority change), and that advert carries the new priority."""
    from vipkeeper.vrrp.instance import TrackerChanged

    def check(clock: list[float]) -> None:
        loop = asyncio.get_running_loop()
        timers = PreciseTimers(loop)
        router, cap, _handled = _router(clock, timers)
        router.feed(Startup())
        while clock[0] < 3008.0:  # Master, past the delayed GARP: steady for good
            clock[0] = timers._heap[0][0]
            timers._expired()
        due = router.next_deadline()
        assert router._steady_at == due and abs(due * 200 - round(due * 200)) < 1e-6
        before = router.core.effective_priority
        sent = len(cap.sent)
        clock[0] = due - 0.37
        router.feed(TrackerChanged("chk", -20))
        assert router.core.effective_priority == before - 20
        assert len(cap.sent) == sent and router.next_deadline() == due  # same deadline, nothing sent
        clock[0] = timers._heap[0][0]
        assert clock[0] == due
        timers._expired()
        assert len(cap.sent) == sent + 1 and cap.sent[-1][0] == due
        assert cap.sent[-1][1][20] == before - 20 and cap.sent[-2][1][20] == before  # VRRP priority byte
        timers.close()

    on_loop(check, 3000.0)


def test_only_a_masters_garp_timer_may_run_early() -> None:
    """PreciseTimers' early allowance (a lenient deadline): a Backup's timers (skew time,
    master-down) and a Master's adverts are strict (early 0), and only a Master's other timer,
    here the delayed GARP burst, may ride up to `steady_early` on an earlier wake-up."""
    from vipkeeper.vrrp.instance import steady_early

    def check(clock: list[float]) -> None:
        timers = PreciseTimers(asyncio.get_running_loop())
        router, _cap, _handled = _router(clock, timers)
        router.feed(Startup())
        seen = []  # (state, what the timer is for, its early allowance) for each armed timer
        while clock[0] < 1010.0:
            handle = timers._heap[0][-1]
            if handle._callback == router._steady_fire:
                what = "advert"
            else:  # the core's earliest timer is the one the router armed
                what = min(router.core._timers.items(), key=lambda item: item[1])[0]
            seen.append((router.state, what, handle.early))
            clock[0] = timers._heap[0][0]
            timers._expired()
        assert router.state == State.MASTER
        assert seen[0] == (State.BACKUP, "down", 0.0)
        assert all(early == 0.0 for state, what, early in seen if state != State.MASTER or what == "advert")
        garp = [early for state, what, early in seen if state == State.MASTER and what == "garp"]
        assert garp and all(early == steady_early(1.0) == 0.01 for early in garp)
        # a sync group member's adverts go through the core's timer: strict as well
        from vipkeeper.daemon.router import GroupDriver

        GroupDriver("G", [router], lambda g, s: None)
        router._rearm()  # (what the router does after any event)
        assert router._steady_at is None and router._timer_at == router.core.advert_deadline()
        assert router._timer.early == 0.0
        timers.close()

    on_loop(check, 1000.0)
