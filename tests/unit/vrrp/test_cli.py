"""`vipkeeper decode` on keepalived 2.2.7's captures (tests/data/vectors), and pcap framing."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from click.testing import CliRunner

from vipkeeper.vrrp.cli import decode
from vipkeeper.vrrp.pcap import LINKTYPE_LINUX_SLL, PcapError, ip_payload, read_pcap

VECTORS = Path(__file__).resolve().parents[2] / "data" / "vectors" / "keepalived-2.2.7"
V3_HEX = "45c0002000010000ff701899c0000201e00000123134c8010032a198c000026e"


def run(*args: str):
    return CliRunner().invoke(decode, list(args))


def test_pcap_v2_lines() -> None:
    res = run("--pcap", str(VECTORS / "v2.pcap"))
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if "VRRP" in ln]
    assert len(lines) == 5
    assert ("192.0.2.1 > 224.0.0.18 VRRPv2 vrid 51 prio 150 intvl 1s addrs 192.0.2.100,192.0.2.101 "
            "auth PASS 's3cret' checksum 0x86e4 ok ttl 255") in lines[0]
    assert "prio 0 " in lines[-1]
    assert "5 VRRP frame(s)" in res.stderr and "skipped" in res.stderr


def test_pcap_json_all_captures() -> None:
    counts = {}
    for name in ("v2", "v3", "v3u", "v3v6"):
        res = run("--pcap", str(VECTORS / f"{name}.pcap"), "--json")
        assert res.exit_code == 0
        recs = [json.loads(ln) for ln in res.stdout.splitlines()]
        assert all(r["checksum_ok"] and r["ttl"] == 255 for r in recs)
        counts[name] = (len(recs), recs[0]["vrid"], recs[0]["version"])
    assert counts == {"v2": (5, 51, 2), "v3": (11, 52, 3), "v3u": (4, 53, 3), "v3v6": (4, 54, 3)}


def test_hex_bare_ip_and_ethernet() -> None:
    res = run("--hex", V3_HEX)
    assert res.exit_code == 0 and "VRRPv3 vrid 52 prio 200 intvl 50cs addrs 192.0.2.110" in res.stdout
    eth = "01005e000012ae94834a7d550800" + V3_HEX
    assert "vrid 52" in run("--hex", eth).stdout


def test_hex_malformed_shows_reason() -> None:
    res = run("--hex", V3_HEX[:-1] + "f")
    assert res.exit_code == 0 and "malformed: bad_checksum" in res.stdout
    assert json.loads(run("--hex", V3_HEX[:-1] + "f", "--json").stdout)["malformed"] == "bad_checksum"


def test_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.pcap"
    bad.write_bytes(b"hello world, this is not a capture")
    for args in (["--pcap", str(bad)], ["--pcap", str(tmp_path / "missing")], ["--hex", "zz"],
                 ["--hex", "00" * 30], []):
        res = run(*args)
        assert res.exit_code != 0
        assert res.exception is None or isinstance(res.exception, SystemExit)
        assert "Traceback" not in res.output
        assert res.output.strip().splitlines()[-1].startswith("Error: ")


def test_truncated_pcap(tmp_path: Path) -> None:
    data = (VECTORS / "v3.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-5])
    res = run("--pcap", str(cut))
    assert res.exit_code == 1 and "truncated" in res.output


def test_linux_cooked() -> None:
    ip = bytes.fromhex(V3_HEX)
    sll = struct.pack("!HHH8sH", 0, 1, 6, b"\0" * 8, 0x0800) + ip
    pcap = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_LINUX_SLL)
    pcap += struct.pack("<IIII", 1, 500000, len(sll), len(sll)) + sll
    (frame,) = list(read_pcap(pcap))
    assert frame.time == 1.5 and ip_payload(frame.linktype, frame.data) == ip
    try:
        list(read_pcap(b"\x0a\x0d\x0d\x0a" + b"\0" * 40))
    except PcapError as exc:
        assert "pcapng" in str(exc)
    else:
        raise AssertionError("pcapng accepted")
