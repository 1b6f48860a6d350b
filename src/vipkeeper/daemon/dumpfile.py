"""Writing a dump file without handing it to anyone else (keepalived's 2018 /tmp CVE pattern).

Rule: a dump is never written *through* anything a local user could have planted. keepalived
wrote /tmp/keepalived.data by name (open with O_CREAT, no O_EXCL), so a user who pre-created
that file, or a symlink of that name, received root's dump or had root write where the link
pointed. Here:
- the content goes to a fresh file made with mkstemp (O_CREAT|O_EXCL, mode 0600) in the target's
  own directory, and is renamed over the target: rename(2) replaces a name, it never follows a
  symlink nor opens an existing file;
- a directory that others can write into (group/other write bit, or owned by another user) is
  used only if it is sticky and the target either does not exist or is a root-owned non-symlink:
  in a sticky directory nobody else can then remove or replace it. Otherwise the dump is refused
  with one log line naming the reason;
- vipkeeper's own directory (/run/vipkeeper) is created root-only (0700) when missing.

`write_dump` returns the reason it refused (or None); it never raises for an OS error: a dump
is a courtesy and must not disturb the daemon.
"""

from __future__ import annotations

import os
import stat
import tempfile


def refusal(path: str) -> str | None:
    """Why `path` must not be written (None when it may be)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        dst = os.lstat(directory)
    except OSError as exc:
        return f"cannot use directory {directory}: {exc.strerror or exc}"
    if not stat.S_ISDIR(dst.st_mode):
        return f"{directory} is not a directory"
    me = os.geteuid()
    shared = bool(dst.st_mode & (stat.S_IWGRP | stat.S_IWOTH)) or dst.st_uid not in (0, me)
    if not shared:
        return None
    if not dst.st_mode & stat.S_ISVTX:
        return f"directory {directory} is writable by others and not sticky"
    try:
        tst = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot check {path}: {exc.strerror or exc}"
    if stat.S_ISLNK(tst.st_mode):
        return f"{path} is a symbolic link in a directory others can write (uid {tst.st_uid})"
    if tst.st_uid not in (0, me):
        return f"{path} exists and belongs to uid {tst.st_uid}, in a directory others can write"
    if not stat.S_ISREG(tst.st_mode):
        return f"{path} is not a regular file"
    return None


def ensure_private_dir(directory: str) -> None:
    """Create vipkeeper's own directory root-only (0700) if it does not exist yet."""
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)


def write_dump(path: str, text: str) -> str | None:
    """Write `text` to `path` atomically and safely; returns None, or why nothing was written."""
    reason = refusal(path)
    if reason is not None:
        return reason
    directory = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.rename(tmp, path)
        tmp = None
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror or exc}"
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return None
