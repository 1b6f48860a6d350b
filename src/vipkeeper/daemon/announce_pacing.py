"""The shell of vrrp/garp_pacing.py: GARPs/NAs spaced per interface (garp_group,
vrrp_garp_interval, vrrp_gna_interval), shared by every instance of the daemon.

Why a shell object of its own: the spacing is per interface, not per instance (two instances on
eth0 share eth0's spacing), so one `AnnouncePacing` serves all routers. A router hands its
announcement rounds here instead of to its announcer when the configuration spaces anything;
without a garp_group or global interval the runtime makes none and routers send as before.

What it does: asks the core for each frame (send now, or queued), sends what may go now, and
arms one timer (microsecond timers when the runtime has them) for the next queued frame. When it
fires, each due frame goes out through its router's announcer, if that router still wants its
VIPs (MASTER, witness gate open); otherwise it is dropped, as keepalived drops the queued GARPs
of an instance that left MASTER. Frames are counted: sent at once, sent after waiting, dropped.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Iterable
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

from vipkeeper.vrrp.garp_pacing import Pacer, PacingPlan

if TYPE_CHECKING:
    from vipkeeper.daemon.router import Router
    from vipkeeper.net.announce import Announcer


class AnnouncePacing:
    def __init__(self, plan: PacingPlan, lookup: Callable[[str], Router | None],
                 timers: Any = None) -> None:
        self.plan = plan
        self.pacer = Pacer(plan)
        self._lookup = lookup
        self._loop = asyncio.get_running_loop()
        self._timers = timers
        self._timer: Any = None
        self._timer_at: float | None = None
        self.order: dict[str, int] = {}  # instance name -> its place in the configuration
        self.counters = {"sent": 0, "sent_late": 0, "dropped": 0}

    def announce(self, router: Router, frames: Iterable[tuple[int, Announcer, Any]], rounds: int) -> None:
        """`rounds` rounds of one GARP/NA per (place among the router's VIPs, announcer,
        address), each sent now or queued by the core."""
        rank = self.order.get(router.name, len(self.order))
        now = self._loop.time()
        todo = [(place, announcer, ipaddress.ip_address(str(ip).split("/", 1)[0]),
                 # a VMAC's parent: keepalived spaces per base interface (IF_BASE_IFP)
                 router.model.interface if announcer.ifname == router.model.vmac_interface else announcer.ifname)
                for place, announcer, ip in frames]
        for _ in range(rounds):
            for place, announcer, ip, base in todo:
                if ip.version == 4 and announcer.noarp:
                    continue  # keepalived: no GARP on a NOARP interface, and no spacing either
                if self.pacer.request(now, (rank, place), (router.name, announcer, ip), base, ip.version):
                    self.counters["sent"] += announcer.announce([ip])
        self._rearm()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = None

    def _rearm(self) -> None:
        deadline = self.pacer.next_deadline()
        if deadline == self._timer_at:
            return
        self.close()
        self._timer_at = deadline
        if deadline is not None:
            if self._timers is not None:
                self._timer = self._timers.call_at(deadline, self._fire)
            else:
                self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        at = self._timer_at
        self._timer = None
        self._timer_at = None
        now = self._loop.time()
        for name, announcer, ip in self.pacer.due(now if at is None else max(at, now)):
            router = self._lookup(name)
            if router is None or not router.vips_wanted:
                self.counters["dropped"] += 1
                continue
            self.counters["sent_late"] += announcer.announce([ip])
        self._rearm()
