#!/usr/bin/env bash
# The PostgreSQL part of the issue 6 benchmark: our export / import on a PostgreSQL store against
# what a PostgreSQL admin would run instead, on the same data, run ALTERNATELY in one run so that a
# busy machine slows both sides alike.
#
#   benches/pg.sh [SIZES] [ROUNDS]      e.g. benches/pg.sh huge 3, benches/pg.sh "large huge" 3
#
# Baselines, on the same source database (created by `init --sample SIZE`):
#   export  <->  pg_dump -d SRC | zstd -3                       (plain SQL dump)
#           <->  pg_dump -Fc -Z0 -d SRC | zstd -3               (custom format, compressed by zstd)
#   import  <->  zstd -dc DUMP.sql.zst | psql -X -q -v ON_ERROR_STOP=1 -d FRESH
#           <->  zstd -dc DUMP.pgc.zst | pg_restore --exit-on-error -d FRESH
#   (our import: into an empty store of the same host in a fresh database, all checks and the
#    safety backup included; the baselines restore into a fresh empty database.)
# `validate` does not touch the store; benches/run.sh measures it.
# Each measurement is wall time and peak RSS (of the client processes: the server's backend is
# the same kind of work on both sides and is not counted) from /usr/bin/time; a CHECKPOINT runs
# before each measurement so that neither side pays for the previous one's dirty pages. The
# medians of ROUNDS rounds (default 3) and the ratios ours/baseline are printed, and written into
# BENCHMARKS.md between the `pgbench:begin`/`pgbench:end` markers (the rest is kept).
# Timings are never asserted anywhere: this is a measuring tool, not a test.
#
# Environment: ATIVO_BENCH_PG (server URL, default postgres://postgres@127.0.0.1:5432/postgres; the
# user must be allowed to create databases), CARGO_TARGET_DIR (as cargo), BENCH_PROFILE (the cargo
# profile to build and measure, default dist), BENCH_BIN (measure this binary instead of building
# one), BENCH_DIR (scratch, default $CARGO_TARGET_DIR/bench), BENCH_NO_WRITE=1 to print only.
# The script creates the databases ativo_bench_<size>_{src,dst,replay,restore} and drops them on exit.
set -euo pipefail

SIZES=${1:-huge}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=${BENCH_DIR:-$TARGET/bench}/pg
PG=${ATIVO_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
SERVER_ID=BENCH-0000-0001
BASE_URL=https://jira.bench.example.com
START=$(date +%s)

BENCH_NAME=benches/pg.sh
# shellcheck source=benches/common.sh
. "$ROOT/benches/common.sh"
BIN=${BENCH_BIN:-$TARGET/$PROFILE/ativo-backup}

need=()
for tool in psql pg_dump pg_restore zstd; do command -v "$tool" >/dev/null || need+=("$tool"); done
[ -x /usr/bin/time ] || need+=(/usr/bin/time)
[ ${#need[@]} = 0 ] || die "missing tools: ${need[*]} (the PostgreSQL client tools, the zstd CLI and GNU time); install them and run again"
case $PG in postgres://* | postgresql://*) ;; *) die "ATIVO_BENCH_PG must be a postgres:// URL, not $PG" ;; esac

# dburl NAME: the server URL with its database replaced by NAME (the query string is kept).
dburl() {
  local base=${PG%%\?*} query=""
  [ "$base" = "$PG" ] || query="?${PG#*\?}"
  local rest=${base#*://}
  echo "${base%%://*}://${rest%%/*}/$1$query"
}
admin() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d "$PG" -c "$1" >/dev/null; }
recreate() { admin "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; admin "CREATE DATABASE $1"; }
# Before every measurement: no side pays for the previous one's writes.
before_measure() { admin "CHECKPOINT"; }

psql -X -q -d "$PG" -c 'SELECT 1' >/dev/null 2>&1 || die "cannot connect to $PG (set ATIVO_BENCH_PG)"

DATABASES=()
cleanup() {
  local db
  for db in "${DATABASES[@]}"; do
    psql -X -q -d "$PG" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 \
      || echo "benches/pg.sh: could not drop database $db" >&2
  done
}
trap cleanup EXIT

build_binary
mkdir -p "$WORK"

# counts DB: "table rows" for every table of the store except the operation log (which our own
# commands append to), to check that every side restored the same data.
counts() {
  local db=$1 t
  for t in $(psql -X -At -d "$(dburl "$db")" -c "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'operation_log' ORDER BY 1"); do
    echo "$t $(psql -X -At -d "$(dburl "$db")" -c "SELECT count(*) FROM \"$t\"")"
  done
}

TABLE=$WORK/table.md
SIZES_MD=$WORK/sizes.md
: >"$TABLE"; : >"$SIZES_MD"
{
  echo "| size | rows | command | baseline | ours (s) | baseline (s) | ratio | ours peak RSS (MiB) | baseline peak RSS (MiB) |"
  echo "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |"
} >>"$TABLE"
{
  echo "| size | rows | database (MiB) | our archive (MiB) | plain dump + zstd (MiB) | custom dump + zstd (MiB) |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
} >>"$SIZES_MD"

for size in $SIZES; do
  dir=$WORK/$size
  rm -rf "$dir"; mkdir -p "$dir"
  RESULTS=$dir/results.txt; : >"$RESULTS"
  src=ativo_bench_${size}_src dst=ativo_bench_${size}_dst
  replay=ativo_bench_${size}_replay restore=ativo_bench_${size}_restore
  DATABASES+=("$src" "$dst" "$replay" "$restore")
  SRC=$(dburl "$src") DST=$(dburl "$dst") REPLAY=$(dburl "$replay") RESTORE=$(dburl "$restore")
  echo "[$size] generating the sample store in database $src" >&2
  recreate "$src"
  "$BIN" --store "$SRC" init --server-id "$SERVER_ID" --base-url "$BASE_URL" --sample "$size" >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 -d "$SRC" -c "VACUUM ANALYZE" >/dev/null
  "$BIN" --store "$SRC" export -o "$dir/archive.json.zst" >/dev/null
  pg_dump -d "$SRC" | zstd -3 -q -f -o "$dir/dump.sql.zst"
  pg_dump -Fc -Z0 -d "$SRC" | zstd -3 -q -f -o "$dir/dump.pgc.zst"
  rows=$(archive_rows "$dir/archive.json.zst")
  db_bytes=$(psql -X -At -d "$SRC" -c "SELECT pg_database_size(current_database())")
  for round in $(seq 1 "$ROUNDS"); do
    echo "[$size] round $round/$ROUNDS" >&2
    # Alternate which side goes first, so that neither always runs on a warmer cache.
    export_ours=(measure export "$BIN" --store "$SRC" export -o "$dir/out.json.zst")
    export_plain=(measure export_plain bash -c "set -o pipefail; pg_dump -d '$SRC' | zstd -3 -q -f -o '$dir/out.sql.zst'")
    export_custom=(measure export_custom bash -c "set -o pipefail; pg_dump -Fc -Z0 -d '$SRC' | zstd -3 -q -f -o '$dir/out.pgc.zst'")
    if [ $((round % 2)) = 1 ]; then
      "${export_ours[@]}"; "${export_plain[@]}"; "${export_custom[@]}"
    else
      "${export_custom[@]}"; "${export_plain[@]}"; "${export_ours[@]}"
    fi
    # Fresh databases for every round; creating them is not measured, nor is our `init` of the
    # empty store (the baselines create their schema themselves, inside the measurement).
    recreate "$dst"; recreate "$replay"; recreate "$restore"
    rm -rf "$dir/safety"
    "$BIN" --store "$DST" init --server-id "$SERVER_ID" --base-url "$BASE_URL" >/dev/null
    import_ours=(measure import "$BIN" --store "$DST" import "$dir/archive.json.zst" --yes --safety-dir "$dir/safety")
    import_plain=(measure import_plain bash -c "set -o pipefail; zstd -dc '$dir/dump.sql.zst' | psql -X -q -v ON_ERROR_STOP=1 -d '$REPLAY'")
    import_custom=(measure import_custom bash -c "set -o pipefail; zstd -dc '$dir/dump.pgc.zst' | pg_restore --exit-on-error -d '$RESTORE'")
    if [ $((round % 2)) = 1 ]; then
      "${import_ours[@]}"; "${import_plain[@]}"; "${import_custom[@]}"
    else
      "${import_custom[@]}"; "${import_plain[@]}"; "${import_ours[@]}"
    fi
  done
  # Same data on every side (row counts of every table but the operation log; API tokens are
  # never restored by our import, SPEC: the archive lists them for the admin only).
  counts "$src" >"$dir/counts.src"
  for db in "$dst" "$replay" "$restore"; do
    counts "$db" >"$dir/counts.$db"
    if [ "$db" = "$dst" ]; then
      diff -u <(grep -v '^api_token ' "$dir/counts.src") <(grep -v '^api_token ' "$dir/counts.$db") >&2
    else
      diff -u "$dir/counts.src" "$dir/counts.$db" >&2
    fi || die "$db does not hold the rows of $src"
  done
  # shellcheck disable=SC2016 # the backquotes are markdown code spans, not expansions
  for line in 'export export_plain `pg_dump \| zstd -3`' 'export export_custom `pg_dump -Fc -Z0 \| zstd -3`' \
              'import import_plain `zstd -dc \| psql` (plain dump)' 'import import_custom `zstd -dc \| pg_restore` (custom dump)'; do
    read -r cmd base label <<<"$line"
    ours=$(med "$cmd" 2); theirs=$(med "$base" 2)
    echo "| $size | $rows | $cmd | $label | $ours | $theirs | $(ratio "$ours" "$theirs") | $(mib "$(med "$cmd" 3)") | $(mib "$(med "$base" 3)") |" >>"$TABLE"
  done
  fsize() { awk -v b="$(stat -c %s "$1")" 'BEGIN {printf "%.1f", b/1048576}'; }
  echo "| $size | $rows | $(awk -v b="$db_bytes" 'BEGIN {printf "%.1f", b/1048576}') | $(fsize "$dir/archive.json.zst") | $(fsize "$dir/dump.sql.zst") | $(fsize "$dir/dump.pgc.zst") |" >>"$SIZES_MD"
  rm -f "$dir/out.json.zst" "$dir/out.sql.zst" "$dir/out.pgc.zst"
  echo "[$size] raw measurements: $RESULTS" >&2
done

MACHINE=$WORK/machine.md
{
  machine_lines "$WORK" "; run time $(( ($(date +%s) - START + 30) / 60 )) min"
  echo "- versions: $(rustc --version), PostgreSQL server $(psql -X -At -d "$PG" -c 'SHOW server_version'), $(pg_dump --version), $(zstd --version | head -n1)"
  echo "- server on the same machine ($(psql -X -At -d "$PG" -c "SELECT current_setting('shared_buffers') || ' shared_buffers, fsync ' || current_setting('fsync') || ', synchronous_commit ' || current_setting('synchronous_commit')"))"
  echo "- rounds: $ROUNDS per size, alternating which side runs first; medians shown"
} >"$MACHINE"

echo
cat "$MACHINE"; echo; cat "$TABLE"; echo; cat "$SIZES_MD"

if [ "${BENCH_NO_WRITE:-0}" != 1 ]; then
  block=$WORK/block.md
  {
    echo "<!-- pgbench:begin -->"
    echo "Measured by \`benches/pg.sh \"$SIZES\" $ROUNDS\` (this block is rewritten by the script)."
    echo
    cat "$MACHINE"; echo
    echo "Ratios (ours / baseline, medians):"; echo
    cat "$TABLE"; echo
    echo "Sizes (the source database, and what each export writes):"; echo
    cat "$SIZES_MD"
    echo "<!-- pgbench:end -->"
  } >"$block"
  splice_block pgbench "$block"
fi
