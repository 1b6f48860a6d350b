"""Commit a slice of a fuzzing corpus as regression inputs: hex strings in a JSON list.

    python bench/fuzz/export_corpus.py CORPUS_DIR OUT.json [--max N] [--max-bytes B]

Takes up to N inputs of at most B bytes, spread evenly over the corpus sorted by size, so the
slice keeps tiny edge cases and the larger, structured configurations alike.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--max", type=int, default=200)
    ap.add_argument("--max-bytes", type=int, default=2048)
    args = ap.parse_args()
    inputs = sorted({p.read_bytes() for p in args.corpus.iterdir() if p.is_file()}, key=lambda b: (len(b), b))
    eligible = [b for b in inputs if len(b) <= args.max_bytes]
    step = max(1, len(eligible) / args.max)
    chosen = [eligible[int(i * step)].hex() for i in range(min(args.max, len(eligible)))]
    args.out.write_text(json.dumps(chosen, indent=0) + "\n")
    print(f"{len(chosen)} of {len(inputs)} inputs -> {args.out}")


if __name__ == "__main__":
    main()
