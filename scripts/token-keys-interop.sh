#!/usr/bin/env bash
# Shows that token keys airlock did not make are first-class: ECDSA P-384 and
# RSA-3072 key pairs generated on a SoftHSM2 token by OpenSC's pkcs11-tool,
# named by id= alone, by object= and by both, sign with airlock
#   - a root (P-384 root key)     -> python-tuf (TrustedMetadataSet) accepts it,
#   - a layout (RSA-3072, PSS) and a link (P-384)
#                                  -> in-toto-verify accepts them, and refuses
#                                     a tampered link,
#   - a bundle (RSA-3072 targets key) -> airlock verify and unpack accept it;
# and that a root whose root key is listed under rsa-pkcs1v15-sha256 (signed
# with PKCS#1 v1.5 by pyca/cryptography, as cloud KMS signers do) is accepted
# by python-tuf and by `airlock anchor init`; and that a root airlock signs
# with a token RSA key named rsa-pkcs1v15-sha256:pkcs11:… is accepted by
# python-tuf. tests/e2e/token_interop.rs checks the same (and more) on
# every test run.
# Key objects for the layout come from `airlock key show URI --json` (in-toto
# 3.1.0 also wants the keyid inside each key object).
# Needs softhsm2, opensc, openssl, and PyPI the first time (venv in
# target/token-interop-venv). Prints its findings; exits non-zero on any
# disagreement.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/target/token-interop-venv}
if [ ! -x "$VENV/bin/in-toto-verify" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q tuf==7.0.1 securesystemslib==1.6.0 in-toto==3.1.0 cryptography
fi
cargo build -q --locked
A=$ROOT/target/debug/airlock
PY=$VENV/bin/python
MOD=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
mkdir tokens keys links dist
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$W" > softhsm2.conf
export SOFTHSM2_CONF=$W/softhsm2.conf
softhsm2-util --init-token --free --label interop --pin 1234 --so-pin 5678 >/dev/null
printf '1234\n' > pin
tool() { pkcs11-tool --module "$MOD" --token-label interop --login --pin 1234 "$@" >/dev/null 2>&1; }
tool --keypairgen --key-type EC:secp384r1 --label root --id 01 --usage-sign
tool --keypairgen --key-type rsa:3072 --label release --id 02 --usage-sign
tool --keypairgen --key-type EC:secp384r1 --label builder --id 03 --usage-sign
tool --keypairgen --key-type rsa:3072 --label owner --id 04 --usage-sign
uri() { echo "pkcs11:token=interop;$1?module-path=$MOD&pin-source=file:$W/pin"; }
declare -A URI=([root]=$(uri id=%01) [release]=$(uri object=release)
  [builder]=$(uri 'object=builder;id=%03') [owner]=$(uri object=owner))
echo "# airlock token keys <-> python-tuf $("$PY" -c 'import importlib.metadata as m; print(m.version("tuf"))'), in-toto $("$PY" -c 'import importlib.metadata as m; print(m.version("in-toto"))') ($("$A" --version | head -n 1))"
for name in root release builder owner; do
  "$A" key show "${URI[$name]}" --json > "keys/$name.json"
  "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"]["keyval"]["public"], end="")' \
    "keys/$name.json" > "keys/$name.pub"
  echo "key $name: $("$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["key"]["scheme"], j["keyid"])' "keys/$name.json")"
done
echo 'app 1.0' > dist/app
"$A" root init --layout-key keys/owner.pub --out 1.root.json --root-key keys/root.pub \
  --targets-key keys/release.pub --expires 3650d >/dev/null
"$A" root sign 1.root.json --key "${URI[root]}" >/dev/null
"$PY" - <<'PY'
import json
b = json.load(open("keys/builder.json"))
layout = {"_type": "layout", "expires": "2099-01-01T00:00:00Z", "readme": "token keys",
  "keys": {b["keyid"]: {**b["key"], "keyid": b["keyid"]}},
  "steps": [{"_type": "step", "name": "build", "threshold": 1, "pubkeys": [b["keyid"]],
             "expected_command": [], "expected_materials": [],
             "expected_products": [["ALLOW", "*"]]}],
  "inspect": []}
json.dump(layout, open("root.layout", "w"), indent=1)
PY
"$A" layout sign root.layout --key "${URI[owner]}" >/dev/null
"$A" record --name build --key "${URI[builder]}" --products dist --lstrip-paths dist/ --out-dir links >/dev/null
"$A" anchor init --channel default --store store --root 1.root.json >/dev/null
"$A" pack --out rel.airlock --root 1.root.json --layout root.layout --layout-key keys/owner.pub \
  --links links --artifacts dist --key "${URI[release]}" --expires 36500d >/dev/null 2>&1
"$A" verify rel.airlock --store store >/dev/null
"$A" unpack rel.airlock --store store --to out >/dev/null
echo "ok    airlock verifies and unpacks the bundle signed by the RSA-3072 token key"
"$PY" "$ROOT/scripts/lib/tuf_interop.py" load 1.root.json
(cd dist && "$VENV/bin/in-toto-verify" --layout ../root.layout --verification-keys ../keys/owner.pub \
  --link-dir ../links >/dev/null) && echo "ok    in-toto-verify accepts the layout (RSA-3072 token key) and the link (P-384 token key)"
cp -r links links.bad
sed -i 's/"app"/"app2"/' links.bad/*.link
if (cd dist && "$VENV/bin/in-toto-verify" --layout ../root.layout --verification-keys ../keys/owner.pub \
  --link-dir ../links.bad >/dev/null 2>&1); then
  echo "FAIL  in-toto-verify accepts a tampered link"; exit 1
fi
echo "ok    in-toto-verify refuses the tampered link"

# A root key listed under rsa-pkcs1v15-sha256, signed with PKCS#1 v1.5.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out kms.pem 2>/dev/null
openssl pkey -in kms.pem -pubout -out kms.pub
"$A" root init --layout-key keys/owner.pub --out pss.root.json --root-key kms.pub \
  --targets-key keys/release.pub --expires 3650d >/dev/null
"$PY" - <<'PY'
import hashlib, json
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.formats import encode_canonical
s = json.load(open("pss.root.json"))["signed"]
old = s["roles"]["root"]["keyids"][0]
key = dict(s["keys"].pop(old), scheme="rsa-pkcs1v15-sha256")
new = hashlib.sha256(encode_canonical(key).encode()).hexdigest()
s["keys"][new] = key
s["roles"]["root"]["keyids"] = [new]
priv = load_pem_private_key(open("kms.pem", "rb").read(), None)
sig = priv.sign(encode_canonical(s).encode(), padding.PKCS1v15(), hashes.SHA256())
json.dump({"signed": s, "signatures": [{"keyid": new, "sig": sig.hex()}]}, open("kms.root.json", "w"), indent=1)
PY
"$PY" "$ROOT/scripts/lib/tuf_interop.py" load kms.root.json
"$A" anchor init --channel default --store kms-store --root kms.root.json >/dev/null
echo "ok    airlock anchor init accepts the rsa-pkcs1v15-sha256 root"

# The same, signed by airlock: an RSA-3072 token key named under
# rsa-pkcs1v15-sha256 (CKM_SHA256_RSA_PKCS).
tool --keypairgen --key-type rsa:3072 --label kms --id 05 --usage-sign
KMS="rsa-pkcs1v15-sha256:$(uri object=kms)"
"$A" key show "$KMS" --json > keys/kms.json
"$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"]["keyval"]["public"], end="")' \
  keys/kms.json > keys/kms.pub
"$A" root init --layout-key keys/owner.pub --out v15.root.json --root-key rsa-pkcs1v15-sha256:keys/kms.pub \
  --targets-key keys/release.pub --expires 3650d >/dev/null
"$A" root sign v15.root.json --key "$KMS" >/dev/null
"$PY" "$ROOT/scripts/lib/tuf_interop.py" load v15.root.json
echo "ok    python-tuf accepts a root airlock signed with PKCS#1 v1.5 on the token"
