#!/bin/sh
# Run both fuzzers for RUNS inputs each (default 1,000,000), one after the other, niced, from a
# scratch directory (crash-*/timeout-* files land there). Resumable: the corpora persist in
# $WORK. Prints libFuzzer's final "Done N runs" line for each.
#   bench/fuzz/run.sh [RUNS]        WORK=/var/tmp/vipkeeper-fuzz by default
set -eu
RUNS=${1:-1000000}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/var/tmp/vipkeeper-fuzz}
mkdir -p "$WORK/corpus/packet" "$WORK/corpus/config" "$WORK/scratch"
python "$HERE/seed_corpus.py" "$WORK/seeds"
cd "$WORK/scratch"
for target in packet config; do
  case $target in
    packet) MAXLEN=512; DICT="";;
    config) MAXLEN=4096; python "$HERE/make_dict.py" "$WORK/config.dict" >/dev/null; DICT="-dict=$WORK/config.dict";;
  esac
  echo "== fuzz_$target: $RUNS runs, max_len $MAXLEN"
  nice -n 19 python "$HERE/fuzz_$target.py" -runs="$RUNS" -max_len=$MAXLEN -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 $DICT -artifact_prefix="$WORK/scratch/$target-" \
      "$WORK/corpus/$target" "$WORK/seeds/$target" >"$WORK/$target.log" 2>&1 || echo "fuzz_$target exit $?"
  grep -E "^Done [0-9]+ runs|stat::number_of_executed_units|ERROR|Uncaught|crash-|timeout-" "$WORK/$target.log" | head -20
done
