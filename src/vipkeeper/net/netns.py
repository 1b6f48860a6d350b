"""Enter a named network namespace (`ip netns add NAME`) from Python 3.11.

Why the daemon does this itself instead of running under `ip netns exec`: the process connector
answers only in the initial network namespace (platform-notes.md). A socket keeps the namespace it
was created in, so `vipkeeper run --netns NAME` opens the connector first, then calls `enter(NAME)`;
every socket made afterwards (raw VRRP, AF_PACKET, netlink) lives in NAME.

Python 3.11 has no os.setns, so this calls libc's setns(2) through ctypes. setns changes only the
calling thread: call it before any other thread exists (the daemon has none). /sys is not
remounted, so code that must see NAME's interfaces asks netlink or ioctl, not /sys/class/net.
"""

from __future__ import annotations

import ctypes
import os
import threading

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up, issue 18)
if TYPE_CHECKING:
    from typing import Callable, TypeVar

    T = TypeVar("T")


CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"


class NetnsError(OSError):
    """The namespace could not be entered; the message names it and says why."""


def netns_path(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise NetnsError(f"not a network namespace name: {name!r}")
    return os.path.join(NETNS_RUN_DIR, name)


def enter(name: str) -> None:
    """Move the calling thread into network namespace NAME."""
    path = netns_path(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NetnsError(exc.errno, f"cannot open network namespace {name!r} ({path}): {exc.strerror}") from None
    try:
        enter_fd(fd, name)
    finally:
        os.close(fd)


def enter_fd(fd: int, name: str = "?") -> None:
    libc = ctypes.CDLL(None, use_errno=True)  # libc's setns among the interpreter's symbols; no ldconfig run
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(err, f"cannot enter network namespace {name!r}: {os.strerror(err)}")


def current_inode() -> int:
    """Identity of the calling thread's network namespace (compare, never print as meaningful)."""
    return os.stat("/proc/thread-self/ns/net").st_ino


def inode_of(name: str) -> int:
    return os.stat(netns_path(name)).st_ino


def call_in(name: str, fn: Callable[[], T]) -> T:
    """Run `fn` on a short-lived thread that has entered NAME; return its result or raise its error.

    Sockets `fn` makes belong to NAME for their whole life, while the caller's threads never
    change namespace: the way tests and the lab open sockets in several namespaces from one process.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def body() -> None:
        try:
            enter(name)
            result.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            error.append(exc)

    worker = threading.Thread(target=body, name=f"netns-{name}", daemon=True)
    worker.start()
    worker.join()
    if error:
        raise error[0]
    return result[0]
