"""A synthetic Sigstore message-signature bundle (v0.3) over the bytes of a
file — for tests/e2e/sigstore.rs, an image's OCI index, so that the bundle
signs an image of an airlock bundle rather than an artifact — and the
trusted root it verifies under (a Fulcio-like CA and Rekor key made here by
scripts/lib/sigstore_synthetic.py, the generator of the committed synthetic
vectors).

    python3 sigstore_image_bundle.py OUT_DIR FILE

writes OUT_DIR/trusted_root.json and OUT_DIR/image.sigstore.json and prints
{"identity", "issuer"} of the signing certificate. Needs `cryptography`.
"""
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from sigstore_synthetic import IDENTITY, ISSUER, Instance, message_bundle  # noqa: E402

out = pathlib.Path(sys.argv[1])
signed = pathlib.Path(sys.argv[2]).read_bytes()
inst = Instance()
(out / "trusted_root.json").write_text(json.dumps(inst.trusted_root(), indent=2) + "\n")
(out / "image.sigstore.json").write_text(json.dumps(message_bundle(inst, "0.3", signed), indent=2) + "\n")
print(json.dumps({"identity": IDENTITY, "issuer": ISSUER}))
