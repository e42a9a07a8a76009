//! `pack`: the connected side's one command that produces a bundle.
//!
//! Inputs are checked before anything heavy is done: the roots must form a
//! valid chain whose final root is unexpired, and the signing keys must meet
//! its targets threshold — a bundle the isolated side would refuse is never
//! built. Artifacts are then read once: hashed and compressed in the same
//! pass; the manifest is signed; the bundle appears atomically at `--out`.
use std::collections::BTreeSet;
use std::path::Path;

use airlock_bundle::{
    ArtifactSource, BundlePath, Entry, EntryKind, Limits, Manifest, ManifestFields,
    ManifestSignature, MetadataFile, NameRule, Signatures, SupplyChain, TEMP_PREFIX, WriteOptions,
    finish_bundle, head_frame_len, is_volume, plan_split, signing_message, write_payload,
};
use airlock_hsm::Signer;

use crate::cli::PackArgs;
use crate::cmd::Outcome;
use crate::cmd::root::read_root;
use crate::cmd::volumes::describe_volumes;
use crate::error::Error;
use crate::fsutil::read_limited;
use crate::intoto::IntotoError;
use crate::intoto::bundle::{BundleChain, ChainContext, ChainVerdict, verify_bundle_chain};
use crate::intoto::verify::{LayoutKey, parse_layout};
use crate::keys::{keyid, load_public_key, load_signer};
use crate::policy::check_signatures;
use crate::progress::bytes_bar;
use crate::timefmt::{format_utc, now, parse_duration};
use crate::tuf::{Root, apply_chain};
use crate::volumes::{split_bundle_file, volume_size_arg};
use crate::walk::walk_tree;

/// Pack's bundle on its way to becoming volumes: a hidden file beside them,
/// removed whatever happens (named like the writer's temporary files, so a
/// signal or the next `pack` removes it too).
struct TempBundle(std::path::PathBuf, Option<std::fs::File>);

impl TempBundle {
    fn beside(out: &Path) -> TempBundle {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("{TEMP_PREFIX}{}-split-{nanos}", std::process::id());
        TempBundle(out_dir(out).join(name), None)
    }

    /// Locks the written bundle, as its writer did, until it is consumed.
    fn hold(&mut self) {
        if let Ok(f) = std::fs::File::open(&self.0)
            && f.lock().is_ok()
        {
            self.1 = Some(f);
        }
    }
}

impl Drop for TempBundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(crate) fn out_dir(out: &Path) -> &Path {
    match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Refuses an `--out` that exists and is not a regular file (a device, a
/// link, a directory, a FIFO: never replaced), or that is a regular file
/// but not a bundle (unless `force`): a mistyped `--out` must not destroy a
/// journal, a key or a device.
fn check_out(out: &Path, force: bool) -> Result<(), Error> {
    let meta = match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::input(out, e)),
        Ok(m) => m,
    };
    if !meta.file_type().is_file() {
        return Err(Error::operator(
            "out-not-regular",
            format!(
                "--out {} exists and is not a regular file (a device, link, directory or FIFO)",
                out.display()
            ),
            "give a new file name for the bundle; pack never replaces anything but a file",
        ));
    }
    if force {
        return Ok(());
    }
    let mut magic = Vec::with_capacity(16);
    let file = airlock_hsm::opfile::open_regular(out).map_err(|e| Error::input(out, e))?;
    std::io::Read::read_to_end(&mut std::io::Read::take(file, 16), &mut magic)
        .map_err(|e| Error::input(out, e))?;
    if !(magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) || is_volume(&magic)) {
        return Err(Error::operator(
            "out-not-a-bundle",
            format!(
                "--out {} exists and is not a bundle; it would be replaced",
                out.display()
            ),
            "give a new file name for the bundle, or --force to replace that file",
        ));
    }
    Ok(())
}

/// Removes the temporary files left beside `out` by `pack` runs that were
/// killed (their lock is free); a running pack's files are left alone.
pub(crate) fn sweep_stale_temps(out: &Path) {
    let dir = out_dir(out);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let ours = e
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(TEMP_PREFIX));
        if !ours || !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if let Ok(f) = airlock_hsm::opfile::open_regular(&e.path())
            && f.try_lock().is_ok()
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn bundle_path(rel: &str, limits: &Limits, file: &Path) -> Result<BundlePath, Error> {
    BundlePath::new(rel, limits).map_err(|e| {
        Error::usage(
            format!("cannot pack {}: its path is not allowed in a bundle ({e})", file.display()),
            "rename the file: bundle paths are relative, without `.`/`..`, backslashes or control characters",
        )
    })
}

fn metadata_file(
    kind: EntryKind,
    rel: &str,
    bytes: Vec<u8>,
    limits: &Limits,
    file: &Path,
) -> Result<MetadataFile, Error> {
    Ok(MetadataFile {
        kind,
        path: bundle_path(rel, limits, file)?,
        bytes,
        mode: 0o644,
    })
}

/// Roots with their exact bytes, oldest first.
type RootFiles = Vec<(Root, Vec<u8>)>;

/// Reads the roots, checks they chain from the oldest to the newest, and
/// returns them with the final root.
fn load_roots(files: &[std::path::PathBuf], time: u64) -> Result<(RootFiles, Root), Error> {
    let mut roots = Vec::new();
    for f in files {
        roots.push(read_root(f)?);
    }
    roots.sort_by_key(|(r, _)| r.version);
    let versions: Vec<u64> = roots.iter().map(|(r, _)| r.version).collect();
    if versions.windows(2).any(|w| w[1] != w[0] + 1) {
        return Err(Error::usage(
            format!("the --root files have versions {versions:?}; they must be consecutive"),
            "give the root chain without gaps or duplicates, e.g. 1.root.json 2.root.json",
        ));
    }
    let (first, _) = &roots[0];
    first.check_signed_by(first)?;
    let rest: Vec<Root> = roots[1..].iter().map(|(r, _)| r.clone()).collect();
    let final_root = apply_chain(first, &rest, time)?;
    Ok((roots, final_root))
}

/// Checks the layout before any artifact is read: it parses, every
/// `--layout-key` signed it, it has not expired, and the product step is one
/// of its steps. Returns the product step (default: the last step).
fn precheck_layout(a: &PackArgs, bytes: &[u8]) -> Result<String, Error> {
    let (doc, layout) = parse_layout(bytes, &a.layout.display().to_string())?;
    for p in &a.layout_key {
        let key = LayoutKey::from_public(&load_public_key(p)?);
        let ids: Vec<&str> = key.keyids.iter().map(String::as_str).collect();
        if !doc.signed_by(&ids, &key.key) {
            return Err(IntotoError::LayoutSignature {
                keyid: key.keyids[0].clone(),
            }
            .into());
        }
    }
    if layout.expires <= now() {
        return Err(IntotoError::LayoutExpired {
            expires: layout.expires_text.clone(),
            time: format_utc(now()),
        }
        .into());
    }
    let step = match &a.product_step {
        Some(s) => s.clone(),
        None => layout
            .steps
            .last()
            .map(|s| s.item.name.clone())
            .ok_or_else(|| IntotoError::ProductStepUnknown("(the layout has no steps)".into()))?,
    };
    if layout.step(&step).is_none() {
        return Err(IntotoError::ProductStepUnknown(step).into());
    }
    Ok(step)
}

/// `airlock pack`.
pub fn run(a: &PackArgs, quiet: bool) -> Result<Outcome, Error> {
    build(a, quiet, true)
}

/// `pack`, optionally without the supply-chain check — only for the demo,
/// which needs a bundle a malicious release-key holder could build with
/// their own tool, to show the isolated side refusing it. Not reachable
/// from the command line.
pub(crate) fn build(a: &PackArgs, quiet: bool, check_chain: bool) -> Result<Outcome, Error> {
    crate::fsutil::ensure_parent(&a.out)?;
    if a.split.is_none() {
        check_out(&a.out, a.force)?;
    }
    sweep_stale_temps(&a.out);
    let _cleanup = crate::cleanup::on_signal_remove_prefixed(
        out_dir(&a.out),
        &format!("{TEMP_PREFIX}{}-", std::process::id()),
    );
    let split = a
        .split
        .as_deref()
        .map(|s| volume_size_arg("--split", s))
        .transpose()?;
    let limits = Limits::default();
    let created = a.source_date_epoch.unwrap_or_else(now);
    let lifetime = parse_duration(&a.expires).map_err(|e| Error::usage(e, "e.g. --expires 30d"))?;
    let expires = created
        .checked_add(lifetime)
        .ok_or_else(|| Error::usage("--expires is too far away", "e.g. --expires 30d"))?;
    if expires <= now() {
        return Err(Error::usage(
            format!(
                "the bundle would expire at {}, which has already passed (created {} from --source-date-epoch or SOURCE_DATE_EPOCH)",
                format_utc(expires),
                format_utc(created)
            ),
            "use a later --source-date-epoch or a longer --expires",
        ));
    }
    let sequence = a.sequence.unwrap_or(created);
    if a.sequence.is_none() {
        crate::cmd::warn(&format!(
            "no --sequence: the bundle's sequence on channel {} is its creation time, {sequence}; once a channel has clock-based numbers, a later explicit --sequence below them is refused as a rollback, so keep to one kind per channel",
            a.channel
        ));
    }
    if a.posix_names {
        crate::cmd::warn(
            "--posix-names: the bundle is marked POSIX-only; names that differ only by case or Unicode normalization, or cannot exist on FAT32, exFAT or NTFS, are allowed, and the isolated side will warn",
        );
    }
    if sequence > crate::policy::MAX_SEQUENCE {
        return Err(Error::usage(
            format!(
                "--sequence {sequence} is above the largest allowed, {}",
                crate::policy::MAX_SEQUENCE
            ),
            "give a smaller --sequence (the isolated side refuses larger ones)",
        ));
    }

    let signers: Vec<Box<dyn Signer>> = a
        .key
        .iter()
        .map(|k| load_signer(k))
        .collect::<Result<_, _>>()?;
    // The final root must still be valid when the bundle arrives, not only at
    // the (possibly old) creation time.
    let (roots, final_root) = load_roots(&a.root, created.max(now()))?;
    // Cheap early check, so that a wrong key is caught before any artifact is read.
    let probe = b"airlock pack key check";
    let probe_sigs = Signatures(
        signers
            .iter()
            .map(|s| {
                Ok(ManifestSignature {
                    keyid: keyid(s.public_key()),
                    sig: s.sign(&signing_message(probe))?,
                })
            })
            .collect::<Result<Vec<_>, airlock_hsm::Error>>()?,
    );
    if let Err(rejection) = check_signatures(&final_root, probe, &probe_sigs) {
        return Err(Error::usage(
            format!("these --key signers cannot sign this bundle: {rejection}"),
            format!(
                "sign with keys of the targets role of root version {} (keyids {})",
                final_root.version,
                final_root.targets.keyids.join(", ")
            ),
        ));
    }

    let mut metadata = Vec::new();
    for (root, bytes) in roots {
        // Zero-padded, so that path order (the bundle's order) is version
        // order: the isolated side applies the chain as it reads it.
        let name = format!("{:010}.root.json", root.version);
        metadata.push(metadata_file(
            EntryKind::Root,
            &name,
            bytes,
            &limits,
            Path::new(&name),
        )?);
    }
    let layout_bytes = read_limited(&a.layout, limits.max_metadata_entry_bytes, "layout")?;
    let product_step = if check_chain {
        precheck_layout(a, &layout_bytes)?
    } else {
        a.product_step.clone().unwrap_or_default()
    };
    let layout_name = a
        .layout
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            Error::usage(
                "the layout file name is not valid UTF-8",
                "rename the layout",
            )
        })?;
    metadata.push(metadata_file(
        EntryKind::Layout,
        layout_name,
        layout_bytes,
        &limits,
        &a.layout,
    )?);
    let mut layout_keyids = BTreeSet::new();
    for p in &a.layout_key {
        let pk = load_public_key(p)?;
        let id = keyid(&pk);
        if layout_keyids.insert(id.clone()) {
            metadata.push(metadata_file(
                EntryKind::LayoutKey,
                &format!("{id}.pub"),
                pk.to_spki_pem().into_bytes(),
                &limits,
                p,
            )?);
        }
    }
    for found in walk_tree(&a.links)? {
        let bytes = read_limited(&found.file, limits.max_metadata_entry_bytes, "link")?;
        metadata.push(metadata_file(
            EntryKind::Link,
            &found.rel,
            bytes,
            &limits,
            &found.file,
        )?);
    }
    let mut seen = BTreeSet::new();
    for p in &a.attestation {
        let name = p.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            Error::usage(
                format!("{} has no usable file name", p.display()),
                "rename it",
            )
        })?;
        if !seen.insert(name.to_owned()) {
            return Err(Error::usage(
                format!("two attestations are named {name}"),
                "rename one of them: attestations are carried by file name",
            ));
        }
        let bytes = read_limited(p, limits.max_metadata_entry_bytes, "attestation")?;
        metadata.push(metadata_file(
            EntryKind::Attestation,
            name,
            bytes,
            &limits,
            p,
        )?);
    }

    let mut artifacts = Vec::new();
    if let Some(dir) = &a.artifacts {
        for f in walk_tree(dir)? {
            artifacts.push(ArtifactSource {
                kind: EntryKind::Artifact,
                path: bundle_path(&f.rel, &limits, &f.file)?,
                file: f.file,
                size: f.size,
                mode: f.mode,
            });
        }
    }
    // Images: manifests into the head, blobs into the payload, each digest
    // once however many images share it. Archives are extracted into a
    // scratch directory beside the output (removed at the end).
    let scratch = tempfile::Builder::new()
        .prefix(".airlock-images-")
        .tempdir_in(crate::fsutil::parent_dir(&a.out))
        .map_err(|e| {
            Error::env(
                "write-failed",
                format!("cannot create a scratch directory: {e}"),
                "check permissions and free space beside --out",
            )
        })?;
    let mut images = Vec::new();
    let mut documents = std::collections::BTreeMap::new();
    let mut blobs = std::collections::BTreeMap::new();
    if a.registry_conn.insecure_plain_http && a.image.iter().any(|i| i.starts_with("docker://")) {
        crate::cmd::warn(crate::cmd::PLAIN_HTTP_PULL);
    }
    for spec in &a.image {
        let source = crate::oci::source::Source::parse(spec)?;
        let c = crate::oci::source::collect(
            &source,
            &a.platform,
            scratch.path(),
            &a.registry_conn.connection(),
        )?;
        images.push(airlock_bundle::Image {
            name: c.name,
            tag: c.tag,
            digest: c.digest.0,
            platforms: c.platforms,
        });
        documents.extend(c.documents);
        blobs.extend(c.blobs);
    }
    if !images.is_empty()
        && let Some(x) = artifacts.iter().find(|x| {
            x.path.as_str() == crate::verifier::IMAGE_DIR || x.path.as_str().starts_with("oci/")
        })
    {
        return Err(Error::usage(
            format!(
                "artifact {} is where the isolated side unpacks images (oci/)",
                x.path
            ),
            "rename it: a bundle with images carries no artifact under oci/",
        ));
    }
    for (d, bytes) in documents {
        metadata.push(MetadataFile {
            kind: EntryKind::ImageManifest,
            path: bundle_path(&format!("sha256/{}", d.hex()), &limits, Path::new("image"))?,
            bytes,
            mode: airlock_bundle::BLOB_MODE,
        });
    }
    for (d, (size, file)) in blobs {
        artifacts.push(ArtifactSource {
            kind: EntryKind::Blob,
            path: bundle_path(&format!("sha256/{}", d.hex()), &limits, &file)?,
            file,
            size,
            mode: airlock_bundle::BLOB_MODE,
        });
    }
    let total: u64 = artifacts.iter().map(|x| x.size).sum();
    let workers = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(1))
            .unwrap_or(1)
    });
    let opts = WriteOptions {
        level: a.level,
        workers,
        mtime: created,
        limits: limits.clone(),
    };

    // The manifest as it will be, but with zero digests: it fixes the exact
    // size of the head frame (so the payload is written in place, once), and
    // checks the manifest's rules before any artifact is read.
    let supply_chain = SupplyChain {
        layout_keyids: layout_keyids.into_iter().collect(),
        product_step: Some(product_step),
    };
    let metadata_entries: Vec<Entry> = metadata.iter().map(MetadataFile::entry).collect();
    let build_manifest = |artifact_entries: Vec<Entry>, payload_sha256: [u8; 32]| {
        let mut entries = metadata_entries.clone();
        entries.extend(artifact_entries);
        Manifest::new(
            ManifestFields {
                channel: a.channel.clone(),
                sequence,
                created,
                expires,
                payload_sha256,
                supply_chain: supply_chain.clone(),
                images: images.clone(),
                entries,
                names: if a.posix_names {
                    NameRule::PosixOnly
                } else {
                    NameRule::Portable
                },
            },
            &limits,
        )
        .map_err(|e| match e {
            airlock_bundle::Error::Manifest(m) => Error::usage(
                format!("cannot build the manifest: {m}"),
                "check --channel (1-64 of A-Z a-z 0-9 . _ -), --product-step and --expires",
            ),
            e @ (airlock_bundle::Error::PathNotPortable { .. }
            | airlock_bundle::Error::PathCaseCollision { .. }
            | airlock_bundle::Error::PathNormalizationCollision { .. }) => Error::InputNames(e),
            airlock_bundle::Error::ImageNotCarried { .. } => Error::usage(
                format!("cannot build the manifest: {e}"),
                "report this as a bug",
            ),
            other => other.into(),
        })
    };
    let provisional = build_manifest(
        artifacts
            .iter()
            .map(ArtifactSource::planned_entry)
            .collect(),
        [0; 32],
    )?;
    let head_len = head_frame_len(&provisional, &probe_sigs.zeroed(), &metadata);
    // With --split, the bundle is first written to a temporary file beside
    // the volumes, then cut into them (and consumed) at the end; a volume
    // size too small for even the head is refused before any artifact is read.
    let mut split = match split {
        Some(size) => {
            plan_split(head_len, head_len, size, signers.len(), &limits)?;
            Some((size, TempBundle::beside(&a.out)))
        }
        None => None,
    };
    let out_path = split.as_ref().map_or(a.out.clone(), |(_, t)| t.0.clone());
    let out = out_path.as_path();

    let bar = bytes_bar(total, "pack", quiet);
    let payload = write_payload(out, &artifacts, head_len, &opts, &|n| bar.inc(n));
    bar.finish_and_clear();
    let payload = payload?;
    airlock_hsm::fault::point("pack-payload-written");
    // The whole supply chain, as the isolated side will check it, over the
    // digests just computed: a failing chain never leaves this machine.
    // (Dropping the payload removes the partial bundle.)
    let mut chain = BundleChain::default();
    for m in &metadata {
        chain.add(&m.entry(), m.bytes.clone());
    }
    let chain_verdict = if check_chain {
        verify_bundle_chain(
            &chain,
            &supply_chain,
            payload.entries(),
            &images,
            &ChainContext {
                root: &final_root,
                seen: None,
                channel: &a.channel,
                time: now(),
            },
        )?
    } else {
        ChainVerdict {
            product_step: supply_chain.product_step.clone().unwrap_or_default(),
            steps: 0,
            inspections: 0,
            layout_expires: String::new(),
            attestations: 0,
            // Only the demo's rogue bundle gets here, and the demo says so
            // in its own words.
            warnings: Vec::new(),
            layout: Default::default(),
        }
    };
    // Sigstore bundles among the attestations: each must sign an artifact
    // of the bundle; the isolated side verifies them against its pin.
    crate::sigstore::carried::Carried::gather(chain.attestations(), payload.entries())
        .check_bound()?;
    for w in &chain_verdict.warnings {
        crate::cmd::warn(w);
    }
    // What expires before the bundle makes it useless from then on: the
    // isolated side checks the layout and the final root at import time.
    // (Links have no expiry in in-toto.)
    for (what, when) in [
        ("the layout", chain_verdict.layout.expires),
        ("the final root", final_root.expires),
    ] {
        if check_chain && when < expires {
            crate::cmd::warn(&format!(
                "{what} expires at {}, before the bundle ({}): from then on the isolated side refuses the bundle",
                format_utc(when),
                format_utc(expires)
            ));
        }
    }
    let payload_sha256 = payload.sha256();
    let manifest = build_manifest(payload.entries().to_vec(), payload_sha256)?;
    let manifest_bytes = manifest.encode();
    let msg = signing_message(&manifest_bytes);
    let signatures = Signatures(
        signers
            .iter()
            .map(|s| {
                Ok(ManifestSignature {
                    keyid: keyid(s.public_key()),
                    sig: s.sign(&msg)?,
                })
            })
            .collect::<Result<Vec<_>, airlock_hsm::Error>>()?,
    );
    let signed_by = check_signatures(&final_root, &manifest_bytes, &signatures)?;
    // ECDSA (DER) and some RSA signatures vary in length by a few bytes, so
    // the head frame may differ from the size reserved from the probe
    // signatures. Then the payload is written again at the right offset:
    // the same bytes, so the same digest and the same signed manifest.
    let actual_head_len = head_frame_len(&manifest, &signatures, &metadata);
    let payload = if actual_head_len == head_len {
        payload
    } else {
        drop(payload);
        let bar = bytes_bar(total, "pack (again)", quiet);
        let again = write_payload(out, &artifacts, actual_head_len, &opts, &|n| bar.inc(n));
        bar.finish_and_clear();
        let again = again?;
        if again.sha256() != payload_sha256 {
            return Err(Error::usage(
                "an artifact changed while packing",
                "pack again once the artifacts are no longer being written",
            ));
        }
        again
    };
    finish_bundle(out, &manifest_bytes, &signatures, &metadata, payload, &opts)?;
    if let Some((_, t)) = split.as_mut() {
        t.hold();
    }

    let mut o = Outcome::default();
    let (written, size) = match &split {
        Some((volume_size, _)) => {
            let w = split_bundle_file(
                out,
                &manifest.bundle_id,
                actual_head_len,
                &a.out,
                *volume_size,
                &signers,
                true,
                quiet,
            )?;
            let size = w.index.total_file_len();
            o.line(format!(
                "packed {} … {} ({} volumes, {size} bytes)",
                w.paths[0].display(),
                w.paths[w.paths.len() - 1].display(),
                w.paths.len()
            ));
            (Some(w), size)
        }
        None => {
            let size = std::fs::metadata(&a.out).map(|m| m.len()).unwrap_or(0);
            o.line(format!("packed {} ({} bytes)", a.out.display(), size));
            (None, size)
        }
    };
    o.line(format!("bundle     {}", manifest.bundle_id));
    o.line(format!(
        "channel    {} sequence {}",
        manifest.channel, manifest.sequence
    ));
    o.line(format!(
        "created    {}  expires {}",
        format_utc(created),
        format_utc(expires)
    ));
    o.line(format!(
        "signed by  {} (targets of root version {})",
        signed_by.join(", "),
        final_root.version
    ));
    o.line(format!(
        "chain      in-toto layout holds: {} steps, {} inspections evaluated; artifacts are products of step '{}'",
        chain_verdict.steps, chain_verdict.inspections, chain_verdict.product_step
    ));
    o.line(format!(
        "content    {} artifacts, {} bytes; {} metadata entries",
        manifest.artifact_count(),
        manifest.artifact_bytes(),
        metadata.len()
    ));
    for i in &manifest.images {
        o.line(format!(
            "image      {} sha256:{} [{}]",
            i.reference(),
            hex::encode(i.digest),
            i.platforms.join(", ")
        ));
    }
    if let (Some(w), Some((volume_size, _))) = (&written, &split) {
        describe_volumes(&mut o, w, *volume_size);
    }
    let bundle = written
        .as_ref()
        .map_or(a.out.clone(), |w| w.paths[0].clone());
    o.field("bundle", bundle.display().to_string())
        .field("bundle_id", manifest.bundle_id.clone())
        .field("size", size)
        .field("channel", manifest.channel.clone())
        .field("sequence", manifest.sequence)
        .field("created", format_utc(created))
        .field("expires", format_utc(expires))
        .field("signers", signed_by)
        .field("root_version", final_root.version)
        .field("product_step", chain_verdict.product_step.clone())
        .field("posix_names", a.posix_names)
        .field(
            "images",
            manifest
                .images
                .iter()
                .map(|i| format!("{}@sha256:{}", i.reference(), hex::encode(i.digest)))
                .collect::<Vec<_>>(),
        )
        .field("artifacts", manifest.artifact_count())
        .field("artifact_bytes", manifest.artifact_bytes());
    Ok(o)
}
