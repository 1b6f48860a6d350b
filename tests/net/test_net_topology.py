"""The lab library itself: nodes are ready at once, and everything goes away, also on errors."""

from __future__ import annotations

import os
import select
import subprocess

import pytest

from vipkeeper.lab.topology import LabError, Topology
from vipkeeper.net.netns import NETNS_RUN_DIR

pytestmark = pytest.mark.net


def _ours(prefix: str) -> list[str]:
    return [n for n in os.listdir(NETNS_RUN_DIR) if n.startswith(prefix)]


def test_cleanup_on_exception_removes_namespaces_and_processes() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with Topology() as topo:
            lan = topo.add_bridge_lan(("a", "b", "c"))
            procs = [topo.popen(node.ns, ["sleep", "60"], pid_ns=True) for node in lan.nodes]
            assert len(_ours(topo.prefix)) == 5  # bridge, three nodes, client
            raise RuntimeError("boom")
    assert _ours(topo.prefix) == []
    assert all(not p.running for p in procs)
    for p in procs:
        with pytest.raises(ProcessLookupError):
            os.kill(p.pid, 0)


def test_pid_namespace_gives_each_node_its_own_process_tree(topology: Topology) -> None:
    lan = topology.add_bridge_lan(("a",), client=None)
    proc = topology.popen(lan["a"].ns, ["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'; exec sleep 60"], pid_ns=True,
                          stdout=subprocess.PIPE, text=True)
    assert proc.popen.stdout is not None
    ready, _, _ = select.select([proc.popen.stdout], [], [], 5.0)
    assert ready, "no output from the node's process"
    assert proc.popen.stdout.readline().strip() == "1"
    assert int(proc.popen.stdout.readline()) <= 3  # sh, ls, grep: nothing of the host
    assert proc.inner_pid() not in (None, proc.pid)
    proc.stop(timeout=1.0)
    assert not proc.running


def test_nodes_have_addresses_and_link_local_at_once(topology: Topology) -> None:
    lan = topology.add_bridge_lan(("a", "b"))
    shown = topology.run(lan["b"].ns, ["ip", "-6", "addr", "show", "dev", "eth0"]).stdout
    assert "tentative" not in shown and "2001:db8::2/64" in shown
    assert str(lan["client"].ipv4) == "192.0.2.200/24"
    assert topology.link_local(lan["a"]).is_link_local
    with pytest.raises(LabError, match="false failed"):
        topology.run(lan["a"].ns, ["false"])
