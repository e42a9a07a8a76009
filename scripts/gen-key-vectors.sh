#!/usr/bin/env bash
# Regenerates the key and signature vectors in hsm/tests/data/ (all of them;
# the old files are removed first).
#
# What it makes, with OpenSSL and with the reference implementation
# (securesystemslib 1.6.0 on pyca/cryptography, in a venv under
# target/gen-key-vectors-venv):
#
#   keys/<k>.pem         PKCS#8 private keys from `openssl genpkey`, for
#                        k = ed25519, p256, p384, rsa3072
#   keys/<k>.pub         their SPKI PEM exactly as cryptography's
#                        public_bytes(PEM, SubjectPublicKeyInfo) writes it
#   keys/p256-sec1.pem   the p256 key as SEC1 (`openssl ec`), BEGIN EC PRIVATE KEY
#   keys/rsa3072-pkcs1.pem  the rsa3072 key as PKCS#1 (`openssl rsa -traditional`)
#   keys/p256-ecparam.pem   `openssl ecparam -genkey` output (EC PARAMETERS block
#                        then EC PRIVATE KEY), and its keys/p256-ecparam.pub
#   keys/rsa1024.pem/.pub   a too-small RSA key (must be refused)
#   keys/p521.pub        a key on an unsupported curve (must be refused)
#   expected.json        per key k: securesystemslib's keyid
#                        (SSlibKey.from_crypto(...).keyid), the canonical JSON
#                        of its to_dict(), and the legacy keyid (key object
#                        plus keyid_hash_algorithms ["sha256","sha512"], PEM
#                        with trailing whitespace stripped)
#   message.bin          the message every signature below is over
#   sigs/pass_<k>_*.sig, sigs/fail_<k>_*.sig
#                        signatures by key k: RSA-PSS from `openssl dgst
#                        -sha256 -sigopt rsa_padding_mode:pss` with salt
#                        lengths 0, 20, 32 and max; ECDSA from `openssl dgst
#                        -sha256` (P-256) / `-sha384` (P-384); Ed25519 from
#                        `openssl pkeyutl -rawin`; one per key from
#                        securesystemslib's CryptoSigner; an ECDSA signature
#                        with high S; an RSA signature with its leading zero
#                        byte removed. The pass_/fail_ prefix is
#                        securesystemslib's own verdict
#                        (SSlibKey.verify_signature), checked here for every
#                        file, so the Rust tests compare against the reference.
#
# Needs: bash, openssl (3.x), python3 with venv, network access to PyPI
# (first run only). Run from anywhere: bash scripts/gen-key-vectors.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/hsm/tests/data"
venv="$root/target/gen-key-vectors-venv"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "securesystemslib==1.6.0" "cryptography>=44"
fi

rm -rf "$out"
mkdir -p "$out/keys" "$out/sigs"
cd "$out"

printf 'airlock key vectors: the message every signature here is over.\n' >message.bin

openssl genpkey -algorithm ed25519 -out keys/ed25519.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out keys/p256.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out keys/p384.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out keys/rsa3072.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out keys/rsa1024.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out p521.pem
openssl pkey -in p521.pem -pubout -out keys/p521.pub
rm p521.pem
openssl ec -in keys/p256.pem -out keys/p256-sec1.pem 2>/dev/null
openssl rsa -in keys/rsa3072.pem -traditional -out keys/rsa3072-pkcs1.pem 2>/dev/null
openssl ecparam -name prime256v1 -genkey -out keys/p256-ecparam.pem
openssl pkey -in keys/rsa1024.pem -pubout -out keys/rsa1024.pub
chmod 0644 keys/*.pem

for salt in 0 20 32 max; do
    openssl dgst -sha256 -sign keys/rsa3072.pem -sigopt rsa_padding_mode:pss \
        -sigopt "rsa_pss_saltlen:$salt" -out "sigs/rsa3072_openssl-pss-salt-$salt.sig" message.bin
done
openssl dgst -sha256 -sign keys/p256.pem -out sigs/p256_openssl-sha256.sig message.bin
openssl dgst -sha384 -sign keys/p384.pem -out sigs/p384_openssl-sha384.sig message.bin
openssl pkeyutl -sign -rawin -inkey keys/ed25519.pem -in message.bin -out sigs/ed25519_openssl.sig

"$venv/bin/python" - <<'PY'
import json, hashlib, os, warnings
from cryptography.hazmat.primitives import serialization, hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature, encode_dss_signature)
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, SSlibKey, Signature

warnings.simplefilter("ignore")
msg = open("message.bin", "rb").read()
expected = {}
keys = {}
for k in ["ed25519", "p256", "p384", "rsa3072", "p256-ecparam"]:
    priv = serialization.load_pem_private_key(open(f"keys/{k}.pem", "rb").read(), None)
    pub_pem = priv.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    open(f"keys/{k}.pub", "wb").write(pub_pem)
    key = SSlibKey.from_crypto(serialization.load_pem_public_key(pub_pem))
    d = key.to_dict()
    legacy = dict(d)
    legacy["keyid_hash_algorithms"] = ["sha256", "sha512"]
    legacy["keyval"] = {"public": d["keyval"]["public"].rstrip()}
    expected[k] = {
        "keyid": key.keyid,
        "key_object": encode_canonical(d),
        "legacy_keyid": hashlib.sha256(encode_canonical(legacy).encode()).hexdigest(),
    }
    keys[k] = (priv, key)
    if k != "p256-ecparam":
        sig = CryptoSigner(priv, key).sign(msg)
        open(f"sigs/{k}_sslib-cryptosigner.sig", "wb").write(bytes.fromhex(sig.signature))

# ECDSA with high S: (r, n - s) for the low-S signature, or the other way.
orders = {
    "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "p384": int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
                "581A0DB248B0A77AECEC196ACCC52973", 16),
}
for k, n in orders.items():
    r, s = decode_dss_signature(open(f"sigs/{k}_sslib-cryptosigner.sig", "rb").read())
    high = s if s > n // 2 else n - s
    open(f"sigs/{k}_high-s.sig", "wb").write(encode_dss_signature(r, high))

# RSA-PSS whose first byte is zero, with that byte removed.
priv = keys["rsa3072"][0]
while True:
    sig = priv.sign(msg, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                    hashes.SHA256())
    if sig[0] == 0:
        break
open("sigs/rsa3072_leading-zero-kept.sig", "wb").write(sig)
open("sigs/rsa3072_leading-zero-stripped.sig", "wb").write(sig[1:])

# Near misses, each expected to be refused.
def der_int(v, pad=False):
    b = v.to_bytes((v.bit_length() + 8) // 8, "big")
    if pad:
        b = b"\x00" + b
    return b"\x02" + bytes([len(b)]) + b

p256, p384 = keys["p256"][0], keys["p384"][0]
good = open("sigs/p256_sslib-cryptosigner.sig", "rb").read()
r, s = decode_dss_signature(good)
open("sigs/p256_raw-r-s.sig", "wb").write(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
body = der_int(r, pad=True) + der_int(s)
open("sigs/p256_non-minimal-integer.sig", "wb").write(b"\x30" + bytes([len(body)]) + body)
open("sigs/p256_trailing-byte.sig", "wb").write(good + b"\x00")
open("sigs/p256_sha384-digest.sig", "wb").write(p256.sign(msg, ec.ECDSA(hashes.SHA384())))
open("sigs/p384_sha256-digest.sig", "wb").write(p384.sign(msg, ec.ECDSA(hashes.SHA256())))
open("sigs/rsa3072_pkcs1v15.sig", "wb").write(
    priv.sign(msg, padding.PKCS1v15(), hashes.SHA256()))
open("sigs/rsa3072_pss-mgf1-sha1.sig", "wb").write(
    priv.sign(msg, padding.PSS(mgf=padding.MGF1(hashes.SHA1()), salt_length=32), hashes.SHA256()))
open("sigs/rsa3072_pss-sha512.sig", "wb").write(
    priv.sign(msg, padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=32), hashes.SHA512()))
ed = open("sigs/ed25519_sslib-cryptosigner.sig", "rb").read()
L = 2**252 + 27742317777372353535851937790883648493
s_big = int.from_bytes(ed[32:], "little") + L
open("sigs/ed25519_s-plus-l.sig", "wb").write(ed[:32] + s_big.to_bytes(32, "little"))

# Name every signature by securesystemslib's verdict.
for name in sorted(os.listdir("sigs")):
    k, what = name[:-4].split("_", 1)
    key = keys[k][1]
    data = open(f"sigs/{name}", "rb").read()
    try:
        key.verify_signature(Signature(key.keyid, data.hex()), msg)
        verdict = "pass"
    except Exception:
        verdict = "fail"
    os.rename(f"sigs/{name}", f"sigs/{verdict}_{name}")

with open("expected.json", "w") as f:
    json.dump(expected, f, indent=2, sort_keys=True)
    f.write("\n")
PY

cat >README.md <<'EOF'
Key and signature vectors, made by `scripts/gen-key-vectors.sh` (OpenSSL 3 and
securesystemslib 1.6.0 / pyca/cryptography); `sigs/pass_*` and `sigs/fail_*`
carry securesystemslib's verdict over `message.bin`. Test keys only: never use them.
EOF
ls -R "$out"
