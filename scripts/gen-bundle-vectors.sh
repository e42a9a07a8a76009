#!/usr/bin/env bash
# Regenerates tests/vectors/bundle/: a small bundle packed from fixed inputs
# with fixed test keys and --source-date-epoch, and corrupted copies of it,
# each named for the exact error code airlock must report
# (fail_<code>[_<what>].airlock). tests/e2e/vectors.rs checks every verdict
# and that re-packing the inputs reproduces pass_minimal.airlock byte for
# byte (so the format cannot change by accident).
# Then tests/vectors/volumes/: pass_minimal.airlock split into two volumes
# (one directory per volume set), and damaged sets named for the exact error
# code (fail_<code>[_<what>]/); tests/e2e/vectors.rs checks their verdicts and
# that splitting the pass bundle again reproduces the pass set.
# Keys are regenerated only when missing; the test keys are public test data.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --locked
A=$PWD/target/debug/airlock
V=tests/vectors/bundle
mkdir -p "$V/keys" "$V/input/dist/bin" "$V/input/dist/doc" "$V/input/links"
cd "$V"

for k in root release owner builder; do
  [ -f "keys/$k.pem" ] || "$A" keygen --out "keys/$k" >/dev/null
done
printf '#!/bin/sh\necho airlock vector tool\n' > input/dist/bin/tool
chmod 755 input/dist/bin/tool
printf 'vectors for the airlock bundle format\n' > input/dist/doc/README.txt
chmod 644 input/dist/doc/README.txt
printf '%0500d\n' 0 > "input/dist/doc/$(printf 'long-name-%.0s' 1 2 3 4 5 6 7 8 9 10 11).txt"
# A one-step supply chain: `build` (key builder) produced input/dist/. The
# layout is written here and signed by the owner; Ed25519 signatures are
# deterministic, so the same keys give the same bytes.
rm -f input/links/*.link
python3 - <<'PY'
import base64, hashlib, json
pem = open("keys/builder.pub").read()
der = base64.b64decode("".join(l for l in pem.splitlines() if "-----" not in l))
key = {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": der[-32:].hex()}}
keyid = hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
layout = {"_type": "layout", "expires": "2099-01-01T00:00:00Z", "readme": "bundle vectors",
          "keys": {keyid: key}, "inspect": [],
          "steps": [{"_type": "step", "name": "build", "threshold": 1, "pubkeys": [keyid],
                     "expected_command": [], "expected_materials": [],
                     "expected_products": [["ALLOW", "*"]]}]}
open("input/root.layout", "w").write(json.dumps(layout, indent=2, sort_keys=True) + "\n")
PY
"$A" layout sign input/root.layout --key keys/owner.pem >/dev/null
"$A" record --name build --key keys/builder.pem --products input/dist \
  --lstrip-paths input/dist/ --out-dir input/links >/dev/null
if [ ! -f 1.root.json ]; then
  "$A" root init --out 1.root.json --root-key keys/root.pub --targets-key keys/release.pub --layout-key keys/owner.pub --expires 36500d >/dev/null
  "$A" root sign 1.root.json --key keys/root.pem >/dev/null
fi

# The pack command tests/e2e/vectors.rs repeats to check reproducibility.
rm -f ./*.airlock
"$A" pack --out pass_minimal.airlock --key keys/release.pem --root 1.root.json \
  --layout input/root.layout --layout-key keys/owner.pub --links input/links \
  --artifacts input/dist --channel vectors --sequence 1 --expires 36500d \
  --source-date-epoch 1794694400 >/dev/null

python3 - <<'PY'
import re
good = open("pass_minimal.airlock", "rb").read()
def put(name, data):
    open(name, "wb").write(data)
def flip(pos, mask=0x01):
    b = bytearray(good); b[pos] ^= mask; return bytes(b)
def find(needle):
    i = good.find(needle); assert i >= 0, needle; return i
# Frame H is raw blocks: its structure can be found by plain search.
sig_hdr = find(b"airlock/signatures.cbor")
sig_data = sig_hdr + 512
manifest_data = find(b"airlock/manifest.cbor") + 512
head_len = good.find(b"\x28\xb5\x2f\xfd", 6)  # frame P's magic
assert head_len > 0
put("fail_trailing-data.airlock", good + b"\x00")
put("fail_bundle-truncated.airlock", good[:head_len + (len(good) - head_len) // 2])
put("fail_head-frame_window.airlock", flip(5))
put("fail_bundle-compression_payload-byte.airlock", flip(head_len + (len(good) - head_len) // 2))
put("fail_payload-digest-mismatch_window.airlock", flip(head_len + 5, 0x08))
# "sig" text key then a 64-byte byte string (0x58 0x40): flip inside the value.
sig_at = good.find(b"\x63sig\x58\x40", sig_data) + 6
put("fail_signature-invalid.airlock", flip(sig_at + 10))
def edit_header(hdr, field, value):
    """Edits a tar header field and fixes the checksum, as a deliberate
    forger would (a plain flip is caught by the checksum already)."""
    b = bytearray(good)
    b[hdr + field:hdr + field + len(value)] = value
    h = b[hdr:hdr + 512]
    total = sum(h[:148]) + 8 * 32 + sum(h[156:])
    b[hdr + 148:hdr + 155] = b"%07o" % total
    return bytes(b)
put("fail_tar-header-mismatch_mtime.airlock", edit_header(sig_hdr, 136, b"7"))
# The manifest's CBOR. A flipped byte of the channel name no longer matches
# the manifest's bundle_id; a forger who also recomputes the bundle_id is
# stopped by the signature.
ch = good.find(b"vectors", manifest_data)
put("fail_bundle-id-mismatch_channel.airlock", flip(ch))
import hashlib
mlen = int(good[manifest_data - 512 + 124:manifest_data - 512 + 136].rstrip(b"\0 ").decode(), 8)
manifest = bytearray(good[manifest_data:manifest_data + mlen])
manifest[manifest.find(b"vectors")] ^= 0x01
idpos = manifest.find(b"\x69bundle_id\x78\x20") + 12
blank = bytes(manifest[:idpos - 2]) + b"\x60" + bytes(manifest[idpos + 32:])
manifest[idpos:idpos + 32] = hashlib.sha256(blank).hexdigest()[:32].encode()
forged = bytearray(good)
forged[manifest_data:manifest_data + mlen] = manifest
put("fail_signature-invalid_manifest-edited.airlock", bytes(forged))
PY
cat > README.md <<'README'
Bundle-format vectors made by `scripts/gen-bundle-vectors.sh` with airlock itself (fixed test keys in `keys/`, inputs in `input/`, `--source-date-epoch 1794694400`): `pass_*` must verify against a store anchored to `1.root.json`; `fail_<code>[_<what>].airlock` must be refused with exit 1 and exactly that error code. The keys are public test data.
README
echo "vectors written to $V"

# ---- split volumes (bundle-format/SPEC.md section 11) ----------------------
W=$PWD/../volumes
rm -rf "$W" && mkdir -p "$W/pass_two_volumes"
# 11600 bytes: the first volume holds the head frame, the second the rest.
"$A" split pass_minimal.airlock --size 11600 --key keys/release.pem \
  --out "$W/pass_two_volumes/minimal.airlock" >/dev/null
cd "$W"
python3 - <<'PY'
import os, shutil
P = "pass_two_volumes/minimal.airlock"
one, two = open(P + ".001", "rb").read(), open(P + ".002", "rb").read()
hl = int.from_bytes(one[16:20], "big")
def put(case, files):
    os.makedirs(case)
    for n, data in files.items():
        open(f"{case}/minimal.airlock.{n:03}", "wb").write(data)
def flip(b, pos, mask=0x01):
    b = bytearray(b); b[pos] ^= mask; return bytes(b)
put("fail_volume-missing", {1: one})
put("fail_volume-extra", {1: one, 2: two, 3: two})
put("fail_volume-out-of-order_first-twice", {1: one, 2: one})
put("fail_volume-truncated", {1: one, 2: two[:-10]})
put("fail_volume-corrupt_slice", {1: one, 2: flip(two, hl + len(two[hl:]) // 2)})
put("fail_volume-corrupt_header", {1: one, 2: flip(two, 40)})
put("fail_volume-corrupt_appended", {1: one, 2: two + b"\0"})
# A byte of the index signature, in every volume alike.
i = one.find(b"\x63sig\x58\x40", 28) + 6 + 10
put("fail_signature-invalid_index-signature", {1: flip(one, i), 2: flip(two, i)})
PY
cat > README.md <<'README'
Split-volume vectors made by `scripts/gen-bundle-vectors.sh` with airlock itself: `pass_two_volumes/` is `../bundle/pass_minimal.airlock` split with `airlock split --size 11600 --key ../bundle/keys/release.pem`; every `fail_<code>[_<what>]/` is a damaged copy of it. Verifying `DIR/minimal.airlock.001` against a store anchored to `../bundle/1.root.json` must accept `pass_*` and refuse each `fail_*` with exit 1 and exactly that error code.
README
echo "vectors written to tests/vectors/volumes"
