#!/usr/bin/env bash
# Delta bundles (issue 21): size and time of a delta for a release in which
# CHANGED_PCT % of the bytes changed, against the full bundle and against
# `zstd --patch-from` of the two releases as tar files.
#
#   release 1 : FILES files, SIZE_MIB MiB in all (default 64 x 16 MiB =
#               1 GiB; half text-like, half random blocks, deterministic)
#   release 2 : the same, with CHANGED_PCT % of the files (default 5: 3 of
#               64) rewritten with new content, and one small file added
#
#   row                  command
#   full bundle          airlock pack (release 2)
#   delta bundle         airlock pack --base release-1.airlock (release 2)
#   zstd --patch-from    tar -cf of each release (sorted names, fixed owner
#                        and mtime), then zstd -3 -T0 --patch-from=r1.tar r2.tar
#   unpack full / delta  airlock unpack on a store that imported release 1
#                        (the delta takes 95 % of the files from that import,
#                        re-hashing each)
#   zstd patch apply     zstd -d --patch-from=r1.tar (then tar -x)
#
# Per row: bytes written, wall time and peak RSS (GNU time), one run each
# (RUNS to repeat: the median is printed). A file-level delta carries whole
# changed files: a change spread over every file makes it as large as the
# full bundle, where --patch-from still finds the unchanged bytes; the
# corpus changes whole files, which is what a release of many components
# does. Prints a Markdown table (docs/performance.md, "Delta bundles").
#
# Usage: scripts/bench-delta.sh
# Environment: BENCH_DIR (default ./bench-work/delta), SIZE_MIB (1024),
#   FILES (64), CHANGED_PCT (5), RUNS (1), AIRLOCK (a built binary; default:
#   cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE_MIB=${SIZE_MIB:-1024}
FILES=${FILES:-64}
CHANGED_PCT=${CHANGED_PCT:-5}
RUNS=${RUNS:-1}
W=${BENCH_DIR:-$ROOT/bench-work/delta}
for t in zstd tar python3; do
  command -v "$t" >/dev/null || { echo "error: $t is needed" >&2; exit 3; }
done
[ -x /usr/bin/time ] || { echo "error: GNU time (/usr/bin/time) is needed" >&2; exit 3; }
if [ -n "${AIRLOCK:-}" ]; then
  A=$AIRLOCK
else
  echo "building the release binary (cargo build --release)" >&2
  cargo build --release --locked -q
  A=$ROOT/target/release/airlock
fi
mkdir -p "$W"; W=$(cd "$W" && pwd); cd "$W"
CHANGED=$(( (FILES * CHANGED_PCT + 50) / 100 )); [ "$CHANGED" -ge 1 ] || CHANGED=1

# The two releases.
python3 - "$FILES" "$SIZE_MIB" "$CHANGED" <<'PY'
import os, random, shutil, sys
files, size_mib, changed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
each = (size_mib << 20) // files
def content(seed, n):
    rnd = random.Random(seed)
    words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz_") for _ in range(rnd.randint(2, 12))) for _ in range(4000)]
    out, left = [], n
    while left > 0:
        chunk = b" ".join(rnd.choices(words, k=12000)) if rnd.random() < 0.5 else rnd.randbytes(1 << 16)
        chunk = chunk[:left]; out.append(chunk); left -= len(chunk)
    return b"".join(out)
stamp = f"{files} {size_mib} {changed}"
if os.path.exists("releases.done") and open("releases.done").read() == stamp:
    sys.exit(0)
for d in ("r1", "r2"):
    shutil.rmtree(d, ignore_errors=True); os.makedirs(f"{d}/lib")
for i in range(files):
    data = content(i, each)
    with open(f"r1/lib/part{i:03}.bin", "wb") as f: f.write(data)
    if i % (files // changed) == 0 and i // (files // changed) < changed:
        data = content(10_000 + i, each)
    with open(f"r2/lib/part{i:03}.bin", "wb") as f: f.write(data)
with open("r2/lib/NEWS", "w") as f: f.write("release 2\n")
open("releases.done", "w").write(stamp)
PY

# Keys, root, a one-step layout whose step may produce anything.
if [ ! -f builder.pub ]; then
  for k in root release owner builder; do "$A" keygen --out "$k" >/dev/null; done
  "$A" root init --out 1.root.json --root-key root.pub --targets-key release.pub \
       --layout-key owner.pub --expires 3650d >/dev/null
  "$A" root sign 1.root.json --key root.pem >/dev/null
  python3 - <<'PY'
import base64, hashlib, json
pem = open("builder.pub").read()
der = base64.b64decode("".join(l for l in pem.splitlines() if "-----" not in l))
key = {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": der[-32:].hex()}}
kid = hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
step = {"_type": "step", "name": "build", "threshold": 1, "pubkeys": [kid],
        "expected_command": [], "expected_materials": [], "expected_products": [["ALLOW", "*"]]}
json.dump({"_type": "layout", "expires": "2099-01-01T00:00:00Z", "readme": "bench-delta",
           "keys": {kid: key}, "steps": [step], "inspect": []}, open("root.layout", "w"), indent=2)
PY
  "$A" layout sign root.layout --key owner.pem >/dev/null
fi
for r in r1 r2; do
  rm -rf "links-$r"; mkdir "links-$r"
  "$A" record -q --name build --key builder.pem --products "$r" --lstrip-paths "$r/" \
       --out-dir "links-$r" >/dev/null
done
packargs() { # OUT RELEASE SEQUENCE: the arguments of `airlock pack`
  echo "pack -q --out $1 --key release.pem --root 1.root.json --layout root.layout" \
       "--layout-key owner.pub --links links-$2 --artifacts $2 --channel default" \
       "--sequence $3 --source-date-epoch 1794694400 --expires 3650d"
}
rm -f r1.airlock
# shellcheck disable=SC2046 # word splitting wanted: no spaces in the names
"$A" $(packargs r1.airlock r1 1) >/dev/null

# timed LABEL OUTFILE CMD...: RUNS runs; prints "LABEL|bytes|wall s|RSS MiB".
timed() {
  local label=$1 out=$2; shift 2
  local walls=() rss=0
  for _ in $(seq "$RUNS"); do
    sync
    /usr/bin/time -f "%e %M" -o time.txt "$@" >/dev/null
    read -r wall kib < time.txt
    walls+=("$wall"); [ "$kib" -gt "$rss" ] && rss=$kib
  done
  local med; med=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  local bytes=-; [ -n "$out" ] && bytes=$(stat -c %s "$out")
  echo "$label|$bytes|$med|$((rss / 1024))"
}

maketar() { tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1794694400 \
                -C "$1" -cf "$2" .; }
maketar r1 r1.tar; maketar r2 r2.tar

rows=()
rm -f r2-full.airlock r2-delta.airlock
# shellcheck disable=SC2046
rows+=("$(timed "full bundle (airlock pack)" r2-full.airlock "$A" $(packargs r2-full.airlock r2 2) --force)")
# shellcheck disable=SC2046
rows+=("$(timed "delta bundle (airlock pack --base)" r2-delta.airlock "$A" $(packargs r2-delta.airlock r2 2) --force --base r1.airlock)")
rows+=("$(timed "zstd -3 -T0 --patch-from of the tars" r2.patch.zst \
        zstd -q -f -3 -T0 --patch-from=r1.tar r2.tar -o r2.patch.zst)")

# The isolated side: release 1 imported, then release 2 both ways.
import_r1() { # STORE
  rm -rf "$1" "$1-r1" "$1-r1.airlock-metadata" "$1-r1.receipt.dsse.json"
  "$A" anchor init --store "$1" --root 1.root.json --channel default >/dev/null
  "$A" unpack -q r1.airlock --store "$1" --to "$1-r1" >/dev/null
}
unpack_into() { # STORE BUNDLE TO
  rm -rf "$3" "$3.airlock-metadata" "$3.receipt.dsse.json"
  import_r1 "$1"
  sync
  /usr/bin/time -f "%e %M" -o time.txt "$A" unpack -q "$2" --store "$1" --to "$3" >/dev/null
  read -r wall kib < time.txt
  echo "$wall $((kib / 1024))"
}
read -r fw fm < <(unpack_into store-full r2-full.airlock out-full)
read -r dw dm < <(unpack_into store-delta r2-delta.airlock out-delta)
diff -r out-full out-delta >/dev/null && same=yes || same=NO
rm -rf out-patch; mkdir out-patch
sync
/usr/bin/time -f "%e %M" -o time.txt sh -c \
  'zstd -q -d --long=31 --patch-from=r1.tar r2.patch.zst -o r2.applied.tar -f && tar -C out-patch -xf r2.applied.tar'
read -r zw zm < time.txt

echo
echo "Delta bundles: release of $SIZE_MIB MiB in $FILES files, $CHANGED rewritten (~$CHANGED_PCT %), one file added; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| connected side | bytes | wall s | peak RSS MiB |"
echo "|---|---:|---:|---:|"
for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
echo
echo "| isolated side (release 1 imported) | wall s | peak RSS MiB |"
echo "|---|---:|---:|"
echo "| airlock unpack, full bundle | $fw | $fm |"
echo "| airlock unpack, delta bundle (base files re-hashed and copied) | $dw | $dm |"
echo "| zstd -d --patch-from, then tar -x (nothing verified) | $zw | $((zm / 1024)) |"
echo
echo "delta unpack identical to the full bundle's: $same"
