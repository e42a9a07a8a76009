#!/usr/bin/env bash
# The one test command (README, CI): formatting, lints, every test, and a
# check that the tests left the tree clean. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# The hardware backends are tested against emulators: swtpm (TPM 2.0) and
# SoftHSM2 (PKCS#11), plus libtss2-dev to build the TPM backend and the
# command-line tools the tests cross-check with. The monitoring tests
# (tests/e2e/monitoring.rs) need Prometheus (promtool), Chromium and rsyslog;
# the container tests the CNCF registry (docker-registry), skopeo, openssl (a
# test CA) and htpasswd (apache2-utils). The guides' blocks (tests/e2e/runbooks.rs)
# also run jq, make, xorriso and genisoimage. Install what is missing.
PACKAGES=(swtpm swtpm-tools tpm2-tools libtss2-dev pkg-config softhsm2 opensc prometheus chromium rsyslog
  docker-registry skopeo openssl apache2-utils jq make xorriso genisoimage)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]}"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif [ "${CI:-}" = true ]; then
    echo "error: CI needs ${missing[*]} and cannot install them (not root, or no apt-get)" >&2
    exit 1
  else
    echo "warning: ${missing[*]} missing and not installable here: the hardware backend, monitoring and registry tests that need them will be SKIPPED" >&2
  fi
fi

# The independent bundle writer (scripts/spec-writer.py, tests/e2e/spec_writer.rs)
# runs on Python with zstandard 0.25.0 (libzstd 1.5.7, the compressor SPEC.md
# 9.2 names) and cryptography, from PyPI into a private venv.
SPEC_VENV=target/spec-writer-venv
if [ ! -x "$SPEC_VENV/bin/python" ] || ! "$SPEC_VENV/bin/python" -c 'import zstandard, cryptography' 2>/dev/null; then
  step "installing the spec writer's Python packages into $SPEC_VENV"
  if ! { python3 -m venv "$SPEC_VENV" && "$SPEC_VENV/bin/pip" install -q --disable-pip-version-check \
         "zstandard==0.25.0" "cryptography>=43"; }; then
    if [ "${CI:-}" = true ]; then
      echo "error: CI needs python3-venv and PyPI for the spec writer test" >&2
      exit 1
    fi
    echo "warning: the spec writer's packages could not be installed: its test will be SKIPPED" >&2
  fi
fi
export AIRLOCK_SPEC_WRITER_PYTHON="$PWD/$SPEC_VENV/bin/python"

# Receipts (docs/policy.md) are checked with securesystemslib's DSSE verifier
# (tests/e2e/gate.rs), from PyPI into a private venv.
DSSE_VENV=target/dsse-venv
if [ ! -x "$DSSE_VENV/bin/python" ] || ! "$DSSE_VENV/bin/python" -c 'import securesystemslib.dsse, cryptography' 2>/dev/null; then
  step "installing securesystemslib into $DSSE_VENV"
  if ! { python3 -m venv "$DSSE_VENV" && "$DSSE_VENV/bin/pip" install -q --disable-pip-version-check \
         "securesystemslib[crypto]==1.6.0"; }; then
    if [ "${CI:-}" = true ]; then
      echo "error: CI needs python3-venv and PyPI for the receipt test" >&2
      exit 1
    fi
    echo "warning: securesystemslib could not be installed: the receipt's DSSE check will be SKIPPED" >&2
  fi
fi
export AIRLOCK_DSSE_PYTHON="$PWD/$DSSE_VENV/bin/python"

# Token keys of every common type are checked against python-tuf and in-toto
# (tests/e2e/token_interop.rs), from PyPI into a private venv.
INTEROP_VENV=target/interop-venv
if [ ! -x "$INTEROP_VENV/bin/in-toto-verify" ] || ! "$INTEROP_VENV/bin/python" -c 'import tuf, in_toto, securesystemslib, cryptography' 2>/dev/null; then
  step "installing python-tuf and in-toto into $INTEROP_VENV"
  if ! { python3 -m venv "$INTEROP_VENV" && "$INTEROP_VENV/bin/pip" install -q --disable-pip-version-check \
         "tuf==7.0.1" "securesystemslib[crypto]==1.6.0" "in-toto==3.1.0"; }; then
    if [ "${CI:-}" = true ]; then
      echo "error: CI needs python3-venv and PyPI for the token interop test" >&2
      exit 1
    fi
    echo "warning: python-tuf and in-toto could not be installed: the token interop test will be SKIPPED" >&2
  fi
fi
export AIRLOCK_INTEROP_PYTHON="$PWD/$INTEROP_VENV/bin/python"

# Everything the CI gate builds is built with the TPM backend enabled, as the
# documented release build is.
FEATURES=(--workspace --all-features)

step "cargo fmt --check"
cargo fmt --all -- --check

# Layers point one way (issue 14): no import cycle other than a parent module
# and its own children, and nothing below the command line uses clap,
# indicatif or stderr. Per crate.
step "import graph"
python3 scripts/import-graph.py src
python3 scripts/import-graph.py bundle-format/src
python3 scripts/import-graph.py hsm/src

step "cargo clippy -D warnings"
cargo clippy "${FEATURES[@]}" --all-targets --locked -- -D warnings
# The demo's build (README: `cargo run --release -- demo`) has no `tpm`
# feature: it must build without a warning too, and so must the tests
# (`cargo test` without `test-hooks` leaves the crash-point tests out).
step "cargo clippy -D warnings, default features (the demo's build, the tests without test-hooks)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test "${FEATURES[@]}" --locked

step "tests left the tree clean"
git diff --exit-code
if [ -n "$(git status --porcelain --untracked-files=normal)" ]; then
  git status --porcelain
  echo "error: the tests left untracked files behind" >&2
  exit 1
fi
echo "all checks passed"
