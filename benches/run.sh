#!/usr/bin/env bash
# The performance benchmark of issue 6: our export / import / validate against what an admin
# would script instead, run ALTERNATELY in one run so that a busy machine slows both sides alike.
#
#   benches/run.sh [SIZES] [ROUNDS]      e.g. benches/run.sh huge 3, benches/run.sh "demo large huge" 3
#
# Baselines, on the same store / archive:
#   export   <->  sqlite3 STORE .dump | zstd -3
#   import   <->  zstd -dc DUMP.sql.zst | sqlite3 EMPTY.db       (our import: into an empty store of
#                                                                  the same host, checks and safety
#                                                                  backup included)
#   validate <->  zstd -dc ARCHIVE > /dev/null
# Each measurement is wall time and peak RSS from /usr/bin/time; the medians of ROUNDS rounds
# (default 3) and the ratios ours/baseline are printed, and written into BENCHMARKS.md between
# the `bench:begin`/`bench:end` markers (the rest of that file is prose and is kept).
# Timings are never asserted anywhere: this is a measuring tool, not a test.
#
# Environment: CARGO_TARGET_DIR (as cargo), BENCH_PROFILE (the cargo profile to build and measure,
# default dist), BENCH_BIN (measure this binary instead of building one),
# BENCH_DIR (scratch, default $CARGO_TARGET_DIR/bench),
# BENCH_NO_WRITE=1 to print only.
set -euo pipefail

SIZES=${1:-huge}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=${BENCH_DIR:-$TARGET/bench}
SERVER_ID=BENCH-0000-0001
BASE_URL=https://jira.bench.example.com

BENCH_NAME=benches/run.sh
# shellcheck source=benches/common.sh
. "$ROOT/benches/common.sh"
BIN=${BENCH_BIN:-$TARGET/$PROFILE/ativo-backup}

# --- tools: install them when we can (Debian/Ubuntu as root), else say what is missing.
need=()
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v zstd >/dev/null || need+=(zstd)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${need[*]}" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null \
      || die "could not install ${need[*]}; install them and run again"
  else
    die "missing tools: ${need[*]} (the sqlite3 and zstd CLIs and GNU time at /usr/bin/time); install them and run again"
  fi
fi

build_binary
mkdir -p "$WORK"

TABLE=$WORK/table.md
SCALING=$WORK/scaling.md
: >"$TABLE"; : >"$SCALING"
{
  echo "| size | rows | command | ours (s) | baseline (s) | ratio | target | ours peak RSS (MiB) | baseline peak RSS (MiB) |"
  echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
} >>"$TABLE"
{
  echo "| size | rows | JSON bytes | export s | export µs/row | import s | import µs/row | validate s | validate µs/row | export MiB | import MiB | validate MiB |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
} >>"$SCALING"

for size in $SIZES; do
  dir=$WORK/$size
  rm -rf "$dir"; mkdir -p "$dir"
  RESULTS=$dir/results.txt; : >"$RESULTS"
  echo "[$size] generating the sample store" >&2
  "$BIN" --store "$dir/store.db" init --server-id "$SERVER_ID" --base-url "$BASE_URL" --sample "$size" >/dev/null
  # Checkpoint the WAL so that both sides read one plain database file.
  sqlite3 "$dir/store.db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
  sqlite3 "$dir/store.db" .dump | zstd -3 -q -f -o "$dir/dump.sql.zst"
  "$BIN" --store "$dir/store.db" export -o "$dir/archive.json.zst" >/dev/null
  json_bytes=$(zstd -dc "$dir/archive.json.zst" | wc -c)
  rows=$(archive_rows "$dir/archive.json.zst")
  for round in $(seq 1 "$ROUNDS"); do
    echo "[$size] round $round/$ROUNDS" >&2
    # Alternate which side goes first, so that neither always runs on a warmer cache.
    if [ $((round % 2)) = 1 ]; then
      measure export "$BIN" --store "$dir/store.db" export -o "$dir/out.json.zst"
      measure export_base sh -c "sqlite3 '$dir/store.db' .dump | zstd -3 -q -f -o '$dir/out.sql.zst'"
      measure validate "$BIN" validate "$dir/archive.json.zst"
      measure validate_base sh -c "zstd -dc '$dir/archive.json.zst' >/dev/null"
    else
      measure export_base sh -c "sqlite3 '$dir/store.db' .dump | zstd -3 -q -f -o '$dir/out.sql.zst'"
      measure export "$BIN" --store "$dir/store.db" export -o "$dir/out.json.zst"
      measure validate_base sh -c "zstd -dc '$dir/archive.json.zst' >/dev/null"
      measure validate "$BIN" validate "$dir/archive.json.zst"
    fi
    rm -rf "$dir/empty.db" "$dir/empty.db-wal" "$dir/empty.db-shm" "$dir/ativo-safety-backups" "$dir/replay.db"
    "$BIN" --store "$dir/empty.db" init --server-id "$SERVER_ID" --base-url "$BASE_URL" >/dev/null
    if [ $((round % 2)) = 1 ]; then
      measure import "$BIN" --store "$dir/empty.db" import "$dir/archive.json.zst" --yes
      measure import_base sh -c "zstd -dc '$dir/dump.sql.zst' | sqlite3 '$dir/replay.db'"
    else
      measure import_base sh -c "zstd -dc '$dir/dump.sql.zst' | sqlite3 '$dir/replay.db'"
      measure import "$BIN" --store "$dir/empty.db" import "$dir/archive.json.zst" --yes
    fi
  done
  per_row() { awk -v s="$1" -v r="$rows" 'BEGIN {printf "%.2f", s*1e6/r}'; }
  for cmd in export import validate; do
    case $cmd in export) target=1.0 ;; import) target=0.5 ;; validate) target=3.0 ;; esac
    ours=$(med "$cmd" 2); base=$(med "${cmd}_base" 2)
    echo "| $size | $rows | $cmd | $ours | $base | $(ratio "$ours" "$base") | ≤ $target | $(mib "$(med "$cmd" 3)") | $(mib "$(med "${cmd}_base" 3)") |" >>"$TABLE"
  done
  echo "| $size | $rows | $json_bytes | $(med export 2) | $(per_row "$(med export 2)") | $(med import 2) | $(per_row "$(med import 2)") | $(med validate 2) | $(per_row "$(med validate 2)") | $(mib "$(med export 3)") | $(mib "$(med import 3)") | $(mib "$(med validate 3)") |" >>"$SCALING"
  echo "[$size] raw measurements: $RESULTS" >&2
done

MACHINE=$WORK/machine.md
{
  machine_lines "$WORK"
  echo "- versions: $(rustc --version), $(sqlite3 --version | cut -d' ' -f1-2 | sed 's/^/sqlite3 /'), $(zstd --version | head -n1)"
  echo "- rounds: $ROUNDS per size, alternating which side runs first; medians shown"
} >"$MACHINE"

echo
cat "$MACHINE"; echo; cat "$TABLE"; echo; cat "$SCALING"

if [ "${BENCH_NO_WRITE:-0}" != 1 ]; then
  block=$WORK/block.md
  {
    echo "<!-- bench:begin -->"
    echo "Measured by \`benches/run.sh \"$SIZES\" $ROUNDS\` (this block is rewritten by the script)."
    echo
    cat "$MACHINE"; echo
    echo "Ratios (ours / baseline, medians):"; echo
    cat "$TABLE"; echo
    echo "Scaling (medians; rows = every entity the header counts):"; echo
    cat "$SCALING"
    echo "<!-- bench:end -->"
  } >"$block"
  splice_block bench "$block"
fi
