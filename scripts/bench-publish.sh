#!/usr/bin/env bash
# Benchmarks `airlock publish` against `skopeo copy` of the same image into
# the same registry, in one run (issue: "no slower than skopeo, peak memory
# flat in image size").
#
# The image: an OCI layout written here, one linux/amd64 manifest whose
# layers are uncompressed tars of deterministic pseudo-random data, SIZE MiB
# in all (default: 256 and 2048), in layers of at most 256 MiB. The
# registry: the CNCF registry (Debian docker-registry) on a free loopback
# port, plain HTTP (TLS costs both sides the same), storage in BENCH_DIR.
# Every run pushes into a fresh repository, so nothing is skipped as
# already there.
#
# Compared, per size:
#   skopeo      skopeo copy oci:DIR:REF docker://HOST/runN/REF (push only)
#   publish     airlock publish BUNDLE: the whole import (every check,
#               journal, unpack into the store) and then the push
#   publish DIR airlock publish of that import again: re-hash against the
#               journaled manifest, then the push
# Wall time: median of RUNS runs; memory: GNU time's maximum RSS.
#
# Usage: scripts/bench-publish.sh      (scripts/bench.sh runs it; or alone)
# Env:   BENCH_DIR (default ./bench-work), RUNS (default 3), SIZES (MiB,
#        default "256 2048"), AIRLOCK (default: cargo build --release).
# Prints a Markdown section; docs/performance.md holds the latest one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-3}
SIZES=${SIZES:-256 2048}
W=${BENCH_DIR:-$ROOT/bench-work}/publish

need() { command -v "$1" >/dev/null 2>&1; }
if ! need skopeo || ! need docker-registry || ! [ -x /usr/bin/time ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends skopeo docker-registry time >/dev/null
fi
if [ -z "${AIRLOCK:-}" ]; then
  echo "building the release binary (cargo build --release --features tpm)" >&2
  cargo build --release --locked --features tpm -q
  AIRLOCK=$ROOT/target/release/airlock
fi
A=$AIRLOCK
mkdir -p "$W"; cd "$W"

# The registry, stopped on exit.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rm -rf registry; mkdir -p registry
cat >registry/config.yml <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $W/registry/storage
http:
  addr: 127.0.0.1:$PORT
EOF
docker-registry serve registry/config.yml >registry/log 2>&1 &
REG_PID=$!
trap 'kill $REG_PID 2>/dev/null || true; wait $REG_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
  sleep 0.1
done
HOST=127.0.0.1:$PORT

# gen_image DIR MIB: the OCI layout (deterministic).
gen_image() {
  [ -f "$1/.done" ] && return
  rm -rf "$1"; mkdir -p "$1"
  python3 - "$1" "$2" <<'PY'
import hashlib, io, json, os, random, sys, tarfile
d, mib = sys.argv[1], int(sys.argv[2])
blobs = os.path.join(d, "blobs", "sha256"); os.makedirs(blobs)
rnd = random.Random(mib)
def put(b):
    h = hashlib.sha256(b).hexdigest()
    open(os.path.join(blobs, h), "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
layers, left, i = [], mib << 20, 0
while left > 0:
    n = min(left, 256 << 20); left -= n; i += 1
    tmp = os.path.join(d, "layer.tmp")
    # randbytes of more than 2^28 bytes overflows: the data in 16 MiB chunks.
    raw = os.path.join(d, "data.tmp")
    with open(raw, "wb") as f:
        for k in range(0, n, 16 << 20):
            f.write(rnd.randbytes(min(16 << 20, n - k)))
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo(f"data/part{i:02}.bin"); info.size = n; info.mtime = 0
        with open(raw, "rb") as f:
            t.addfile(info, f)
    os.remove(raw)
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        for c in iter(lambda: f.read(1 << 20), b""): h.update(c)
    size = os.path.getsize(tmp)
    os.rename(tmp, os.path.join(blobs, h.hexdigest()))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                   "digest": "sha256:" + h.hexdigest(), "size": size})
config = put(json.dumps({"architecture": "amd64", "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}}).encode())
config["mediaType"] = "application/vnd.oci.image.config.v1+json"
m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config, "layers": layers}).encode()
md = put(m)
index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
         **md, "annotations": {"org.opencontainers.image.ref.name": "bench/app:1.0"}}]}
json.dump(index, open(os.path.join(d, "index.json"), "w"))
open(os.path.join(d, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
  touch "$1/.done"
}

# Keys, root, layout and the build step's link over the image (untimed).
setup() { # NAME DIR
  local name=$1 dir=$2
  if ! [ -f keys/builder.pub ]; then
    mkdir -p keys
    for k in root release owner builder; do "$A" keygen --out "keys/$k" >/dev/null; done
    "$A" root init --out 1.root.json --root-key keys/root.pub --targets-key keys/release.pub \
      --layout-key keys/owner.pub --expires 3650d >/dev/null
    "$A" root sign 1.root.json --key keys/root.pem >/dev/null
    "$A" layout new --out root.layout --step build=keys/builder.pub --key keys/owner.pem >/dev/null
  fi
  if ! [ -f "$name.airlock" ]; then
    rm -rf "links-$name"; mkdir -p empty
    "$A" record -q --name build --key keys/builder.pem --image "oci:$dir:bench/app:1.0" \
      --out-dir "links-$name" >/dev/null
    "$A" pack -q --out "$name.airlock" --key keys/release.pem --root 1.root.json \
      --layout root.layout --layout-key keys/owner.pub --links "links-$name" \
      --image "oci:$dir:bench/app:1.0" --channel bench --sequence 1 --expires 30d >/dev/null
  fi
}

# measure LABEL CMD...: RUNS runs; T = median seconds, M = max RSS KiB.
measure() {
  local label=$1; shift
  local times=() mem=0
  for _ in $(seq "$RUNS"); do
    RUN=$((RUN + 1))
    pre_$label 2>/dev/null || true
    sync
    /usr/bin/time -f "%e %M" -o time.out "$@" >/dev/null 2>err.out || { cat err.out >&2; exit 1; }
    read -r t m < time.out
    times+=("$t"); [ "$m" -gt "$mem" ] && mem=$m
  done
  T=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  M=$mem
}
warm() { find "$@" -type f -exec cat {} + >/dev/null; }

RUN=0
rows=()
for mib in $SIZES; do
  name=img$mib
  gen_image "$name" "$mib"
  setup "$name" "$name"
  # skopeo: a fresh repository each run, and a fresh blob-info cache:
  # with its cache (/var/lib/containers/cache for root) skopeo knows the
  # blobs are in another repository of this registry and mounts them
  # there instead of uploading (a 2 GiB "copy" in 0.3 s), which airlock
  # does not do. _CONTAINERS_ROOTLESS_UID makes containers/image take its
  # cache from XDG_DATA_HOME.
  pre_sk() { warm "$name"; rm -rf "$W/skopeo-cache"; }
  measure sk env _CONTAINERS_ROOTLESS_UID=1 XDG_DATA_HOME="$W/skopeo-cache" \
    sh -c "skopeo copy -q --dest-tls-verify=false oci:$name:bench/app:1.0 docker://$HOST/sk\$(date +%s%N)/bench/app:1.0"
  sk_t=$T sk_m=$M
  # publish BUNDLE: a fresh store (so the import runs) and a fresh repository.
  pre_pb() {
    rm -rf store; "$A" anchor init --store store --root 1.root.json --channel bench >/dev/null
    warm "$name.airlock"
  }
  measure pb sh -c "'$A' publish -q '$name.airlock' --store store --registry $HOST/pb\$(date +%s%N) --insecure-plain-http 2>/dev/null"
  pb_t=$T pb_m=$M
  # publish DIR: the import of the last run again, into a fresh repository.
  # (beside it are ID.airlock-metadata/ and ID.receipt.dsse.json)
  dir=$(find store/imports -mindepth 1 -maxdepth 1 -type d ! -name '*.airlock-metadata' | head -1)
  pre_pd() { warm "$dir"; }
  measure pd sh -c "'$A' publish -q '$dir' --store store --registry $HOST/pd\$(date +%s%N) --insecure-plain-http 2>/dev/null"
  pd_t=$T pd_m=$M
  ratio() { awk "BEGIN{printf \"%.2f\", $1/$2}"; }
  rows+=("| $mib MiB | \`skopeo copy\` | $sk_t s | 1.00 | $((sk_m >> 10)) MiB |")
  rows+=("| $mib MiB | \`airlock publish BUNDLE\` (import + push) | $pb_t s | $(ratio "$pb_t" "$sk_t") | $((pb_m >> 10)) MiB |")
  rows+=("| $mib MiB | \`airlock publish DIR\` (re-hash + push) | $pd_t s | $(ratio "$pd_t" "$sk_t") | $((pd_m >> 10)) MiB |")
done

cat <<EOF
### publish against skopeo copy

Machine: $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB RAM; $(skopeo --version); docker-registry $(docker-registry --version 2>&1 | awk '{print $3}')
Command: scripts/bench-publish.sh (RUNS=$RUNS, SIZES="$SIZES", median wall time; plain HTTP on loopback)

| image | command | wall | ratio to skopeo | peak RSS |
|---|---|---|---|---|
EOF
printf '%s\n' "${rows[@]}"
