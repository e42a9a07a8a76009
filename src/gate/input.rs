//! The one input document both languages see (docs/policy.md, "The input
//! document"): built only from what the verifier established — the
//! verified manifest, its artifacts and images, the attestations whose
//! signatures verified, the in-toto verdict — and the store's time.
use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::intoto::bundle::ChainVerdict;
use crate::timefmt::format_utc;
use crate::verifier::Verdict;

/// The input document for a verdict: serialized straight from the
/// verdict (its artifacts and attestations borrowed, never copied into a
/// JSON tree), with its keys in the sorted order a `serde_json::Value`
/// gives them, so [`encode`] writes the same bytes as serializing
/// [`Document::to_value`]. A tree is built only for a policy to evaluate.
#[derive(Debug, serde::Serialize)]
pub struct Document<'a> {
    artifacts: Artifacts<'a>,
    attestations: Vec<Attestation<'a>>,
    images: Vec<Value>,
    intoto: Value,
    manifest: Value,
    now: String,
    store_time: String,
}

/// The manifest's artifacts as `[{digest: {sha256}, path, size}]`.
#[derive(Debug)]
struct Artifacts<'a>(&'a [airlock_bundle::Entry]);

impl serde::Serialize for Artifacts<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Sha256 {
            sha256: String,
        }
        #[derive(serde::Serialize)]
        struct Artifact<'e> {
            digest: Sha256,
            path: &'e str,
            size: u64,
        }
        s.collect_seq(self.0.iter().map(|e| Artifact {
            digest: Sha256 {
                sha256: hex::encode(e.sha256),
            },
            path: e.path.as_str(),
            size: e.size,
        }))
    }
}

/// One verified attestation, its statement's parts borrowed.
#[derive(Debug, serde::Serialize)]
struct Attestation<'a> {
    file: &'a str,
    predicate: Cow<'a, Value>,
    predicate_type: Cow<'a, Value>,
    signers: &'a [String],
    subjects: Cow<'a, Value>,
}

impl<'a> Document<'a> {
    /// The input document for `v`, decided at the verification time
    /// `v.time`, on a store whose latest time is `store_time`.
    pub fn of(v: &'a Verdict, store_time: u64) -> Document<'a> {
        let m = &v.manifest;
        let images: Vec<Value> = m
            .images
            .iter()
            .map(|i| {
                json!({
                    "name": i.name,
                    "tag": i.tag,
                    "reference": i.reference(),
                    "digest": {"sha256": hex::encode(i.digest)},
                    "platforms": i.platforms,
                })
            })
            .collect();
        let part = |s: &'a Value, key: &str, absent: fn() -> Value| {
            s.get(key)
                .map_or_else(|| Cow::Owned(absent()), Cow::Borrowed)
        };
        let attestations = v
            .supply_chain
            .statements
            .iter()
            .map(|s| Attestation {
                file: &s.file,
                predicate: part(&s.statement, "predicate", || json!({})),
                predicate_type: part(&s.statement, "predicateType", || Value::Null),
                signers: &s.signers,
                subjects: part(&s.statement, "subject", || json!([])),
            })
            .collect();
        let c = &v.supply_chain;
        Document {
            artifacts: Artifacts(m.artifacts()),
            attestations,
            images,
            intoto: json!({
                "verified": true,
                "product_step": c.product_step,
                "steps": c.steps,
                "inspections": c.inspections,
                "inspection_results": inspection_results(c),
                "coverage": {
                    "attestations": c.attestations,
                    "attested_subjects": c.attested_subjects,
                    "attestable_subjects": c.attestable_subjects,
                },
                "layout_expires": c.layout_expires,
                "layout_sha256": c.layout.sha256,
                "warnings": c.warnings,
            }),
            manifest: json!({
                "bundle_id": v.bundle_id,
                "channel": v.channel,
                "sequence": v.sequence,
                "created": format_utc(v.created),
                "expires": format_utc(v.expires),
                "signers": v.signers,
                "root_version": v.root_version,
                "sha256": v.manifest_sha256,
            }),
            now: format_utc(v.time),
            store_time: format_utc(store_time),
        }
    }

    /// The document as a JSON tree, for a policy to evaluate (the only
    /// place one is built: it is about 3 KiB per artifact).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// How each of the layout's inspections was evaluated, as
/// `[{name, evaluated_by, result}]` (`evaluated_by`: `builtin:true`,
/// `builtin:cmp`, `builtin:untar`, `builtin:sha256sum` or `ran`). The
/// policy runs only on a verdict, so every inspection there passed.
fn inspection_results(c: &ChainVerdict) -> Vec<Value> {
    c.inspection_results
        .iter()
        .map(|r| json!({"name": r.name, "evaluated_by": r.evaluated_by.as_str(), "result": r.result}))
        .collect()
}

/// The directory of a store that keeps the input document of each
/// accepted import, as `SHA256.json`.
pub const INPUT_DIR: &str = "policy-inputs";

/// Where the input document with SHA-256 `sha256` is kept in store `dir`.
pub fn kept_path(dir: &Path, sha256: &str) -> PathBuf {
    dir.join(INPUT_DIR).join(format!("{sha256}.json"))
}

/// Keeps an accepted import's input document (`bytes`, SHA-256 `sha256`)
/// in the store `dir`; one that cannot be written is handed to `warn`
/// (the import is done and journaled; `publish` with a policy pinned
/// then refuses it).
pub fn keep(dir: &Path, bytes: &[u8], sha256: &str, warn: &dyn Fn(&str)) {
    let path = kept_path(dir, sha256);
    let written = crate::fsutil::ensure_dir(&dir.join(INPUT_DIR))
        .and_then(|()| crate::fsutil::replace_file(&path, bytes));
    if let Err(e) = written {
        warn(&format!(
            "the import is done and journaled, but its policy input could not be kept in {}: {e}; publishing it while a policy is pinned will be refused",
            path.display()
        ));
    }
}

/// The bytes of `doc` as an import keeps them ([`keep`]) and their SHA-256
/// (hex), which the import's journal record holds (`policy_input_sha256`).
pub fn encode(doc: &Document<'_>) -> (Vec<u8>, String) {
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    let sha = hex::encode(Sha256::digest(&bytes));
    (bytes, sha)
}

/// Why a recorded input document cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedError {
    /// Its SHA-256 is not the one the import's journal record holds.
    Digest {
        /// The SHA-256 of the bytes read.
        got: String,
    },
    /// The bytes the journal vouches for do not parse (a bug).
    Parse(String),
}

/// The input document recorded with an import (`bytes`, whose SHA-256 must
/// be `journaled`), re-timed for a decision now: `now` is the new
/// verification time and `store_time` the store's latest time; everything
/// else is the import's, byte for byte.
pub fn recorded(
    bytes: &[u8],
    journaled: &str,
    now: u64,
    store_time: u64,
) -> Result<Value, RecordedError> {
    let got = hex::encode(Sha256::digest(bytes));
    if got != journaled {
        return Err(RecordedError::Digest { got });
    }
    let mut doc: Value =
        serde_json::from_slice(bytes).map_err(|e| RecordedError::Parse(e.to_string()))?;
    let Some(obj) = doc.as_object_mut() else {
        return Err(RecordedError::Parse("not a JSON object".into()));
    };
    obj.insert("now".into(), json!(format_utc(now)));
    obj.insert("store_time".into(), json!(format_utc(store_time)));
    Ok(doc)
}
