//! The one input document both languages see (docs/policy.md, "The input
//! document"): built only from what the verifier established — the
//! verified manifest, its artifacts and images, the attestations whose
//! signatures verified, the in-toto verdict — and the store's time.
use serde_json::{Value, json};

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
            "layout_expires": c.layout_expires,
            "layout_sha256": c.layout.sha256,
            "warnings": c.warnings,
        },
        "now": format_utc(v.time),
        "store_time": format_utc(store_time),
    })
}
