#!/usr/bin/env bash
# Instructions (callgrind's Ir) of one decision that reads the store's
# ledger of accepted bundle ids: `airlock verify` of a bundle already
# imported (refused as a replay; its sequence is not above its channel's
# last, so the replay check reads the ledger), on a file store with 2 ids
# and then with N (default 10000) more.
#
#   scripts/bench-ledger-lookup.sh [N] [BINARY]
#
# The N ids are written into the ledger the way N imports would leave it
# (scripts/lib/fill_ledger.py). A benchmark, not a test: nothing asserts.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
n=${1:-10000}
A=${2:-$PWD/target/release/airlock}
command -v valgrind >/dev/null || { echo "error: needs valgrind" >&2; exit 2; }
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cd "$w"
"$A" init -q p >/dev/null
cd p
mkdir -p dist && echo hello >dist/a.txt
"$A" record -q >/dev/null
for s in 1 2; do "$A" pack -q --sequence "$s" --out "s$s.airlock" >/dev/null; done
"$A" anchor init --store st --root 1.root.json --channel stable >/dev/null
for s in 1 2; do "$A" unpack -q "s$s.airlock" --store st --to "o$s" >/dev/null; done
ir() {
  valgrind --tool=callgrind --callgrind-out-file=cg.out "$A" verify s1.airlock --store st --quiet >/dev/null 2>&1 || true
  awk '/^(summary|totals):/ {print $2; exit}' cg.out
}
small=$(ir)
python3 "$root/scripts/lib/fill_ledger.py" st "$n"
big=$(ir)
code=$("$A" verify s1.airlock --store st --json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["errors"][0]["code"])' || true)
echo "a replay refused ($code): with 2 ids $small instructions; with $((n + 2)) ids $big instructions"
