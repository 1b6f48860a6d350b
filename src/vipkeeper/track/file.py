"""track_file: an integer read from a file, re-read whenever the file changes.

Rules (keepalived trackers/track_file.c, man 5 keepalived.conf "Track files")
- The value is the text of the file parsed like C strtol(buf, NULL, 0) on its first 127 bytes:
  leading blanks, an optional sign, 0x for hex and a leading 0 for octal, trailing junk ignored;
  no digits at all reads as 0. A missing, unreadable or empty file reads as 0.
- A number outside the C int range is logged `Invalid number N read from PATH - ignoring` and the
  previous value is kept.
- A file deleted or moved away counts as 0.
- Change detection: inotify on the file's directory (IN_CLOSE_WRITE, IN_MOVED_TO: re-read;
  IN_DELETE, IN_MOVED_FROM: 0), as keepalived does, so a file created later is also seen. When
  inotify is unavailable, the file is polled (stat every `poll_interval`).
- `init_file [VALUE] [overwrite]`: write VALUE (default 0) at start if the file does not exist,
  or always with overwrite. Root writes here, so the path is never followed: a new file is made
  with O_CREAT|O_EXCL|O_NOFOLLOW (a planted symlink, even a dangling one, makes it fail), an
  existing one is opened O_NOFOLLOW and overwritten only if it is a regular file with a single
  link (not a symlink, fifo, device or a hard link to someone else's file).
How the value becomes a priority or FAULT is priority.file_effect.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import stat
import struct
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Callable

from vipkeeper.config.model import TrackFile

log = logging.getLogger("vipkeeper.track")

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_DELETE = 0x200
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("=iIII")


def strtol0(text: bytes) -> int | None:
    """C strtol(text, NULL, 0); None when it overflows a long (ERANGE)."""
    s = text.lstrip(b" \t\n\v\f\r")
    sign = 1
    if s[:1] in (b"+", b"-"):
        sign = -1 if s[:1] == b"-" else 1
        s = s[1:]
    if s[:2].lower() == b"0x" and s[2:3] and s[2:3] in b"0123456789abcdefABCDEF":
        base, s, digits = 16, s[2:], b"0123456789abcdefABCDEF"
    elif s[:1] == b"0":
        base, digits = 8, b"01234567"
    else:
        base, digits = 10, b"0123456789"
    n = 0
    while s and s[:1] in digits:
        s = s[1:]
        n += 1
    body = text.lstrip(b" \t\n\v\f\r")
    body = body[1:] if body[:1] in (b"+", b"-") else body
    if base == 16:
        body = body[2:]
    if n == 0:
        return 0
    value = sign * int(body[:n], base)
    if value < LONG_MIN or value > LONG_MAX:
        return None
    return value


def read_value(path: str) -> int | None:
    """The file's value as keepalived reads it; None means "invalid: keep the previous value"."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        data = os.read(fd, 127)
    except OSError:
        data = b""
    finally:
        os.close(fd)
    if not data:
        return 0
    value = strtol0(data.split(b"\0", 1)[0])
    if value is None or value < INT_MIN or value > INT_MAX:
        return None
    return value


def init_file(spec: TrackFile) -> None:
    """Apply `init_file`: create (or with overwrite, rewrite) the file with its initial value."""
    if spec.init_file is None:
        return
    data = f"{spec.init_file}\n".encode()
    base = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
    try:
        fd = os.open(spec.file, base | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        if not spec.init_file_overwrite:
            return
        try:
            fd = os.open(spec.file, base)
        except OSError as exc:
            why = "it is a symbolic link" if exc.errno == errno.ELOOP else (
                "it is not a regular file" if exc.errno == errno.ENXIO else exc.strerror)
            log.warning("Cannot initialise track file %s - %s", spec.name, why)
            return
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            os.close(fd)
            why = "it is not a regular file" if not stat.S_ISREG(st.st_mode) else f"it has {st.st_nlink} links"
            log.warning("Cannot initialise track file %s - %s", spec.name, why)
            return
    except OSError as exc:
        log.warning("Unable to initialise track file %s: %s", spec.name, exc.strerror)
        return
    try:
        os.ftruncate(fd, 0)
        os.write(fd, data)
    except OSError as exc:
        log.warning("Unable to initialise track file %s: %s", spec.name, exc.strerror)
    finally:
        os.close(fd)


class FileTracker:
    """Watches one track_file and calls `on_change(name, value)` when its value changes."""

    def __init__(self, spec: TrackFile, on_change: Callable[[str, int], None], *,
                 poll_interval: float = 1.0, logger: logging.Logger = log) -> None:
        self.spec = spec
        self.on_change = on_change
        self.poll_interval = poll_interval
        self.log = logger
        self.path = os.path.abspath(spec.file)
        self.value = 0
        self.mode = ""
        self._fd: int | None = None
        self._task: asyncio.Task | None = None
        self._mtime: tuple | None = None

    def start(self) -> int:
        """Read the initial value and start watching; returns the initial value."""
        init_file(self.spec)
        v = read_value(self.path)
        self.value = v if v is not None else 0
        self._mtime = self._stamp()
        loop = asyncio.get_running_loop()
        if self._start_inotify(loop):
            self.mode = "inotify"
        else:
            self.mode = "poll"
            self._task = loop.create_task(self._poll())
        return self.value

    def stop(self) -> None:
        if self._fd is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _start_inotify(self, loop: asyncio.AbstractEventLoop) -> bool:
        try:
            libc = ctypes.CDLL(None, use_errno=True)  # libc among the interpreter's symbols: no ldconfig run
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd < 0:
                return False
            wd = libc.inotify_add_watch(fd, os.fsencode(os.path.dirname(self.path)),
                                        IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)
            if wd < 0:
                os.close(fd)
                return False
        except (OSError, AttributeError):
            return False
        self._fd = fd
        loop.add_reader(fd, self._on_inotify)
        return True

    def _on_inotify(self) -> None:
        assert self._fd is not None
        base = os.fsencode(os.path.basename(self.path))
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        off = 0
        while off + _EVENT.size <= len(data):
            _, mask, _, nlen = _EVENT.unpack_from(data, off)
            name = data[off + _EVENT.size : off + _EVENT.size + nlen].split(b"\0", 1)[0]
            off += _EVENT.size + nlen
            if mask & IN_ISDIR or name != base:
                continue
            if mask & (IN_DELETE | IN_MOVED_FROM):
                self._set(0)
            else:
                self._reread()

    def _stamp(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            stamp = self._stamp()
            if stamp != self._mtime:
                self._mtime = stamp
                self._reread()

    def _reread(self) -> None:
        v = read_value(self.path)
        if v is None:
            self.log.info("Invalid number read from %s - ignoring", self.path)
            return
        self._set(v)

    def _set(self, v: int) -> None:
        if v != self.value:
            self.value = v
            self.on_change(self.spec.name, v)
