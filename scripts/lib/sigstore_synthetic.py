"""Synthetic message-signature bundles (v0.1, v0.2, v0.3) under a trusted
root made here (a Fulcio-like CA, a Rekor key, a CT log key), for the paths
no published bundle on PyPI exercises: hashedrekord entries, v0.1 and v0.2
media types, certificate chains in the bundle, a certificate expired at a
verified integrated time. The leaf has what sigstore-python requires of a
Fulcio certificate (SCT from the root's CT log, OIDC issuer v1 and v2, key
identifiers), so every verdict is sigstore-python's.

Called by scripts/lib/sigstore_vectors.py as make(OUT, TMP, case,
signing_config): `case` writes a bundle and records sigstore-python's
verdict over the client trust configuration written to TMP.
"""
import base64
import datetime
import hashlib
import json
import os
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

UTC = datetime.timezone.utc
T0 = datetime.datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
IDENTITY = "release@example.org"
ISSUER = "https://issuer.example.org"
OIDC_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
OIDC_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


def b64(b):
    return base64.b64encode(b).decode()


def spki(key):
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "airlock-test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Instance:
    def __init__(self):
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.int_key = ec.generate_private_key(ec.SECP384R1())
        self.rekor_key = ec.generate_private_key(ec.SECP256R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        start, end = T0 - datetime.timedelta(days=365), T0 + datetime.timedelta(days=3650)
        self.root = (x509.CertificateBuilder().subject_name(name("test-root"))
                     .issuer_name(name("test-root")).public_key(self.root_key.public_key())
                     .serial_number(1).not_valid_before(start).not_valid_after(end)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.root_key.public_key()), critical=False)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
                     .sign(self.root_key, hashes.SHA384()))
        self.inter = (x509.CertificateBuilder().subject_name(name("test-intermediate"))
                      .issuer_name(name("test-root")).public_key(self.int_key.public_key())
                      .serial_number(2).not_valid_before(start).not_valid_after(end)
                      .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                      .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.int_key.public_key()), critical=False)
                      .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()), critical=False)
                      .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
                      .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
                      .sign(self.root_key, hashes.SHA384()))
        self.rekor_id = hashlib.sha256(spki(self.rekor_key)).digest()
        self.ct_id = hashlib.sha256(spki(self.ct_key)).digest()

    def trusted_root(self):
        start = ts(T0 - datetime.timedelta(days=365))
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": "https://rekor.example.org",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64(spki(self.rekor_key)),
                              "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                              "validFor": {"start": start}},
                "logId": {"keyId": b64(self.rekor_id)},
            }],
            "certificateAuthorities": [{
                "subject": {"organization": "airlock-test", "commonName": "test-intermediate"},
                "uri": "https://fulcio.example.org",
                "certChain": {"certificates": [
                    {"rawBytes": b64(self.inter.public_bytes(serialization.Encoding.DER))},
                    {"rawBytes": b64(self.root.public_bytes(serialization.Encoding.DER))},
                ]},
                "validFor": {"start": start},
            }],
            "ctlogs": [{
                "baseUrl": "https://ctfe.example.org",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64(spki(self.ct_key)),
                              "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                              "validFor": {"start": start}},
                "logId": {"keyId": b64(self.ct_id)},
            }],
            "timestampAuthorities": [],
        }

    def leaf(self, key, not_before):
        """A Fulcio-like leaf with an embedded SCT from the test CT log."""
        def builder():
            return (x509.CertificateBuilder().subject_name(x509.Name([]))
                    .issuer_name(self.inter.subject).public_key(key.public_key())
                    .serial_number(1000 + int(not_before.timestamp()))
                    .not_valid_before(not_before)
                    .not_valid_after(not_before + datetime.timedelta(minutes=10))
                    .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
                    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
                    .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                    .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.int_key.public_key()), critical=False)
                    .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(IDENTITY)]), critical=True)
                    .add_extension(x509.UnrecognizedExtension(OIDC_V1, ISSUER.encode()), critical=False)
                    .add_extension(x509.UnrecognizedExtension(OIDC_V2, b"\x0c" + bytes([len(ISSUER)]) + ISSUER.encode()), critical=False))
        pre = builder().sign(self.int_key, hashes.SHA384())
        tbs = pre.tbs_certificate_bytes
        when = int(not_before.timestamp() * 1000)
        issuer_key_hash = hashlib.sha256(spki(self.int_key)).digest()
        signed = (b"\x00\x00" + struct.pack(">Q", when) + b"\x00\x01" + issuer_key_hash
                  + len(tbs).to_bytes(3, "big") + tbs + b"\x00\x00")
        sig = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (b"\x00" + self.ct_id + struct.pack(">Q", when) + b"\x00\x00"
               + b"\x04\x03" + struct.pack(">H", len(sig)) + sig)
        sct_list = struct.pack(">H", len(sct) + 2) + struct.pack(">H", len(sct)) + sct
        der_octets = b"\x04" + _der_len(len(sct_list)) + sct_list
        return (builder().add_extension(x509.UnrecognizedExtension(SCT_LIST, der_octets), critical=False)
                .sign(self.int_key, hashes.SHA384()))

    def entry(self, body, integrated_time, log_index, proof):
        body_b64 = b64(body)
        set_payload = json.dumps({"body": body_b64, "integratedTime": integrated_time,
                                  "logID": self.rekor_id.hex(), "logIndex": log_index},
                                 sort_keys=True, separators=(",", ":")).encode()
        e = {
            "logIndex": str(log_index),
            "logId": {"keyId": b64(self.rekor_id)},
            "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
            "integratedTime": str(integrated_time),
            "inclusionPromise": {"signedEntryTimestamp": b64(
                self.rekor_key.sign(set_payload, ec.ECDSA(hashes.SHA256())))},
            "canonicalizedBody": body_b64,
        }
        e["inclusionProof"] = self.proof(body, log_index)
        if not proof:
            # v0.1: a proof without a checkpoint (the promise is the evidence).
            del e["inclusionProof"]["checkpoint"]
        return e

    def proof(self, body, log_index):
        """The entry as leaf 2 of a 5-leaf tree, with a signed checkpoint."""
        leaves = [hashlib.sha256(b"\x00other" + bytes([i])).digest() for i in range(5)]
        leaves[2] = hashlib.sha256(b"\x00" + body).digest()
        node = lambda l, r: hashlib.sha256(b"\x01" + l + r).digest()
        n01, n23 = node(leaves[0], leaves[1]), node(leaves[2], leaves[3])
        root = node(node(n01, n23), leaves[4])
        origin = "rekor.example.org - 1234567890"
        note = f"{origin}\n5\n{b64(root)}\n"
        sig = self.rekor_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        env = note + "\n" + f"\u2014 rekor.example.org {b64(self.rekor_id[:4] + sig)}\n"
        return {"logIndex": "2", "rootHash": b64(root), "treeSize": "5",
                "hashes": [b64(leaves[3]), b64(n01), b64(leaves[4])],
                "checkpoint": {"envelope": env}}


def _der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def message_bundle(inst, version, artifact, *, signed_data=None, not_before=T0,
                   integrated_time=None, log_index=4242):
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = inst.leaf(key, not_before)
    digest = hashlib.sha256(artifact).digest()
    sig = key.sign(signed_data if signed_data is not None else artifact, ec.ECDSA(hashes.SHA256()))
    pem = leaf.public_bytes(serialization.Encoding.PEM)
    body = json.dumps({
        "apiVersion": "0.0.1", "kind": "hashedrekord",
        "spec": {"data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
                 "signature": {"content": b64(sig), "publicKey": {"content": b64(pem)}}},
    }, separators=(",", ":"), sort_keys=True).encode()
    it = integrated_time if integrated_time is not None else int(not_before.timestamp()) + 60
    entry = inst.entry(body, it, log_index, proof=True)
    leaf_der = {"rawBytes": b64(leaf.public_bytes(serialization.Encoding.DER))}
    if version == "0.3":
        vm = {"certificate": leaf_der}
        media = "application/vnd.dev.sigstore.bundle.v0.3+json"
    else:
        vm = {"x509CertificateChain": {"certificates": [leaf_der]}}
        media = f"application/vnd.dev.sigstore.bundle+json;version={version}"
    vm["tlogEntries"] = [entry]
    return {
        "mediaType": media,
        "verificationMaterial": vm,
        "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)},
                             "signature": b64(sig)},
    }


def make(out, tmp, case, signing_config):
    """Writes trusted_root.synthetic.json, the artifact and the cases."""
    inst = Instance()
    root = inst.trusted_root()
    (out / "trusted_root.synthetic.json").write_text(json.dumps(root, indent=2) + "\n")
    (tmp / "trust_config.synthetic.json").write_text(json.dumps({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": root, "signingConfig": signing_config}))
    config = "synthetic"
    artifact = b"synthetic release artifact\n" + os.urandom(16).hex().encode() + b"\n"
    (out / "synthetic-artifact.txt").write_bytes(artifact)
    (out / "tampered-synthetic-artifact.txt").write_bytes(artifact.replace(b"release", b"re1ease"))
    for v in ["0.1", "0.2", "0.3"]:
        case(f"pass_message_v{v.replace('.', '')}_synthetic", message_bundle(inst, v, artifact),
             "synthetic-artifact.txt", config, IDENTITY, ISSUER, None)
    b = message_bundle(inst, "0.2", artifact)
    case("fail_message_tampered_artifact_synthetic", b, "tampered-synthetic-artifact.txt",
         config, IDENTITY, ISSUER, "sigstore-artifact-mismatch")
    case("fail_message_wrong_identity_synthetic", b, "synthetic-artifact.txt",
         config, "someone@example.org", ISSUER, "sigstore-identity-mismatch")
    case("fail_message_signature_synthetic",
         message_bundle(inst, "0.2", artifact, signed_data=b"something else"),
         "synthetic-artifact.txt", config, IDENTITY, ISSUER, "sigstore-signature-invalid")
    # Rekor (validly) says the entry came an hour after the ten-minute
    # certificate expired.
    case("fail_message_expired_certificate_synthetic",
         message_bundle(inst, "0.1", artifact, integrated_time=int(T0.timestamp()) + 3600),
         "synthetic-artifact.txt", config, IDENTITY, ISSUER, "sigstore-certificate-expired")
