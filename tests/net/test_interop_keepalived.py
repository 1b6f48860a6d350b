"""Mixed pairs: vipkeeper and keepalived 2.2.7 (Debian) as peers, both ways round.

For each protocol (VRRPv2 IPv4 with PASS authentication, VRRPv3 IPv4 multicast, VRRPv3 IPv6,
VRRPv3 unicast): election, failover when the Master is stopped (SIGTERM), failback when it
returns (preemption), and no dual Master. Judged from the addresses in each node's namespace
(netlink events, every instant) and from the adverts each node sent (captured on its bridge port
and decoded with vipkeeper.vrrp.packet) -- never from either daemon's log.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass

import pytest

from vipkeeper.lab.testbed import Testbed, vrrp_conf

pytestmark = pytest.mark.net

VRID = 61


@dataclass(frozen=True)
class Proto:
    id: str
    version: int
    advert_int: float
    vip: str
    auth_pass: str | None = None
    unicast: bool = False
    ipv6: bool = False


PROTOCOLS = [
    Proto("v2-pass", 2, 1.0, "192.0.2.61/24", auth_pass="s3cret"),
    Proto("v3-multicast", 3, 0.5, "192.0.2.62/24"),
    Proto("v3-ipv6", 3, 0.5, "2001:db8::62/64", ipv6=True),
    Proto("v3-unicast", 3, 0.5, "192.0.2.63/24", unicast=True),
]
PAIRS = [("vipkeeper", "keepalived"), ("keepalived", "vipkeeper")]


@pytest.fixture
def bed(topology):
    with Testbed(topology, ("a", "b"), ipv6=True) as tb:
        yield tb


def conf(bed: Testbed, proto: Proto, me: str, priority: int, state: str) -> str:
    peer = "b" if me == "a" else "a"
    uni = {}
    if proto.unicast:
        uni = {"unicast_src": str(bed.lan[me].ipv4.ip), "unicast_peers": [str(bed.lan[peer].ipv4.ip)]}
    return vrrp_conf(vrid=VRID, priority=priority, state=state, vips=[proto.vip], version=proto.version,
                     advert_int=proto.advert_int, auth_pass=proto.auth_pass, **uni)


def settled(bed: Testbed, proto: Proto, master: str, adverts: int = 3) -> None:
    """Over `adverts` intervals: only `master` holds the VIP and only it advertises, with the
    configured version, interval and authentication."""
    start = time.time()
    bed.wait_adverts(master, start, adverts, adverts * proto.advert_int + 2.0, VRID)
    end = time.time()
    assert bed.dual_holding(proto.vip, start, end) == [], "VIP on both nodes while settled"
    assert bed.holders(proto.vip) == [master]
    assert bed.advertisers(start, end, VRID) == {master}, "two Masters advertising"
    sent = [r for _, r in bed.adverts(master, start, end, VRID)]
    for rec in sent:
        adv = rec.advertisement
        assert adv.version == proto.version
        assert adv.interval == proto.advert_int
        assert rec.ttl == 255
        if proto.auth_pass:
            assert adv.auth_type == 1 and adv.auth_data.rstrip(b"\0") == proto.auth_pass.encode()
        if proto.unicast:
            assert str(rec.destination) == str(bed.lan["b" if master == "a" else "a"].ipv4.ip)
        else:
            assert str(rec.destination) in ("224.0.0.18", "ff02::12")


@pytest.mark.parametrize("pair", PAIRS, ids=["vipkeeper-master", "keepalived-master"])
@pytest.mark.parametrize("proto", PROTOCOLS, ids=[p.id for p in PROTOCOLS])
def test_mixed_pair(bed: Testbed, proto: Proto, pair: tuple[str, str]) -> None:
    master_kind, backup_kind = pair
    skew_b = (256 - 100) / 256 * proto.advert_int
    down_b = 3 * proto.advert_int + skew_b
    began = time.time()

    # Election: the Backup first, then the higher-priority node, which must win.
    bed.start("b", backup_kind, conf(bed, proto, "b", 100, "BACKUP"))
    time.sleep(0.3)
    bed.start("a", master_kind, conf(bed, proto, "a", 150, "MASTER"))
    bed.wait_sole("a", proto.vip, down_b + 4.0)
    settled(bed, proto, "a")
    elected = time.time()

    # Failover: SIGTERM the Master; it must send priority 0 and release the VIP; the Backup
    # takes over after its skew time.
    stopped = bed.stop("a", signal.SIGTERM)
    zero = bed.priority_zero_at("a", stopped, VRID)
    assert zero is not None, f"{master_kind} sent no priority-0 advert on SIGTERM"
    assert bed.removed_at("a", proto.vip, stopped) is not None
    bed.wait_sole("b", proto.vip, down_b + 2.0)
    taken = bed.added_at("b", proto.vip, stopped)
    assert taken is not None and taken - zero <= skew_b + 0.4, f"{backup_kind} took {taken - zero:.3f}s"
    overlap = bed.dual_holding(proto.vip, stopped)
    takes_over_at_once = proto.unicast and backup_kind == "vipkeeper"
    if takes_over_at_once:
        # A unicast pair's vipkeeper Backup takes over on the priority-0 advert itself (fast
        # handover), and the old Master sends it before removing its VIP: the two may hold it
        # together for the moment that removal takes, never longer.
        assert sum(e - s for s, e in overlap) < 0.05, overlap
    else:
        assert overlap == []
    settled(bed, proto, "b")

    # Failback: the higher-priority node returns and preempts.
    returned = time.time()
    bed.start("a", master_kind, conf(bed, proto, "a", 150, "MASTER"))
    bed.wait_sole("a", proto.vip, down_b + 4.0)
    settled(bed, proto, "a")

    # No dual Master over the whole run: only a preemption handover may overlap, for less than
    # one advert interval (the old Master steps down when it hears the new one): at failback,
    # or at the election when a loaded machine starts `a` after b's down timer ran out; and the
    # failover's brief overlap checked above.
    def allowed(s: float, e: float) -> bool:
        if s >= returned or e <= elected:
            return e - s < proto.advert_int
        return takes_over_at_once and s >= stopped and e - s < 0.05

    spans = bed.dual_holding(proto.vip, began)
    assert all(allowed(s, e) for s, e in spans), spans
