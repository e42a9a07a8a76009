//! Receipts: after each accepted import (`unpack`) and each accepted
//! `publish`, an in-toto Statement v1 with the SLSA verification summary
//! predicate (VSA v1), signed as a DSSE envelope with the store's journal
//! key — a file key on a file store, a key that never leaves the TPM or the
//! token on hardware stores. It names the subjects (an import: the
//! bundle's artifacts and images; a publish: the images published), the
//! digest of the policy that admitted the decision, the result and the
//! decision's journal records, so an auditor can
//! check it anywhere with the journal's public key (`airlock receipt
//! verify`, or any DSSE verifier: docs/policy.md, "Receipts").
use std::path::{Path, PathBuf};

use airlock_hsm::journal::journal_keyid;
use airlock_hsm::{JournalHead, PublicKey, Signer};
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

/// Where the receipt of a publish of the import in `dir`, whose first
/// journal record is `seq`, is written: beside the directory,
/// `DIR.publish-SEQ.receipt.dsse.json` (one per publish: the same import
/// may be published again, or to another registry).
pub fn publish_path_for(dir: &Path, seq: u64) -> PathBuf {
    let mut s = dir.as_os_str().to_owned();
    s.push(format!(".publish-{seq}.receipt.dsse.json"));
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

/// What a receipt is about: the decision that accepted, on which bundle,
/// when, and its subjects.
#[derive(Debug)]
pub struct About<'a> {
    /// The command whose decision it is: `unpack` or `publish`.
    pub command: &'static str,
    /// The bundle's id.
    pub bundle_id: &'a str,
    /// Its channel.
    pub channel: &'a str,
    /// Its sequence.
    pub sequence: u64,
    /// SHA-256 (hex) of its signed manifest.
    pub manifest_sha256: &'a str,
    /// The verification time of the decision.
    pub time: u64,
    /// The subjects: `{"name", "digest": {"sha256"}}`.
    pub subjects: Vec<Value>,
    /// Further members of `predicate.airlock` (`publish`: `registry`).
    pub extra: serde_json::Map<String, Value>,
}

impl<'a> About<'a> {
    /// An accepted import (`unpack`) of `v`: every artifact (named by its
    /// path) and every image (by its reference) is a subject.
    pub fn import(v: &'a Verdict) -> About<'a> {
        let mut subjects: Vec<Value> = v
            .manifest
            .artifacts()
            .iter()
            .map(|e| json!({"name": e.path.as_str(), "digest": {"sha256": hex::encode(e.sha256)}}))
            .collect();
        subjects.extend(
            v.manifest
                .images
                .iter()
                .map(|i| subject(&i.reference(), &i.digest)),
        );
        About {
            command: "unpack",
            bundle_id: &v.bundle_id,
            channel: &v.channel,
            sequence: v.sequence,
            manifest_sha256: &v.manifest_sha256,
            time: v.time,
            subjects,
            extra: serde_json::Map::new(),
        }
    }
}

/// A subject named `name` with SHA-256 `digest`.
pub fn subject(name: &str, digest: &[u8; 32]) -> Value {
    json!({"name": name, "digest": {"sha256": hex::encode(digest)}})
}

/// The receipt's Statement for the accepted decision `about`.
pub fn statement(
    about: &About<'_>,
    admission: Option<&Admission>,
    journal: JournalRef,
    journal_key: &PublicKey,
) -> Value {
    let keyid = journal_keyid(journal_key);
    let policy = match admission {
        Some(a) => {
            json!({"uri": format!("urn:airlock:policy:sha256:{}", a.sha256), "digest": {"sha256": a.sha256}})
        }
        None => json!({"uri": "urn:airlock:policy:none"}),
    };
    let mut airlock = json!({
        "command": about.command,
        "bundle_id": about.bundle_id,
        "channel": about.channel,
        "sequence": about.sequence,
        "policy_rules": admission.map(|a| a.results.iter().map(|r| r.name.clone()).collect::<Vec<_>>()),
        "journal": {
            "seq": journal.seq,
            "head_seq": journal.head.seq,
            "head_sha256": hex::encode(journal.head.sha256),
            "key": keyid,
        },
    });
    if let Value::Object(m) = &mut airlock {
        m.extend(about.extra.clone());
    }
    json!({
        "_type": crate::intoto::statement::STATEMENT_V1,
        "subject": about.subjects,
        "predicateType": VSA_V1,
        "predicate": {
            "verifier": {
                "id": format!("urn:airlock:store:{keyid}"),
                "version": {"airlock": env!("CARGO_PKG_VERSION")},
            },
            "timeVerified": format_utc(about.time),
            "resourceUri": format!("urn:airlock:bundle:{}", about.bundle_id),
            "policy": policy,
            "inputAttestations": [
                {"uri": "urn:airlock:manifest", "digest": {"sha256": about.manifest_sha256}},
            ],
            "verificationResult": "PASSED",
            "verifiedLevels": [],
            "slsaVersion": "1.0",
            "airlock": airlock,
        },
    })
}

/// Signs `statement` as a DSSE envelope with `signer` (the keyid is the
/// journal key's: SHA-256 of its SubjectPublicKeyInfo).
pub fn sign(statement: &Value, signer: &dyn Signer) -> Result<Vec<u8>, Error> {
    let body = serde_json::to_vec(statement)
        .map_err(|e| Error::Internal(format!("cannot encode the receipt: {e}")))?;
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

/// Signs the receipt of the accepted decision `about` and writes it to
/// `to`; returns its Statement and bytes (for an OCI referrer) and whether
/// it was written. A receipt that cannot be signed or written is handed
/// to `warn` (the decision itself is done and journaled).
pub fn deliver(
    about: &About<'_>,
    admission: Option<&Admission>,
    journal: JournalRef,
    signer: &dyn Signer,
    to: &Path,
    warn: &dyn Fn(&str),
) -> Option<(Value, Vec<u8>, bool)> {
    let failed = |e: &Error| {
        warn(&format!(
            "the {} is done and journaled (record {}), but its receipt could not be written to {}: {e}",
            if about.command == "unpack" {
                "import"
            } else {
                about.command
            },
            journal.seq,
            to.display()
        ));
    };
    let st = statement(about, admission, journal, signer.public_key());
    let bytes = match sign(&st, signer) {
        Ok(b) => b,
        Err(e) => {
            failed(&e);
            return None;
        }
    };
    let written = match crate::fsutil::replace_file(to, &bytes) {
        Ok(()) => true,
        Err(e) => {
            failed(&e);
            false
        }
    };
    Some((st, bytes, written))
}

/// Checks a verified receipt's `statement` against the journal export
/// `export` (verified with the same journal key `key`): the record the
/// receipt names is the accepted decision of its bundle, under the policy
/// it names (for a `publish`: every record from `seq` to `head_seq` is a
/// `published` image of that bundle under that policy, and they are the
/// receipt's subjects), and the record whose hash it carries has that hash.
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
    if head_seq < seq {
        return Err(invalid(format!(
            "the receipt's journal head {head_seq} is before its record {seq}"
        )));
    }
    let publish = a["command"] == "publish";
    // The records the decision wrote: the one at `seq` (an unpack's
    // anchor.advanced after it is not the decision's), or for a publish
    // every one up to `head_seq` (one per image).
    let mut records: Vec<(String, Value)> = Vec::new();
    let mut head: Option<String> = None;
    crate::journal::export::verify_export(export, Some(key), |r| {
        if r.seq == seq || (publish && r.seq > seq && r.seq <= head_seq) {
            records.push((r.event.clone(), Value::Object(r.fields.clone())));
        }
        if r.seq == head_seq {
            head = Some(hex::encode(r.sha256));
        }
    })?;
    let wanted = if publish { head_seq - seq + 1 } else { 1 };
    if records.len() as u64 != wanted {
        return Err(invalid(format!(
            "the journal export does not hold records {seq} to {}",
            if publish { head_seq } else { seq }
        )));
    }
    let want_policy = statement["predicate"]["policy"]["digest"]["sha256"].clone();
    let outcome = if publish { "published" } else { "accepted" };
    let decided = records.iter().all(|(event, fields)| {
        *event == a["command"]
            && fields["outcome"] == outcome
            && fields["bundle_id"] == a["bundle_id"]
            && fields
                .get("policy")
                .map_or(Value::Null, |p| p["sha256"].clone())
                == want_policy
    });
    if !decided {
        return Err(invalid(format!(
            "journal record {seq} is not the accepted {} of bundle {} under the policy the receipt names",
            a["command"].as_str().unwrap_or("?"),
            a["bundle_id"].as_str().unwrap_or("?")
        )));
    }
    if publish {
        let journaled: std::collections::BTreeSet<String> = records
            .iter()
            .filter_map(|(_, f)| f["digest"].as_str().map(str::to_owned))
            .collect();
        let subjects: std::collections::BTreeSet<String> = statement["subject"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                s["digest"]["sha256"]
                    .as_str()
                    .map(|d| format!("sha256:{d}"))
            })
            .collect();
        if journaled != subjects {
            return Err(invalid(format!(
                "the images journaled as published by records {seq} to {head_seq} are not the receipt's subjects"
            )));
        }
    }
    if head.as_deref() != Some(head_sha256) {
        return Err(invalid(format!(
            "journal record {head_seq}'s hash is not the one the receipt carries"
        )));
    }
    Ok(())
}
