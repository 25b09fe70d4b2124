#!/usr/bin/env bash
# The benchmark of issue 5, in one run on one generated dataset:
#   1. generate a seeded workspace of CONTACTS contacts (default 100000);
#   2. load it into segscope's embedded store through its own CSV and NDJSON
#      import paths (timed), build the 50 segments, time the summaries;
#   3. in a fresh process: reopen the store and serve the first summary
#      (restart), resident memory, engine-level summaries, single-contact
#      updates and segment builds;
#   4. (1M contacts and more) import a 1M-row contacts CSV into a fresh store;
#   5. load the same facts into DuckDB and chDB (pinned, from PyPI, installed
#      into target/bench-venv), run the full summary with equivalent SQL,
#      check that all three agree and print timings and ratios.
#
# Usage: bench/run.sh [CONTACTS]
#   ENGINES=duckdb        skip chDB (a large package), as the CI smoke test does
#   SEED=42 RUNS=15       generator seed, timed repetitions of each summary
#   CARGO_TARGET_DIR      where the binary, the venv and the data go (default target)
# Exit status: non-zero if any engine disagrees with segscope (timings never fail it).
set -euo pipefail
cd "$(dirname "$0")/.."

CONTACTS="${1:-100000}"
ENGINES="${ENGINES:-duckdb,chdb}"
SEED="${SEED:-42}"
RUNS="${RUNS:-15}"
TARGET="${CARGO_TARGET_DIR:-target}"
mkdir -p "$TARGET"
TARGET="$(cd "$TARGET" && pwd)"
WORK="$TARGET/bench-data/$CONTACTS"
SHARED="${SEGSCOPE_SHARED:-$(cd .. && pwd)/shared}"
VENV="$TARGET/bench-venv"
DUCKDB_VERSION=2.0.1
CHDB_VERSION=4.4.0

echo "== machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(uname -sr)"
echo "== python venv ($VENV)"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
packages=("duckdb==$DUCKDB_VERSION")
case ",$ENGINES," in *,chdb,*) packages+=("chdb==$CHDB_VERSION") ;; esac
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"

echo "== build"
cargo build --release --locked -p segscope-bench
BIN="$TARGET/release/segscope-bench"

echo "== generate $CONTACTS contacts (seed $SEED) into $WORK"
rm -rf "$WORK"
domains=()
[ -d "$SHARED/data/email-domains" ] && domains=(--email-domains "$SHARED/data/email-domains")
"$BIN" generate --contacts "$CONTACTS" --seed "$SEED" --out "$WORK" "${domains[@]}"
du -sh "$WORK"

echo "== segscope: load through the import paths (embedded store, durable)"
"$BIN" load --data "$WORK" --store "$WORK/store"
echo "== segscope: restart, memory and engine-level measurements (fresh process)"
"$BIN" measure --data "$WORK" --store "$WORK/store" --runs "$RUNS"
du -sh "$WORK/store"
if [ "$CONTACTS" -ge 1000000 ]; then
  echo "== segscope: 1M-row contacts CSV import"
  "$BIN" csv-import --rows 1000000 --dir "$WORK/csv-1m"
fi
rm -rf "$WORK/store"

echo "== references: $ENGINES"
"$VENV/bin/python" bench/reference.py --data "$WORK" --engines "$ENGINES" --runs "$((RUNS < 5 ? RUNS : 5))"
