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
# (`ledger` file and its binding in state.json, hsm/src/ledger.rs), or
# inline for a binary from before the ledger file (state.json with
# `accepted`). A benchmark, not a test: nothing asserts.
set -euo pipefail
cd "$(dirname "$0")/.."
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
python3 - st "$n" <<'PY'
import json, sys, hashlib
d, n = sys.argv[1], int(sys.argv[2])
p = d + "/state.json"
st = json.load(open(p))
extra = sorted({hashlib.sha256(b"%d" % i).hexdigest()[:32] for i in range(n)})
if "accepted" in st:
    st["accepted"] = sorted(set(st["accepted"]) | set(extra))
else:
    ids = extra + open(d + "/ledger").read().split("\n")[: st["ledger"]["ids"]]
    h = hashlib.sha256(b"airlock ledger v1").digest()
    with open(d + "/ledger", "w") as f:
        for i in ids:
            f.write(i + "\n")
            h = hashlib.sha256(h + bytes.fromhex(i)).digest()
    st["ledger"] = {"ids": len(ids), "bytes": 33 * len(ids), "sha256": h.hex()}
json.dump(st, open(p, "w"), indent=2)
PY
big=$(ir)
code=$("$A" verify s1.airlock --store st --json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["errors"][0]["code"])' || true)
echo "a replay refused ($code): with 2 ids $small instructions; with $((n + 2)) ids $big instructions"
