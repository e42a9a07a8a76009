#!/usr/bin/env python3
"""An independent airlock bundle writer, written from bundle-format/SPEC.md
and bundle-format/METADATA.md alone (not from airlock's Rust code).

Given the inputs of `airlock pack` (and the same keys and
--source-date-epoch), it writes a bundle byte-identical to the one `airlock
pack` writes: proof that the SPEC defines every byte. It does not check the
supply chain (pack does, before it writes) and does not split into volumes.

    scripts/spec-writer.py --out B --root 1.root.json [--root 2.root.json …]
        --layout root.layout --layout-key owner.pub [--layout-key …]
        --links links/ --artifacts dist/ --key release.pem [--key …]
        --source-date-epoch SECS [--channel C] [--sequence N]
        [--expires 30d] [--attestation F …] [--product-step S] [--level 3]
        [--for ENCLAVE-ID …]

Needs Python 3.9+, `cryptography` (43 or later, for RFC 6979 ECDSA) and
`zstandard` 0.25.0, whose bundled libzstd 1.5.7 is the compressor SPEC.md
9.2 names. Exit 0: written; 2: bad arguments or inputs.
"""
import argparse
import base64
import hashlib
import json
import os
import stat
import sys
import tempfile

import zstandard
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

BLOCK = 512
HEAD_BLOCK = 131072
MANIFEST_PATH = "airlock/manifest.cbor"
SIGNATURES_PATH = "airlock/signatures.cbor"
CONTROL_MODE = 0o644
# SPEC.md 3.3: kind, manifest name, tar prefix, in stream order.
KINDS = [
    ("root", "meta/roots/"),
    ("layout", "meta/layout/"),
    ("layout-key", "meta/layout-keys/"),
    ("link", "meta/links/"),
    ("attestation", "meta/attestations/"),
    ("artifact", "artifacts/"),
]
KIND_ORDER = {name: i for i, (name, _) in enumerate(KINDS)}
PREFIX = dict(KINDS)
READ_CHUNK = 1 << 20


class Usage(Exception):
    pass


# ---- SPEC.md 3.1: tar headers ---------------------------------------------


def octal(value, width):
    """`width - 1` zero-padded octal digits, then NUL."""
    digits = format(value, "o")
    if len(digits) > width - 1:
        raise Usage(f"{value} does not fit a {width}-byte octal field")
    return digits.rjust(width - 1, "0").encode() + b"\0"


def number12(value):
    """A 12-byte size or mtime field: octal below 8^11, else base-256."""
    if value < 8**11:
        return octal(value, 12)
    return b"\x80\0\0\0" + value.to_bytes(8, "big")


def header_block(name, size, mode, mtime, typeflag):
    h = bytearray(BLOCK)
    h[0 : len(name)] = name
    h[100:108] = octal(mode, 8)
    h[108:116] = octal(0, 8)  # uid
    h[116:124] = octal(0, 8)  # gid
    h[124:136] = number12(size)
    h[136:148] = number12(mtime)
    h[156] = typeflag
    h[257:265] = b"ustar  \0"
    checksum = sum(h) + 8 * ord(" ")  # the checksum field counts as spaces
    h[148:156] = octal(checksum, 8)
    return bytes(h)


def name_field(path):
    """The name field of a path's regular-file header (SPEC.md 3.2)."""
    data = path.encode()
    if len(data) <= 100:
        return data
    cut = data[:100]
    while True:
        try:
            cut.decode()
            break
        except UnicodeDecodeError:
            cut = cut[:-1]
    if cut.endswith(b"/."):
        cut = cut[:-2]
    return cut


def padding_len(size):
    return (BLOCK - size % BLOCK) % BLOCK


def entry_header(path, size, mode, mtime):
    """Every byte before an entry's data: its long-name entry, if any, and header."""
    data = path.encode()
    out = b""
    if len(data) > 100:
        long_data = data + b"\0"
        out += header_block(b"././@LongLink", len(long_data), 0o644, 0, ord("L"))
        out += long_data + b"\0" * padding_len(len(long_data))
    return out + header_block(name_field(path), size, mode, mtime, ord("0"))


# ---- SPEC.md 5, 6: canonical CBOR ------------------------------------------


def cbor_head(major, n):
    m = major << 5
    if n < 24:
        return bytes([m | n])
    for extra, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * width):
            return bytes([m | extra]) + n.to_bytes(width, "big")
    raise Usage("integer too large")


def cbor(value):
    """Canonical CBOR of the subset the format uses; dict order is kept."""
    if value is None:
        return b"\xf6"
    if isinstance(value, int):
        return cbor_head(0, value)
    if isinstance(value, bytes):
        return cbor_head(2, len(value)) + value
    if isinstance(value, str):
        b = value.encode()
        return cbor_head(3, len(b)) + b
    if isinstance(value, list):
        return cbor_head(4, len(value)) + b"".join(cbor(v) for v in value)
    if isinstance(value, dict):
        return cbor_head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(type(value))


def manifest_bytes(m, bundle_id):
    fields = {
        "format": 1,
        "bundle_id": bundle_id,
        "channel": m["channel"],
        "sequence": m["sequence"],
        "created": m["created"],
        "expires": m["expires"],
        "payload_sha256": m["payload_sha256"],
        "supply_chain": {
            "layout_keyids": m["layout_keyids"],
            "product_step": m["product_step"],
        },
        "entries": [
            {"kind": e["kind"], "path": e["path"], "size": e["size"], "sha256": e["sha256"], "mode": e["mode"]}
            for e in m["entries"]
        ],
    }
    # SPEC.md 5.6: only when directed, after `entries`, sorted, each once.
    if m["enclaves"]:
        fields["enclaves"] = m["enclaves"]
    # SPEC.md 5.8: only for a payload cut into two frames or more, last.
    if len(m["frames"]) > 1:
        fields["frames"] = frame_index(m["frames"])
    return cbor(fields)


def frame_index(frames):
    """The `frames` byte string (SPEC.md 5.8): 48-byte records of length,
    SHA-256 and first payload entry."""
    return b"".join(f["len"].to_bytes(8, "big") + f["sha256"] + f["first_entry"].to_bytes(8, "big") for f in frames)


# ---- keys (METADATA.md 2) ---------------------------------------------------


def canonical_json(value):
    """securesystemslib canonical JSON: sorted keys, no whitespace, only
    backslash and double quote escaped in strings."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{" + ",".join(canonical_json(k) + ":" + canonical_json(value[k]) for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    raise TypeError(type(value))


def spki_pem(public):
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_object(public):
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": raw.hex()}}
    if isinstance(public, ec.EllipticCurvePublicKey):
        scheme = {"secp256r1": "ecdsa-sha2-nistp256", "secp384r1": "ecdsa-sha2-nistp384"}.get(public.curve.name)
        if scheme is None:
            raise Usage(f"unsupported curve {public.curve.name}")
        return {"keytype": "ecdsa", "scheme": scheme, "keyval": {"public": spki_pem(public).decode()}}
    if isinstance(public, rsa.RSAPublicKey):
        return {"keytype": "rsa", "scheme": "rsassa-pss-sha256", "keyval": {"public": spki_pem(public).decode()}}
    raise Usage("unsupported key type")


def keyid(public):
    return hashlib.sha256(canonical_json(key_object(public)).encode()).hexdigest()


ORDERS = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
}


def sign(private, msg):
    """SPEC.md 6.1: the signature bytes of `msg` for each key type."""
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.sign(msg)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        name = private.curve.name
        digest = hashes.SHA256() if name == "secp256r1" else hashes.SHA384()
        der = private.sign(msg, ec.ECDSA(digest, deterministic_signing=True))
        r, s = decode_dss_signature(der)
        n = ORDERS[name]
        if s > n // 2:
            s = n - s  # low-S
        return encode_dss_signature(r, s)
    if isinstance(private, rsa.RSAPrivateKey):
        print("warning: RSA-PSS signatures are randomized; this bundle is not reproducible", file=sys.stderr)
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return private.sign(msg, pss, hashes.SHA256())
    raise Usage("unsupported key type")


# ---- inputs (METADATA.md) ---------------------------------------------------


def walk(root):
    """Regular files under `root` (symlinks followed to regular files inside
    it), as (relative path, file, size, mode & 0o777), sorted by path bytes."""
    real_root = os.path.realpath(root)
    found = []
    stack = [(root, "")]
    while stack:
        d, prefix = stack.pop()
        for name in os.listdir(d):
            p = os.path.join(d, name)
            rel = f"{prefix}/{name}" if prefix else name
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                stack.append((p, rel))
                continue
            if stat.S_ISLNK(st.st_mode):
                target = os.path.realpath(p)
                if os.path.commonpath([real_root, target]) != real_root:
                    raise Usage(f"{p} points outside {root}")
                p, st = target, os.stat(target)
            if not stat.S_ISREG(st.st_mode):
                raise Usage(f"{p} is not a regular file")
            found.append((rel, p, st.st_size, st.st_mode & 0o777))
    found.sort(key=lambda f: f[0].encode())
    return found


def read(path):
    with open(path, "rb") as f:
        return f.read()


def signed_part(doc):
    """The signed object of a Metablock or a DSSE envelope."""
    if "payload" in doc:
        return json.loads(base64.b64decode(doc["payload"]))
    return doc["signed"]


def parse_duration(s):
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if len(s) < 2 or not s[:-1].isdigit() or s[-1] not in units or int(s[:-1]) == 0:
        raise Usage(f"{s} is not a duration like 30d")
    return int(s[:-1]) * units[s[-1]]


def load_private(path):
    try:
        return serialization.load_pem_private_key(read(path), password=None)
    except (ValueError, TypeError) as e:
        raise Usage(f"{path}: not an unencrypted PEM private key ({e})")


def metadata_entries(a):
    """(kind, path, bytes) of every metadata file, as METADATA.md 1 lays them out."""
    out = []
    roots = []
    for r in a.root:
        b = read(r)
        roots.append((signed_part(json.loads(b))["version"], b))
    roots.sort(key=lambda x: x[0])
    for version, b in roots:
        out.append(("root", f"{version:010}.root.json", b))
    layout = read(a.layout)
    out.append(("layout", os.path.basename(a.layout), layout))
    keyids = []
    for p in a.layout_key:
        public = serialization.load_pem_public_key(read(p))
        kid = keyid(public)
        if kid not in keyids:
            keyids.append(kid)
            out.append(("layout-key", f"{kid}.pub", spki_pem(public)))
    for rel, f, _, _ in walk(a.links):
        out.append(("link", rel, read(f)))
    for p in a.attestation:
        out.append(("attestation", os.path.basename(p), read(p)))
    step = a.product_step
    if step is None:
        step = signed_part(json.loads(layout))["steps"][-1]["name"]
    return out, sorted(keyids), step


def entry(kind, path, data_or_size, digest, mode):
    return {"kind": kind, "path": path, "size": data_or_size, "sha256": digest, "mode": mode}


# ---- SPEC.md 9: writing -----------------------------------------------------


# SPEC.md 5.8: a new payload frame starts before an entry once the current
# one holds at least this many bytes of tar stream.
FRAME_CUT = 64 << 20


def write_payload(out, artifacts, mtime, level):
    """Frame P (SPEC.md 9.2), cut into frames as SPEC.md 5.8 says, into the
    open file `out`; returns the artifact entries, `payload_sha256` (the
    SHA-256 of P when it is one frame, of the frame index when it is several:
    SPEC.md 2.2, 5.8) and the frame records."""
    params = zstandard.ZstdCompressionParameters(
        compression_level=level, threads=1, job_size=4 << 20, write_checksum=1, write_content_size=0
    )

    def fresh():
        # Every frame on a fresh compression context (SPEC.md 9.2).
        return zstandard.ZstdCompressor(compression_params=params).compressobj()

    comp = fresh()
    payload_hash = hashlib.sha256()
    frames = []
    cur = {"hash": hashlib.sha256(), "len": 0, "first_entry": 0, "tar": 0}

    def emit(b):
        if b:
            payload_hash.update(b)
            cur["hash"].update(b)
            cur["len"] += len(b)
            out.write(b)

    def end_frame():
        emit(comp.flush())
        frames.append({"len": cur["len"], "sha256": cur["hash"].digest(), "first_entry": cur["first_entry"]})

    entries = []
    for i, (rel, f, size, mode) in enumerate(artifacts):
        path = PREFIX["artifact"] + rel
        header = entry_header(path, size, mode, mtime)
        if i > 0 and cur["tar"] >= FRAME_CUT:
            end_frame()
            comp = fresh()
            cur.update(hash=hashlib.sha256(), len=0, first_entry=i, tar=0)
        cur["tar"] += len(header) + size + padding_len(size)
        emit(comp.compress(header))
        h = hashlib.sha256()
        n = 0
        with open(f, "rb") as src:
            while True:
                chunk = src.read(READ_CHUNK)
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
                emit(comp.compress(chunk))
        if n != size:
            raise Usage(f"{f} changed while packing")
        emit(comp.compress(b"\0" * padding_len(size)))
        entries.append(entry("artifact", rel, size, h.digest(), mode))
    emit(comp.compress(b"\0" * (2 * BLOCK)))
    end_frame()
    if len(frames) > 1:
        return entries, hashlib.sha256(frame_index(frames)).digest(), frames
    return entries, payload_hash.digest(), frames


def head_frame(tar):
    """Frame H (SPEC.md 2.1)."""
    out = bytearray(b"\x28\xb5\x2f\xfd\x00\x38")
    chunks = [tar[i : i + HEAD_BLOCK] for i in range(0, len(tar), HEAD_BLOCK)]
    for i, c in enumerate(chunks):
        header = len(c) << 3 | (1 if i == len(chunks) - 1 else 0)
        out += header.to_bytes(3, "little") + c
    return bytes(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", action="append", required=True)
    ap.add_argument("--layout", required=True)
    ap.add_argument("--layout-key", action="append", required=True)
    ap.add_argument("--links", required=True)
    ap.add_argument("--artifacts", required=True)
    ap.add_argument("--attestation", action="append", default=[])
    ap.add_argument("--key", action="append", required=True)
    ap.add_argument("--channel", default="default")
    ap.add_argument("--sequence", type=int)
    ap.add_argument("--expires", default="30d")
    ap.add_argument("--source-date-epoch", type=int, default=os.environ.get("SOURCE_DATE_EPOCH"))
    ap.add_argument("--product-step")
    ap.add_argument("--level", type=int, default=3)
    ap.add_argument("--for", dest="enclaves", action="append", default=[])
    a = ap.parse_args()
    if zstandard.ZSTD_VERSION != (1, 5, 7):
        raise Usage(f"byte-identical output needs libzstd 1.5.7; zstandard {zstandard.__version__} has {zstandard.ZSTD_VERSION}")
    if a.source_date_epoch is None:
        raise Usage("give --source-date-epoch (or SOURCE_DATE_EPOCH)")
    if not 1 <= a.level <= 19:
        raise Usage("--level must be 1 to 19")
    created = int(a.source_date_epoch)
    meta, layout_keyids, step = metadata_entries(a)
    keys = [load_private(k) for k in a.key]
    artifacts = walk(a.artifacts)

    out_dir = os.path.dirname(os.path.abspath(a.out))
    with tempfile.TemporaryFile(dir=out_dir) as payload:
        artifact_entries, payload_sha256, frames = write_payload(payload, artifacts, created, a.level)
        entries = [entry(k, p, len(b), hashlib.sha256(b).digest(), 0o644) for k, p, b in meta]
        entries += artifact_entries
        entries.sort(key=lambda e: (KIND_ORDER[e["kind"]], e["path"].encode()))
        m = {
            "channel": a.channel,
            "sequence": a.sequence if a.sequence is not None else created,
            "created": created,
            "expires": created + parse_duration(a.expires),
            "payload_sha256": payload_sha256,
            "layout_keyids": layout_keyids,
            "product_step": step,
            "entries": entries,
            "enclaves": sorted(set(a.enclaves)),
            "frames": frames,
        }
        bundle_id = hashlib.sha256(manifest_bytes(m, "")).digest()[:16].hex()
        manifest = manifest_bytes(m, bundle_id)
        message = b"airlock-bundle-manifest-v1\n" + hashlib.sha256(manifest).digest()
        sigs = sorted(({"keyid": keyid(k.public_key()), "sig": sign(k, message)} for k in keys), key=lambda s: s["keyid"])
        signatures = cbor(sigs)

        tar = bytearray()
        for path, data, mode in [(MANIFEST_PATH, manifest, CONTROL_MODE), (SIGNATURES_PATH, signatures, CONTROL_MODE)] + [
            (PREFIX[k] + p, b, 0o644) for k, p, b in sorted(meta, key=lambda x: (KIND_ORDER[x[0]], x[1].encode()))
        ]:
            tar += entry_header(path, len(data), mode, created) + data + b"\0" * padding_len(len(data))

        with open(a.out, "wb") as f:
            f.write(head_frame(bytes(tar)))
            payload.seek(0)
            while True:
                chunk = payload.read(READ_CHUNK)
                if not chunk:
                    break
                f.write(chunk)
    print(f"wrote {a.out}: bundle {bundle_id}")


if __name__ == "__main__":
    try:
        main()
    except (Usage, OSError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
