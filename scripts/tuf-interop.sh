#!/usr/bin/env bash
# Shows that roots made by `airlock root init/rotate/sign` load and rotate in
# the reference TUF client (python-tuf, from PyPI), and back:
#   1. airlock makes a chain 1 -> 2 -> 3 (Ed25519, ECDSA P-256 and RSA root
#      keys; a root key replaced, then the targets key replaced);
#      `airlock root verify` and python-tuf's TrustedMetadataSet accept it,
#      and python-tuf's Updater refreshes through it against a local
#      repository whose timestamp/snapshot/targets the final targets key
#      signed, and fetches a target;
#   2. python-tuf's Metadata API writes version 4 from airlock's version 3;
#      `airlock root verify` accepts the chain to 4;
#   3. both refuse a rotation signed by the new keys only, and a root edited
#      after signing.
# Output: tests/vectors/tuf/interop-output.txt (kept with the vectors).
# Needs network access to PyPI the first time (venv in target/tuf-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/target/tuf-venv}
TUF_VERSION=${TUF_VERSION:-7.0.1}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "tuf==$TUF_VERSION" securesystemslib==1.6.0 cryptography
fi
cargo build -q --locked
A=$ROOT/target/debug/airlock
PY=("$VENV/bin/python" "$ROOT/scripts/lib/tuf_interop.py")
OUT=$ROOT/tests/vectors/tuf/interop-output.txt
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
exec > >(tee "$OUT") 2>&1

ref=$("$VENV/bin/python" -c 'import importlib.metadata as m; print("tuf", m.version("tuf"), "/ securesystemslib", m.version("securesystemslib"))')
echo "# airlock <-> python-tuf interoperability ($(date -u +%Y-%m-%d), $("$A" --version), $ref)"

check() { # $1 = expected exit, $2 = label, rest = command
  local want=$1 label=$2; shift 2
  set +e; "$@" >cmd.log 2>&1; local got=$?; set -e
  if [ "$got" = "$want" ]; then echo "ok    $label (exit $got)"; else
    echo "FAIL  $label: exit $got, expected $want"; cat cmd.log; exit 1; fi
  grep -v -e '^hint:' -e '^warning:' -e '^[[:space:]]*$' cmd.log | tail -n 1 | sed 's/^/      /'
}
quiet() { "$@" >/dev/null; }

mkdir keys chain
quiet "$A" keygen --out keys/root-a
quiet "$A" keygen --out keys/root-b --type ecdsa-p256
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out keys/root-c.pem 2>/dev/null
openssl pkey -in keys/root-c.pem -pubout -out keys/root-c.pub
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out keys/root-d.pem 2>/dev/null
openssl pkey -in keys/root-d.pem -pubout -out keys/root-d.pub
quiet "$A" keygen --out keys/release-1
quiet "$A" keygen --out keys/release-2 --type ecdsa-p256

echo
echo "## 1. airlock makes the chain; airlock and python-tuf accept it"
cd chain
quiet "$A" root init --out 1.root.json --root-key ../keys/root-a.pub ../keys/root-b.pub \
  --root-threshold 2 --targets-key ../keys/release-1.pub --expires 365d
quiet "$A" root sign 1.root.json --key ../keys/root-a.pem ../keys/root-b.pem
echo "      1.root.json: root keys a (Ed25519), b (P-256), 2 of 2; targets release-1"
quiet "$A" root rotate --from 1.root.json --out 2.root.json \
  --add-root-key ../keys/root-c.pub --remove-root-key ../keys/root-a.pub
quiet "$A" root sign 2.root.json --key ../keys/root-a.pem ../keys/root-b.pem ../keys/root-c.pem
echo "      2.root.json: a replaced by c (RSA 3072), signed by a, b (version 1) and b, c (its own)"
quiet "$A" root rotate --from 2.root.json --out 3.root.json --targets-key ../keys/release-2.pub
quiet "$A" root sign 3.root.json --key ../keys/root-b.pem ../keys/root-c.pem
echo "      3.root.json: targets (and snapshot, timestamp) key release-1 replaced by release-2 (P-256)"
check 0 "airlock root verify accepts airlock's chain" \
  "$A" root verify --trusted 1.root.json 2.root.json 3.root.json
check 0 "python-tuf TrustedMetadataSet accepts airlock's chain" \
  "${PY[@]}" load 1.root.json 2.root.json 3.root.json
check 0 "python-tuf Updater refreshes through airlock's chain" \
  "${PY[@]}" updater . ../keys/release-2.pem

echo
echo "## 2. python-tuf writes version 4; airlock accepts it"
"${PY[@]}" rotate 3.root.json 4.root.json ../keys/root-d.pub \
  ../keys/root-b.pem ../keys/root-c.pem ../keys/root-d.pem | sed 's/^/      /'
check 0 "airlock root verify accepts python-tuf's version 4" \
  "$A" root verify --trusted 1.root.json 2.root.json 3.root.json 4.root.json
check 0 "python-tuf accepts it too" \
  "${PY[@]}" load 1.root.json 2.root.json 3.root.json 4.root.json
check 0 "airlock root sign counts python-tuf's signatures (nothing missing)" \
  "$A" root sign 4.root.json --key ../keys/root-d.pem

echo
echo "## 3. both refuse what they must"
mkdir ../bad && cp 1.root.json ../bad/ && cd ../bad
quiet "$A" root rotate --from 1.root.json --out 2.root.json \
  --add-root-key ../keys/root-c.pub --remove-root-key ../keys/root-a.pub ../keys/root-b.pub \
  --root-threshold 1
quiet "$A" root sign 2.root.json --previous 1.root.json --key ../keys/root-c.pem
echo "      2.root.json: a and b replaced by c, signed by c only (not by version 1's keys)"
check 1 "airlock refuses the rotation signed by the new key only" \
  "$A" root verify --trusted 1.root.json 2.root.json
check 1 "python-tuf refuses it too" "${PY[@]}" load 1.root.json 2.root.json
cp ../chain/2.root.json 2.root.json
sed -i 's/"threshold": 2/"threshold": 1/' 2.root.json
echo "      2.root.json: the good version 2 with its root threshold edited from 2 to 1"
check 1 "airlock refuses the edited root" "$A" root verify --trusted 1.root.json 2.root.json
check 1 "python-tuf refuses it too" "${PY[@]}" load 1.root.json 2.root.json
echo
echo "all interoperability checks passed"
