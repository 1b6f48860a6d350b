"""Finding 6 of issue 20: log and reaction amplification.

A host on the LAN floods a vipkeeper Master with adverts: first with a wrong password, then
valid ones of lower priority. Before: one log line per bad advert, and for each lower-priority
advert an advert back, a GARP round and a `notify_master_rx_lower_pri` fork. Now: log lines are
rate-limited per instance and reason (the drop counter stays exact), and the Master reacts to
lower priority at most once per advert interval. The same flood at keepalived 2.2.7 is measured
for comparison (it logs and reacts to every one: printed, not asserted).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time

import pytest

from vipkeeper.lab.testbed import Testbed, vrrp_conf
from vipkeeper.net.netns import call_in
from vipkeeper.vrrp import packet

from .bed_helpers import status

pytestmark = pytest.mark.net

VRID = 91
VIP = "192.0.2.91/24"
FLOOD = 1200
SPACING = 0.001  # seconds between packets: ~1.2 s per burst, paced so no socket buffer overflows


def flood(ns: str, adv: packet.Advertisement, count: int, to: str = "224.0.0.18") -> None:
    src = ipaddress.ip_address("192.0.2.2")
    dst = ipaddress.ip_address(to)
    payload = packet.encode(adv, src, dst)

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, packet.IPPROTO_VRRP) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(str(src)))
            start = time.monotonic()
            for i in range(count):
                s.sendto(payload, (str(dst), 0))
                pause = start + (i + 1) * SPACING - time.monotonic()
                if pause > 0:
                    time.sleep(pause)

    call_in(ns, send)


def rx_script(work) -> str:
    path = work / "rx_lower.sh"
    path.write_text(f"#!/bin/sh\necho fork >> {work}/rx_lower.log\n")
    os.chmod(path, 0o755)
    return str(path)


def count_lines(path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.parametrize("kind", ["vipkeeper", "keepalived"])
def test_flood_of_bad_and_lower_priority_adverts_at_a_master(topology, kind) -> None:
    with Testbed(topology, ("a", "b"), ipv6=False) as bed:
        work = bed.nodes["a"].workdir
        conf = vrrp_conf("VI_1", vrid=VRID, priority=200, vips=[VIP], version=2, advert_int=1,
                         auth_pass="secret1", state="MASTER",
                         extra=[f"notify_master_rx_lower_pri {rx_script(work)}"],
                         global_defs=["script_user root", "enable_script_security"])
        bed.start("a", kind=kind, conf=conf)
        bed.wait_sole("a", VIP, 10.0)
        time.sleep(0.5)  # let the start-up GARP bursts go by before counting
        before_log = len(bed.log_text("a").splitlines())
        vip_ip = ipaddress.ip_address(VIP.split("/")[0])

        t0 = time.time()
        flood(bed.nodes["b"].ns, packet.Advertisement.v2(VRID, 100, (vip_ip,), 1, b"wrongpw"), FLOOD)
        t1 = time.time()
        flood(bed.nodes["b"].ns, packet.Advertisement.v2(VRID, 100, (vip_ip,), 1, b"secret1"), FLOOD)
        t2 = time.time()
        time.sleep(0.3)
        log = bed.log_text("a").splitlines()[before_log:]
        bad_pw_lines = [line for line in log if "invalid passwd" in line or "password" in line.lower()]
        lower_lines = [line for line in log if "lower priority" in line]
        forks = count_lines(work / "rx_lower.log")
        adverts_bad = len(bed.adverts("a", t0, t1, VRID))
        adverts_lower = len(bed.adverts("a", t1, t2, VRID))
        garps = len([f for f in bed.garps(VIP, t1) if f.time <= t2 + 0.3])
        print(f"\n{kind}: {FLOOD} bad-password adverts in {t1 - t0:.2f}s -> {len(bad_pw_lines)} log lines, "
              f"{adverts_bad} adverts sent; {FLOOD} lower-priority adverts in {t2 - t1:.2f}s -> "
              f"{len(lower_lines)} log lines, {forks} notify_master_rx_lower_pri forks, {adverts_lower} adverts "
              f"sent, {garps} GARPs")
        assert bed.holders(VIP) == ["a"]
        if kind == "keepalived":
            return  # measured for comparison only
        assert 1 <= len(bad_pw_lines) <= 2, bad_pw_lines
        assert 1 <= len(lower_lines) <= 2, lower_lines
        # at most one reaction per advert interval (1 s), plus the periodic adverts
        seconds = t2 - t1
        assert 1 <= forks <= seconds + 2
        assert adverts_lower <= 2 * (seconds + 2)
        assert adverts_bad <= t1 - t0 + 2  # bad adverts never answered: only the periodic ones
        # a unicast advert at this multicast-only instance: dropped, and now counted too
        flood(bed.nodes["b"].ns, packet.Advertisement.v2(VRID, 100, (vip_ip,), 1, b"secret1"), 25, to="192.0.2.1")
        deadline = time.monotonic() + 3.0
        while True:
            drops = status(bed, "a")["instances"][0]["counters"]["drops"]
            if drops.get("mode_mismatch") == 25 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert drops.get("auth_mismatch") == FLOOD, drops  # counters exact: every one counted
        assert drops.get("mode_mismatch") == 25, drops
        counters = status(bed, "a")["instances"][0]["counters"]
        # what was left out is counted too: every bad-password line but the first, every
        # lower-priority advert but the answered ones
        assert counters["log_lines_suppressed"] >= FLOOD - 2 + FLOOD - 2
        assert counters["reactions_skipped"] == FLOOD - forks
