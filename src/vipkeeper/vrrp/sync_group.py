"""Sync groups: instances that change state together (keepalived's `vrrp_sync_group`).

Rules
-----
- A thin layer over `Instance`s; it owns no timers of its own and decides nothing about VRRP
  itself. It only propagates state between members, as keepalived's vrrp_sync.c does:
  - one member in FAULT (for a reason of its own) puts every other member in FAULT;
    when no member has a fault of its own any more, the others leave FAULT too;
  - one member becoming MASTER pulls every BACKUP member to MASTER;
  - one member yielding MASTER -> BACKUP pushes every other MASTER member to BACKUP.
- The group has a derived state (FAULT if any member is in FAULT, else MASTER if any is MASTER,
  else BACKUP; STOP once all stopped) and emits `GroupNotify(group, state)` when it changes;
  keepalived's group notifies always carry priority 0.
- Every action comes back tagged with the member it belongs to: `(member_name, action)`;
  group-level actions carry `None`.

Theory of operation
-------------------
The group fault is delivered to members as a tracker with the reserved name
`instance.SYNC_GROUP_TRACKER` (weight 0, fault on/off), so the instance's own FAULT machinery
(priority-0 advert before DelVips, full master-down timer on recovery) applies unchanged. A
member's "own" fault is every fault except that reserved tracker, which is what keeps the group
from holding itself in FAULT forever.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Iterable

from vipkeeper.records import record

from .instance import (
    SYNC_GROUP_TRACKER, Action, Event, ForceBackup, ForceMaster, Instance, Log, State, TrackerChanged,
)


@record(frozen=True)
class GroupNotify:
    group: str
    state: str
    priority: int = 0


GroupAction = Action | GroupNotify  # types.UnionType: typing.Union would import typing
Tagged = tuple[str | None, GroupAction]


class SyncGroup:
    def __init__(self, name: str, members: Iterable[Instance]) -> None:
        self.name = name
        self.members: dict[str, Instance] = {m.params.name: m for m in members}
        if not self.members:
            raise ValueError(f"sync group {name} has no members")
        self.state = State.INIT

    def next_deadline(self) -> float | None:
        deadlines = [d for m in self.members.values() if (d := m.next_deadline()) is not None]
        return min(deadlines) if deadlines else None

    def handle(self, member: str, event: Event, now: float) -> list[Tagged]:
        """Deliver `event` to one member and propagate its consequences to the group."""
        out: list[Tagged] = []
        self._deliver(member, event, now, out)
        return out

    def handle_all(self, event: Event, now: float) -> list[Tagged]:
        """Deliver `event` to every member (Startup, Shutdown, TimerFired, group trackers)."""
        out: list[Tagged] = []
        for name in self.members:
            self._deliver(name, event, now, out)
        return out

    def _deliver(self, member: str, event: Event, now: float, out: list[Tagged]) -> None:
        inst = self.members[member]
        before = {n: m.state for n, m in self.members.items()}
        out.extend((member, a) for a in inst.handle(event, now))
        self._propagate(before, now, out)

    def _propagate(self, before: dict[str, State], now: float, out: list[Tagged]) -> None:
        for _ in range(4 * len(self.members) + 4):  # bounded: each pass settles members
            changed = False
            own_fault = any(m.own_faulted and m.state != State.INIT for m in self.members.values())
            for name, m in self.members.items():
                if m.state in (State.INIT, State.STOP):
                    continue
                has_group_fault = m.faulted and not m.own_faulted
                if own_fault and not m.own_faulted and not has_group_fault:
                    out.extend((name, a) for a in m.handle(TrackerChanged(SYNC_GROUP_TRACKER, 0, True), now))
                    changed = True
                elif not own_fault and has_group_fault:
                    out.extend((name, a) for a in m.handle(TrackerChanged(SYNC_GROUP_TRACKER, 0, False), now))
                    changed = True
            now_states = {n: m.state for n, m in self.members.items()}
            became_master = any(now_states[n] == State.MASTER and before[n] != State.MASTER for n in now_states)
            yielded = any(now_states[n] == State.BACKUP and before[n] == State.MASTER for n in now_states)
            if became_master:
                for name, m in self.members.items():
                    if m.state == State.BACKUP:
                        out.extend((name, a) for a in m.handle(ForceMaster(), now))
                        changed = True
            elif yielded:
                for name, m in self.members.items():
                    if m.state == State.MASTER:
                        out.extend((name, a) for a in m.handle(ForceBackup(), now))
                        changed = True
            before = now_states
            if not changed:
                break
        self._update_group_state(out)

    def _update_group_state(self, out: list[Tagged]) -> None:
        states = [m.state for m in self.members.values()]
        if all(s == State.STOP for s in states):
            new = State.STOP
        elif State.FAULT in states:
            new = State.FAULT
        elif State.MASTER in states:
            new = State.MASTER
        elif State.BACKUP in states:
            new = State.BACKUP
        else:
            new = State.INIT
        if new != self.state and new != State.INIT:
            self.state = new
            out.append((None, Log("info", f"VRRP_Group({self.name}) Syncing instances to {new.value} state")))
            out.append((None, GroupNotify(self.name, new.value)))
        else:
            self.state = new
