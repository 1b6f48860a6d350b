"""VIP conflict detection against keepalived 2.2.7 as the other node, split by a real nftables rule
on the lower-priority node (it drops incoming VRRP, so it becomes Master beside the other).

- keepalived deaf (priority 100), vipkeeper Master (150): vipkeeper reports keepalived's MAC
  answering for its VIP; when the rule goes keepalived steps down, vipkeeper sees the conflict end,
  announces again, and the client's ARP cache points at vipkeeper within one second.
- vipkeeper deaf (100), keepalived Master (150): vipkeeper detects the keepalived holding the VIP
  and names it by its adverts (seen on the wire although nftables drops them)."""

from __future__ import annotations

import ipaddress
import json
import time

import pytest

from vipkeeper.lab.testbed import Testbed, vrrp_conf

pytestmark = pytest.mark.net

VIP = "192.0.2.50/24"
VIP_IP = ipaddress.ip_address("192.0.2.50")
CHECK = 1.0


@pytest.fixture
def bed(topology):
    with Testbed(topology, ("a", "b"), ipv6=False) as tb:
        yield tb


def neigh_mac(bed: Testbed) -> str | None:
    out = bed.topo.run(bed.lan.client.ns, ["ip", "-j", "neigh", "show", "192.0.2.50", "dev", "eth0"], check=False)
    entries = json.loads(out.stdout or "[]")
    return entries[0].get("lladdr") if entries else None


@pytest.mark.parametrize("deaf", ["keepalived", "vipkeeper"])
def test_vipkeeper_detects_a_keepalived_holding_its_vip(bed: Testbed, deaf: str) -> None:
    a_ns = bed.lan["a"].ns  # a is the deaf, lower-priority node
    bed.topo.run(a_ns, ["nft", "add", "table", "inet", "vktest"])
    bed.topo.run(a_ns, ["nft", "add chain inet vktest in { type filter hook input priority 0; policy accept; }"])
    bed.topo.run(a_ns, ["nft", "add rule inet vktest in ip protocol vrrp drop"])
    other = "vipkeeper" if deaf == "keepalived" else "keepalived"
    kinds = {"a": deaf, "b": other}
    vk = "a" if deaf == "vipkeeper" else "b"
    ka = "b" if vk == "a" else "a"
    macs = {n: bed.lan[n].mac.lower() for n in ("a", "b")}
    for name, prio in (("a", 100), ("b", 150)):
        extra = ["--vip-conflict-interval", str(CHECK)] if kinds[name] == "vipkeeper" else []
        # no GARPs on lower-priority adverts: only the conflict detection may move the client
        conf = vrrp_conf(priority=prio, vips=[VIP], advert_int=0.5, extra=["garp_lower_prio_repeat 0"])
        bed.start(name, kind=kinds[name], conf=conf, extra=extra)
    for name in ("a", "b"):
        assert bed.watch[name].wait_holds(VIP_IP, True, 10.0), f"{name} ({kinds[name]}) never took the VIP"
    both = max(bed.added_at(n, VIP, 0) for n in ("a", "b"))
    line = bed.daemon(vk).log.wait_line(lambda ln: "VIP conflict:" in ln.text, 2 * CHECK + 2.0)
    assert "192.0.2.50" in line.text and macs[ka] in line.text, line.text
    assert line.time - both <= 2 * CHECK + 0.3
    if vk == "a":
        # keepalived's adverts reach a's wire though nftables drops them: it is named.
        assert "VRRP router 192.0.2.2 (VRID 51, priority 150)" in line.text, line.text
        return

    bed.topo.run(bed.lan.client.ns, ["ip", "neigh", "replace", "192.0.2.50", "lladdr", macs[ka], "dev", "eth0",
                                     "nud", "stale"])
    healed = time.time()
    bed.topo.run(a_ns, ["nft", "delete", "table", "inet", "vktest"])
    switched = None
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if neigh_mac(bed) == macs[vk]:
            switched = time.time()
            break
        time.sleep(0.01)
    assert switched is not None, "the client's ARP cache never moved to vipkeeper"
    print(f"client ARP cache on vipkeeper {switched - healed:.3f} s after the rule was removed (keepalived peer)")
    # keepalived hears vipkeeper's next advert (advert_int 0.5) and steps down; then vipkeeper re-announces.
    assert switched - healed <= 1.0
    assert bed.watch[ka].wait_holds(VIP_IP, False, 3.0)
    assert bed.holders(VIP) == [vk]
