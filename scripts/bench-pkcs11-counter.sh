#!/usr/bin/env bash
# CPU per decision of a PKCS#11 (SoftHSM2) store, fresh and after N
# decisions (default 2000): the counter must not cost more with history.
# BACKEND=file measures a file store the same way (its journal grows by one
# record per decision, and its ledger of accepted bundle ids is filled with
# N ids, as N imports would), for comparison; scripts/bench.sh runs both.
#
#   [BACKEND=pkcs11|file] scripts/bench-pkcs11-counter.sh [N] [BINARY]
#
# Each decision is one `airlock verify` (it journals, so it advances the
# counter). Prints user+system CPU per decision, averaged over 20 runs,
# before and after, and with valgrind and strace installed the
# instructions (callgrind's Ir) and syscalls of one decision, which do not
# depend on the machine's load. A benchmark, not a test: nothing asserts
# on time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
n=${1:-2000}
bin=${2:-$PWD/target/debug/airlock}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
backend=${BACKEND:-pkcs11}
if [ "$backend" = pkcs11 ]; then
  eval "$(scripts/softhsm-token.sh "$work/hsm" store)"
  AIRLOCK_PKCS11_MODULE=${AIRLOCK_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
  AIRLOCK_PKCS11_PIN_FILE=$work/hsm/user.pin
fi
cd "$work"
A() { "$bin" "$@"; }
mkdir -p keys
for k in root release owner builder; do A keygen --out "keys/$k" >/dev/null; done
A root init --out 1.root.json --root-key keys/root.pub --targets-key keys/release.pub --layout-key keys/owner.pub --expires 3650d >/dev/null
A root sign 1.root.json --key keys/root.pem >/dev/null
mkdir -p dist links && echo hello >dist/a.txt
cat >root.layout <<JSON
{"_type":"layout","expires":"2099-01-01T00:00:00Z","readme":"","keys":{},"steps":[],"inspect":[]}
JSON
if [ "$backend" = pkcs11 ]; then
  uri="pkcs11:token=store?module-path=$AIRLOCK_PKCS11_MODULE&pin-source=file:$AIRLOCK_PKCS11_PIN_FILE"
  A anchor init --store pstore --root 1.root.json --channel default --pkcs11 "$uri" >/dev/null
else
  A anchor init --store pstore --root 1.root.json --channel default >/dev/null
fi
# A bundle the store refuses is a decision too (journaled, counter
# advanced): a file that is not a bundle keeps the benchmark independent of
# the supply-chain fixtures.
echo "not a bundle" >x.airlock
runs() { for _ in $(seq "$1"); do A verify x.airlock --store pstore --quiet >/dev/null 2>&1 || true; done; }
cpu() { # CPU milliseconds (user+sys) per run, over $1 runs
  local TIMEFORMAT='%U %S' t
  t=$({ time runs "$1"; } 2>&1)
  echo "$t" | awk -v n="$1" '{printf "%.1f", ($1 + $2) * 1000 / n}'
}
# counts: instructions and syscalls of one decision (empty without the tools)
counts() {
  local ir="" sc=""
  if command -v valgrind >/dev/null; then
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" verify x.airlock --store pstore --quiet >/dev/null 2>&1 || true
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$work/cg.out")
  fi
  if command -v strace >/dev/null; then
    strace -f -c -o "$work/strace.out" "$bin" verify x.airlock --store pstore --quiet >/dev/null 2>&1 || true
    sc=$(awk '$NF == "total" {print $(NF-2); exit}' "$work/strace.out")
  fi
  echo "${ir:-?} instructions, ${sc:-?} syscalls"
}
fresh=$(cpu 20)
fresh_counts=$(counts)
runs "$n"
if [ "$backend" = file ]; then
  # A store with N imports: N refused decisions gave the journal its N
  # records; an import also adds its bundle id to the ledger of accepted
  # ids (what replay checks read), so N ids are added there too: to the
  # `ledger` file and its binding in state.json (count, length, hash
  # chain; hsm/src/ledger.rs), or, for a store written before the ledger
  # file (state.json with `accepted`), inline as such stores kept them.
  # The file store's state is plain files; packing and unpacking N bundles
  # would take far longer and give the same state.
  python3 "$root/scripts/lib/fill_ledger.py" pstore "$n"
fi
after=$(cpu 20)
after_counts=$(counts)
line="decisions: $((n + 42)); CPU per decision fresh: ${fresh} ms; after $n: ${after} ms; one decision fresh: $fresh_counts; after $n: $after_counts"
if [ "$backend" != pkcs11 ]; then
  echo "$line; journal: $(du -k pstore | tail -1 | cut -f1) KiB"
  exit 0
fi
objects=$(pkcs11-tool --module "$AIRLOCK_PKCS11_MODULE" --token-label store --login \
  --pin "$(cat "$AIRLOCK_PKCS11_PIN_FILE")" --list-objects --type data 2>/dev/null | grep -c "Data object" || true)
echo "$line; data objects on the token: $objects"
