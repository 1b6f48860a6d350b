"""Fixtures for namespace tests: a lab topology that is torn down whatever the test does.

`lan` gives two nodes (a: 192.0.2.1, b: 192.0.2.2, with 2001:db8::1/::2 and link-local addresses)
and a client (192.0.2.200) on one bridge; `lan3` adds node c (192.0.2.3). `topology` is the
Topology behind them, for processes, partitions and address reads. `in_ns(ns, fn)` runs fn on a
thread inside ns so sockets can be made there while the test runner never changes namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from vipkeeper.lab.topology import Lan, Topology
from vipkeeper.net.netns import NETNS_RUN_DIR, call_in


@pytest.fixture
def topology() -> Iterator[Topology]:
    topo = Topology()
    try:
        yield topo
    finally:
        topo.close()
        leftovers = [n for n in os.listdir(NETNS_RUN_DIR) if n.startswith(topo.prefix)] if os.path.isdir(NETNS_RUN_DIR) else []
        assert not leftovers, f"namespaces left behind: {leftovers}"


@pytest.fixture
def lan(topology: Topology) -> Lan:
    return topology.add_bridge_lan(("a", "b"), client="client")


@pytest.fixture
def lan3(topology: Topology) -> Lan:
    return topology.add_bridge_lan(("a", "b", "c"), client="client")


@pytest.fixture
def in_ns():
    return call_in


@pytest.fixture
def named_sleep(tmp_path):
    """A copy of /bin/sleep with a unique name (its comm), and the processes started from it:
    a process that only this test can be tracking."""
    name = "vktrk_" + os.urandom(3).hex()
    exe = tmp_path / name
    shutil.copy("/bin/sleep", exe)
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        p = subprocess.Popen([str(exe), *(args or ("60",))])
        procs.append(p)
        return p

    start.name = name  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
