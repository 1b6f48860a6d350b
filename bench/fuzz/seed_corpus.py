"""Write seed corpora for the fuzzers: packet seeds from the keepalived 2.2.7 golden frames
(Ethernet header removed, one seed per decoder selector) and config seeds from keepalived's
sample configurations.

    python bench/fuzz/seed_corpus.py OUT_DIR     -> OUT_DIR/packet, OUT_DIR/config
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"


def _write(directory: Path, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main(out: Path) -> None:
    frames = json.loads((DATA / "vectors" / "keepalived-2.2.7" / "frames.json").read_text())
    for capture in frames["captures"]:
        for frame in capture["frames"]:
            raw = bytes.fromhex(frame["hex"])
            ethertype, ip = raw[12:14], raw[14:]
            if ethertype == b"\x08\x00" and ip[9] == 112:
                ihl = (ip[0] & 0x0F) * 4
                _write(out / "packet", b"\x00" + ip)
                _write(out / "packet", b"\x02" + ip[ihl:])
                _write(out / "packet", b"\x04" + ip)
            elif ethertype == b"\x86\xdd" and ip[6] == 112:
                _write(out / "packet", b"\x03" + bytes([ip[7]]) + ip[40:])
                _write(out / "packet", b"\x04" + ip)
    for sample in sorted((DATA / "keepalived-samples").glob("*")):
        _write(out / "config", sample.read_bytes())
    for conf in sorted((DATA / "vectors" / "keepalived-2.2.7").glob("*.conf")):
        _write(out / "config", conf.read_bytes())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
