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
use std::borrow::Cow;
use std::path::{Path, PathBuf};

use airlock_hsm::journal::journal_keyid;
use airlock_hsm::{JournalHead, PublicKey, Signer};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
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
    /// The subjects, each written as `{"digest": {"sha256"}, "name"}`.
    /// Kept compact (an import of 20,000 files has 20,000 subjects) and
    /// serialized one at a time into the signed Statement.
    pub subjects: Vec<Subject<'a>>,
    /// Further members of `predicate.airlock` (`publish`: `registry`).
    pub extra: serde_json::Map<String, Value>,
}

impl<'a> About<'a> {
    /// An accepted import (`unpack`) of `v`: every artifact (named by its
    /// path) and every image (by its reference) is a subject.
    pub fn import(v: &'a Verdict) -> About<'a> {
        let mut subjects: Vec<Subject<'a>> = v
            .manifest
            .artifacts()
            .iter()
            .map(|e| Subject {
                name: Cow::Borrowed(e.path.as_str()),
                sha256: e.sha256,
            })
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

/// One subject of a receipt: its name and SHA-256.
#[derive(Clone, Debug)]
pub struct Subject<'a> {
    /// The artifact's path or the image's reference.
    pub name: Cow<'a, str>,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

/// A subject named `name` with SHA-256 `digest`.
pub fn subject<'a>(name: &str, digest: &[u8; 32]) -> Subject<'a> {
    Subject {
        name: Cow::Owned(name.to_owned()),
        sha256: *digest,
    }
}

/// What names its subjects by SHA-256: a receipt read back (its Statement
/// as JSON) or one just signed (its subjects).
pub trait Subjects {
    /// Whether a subject has SHA-256 `sha256`.
    fn names(&self, sha256: &[u8; 32]) -> bool;
}

impl Subjects for Value {
    fn names(&self, sha256: &[u8; 32]) -> bool {
        let hex = hex::encode(sha256);
        self["subject"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["digest"]["sha256"] == hex.as_str()))
    }
}

impl Subjects for &[Subject<'_>] {
    fn names(&self, sha256: &[u8; 32]) -> bool {
        self.iter().any(|s| s.sha256 == *sha256)
    }
}

impl Serialize for Subject<'_> {
    /// `{"digest":{"sha256":HEX},"name":NAME}`: the keys in the order a
    /// `serde_json::Value` writes them (sorted).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Sha256<'h>(&'h str);
        impl Serialize for Sha256<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("sha256", self.0)?;
                m.end()
            }
        }
        let mut hex = [0u8; 64];
        hex::encode_to_slice(self.sha256, &mut hex).map_err(serde::ser::Error::custom)?;
        let hex = std::str::from_utf8(&hex).map_err(serde::ser::Error::custom)?;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("digest", &Sha256(hex))?;
        m.serialize_entry("name", &self.name)?;
        m.end()
    }
}

/// A receipt's Statement: every member but `subject` as JSON, and the
/// subjects written one at a time when it is serialized, with the bytes a
/// `serde_json::Value` of the whole Statement would have (keys sorted).
#[derive(Debug)]
pub struct Statement<'s> {
    rest: serde_json::Map<String, Value>,
    subjects: &'s [Subject<'s>],
}

impl Serialize for Statement<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct List<'l>(&'l [Subject<'l>]);
        impl Serialize for List<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.len()))?;
                for subject in self.0 {
                    seq.serialize_element(subject)?;
                }
                seq.end()
            }
        }
        let mut m = s.serialize_map(Some(self.rest.len() + 1))?;
        let mut pending = true;
        for (k, v) in &self.rest {
            if pending && k.as_str() > "subject" {
                m.serialize_entry("subject", &List(self.subjects))?;
                pending = false;
            }
            m.serialize_entry(k, v)?;
        }
        if pending {
            m.serialize_entry("subject", &List(self.subjects))?;
        }
        m.end()
    }
}

/// The receipt's Statement for the accepted decision `about`.
pub fn statement<'s>(
    about: &'s About<'_>,
    admission: Option<&Admission>,
    journal: JournalRef,
    journal_key: &PublicKey,
) -> Statement<'s> {
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
    let rest = json!({
        "_type": crate::intoto::statement::STATEMENT_V1,
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
    });
    let Value::Object(rest) = rest else {
        unreachable!("json! of an object is an object")
    };
    Statement {
        rest,
        subjects: &about.subjects,
    }
}

/// Signs `statement` as a DSSE envelope with `signer` (the keyid is the
/// journal key's: SHA-256 of its SubjectPublicKeyInfo).
pub fn sign(statement: &Statement<'_>, signer: &dyn Signer) -> Result<Vec<u8>, Error> {
    let mut body = serde_json::to_vec(statement)
        .map_err(|e| Error::Internal(format!("cannot encode the receipt: {e}")))?;
    // Signed over the pre-authentication encoding, made in the body's own
    // memory (the receipt of a large import is megabytes) and undone.
    let header = envelope::pae_header(PAYLOAD_TYPE, body.len());
    body.splice(0..0, header.iter().copied());
    let sig = signer.sign(&body)?;
    body.drain(..header.len());
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
/// `to`; returns its subjects and bytes (for an OCI referrer) and whether
/// it was written. A receipt that cannot be signed or written is handed
/// to `warn` (the decision itself is done and journaled).
pub fn deliver<'s>(
    about: &'s About<'s>,
    admission: Option<&Admission>,
    journal: JournalRef,
    signer: &dyn Signer,
    to: &Path,
    warn: &dyn Fn(&str),
) -> Option<(&'s [Subject<'s>], Vec<u8>, bool)> {
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
    Some((&about.subjects, bytes, written))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use airlock_hsm::FileSigner;

    /// The Statement as it was built before its subjects were kept
    /// compact: one `serde_json::Value`, subjects included.
    fn as_one_value(st: &Statement<'_>) -> Value {
        let mut v = Value::Object(st.rest.clone());
        v["subject"] = st
            .subjects
            .iter()
            .map(|s| json!({"name": s.name, "digest": {"sha256": hex::encode(s.sha256)}}))
            .collect();
        v
    }

    #[test]
    fn the_streamed_statement_has_the_bytes_of_the_json_tree_it_replaces() {
        let signer = FileSigner::from_seed(&[7; 32]);
        let mut extra = serde_json::Map::new();
        extra.insert("registry".into(), json!("reg.example:5000"));
        for (subjects, extra) in [
            (Vec::new(), serde_json::Map::new()),
            (
                vec![
                    subject("a/b.txt", &[1; 32]),
                    Subject {
                        name: Cow::Borrowed("\u{e9}t\u{e9} \"quoted\" \\ \u{1}\t\u{2028}.bin"),
                        sha256: [0xab; 32],
                    },
                    subject("reg.example:5000/app@sha256:00", &[0; 32]),
                ],
                extra,
            ),
        ] {
            let about = About {
                command: "unpack",
                bundle_id: "b\u{fc}ndle-1",
                channel: "prod",
                sequence: 42,
                manifest_sha256: "00ff",
                time: 1_700_000_000,
                subjects,
                extra,
            };
            let journal = JournalRef {
                seq: 3,
                head: JournalHead {
                    seq: 4,
                    sha256: [9; 32],
                },
            };
            let st = statement(&about, None, journal, signer.public_key());
            let old = serde_json::to_vec(&as_one_value(&st)).unwrap();
            assert_eq!(
                String::from_utf8(serde_json::to_vec(&st).unwrap()).unwrap(),
                String::from_utf8(old).unwrap()
            );
            let bytes = sign(&st, &signer).unwrap();
            let checked = verify(&bytes, signer.public_key()).unwrap();
            assert_eq!(checked.statement, as_one_value(&st));
            let named: &[Subject<'_>] = &about.subjects;
            for s in &about.subjects {
                assert!(checked.statement.names(&s.sha256));
                assert!(named.names(&s.sha256));
            }
            assert!(!checked.statement.names(&[2; 32]) && !named.names(&[2; 32]));
        }
    }
}
