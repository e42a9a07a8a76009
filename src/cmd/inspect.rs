//! `inspect`: what a bundle says it holds. Checks nothing, trusts nothing.
use std::path::Path;

use airlock_bundle::{BundleReader, EntryKind, Limits, VolumeSet};
use serde_json::json;

use crate::cmd::Outcome;
use crate::error::Error;
use crate::intoto::statement;
use crate::intoto::verify::parse_layout;
use crate::keys::{KeyObject, key_object, keyid, legacy_keyid};
use crate::timefmt::format_utc;
use crate::volumes::BundleInput;

/// The volume index of a split bundle, as its first volume carries it.
fn describe_index(o: &mut Outcome, set: &VolumeSet) {
    let h = set.header();
    let index = &h.index;
    let count = index.count();
    let signers: Vec<String> = h.signatures.0.iter().map(|s| s.keyid.clone()).collect();
    o.line(format!(
        "volumes    {count} (each header {} bytes); index signatures {}",
        index.header_len,
        signers.join(", ")
    ));
    let mut list = Vec::new();
    for (k, v) in index.volumes.iter().enumerate() {
        let number = k as u32 + 1;
        let path = set.path_beside_first(number);
        o.line(format!(
            "  volume {number:>3} of {count}  {:>12} bytes  slice sha256 {}  {}",
            index.file_len(number),
            hex::encode(v.sha256),
            path.display()
        ));
        list.push(json!({"number": number, "path": path.display().to_string(),
            "size": index.file_len(number), "slice_size": v.size,
            "slice_sha256": hex::encode(v.sha256)}));
    }
    o.field("volumes", list)
        .field("volume_header_len", index.header_len)
        .field("volume_index_signatures", signers);
}

/// A delta's line (its base, what it needs from it) and its `delta` field
/// (`null` for a full bundle).
fn describe_delta(o: &mut Outcome, m: &airlock_bundle::Manifest) -> serde_json::Value {
    let Some(b) = &m.base else {
        return serde_json::Value::Null;
    };
    let sum = |es: &[airlock_bundle::Entry]| es.iter().fold(0u64, |a, e| a.saturating_add(e.size));
    let (carried, carried_bytes) = (m.artifacts().len(), sum(m.artifacts()));
    let (taken, taken_bytes) = (b.entries.len(), sum(&b.entries));
    o.line(format!(
        "delta      of bundle {} (sequence {}): needs {taken} files, {taken_bytes} bytes from its import; carries {carried} files, {carried_bytes} bytes",
        b.bundle_id, b.sequence
    ));
    json!({"base_bundle_id": b.bundle_id, "base_sequence": b.sequence,
           "from_base_files": taken, "from_base_bytes": taken_bytes,
           "carried_files": carried, "carried_bytes": carried_bytes})
}

/// `airlock inspect BUNDLE` (a bundle file, or a split bundle's first volume).
/// With `extract`, the metadata is also written to that new directory as
/// `unpack` delivers it (atomically: staged beside it, then renamed).
pub fn run(bundle: &Path, extract: Option<&Path>) -> Result<Outcome, Error> {
    let mut staging = extract
        .map(crate::staging::Staging::create_metadata_only)
        .transpose()?;
    let mut input = BundleInput::open(bundle, None)?;
    if let Some(set) = input.volumes() {
        set.read_unauthenticated();
    }
    let mut reader = BundleReader::open(input.take_reader(), Limits::default())
        .map_err(|e| input.diagnose(e.into()))?;
    let m = reader.manifest().clone();
    let signature_keyids: Vec<String> = reader
        .signatures()
        .0
        .iter()
        .map(|s| s.keyid.clone())
        .collect();
    let mut o = Outcome::default();
    o.line("UNVERIFIED: inspect reads the manifest as written and checks no signature, digest or freshness.");
    o.line(format!("bundle     {}", m.bundle_id));
    o.line(format!("channel    {} sequence {}", m.channel, m.sequence));
    o.line(format!("created    {}", format_utc(m.created)));
    o.line(format!("expires    {}", format_utc(m.expires)));
    // Cut into frames, the payload is authenticated frame by frame and
    // the digest is the frame index's (SPEC.md 5.8), not the bytes'.
    o.line(match m.frames.len() {
        0 => format!("payload    sha256 {}", hex::encode(m.payload_sha256)),
        n => format!(
            "payload    {n} frames, index sha256 {}",
            hex::encode(m.payload_sha256)
        ),
    });
    o.line(format!("signatures {}", signature_keyids.join(", ")));
    let posix_names = m.names == airlock_bundle::NameRule::PosixOnly;
    if posix_names {
        o.line("names      POSIX-only (pack --posix-names)");
    }
    o.field("posix_names", posix_names);
    if m.enclaves.is_empty() {
        o.line("for        any enclave (not directed)");
    }
    for id in &m.enclaves {
        o.line(format!("for        enclave {id}"));
    }
    o.field("enclaves", m.enclaves.clone());
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
    let delta = describe_delta(&mut o, &m);
    o.field("delta", delta);
    if let Some(set) = input.volumes() {
        describe_index(&mut o, set);
    }
    let mut entries = Vec::new();
    let taken: std::collections::BTreeSet<(EntryKind, &str)> = m
        .base
        .iter()
        .flat_map(|b| b.entries.iter().map(|e| (e.kind, e.path.as_str())))
        .collect();
    let release = m.full_release();
    for e in &release.entries {
        let from_base = taken.contains(&(e.kind, e.path.as_str()));
        o.line(format!(
            "  {:<11} {:>12} {:04o} {}  {}{}",
            e.kind.name(),
            e.size,
            e.mode,
            hex::encode(e.sha256),
            e.path,
            if from_base { "  (from base)" } else { "" }
        ));
        entries.push(
            json!({"kind": e.kind.name(), "path": e.path.as_str(), "size": e.size,
                            "mode": e.mode, "sha256": hex::encode(e.sha256), "from_base": from_base}),
        );
    }
    // Attestations: parsed and their signatures checked against the keys
    // the bundle itself carries (layout keys and the layout's functionary
    // keys) — informative only, like everything inspect prints.
    let mut chain_keys = std::collections::BTreeMap::new();
    let mut attestations = Vec::new();
    let mut carried = Vec::new();
    let mut documents = std::collections::BTreeMap::new();
    let mut delivered = Vec::new();
    while let Some(md) = reader
        .next_metadata()
        .map_err(|e| input.diagnose(e.into()))?
    {
        if crate::staging::metadata_subdir(md.entry.kind).is_some() && staging.is_some() {
            delivered.push((md.entry.clone(), md.bytes.clone()));
        }
        match md.entry.kind {
            EntryKind::LayoutKey => {
                if let Ok(pk) = std::str::from_utf8(&md.bytes)
                    .map_err(|e| e.to_string())
                    .and_then(airlock_hsm::PublicKey::from_spki_pem)
                {
                    for id in [keyid(&pk), legacy_keyid(&pk)] {
                        chain_keys.insert(id, KeyObject::parse(&key_object(&pk)).ok());
                    }
                }
            }
            EntryKind::Layout => {
                if let Ok((_, layout)) = parse_layout(&md.bytes, md.entry.path.as_str()) {
                    for (id, k) in layout.keys {
                        chain_keys.insert(id, Some(k));
                    }
                }
            }
            EntryKind::Attestation => carried.push(md),
            EntryKind::ImageManifest => {
                if let Some(d) = crate::oci::graph::digest_of(&md.entry) {
                    documents.insert(d, md.bytes);
                }
            }
            _ => {}
        }
    }
    // Images: name, tag, digest, platforms, size (everything it references,
    // when its graph is complete; "?" otherwise).
    let graph = crate::oci::graph::check(&release, documents).ok();
    let mut images = Vec::new();
    for (n, i) in m.images.iter().enumerate() {
        let size = graph.as_ref().and_then(|g| g.images.get(n)).map(|p| p.size);
        o.line(format!(
            "image      {} sha256:{} [{}] {} bytes",
            i.reference(),
            hex::encode(i.digest),
            i.platforms.join(", "),
            size.map_or("?".into(), |s| s.to_string())
        ));
        images.push(json!({"name": i.name, "tag": i.tag, "digest": format!("sha256:{}", hex::encode(i.digest)),
                           "platforms": i.platforms, "size": size}));
    }
    let keys: std::collections::BTreeMap<String, KeyObject> = chain_keys
        .into_iter()
        .filter_map(|(id, k)| k.map(|k| (id, k)))
        .collect();
    for md in carried {
        let name = md.entry.path.as_str().to_owned();
        match statement::parse(&md.bytes) {
            Ok(st) => {
                let signers: Vec<String> =
                    st.signers(&keys).into_iter().map(str::to_owned).collect();
                o.line(format!(
                    "attestation {name}: {} for {}; signed by {}",
                    st.predicate_type,
                    st.subjects
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    if signers.is_empty() {
                        "no key the bundle carries".to_owned()
                    } else {
                        signers.join(", ")
                    }
                ));
                attestations.push(json!({"path": name, "predicate_type": st.predicate_type,
                    "subjects": st.subjects.iter().map(|s| json!({"name": s.name, "digest": s.digest})).collect::<Vec<_>>(),
                    "claimed_keyids": st.claimed_keyids(), "valid_signers": signers}));
            }
            Err(e) => {
                o.line(format!("attestation {name}: malformed ({e})"));
                attestations.push(json!({"path": name, "malformed": e}));
            }
        }
    }
    if let (Some(mut st), Some(dir)) = (staging.take(), extract) {
        st.write_metadata(&delivered, reader.manifest_bytes())?;
        st.commit(0)?;
        o.line(format!(
            "metadata   written to {} (UNVERIFIED)",
            dir.display()
        ));
        o.field("metadata_extracted", dir.display().to_string());
    }
    o.field("verified", false)
        .field("attestations", attestations)
        .field("bundle_id", m.bundle_id.clone())
        .field("format", m.format)
        .field("channel", m.channel.clone())
        .field("sequence", m.sequence)
        .field("created", format_utc(m.created))
        .field("expires", format_utc(m.expires))
        .field("payload_sha256", hex::encode(m.payload_sha256))
        .field("signatures", signature_keyids)
        .field("layout_keyids", m.supply_chain.layout_keyids.clone())
        .field("product_step", m.supply_chain.product_step.clone())
        .field("images", images)
        .field("entries", entries);
    Ok(o)
}
