"""How vipkeeper starts an admin's script: which user, which argv, which environment.

One place for the rules that track scripts (`vrrp_script`) and notify scripts share, so that a
check and a notify written by the same admin run the same way (keepalived's core/notify.c
does the same for both):
- identity: the script's own `user [group]`, else global `script_user [group]`, else the user
  `keepalived_script` when it exists, else the daemon's own (root); a user without a group gets
  that user's primary group and supplementary groups;
- argv: a directly executable file (bare names searched on PATH) is exec'd as is, with any extra
  arguments; anything else runs through `/bin/sh -c` with the text the admin wrote and the extra
  arguments quoted;
- environment: the daemon's, without IFS, LD_PRELOAD and LD_LIBRARY_PATH;
- process: stdin/stdout/stderr on /dev/null, cwd `/`, no inherited descriptors, and a process
  group of its own, so that a timeout can kill the script and everything it started.

How long a script may run and how it is reaped differ between the two callers (a track script
is awaited, a notify script is fire-and-forget); that stays with them.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import subprocess
from dataclasses import dataclass
from typing import Any, Sequence

DEFAULT_SCRIPT_USER = "keepalived_script"
_UNSAFE_ENV = ("IFS", "LD_PRELOAD", "LD_LIBRARY_PATH")
_DEFAULT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Identity:
    """The user a script runs as."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    @property
    def is_daemon(self) -> bool:
        return self.uid == os.geteuid() and self.gid == os.getegid()


def resolve_identity(user: str | None, group: str | None, default_user: str | None = None,
                     default_group: str | None = None) -> Identity:
    """keepalived's order of defaults. Raises LookupError naming an unknown user or group."""
    if user is None:
        user, group = default_user, default_group
    if user is None:
        try:
            entry = pwd.getpwnam(DEFAULT_SCRIPT_USER)
        except KeyError:
            entry = pwd.getpwuid(os.geteuid())
    else:
        try:
            entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        except KeyError:
            raise LookupError(f"no user {user!r}") from None
    gid = entry.pw_gid
    if group is not None:
        try:
            gid = grp.getgrgid(int(group)).gr_gid if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise LookupError(f"no group {group!r}") from None
    try:
        groups = tuple(os.getgrouplist(entry.pw_name, gid))
    except OSError:
        groups = (gid,)
    return Identity(entry.pw_name, entry.pw_uid, gid, groups)


def executable(word: str) -> str | None:
    """The path exec would run for `word` (PATH searched for bare names), or None."""
    if "/" in word:
        return word if os.path.isfile(word) and os.access(word, os.X_OK) else None
    for directory in os.environ.get("PATH", _DEFAULT_PATH).split(":"):
        candidate = os.path.join(directory or ".", word)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def command_argv(words: Sequence[str], command: str, extra: Sequence[str] = ()) -> list[str]:
    """argv for the script `command` (already split into `words` by the config parser)."""
    words = list(words) or shlex.split(command)
    if words:
        path = executable(words[0])
        if path is not None:
            return [path, *words[1:], *extra]
    text = command if command else " ".join(shlex.quote(w) for w in words)
    if extra:
        text = " ".join([text, *(shlex.quote(a) for a in extra)])
    return ["/bin/sh", "-c", text or "true"]


def script_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _UNSAFE_ENV}


def spawn_options(identity: Identity) -> dict[str, Any]:
    """Keyword arguments for subprocess.Popen / asyncio.create_subprocess_exec."""
    options: dict[str, Any] = {
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
        "cwd": "/",
        "env": script_env(),
        "close_fds": True,
        "process_group": 0,
    }
    if not identity.is_daemon:
        options.update(user=identity.uid, group=identity.gid, extra_groups=list(identity.groups))
    return options
