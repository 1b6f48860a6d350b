"""Being a well-behaved Unix daemon: pid file, detaching, systemd readiness.

Kept apart from the runtime because none of it decides anything about VRRP, and because a second
daemon in another namespace must be able to run beside the first with its own paths.
"""

from __future__ import annotations

import errno
import os
import socket


class PidFileError(Exception):
    pass


class PidFile:
    """An exclusive pid file: refuses to start when the recorded PID still runs (a second daemon
    on the same VIPs is exactly the split-brain this project exists to prevent)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._written = False

    def acquire(self) -> None:
        try:
            with open(self.path) as handle:
                old = int(handle.read().strip() or 0)
        except (FileNotFoundError, ValueError):
            old = 0
        if old > 0 and old != os.getpid() and _alive(old):
            raise PidFileError(f"{self.path}: another vipkeeper runs as PID {old}")
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w") as handle:
            handle.write(f"{os.getpid()}\n")
        os.replace(tmp, self.path)
        self._written = True

    def release(self) -> None:
        if not self._written:
            return
        try:
            with open(self.path) as handle:
                if int(handle.read().strip() or 0) == os.getpid():
                    os.unlink(self.path)
        except (FileNotFoundError, ValueError):
            pass
        self._written = False


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
