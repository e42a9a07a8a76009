#!/usr/bin/env bash
# The one test command (README, CI): formatting, lints, every test, and a
# check that the tests left the tree clean. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

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
