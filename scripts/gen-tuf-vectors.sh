#!/usr/bin/env bash
# Regenerates tests/vectors/tuf/: TUF root-chain test vectors made and judged
# by the REFERENCE implementation (python-tuf and securesystemslib from PyPI,
# installed into a private venv).
#
# Every case directory holds a chain of roots (1.root.json is the trusted
# one) written with python-tuf's Metadata API, and expected.json with the
# verdict python-tuf's TrustedMetadataSet gives at a fixed reference time.
# The case name states the verdict (pass_*, fail_<code>_*,
# stricter_fail_<code>_*); generation aborts if python-tuf disagrees with a
# name. See tests/vectors/tuf/README.md (generated).
#
# Run:   bash scripts/gen-tuf-vectors.sh
# Env:   VENV=path         venv to create/reuse (default target/tuf-venv)
#        PYTHON=cmd        python used to create the venv (default python3.11, else python3)
#        TUF_VERSION=x.y.z python-tuf to judge with (default 7.0.1, the latest;
#                          6.0.0, the latest 6.x, gives the same verdicts)
# Needs: python3 (3.10+) with venv, openssl; PyPI reachable on first run.
# The shared private test keys (tests/vectors/tuf/keys/*.test-only.pem) are
# made with openssl only when missing, so re-running reuses the committed
# keys; everything else under tests/vectors/tuf/ is wiped and regenerated.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-target/tuf-venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
TUF_VERSION=${TUF_VERSION:-7.0.1}
OUT=tests/vectors/tuf
KEYS=$OUT/keys

command -v openssl >/dev/null || { echo "error: openssl is required" >&2; exit 1; }

# 1. The reference implementation, pinned.
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  "tuf==$TUF_VERSION" securesystemslib==1.6.0 cryptography
"$VENV/bin/python" - "$TUF_VERSION" <<'PY'
import importlib.metadata as m, sys
assert m.version("tuf") == sys.argv[1], m.version("tuf")
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
for i in 1 2 3 4 5 6; do genkey "root$i-ed25519" -algorithm ed25519; done
genkey root-rsa3072 -algorithm RSA -pkeyopt rsa_keygen_bits:3072
genkey root-p256 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
genkey root-p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
genkey root-p521 -algorithm EC -pkeyopt ec_paramgen_curve:P-521
genkey online-ed25519 -algorithm ed25519
genkey mallory-ed25519 -algorithm ed25519

# 3. Wipe everything but the keys, then make and judge every case.
find "$OUT" -mindepth 1 -maxdepth 1 ! -name keys -exec rm -rf {} +
LC_ALL=C.UTF-8 "$VENV/bin/python" scripts/lib/tuf_vectors.py --out "$OUT"
echo "tests/vectors/tuf: $(find "$OUT" -type f | wc -l) files, $(find "$OUT" -type f -printf "%s\n" | awk "{s+=\$1} END {print s}") bytes"
