"""The daemon's adverts equal keepalived's, byte for byte, for the same configuration file.

This closes the loop the codec's golden tests leave open: config parser -> InstanceParams ->
advert builder -> encoder, against frames keepalived 2.2.7 sent for the very same files.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

import pytest

from vipkeeper.config import load
from vipkeeper.daemon.router import advert_for
from vipkeeper.daemon.runtime import params_of
from vipkeeper.vrrp import packet

VECTORS = Path(os.environ.get("VIPKEEPER_VECTORS", Path(__file__).resolve().parents[3] / "tests" / "data" / "vectors")) / "keepalived-2.2.7"


def _frames(capture: str) -> list[dict]:
    data = json.loads((VECTORS / "frames.json").read_text())
    return next(c for c in data["captures"] if c["name"] == capture)["frames"]


def _vrrp_frames(capture: str) -> list[tuple[packet.Received, bytes]]:
    out = []
    for frame in _frames(capture):
        raw = bytes.fromhex(frame["hex"])
        ethertype = int.from_bytes(raw[12:14], "big")
        ip = raw[14:]
        if ethertype == 0x0800 and ip[9] == 112:
            out.append((packet.decode_ipv4_datagram(ip), ip))
        elif ethertype == 0x86DD and ip[6] == 112:
            out.append((packet.decode_ipv6_datagram(ip), ip))
    return out


@pytest.mark.parametrize("capture", ["v2", "v3", "v3u", "v3v6"])
def test_adverts_match_keepalived(capture: str) -> None:
    config = load(str(VECTORS / f"{capture}.conf"))
    assert config.usable, config.diagnostics
    model = config.instances[0]
    frames = _vrrp_frames(capture)
    assert frames, f"no VRRP frames in capture {capture}"
    checked = 0
    for got, ip in frames:
        params = params_of(model, config, got.source)
        mine = advert_for(params, got.advertisement.priority)
        payload = packet.encode(mine, got.source, got.destination)
        wire = ip[20:] if got.source.version == 4 else ip[40:]
        assert payload == wire[: len(payload)], f"{capture}: advert differs from keepalived's"
        checked += 1
    assert checked == len(frames)


def test_priority_zero_on_shutdown_matches_keepalived() -> None:
    config = load(str(VECTORS / "v2.conf"))
    zeros = [(got, ip) for got, ip in _vrrp_frames("v2") if got.advertisement.priority == 0]
    assert zeros, "the v2 capture holds keepalived's shutdown advert"
    got, ip = zeros[0]
    params = params_of(config.instances[0], config, got.source)
    assert packet.encode(advert_for(params, 0), got.source, got.destination) == ip[20:]


def test_v2_rounds_fractional_interval_to_whole_seconds() -> None:
    config_text = """vrrp_instance V { interface eth0
      virtual_router_id 9 priority 100 advert_int 1
      virtual_ipaddress { 192.0.2.9/24 } }"""
    from vipkeeper.config import loads

    config = loads(config_text)
    params = params_of(config.instances[0], config, ipaddress.IPv4Address("192.0.2.1"))
    adv = advert_for(params, 100)
    assert adv.version == 2 and adv.interval_cs == 100
    assert adv.addresses == (ipaddress.IPv4Address("192.0.2.9"),)
