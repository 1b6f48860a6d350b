"""Which VIPs a `garp_extra_if` round announces: keepalived 2.2.7's periodic GARP/NA on the
interfaces of an instance's VIPs other than its own, so switches keep those MACs cached.

Rule (keepalived 2.2.7: vrrp.c vrrp_send_vmac_update and the check in vrrp_complete_instance;
read for the facts, measured beside it in tests/net/test_garp_extra_if_keepalived.py):
- `garp_extra_if [all] N` in an instance, else global_defs' `vrrp_garp_extra_if [all] N`; the
  instance's `N = 0` turns it off. When: see vrrp/instance.py (with the first advert N seconds
  after becoming MASTER, then every N seconds).
- It is on only when some VIP (or excluded VIP) lives on an interface other than the
  instance's own (`vrrp->ifp`: its VMAC with use_vmac, else `interface`) and that interface is
  a VMAC keepalived made ("ours") - or, with `all`, any other interface. Otherwise it sends
  nothing, ever: with every VIP on the instance's own interface (or own VMAC) there is nothing
  to refresh (the adverts do).
- A round walks the VIPs, then the excluded VIPs, and sends ONE frame per interface, for the
  first VIP found on it: skipped are VIPs on interfaces that are not ours (unless `all`) and
  VIPs on the instance's own interface unless vmac_xmit_base (then the own VMAC sends no
  adverts, so it is refreshed too).

How: `extra_if_targets(...)` is a pure function of the VIPs and names; the shell sends the
frames (through the GARP/NA spacing of vrrp/garp_pacing.py, as keepalived does).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import TypeVar

    V = TypeVar("V")


def extra_if_targets(vips: Sequence[V], ifname_of: Callable[[V], str], own: str, ours: Collection[str],
                     all_if: bool, xmit_base: bool) -> list[V]:
    """The VIPs to announce in one garp_extra_if round, at most one per interface, in order.
    `own`: the instance's interface (its VMAC with use_vmac); `ours`: VMACs the daemon made."""
    others = [ifname_of(v) for v in vips if ifname_of(v) != own]
    if not any(name in ours or all_if for name in others):
        return []  # keepalived switches the feature off for the instance
    out: list[V] = []
    done: set[str] = set()
    for vip in vips:
        name = ifname_of(vip)
        if name not in ours and not all_if:
            continue
        if name == own and not xmit_base:
            continue
        if name in done:
            continue
        done.add(name)
        out.append(vip)
    return out
