"""Spacing of gratuitous ARPs and unsolicited NAs on an interface: keepalived's `garp_group`,
`vrrp_garp_interval` and `vrrp_gna_interval`.

Rule (keepalived 2.2.7: vrrp_arp.c send_gratuitous_arp/queue_garp, vrrp_ndisc.c,
vrrp_scheduler.c vrrp_arp_thread, vrrp_if.c set_default_garp_delay; read for the facts):
- An interface has a spacing for GARPs and one for NAs, each possibly absent. A `garp_group`
  gives its interfaces the group's spacings, shared: with `interfaces { A B }` a GARP on A delays
  the next one on B too. Every other interface gets vrrp_garp_interval / vrrp_gna_interval (when
  set), each one on its own. An interface in a group without, say, `gna_interval` has no NA
  spacing even when vrrp_gna_interval is set (keepalived only fills interfaces without a group).
- Sending one frame on an interface with a spacing S sets that interface's (group's) next free
  time to now + S. A request before that time is not sent but queued: the VIP is marked pending
  (a flag, not a count: the five rounds of a burst asked within one spacing give one queued
  frame, not four) and sent once the time has come. A request at or after the free time goes at
  once, even while older requests of the same interface are still queued.
- Queued frames go out in the order keepalived walks them: instances in configuration order,
  each one's VIPs in order (VIPs, then excluded VIPs); one frame per interface free time, the
  others of that interface wait for the next one.
- Whether a queued frame is still wanted (its instance still MASTER) is the caller's question
  when it is due; keepalived drops it otherwise, and so does the caller.

How: `Pacer.request(now, ...)` answers "send now" (True) or queues (False); `due(now)` pops the
frames whose interface is free, in order, marking each interface busy again; `next_deadline()`
is when the caller must call `due` next. No clock, no sockets: the shell passes the time in.
The interface is the base one (a VMAC's parent), as keepalived's IF_BASE_IFP.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from vipkeeper.records import factory, record


@record(frozen=True)
class Spacing:
    """Minimum time between two GARPs (`garp`) or two NAs (`gna`) on the interfaces it applies
    to; None: no spacing for that kind."""

    garp: float | None = None
    gna: float | None = None

    def of(self, family: int) -> float | None:
        return self.garp if family == 4 else self.gna


@record(frozen=True)
class PacingPlan:
    """Which interfaces share a spacing: `groups` are (spacing, interfaces) as the garp_group
    blocks say; `default` applies to every other interface, each on its own."""

    groups: tuple[tuple[Spacing, tuple[str, ...]], ...] = ()
    default: Spacing = Spacing()

    @property
    def active(self) -> bool:
        spacings = [s for s, _ in self.groups] + [self.default]
        return any(s.garp is not None or s.gna is not None for s in spacings)

    def key(self, ifname: str) -> tuple[str, int | str]:
        """The shared state an interface uses: its group's, or its own."""
        for index, (_, names) in enumerate(self.groups):
            if ifname in names:
                return ("group", index)
        return ("if", ifname)

    def spacing(self, ifname: str) -> Spacing:
        for spacing, names in self.groups:
            if ifname in names:
                return spacing
        return self.default


@record
class _Pending:
    item: Hashable
    ifname: str
    family: int


@record
class Pacer:
    plan: PacingPlan
    # (state key, family) -> the time the next frame of that kind may leave
    free_at: dict[tuple[tuple[str, int | str], int], float] = factory(dict)
    # (instance rank, VIP rank) -> the queued frame; keepalived's walking order
    pending: dict[tuple[int, int], _Pending] = factory(dict)

    def request(self, now: float, rank: tuple[int, int], item: Hashable, ifname: str, family: int) -> bool:
        """One GARP (family 4) or NA (6) for the VIP at `rank` on `ifname`: True to send it now
        (the interface is then busy for its spacing), False when it was queued."""
        spacing = self.plan.spacing(ifname).of(family)
        if spacing is None:
            return True
        slot = (self.plan.key(ifname), family)
        free = self.free_at.get(slot)
        if free is not None and now < free:
            self.pending.setdefault(rank, _Pending(item, ifname, family))
            return False
        self.free_at[slot] = now + spacing
        return True

    def due(self, now: float) -> list[Hashable]:
        """The queued frames to send now, in keepalived's order; each marks its interface busy."""
        out = []
        for rank in sorted(self.pending):
            p = self.pending[rank]
            spacing = self.plan.spacing(p.ifname).of(p.family)
            slot = (self.plan.key(p.ifname), p.family)
            free = self.free_at.get(slot)
            if spacing is not None and free is not None and now < free:
                continue
            del self.pending[rank]
            if spacing is not None:
                self.free_at[slot] = now + spacing
            out.append(p.item)
        return out

    def next_deadline(self) -> float | None:
        times = [self.free_at.get((self.plan.key(p.ifname), p.family)) for p in self.pending.values()]
        known = [t for t in times if t is not None]
        return min(known) if known else None


def plan_of(groups: Iterable[tuple[float | None, float | None, tuple[str, ...]]],
            garp_interval: float | None, gna_interval: float | None) -> PacingPlan:
    """The plan from the configuration: garp_group blocks as (garp_interval, gna_interval,
    interfaces), and the global intervals (None or 0: not set, as keepalived's zero)."""
    return PacingPlan(
        groups=tuple((Spacing(g, n), tuple(names)) for g, n, names in groups),
        default=Spacing(garp_interval or None, gna_interval or None),
    )
