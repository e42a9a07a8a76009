#!/usr/bin/env bash
# Shows that airlock and the reference in-toto (3.1.0, from PyPI) accept each
# other's metadata, both encodings, Ed25519 and ECDSA P-256 keys:
#   1. layout signed by `airlock layout sign`, links by `airlock record`
#      -> verified by the reference `in-toto-verify`;
#   2. layout signed by `in-toto-sign`, links by `in-toto-run`
#      -> verified by `airlock intoto verify`.
# Each direction also checks that a tampered product is refused by both.
# Output: tests/vectors/intoto/interop-output.txt (kept with the vectors).
# Needs network access to PyPI the first time (venv in target/intoto-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/target/intoto-venv}
if [ ! -x "$VENV/bin/in-toto-verify" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q in-toto==3.1.0 securesystemslib==1.6.0
fi
cargo build -q --locked
A=$ROOT/target/debug/airlock
OUT=$ROOT/tests/vectors/intoto/interop-output.txt
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
exec > >(tee "$OUT") 2>&1

echo "# airlock <-> in-toto 3.1.0 interoperability ($(date -u +%Y-%m-%d), $("$A" --version))"
"$A" keygen --out owner >/dev/null
"$A" keygen --out alice --type ecdsa-p256 >/dev/null
"$A" keygen --out bob >/dev/null

layout() { # $1 = output file: a two-step layout naming alice (build) and bob (package)
  "$VENV/bin/python" - "$1" "$2" <<'PY'
import json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.signer import SSlibKey
keys = {n: SSlibKey.from_crypto(load_pem_public_key(open(f"{n}.pub", "rb").read()))
        for n in ("alice", "bob")}
m = lambda *r: list(r)
layout = {"_type": "layout", "expires": "2099-01-01T00:00:00Z", "readme": "interop",
  # in-toto 3.1.0 wants the keyid inside each key object too (it is not
  # part of what the keyid hashes; airlock tolerates it).
  "keys": {k.keyid: {**k.to_dict(), "keyid": k.keyid} for k in keys.values()},
  "steps": [
    {"_type": "step", "name": "build", "threshold": 1, "pubkeys": [keys["alice"].keyid],
     "expected_command": ["sh", "-c", "mkdir -p dist && cp src/* dist/"],
     "expected_materials": [m("ALLOW", "src/*"), m("DISALLOW", "*")],
     "expected_products": [m("CREATE", "dist/*"), m("ALLOW", "src/*"), m("DISALLOW", "*")]},
    {"_type": "step", "name": "package", "threshold": 1, "pubkeys": [keys["bob"].keyid],
     "expected_command": [],
     "expected_materials": [m("MATCH", "*", "WITH", "PRODUCTS", "IN", "dist", "FROM", "build"), m("DISALLOW", "*")],
     "expected_products": [m("MATCH", "*", "WITH", "PRODUCTS", "IN", "dist", "FROM", "build"), m("DISALLOW", "*")]}],
  "inspect": []}
if sys.argv[2] == "metablock":  # in-toto-sign signs Metablocks only
    layout = {"signatures": [], "signed": layout}
open(sys.argv[1], "w").write(json.dumps(layout, indent=1, sort_keys=True))
PY
}

check() { # $1 = expected exit, $2 = label, rest = command
  local want=$1 label=$2; shift 2
  set +e; "$@" >cmd.log 2>&1; local got=$?; set -e
  if [ "$got" = "$want" ]; then echo "ok    $label (exit $got)"; else
    echo "FAIL  $label: exit $got, expected $want"; cat cmd.log; exit 1; fi
  [ "$want" = 0 ] || echo "      $(grep -v -e '^hint:' -e '^[[:space:]]*$' cmd.log | tail -n 1)"
}

for enc in metablock dsse; do
  flag=(); pyflag=(); [ $enc = dsse ] && flag=(--dsse) && pyflag=(--use-dsse)
  echo
  echo "## $enc: airlock signs and records, the reference verifies"
  rm -rf src dist links && mkdir -p src links && echo 'int main(void){return 0;}' > src/main.c
  layout root.layout bare; "$A" layout sign root.layout --key owner.pem "${flag[@]}" >/dev/null
  "$A" record --name build --key alice.pem --materials src --products src dist "${flag[@]}" \
    --out-dir links -- sh -c 'mkdir -p dist && cp src/* dist/' >/dev/null
  "$A" record --name package --key bob.pem --materials dist --products dist \
    --lstrip-paths dist/ "${flag[@]}" --out-dir links >/dev/null
  check 0 "in-toto-verify accepts airlock's layout and links" \
    "$VENV/bin/in-toto-verify" --layout root.layout --verification-keys owner.pub --link-dir links
  echo tampered > dist/main.c
  "$A" record --name package --key bob.pem --materials dist --products dist \
    --lstrip-paths dist/ "${flag[@]}" --out-dir links >/dev/null
  check 1 "in-toto-verify refuses airlock's chain with a product changed between steps" \
    "$VENV/bin/in-toto-verify" --layout root.layout --verification-keys owner.pub --link-dir links

  echo
  echo "## $enc: the reference signs and records, airlock verifies"
  rm -rf src dist links && mkdir -p src links && echo 'int main(void){return 0;}' > src/main.c
  layout root.layout metablock; "$VENV/bin/in-toto-sign" -f root.layout -k owner.pem -o root.layout
  "$VENV/bin/in-toto-run" -n build --signing-key alice.pem -m src -p src dist \
    --metadata-directory links "${pyflag[@]}" -- sh -c 'mkdir -p dist && cp src/* dist/'
  "$VENV/bin/in-toto-run" -n package --signing-key bob.pem -m dist -p dist --lstrip-paths dist/ \
    --metadata-directory links "${pyflag[@]}" --no-command
  check 0 "airlock intoto verify accepts the reference's layout and links" \
    "$A" intoto verify --layout root.layout --layout-key owner.pub --link-dir links
  echo tampered > dist/main.c
  "$VENV/bin/in-toto-run" -n package --signing-key bob.pem -m dist -p dist --lstrip-paths dist/ \
    --metadata-directory links "${pyflag[@]}" --no-command
  check 1 "airlock refuses the reference's chain with a product changed between steps" \
    "$A" intoto verify --layout root.layout --layout-key owner.pub --link-dir links
done
echo
echo "all interoperability checks passed"
