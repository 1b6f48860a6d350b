"""track_interface: a link's up/down state as instance effects. Pure.

Rules (keepalived: vrrp_track.c, man 5 keepalived.conf track_interface)
- Weight 0 (the default): the link down puts the instance in FAULT; `weight 0 reverse` puts it in
  FAULT while the link is up.
- Weighted: see priority.up_down_effect (w > 0 adds while up, w < 0 subtracts while down).
- An interface we have not heard about yet counts as down: keepalived starts an instance whose
  interface is missing in FAULT.
The link events themselves come from net/addresses.py's link watcher as (ifname, up).
"""

from __future__ import annotations

from vipkeeper.track.priority import ResolvedRef, TrackerEffect, up_down_effect


class InterfaceStates:
    """Link states by name, and the effects they have on the instances that track them."""

    def __init__(self) -> None:
        self._up: dict[str, bool] = {}

    def is_up(self, ifname: str) -> bool:
        return self._up.get(ifname, False)

    def link_changed(self, ifname: str, up: bool) -> bool:
        """Record a link event; True when it changed what we knew."""
        before = self._up.get(ifname)
        self._up[ifname] = up
        return before != up

    def effect(self, ref: ResolvedRef) -> TrackerEffect:
        return up_down_effect(ref, self.is_up(ref.tracker))
