"""Script users resolved when the configuration is read, never on the event loop at failover.

Rule: a user or group name is looked up through NSS (pwd/grp), which may ask LDAP or NIS and
block for seconds. The daemon resolves every user/group its configuration's scripts name (track
scripts, notify scripts, fifo scripts, with keepalived's defaults applied) once per
configuration: at start, and on reload in the thread that parses the new file. The event loop
then only reads this table. A key that is not in it (nothing in the configuration names it) is
resolved on the spot and remembered, so it costs at most one lookup.

An unknown user is kept as its LookupError, raised again at each use, as resolve_identity does.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Any

from vipkeeper import records
from vipkeeper.config.model import Config, ScriptCommand
from vipkeeper.script_launch import Identity, resolve_identity

Key = tuple  # (user, group, default_user, default_group, script_security)
Resolved = Identity | LookupError


def _commands(value: Any) -> list[ScriptCommand]:
    """Every ScriptCommand in a model value (records and tuples walked)."""
    if isinstance(value, ScriptCommand):
        return [value]
    if records.is_record(value):
        return [c for f in records.fields(value) for c in _commands(getattr(value, f.name))]
    if isinstance(value, tuple):
        return [c for item in value for c in _commands(item)]
    return []


class ScriptUsers:
    def __init__(self, resolved: dict[Key, Resolved] | None = None) -> None:
        self._resolved: dict[Key, Resolved] = dict(resolved or {})

    @classmethod
    def of_config(cls, config: Config) -> ScriptUsers:
        g = config.global_defs
        sec = g.enable_script_security
        keys = {(s.user, s.group, g.script_user, g.script_group, sec) for s in config.scripts}
        keys |= {(c.user, c.group, g.script_user, g.script_group, sec) for c in _commands(config)}
        users = cls()
        for key in keys:
            users._lookup(key)
        return users

    def keys(self) -> set[Key]:
        return set(self._resolved)

    def _lookup(self, key: Key) -> Resolved:
        user, group, default_user, default_group, script_security = key
        try:
            got: Resolved = resolve_identity(user, group, default_user, default_group,
                                             script_security=script_security)
        except LookupError as exc:
            got = exc
        self._resolved[key] = got
        return got

    def resolve(self, user: str | None, group: str | None, default_user: str | None = None,
                default_group: str | None = None, *, script_security: bool = False) -> Identity:
        """resolve_identity from the table (LookupError for an unknown user or group, or under
        script security a missing default user)."""
        key = (user, group, default_user, default_group, script_security)
        got = self._resolved.get(key)
        if got is None:
            got = self._lookup(key)
        if isinstance(got, Identity):
            return got
        raise LookupError(*got.args)
