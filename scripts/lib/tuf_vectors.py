#!/usr/bin/env python3
"""Makes the TUF root-chain test vectors under tests/vectors/tuf/ with the
reference implementation (python-tuf and securesystemslib from PyPI).

Run it through scripts/gen-tuf-vectors.sh, which creates the venv, the shared
test keys, wipes the output directory and calls this with the venv's python.

Every case is a chain of root files, 1.root.json (the trusted root),
2.root.json, ... named by position (the names python-tuf's updater fetches;
a file's version may differ from its name in the version cases). Roots are
written with python-tuf's Metadata API (Root, Role, Key, Metadata.sign); the
cases whose fault python-tuf's API would not let us construct (a threshold
of 0, a missing role, ...) are written as JSON and signed over the canonical
JSON of `signed` with securesystemslib signers, so the fault is the only one.

The verdict is python-tuf's own: the chain is loaded through
tuf.ngclient._internal.trusted_metadata_set.TrustedMetadataSet exactly as the
updater does (trusted root, then update_root for each following file, then
update_timestamp with a valid timestamp, where python-tuf checks that the
final root is unexpired: spec 5.3.10), at a fixed reference time. The case
name states the verdict; generation aborts if python-tuf disagrees.
"""

import argparse
import copy
import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import sys

from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_pem_public_key,
)
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.metadata import Metadata, Role, Root, Timestamp, MetaFile
from tuf.api.serialization.json import JSONSerializer
from tuf.ngclient._internal.trusted_metadata_set import TrustedMetadataSet
from tuf.ngclient.config import EnvelopeType

UTC = datetime.timezone.utc
REF = datetime.datetime(2026, 6, 1, tzinfo=UTC)  # the fixed reference time
REF_TEXT = "2026-06-01T00:00:00Z"
FAR = datetime.datetime(2100, 1, 1, tzinfo=UTC)
PAST = datetime.datetime(2026, 1, 1, tzinfo=UTC)  # expired at REF

OUT = None
KEYDIR = None
RESULTS = []  # (name, description, verdict, exit, message, files)


def die(msg):
    print(f"\nFATAL: {msg}", file=sys.stderr)
    sys.exit(1)


# --------------------------------------------------------------------------
# keys


class TestKey:
    def __init__(self, name):
        self.name = name
        with open(os.path.join(KEYDIR, f"{name}.test-only.pem"), "rb") as f:
            self.priv = load_pem_private_key(f.read(), None)
        with open(os.path.join(KEYDIR, f"{name}.pub"), "rb") as f:
            self.key = SSlibKey.from_crypto(load_pem_public_key(f.read()))
        self.keyid = self.key.keyid

    def signer(self, key=None):
        """A signer; with `key`, signing as that key object (its keyid)."""
        return CryptoSigner(self.priv, key or self.key)

    def aliased(self, keyid):
        """The same public key under another keyid."""
        k = self.key
        return SSlibKey(keyid, k.keytype, k.scheme, dict(k.keyval))


K = {}


def load_keys():
    names = [f"root{i}-ed25519" for i in range(1, 7)] + [
        "root-rsa3072", "root-p256", "root-p384", "root-p521",
        "online-ed25519", "mallory-ed25519",
    ]
    for n in names:
        K[n] = TestKey(n)


def R(i):
    return K[f"root{i}-ed25519"]


# --------------------------------------------------------------------------
# building roots


def root_md(version, keys, threshold, expires=FAR, alias=None):
    """A root whose root role is `keys` (TestKeys, or (TestKey, keyid) for a
    key listed under another keyid) with `threshold`; the online key holds
    the other three roles."""
    r = Root(version=version, expires=expires, consistent_snapshot=False)
    for k in keys:
        if isinstance(k, tuple):
            key, kid = k
            r.add_key(key.aliased(kid), Root.type)
        else:
            r.add_key(k.key, Root.type)
    r.roles[Root.type].threshold = threshold
    for role in ("targets", "snapshot", "timestamp"):
        r.add_key(K["online-ed25519"].key, role)
    return Metadata(r)


def sign(md, *signers):
    for s in signers:
        if isinstance(s, TestKey):
            s = s.signer()
        md.sign(s, append=True)
    return md


def md_bytes(md):
    return md.to_bytes(JSONSerializer(compact=False))


def dict_bytes(d):
    return (json.dumps(d, indent=1, ensure_ascii=False) + "\n").encode()


def sign_dict(d, *keys):
    """Signs a metadata dict's `signed` (canonical JSON, as python-tuf
    signs) with the given TestKeys (or (TestKey, key-object) pairs)."""
    payload = encode_canonical(d["signed"]).encode()
    for k in keys:
        signer = k[0].signer(k[1]) if isinstance(k, tuple) else k.signer()
        d["signatures"].append(signer.sign(payload).to_dict())
    return d


def raw_root(version, keys, threshold, expires="2100-01-01T00:00:00Z"):
    """A root as a plain dict (unsigned), for faults the API refuses."""
    d = root_md(version, keys, threshold).to_dict()
    d["signed"]["expires"] = expires
    d["signatures"] = []
    return d


# --------------------------------------------------------------------------
# the reference verdict


def timestamp_bytes():
    ts = Metadata(Timestamp(version=1, expires=FAR, snapshot_meta=MetaFile(1)))
    ts.sign(K["online-ed25519"].signer())
    return md_bytes(ts)


def judge(files):
    """python-tuf's verdict on a chain: (verdict, exit, message, version)."""
    try:
        trusted = TrustedMetadataSet(files[0], EnvelopeType.METADATA)
        trusted.reference_time = REF
        for data in files[1:]:
            trusted.update_root(data)
        # Client workflow 5.3.10 (the final root must be unexpired) is
        # checked by update_timestamp before it loads the timestamp.
        trusted.update_timestamp(TIMESTAMP)
        v = trusted.root.version
        return "pass", 0, f"final root version {v}", v
    except Exception as e:  # noqa: BLE001 - any refusal is the verdict
        message = f"{type(e).__name__}: {e}"
        if e.__cause__ is not None:
            c = e.__cause__
            message += f" ({type(c).__name__}: {c})"
        return "fail", 1, message, None


def case(name, description, chain):
    """Writes `chain` (Metadata objects or bytes) as name/1.root.json ... and
    records python-tuf's verdict; aborts if it disagrees with the name."""
    files = [md_bytes(c) if isinstance(c, Metadata) else c for c in chain]
    verdict, code, message, version = judge(files)
    if name.startswith("pass_") or name.startswith("stricter_fail_"):
        want = "pass"
    elif name.startswith("fail_"):
        want = "fail"
    else:
        die(f"{name}: a case is pass_, fail_ or stricter_fail_")
    if verdict != want:
        die(f"{name}: python-tuf says {verdict} ({message}), the name says {want}")
    d = os.path.join(OUT, name)
    os.makedirs(d)
    names = []
    for i, b in enumerate(files, 1):
        n = f"{i}.root.json"
        names.append(n)
        with open(os.path.join(d, n), "wb") as f:
            f.write(b)
    expected = {
        "description": description,
        "reference": REFERENCE,
        "reference_time": REF_TEXT,
        "reference_verdict": verdict,
        "reference_exit": code,
        "reference_message": message,
        "reference_final_version": version,
        "trusted": names[0],
        "chain": names[1:],
        "command": " ".join(
            ["airlock root verify --trusted", names[0], *names[1:], "--at", REF_TEXT]
        ),
    }
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")
    RESULTS.append((name, description, verdict, code, message))
    print(f"  {name}: {verdict}")


# --------------------------------------------------------------------------
# the cases


def cases():
    r1, r2, r3, r4, r5 = R(1), R(2), R(3), R(4), R(5)
    mallory = K["mallory-ed25519"]
    rsa, p256, p384, p521 = (K["root-rsa3072"], K["root-p256"],
                             K["root-p384"], K["root-p521"])

    # -- rotations that hold
    case("pass_1of1_rotation",
         "v1 trusts root key 1 (1 of 1); v2 replaces it with key 2, signed by "
         "key 1 (v1's threshold) and key 2 (its own).",
         [sign(root_md(1, [r1], 1), r1), sign(root_md(2, [r2], 1), r1, r2)])

    five = [r1, r2, r3, r4, r5]
    case("pass_3of5_threshold_raised",
         "v1 is 3 of 5; v2 keeps the five keys and raises the threshold to 4, "
         "signed by keys 1-4 (3 of v1's, 4 of its own).",
         [sign(root_md(1, five, 3), r1, r2, r3),
          sign(root_md(2, five, 4), r1, r2, r3, r4)])
    case("pass_3of5_threshold_lowered",
         "v1 is 3 of 5; v2 lowers the threshold to 2, signed by keys 1-3 (3 of "
         "v1's, as v1 requires).",
         [sign(root_md(1, five, 3), r1, r2, r3),
          sign(root_md(2, five, 2), r1, r2, r3)])
    case("pass_3of5_raised_then_lowered",
         "v1 3 of 5, v2 4 of 5 (signed by keys 1-4), v3 2 of 5 (signed by "
         "keys 2-5: 4 of v2's, 2 of its own).",
         [sign(root_md(1, five, 3), r1, r2, r3),
          sign(root_md(2, five, 4), r1, r2, r3, r4),
          sign(root_md(3, five, 2), r2, r3, r4, r5)])
    case("pass_2of3_lost_key_replaced",
         "v1 is 2 of 3 (keys 1-3); key 3 is lost; v2 replaces it with key 4, "
         "signed by keys 1 and 2 (enough for both thresholds).",
         [sign(root_md(1, [r1, r2, r3], 2), r1, r2),
          sign(root_md(2, [r1, r2, r4], 2), r1, r2)])
    case("pass_long_chain",
         "Six versions, the single root key replaced at every step (1->2->3->"
         "4->5->6), each signed by the outgoing and the incoming key.",
         [sign(root_md(1, [R(1)], 1), R(1))] +
         [sign(root_md(v, [R(v)], 1), R(v - 1), R(v)) for v in range(2, 7)])
    case("pass_expired_intermediate",
         "v2 expired before the reference time; v3 (unexpired) follows it: "
         "only the final root must be unexpired.",
         [sign(root_md(1, [r1], 1), r1),
          sign(root_md(2, [r2], 1, expires=PAST), r1, r2),
          sign(root_md(3, [r3], 1), r2, r3)])
    case("pass_expired_trusted_root",
         "The trusted v1 has expired; v2 (unexpired) follows it.",
         [sign(root_md(1, [r1], 1, expires=PAST), r1),
          sign(root_md(2, [r2], 1), r1, r2)])
    case("pass_extra_signature_by_unknown_key",
         "v2 also carries a valid signature by a key no role lists (mallory): "
         "it is ignored.",
         [sign(root_md(1, [r1], 1), r1), sign(root_md(2, [r2], 1), r1, r2, mallory)])
    case("pass_trusted_root_only",
         "Just the trusted root, self-signed and unexpired: no rotation.",
         [sign(root_md(1, [r1], 1), r1)])

    # -- key types
    for k, what in [(rsa, "RSA 3072 (rsassa-pss-sha256)"),
                    (p256, "ECDSA P-256"), (p384, "ECDSA P-384")]:
        tag = k.name.split("-")[1]
        case(f"pass_keytype_{tag}",
             f"v1's root key is {what}; v2 adds ed25519 key 1 as a second "
             f"root key (2 of 2), signed by both.",
             [sign(root_md(1, [k], 1), k), sign(root_md(2, [k, r1], 2), k, r1)])
    case("pass_keytype_mixed_2of3",
         "v1 is 2 of 3 over RSA, P-256 and P-384 keys (signed by RSA and "
         "P-384); v2 adds ed25519 key 1 and needs 3 of 4, signed by P-256, "
         "P-384 and key 1.",
         [sign(root_md(1, [rsa, p256, p384], 2), rsa, p384),
          sign(root_md(2, [rsa, p256, p384, r1], 3), p256, p384, r1)])
    legacy = SSlibKey(
        hashlib.sha256(encode_canonical({
            "keytype": "ecdsa-sha2-nistp256", "scheme": "ecdsa-sha2-nistp256",
            "keyval": {"public": p256.key.keyval["public"]}}).encode()).hexdigest(),
        "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256",
        {"public": p256.key.keyval["public"]})
    v1 = root_md(1, [r1], 1)
    v1.signed.add_key(legacy, Root.type)
    case("pass_keytype_p256_legacy_keytype",
         "v1's root role has ed25519 key 1 and the P-256 key written with the "
         "deprecated keytype \"ecdsa-sha2-nistp256\"; v2 (1 of 1, the P-256 "
         "key as modern \"ecdsa\") is signed by the legacy-listed key and "
         "its modern self.",
         [sign(v1, r1),
          sign(root_md(2, [p256], 1), p256.signer(legacy), p256)])
    v2 = root_md(2, [r1, r2], 1)
    v2.signed.add_key(p521.key, Root.type)
    case("pass_unverifiable_key_type_not_needed",
         "v2's root role (1 of 3) lists an ECDSA P-521 key, which airlock "
         "cannot verify with; keys 1 and 2 meet every threshold without it.",
         [sign(root_md(1, [r1], 1), r1), sign(v2, r1, r2)])

    # -- keyids
    alias = "a11a5" + R(2).keyid[5:]
    case("stricter_fail_root-threshold_one_key_under_two_keyids",
         "v2 lists key 2 under two keyids and needs 2 of them; key 2 signs "
         "under both. python-tuf counts keyids (2 of 2); airlock counts "
         "distinct public keys (1 of 2), as docs/key-rotation.md says.",
         [sign(root_md(1, [r1], 1), r1),
          sign(root_md(2, [r2, (r2, alias)], 2), r1, r2,
               r2.signer(r2.aliased(alias)))])
    case("pass_one_key_under_two_keyids_and_a_second_key",
         "v2 lists key 2 under two keyids plus key 3 and needs 2: keys 2 "
         "(under both keyids) and 3 sign, so two distinct keys sign.",
         [sign(root_md(1, [r1], 1), r1),
          sign(root_md(2, [r2, (r2, alias), r3], 2), r1, r2,
               r2.signer(r2.aliased(alias)), r3)])

    # -- unknown fields
    def with_unknown(sign_keys, edit_after=None):
        d = root_md(2, [r2], 1).to_dict()
        d["signed"]["x-vendor"] = {"build": 7, "note": "kept and signed"}
        d["signed"]["roles"]["root"]["x-role-note"] = "role field"
        d["signed"]["keys"][r2.keyid]["x-key-comment"] = "key field"
        md = Metadata.from_dict(d)  # python-tuf keeps them as unrecognized
        sign(md, *sign_keys)
        out = md.to_dict()
        out["x-unsigned-top-level"] = "outside signed"
        out["signatures"][0]["x-signature-note"] = "signature field"
        if edit_after:
            edit_after(out)
        return dict_bytes(out)
    case("pass_unknown_fields",
         "v2 carries fields TUF does not define: in signed, in a role, in a "
         "key (all covered by the signatures), beside signed and in a "
         "signature (covered by none).",
         [sign(root_md(1, [r1], 1), r1), with_unknown([r1, r2])])

    def edit_vendor(out):
        out["signed"]["x-vendor"]["build"] = 8
    case("fail_root-threshold_unknown_field_edited_after_signing",
         "As pass_unknown_fields, with the unknown field signed.x-vendor "
         "changed after signing: no signature verifies.",
         [sign(root_md(1, [r1], 1), r1), with_unknown([r1, r2], edit_vendor)])

    # -- signatures missing or bad
    case("fail_root-threshold_missing_old_threshold",
         "v2 replaces key 1 with key 2 but is signed only by key 2: v1's "
         "threshold is not met.",
         [sign(root_md(1, [r1], 1), r1), sign(root_md(2, [r2], 1), r2)])
    case("fail_root-threshold_missing_new_threshold",
         "v2 replaces key 1 with key 2 but is signed only by key 1: its own "
         "threshold is not met.",
         [sign(root_md(1, [r1], 1), r1), sign(root_md(2, [r2], 1), r1)])
    case("fail_root-threshold_3of5_raised_too_few_new",
         "v2 raises the threshold to 4 of 5 but only keys 1-3 sign it.",
         [sign(root_md(1, five, 3), r1, r2, r3),
          sign(root_md(2, five, 4), r1, r2, r3)])
    case("fail_root-threshold_3of5_lowered_by_two_keys",
         "Two key holders lower the threshold to 2 of 5 by themselves: v1's "
         "threshold of 3 is not met.",
         [sign(root_md(1, five, 3), r1, r2, r3),
          sign(root_md(2, five, 2), r1, r2)])
    case("fail_root-threshold_single_key_of_2of3",
         "v1 is 2 of 3; the holder of key 1 alone makes v2 trusting only "
         "mallory's key, signed by key 1 and mallory.",
         [sign(root_md(1, [r1, r2, r3], 2), r1, r2),
          sign(root_md(2, [mallory], 1), r1, mallory)])
    case("fail_root-threshold_revoked_key_signs_next",
         "v2 replaced key 1 by key 2; v3 tries to take it back, signed by "
         "the revoked key 1 only.",
         [sign(root_md(1, [r1], 1), r1),
          sign(root_md(2, [r2], 1), r1, r2),
          sign(root_md(3, [r1], 1), r1)])
    bad = sign(root_md(2, [r2], 1), r1, r2).to_dict()
    s = bad["signatures"][0]["sig"]
    bad["signatures"][0]["sig"] = s[:-2] + ("00" if s[-2:] != "00" else "01")
    case("fail_root-threshold_bad_signature",
         "v2's signature by key 1 has its last byte changed.",
         [sign(root_md(1, [r1], 1), r1), dict_bytes(bad)])
    edited = sign(root_md(2, [r2], 1), r1, r2).to_dict()
    edited["signed"]["roles"]["targets"]["keyids"] = [mallory.keyid]
    edited["signed"]["keys"][mallory.keyid] = mallory.key.to_dict()
    case("fail_root-threshold_targets_key_swapped_after_signing",
         "v2's targets role was changed to mallory's key after it was signed.",
         [sign(root_md(1, [r1], 1), r1), dict_bytes(edited)])
    nokey = raw_root(2, [r2], 1)
    del nokey["signed"]["keys"][r2.keyid]
    case("fail_root-threshold_role_keyid_without_key",
         "v2's root role names key 2's keyid, but v2's keys do not hold "
         "key 2: its signature cannot count.",
         [sign(root_md(1, [r1], 1), r1), dict_bytes(sign_dict(nokey, r1, r2))])
    case("fail_root-threshold_trusted_not_self_signed",
         "The trusted root is 2 of 2 but signed only by key 1.",
         [sign(root_md(1, [r1, r2], 2), r1)])

    # -- versions
    case("fail_root-version_skip",
         "The file after v1 is version 3 (well signed): versions advance by "
         "exactly one.",
         [sign(root_md(1, [r1], 1), r1), sign(root_md(3, [r2], 1), r1, r2)])
    case("fail_root-version_same",
         "The file after v1 is another version 1 (adding key 2, signed by "
         "keys 1 and 2).",
         [sign(root_md(1, [r1], 1), r1),
          sign(root_md(1, [r1, r2], 1), r1, r2)])
    case("fail_root-version_rollback_in_chain",
         "v1, v2, then a version 1 again.",
         [sign(root_md(1, [r1], 1), r1), sign(root_md(2, [r1], 1), r1),
          sign(root_md(1, [r1], 1), r1)])

    # -- expiry
    case("fail_root-expired_final",
         "v2 is well signed but expired before the reference time, and it "
         "is the final root.",
         [sign(root_md(1, [r1], 1), r1),
          sign(root_md(2, [r2], 1, expires=PAST), r1, r2)])
    case("fail_root-expired_trusted_root_only",
         "Only the trusted root, expired.",
         [sign(root_md(1, [r1], 1, expires=PAST), r1)])

    # -- malformed roots (faults the Metadata API refuses to build)
    v1 = sign(root_md(1, [r1], 1), r1)

    def malformed(name, description, edit):
        d = raw_root(2, [r2], 1)
        edit(d["signed"])
        case(name, description, [v1, dict_bytes(sign_dict(d, r1, r2))])

    def dup_sigs():
        d = sign(root_md(2, [r2], 1), r1, r2).to_dict()
        d["signatures"].append(copy.deepcopy(d["signatures"][1]))
        return dict_bytes(d)
    case("fail_root-malformed_duplicate_signatures",
         "v2 carries key 2's signature twice (same keyid).",
         [v1, dup_sigs()])

    def threshold_zero(s):
        s["roles"]["targets"]["threshold"] = 0
    malformed("fail_root-malformed_threshold_zero",
              "v2's targets role has threshold 0.", threshold_zero)

    def version_zero(s):
        s["version"] = 0
    malformed("fail_root-malformed_version_zero",
              "The file after v1 has version 0.", version_zero)

    def dup_keyids(s):
        s["roles"]["root"]["keyids"] = [r2.keyid, r2.keyid]
    malformed("fail_root-malformed_duplicate_keyids_in_role",
              "v2's root role lists key 2's keyid twice.", dup_keyids)

    def missing_role(s):
        del s["roles"]["timestamp"]
    malformed("fail_root-malformed_missing_role",
              "v2 has no timestamp role.", missing_role)

    def extra_role(s):
        s["roles"]["mirror"] = {"keyids": [r2.keyid], "threshold": 1}
    malformed("fail_root-malformed_extra_role",
              "v2 has a fifth top-level role, mirror.", extra_role)

    def expires_offset(s):
        s["expires"] = "2100-01-01T00:00:00+00:00"
    malformed("fail_root-malformed_expires_offset",
              "v2 expires at 2100-01-01T00:00:00+00:00 (an offset, not Z).",
              expires_offset)

    def expires_fraction(s):
        s["expires"] = "2100-01-01T00:00:00.5Z"
    malformed("fail_root-malformed_expires_fraction",
              "v2 expires at 2100-01-01T00:00:00.5Z (fractional seconds).",
              expires_fraction)

    def spec_major_2(s):
        s["spec_version"] = "2.0.0"
    malformed("fail_root-malformed_spec_version_major_2",
              "v2's spec_version is 2.0.0.", spec_major_2)

    def wrong_type(s):
        s["_type"] = "targets"
    malformed("fail_root-malformed_wrong_type",
              "v2's _type is targets.", wrong_type)

    def unknown_keytype(s):
        s["keys"]["f" * 64] = {"keytype": "sphincs", "scheme": "sphincs-shake-128s",
                               "keyval": {"public": "00"}}
    malformed("fail_root-malformed_unknown_key_type",
              "v2's keys hold a key of a type securesystemslib does not know "
              "(sphincs), used by no role.", unknown_keytype)

    def spec_two_parts(s):
        s["spec_version"] = "1.0"
    d = raw_root(2, [r2], 1)
    spec_two_parts(d["signed"])
    case("pass_spec_version_two_parts",
         "v2's spec_version is 1.0 (major.minor, as old metadata has it).",
         [v1, dict_bytes(sign_dict(d, r1, r2))])
    d = raw_root(2, [r2], 1)
    del d["signed"]["consistent_snapshot"]
    case("pass_consistent_snapshot_absent",
         "v2 has no consistent_snapshot field (it is optional).",
         [v1, dict_bytes(sign_dict(d, r1, r2))])


# --------------------------------------------------------------------------
# README


def write_readme(versions):
    rows = "\n".join(
        f"| `{n}` | {d} | {v} ({c}) | `{m}` |" for n, d, v, c, m in RESULTS
    )
    text = f"""# TUF root-chain test vectors

Generated by `scripts/gen-tuf-vectors.sh` (logic in
`scripts/lib/tuf_vectors.py`) with the **reference** TUF implementation from
PyPI: {versions}. Do not edit by hand: regenerate.

    bash scripts/gen-tuf-vectors.sh        # VENV=..., TUF_VERSION=... to choose

The script creates a venv (default `target/tuf-venv`), installs the pinned
packages, makes the shared test keys with openssl **only if they are
missing** (`keys/`), wipes everything else here, writes every case with
python-tuf's Metadata API (`Root`, `Role`, `Key`, `Metadata.sign`; faults the
API refuses to construct are written as JSON and signed over the canonical
JSON of `signed` with securesystemslib signers), then loads each chain
through python-tuf's `TrustedMetadataSet` and **aborts if its verdict does
not agree with the case name**. Judged with python-tuf 6.0.0 instead (the
latest 6.x: `TUF_VERSION=6.0.0 VENV=target/tuf6-venv`), every case gets
the same verdict and message. Re-running gives the same cases, verdicts
and messages; signatures by ECDSA/RSA keys (randomized) differ from run to
run.

## How python-tuf judges a case

Exactly as its updater loads roots (`tuf.ngclient`, client workflow 5.3):
`TrustedMetadataSet(1.root.json)` (the trusted root must be signed by a
threshold of its own root keys), then `update_root()` with each following
file in order (version exactly N+1, a threshold of version N's root keys and
of its own; expiry not checked), then `update_timestamp()` with a valid
timestamp signed by the online key, which refuses an expired final root
(5.3.10) — all at the fixed reference time **{REF_TEXT}**
(`reference_time`). Roots expire 2100-01-01T00:00:00Z, except the expiry
cases (2026-01-01T00:00:00Z, expired at the reference time), so no vector
ever expires in a test.

## Directory contract

`keys/` — the shared test keys: `NAME.test-only.pem` (PKCS#8 private key,
public test data — never use for anything real) and `NAME.pub` (SPKI PEM).
`root1-6-ed25519`, `root-rsa3072`, `root-p256`, `root-p384`, `root-p521` are
root keys, `online-ed25519` holds the targets, snapshot and timestamp roles
of every root, `mallory-ed25519` is never authorized.

One directory per case, `<case>/`, containing exactly:

- `1.root.json` — the trusted root; `2.root.json`, `3.root.json`, … — the
  chain, named by position (the name python-tuf's updater would fetch; in
  the version cases the version inside differs);
- `expected.json` — `reference` (the packages), `reference_time`,
  `reference_verdict` (`pass`/`fail`), `reference_exit` (0/1),
  `reference_message` (python-tuf's exception `Type: message`, or
  `final root version N`), `reference_final_version`, `trusted`, `chain`,
  `description`, and `command`: the `airlock root verify` command that
  `tests/e2e/tuf_vectors.rs` runs in the case directory (with `--json`), at
  the reference time.

Case names state the verdict:

- `pass_<what>` — python-tuf accepts the chain; airlock must accept it and
  report the same final version.
- `fail_<code>_<what>` — python-tuf refuses it; airlock must refuse it with
  exit 1 and error code `<code>`: `root-malformed`, `root-threshold`,
  `root-version`, `root-expired`.
- `stricter_fail_<code>_<what>` — python-tuf **accepts** it but airlock
  deliberately refuses it with `<code>`.

## Stricter cases

- `stricter_fail_root-threshold_one_key_under_two_keyids`: one public key is
  listed under two keyids and signs under both. python-tuf counts keyids and
  accepts 2 of 2; `docs/key-rotation.md`: "Thresholds count distinct
  public keys: one key listed twice counts once." airlock reports
  `root-threshold` (1 of 2).

## Limits that are not vectors

Tested in Rust instead (`src/tuf/root.rs` unit tests), to keep this
directory small:

- size: python-tuf's updater refuses a root over `root_max_length`, 512000
  bytes; airlock's limit is the same 512000 bytes (`root-too-large`).
- rotations: python-tuf's updater applies at most `max_root_rotations`, 256,
  per refresh and then **stops quietly** at the root it reached; airlock
  refuses a longer chain (`root-too-many-rotations`), so the operator
  learns that the chain was not applied to its end.

## Where airlock and python-tuf differ outside these cases

- Key types airlock cannot verify with but securesystemslib knows (ECDSA
  P-521, ML-DSA, RSA PKCS#1 v1.5 and PSS-SHA384/512, GPG) are kept in a root
  and never count towards a threshold (`pass_unverifiable_key_type_not_needed`);
  a chain that needs such a signature is refused by airlock and accepted by
  python-tuf. Key types securesystemslib does not know make both refuse the
  root (`fail_root-malformed_unknown_key_type`).
- airlock refuses a `sig` that is not hex, a non-boolean
  `consistent_snapshot`, JSON with duplicate object keys, and floats
  anywhere; python-tuf refuses some of these only when it reads them.

## Cases ({len(RESULTS)})

| case | what it tests | python-tuf verdict (exit) | python-tuf message |
| --- | --- | --- | --- |
{rows}

## Interoperability (`scripts/tuf-interop.sh`)

`scripts/tuf-interop.sh` shows that roots made by `airlock root init`,
`root rotate` and `root sign` (Ed25519, ECDSA P-256 and RSA root keys)
load and rotate in python-tuf — through `TrustedMetadataSet` and through
the full `Updater.refresh()` against a local repository — that a root
python-tuf writes as the next version is accepted by `airlock root verify`,
and that a tampered root is refused by both. Its output is kept in
[`interop-output.txt`](interop-output.txt) (regenerating the vectors removes
it; run the interop script afterwards).
"""
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(text)


def main():
    global OUT, KEYDIR, TIMESTAMP, REFERENCE
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    args = p.parse_args()
    OUT = args.out
    KEYDIR = os.path.join(OUT, "keys")
    load_keys()
    TIMESTAMP = timestamp_bytes()
    pkgs = ["tuf", "securesystemslib", "cryptography"]
    REFERENCE = ", ".join(f"{n} {importlib.metadata.version(n)}" for n in pkgs)
    cases()
    write_readme(f"{REFERENCE}; Python {platform.python_version()}")
    print(f"{len(RESULTS)} cases")


if __name__ == "__main__":
    main()
