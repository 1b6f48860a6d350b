"""`enable_script_security`: refuse a script that a non-root user could change.

Rules (keepalived core/notify.c check_script_secure; man 5 keepalived.conf)
- Checked when the script runs as root (uid or gid 0) or is setuid/setgid root.
- Every component of the resolved path (the file and each directory up to /) must be owned by
  root, and must not be writable by group (unless the group is root) or by others; a directory
  that is writable but sticky (like /tmp) is accepted.
- A finding is logged `Unsafe permissions found for script 'X'`; with enable_script_security
  the script is disabled (` - disabling`).
"""

from __future__ import annotations

import os
import stat


def unsafe_reasons(path: str) -> list[str]:
    """Why `path` is unsafe to run as root (empty when it is safe). Missing files are reported."""
    try:
        real = os.path.realpath(path, strict=True)
    except OSError as exc:
        return [f"{path}: {exc.strerror}"]
    reasons = []
    parts = real.split("/")
    for i in range(len(parts), 0, -1):
        comp = "/".join(parts[:i]) or "/"
        try:
            st = os.stat(comp)
        except OSError as exc:
            reasons.append(f"{comp}: {exc.strerror}")
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        sticky = is_dir and bool(st.st_mode & stat.S_ISVTX)
        if st.st_uid != 0:
            reasons.append(f"{comp} is owned by uid {st.st_uid}, not root")
        if st.st_mode & stat.S_IWOTH and not sticky:
            reasons.append(f"{comp} is writable by anyone")
        if st.st_mode & stat.S_IWGRP and st.st_gid != 0 and not sticky:
            reasons.append(f"{comp} is writable by group {st.st_gid}")
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
