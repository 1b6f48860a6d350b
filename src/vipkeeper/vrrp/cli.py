"""`vipkeeper decode`: show VRRP advertisements from a capture or a hex dump.

Why it exists: when two routers disagree, the first question is what is actually on the wire
(VRID, priority, interval, authentication, TTL), and tcpdump's one-liner hides half of it. One
line per VRRP frame, or one JSON object per frame for scripts; a malformed frame shows the
counter name the daemon would increment for it; frames that are not VRRP are skipped and
counted. The decoding is the daemon's own (vrrp/packet.py), so what this prints is what the
daemon would see -- except that the TTL check is reported instead of refusing the frame.
"""

from __future__ import annotations

import json
import string
import sys
from pathlib import Path
from typing import Any

import click

from .packet import (
    AUTH_AH, AUTH_NONE, AUTH_PASS, IPPROTO_VRRP, VRRP_TTL, MalformedPacket, Received, decode_ip_datagram,
)
from .pcap import PcapError, ethernet_payload, ip_payload, read_pcap

_AUTH_NAMES = {AUTH_NONE: "none", AUTH_PASS: "PASS", AUTH_AH: "AH"}


def _is_vrrp_datagram(ip: bytes) -> bool:
    if len(ip) >= 20 and ip[0] >> 4 == 4:
        return ip[9] == IPPROTO_VRRP
    if len(ip) >= 40 and ip[0] >> 4 == 6:
        return ip[6] == IPPROTO_VRRP
    return False


def _looks_like_bare_ip(data: bytes) -> bool:
    if len(data) >= 20 and data[0] >> 4 == 4:
        return int.from_bytes(data[2:4], "big") == len(data)
    if len(data) >= 40 and data[0] >> 4 == 6:
        return 40 + int.from_bytes(data[4:6], "big") == len(data)
    return False


def _record(time: float | None, ip: bytes) -> dict[str, Any]:
    """Decode one datagram into a JSON-able dict (never raises)."""
    rec: dict[str, Any] = {"time": None if time is None else round(time, 6)}
    try:
        rx: Received = decode_ip_datagram(ip, check_ttl=False)
    except MalformedPacket as exc:
        rec.update(malformed=exc.reason.value, detail=exc.detail)
        if len(ip) >= 20 and ip[0] >> 4 == 4:
            rec.update(src=".".join(map(str, ip[12:16])), dst=".".join(map(str, ip[16:20])))
        return rec
    adv = rx.advertisement
    rec.update(
        src=str(rx.source), dst=str(rx.destination), version=adv.version, vrid=adv.vrid,
        priority=adv.priority, interval_cs=adv.interval_cs, addresses=[str(a) for a in adv.addresses],
        checksum=f"{adv.checksum:#06x}", checksum_ok=True, ttl=rx.ttl, ttl_ok=rx.ttl == VRRP_TTL,
    )
    if adv.version == 2:
        rec["auth"] = _AUTH_NAMES.get(adv.auth_type, str(adv.auth_type))
        if adv.auth_type == AUTH_PASS:
            rec["auth_pass"] = adv.auth_data.rstrip(b"\0").decode("latin-1")
    return rec


def _line(rec: dict[str, Any]) -> str:
    time = "-" if rec["time"] is None else f"{rec['time']:.6f}"
    where = f"{rec.get('src', '?')} > {rec.get('dst', '?')}"
    if "malformed" in rec:
        return f"{time} {where} malformed: {rec['malformed']} ({rec['detail']})"
    interval = f"{rec['interval_cs'] // 100}s" if rec["version"] == 2 else f"{rec['interval_cs']}cs"
    parts = [
        time, where, f"VRRPv{rec['version']}", f"vrid {rec['vrid']}", f"prio {rec['priority']}",
        f"intvl {interval}", "addrs " + (",".join(rec["addresses"]) or "-"),
    ]
    if rec["version"] == 2:
        auth = rec["auth"]
        if "auth_pass" in rec:
            printable = all(c in string.printable and c not in "\r\n\t\x0b\x0c" for c in rec["auth_pass"])
            auth += f" {rec['auth_pass']!r}" if printable else " (binary)"
        parts.append(f"auth {auth}")
    parts.append(f"checksum {rec['checksum']} ok")
    parts.append(f"ttl {rec['ttl']}" + ("" if rec["ttl_ok"] else " (bad: must be 255)"))
    return " ".join(parts)


def _emit(rec: dict[str, Any], as_json: bool) -> None:
    click.echo(json.dumps(rec, sort_keys=True) if as_json else _line(rec))


@click.command("decode")
@click.option("--pcap", "pcap_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A classic pcap capture (Ethernet or Linux cooked).")
@click.option("--hex", "hex_frame", metavar="FRAME", help="One Ethernet frame or bare IP datagram as hex.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per frame.")
def decode(pcap_file: Path | None, hex_frame: str | None, as_json: bool) -> None:
    """Decode VRRP advertisements from a pcap file or a hex dump."""
    if (pcap_file is None) == (hex_frame is None):
        raise click.UsageError("give exactly one of --pcap FILE or --hex FRAME")
    if hex_frame is not None:
        cleaned = "".join(hex_frame.split()).replace(":", "")
        try:
            data = bytes.fromhex(cleaned)
        except ValueError:
            raise click.ClickException("--hex: not a hexadecimal string") from None
        ip = data if _looks_like_bare_ip(data) else ethernet_payload(data)
        if ip is None or not _is_vrrp_datagram(ip):
            raise click.ClickException("--hex: not a VRRP frame (no IP protocol 112 inside)")
        _emit(_record(None, ip), as_json)
        return
    assert pcap_file is not None
    try:
        raw = pcap_file.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"{pcap_file}: {exc.strerror or exc}") from None
    skipped = shown = 0
    first: float | None = None
    try:
        for frame in read_pcap(raw):
            first = frame.time if first is None else first
            ip = ip_payload(frame.linktype, frame.data)
            if ip is None or not _is_vrrp_datagram(ip):
                skipped += 1
                continue
            _emit(_record(frame.time - first, ip), as_json)
            shown += 1
    except PcapError as exc:
        raise click.ClickException(f"{pcap_file}: {exc}") from None
    if not as_json:
        click.echo(f"{shown} VRRP frame(s), {skipped} other frame(s) skipped", err=True)
    sys.stdout.flush()
