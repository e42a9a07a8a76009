//! The one input document both languages see (docs/policy.md, "The input
//! document"): built only from what the verifier established — the
//! verified manifest, its artifacts and images, the attestations whose
//! signatures verified, the in-toto verdict — and the store's time.
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::intoto::bundle::ChainVerdict;
use crate::timefmt::format_utc;
use crate::verifier::Verdict;

/// The input document for `verdict`, decided at the verification time
/// `verdict.time`, on a store whose latest time is `store_time`.
pub fn document(v: &Verdict, store_time: u64) -> Value {
    let m = &v.manifest;
    let artifacts: Vec<Value> = m
        .artifacts()
        .iter()
        .map(|e| {
            json!({
                "path": e.path.as_str(),
                "size": e.size,
                "digest": {"sha256": hex::encode(e.sha256)},
            })
        })
        .collect();
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
    let attestations: Vec<Value> = v
        .supply_chain
        .statements
        .iter()
        .map(|s| {
            json!({
                "file": s.file,
                "predicate_type": s.statement.get("predicateType").cloned().unwrap_or(Value::Null),
                "subjects": s.statement.get("subject").cloned().unwrap_or(json!([])),
                "predicate": s.statement.get("predicate").cloned().unwrap_or(json!({})),
                "signers": s.signers,
            })
        })
        .collect();
    let c = &v.supply_chain;
    json!({
        "manifest": {
            "bundle_id": v.bundle_id,
            "channel": v.channel,
            "sequence": v.sequence,
            "created": format_utc(v.created),
            "expires": format_utc(v.expires),
            "signers": v.signers,
            "root_version": v.root_version,
            "sha256": v.manifest_sha256,
        },
        "artifacts": artifacts,
        "images": images,
        "attestations": attestations,
        "intoto": {
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
        },
        "now": format_utc(v.time),
        "store_time": format_utc(store_time),
    })
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
pub fn encode(doc: &Value) -> (Vec<u8>, String) {
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
