"""Send gratuitous ARPs and unsolicited neighbour advertisements on one interface (AF_PACKET).

Rules:
- One AF_PACKET socket per interface, opened with protocol 0 so it never receives anything: it
  only sends the frames frames.py builds, exactly as keepalived puts them on the wire.
- No GARP on an interface flagged NOARP (keepalived skips those too); NAs still go out.
- The NA Router flag follows the interface's IPv6 forwarding sysctl when the caller does not
  say; keepalived re-reads it at most every 5 s, we cache it for the same time.
- Timing (garp_master_delay, repeat, refresh, garp_interval) is the caller's: this module sends
  one round when asked. A failed send is counted and logged by the caller, never raised, because
  an announcement is an optimisation of failover, not a condition of it.

The interface's MAC comes from getsockname() on the bound socket and its flags from an ioctl,
both answered in the socket's own network namespace (unlike /sys, which may be another's).
"""

from __future__ import annotations

import collections
import errno
import fcntl
import ipaddress
import socket
import struct
import time
TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (RSS, issue 18)
if TYPE_CHECKING:
    from typing import Iterable

from vipkeeper.net import frames

SIOCGIFFLAGS = 0x8913
IFF_NOARP = 0x80
_ROUTER_RECHECK = 5.0


class AnnounceError(OSError):
    """The interface cannot send announcements; the message names it."""


class Announcer:
    """Gratuitous ARP / unsolicited NA sender bound to one interface."""

    def __init__(self, ifname: str) -> None:
        self.ifname = ifname
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 0)
        except OSError as exc:
            raise AnnounceError(exc.errno, f"{ifname}: cannot open a packet socket: {exc.strerror}") from None
        try:
            self.ifindex = socket.if_nametoindex(ifname)
            self.sock.bind((ifname, 0))
            self.mac: bytes = self.sock.getsockname()[4]
            reply = fcntl.ioctl(self.sock.fileno(), SIOCGIFFLAGS, struct.pack("16s16x", ifname.encode()))
        except OSError as exc:
            self.sock.close()
            raise AnnounceError(exc.errno, f"{ifname}: cannot send announcements: {exc.strerror}") from None
        self.noarp = bool(struct.unpack_from("@H", reply, 16)[0] & IFF_NOARP)
        self.sent = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self._router: tuple[float, bool] | None = None
        # A new Master announces each VIP several times (garp_master_repeat), right after adding
        # it: the frames come from parts made once for this MAC (frames.AnnounceFrames), cheap
        # enough that no frame is kept per VIP (issue 18: memory per instance).
        self._frames = frames.AnnounceFrames(self.mac)

    def send_garp(self, vip: str | ipaddress.IPv4Address) -> bool:
        if self.noarp:
            return False
        return self._send(frames.gratuitous_arp(self.mac, vip))

    def send_na(self, vip: str | ipaddress.IPv6Address, router: bool | None = None) -> bool:
        if router is None:
            router = self.forwarding()
        return self._send(frames.unsolicited_na(self.mac, vip, router=router))

    def announce(self, vips: Iterable[str | ipaddress.IPv4Address | ipaddress.IPv6Address]) -> int:
        """One round: a GARP or NA for each VIP; returns how many frames left."""
        sent = 0
        for vip in vips:
            router = self.forwarding()
            addr = vip if isinstance(vip, (ipaddress.IPv4Address, ipaddress.IPv6Address)) \
                else ipaddress.ip_address(str(vip).split("/", 1)[0])
            if addr.version == 4:
                if self.noarp:
                    continue
                frame = self._frames.garp(addr)  # type: ignore[arg-type]
            else:
                frame = self._frames.na(addr, router)  # type: ignore[arg-type]
            sent += self._send(frame)
        return sent

    def forwarding(self, now: float | None = None) -> bool:
        """IPv6 forwarding on this interface, re-read at most every 5 s."""
        now = time.monotonic() if now is None else now
        if self._router is None or now - self._router[0] >= _ROUTER_RECHECK:
            try:
                with open(f"/proc/sys/net/ipv6/conf/{self.ifname}/forwarding") as f:
                    value = f.read().strip() not in ("", "0")
            except OSError:
                value = False
            self._router = (now, value)
        return self._router[1]

    def _send(self, frame: bytes) -> bool:
        try:
            self.sock.send(frame)
        except OSError as exc:
            self.errors[errno.errorcode.get(exc.errno or 0, "oserror").lower()] += 1
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Announcer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
