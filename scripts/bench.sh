#!/usr/bin/env bash
# Measures airlock against the floors issue 22 names, side by side in one
# run, on corpora generated here (deterministic content), and says which
# targets are met and by how much each missed one misses:
#   large : 1 GiB of five kinds (two code-like libraries, a toolchain-like
#           mix of 1,024 files, random data, HTML; see gen_mixed)
#   small : 20,000 files of 1-16 KiB in 200 directories
#   huge  : 16 files x 256 MiB = 4 GiB  (memory only: must not grow; not with --quick)
#
#   op       airlock                      floor (same corpus, same run)
#   pack     airlock pack                 tar -cf - . | zstd -T0 -3 > x.tar.zst
#   verify   airlock verify BUNDLE        zstd -dc BUNDLE > /dev/null
#   unpack   airlock unpack BUNDLE --to   zstd -dc x.tar.zst | tar -x, then sync
#   record   airlock record (100k files)  in-toto-run       (scripts/bench-intoto.sh)
#   intoto   airlock intoto verify        in-toto-verify    (scripts/bench-intoto.sh)
#   decide   a decision with 10,000 (--quick: 500) decisions in the journal
#            against the same store fresh, file and PKCS#11 stores: CPU
#            time and, with valgrind, instructions and syscalls of one
#            decision (scripts/bench-pkcs11-counter.sh)
#
# Per row: wall time (median of RUNS runs), CPU time (user + system of the
# whole process tree, median), peak RSS (GNU time's maximum RSS: for a
# pipeline, its largest process). airlock and its floor run in turns (A F,
# F A, A F, ...: RUNS pairs), and each ratio is the median of the pairs'
# ratios: the host's load moves both sides of a pair alike, where medians
# taken one side after the other met different moments (the floors alone
# moved by up to 40 % between runs). Both sides read warm inputs (each run's
# input is read once just before it: this machine's memory reclaim evicts
# the page cache between runs) and `sync` runs before every measured
# command. Unpack's outputs are moved aside, not deleted, until the archive
# part ends (see bench_corpus). The targets are on wall time; on a shared machine the CPU ratio
# is the steadier figure, and both are printed.
#
# Usage: scripts/bench.sh [--quick]
#   --quick: a check that the benchmark runs, in a few minutes (its figures
#   are not the targets'): 1 run, corpora of 64 MiB (1/16 of each kind) and
#   2,000 small files, no 4 GiB corpus, in-toto at 1k and 10k, 500
#   decisions, publish at 256 MiB; in bench-work/quick.
# Environment: BENCH_DIR (default ./bench-work), RUNS (default 5),
#   BENCH_ONLY=archive (pack/verify/unpack only), intoto (only
#   scripts/bench-intoto.sh), decide (only the decision cost) or publish
#   (only scripts/bench-publish.sh, publish against skopeo copy; the full
#   run ends with it); DECISIONS (history size for decide); AIRLOCK (a
#   release binary to use instead of building one).
# Prints a Markdown report; docs/performance.md holds the latest one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
QUICK=0
case "${1:-}" in
  --quick) QUICK=1 ;;
  "") ;;
  *) echo "usage: scripts/bench.sh [--quick]" >&2; exit 2 ;;
esac
RUNS=${RUNS:-5}; SCALE=1; SMALL_FILES=20000
if [ $QUICK = 1 ]; then RUNS=1; SCALE=16; SMALL_FILES=2000; fi
W=${BENCH_DIR:-$ROOT/bench-work}; [ $QUICK = 1 ] && W=$W/quick
ONLY=${BENCH_ONLY:-}
case "$ONLY" in ""|intoto|archive|publish|decide) ;; *) echo "error: BENCH_ONLY must be archive, intoto, decide or publish" >&2; exit 2;; esac
DECISIONS=${DECISIONS:-10000}; [ $QUICK = 1 ] && DECISIONS=${DECISIONS_QUICK:-500}

need() { command -v "$1" >/dev/null 2>&1; }
for t in zstd tar python3; do
  need $t || { echo "error: $t is needed" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "error: GNU time (/usr/bin/time) is needed" >&2; exit 2; }

if [ -n "${AIRLOCK:-}" ]; then
  A=$AIRLOCK   # a binary built already (any change to the package rebuilds it)
else
  echo "building the release binary (cargo build --release --features tpm)" >&2
  cargo build --release --locked --features tpm -q
  A=$ROOT/target/release/airlock
fi

if [ "$ONLY" = publish ]; then
  RUNS=$RUNS BENCH_DIR=$W AIRLOCK=$A exec "$ROOT/scripts/bench-publish.sh"
fi

mkdir -p "$W"; W=$(cd "$W" && pwd); cd "$W"
# One creation time for every pack of the run: the same inputs then give
# the same bytes at any --threads, which threads_memory checks.
SDE=$(date +%s)

# gen_mixed DIR SCALE: the 1 GiB corpus (SCALE=1), five kinds, each made
# of pseudo-random pieces from a fixed seed (the same bytes on any machine):
#   lib-a.so, lib-b.so  2 x 192 MiB  machine-code-like: chunks of a 9 MiB pool
#                                    of short "instructions" (about 2:1)
#   toolchain/          256 MiB     1,024 files of 256 KiB: source-like text,
#                                    code-like chunks and random tails mixed
#   random.bin          256 MiB     incompressible
#   site.html           128 MiB     HTML markup and text (about 4:1)
# SCALE=16 gives 1/16 of each (64 MiB; --quick).
gen_mixed() {
  [ -f "$1/.done" ] && return
  rm -rf "$1"; mkdir -p "$1"
  python3 - "$1" "$2" <<'PY'
import os, random, sys
d, scale = sys.argv[1], int(sys.argv[2])
MiB = 1 << 20
rnd = random.Random(22)
ops = [rnd.randbytes(rnd.randint(1, 7)) for _ in range(4096)]
weights = [1.0 / (i + 1) for i in range(len(ops))]
def code_chunk(n):
    out = bytearray()
    while len(out) < n:
        out += b"".join(rnd.choices(ops, weights, k=512))
    return bytes(out[:n])
pool = [code_chunk(16384) for _ in range(576)]          # 9 MiB > zstd -3's window
words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz_") for _ in range(rnd.randint(2, 12))) for _ in range(8000)]
def text(n):
    out = bytearray()
    while len(out) < n:
        out += b" ".join(rnd.choices(words, k=2000)) + b"\n"
    return bytes(out[:n])
def write(path, size, piece):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            c = piece()[:left]
            f.write(c); left -= len(c)
def code_piece():
    return rnd.randbytes(16) + rnd.choice(pool)[16:]
for name in ("lib-a.so", "lib-b.so"):
    write(f"{d}/{name}", 192 * MiB // scale, code_piece)
os.makedirs(f"{d}/toolchain")
n_tool = 1024 // scale
for i in range(n_tool):
    sub = f"{d}/toolchain/d{i % 32:02}"
    os.makedirs(sub, exist_ok=True)
    k = i % 4
    if k == 0:
        body = text(256 << 10)
    elif k == 1:
        body = b"".join(code_piece() for _ in range(16))
    elif k == 2:
        body = text(128 << 10) + rnd.randbytes(128 << 10)
    else:
        body = b"".join(code_piece() for _ in range(8)) + rnd.randbytes(128 << 10)
    with open(f"{sub}/f{i:04}.o", "wb") as f:
        f.write(body)
write(f"{d}/random.bin", 256 * MiB // scale, lambda: rnd.randbytes(1 << 20))
tags = [b"<p class=\"c%d\">" % i for i in range(40)] + [b"<div id=\"x%d\">" % i for i in range(40)] + [b"<a href=\"/doc/%d.html\">" % i for i in range(200)]
closes = [b"</p>\n", b"</div>\n", b"</a> "]
paras = [b"".join(rnd.choice(tags) + text(rnd.randint(40, 400)) + rnd.choice(closes) for _ in range(8)) for _ in range(4096)]
write(f"{d}/site.html", 128 * MiB // scale, lambda: b"".join(rnd.choices(paras, k=64)))
PY
  touch "$1/.done"
}

# gen_huge DIR: 4 GiB, four copies of the 1 GiB corpus's kinds with other
# seeds would cost minutes; memory is what it is for, so 16 x 256 MiB of
# half text, half random blocks is enough.
gen_huge() {
  [ -f "$1/.done" ] && return
  rm -rf "$1"; mkdir -p "$1"
  python3 - "$1" 16 <<'PY'
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

gen_small() { # DIR COUNT
  [ -f "$1/.done" ] && return
  rm -rf "$1"; mkdir -p "$1"
  python3 - "$1" "$2" <<'PY'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
text = b"".join(bytes(rnd.choice(b"abcdefghij klmnopqrstuvwxyz\n") for _ in range(64)) for _ in range(512))
for i in range(n):
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

# paired A F: RUNS pairs of runs of the commands in the arrays CMD_A and
# CMD_F (pre_A / pre_F before each, untimed), in turns (A F, F A, A F, ...),
# so that both sides of a pair meet the same moment of a shared machine.
# Sets TA/TF (median wall s), CA/CF (median user+system CPU s), MA/MF (max
# RSS KiB), and RW/RC: the medians of the pairs' wall and CPU ratios A/F.
paired() {
  local a=$1 f=$2 i
  declare -ga "W_$a=()" "U_$a=()" "W_$f=()" "U_$f=()"
  declare -g "M_$a=0" "M_$f=0"
  for i in $(seq "$RUNS"); do
    if [ $((i % 2)) = 1 ]; then once "$a"; once "$f"; else once "$f"; once "$a"; fi
  done
  local -n wa=W_$a ua=U_$a wf=W_$f uf=U_$f ma=M_$a mf=M_$f
  TA=$(median "${wa[@]}"); CA=$(median "${ua[@]}"); MA=$ma
  TF=$(median "${wf[@]}"); CF=$(median "${uf[@]}"); MF=$mf
  local rw=() rc=()
  for i in "${!wa[@]}"; do
    rw+=("$(awk "BEGIN{print ${wa[$i]} / ${wf[$i]}}")")
    # GNU time counts CPU in 10 ms steps: a floor under that has no ratio.
    awk "BEGIN{exit !(${uf[$i]} > 0)}" && rc+=("$(awk "BEGIN{print ${ua[$i]} / ${uf[$i]}}")")
  done
  RW=$(printf '%.2f' "$(median "${rw[@]}")")
  if [ ${#rc[@]} -gt 0 ]; then RC=$(printf '%.2f' "$(median "${rc[@]}")"); else RC=n/a; fi
}
# once LABEL: one timed run of CMD_LABEL, appended to W_LABEL (wall s) and
# U_LABEL (CPU s); M_LABEL keeps the largest RSS (KiB).
once() {
  local -n cmd=CMD_$1 w=W_$1 u=U_$1 mem=M_$1
  local t0 t1 us ss m
  "pre_$1" >/dev/null 2>&1 || true
  sync  # no writeback left over from the previous command (or corpus generation)
  t0=$(date +%s%N)
  /usr/bin/time -f "%U %S %M" -o time.out "${cmd[@]}" >/dev/null
  t1=$(date +%s%N)
  read -r us ss m < time.out
  w+=("$(awk "BEGIN{printf \"%.3f\", ($t1 - $t0) / 1e9}")")
  u+=("$(awk "BEGIN{printf \"%.2f\", $us + $ss}")")
  [ "$m" -gt "$mem" ] && mem=$m
  return 0
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# warm FILE|DIR...: read the inputs once, so the measured run finds them cached
warm() { find "$@" -type f -exec cat {} + >/dev/null; }
ratio() { awk "BEGIN{printf \"%.2f\", $1/$2}"; }
mib() { awk "BEGIN{printf \"%.1f\", $1 / 1024}"; }  # KiB to MiB, one decimal (not rounded down)

rows=(); targets=()
# target WHAT VALUE LIMIT: a row of the targets table; VALUE <= LIMIT is met
target() {
  local verdict
  if awk "BEGIN{exit !($2 <= $3)}"; then verdict="met"
  else verdict="**missed by $(awk "BEGIN{printf \"%.0f\", ($2/$3 - 1) * 100}") %**"; fi
  targets+=("| $1 | $2 | ≤ $3 | $verdict |")
}
# target_ge WHAT VALUE LIMIT: VALUE >= LIMIT is met
target_ge() {
  local verdict
  if awk "BEGIN{exit !($2 >= $3)}"; then verdict="met"
  else verdict="**missed by $(awk "BEGIN{printf \"%.0f\", (1 - $2/$3) * 100}") %**"; fi
  targets+=("| $1 | $2× | ≥ $3× | $verdict |")
}
row() { # CORPUS OP AIRLOCK_T FLOOR_T WALL_RATIO AIRLOCK_C FLOOR_C CPU_RATIO AIRLOCK_M FLOOR_M FLOOR_NAME
  rows+=("| $1 | $2 | $3 s | $4 s | $5 | $6 s | $7 s | $8 | $(mib "$9") MiB | $(mib "${10}") MiB | ${11} |")
}

bench_corpus() { # NAME DIR [memory-only]
  local name=$1 dir=$2 memonly=${3:-}
  if [ ! -d "links-$name" ]; then  # the build step's link for this corpus (not timed)
    mkdir -p "links-$name.tmp"
    "$A" record -q --name build --key builder.pem --products "$dir" --lstrip-paths "$dir/" \
       --out-dir "links-$name.tmp" >/dev/null
    mv "links-$name.tmp" "links-$name"
  fi
  CMD_ap=("$A" pack -q --out "$name.airlock" --key release.pem --root 1.root.json
     --layout root.layout --layout-key owner.pub --links "links-$name" --artifacts "$dir" --expires 30d
     --sequence 1 --source-date-epoch "$SDE")
  pre_ap() { rm -f "$name.airlock"; warm "$dir" "links-$name"; }
  CMD_fp=(sh -c "tar -cf - --exclude=.done -C '$dir' . | zstd -T0 -3 -q > '$name.tar.zst'")
  pre_fp() { rm -f "$name.tar.zst"; warm "$dir"; }
  paired ap fp
  local ap_t=$TA ap_c=$CA ap_m=$MA fp_t=$TF fp_c=$CF fp_m=$MF p_rw=$RW p_rc=$RC

  CMD_av=("$A" verify -q "$name.airlock" --store store)
  pre_av() { rm -rf store; "$A" anchor init --store store --root 1.root.json --channel default; warm "$name.airlock"; }
  CMD_fv=(sh -c "zstd -dc '$name.airlock' >/dev/null")
  pre_fv() { warm "$name.airlock"; }
  paired av fv
  local av_t=$TA av_c=$CA av_m=$MA fv_t=$TF fv_c=$CF fv_m=$MF v_rw=$RW v_rc=$RC

  # unpack writes u/out, u/out.airlock-metadata and u/out.receipt.dsse.json.
  # Each run's output is moved aside to old/, not deleted, until the archive
  # part is done: ext4 without a journal (this machine's root) skips inodes
  # freed in the last one to six minutes when it allocates one (ialloc.c,
  # recently_deleted), so deleting 20,000 files just before a run made that
  # run, airlock's or the floor's, pay seconds for the one before it. The
  # memory-only corpus (16 files of 256 MiB) is deleted at once: moving it
  # aside would take 24 GiB.
  local kept=0
  set_aside() { # DIR: out of the way of the next run
    if [ -n "$memonly" ]; then rm -rf "$1"
    elif [ -e "$1" ]; then kept=$((kept + 1)); mkdir -p old; mv "$1" "old/$name-$1-$kept"; fi
  }
  CMD_au=("$A" unpack -q "$name.airlock" --store store --to u/out)
  pre_au() { set_aside u; rm -rf store; mkdir u; "$A" anchor init --store store --root 1.root.json --channel default; warm "$name.airlock"; }
  CMD_fu=(sh -c "zstd -dc '$name.tar.zst' | tar -x -C out && sync")
  pre_fu() { set_aside out; mkdir out; warm "$name.tar.zst"; }
  paired au fu
  local au_t=$TA au_c=$CA au_m=$MA fu_t=$TF fu_c=$CF fu_m=$MF u_rw=$RW u_rc=$RC
  rm -rf store; set_aside out; set_aside u

  if [ -n "$memonly" ]; then
    row "$name" pack "$ap_t" "$fp_t" "$p_rw" "$ap_c" "$fp_c" "$p_rc" "$ap_m" "$fp_m" 'memory only'
  else
    row "$name" pack "$ap_t" "$fp_t" "$p_rw" "$ap_c" "$fp_c" "$p_rc" "$ap_m" "$fp_m" 'tar \| zstd -T0 -3'
    row "$name" verify "$av_t" "$fv_t" "$v_rw" "$av_c" "$fv_c" "$v_rc" "$av_m" "$fv_m" 'zstd -dc bundle'
    row "$name" unpack "$au_t" "$fu_t" "$u_rw" "$au_c" "$fu_c" "$u_rc" "$au_m" "$fu_m" 'zstd -dc \| tar -x; sync'
  fi
  PACK_M[$name]=$ap_m; VERIFY_M[$name]=$av_m; UNPACK_M[$name]=$au_m
  PACK_R[$name]=$p_rw; VERIFY_R[$name]=$v_rw; UNPACK_R[$name]=$u_rw
}

# pack's peak memory at one and at 16 compression threads (one run each)
threads_memory() { # NAME DIR
  local name=$1 dir=$2 n
  for n in 1 16; do
    rm -f "$name-t.airlock"
    /usr/bin/time -f "%M" -o time.out "$A" pack -q --out "$name-t.airlock" --key release.pem \
      --root 1.root.json --layout root.layout --layout-key owner.pub --links "links-$name" \
      --artifacts "$dir" --expires 30d --sequence 1 --source-date-epoch "$SDE" --threads "$n" >/dev/null
    THREADS_M[$n]=$(cat time.out)
    cmp -s "$name-t.airlock" "$name.airlock" || { echo "error: --threads $n gave other bytes" >&2; exit 1; }
    rm -f "$name-t.airlock"
  done
}

declare -A PACK_M VERIFY_M UNPACK_M PACK_R VERIFY_R UNPACK_R THREADS_M
if [ -z "$ONLY" ] || [ "$ONLY" = archive ]; then
  setup_keys
  # Outputs an interrupted run left: moved aside too, deleted at the end
  # (deleting them now would slow this run's unpack; see bench_corpus).
  if [ -d old ]; then mv old "old-left.$$"; fi
  gen_mixed large "$SCALE"
  gen_small small "$SMALL_FILES"
  bench_corpus large large
  bench_corpus small small
  threads_memory large large
  if [ $QUICK = 0 ]; then
    gen_huge huge
    bench_corpus huge huge memory-only
  fi
  rm -f ./*.airlock ./*.tar.zst; rm -rf old old-left.*
  L="$((1024 / SCALE)) MiB"; S="$SMALL_FILES files"
  target "pack, $L: wall ratio to the floor" "${PACK_R[large]}" 1.05
  target "pack, $S: wall ratio" "${PACK_R[small]}" 1.25
  target "verify, $L: wall ratio" "${VERIFY_R[large]}" 1.05
  target "verify, $S: wall ratio" "${VERIFY_R[small]}" 1.25
  target "unpack, $L: wall ratio" "${UNPACK_R[large]}" 1.0
  target "unpack, $S: wall ratio" "${UNPACK_R[small]}" 1.0
  max_pack=$(printf '%s\n' "${PACK_M[@]}" "${THREADS_M[@]}" | sort -n | tail -1)
  max_vu=$(printf '%s\n' "${VERIFY_M[@]}" "${UNPACK_M[@]}" | sort -n | tail -1)
  target "pack peak RSS, MiB ($L$([ $QUICK = 0 ] && echo ', 4 GiB'), $S; 1 and 16 threads: ${THREADS_M[1]} / ${THREADS_M[16]} KiB)" "$(mib "$max_pack")" 64
  target "verify/unpack peak RSS, MiB (every corpus)" "$(mib "$max_vu")" 32
fi

intoto_summary=
if [ -z "$ONLY" ] || [ "$ONLY" = intoto ]; then
  sizes="1000 20000 100000"; [ $QUICK = 1 ] && sizes="1000 10000"
  intoto_summary=$W/intoto-summary.txt
  RUNS=$RUNS SIZES=${SIZES:-$sizes} BENCH_DIR=$W AIRLOCK=$A SUMMARY=$intoto_summary \
    "$ROOT/scripts/bench-intoto.sh" > "$W/intoto-report.md"
  n_max=$(awk '{print $2}' "$intoto_summary" | sort -n | tail -1)
  target_ge "record, $n_max files: speed-up over in-toto-run" \
    "$(awk -v n="$n_max" '$1=="record" && $2==n {print $3}' "$intoto_summary")" 10
  target_ge "intoto verify, $n_max artifacts: speed-up over in-toto-verify" \
    "$(awk -v n="$n_max" '$1=="verify" && $2==n {print $3}' "$intoto_summary")" 50
fi

decide_lines=()
if [ -z "$ONLY" ] || [ "$ONLY" = decide ]; then
  for backend in file pkcs11; do
    line=$(BACKEND=$backend "$ROOT/scripts/bench-pkcs11-counter.sh" "$DECISIONS" "$A" 2>/dev/null | tail -1)
    decide_lines+=("- $backend: $line")
    fresh=$(echo "$line" | sed -n 's/.*CPU per decision fresh: \([0-9.]*\) ms.*/\1/p')
    after=$(echo "$line" | sed -n 's/.*CPU per decision fresh: [0-9.]* ms; after [0-9]*: \([0-9.]*\) ms.*/\1/p')
    fresh_ir=$(echo "$line" | sed -n 's/.*one decision fresh: \([0-9]*\) instructions.*/\1/p')
    after_ir=$(echo "$line" | sed -n 's/.*one decision fresh: .*; after [0-9]*: \([0-9]*\) instructions.*/\1/p')
    if [ -n "$fresh_ir" ] && [ -n "$after_ir" ]; then
      target "decision instructions, $backend store, after $DECISIONS decisions / fresh" "$(ratio "$after_ir" "$fresh_ir")" 1.10
    else
      target "decision CPU, $backend store, after $DECISIONS decisions / fresh" "$(ratio "$after" "$fresh")" 1.10
    fi
  done
fi

cat <<EOF
Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB RAM; load average before the run's end: $(cut -d' ' -f1-3 /proc/loadavg); $(zstd --version | head -1); $(tar --version | head -1)
Command: scripts/bench.sh $* (RUNS=$RUNS: airlock and floor in turns; wall and CPU are medians, ratios the medians of the pairs' ratios; RSS the maximum; warm page cache)
EOF
if [ ${#rows[@]} -gt 0 ]; then
  cat <<EOF

| corpus | op | airlock wall | floor wall | wall ratio | airlock CPU | floor CPU | CPU ratio | airlock RSS | floor RSS | floor |
|---|---|---|---|---|---|---|---|---|---|---|
EOF
  printf '%s\n' "${rows[@]}"
fi
if [ -n "$intoto_summary" ]; then
  echo; cat "$W/intoto-report.md"
fi
if [ ${#decide_lines[@]} -gt 0 ]; then
  echo; echo "Decision cost (\`airlock verify\` of a refused file: CPU averaged over 20 runs, instructions (callgrind) and syscalls (strace) of one; fresh store and after $DECISIONS decisions, the file store's ledger also holding $DECISIONS accepted bundle ids):"
  printf '%s\n' "${decide_lines[@]}"
fi
cat <<EOF

| target (issue 22) | measured | target | verdict |
|---|---|---|---|
EOF
printf '%s\n' "${targets[@]}"
if [ -z "$ONLY" ]; then
  echo
  if [ $QUICK = 1 ]; then export SIZES=256; fi
  RUNS=$RUNS BENCH_DIR=$W AIRLOCK=$A "$ROOT/scripts/bench-publish.sh"
fi
