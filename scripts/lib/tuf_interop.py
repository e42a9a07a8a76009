#!/usr/bin/env python3
"""python-tuf's side of scripts/tuf-interop.sh.

  load ROOT...                 load a chain through TrustedMetadataSet (the
                               first root trusted), check the final root is
                               unexpired now; print the final version
  updater DIR ONLINE.pem       serve DIR (1.root.json, 2.root.json, ...) as a
                               TUF repository to python-tuf's Updater, with
                               timestamp, snapshot and targets (one target,
                               hello.txt) signed by ONLINE.pem; refresh from
                               1.root.json and fetch the target's info
  rotate FROM OUT PUB KEY...   write version N+1 of FROM with python-tuf's
                               Metadata API: PUB added to the root role, a
                               new expiry, signed by each PEM private KEY
Exit 0 on success, 1 when python-tuf refuses.
"""

import datetime
import os
import shutil
import sys
import tempfile

from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_pem_public_key,
)
from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.exceptions import DownloadHTTPError
from tuf.api.metadata import (
    Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp,
)
from tuf.api.serialization.json import JSONSerializer
from tuf.ngclient import FetcherInterface, Updater
from tuf.ngclient._internal.trusted_metadata_set import TrustedMetadataSet
from tuf.ngclient.config import EnvelopeType

UTC = datetime.timezone.utc


def signer(pem_path):
    """A signer for a PEM private key (its keyid is securesystemslib's,
    which is also the keyid airlock writes)."""
    with open(pem_path, "rb") as f:
        priv = load_pem_private_key(f.read(), None)
    return CryptoSigner(priv)


def load(paths):
    files = [open(p, "rb").read() for p in paths]
    try:
        ts = TrustedMetadataSet(files[0], EnvelopeType.METADATA)
        for data in files[1:]:
            ts.update_root(data)
        if ts.root.is_expired(ts.reference_time):
            raise RuntimeError("final root is expired")
    except Exception as e:  # noqa: BLE001
        print(f"python-tuf refuses: {type(e).__name__}: {e}")
        return 1
    print(f"python-tuf accepts: final root version {ts.root.version}")
    return 0


class DirFetcher(FetcherInterface):
    """Serves http://repo/metadata/NAME and http://repo/targets/NAME from
    a directory; anything missing is a 404, as from a web server."""

    def __init__(self, base):
        self.base = base

    def _fetch(self, url):
        rel = url.split("://", 1)[1].split("/", 1)[1]
        path = os.path.join(self.base, rel)
        if not os.path.isfile(path):
            raise DownloadHTTPError(f"{rel} not found", 404)
        with open(path, "rb") as f:
            return iter([f.read()])


def updater(repo_dir, online_pem):
    far = datetime.datetime.now(UTC) + datetime.timedelta(days=7)
    work = tempfile.mkdtemp()
    try:
        meta = os.path.join(work, "repo", "metadata")
        targets_dir = os.path.join(work, "repo", "targets")
        os.makedirs(meta)
        os.makedirs(targets_dir)
        n = 1
        while os.path.isfile(os.path.join(repo_dir, f"{n}.root.json")):
            shutil.copy(os.path.join(repo_dir, f"{n}.root.json"), meta)
            n += 1
        payload = b"hello from the connected side\n"
        with open(os.path.join(targets_dir, "hello.txt"), "wb") as f:
            f.write(payload)
        online = signer(online_pem)
        ser = JSONSerializer(compact=False)
        targets = Metadata(Targets(version=1, expires=far))
        targets.signed.targets["hello.txt"] = TargetFile.from_data("hello.txt", payload)
        targets.sign(online)
        targets.to_file(os.path.join(meta, "targets.json"), ser)
        snapshot = Metadata(Snapshot(version=1, expires=far))
        snapshot.signed.meta["targets.json"] = MetaFile(1)
        snapshot.sign(online)
        snapshot.to_file(os.path.join(meta, "snapshot.json"), ser)
        timestamp = Metadata(Timestamp(version=1, expires=far,
                                       snapshot_meta=MetaFile(1)))
        timestamp.sign(online)
        timestamp.to_file(os.path.join(meta, "timestamp.json"), ser)

        cache = os.path.join(work, "client")
        os.makedirs(cache)
        os.makedirs(os.path.join(work, "downloads"))
        with open(os.path.join(repo_dir, "1.root.json"), "rb") as f:
            trusted = f.read()
        try:
            u = Updater(metadata_dir=cache,
                        metadata_base_url="http://repo/metadata/",
                        target_base_url="http://repo/targets/",
                        target_dir=os.path.join(work, "downloads"),
                        fetcher=DirFetcher(os.path.join(work, "repo")),
                        bootstrap=trusted)
            u.refresh()
            info = u.get_targetinfo("hello.txt")
            if info is None:
                raise RuntimeError("hello.txt not found")
            u.download_target(info)
        except Exception as e:  # noqa: BLE001
            print(f"python-tuf Updater refuses: {type(e).__name__}: {e}")
            return 1
        root = Metadata[Root].from_file(os.path.join(cache, "root.json"))
        print(f"python-tuf Updater: refreshed to root version "
              f"{root.signed.version}, fetched and verified hello.txt "
              f"({info.length} bytes)")
        return 0
    finally:
        shutil.rmtree(work)


def rotate(src, out, pub, keys):
    md = Metadata[Root].from_file(src)
    with open(pub, "rb") as f:
        new_key = SSlibKey.from_crypto(load_pem_public_key(f.read()))
    md.signed.version += 1
    md.signed.expires = (datetime.datetime.now(UTC) +
                         datetime.timedelta(days=365)).replace(microsecond=0)
    md.signed.add_key(new_key, Root.type)
    md.signatures.clear()
    for k in keys:
        md.sign(signer(k), append=True)
    md.to_file(out, JSONSerializer(compact=False))
    print(f"python-tuf wrote {out}: version {md.signed.version}, root keys "
          f"{len(md.signed.roles[Root.type].keyids)} "
          f"(threshold {md.signed.roles[Root.type].threshold})")
    return 0


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "load":
        return load(args)
    if cmd == "updater":
        return updater(args[0], args[1])
    if cmd == "rotate":
        return rotate(args[0], args[1], args[2], args[3:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
