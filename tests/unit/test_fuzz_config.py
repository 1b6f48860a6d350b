"""Regression inputs for the configuration reader, from the atheris runs (bench/fuzz/fuzz_config.py).

`config_corpus.json` holds a slice of the fuzzer's merged corpus (the smallest inputs that each
reached new coverage) plus hostile literals; each must read or fail with `ConfigError` only,
quickly. A crash or hang the fuzzer finds goes into CRASHES as a literal.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
sys.path.insert(0, str(FUZZ))
import fuzz_oracles

CORPUS = [bytes.fromhex(h) for h in json.loads((FUZZ / "config_corpus.json").read_text())]

EDGES = [
    b"",
    b"{",
    b"}",
    b"\x00\xff\xfe",
    b"vrrp_instance {" * 200,
    b"$A=$A\n$A\n",
    b"$A=${B}\n$B=${A}\n${A}\n",
    b"~SEQ(i, 0, 1, 100000000) x\n",
    b"~LST(i) x\n",
    b"include ./does-not-exist-*\n",
    b"@@@ vrrp_instance x {\n",
    b"vrrp_instance V { virtual_ipaddress { 192.0.2.1/99 } priority 999 advert_int -1 }\n",
    b'vrrp_instance V { notify "unterminated\n}\n',
]
CRASHES: list[bytes] = []  # none found so far (1,000,000+ inputs; see the campaign report)


def test_the_committed_corpus_is_substantial():
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("data", CORPUS + EDGES + CRASHES, ids=lambda d: d[:16].hex() or "empty")
def test_only_config_error_escapes_and_reading_is_quick(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative includes match nothing
    started = time.monotonic()
    fuzz_oracles.check_config(data)
    assert time.monotonic() - started < 5.0
