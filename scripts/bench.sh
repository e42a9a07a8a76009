#!/usr/bin/env bash
# Benchmarks airlock against the naive pipeline it replaces, side by side in
# one run, on corpora generated here (deterministic content):
#   large : 4 files x 256 MiB = 1 GiB   (half text-like, half random blocks)
#   small : 20,000 files of 1-16 KiB in 200 directories
#   huge  : 16 files x 256 MiB = 4 GiB  (only to show memory does not grow)
# pack   vs  sha256sum over the inputs, then tar -I 'zstd -T0 -3' -cf
# verify vs  zstd -dc | tar -x into a temp dir, then sha256sum -c
# Wall time is the median of RUNS runs (warm page cache for both sides: each
# run's input is read once just before it, because this machine's memory
# reclaim (kdamond) evicts the page cache between runs; and `sync` before
# every run so no earlier writeback competes); peak memory is the maximum RSS
# reported by GNU time.
# Then scripts/bench-intoto.sh: `airlock intoto verify` against the reference
# `in-toto-verify` on a two-step chain of 1k / 20k / 100k artifacts per link.
#
# Usage: scripts/bench.sh [--quick]      (--quick: 1 run, no 4 GiB corpus)
# Environment: BENCH_DIR (default ./bench-work), RUNS (default 3),
#   BENCH_ONLY=intoto (only the in-toto part), BENCH_ONLY=publish (only
#   publish against skopeo copy) or BENCH_ONLY=archive (only pack/verify);
#   see scripts/bench-intoto.sh and scripts/bench-publish.sh for their own
#   variables.
# Prints a Markdown report; docs/performance.md holds the latest one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
QUICK=0; [ "${1:-}" = "--quick" ] && QUICK=1
RUNS=${RUNS:-3}; [ $QUICK = 1 ] && RUNS=1
W=${BENCH_DIR:-$ROOT/bench-work}
ONLY=${BENCH_ONLY:-}
case "$ONLY" in ""|intoto|archive|publish) ;; *) echo "error: BENCH_ONLY must be intoto, publish or archive" >&2; exit 2;; esac

need() { command -v "$1" >/dev/null 2>&1; }
if ! need zstd || ! [ -x /usr/bin/time ]; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends zstd time >/dev/null
fi

echo "building the release binary (cargo build --release --features tpm)" >&2
cargo build --release --locked --features tpm -q
A=$ROOT/target/release/airlock

if [ "$ONLY" = intoto ]; then
  RUNS=$RUNS BENCH_DIR=$W AIRLOCK=$A exec "$ROOT/scripts/bench-intoto.sh"
fi
if [ "$ONLY" = publish ]; then
  RUNS=$RUNS BENCH_DIR=$W AIRLOCK=$A exec "$ROOT/scripts/bench-publish.sh"
fi

mkdir -p "$W"; cd "$W"

gen_large() { # DIR COUNT
  [ -f "$1/.done" ] && return
  rm -rf "$1"; mkdir -p "$1"
  python3 - "$1" "$2" <<'PY'
import random, sys
d, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz_") for _ in range(rnd.randint(2, 12))) for _ in range(8000)]
for i in range(n):
    with open(f"{d}/part{i:02}.bin", "wb") as f:
        left = 256 << 20
        while left > 0:
            if rnd.random() < 0.5:
                chunk = b" ".join(rnd.choices(words, k=24000))
            else:
                chunk = rnd.randbytes(1 << 17)
            chunk = chunk[:left]
            f.write(chunk); left -= len(chunk)
PY
  touch "$1/.done"
}

gen_small() { # DIR
  [ -f "$1/.done" ] && return
  rm -rf "$1"; mkdir -p "$1"
  python3 - "$1" <<'PY'
import os, random, sys
d = sys.argv[1]
rnd = random.Random(7)
text = b"".join(bytes(rnd.choice(b"abcdefghij klmnopqrstuvwxyz\n") for _ in range(64)) for _ in range(512))
for i in range(20000):
    sub = f"{d}/dir{i % 200:03}"
    os.makedirs(sub, exist_ok=True)
    size = rnd.randint(1024, 16384)
    body = text[:size // 2] + rnd.randbytes(size - size // 2)
    with open(f"{sub}/file{i:05}.dat", "wb") as f:
        f.write(body)
PY
  touch "$1/.done"
}

# Keys, a root, and a one-step layout: `build` (key builder) may produce
# anything; each corpus gets its own `build` link (bench_corpus), so pack and
# verify check the supply chain as they do in use.
setup_keys() {
  [ -f builder.pub ] && return
  rm -f root.pem root.pub release.pem release.pub owner.pem owner.pub 1.root.json root.layout
  for k in root release owner builder; do "$A" keygen --out "$k" >/dev/null; done
  "$A" root init --out 1.root.json --root-key root.pub --targets-key release.pub --layout-key owner.pub --expires 3650d >/dev/null
  "$A" root sign 1.root.json --key root.pem >/dev/null
  python3 - <<'PY'
import base64, hashlib, json
pem = open("builder.pub").read()
der = base64.b64decode("".join(l for l in pem.splitlines() if "-----" not in l))
key = {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": der[-32:].hex()}}
kid = hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
step = {"_type": "step", "name": "build", "threshold": 1, "pubkeys": [kid],
        "expected_command": [], "expected_materials": [], "expected_products": [["ALLOW", "*"]]}
layout = {"_type": "layout", "expires": "2099-01-01T00:00:00Z", "readme": "benchmark",
          "keys": {kid: key}, "steps": [step], "inspect": []}
with open("root.layout", "w") as f:
    json.dump(layout, f, indent=2)
PY
  "$A" layout sign root.layout --key owner.pem >/dev/null
}

# measure LABEL CMD...: runs CMD RUNS times; sets T (median seconds) and M (max RSS KiB)
measure() {
  local label=$1; shift
  local times=() mem=0
  for _ in $(seq "$RUNS"); do
    pre_$label 2>/dev/null || true
    sync  # no writeback left over from the previous command (or corpus generation)
    /usr/bin/time -f "%e %M" -o time.out "$@" >/dev/null
    read -r t m < time.out
    times+=("$t"); [ "$m" -gt "$mem" ] && mem=$m
  done
  T=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  M=$mem
}

# warm FILE|DIR...: read the inputs once, so the measured run finds them cached
warm() { find "$@" -type f -exec cat {} + >/dev/null; }

rows=()
bench_corpus() { # NAME DIR
  local name=$1 dir=$2
  local bytes; bytes=$(du -sb --exclude=.done "$dir" | cut -f1)
  if [ ! -d "links-$name" ]; then  # the build step's link for this corpus (not timed)
    mkdir -p "links-$name.tmp"
    "$A" record -q --name build --key builder.pem --products "$dir" --lstrip-paths "$dir/" \
       --out-dir "links-$name.tmp" >/dev/null
    mv "links-$name.tmp" "links-$name"
  fi
  pre_ap() { rm -f "$name.airlock"; warm "$dir" "links-$name"; }
  measure ap "$A" pack -q --out "$name.airlock" --key release.pem --root 1.root.json \
     --layout root.layout --layout-key owner.pub --links "links-$name" --artifacts "$dir" --expires 30d
  local ap_t=$T ap_m=$M
  pre_np() { rm -f "$name.tar.zst" "$name.sums"; warm "$dir"; }
  measure np sh -c "(cd '$dir' && find . -type f ! -name .done -print0 | sort -z | xargs -0 sha256sum) > '$name.sums' && tar -I 'zstd -T0 -3' -cf '$name.tar.zst' --exclude=.done -C '$dir' ."
  local np_t=$T
  rm -rf store; "$A" anchor init --store store --root 1.root.json --channel default >/dev/null
  pre_av() { warm "$name.airlock"; }
  measure av "$A" verify -q "$name.airlock" --store store
  local av_t=$T av_m=$M
  pre_nv() { rm -rf x; mkdir x; warm "$name.tar.zst"; }
  measure nv sh -c "zstd -dc '$name.tar.zst' | tar -x -C x && cd x && sha256sum -c --quiet '../$name.sums'"
  local nv_t=$T
  rm -rf x
  pre_zd() { warm "$name.tar.zst"; }
  measure zd sh -c "zstd -dc '$name.tar.zst' >/dev/null"
  local zd_t=$T
  local a_size n_size; a_size=$(stat -c %s "$name.airlock"); n_size=$(stat -c %s "$name.tar.zst")
  rows+=("| $name | $((bytes >> 20)) MiB | pack | $ap_t s | $np_t s | $(awk "BEGIN{printf \"%.2f\", $ap_t/$np_t}") | $((ap_m >> 10)) MiB | $((a_size >> 20)) / $((n_size >> 20)) MiB |")
  rows+=("| $name | $((bytes >> 20)) MiB | verify | $av_t s | $nv_t s | $(awk "BEGIN{printf \"%.2f\", $av_t/$nv_t}") | $((av_m >> 10)) MiB | zstd -d alone: $zd_t s |")
}

setup_keys
gen_large large 4
gen_small small
bench_corpus large large
bench_corpus small small
if [ $QUICK = 0 ]; then
  gen_large huge 16
  bench_corpus huge huge
fi

cat <<EOF
Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB RAM; $(zstd --version | head -1); $(tar --version | head -1)
Command: scripts/bench.sh $* (RUNS=$RUNS, median wall time, warm page cache)

| corpus | size | op | airlock | naive | ratio | airlock peak RSS | note |
|---|---|---|---|---|---|---|---|
EOF
printf '%s\n' "${rows[@]}"
if [ "$ONLY" != archive ]; then
  echo
  RUNS=$RUNS BENCH_DIR=$W AIRLOCK=$A "$ROOT/scripts/bench-intoto.sh"
  echo
  if [ $QUICK = 1 ]; then export SIZES=${SIZES:-256}; fi
  RUNS=$RUNS BENCH_DIR=$W AIRLOCK=$A "$ROOT/scripts/bench-publish.sh"
fi
