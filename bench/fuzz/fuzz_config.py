"""Coverage-guided fuzzing of the keepalived.conf reader (`vipkeeper.config.loads`) with atheris.

The oracle is tests/fuzz/fuzz_oracles.py `check_config`: only `ConfigError` may escape, and every
input ends quickly (libFuzzer's -timeout turns a hang into a `timeout-*` artifact). -max_len
bounds the input size. Run it from an empty scratch directory (run.sh does) so that relative
`include` patterns the fuzzer writes match nothing real.

    python bench/fuzz/fuzz_config.py -runs=1000000 -max_len=4096 -timeout=10 CORPUS_DIR SEED_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "fuzz"))

with atheris.instrument_imports(include=["vipkeeper", "fuzz_oracles"]):
    import fuzz_oracles


if __name__ == "__main__":
    atheris.Setup(sys.argv, fuzz_oracles.check_config)
    atheris.Fuzz()
