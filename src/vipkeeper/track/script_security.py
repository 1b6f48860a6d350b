"""`enable_script_security`: refuse a script that a non-root user could change.

Rules (keepalived core/notify.c check_script_secure/check_security; man 5 keepalived.conf)
- Checked when the script runs as root (uid or gid 0) or is setuid/setgid root.
- Every component of the path *as written* (after the PATH search for a bare name) and every
  component of the resolved path (the file and each directory up to /) must be owned by root
  and not writable by group (unless the group is root) or by others; a directory that is
  writable but sticky (like /tmp) is accepted. Components of the path as written are looked at
  without following them (lstat): a symbolic link there must itself be owned by root, since
  whoever owns it could point it elsewhere (in a sticky directory, only its owner can replace
  it); what it points to is judged by the resolved path. Checking only the resolved path (as
  vipkeeper did before) misses a user's symlink on the way.
- A finding is logged `Unsafe permissions found for script 'X'`; with enable_script_security
  the script is disabled (` - disabling`).
"""

from __future__ import annotations

import os
import stat


def _prefixes(path: str) -> list[str]:
    """`/a/b/c` -> ["/a/b/c", "/a/b", "/a", "/"] (the file first)."""
    parts = os.path.normpath(path).split("/")
    out = []
    for i in range(len(parts), 0, -1):
        out.append("/".join(parts[:i]) or "/")
    return out


def _component_reasons(comp: str, st: os.stat_result, is_last: bool) -> list[str]:
    reasons = []
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        if st.st_uid != 0:
            reasons.append(f"{comp} is a symbolic link owned by uid {st.st_uid}, not root")
        return reasons
    if not is_last and not stat.S_ISDIR(mode):
        reasons.append(f"{comp} is not a directory")
        return reasons
    if is_last and not stat.S_ISREG(mode):
        reasons.append(f"{comp} is not a regular file")
    sticky = stat.S_ISDIR(mode) and bool(mode & stat.S_ISVTX)
    if st.st_uid != 0:
        reasons.append(f"{comp} is owned by uid {st.st_uid}, not root")
    if mode & stat.S_IWOTH and not sticky:
        reasons.append(f"{comp} is writable by anyone")
    if mode & stat.S_IWGRP and st.st_gid != 0 and not sticky:
        reasons.append(f"{comp} is writable by group {st.st_gid}")
    return reasons


def _walk(path: str, follow: bool) -> list[str]:
    reasons: list[str] = []
    for i, comp in enumerate(_prefixes(path)):
        try:
            st = os.stat(comp) if follow else os.lstat(comp)
        except OSError as exc:
            reasons.append(f"{comp}: {exc.strerror}")
            continue
        reasons.extend(_component_reasons(comp, st, i == 0))
    return reasons


def unsafe_reasons(path: str) -> list[str]:
    """Why `path` is unsafe to run as root (empty when it is safe). Missing files are reported.

    `path` must be absolute (a bare name is searched on PATH first: script_launch.vet_command).
    """
    if not os.path.isabs(path):
        return [f"{path}: not an absolute path"]
    try:
        real = os.path.realpath(path, strict=True)
    except OSError as exc:
        return [f"{path}: {exc.strerror}"]
    reasons = _walk(path, follow=False)
    if real != os.path.normpath(path):
        reasons.extend(r for r in _walk(real, follow=True) if r not in reasons)
    return reasons


def needs_check(path: str, uid: int, gid: int) -> bool:
    """keepalived checks scripts run as root, and setuid/setgid-root files."""
    if uid == 0 or gid == 0:
        return True
    try:
        st = os.stat(path)
    except OSError:
        return False
    return bool((st.st_mode & stat.S_ISUID and st.st_uid == 0) or (st.st_mode & stat.S_ISGID and st.st_gid == 0))
