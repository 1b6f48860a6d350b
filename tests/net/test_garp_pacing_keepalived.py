"""garp_group, vrrp_garp_interval, vrrp_gna_interval: vipkeeper spaces its gratuitous ARPs and
unsolicited NAs on an interface as keepalived 2.2.7 does, on the same configuration, measured on
the wire (the node's bridge port, kernel timestamps).

Each daemon runs alone as Master on the same lab node, one after the other. Compared: which VIP
each frame announces, in which order, and the gaps between consecutive frames of a kind, for the
first burst (becoming Master) and the delayed one (garp_master_delay later). keepalived's rule
(vrrp/garp_pacing.py): a burst of five rounds sends one frame per VIP at once at most, the VIPs
asked again within the spacing are queued once each and leave one spacing apart. And two
instances on one interface share its spacing (the second Master's burst waits for the first's).
"""

from __future__ import annotations

import ipaddress
import itertools
import time

import pytest

from vipkeeper.lab.testbed import Testbed
from vipkeeper.lab.watch import Frame, FrameCapture

pytestmark = pytest.mark.net

VRID = 81
V4 = ["192.0.2.81", "192.0.2.82"]
V6 = ["2001:db8::81"]
DELAY = 2  # garp_master_delay: the second burst (keepalived reads whole seconds)
ETH_P_IPV6 = 0x86DD


def conf(top: str, global_defs: str = "") -> str:
    return f"""
global_defs {{
  {global_defs}
}}
{top}
vrrp_instance VI_1 {{
  state MASTER
  interface eth0
  virtual_router_id {VRID}
  priority 200
  advert_int 0.5
  version 3
  garp_master_delay {DELAY:g}
  garp_master_repeat 5
  virtual_ipaddress {{
    {V4[0]}/24
    {V4[1]}/24
  }}
  virtual_ipaddress_excluded {{
    {V6[0]}/64
  }}
}}
"""


def announced(frame: Frame) -> str | None:
    """The address a GARP or unsolicited NA announces (None for anything else)."""
    arp = frame.arp()
    if arp is not None:
        return str(arp.sender_ip) if arp.is_gratuitous else None
    data = frame.data
    if frame.ethertype != ETH_P_IPV6 or len(data) < 14 + 40 + 24 or data[14 + 6] != 58 or data[54] != 136:
        return None
    return str(ipaddress.IPv6Address(data[62:78]))


def capture(bed: Testbed, node: str) -> FrameCapture:
    return FrameCapture(bed.lan.bridge_ns, bed.lan[node].port, lambda f: announced(f) is not None)


def run(bed: Testbed, kind: str, text: str) -> list[tuple[float, str]]:
    """(time, address) of every announcement `kind` made alone on node a for 2 bursts."""
    cap = capture(bed, "a")
    try:
        t0 = time.time()
        bed.start("a", kind=kind, conf=text)
        bed.wait_sole("a", f"{V4[0]}/24", 10.0)
        assert cap.wait(lambda: bool(cap.snapshot()), 5.0), f"{kind} sent no announcement"
        first = cap.snapshot()[0].time
        # An observation window, not a synchronisation: the delayed burst and its queued frames
        # (at most 2 spacings) are over 1 s after it begins; nothing else marks the end.
        while time.time() < first + DELAY + 1.2:
            time.sleep(0.05)
        bed.stop("a")
        frames = [(f.time, announced(f)) for f in cap.snapshot() if f.time >= t0]
    finally:
        cap.close()
    return [(t, a) for t, a in frames if a is not None]


def bursts(frames: list[tuple[float, str]]) -> list[list[tuple[float, str]]]:
    """Split at gaps longer than a second (the two bursts are DELAY apart); the stop's frames
    (none are sent on stop) would be a third."""
    out: list[list[tuple[float, str]]] = []
    for t, a in frames:
        if not out or t - out[-1][-1][0] > 1.0:
            out.append([])
        out[-1].append((t, a))
    return out


def kind_gaps(burst: list[tuple[float, str]], family: int) -> list[float]:
    times = [t for t, a in burst if ipaddress.ip_address(a).version == family]
    return [round(b - a, 3) for a, b in itertools.pairwise(times)]


def order(burst: list[tuple[float, str]], family: int) -> list[str]:
    return [a for _, a in burst if ipaddress.ip_address(a).version == family]


@pytest.fixture
def bed(topology):
    with Testbed(topology, ("a", "b"), ipv6=True) as tb:
        yield tb


CASES = {
    "global": ("", "vrrp_garp_interval 0.2\n  vrrp_gna_interval 0.3"),
    "garp_group": ("garp_group {\n  garp_interval 0.25\n  gna_interval 0.15\n  interfaces {\n    eth0\n  }\n}", ""),
    "group_without_gna": ("garp_group {\n  garp_interval 0.2\n  interface eth0\n}", "vrrp_gna_interval 0.5"),
}
SPACING = {"global": (0.2, 0.3), "garp_group": (0.25, 0.15), "group_without_gna": (0.2, None)}


@pytest.mark.parametrize("case", list(CASES))
def test_announcements_are_spaced_as_keepalived_spaces_them(bed: Testbed, case: str) -> None:
    top, global_defs = CASES[case]
    text = conf(top, global_defs)
    seen = {kind: bursts(run(bed, kind, text)) for kind in ("keepalived", "vipkeeper")}
    garp, gna = SPACING[case]
    for kind, found in seen.items():
        print(kind, [[(round(t - b[0][0], 3), a) for t, a in b] for b in found])
    ka, vk = seen["keepalived"], seen["vipkeeper"]
    assert len(ka) == len(vk) == 2, seen
    for k_burst, v_burst in zip(ka, vk):
        for family, spacing in ((4, garp), (6, gna)):
            # the same frames in the same order: one per VIP at once, the rest queued once each
            assert order(v_burst, family) == order(k_burst, family), (family, k_burst, v_burst)
            if spacing is None:
                # not spaced: the five rounds go back to back, as keepalived's
                assert len(order(v_burst, family)) == 5 * (2 if family == 4 else 1)
                continue
            assert order(v_burst, family) == ([V4[0], V4[0], V4[1]] if family == 4 else [V6[0], V6[0]])
            k_gaps, v_gaps = kind_gaps(k_burst, family), kind_gaps(v_burst, family)
            for k_gap, v_gap in zip(k_gaps, v_gaps):
                assert v_gap >= spacing - 0.002, (family, v_gaps)
                assert abs(v_gap - k_gap) < 0.05, (family, k_gaps, v_gaps)


def two_instances(global_defs: str) -> str:
    """Two Masters on eth0, one VIP each: eth0's spacing is theirs to share."""
    out = [f"global_defs {{\n  {global_defs}\n}}"]
    for n, vip in enumerate(V4, start=1):
        out.append(f"""vrrp_instance VI_{n} {{
  state MASTER
  interface eth0
  virtual_router_id {VRID + n}
  priority 200
  advert_int 0.5
  version 3
  garp_master_delay {DELAY}
  garp_master_repeat 5
  virtual_ipaddress {{
    {vip}/24
  }}
}}""")
    return "\n".join(out) + "\n"


def test_instances_on_one_interface_share_its_spacing_as_keepalived(bed: Testbed) -> None:
    """Two instances' bursts on eth0 with vrrp_garp_interval: one GARP per spacing across both.
    The first Master's VIP goes at once and once queued; the second's finds eth0 busy, so its
    five rounds are one queued frame - which leaves after the first's (configuration order)."""
    text = two_instances("vrrp_garp_interval 0.2")
    seen = {kind: bursts(run(bed, kind, text)) for kind in ("keepalived", "vipkeeper")}
    for kind, found in seen.items():
        print(kind, [[(round(t - b[0][0], 3), a) for t, a in b] for b in found])
    for kind, found in seen.items():
        assert len(found) == 2, (kind, found)
        for burst in found:
            vips = [a for _, a in burst]
            assert sorted(vips) == sorted([vips[0], *V4]) and vips[-1] == V4[1], (kind, burst)
            gaps = kind_gaps(burst, 4)
            assert all(gap >= 0.198 for gap in gaps), (kind, gaps)  # shared by both instances
            assert max(gaps) < 0.3, (kind, gaps)  # a queued frame leaves as soon as eth0 is free
    for k_burst, v_burst in zip(seen["keepalived"], seen["vipkeeper"]):
        k_off = [round(t - k_burst[0][0], 1) for t, _ in k_burst]
        v_off = [round(t - v_burst[0][0], 1) for t, _ in v_burst]
        assert k_off == v_off == [0.0, 0.2, 0.4], (k_off, v_off)
