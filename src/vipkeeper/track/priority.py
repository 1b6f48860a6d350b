"""How a tracker's state becomes an instance's priority contribution or FAULT.

Everything that turns tracker states into numbers for the VRRP core lives here; it is pure.
The output per instance and tracker is a `TrackerEffect(name, contribution, fault)`, which is
exactly what the core's `TrackerChanged` event carries.

Rules (keepalived 2.2.7 vrrp_track.c, track_file.c; research notes §3)
- Up/down trackers (track_script, track_process, track_interface), weight w, m = -1 with
  `reverse` else +1:
  w > 0: contributes w*m while up, 0 while down.  w < 0: contributes w*m while down, 0 while up.
  w = 0: contributes nothing; FAULT while down (with `reverse`: FAULT while up).
- track_file with value v: w = 0: FAULT when v != 0 (with `reverse`: when v == 0).
  Otherwise c = v*w*m; c <= -254 means FAULT; c is capped at 253 (and floored at -254).
- An instance's reference (`TrackRef`) overrides the tracker's weight/reverse when it gives them.
- Sync groups: a member instance's own trackers get weight 0 unless the group has
  `sync_group_tracking_weight`; the group's trackers apply to every member.
- The address owner (priority 255) ignores contributions: that is the instance's job, not this
  module's (faults still apply).
- Names: the effect's `name` is "<kind>:<tracker name>" (kinds: script, process, file,
  interface), so a script and a process that share a block name never collide in the core.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Literal

    Kind = Literal["script", "process", "file", "interface"]

from vipkeeper.config.model import Config, Instance, TrackRef
from vipkeeper.records import record

FILE_FAULT = -254
FILE_CAP = 253


@record(frozen=True)
class TrackerEffect:
    name: str
    contribution: int
    fault: bool


@record(frozen=True)
class ResolvedRef:
    """One tracker as one instance sees it: the weight and direction that apply."""

    kind: Kind
    tracker: str
    weight: int
    reverse: bool

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.tracker}"


def up_down_effect(ref: ResolvedRef, up: bool) -> TrackerEffect:
    """An up/down tracker's effect (script, process, interface)."""
    w, m = ref.weight, (-1 if ref.reverse else 1)
    if w == 0:
        return TrackerEffect(ref.key, 0, up if ref.reverse else not up)
    active = up if w > 0 else not up
    return TrackerEffect(ref.key, w * m if active else 0, False)


def file_effect(ref: ResolvedRef, value: int) -> TrackerEffect:
    """A track_file's effect for the integer currently in the file."""
    if ref.weight == 0:
        failed = (value != 0) if not ref.reverse else (value == 0)
        return TrackerEffect(ref.key, 0, failed)
    c = value * ref.weight * (-1 if ref.reverse else 1)
    if c <= FILE_FAULT:
        return TrackerEffect(ref.key, 0, True)
    return TrackerEffect(ref.key, min(c, FILE_CAP), False)


def _defaults(config: Config, kind: Kind, name: str) -> tuple[int, bool]:
    if kind == "script":
        s = config.script(name)
        return (s.weight, s.reverse) if s else (0, False)
    if kind == "process":
        p = config.track_process(name)
        return (p.weight, p.reverse) if p else (0, False)
    if kind == "file":
        f = config.track_file(name)
        return (f.weight, f.reverse) if f else (1, False)
    return 0, False


def _resolve(config: Config, kind: Kind, ref: TrackRef, force_zero: bool) -> ResolvedRef:
    weight, reverse = _defaults(config, kind, ref.name)
    if ref.weight is not None:
        weight = ref.weight
    if ref.reverse is not None:
        reverse = ref.reverse
    if force_zero:
        weight = 0
    return ResolvedRef(kind, ref.name, weight, reverse)


def instance_refs(config: Config, instance: Instance) -> list[ResolvedRef]:
    """Every tracker that affects `instance`, with the weight that applies (sync groups included)."""
    group = next((g for g in config.sync_groups if instance.name in g.group), None)
    force = group is not None and not group.sync_group_tracking_weight
    out: dict[str, ResolvedRef] = {}
    sources = [(instance, force)] + ([(group, False)] if group is not None else [])
    for owner, zero in sources:
        for kind, refs in (("interface", owner.track_interface), ("script", owner.track_script),
                           ("process", owner.track_process), ("file", owner.track_file)):
            for ref in refs:
                r = _resolve(config, kind, ref, zero)  # type: ignore[arg-type]
                prev = out.get(r.key)
                # keepalived: a group tracker on an object that already tracks it keeps the
                # object's "unweighted" (fault) meaning, else takes the group's weight
                if prev is not None and prev.weight == 0:
                    continue
                out[r.key] = r
    return list(out.values())
