"""Processes started inside a lab node, stopped by PID and never by name.

Each process starts in its own session (process group), so stopping it reaches everything it
forked and nothing else. With pid_ns=True it runs under `unshare --pid --fork --mount-proc
--kill-child`: the node gets its own PID namespace and /proc, which is what makes one node's
haproxy invisible to another node's tracker (platform-notes.md: network namespaces share PIDs).
`--kill-child` ties the namespace's init to unshare, so killing the PID we hold ends the node's
whole process tree even if something escaped the process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class LabTimeout(TimeoutError):
    """A bounded wait in the lab ran out; the message says what was awaited."""


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.01, what: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy; at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabTimeout(f"{what} not reached within {timeout:g}s")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


async def wait_for_async(
    predicate: Callable[[], T], timeout: float, interval: float = 0.01, what: str = "condition"
) -> T:
    """wait_for for coroutines: yields to the loop between polls."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabTimeout(f"{what} not reached within {timeout:g}s")
        await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def netns_argv(ns: str, argv: Sequence[str], pid_ns: bool = False) -> list[str]:
    prefix = ["ip", "netns", "exec", ns]
    if pid_ns:
        prefix += ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
    return prefix + [str(a) for a in argv]


class NodeProcess:
    """A process running in a lab node's namespace."""

    def __init__(self, ns: str, argv: Sequence[str], pid_ns: bool = False, **popen: Any) -> None:
        self.ns = ns
        self.argv = list(argv)
        self.pid_ns = pid_ns
        popen.setdefault("stdin", subprocess.DEVNULL)
        self.popen = subprocess.Popen(netns_argv(ns, argv, pid_ns), start_new_session=True, **popen)
        self.pid = self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def inner_pid(self) -> int | None:
        """With pid_ns: the PID (as the lab sees it) of the command, init of the node's namespace."""
        if not self.pid_ns:
            return self.pid
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
                children = f.read().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def signal(self, sig: int) -> None:
        """Signal the command itself (the namespace's init when pid_ns)."""
        pid = self.inner_pid()
        if pid is not None and self.running:
            os.kill(pid, sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def terminate(self) -> None:
        """SIGTERM to the process group, without waiting."""
        self._signal_group(signal.SIGTERM)

    def stop(self, timeout: float = 3.0) -> int | None:
        """SIGTERM to the process group, then SIGKILL after `timeout`; reaps the child."""
        if self.running:
            self._signal_group(signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self._signal_group(signal.SIGKILL)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            # The group leader may have exec'd into something that changed its session; the PID is still ours.
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def __repr__(self) -> str:
        return f"<NodeProcess {self.pid} in {self.ns}: {' '.join(self.argv)}>"
