"""What the lint rules look at: each node's parsed config plus facts gathered from disk.

Rules
- Pure data. Gathering (reading scripts, stat()ing paths, reading /etc/passwd) happens in
  `lint.py`; rules only read these values, so every rule is testable with hand-made inputs.
- A script that could not be found is recorded as such (`ScriptFacts.text is None`) with the
  places that were tried; rules that need its text are silent about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vipkeeper.config.model import Config, Instance, TrackRef, Where

from .script_scan import ProcessCheck


@dataclass(frozen=True)
class PathFacts:
    """One path component of a script as found on disk."""

    path: str
    uid: int
    gid: int
    mode: int
    is_dir: bool


@dataclass(frozen=True)
class ScriptFacts:
    """A vrrp_script's command resolved to a file (or not), with what the file contains.

    `how`: "inline" (the command itself is the check, e.g. `killall -0 haproxy`), "direct" (the
    path exists as written), "root" (under --root), "beside-config" (found by basename next to
    the config: a copy, so its owner and directories say nothing about the server), or None
    (not found). `checks` covers the command line and the file's text.
    """

    name: str
    path: str | None  # the script file named by the command (argv[0], or argv[1] after a shell)
    resolved: str | None = None
    how: str | None = None
    text: str | None = None
    checks: tuple[ProcessCheck, ...] = ()
    command_checks: tuple[ProcessCheck, ...] = ()
    components: tuple[PathFacts, ...] = ()  # the file first, then its directories upward
    executable: bool | None = None
    tried: tuple[str, ...] = ()


@dataclass(frozen=True)
class Node:
    """One node of the cluster: a config file and what lint learned around it."""

    label: str  # the config path as given on the command line
    config: Config
    scripts: dict[str, ScriptFacts] = field(default_factory=dict)
    users: frozenset[str] | None = None  # user names on the target system, None if unknown
    users_source: str = ""  # where `users` came from, for messages

    def where(self) -> Where:
        return Where(self.label, 1)


def sync_group_refs(config: Config, instance: Instance, kind: str) -> tuple[TrackRef, ...]:
    """Trackers of kind ("track_script", ...) that reach `instance` through its sync group."""
    refs: list[TrackRef] = []
    for group in config.sync_groups:
        if instance.name in group.group or instance.sync_group == group.name:
            refs.extend(getattr(group, kind))
    return tuple(refs)


def tracked(config: Config, instance: Instance, kind: str) -> tuple[TrackRef, ...]:
    return tuple(getattr(instance, kind)) + sync_group_refs(config, instance, kind)
