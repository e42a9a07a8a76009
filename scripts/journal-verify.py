#!/usr/bin/env python3
"""Independent check of an airlock journal export, written from
docs/journal-format.md alone (not from airlock's code), for auditors who
want a second implementation. Needs Python 3.9+ and `cryptography`.

    scripts/journal-verify.py EXPORT [--key journal-key.pub]

Exit 0: intact (prints a summary); exit 1: not intact (prints the first
problem). It checks what `airlock journal verify --export` checks, except
that it does not verify the anchored root's own signatures.
"""
import argparse
import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

DOMAIN = b"airlock-journal-v1\n"
RECORD_KEYS = {"v", "seq", "time", "event", "fields", "prev", "sig"}
HEADER_KEYS = {"airlock_journal_export", "exported", "backend", "journal_key", "anchor", "records"}


class Bad(Exception):
    pass


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def no_floats(value):
    if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool) and not 0 <= value < 2**53):
        raise Bad("a number that is not an integer from 0 to 2^53-1")
    if isinstance(value, dict):
        for v in value.values():
            no_floats(v)
    if isinstance(value, list):
        for v in value:
            no_floats(v)


def parse_canonical(line, what):
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise Bad(f"{what}: duplicate member")
        return dict(pairs)

    try:
        value = json.loads(line.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise Bad(f"{what}: not JSON ({e})")
    no_floats(value)
    if canonical(value) != line:
        raise Bad(f"{what}: not in the canonical encoding")
    return value


def load_key(spki_der):
    key = serialization.load_der_public_key(spki_der)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key, "ed25519"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return key, "ecdsa-p256-sha256"
    raise Bad("the journal key is neither Ed25519 nor ECDSA P-256")


def verify_signature(key, alg, message, sig):
    try:
        if alg == "ed25519":
            key.verify(sig, message)
        else:
            key.verify(sig, message, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export")
    ap.add_argument("--key", help="the journal public key (SPKI PEM) the export must be signed with")
    args = ap.parse_args()
    with open(args.export, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    torn = lines.pop()  # what follows the last line feed
    header = parse_canonical(lines[0], "header")
    if set(header) != HEADER_KEYS or header["airlock_journal_export"] != 1:
        raise Bad("header: not an airlock journal export of version 1")
    spki = base64.b64decode(header["journal_key"]["spki"], validate=True)
    key, alg = load_key(spki)
    keyid = hashlib.sha256(spki).hexdigest()
    if header["journal_key"]["keyid"] != keyid or header["journal_key"]["alg"] != alg:
        raise Bad("header: journal_key's keyid or alg is not that of its spki")
    if args.key:
        with open(args.key, "rb") as f:
            want = serialization.load_pem_public_key(f.read()).public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if hashlib.sha256(want).hexdigest() != keyid:
            raise Bad(f"the journal key is {keyid}, not the expected one")
    root = base64.b64decode(header["anchor"]["root"], validate=True)
    root_sha256 = hashlib.sha256(root).hexdigest()
    if root_sha256 != header["anchor"]["root_sha256"]:
        raise Bad("header: anchor.root does not hash to anchor.root_sha256")
    if json.loads(root)["signed"]["version"] != header["anchor"]["root_version"]:
        raise Bad("header: anchor.root_version is not the root's version")

    prev, expected, anchor, last, pending = "0" * 64, 1, None, None, None
    for n, line in enumerate(lines[1:], start=1):
        try:
            r = parse_canonical(line, f"line {n}")
        except Bad as e:
            if pending is not None:
                raise Bad(pending[2])
            pending = (n, hashlib.sha256(line).hexdigest(), str(e))
            continue
        if set(r) != RECORD_KEYS or r["v"] != 1 or set(r["sig"]) != {"alg", "keyid", "value"}:
            raise Bad(f"line {n}: not a record")
        if pending is not None:
            torn = r["fields"].get("torn") or {}
            if r["event"] != "journal.recovered" or torn.get("line") != pending[0] or torn.get("sha256") != pending[1]:
                raise Bad(pending[2])
            pending = None
        if r["seq"] != expected:
            raise Bad(f"line {n} holds record {r['seq']} where record {expected} belongs")
        if r["prev"] != prev:
            raise Bad(f"record {r['seq']} does not chain to the record before it")
        unsigned = {k: v for k, v in r.items() if k != "sig"}
        sig = base64.b64decode(r["sig"]["value"], validate=True)
        if r["sig"]["alg"] != alg or r["sig"]["keyid"] != keyid or not verify_signature(
                key, alg, DOMAIN + canonical(unsigned), sig):
            raise Bad(f"record {r['seq']} has a bad signature")
        if r["seq"] == 1 and (r["event"] != "journal.started" or r["fields"]["journal_key"]["keyid"] != keyid):
            raise Bad("record 1 does not start the journal with this key")
        f = r["fields"]
        if r["event"] in ("journal.started", "anchor.provisioned"):
            anchor = (f["root_version"], f["root_sha256"])
        elif r["event"] == "anchor.advanced":
            anchor = (f["new_root_version"], f["new_root_sha256"])
        prev, expected, last = hashlib.sha256(line).hexdigest(), expected + 1, r
    if pending is not None:
        raise Bad(pending[2])
    if torn:
        raise Bad(f"line {len(lines)} is torn ({len(torn)} bytes without a line end)")
    if last is None or last["event"] != "journal.exported" or last["fields"]["records"] != last["seq"]:
        raise Bad("incomplete: the last record is not the export's own journal.exported record")
    f = last["fields"]
    if header["records"] != last["seq"] or f["journal_keyid"] != keyid or f["backend"] != header["backend"]:
        raise Bad("the header does not match the export record")
    if (f["root_version"], f["root_sha256"]) != (header["anchor"]["root_version"], root_sha256) or anchor != (
            header["anchor"]["root_version"], root_sha256):
        raise Bad("the header's root is not the anchor the records name")
    print(f"export intact: {last['seq']} records, key {alg} {keyid}, root version {anchor[0]} ({root_sha256})")


if __name__ == "__main__":
    try:
        main()
    except Bad as e:
        print(f"NOT INTACT: {e}", file=sys.stderr)
        sys.exit(1)
