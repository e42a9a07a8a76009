#!/usr/bin/env python3
"""in-toto's verification with layout keys under a chosen scheme.

  intoto_keys.py LAYOUT LINK_DIR SCHEME:PUB...

`in-toto-verify --verification-keys` reads every RSA key as
rsassa-pss-sha256; this runs the same in_toto.verifylib.in_toto_verify
with each SPKI PEM key PUB under SCHEME (e.g. rsa-pkcs1v15-sha256), so a
layout signed under that scheme can be checked by the reference. Run it in
the directory holding the final product. Exit 0 when in-toto accepts, 1
when it refuses (the reason on stderr).
"""

import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from in_toto import verifylib
from in_toto.models.metadata import Metadata
from securesystemslib.signer import SSlibKey


def main(layout, link_dir, specs):
    keys = {}
    for spec in specs:
        scheme, path = spec.split(":", 1)
        with open(path, "rb") as f:
            key = SSlibKey.from_crypto(load_pem_public_key(f.read()), scheme=scheme)
        d = key.to_dict()
        d["keyid"] = key.keyid
        keys[key.keyid] = d
    try:
        verifylib.in_toto_verify(Metadata.load(layout), keys, link_dir)
    except Exception as e:  # noqa: BLE001 - any refusal is the verdict
        print(f"in-toto refuses: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print("in-toto accepts")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
