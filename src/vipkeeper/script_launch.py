"""How vipkeeper starts an admin's script: which user, which argv, which environment.

One place for the rules that track scripts (`vrrp_script`) and notify scripts share, so that a
check and a notify written by the same admin run the same way (keepalived's core/notify.c
does the same for both):
- identity: the script's own `user [group]`, else global `script_user [group]`, else the user
  `keepalived_script` when it exists, else the daemon's own (root); a user without a group gets
  that user's primary group and supplementary groups;
- checked before it may run (`vet_command`, at start and at each reload, for every script the
  daemon can start: vrrp_script, every notify, sync-group notifies, fifo scripts), as
  keepalived's check_script_secure: a bare name is searched on PATH, and the file must exist and
  be executable for the user it runs as - otherwise it is refused ("disabled"), never handed to
  a shell. A script that runs as root (or is setuid/setgid root) is checked component by
  component (track/script_security.py); with `enable_script_security` an unsafe one is refused,
  without it it runs with a warning. Under enable_script_security, a default user that does
  not exist (no `script_user`, no user `keepalived_script`) is a configuration error, not root;
- argv: the checked file exec'd directly, with its arguments and any extra ones; only
  keepalived's `</path` file test (which a shell evaluates) runs through `/bin/sh -c`;
- environment: the daemon's, without IFS, LD_PRELOAD and LD_LIBRARY_PATH;
- process: stdin/stdout/stderr on /dev/null, cwd `/`, no inherited descriptors, and a process
  group of its own, so that a timeout can kill the script and everything it started.
- how it starts (`launch`): CPython's subprocess starts a child with vfork (the daemon waits a
  fraction of a millisecond) unless it must change the child's user, group or groups: then it
  forks, copying the page tables of the whole daemon (2-3 ms at 40 MiB, and copy-on-write
  faults in the daemon until the child execs). A script for another user is therefore exec'd
  through util-linux `setpriv --reuid U --regid G --groups LIST --` (Essential in Debian), which
  sets the same real/effective/saved uid and gid and the same groups as subprocess's own
  setgroups/setregid/setreuid, then execs the script with the environment, descriptors, umask,
  cwd, process group and limits the vfork'd child already has; the script keeps its pid. The
  helper runs as root before it drops to the user, so it is used only when it is root's own
  file (the enable_script_security checks pass on it); otherwise subprocess switches the user
  itself (the slow fork). An exec failure then shows as the helper's exit status 127 (not
  found) or 126 (not executable), the codes a shell uses.

How long a script may run and how it is reaped differ between the two callers (a track script
is awaited, a notify script is fire-and-forget); that stays with them.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import stat

from vipkeeper.records import record
from vipkeeper.track.script_security import needs_check, unsafe_reasons

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up, issue 18)
if TYPE_CHECKING:
    from typing import Any, Sequence

DEFAULT_SCRIPT_USER = "keepalived_script"
_UNSAFE_ENV = ("IFS", "LD_PRELOAD", "LD_LIBRARY_PATH")
# The daemon's own interpreter settings (the unit sets them: debian/vipkeeper.service), not a
# script's: a Python script run with them would lose its asserts and docstrings, and write its
# bytecode into the daemon's cache.
DAEMON_ONLY_ENV = ("PYTHONOPTIMIZE", "PYTHONNODEBUGRANGES", "PYTHONPYCACHEPREFIX")

# The umask every script starts with: keepalived 2.2.7's process umask, which its scripts
# inherit, is 0177 unless global_defs `umask` sets another (measured: a notify script's own
# `umask` prints 0177, or the configured value; tests/net/test_process_tuning.py compares).
KEEPALIVED_UMASK = 0o177
_script_umask = KEEPALIVED_UMASK


def set_script_umask(mask: int | None) -> None:
    """The configured `umask` (None: keepalived's default) for scripts started from now on."""
    global _script_umask
    _script_umask = KEEPALIVED_UMASK if mask is None else mask
_DEFAULT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


@record(frozen=True)
class Identity:
    """The user a script runs as."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    @property
    def is_daemon(self) -> bool:
        return self.uid == os.geteuid() and self.gid == os.getegid()


def default_user_problem(default_user: str | None, script_security: bool) -> str | None:
    """keepalived (get_default_script_user): under enable_script_security, a script without a
    user of its own needs `script_user` or an existing user `keepalived_script`; falling back to
    root is a configuration error ("Unable to set default user keepalived_script for script")."""
    if default_user is not None or not script_security:
        return None
    try:
        pwd.getpwnam(DEFAULT_SCRIPT_USER)
    except KeyError:
        return (f"Unable to set default user {DEFAULT_SCRIPT_USER} for script: no user {DEFAULT_SCRIPT_USER} "
                "exists and global_defs has no script_user (enable_script_security will not run scripts "
                "as root by default)")
    return None


def resolve_identity(user: str | None, group: str | None, default_user: str | None = None,
                     default_group: str | None = None, *, script_security: bool = False) -> Identity:
    """keepalived's order of defaults. Raises LookupError naming an unknown user or group, and
    (under `script_security`) a missing default user rather than running as root."""
    if user is None:
        user, group = default_user, default_group
    if user is None:
        try:
            entry = pwd.getpwnam(DEFAULT_SCRIPT_USER)
        except KeyError:
            problem = default_user_problem(None, script_security)
            if problem:
                raise LookupError(problem) from None
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


def executable_for(st: os.stat_result, identity: Identity | None) -> bool:
    """A regular file `identity` may execute (mode bits, as the kernel judges them)."""
    if not stat.S_ISREG(st.st_mode):
        return False
    mode = st.st_mode
    if identity is None:
        identity = Identity("", os.geteuid(), os.getegid(), tuple(os.getgroups()))
    if identity.uid == 0:
        return bool(mode & 0o111)
    if st.st_uid == identity.uid:
        return bool(mode & stat.S_IXUSR)
    if st.st_gid == identity.gid or st.st_gid in identity.groups:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _searchable(path: str, identity: Identity | None) -> bool:
    """Every directory on the way to `path` may be searched by `identity` (keepalived looks the
    script up with the script user's effective uid, so a directory it cannot enter hides it)."""
    if identity is None or identity.uid == 0:
        return True
    directory = os.path.dirname(os.path.abspath(path))
    while True:
        st = _stat(directory)
        if st is None:
            return False
        if st.st_uid == identity.uid:
            bit = stat.S_IXUSR
        elif st.st_gid == identity.gid or st.st_gid in identity.groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
        if directory == "/":
            return True
        directory = os.path.dirname(directory)


def executable(word: str, identity: Identity | None = None) -> str | None:
    """The path exec would run for `word` (PATH searched for bare names, as execvp and
    keepalived's find_path do), or None. Executable means: for `identity` (default: us)."""
    if "/" in word:
        st = _stat(word)
        return word if st is not None and executable_for(st, identity) and _searchable(word, identity) else None
    if not word:
        return None
    for directory in os.environ.get("PATH", _DEFAULT_PATH).split(":"):
        candidate = os.path.join(directory or ".", word)
        st = _stat(candidate)
        if st is not None and executable_for(st, identity) and _searchable(candidate, identity):
            return os.path.abspath(candidate)
    return None


@record(frozen=True)
class Vetted:
    """The verdict on one script: what to exec (`argv`, empty when refused), or why not."""

    argv: tuple[str, ...]
    identity: Identity | None
    refused: str | None = None  # one line: why it will not run
    unsafe: tuple[str, ...] = ()  # what enable_script_security would object to
    shell: bool = False  # keepalived's `</path` file test, evaluated by /bin/sh

    @property
    def ok(self) -> bool:
        return self.refused is None


def _is_file_test(words: Sequence[str]) -> bool:
    first = words[0] if words else ""
    return first.startswith("<") and first[1:].lstrip(" \t").startswith("/")


def vet_command(words: Sequence[str], command: str, identity: Identity, script_security: bool) -> Vetted:
    """Decide, before it ever runs, whether and how a script may run (keepalived's
    check_script_secure). Reads the file system; call it at start and at each reload."""
    words = list(words) or shlex.split(command)
    if not words:
        return Vetted((), identity, refused="empty command")
    if _is_file_test(words):
        text = command if command else " ".join(words)
        return Vetted(("/bin/sh", "-c", text), identity, shell=True)
    first = words[0]
    path = executable(first, identity)
    if path is None:
        st = _stat(first) if "/" in first else None
        if "/" not in first and st is None:
            if any(_stat(os.path.join(d or ".", first)) is not None
                   for d in os.environ.get("PATH", _DEFAULT_PATH).split(":")):
                why = f"WARNING - script '{first}' is not executable for uid:gid {identity.uid}:{identity.gid}"
            else:
                why = f"Cannot find script {first} in path"
        elif st is None:
            why = f"Script {first} cannot be accessed - No such file or directory"
        else:
            why = f"WARNING - script '{first}' is not executable for uid:gid {identity.uid}:{identity.gid}"
        return Vetted((), identity, refused=why)
    unsafe: tuple[str, ...] = ()
    if needs_check(path, identity.uid, identity.gid):
        unsafe = tuple(unsafe_reasons(path))
    if unsafe and script_security:
        return Vetted((), identity, refused=f"Unsafe permissions found for script '{first}'", unsafe=unsafe)
    return Vetted((path, *words[1:]), identity, unsafe=unsafe)


def command_argv(vetted: Vetted, extra: Sequence[str] = ()) -> list[str]:
    """argv for a vetted script, with `extra` arguments appended (quoted for the shell form)."""
    if not vetted.ok:
        raise ValueError(f"refusing to build argv for a refused script: {vetted.refused}")
    if vetted.shell:
        text = " ".join([vetted.argv[2], *(shlex.quote(a) for a in extra)])
        return ["/bin/sh", "-c", text]
    return [*vetted.argv, *extra]


def script_env() -> dict[str, str]:
    """The environment every script starts with: the daemon's, without what is unsafe to pass
    on or is the daemon's interpreter's alone (DAEMON_ONLY_ENV)."""
    return {k: v for k, v in os.environ.items() if k not in _UNSAFE_ENV and k not in DAEMON_ONLY_ENV}


SETPRIV = "/usr/bin/setpriv"
_setpriv_ok: bool | None = None


def _setpriv() -> str | None:
    """SETPRIV when it is usable: a regular executable owned by root that no one else may change
    (checked once per process; replacing it takes root)."""
    global _setpriv_ok
    if _setpriv_ok is None:
        st = _stat(SETPRIV)
        _setpriv_ok = (st is not None and stat.S_ISREG(st.st_mode) and bool(st.st_mode & stat.S_IXUSR)
                       and not unsafe_reasons(SETPRIV))
    return SETPRIV if _setpriv_ok else None


def launch(argv: Sequence[str], identity: Identity) -> tuple[list[str], dict[str, Any]]:
    """(argv, Popen keyword arguments) that start `argv` as `identity` on the fast path (module
    docstring: vfork, and `setpriv` for another user)."""
    options = spawn_options(identity, switch_user=False)
    if identity.is_daemon:
        return list(argv), options
    helper = _setpriv()
    if helper is None:
        return list(argv), spawn_options(identity)
    groups = ",".join(str(g) for g in identity.groups)
    return [helper, f"--reuid={identity.uid}", f"--regid={identity.gid}",
            f"--groups={groups}" if groups else "--clear-groups", "--", *argv], options


def spawn_options(identity: Identity, *, switch_user: bool = True) -> dict[str, Any]:
    """Keyword arguments for subprocess.Popen / asyncio.create_subprocess_exec (with
    `switch_user`, subprocess itself becomes the script's user: the slow fork; see `launch`)."""
    import subprocess  # here: `check` reads this module's rules and never starts a script

    options: dict[str, Any] = {
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
        "cwd": "/",
        "env": script_env(),
        "close_fds": True,
        "process_group": 0,
        "umask": _script_umask,
    }
    if switch_user and not identity.is_daemon:
        options.update(user=identity.uid, group=identity.gid, extra_groups=list(identity.groups))
    return options
