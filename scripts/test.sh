#!/usr/bin/env bash
# The one test command (README, CI): formatting, lints, every test, and a
# check that the tests left the tree clean. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# The hardware backends are tested against emulators: swtpm (TPM 2.0) and
# SoftHSM2 (PKCS#11), plus libtss2-dev to build the TPM backend and the
# command-line tools the tests cross-check with. The container tests use the
# CNCF registry (docker-registry), skopeo, openssl (a test CA) and htpasswd
# (apache2-utils). Install what is missing.
PACKAGES=(swtpm swtpm-tools tpm2-tools libtss2-dev pkg-config softhsm2 opensc
  docker-registry skopeo openssl apache2-utils)
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
    echo "warning: ${missing[*]} missing and not installable here: the hardware backend and registry tests will be SKIPPED" >&2
  fi
fi

# Everything the CI gate builds is built with the TPM backend enabled, as the
# documented release build is.
FEATURES=(--workspace --all-features)

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy "${FEATURES[@]}" --all-targets --locked -- -D warnings

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
