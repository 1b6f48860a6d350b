"""Static track groups: which interfaces an instance watches because a static address, route or
rule names its `track_group`. Pure.

Rules (keepalived 2.2.7, vrrp_static_track.c and the parsers of vrrp_ipaddress.c, vrrp_iproute.c,
vrrp_iprule.c; man 5 keepalived.conf "Static track groups")
- `track_group NAME { group { VI_1 VI_2 } }` lists instances. A static address, route or rule
  with `track_group NAME` makes every listed instance track that entry's interface - the
  address's `dev` (or default_interface), the route's `dev`, the rule's `iif` - exactly as an
  unweighted `track_interface` does: the interface down puts the instance in FAULT, up again
  lets it leave FAULT. There is no weight: keepalived 2.2.7 adds the interface with weight 0.
  (The man page says the instance goes to FAULT "if the address is deleted and cannot be
  restored"; the 2.2.7 code tracks the interface, and that is what is measured and kept here.)
- A group is looked up when the line naming it is read, so a group defined further down the
  configuration is "track_group X not found" and the entry tracks nothing (keepalived's order).
- A route without `dev` cannot name a group ("Static route cannot have track group if no oif
  specified"); an entry with both `no_track` and `track_group` tracks nothing ("Static address
  has both track_group and no_track set - not tracking"); a rule without `iif` tracks nothing.
- A member that is no instance is skipped with keepalived's line; a group left with no
  instance tracks nothing. An instance's own interface is tracked unweighted already (unless
  `dont_track_primary`: then the group makes it tracked again); a weighted `track_interface`
  line for the same interface becomes unweighted (keepalived's add_vrrp_to_interface keeps the
  weight 0 it is given).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from vipkeeper.records import replace

from .model import Instance, StaticTrackGroup, TrackRef, VirtualAddress, VirtualRoute, VirtualRule

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up, issue 18)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    Entry = TypeVar("Entry", VirtualAddress, VirtualRoute, VirtualRule)


def known_only(entries: Iterable[Entry], defined: Sequence[StaticTrackGroup], sink: Any) -> list[Entry]:
    """The entries of one static block as read at its place in the file: a `track_group` naming
    no group defined above it is dropped with keepalived's line."""
    names = {g.name for g in defined}
    out = []
    for entry in entries:
        if entry.track_group is not None and entry.track_group not in names:
            sink.warning(entry.where, f"track_group {entry.track_group} not found")
            entry = replace(entry, track_group=None)
        out.append(entry)
    return out


def _tracked_interface(entry: VirtualAddress | VirtualRoute | VirtualRule, default_interface: str,
                       sink: Any) -> str | None:
    kind = {VirtualAddress: "address", VirtualRoute: "route", VirtualRule: "rule"}[type(entry)]
    if entry.no_track:
        sink.warning(entry.where, f"Static {kind} has both track_group and no_track set - not tracking")
        return None
    if isinstance(entry, VirtualAddress):
        return entry.dev or default_interface
    if isinstance(entry, VirtualRoute):
        if entry.dev is None:
            sink.warning(entry.where, "Static route cannot have track group if no oif specified")
        return entry.dev
    return entry.iif


def apply(instances: Sequence[Instance], groups: Sequence[StaticTrackGroup],
          entries: Iterable[VirtualAddress | VirtualRoute | VirtualRule], default_interface: str,
          sink: Any) -> list[Instance]:
    """The instances with the interfaces their track groups make them watch added to
    `track_interface` (weight 0), in the order the static entries are written."""
    by_name = {i.name: i for i in instances}
    members: dict[str, list[str]] = {}
    for group in groups:
        found = []
        if not group.instances:
            sink.warning(group.where, f"Static track group {group.name} has no virtual router(s)")
        for name in group.instances:
            if name in by_name:
                found.append(name)
            else:
                sink.warning(group.where, f"vrrp instance {name} specified in track group {group.name} "
                                          "doesn't exist - ignoring")
        if group.instances and not found:
            sink.warning(group.where, f"Static track group {group.name} has no VRRP instance(s)")
        members[group.name] = found
    refs = {i.name: list(i.track_interface) for i in instances}
    for entry in entries:
        if entry.track_group is None:
            continue
        ifname = _tracked_interface(entry, default_interface, sink)
        if ifname is None:
            continue
        for name in members.get(entry.track_group, ()):
            instance, mine = by_name[name], refs[name]
            if ifname == instance.interface and not instance.dont_track_primary:
                continue  # its own interface is tracked unweighted already
            at = next((n for n, r in enumerate(mine) if r.name == ifname), None)
            if at is None:
                mine.append(TrackRef(ifname, weight=0, where=entry.where))
            elif mine[at].weight:  # keepalived's add_vrrp_to_interface: the unweighted wins
                mine[at] = replace(mine[at], weight=0, reverse=False)
    return [replace(i, track_interface=tuple(refs[i.name])) if refs[i.name] != list(i.track_interface) else i
            for i in instances]
