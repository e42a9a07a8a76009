//! `publish`: verified images into the enclave's registry (or an OCI
//! layout), never anything else.
//!
//! `publish BUNDLE` first imports the bundle exactly as `unpack` does (every
//! check, the journal, the store's advance) into the store directory's
//! `imports/BUNDLE_ID` — into a registry, streaming each image blob there as
//! it is checked (`crate::publish::stream`); `publish DIR` starts from an
//! earlier unpack. Either way the directory is then re-hashed against the
//! signed manifest whose SHA-256 the journal records for that import (every
//! file, name and byte, except the size-checked blobs streamed during this
//! run; nothing extra), the tags are checked against the store's tag records
//! (a tag set by a bundle never moves to an image of an older bundle of the
//! same channel), and only then are the remaining blobs and the manifests
//! sent — blobs the registry has are skipped — and the tags put last. Each image published
//! (or refused) is journaled: registry, repository, tag, digest, bundle id.
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use airlock_bundle::{EntryKind, Limits, Manifest};
use airlock_hsm::{TrustStore, open_store};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::cli::{MetricsFileArg, PublishArgs, StoreArg, UnpackArgs};
use crate::cmd::Output;
use crate::cmd::{Outcome, warn};
use crate::error::Error;
use crate::fsutil::read_limited;
use crate::gate::input::{RecordedError, kept_path, recorded};
use crate::gate::{Admission, GateError};
use crate::journal::decision::{error_field, lock_store, path_field};
use crate::journal::writer::{Event, record};
use crate::journal::{Journal, signer_of};
use crate::oci::graph::{ImageGraph, check as check_graph};
use crate::oci::layout::{self, MANIFEST_COPY};
use crate::oci::registry::{Connection, Registry, Target};
use crate::oci::{Digest, OciError};
use crate::policy::verification_time;
use crate::publish::PublishError;
use crate::publish::stream::{Streamed, Uploader};
use crate::timefmt::now;
use crate::verifier::IMAGE_DIR;

/// The store's record of which bundle set each published tag.
const TAGS_FILE: &str = "published-tags.json";

fn sha256_file(p: &Path) -> std::io::Result<([u8; 32], u64)> {
    crate::fsutil::sha256_of(&mut fs::File::open(p)?)
}

/// An import: its directory, its manifest (checked against the journal),
/// its image graph.
struct Import {
    dir: PathBuf,
    manifest: Manifest,
    graph: ImageGraph,
    /// SHA-256 (hex) of its signed manifest.
    manifest_sha256: String,
    /// The bundle's attestations (file name, bytes), as delivered beside
    /// the import and checked against its manifest.
    attestations: Vec<(String, Vec<u8>)>,
    /// The SHA-256 of the policy input its journal record holds.
    policy_input_sha256: Option<String>,
}

/// The journal's accepted unpack whose manifest has this SHA-256, if any:
/// `Some` of the SHA-256 of the policy input it delivered (`None` for an
/// import made before airlock recorded it).
fn journaled_import(
    store: &dyn TrustStore,
    manifest_sha256: &str,
) -> Result<Option<Option<String>>, Error> {
    let signer = signer_of(store)?;
    let mut found = None;
    crate::journal::export::check_store(store, signer.public_key(), |r| {
        if r.event == "unpack"
            && r.str_field("outcome") == Some("accepted")
            && r.str_field("manifest_sha256") == Some(manifest_sha256)
        {
            found = Some(r.str_field("policy_input_sha256").map(str::to_owned));
        }
    })?;
    Ok(found)
}

/// Re-hashes `dir` against the manifest of its import: every artifact at
/// its path, every blob and image manifest under `oci/blobs/sha256/`, the
/// layout files as unpack writes them, nothing else.
///
/// `covered`: blobs this run streamed into the registry as the import's
/// verifier checked them (sent, or already there, for every repository
/// that needs them): their files are only checked for size, since nothing
/// is read from them again.
fn check_import(
    store: &dyn TrustStore,
    dir: &Path,
    covered: &dyn Fn(&ImageGraph) -> BTreeSet<Digest>,
) -> Result<Import, Error> {
    let shown = dir.display().to_string();
    let tampered = |what: String| PublishError::Tampered {
        dir: shown.clone(),
        what,
    };
    let oci = dir.join(IMAGE_DIR);
    let mpath = oci.join(MANIFEST_COPY);
    let bytes = fs::read(&mpath).map_err(|e| PublishError::NotImported {
        dir: shown.clone(),
        reason: format!("no {IMAGE_DIR}/{MANIFEST_COPY} ({e})"),
    })?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let Some(policy_input_sha256) = journaled_import(store, &sha)? else {
        return Err(PublishError::NotImported {
            dir: shown.clone(),
            reason: format!("the journal records no accepted import of manifest {sha}"),
        }
        .into());
    };
    // A delta's directory holds its full release (SPEC.md 5.7).
    let manifest = Manifest::decode(&bytes, &Limits::default())?.full_release();
    let mut expected: BTreeMap<PathBuf, ([u8; 32], u64)> = BTreeMap::new();
    for e in &manifest.entries {
        let p = match e.kind {
            EntryKind::Artifact => dir.join(e.path.as_str()),
            EntryKind::Blob | EntryKind::ImageManifest => oci.join("blobs").join(e.path.as_str()),
            _ => continue,
        };
        expected.insert(p, (e.sha256, e.size));
    }
    let mut documents = BTreeMap::new();
    for e in manifest
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::ImageManifest)
    {
        let p = oci.join("blobs").join(e.path.as_str());
        let b = fs::read(&p).map_err(|_| tampered(format!("{} is missing", p.display())))?;
        if let Some(d) = crate::oci::graph::digest_of(e) {
            documents.insert(d, b);
        }
    }
    let graph = check_graph(&manifest, documents)?;
    let streamed: BTreeSet<PathBuf> = covered(&graph)
        .iter()
        .map(|d| oci.join("blobs/sha256").join(d.hex()))
        .collect();
    let sha_of = |b: &[u8]| -> ([u8; 32], u64) { (Sha256::digest(b).into(), b.len() as u64) };
    expected.insert(oci.join("index.json"), sha_of(&layout::index_of(&graph)));
    expected.insert(oci.join("oci-layout"), sha_of(layout::OCI_LAYOUT));
    expected.insert(mpath.clone(), sha_of(&bytes));
    // Every file present must be expected, and match.
    let mut seen = BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let rd = fs::read_dir(&d).map_err(|e| tampered(format!("{}: {e}", d.display())))?;
        for ent in rd {
            let ent = ent.map_err(|e| tampered(e.to_string()))?;
            let p = ent.path();
            let ft = ent.file_type().map_err(|e| tampered(e.to_string()))?;
            if ft.is_dir() {
                stack.push(p);
            } else if !ft.is_file() {
                return Err(tampered(format!("{} is not a regular file", p.display())).into());
            } else {
                let Some(want) = expected.get(&p) else {
                    return Err(tampered(format!("{} is not in the bundle", p.display())).into());
                };
                if streamed.contains(&p) {
                    // Checked as it streamed, during this run: its size only.
                    let len = ent
                        .metadata()
                        .map_err(|e| tampered(format!("{}: {e}", p.display())))?
                        .len();
                    if len != want.1 {
                        return Err(tampered(format!("{} has other bytes", p.display())).into());
                    }
                    seen.insert(p);
                    continue;
                }
                let got = sha256_file(&p).map_err(|e| tampered(format!("{}: {e}", p.display())))?;
                if got != *want {
                    return Err(tampered(format!("{} has other bytes", p.display())).into());
                }
                seen.insert(p);
            }
        }
    }
    if let Some(p) = expected.keys().find(|p| !seen.contains(*p)) {
        return Err(tampered(format!("{} is missing", p.display())).into());
    }
    // The attestations, delivered beside (DIR.airlock-metadata/), are
    // attached to the images as referrers: each must be the one signed.
    let side = crate::staging::metadata_dir(dir).join("attestations");
    let mut attestations = Vec::new();
    for e in manifest
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Attestation)
    {
        let p = side.join(e.path.as_str());
        let b = crate::fsutil::read_limited(&p, e.size, "attestation").map_err(|_| {
            tampered(format!(
                "{} is missing, unreadable or longer than signed",
                p.display()
            ))
        })?;
        if b.len() as u64 != e.size || <[u8; 32]>::from(Sha256::digest(&b)) != e.sha256 {
            return Err(tampered(format!("{} has other bytes", p.display())).into());
        }
        attestations.push((e.path.as_str().to_owned(), b));
    }
    Ok(Import {
        dir: dir.to_owned(),
        manifest,
        graph,
        manifest_sha256: sha,
        attestations,
        policy_input_sha256,
    })
}

/// The most of an import's policy input document read.
const MAX_POLICY_INPUT: u64 = 256 << 20;

/// The store's policy, evaluated again (docs/policy.md, "`publish`
/// evaluates the policy again"): on the input document the import kept in
/// the store (`STORE/policy-inputs/SHA256.json`, whose SHA-256 its journal
/// record holds), at `time`. `None`: the store pins no policy.
fn policy_again(
    store: &dyn TrustStore,
    import: &Import,
    time: u64,
) -> Result<Option<Admission>, Error> {
    let state = store.state()?;
    if state.policy.is_none() {
        return Ok(None);
    }
    let shown = import.dir.display().to_string();
    let Some(journaled) = &import.policy_input_sha256 else {
        return Err(GateError::Failed {
            reason: format!(
                "the import in {shown} was made before airlock kept its policy input, so the store's policy cannot be evaluated on it (a bundle is imported once: ask for a new bundle, or publish it with no policy pinned)"
            ),
        }
        .into());
    };
    let path = kept_path(store.dir(), journaled);
    let bytes =
        read_limited(&path, MAX_POLICY_INPUT, "the import's policy input").map_err(|e| {
            GateError::InputTampered {
                path: path.display().to_string(),
                reason: format!("it cannot be read: {e}"),
            }
        })?;
    let doc = recorded(&bytes, journaled, time, state.latest_time).map_err(|e| {
        let reason = match e {
            RecordedError::Digest { got } => {
                format!("its SHA-256 is {got}, but the import's journal record holds {journaled}")
            }
            RecordedError::Parse(reason) => format!("it does not parse: {reason}"),
        };
        GateError::InputTampered {
            path: path.display().to_string(),
            reason,
        }
    })?;
    crate::gate::enforce_input(store, &state, doc)
}

/// The repository an image goes to under `target`.
fn repository(target: &Target, name: &str) -> String {
    match target {
        Target::Registry {
            namespace: Some(n), ..
        } => format!("{n}/{name}"),
        _ => name.to_owned(),
    }
}

/// Where repository `repo` is, for people: `HOST/REPO` (the repository
/// already carries the namespace) or `oci:DIR/REPO`.
fn place(target: &Target, repo: &str) -> String {
    match target {
        Target::Registry { host, .. } => format!("{host}/{repo}"),
        Target::Layout(_) => format!("{}/{repo}", target.display()),
    }
}

fn tag_key(target: &Target, repo: &str, tag: &str) -> String {
    format!("{}|{repo}:{tag}", target.display())
}

fn read_tags(store: &dyn TrustStore) -> Result<BTreeMap<String, Value>, Error> {
    let p = store.dir().join(TAGS_FILE);
    match fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            airlock_hsm::Error::StoreCorrupt {
                path: p.clone(),
                reason: format!("it does not parse ({e}); restore it from a backup"),
            }
            .into()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(Error::input(&p, e)),
    }
}

/// `airlock publish`.
pub fn run(a: &PublishArgs, output: Output) -> Result<Outcome, Error> {
    let target = Target::parse(&a.registry)?;
    if a.registry_conn.insecure_plain_http {
        warn(
            "--insecure-plain-http: talking to the registry WITHOUT TLS; anyone on the path can read and change what is sent",
        );
    }
    let store_dir = a.store.dir();
    let source = a.source.clone();
    let (dir, streamed) = if source.is_dir() {
        (source.clone(), Streamed::default())
    } else {
        match import_bundle(a, &store_dir, &target, output) {
            (Ok(dir), streamed) => (dir, streamed),
            (Err(e), streamed) => return Err(refused_import(a, &target, e, &streamed)),
        }
    };
    if let Some(why) = &streamed.stopped {
        warn(&format!(
            "streaming blobs during the check stopped ({why}); the rest are sent from the import"
        ));
    }
    let store = open_store(&store_dir)?;
    let signer = signer_of(store.as_ref())?;
    let journal = Journal::new(store.dir(), signer.as_ref())?;
    let lock = lock_store(store.as_ref(), &crate::cmd::warn)?;
    let base = json!({
        "source": path_field(&source),
        "directory": path_field(&dir),
        "registry": target.display(),
        "plain_http": a.registry_conn.insecure_plain_http,
        "blobs_streamed": streamed.sent.len(),
    });
    let refuse = |e: Error, extra: Value| -> Error {
        let mut f = base.clone();
        f["outcome"] = json!(if e.exit_code() == 1 {
            "refused"
        } else {
            "failed"
        });
        f["error"] = error_field(&e);
        if let (Value::Object(m), Value::Object(x)) = (&mut f, extra) {
            m.extend(x);
        }
        match record(
            store.as_ref(),
            &journal,
            &lock,
            vec![Event::new("publish", f)],
        ) {
            Ok(_) => e,
            Err(j) => {
                warn(&format!("this was not recorded in the journal: {e}"));
                j.into()
            }
        }
    };
    let repo_of = |name: &str| repository(&target, name);
    let covered = |g: &ImageGraph| streamed.covered(g, &repo_of);
    let import = match check_import(store.as_ref(), &dir, &covered) {
        Ok(i) => i,
        Err(e) => return Err(refuse(e, json!({}))),
    };
    let m = &import.manifest;
    if m.images.is_empty() {
        return Err(refuse(
            PublishError::NoImages(m.bundle_id.clone()).into(),
            json!({}),
        ));
    }
    let ids = json!({"bundle_id": m.bundle_id, "channel": m.channel, "sequence": m.sequence});
    // Tags: never to an image of an older bundle of the same channel.
    let mut tags = match read_tags(store.as_ref()) {
        Ok(t) => t,
        Err(e) => return Err(refuse(e, ids)),
    };
    for p in &import.graph.images {
        let Some(tag) = &p.image.tag else { continue };
        let repo = repository(&target, &p.image.name);
        if let Some(prev) = tags.get(&tag_key(&target, &repo, tag))
            && prev["channel"] == json!(m.channel)
            && prev["sequence"].as_u64().is_some_and(|s| s > m.sequence)
        {
            let e = PublishError::TagRollback {
                tag: format!("{}:{tag}", place(&target, &repo)),
                by: prev["bundle_id"].as_str().unwrap_or("?").to_owned(),
                channel: m.channel.clone(),
                set_seq: prev["sequence"].as_u64().unwrap_or(0),
                bundle: m.bundle_id.clone(),
                seq: m.sequence,
            };
            return Err(refuse(
                e.into(),
                json!({"bundle_id": m.bundle_id, "repository": repo, "tag": tag,
                       "digest": Digest(p.image.digest).to_string()}),
            ));
        }
    }
    // Last, the enclave's own policy, as it stands now (docs/policy.md):
    // a denial pushes nothing.
    // The publish's verification time (its receipt's `timeVerified`).
    let time = match store.state() {
        Ok(state) => verification_time(None, &state, now()),
        Err(e) => return Err(refuse(e.into(), ids)),
    };
    let admission = match policy_again(store.as_ref(), &import, time) {
        Ok(a) => a,
        Err(e) => {
            let mut extra = ids.clone();
            if let Error::Gate(g) = &e
                && let Some(p) = g.record()
            {
                extra["policy"] = p;
            }
            return Err(refuse(e, extra));
        }
    };
    let policy = admission.as_ref().map(Admission::field);
    // The tags this bundle sets are recorded before any is put: a run that
    // fails after moving some tags (the registry going away between two)
    // still protects them from an older bundle.
    for p in &import.graph.images {
        if let Some(tag) = &p.image.tag {
            let repo = repository(&target, &p.image.name);
            tags.insert(
                tag_key(&target, &repo, tag),
                json!({"bundle_id": m.bundle_id, "channel": m.channel, "sequence": m.sequence,
                       "digest": Digest(p.image.digest).to_string()}),
            );
        }
    }
    let tags_bytes = serde_json::to_vec_pretty(&tags).unwrap_or_default();
    if let Err(e) = crate::fsutil::replace_file(&store.dir().join(TAGS_FILE), &tags_bytes) {
        return Err(refuse(e, ids));
    }
    let conn = a.registry_conn.connection();
    let sent = match &target {
        Target::Layout(out) => publish_layout(&import, out),
        Target::Registry { host, .. } => publish_registry(&import, &target, host, &conn, &streamed),
    };
    let (blobs_sent, blobs_skipped) = match sent {
        Ok(n) => n,
        Err(e) => return Err(refuse(e, ids)),
    };
    // Referrers, once the images are there: the import's signed receipt
    // (docs/policy.md) and the bundle's attestations about each image.
    let receipt =
        crate::gate::referrer::receipt_of(store.as_ref(), &import.dir, &m.bundle_id, &super::warn);
    let mut artifacts = match &receipt {
        Some((statement, bytes)) => {
            crate::gate::referrer::referrers(&import.graph, statement, bytes, &repo_of)
        }
        None => Vec::new(),
    };
    let receipts = artifacts.len();
    artifacts.extend(crate::oci::attestations::referrers(
        &import.graph,
        &import.attestations,
        &repo_of,
    ));
    let listed = match crate::oci::referrers::attach(&target, &conn, &artifacts) {
        Ok(l) => l,
        Err(e) => return Err(refuse(e, ids)),
    };
    for ((repo, _), l) in artifacts.iter().zip(&listed) {
        if let Some(w) = l.warning(repo) {
            warn(&w);
        }
    }
    let (receipt_refs, attestation_refs) = artifacts.split_at(receipts);
    // Signatures and attestations that came from the source registry.
    let carried = match publish_carried(&import, &target, &conn) {
        Ok(c) => c,
        Err(e) => return Err(refuse(e, ids)),
    };
    // Record the tags, then journal each image.
    let mut events = Vec::new();
    let mut o = Outcome::default();
    let mut published = Vec::new();
    for p in &import.graph.images {
        let repo = repository(&target, &p.image.name);
        let digest = Digest(p.image.digest).to_string();
        let mut f = base.clone();
        f["outcome"] = json!("published");
        f["repository"] = json!(repo);
        f["tag"] = json!(p.image.tag);
        f["digest"] = json!(digest);
        f["bundle_id"] = json!(m.bundle_id);
        f["channel"] = json!(m.channel);
        f["sequence"] = json!(m.sequence);
        let shown = match &p.image.tag {
            Some(t) => format!("{}:{t}", place(&target, &repo)),
            None => format!("{}@{digest}", place(&target, &repo)),
        };
        o.line(format!("PUBLISHED {shown} {digest}"));
        let receipt = receipt_refs
            .iter()
            .find(|(_, r)| r.subject.0 == p.image.digest)
            .map(|(_, r)| r.digest.to_string());
        if let Some(r) = &receipt {
            o.line(format!("RECEIPT   {shown} <- referrer {r}"));
        }
        // The image's attestations: about the image, or one platform of it.
        let attested: Vec<String> = attestation_refs
            .iter()
            .filter(|(r, a)| *r == repo && p.manifests.iter().any(|(d, _)| *d == a.subject))
            .map(|(_, a)| {
                o.line(format!(
                    "ATTESTED  {shown} <- referrer {} ({} about {})",
                    a.digest, a.artifact_type, a.subject
                ));
                a.digest.to_string()
            })
            .collect();
        let from_source = carried
            .get(&Digest(p.image.digest))
            .cloned()
            .unwrap_or_default();
        for r in &from_source {
            o.line(format!(
                "REFERRER  {shown} <- {r} (from the source registry)"
            ));
        }
        f["receipt_referrer"] = json!(receipt);
        f["attestation_referrers"] = json!(attested);
        f["source_referrers"] = json!(from_source);
        if let Some(p) = &policy {
            f["policy"] = p.clone();
        }
        events.push(Event::new("publish", f));
        published.push(
            json!({"repository": repo, "tag": p.image.tag, "digest": digest,
            "receipt_referrer": receipt, "attestation_referrers": attested,
            "source_referrers": from_source}),
        );
    }
    let records = events.len() as u64;
    let head = record(store.as_ref(), &journal, &lock, events)?;
    // This publish's own signed receipt (docs/policy.md, "Receipts"), now
    // that its records are written: beside the import, and attached to
    // each image as a referrer (besides the import's).
    let mine = publish_receipt(
        &import,
        &target,
        time,
        admission.as_ref(),
        crate::gate::receipt::JournalRef {
            seq: head.seq + 1 - records,
            head,
        },
        signer.as_ref(),
        &conn,
    );
    if let Some(path) = &mine.path {
        o.line(format!("receipt    {}", path.display()));
    }
    for (repo, r) in &mine.referrers {
        o.line(format!(
            "RECEIPT   {}/{repo}@{} <- referrer {} (this publish)",
            target.display(),
            r.subject,
            r.digest
        ));
    }
    for p in &mut published {
        let d = p["digest"].clone();
        p["publish_receipt_referrer"] = json!(
            mine.referrers
                .iter()
                .find(|(_, r)| r.subject.to_string() == d)
                .map(|(_, r)| r.digest.to_string())
        );
    }
    o.line(format!(
        "bundle     {} (channel {} sequence {}) from {}",
        m.bundle_id,
        m.channel,
        m.sequence,
        import.dir.display()
    ));
    o.line(format!(
        "blobs      {blobs_sent} sent ({} as the bundle was checked), {blobs_skipped} already there",
        streamed.sent.len()
    ));
    crate::cmd::verify::describe_admission(&mut o, admission.as_ref());
    o.line(format!("journal    record {}", head.seq));
    o.field("published", published)
        .field("bundle_id", m.bundle_id.clone())
        .field("blobs_sent", blobs_sent)
        .field("blobs_skipped", blobs_skipped)
        .field("blobs_streamed", streamed.sent.len())
        .field("journal_record", head.seq)
        .field("receipt", mine.path.map(|p| p.display().to_string()));
    Ok(o)
}

/// A publish's own receipt: where it was written, and the referrers that
/// attach it to the images.
struct PublishReceipt {
    path: Option<PathBuf>,
    referrers: Vec<(String, crate::oci::referrers::Artifact)>,
}

/// Signs the receipt of the publish journaled as `journal` (subjects: the
/// images published, named as published), writes it beside the import
/// (`DIR.publish-SEQ.receipt.dsse.json`) and attaches it to each image. The
/// publish is done and journaled: what fails here is a warning.
fn publish_receipt(
    import: &Import,
    target: &Target,
    time: u64,
    admission: Option<&Admission>,
    journal: crate::gate::receipt::JournalRef,
    signer: &dyn airlock_hsm::Signer,
    conn: &Connection,
) -> PublishReceipt {
    use crate::gate::receipt;
    let m = &import.manifest;
    let subjects = import
        .graph
        .images
        .iter()
        .map(|p| {
            let repo = repository(target, &p.image.name);
            let name = match &p.image.tag {
                Some(t) => format!("{}/{repo}:{t}", target.display()),
                None => format!("{}/{repo}@{}", target.display(), Digest(p.image.digest)),
            };
            receipt::subject(&name, &p.image.digest)
        })
        .collect();
    let mut extra = serde_json::Map::new();
    extra.insert("registry".into(), json!(target.display()));
    let about = receipt::About {
        command: "publish",
        bundle_id: &m.bundle_id,
        channel: &m.channel,
        sequence: m.sequence,
        manifest_sha256: &import.manifest_sha256,
        time,
        subjects,
        extra,
    };
    let to = receipt::publish_path_for(&import.dir, journal.seq);
    let Some((statement, bytes, written)) =
        receipt::deliver(&about, admission, journal, signer, &to, &super::warn)
    else {
        return PublishReceipt {
            path: None,
            referrers: Vec::new(),
        };
    };
    let artifacts = crate::gate::referrer::referrers(&import.graph, &statement, &bytes, &|name| {
        repository(target, name)
    });
    let referrers = match crate::oci::referrers::attach(target, conn, &artifacts) {
        Ok(listed) => {
            for ((repo, _), l) in artifacts.iter().zip(&listed) {
                if let Some(w) = l.warning(repo) {
                    super::warn(&w);
                }
            }
            artifacts
        }
        Err(e) => {
            super::warn(&format!(
                "the publish is done and journaled (record {}), but its receipt could not be attached to the images: {e}",
                journal.seq
            ));
            Vec::new()
        }
    };
    PublishReceipt {
        path: written.then_some(to),
        referrers,
    }
}

/// A `publish BUNDLE` whose import failed (its `unpack` record says why):
/// when blobs were streamed into the registry before, a `publish` record
/// says how many — they are there, unreferenced (no manifest, no tag).
fn refused_import(a: &PublishArgs, target: &Target, e: Error, streamed: &Streamed) -> Error {
    if streamed.sent.is_empty() {
        return e;
    }
    let recorded = (|| -> Result<(), Error> {
        let store = open_store(&a.store.dir())?;
        let signer = signer_of(store.as_ref())?;
        let journal = Journal::new(store.dir(), signer.as_ref())?;
        let lock = lock_store(store.as_ref(), &crate::cmd::warn)?;
        let f = json!({
            "source": path_field(&a.source),
            "registry": target.display(),
            "plain_http": a.registry_conn.insecure_plain_http,
            "blobs_streamed": streamed.sent.len(),
            "outcome": if e.exit_code() == 1 { "refused" } else { "failed" },
            "error": error_field(&e),
        });
        record(
            store.as_ref(),
            &journal,
            &lock,
            vec![Event::new("publish", f)],
        )?;
        Ok(())
    })();
    if let Err(j) = recorded {
        warn(&format!(
            "{} blobs streamed into {} before the refusal were not recorded in the journal: {j}",
            streamed.sent.len(),
            target.display()
        ));
    }
    e
}

/// `publish BUNDLE`: import it as `unpack` would, into the store's
/// `imports/BUNDLE_ID`, or — a bundle already imported that way — reuse
/// that import (publishing again, to resume or to another registry). Into
/// a registry, a new import streams each image blob there as it is checked
/// (`crate::publish::stream`); what was streamed is returned either way.
fn import_bundle(
    a: &PublishArgs,
    store_dir: &Path,
    target: &Target,
    output: Output,
) -> (Result<PathBuf, Error>, Streamed) {
    let to = match import_place(a, store_dir) {
        Ok(to) if to.exists() => return (Ok(to), Streamed::default()),
        Ok(to) => to,
        Err(e) => return (Err(e), Streamed::default()),
    };
    let mut uploader = match target {
        Target::Registry { host, .. } => {
            let t = target.clone();
            Some(Uploader::start(
                host,
                &a.registry_conn.connection(),
                Box::new(move |name: &str| repository(&t, name)),
            ))
        }
        Target::Layout(_) => None,
    };
    let imported = crate::cmd::unpack::import_into_store(
        &UnpackArgs {
            bundle: a.source.clone(),
            store: StoreArg {
                path: a.store.path.clone(),
            },
            to: to.clone(),
            at: a.at.clone(),
            prompt: a.prompt,
            metrics_file: MetricsFileArg::default(),
            run_inspections: a.run_inspections,
        },
        output,
        uploader.as_mut(),
    );
    // Every upload in flight ends (completed, or cut by a refusal) before
    // anything else happens.
    let streamed = uploader.map(Uploader::finish).unwrap_or_default();
    (imported.map(|_| to), streamed)
}

/// `STORE/imports/BUNDLE_ID` for the bundle `a.source` (created parent).
fn import_place(a: &PublishArgs, store_dir: &Path) -> Result<PathBuf, Error> {
    let imports = store_dir.join("imports");
    fs::create_dir_all(&imports).map_err(|e| {
        Error::from(crate::fsutil::FsError::Write {
            what: format!("create {}", imports.display()),
            source: e,
        })
    })?;
    // The bundle id, to find an earlier import (a claim until that import's
    // directory is checked against the journal, which check_import does).
    let id = crate::volumes::BundleInput::open(&a.source, None).and_then(|mut input| {
        Ok(
            airlock_bundle::BundleReader::open(input.take_reader(), Limits::default())?
                .manifest()
                .bundle_id
                .clone(),
        )
    })?;
    Ok(imports.join(&id))
}

fn blob_file(import: &Import, d: Digest) -> PathBuf {
    import
        .dir
        .join(IMAGE_DIR)
        .join("blobs/sha256")
        .join(d.hex())
}

/// Writes the images into the OCI layout `out` (created if missing): blobs
/// the layout has are kept, `index.json` gets the images' tags last.
fn publish_layout(import: &Import, out: &Path) -> Result<(u64, u64), Error> {
    let werr = |p: &Path, e: std::io::Error| Error::from(crate::fsutil::FsError::write(p, e));
    let bdir = out.join("blobs/sha256");
    fs::create_dir_all(&bdir).map_err(|e| werr(&bdir, e))?;
    let (mut sent, mut skipped) = (0u64, 0u64);
    let mut copy = |d: Digest| -> Result<(), Error> {
        let to = bdir.join(d.hex());
        if sha256_file(&to).is_ok_and(|(h, _)| h == d.0) {
            skipped += 1;
            return Ok(());
        }
        let tmp = bdir.join(format!(".{}.partial", d.hex()));
        fs::copy(blob_file(import, d), &tmp).map_err(|e| werr(&tmp, e))?;
        fs::rename(&tmp, &to).map_err(|e| werr(&to, e))?;
        sent += 1;
        Ok(())
    };
    for p in &import.graph.images {
        for (d, _) in &p.blobs {
            copy(*d)?;
        }
        for (d, _) in &p.manifests {
            copy(*d)?;
        }
    }
    // index.json: existing entries kept, except those whose ref name one of
    // these images takes; then these images.
    let mine: BTreeSet<String> = import
        .graph
        .images
        .iter()
        .filter_map(|p| {
            p.image
                .tag
                .as_ref()
                .map(|t| format!("{}:{t}", p.image.name))
        })
        .collect();
    let mut entries: Vec<Value> = layout::existing_refs(out)
        .into_iter()
        .filter(|(r, _)| r.as_ref().is_none_or(|r| !mine.contains(r)))
        .map(|(_, v)| v)
        .collect();
    for p in &import.graph.images {
        let bytes = &import.graph.documents[&Digest(p.image.digest)];
        entries.push(layout::descriptor(
            p,
            bytes.len() as u64,
            &crate::oci::Doc::media_type_of(bytes),
        ));
    }
    fs::write(out.join("oci-layout"), layout::OCI_LAYOUT).map_err(|e| werr(out, e))?;
    crate::fsutil::replace_file(&out.join("index.json"), &layout::index(entries))?;
    Ok((sent, skipped))
}

/// Pushes every blob (skipping those the registry has) and manifest by
/// digest for every image, then puts the tags.
fn publish_registry(
    import: &Import,
    target: &Target,
    host: &str,
    conn: &Connection,
    streamed: &Streamed,
) -> Result<(u64, u64), Error> {
    let mut reg = Registry::connect(host, conn)?;
    let (mut sent, mut skipped) = (0u64, 0u64);
    // Each blob streamed during the import is counted once, then asked for
    // again like any other (`HEAD`), as before.
    let (mut streamed_sent, mut streamed_present) =
        (streamed.sent.clone(), streamed.present.clone());
    for p in &import.graph.images {
        let repo = repository(target, &p.image.name);
        for (d, size) in &p.blobs {
            let key = (repo.clone(), *d);
            if streamed_sent.remove(&key) {
                sent += 1;
                continue;
            }
            if streamed_present.remove(&key) {
                skipped += 1;
                continue;
            }
            if reg.has_blob(&repo, *d)? {
                skipped += 1;
                continue;
            }
            let path = blob_file(import, *d);
            let mut open = || -> Result<Box<dyn Read + Send>, Error> {
                Ok(Box::new(std::io::BufReader::with_capacity(
                    1 << 20,
                    fs::File::open(&path).map_err(|e| Error::input(&path, e))?,
                )))
            };
            reg.push_blob(&repo, *d, *size, &mut open)?;
            sent += 1;
        }
        for (d, mt) in &p.manifests {
            if reg.has_manifest(&repo, *d, mt)? {
                continue;
            }
            let bytes = &import.graph.documents[d];
            reg.put_manifest(&repo, &d.to_string(), mt, bytes)?;
        }
    }
    // Tags last: only once everything they point at is there.
    for p in &import.graph.images {
        let Some(tag) = &p.image.tag else { continue };
        let repo = repository(target, &p.image.name);
        let d = Digest(p.image.digest);
        let (mt, bytes) = p
            .manifests
            .iter()
            .find(|(x, _)| *x == d)
            .map(|(_, mt)| (mt.clone(), &import.graph.documents[&d]))
            .ok_or_else(|| OciError::Missing {
                what: format!("image {}", p.image.reference()),
                digest: d.to_string(),
            })?;
        reg.put_manifest(&repo, tag, &mt, bytes)?;
    }
    Ok((sent, skipped))
}

/// The referrers that came with the images from their source registry
/// (signatures, attestations; `crate::oci::pull`), once the images are
/// there: their blobs (skipping those there), the manifest by digest, then
/// listed among the subject's referrers — and, for one found under
/// cosign's `sha256-<hex>.sig` / `.att` tag, tagged so again unless that
/// tag holds something else. Returns each image's referrers published.
fn publish_carried(
    import: &Import,
    target: &Target,
    conn: &Connection,
) -> Result<BTreeMap<Digest, Vec<String>>, Error> {
    use crate::oci::referrers::{descriptor_of, list, tag_of};
    let mut out: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    let all: Vec<_> = import
        .graph
        .images
        .iter()
        .flat_map(|p| p.referrers.iter().map(move |r| (p, r)))
        .collect();
    if all.is_empty() {
        return Ok(out);
    }
    match target {
        Target::Layout(dir) => {
            let bdir = dir.join("blobs/sha256");
            let mut entries: Vec<Value> = layout::existing_refs(dir)
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            for (p, r) in &all {
                let bytes = &import.graph.documents[&r.digest];
                for (d, _) in &r.blobs {
                    let to = bdir.join(d.hex());
                    if !sha256_file(&to).is_ok_and(|(h, _)| h == d.0) {
                        let tmp = bdir.join(format!(".{}.partial", d.hex()));
                        fs::copy(blob_file(import, *d), &tmp).map_err(|e| Error::input(&tmp, e))?;
                        fs::rename(&tmp, &to).map_err(|e| Error::input(&to, e))?;
                    }
                }
                crate::fsutil::replace_file(&bdir.join(r.digest.hex()), bytes)?;
                let entry = descriptor_of(bytes);
                if !entries.iter().any(|e| e["digest"] == entry["digest"]) {
                    entries.push(entry);
                }
                out.entry(Digest(p.image.digest))
                    .or_default()
                    .push(r.digest.to_string());
            }
            crate::fsutil::replace_file(&dir.join("index.json"), &layout::index(entries))?;
        }
        Target::Registry { host, .. } => {
            let mut reg = Registry::connect(host, conn)?;
            for (p, r) in &all {
                let repo = repository(target, &p.image.name);
                for (d, size) in &r.blobs {
                    if reg.has_blob(&repo, *d)? {
                        continue;
                    }
                    let path = blob_file(import, *d);
                    let mut open = || -> Result<Box<dyn Read + Send>, Error> {
                        Ok(Box::new(std::io::BufReader::with_capacity(
                            1 << 20,
                            fs::File::open(&path).map_err(|e| Error::input(&path, e))?,
                        )))
                    };
                    reg.push_blob(&repo, *d, *size, &mut open)?;
                }
                let bytes = &import.graph.documents[&r.digest];
                let with_api = reg.put_referrer(&repo, r.digest, bytes)?;
                let listed = list(&mut reg, &repo, r.subject, &descriptor_of(bytes), with_api)?;
                if let Some(w) = listed.warning(&repo) {
                    warn(&w);
                }
                if let Some(suffix) = &r.cosign_tag {
                    let tag = format!("{}.{suffix}", tag_of(r.subject));
                    match reg.find_manifest(&repo, &tag)? {
                        None => reg.put_manifest(
                            &repo,
                            &tag,
                            &crate::oci::Doc::media_type_of(bytes),
                            bytes,
                        )?,
                        Some(b) if b == *bytes => {}
                        Some(_) => warn(&format!(
                            "{repo}:{tag} holds other signatures: it was left alone; the carried one is listed as a referrer ({})",
                            r.digest
                        )),
                    }
                }
                out.entry(Digest(p.image.digest))
                    .or_default()
                    .push(r.digest.to_string());
            }
        }
    }
    Ok(out)
}
