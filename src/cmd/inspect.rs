//! `inspect`: what a bundle says it holds. Checks nothing, trusts nothing.
use std::fs::File;
use std::path::Path;

use airlock_bundle::{BundleReader, Limits};
use serde_json::json;

use crate::cmd::Outcome;
use crate::error::Error;
use crate::timefmt::format_utc;

/// `airlock inspect BUNDLE`.
pub fn run(bundle: &Path) -> Result<Outcome, Error> {
    let file = File::open(bundle).map_err(|e| Error::input(bundle, e))?;
    let reader = BundleReader::open(file, Limits::default())?;
    let m = reader.manifest();
    let mut o = Outcome::default();
    o.line("UNVERIFIED: inspect reads the manifest as written and checks no signature, digest or freshness.");
    o.line(format!("bundle     {}", m.bundle_id));
    o.line(format!("channel    {} sequence {}", m.channel, m.sequence));
    o.line(format!("created    {}", format_utc(m.created)));
    o.line(format!("expires    {}", format_utc(m.expires)));
    o.line(format!(
        "payload    sha256 {}",
        hex::encode(m.payload_sha256)
    ));
    o.line(format!(
        "signatures {}",
        reader
            .signatures()
            .0
            .iter()
            .map(|s| s.keyid.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    o.line(format!(
        "layout keys {}",
        m.supply_chain.layout_keyids.join(", ")
    ));
    o.line(format!(
        "entries    {} ({} artifacts, {} artifact bytes)",
        m.entries.len(),
        m.artifact_count(),
        m.artifact_bytes()
    ));
    let mut entries = Vec::new();
    for e in &m.entries {
        o.line(format!(
            "  {:<11} {:>12} {:04o} {}  {}",
            e.kind.name(),
            e.size,
            e.mode,
            hex::encode(e.sha256),
            e.path
        ));
        entries.push(
            json!({"kind": e.kind.name(), "path": e.path.as_str(), "size": e.size,
                            "mode": e.mode, "sha256": hex::encode(e.sha256)}),
        );
    }
    o.field("verified", false)
        .field("bundle_id", m.bundle_id.clone())
        .field("format", m.format)
        .field("channel", m.channel.clone())
        .field("sequence", m.sequence)
        .field("created", format_utc(m.created))
        .field("expires", format_utc(m.expires))
        .field("payload_sha256", hex::encode(m.payload_sha256))
        .field(
            "signatures",
            reader
                .signatures()
                .0
                .iter()
                .map(|s| s.keyid.clone())
                .collect::<Vec<_>>(),
        )
        .field("layout_keyids", m.supply_chain.layout_keyids.clone())
        .field("product_step", m.supply_chain.product_step.clone())
        .field("entries", entries);
    Ok(o)
}
