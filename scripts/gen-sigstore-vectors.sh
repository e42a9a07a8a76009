#!/usr/bin/env bash
# Regenerates tests/vectors/sigstore/: real Sigstore bundles and the artifacts
# they sign, taken from PyPI (the test assets of the pypi-attestations sdist,
# and the production and staging trusted_root.json shipped in the sigstore
# sdist), plus copies altered in one place each; every case's verdict is the
# one `sigstore verify identity --offline` (sigstore-python, pinned below)
# gives with a client trust configuration made of that very trusted root.
# The airlock code each failing case must be refused with is recorded next to
# the reference's verdict (tests/e2e/sigstore.rs asserts both).
#
# Needs python3 (with venv) and PyPI; nothing else is fetched.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=tests/vectors/sigstore
SIGSTORE_VERSION=4.5.1
PA_VERSION=0.0.31
WORK=$(mktemp -d /tmp/gen-sigstore-vectors-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q "sigstore==$SIGSTORE_VERSION" "pypi-attestations==$PA_VERSION"
"$WORK/venv/bin/pip" download -q --no-deps --no-binary sigstore,pypi-attestations \
  "sigstore==$SIGSTORE_VERSION" "pypi-attestations==$PA_VERSION" -d "$WORK/sdist"
tar xzf "$WORK/sdist/sigstore-$SIGSTORE_VERSION.tar.gz" -C "$WORK"
tar xzf "$WORK/sdist/pypi_attestations-$PA_VERSION.tar.gz" -C "$WORK"

rm -rf "$OUT"
mkdir -p "$OUT"
"$WORK/venv/bin/python" scripts/lib/sigstore_vectors.py \
  "$WORK/sigstore-$SIGSTORE_VERSION/sigstore/_store" \
  "$WORK/pypi_attestations-$PA_VERSION/test/assets" \
  "$OUT" "$WORK/venv/bin/sigstore" "$SIGSTORE_VERSION" "$PA_VERSION"
echo "wrote $OUT"
