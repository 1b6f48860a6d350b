"""The daemon listens from right after reading its file, and dates Startup from then (daemon/early_listen.py).

RFC 5798/3768 6.4.1: a Backup claims the VIPs only after a Master_Down_Interval in which it
heard no Master. vipkeeper opens its VRRP sockets before the rest of its start and counts that
interval from when they listened; adverts that arrive meanwhile queue in the kernel and must
still be heard. Each test watches the wire from the client's namespace and the daemon's raw
socket from inside its namespace (/proc/thread-self/net/raw there):
- no other router: the first advert comes one Master_Down_Interval after the socket listened
  (never sooner, and not a start-up's worth of time later);
- a higher-priority advert that arrives while the daemon is still starting (the daemon held with
  SIGSTOP right after its socket appeared, so the advert surely queues before Startup) is heard:
  the daemon stays Backup for a Master_Down_Interval after that advert, and counts it;
- a Master advertising all along keeps it Backup;
- an address owner (priority 255) still becomes Master at once.
"""

from __future__ import annotations

import ipaddress
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vipkeeper.lab.nodes import HostDaemon
from vipkeeper.lab.testbed import vrrp_conf
from vipkeeper.lab.watch import FrameCapture, is_vrrp_or_arp
from vipkeeper.net.netns import call_in
from vipkeeper.vrrp import packet

pytestmark = pytest.mark.net

VRID = 51
VIP = "192.0.2.50/24"
ADVERT_INT = 1.0
PRIORITY = 100
MDI = 3 * ADVERT_INT + (256 - PRIORITY) / 256 * ADVERT_INT  # v2: skew (256 - priority) / 256 intervals


def vrrp_raw_socket_open() -> bool:
    """Is there a raw protocol-112 socket in the calling thread's namespace? (local port = protocol)"""
    with open("/proc/thread-self/net/raw") as f:
        return any(line.split()[1].endswith(":0070") for line in f.readlines()[1:])


def wait_listening(ns: str, daemon: HostDaemon, timeout: float = 20.0) -> float:
    """time.time() when the daemon's VRRP socket first shows in `ns` (polled every half millisecond)."""

    def poll() -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and daemon.running:
            if vrrp_raw_socket_open():
                return time.time()
            time.sleep(0.0005)
        raise AssertionError(f"no VRRP socket in {ns} within {timeout} s: " + " | ".join(daemon.log_lines()[-5:]))

    return call_in(ns, poll)


def send_adverts(ns: str, source: str, priority: int, count: int = 1, interval: float = ADVERT_INT) -> None:
    """`count` v2 adverts for VRID at `priority` from `source`, `interval` apart, multicast on eth0."""
    src = ipaddress.ip_address(source)
    dst = ipaddress.ip_address("224.0.0.18")
    adv = packet.Advertisement(2, VRID, priority, (ipaddress.ip_address(VIP.split("/")[0]),), 100, 0,
                               bytes(packet.AUTH_DATA_LEN))
    payload = packet.encode(adv, src, dst)

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, packet.IPPROTO_VRRP) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(str(src)))
            for i in range(count):
                if i:
                    time.sleep(interval)
                s.sendto(payload, (str(dst), 0))

    call_in(ns, send)


def first_advert_from(watch: FrameCapture, source: str, after: float, timeout: float) -> float | None:
    def found() -> float | None:
        return next((frame.time for frame, adv in watch.adverts(after=after) if str(adv.source) == source
                     and adv.advertisement.priority > 0), None)

    return watch.wait(found, timeout)


def status(daemon: HostDaemon) -> dict:
    done = subprocess.run([sys.executable, "-m", "vipkeeper", "status", "--socket", daemon.control_socket, "--json"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def start(lan, tmp_path: Path, priority: int = PRIORITY) -> HostDaemon:  # type: ignore[no-untyped-def]
    conf = tmp_path / "a.conf"
    conf.write_text(vrrp_conf(priority=priority, vips=[VIP], vrid=VRID, version=2, advert_int=ADVERT_INT))
    daemon = HostDaemon("vipkeeper", lan["a"].ns, conf, tmp_path, "a", extra=["-D"])
    daemon.start()
    return daemon


def test_first_advert_one_master_down_interval_after_the_socket_listened(lan, tmp_path: Path) -> None:
    watch = FrameCapture(lan["client"].ns, lan["client"].ifname, keep=is_vrrp_or_arp)
    daemon = start(lan, tmp_path)
    try:
        listening = wait_listening(lan["a"].ns, daemon)
        first = first_advert_from(watch, str(lan["a"].ipv4.ip), listening, MDI + 10)
        assert first is not None, daemon.log_lines()[-5:]
        # Never before a full interval of listening (20 ms: how late this poller may see the
        # socket on a loaded host; dating from the exec instead would be ~40 ms early), and
        # dated from the socket, not from the end of the start.
        assert MDI - 0.02 <= first - listening <= MDI + 0.5, (first - listening, daemon.log_lines())
        assert any("Startup dated from when its socket listened" in line for line in daemon.log_lines())
    finally:
        daemon.stop()
        watch.close()


def test_advert_queued_during_the_start_is_heard(lan, tmp_path: Path) -> None:
    watch = FrameCapture(lan["client"].ns, lan["client"].ifname, keep=is_vrrp_or_arp)
    daemon = start(lan, tmp_path)
    try:
        listening = wait_listening(lan["a"].ns, daemon)
        daemon.signal(signal.SIGSTOP)  # held before its Startup: the advert below can only queue
        try:
            sent = time.time()
            send_adverts(lan["b"].ns, str(lan["b"].ipv4.ip), 200)
            time.sleep(0.2)  # the hold: the advert waits 0.2 s in the socket's buffer
        finally:
            daemon.signal(signal.SIGCONT)
        first = first_advert_from(watch, str(lan["a"].ipv4.ip), listening, MDI + 10)
        assert first is not None, daemon.log_lines()[-5:]
        # Heard: Master_Down counted from that advert (read after the hold), not from listening.
        assert first - sent >= MDI, (first - sent, first - listening)
        router = next(r for r in status(daemon)["instances"] if r["name"] == "VI_1")
        assert router["counters"]["adverts_received"] == 1, router["counters"]
        assert not router["counters"]["drops"].get(packet.DropReason.NOT_LISTENING.value), router["counters"]
    finally:
        daemon.stop()
        watch.close()


def test_master_advertising_through_the_start_keeps_it_backup(lan, tmp_path: Path) -> None:
    watch = FrameCapture(lan["client"].ns, lan["client"].ifname, keep=is_vrrp_or_arp)
    daemon = start(lan, tmp_path)
    try:
        t0 = time.time()
        send_adverts(lan["b"].ns, str(lan["b"].ipv4.ip), 200, count=int(2 * MDI / ADVERT_INT) + 2)
        assert daemon.running, daemon.log_lines()[-5:]
        assert any("Entering BACKUP STATE" in line for line in daemon.log_lines()), daemon.log_lines()
        assert not any("Entering MASTER STATE" in line for line in daemon.log_lines()), daemon.log_lines()
        assert first_advert_from(watch, str(lan["a"].ipv4.ip), t0, 0.1) is None
    finally:
        daemon.stop()
        watch.close()


def test_address_owner_is_master_at_once(lan, tmp_path: Path) -> None:
    watch = FrameCapture(lan["client"].ns, lan["client"].ifname, keep=is_vrrp_or_arp)
    daemon = start(lan, tmp_path, priority=255)
    try:
        listening = wait_listening(lan["a"].ns, daemon)
        first = first_advert_from(watch, str(lan["a"].ipv4.ip), listening - 1, 10)
        assert first is not None, daemon.log_lines()[-5:]
        assert first - listening < 0.5 * ADVERT_INT, first - listening
    finally:
        daemon.stop()
        watch.close()
