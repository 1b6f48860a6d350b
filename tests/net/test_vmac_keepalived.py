"""use_vmac in a mixed pair, vipkeeper beside keepalived 2.2.7, both with the same configuration,
IPv4 and IPv6:

- whichever node is Master, the VIP answers from 00:00:5e:00:01:VRID (00:00:5e:00:02:VRID for
  IPv6): a fresh ARP/ND resolution on the client gets the virtual MAC, and the bridge learns that
  MAC on the Master's port;
- the client's neighbour entry for the VIP never holds another MAC across failovers in both
  directions (watched with `ip monitor neigh` the whole time);
- adverts leave from the VMAC (source MAC = the virtual MAC) from both daemons; with
  vmac_xmit_base from the base interface (source MAC = the node's own), again from both;
- the VMAC, with keepalived's sysctls, exists while the daemon runs and is gone after it exits,
  and the parent's arp_ignore/arp_filter are put back (keepalived leaves them at 1: measured);
- keepalived needs the admin to set arp_announce=2 on the parent for the client's entry to stay
  (measured here: without it the keepalived Master's own ARP requests teach the client the
  parent's MAC); vipkeeper sets it itself.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from vipkeeper.lab.testbed import Testbed, vrrp_conf

pytestmark = pytest.mark.net

ADV = 0.5
VRID = 71
VIPS = {4: "192.0.2.71/24", 6: "2001:db8::71/64"}


PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], 9), timeout=1).close()
except ConnectionRefusedError:
    sys.exit(0)
except OSError:
    sys.exit(1)
sys.exit(0)
"""


def vmac(family: int) -> str:
    return f"00:00:5e:00:0{1 if family == 4 else 2}:{VRID:02x}"


def conf(family: int, priority: int, extra: tuple[str, ...] = ()) -> str:
    return vrrp_conf("VI_1", vrid=VRID, priority=priority, vips=[VIPS[family]], advert_int=ADV,
                     extra=["use_vmac", *extra])


def run(bed: Testbed, ns: str, *argv: str, check: bool = True) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=10,
                          check=check).stdout


def vip(family: int) -> str:
    return VIPS[family].split("/")[0]


def resolve(bed: Testbed, family: int) -> str:
    """The client's neighbour entry's MAC for the VIP after a ping (which must be answered)."""
    client = bed.lan.client.ns
    deadline = time.monotonic() + 5
    while True:
        # a TCP connect to a closed port: the Master's RST (ECONNREFUSED) proves the VIP answered
        ok = subprocess.run(["ip", "netns", "exec", client, sys.executable, "-c", PROBE, vip(family)],
                            capture_output=True, timeout=10, check=False).returncode == 0
        words = run(bed, client, "ip", f"-{family}", "neigh", "show", vip(family)).split()
        if ok and "lladdr" in words:
            return words[words.index("lladdr") + 1]
        if time.monotonic() > deadline:
            raise AssertionError(f"the VIP did not answer the client ({words})")
        time.sleep(0.1)


def fdb_port(bed: Testbed, mac: str) -> str | None:
    out = run(bed, bed.lan.bridge_ns, "bridge", "fdb", "show")
    for line in out.splitlines():
        words = line.split()
        if words and words[0] == mac and "dev" in words:
            return words[words.index("dev") + 1]
    return None


def wait_fdb(bed: Testbed, mac: str, node: str, timeout: float = 5.0) -> None:
    port = bed.lan[node].port
    deadline = time.monotonic() + timeout
    while fdb_port(bed, mac) != port:
        if time.monotonic() > deadline:
            raise AssertionError(f"the bridge learnt {mac} on {fdb_port(bed, mac)}, not {node}'s port {port}")
        time.sleep(0.05)


def advert_macs(bed: Testbed, name: str, after: float) -> set[str]:
    return {f.data[6:12].hex(":") for f, r in bed.adverts(name, after, None, VRID) if r.advertisement.priority > 0}


def arp_announce(bed: Testbed, name: str) -> None:
    """What a keepalived admin must add (keepalived does not, see net/vmac.py): without it the
    keepalived Master's ARP requests to the client name the VIP with the parent's MAC."""
    run(bed, bed.nodes[name].ns, "sh", "-c", "echo 2 > /proc/sys/net/ipv4/conf/eth0/arp_announce")


@pytest.fixture
def bed(topology):
    with Testbed(topology, ("a", "b"), ipv6=True) as tb:
        yield tb


@pytest.mark.parametrize("kind", ["keepalived", "vipkeeper"])
def test_without_arp_announce_only_keepalived_lets_the_parent_mac_leak(bed: Testbed, kind: str) -> None:
    """The measured difference: alone as Master with the host's default sysctls, keepalived's
    reply traffic makes the client learn the parent's MAC for the VIP; vipkeeper's does not."""
    bed.start("b", kind=kind, conf=conf(4, 100))
    bed.wait_sole("b", VIPS[4], 3 * ADV + 5.0)
    resolve(bed, 4)  # ARP reply from the VMAC, then the Master's RST and its ARP for the client
    deadline = time.monotonic() + 3
    while True:  # the Master's own ARP request reaches the client just after its reply
        mac = resolve(bed, 4)
        if kind == "vipkeeper" or mac != vmac(4) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert mac == (vmac(4) if kind == "vipkeeper" else bed.lan["b"].mac.lower())


@pytest.mark.parametrize("family", [4, 6])
def test_the_vip_keeps_the_virtual_mac_across_failovers(bed: Testbed, family: int) -> None:
    client = bed.lan.client.ns
    monitor = subprocess.Popen(["ip", "netns", "exec", client, "ip", "monitor", "neigh"], stdout=subprocess.PIPE,
                               text=True)
    try:
        time.sleep(0.3)  # `ip monitor` has no ready signal
        t0 = time.time()
        arp_announce(bed, "b")
        bed.start("b", kind="keepalived", conf=conf(family, 100))
        bed.wait_sole("b", VIPS[family], 3 * ADV + 5.0)
        assert resolve(bed, family) == vmac(family)
        wait_fdb(bed, vmac(family), "b")
        t1 = time.time()
        bed.start("a", conf=conf(family, 150))  # vipkeeper preempts
        bed.wait_sole("a", VIPS[family], 3 * ADV + 5.0)
        assert resolve(bed, family) == vmac(family)
        wait_fdb(bed, vmac(family), "a")
        # a fresh resolution is answered by vipkeeper's VMAC too (the parent stays silent)
        run(bed, client, "ip", f"-{family}", "neigh", "flush", "to", vip(family), check=False)
        assert resolve(bed, family) == vmac(family)
        t2 = time.time()
        ifname = "vrrp.71"
        ns_a = bed.nodes["a"].ns
        assert vmac(family) in run(bed, ns_a, "ip", "link", "show", ifname)
        assert vip(family) in run(bed, ns_a, "ip", "addr", "show", "dev", ifname)
        if family == 4:
            assert run(bed, ns_a, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_ignore").strip() == "1"
            assert run(bed, ns_a, "cat", f"/proc/sys/net/ipv4/conf/{ifname}/accept_local").strip() == "1"
        bed.stop("a")  # back to keepalived
        bed.wait_sole("b", VIPS[family], 3 * ADV + 5.0)
        assert resolve(bed, family) == vmac(family)
        wait_fdb(bed, vmac(family), "b")
        # vipkeeper removed its VMAC and put the parent's sysctls back
        assert ifname not in run(bed, ns_a, "ip", "link", "show")
        assert run(bed, ns_a, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_ignore").strip() == "0"
        time.sleep(0.3)
    finally:
        monitor.terminate()
        lines = monitor.communicate(timeout=5)[0].splitlines()
    seen = {line.split("lladdr")[1].split()[0] for line in lines
            if line.split() and line.split()[0] == vip(family) and "lladdr" in line}
    assert seen == {vmac(family)}, lines  # the client never saw another MAC for the VIP
    # both daemons advertised from the virtual MAC while Master
    assert advert_macs(bed, "b", t0) and advert_macs(bed, "b", t0) == {vmac(family)}
    assert advert_macs(bed, "a", t1) == {vmac(family)}
    assert t2 > t1


def test_vmac_xmit_base_sends_from_the_base_interface_as_keepalived(bed: Testbed) -> None:
    arp_announce(bed, "b")
    bed.start("b", kind="keepalived", conf=conf(4, 100, ("vmac_xmit_base",)))
    bed.wait_sole("b", VIPS[4], 3 * ADV + 5.0)
    t0 = time.time()
    bed.wait_adverts("b", t0, 2, 5.0, VRID)
    ka = advert_macs(bed, "b", t0)
    bed.start("a", conf=conf(4, 150, ("vmac_xmit_base",)))
    bed.wait_sole("a", VIPS[4], 3 * ADV + 5.0)
    t1 = time.time()
    bed.wait_adverts("a", t1, 2, 5.0, VRID)
    vk = advert_macs(bed, "a", t1)
    # keepalived and vipkeeper alike: the node's own MAC, not the virtual one
    assert ka == {bed.lan["b"].mac.lower()} and vk == {bed.lan["a"].mac.lower()}
    # the VIP still answers from the virtual MAC
    assert resolve(bed, 4) == vmac(4)
    wait_fdb(bed, vmac(4), "a")
