"""Fixtures for namespace tests: a lab topology that is torn down whatever the test does.

`lan` gives two nodes (a: 192.0.2.1, b: 192.0.2.2, with 2001:db8::1/::2 and link-local addresses)
and a client (192.0.2.200) on one bridge; `lan3` adds node c (192.0.2.3). `topology` is the
Topology behind them, for processes, partitions and address reads. `bed` is a lab Testbed on it
(nodes a and b; `pytest.mark.testbed(...)` on the module or test gives other arguments, e.g.
`ipv6=False`); bed_helpers.py holds what the tests ask of its daemons. `in_ns(ns, fn)` runs fn
on a thread inside ns so sockets can be made there while the test runner never changes namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import vipkeeper
from vipkeeper.lab.testbed import Testbed
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
def bed(topology: Topology, request: pytest.FixtureRequest) -> Iterator[Testbed]:
    """A Testbed (lab/testbed.py) of nodes a and b, IPv4 and IPv6, closed whatever the test does;
    a `testbed` marker's arguments go to Testbed instead (`pytest.mark.testbed(ipv6=False)`)."""
    marker = request.node.get_closest_marker("testbed")
    with Testbed(topology, *(marker.args if marker else ()), **(marker.kwargs if marker else {})) as tb:
        yield tb


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


# The tree the vipkeeper package is imported from (the clone, for an editable install).
PROJECT = Path(vipkeeper.__file__).resolve().parents[2]


# A shell prologue for `isolated`: fresh /tmp and /run (keepalived's dump and pid paths, so
# neither keepalived nor vipkeeper touches the host's), the test's directory at /mnt, and a veth
# eth0 (192.0.2.1/24, peer eth1 in the same namespace) to run a VRRP instance on.
# A clone under /tmp or /run (CI clones into mktemp -d) holds the editable install's source, so
# it is bound back at its own path on top of the fresh tmpfs, or `python3 -m vipkeeper` would
# find no module inside.
ISOLATE = """\
set -e
mount --bind "$VK_WORK" /mnt
mkdir -p /mnt/.vk-project
mount --bind "$VK_PROJECT" /mnt/.vk-project
mount -t tmpfs -o mode=1777 vk-tmp /tmp
mount -t tmpfs -o mode=0755 vk-run /run
mkdir -p "$VK_PROJECT"
mount --bind /mnt/.vk-project "$VK_PROJECT"
umount /mnt/.vk-project
rmdir /mnt/.vk-project
ip link set lo up
ip link add eth0 type veth peer name eth1
ip link set eth1 up
ip link set eth0 up
ip addr add 192.0.2.1/24 dev eth0
cd /mnt
set +e
"""


def _isolated_runner(work):  # type: ignore[no-untyped-def]
    def run(script: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        env = {**os.environ, "VK_WORK": str(work), "VK_PROJECT": str(PROJECT)}
        return subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
                               "--", "sh", "-c", ISOLATE + script], env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    run.work = work  # type: ignore[attr-defined]
    return run


@pytest.fixture(scope="session")
def isolated_factory():
    """isolated_factory(directory) -> run, as `isolated` but for module-scoped fixtures."""
    return _isolated_runner


@pytest.fixture
def isolated(tmp_path):
    """run(script, timeout) runs `sh -c script` in new mount, network and PID namespaces (with
    ISOLATE first); the test's tmp_path/iso is /mnt there (run.work). Everything started inside
    dies with the namespace's init (the shell) when it exits or the timeout kills it."""
    work = tmp_path / "iso"
    work.mkdir()
    return _isolated_runner(work)
