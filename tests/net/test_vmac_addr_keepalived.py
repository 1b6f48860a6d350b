"""use_vmac_addr beside keepalived 2.2.7: a VIP on a second LAN gets a VMAC of its own there.

Both nodes get a second LAN (eth1, on a bridge of its own with a client, client2); the instance
runs on eth0 with a VIP on eth1 (`dev eth1`) and `use_vmac_addr`, with and without the instance's
own `use_vmac`. keepalived runs on node a, vipkeeper on node b, the same configuration but the
priority; then vipkeeper replaces keepalived on a. Shown, and compared between the two:
- the VMACs each daemon makes at start, in every state: the same names (`vrrp1.VRID` on eth1
  beside the instance's own `vrrp.VRID` on eth0; `vrrp.VRID` on eth1 without use_vmac), kind
  (private macvlan), parent and MAC 00:00:5e:00:01:VRID;
- the Master holds the eth1 VIP on that VMAC, and the same addresses on it as the other daemon;
- the client on the second LAN resolves the VIP to 00:00:5e:00:01:VRID whichever node is
  Master, also after a failover (the Master stopped), and the bridge learns the MAC on the new
  Master's port;
- every VMAC is gone once its daemon has exited;
- with eVIPs of the other family (IPv6 on an IPv4 instance), on eth0 and eth1, the four VMACs
  keepalived makes (vrrp.9, vrrp1.9, vrrp6.9, vrrp2.9, the IPv6 ones with 00:00:5e:00:02:09) and
  the addresses on each are the same as vipkeeper's;
- a reload keeps the address VMAC, fails whole (naming it) when a link vipkeeper did not make
  has its name, and drops it with use_vmac_addr;
- the measured difference: an address VMAC someone deletes puts keepalived in FAULT for good,
  vipkeeper makes it again with its VIP.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from vipkeeper.lab.proc import LabTimeout
from vipkeeper.lab.testbed import Testbed, vrrp_conf

pytestmark = pytest.mark.net

ADV = 0.5
VRID = 71
OWN_VIP = "192.0.2.71/24"
LAN2_VIP = "198.51.100.71/24"
VMAC = f"00:00:5e:00:01:{VRID:02x}"
CLIENT2 = "198.51.100.200/24"
# the VMACs keepalived 2.2.7 makes for this configuration: name -> parent
EXPECTED = {"use_vmac": {f"vrrp.{VRID}": "eth0", f"vrrp1.{VRID}": "eth1"},
            "addr_only": {f"vrrp.{VRID}": "eth1"}}
LAN2_VMAC = {"use_vmac": f"vrrp1.{VRID}", "addr_only": f"vrrp.{VRID}"}

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


def conf(case: str, priority: int) -> str:
    extra = ["use_vmac_addr"] + (["use_vmac"] if case == "use_vmac" else [])
    return vrrp_conf("VI_1", vrid=VRID, priority=priority, vips=[OWN_VIP, f"{LAN2_VIP} dev eth1"],
                     advert_int=ADV, extra=extra)


def ip(ns: str, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=10,
                          check=True).stdout


class Lan2:
    """A second bridge with eth1 of each node and a client (no address on the nodes' eth1: the
    VIP's connected route is then the VMAC's only, so replies leave from the VMAC)."""

    def __init__(self, bed: Testbed) -> None:
        topo = bed.topo
        self.bridge_ns = topo.add_namespace("br2")
        self.client_ns = topo.add_namespace("client2")
        ip(self.bridge_ns, "ip", "link", "add", "br1", "type", "bridge", "forward_delay", "0", "stp_state", "0",
           "mcast_snooping", "0")
        ip(self.bridge_ns, "ip", "link", "set", "br1", "up")
        self.port = {}
        for name, ns, ifname in [(n, bed.nodes[n].ns, "eth1") for n in bed.nodes] + [("c", self.client_ns, "eth0")]:
            port = f"q-{name}"
            ip(self.bridge_ns, "ip", "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns)
            ip(self.bridge_ns, "ip", "link", "set", port, "master", "br1", "up")
            ip(ns, "ip", "link", "set", ifname, "up")
            self.port[name] = port
        ip(self.client_ns, "ip", "addr", "add", CLIENT2, "dev", "eth0")

    def resolve(self, timeout: float = 5.0) -> str:
        """The client's neighbour entry's MAC for the VIP, after the VIP answered it."""
        vip = LAN2_VIP.split("/")[0]
        ip(self.client_ns, "ip", "neigh", "flush", "dev", "eth0")
        deadline = time.monotonic() + timeout
        while True:
            # a TCP connect to a closed port: the Master's RST (ECONNREFUSED) proves the VIP answered
            ok = subprocess.run(["ip", "netns", "exec", self.client_ns, sys.executable, "-c", PROBE, vip],
                                capture_output=True, timeout=10, check=False).returncode == 0
            words = ip(self.client_ns, "ip", "-4", "neigh", "show", vip).split()
            if ok and "lladdr" in words:
                return words[words.index("lladdr") + 1]
            if time.monotonic() > deadline:
                raise AssertionError(f"the VIP did not answer client2 ({words})")
            time.sleep(0.1)

    def learnt_on(self, mac: str) -> str | None:
        for line in ip(self.bridge_ns, "bridge", "fdb", "show").splitlines():
            words = line.split()
            if words and words[0] == mac and "dev" in words:
                return words[words.index("dev") + 1]
        return None


def vmacs(ns: str) -> dict[str, tuple[str, str, str]]:
    """The node's macvlans: name -> (parent, MAC, mode)."""
    out = {}
    for link in json.loads(ip(ns, "ip", "-j", "-d", "link", "show")):
        info = link.get("linkinfo", {})
        if info.get("info_kind") == "macvlan":
            out[link["ifname"]] = (link.get("link"), link["address"], info.get("info_data", {}).get("mode"))
    return out


def addresses(ns: str, ifname: str) -> set[str]:
    return {f"{a['local']}/{a['prefixlen']}" for link in json.loads(ip(ns, "ip", "-j", "addr", "show", "dev", ifname))
            for a in link.get("addr_info", [])}


def wait(what: str, check, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(0.05)


@pytest.fixture
def bed(topology):
    with Testbed(topology, ("a", "b"), ipv6=False) as tb:
        yield tb


def expected_links(case: str) -> dict[str, tuple[str, str, str]]:
    return {name: (parent, VMAC, "private") for name, parent in EXPECTED[case].items()}


def master_view(bed: Testbed, lan2: Lan2, node: str, case: str) -> dict[str, object]:
    """What the Master on `node` shows: its VMACs, the addresses on the eth1 VMAC, what
    client2 resolves the VIP to, and where the bridge learnt that MAC."""
    bed.wait_sole(node, LAN2_VIP, 3 * ADV + 6.0)
    ns = bed.nodes[node].ns
    mac = lan2.resolve()
    wait(f"{VMAC} learnt on {node}'s port", lambda: lan2.learnt_on(VMAC) == lan2.port[node])
    return {"links": vmacs(ns), "on_vmac": addresses(ns, LAN2_VMAC[case]), "resolved": mac}


@pytest.mark.parametrize("case", ["use_vmac", "addr_only"])
def test_vip_on_a_second_lan_gets_keepalived_s_vmac(bed: Testbed, case: str) -> None:
    lan2 = Lan2(bed)
    a, b = bed.nodes["a"].ns, bed.nodes["b"].ns
    bed.start("a", kind="keepalived", conf=conf(case, 150))
    bed.start("b", kind="vipkeeper", conf=conf(case, 100))
    keepalived_master = master_view(bed, lan2, "a", case)
    # the Backup (vipkeeper) has made the same links as the Master (keepalived), before any failover
    vipkeeper_backup = wait("vipkeeper's VMACs", lambda: vmacs(b) if len(vmacs(b)) == len(EXPECTED[case]) else None)
    assert keepalived_master["links"] == expected_links(case), keepalived_master
    assert vipkeeper_backup == expected_links(case), vipkeeper_backup
    assert LAN2_VIP in keepalived_master["on_vmac"] and keepalived_master["resolved"] == VMAC
    assert LAN2_VIP not in addresses(b, LAN2_VMAC[case])

    # failover: keepalived stopped, vipkeeper's VMAC takes the VIP with the same MAC
    bed.stop("a")
    vipkeeper_master = master_view(bed, lan2, "b", case)
    assert vipkeeper_master["links"] == expected_links(case)
    assert vipkeeper_master["on_vmac"] == keepalived_master["on_vmac"], (vipkeeper_master, keepalived_master)
    assert vipkeeper_master["resolved"] == VMAC
    assert vmacs(a) == {}, f"keepalived left {vmacs(a)}"

    # vipkeeper on a (higher priority) takes it back, on its own VMAC, the same again
    bed.start("a", kind="vipkeeper", conf=conf(case, 150))
    back = master_view(bed, lan2, "a", case)
    assert back["links"] == expected_links(case) and back["on_vmac"] == keepalived_master["on_vmac"]
    assert back["resolved"] == VMAC
    wait("the VIP off b's VMAC", lambda: LAN2_VIP not in addresses(b, LAN2_VMAC[case]))
    print(case, {"keepalived master": keepalived_master, "vipkeeper backup": vipkeeper_backup,
                 "vipkeeper master": vipkeeper_master})

    # exit: every VMAC vipkeeper made is gone, nothing else touched
    for node, ns in (("b", b), ("a", a)):
        bed.stop(node)
        assert vmacs(ns) == {}, (node, vmacs(ns))
        assert ip(ns, "ip", "-o", "link", "show", "eth1")  # the parent stays


BOTH_FAMILIES = """
vrrp_instance V {
  state MASTER
  interface eth0
  virtual_router_id 9
  priority 150
  advert_int 0.5
  version 3
  use_vmac
  use_vmac_addr
  virtual_ipaddress {
    192.0.2.9/24
    198.51.100.9/24 dev eth1
  }
  virtual_ipaddress_excluded {
    2001:db8::9/64
    2001:db8:1::9/64 dev eth1
  }
}
"""


def test_both_families_get_the_names_keepalived_gives_them(bed: Testbed) -> None:
    """eVIPs of the other family, on the instance's interface and on eth1: each its own VMAC with
    the IPv6 MAC, named as keepalived names them (vrrp6.VRID first for IPv6), each address on it."""
    ns = bed.nodes["a"].ns
    ip(ns, "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
    ip(ns, "ip", "link", "set", "eth1", "up")
    ip(ns, "ip", "link", "set", "eth1p", "up")
    seen = {}
    for kind in ("keepalived", "vipkeeper"):
        bed.start("a", kind=kind, conf=BOTH_FAMILIES)
        bed.wait_sole("a", "2001:db8:1::9/64", 10.0)
        def view() -> dict[str, tuple[str, str, list[str]]] | None:
            out = {name: (parent, mac, sorted(a for a in addresses(ns, name) if not a.startswith("fe80")))
                   for name, (parent, mac, _) in vmacs(ns).items()}
            return out if len(out) == 4 and all(v[2] for v in out.values()) else None

        seen[kind] = wait(f"{kind}'s four VMACs, each with its VIP", view)
        bed.stop("a")
        assert vmacs(ns) == {}, (kind, vmacs(ns))
    print(seen)
    assert seen["keepalived"] == {
        "vrrp.9": ("eth0", "00:00:5e:00:01:09", ["192.0.2.9/24"]),
        "vrrp1.9": ("eth1", "00:00:5e:00:01:09", ["198.51.100.9/24"]),
        "vrrp6.9": ("eth0", "00:00:5e:00:02:09", ["2001:db8::9/64"]),
        "vrrp2.9": ("eth1", "00:00:5e:00:02:09", ["2001:db8:1::9/64"])}
    assert seen["vipkeeper"] == seen["keepalived"]


def reload_conf(vips: list[str], addr: bool = True) -> str:
    return vrrp_conf("VI_1", vrid=VRID, priority=150, vips=[OWN_VIP, *vips], advert_int=ADV, state="MASTER",
                     extra=["use_vmac"] + (["use_vmac_addr"] if addr else []))


def index_of(ns: str, name: str) -> int | None:
    out = subprocess.run(["ip", "netns", "exec", ns, "ip", "-j", "link", "show", name], capture_output=True,
                         text=True, timeout=10, check=False)
    return json.loads(out.stdout)[0]["ifindex"] if out.returncode == 0 and out.stdout.strip() else None


def reload(bed: Testbed, outcome: str) -> str:
    """SIGHUP node a; the log line that says the reload's `outcome` ("finished" or "failed")."""
    hup = bed.daemon("a").kill(signal.SIGHUP)
    try:
        return bed.daemon("a").log.wait_line(lambda line: f"Reload {outcome}" in line.text, 5.0, after=hup - 0.5).text
    except LabTimeout:
        raise AssertionError(f"no 'Reload {outcome}':\n{bed.log_text('a')[-3000:]}") from None


def test_reload_keeps_moves_and_drops_the_address_vmac_and_never_takes_a_foreign_link(bed: Testbed) -> None:
    ns = bed.nodes["a"].ns
    for argv in (["link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"], ["link", "set", "eth1", "up"],
                 ["link", "set", "eth1p", "up"]):
        ip(ns, "ip", *argv)
    name = f"vrrp1.{VRID}"
    bed.start("a", conf=reload_conf([f"{LAN2_VIP} dev eth1"]))
    bed.wait_sole("a", LAN2_VIP, 3 * ADV + 5.0)
    first = index_of(ns, name)
    assert first is not None and LAN2_VIP in addresses(ns, name)
    # a second VIP on eth1: on the same VMAC, the same interface
    bed.write_conf("a", reload_conf([f"{LAN2_VIP} dev eth1", "198.51.100.72/24 dev eth1"]))
    reload(bed, "finished")
    wait("both VIPs on the VMAC", lambda: {LAN2_VIP, "198.51.100.72/24"} <= addresses(ns, name))
    assert index_of(ns, name) == first
    # a VIP on eth2 whose VMAC's name (vrrp2.VRID) someone else's link has: the reload fails
    # whole, naming it; nothing of ours changes and the foreign link stays
    for argv in (["link", "add", "eth2", "type", "veth", "peer", "name", "eth2p"], ["link", "set", "eth2", "up"],
                 ["link", "add", "link", "eth2", "name", f"vrrp2.{VRID}", "address", "02:00:00:00:00:47", "type",
                  "macvlan"]):
        ip(ns, "ip", *argv)
    foreign = index_of(ns, f"vrrp2.{VRID}")
    bed.write_conf("a", reload_conf([f"{LAN2_VIP} dev eth1", "198.51.100.72/24 dev eth1",
                                     "198.51.100.140/25 dev eth2"]))
    failed = reload(bed, "failed")
    assert f"vrrp2.{VRID} exists and is not a VMAC" in failed, failed
    assert index_of(ns, f"vrrp2.{VRID}") == foreign and index_of(ns, name) == first
    assert {LAN2_VIP, "198.51.100.72/24"} <= addresses(ns, name)
    # use_vmac_addr dropped: the address VMAC goes, the VIPs go on eth1 itself
    bed.write_conf("a", reload_conf([f"{LAN2_VIP} dev eth1"], addr=False))
    reload(bed, "finished")
    wait(f"{name} deleted", lambda: index_of(ns, name) is None)
    wait("the VIP on eth1", lambda: LAN2_VIP in addresses(ns, "eth1"))
    bed.stop("a")
    assert set(vmacs(ns)) == {f"vrrp2.{VRID}"}  # ours gone, the foreign one untouched


@pytest.mark.parametrize("kind", ["keepalived", "vipkeeper"])
def test_an_address_vmac_someone_deletes(bed: Testbed, kind: str) -> None:
    """The measured difference: keepalived 2.2.7 tracks the address VMAC (weight 0), so its
    deletion puts the instance in FAULT (its VIPs go) and keepalived never makes it again;
    vipkeeper makes it again at once, as it does the instance's own VMAC, and puts the VIP back."""
    ns = bed.nodes["a"].ns
    for argv in (["link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"], ["link", "set", "eth1", "up"],
                 ["link", "set", "eth1p", "up"]):
        ip(ns, "ip", *argv)
    name = f"vrrp1.{VRID}"
    bed.start("a", kind=kind, conf=reload_conf([f"{LAN2_VIP} dev eth1"]))
    bed.wait_sole("a", LAN2_VIP, 3 * ADV + 6.0)
    first = index_of(ns, name)
    deleted = time.time()
    ip(ns, "ip", "link", "del", name)
    if kind == "keepalived":
        wait("keepalived's FAULT: the VIP gone", lambda: bed.holders(OWN_VIP) == [])
        assert "(VI_1) Entering FAULT STATE" in bed.log_text("a")
        while time.time() < deleted + 3.0:  # an observation window: it is not made again
            assert index_of(ns, name) is None
            time.sleep(0.1)
    else:
        wait(f"{name} made again", lambda: (index_of(ns, name) or first) != first)
        wait(f"{LAN2_VIP} back on {name}", lambda: LAN2_VIP in addresses(ns, name))
        assert vmacs(ns)[name] == ("eth1", VMAC, "private") and bed.holders(OWN_VIP) == ["a"]
    bed.stop("a")
    assert vmacs(ns) == {}
