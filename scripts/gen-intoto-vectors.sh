#!/usr/bin/env bash
# Regenerates tests/vectors/intoto/: in-toto verification test vectors made
# and judged by the REFERENCE implementation (in-toto 3.1.0 and
# securesystemslib 1.6.0 from PyPI, installed into a private venv).
#
# Every case directory holds a signed root.layout, the layout verification
# keys (keys/*.pub), the links recorded for real with in-toto-run (links/),
# optionally the files under verification (artifacts/), and expected.json with
# the verdict of the reference in-toto-verify. The case name states the
# verdict (pass_*, fail_<code>_*, stricter_fail_<code>_*); generation aborts
# if the reference disagrees with a name. attestations/ holds DSSE envelopes of
# in-toto Statements v1. See tests/vectors/intoto/README.md (generated).
#
# Run:   bash scripts/gen-intoto-vectors.sh
# Env:   VENV=path   venv to create/reuse (default target/intoto-venv)
#        PYTHON=cmd  python used to create the venv (default python3.11, else python3)
# Needs: python3.11 with venv, openssl, GNU tar, gzip, xz, zstd, sha256sum;
#        PyPI reachable on first run.
# The shared private test keys (tests/vectors/intoto/keys/*.test-only.pem) are
# made with openssl only when missing, so re-running reuses the committed keys;
# everything else under tests/vectors/intoto/ is wiped and regenerated.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-target/intoto-venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
OUT=tests/vectors/intoto
KEYS=$OUT/keys

for tool in openssl tar gzip xz zstd sha256sum; do
  command -v "$tool" >/dev/null || { echo "error: $tool is required" >&2; exit 1; }
done

# 1. The reference implementation, pinned.
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  in-toto==3.1.0 securesystemslib==1.6.0 cryptography in-toto-attestation==0.9.3
"$VENV/bin/python" - <<'PY'
import importlib.metadata as m
assert m.version("in-toto") == "3.1.0", m.version("in-toto")
assert m.version("securesystemslib") == "1.6.0", m.version("securesystemslib")
PY

# 2. Shared test keys (public test data; never use them for anything real).
mkdir -p "$KEYS"
genkey() { # name, openssl genpkey arguments...
  local name=$1; shift
  if [ ! -f "$KEYS/$name.test-only.pem" ]; then
    openssl genpkey "$@" -out "$KEYS/$name.test-only.pem" 2>/dev/null
  fi
  openssl pkey -in "$KEYS/$name.test-only.pem" -pubout -out "$KEYS/$name.pub"
}
ED=(-algorithm ed25519)
P256=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256)
P384=(-algorithm EC -pkeyopt ec_paramgen_curve:P-384)
RSA=(-algorithm RSA -pkeyopt rsa_keygen_bits:3072)
# layout owners
genkey owner-ed25519 "${ED[@]}"
genkey owner2-ed25519 "${ED[@]}"
genkey owner-rsa3072 "${RSA[@]}"
genkey owner-p256 "${P256[@]}"
genkey owner-p384 "${P384[@]}"
# functionaries (mallory is never authorized by any layout)
genkey alice-ed25519 "${ED[@]}"
genkey bob-ed25519 "${ED[@]}"
genkey carol-ed25519 "${ED[@]}"
genkey mallory-ed25519 "${ED[@]}"
genkey func-rsa3072 "${RSA[@]}"
genkey func-p256 "${P256[@]}"
genkey func-p384 "${P384[@]}"
# attestation signers
genkey attest-ed25519 "${ED[@]}"
genkey attest-p256 "${P256[@]}"

# 3. Wipe everything but the keys, then make and judge every case.
find "$OUT" -mindepth 1 -maxdepth 1 ! -name keys -exec rm -rf {} +
LC_ALL=C.UTF-8 "$VENV/bin/python" scripts/lib/intoto_vectors.py \
  --root "$ROOT" --bin "$VENV/bin" --out "$OUT"
echo "tests/vectors/intoto: $(find "$OUT" -type f | wc -l) files, $(find "$OUT" -type f -printf "%s\n" | awk "{s+=\$1} END {print s}") bytes"
