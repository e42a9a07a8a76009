//! The enclave's own gate (docs/policy.md): a pinned CEL or Rego policy
//! over verified attestations, bounded evaluation, a swapped policy file,
//! and the signed receipt of each accepted import.
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::World;

const SLSA: &str = "https://slsa.dev/provenance/v1";
const SPDX: &str = "https://spdx.dev/Document";
const VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
const BUILDER: &str = "https://example.com/airlock-test/builder";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Signs a Statement v1 about `dist/bin/tool` with the build step's
/// functionary key, as a DSSE envelope written to `name`.
fn attest(w: &World, name: &str, predicate_type: &str, predicate: Value) {
    let tool = fs::read(w.path("dist/bin/tool")).unwrap();
    let sha = hex::encode(Sha256::digest(&tool));
    attest_subject(w, name, predicate_type, predicate, ("bin/tool", &sha));
}

/// [`attest`] about `subject` (name, SHA-256 hex).
fn attest_subject(
    w: &World,
    name: &str,
    predicate_type: &str,
    predicate: Value,
    subject: (&str, &str),
) {
    use airlock::intoto::envelope::{PAYLOAD_TYPE, Signature, dsse, pae};
    use airlock_hsm::{FileSigner, Signer};
    let body = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": subject.0, "digest": {"sha256": subject.1}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }))
    .unwrap();
    let s = FileSigner::load(&w.path("keys/builder.pem")).unwrap();
    let sig = s.sign(&pae(PAYLOAD_TYPE, &body)).unwrap();
    let id = airlock::keys::keyid(s.public_key());
    w.write(name, &dsse(&body, &[Signature { keyid: id, sig }]));
}

/// RFC 3339 for `secs` before now.
fn ago(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    airlock::timefmt::format_utc(now - secs)
}

/// SLSA provenance as the reference vector has it
/// (tests/vectors/intoto/attestations/pass_slsa_provenance_v1), by
/// `builder`, finished `finished`.
fn provenance(builder: &str, finished: &str) -> Value {
    let env: Value = serde_json::from_slice(
        &fs::read(repo(
            "tests/vectors/intoto/attestations/pass_slsa_provenance_v1.dsse.json",
        ))
        .unwrap(),
    )
    .unwrap();
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap())
        .unwrap();
    let st: Value = serde_json::from_slice(&payload).unwrap();
    let mut p = st["predicate"].clone();
    p["runDetails"]["builder"]["id"] = json!(builder);
    p["runDetails"]["metadata"]["finishedOn"] = json!(finished);
    p
}

fn sbom() -> Value {
    json!({"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
           "name": "tool", "documentNamespace": "https://example.com/spdx/tool-1",
           "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: syft-1.0.0"]},
           "packages": [{"SPDXID": "SPDXRef-tool", "name": "tool", "downloadLocation": "NOASSERTION"}]})
}

/// A Trivy result in the cosign vulnerability predicate (scores as
/// strings: airlock's metadata parser refuses JSON floats).
fn scan(score: &str) -> Value {
    json!({"invocation": {"uri": "", "event_id": "", "builder.id": ""},
           "scanner": {"uri": "pkg:github/aquasecurity/trivy@0.50.0", "version": "0.50.0",
             "result": {"SchemaVersion": 2, "Results": [
               {"Target": "bin/tool", "Class": "lang-pkgs"},
               {"Target": "bin/tool", "Vulnerabilities": [
                 {"VulnerabilityID": "CVE-2026-0001", "Severity": "HIGH", "CVSS": {"nvd": {"V3Score": score}}}]}]}},
           "metadata": {"scanStartedOn": ago(7200), "scanFinishedOn": ago(7100)}})
}

/// Bundle `good.airlock`: provenance by the trusted builder, an SBOM, a
/// scan with a 7.5; `bad.airlock`: provenance by another builder, 40 days
/// old, no SBOM, a 9.8.
fn bundles(w: &World) {
    attest(w, "prov.dsse.json", SLSA, provenance(BUILDER, &ago(3600)));
    attest(w, "sbom.dsse.json", SPDX, sbom());
    attest(w, "scan.dsse.json", VULN, scan("7.5"));
    w.pack(
        "good.airlock",
        &[
            "--channel",
            "stable",
            "--attestation",
            "prov.dsse.json",
            "--attestation",
            "sbom.dsse.json",
            "--attestation",
            "scan.dsse.json",
        ],
    )
    .ok();
    attest(
        w,
        "prov-bad.dsse.json",
        SLSA,
        provenance("https://evil.example/builder", &ago(40 * 86400)),
    );
    attest(w, "scan-bad.dsse.json", VULN, scan("9.8"));
    w.pack(
        "bad.airlock",
        &[
            "--channel",
            "stable",
            "--sequence",
            "2",
            "--attestation",
            "prov-bad.dsse.json",
            "--attestation",
            "scan-bad.dsse.json",
        ],
    )
    .ok();
}

fn install(w: &World, policy: &Path) -> String {
    let r = w
        .run(&[
            "policy",
            "set",
            "--store",
            "store",
            policy.to_str().unwrap(),
            "--json",
        ])
        .ok();
    r.json()["policy"]["sha256"].as_str().unwrap().to_owned()
}

/// The last journal record's event and fields, as the journal has it.
fn last_record(w: &World) -> Value {
    let journal = fs::read_to_string(w.path("store/journal.jsonl")).unwrap();
    let rec: Value = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    let mut f = rec["fields"].clone();
    f["event"] = rec["event"].clone();
    f
}

fn holds_bundles_to(file: &str) {
    let w = World::new();
    bundles(&w);
    let policy = repo(file);
    let p = policy.to_str().unwrap();
    // Dry runs: which rules pass and which fail, nothing journaled.
    let journal = fs::read(w.path("store/journal.jsonl")).unwrap();
    let t = w
        .run(&[
            "policy",
            "test",
            p,
            "good.airlock",
            "--store",
            "store",
            "--json",
        ])
        .ok();
    assert_eq!(t.json()["admitted"], true, "{}", t.stdout);
    let t = w.run(&[
        "policy",
        "test",
        p,
        "bad.airlock",
        "--store",
        "store",
        "--json",
    ]);
    assert_eq!(
        (t.code, t.error_code().as_str()),
        (1, "policy-denied"),
        "{}",
        t.stderr
    );
    for rule in [
        "slsa-builder",
        "slsa-build-level",
        "provenance-age",
        "sbom-for-every-program",
        "no-critical-vulnerability",
    ] {
        assert!(
            t.stderr.contains(&format!("FAIL  {rule}")),
            "{rule}: {}",
            t.stderr
        );
    }
    assert!(t.stderr.contains("PASS  allowed-channels"), "{}", t.stderr);
    assert_eq!(
        fs::read(w.path("store/journal.jsonl")).unwrap(),
        journal,
        "a dry run journals nothing"
    );

    // Pinned: the good bundle is admitted, the bad one refused with every
    // failed rule named, nothing written.
    let sha = install(&w, &policy);
    let v = w
        .run(&["verify", "good.airlock", "--store", "store", "--json"])
        .ok();
    assert_eq!(v.json()["policy"]["sha256"], sha.as_str());
    let before = w.store_state();
    let r = w.unpack_json("bad.airlock", "out");
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "policy-denied"),
        "{}",
        r.stderr
    );
    let message = r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    for rule in [
        "slsa-builder",
        "provenance-age",
        "no-critical-vulnerability",
    ] {
        assert!(message.contains(&format!("rule {rule}")), "{message}");
    }
    assert!(!message.contains("rule allowed-channels"), "{message}");
    assert!(!w.path("out").exists(), "nothing placed on a denial");
    assert!(
        !w.path("out.receipt.dsse.json").exists(),
        "no receipt on a denial"
    );
    assert_eq!(w.store_state(), before, "the store did not advance");
    let rec = last_record(&w);
    assert_eq!(rec["event"], "unpack", "{rec}");
    assert_eq!(rec["outcome"], "refused", "{rec}");
    assert_eq!(rec["policy"]["sha256"], sha.as_str(), "{rec}");
    assert!(
        rec["policy"]["rules"]
            .as_array()
            .unwrap()
            .contains(&json!("slsa-builder")),
        "{rec}"
    );
    // Issue 19's metric: denials by rule, one count per failed rule.
    let m = w.run(&["metrics", "--store", "store"]).ok();
    for rule in [
        "slsa-builder",
        "provenance-age",
        "no-critical-vulnerability",
    ] {
        let line = format!(
            "airlock_policy_denials_total{{command=\"unpack\",rule=\"{rule}\",code=\"policy-denied\"}} 1"
        );
        assert!(m.stdout.lines().any(|l| l == line), "{line}\n{}", m.stdout);
    }
    assert!(
        !m.stdout.contains("rule=\"allowed-channels\""),
        "{}",
        m.stdout
    );
    w.unpack("good.airlock", "in").ok();
}

#[test]
fn cel_policy_admits_and_refuses_attestations() {
    holds_bundles_to("docs/policy/enclave.cel.toml");
}

#[test]
fn rego_policy_admits_and_refuses_attestations() {
    holds_bundles_to("docs/policy/enclave.rego.toml");
}

/// No policy: today's behaviour; a policy set and cleared is journaled.
#[test]
fn no_policy_is_todays_behaviour_and_changes_are_journaled() {
    let w = World::new();
    w.pack("a.airlock", &[]).ok();
    let s = w
        .run(&["policy", "show", "--store", "store", "--json"])
        .ok();
    assert_eq!(s.json()["policy"], Value::Null);
    let v = w
        .run(&["verify", "a.airlock", "--store", "store", "--json"])
        .ok();
    assert_eq!(v.json()["policy"], Value::Null);
    let sha = install(&w, &repo("docs/policy/enclave.cel.toml"));
    let rec = last_record(&w);
    assert_eq!(
        (rec["event"].as_str(), rec["sha256"].as_str()),
        (Some("policy.set"), Some(sha.as_str())),
        "{rec}"
    );
    let s = w
        .run(&["policy", "show", "--store", "store", "--json"])
        .ok();
    assert_eq!(s.json()["policy"]["sha256"], sha.as_str());
    assert!(
        s.json()["policy"]["text"]
            .as_str()
            .unwrap()
            .contains("slsa-builder")
    );
    // This bundle has no provenance: denied.
    let r = w.run(&["verify", "a.airlock", "--store", "store", "--json"]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "policy-denied"),
        "{}",
        r.stderr
    );
    w.run(&["policy", "clear", "--store", "store"]).ok();
    assert_eq!(last_record(&w)["event"], "policy.cleared");
    assert!(!w.path(&format!("store/policy/{sha}.toml")).exists());
    w.verify("a.airlock").ok();
    // A policy that does not parse or compile is the operator's mistake.
    for (name, text) in [
        (
            "syntax.toml",
            "format = 1\nlanguage = \"cel\"\n[[rule]]\nname = \"x\"\nexpr = \"manifest.channel ==\"\n",
        ),
        (
            "rego.toml",
            "format = 1\nlanguage = \"rego\"\nrego = 'package airlock\nallow if {'\n[[rule]]\nname = \"x\"\nexpr = \"data.airlock.allow\"\n",
        ),
        (
            "unknown.toml",
            "format = 1\nlanguage = \"cel\"\nrules = 1\n",
        ),
    ] {
        w.write(name, text.as_bytes());
        let r = w.run(&["policy", "set", "--store", "store", name, "--json"]);
        assert_eq!(
            (r.code, r.error_code().as_str()),
            (2, "policy-invalid"),
            "{name}: {}",
            r.stderr
        );
    }
    assert_eq!(
        w.run(&["policy", "show", "--store", "store", "--json"])
            .ok()
            .json()["policy"],
        Value::Null
    );
}

/// A policy that loops or allocates without bound is stopped: a refusal
/// (policy-error), never a pass, and nothing is written.
#[test]
fn unbounded_policy_is_stopped_and_refuses() {
    let w = World::new();
    w.pack("a.airlock", &[]).ok();
    // CEL: ten to the ninth steps (time: the child is killed), ten to the
    // eighth list elements (memory); Rego: nine hundred million steps
    // (regorus's timer), a billion numbers (memory).
    let ten = "[0,1,2,3,4,5,6,7,8,9]";
    let cel = format!(
        "{ten}.map(a, {ten}.map(b, {ten}.map(c, {ten}.map(d, {ten}.map(e, {ten}.map(f, {ten}.map(g, {ten}.map(h, 'xxxxxxxxxxxxxxxx')))))))).size() > 0"
    );
    let nine = (0..9).fold(
        "a + b + c + d + e + f + g + h + i >= 0".to_owned(),
        |inner, k| {
            format!(
                "{ten}.all({}, {inner})",
                ["a", "b", "c", "d", "e", "f", "g", "h", "i"][8 - k]
            )
        },
    );
    let policies = [
        format!("format = 1\nlanguage = \"cel\"\n[limits]\ntime_ms = 1000\n[[rule]]\nname = \"loops\"\nexpr = \"{nine}\"\n"),
        format!("format = 1\nlanguage = \"cel\"\n[limits]\ntime_ms = 3000\nmemory_mib = 64\n[[rule]]\nname = \"explodes\"\nexpr = \"{cel}\"\n"),
        "format = 1\nlanguage = \"rego\"\nrego = '''\npackage airlock\nimport rego.v1\nspin if { count([x | some x in numbers.range(1, 30000); some y in numbers.range(1, 30000); x != y]) > 0 }\n'''\n[limits]\ntime_ms = 500\nmemory_mib = 64\n[[rule]]\nname = \"spins\"\nexpr = \"data.airlock.spin\"\n".to_owned(),
        "format = 1\nlanguage = \"rego\"\nrego = '''\npackage airlock\nimport rego.v1\nhog if { count(numbers.range(1, 1000000000)) > 0 }\n'''\n[limits]\ntime_ms = 60000\nmemory_mib = 64\n[[rule]]\nname = \"hogs\"\nexpr = \"data.airlock.hog\"\n".to_owned(),
    ];
    for (i, text) in policies.iter().enumerate() {
        let name = format!("p{i}.toml");
        w.write(&name, text.as_bytes());
        let t = w.run(&[
            "policy",
            "test",
            &name,
            "a.airlock",
            "--store",
            "store",
            "--json",
        ]);
        assert_eq!(
            (t.code, t.error_code().as_str()),
            (1, "policy-error"),
            "{name}: {}",
            t.stderr
        );
        install(&w, &w.path(&name));
        let before = w.store_state();
        let r = w.unpack_json("a.airlock", "out");
        assert_eq!(
            (r.code, r.error_code().as_str()),
            (1, "policy-error"),
            "{name}: {}",
            r.stderr
        );
        let message = r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains("limit"), "{name}: {message}");
        assert!(!w.path("out").exists());
        assert_eq!(w.store_state(), before);
    }
    // A rule that errs (no such field) cannot decide either.
    w.write(
        "err.toml",
        b"format = 1\nlanguage = \"cel\"\n[[rule]]\nname = \"missing\"\nexpr = \"manifest.no_such_field == 1\"\n",
    );
    install(&w, &w.path("err.toml"));
    let r = w.run(&["verify", "a.airlock", "--store", "store", "--json"]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "policy-error"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("rule missing"), "{}", r.stderr);
}

/// The store's policy file swapped (or removed) behind airlock's back is
/// detected before anything is decided.
#[test]
fn swapped_policy_file_is_detected() {
    let w = World::new();
    w.pack("a.airlock", &[]).ok();
    w.write(
        "strict.toml",
        b"format = 1\nlanguage = \"cel\"\n[[rule]]\nname = \"never\"\nexpr = \"false\"\n",
    );
    let sha = install(&w, &w.path("strict.toml"));
    let file = w.path(&format!("store/policy/{sha}.toml"));
    fs::write(
        &file,
        b"format = 1\nlanguage = \"cel\"\n[[rule]]\nname = \"never\"\nexpr = \"true\"\n",
    )
    .unwrap();
    let before = w.store_state();
    let r = w.unpack_json("a.airlock", "out");
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (3, "policy-tampered"),
        "{}",
        r.stderr
    );
    assert!(!w.path("out").exists());
    assert_eq!(w.store_state(), before);
    fs::remove_file(&file).unwrap();
    let r = w.run(&["verify", "a.airlock", "--store", "store", "--json"]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (3, "policy-tampered"),
        "{}",
        r.stderr
    );
    let s = w.run(&["policy", "show", "--store", "store", "--json"]);
    assert_eq!((s.code, s.error_code().as_str()), (3, "policy-tampered"));
}

/// The receipt of an accepted unpack: verified by `receipt verify` and by
/// securesystemslib's DSSE verifier, a flipped byte refused, its journal
/// reference the import's record.
#[test]
fn receipts_verify_and_name_their_journal_record() {
    let w = World::new();
    bundles(&w);
    let sha = install(&w, &repo("docs/policy/enclave.cel.toml"));
    w.run(&[
        "journal",
        "export",
        "--store",
        "store",
        "--out",
        "early.jsonl",
    ])
    .ok();
    let u = w
        .run(&[
            "unpack",
            "good.airlock",
            "--store",
            "store",
            "--to",
            "in",
            "--json",
        ])
        .ok();
    w.run(&[
        "journal",
        "export",
        "--store",
        "store",
        "--out",
        "audit.jsonl",
    ])
    .ok();
    let receipt = w.path("in.receipt.dsse.json");
    // Beside the destination, which is printed as an absolute path.
    let absolute = w
        .path(".")
        .canonicalize()
        .unwrap()
        .join("in.receipt.dsse.json");
    assert_eq!(u.json()["receipt"], absolute.to_str().unwrap());
    let seq = u.json()["journal_record"].as_u64().unwrap();
    let v = w
        .run(&[
            "receipt",
            "verify",
            "in.receipt.dsse.json",
            "--key",
            "store/journal-key.pub",
            "--json",
        ])
        .ok();
    let st = &v.json()["statement"];
    assert_eq!(
        st["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    let p = &st["predicate"];
    assert_eq!(p["verificationResult"], "PASSED");
    assert_eq!(p["policy"]["digest"]["sha256"], sha.as_str());
    let subjects = st["subject"].as_array().unwrap();
    let tool = Sha256::digest(fs::read(w.path("dist/bin/tool")).unwrap());
    assert!(
        subjects
            .iter()
            .any(|s| s["name"] == "bin/tool" && s["digest"]["sha256"] == hex::encode(tool)),
        "{st}"
    );
    // The journal reference: the import's record, its line's SHA-256.
    let j = &p["airlock"]["journal"];
    assert_eq!(j["seq"].as_u64(), Some(seq));
    let journal = fs::read_to_string(w.path("store/journal.jsonl")).unwrap();
    let line = journal
        .lines()
        .find(|l| serde_json::from_str::<Value>(l).unwrap()["seq"].as_u64() == Some(seq))
        .unwrap();
    assert_eq!(j["head_seq"].as_u64(), Some(seq));
    assert_eq!(
        j["head_sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(line.as_bytes()))
    );
    let rec: Value = serde_json::from_str(line).unwrap();
    assert_eq!(rec["event"], "unpack");
    assert_eq!(rec["fields"]["policy"]["sha256"], sha.as_str());
    // Against a journal export: the import's record, signed by the same
    // key; an export from before the import does not hold it.
    let c = w
        .run(&[
            "receipt",
            "verify",
            "in.receipt.dsse.json",
            "--key",
            "store/journal-key.pub",
            "--journal",
            "audit.jsonl",
            "--json",
        ])
        .ok();
    assert_eq!(c.json()["journal_checked"], true);
    let r = w.run(&[
        "receipt",
        "verify",
        "in.receipt.dsse.json",
        "--key",
        "store/journal-key.pub",
        "--journal",
        "early.jsonl",
        "--json",
    ]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "receipt-invalid"),
        "{}",
        r.stderr
    );
    // A flipped byte anywhere in the payload is refused.
    flip_payload(&w, &receipt, "flipped.json");
    let r = w.run(&[
        "receipt",
        "verify",
        "flipped.json",
        "--key",
        "store/journal-key.pub",
        "--json",
    ]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "receipt-invalid"),
        "{}",
        r.stderr
    );
    // Another key: refused.
    let r = w.run(&[
        "receipt",
        "verify",
        "in.receipt.dsse.json",
        "--key",
        "keys/release.pub",
        "--json",
    ]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "receipt-invalid"),
        "{}",
        r.stderr
    );
    // securesystemslib's DSSE verifier accepts it and refuses the flip.
    let Some(python) = dsse_python() else { return };
    let keyid = st["predicate"]["airlock"]["journal"]["key"]
        .as_str()
        .unwrap();
    let ok = securesystemslib_verify(&w, &python, "in.receipt.dsse.json", keyid);
    assert!(
        ok.status.success(),
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = securesystemslib_verify(&w, &python, "flipped.json", keyid);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// Writes `to`: the receipt `from` with one bit of its payload flipped.
fn flip_payload(w: &World, from: &Path, to: &str) {
    use base64::Engine as _;
    let env: Value = serde_json::from_slice(&fs::read(from).unwrap()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut payload = b64.decode(env["payload"].as_str().unwrap()).unwrap();
    let at = payload.len() / 2;
    payload[at] ^= 0x01;
    let mut flipped = env.clone();
    flipped["payload"] = json!(b64.encode(&payload));
    w.write(to, flipped.to_string().as_bytes());
}

/// securesystemslib's `Envelope.verify` of the receipt `file` with the
/// store's journal public key (keyid `keyid`): exit 0 accepted, 1 refused.
fn securesystemslib_verify(
    w: &World,
    python: &Path,
    file: &str,
    keyid: &str,
) -> std::process::Output {
    let script = r#"
import sys, json
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
pem = open(sys.argv[2], "rb").read()
key = SSlibKey.from_crypto(load_pem_public_key(pem), keyid=sys.argv[3])
env = Envelope.from_dict(json.load(open(sys.argv[1])))
try:
    env.verify([key], 1)
except Exception as e:
    print("refused:", e); sys.exit(1)
print("ok", key.scheme)
"#;
    std::process::Command::new(python)
        .current_dir(w.path(""))
        .args(["-c", script, file, "store/journal-key.pub", keyid])
        .output()
        .unwrap()
}

/// Python with securesystemslib 1.6.0 (scripts/test.sh makes
/// target/dsse-venv); under CI its absence fails the test.
fn dsse_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("AIRLOCK_DSSE_PYTHON").map(PathBuf::from),
        Some(repo("target/dsse-venv/bin/python")),
    ];
    for p in candidates.into_iter().flatten() {
        let ok = std::process::Command::new(&p)
            .args(["-c", "import securesystemslib.dsse, cryptography"])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(p);
        }
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI needs securesystemslib (scripts/test.sh installs it into target/dsse-venv)"
    );
    eprintln!("SKIPPED: securesystemslib not installed (run scripts/test.sh once)");
    None
}

/// An SBOM for every image: both languages admit a bundle whose image has
/// an SPDX attestation naming its digest, and deny one without.
#[test]
fn an_sbom_for_every_image_in_both_languages() {
    use crate::images::{image_world, pack_images, record_with_images};
    const APP: &str = "oci:src:team/app:1.0";
    let w = image_world();
    record_with_images(&w, &[APP], &[]);
    let index: Value =
        serde_json::from_slice(&fs::read(w.path("src/index.json")).unwrap()).unwrap();
    let digest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "team/app:1.0")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    attest_subject(
        &w,
        "sbom.dsse.json",
        SPDX,
        sbom(),
        ("team/app:1.0", &digest),
    );
    pack_images(
        &w,
        "with.airlock",
        &[APP],
        &["--attestation", "sbom.dsse.json"],
    )
    .ok();
    pack_images(&w, "without.airlock", &[APP], &["--sequence", "2"]).ok();
    w.write(
        "sbom.cel.toml",
        br#"format = 1
language = "cel"
[[rule]]
name = "sbom-for-every-image"
expr = '''
images.all(i, attestations.exists(a,
  a.predicate_type in ["https://spdx.dev/Document", "https://cyclonedx.org/bom"] &&
  a.subjects.exists(s, has(s.digest.sha256) && s.digest.sha256 == i.digest.sha256)))
'''
"#,
    );
    w.write(
        "sbom.rego.toml",
        br#"format = 1
language = "rego"
rego = '''
package airlock
import rego.v1
sbom_types := {"https://spdx.dev/Document", "https://cyclonedx.org/bom"}
sbom_digests := {s.digest.sha256 | some a in input.attestations; a.predicate_type in sbom_types; some s in a.subjects}
sbom_for_every_image if { every i in input.images { i.digest.sha256 in sbom_digests } }
'''
[[rule]]
name = "sbom-for-every-image"
expr = "data.airlock.sbom_for_every_image"
"#,
    );
    for policy in ["sbom.cel.toml", "sbom.rego.toml"] {
        let ok = w
            .run(&[
                "policy",
                "test",
                policy,
                "with.airlock",
                "--store",
                "store",
                "--json",
            ])
            .ok();
        assert_eq!(
            ok.json()["input"]["images"][0]["digest"]["sha256"],
            digest.as_str()
        );
        let r = w.run(&[
            "policy",
            "test",
            policy,
            "without.airlock",
            "--store",
            "store",
            "--json",
        ]);
        assert_eq!(
            (r.code, r.error_code().as_str()),
            (1, "policy-denied"),
            "{policy}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("FAIL  sbom-for-every-image"),
            "{}",
            r.stderr
        );
    }
}

/// A one-rule CEL policy `name` admitting bundles on `channel` only.
fn channel_policy(w: &World, name: &str, channel: &str) -> PathBuf {
    let p = w.path(name);
    fs::write(
        &p,
        format!(
            "format = 1\nlanguage = \"cel\"\n\n[[rule]]\nname = \"channel-{channel}\"\nexpr = 'manifest.channel == \"{channel}\" && timestamp(now) >= timestamp(manifest.created)'\n"
        ),
    )
    .unwrap();
    p
}

/// `publish DIR` evaluates the store's policy as it stands now, on the
/// input document the import kept in the store (and journaled by
/// SHA-256): a policy that now denies refuses the publish, nothing is
/// pushed, the refusal is journaled; a kept input edited behind airlock's
/// back is detected.
#[test]
fn publish_dir_evaluates_the_policy_again() {
    let w = crate::images::image_world();
    crate::images::record_with_images(&w, &["oci:src:team/app:1.0"], &[]);
    crate::images::pack_images(
        &w,
        "rel.airlock",
        &["oci:src:team/app:1.0"],
        &["--channel", "stable", "--sequence", "5"],
    )
    .ok();
    w.unpack("rel.airlock", "in").ok();
    // The import kept its policy input; its record holds the SHA-256.
    let rec = last_record(&w);
    assert_eq!(rec["event"], "unpack", "{rec}");
    let sha = rec["policy_input_sha256"].as_str().unwrap().to_owned();
    let kept = w.path(&format!("store/policy-inputs/{sha}.json"));
    let input = fs::read(&kept).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&input)), sha);
    let doc: Value = serde_json::from_slice(&input).unwrap();
    assert_eq!(doc["manifest"]["channel"], "stable");
    // Written straight from the verdict, it is byte for byte the encoding
    // of its own JSON tree (keys sorted at every level).
    assert_eq!(serde_json::to_vec(&doc).unwrap(), input);
    assert!(
        doc["artifacts"].as_array().is_some_and(|a| !a.is_empty()),
        "{doc}"
    );
    let publish = |to: &str| {
        w.run(&[
            "publish",
            "in",
            "--store",
            "store",
            "--registry",
            to,
            "--json",
        ])
    };
    // Admitted by the policy pinned after the import.
    let sha = install(&w, &channel_policy(&w, "stable.toml", "stable"));
    let j = publish("oci:enclave").ok().json();
    assert_eq!(j["policy"]["sha256"], sha.as_str());
    let rec = last_record(&w);
    assert_eq!(
        (rec["event"].as_str(), rec["outcome"].as_str()),
        (Some("publish"), Some("published")),
        "{rec}"
    );
    assert_eq!(rec["policy"]["sha256"], sha.as_str(), "{rec}");
    // A policy that now denies: refused with its code, nothing pushed,
    // journaled with the failed rule.
    let sha = install(&w, &channel_policy(&w, "beta.toml", "beta"));
    let r = publish("oci:enclave2");
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "policy-denied"),
        "{}",
        r.stderr
    );
    assert!(!w.path("enclave2").exists(), "nothing pushed on a denial");
    let rec = last_record(&w);
    assert_eq!(
        (rec["event"].as_str(), rec["outcome"].as_str()),
        (Some("publish"), Some("refused")),
        "{rec}"
    );
    assert_eq!(rec["error"]["code"], "policy-denied", "{rec}");
    assert_eq!(rec["policy"]["sha256"], sha.as_str(), "{rec}");
    assert_eq!(rec["policy"]["rules"], json!(["channel-beta"]), "{rec}");
    // Editing the kept input so that it passes is detected; so is its
    // removal.
    let mut forged = doc.clone();
    forged["manifest"]["channel"] = json!("beta");
    fs::write(&kept, serde_json::to_vec(&forged).unwrap()).unwrap();
    let r = publish("oci:enclave2");
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (3, "policy-input-tampered"),
        "{}",
        r.stderr
    );
    fs::remove_file(&kept).unwrap();
    let r = publish("oci:enclave2");
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (3, "policy-input-tampered"),
        "{}",
        r.stderr
    );
    assert!(!w.path("enclave2").exists(), "nothing pushed");
    // Without a policy, publish DIR is what it was.
    w.run(&["policy", "clear", "--store", "store"]).ok();
    let j = publish("oci:enclave2").ok().json();
    assert_eq!(j["policy"], Value::Null);
}

/// `publish DIR` signs a receipt of its own (docs/policy.md, "Receipts"):
/// written beside the import and attached to the image, it names the
/// publish's journal records and the policy pinned now (not the import's);
/// `receipt verify` accepts it, with `--journal` too, and so does
/// securesystemslib; a flipped byte is refused; an export from before the
/// publish does not hold its records.
#[test]
fn publish_receipts_name_the_publish_and_its_policy() {
    let w = crate::images::image_world();
    crate::images::record_with_images(&w, &["oci:src:team/app:1.0"], &[]);
    crate::images::pack_images(
        &w,
        "rel.airlock",
        &["oci:src:team/app:1.0"],
        &["--channel", "stable", "--sequence", "5"],
    )
    .ok();
    // Imported under no policy; published under one pinned since.
    w.unpack("rel.airlock", "in").ok();
    let sha = install(&w, &channel_policy(&w, "stable.toml", "stable"));
    let export = |out: &str| {
        w.run(&["journal", "export", "--store", "store", "--out", out])
            .ok()
    };
    export("early.jsonl");
    let j = w
        .run(&[
            "publish",
            "in",
            "--store",
            "store",
            "--registry",
            "oci:enclave",
            "--json",
        ])
        .ok()
        .json();
    export("audit.jsonl");
    let seq = j["journal_record"].as_u64().unwrap();
    let file = format!("in.publish-{seq}.receipt.dsse.json");
    assert_eq!(j["receipt"], file.as_str());
    let image = &j["published"][0];
    assert!(image["publish_receipt_referrer"].is_string(), "{j}");
    let verify = |file: &str, journal: Option<&str>| {
        let mut args = vec![
            "receipt",
            "verify",
            file,
            "--key",
            "store/journal-key.pub",
            "--json",
        ];
        if let Some(e) = journal {
            args.extend(["--journal", e]);
        }
        w.run(&args)
    };
    let v = verify(&file, Some("audit.jsonl")).ok().json();
    assert_eq!(v["journal_checked"], true);
    let st = &v["statement"];
    let p = &st["predicate"];
    assert_eq!(p["verificationResult"], "PASSED");
    assert_eq!(p["policy"]["digest"]["sha256"], sha.as_str(), "{st}");
    assert_eq!(p["airlock"]["command"], "publish");
    assert_eq!(p["airlock"]["registry"], "oci:enclave");
    // The subject: the image as published.
    assert_eq!(
        st["subject"],
        json!([{"name": "oci:enclave/team/app:1.0",
                "digest": {"sha256": image["digest"].as_str().unwrap()[7..]}}])
    );
    // Its journal reference: the publish record (one image), its line's
    // SHA-256, under the policy pinned now.
    let jr = &p["airlock"]["journal"];
    assert_eq!(
        (jr["seq"].as_u64(), jr["head_seq"].as_u64()),
        (Some(seq), Some(seq))
    );
    let journal = fs::read_to_string(w.path("store/journal.jsonl")).unwrap();
    let line = journal
        .lines()
        .find(|l| serde_json::from_str::<Value>(l).unwrap()["seq"].as_u64() == Some(seq))
        .unwrap();
    assert_eq!(
        jr["head_sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(line.as_bytes()))
    );
    let line: Value = serde_json::from_str(line).unwrap();
    let mut rec = line["fields"].clone();
    rec["event"] = line["event"].clone();
    assert_eq!(
        (rec["event"].as_str(), rec["outcome"].as_str()),
        (Some("publish"), Some("published"))
    );
    assert_eq!(rec["policy"]["sha256"], sha.as_str());
    // The import's receipt names no policy: it is not this one.
    let import = verify("in.receipt.dsse.json", None).ok().json();
    assert_eq!(
        import["statement"]["predicate"]["policy"]["uri"],
        "urn:airlock:policy:none"
    );
    // The referrer carries exactly this receipt.
    let referrer = image["publish_receipt_referrer"].as_str().unwrap();
    let blob = |d: &str| fs::read(w.path("enclave/blobs/sha256").join(&d[7..])).unwrap();
    let m: Value = serde_json::from_slice(&blob(referrer)).unwrap();
    assert_eq!(m["subject"]["digest"], image["digest"]);
    assert_eq!(
        blob(m["layers"][0]["digest"].as_str().unwrap()),
        fs::read(w.path(&file)).unwrap()
    );
    // Refusals, each with its exact code: an export from before the
    // publish, a flipped byte, another key.
    let r = verify(&file, Some("early.jsonl"));
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "receipt-invalid"),
        "{}",
        r.stderr
    );
    flip_payload(&w, &w.path(&file), "flipped.json");
    let r = verify("flipped.json", None);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "receipt-invalid"),
        "{}",
        r.stderr
    );
    let r = w.run(&[
        "receipt",
        "verify",
        &file,
        "--key",
        "keys/release.pub",
        "--json",
    ]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "receipt-invalid"),
        "{}",
        r.stderr
    );
    // A second publish has its own receipt, naming its own record.
    let again = w
        .run(&[
            "publish",
            "in",
            "--store",
            "store",
            "--registry",
            "oci:enclave",
            "--json",
        ])
        .ok()
        .json();
    let seq2 = again["journal_record"].as_u64().unwrap();
    assert_ne!(seq2, seq);
    assert!(w.path(&file).exists(), "the first receipt is kept");
    verify(again["receipt"].as_str().unwrap(), None).ok();
    // securesystemslib's DSSE verifier accepts it and refuses the flip.
    let Some(python) = dsse_python() else { return };
    let keyid = jr["key"].as_str().unwrap();
    let ok = securesystemslib_verify(&w, &python, &file, keyid);
    assert!(
        ok.status.success(),
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = securesystemslib_verify(&w, &python, "flipped.json", keyid);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// The input document carries how each inspection was evaluated and the
/// attestations' coverage, and a policy can hold bundles to them.
#[test]
fn inspection_results_and_coverage_are_in_the_input() {
    let w = World::new();
    w.record_build().ok();
    crate::inspections::with_inspection(
        &w,
        "same-readme",
        &["cmp", "README.md", "README.md"],
        &[&["MATCH", "*", "WITH", "PRODUCTS", "FROM", "build"]],
    );
    attest(&w, "sbom.dsse.json", SPDX, sbom());
    w.pack(
        "rel.airlock",
        &["--channel", "stable", "--attestation", "sbom.dsse.json"],
    )
    .ok();
    let policy = |name: &str, expr: &str| {
        let p = w.path(name);
        fs::write(
            &p,
            format!(
                "format = 1\nlanguage = \"cel\"\n\n[[rule]]\nname = \"r\"\nexpr = '''{expr}'''\n"
            ),
        )
        .unwrap();
        p.to_str().unwrap().to_owned()
    };
    let ok = policy(
        "ok.toml",
        r#"intoto.inspection_results.exists(i, i.name == "same-readme" && i.result == "pass")
           && intoto.coverage.attestations == 1 && intoto.coverage.attested_subjects >= 1
           && intoto.coverage.attested_subjects <= intoto.coverage.attestable_subjects"#,
    );
    let t = w
        .run(&[
            "policy",
            "test",
            &ok,
            "rel.airlock",
            "--store",
            "store",
            "--json",
        ])
        .ok()
        .json();
    let i = &t["input"]["intoto"];
    assert_eq!(i["inspections"], 1, "{i}");
    let r = &i["inspection_results"][0];
    assert_eq!(
        (r["name"].as_str(), r["result"].as_str()),
        (Some("same-readme"), Some("pass")),
        "{i}"
    );
    assert!(r["evaluated_by"].as_str().unwrap().contains("cmp"), "{i}");
    let no = policy(
        "no.toml",
        r#"intoto.inspection_results.exists(i, i.name == "virus-scan")"#,
    );
    let t = w.run(&[
        "policy",
        "test",
        &no,
        "rel.airlock",
        "--store",
        "store",
        "--json",
    ]);
    assert_eq!(
        (t.code, t.error_code().as_str()),
        (1, "policy-denied"),
        "{}",
        t.stderr
    );
}

/// The CEL policy held to the reference-made attestations of
/// tests/vectors/intoto/bound-attestations (`THRESHOLD`: the highest CVSS
/// score admitted, exclusive).
const REFERENCE_CEL: &str = r#"format = 1
language = "cel"

[[rule]]
name = "sbom-for-every-artifact"
expr = '''
artifacts.all(f, attestations.exists(a,
  (a.predicate_type.startsWith("https://spdx.dev/Document") ||
   a.predicate_type.startsWith("https://cyclonedx.org/bom")) &&
  a.subjects.exists(s, s.digest.sha256 == f.digest.sha256)))
'''

[[expected_predicate]]
predicate_type = "https://slsa.dev/provenance/v1"
[[expected_predicate.expected_attributes]]
name = "slsa-builder"
rule = 'predicate.runDetails.builder.id == "https://example.com/airlock-test/builder"'
[[expected_predicate.expected_attributes]]
name = "provenance-age"
rule = 'timestamp(predicate.runDetails.metadata.finishedOn) > timestamp(now) - duration("720h")'

[[expected_predicate]]
predicate_type = "https://cyclonedx.org/bom/v1.5"
allow_if_no_claim = true
[[expected_predicate.expected_attributes]]
name = "no-high-vulnerability"
rule = '''
!has(predicate.vulnerabilities) || predicate.vulnerabilities.all(v,
  !has(v.ratings) || v.ratings.all(r, !has(r.score) || double(r.score) < THRESHOLD))
'''
"#;

/// The same policy in Rego.
const REFERENCE_REGO: &str = r#"format = 1
language = "rego"
rego = '''
package airlock

import rego.v1

provenance := [a | some a in input.attestations; a.predicate_type == "https://slsa.dev/provenance/v1"]

sbom(a) if startswith(a.predicate_type, "https://spdx.dev/Document")

sbom(a) if startswith(a.predicate_type, "https://cyclonedx.org/bom")

sbom_digests := {s.digest.sha256 | some a in input.attestations; sbom(a); some s in a.subjects}

default sbom_for_every_artifact := false

sbom_for_every_artifact if {
	every f in input.artifacts {
		f.digest.sha256 in sbom_digests
	}
}

default slsa_builder := false

slsa_builder if {
	count(provenance) > 0
	every a in provenance {
		a.predicate.runDetails.builder.id == "https://example.com/airlock-test/builder"
	}
}

default provenance_age := false

provenance_age if {
	count(provenance) > 0
	every a in provenance {
		time.parse_rfc3339_ns(a.predicate.runDetails.metadata.finishedOn) > time.parse_rfc3339_ns(input.now) - (((30 * 24) * 3600) * 1000000000)
	}
}

scores := [r.score |
	some a in input.attestations
	startswith(a.predicate_type, "https://cyclonedx.org/bom")
	some v in a.predicate.vulnerabilities
	some r in v.ratings
]

default no_high_vulnerability := false

no_high_vulnerability if {
	every s in scores {
		s < THRESHOLD
	}
}
'''

[[rule]]
name = "sbom-for-every-artifact"
expr = "data.airlock.sbom_for_every_artifact"

[[rule]]
name = "slsa-builder"
expr = "data.airlock.slsa_builder"

[[rule]]
name = "provenance-age"
expr = "data.airlock.provenance_age"

[[rule]]
name = "no-high-vulnerability"
expr = "data.airlock.no_high_vulnerability"
"#;

/// Holds bundles carrying the attestations the reference tools made
/// (tests/vectors/intoto/bound-attestations: SLSA provenance v1, SPDX 2.3
/// and CycloneDX 1.5 with a CVSS 7.8 finding, made with the
/// in-toto-attestation bindings and signed with securesystemslib) to
/// `policy` (REFERENCE_CEL or REFERENCE_REGO).
fn holds_reference_attestations_to(policy: &str) {
    let dir = crate::intoto_vectors::vectors().join("bound-attestations");
    let w = crate::attestations::vector_world(&dir);
    const PROV: &str = "pass_slsa_provenance_v1.dsse.json";
    const SPDX_V: &str = "pass_spdx_2.3.dsse.json";
    const CDX: &str = "pass_cyclonedx_1.5_floats.dsse.json";
    for f in [PROV, SPDX_V, CDX] {
        fs::copy(dir.join(f), w.path(f)).unwrap();
    }
    // Built 2024-01-02, a day after the provenance's finishedOn.
    let pack = |out: &str, seq: &str, files: &[&str]| {
        let mut args = vec![
            "--source-date-epoch",
            "1704153600",
            "--expires",
            "36500d",
            "--channel",
            "stable",
            "--sequence",
            seq,
        ];
        for f in files {
            args.extend(["--attestation", *f]);
        }
        w.pack_as(out, &["keys/release.pem"], "1.root.json", &args)
            .ok();
    };
    pack("full.airlock", "1", &[PROV, SPDX_V, CDX]);
    pack("thin.airlock", "2", &[PROV, CDX]);
    w.write("policy.toml", policy.replace("THRESHOLD", "8.0").as_bytes());
    w.write("strict.toml", policy.replace("THRESHOLD", "7.5").as_bytes());
    const SOON: &str = "2024-01-15T00:00:00Z";
    const LATER: &str = "2024-03-01T00:00:00Z";
    let test = |file: &str, bundle: &str, at: &str| {
        w.run(&[
            "policy", "test", file, bundle, "--store", "store", "--at", at, "--json",
        ])
    };
    let admitted = test("policy.toml", "full.airlock", SOON).ok().json();
    assert_eq!(admitted["admitted"], true);
    let kinds: Vec<&str> = admitted["input"]["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["predicate_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    #[track_caller]
    fn denied(r: &crate::common::Run, fail: &[&str], pass: &[&str]) {
        assert_eq!(
            (r.code, r.error_code().as_str()),
            (1, "policy-denied"),
            "{}",
            r.stderr
        );
        for rule in fail {
            assert!(
                r.stderr.contains(&format!("FAIL  {rule}")),
                "{rule}: {}",
                r.stderr
            );
        }
        for rule in pass {
            assert!(
                r.stderr.contains(&format!("PASS  {rule}")),
                "{rule}: {}",
                r.stderr
            );
        }
    }
    // No SPDX for app.tar.gz, and the provenance two months old.
    denied(
        &test("policy.toml", "thin.airlock", LATER),
        &["sbom-for-every-artifact", "provenance-age"],
        &["slsa-builder", "no-high-vulnerability"],
    );
    // The CycloneDX finding (CVSS 7.8) is above a 7.5 threshold.
    denied(
        &test("strict.toml", "full.airlock", SOON),
        &["no-high-vulnerability"],
        &["slsa-builder", "provenance-age", "sbom-for-every-artifact"],
    );
    // Pinned: verify admits the full bundle and refuses the thin one;
    // unpack (which cannot go back in time) refuses the thin one today.
    install(&w, &w.path("policy.toml"));
    let v = w
        .run(&[
            "verify",
            "full.airlock",
            "--store",
            "store",
            "--at",
            SOON,
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(v["policy"]["rules"].as_array().unwrap().len(), 4, "{v}");
    for r in [
        w.run(&[
            "verify",
            "thin.airlock",
            "--store",
            "store",
            "--at",
            LATER,
            "--json",
        ]),
        w.unpack_json("thin.airlock", "thin"),
    ] {
        assert_eq!(
            (r.code, r.error_code().as_str()),
            (1, "policy-denied"),
            "{}",
            r.stderr
        );
    }
    assert!(!w.path("thin").exists());
}

#[test]
fn cel_policy_holds_reference_made_attestations() {
    holds_reference_attestations_to(REFERENCE_CEL);
}

#[test]
fn rego_policy_holds_reference_made_attestations() {
    holds_reference_attestations_to(REFERENCE_REGO);
}
