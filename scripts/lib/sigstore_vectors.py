"""Writes tests/vectors/sigstore/ (run by scripts/gen-sigstore-vectors.sh).

Arguments: STORE_DIR (sigstore's _store with the trusted roots), ASSETS
(pypi-attestations' test/assets), OUT, the sigstore CLI, and the two
versions (recorded in the manifest).

Every case: a bundle, an artifact, a trusted root, an identity policy; the
verdict of `sigstore verify identity --offline --trust-config` over exactly
those files, and the airlock code a failing case must carry.
"""
import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, ObjectIdentifier
from pypi_attestations import Attestation

STORE, ASSETS, OUT, SIGSTORE, SIGSTORE_VERSION, PA_VERSION = sys.argv[1:7]
STORE, ASSETS, OUT = Path(STORE), Path(ASSETS), Path(OUT)
TMP = Path(tempfile.mkdtemp(prefix="sigstore-trust-config-"))

ROOTS = {
    "production": STORE / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev",
    "staging": STORE / "https%3A%2F%2Ftuf-repo-cdn.sigstage.dev",
}
for name, d in ROOTS.items():
    shutil.copy(d / "trusted_root.json", OUT / f"trusted_root.{name}.json")
    config = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads((d / "trusted_root.json").read_text()),
        "signingConfig": json.loads((d / "signing_config.v0.2.json").read_text()),
    }
    (TMP / f"trust_config.{name}.json").write_text(json.dumps(config))


def identity_of(bundle):
    """The SAN and OIDC issuer of a bundle's certificate."""
    vm = bundle["verificationMaterial"]
    raw = vm.get("certificate") or vm["x509CertificateChain"]["certificates"][0]
    cert = x509.load_der_x509_certificate(base64.b64decode(raw["rawBytes"]))
    san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    ident = [str(v.value) for v in san][0]
    ext = cert.extensions.get_extension_for_oid(ObjectIdentifier("1.3.6.1.4.1.57264.1.8"))
    issuer = ext.value.value[2:].decode()  # DER UTF8String, short form
    return ident, issuer


cases = []


def artifact(src, name=None):
    name = name or src.name
    shutil.copy(src, OUT / name)
    return name


def case(name, bundle, art, root, identity, issuer, code):
    bname = f"{name}.sigstore.json"
    (OUT / bname).write_text(json.dumps(bundle, indent=2) + "\n")
    cmd = [
        SIGSTORE, "--trust-config", str(TMP / f"trust_config.{root}.json"),
        "verify", "identity", "--offline", "--bundle", str(OUT / bname),
        "--cert-identity", identity, "--cert-oidc-issuer", issuer, str(OUT / art),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "1000"})
    # rich's log lines: "[time] ERROR    message    file.py:N"; keep the
    # reason (the line after "FAIL: FILE"), without the source location.
    errors = [
        re.sub(r"\s+\S+\.py:\d+\s*$", "", l.split("ERROR", 1)[1]).strip()
        for l in (r.stdout + r.stderr).splitlines()
        if "ERROR" in l
    ]
    reasons = [e for e in errors if not e.startswith("FAIL:")]
    verdict = "OK" if r.returncode == 0 else "FAIL: " + (reasons[0] if reasons else "?")
    want_ok = name.startswith("pass_")
    assert (r.returncode == 0) == want_ok, (name, r.stdout, r.stderr)
    cases.append({
        "name": name,
        "bundle": bname,
        "artifact": art,
        "trusted_root": f"trusted_root.{root}.json",
        "identity": identity,
        "issuer": issuer,
        "reference": verdict,
        "code": code,
    })


def load(p):
    return json.loads(Path(p).read_text())


# Real bundles as published (v0.3, DSSE, in-toto statements).
rfc = load(ASSETS / "rfc8785-0.1.2-py3-none-any.whl.sigstore")
rfc_art = artifact(ASSETS / "rfc8785-0.1.2-py3-none-any.whl")
rfc_id, rfc_iss = identity_of(rfc)
case("pass_dsse_staging_email", rfc, rfc_art, "staging", rfc_id, rfc_iss, None)

models = load(ASSETS / "pypi_attestation_models-0.0.4a2.tar.gz.sigstore")
models_art = artifact(ASSETS / "pypi_attestation_models-0.0.4a2.tar.gz")
m_id, m_iss = identity_of(models)
case("pass_dsse_github_workflow", models, models_art, "production", m_id, m_iss, None)

# PEP 740 attestations as PyPI serves them, converted to Sigstore bundles by
# pypi-attestations (the same conversion `pypi-attestations verify` does).
for name, att, art in [
    ("pass_pep740_gitlab", "gitlab_oidc_project-0.0.3.tar.gz.publish.attestation",
     "gitlab_oidc_project-0.0.3.tar.gz"),
    ("pass_pep740_github", "pypi_attestations-0.0.19.tar.gz.publish.attestation",
     "pypi_attestations-0.0.19.tar.gz"),
    ("pass_pep740_github_slsa", "pypi_attestations-0.0.19.tar.gz.slsa.attestation",
     "pypi_attestations-0.0.19.tar.gz"),
]:
    a = Attestation.model_validate_json((ASSETS / att).read_bytes())
    b = json.loads(a.to_bundle().to_json())
    i, s = identity_of(b)
    case(name, b, artifact(ASSETS / art), "production", i, s, None)

# Must fail: the policy names someone else.
case("fail_wrong_identity", models, models_art, "production",
     m_id.replace("trailofbits", "trai1ofbits"), m_iss, "sigstore-identity-mismatch")
case("fail_wrong_issuer", models, models_art, "production",
     m_id, "https://gitlab.com", "sigstore-issuer-mismatch")

# Must fail: the artifact is not the one signed (one byte changed).
data = bytearray((ASSETS / "pypi_attestation_models-0.0.4a2.tar.gz").read_bytes())
data[100] ^= 1
(OUT / "tampered-pypi_attestation_models-0.0.4a2.tar.gz").write_bytes(bytes(data))
case("fail_tampered_artifact", models, "tampered-pypi_attestation_models-0.0.4a2.tar.gz",
     "production", m_id, m_iss, "sigstore-artifact-mismatch")

# Must fail: a staging bundle against the production root.
case("fail_other_instance", rfc, rfc_art, "production", rfc_id, rfc_iss,
     "sigstore-tlog-untrusted")

# Must fail: no signed timestamp (inclusion promise removed, no RFC 3161
# timestamp): the ten-minute certificate has long expired.
b = copy.deepcopy(rfc)
del b["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]
case("fail_expired_no_timestamp", b, rfc_art, "staging", rfc_id, rfc_iss,
     "sigstore-certificate-expired")

# Must fail: the DSSE payload changed (another subject).
b = copy.deepcopy(models)
st = json.loads(base64.b64decode(b["dsseEnvelope"]["payload"]))
st["subject"][0]["digest"]["sha256"] = "0" * 64
b["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
case("fail_tampered_payload", b, models_art, "production", m_id, m_iss,
     "sigstore-signature-invalid")

# Must fail: the integrated time moved (the signed entry timestamp breaks).
b = copy.deepcopy(models)
e = b["verificationMaterial"]["tlogEntries"][0]
e["integratedTime"] = str(int(e["integratedTime"]) + 60)
case("fail_tampered_integrated_time", b, models_art, "production", m_id, m_iss,
     "sigstore-tlog-promise-invalid")

# Must fail: one hash of the inclusion proof changed.
b = copy.deepcopy(models)
p = b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
h = bytearray(base64.b64decode(p["hashes"][0]))
h[0] ^= 1
p["hashes"][0] = base64.b64encode(bytes(h)).decode()
case("fail_tampered_inclusion_proof", b, models_art, "production", m_id, m_iss,
     "sigstore-tlog-proof-invalid")

# Message signatures (hashedrekord; v0.1, v0.2, v0.3), which no published
# bundle above exercises: made under a trusted root of our own.
sys.path.insert(0, str(Path(__file__).parent))
import sigstore_synthetic  # noqa: E402

sigstore_synthetic.make(
    OUT, TMP, case, json.loads((ROOTS["production"] / "signing_config.v0.2.json").read_text())
)
shutil.rmtree(TMP)
(OUT / "vectors.json").write_text(json.dumps({
    "generator": f"scripts/gen-sigstore-vectors.sh (sigstore {SIGSTORE_VERSION}, pypi-attestations {PA_VERSION})",
    "cases": cases,
}, indent=2) + "\n")
(OUT / "README.md").write_text(
    "Real Sigstore bundles from the pypi-attestations sdist's test assets (PyPI), "
    "the trusted roots shipped in the sigstore sdist, and copies altered in one place each; "
    "*_synthetic cases are message-signature bundles made by scripts/lib/sigstore_synthetic.py "
    "under trusted_root.synthetic.json (a CA, Rekor and CT log of its own); "
    "vectors.json records each case's verdict by `sigstore verify identity --offline` "
    "and the airlock code a failing case carries. Regenerate with scripts/gen-sigstore-vectors.sh.\n"
)
