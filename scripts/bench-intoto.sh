#!/usr/bin/env bash
# Benchmarks `airlock intoto verify` against the reference `in-toto-verify`
# (PyPI in-toto 3.1.0, securesystemslib 1.6.0) in one run, on the SAME signed
# layout and the SAME links, recorded once with the reference `in-toto-run`.
#
# Supply chain: two steps, each link listing N artifacts (N = 1,000 / 20,000 /
# 100,000 small files of a few bytes in nested directories):
#   build   (alice): products  CREATE *
#   package (bob)  : materials MATCH * WITH PRODUCTS FROM build
#                    products  MATCH * WITH PRODUCTS FROM build, DISALLOW *
# The layout has no inspections, so both verifiers do the same work: layout
# and link signatures, expiry, thresholds and the artifact rules. Both run in
# an empty working directory (the reference hashes its cwd for inspections).
# Both must exit 0 once (untimed, also warms the page cache) before timing.
#
# Wall time: median of RUNS runs; if one reference run takes longer than
# REF_ONCE_AFTER seconds it is timed once only (the table says so). Peak
# memory: the maximum RSS GNU time reports over the runs.
#
# Usage: scripts/bench-intoto.sh        (scripts/bench.sh runs it; or alone)
# Env:   BENCH_DIR (default ./bench-work), RUNS (default 3),
#        SIZES (default "1000 20000 100000"), REF_ONCE_AFTER (default 60),
#        VENV (default target/bench-venv; created with pip when missing), AIRLOCK
#        (the airlock binary; default: cargo build --release, as bench.sh),
#        SUMMARY (a file to write "verify|record N SPEED-UP" lines to, for
#        bench.sh's targets table).
# Prints a Markdown section; docs/performance.md holds the latest one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-3}
SIZES=${SIZES:-1000 20000 100000}
REF_ONCE_AFTER=${REF_ONCE_AFTER:-60}
W=${BENCH_DIR:-$ROOT/bench-work}
VENV=${VENV:-$ROOT/target/bench-venv}

if ! [ -x /usr/bin/time ]; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends time >/dev/null
fi
if ! [ -x "$VENV/bin/in-toto-verify" ]; then
  echo "creating the reference venv in $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check in-toto==3.1.0 securesystemslib==1.6.0
fi
"$VENV/bin/python" - <<'PY'
import importlib.metadata as m
assert m.version("in-toto") == "3.1.0", m.version("in-toto")
assert m.version("securesystemslib") == "1.6.0", m.version("securesystemslib")
PY
if [ -z "${AIRLOCK:-}" ]; then
  echo "building the release binary (cargo build --release --features tpm)" >&2
  cargo build --release --locked --features tpm -q
  AIRLOCK=$ROOT/target/release/airlock
fi
A=$AIRLOCK

mkdir -p "$W/intoto"; IW=$(cd "$W/intoto" && pwd); cd "$IW"

# Keys (ed25519, openssl) and the layout, signed by owner with in-toto-sign.
for k in owner alice bob; do
  [ -f $k.pem ] || openssl genpkey -algorithm ed25519 -out $k.pem 2>/dev/null
  openssl pkey -in $k.pem -pubout -out $k.pub
done
if ! [ -f root.layout ]; then
  python3 - <<'PY'
import hashlib, json, subprocess
def keyobj(name):
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", f"{name}.pub", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    k = {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": der[-32:].hex()}}
    kid = hashlib.sha256(json.dumps(k, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    # in-toto 3.1.0 wants the keyid inside the key object as well (it is
    # not part of what the keyid hashes).
    return kid, dict(k, keyid=kid)
alice, bob = keyobj("alice"), keyobj("bob")
def step(name, key, mats, prods):
    return {"_type": "step", "name": name, "threshold": 1, "pubkeys": [key[0]],
            "expected_command": [], "expected_materials": mats, "expected_products": prods}
layout = {
    "_type": "layout",
    "expires": "2099-01-01T00:00:00Z",
    "readme": "airlock benchmark: two steps, no inspections",
    "keys": {alice[0]: alice[1], bob[0]: bob[1]},
    "steps": [
        step("build", alice, [], [["CREATE", "*"]]),
        step("package", bob,
             [["MATCH", "*", "WITH", "PRODUCTS", "FROM", "build"]],
             [["MATCH", "*", "WITH", "PRODUCTS", "FROM", "build"], ["DISALLOW", "*"]]),
    ],
    "inspect": [],
}
with open("unsigned.layout", "w") as f:
    json.dump({"signed": layout, "signatures": []}, f, indent=1, sort_keys=True)
PY
  "$VENV/bin/in-toto-sign" -f unsigned.layout -k owner.pem -o root.layout
fi

# Corpus of N files of a few bytes: tree/aNN/bN/fNNNNNN.txt; links recorded
# once per size with the reference in-toto-run (kept between runs).
gen_size() { # N
  local n=$1 d=$IW/n$1
  [ -f "$d/.done" ] && return
  echo "generating $n files and recording their links with in-toto-run" >&2
  rm -rf "$d"; mkdir -p "$d/links"
  python3 - "$d/tree" "$n" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = f"{d}/a{i % 100:02}/b{(i // 100) % 10}"
    if i < 1000:
        os.makedirs(sub, exist_ok=True)
    with open(f"{sub}/f{i:06}.txt", "w") as f:
        f.write(f"artifact {i}\n")
PY
  (cd "$d" && "$VENV/bin/in-toto-run" -n build --signing-key "$IW/alice.pem" -p tree -d links -x \
    && "$VENV/bin/in-toto-run" -n package --signing-key "$IW/bob.pem" -m tree -p tree -d links -x)
  touch "$d/.done"
}

# measure CMD...: runs CMD up to RUNS times in the empty directory; sets T
# (median seconds), M (max RSS KiB), R (runs done).
measure() {
  local times=() mem=0 r=0 t m
  for _ in $(seq "$RUNS"); do
    local t0 t1
    [ -n "${PRE:-}" ] && "$PRE"
    t0=$(date +%s%N)
    (cd "${IN_DIR:-$IW/empty}" && /usr/bin/time -f "%e %M" -o "$IW/time.out" "$@" >/dev/null 2>&1)
    t1=$(date +%s%N)
    read -r _ m < "$IW/time.out"   # %e has 10 ms resolution: wall time from date instead
    t=$(awk "BEGIN{printf \"%.3f\", ($t1 - $t0) / 1e9}")
    times+=("$t"); [ "$m" -gt "$mem" ] && mem=$m; r=$((r + 1))
    if [ "$REF_ONLY_ONCE" = 1 ] && awk "BEGIN{exit !($t > $REF_ONCE_AFTER)}"; then break; fi
  done
  T=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  M=$mem; R=$r
}

rm -rf empty; mkdir empty
REF=("$VENV/bin/in-toto-verify" --layout "$IW/root.layout" --verification-keys "$IW/owner.pub")
AIR=("$A" intoto verify -q --layout "$IW/root.layout" --layout-key "$IW/owner.pub" --artifacts .)
rows=(); recrows=(); checks=()
[ -n "${SUMMARY:-}" ] && : >"$SUMMARY"
for n in $SIZES; do
  gen_size "$n"
  links=$IW/n$n/links
  [ "$(find "$IW/empty" -mindepth 1 | wc -l)" = 0 ] || { echo "error: $IW/empty is not empty" >&2; exit 1; }
  for v in REF AIR; do # both must accept the same layout and links
    declare -n cmd=$v
    if ! (cd "$IW/empty" && "${cmd[@]}" --link-dir "$links" >"$IW/check.out" 2>&1); then
      echo "error: $v verifier rejected the $n-artifact chain:" >&2; cat "$IW/check.out" >&2; exit 1
    fi
    unset -n cmd
  done
  nart=$(python3 -c 'import json,sys; print(sum(len(json.load(open(f))["signed"]["products"]) for f in sys.argv[1:]))' "$links"/build.*.link)
  [ "$nart" = "$n" ] || { echo "error: build link lists $nart artifacts, expected $n" >&2; exit 1; }
  lbytes=$(cat "$links"/*.link | wc -c)
  echo "timing n=$n" >&2
  REF_ONLY_ONCE=1 measure "${REF[@]}" --link-dir "$links"; rt=$T rm_=$M rr=$R
  REF_ONLY_ONCE=0 measure "${AIR[@]}" --link-dir "$links"; at=$T am=$M ar=$R
  # record: the build step's link over the same tree, airlock against
  # in-toto-run (both hash every file and sign one link), both run in
  # nN/ on the relative path `tree` (airlock records only relative paths).
  REC_REF=("$VENV/bin/in-toto-run" -n build --signing-key "$IW/alice.pem" -p tree -d "$IW/rec" -x)
  REC_AIR=("$A" record -q --name build --key "$IW/alice.pem" --products tree --out-dir "$IW/rec")
  pre_rec() { rm -rf "$IW/rec"; mkdir "$IW/rec"; }
  IN_DIR=$IW/n$n REF_ONLY_ONCE=1 PRE=pre_rec measure "${REC_REF[@]}"; rrt=$T rrm=$M rrr=$R
  rm -rf "$IW/rec-ref"; mv "$IW/rec" "$IW/rec-ref"
  IN_DIR=$IW/n$n REF_ONLY_ONCE=0 PRE=pre_rec measure "${REC_AIR[@]}"; rat=$T ram=$M rar=$R
  # both links list every file, with the same digests
  python3 - "$IW/rec-ref" "$IW/rec" "$n" <<'PY' || { echo "error: the two recorded links differ" >&2; exit 1; }
import glob, json, sys
def products(d):
    (f,) = glob.glob(f"{d}/build.*.link")
    return json.load(open(f))["signed"]["products"]
ref, air, n = products(sys.argv[1]), products(sys.argv[2]), int(sys.argv[3])
assert len(ref) == n and ref == air, (len(ref), len(air))
PY
  rm -rf "$IW/rec-ref"
  rm -rf "$IW/rec"
  recrows+=("| $n | $rat s ($rar) | $rrt s ($rrr) | $(awk "BEGIN{printf \"%.1f\", $rrt/$rat}")× | $(awk "BEGIN{printf \"%.1f\", $ram/1024}") MiB | $(awk "BEGIN{printf \"%.1f\", $rrm/1024}") MiB |")
  if [ -n "${SUMMARY:-}" ]; then
    echo "verify $n $(awk "BEGIN{printf \"%.1f\", $rt/$at}")" >>"$SUMMARY"
    echo "record $n $(awk "BEGIN{printf \"%.1f\", $rrt/$rat}")" >>"$SUMMARY"
  fi
  rows+=("| $n | $((lbytes >> 10)) KiB | $at s ($ar) | $rt s ($rr) | $(awk "BEGIN{printf \"%.1f\", $rt/$at}")× | $(awk "BEGIN{printf \"%.1f\", $am/1024}") MiB | $(awk "BEGIN{printf \"%.1f\", $rm_/1024}") MiB | $(awk "BEGIN{printf \"%.3f\", $am/$rm_}") | $(awk "BEGIN{printf \"%.1f\", $at*1e6/$n}") / $(awk "BEGIN{printf \"%.1f\", $rt*1e6/$n}") µs |")
done

cat <<EOF
Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB RAM; reference: in-toto $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("in-toto"))'), securesystemslib $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("securesystemslib"))'), $("$VENV/bin/python" --version); $("$A" --version | head -1)
Command: scripts/bench-intoto.sh (RUNS=$RUNS, median wall time; reference timed once when a run exceeds ${REF_ONCE_AFTER} s)
Timed, in the empty directory bench-work/intoto/empty (N = $(echo $SIZES | sed 's/ / \/ /g')):

    in-toto-verify --layout ../root.layout --verification-keys ../owner.pub --link-dir ../nN/links
    airlock intoto verify -q --layout ../root.layout --layout-key ../owner.pub --artifacts . --link-dir ../nN/links

| artifacts per link | links size | airlock (runs) | reference (runs) | speed-up | airlock peak RSS | reference peak RSS | RSS ratio | per artifact (airlock / reference) |
|---|---|---|---|---|---|---|---|---|
EOF
printf '%s\n' "${rows[@]}"

cat <<EOF

Recording the build step's link of the same trees (each run into an empty directory):

    (in nN/) in-toto-run -n build --signing-key ../alice.pem -p tree -d ../rec -x
    (in nN/) airlock record -q --name build --key ../alice.pem --products tree --out-dir ../rec

| files | airlock (runs) | in-toto-run (runs) | speed-up | airlock peak RSS | reference peak RSS |
|---|---|---|---|---|---|
EOF
printf '%s\n' "${recrows[@]}"
