# shellcheck shell=bash
# Shared by benches/run.sh and benches/pg.sh (sourced, not run): measuring, medians, ratios, the
# machine description and the splicing of a result block into BENCHMARKS.md. Expects ROOT and
# BENCH_NAME (for messages) to be set before it is sourced, BIN (from $PROFILE, set here) and
# RESULTS (per size) before its functions run.

die() { echo "$BENCH_NAME: $*" >&2; exit 2; }

# The cargo profile measured: `dist` (fat LTO, one codegen unit: the binary the package ships)
# unless BENCH_PROFILE names another, e.g. `release` (the quick build of the README's first
# command). Cargo puts a profile's binary in target/<profile>/.
PROFILE=${BENCH_PROFILE:-dist}

# build_binary: builds the binary of $PROFILE unless BENCH_BIN names one to measure.
build_binary() {
  if [ -z "${BENCH_BIN:-}" ]; then
    echo "building the binary (profile $PROFILE)" >&2
    (cd "$ROOT" && cargo build --profile "$PROFILE" --quiet --bin ativo-backup) || die "cargo build --profile $PROFILE failed"
  fi
}

# measure NAME CMD...: runs CMD under /usr/bin/time, appends "NAME seconds maxrss_kb" to $RESULTS.
# The wall time comes from bash's microsecond clock around the run (GNU time's %e has a
# resolution of 10 ms, too coarse for the smaller samples); both sides pay the same fork of
# /usr/bin/time. A caller may define `before_measure` (say, a database checkpoint); it runs
# untimed first.
measure() {
  local name=$1; shift
  local out start end
  out=$(mktemp)
  if declare -F before_measure >/dev/null; then before_measure; fi
  start=${EPOCHREALTIME/,/.}
  if ! /usr/bin/time -f '%M' -o "$out" "$@" >/dev/null 2>"$out.err"; then
    cat "$out.err" >&2; die "$name failed: $*"
  fi
  end=${EPOCHREALTIME/,/.}
  echo "$name $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.4f", b - a}') $(tail -n 1 "$out")" >>"$RESULTS"
  rm -f "$out" "$out.err"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) m = a[(NR+1)/2]; else m = (a[NR/2]+a[NR/2+1])/2; printf "%.3f\n", m}'; }
# med NAME FIELD: the median of field FIELD (2 = seconds, 3 = peak RSS in KiB) of NAME's lines.
med() { awk -v n="$1" -v f="$2" '$1==n {print $f}' "$RESULTS" | median; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k/1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print "n/a"}'; }

# archive_rows ARCHIVE: the number of entities its header counts.
archive_rows() {
  "$BIN" inspect "$1" --format json \
    | tr -d ' \n' | sed 's/.*"counts":{\([^}]*\)}.*/\1/' | tr ',' '\n' | awk -F: '{s+=$2} END {print s}'
}

# machine_lines DIR [DATE_SUFFIX]: the date and commit, CPU and load, memory and disk lines.
machine_lines() {
  local disk
  disk=$(df -h "$1" | awk 'NR==2 {print $1 " (" $2 ", " $5 " used)"}')
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); commit $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD || echo ' (with uncommitted changes)')${2:-}"
  if [ -n "${BENCH_BIN:-}" ]; then echo "- binary: $BIN"; else echo "- binary: cargo profile \`$PROFILE\`"; fi
  echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores available; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- memory: $(free -m | awk '/^Mem:/ {print $2 " MiB total"}'); disk: $disk"
}

# splice_block MARKER BLOCK: replaces the lines between `<!-- MARKER:begin -->` and
# `<!-- MARKER:end -->` of BENCHMARKS.md by the file BLOCK (which carries both markers); the
# markers are appended first when missing. The rest of the file (prose) is kept.
splice_block() {
  local marker=$1 block=$2 md=$ROOT/BENCHMARKS.md
  [ -f "$md" ] || printf '# Benchmarks\n' >"$md"
  grep -q "<!-- $marker:begin -->" "$md" || printf '\n<!-- %s:begin -->\n<!-- %s:end -->\n' "$marker" "$marker" >>"$md"
  awk -v block="$block" -v begin="<!-- $marker:begin -->" -v end="<!-- $marker:end -->" '
    $0 == begin {while ((getline line < block) > 0) print line; skip=1; next}
    $0 == end {skip=0; next}
    !skip {print}' "$md" >"$md.tmp" && mv "$md.tmp" "$md"
  echo "wrote $md" >&2
}
