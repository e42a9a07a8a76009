#!/usr/bin/env bash
# Fuzzes every parser of untrusted input (the targets in fuzz/, see
# docs/threat-model.md) for SECONDS each (default 60), one after the other,
# with AddressSanitizer and leak detection. Fails on any crash, panic, leak,
# input that takes over 10 s, or RSS over 2 GiB. Seeds are made afresh from
# tests/vectors/ (scripts/lib/fuzz_seeds.py); the corpora grow in
# fuzz/corpus/, logs go to fuzz/logs/, crashing inputs to fuzz/artifacts/
# (all ignored by git). Run with `nice -n 19` on a shared machine.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]    # default: every target
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-60}
shift || true
case $SECS in '' | *[!0-9]*)
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
  ;;
esac

step() { printf '\n==> %s\n' "$*"; }

if ! rustup toolchain list | grep -q '^nightly'; then
  step "installing the nightly toolchain (cargo-fuzz needs -Zsanitizer)"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
  step "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

step "seed corpora from tests/vectors"
cargo build --locked --bin airlock
python3 scripts/lib/fuzz_seeds.py fuzz/seeds "${CARGO_TARGET_DIR:-target}/debug/airlock"

step "building the fuzz targets"
cd fuzz
cargo +nightly fuzz build --release
if [ $# -gt 0 ]; then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi
mkdir -p logs corpus

failed=()
summary=()
for t in "${TARGETS[@]}"; do
  step "fuzzing $t for ${SECS}s"
  mkdir -p "corpus/$t" "artifacts/$t"
  log="logs/$t.log"
  # -rss_limit_mb also bounds single allocations (-malloc_limit_mb defaults
  # to it); leaks are detected at every input with -detect_leaks (default on).
  if cargo +nightly fuzz run --release "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -detect_leaks=1 \
    -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    tail -n 40 "$log" >&2
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
  summary+=("$(printf '%-16s %-6s %12s execs  cov %6s  ft %6s  corpus %-12s peak RSS %s MB' \
    "$t" "$status" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}")")
done

step "summary (${SECS}s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "error: ${failed[*]} failed: see fuzz/logs/ and the reproducers in fuzz/artifacts/" >&2
  exit 1
fi
echo "no findings"
