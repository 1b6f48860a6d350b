"""Coverage-guided fuzzing of the VRRP decoders with atheris (libFuzzer).

The oracle is tests/fuzz/fuzz_oracles.py `check_packet`: only `MalformedPacket` may escape a
decoder, and what decodes re-encodes byte-exact. Anything else is a crash that libFuzzer saves
(see -artifact_prefix); turn it into a literal in tests/unit/test_fuzz_packet.py.

    python bench/fuzz/fuzz_packet.py -runs=1000000 -max_len=512 CORPUS_DIR [SEED_DIR...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "fuzz"))

with atheris.instrument_imports(include=["vipkeeper", "fuzz_oracles"]):
    import fuzz_oracles


if __name__ == "__main__":
    atheris.Setup(sys.argv, fuzz_oracles.check_packet)
    atheris.Fuzz()
