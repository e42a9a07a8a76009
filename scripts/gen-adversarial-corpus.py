#!/usr/bin/env python3
"""Builds tests/vectors/corpus/: an independent corpus of adversarial bundles,
written from bundle-format/SPEC.md, bundle-format/METADATA.md, docs/codes.md,
docs/isolated-side.md and docs/threat-model.md alone (not from airlock's Rust
code, nor its own crafted-bundle tests).

Every bundle is named for the verdict the documents give it:
`<expected-code>--<case>.airlock` must be refused with exit 1 and exactly that
error code, `accept--<case>.airlock` must be accepted. tests/e2e/corpus.rs
verifies and unpacks every one against a store anchored with the corpus's
`1.root.json` on the channels in `channels.txt`, at the fixed verification
time in `at.txt` (`--at`), so the verdicts do not depend on the clock.

The base writer is scripts/spec-writer.py (also written from the SPEC alone,
byte-identical to `airlock pack`); this script reuses its tar, CBOR and
signing functions and adds hooks at every layer (entries, manifest map,
manifest bytes, signatures, tar items, frames, file) to damage one thing at
a time while keeping everything else valid: bundle ids are recomputed,
manifests re-signed, links re-recorded and payload digests taken over the
damaged frame (or the damaged frame index), so that each case reaches the one check it is about.

Keys (Ed25519 and ECDSA P-256) are derived from fixed seeds and written to
`keys/`; the root, layouts, links and attestations are written and signed
here (canonical JSON, METADATA.md 2.2); `created` is fixed; zstd is
python-zstandard 0.25.0 (libzstd 1.5.7). So the corpus is reproducible byte
for byte: running this script again rewrites the same files.

    target/spec-writer-venv/bin/python scripts/gen-adversarial-corpus.py [OUT]

(scripts/test.sh makes that venv.) Default OUT: tests/vectors/corpus.
"""
import base64
import hashlib
import importlib.util
import json
import os
import shutil
import sys

import zstandard
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ beside spec-writer.py
_spec = importlib.util.spec_from_file_location("spec_writer", os.path.join(HERE, "spec-writer.py"))
sw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sw)

BLOCK = 512
# The fixed times: packed on 2026-11-14T22:13:20Z, verified "at"
# 2027-01-01T00:00:00Z (tests pass --at, so no verdict depends on the clock).
CREATED = 1794694400
AT = 1798761600
AT_TEXT = "2027-01-01T00:00:00Z"
FAR = CREATED + 36500 * 86400
CHANNEL = "corpus"
LONG_CHANNEL = "c" * 60 + "-._9"  # 64 bytes of [A-Za-z0-9._-]
CHANNELS = [CHANNEL, LONG_CHANNEL]

# ---- keys ---------------------------------------------------------------------


def _ed(seed):
    return ed25519.Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


KEYS = {
    "root": _ed(0x11),
    "release": _ed(0x12),
    "release2": _ed(0x13),
    "owner": _ed(0x14),
    "builder": _ed(0x15),
    "rogue": _ed(0x16),
    "release-p256": ec.derive_private_key(0x5EC0FFEE5EC0FFEE5EC0FFEE5EC0FFEE, ec.SECP256R1()),
}
P256_N = sw.ORDERS["secp256r1"]


def pub(name):
    return KEYS[name].public_key()


def kid(name):
    return sw.keyid(pub(name))


def kobj(name):
    return sw.key_object(pub(name))


def json_sig(name, signed):
    """A Metablock / TUF signature: hex over the canonical JSON of `signed`."""
    return {"keyid": kid(name), "sig": KEYS[name].sign(sw.canonical_json(signed).encode()).hex()}


def pretty(doc):
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


# ---- TUF roots, in-toto layouts, links, attestations -----------------------------


def make_root(version=1, targets=("release", "release-p256"), threshold=1, layout_keys=("owner",),
              layout_threshold=1, x_layout=True, expires="2099-12-31T00:00:00Z", signers=("root",)):
    rid = kid("root")
    keys = {rid: kobj("root")}
    for t in targets:
        keys[kid(t)] = kobj(t)
    signed = {
        "_type": "root",
        "consistent_snapshot": False,
        "expires": expires,
        "keys": keys,
        "roles": {
            "root": {"keyids": [rid], "threshold": 1},
            "snapshot": {"keyids": [rid], "threshold": 1},
            "targets": {"keyids": sorted(kid(t) for t in targets), "threshold": threshold},
            "timestamp": {"keyids": [rid], "threshold": 1},
        },
        "spec_version": "1.0.31",
        "version": version,
    }
    if x_layout:
        signed["x-airlock-layout"] = {"keys": {kid(k): kobj(k) for k in layout_keys}, "threshold": layout_threshold}
    return pretty({"signatures": [json_sig(s, signed) for s in signers], "signed": signed})


ROOT1 = make_root()


def step(name="build", key="builder", products=(("ALLOW", "*"),), materials=(), keys=None, threshold=1):
    return {
        "_type": "step",
        "expected_command": [],
        "expected_materials": [list(r) for r in materials],
        "expected_products": [list(r) for r in products],
        "name": name,
        "pubkeys": sorted(kid(k) for k in (keys or [key])),
        "threshold": threshold,
    }


def make_layout(steps=None, expires="2099-01-01T00:00:00Z", signers=("owner",), readme="adversarial corpus",
                tamper=None, inspect=()):
    steps = steps or [step()]
    keys = {}
    for s in steps:
        for k in s["pubkeys"]:
            keys[k] = next(kobj(n) for n in KEYS if kid(n) == k)
    signed = {"_type": "layout", "expires": expires, "inspect": list(inspect), "keys": keys, "readme": readme,
              "steps": steps}
    sigs = [json_sig(s, signed) for s in signers]
    if tamper:
        signed = dict(signed, **tamper)  # changed after signing
    return pretty({"signatures": sigs, "signed": signed})


def make_link(products, name="build", key="builder", materials=()):
    signed = {
        "_type": "link",
        "byproducts": {},
        "command": [],
        "environment": {},
        "materials": {p: {"sha256": hashlib.sha256(d).hexdigest()} for p, d in materials},
        "name": name,
        "products": {p: {"sha256": hashlib.sha256(d).hexdigest()} for p, d in products},
    }
    return pretty({"signatures": [json_sig(key, signed)], "signed": signed})


def link_name(step_name="build", key="builder"):
    return f"{step_name}.{kid(key)[:8]}.link"


PAYLOAD_TYPE = "application/vnd.in-toto+json"


def make_attestation(key="builder", statement=None):
    body = statement or {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "bin/tool", "digest": {"sha256": hashlib.sha256(TOOL).hexdigest()}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {},
    }
    payload = json.dumps(body, sort_keys=True).encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(payload), payload)
    sig = base64.b64encode(KEYS[key].sign(pae)).decode()
    env = {"payload": base64.b64encode(payload).decode(), "payloadType": PAYLOAD_TYPE,
           "signatures": [{"keyid": kid(key), "sig": sig}]}
    return pretty(env)


# ---- CBOR with escape hatches ---------------------------------------------------


class Raw:
    """A CBOR item written as `enc` but meaning `value` (for bundle ids)."""

    def __init__(self, enc, value):
        self.enc, self.value = enc, value


class Pairs(list):
    """A map given as (key, value) pairs: duplicates and any order allowed."""


def cbor(v, canon=False):
    if isinstance(v, Raw):
        return cbor(v.value, canon) if canon else v.enc
    if v is None:
        return b"\xf6"
    if v is True:
        return b"\xf5"
    if v is False:
        return b"\xf4"
    if isinstance(v, int):
        return sw.cbor_head(0, v)
    if isinstance(v, bytes):
        return sw.cbor_head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode("utf-8", "surrogatepass")
        return sw.cbor_head(3, len(b)) + b
    if isinstance(v, list) and not isinstance(v, Pairs):
        return sw.cbor_head(4, len(v)) + b"".join(cbor(x, canon) for x in v)
    if isinstance(v, Pairs):
        return sw.cbor_head(5, len(v)) + b"".join(cbor(k, canon) + cbor(x, canon) for k, x in v)
    if isinstance(v, dict):
        return sw.cbor_head(5, len(v)) + b"".join(cbor(k, canon) + cbor(x, canon) for k, x in v.items())
    raise TypeError(type(v))


# ---- tar ---------------------------------------------------------------------------


def fix_checksum(h):
    h = bytearray(h)
    h[148:156] = b" " * 8
    h[148:156] = sw.octal(sum(h), 8)
    return bytes(h)


def hset(h, off, val, fix=True):
    """Sets bytes of a 512-byte header; re-computes the checksum as a forger would."""
    h = bytearray(h)
    h[off:off + len(val)] = val
    return fix_checksum(h) if fix else bytes(h)


class Item:
    """One tar entry: `pre` (a long-name entry, if any), `hdr` (the 512-byte
    header), `data`, `pad`."""

    def __init__(self, path, data, mode, mtime):
        whole = sw.entry_header(path, len(data), mode, mtime)
        self.path = path
        self.pre, self.hdr = whole[:-BLOCK], whole[-BLOCK:]
        self.data = data
        self.pad = b"\0" * sw.padding_len(len(data))

    def bytes(self):
        return self.pre + self.hdr + self.data + self.pad

    def edit(self, off, val, fix=True):
        self.hdr = hset(self.hdr, off, val, fix)
        return self


def raw_header(name, size, mode, mtime, typeflag):
    return sw.header_block(name, size, mode, mtime, typeflag)


# ---- zstd frames -------------------------------------------------------------------


def compress(data, level=3, checksum=True, content_size=False):
    c = zstandard.ZstdCompressor(level=level, threads=1, write_checksum=checksum, write_content_size=content_size)
    if content_size:
        return c.compress(data)
    obj = c.compressobj()
    return obj.compress(data) + obj.flush()


def block_header(size, btype=0, last=False):
    return (size << 3 | btype << 1 | (1 if last else 0)).to_bytes(3, "little")


def raw_frame(data, fhd=0x00, window=0x70, extra=b"", block=131072):
    """A zstd frame of raw blocks: magic, descriptor, window byte (absent
    when single-segment), `extra` header bytes (dictionary id, content size)."""
    out = bytearray(b"\x28\xb5\x2f\xfd") + bytes([fhd])
    if not fhd & 0x20:
        out.append(window)
    out += extra
    chunks = [data[i:i + block] for i in range(0, len(data), block)] or [b""]
    for i, c in enumerate(chunks):
        out += block_header(len(c), 0, i == len(chunks) - 1) + c
    return bytes(out)


def skippable(payload=b"airlock"):
    return b"\x50\x2a\x4d\x18" + len(payload).to_bytes(4, "little") + payload


# ---- the bundle ------------------------------------------------------------------------


def pseudo(n, seed):
    out = b""
    x = hashlib.sha256(b"corpus%d" % seed).digest()
    while len(out) < n:
        out += x
        x = hashlib.sha256(x).digest()
    return out[:n]


TOOL = b"#!/bin/sh\necho adversarial corpus\n" + pseudo(3000, 1)
README = b"the adversarial corpus: every bundle here is named for its verdict\n"
BASE_ARTIFACTS = [("bin/tool", TOOL, 0o755), ("doc/README.txt", README, 0o644)]
KIND_ORDER = sw.KIND_ORDER
PREFIX = sw.PREFIX


class Bundle:
    """The inputs of one bundle, and hooks that damage one layer each."""

    def __init__(self, **kw):
        self.artifacts = list(BASE_ARTIFACTS)
        self.created = CREATED
        self.expires = FAR
        self.channel = CHANNEL
        self.sequence = 1
        self.roots = [(1, ROOT1)]
        self.layouts = [("root.layout", make_layout())]
        self.layout_keys = ["owner"]  # layout-key entries
        self.layout_keyids = None  # default: the entries' keyids, sorted
        self.links = None  # default: one link recording the artifacts
        self.link_products = None  # default: the artifacts
        self.extra_links = []
        self.attestations = []
        self.product_step = "build"
        self.signers = ["release"]
        self.posix_names = False
        self.enclaves = []  # SPEC 5.6: the `enclaves` key, when not empty
        self.level = 3
        self.hooks = {}
        for k, v in kw.items():
            if k.startswith("h_"):
                self.hooks[k[2:]] = v
            else:
                assert hasattr(self, k), k
                setattr(self, k, v)

    def hook(self, name, value, *args):
        f = self.hooks.get(name)
        return value if f is None else f(value, *args)

    def meta(self):
        out = [("root", f"{v:010}.root.json", b) for v, b in self.roots]
        out += [("layout", n, b) for n, b in self.layouts]
        for k in self.layout_keys:
            out.append(("layout-key", f"{kid(k)}.pub", sw.spki_pem(pub(k))))
        if self.links is None:
            products = self.link_products
            if products is None:
                products = [(p, d) for p, d, _ in self.artifacts]
            out.append(("link", link_name(), make_link(products)))
        else:
            out += [("link", n, b) for n, b in self.links]
        out += [("link", n, b) for n, b in self.extra_links]
        out += [("attestation", n, b) for n, b in self.attestations]
        return out

    def render(self):
        mtime = self.created
        meta = sorted(self.hook("meta", self.meta()), key=lambda m: (KIND_ORDER[m[0]], m[1].encode()))
        arts = sorted(self.artifacts, key=lambda a: a[0].encode())
        # Frame P.
        items = [Item(PREFIX["artifact"] + p, d, m, mtime) for p, d, m in arts]
        items = self.hook("payload_items", items)
        item_bytes = [i.bytes() if isinstance(i, Item) else i for i in items]
        # SPEC 5.8: cut before an item once the frame holds FRAME_CUT bytes.
        parts, firsts = [[]], [0]
        for n, b in enumerate(item_bytes):
            if n > 0 and sum(len(x) for x in parts[-1]) >= sw.FRAME_CUT:
                parts.append([])
                firsts.append(n)
            parts[-1].append(b)
        parts = [b"".join(x) for x in parts]
        parts[-1] += b"\0" * 1024
        records = []
        if len(parts) == 1:
            tar = self.hook("payload_tar", parts[0])
            frame_p = compress(tar, self.level)
        else:
            parts = self.hook("frame_parts", parts)
            frames = [compress(x, self.level) for x in parts]
            records = [{"len": len(f), "sha256": hashlib.sha256(f).digest(), "first_entry": e}
                       for f, e in zip(frames, firsts)]
            frames = self.hook("frames_stored", frames)
            tar = b"".join(parts)
            frame_p = b"".join(frames)
        records = self.hook("frame_records", records)
        frame_p = self.hook("frame_p", frame_p, tar)
        index = b"".join(r["len"].to_bytes(8, "big") + r["sha256"] + r["first_entry"].to_bytes(8, "big")
                         for r in records)
        # SPEC 2.2, 5.8: the SHA-256 of P, or, with a frame index, of the index.
        payload_sha256 = hashlib.sha256(index if records else frame_p).digest()
        payload_sha256 = self.hook("payload_sha256", payload_sha256, frame_p)
        # The manifest.
        entries = [{"kind": k, "path": p, "size": len(b), "sha256": hashlib.sha256(b).digest(), "mode": 0o644}
                   for k, p, b in meta]
        entries += [{"kind": "artifact", "path": p, "size": len(d), "sha256": hashlib.sha256(d).digest(), "mode": m}
                    for p, d, m in arts]
        entries = self.hook("entries", entries)
        keyids = self.layout_keyids if self.layout_keyids is not None else sorted(kid(k) for k in self.layout_keys)
        m = {
            "format": 1,
            "bundle_id": "",
            "channel": self.channel,
            "sequence": self.sequence,
            "created": self.created,
            "expires": self.expires,
            "payload_sha256": payload_sha256,
            "supply_chain": {"layout_keyids": keyids, "product_step": self.product_step},
            "entries": entries,
        }
        if self.enclaves:
            m["enclaves"] = self.enclaves
        if self.posix_names:
            m["posix_names"] = True
        if records:
            m["frames"] = index
        m = self.hook("manifest_map", m)
        if isinstance(m, dict):
            m["bundle_id"] = self.hook("bundle_id", hashlib.sha256(cbor(m, canon=True)).digest()[:16].hex(), m)
            self.bundle_id = m["bundle_id"]
        manifest = self.hook("manifest_bytes", cbor(m))
        message = b"airlock-bundle-manifest-v1\n" + hashlib.sha256(manifest).digest()
        sigs = sorted(({"keyid": kid(s), "sig": sw.sign(KEYS[s], message)} for s in self.signers),
                      key=lambda s: s["keyid"])
        sigs = self.hook("signatures", sigs, message)
        signatures = self.hook("signatures_bytes", cbor(sigs))
        # Frame H.
        head = [Item(sw.MANIFEST_PATH, manifest, 0o644, mtime), Item(sw.SIGNATURES_PATH, signatures, 0o644, mtime)]
        head += [Item(PREFIX[k] + p, b, 0o644, mtime) for k, p, b in meta]
        head = self.hook("head_items", head)
        head_tar = self.hook("head_tar", b"".join(i.bytes() if isinstance(i, Item) else i for i in head))
        frame_h = self.hook("frame_h", sw.head_frame(head_tar), head_tar)
        self.head_len = len(frame_h)
        return self.hook("file", frame_h + frame_p)


# ---- the cases ---------------------------------------------------------------------------

CASES = []  # (file stem, expected code, section, what was done, Bundle or bytes)


def case(code, name, section, what, **kw):
    CASES.append((code, name, section, what, kw))


def at(i, f):
    """A hook on a list that applies `f` to its element `i`."""

    def h(lst, *_):
        lst = list(lst)
        lst[i] = f(lst[i])
        return lst

    return h


def on_entry(path, f):
    """An `entries` hook that applies `f` to the entry whose path is `path`."""

    def h(entries):
        return [f(dict(e)) if e["path"] == path else e for e in entries]

    return h


def edit_field(off, val, fix=True):
    return lambda it: it.edit(off, val, fix)


def set_map(**changes):
    def h(m):
        m = dict(m)
        for k, v in changes.items():
            m[k] = v
        return m

    return h


TOOL_I, README_I = 0, 1  # payload item indices (sorted: bin/tool, doc/README.txt)
# head item indices: manifest, signatures, root, layout, layout-key, link
H_MANIFEST, H_SIGS, H_ROOT, H_LAYOUT, H_LKEY, H_LINK = range(6)


def arts_with(*extra, base=True):
    return (list(BASE_ARTIFACTS) if base else []) + [(p, d, m) for p, d, m in extra]


def A(path, data=b"x\n", mode=0o644):
    return (path, data, mode)


# ---- accepted --------------------------------------------------------------------------
case("accept", "baseline", "9", "written exactly as SPEC 9 and METADATA 1 say")
case("accept", "empty-artifact", "3.1", "an artifact of 0 bytes: no data block at all",
     artifacts=arts_with(A("empty.dat", b"")))
case("accept", "no-artifacts", "2, 3.4", "no artifact entries: frame P is the end-of-archive only", artifacts=[])
case("accept", "artifact-exactly-512", "3.1", "an artifact of exactly 512 bytes: no padding",
     artifacts=arts_with(A("block.bin", pseudo(512, 2))))
case("accept", "name-field-exactly-100", "3.2", "a tar path of exactly 100 bytes fills the name field, no NUL",
     artifacts=arts_with(A("n" * 90)))
case("accept", "long-name-101", "3.2", "a tar path of 101 bytes: one GNU long-name entry",
     artifacts=arts_with(A("n" * 91)))
case("accept", "long-name-cut-at-dot", "3.2", "long name whose first 100 bytes end in `/.`: name field drops it",
     artifacts=arts_with(A("d" * 88 + "/.hidden")))
case("accept", "long-name-cut-in-utf8", "3.2", "long name cut inside a 3-byte character: name field cut back",
     artifacts=arts_with(A("q" * 88 + "/文件")))
_p4096 = "/".join(["p" * 254] * 17)[: 4096 - len("artifacts/")]
case("accept", "path-4096-bytes", "4, 7", "full tar path of exactly max_path_bytes (4096), long-name entry of 4097",
     artifacts=arts_with(A(_p4096)))
case("accept", "component-255-bytes", "4, 7", "a component of exactly max_component_bytes (255)",
     artifacts=arts_with(A("c" * 255)))
case("accept", "mode-setuid-sticky", "5.2", "artifact mode 0o7755 (format allows up to 0o7777)",
     artifacts=arts_with(A("suid", b"s\n", 0o7755)))
case("accept", "mode-0000", "5.2", "artifact mode 0", artifacts=arts_with(A("nomode", b"m\n", 0o000)))
case("accept", "bidi-u202e-name", "4", "a name with U+202E (Cf, not Cc): allowed, shown escaped",
     artifacts=arts_with(A("evil\u202etxt.exe")))
case("accept", "line-separator-u2028-name", "4", "a name with U+2028 (Zl): allowed", artifacts=arts_with(A("a\u2028b")))
case("accept", "nfd-name-alone", "4.1", "a name in NFD with no colliding twin", artifacts=arts_with(A("cafe\u0301")))
case("accept", "windows-com0", "4.1", "COM0 is not in the device list (COM1-COM9)", artifacts=arts_with(A("COM0")))
case("accept", "windows-console-txt", "4.1", "`console.txt`: the part before the first `.` is not a device name",
     artifacts=arts_with(A("console.txt")))
case("accept", "windows-con-inside-name", "4.1", "`icon` and `con_x` are not device names",
     artifacts=arts_with(A("icon"), A("con_x")))
case("accept", "case-differs-across-kinds", "4.1", "artifact `Notes` and link `notes`: compared per kind",
     artifacts=arts_with(A("Notes")), extra_links=[("notes", b"carried and ignored\n")])
case("accept", "posix-names-case-collision", "4.1, 5.2", "`posix_names: true` waives collisions: README/readme",
     artifacts=arts_with(A("README"), A("readme")), posix_names=True)
case("accept", "posix-names-windows-names", "4.1, 5.2", "`posix_names: true` waives `con`, `a:b`, `x.`",
     artifacts=arts_with(A("con"), A("a:b"), A("x.")), posix_names=True)
case("accept", "posix-names-c1-control", "4, 4.1", "`posix_names: true`: U+009B (C1, Cc) is not an ASCII control",
     artifacts=arts_with(A("csi\u009bname")), posix_names=True)
case("accept", "product-step-null", "5.2, METADATA 3", "`product_step: null` = the layout's last step",
     product_step=None)
case("accept", "created-at-skew-limit", "METADATA 3", "created = verification time + 900 s exactly",
     created=AT + 900, expires=AT + 100000)
case("accept", "expires-one-second-after", "METADATA 3", "expires = verification time + 1", expires=AT + 1)
case("accept", "channel-64-bytes", "5.2", "a 64-byte channel (allowed by the store)", channel=LONG_CHANNEL)
case("sequence-out-of-range", "sequence-u64-max", "5.2", "sequence 2^64 - 1: above the 2^53 - 1 airlock accepts", sequence=2**64 - 1)
case("accept", "sequence-2-pow-53-minus-1", "5.2", "sequence 2^53 - 1, the largest accepted", sequence=2**53 - 1)
case("accept", "expires-u64-max", "5.2", "expires 2^64 - 1", expires=2**64 - 1)
case("accept", "two-signers", "METADATA 2.3", "signed by both targets keys (Ed25519 and ECDSA P-256)",
     signers=["release", "release-p256"])
case("accept", "ecdsa-p256-low-s", "6.1", "signed by the ECDSA P-256 targets key, low-S", signers=["release-p256"])
case("accept", "attestation", "METADATA 1.4", "a DSSE attestation signed by the functionary key",
     attestations=[("prov.dsse.json", make_attestation())])
case("accept", "attestation-by-layout-key", "METADATA 1.4", "a DSSE attestation signed by the layout key",
     attestations=[("prov.dsse.json", make_attestation("owner"))])
case("accept", "extra-link-files", "METADATA 1.3", "files under meta/links/ no step asks for are carried",
     extra_links=[("other/build.deadbeef.link", b"{}\n"), ("zz-notes.txt", b"notes\n")])
case("accept", "multi-block-head", "2.1", "a head of 2 raw blocks (a 140 KB extra link file)",
     extra_links=[("big.bin", pseudo(140_000, 3))])
case("accept", "level-1", "9.2", "frame P at zstd level 1", level=1)
case("accept", "level-19", "9.2", "frame P at zstd level 19", level=19)
case("accept", "payload-no-checksum", "2.2", "frame P without content checksum (MAY)",
     h_frame_p=lambda p, tar: compress(tar, checksum=False))
case("accept", "payload-content-size", "2.2, 9.2", "frame P with Frame_Content_Size (any frame meeting 2.2)",
     h_frame_p=lambda p, tar: compress(tar, content_size=True))
case("accept", "payload-raw-blocks", "2.2", "frame P of raw blocks, window 2^24 exactly (the limit)",
     h_frame_p=lambda p, tar: raw_frame(tar, window=0x70))
case("accept", "payload-rle-block", "2.2", "frame P ends with an RLE block for the end-of-archive zeros",
     h_frame_p=lambda p, tar: _rle_frame(tar))
case("accept", "many-entries", "5.3", "300 artifacts",
     artifacts=arts_with(*[A(f"many/{i:04}", b"%d\n" % i) for i in range(300)]))
case("accept", "metadata-in-several-kinds", "3.4", "roots, layout, keys, links and attestations all present",
     attestations=[("a.json", make_attestation()), ("b.json", make_attestation("owner"))],
     extra_links=[("x.txt", b"x\n")])


# ---- payload frames (SPEC 5.8) -------------------------------------------------------

# Zeros of exactly the cut with their header: `a/big` alone fills frame 1, the
# base artifacts and the end-of-archive are frame 2 (a few KB compressed).
BIG = ("a/big", b"\0" * (sw.FRAME_CUT - BLOCK), 0o644)
CUT_ARTS = arts_with(BIG)


def _recs(f):
    return lambda rs: f([dict(r) for r in rs])


def _flip_sha(rs):
    rs[0]["sha256"] = bytes([rs[0]["sha256"][0] ^ 1]) + rs[0]["sha256"][1:]
    return rs


def _set_first(rs):
    rs[1]["first_entry"] = 2
    return rs


case("accept", "payload-cut-in-two-frames", "5.8", "64 MiB of tar stream in `a/big`: the rest is a second frame, "
     "listed with the first in the signed `frames` index", artifacts=CUT_ARTS)
case("frame-index-malformed", "frames-first-entry-elsewhere", "5.8",
     "the index puts frame 2's first entry at 2, the cut rule at 1", artifacts=CUT_ARTS, h_frame_records=_recs(_set_first))
case("frame-index-malformed", "frames-one-record", "5.8", "an index of one record: a second encoding of one frame",
     artifacts=CUT_ARTS, h_frame_records=_recs(lambda rs: rs[:1]))
case("frame-index-malformed", "frames-record-too-many", "5.8", "an index of three records for two frames",
     artifacts=CUT_ARTS, h_frame_records=_recs(lambda rs: rs + [rs[1]]))
case("frame-index-malformed", "frames-on-a-small-payload", "5.8",
     "an index of two records on a payload below the cut (one frame)",
     h_manifest_map=set_map(frames=(b"\0" * 7 + b"\x09" + b"\x11" * 32 + b"\0" * 8) * 2))
case("frame-index-malformed", "frames-not-whole-records", "5.8", "a `frames` byte string of 95 bytes",
     artifacts=CUT_ARTS, h_manifest_map=lambda m: dict(m, frames=m["frames"][:-1]))
case("frame-index-malformed", "frames-zero-length", "5.8", "a record of length 0",
     artifacts=CUT_ARTS, h_frame_records=_recs(lambda rs: [dict(rs[0], len=0), rs[1]]))
case("payload-frame-mismatch", "frame-digest-differs", "5.8", "frame 1's SHA-256 in the index is off by one bit",
     artifacts=CUT_ARTS, h_frame_records=_recs(_flip_sha))
case("payload-frame-mismatch", "frame-length-differs", "5.8", "frame 1's length in the index is one byte more",
     artifacts=CUT_ARTS, h_frame_records=_recs(lambda rs: [dict(rs[0], len=rs[0]["len"] + 1), rs[1]]))
case("payload-frame-mismatch", "frame-recompressed", "5.8",
     "frame 2 stored compressed at level 19: the same entries, other bytes than the index's",
     artifacts=CUT_ARTS, h_frames_stored=lambda fs: [fs[0], compress(zstandard.ZstdDecompressor().decompress(
         fs[1], max_output_size=1 << 20), 19)])
case("payload-frame-mismatch", "frames-cut-late", "5.8",
     "frame 1 also holds `bin/tool`: every byte listed honestly, the cut not where the rule puts it",
     artifacts=CUT_ARTS, h_frame_parts=lambda ps: [ps[0] + ps[1][:BLOCK], ps[1][BLOCK:]])
case("payload-frame-mismatch", "frames-cut-early", "5.8", "frame 1 ends 1 MiB into `a/big`",
     artifacts=CUT_ARTS, h_frame_parts=lambda ps: [ps[0][:1 << 20], ps[0][1 << 20:] + ps[1]])
case("trailing-data", "frame-after-the-last", "2, 5.8", "a third frame after the two the index lists",
     artifacts=CUT_ARTS, h_frame_p=lambda f, _: f + compress(b"extra"))
case("payload-digest-mismatch", "frames-payload-sha256-of-p", "2.2, 5.8",
     "payload_sha256 is the SHA-256 of all of P, not of the frame index (refused when the manifest is decoded)",
     artifacts=CUT_ARTS, h_payload_sha256=lambda _, p: hashlib.sha256(p).digest())
case("missing-entry", "frames-without-index", "2, 5.8",
     "two frames and no index: a reader reads one frame, which ends where `bin/tool` is due",
     artifacts=CUT_ARTS, h_frame_records=lambda rs: [])


def _rle_frame(tar):
    body = tar[:-1024]
    out = bytearray(b"\x28\xb5\x2f\xfd\x00\x70")
    for i in range(0, len(body), 131072):
        c = body[i:i + 131072]
        out += block_header(len(c)) + c
    out += block_header(1024, 1, True) + b"\0"
    return bytes(out)


# ---- zstd frames ---------------------------------------------------------------------------
def _file(f):
    return {"h_file": f}


case("trailing-data", "byte-after-payload", "2", "one 0x00 after frame P", **_file(lambda b: b + b"\0"))
case("trailing-data", "garbage-after-payload", "2", "1 KiB of text after frame P", **_file(lambda b: b + b"x" * 1024))
case("trailing-data", "skippable-frame-after-payload", "2", "a skippable frame after frame P",
     **_file(lambda b: b + skippable()))
case("trailing-data", "third-frame", "2", "a second valid zstd frame (of zeros) after frame P",
     **_file(lambda b: b + compress(b"\0" * 1024)))
case("trailing-data", "bundle-twice", "2", "the bundle file concatenated with itself", **_file(lambda b: b + b))
case("trailing-data", "zero-block-after-eoa", "2, 3.4", "a third zero block after the end-of-archive, inside P",
     h_payload_tar=lambda t: t + b"\0" * 512)
case("trailing-data", "entry-after-eoa", "2", "a whole tar entry after the end-of-archive, inside P",
     h_payload_tar=lambda t: t + Item("artifacts/late", b"late\n", 0o644, CREATED).bytes())
case("trailing-data", "byte-after-eoa", "2", "one non-zero byte after the end-of-archive, inside P",
     h_payload_tar=lambda t: t + b"\x01")
case("trailing-data", "bomb-zeros-after-eoa", "2, 7", "256 MiB of zeros after the end-of-archive (ratio ~ 10^4)",
     h_payload_tar=lambda t: t + b"\0" * (256 << 20), level=19)
case("bundle-compression", "payload-checksum-wrong", "2.2", "frame P's content checksum flipped",
     h_frame_p=lambda p, tar: p[:-1] + bytes([p[-1] ^ 0xFF]))
case("bundle-compression", "payload-window-over-2-24", "2.2", "frame P's window 2^24 + 2^21 (descriptor 0x71)",
     h_frame_p=lambda p, tar: raw_frame(tar, window=0x71))
case("bundle-compression", "payload-window-2-25", "2.2", "frame P's window 2^25 (descriptor 0x78)",
     h_frame_p=lambda p, tar: raw_frame(tar, window=0x78))
case("bundle-compression", "payload-window-2-31", "2.2", "frame P's window 2^31 (descriptor 0xA8)",
     h_frame_p=lambda p, tar: raw_frame(tar, window=0xA8))
case("bundle-compression", "payload-single-segment-1tib", "2.2, 7",
     "frame P single-segment with Frame_Content_Size 2^40: a window of 1 TiB",
     h_frame_p=lambda p, tar: raw_frame(tar, fhd=0xE0, extra=(1 << 40).to_bytes(8, "little")))
case("bundle-compression", "payload-block-reserved-type", "2.2", "a block of reserved type 3 in frame P",
     h_frame_p=lambda p, tar: raw_frame(tar)[:6] + block_header(len(tar), 3, True) + tar)
case("missing-entry", "payload-split-in-two-frames", "2, 3.5",
     "frame P ends after the first artifact; the rest is a second frame",
     h_frame_p=lambda p, tar: compress(tar[:_first_item_len()]) + compress(tar[_first_item_len():]))


def _first_item_len():
    return len(Item("artifacts/bin/tool", TOOL, 0o755, CREATED).bytes())


case("bundle-truncated", "payload-cut-in-half", "3.5", "the file cut in the middle of frame P",
     **_file(lambda b: b[: len(b) - 1000]))
case("bundle-truncated", "payload-last-byte-missing", "3.5", "the last byte of frame P missing",
     **_file(lambda b: b[:-1]))
case("bundle-truncated", "bomb-declared-1tib-cut", "7", "an artifact declared 1 TiB, frame P cut after 64 KiB of it",
     h_entries=on_entry("bin/tool", lambda e: dict(e, size=1 << 40)),
     h_payload_items=at(TOOL_I, lambda it: it.edit(124, sw.number12(1 << 40)).edit(136, sw.number12(CREATED))),
     h_frame_p=lambda p, tar: compress(tar + b"A" * 65536, checksum=False)[:-200])
case("bundle-truncated", "head-cut-in-manifest", "2.1", "the file cut inside the manifest's data",
     **_file(lambda b: b[:700]))
case("bundle-truncated", "head-cut-after-frame-header", "2.1", "the file is frame H's 6-byte header only",
     **_file(lambda b: b[:6]))
case("bundle-truncated", "head-cut-in-block-header", "2.1", "the file ends inside H's first block header",
     **_file(lambda b: b[:7]))
case("head-frame", "skippable-frame-before-head", "2, 2.1", "a skippable frame before frame H",
     **_file(lambda b: skippable() + b))
case("head-frame", "head-magic", "2.1", "H's magic 28 B5 2F FC", **_file(lambda b: b[:3] + b"\xfc" + b[4:]))
case("head-frame", "head-legacy-magic", "2, 2.1", "H with a legacy (v0.7) zstd magic 27 B5 2F FD",
     **_file(lambda b: b"\x27" + b[1:]))
case("head-frame", "head-descriptor-checksum", "2.1", "H's Frame_Header_Descriptor 0x04 (checksum flag)",
     **_file(lambda b: b[:4] + b"\x04" + b[5:]))
case("head-frame", "head-descriptor-dictionary", "2.1", "H's descriptor with a 1-byte Dictionary_ID",
     h_frame_h=lambda h, tar: h[:4] + b"\x01\x38\x07" + h[6:])
case("head-frame", "head-descriptor-content-size", "2.1", "H's descriptor with a 4-byte Frame_Content_Size",
     h_frame_h=lambda h, tar: h[:4] + b"\x80\x38" + len(tar).to_bytes(4, "little") + h[6:])
case("head-frame", "head-single-segment", "2.1", "H single-segment with a content size, no window byte",
     h_frame_h=lambda h, tar: h[:4] + b"\xa0" + len(tar).to_bytes(4, "little") + h[6:])
case("head-frame", "head-window-2-18", "2.1", "H's Window_Descriptor 0x40", **_file(lambda b: b[:5] + b"\x40" + b[6:]))
case("head-frame", "head-window-2-16", "2.1", "H's Window_Descriptor 0x30", **_file(lambda b: b[:5] + b"\x30" + b[6:]))
case("head-frame", "head-rle-block", "2.1", "H's block typed RLE",
     h_frame_h=lambda h, tar: h[:6] + block_header(len(tar), 1, True) + h[9:])
case("head-frame", "head-compressed-block", "2.1", "H's block typed compressed",
     h_frame_h=lambda h, tar: h[:6] + block_header(len(tar), 2, True) + h[9:])
case("head-frame", "head-short-first-block", "2.1", "H as two raw blocks, the first of 1024 bytes",
     h_frame_h=lambda h, tar: h[:6] + block_header(1024) + tar[:1024] + block_header(len(tar) - 1024, 0, True)
     + tar[1024:])
case("head-frame", "head-empty-first-block", "2.1", "H starts with a raw block of 0 bytes",
     h_frame_h=lambda h, tar: h[:6] + block_header(0) + h[6:])
case("head-frame", "head-not-last", "2.1", "H's only block without Last_Block",
     h_frame_h=lambda h, tar: h[:6] + block_header(len(tar), 0, False) + h[9:])
case("head-frame", "head-oversized-block", "2.1", "a 150 KB head in one raw block of more than 131072 bytes",
     extra_links=[("big.bin", pseudo(140_000, 3))],
     h_frame_h=lambda h, tar: h[:6] + block_header(len(tar), 0, True) + tar)
case("frame-boundary", "head-last-flag-early", "2, 2.1, 3.5",
     "a 2-block head whose first block has Last_Block: H ends inside a metadata entry",
     extra_links=[("big.bin", pseudo(140_000, 3))],
     h_frame_h=lambda h, tar: h[:6] + block_header(131072, 0, True) + h[9:])
case("frame-boundary", "end-of-archive-in-head", "2", "two zero blocks at the end of H's tar stream",
     h_head_tar=lambda t: t + b"\0" * 1024)
case("frame-boundary", "zero-block-in-head", "2", "one zero block at the end of H's tar stream",
     h_head_tar=lambda t: t + b"\0" * 512)
case("frame-boundary", "artifact-in-head", "2, 3.4", "the first artifact moved from frame P into frame H",
     h_head_tar=lambda t: t + Item("artifacts/bin/tool", TOOL, 0o755, CREATED).bytes(),
     h_payload_items=lambda items: items[1:])
case("frame-boundary", "metadata-in-payload", "2, 3.5", "the last metadata entry (the link) moved into frame P",
     h_head_items=lambda items: items[:-1],
     h_payload_tar=lambda t: _link_item().bytes() + t)


def _link_item():
    b = Bundle()
    link = [m for m in b.meta() if m[0] == "link"][0]
    return Item("meta/links/" + link[1], link[2], 0o644, CREATED)


# ---- tar: entry types ------------------------------------------------------------------------
for flag, what in [("1", "hard link"), ("2", "symbolic link"), ("3", "character device"), ("4", "block device"),
                   ("5", "directory"), ("6", "fifo"), ("7", "contiguous file"), ("x", "PAX extended header"),
                   ("g", "PAX global header"), ("S", "GNU sparse"), ("K", "GNU long link name"),
                   ("V", "volume label"), ("M", "multi-volume"), ("D", "dump directory"), ("N", "old long name"),
                   ("A", "unknown type A"), ("\x01", "type byte 0x01")]:
    tag = {"\x01": "0x01"}.get(flag, flag)
    case("entry-type", f"artifact-type-{tag}", "3.2", f"an artifact's typeflag `{tag}` ({what})",
         h_payload_items=at(TOOL_I, edit_field(156, flag.encode())))
case("entry-type", "symlink-with-target", "3.2", "an artifact turned into a symlink to ../../etc/passwd",
     h_payload_items=at(TOOL_I, lambda it: it.edit(156, b"2").edit(157, b"../../etc/passwd")))
case("entry-type", "hardlink-to-etc-shadow", "3.2", "an artifact turned into a hard link to /etc/shadow",
     h_payload_items=at(TOOL_I, lambda it: it.edit(156, b"1").edit(157, b"/etc/shadow")))
case("entry-type", "metadata-type-symlink", "3.2", "the link entry in H typed `2`",
     h_head_items=at(H_LINK, edit_field(156, b"2")))
case("entry-type", "manifest-type-directory", "3.2", "the manifest entry typed `5`",
     h_head_items=at(H_MANIFEST, edit_field(156, b"5")))
case("entry-type", "signatures-type-fifo", "3.2", "the signatures entry typed `6`",
     h_head_items=at(H_SIGS, edit_field(156, b"6")))


def _pax_item():
    rec = b" path=artifacts/bin/tool\n"
    n = len(rec) + 2
    rec = str(n).encode() + rec
    return raw_header(b"PaxHeaders/tool", len(rec), 0o644, CREATED, ord("x")) + rec + b"\0" * sw.padding_len(len(rec))


case("entry-type", "pax-header-before-artifact", "3.2", "a real PAX `x` entry (path=...) before an artifact",
     h_payload_items=lambda items: [_pax_item()] + items)
case("entry-type", "directory-entry-in-payload", "3.2", "a directory entry `artifacts/bin/` before the artifacts",
     h_payload_items=lambda items: [raw_header(b"artifacts/bin/", 0, 0o755, CREATED, ord("5"))] + items)
case("tar-header-mismatch", "typeflag-nul", "3.1, 3.2", "an artifact's typeflag `\\0` (regular, but not canonical)",
     h_payload_items=at(TOOL_I, edit_field(156, b"\0")))

# ---- tar: GNU long names -----------------------------------------------------------------------
LONG = "l" * 120  # artifacts/ + 120 bytes: a long name
LONG_ARTS = arts_with(A(LONG))
LONG_I = 1  # sorted: bin/tool, doc/README.txt, lll...: "bin" < "doc" < "lll"
LONG_I = sorted([p for p, _, _ in LONG_ARTS], key=str.encode).index(LONG)


def _longlink(path_bytes, size=None, mtime=0):
    data = path_bytes + b"\0"
    size = len(data) if size is None else size
    return raw_header(b"././@LongLink", size, 0o644, mtime, ord("L")) + data + b"\0" * sw.padding_len(len(data))


def _with_pre(i, pre):
    def f(it):
        it.pre = pre
        return it

    return at(i, f)


case("tar-header", "longlink-for-short-path", "3.2", "a GNU long-name entry before a 14-byte path",
     h_payload_items=_with_pre(README_I, _longlink(b"artifacts/doc/README.txt")))
case("tar-header", "two-longlinks-in-a-row", "3.2", "two long-name entries before one file",
     artifacts=LONG_ARTS, h_payload_items=at(LONG_I, lambda it: setattr(it, "pre", it.pre + it.pre) or it))
case("tar-header", "longlink-then-end-of-archive", "3.2", "a long-name entry followed by the end-of-archive",
     h_payload_items=lambda items: items + [_longlink(b"artifacts/" + LONG.encode())])
case("tar-header", "longlink-name-not-prefix", "3.2", "the file's name field is not a prefix of the long name",
     artifacts=LONG_ARTS, h_payload_items=at(LONG_I, edit_field(0, b"artifacts/m")))
case("limit-exceeded", "longlink-5000-bytes", "3.2, 7", "a long-name entry of 5001 bytes (> max_path_bytes + 1)",
     artifacts=LONG_ARTS,
     h_payload_items=_with_pre(LONG_I, _longlink(b"artifacts/" + b"l" * 4990)))
case("tar-header-mismatch", "longlink-mtime-created", "3.2", "the long-name entry's mtime is `created`, not 0",
     artifacts=LONG_ARTS, h_payload_items=_with_pre(LONG_I, _longlink(b"artifacts/" + LONG.encode(), mtime=CREATED)))
case("tar-header-mismatch", "longlink-name-field-other-cut", "3.1, 3.2",
     "the file's name field holds 90 bytes of the long name instead of 100",
     artifacts=LONG_ARTS, h_payload_items=at(LONG_I, lambda it: it.edit(0, b"\0" * 100).edit(0, ("artifacts/" + LONG)[:90].encode())))
_DOT = "d" * 88 + "/.hidden"
_DOT_ARTS = arts_with(A(_DOT))
_DOT_I = sorted([p for p, _, _ in _DOT_ARTS], key=str.encode).index(_DOT)
case("tar-header-mismatch", "longlink-keeps-slash-dot", "3.2", "the name field keeps the trailing `/.` (SPEC 3.2 step 3)",
     artifacts=_DOT_ARTS, h_payload_items=at(_DOT_I, edit_field(0, ("artifacts/" + _DOT)[:100].encode())))
case("tar-header-mismatch", "longlink-mode-0755", "3.2", "the long-name entry's header has mode 0755",
     artifacts=LONG_ARTS,
     h_payload_items=_with_pre(LONG_I, hset(_longlink(b"artifacts/" + LONG.encode())[:512], 100, b"0000755\0")
                               + _longlink(b"artifacts/" + LONG.encode())[512:]))
case("tar-header-mismatch", "longlink-uid", "3.2", "the long-name entry's header has uid 1000",
     artifacts=LONG_ARTS,
     h_payload_items=_with_pre(LONG_I, hset(_longlink(b"artifacts/" + LONG.encode())[:512], 108, b"0001750\0")
                               + _longlink(b"artifacts/" + LONG.encode())[512:]))

# ---- tar: header fields ---------------------------------------------------------------------------
case("tar-header", "checksum-wrong", "3.1", "an artifact header's uid changed without fixing the checksum",
     h_payload_items=at(TOOL_I, edit_field(108, b"0001750\0", fix=False)))
case("tar-header", "checksum-off-by-one", "3.1", "the checksum field one more than the sum",
     h_payload_items=at(TOOL_I, lambda it: it.edit(148, sw.octal(int(it.hdr[148:155], 8) + 1, 8), fix=False)))
case("tar-header", "magic-posix-ustar", "3.1", "magic+version `ustar\\0` `00` (POSIX) instead of GNU",
     h_payload_items=at(TOOL_I, edit_field(257, b"ustar\x0000")))
case("tar-header", "magic-v7-zero", "3.1", "magic+version all zero (v7 tar)",
     h_payload_items=at(TOOL_I, edit_field(257, b"\0" * 8)))
case("tar-header", "name-bytes-after-nul", "3.1", "bytes after the name's NUL are not NUL",
     h_payload_items=at(TOOL_I, edit_field(60, b"hidden")))
case("tar-header", "linkname-on-regular-file", "3.1", "a regular file with a linkname",
     h_payload_items=at(TOOL_I, edit_field(157, b"/etc/passwd")))
case("tar-header", "size-base256-small", "3.1", "size in GNU base-256 for a value below 8^11",
     h_payload_items=at(TOOL_I, lambda it: it.edit(124, b"\x80\0\0\0" + len(TOOL).to_bytes(8, "big"))))
case("tar-header", "size-leading-space", "3.1", "size field with a leading space instead of `0`",
     h_payload_items=at(TOOL_I, lambda it: it.edit(124, b" " + it.hdr[125:136])))
case("tar-header", "size-no-nul", "3.1", "size as 12 octal digits, no NUL",
     h_payload_items=at(TOOL_I, lambda it: it.edit(124, b"0" + it.hdr[124:135])))
case("tar-header", "size-not-octal", "3.1", "size field with a `9`",
     h_payload_items=at(TOOL_I, lambda it: it.edit(124, b"9")))
case("tar-header", "mode-six-digits", "3.1", "mode field `000755\\0\\0` (6 digits)",
     h_payload_items=at(TOOL_I, edit_field(100, b"000755\0\0")))
case("tar-header", "mode-space-terminated", "3.1", "mode field `0000755 ` (space, not NUL)",
     h_payload_items=at(TOOL_I, edit_field(100, b"0000755 ")))
for off, field, val in [(108, "uid", b"0001750\0"), (116, "gid", b"0001750\0"), (265, "uname", b"root"),
                        (297, "gname", b"wheel"), (329, "devmajor-digits", b"0000000\0"),
                        (337, "devminor-digits", b"0000000\0"), (345, "atime", b"14524770400\0"),
                        (357, "ctime", b"14524770400\0"), (369, "gnu-offset", b"1"), (381, "gnu-longnames", b"1"),
                        (386, "gnu-sparse", b"00000000001\0"), (482, "gnu-isextended", b"\x01"),
                        (483, "gnu-realsize", b"1"), (345, "ustar-prefix", b"artifacts"), (511, "last-byte", b"\x01")]:
    case("tar-header-mismatch", f"field-{field}", "3.1", f"an artifact header's {field} set (checksum fixed)",
         h_payload_items=at(TOOL_I, edit_field(off, val)))
case("tar-header-mismatch", "mtime-artifact", "3.1", "an artifact's mtime is created + 1",
     h_payload_items=at(TOOL_I, edit_field(136, sw.number12(CREATED + 1))))
case("tar-header-mismatch", "mtime-zero", "3.1", "an artifact's mtime is 0",
     h_payload_items=at(TOOL_I, edit_field(136, sw.number12(0))))
case("tar-header-mismatch", "mtime-base256-form", "3.1", "an artifact's mtime = created, but in base-256",
     h_payload_items=at(TOOL_I, edit_field(136, b"\x80\0\0\0" + CREATED.to_bytes(8, "big"))))
case("tar-header-mismatch", "mtime-manifest-entry", "3.1", "the manifest entry's mtime is created - 1",
     h_head_items=at(H_MANIFEST, edit_field(136, sw.number12(CREATED - 1))))
case("tar-header-mismatch", "mtime-signatures-entry", "3.1", "the signatures entry's mtime is 0",
     h_head_items=at(H_SIGS, edit_field(136, sw.number12(0))))
case("tar-header-mismatch", "mtime-metadata-entry", "3.1", "the layout entry's mtime is created + 1",
     h_head_items=at(H_LAYOUT, edit_field(136, sw.number12(CREATED + 1))))
case("tar-header-mismatch", "uid-manifest-entry", "3.1", "the manifest entry's uid is 1000",
     h_head_items=at(H_MANIFEST, edit_field(108, b"0001750\0")))
case("tar-header-mismatch", "uname-signatures-entry", "3.1", "the signatures entry's uname is `root`",
     h_head_items=at(H_SIGS, edit_field(265, b"root")))
case("tar-header-mismatch", "gid-link-entry", "3.1", "the link entry's gid is 1000",
     h_head_items=at(H_LINK, edit_field(116, b"0001750\0")))


def _pad(i, byte=b"\x01"):
    def f(it):
        assert it.pad, "no padding"
        it.pad = byte + it.pad[1:]
        return it

    return at(i, f)


case("tar-header-mismatch", "padding-artifact", "3.1, 3.5", "a non-zero byte in an artifact's padding",
     h_payload_items=_pad(TOOL_I))
case("tar-header-mismatch", "padding-last-artifact", "3.1", "a non-zero last padding byte of the last artifact",
     h_payload_items=at(README_I, lambda it: setattr(it, "pad", it.pad[:-1] + b"\x20") or it))
case("tar-header-mismatch", "padding-manifest", "3.1", "a non-zero byte in the manifest entry's padding",
     h_head_items=_pad(H_MANIFEST))
case("tar-header-mismatch", "padding-signatures", "3.1", "a non-zero byte in the signatures entry's padding",
     h_head_items=_pad(H_SIGS))
case("tar-header-mismatch", "padding-layout", "3.1", "a non-zero byte in the layout entry's padding",
     h_head_items=_pad(H_LAYOUT))
case("tar-header-mismatch", "padding-link", "3.1", "a non-zero byte in the link entry's padding (last in H)",
     h_head_items=_pad(H_LINK))

# ---- tar: matching against the manifest ---------------------------------------------------------
case("size-mismatch", "header-size-larger", "3.5", "an artifact's header size 4 more than the manifest's (data too)",
     h_payload_items=at(TOOL_I, lambda it: _resize(it, it.data + b"MORE")))


def _resize(it, data):
    it.data = data
    it.pad = b"\0" * sw.padding_len(len(data))
    return it.edit(124, sw.number12(len(data)))


case("size-mismatch", "header-size-smaller", "3.5", "an artifact's header size 1 less (data cut too)",
     h_payload_items=at(TOOL_I, lambda it: _resize(it, it.data[:-1])))
case("size-mismatch", "header-size-100-gib", "3.5, 7", "an artifact's header claims 100 GiB (a bomb header)",
     h_payload_items=at(TOOL_I, edit_field(124, sw.number12(100 << 30))))
case("size-mismatch", "metadata-size", "3.5", "the layout entry's header size 1 more (data and padding too)",
     h_head_items=at(H_LAYOUT, lambda it: _resize(it, it.data + b"\n")))
case("mode-mismatch", "mode-0644-for-0755", "3.5", "an artifact header's mode 0644, manifest 0755",
     h_payload_items=at(TOOL_I, edit_field(100, sw.octal(0o644, 8))))
case("mode-mismatch", "mode-with-file-type-bits", "3.1, 3.5", "mode field 0100755 (file-type bits)",
     h_payload_items=at(TOOL_I, edit_field(100, sw.octal(0o100755, 8))))
case("mode-mismatch", "mode-setuid-in-header", "3.5", "mode 04755 in the header, 0755 in the manifest",
     h_payload_items=at(TOOL_I, edit_field(100, sw.octal(0o4755, 8))))
case("mode-mismatch", "metadata-mode-0600", "3.5", "the layout entry's header mode 0600, manifest 0644",
     h_head_items=at(H_LAYOUT, edit_field(100, sw.octal(0o600, 8))))
case("digest-mismatch", "artifact-byte-changed", "3.5", "one byte of an artifact's data changed (same size)",
     h_payload_items=at(TOOL_I, lambda it: setattr(it, "data", it.data[:-2] + b"!" + it.data[-1:]) or it))
case("digest-mismatch", "artifact-swapped-contents", "3.5", "two artifacts of equal size with swapped contents",
     artifacts=arts_with(A("x1", b"one\n"), A("x2", b"two\n")),
     h_payload_items=lambda items: items[:2] + [_swap_data(items[2], b"two\n"), _swap_data(items[3], b"one\n")])


def _swap_data(it, data):
    it.data = data
    return it


case("digest-mismatch", "layout-byte-changed", "3.5, 8", "one byte of the layout entry changed (same size)",
     h_head_items=at(H_LAYOUT, lambda it: setattr(it, "data", it.data.replace(b"adversarial", b"Adversarial")) or it))
case("digest-mismatch", "root-whitespace-changed", "3.5, 8",
     "the root entry's JSON with a space swapped for a newline (its signature still verifies)",
     h_head_items=at(H_ROOT, lambda it: setattr(it, "data", it.data.replace(b'": ', b'":\n', 1)) or it))
case("digest-mismatch", "layout-key-changed", "3.5, 8", "the layout-key PEM with one base64 letter changed",
     h_head_items=at(H_LKEY, lambda it: setattr(it, "data", it.data[:40] + bytes([it.data[40] ^ 0x20]) + it.data[41:]) or it))
case("not-in-manifest", "extra-artifact", "3.5", "an artifact entry the manifest does not list, at the end",
     h_payload_items=lambda items: items + [Item("artifacts/zz-extra", b"extra\n", 0o644, CREATED)])
case("not-in-manifest", "extra-artifact-first", "3.5", "an unlisted artifact before the listed ones",
     h_payload_items=lambda items: [Item("artifacts/aa-extra", b"extra\n", 0o644, CREATED)] + items)
case("not-in-manifest", "extra-metadata", "3.5", "an unlisted link file inside frame H, before the link",
     h_head_items=lambda items: items[:-1] + [Item("meta/links/aa.link", b"{}\n", 0o644, CREATED)] + items[-1:])
case("not-in-manifest", "name-without-kind-prefix", "3.3, 3.5", "an artifact's name field without `artifacts/`",
     h_payload_items=at(README_I, lambda it: it.edit(0, b"\0" * 100).edit(0, b"doc/README.txt")))
case("not-in-manifest", "name-split-into-ustar-prefix", "3.2, 3.5",
     "`artifacts/doc` moved to the ustar prefix field: the GNU name is `README.txt`",
     h_payload_items=at(README_I, lambda it: it.edit(0, b"\0" * 100).edit(0, b"README.txt").edit(345, b"artifacts/doc")))
case("not-in-manifest", "artifact-as-wrong-kind", "3.3, 3.5", "an artifact written under meta/links/",
     h_payload_items=at(README_I, lambda it: it.edit(0, b"\0" * 100).edit(0, b"meta/links/doc/README.txt")))
case("duplicate-entry", "artifact-twice", "3.5", "the first artifact repeated where the second is expected",
     h_payload_items=lambda items: [items[0], Item("artifacts/bin/tool", TOOL, 0o755, CREATED)] + items[1:])
case("duplicate-entry", "manifest-in-payload", "3.5", "the manifest entry appears again in frame P",
     h_payload_items=lambda items: [Item(sw.MANIFEST_PATH, b"\xa0", 0o644, CREATED)] + items)
case("duplicate-entry", "signatures-in-payload", "3.5", "the signatures entry appears again in frame P",
     h_payload_items=lambda items: [Item(sw.SIGNATURES_PATH, b"\x80", 0o644, CREATED)] + items)
case("duplicate-entry", "layout-in-payload", "3.5", "the layout entry appears again in frame P",
     h_payload_items=lambda items: [Item("meta/layout/root.layout", b"{}", 0o644, CREATED)] + items)
case("duplicate-entry", "root-twice-in-head", "3.5", "the root entry repeated in H where the layout is expected",
     h_head_items=lambda items: items[:3] + [Item(items[2].path, items[2].data, 0o644, CREATED)] + items[3:])
case("out-of-order", "artifacts-swapped", "3.4, 3.5", "the two artifacts in reverse order",
     h_payload_items=lambda items: items[::-1])
case("out-of-order", "first-artifact-missing", "3.5", "the first artifact left out: the second is found first",
     h_payload_items=lambda items: items[1:])
case("out-of-order", "metadata-swapped", "3.4, 3.5", "the layout entry before the root entry in H",
     h_head_items=lambda items: items[:2] + [items[3], items[2]] + items[4:])
case("out-of-order", "link-before-layout-key", "3.4, 3.5", "the link entry before the layout-key entry",
     h_head_items=lambda items: items[:4] + [items[5], items[4]])
case("out-of-order", "root-missing-from-head", "3.5", "the root entry left out of H (the layout is found first)",
     h_head_items=lambda items: items[:2] + items[3:])
case("missing-entry", "last-artifact-missing", "3.5", "the last artifact left out: end-of-archive where it belongs",
     h_payload_items=lambda items: items[:-1])
case("missing-entry", "all-artifacts-missing", "3.5", "frame P holds only the end-of-archive",
     h_payload_items=lambda items: [])
case("missing-entry", "zero-block-for-artifact", "3.5", "a zero block where the second artifact is expected",
     h_payload_items=lambda items: items[:1] + [b"\0" * 1024] + items[1:])
case("frame-boundary", "link-missing-from-head", "3.5", "the last metadata entry left out: H ends early",
     h_head_items=lambda items: items[:-1])
case("limit-exceeded", "manifest-header-64mib", "3.5, 7", "the manifest entry's header declares 64 MiB + 1",
     h_head_items=at(H_MANIFEST, edit_field(124, sw.number12((64 << 20) + 1))))
case("limit-exceeded", "signatures-header-64kib", "3.5, 7", "the signatures entry's header declares 64 KiB + 1",
     h_head_items=at(H_SIGS, edit_field(124, sw.number12((64 << 10) + 1))))

# ---- tar paths in headers (manifest unchanged) --------------------------------------------------
for name, bad in [("dotdot", "artifacts/../x"), ("dotdot-deep", "artifacts/doc/../../../etc/passwd"),
                  ("absolute", "/etc/passwd"), ("empty-component", "artifacts//README.txt"),
                  ("trailing-slash", "artifacts/doc/"), ("dot-component", "artifacts/./README.txt"),
                  ("backslash", "artifacts\\doc\\README.txt"), ("control-char", "artifacts/doc/\x1b[2J"),
                  ("del-char", "artifacts/doc/\x7f"), ("empty-name", "")]:
    case("unsafe-path", f"header-{name}", "3.5, 4", f"an artifact header's name `{bad!r}` (checksum fixed)",
         h_payload_items=at(README_I, lambda it, bad=bad: it.edit(0, b"\0" * 100).edit(0, bad.encode())))

# ---- paths in the manifest --------------------------------------------------------------------------
for name, bad in [("dotdot", ".."), ("dotdot-prefix", "../escape"), ("dotdot-inner", "a/../../escape"),
                  ("absolute", "/etc/passwd"), ("empty", ""), ("empty-component", "a//b"), ("trailing-slash", "a/"),
                  ("dot", "."), ("dot-component", "a/./b"), ("nul", "a\x00b"), ("escape", "a\x1b[31mb"),
                  ("newline", "a\nb"), ("del", "a\x7fb"), ("backslash", "a\\b"), ("component-256", "c" * 256),
                  ("tar-path-4097", "/".join(["p" * 254] * 17)[: 4097 - len("artifacts/")])]:
    case("unsafe-path", f"manifest-{name}", "4, 5.2", f"an artifact path `{bad[:40]!r}` in the manifest",
         artifacts=arts_with(A(bad)))
case("unsafe-path", "manifest-link-dotdot", "4, 5.2", "a link path `../artifacts/x` in the manifest",
     extra_links=[("../artifacts/x", b"x\n")])

# ---- portable names (4.1) -----------------------------------------------------------------------------
for ch, nm in [("<", "lt"), (">", "gt"), (":", "colon"), ('"', "quote"), ("|", "pipe"), ("?", "question"),
               ("*", "star")]:
    case("path-not-portable", f"char-{nm}", "4.1", f"a name with `{ch}`", artifacts=arts_with(A(f"a{ch}b")))
for nm, p in [("c1-control-csi", "a\u009bb"), ("c1-control-nel", "a\u0085b"), ("trailing-dot", "file."),
              ("trailing-space", "file "), ("trailing-dot-dir", "dir./x"), ("con", "CON"), ("con-lower", "con"),
              ("con-mixed-ext", "Con.txt"), ("nul-double-ext", "nul.tar.gz"), ("con-space-ext", "CON .txt"),
              ("prn", "prn"), ("aux", "AUX.c"), ("com1", "COM1"), ("com9", "com9.log"), ("lpt1", "LPT1"),
              ("com-superscript-1", "COM\u00b9"), ("lpt-superscript-3", "lpt\u00b3.txt"), ("con-directory", "con/x"),
              ("colon-in-directory", "a:b/c")]:
    case("path-not-portable", nm, "4.1", f"the name `{p!r}`", artifacts=arts_with(A(p)))
case("path-not-portable", "link-named-aux", "4.1", "a link file named `aux.link` (every kind is checked)",
     extra_links=[("aux.link", b"{}\n")])
for nm, a, b in [("readme", "README", "readme"), ("strasse", "Stra\u00dfe", "STRASSE"),
                 ("directory", "Docs/a", "docs/b"), ("file-and-directory", "a", "A/b"),
                 ("ligature-fi", "\ufb01le", "file"), ("kelvin-lower-k", "\u212a", "k"),
                 ("greek-sigma", "\u03c3", "\u03c2")]:
    case("path-case-collision", nm, "4.1", f"`{a!r}` and `{b!r}`", artifacts=arts_with(A(a), A(b)))
for nm, a, b in [("cafe", "caf\u00e9", "cafe\u0301"), ("angstrom", "\u00c5", "\u212b"),
                 ("kelvin-upper-k", "\u212a", "K"), ("directory", "caf\u00e9/a", "cafe\u0301/b")]:
    case("path-normalization-collision", nm, "4.1", f"`{a!r}` and `{b!r}` (same NFC)", artifacts=arts_with(A(a), A(b)))

# ---- the manifest's CBOR ------------------------------------------------------------------------------


def _raw_int(v, width):
    return Raw(bytes([{1: 24, 2: 25, 4: 26, 8: 27}[width]]) + v.to_bytes(width, "big"), v)


def _raw_text(s):
    b = s.encode()
    return Raw(b"\x78" + bytes([len(b)]) + b, s)


case("non-canonical", "format-two-byte-int", "5.1", "`format` as 18 01", h_manifest_map=set_map(format=_raw_int(1, 1)))
case("non-canonical", "sequence-long-head", "5.1", "`sequence` 1 as 1a 00 00 00 01",
     h_manifest_map=set_map(sequence=_raw_int(1, 4)))
case("non-canonical", "created-eight-bytes", "5.1", "`created` in 8 bytes", h_manifest_map=set_map(created=_raw_int(CREATED, 8)))
case("non-canonical", "channel-long-length", "5.1", "`channel` text with a 1-byte length for 6 bytes",
     h_manifest_map=set_map(channel=_raw_text(CHANNEL)))
case("non-canonical", "entry-mode-long-head", "5.1", "an entry's mode 0o644 in a 4-byte head",
     h_entries=on_entry("doc/README.txt", lambda e: dict(e, mode=_raw_int(0o644, 4))))
case("non-canonical", "posix-names-false", "5.2", "`posix_names: false` as the last key",
     h_manifest_map=set_map(posix_names=False),
     h_bundle_id=lambda i, m: _with_id({k: v for k, v in m.items() if k != "posix_names"})["bundle_id"])
case("non-canonical", "enclaves-empty", "5.6", "`enclaves: []`, a second encoding of \"not directed\"",
     h_manifest_map=set_map(enclaves=[]),
     h_bundle_id=lambda i, m: _with_id({k: v for k, v in m.items() if k != "enclaves"})["bundle_id"])
case("non-canonical", "enclaves-after-posix-names", "5.6", "`enclaves` after `posix_names` instead of before",
     enclaves=["0" * 64], posix_names=True,
     h_manifest_map=lambda m: {**{k: v for k, v in m.items() if k != "enclaves"}, "enclaves": m["enclaves"]})
case("manifest-malformed", "enclaves-unsorted", "5.6", "enclave ids not in increasing order",
     enclaves=["f" * 64, "0" * 64])
case("manifest-malformed", "enclaves-duplicate", "5.6", "the same enclave id twice", enclaves=["0" * 64] * 2)
case("manifest-malformed", "enclave-id-uppercase", "5.6", "an enclave id in uppercase hex", enclaves=["F" * 64])
case("manifest-malformed", "enclave-id-short", "5.6", "an enclave id of 63 hex digits", enclaves=["0" * 63])
case("bundle-not-for-this-enclave", "directed-elsewhere", "5.6; METADATA 7",
     "directed to two enclaves, neither the verifying store's (its id is its journal key's keyid)",
     enclaves=["0" * 64, "f" * 64])
case("manifest-malformed", "trailing-byte", "5.1", "one byte after the manifest's CBOR item",
     h_manifest_bytes=lambda m: m + b"\x00")
case("manifest-malformed", "two-items", "5.1", "a second CBOR item after the manifest",
     h_manifest_bytes=lambda m: m + m)
case("manifest-malformed", "unknown-key", "5.1", "an unknown key `note` after `entries`",
     h_manifest_map=set_map(note="hello"))
case("manifest-malformed", "duplicate-key", "5.1", "the key `channel` twice",
     h_manifest_map=lambda m: Pairs([(k, v) for k, v in _with_id(m).items()] + [("channel", CHANNEL)]))


def _with_id(m):
    m = dict(m)
    m["bundle_id"] = hashlib.sha256(cbor(m, canon=True)).digest()[:16].hex()
    return m


case("manifest-malformed", "missing-supply-chain", "5.1", "the manifest without `supply_chain`",
     h_manifest_map=lambda m: {k: v for k, v in m.items() if k != "supply_chain"})
case("manifest-malformed", "missing-expires", "5.1", "the manifest without `expires`",
     h_manifest_map=lambda m: {k: v for k, v in m.items() if k != "expires"})
case("manifest-malformed", "entry-unknown-key", "5.1", "an entry with an extra key `owner`",
     h_entries=on_entry("doc/README.txt", lambda e: dict(e, owner="root")))
case("manifest-malformed", "entry-missing-mode", "5.1", "an entry without `mode`",
     h_entries=on_entry("doc/README.txt", lambda e: {k: v for k, v in e.items() if k != "mode"}))
case("manifest-malformed", "supply-chain-unknown-key", "5.1", "`supply_chain` with an extra key",
     h_manifest_map=lambda m: dict(m, supply_chain=dict(m["supply_chain"], extra=1)))
case("manifest-malformed", "supply-chain-missing-product-step", "5.2", "`supply_chain` without `product_step`",
     h_manifest_map=lambda m: dict(m, supply_chain={"layout_keyids": m["supply_chain"]["layout_keyids"]}))
case("manifest-malformed", "entries-unsorted", "5.3", "the two artifact entries in reverse order",
     h_entries=lambda e: e[:-2] + e[-2:][::-1])
case("manifest-malformed", "entries-kind-order", "5.3", "an artifact entry listed before the metadata",
     h_entries=lambda e: e[-1:] + e[:-1])
case("bundle-id-mismatch", "bundle-id-other", "5.4", "a well-formed bundle_id of another manifest",
     h_bundle_id=lambda i, m: hashlib.sha256(b"another").hexdigest()[:32])
case("bundle-id-mismatch", "bundle-id-zeros", "5.4", "bundle_id of 32 zeros", h_bundle_id=lambda i, m: "0" * 32)
case("path-conflict", "file-and-directory", "5.3", "artifacts `a` and `a/b`", artifacts=arts_with(A("a"), A("a/b")))
case("path-conflict", "not-neighbours", "5.3", "`a`, `a-c`, `a.txt` and `a/b`: the conflict is not adjacent",
     artifacts=arts_with(A("a"), A("a-c"), A("a.txt"), A("a/b")))
case("path-conflict", "deep-ancestor", "5.3", "`x/y` and `x/y/z/w`", artifacts=arts_with(A("x/y"), A("x/y/z/w")))
case("limit-exceeded", "artifact-over-1tib", "5.2, 7", "an artifact entry declaring 1 TiB + 1 bytes",
     h_entries=on_entry("bin/tool", lambda e: dict(e, size=(1 << 40) + 1)))
case("limit-exceeded", "metadata-over-32mib", "5.2, 7", "the layout entry declaring 32 MiB + 1 bytes",
     h_entries=on_entry("root.layout", lambda e: dict(e, size=(32 << 20) + 1)))
case("limit-exceeded", "total-over-16tib", "5.3, 7", "17 artifact entries of 1 TiB each",
     artifacts=arts_with(*[A(f"big{i:02}") for i in range(17)]),
     h_entries=lambda es: [dict(e, size=1 << 40) if e["path"].startswith("big") else e for e in es])
case("limit-exceeded", "total-overflows-u64", "5.3, 7", "two entries of 2^63 bytes (each over max_entry_bytes; their sum would overflow u64)",
     artifacts=arts_with(A("h1"), A("h2")),
     h_entries=lambda es: [dict(e, size=1 << 63) if e["path"] in ("h1", "h2") else e for e in es])

# ---- manifest fields whose rule 5.2 states (refused as `Manifest`, 5.1's strict decode) ----------------
case("manifest-malformed", "format-2", "5.2", "`format: 2`", h_manifest_map=set_map(format=2))
case("manifest-malformed", "format-text", "5.2", "`format: \"1\"` (wrong type)", h_manifest_map=set_map(format="1"))
case("manifest-malformed", "channel-empty", "5.2", "an empty channel", channel="")
case("manifest-malformed", "channel-65-bytes", "5.2", "a 65-byte channel", channel="c" * 65)
case("manifest-malformed", "channel-slash", "5.2", "channel `a/b`", channel="a/b")
case("manifest-malformed", "channel-space", "5.2", "channel `corpus ` (trailing space)", channel="corpus ")
case("manifest-malformed", "expires-equals-created", "5.2", "expires = created", expires=CREATED)
case("manifest-malformed", "expires-before-created", "5.2", "expires < created", expires=CREATED - 1)
case("manifest-malformed", "payload-sha256-31-bytes", "5.2", "payload_sha256 of 31 bytes",
     h_payload_sha256=lambda d, _: d[:31])
case("manifest-malformed", "payload-sha256-text", "5.2", "payload_sha256 as a text string",
     h_payload_sha256=lambda d, _: d.hex())
case("manifest-malformed", "entry-sha256-33-bytes", "5.2", "an entry's sha256 of 33 bytes",
     h_entries=on_entry("doc/README.txt", lambda e: dict(e, sha256=e["sha256"] + b"\0")))
case("manifest-malformed", "entry-mode-10000", "5.2", "an entry's mode 0o10000 (a file-type bit)",
     h_entries=on_entry("doc/README.txt", lambda e: dict(e, mode=0o10000)))
case("manifest-malformed", "entry-mode-100644", "5.2", "an entry's mode 0o100644",
     h_entries=on_entry("doc/README.txt", lambda e: dict(e, mode=0o100644)))
case("manifest-malformed", "entry-kind-unknown", "5.2", "an entry of kind `script`",
     h_entries=lambda es: es + [{"kind": "script", "path": "x", "size": 0, "sha256": hashlib.sha256(b"").digest(),
                                 "mode": 0o644}])
case("manifest-malformed", "entry-size-negative", "5.2", "an entry's size as a negative integer (major type 1)",
     h_entries=on_entry("doc/README.txt", lambda e: dict(e, size=Raw(b"\x20", 0))))
case("manifest-malformed", "layout-keyids-unsorted", "5.2", "layout_keyids not in increasing order",
     layout_keys=["owner", "rogue"], layout_keyids=sorted([kid("owner"), kid("rogue")])[::-1])
case("manifest-malformed", "layout-keyids-duplicate", "5.2", "the owner's keyid twice in layout_keyids",
     layout_keyids=[kid("owner")] * 2)
case("manifest-malformed", "layout-keyid-uppercase", "5.2", "the owner's keyid in uppercase hex",
     layout_keyids=[kid("owner").upper()])
case("manifest-malformed", "layout-keyid-short", "5.2", "a 63-digit keyid", layout_keyids=[kid("owner")[:63]])
case("manifest-malformed", "product-step-empty", "5.2", "product_step `\"\"`", product_step="")
case("manifest-malformed", "product-step-256-bytes", "5.2", "product_step of 256 bytes", product_step="s" * 256)
case("manifest-malformed", "product-step-control", "5.2", "product_step `build\\n`", product_step="build\n")
case("manifest-malformed", "product-step-number", "5.2", "product_step as an integer", product_step=7)
case("manifest-malformed", "posix-names-text", "5.2", "`posix_names: \"true\"`",
     h_manifest_map=set_map(posix_names="true"))

# ---- signatures ------------------------------------------------------------------------------------------


def _sig(name, message):
    return {"keyid": kid(name), "sig": sw.sign(KEYS[name], message)}


def _other_message():
    return b"airlock-bundle-manifest-v1\n" + hashlib.sha256(b"another manifest").digest()


case("signature-threshold", "no-signatures", "6, METADATA 2.3", "an empty signatures array", signers=[])
case("signature-unknown-key", "signed-by-rogue-key", "METADATA 2.3", "signed by a key the root does not name",
     signers=["rogue"])
case("signature-unknown-key", "signed-by-root-key", "METADATA 2.3", "signed by the root key (not a targets key)",
     signers=["root"])
case("signature-unknown-key", "signed-by-layout-owner", "METADATA 2.3", "signed by the layout owner's key",
     signers=["owner"])
case("signature-unknown-key", "valid-plus-unknown", "METADATA 2.3",
     "a valid targets signature plus one by an unknown key", signers=["release", "rogue"])
case("signature-invalid", "over-other-manifest", "6", "the release key's signature over another manifest",
     h_signatures=lambda s, m: [_sig("release", _other_message())])
case("signature-invalid", "without-domain-prefix", "6", "signed over SHA-256(manifest) without the prefix",
     h_signatures=lambda s, m: [_sig("release", m[len(b"airlock-bundle-manifest-v1\n"):])])
case("signature-invalid", "over-manifest-bytes", "6", "signed over the raw manifest bytes",
     h_manifest_bytes=lambda b: _keep(b),
     h_signatures=lambda s, m: [_sig("release", _KEPT[0])])
_KEPT = [b""]


def _keep(b):
    _KEPT[0] = b
    return b


case("signature-invalid", "volume-index-prefix", "6, 11.3", "signed with the volume index's prefix",
     h_signatures=lambda s, m: [_sig("release", b"airlock-volume-index-v1\n" + m[-32:])])
case("signature-invalid", "keyid-of-other-targets-key", "6.1", "the Ed25519 signature labelled with the P-256 key's id",
     h_signatures=lambda s, m: [{"keyid": kid("release-p256"), "sig": sw.sign(KEYS["release"], m)}])
case("signature-invalid", "sig-bit-flipped", "6", "one bit of the signature flipped",
     h_signatures=lambda s, m: [{"keyid": s[0]["keyid"], "sig": bytes([s[0]["sig"][0] ^ 1]) + s[0]["sig"][1:]}])
case("signature-invalid", "valid-plus-invalid", "METADATA 2.3",
     "a valid Ed25519 signature and an invalid P-256 one (threshold 1 met)",
     h_signatures=lambda s, m: sorted([_sig("release", m), _sig("release-p256", _other_message())],
                                      key=lambda x: x["keyid"]))


def _high_s(s, m):
    out = []
    for x in s:
        r, ss = decode_dss_signature(x["sig"])
        out.append({"keyid": x["keyid"], "sig": encode_dss_signature(r, P256_N - ss)})
    return out


case("signature-not-low-s", "ecdsa-high-s", "6.1", "the P-256 signature with s replaced by n - s",
     signers=["release-p256"], h_signatures=_high_s)
case("duplicate-signature", "same-signature-twice", "6", "the release signature twice",
     h_signatures=lambda s, m: s + s)
case("signatures-malformed", "unsorted", "6", "two signatures not sorted by keyid",
     signers=["release", "release-p256"], h_signatures=lambda s, m: s[::-1])
case("signatures-malformed", "keyid-uppercase", "6", "the keyid in uppercase hex",
     h_signatures=lambda s, m: [dict(s[0], keyid=s[0]["keyid"].upper())])
case("signatures-malformed", "keyid-63-digits", "6", "a 63-digit keyid", h_signatures=lambda s, m: [dict(s[0], keyid=s[0]["keyid"][:63])])
case("signatures-malformed", "sig-empty", "6", "a signature of 0 bytes", h_signatures=lambda s, m: [dict(s[0], sig=b"")])
case("signatures-malformed", "sig-1025-bytes", "6", "a signature of 1025 bytes",
     h_signatures=lambda s, m: [dict(s[0], sig=s[0]["sig"] * 16 + b"\0")])
case("signatures-malformed", "sig-as-text", "6", "the signature as a text string",
     h_signatures=lambda s, m: [dict(s[0], sig=s[0]["sig"].hex())])
case("signatures-malformed", "not-an-array", "6", "the signatures entry is a map",
     h_signatures_bytes=lambda b: b"\xa0")
case("limit-exceeded", "33-signatures", "6, 7", "33 signatures (max_signatures is 32), sorted, distinct keyids",
     h_signatures=lambda s, m: sorted([{"keyid": hashlib.sha256(b"%d" % i).hexdigest(), "sig": b"\x01" * 64}
                                       for i in range(32)] + s, key=lambda x: x["keyid"]))

# ---- roots (METADATA 1.1) ----------------------------------------------------------------------------------
ROOT2_T2 = make_root(2, targets=("release", "release2"), threshold=2)
case("accept", "rotation-threshold-2", "METADATA 1.1, 2.3", "a carried root v2 (targets threshold 2), signed by both",
     roots=[(1, ROOT1), (2, ROOT2_T2)], signers=["release", "release2"])
case("signature-threshold", "rotation-threshold-2-one-signer", "METADATA 2.3",
     "a carried root v2 with targets threshold 2, the manifest signed by one of its keys",
     roots=[(1, ROOT1), (2, ROOT2_T2)], signers=["release"])
case("signature-unknown-key", "rotated-out-targets-key", "METADATA 2.3, isolated-side 3",
     "root v2 drops the P-256 key; the bundle is signed by it", roots=[(1, ROOT1), (2, make_root(2, targets=("release",)))],
     signers=["release-p256"])
case("root-threshold", "rotation-signed-by-rogue", "METADATA 1.1", "a carried root v2 signed by a key it does not name",
     roots=[(1, ROOT1), (2, make_root(2, signers=("rogue",)))])
case("root-threshold", "rotation-unsigned", "METADATA 1.1", "a carried root v2 with no signatures",
     roots=[(1, ROOT1), (2, make_root(2, signers=()))])
case("root-version", "rotation-skips-v2", "METADATA 1.1", "a carried root v3 right after v1",
     roots=[(1, ROOT1), (3, make_root(3))])
case("root-expired", "rotation-expired", "METADATA 1.1", "the final carried root v2 expired in 2020",
     roots=[(1, ROOT1), (2, make_root(2, expires="2020-01-01T00:00:00Z"))])
case("layout-keys-unrooted", "final-root-without-layout-field", "METADATA 4",
     "a carried root v2 without `x-airlock-layout`", roots=[(1, ROOT1), (2, make_root(2, x_layout=False))])
case("accept", "rotation-new-layout-owner", "METADATA 4", "root v2 names `rogue` as owner; layout signed by rogue",
     roots=[(1, ROOT1), (2, make_root(2, layout_keys=("rogue",)))], layout_keys=["rogue"],
     layouts=[("root.layout", make_layout(signers=("rogue",)))])
case("layout-key-not-rooted", "old-owner-after-rotation", "METADATA 1.2, 4",
     "root v2 names `rogue` as owner; the layout and manifest still name `owner`",
     roots=[(1, ROOT1), (2, make_root(2, layout_keys=("rogue",)))])

# ---- supply chain (METADATA 1.2-1.4, 3, 4) ------------------------------------------------------------------
case("layout-key-not-rooted", "layout-signed-by-unrooted-key", "METADATA 1.2, 4",
     "the layout signed by `rogue`, named in the manifest; the root names `owner`",
     layout_keys=["rogue"], layouts=[("root.layout", make_layout(signers=("rogue",)))])
case("layout-key-not-rooted", "extra-unrooted-layout-key", "METADATA 1.2",
     "manifest names `owner` and `rogue`; both sign the layout; the root names only `owner`",
     layout_keys=["owner", "rogue"], layouts=[("root.layout", make_layout(signers=("owner", "rogue")))])
case("layout-key-mismatch", "keyids-without-entry", "METADATA 1.2", "layout_keyids names `owner`, no layout-key entry",
     layout_keys=[], layout_keyids=[kid("owner")])
case("layout-key-mismatch", "entry-not-in-keyids", "METADATA 1.2",
     "layout-key entries `owner` and `rogue`, layout_keyids names only `owner`",
     layout_keys=["owner", "rogue"], layout_keyids=[kid("owner")])
_ROOT2_LT2 = make_root(2, layout_keys=("owner", "rogue"), layout_threshold=2)
case("layout-threshold", "rooted-threshold-2-one-signer", "METADATA 1.2, 4",
     "root v2 names owner and rogue with threshold 2; the manifest names owner, who alone signs the layout",
     roots=[(1, ROOT1), (2, _ROOT2_LT2)])
case("accept", "rooted-threshold-2-two-signers", "METADATA 1.2, 4",
     "root v2 names owner and rogue with threshold 2; both are named and sign the layout",
     roots=[(1, ROOT1), (2, _ROOT2_LT2)], layout_keys=["owner", "rogue"],
     layouts=[("root.layout", make_layout(signers=("owner", "rogue")))])
case("layout-malformed", "two-layouts", "METADATA 1.2", "two layout entries",
     layouts=[("a.layout", make_layout()), ("root.layout", make_layout())])
case("layout-malformed", "no-layout", "METADATA 1.2", "no layout entry", layouts=[])
case("layout-malformed", "layout-not-json", "METADATA 1.2", "the layout entry is not JSON",
     layouts=[("root.layout", b"this is not a layout\n")])
case("layout-expired", "layout-expired-2020", "METADATA 5, codes", "the layout expired in 2020",
     layouts=[("root.layout", make_layout(expires="2020-01-01T00:00:00Z"))])
case("link-threshold", "link-missing", "METADATA 1.3", "no link for step `build`", links=[])
case("link-threshold", "link-by-wrong-key", "METADATA 1.3", "the build link signed by the owner key",
     links=[(link_name(), make_link([(p, d) for p, d, _ in BASE_ARTIFACTS], key="owner"))])
case("link-threshold", "link-wrong-file-name", "METADATA 1.3", "the link stored as `build.link` (no keyid prefix)",
     links=[("build.link", make_link([(p, d) for p, d, _ in BASE_ARTIFACTS]))])
case("link-name-mismatch", "link-recorded-for-other-step", "METADATA 1.3, codes",
     "the link file for `build` holds a link named `test`",
     links=[(link_name(), make_link([(p, d) for p, d, _ in BASE_ARTIFACTS], name="test"))])
case("artifact-unbound", "artifact-not-a-product", "METADATA 3", "one artifact is not among the link's products",
     link_products=[("bin/tool", TOOL)])
case("artifact-unbound", "artifact-digest-differs", "METADATA 3", "the link records another digest for an artifact",
     link_products=[("bin/tool", TOOL + b"x"), ("doc/README.txt", README)])
case("artifact-unbound", "artifact-path-differs", "METADATA 3", "the link records `dist/bin/tool` (not lstripped)",
     link_products=[("dist/bin/tool", TOOL), ("doc/README.txt", README)])
case("accept", "extra-products", "METADATA 3", "the link has products the bundle does not carry",
     link_products=[("bin/tool", TOOL), ("doc/README.txt", README), ("not/carried", b"x")])
case("product-step-unknown", "product-step-unknown", "METADATA 3", "product_step `deploy`, not a step",
     product_step="deploy")
case("artifact-unbound", "product-step-other-step", "METADATA 3",
     "product_step `test` (a step whose link records other products)",
     layouts=[("root.layout", make_layout(steps=[step(), step("test", products=(("ALLOW", "*"),))]))],
     links=[(link_name(), make_link([(p, d) for p, d, _ in BASE_ARTIFACTS])),
            (link_name("test"), make_link([("report.txt", b"ok\n")], name="test"))],
     product_step="test")
case("rule-disallow", "products-disallowed", "codes, in-toto", "the build step's rule DISALLOW *",
     layouts=[("root.layout", make_layout(steps=[step(products=(("DISALLOW", "*"),))]))])
case("rule-require", "product-required", "codes, in-toto", "the build step's rule REQUIRE missing.txt",
     layouts=[("root.layout", make_layout(steps=[step(products=(("REQUIRE", "missing.txt"), ("ALLOW", "*")))]))])
case("attestation-signature", "attestation-by-rogue", "METADATA 1.4", "an attestation signed by an unknown key",
     attestations=[("prov.dsse.json", make_attestation("rogue"))])
case("attestation-malformed", "attestation-not-json", "METADATA 1.4", "an attestation that is not JSON",
     attestations=[("prov.dsse.json", b"not json\n")])
case("attestation-malformed", "attestation-wrong-statement-type", "METADATA 1.4",
     "a Statement with `_type` v2 (neither v1 nor v0.1)",
     attestations=[("prov.dsse.json", make_attestation(statement={
         "_type": "https://in-toto.io/Statement/v2", "subject": [{"name": "x", "digest": {"sha256": "00" * 32}}],
         "predicateType": "p", "predicate": {}}))])
case("attestation-malformed", "attestation-empty-subject", "METADATA 1.4", "a Statement with an empty subject list",
     attestations=[("prov.dsse.json", make_attestation(statement={
         "_type": "https://in-toto.io/Statement/v1", "subject": [], "predicateType": "p", "predicate": {}}))])

# ---- more boundaries -------------------------------------------------------------------------------------------------
case("layout-key-mismatch", "no-layout-keys-named", "METADATA 1.2",
     "layout_keyids empty and no layout-key entries: the manifest must name at least one layout key", layout_keys=[])


def _fit_head(target):
    """The size of an extra link file that makes the head tar stream exactly `target` bytes."""
    x = 100_000
    for _ in range(20):
        got = []
        Bundle(extra_links=[("fill.bin", pseudo(x, 4))], h_head_tar=lambda t: got.append(len(t)) or t).render()
        if got[0] == target:
            return x
        x += target - got[0]
    raise AssertionError(f"no fill for a head of {target}")


def _fill(target):
    return [("fill.bin", pseudo(_fit_head(target), 4))]


case("accept", "head-exactly-one-block", "2.1", "a head tar stream of exactly 131072 bytes: one full raw block",
     extra_links=_fill(131072))
case("accept", "head-one-block-and-512", "2.1", "a head of 131072 + 512 bytes: a full block and one of 512",
     extra_links=_fill(131072 + 512))
case("head-frame", "head-full-block-then-empty-last", "2.1",
     "a head of exactly 131072 bytes as a full non-last block and an empty last block",
     extra_links=_fill(131072),
     h_frame_h=lambda h, tar: h[:6] + block_header(131072) + tar + block_header(0, 0, True))
case("accept", "payload-single-segment", "2.2", "frame P single-segment: its window is its content size",
     h_frame_p=lambda p, tar: raw_frame(tar, fhd=0xE0, extra=len(tar).to_bytes(8, "little")))
case("accept", "deep-directories", "4", "an artifact 150 directories deep",
     artifacts=arts_with(A("/".join(["d"] * 150) + "/f")))


def _add_bad_sig(doc_bytes, key="rogue"):
    doc = json.loads(doc_bytes)
    doc["signatures"].append({"keyid": kid(key), "sig": "00" * 64})
    return pretty(doc)


def _dsse_bad_sig(env_bytes):
    env = json.loads(env_bytes)
    env["signatures"].append({"keyid": kid("rogue"), "sig": base64.b64encode(b"\0" * 64).decode()})
    return pretty(env)


case("accept", "attestation-one-bad-signature", "METADATA 1.4",
     "an attestation with a valid functionary signature and an invalid one (at least one must verify)",
     attestations=[("prov.dsse.json", _dsse_bad_sig(make_attestation()))])
case("accept", "link-extra-bad-signature", "METADATA 2.3", "the link carries an extra signature that does not verify",
     links=[(link_name(), _add_bad_sig(make_link([(p, d) for p, d, _ in BASE_ARTIFACTS])))])
case("accept", "layout-extra-bad-signature", "METADATA 2.3",
     "the layout carries, besides the owner's, a signature by an unnamed key that does not verify",
     layouts=[("root.layout", _add_bad_sig(make_layout()))])
case("accept", "rotation-extra-bad-signature", "METADATA 1.1, 2.3",
     "a carried root v2 with a valid signature and one that does not verify",
     roots=[(1, ROOT1), (2, _add_bad_sig(make_root(2)))])
case("accept", "rotation-without-v1", "METADATA 1.1", "the bundle carries root v2 only (the store is at v1)",
     roots=[(2, make_root(2))])
case("accept", "carried-v1-other-bytes", "METADATA 1.1",
     "the carried v1 is the anchored root re-indented (other bytes, same signed content): skipped",
     roots=[(1, (json.dumps(json.loads(ROOT1), indent=4, sort_keys=True) + "\n").encode())])



def _inspection(materials, run=("/bin/sh", "-c", "touch inspection-ran; false")):
    return {"_type": "inspection", "expected_materials": [list(r) for r in materials], "expected_products": [],
            "name": "check", "run": list(run)}


case("inspection-unevaluable", "layout-inspection-never-run", "isolated-side 2, supply-chain, threat-model",
     "the layout has an inspection whose command would fail and write `inspection-ran` in the working directory: bundles never run inspections, and one that cannot be evaluated exactly without running it is refused",
     layouts=[("root.layout", make_layout(inspect=[_inspection([("ALLOW", "*")])]))])
case("accept", "layout-inspection-true", "isolated-side 2, supply-chain",
     "an inspection running `true`: evaluated without running it (nothing changes), its rules over the bundle's artifacts",
     layouts=[("root.layout", make_layout(inspect=[_inspection([("ALLOW", "*")], run=("true",))]))])
case("rule-disallow", "inspection-disallows-artifacts", "isolated-side 2",
     "an inspection (`true`) whose material rule is DISALLOW *, evaluated over the bundle's artifacts",
     layouts=[("root.layout", make_layout(inspect=[_inspection([("DISALLOW", "*")], run=("true",))]))])
case("head-frame", "frames-swapped", "2, 2.1", "frame P written before frame H",
     h_file=lambda b: b[_head_len():] + b[:_head_len()])
case("duplicate-entry", "head-frame-twice", "2, 3.5",
     "frame H written twice: the second, a valid zstd frame, is read as frame P and starts with the manifest again",
     h_file=lambda b: b[:_head_len()] + b)
case("accept", "created-zero", "5.2", "created 0 (1970): mtime fields 00000000000", created=0)
case("bundle-from-future", "created-base-256", "3.1, 5.2, METADATA 3",
     "created = 8^11 + 12345 (2242): every mtime in GNU base-256, refused only as from the future",
     created=8**11 + 12345, expires=8**11 + 100000)


def _head_len():
    b = Bundle()
    b.render()
    return b.head_len

_SRC = [("src/main.c", b"int main(void) { return 0; }\n")]
_BASE_PRODUCTS = [(p, d) for p, d, _ in BASE_ARTIFACTS]
_TWO_STEPS = make_layout(steps=[
    step("build", products=(("ALLOW", "*"),)),
    step("package", materials=(("MATCH", "*", "WITH", "PRODUCTS", "FROM", "build"), ("DISALLOW", "*")),
         products=(("ALLOW", "*"),)),
])
case("accept", "two-step-chain", "METADATA 3, in-toto",
     "build, then package whose materials MATCH build's products; product_step package",
     layouts=[("root.layout", _TWO_STEPS)], product_step="package",
     links=[(link_name("build"), make_link(_BASE_PRODUCTS, materials=_SRC)),
            (link_name("package"), make_link(_BASE_PRODUCTS, name="package", materials=_BASE_PRODUCTS))])
case("rule-disallow", "two-step-chain-broken", "METADATA 3, in-toto",
     "package's materials differ from build's products (MATCH fails, DISALLOW * refuses)",
     layouts=[("root.layout", _TWO_STEPS)], product_step="package",
     links=[(link_name("build"), make_link([("bin/tool", b"another tool"), _BASE_PRODUCTS[1]], materials=_SRC)),
            (link_name("package"), make_link(_BASE_PRODUCTS, name="package", materials=_BASE_PRODUCTS))])
_T2 = make_layout(steps=[step(keys=["builder", "rogue"], threshold=2)])
case("accept", "step-threshold-2", "METADATA 1.3, in-toto", "a step with threshold 2: links by both functionaries agree",
     layouts=[("root.layout", _T2)],
     links=[(link_name(), make_link(_BASE_PRODUCTS)), (link_name(key="rogue"), make_link(_BASE_PRODUCTS, key="rogue"))])
case("link-threshold", "step-threshold-2-one-link", "METADATA 1.3, in-toto",
     "a step with threshold 2 and one functionary's link", layouts=[("root.layout", _T2)],
     links=[(link_name(), make_link(_BASE_PRODUCTS))])
case("link-disagreement", "step-threshold-2-links-differ", "codes, in-toto",
     "a step with threshold 2: the two functionaries recorded different products", layouts=[("root.layout", _T2)],
     links=[(link_name(), make_link(_BASE_PRODUCTS)),
            (link_name(key="rogue"), make_link(_BASE_PRODUCTS + [("extra", b"x")], key="rogue"))])
case("link-threshold", "step-threshold-2-same-key-twice", "METADATA 1.3, in-toto",
     "a step with threshold 2: the builder's link stored under both file names (one functionary)",
     layouts=[("root.layout", _T2)],
     links=[(link_name(), make_link(_BASE_PRODUCTS)), (link_name(key="rogue"), make_link(_BASE_PRODUCTS))])

# ---- freshness (METADATA 3), at the fixed verification time --------------------------------------------------
case("bundle-expired", "expired", "METADATA 3", "expires one second before the verification time", expires=AT - 1)
case("bundle-expired", "expires-at-verification-time", "METADATA 3", "expires = verification time (must be later)",
     expires=AT)
case("bundle-from-future", "from-the-future", "METADATA 3", "created 901 s after the verification time",
     created=AT + 901, expires=AT + 100000)
case("bundle-from-future", "from-2100", "METADATA 3", "created in 2100", created=4102444800, expires=4102444800 + 86400)
case("channel-not-allowed", "channel-not-allowed", "METADATA 3", "channel `nightly` (the store allows `corpus`)",
     channel="nightly")
case("channel-not-allowed", "channel-case", "METADATA 3, isolated-side 1", "channel `Corpus`: another channel",
     channel="Corpus")


# ---- split volumes (SPEC 11) --------------------------------------------------------------------------------------
# A volume case is a directory `<code>--<case>/` of files `b.airlock.NNN`; the test gives airlock the first file
# in name order.
VOL_MAGIC = b"\x89airlock-vol\r\n\x1a\n"
VOLUME_CASES = []  # (code, name, section, what, function returning {file name: bytes})


def _c(x):
    return 1 if x < 24 else 2 if x < 256 else 3 if x < 65536 else 5 if x < 2**32 else 9


def reserve(n, s):
    """SPEC 11.4: the header length of a set of n volumes signed by s keys."""
    return 113 + _c(n) + 56 * n + _c(s) + 1104 * s


def _vol_bundle(**kw):
    b = Bundle(artifacts=arts_with(A("big.bin", pseudo(30_000, 9))), **kw)
    return b, b.render()


def volume_set(n=2, signers=("release",), bundle=None, sizes=None, h_index=None, h_sigs=None, bundle_id=None):
    """The volumes of a bundle as SPEC 11.2-11.4 lay them out: [bytes of volume 1, 2, ...]."""
    b, data = bundle or _vol_bundle()
    hl = reserve(n, len(signers))
    if sizes is None:
        per = max(-(-len(data) // n), b.head_len)
        sizes = [per] * (n - 1) + [len(data) - per * (n - 1)]
    assert sum(sizes) == len(data) and all(x > 0 for x in sizes), sizes
    slices, at_ = [], 0
    for x in sizes:
        slices.append(data[at_:at_ + x])
        at_ += x
    index = {"format": 1, "bundle_id": bundle_id or b.bundle_id, "header_len": hl,
             "volumes": [{"size": len(x), "sha256": hashlib.sha256(x).digest()} for x in slices]}
    if h_index:
        index = h_index(index)
    ib = cbor(index)
    msg = b"airlock-volume-index-v1\n" + hashlib.sha256(ib).digest()
    sigs = sorted(({"keyid": kid(k), "sig": sw.sign(KEYS[k], msg)} for k in signers), key=lambda x: x["keyid"])
    if h_sigs:
        sigs = h_sigs(sigs, msg)
    sb = cbor(sigs)
    out = []
    for i, x in enumerate(slices):
        hdr = VOL_MAGIC + hl.to_bytes(4, "big") + (i + 1).to_bytes(4, "big") + len(ib).to_bytes(4, "big") + ib
        hdr += len(sb).to_bytes(4, "big") + sb
        assert len(hdr) <= hl, (len(hdr), hl)
        out.append(hdr + b"\0" * (hl - len(hdr)) + x)
    return out


def files(vols, numbers=None):
    numbers = numbers or range(1, len(vols) + 1)
    return {f"b.airlock.{n:03}": v for n, v in zip(numbers, vols)}


def vcase(code, name, section, what, make):
    VOLUME_CASES.append((code, name, section, what, make))


def _flip(b, pos, mask=0x01):
    b = bytearray(b)
    b[pos] ^= mask
    return bytes(b)


def _hl(v):
    return int.from_bytes(v[16:20], "big")


vcase("accept", "volumes-two", "11", "a bundle split into two volumes as SPEC 11.4 cuts it", lambda: files(volume_set()))
vcase("accept", "volumes-three", "11", "three volumes", lambda: files(volume_set(3)))
vcase("accept", "volumes-two-signers", "11.2, 11.3", "two volumes, index signed by both targets keys",
      lambda: files(volume_set(signers=("release", "release-p256"), bundle=_vol_bundle(signers=["release", "release-p256"]))))
vcase("accept", "volumes-one", "11", "a set of one volume", lambda: files(volume_set(1)))
vcase("volume-missing", "second-missing", "11.6 step 3", "only volume 1 of 2", lambda: files(volume_set()[:1]))
vcase("volume-missing", "middle-missing", "11.6 step 3", "volumes 1 and 3 of 3", lambda: files(
    [v for i, v in enumerate(volume_set(3)) if i != 1], [1, 3]))
vcase("volume-extra", "third-of-two", "11.6 step 3", "a file b.airlock.003 after the last volume",
      lambda: files(volume_set() + [volume_set()[1]]))
vcase("volume-out-of-order", "first-twice", "11.6 step 3", "volume 1's file copied over volume 2's",
      lambda: files([volume_set()[0]] * 2))
vcase("volume-out-of-order", "swapped", "11.6 step 1", "volume 2 under the first name, volume 1 under the second",
      lambda: files(volume_set()[::-1]))
vcase("volume-out-of-order", "two-and-three-swapped", "11.6 step 3", "volumes 2 and 3 of 3 swapped",
      lambda: files([volume_set(3)[i] for i in (0, 2, 1)]))
vcase("volume-truncated", "second-short", "11.6 step 3", "volume 2 missing its last 10 bytes",
      lambda: files([volume_set()[0], volume_set()[1][:-10]]))
vcase("volume-truncated", "second-header-only", "11.6 step 3", "volume 2 is its header only",
      lambda: files([volume_set()[0], volume_set()[1][:_hl(volume_set()[1])]]))
vcase("volume-corrupt", "second-slice-byte", "11.6 steps 4-5", "one byte of volume 2's slice flipped",
      lambda: files([volume_set()[0], _flip(volume_set()[1], -5000)]))
vcase("volume-corrupt", "second-longer", "11.6 step 3", "one byte appended to volume 2",
      lambda: files([volume_set()[0], volume_set()[1] + b"\0"]))
vcase("volume-corrupt", "first-longer", "11.6 step 1", "one byte appended to volume 1",
      lambda: files([volume_set()[0] + b"\0", volume_set()[1]]))
vcase("volume-corrupt", "second-header-padding", "11.2, 11.6 step 3", "a non-zero padding byte in volume 2's header",
      lambda: files([volume_set()[0], _flip(volume_set()[1], _hl(volume_set()[1]) - 1)]))
vcase("volume-corrupt", "first-header-padding", "11.2, 11.6 step 1", "a non-zero padding byte in volume 1's header",
      lambda: files([_flip(volume_set()[0], _hl(volume_set()[0]) - 1), volume_set()[1]]))
vcase("volume-corrupt", "second-magic", "11.2", "volume 2's magic with its high bit stripped (7-bit transfer)",
      lambda: files([volume_set()[0], _flip(volume_set()[1], 0, 0x80)]))
vcase("volume-corrupt", "second-header-len", "11.2", "volume 2's header_len field one more than the index's",
      lambda: files([volume_set()[0], volume_set()[1][:19] + bytes([volume_set()[1][19] + 1]) + volume_set()[1][20:]]))
vcase("volume-corrupt", "first-slice-payload-byte", "11.6 steps 4-5",
      "one byte of volume 1's slice flipped inside frame P (the bundle fails; the volume is blamed)",
      lambda: files([_flip(volume_set()[0], -100), volume_set()[1]]))
vcase("volume-corrupt", "head-not-in-first", "11.4, 11.6 step 2",
      "volume 1's slice holds only half of frame H (a signed index cut that way)",
      lambda: files(volume_set(sizes=[3000, len(_vol_bundle()[1]) - 3000])))
vcase("volume-corrupt", "index-format-2", "11.3, 11.8", "the index (in every header) says format 2, signed",
      lambda: files(volume_set(h_index=lambda i: dict(i, format=2))))
vcase("volume-foreign", "second-from-another-bundle", "11.6 step 3",
      "volume 2 of another bundle's set (same keys, same cut)",
      lambda: files([volume_set()[0], volume_set(bundle=_vol_bundle(sequence=2))[1]]))
vcase("volume-index-mismatch", "index-names-another-bundle", "11.3, 11.6 step 2",
      "a signed index whose bundle_id is another bundle's", lambda: files(volume_set(bundle_id="0" * 32)))
vcase("volume-not-first", "given-volume-two", "11.6 step 1", "only b.airlock.002, an intact volume 2, is given",
      lambda: files(volume_set()[1:], [2]))
vcase("signature-invalid", "index-signature-flipped", "11.3, METADATA 2.3",
      "a bit of the index signature flipped in every volume",
      lambda: files(volume_set(h_sigs=lambda s, m: [dict(s[0], sig=_flip(s[0]["sig"], 10))])))
vcase("signature-invalid", "index-signed-as-manifest", "11.3", "the index signed with the manifest's prefix",
      lambda: files(volume_set(h_sigs=lambda s, m: [_sig("release", b"airlock-bundle-manifest-v1\n" + m[-32:])])))
vcase("signature-unknown-key", "index-signed-by-rogue", "11.3, METADATA 2.3", "the index signed by an unknown key",
      lambda: files(volume_set(signers=("rogue",))))
vcase("signature-threshold", "index-unsigned", "11.3, METADATA 2.3", "the index with no signatures",
      lambda: files(volume_set(signers=())))
vcase("signature-not-low-s", "index-high-s", "6.1, 11.2", "the index signed by the P-256 key with a high S",
      lambda: files(volume_set(signers=("release-p256",), h_sigs=_high_s)))
vcase("trailing-data", "intact-volumes-bad-bundle", "11.6 step 5",
      "intact volumes (index signed over them) of a bundle with a byte after frame P: the bundle's error stands",
      lambda: files(volume_set(bundle=(lambda b: (b, b.render()))(Bundle(
          artifacts=arts_with(A("big.bin", pseudo(30_000, 9))), h_file=lambda x: x + b"\0")))))

# ---- undetermined by the documents -------------------------------------------------------------------------------
# (case, question, Bundle arguments or None). No corpus file is written for these; `--undetermined DIR` writes the
# buildable ones to DIR so that airlock's current answer can be observed (OBSERVED, shown in the README as
# information, not as an expectation).
UNDETERMINED = []


def undetermined(name, question, **kw):
    UNDETERMINED.append((name, question, kw or None))


def _der_non_minimal(s, m):
    out = []
    for x in s:
        r, ss = decode_dss_signature(x["sig"])
        rb = b"\x00" + r.to_bytes((r.bit_length() + 8) // 8, "big")  # one leading zero too many
        sb = ss.to_bytes((ss.bit_length() + 8) // 8, "big")
        body = b"\x02" + bytes([len(rb)]) + rb + b"\x02" + bytes([len(sb)]) + sb
        out.append({"keyid": x["keyid"], "sig": b"\x30" + bytes([len(body)]) + body})
    return out


def _gnu_checksum(it):
    h = bytearray(it.hdr)
    h[148:156] = b"%06o\0 " % int(it.hdr[148:155], 8)
    it.hdr = bytes(h)
    return it


def _meta_rename(old, new):
    def h(meta):
        return [(k, new if p == old else p, b) for k, p, b in meta]

    return h


undetermined("skippable-frame-between-head-and-payload",
             "SPEC 2 says a reader checks each frame's magic and allows no skippable frame, but names no error for "
             "a frame P whose magic is not 28 B5 2F FD: `bundle-compression`, `trailing-data` or `head-frame`?",
             h_frame_p=lambda p, tar: skippable() + p)
undetermined("payload-legacy-magic", "the same question for a frame P with a legacy (v0.7) magic",
             h_frame_p=lambda p, tar: b"\x27" + p[1:])
undetermined("no-payload-frame", "the file ends exactly after frame H: `bundle-truncated` (2.1 names only input "
             "ending *inside* H) or `missing-entry`?", h_frame_p=lambda p, tar: b"")
undetermined("empty-file", "a 0-byte file: `bundle-truncated` or `head-frame`?", h_file=lambda b: b"")
undetermined("payload-dictionary-id", "frame P with a Dictionary_ID its blocks do not use: 2.2/9.2 accept any frame "
             "that meets 2.2, RFC 8878 lets a decoder without the dictionary refuse: accept or `bundle-compression`?",
             h_frame_p=lambda p, tar: raw_frame(tar, fhd=0x01, extra=b"\x07"))
undetermined("payload-content-size-wrong", "frame P whose Frame_Content_Size is 1 less than its content: 2.2 names "
             "`Compression` for the window and the checksum only; is every undecodable frame `bundle-compression`?",
             h_frame_p=lambda p, tar: raw_frame(tar, fhd=0x80, extra=(len(tar) - 1).to_bytes(4, "little")))
undetermined("payload-frame-ends-inside-artifact", "frame P ends inside an artifact's data, a second frame holds "
             "the rest: 3.5 names `Truncated` for input ending inside a frame and `MissingEntry` for a frame ending "
             "where an artifact is expected; a frame ending inside an entry is neither",
             h_frame_p=lambda p, tar: compress(tar[:2000]) + compress(tar[2000:]))
undetermined("end-of-archive-missing", "frame P ends right after the last artifact's padding: SPEC 8 step 6 "
             "requires two zero blocks but names no code", h_payload_tar=lambda t: t[:-1024])
undetermined("end-of-archive-one-block", "frame P ends after one zero block: no code named",
             h_payload_tar=lambda t: t[:-512])
undetermined("tar-checksum-gnu-spelling", "the checksum as GNU tar writes it (6 digits, NUL, space): 3.1's first "
             "table makes 7 digits + NUL a `TarHeader` rule, its Canonical-headers paragraph lists \"another "
             "checksum spelling\" under `TarHeaderMismatch`", h_payload_items=at(TOOL_I, _gnu_checksum))
undetermined("manifest-keys-reordered", "the manifest's keys in another order (`format` last): 5.1's strict decode "
             "(`Manifest`) or its re-encoding comparison (`NonCanonical`)?",
             h_manifest_map=lambda m: {**{k: v for k, v in m.items() if k != "format"}, "format": 1})
undetermined("manifest-indefinite-map", "the manifest as an indefinite-length map: 5.1 says such items never occur, "
             "not whether decoding (`Manifest`) or re-encoding (`NonCanonical`) refuses them",
             h_manifest_bytes=lambda m: b"\xbf" + m[1:] + b"\xff")
undetermined("manifest-tagged-created", "`created` wrapped in CBOR tag 1 (epoch time): the same question",
             h_manifest_map=set_map(created=Raw(b"\xc1" + cbor(CREATED), CREATED)))
undetermined("manifest-float-created", "`created` as a float64: the same question",
             h_manifest_map=set_map(created=Raw(b"\xfb" + __import__("struct").pack(">d", CREATED), CREATED)))
undetermined("manifest-same-entry-twice", "two entries with the same kind and path: both \"not strictly sorted\" "
             "(`Manifest`) and \"same tar path\" (`DuplicatePath`) in 5.3; which wins? (Two kinds never share a "
             "tar path, so `DuplicatePath` can only arise this way.)",
             h_entries=lambda es: es + [es[-1]])
undetermined("bundle-id-uppercase", "bundle_id in uppercase hex: a format rule (`Manifest`) or a recomputation "
             "mismatch (`BundleId`)?", h_bundle_id=lambda i, m: i.upper())
undetermined("signatures-unknown-field", "a signature map with an extra key: SPEC 6 says \"refused as for the "
             "manifest\": `manifest-malformed` or `signatures-malformed`?",
             h_signatures=lambda s, m: [dict(s[0], note="x")])
undetermined("signatures-trailing-byte", "one byte after the signatures array: the same question",
             h_signatures_bytes=lambda b: b + b"\x00")
undetermined("signatures-non-canonical-length", "the signature's byte-string length in a 2-byte head: "
             "`non-canonical` or `signatures-malformed`?",
             h_signatures_bytes=lambda b: b.replace(b"\x58\x40", b"\x59\x00\x40", 1))
undetermined("ecdsa-der-non-minimal", "an ECDSA signature with a non-minimal DER integer: 6.1 requires minimal DER "
             "but names no code (`signature-invalid`?)", signers=["release-p256"], h_signatures=_der_non_minimal)
undetermined("signatures-before-manifest", "the signatures entry first in H: 3.5's OutOfOrder needs the manifest, "
             "not read yet", h_head_items=lambda items: [items[1], items[0]] + items[2:])
undetermined("manifest-entry-mode-0600", "the manifest entry's header mode 0600: 3.5 step 4 requires 0644 but names "
             "no code", h_head_items=at(H_MANIFEST, edit_field(100, sw.octal(0o600, 8))))
undetermined("layout-key-file-misnamed", "a layout-key entry named for another keyid than the key it holds: "
             "METADATA 1.2 says MUST, names no code",
             h_meta=_meta_rename(f"{kid('owner')}.pub", f"{kid('rogue')}.pub"), layout_keyids=[kid("rogue")])
undetermined("root-file-misnamed", "the root file named 0000000002.root.json but holding version 1: METADATA 1.1 "
             "names no code", h_meta=_meta_rename("0000000001.root.json", "0000000002.root.json"))
undetermined("layout-unsigned", "a layout not signed by the key the manifest names (also: signed by another key, "
             "changed after signing): METADATA 1.2 makes too few signers `layout-threshold`; docs/threat-model.md "
             "adds \"every named key must have signed the layout\" with no code. With both broken, which code?",
             layouts=[("root.layout", make_layout(signers=()))])
undetermined("named-layout-key-did-not-sign", "the manifest names owner and rogue (both rooted, threshold 1), only "
             "owner signs: threshold met, but threat-model's \"every named key must have signed\" is broken: "
             "refused, and with which code?",
             roots=[(1, ROOT1), (2, make_root(2, layout_keys=("owner", "rogue")))], layout_keys=["owner", "rogue"])
undetermined("sequence-zero", "sequence 0 on a channel with no accepted bundle: \"more than the last sequence "
             "accepted\" when there is none", sequence=0)
undetermined("longlink-without-nul", "a long-name entry whose data lacks the terminating NUL (size len(p)): "
             "`TarHeader` or `TarHeaderMismatch`?", artifacts=LONG_ARTS,
             h_payload_items=_with_pre(LONG_I, raw_header(b"././@LongLink", len("artifacts/" + LONG), 0o644, 0,
                                                          ord("L")) + ("artifacts/" + LONG).encode()
                                       + b"\0" * sw.padding_len(len("artifacts/" + LONG))))
_UTF = "q" * 88 + "/\u6587\u4ef6"
_UTF_ARTS = arts_with(A(_UTF))
_UTF_I = sorted([p for p, _, _ in _UTF_ARTS], key=str.encode).index(_UTF)
undetermined("name-field-cut-inside-utf8", "the name field keeps the partial UTF-8 character (first 100 bytes): a "
             "prefix of the long name, so not `TarHeader` by 3.2, but not UTF-8: `TarHeader` or "
             "`TarHeaderMismatch`?", artifacts=_UTF_ARTS,
             h_payload_items=at(_UTF_I, edit_field(0, ("artifacts/" + _UTF).encode()[:100])))
undetermined("header-name-invalid-utf8", "an artifact header's name with a byte 0xFF (manifest unchanged): "
             "`tar-header` or `unsafe-path`?",
             h_payload_items=at(README_I, edit_field(14, b"\xff")))
undetermined("manifest-path-invalid-utf8", "a manifest path that is not UTF-8 (CBOR text with 0xFF): "
             "`manifest-malformed` or `unsafe-path`?",
             h_entries=on_entry("doc/README.txt", lambda e: dict(e, path=Raw(b"\x6e" + b"doc/README.tx\xff",
                                                                              "doc/README.txt"))))
undetermined("no-roots", "a bundle that carries no root entry (the store's anchor is final): METADATA 1.1 says "
             "\"one per version\" from a version the isolated side may still trust, not whether zero is allowed",
             roots=[])
undetermined("rollback-and-replay", "need store state (an earlier accepted bundle): a single-file corpus verified "
             "against a fresh store cannot express them (tests/e2e/freshness.rs covers them)")

# What airlock said for each buildable undetermined case when the corpus was last generated (information only).
OBSERVED = {
    "no-roots": "accepted (exit 0)",
    "bundle-id-uppercase": "`bundle-id-mismatch` (exit 1)",
    "ecdsa-der-non-minimal": "`signature-invalid` (exit 1)",
    "empty-file": "`bundle-truncated` (exit 1)",
    "end-of-archive-missing": "`bundle-truncated` (exit 1)",
    "end-of-archive-one-block": "`bundle-truncated` (exit 1)",
    "header-name-invalid-utf8": "`tar-header` (exit 1)",
    "layout-key-file-misnamed": "`layout-key-mismatch` (exit 1)",
    "layout-unsigned": "`layout-signature` (exit 1)",
    "longlink-without-nul": "`tar-header` (exit 1)",
    "manifest-entry-mode-0600": "`mode-mismatch` (exit 1)",
    "manifest-float-created": "`manifest-malformed` (exit 1)",
    "manifest-indefinite-map": "`non-canonical` (exit 1)",
    "manifest-keys-reordered": "`non-canonical` (exit 1)",
    "manifest-path-invalid-utf8": "`manifest-malformed` (exit 1)",
    "manifest-same-entry-twice": "`duplicate-path` (exit 1)",
    "manifest-tagged-created": "`non-canonical` (exit 1)",
    "name-field-cut-inside-utf8": "`tar-header-mismatch` (exit 1)",
    "named-layout-key-did-not-sign": "`layout-signature` (exit 1)",
    "no-payload-frame": "`bundle-truncated` (exit 1)",
    "payload-content-size-wrong": "`bundle-compression` (exit 1)",
    "payload-dictionary-id": "`bundle-compression` (exit 1)",
    "payload-frame-ends-inside-artifact": "`bundle-truncated` (exit 1)",
    "payload-legacy-magic": "`bundle-compression` (exit 1)",
    "root-file-misnamed": "accepted (exit 0)",
    "sequence-zero": "accepted (exit 0)",
    "signatures-before-manifest": "`out-of-order` (exit 1)",
    "signatures-non-canonical-length": "`non-canonical` (exit 1)",
    "signatures-trailing-byte": "`signatures-malformed` (exit 1)",
    "signatures-unknown-field": "`signatures-malformed` (exit 1)",
    "skippable-frame-between-head-and-payload": "`bundle-compression` (exit 1)",
    "tar-checksum-gnu-spelling": "`tar-header` (exit 1)",
}

# Cases where airlock's verdict differs from the documents' (kept, not bent):
# file stem -> what airlock says. Mirrors KNOWN_DISAGREEMENTS in tests/e2e/corpus.rs.
DISAGREEMENTS = {
}


def main():
    args = sys.argv[1:]
    if args[:1] == ["--undetermined"]:
        os.makedirs(args[1], exist_ok=True)
        for name, _, kw in UNDETERMINED:
            if kw is not None:
                with open(os.path.join(args[1], f"{name}.airlock"), "wb") as f:
                    f.write(Bundle(**kw).render())
        return
    out = args[0] if args else os.path.join(HERE, "..", "tests", "vectors", "corpus")
    if zstandard.ZSTD_VERSION != (1, 5, 7):
        sys.exit(f"needs libzstd 1.5.7 (zstandard 0.25.0), have {zstandard.ZSTD_VERSION}")
    for f in os.listdir(out) if os.path.isdir(out) else []:
        if f.endswith(".airlock"):
            os.remove(os.path.join(out, f))
        elif "--" in f:
            shutil.rmtree(os.path.join(out, f))
    os.makedirs(os.path.join(out, "keys"), exist_ok=True)
    for name, k in KEYS.items():
        with open(os.path.join(out, "keys", f"{name}.pem"), "wb") as f:
            f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
        with open(os.path.join(out, "keys", f"{name}.pub"), "wb") as f:
            f.write(sw.spki_pem(k.public_key()))
    with open(os.path.join(out, "1.root.json"), "wb") as f:
        f.write(ROOT1)
    with open(os.path.join(out, "channels.txt"), "w") as f:
        f.write("\n".join(CHANNELS) + "\n")
    with open(os.path.join(out, "at.txt"), "w") as f:
        f.write(AT_TEXT + "\n")
    rows = []
    seen = set()
    for code, name, section, what, kw in CASES:
        stem = f"{code}--{name}"
        assert stem not in seen, stem
        seen.add(stem)
        data = Bundle(**kw).render()
        with open(os.path.join(out, stem + ".airlock"), "wb") as f:
            f.write(data)
        rows.append((stem, what, section, code))
    for code, name, section, what, make in VOLUME_CASES:
        stem = f"{code}--{name}"
        assert stem not in seen, stem
        seen.add(stem)
        os.makedirs(os.path.join(out, stem))
        for fname, data in make().items():
            with open(os.path.join(out, stem, fname), "wb") as f:
                f.write(data)
        rows.append((stem + "/", what, section, code))
    write_readme(out, rows)
    print(f"wrote {len(rows)} bundles to {out}")


def write_readme(out, rows):
    accepted = sum(1 for r in rows if r[3] == "accept")
    vols = sum(1 for r in rows if r[0].endswith("/"))
    lines = [
        "# The adversarial corpus",
        "",
        "Written by `scripts/gen-adversarial-corpus.py` from `bundle-format/SPEC.md`, `bundle-format/METADATA.md`,",
        "`docs/codes.md`, `docs/isolated-side.md` and `docs/threat-model.md` alone (never from airlock's code or its",
        "own crafted-bundle tests), on top of `scripts/spec-writer.py`. Regenerate with",
        "",
        "```sh",
        "target/spec-writer-venv/bin/python scripts/gen-adversarial-corpus.py   # scripts/test.sh makes the venv",
        "```",
        "",
        "which rewrites every file here byte for byte (fixed keys in `keys/`, fixed `created`, libzstd 1.5.7).",
        f"{len(rows)} cases: {accepted} to accept, {len(rows) - accepted} to refuse; {vols} of them are split bundles,",
        "a directory `<code>--<case>/` of volumes `b.airlock.001`, … (airlock is given the first file).",
        "`<code>--<case>` must be refused with exactly that `--json` error code and the exit code",
        "docs/codes.md gives it (1 for all but `volume-not-first`, 2); `accept--<case>` must be accepted, and",
        "unpacked. `tests/e2e/corpus.rs` checks every one with `airlock verify --json` and `airlock unpack`",
        "against a file store made by `anchor init --root 1.root.json --channel` with the channels in",
        "`channels.txt`, at the verification time in `at.txt` (`--at`); a refused unpack must leave `--to`",
        "absent and nothing written outside the store. The keys are public test data.",
        "",
        "Sections are SPEC.md's unless marked METADATA (METADATA.md), codes (docs/codes.md) or isolated-side",
        "(docs/isolated-side.md). Where a rule of SPEC 5.2 names no code of its own, the manifest's strict decode",
        "(5.1, `manifest-malformed`) is taken as the one that refuses it; where a path in the manifest breaks",
        "section 4, `unsafe-path` (the code 3.5 gives section 4) is expected.",
        "",
        "| case | what was done to the bytes | section | expected |",
        "|---|---|---|---|",
    ]
    for stem, what, section, code in rows:
        note = f" — **disagreement: airlock says {DISAGREEMENTS[stem]}**" if stem in DISAGREEMENTS else ""
        lines.append(f"| `{stem}` | {md(what)}{note} | {section} | `{code}` |")
    lines += ["", "## Undetermined by the SPEC", "",
              "Cases whose verdict (or code) the documents do not fix: no corpus file is written for them, and each",
              "is a question for the SPEC's owner. `scripts/gen-adversarial-corpus.py --undetermined DIR` writes",
              "the buildable ones to DIR; \"airlock says\" is what `verify --json` answered when this README was",
              "generated — an observation, not an expectation.", "",
              "| case | question | airlock says |", "|---|---|---|"]
    for c, q, kw in UNDETERMINED:
        said = OBSERVED.get(c, "—" if kw is None else "not observed")
        lines.append(f"| `{c}` | {md(q)} | {md(said)} |")
    if DISAGREEMENTS:
        lines += ["", "## Disagreements", "",
                  "airlock's verdict differs from the documents' on these (the expected verdict above is the SPEC's;",
                  "`KNOWN_DISAGREEMENTS` in tests/e2e/corpus.rs lists them):", ""]
        for stem, says in sorted(DISAGREEMENTS.items()):
            lines.append(f"* `{stem}.airlock`: airlock says {says}")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def md(s):
    return s.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    main()
