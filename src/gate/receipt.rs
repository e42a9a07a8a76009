//! Receipts: after each accepted import, an in-toto Statement v1 with the
//! SLSA verification summary predicate (VSA v1), signed as a DSSE envelope
//! with the store's journal key — a file key on a file store, a key that
//! never leaves the TPM or the token on hardware stores. It names the
//! bundle's artifacts and images as subjects, the pinned policy's digest,
//! the result and the journal record of the import, so an auditor can
//! check it anywhere with the journal's public key (`airlock receipt
//! verify`, or any DSSE verifier: docs/policy.md, "Receipts").
use std::path::{Path, PathBuf};

use airlock_hsm::journal::journal_keyid;
use airlock_hsm::{JournalHead, PublicKey, Signer};
use serde::Serialize;
use serde::ser::SerializeSeq;
use serde_json::{Value, json};

use super::{Admission, GateError};
use crate::error::Error;
use crate::intoto::envelope::{self, PAYLOAD_TYPE, Signature};
use crate::timefmt::format_utc;
use crate::verifier::Verdict;

/// The VSA v1 predicate type.
pub const VSA_V1: &str = "https://slsa.dev/verification_summary/v1";

/// Where the receipt of an import into `destination` is written: beside
/// it, `DEST.receipt.dsse.json` (never inside: the destination holds
/// exactly the bundle's artifacts).
pub fn path_for(destination: &Path) -> PathBuf {
    let mut s = destination.as_os_str().to_owned();
    s.push(".receipt.dsse.json");
    PathBuf::from(s)
}

/// What the receipt refers to in the journal.
#[derive(Clone, Copy, Debug)]
pub struct JournalRef {
    /// The `seq` of the import's record.
    pub seq: u64,
    /// The journal head after the import's records (its last record).
    pub head: JournalHead,
}

/// The receipt's Statement. Serialized as the JSON object it is, keys in
/// the order a `serde_json::Value` writes them (sorted); the subjects are
/// written one at a time as they are serialized: built as a `Value` first,
/// they were 50 MB of maps for 20,000 artifacts, most of `unpack`'s peak
/// memory (docs/performance.md).
#[derive(Serialize)]
pub struct Statement<'a> {
    #[serde(rename = "_type")]
    kind: &'static str,
    predicate: Value,
    #[serde(rename = "predicateType")]
    predicate_type: &'static str,
    subject: Subjects<'a>,
}

/// The artifacts, then the images, of a verdict as Statement subjects.
struct Subjects<'a>(&'a Verdict);

#[derive(Serialize)]
struct Subject<'a> {
    digest: Sha256Digest,
    name: &'a str,
}

#[derive(Serialize)]
struct Sha256Digest {
    sha256: String,
}

impl Serialize for Subjects<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = &self.0.manifest;
        let mut seq = s.serialize_seq(Some(m.artifacts().len() + m.images.len()))?;
        for e in m.artifacts() {
            seq.serialize_element(&Subject {
                digest: Sha256Digest {
                    sha256: hex::encode(e.sha256),
                },
                name: e.path.as_str(),
            })?;
        }
        for i in &m.images {
            seq.serialize_element(&Subject {
                digest: Sha256Digest {
                    sha256: hex::encode(i.digest),
                },
                name: &i.reference(),
            })?;
        }
        seq.end()
    }
}

/// The receipt's Statement for an accepted `command` (unpack) of `v`.
pub fn statement<'a>(
    command: &str,
    v: &'a Verdict,
    admission: Option<&Admission>,
    journal: JournalRef,
    journal_key: &PublicKey,
) -> Statement<'a> {
    let keyid = journal_keyid(journal_key);
    let policy = match admission {
        Some(a) => {
            json!({"uri": format!("urn:airlock:policy:sha256:{}", a.sha256), "digest": {"sha256": a.sha256}})
        }
        None => json!({"uri": "urn:airlock:policy:none"}),
    };
    let predicate = json!({
        "verifier": {
            "id": format!("urn:airlock:store:{keyid}"),
            "version": {"airlock": env!("CARGO_PKG_VERSION")},
        },
        "timeVerified": format_utc(v.time),
        "resourceUri": format!("urn:airlock:bundle:{}", v.bundle_id),
        "policy": policy,
        "inputAttestations": [
            {"uri": "urn:airlock:manifest", "digest": {"sha256": v.manifest_sha256}},
        ],
        "verificationResult": "PASSED",
        "verifiedLevels": [],
        "slsaVersion": "1.0",
        "airlock": {
            "command": command,
            "bundle_id": v.bundle_id,
            "channel": v.channel,
            "sequence": v.sequence,
            "policy_rules": admission.map(|a| a.results.iter().map(|r| r.name.clone()).collect::<Vec<_>>()),
            "journal": {
                "seq": journal.seq,
                "head_seq": journal.head.seq,
                "head_sha256": hex::encode(journal.head.sha256),
                "key": keyid,
            },
        },
    });
    Statement {
        kind: crate::intoto::statement::STATEMENT_V1,
        predicate,
        predicate_type: VSA_V1,
        subject: Subjects(v),
    }
}

/// Signs `statement` as a DSSE envelope with `signer` (the keyid is the
/// journal key's: SHA-256 of its SubjectPublicKeyInfo).
pub fn sign(statement: &Statement<'_>, signer: &dyn Signer) -> Result<Vec<u8>, Error> {
    let body = serde_json::to_vec(statement).map_err(|e| {
        Error::env(
            "internal",
            format!("cannot encode the receipt: {e}"),
            "report this as a bug",
        )
    })?;
    let sig = signer.sign(&envelope::pae(PAYLOAD_TYPE, &body))?;
    let keyid = journal_keyid(signer.public_key());
    let mut out = envelope::dsse(&body, &[Signature { keyid, sig }]);
    if out.last() != Some(&b'\n') {
        out.push(b'\n');
    }
    Ok(out)
}

/// A receipt that verified.
#[derive(Debug)]
pub struct Checked {
    /// The Statement.
    pub statement: Value,
}

/// Verifies a receipt's bytes with the journal public key `key`: a DSSE
/// envelope with a signature by `key`, holding a Statement v1 with the VSA
/// v1 predicate.
pub fn verify(bytes: &[u8], key: &PublicKey) -> Result<Checked, GateError> {
    let invalid = |reason: String| GateError::ReceiptInvalid { reason };
    let signed = envelope::parse(bytes).map_err(invalid)?;
    if signed.encoding != envelope::Encoding::Dsse {
        return Err(invalid("not a DSSE envelope".into()));
    }
    let keyid = journal_keyid(key);
    if !signed
        .signatures
        .iter()
        .any(|s| s.keyid == keyid && key.verify(&signed.message, &s.sig))
    {
        return Err(invalid(format!(
            "no valid signature by the journal key {keyid}"
        )));
    }
    let statement = signed.payload.to_value();
    if statement.get("_type").and_then(Value::as_str)
        != Some(crate::intoto::statement::STATEMENT_V1)
    {
        return Err(invalid("the payload is not an in-toto Statement v1".into()));
    }
    if statement.get("predicateType").and_then(Value::as_str) != Some(VSA_V1) {
        return Err(invalid(format!("the predicate type is not {VSA_V1}")));
    }
    Ok(Checked { statement })
}

/// Writes the receipt of an accepted import beside `destination`
/// ([`path_for`]) and returns its path; a receipt that cannot be made or
/// written is handed to `warn` (the import itself is done and journaled).
pub fn deliver(
    command: &str,
    v: &Verdict,
    admission: Option<&Admission>,
    journal: JournalRef,
    signer: &dyn Signer,
    destination: &Path,
    warn: &dyn Fn(&str),
) -> Option<PathBuf> {
    let to = path_for(destination);
    let st = statement(command, v, admission, journal, signer.public_key());
    match sign(&st, signer).and_then(|bytes| crate::fsutil::replace_file(&to, &bytes)) {
        Ok(()) => Some(to),
        Err(e) => {
            warn(&format!(
                "the import is done and journaled (record {}), but its receipt could not be written to {}: {e}",
                journal.seq,
                to.display()
            ));
            None
        }
    }
}

/// Checks a verified receipt's `statement` against the journal export
/// `export` (verified with the same journal key `key`): the record the
/// receipt names is the accepted import of its bundle, under the policy it
/// names, and the record whose hash it carries has that hash.
pub fn check_journal(statement: &Value, export: &Path, key: &PublicKey) -> Result<(), Error> {
    let invalid = |reason: String| -> Error { GateError::ReceiptInvalid { reason }.into() };
    let a = &statement["predicate"]["airlock"];
    let j = &a["journal"];
    let (Some(seq), Some(head_seq), Some(head_sha256)) = (
        j["seq"].as_u64(),
        j["head_seq"].as_u64(),
        j["head_sha256"].as_str(),
    ) else {
        return Err(invalid("the receipt names no journal record".into()));
    };
    let mut record: Option<(String, Value)> = None;
    let mut head: Option<String> = None;
    crate::journal::export::verify_export(export, Some(key), |r| {
        if r.seq == seq {
            record = Some((r.event.clone(), Value::Object(r.fields.clone())));
        }
        if r.seq == head_seq {
            head = Some(hex::encode(r.sha256));
        }
    })?;
    let Some((event, fields)) = record else {
        return Err(invalid(format!("the journal export has no record {seq}")));
    };
    let want_policy = statement["predicate"]["policy"]["digest"]["sha256"].clone();
    if event != a["command"]
        || fields["outcome"] != "accepted"
        || fields["bundle_id"] != a["bundle_id"]
        || fields
            .get("policy")
            .map_or(Value::Null, |p| p["sha256"].clone())
            != want_policy
    {
        return Err(invalid(format!(
            "journal record {seq} is not the accepted {} of bundle {} under the policy the receipt names",
            a["command"].as_str().unwrap_or("?"),
            a["bundle_id"].as_str().unwrap_or("?")
        )));
    }
    if head.as_deref() != Some(head_sha256) {
        return Err(invalid(format!(
            "journal record {head_seq}'s hash is not the one the receipt carries"
        )));
    }
    Ok(())
}
