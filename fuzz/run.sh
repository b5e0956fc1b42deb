#!/usr/bin/env bash
# Builds a fuzz target on stable Rust (no cargo-fuzz, no nightly) and runs libFuzzer on it.
#   bash fuzz/run.sh [SECONDS] [extra libFuzzer flags...]   (default 600 s)
#   FUZZ_TARGET=stream_differential bash fuzz/run.sh 600    (default target: decode_validate)
# The corpus lives in fuzz/corpus/ (not committed), seeded from fixtures/ and fixtures/fuzz/;
# crashes go to fuzz/artifacts/. Copy any crash, and inputs worth keeping, to fixtures/fuzz/:
# `cargo test --test integration hostile_fuzz::` replays them.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
shift || true
# What `cargo fuzz build --sanitizer none` passes, all stable flags: SanitizerCoverage for
# libFuzzer's guidance, plus the checks a debug build has.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
target="$(rustc -vV | sed -n 's/^host: //p')"
bin="${FUZZ_TARGET:-decode_validate}"
cargo build --release --target "$target" --bin "$bin"
mkdir -p "corpus/$bin" artifacts seed
cp ../fixtures/good-demo.json.zst ../fixtures/not-an-archive.txt ../fixtures/hostile/good-small.json seed/
cp ../fixtures/fuzz/* seed/ 2>/dev/null || true
# Archives as the writer lays them out (`export` of the demo sample: zstd frames, and the same
# document as compact JSON), for the streaming reader's fast path; pass -max_len=70000 to keep
# them whole.
cp seeds/* seed/
exec "$CARGO_TARGET_DIR/$target/release/$bin" "corpus/$bin" seed \
  -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix=artifacts/ -print_final_stats=1 "$@"
