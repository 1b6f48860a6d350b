"""Being a well-behaved Unix daemon: pid file, detaching, systemd readiness.

Kept apart from the runtime because none of it decides anything about VRRP, and because a second
daemon in another namespace must be able to run beside the first with its own paths.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat


class PidFileError(Exception):
    pass


DAEMON_UMASK = 0o022


def set_umask() -> None:
    """keepalived's default umask: files the daemon creates are never group/other-writable."""
    os.umask(DAEMON_UMASK)


class PidFile:
    """An exclusive pid file: refuses to start when another daemon holds it (a second daemon on
    the same VIPs is exactly the split-brain this project exists to prevent).

    Rules
    - Created with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0644: a symlink planted at the path is never
      followed, so root cannot be made to write through it.
    - An existing file is reused only if it is a regular file with one link, owned by us (root),
      not writable by group or others, in a directory others cannot write (sticky excepted):
      anything else was put there by someone else and is refused, not overwritten.
    - The file is locked (flock, exclusive) for the daemon's whole life: a second daemon fails to
      lock it whatever PID is written in it (no race between two starting daemons, no trust in a
      recycled PID). A PID in the file that still runs without the lock (an older vipkeeper) is
      refused too.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._written = False

    def acquire(self) -> None:
        directory = os.path.dirname(self.path) or "."
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o755, exist_ok=True)
        dst = os.lstat(directory)
        if dst.st_mode & 0o002 and not dst.st_mode & stat.S_ISVTX:
            raise PidFileError(f"{self.path}: directory {directory} is writable by anyone")
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                fd = os.open(self.path, flags)
            except OSError as exc:
                why = "is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
                raise PidFileError(f"{self.path}: {why}, refusing to use it") from None
            problem = _foreign(os.fstat(fd))
            if problem:
                os.close(fd)
                raise PidFileError(f"{self.path}: {problem}, refusing to use it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" as PID {holder}" if holder else ""
            raise PidFileError(f"{self.path}: another vipkeeper runs{who}") from None
        old = _read_pid(fd)
        if old > 0 and old != os.getpid() and _alive(old) and _is_vipkeeper(old):
            os.close(fd)
            raise PidFileError(f"{self.path}: another vipkeeper runs as PID {old}")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fchmod(fd, 0o644)
        self._fd = fd
        self._written = True

    def release(self) -> None:
        if not self._written:
            return
        try:
            st = os.lstat(self.path)
            if self._fd is not None:
                ours = os.fstat(self._fd)
                if (st.st_dev, st.st_ino) == (ours.st_dev, ours.st_ino):
                    os.unlink(self.path)  # only the file we hold, not one put in its place
        except FileNotFoundError:
            pass
        if self._fd is not None:
            os.close(self._fd)  # drops the lock
            self._fd = None
        self._written = False


def _foreign(st: os.stat_result) -> str | None:
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_nlink != 1:
        return f"has {st.st_nlink} links"
    if st.st_uid != os.geteuid():
        return f"owned by uid {st.st_uid}"
    if st.st_mode & 0o022:
        return f"writable by group or others (mode {st.st_mode & 0o7777:04o})"
    return None


def _is_vipkeeper(pid: int) -> bool:
    """An unlocked pid file naming a live PID: refuse only if that PID is a vipkeeper (an older
    one, from before the lock), not whatever process recycled the number."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return True  # cannot tell: err on the side of not running two daemons
    # `vipkeeper ...`, `/usr/bin/vipkeeper ...`, `python3 -m vipkeeper ...`, `python3 /usr/bin/vipkeeper`
    return any(os.path.basename(arg) == b"vipkeeper" for arg in argv[:3])


def _read_pid(fd: int) -> int:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0)
    except (ValueError, UnicodeDecodeError, OSError):
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def detach() -> None:
    """Double fork into the background, as keepalived does without -n."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def sd_notify(message: str) -> bool:
    """Tell systemd (Type=notify) about readiness or status; a no-op outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


def raise_fd_limit() -> tuple[int, int] | None:
    """Raise the soft RLIMIT_NOFILE to the hard one (keepalived sizes its limit the same way):
    a daemon short of descriptors cannot read /proc, accept or open sockets. (old, new) when
    raised, None when it already was at the hard limit or could not be changed."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard or (hard != resource.RLIM_INFINITY and soft > hard):
        return None
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return None
    return soft, target


def watchdog_interval(environ: dict[str, str] | None = None, pid: int | None = None) -> float | None:
    """How often to send WATCHDOG=1: half of systemd's WATCHDOG_USEC (sd_watchdog_enabled's
    advice), or None when the unit has no WatchdogSec= or the watchdog is meant for another PID."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0 or not env.get("NOTIFY_SOCKET"):
        return None
    owner = env.get("WATCHDOG_PID")
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    return usec / 1e6 / 2


class NotifySocket:
    """A connected datagram socket to NOTIFY_SOCKET for messages sent again and again (the
    watchdog pings): one send each, no socket per message."""

    def __init__(self, address: str) -> None:
        if address.startswith("@"):
            address = "\0" + address[1:]
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        try:
            self._sock.connect(address)
        except OSError:
            self._sock.close()
            raise

    def send(self, message: bytes) -> bool:
        try:
            self._sock.send(message)
        except OSError:
            return False
        return True

    def close(self) -> None:
        self._sock.close()
