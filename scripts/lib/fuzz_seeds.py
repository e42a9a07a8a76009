"""Seed corpora for the fuzz targets in fuzz/, made from tests/vectors/.

Usage: fuzz_seeds.py OUT_DIR AIRLOCK_BINARY

Writes OUT_DIR/<target>/<name> for every target (scripts/fuzz.sh calls it;
nothing here is committed). The Sigstore seeds are the bundle and trusted
root vectors; the policy seeds the two example policies of docs/policy/;
the OCI seeds are written below (tests/vectors holds no bare manifest). The journal seeds are a real journal and a real
export, made by running the given airlock binary on the bundle vectors.
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
SEP = b"\xff"  # airlock::fuzzing::SEPARATOR


def put(out, target, data, name=None):
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    name = name or hashlib.sha256(data).hexdigest()[:16]
    (d / name).write_bytes(data)


def tar_entry(raw, path):
    """The data of tar entry `path` in the raw (stored) head frame."""
    at = raw.find(path.encode() + b"\0")
    if at < 0:
        return None
    size = int(raw[at + 124 : at + 136].rstrip(b"\0 ") or b"0", 8)
    return raw[at + 512 : at + 512 + size]


def bundles(out):
    for f in sorted((VECTORS / "bundle").glob("*.airlock")):
        raw = f.read_bytes()
        put(out, "bundle_reader", raw, f.stem)
        for path in ("airlock/manifest.cbor", "airlock/signatures.cbor"):
            data = tar_entry(raw, path)
            if data:
                put(out, "manifest", data)


def volumes(out):
    for f in sorted((VECTORS / "volumes").glob("*/*.airlock.*")):
        raw = f.read_bytes()
        header_len = int.from_bytes(raw[16:20], "big")
        put(out, "volume_header", raw[: max(header_len, 64)], f"{f.parent.name}.{f.suffix[1:]}")
        index_len = int.from_bytes(raw[24:28], "big")
        put(out, "volume_index", raw[28 : 28 + index_len])


def signed_part(doc):
    """The signed JSON of a Metablock or DSSE document, as bytes."""
    try:
        j = json.loads(doc)
    except ValueError:
        return None
    if not isinstance(j, dict):
        return None
    if "signed" in j:
        return json.dumps(j["signed"], sort_keys=True).encode()
    if "payload" in j:
        try:
            return base64.b64decode(j["payload"] + "==")
        except ValueError:
            return None
    return None


def intoto(out):
    base = VECTORS / "intoto"
    for f in sorted(base.rglob("*")):
        if f.is_file() and (f.suffix in (".layout", ".link") or f.name.endswith(".dsse.json")):
            put(out, "intoto_document", f.read_bytes())
    for case in sorted(p for p in base.iterdir() if (p / "root.layout").is_file()):
        layout = signed_part((case / "root.layout").read_bytes())
        if layout is None:
            continue
        parts = [layout]
        for link in sorted((case / "links").glob("*.link")) if (case / "links").is_dir() else []:
            s = signed_part(link.read_bytes())
            if s is not None:
                parts.append(s)
        put(out, "intoto_verify", SEP.join(parts), case.name)


def tuf(out):
    for case in sorted(p for p in (VECTORS / "tuf").iterdir() if p.is_dir() and p.name != "keys"):
        roots = sorted(case.glob("*.root.json"), key=lambda p: int(p.name.split(".")[0]))
        if roots:
            put(out, "tuf_roots", SEP.join(r.read_bytes() for r in roots), case.name)
    put(out, "tuf_roots", (VECTORS / "bundle" / "1.root.json").read_bytes(), "bundle-root")


def journal(out, airlock):
    with tempfile.TemporaryDirectory() as tmp:
        def run(*args):
            subprocess.run([airlock, *args], cwd=tmp, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
        b = VECTORS / "bundle"
        run("anchor", "init", "--store", "store", "--root", str(b / "1.root.json"),
            "--channel", "vectors")
        run("verify", str(b / "pass_minimal.airlock"), "--store", "store")
        run("verify", str(b / "fail_signature-invalid.airlock"), "--store", "store")
        run("verify", str(b / "pass_minimal.airlock"), "--store", "store")
        run("journal", "export", "--store", "store", "--out", "export.jsonl")
        lines = Path(tmp, "store", "journal.jsonl")
        export = Path(tmp, "export.jsonl")
        if not lines.is_file() or not export.is_file():
            sys.exit("error: could not make a journal and an export with " + str(airlock))
        put(out, "journal_lines", lines.read_bytes(), "journal")
        put(out, "journal_export", export.read_bytes(), "export")


def pkcs11(out):
    mod = "module-path=/usr/lib/softhsm/libsofthsm2.so"
    for uri in (
        f"pkcs11:token=release;object=targets-1?{mod}&pin-source=file:/etc/airlock/pin",
        f"pkcs11:token=my%20token;object=a%3Bb;id=%01%ff;type=private?{mod}&pin-source=file:///p%20in",
        f"pkcs11:token=airlock;object=journal?{mod}&pin-value=1234",
        "pkcs11:token=t;serial=0123;manufacturer=SoftHSM%20project?module-name=softhsm2",
    ):
        put(out, "pkcs11_uri", uri.encode())


def sigstore(out):
    base = VECTORS / "sigstore"
    for f in sorted(base.glob("*.sigstore.json")):
        put(out, "sigstore_bundle", f.read_bytes(), f.name)
    for f in sorted(base.glob("trusted_root.*.json")):
        put(out, "sigstore_trusted_root", f.read_bytes(), f.name)


def oci(out):
    d = "sha256:" + "ab" * 32
    desc = lambda mt, size: {"mediaType": mt, "digest": d, "size": size}
    docs = {
        "oci-manifest": {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": desc("application/vnd.oci.image.config.v1+json", 2),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", 10)],
            "annotations": {"org.opencontainers.image.ref.name": "1.0"},
        },
        "oci-index": {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                dict(desc("application/vnd.oci.image.manifest.v1+json", 400),
                     platform={"os": "linux", "architecture": "amd64"}),
                dict(desc("application/vnd.oci.image.manifest.v1+json", 400),
                     platform={"os": "linux", "architecture": "arm64", "variant": "v8"}),
            ],
        },
        "docker-manifest": {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": desc("application/vnd.docker.container.image.v1+json", 2),
            "layers": [desc("application/vnd.docker.image.rootfs.diff.tar.gzip", 10)],
        },
        "docker-list": {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": [dict(desc("application/vnd.docker.distribution.manifest.v2+json", 400),
                               platform={"os": "linux", "architecture": "amd64"})],
        },
    }
    for name, doc in docs.items():
        put(out, "oci_document", json.dumps(doc).encode(), name)


def docker_archive(out):
    """`manifest.json` as `docker save` / `podman save` write it."""
    layer = "0f3e1b7c9d2a4e6f8b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a/layer.tar"
    docs = {
        "one-image": [{"Config": "sha256config.json", "RepoTags": ["team/base:1"],
                       "Layers": [layer]}],
        "two-images": [
            {"Config": "a.json", "RepoTags": ["registry.example:5000/team/base:1", "base:latest"],
             "Layers": [layer, "blobs/sha256/" + "ab" * 32]},
            {"Config": "b.json", "RepoTags": None, "Layers": []},
        ],
        "untagged": [{"Config": "c.json", "Layers": ["l1/layer.tar", "l2/layer.tar"]}],
        "unsafe-path": [{"Config": "../c.json", "RepoTags": ["x:1"], "Layers": ["/etc/passwd"]}],
    }
    for name, doc in docs.items():
        put(out, "docker_archive_manifest", json.dumps(doc).encode(), name)


def policy(out):
    for f in sorted((ROOT / "docs" / "policy").glob("*.toml")):
        put(out, "policy_file", f.read_bytes(), f.name)


def main():
    out, airlock = Path(sys.argv[1]), str(Path(sys.argv[2]).resolve())
    if out.exists():
        shutil.rmtree(out)
    bundles(out)
    volumes(out)
    intoto(out)
    tuf(out)
    journal(out, airlock)
    pkcs11(out)
    sigstore(out)
    oci(out)
    docker_archive(out)
    policy(out)
    for d in sorted(out.iterdir()):
        print(f"  {d.name}: {len(os.listdir(d))} seeds")


if __name__ == "__main__":
    main()
