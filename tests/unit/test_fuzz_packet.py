"""Regression inputs for the VRRP decoders, from the atheris runs (bench/fuzz/fuzz_packet.py).

`packet_corpus.json` is the fuzzer's corpus after `-merge=1` (every input that reached new
coverage), so this replays in milliseconds what a million-input run explored. A crash the
fuzzer finds goes into CRASHES as a literal, with the date and what it broke.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
sys.path.insert(0, str(FUZZ))
import fuzz_oracles

from vipkeeper.vrrp import packet

CORPUS = [bytes.fromhex(h) for h in json.loads((FUZZ / "packet_corpus.json").read_text())]

# Inputs at the edges the decoders must survive (selector byte first: see fuzz_oracles).
EDGES = [
    b"",
    b"\x00",
    b"\x00" + b"\x45" + b"\x00" * 19,                    # IPv4 header of zeros
    b"\x00" + b"\x4f" + b"\xff" * 59,                    # IHL 60, garbage
    b"\x02" + b"\x31\x33\x64\xff" + b"\x00" * 4,          # v3 header claiming 255 addresses
    b"\x03\xff" + b"\x31\x01\x64\x01\x00\x64\x00\x00",   # v3 over IPv6, count 1, no address
    b"\x04\x60" + b"\x00" * 39,                          # IPv6 header, next header 0
    b"\x04\x60\x00\x00\x00\xff\xff\x70\xff" + b"\x00" * 32,  # IPv6 payload length beyond the data
    b"\x02\x21\x01\x01\x01\x07\x01\x00\x00" + b"\x00" * 12,  # v2 auth type 7
]
# Found by atheris (fuzz_packet.py, selector 2, ~9.2M inputs in): a v2 advert whose checksum field
# is 0xffff, the ones' complement "negative zero". It verifies, decodes, and re-encodes with
# 0x0000: the codec's "re-encodes to the bytes it came from" fails for exactly this field value.
NEGATIVE_ZERO_CHECKSUM = b"\x02" + bytes.fromhex("213396020101ffff86e4c0000264c0000265733363726574")
CRASHES: list[bytes] = [NEGATIVE_ZERO_CHECKSUM]


def test_a_negative_zero_checksum_decodes_and_re_encodes_with_positive_zero():
    body = NEGATIVE_ZERO_CHECKSUM[1:]
    adv = packet.decode(body, fuzz_oracles.V4_SRC, fuzz_oracles.V4_DST)
    assert adv.checksum == 0xFFFF and adv.vrid == 51 and adv.priority == 150
    again = packet.encode(adv, fuzz_oracles.V4_SRC, fuzz_oracles.V4_DST)
    assert again[6:8] == b"\0\0" and again[:6] + again[8:] == body[:6] + body[8:]


def test_the_committed_corpus_is_substantial():
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("data", CORPUS + EDGES + CRASHES, ids=lambda d: d[:12].hex() or "empty")
def test_only_malformed_packet_escapes_and_decoded_adverts_round_trip(data):
    fuzz_oracles.check_packet(data)
