"""The daemon's VIP conflict checks: vrrp/vip_conflict.py's core driven by net/conflict_socket.py.

The runtime tells it every state change; it opens one packet socket per interface with a router
in BACKUP or MASTER (a Backup's socket learns who advertises, so a conflict found right after
taking over can name the other router), closed when none is left; it keeps one loop timer at the core's
next deadline, and carries out what the core says: probes out; on a conflict one log line, a
fifo line (`INSTANCE "VI_1" VIP_CONFLICT <priority>`, and `VIP_CONFLICT_END` when it ends) and
the counters the snapshot shows; at the end of a conflict while still Master, a re-announcement
of the VIP (garp_master_repeat rounds of GARP/NA) so clients come back to this MAC.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

from vipkeeper.net.conflict_socket import ConflictSocket
from vipkeeper.precise_timers import PreciseTimers, TimerHandle
from vipkeeper.vrrp.vip_conflict import ConflictCore, ConflictEnded, ConflictStarted

log = logging.getLogger("vipkeeper.vrrp")

# A round may start this share of the interval early (50 ms at the default 10 s), on a wake-up
# the daemon makes anyway (vrrp/vip_conflict.py: `tick(now, early)`; precise_timers.py `early`).
ROUND_EARLY = 1 / 200


class VipConflicts:
    def __init__(self, interval: float, fifo_line: Callable[[Any, str], None],
                 timers: PreciseTimers | None = None) -> None:
        self.core = ConflictCore(interval=interval)
        self._early = interval * ROUND_EARLY
        self._loop = asyncio.get_running_loop()
        self._timers = timers
        self._sockets: dict[str, ConflictSocket] = {}
        self._routers: dict[str, Any] = {}  # Masters
        self._users: dict[str, str] = {}  # router in BACKUP or MASTER -> its interface
        # where a VIP is probed when not on its Master's interface (a VIP with `dev` another
        # interface that has a socket); every other VIP: its Master's interface, looked up
        self._vip_if: dict[Any, str] = {}
        # the packed VIPs a Master checks: one set, every socket's `watched`, kept up to date in
        # place (not made again from every VIP at each change of Master: n^2 at start-up)
        self._watched: set[bytes] = set()
        self._timer: asyncio.TimerHandle | TimerHandle | None = None
        self._fifo_line = fifo_line
        self.counts: dict[str, int] = {}
        self.cpu = 0.0  # process time spent here, for the cost figure

    # -- hooks from the runtime ------------------------------------------------------------

    def state_changed(self, router: Any, before: Any, after: Any) -> None:
        if before.value == "MASTER":
            self.left_master(router)
        if after.value in ("BACKUP", "MASTER"):
            self._users[router.name] = router.model.interface
            self._open(router)
        else:
            self._users.pop(router.name, None)
            self._close_unused()
        if after.value == "MASTER":
            self.became_master(router)

    def _open(self, router: Any) -> bool:
        ifname = router.model.interface
        if ifname not in self._sockets:
            try:
                self._sockets[ifname] = sock = ConflictSocket(ifname, self._claim)
            except OSError as exc:
                log.warning("(%s) VIP conflict checks off on %s: %s", router.name, ifname, exc.strerror or exc)
                return False
            sock.watched = self._watched
            for fd in sock.filenos():
                self._loop.add_reader(fd, self._read, sock, fd)
        return True

    def became_master(self, router: Any) -> None:
        params = router.params
        # the Vips' own address objects, not copies; nearly always exactly the advertised ones:
        # then that tuple, not one more of its own per Master (issue 18)
        vips = params.addresses
        if len(vips) != len(params.vips) or any(a is not v.ip for a, v in zip(vips, params.vips)):
            vips = tuple(v.ip for v in params.vips)
        ifname = router.model.interface
        if not self._open(router):
            return
        self._routers[router.name] = router
        vip_if = self._vip_if
        for v in params.vips:  # only a VIP probed elsewhere than on its Master's interface
            if v.ifname != ifname and v.ifname in self._sockets:
                vip_if[v.ip] = v.ifname
            else:
                vip_if.pop(v.ip, None)
        before = self.core.masters.get(router.name)  # (a reload may change a Master's VIPs)
        self.core.became_master(router.name, vips, self._loop.time())
        if before is not None:
            self._unwatch(before.vips)
        self._watched.update(vip.packed for vip in vips)
        self._rearm()

    def left_master(self, router: Any) -> None:
        before = self.core.masters.get(router.name)
        for ev in self.core.left_master(router.name, self._loop.time()):
            self._ended(ev)
        self._routers.pop(router.name, None)
        if before is not None:
            self._unwatch(before.vips)
        self._rearm()

    def _unwatch(self, vips: tuple[Any, ...]) -> None:
        """Those of `vips` no Master checks any more leave the watched set."""
        checked = self.core.vips
        self._watched.difference_update(vip.packed for vip in vips if vip not in checked)

    def _close_unused(self) -> None:
        in_use = set(self._users.values())
        for ifname in [i for i in self._sockets if i not in in_use]:
            sock = self._sockets.pop(ifname)
            for fd in sock.filenos():
                self._loop.remove_reader(fd)
            sock.close()

    def conflicts_of(self, name: str) -> list[dict[str, Any]]:
        wall = time.time() - self._loop.time()
        return [{"address": str(vip), "mac": c.mac, "since": c.since + wall, "peer": c.peer}
                for vip, c in self.core.conflicts(name)]

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for sock in self._sockets.values():
            for fd in sock.filenos():
                self._loop.remove_reader(fd)
            sock.close()
        self._sockets.clear()

    # -- events ------------------------------------------------------------------------------

    def _read(self, sock: ConflictSocket, fd: int) -> None:
        t0 = time.process_time()
        sock.read(fd)
        self.cpu += time.process_time() - t0
        self._rearm()

    def _claim(self, vip: ipaddress.IPv4Address | ipaddress.IPv6Address, mac: str, answer: bool | None) -> None:
        if vip not in self.core.vips:
            return
        for sock in self._sockets.values():
            seen = sock.identity(mac)
            if seen is not None:
                self.core.advert_seen(mac, *seen)
                break
        for ev in self.core.claim(self._loop.time(), vip, mac, answer):
            self._started(ev)

    def _fire(self) -> None:
        self._timer = None
        t0 = time.process_time()
        probes, ended = self.core.tick(self._loop.time(), self._early if self._timers is not None else 0.0)
        vips, routers, vip_if = self.core.vips, self._routers, self._vip_if
        for vip in probes:
            ifname = vip_if.get(vip)
            if ifname is None:  # its Master's interface
                owner = vips.get(vip)
                router = routers.get(owner.owner) if owner is not None else None
                ifname = router.model.interface if router is not None else ""
            sock = self._sockets.get(ifname)
            if sock is not None:
                sock.probe(vip)
        for ev in ended:
            self._ended(ev)
        self.cpu += time.process_time() - t0
        self._rearm()

    def _rearm(self) -> None:
        deadline = self.core.next_deadline()
        if self._timer is not None:
            if deadline is not None and abs(self._timer.when() - deadline) < 1e-6:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is None:
            return
        if self._timers is None:
            self._timer = self._loop.call_at(deadline, self._fire)
        else:
            # early only for a round (a tick with that slack takes it), so an early run always
            # makes progress; reply waits and the rate limit fire on time
            early = self._early if deadline == self.core.next_round() else 0.0
            self._timer = self._timers.call_at(deadline, self._fire, early=early)

    def _started(self, ev: ConflictStarted) -> None:
        self.counts[ev.instance] = self.counts.get(ev.instance, 0) + 1
        who = f", VRRP router {ev.peer}" if ev.peer else ""
        log.warning("(%s) VIP conflict: %s is also answered by %s%s", ev.instance, ev.vip, ev.mac, who)
        router = self._routers.get(ev.instance)
        if router is not None:
            self._fifo_line(router, "VIP_CONFLICT")

    def _ended(self, ev: ConflictEnded) -> None:
        router = self._routers.get(ev.instance)
        if ev.reannounce:
            log.warning("(%s) VIP conflict on %s with %s ended after %.1f s; announcing the VIP again",
                        ev.instance, ev.vip, ev.mac, ev.duration)
            if router is not None:
                router.reannounce(ev.vip)
        else:
            log.info("(%s) VIP conflict on %s with %s no longer checked: left MASTER", ev.instance, ev.vip, ev.mac)
        if router is not None:
            self._fifo_line(router, "VIP_CONFLICT_END")
