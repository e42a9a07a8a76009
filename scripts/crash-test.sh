#!/usr/bin/env bash
# Crash consistency of unpack: kill -9 it N times at random moments and
# check the invariants after each kill.
#
#   scripts/crash-test.sh N [BINARY]
#
# Each round provisions a fresh file store from the demo's root, starts
# `unpack` of the demo's signed bundle, kills it with SIGKILL after a random
# delay (0 to 80 ms; some rounds finish first), then checks:
#   1. the destination is absent, or present, complete and identical to the
#      bundle's tree;
#   2. the journal verifies, or is torn and `journal recover` makes it verify;
#   3. unpacking again succeeds (tree identical) — or, if the destination was
#      placed, is refused as a replay (the import was recorded) or succeeds
#      into a new directory (placed, killed before the store recorded it:
#      the documented window, counted);
#   4. no staging directory is left after the re-run.
# Exit 0 when every round holds; the summary line counts where kills landed.
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: crash-test.sh N [BINARY]}
bin=${2:-$PWD/target/debug/airlock}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" demo --dir "$work/demo" >/dev/null 2>&1 || { echo "error: demo failed" >&2; exit 3; }
ref="$work/demo/incoming/release-1"
bundle="$work/demo/release.airlock"
fail=0; absent=0; placed=0; finished=0; torn=0; window=0
bad() { echo "round $1: $2" >&2; fail=$((fail + 1)); }
for i in $(seq "$n"); do
  r="$work/r$i"; mkdir -p "$r"
  "$bin" anchor init --store "$r/store" --root "$work/demo/1.root.json" --channel stable >/dev/null 2>&1 || { bad "$i" "anchor init failed"; continue; }
  "$bin" unpack "$bundle" --store "$r/store" --to "$r/out" --quiet >/dev/null 2>&1 &
  pid=$!
  sleep "0.$(printf '%03d' $((RANDOM % 80)))"
  if kill -9 "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null; else wait "$pid" 2>/dev/null; finished=$((finished + 1)); fi
  # 1. absent, or complete and identical.
  if [ -e "$r/out" ]; then
    placed=$((placed + 1))
    diff -r "$ref" "$r/out" >/dev/null || bad "$i" "partial or different destination"
  else
    absent=$((absent + 1))
  fi
  # 2. the journal verifies, or recovers.
  if ! "$bin" journal verify --store "$r/store" >/dev/null 2>&1; then
    torn=$((torn + 1))
    "$bin" journal recover --store "$r/store" >/dev/null 2>&1 || bad "$i" "journal neither verifies nor recovers"
    "$bin" journal verify --store "$r/store" >/dev/null 2>&1 || bad "$i" "journal does not verify after recover"
  fi
  # 3. the re-run.
  if [ -e "$r/out" ]; then
    "$bin" unpack "$bundle" --store "$r/store" --to "$r/again" --json >"$r/again.json" 2>/dev/null
    rc=$?
    if [ $rc = 0 ]; then
      window=$((window + 1))
      diff -r "$ref" "$r/again" >/dev/null || bad "$i" "re-run placed a different tree"
    elif ! { [ $rc = 1 ] && grep -q '"code":"replay"' "$r/again.json"; }; then
      bad "$i" "re-run after a placement: exit $rc, not a replay"
    fi
  else
    "$bin" unpack "$bundle" --store "$r/store" --to "$r/out" --quiet >/dev/null 2>"$r/err"
    rc=$?
    [ $rc = 0 ] || bad "$i" "re-run failed with exit $rc: $(head -1 "$r/err")"
    diff -r "$ref" "$r/out" >/dev/null 2>&1 || bad "$i" "re-run placed a different tree"
  fi
  "$bin" journal verify --store "$r/store" >/dev/null 2>&1 || bad "$i" "journal does not verify after the re-run"
  # 4. no staging left.
  if ls -A "$r" | grep -q '^\.airlock-'; then bad "$i" "staging left: $(ls -A "$r" | grep '^\.airlock-')"; fi
  rm -rf "$r"
done
echo "rounds: $n; killed with the destination absent: $absent, placed: $placed (of which re-imported after a kill between placing and recording: $window); finished before the kill: $finished; journals recovered: $torn; violations: $fail"
[ "$fail" = 0 ]
