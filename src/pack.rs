//! The pack pipeline: the connected side's one operation that produces a
//! bundle (`airlock pack` is its command line, `cmd::pack`).
//!
//! Inputs are checked before anything heavy is done: the roots must form a
//! valid chain whose final root is unexpired, and the signing keys must meet
//! its targets threshold — a bundle the isolated side would refuse is never
//! built. Artifacts are then read once: hashed and compressed in the same
//! pass; the manifest is signed; the bundle appears atomically at `out`.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use airlock_bundle::{
    ArtifactSource, BundlePath, Entry, EntryKind, Limits, Manifest, ManifestFields,
    ManifestSignature, MetadataFile, NameRule, Signatures, SupplyChain, TEMP_PREFIX, WriteOptions,
    WrittenVolumes, finish_bundle, head_frame_len, is_volume, plan_split, signing_message,
    write_payload,
};
use airlock_hsm::Signer;

use crate::error::Error;
use crate::fsutil::read_limited;
use crate::intoto::IntotoError;
use crate::intoto::bundle::{
    BundleChain, ChainContext, ChainInspections, ChainVerdict, verify_bundle_chain,
};
use crate::intoto::inspection::{Contents, Need, read_content};
use crate::intoto::verify::{LayoutKey, parse_layout};
use crate::keys::{
    key_scheme, keyid, listed_under_other_scheme, load_public_key, load_signer, respell,
    under_other_rsa_scheme,
};
use crate::policy::check_signatures;
use crate::progress::Progress;
use crate::timefmt::{format_utc, now};
use crate::trust_anchor::read_root;
use crate::tuf::{Root, apply_chain};
use crate::verifier::InspectionPolicy;
use crate::volumes::{SplitSource, split_bundle_file};
use crate::walk::walk_tree;

/// What to pack, and how (`airlock pack`'s flags, parsed).
#[derive(Debug, Clone)]
pub struct PackRequest {
    /// The bundle file, or with `split` the volumes' name.
    pub out: PathBuf,
    /// Replace an existing `out` that is a regular file but not a bundle.
    pub force: bool,
    /// Signing keys (PEM files or `pkcs11:` URIs) of the final root's
    /// targets role.
    pub key: Vec<String>,
    /// The root chain, any order.
    pub root: Vec<PathBuf>,
    /// The in-toto layout.
    pub layout: PathBuf,
    /// The layout's public keys.
    pub layout_key: Vec<PathBuf>,
    /// The directory of link metadata.
    pub links: PathBuf,
    /// The directory of artifacts.
    pub artifacts: Option<PathBuf>,
    /// Container images (`oci:` / `docker-archive:` / registry references).
    pub image: Vec<String>,
    /// Platforms of multi-platform images to carry.
    pub platform: Vec<String>,
    /// How to reach a registry, for `docker://` images.
    pub registry: crate::oci::registry::Connection,
    /// The bundle's channel.
    pub channel: String,
    /// Its sequence (default: its creation time).
    pub sequence: Option<u64>,
    /// How long after creation it expires (seconds).
    pub lifetime: u64,
    /// Cut into volumes of at most this many bytes.
    pub split: Option<u64>,
    /// Attestations to carry.
    pub attestation: Vec<PathBuf>,
    /// The creation time (default: now).
    pub source_date_epoch: Option<u64>,
    /// The layout step whose products the artifacts are (default: the
    /// last).
    pub product_step: Option<String>,
    /// The zstd level.
    pub level: i32,
    /// Compression threads (default: the CPUs).
    pub threads: Option<u32>,
    /// Which names the bundle may carry.
    pub names: NameRule,
    /// Pack a delta of this base: a bundle file (or a split bundle's first
    /// volume) or a signed manifest (`manifest.cbor`, as unpack delivers it
    /// in `DEST.airlock-metadata/`). Read, not verified (SPEC.md 5.7).
    pub base: Option<PathBuf>,
    /// How the layout's inspections are evaluated (`--run-inspections`).
    pub inspections: crate::verifier::InspectionPolicy,
    /// The enclaves the bundle is directed to (`--for`, checked ids,
    /// sorted, no duplicates); empty for any enclave.
    pub enclaves: Vec<String>,
}

/// A packed bundle.
#[derive(Debug)]
pub struct Packed {
    /// Its signed manifest.
    pub manifest: Manifest,
    /// With `split`: the volumes written, and their size limit.
    pub volumes: Option<(WrittenVolumes, u64)>,
    /// Bytes written (all volumes).
    pub size: u64,
    /// When it was created.
    pub created: u64,
    /// When it expires.
    pub expires: u64,
    /// The keyids whose signatures count.
    pub signed_by: Vec<String>,
    /// The final root's version.
    pub root_version: u64,
    /// What the supply-chain check established.
    pub chain: ChainVerdict,
    /// How many metadata entries it carries.
    pub metadata_entries: usize,
}

/// Whether the supply chain is checked before the bundle is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChainCheck {
    /// Always, except on the [`danger`] path.
    Enforce,
    /// The demo's rogue bundle.
    Skip,
}

/// Packs `a`: reports bytes to `progress` and hands warnings to `warn`
/// (the command prints them).
pub fn pack(
    a: &PackRequest,
    progress: &dyn Progress,
    warn: &dyn Fn(&str),
) -> Result<Packed, Error> {
    build(a, progress, warn, ChainCheck::Enforce)
}

/// Packing what the shipping command never packs.
pub mod danger {
    use super::{ChainCheck, Error, PackRequest, Packed, Progress, build};

    /// Packs `a` WITHOUT the supply-chain check: a bundle a malicious
    /// release-key holder could build with their own tool. Only the demo
    /// uses it, to show the isolated side refusing such a bundle; no flag
    /// reaches it.
    pub fn pack_without_chain_check(
        a: &PackRequest,
        progress: &dyn Progress,
        warn: &dyn Fn(&str),
    ) -> Result<Packed, Error> {
        build(a, progress, warn, ChainCheck::Skip)
    }
}

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

/// The directory `out` is written in.
pub fn out_dir(out: &Path) -> &Path {
    match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Which existing regular file `--out` may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replace {
    /// Only an earlier bundle (the default).
    OnlyABundle,
    /// Any regular file (`--force`).
    AnyFile,
}

/// Refuses an `--out` that exists and is not a regular file (a device, a
/// link, a directory, a FIFO: never replaced), or that is a regular file
/// but not a bundle (unless [`Replace::AnyFile`], `--force`): a mistyped
/// `--out` must not destroy a journal, a key or a device.
fn check_out(out: &Path, replace: Replace) -> Result<(), Error> {
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
    if replace == Replace::AnyFile {
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
pub fn sweep_stale_temps(out: &Path) {
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
fn precheck_layout(a: &PackRequest, bytes: &[u8]) -> Result<String, Error> {
    let (doc, layout) = parse_layout(bytes, &a.layout.display().to_string())?;
    for p in &a.layout_key {
        let pk = load_public_key(p)?;
        let key = LayoutKey::from_public(&pk);
        let ids: Vec<&str> = key.keyids.iter().map(String::as_str).collect();
        if !doc.signed_by(&ids, &key.key) {
            // Signed by the same RSA key under the other scheme: say how to
            // name it.
            if let Some(other) = under_other_rsa_scheme(&pk) {
                let o = LayoutKey::from_public(&other);
                let ids: Vec<&str> = o.keyids.iter().map(String::as_str).collect();
                if doc.signed_by(&ids, &o.key) {
                    let (spec, scheme) = (p.display().to_string(), key_scheme(&other));
                    return Err(Error::usage(
                        format!(
                            "--layout-key {spec} signed the layout under the {scheme} scheme, but was \
                             named as a key of the {} scheme",
                            key_scheme(&pk)
                        ),
                        format!("name it as --layout-key '{}'", respell(&spec, scheme)),
                    ));
                }
            }
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

/// The bundle's creation and expiry times and its sequence, checked: it
/// must not have expired already, and the sequence must be one the
/// isolated side accepts. Warns about a clock-based sequence and about
/// POSIX-only names.
fn dates_and_sequence(a: &PackRequest, warn: &dyn Fn(&str)) -> Result<(u64, u64, u64), Error> {
    let created = a.source_date_epoch.unwrap_or_else(now);
    let expires = created
        .checked_add(a.lifetime)
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
        warn(&format!(
            "no --sequence: the bundle's sequence on channel {} is its creation time, {sequence}; once a channel has clock-based numbers, a later explicit --sequence below them is refused as a rollback, so keep to one kind per channel",
            a.channel
        ));
    }
    if a.names == NameRule::PosixOnly {
        warn(
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
    Ok((created, expires, sequence))
}

/// Signs a probe with every signer and checks the signatures as the
/// isolated side will check the manifest's: a cheap early check, so that a
/// wrong key is caught before any artifact is read. Returns the probe's
/// signatures (their sizes fix the head frame's).
fn probe_signers(
    specs: &[String],
    signers: &[Box<dyn Signer>],
    final_root: &Root,
) -> Result<Signatures, Error> {
    let probe = b"airlock pack key check";
    for (spec, s) in specs.iter().zip(signers) {
        if let Some(scheme) = listed_under_other_scheme(s.public_key(), final_root.keys.values()) {
            return Err(Error::usage(
                format!(
                    "--key {spec} is listed in root version {} under the {scheme} scheme, but was \
                     named as a key of the {} scheme",
                    final_root.version,
                    key_scheme(s.public_key())
                ),
                format!("name it as --key '{}'", respell(spec, scheme)),
            ));
        }
    }
    let probe_sigs = sign_message(signers, &signing_message(probe))?;
    if let Err(rejection) = check_signatures(final_root, probe, &probe_sigs) {
        return Err(Error::usage(
            format!("these --key signers cannot sign this bundle: {rejection}"),
            format!(
                "sign with keys of the targets role of root version {} (keyids {})",
                final_root.version,
                final_root.targets.keyids.join(", ")
            ),
        ));
    }
    Ok(probe_sigs)
}

/// Every signer's signature over `msg`.
fn sign_message(signers: &[Box<dyn Signer>], msg: &[u8]) -> Result<Signatures, Error> {
    Ok(Signatures(
        signers
            .iter()
            .map(|s| {
                Ok(ManifestSignature {
                    keyid: keyid(s.public_key()),
                    sig: s.sign(msg)?,
                })
            })
            .collect::<Result<Vec<_>, airlock_hsm::Error>>()?,
    ))
}

/// The head's metadata entries: the roots (in version order), the layout
/// (checked first unless on the [`danger`] path; its product step
/// returned), its keys (their keyids returned), the links and the
/// attestations.
fn collect_metadata(
    a: &PackRequest,
    roots: RootFiles,
    limits: &Limits,
    chain_check: ChainCheck,
) -> Result<(Vec<MetadataFile>, String, BTreeSet<String>), Error> {
    let mut metadata = Vec::new();
    for (root, bytes) in roots {
        // Zero-padded, so that path order (the bundle's order) is version
        // order: the isolated side applies the chain as it reads it.
        let name = format!("{:010}.root.json", root.version);
        metadata.push(metadata_file(
            EntryKind::Root,
            &name,
            bytes,
            limits,
            Path::new(&name),
        )?);
    }
    let layout_bytes = read_limited(&a.layout, limits.max_metadata_entry_bytes, "layout")?;
    let product_step = match chain_check {
        ChainCheck::Enforce => precheck_layout(a, &layout_bytes)?,
        ChainCheck::Skip => a.product_step.clone().unwrap_or_default(),
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
        limits,
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
                limits,
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
            limits,
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
            limits,
            p,
        )?);
    }
    Ok((metadata, product_step, layout_keyids))
}

/// The images: pulled or read into `scratch`, their manifests added to
/// the head's `metadata` and their blobs to the payload's `artifacts`, each
/// digest once however many images share it. A bundle with images carries
/// no artifact under `oci/`, where the isolated side unpacks them.
fn collect_images(
    a: &PackRequest,
    scratch: &Path,
    limits: &Limits,
    metadata: &mut Vec<MetadataFile>,
    artifacts: &mut Vec<ArtifactSource>,
) -> Result<Vec<airlock_bundle::Image>, Error> {
    let mut images = Vec::new();
    let mut documents = std::collections::BTreeMap::new();
    let mut blobs = std::collections::BTreeMap::new();
    for spec in &a.image {
        let source = crate::oci::source::Source::parse(spec)?;
        let c = crate::oci::source::collect(&source, &a.platform, scratch, &a.registry)?;
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
            path: bundle_path(&format!("sha256/{}", d.hex()), limits, Path::new("image"))?,
            bytes,
            mode: airlock_bundle::BLOB_MODE,
        });
    }
    for (d, (size, file)) in blobs {
        artifacts.push(ArtifactSource {
            kind: EntryKind::Blob,
            path: bundle_path(&format!("sha256/{}", d.hex()), limits, &file)?,
            file,
            size,
            mode: airlock_bundle::BLOB_MODE,
        });
    }
    Ok(images)
}

/// The artifacts inspections read, read from the files being packed (an
/// artifact that cannot be opened has no reading: the inspection is then
/// refused as unevaluable).
///
/// A delta does not carry what its base has: such an artifact is read from
/// the artifact directory (`dir`), where it was hashed.
fn read_for_inspections(
    needs: &[Need],
    artifacts: &[ArtifactSource],
    dir: Option<&std::path::Path>,
) -> Contents {
    let mut contents = Contents::new();
    for need in needs {
        let source = artifacts
            .iter()
            .find(|s| s.kind == EntryKind::Artifact && s.path.as_str() == need.artifact)
            .map(|s| s.file.clone())
            .or_else(|| dir.map(|d| d.join(&need.artifact)));
        if let Some(Ok(mut f)) = source.map(std::fs::File::open) {
            contents.insert(need.clone(), read_content(need.read, &mut f));
        }
    }
    contents
}

fn build(
    a: &PackRequest,
    progress: &dyn Progress,
    warn: &dyn Fn(&str),
    chain_check: ChainCheck,
) -> Result<Packed, Error> {
    crate::fsutil::ensure_parent(&a.out)?;
    if a.split.is_none() {
        check_out(
            &a.out,
            if a.force {
                Replace::AnyFile
            } else {
                Replace::OnlyABundle
            },
        )?;
    }
    sweep_stale_temps(&a.out);
    let _cleanup = crate::cleanup::on_signal_remove_prefixed(
        out_dir(&a.out),
        &format!("{TEMP_PREFIX}{}-", std::process::id()),
    );
    let split = a.split;
    let limits = Limits::default();
    let (created, expires, sequence) = dates_and_sequence(a, warn)?;

    let signers: Vec<Box<dyn Signer>> = a
        .key
        .iter()
        .map(|k| load_signer(k))
        .collect::<Result<_, _>>()?;
    // The final root must still be valid when the bundle arrives, not only at
    // the (possibly old) creation time.
    let (roots, final_root) = load_roots(&a.root, created.max(now()))?;
    let probe_sigs = probe_signers(&a.key, &signers, &final_root)?;

    let (mut metadata, product_step, layout_keyids) =
        collect_metadata(a, roots, &limits, chain_check)?;

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
            Error::from(crate::fsutil::FsError::Write {
                what: "create a scratch directory (beside --out)".into(),
                source: e,
            })
        })?;
    let images = collect_images(a, scratch.path(), &limits, &mut metadata, &mut artifacts)?;
    // A delta: what the base has (by digest) stays behind, referenced.
    let (artifacts, delta) = match &a.base {
        Some(path) => {
            let base = read_base(path, &a.channel, sequence, &limits)?;
            split_against_base(artifacts, base, progress, warn)?
        }
        None => (artifacts, None),
    };
    let from_base: Vec<Entry> = delta
        .as_ref()
        .map_or(Vec::new(), |d| d.base.entries.clone());
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
        let fields = ManifestFields {
            channel: a.channel.clone(),
            sequence,
            created,
            expires,
            payload_sha256,
            supply_chain: supply_chain.clone(),
            images: images.clone(),
            entries,
            names: a.names,
            enclaves: a.enclaves.clone(),
        };
        match &delta {
            Some(d) => Manifest::new_delta(fields, d.base.clone(), &limits),
            None => Manifest::new(fields, &limits),
        }
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
    // A payload of more than 64 MiB of tar stream is cut into frames
    // (bundle-format/SPEC.md 5.8): the index's length is known from the
    // entries, so the head's length is planned with it.
    let planned_frames = provisional.planned_frames();
    let provisional = provisional.with_frames(planned_frames, &limits)?;
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

    progress.start("pack", total);
    let payload = write_payload(out, &artifacts, head_len, &opts, &|n| progress.advance(n));
    progress.finish();
    let payload = payload?;
    airlock_hsm::fault::point("pack-payload-written");
    if let Some(d) = &delta {
        d.check_unchanged(payload.entries())?;
    }
    // The whole release: for a delta, what it carries and what it takes
    // from its base. The supply chain is checked over all of it.
    let mut release_entries: Vec<Entry> = payload.entries().to_vec();
    release_entries.extend(from_base.iter().cloned());
    release_entries.sort_by(|x, y| (x.kind, x.path.as_str()).cmp(&(y.kind, y.path.as_str())));
    // The whole supply chain, as the isolated side will check it, over the
    // digests just computed: a failing chain never leaves this machine.
    // (Dropping the payload removes the partial bundle.)
    let mut chain = BundleChain::default();
    for (m, entry) in metadata.iter().zip(&metadata_entries) {
        chain.add(entry, &m.bytes);
    }
    let chain_verdict = if chain_check == ChainCheck::Enforce {
        let check = |inspections| {
            verify_bundle_chain(
                &chain,
                &supply_chain,
                &release_entries,
                &images,
                &ChainContext {
                    root: &final_root,
                    seen: None,
                    channel: &a.channel,
                    time: now(),
                    inspections,
                },
            )
        };
        match a.inspections {
            InspectionPolicy::Run { timeout } => {
                // Images only: the commands run in an empty directory.
                let empty = tempfile::tempdir().map_err(|source| {
                    Error::from(crate::fsutil::FsError::Write {
                        what: "create a scratch directory for --run-inspections (TMPDIR)".into(),
                        source,
                    })
                })?;
                let dir = a.artifacts.as_deref().unwrap_or(empty.path());
                check(ChainInspections::Run { dir, timeout })?
            }
            InspectionPolicy::Evaluate => {
                let first = check(ChainInspections::Metadata)?;
                if first.pending_inspections.is_empty() {
                    first
                } else {
                    // Archives and checksum files read from the files just
                    // packed; a file that changed since is refused (its
                    // digest is held to the packed one).
                    let contents = read_for_inspections(
                        &first.pending_inspections,
                        &artifacts,
                        a.artifacts.as_deref(),
                    );
                    check(ChainInspections::Contents(&contents))?
                }
            }
        }
    } else {
        ChainVerdict {
            product_step: supply_chain.product_step.clone().unwrap_or_default(),
            steps: 0,
            inspections: 0,
            inspection_results: Vec::new(),
            pending_inspections: Vec::new(),
            layout_expires: String::new(),
            attestations: 0,
            attested_subjects: 0,
            attestable_subjects: 0,
            // Only the demo's rogue bundle gets here, and the demo says so
            // in its own words.
            warnings: Vec::new(),
            layout: Default::default(),
            statements: Vec::new(),
        }
    };
    // Sigstore bundles among the attestations: each must sign an artifact
    // or an image of the bundle; the isolated side verifies them against
    // its pin.
    crate::sigstore::carried::Carried::gather(chain.attestations(), &release_entries, &images)
        .check_bound()?;
    for w in &chain_verdict.warnings {
        warn(w);
    }
    // What expires before the bundle makes it useless from then on: the
    // isolated side checks the layout and the final root at import time.
    // (Links have no expiry in in-toto.)
    for (what, when) in [
        ("the layout", chain_verdict.layout.expires),
        ("the final root", final_root.expires),
    ] {
        if chain_check == ChainCheck::Enforce && when < expires {
            warn(&format!(
                "{what} expires at {}, before the bundle ({}): from then on the isolated side refuses the bundle",
                format_utc(when),
                format_utc(expires)
            ));
        }
    }
    let payload_sha256 = payload.sha256();
    // The provisional manifest, checked whole when it was built, with the
    // digests and the frame index of the payload just written.
    let manifest = provisional
        .with_payload(payload.entries(), payload_sha256, &limits)?
        .with_frames(payload.frames().to_vec(), &limits)?;
    let manifest_bytes = manifest.encode();
    let msg = signing_message(&manifest_bytes);
    let signatures = sign_message(&signers, &msg)?;
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
        progress.start("pack (again)", total);
        let again = write_payload(out, &artifacts, actual_head_len, &opts, &|n| {
            progress.advance(n)
        });
        progress.finish();
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

    let (volumes, size) = match &split {
        Some((volume_size, _)) => {
            let w = split_bundle_file(
                out,
                &manifest.bundle_id,
                actual_head_len,
                &a.out,
                *volume_size,
                &signers,
                SplitSource::Consume,
                progress,
            )?;
            let size = w.index.total_file_len();
            (Some((w, *volume_size)), size)
        }
        None => (
            None,
            std::fs::metadata(&a.out).map(|m| m.len()).unwrap_or(0),
        ),
    };
    Ok(Packed {
        manifest,
        volumes,
        size,
        created,
        expires,
        signed_by,
        root_version: final_root.version,
        chain: chain_verdict,
        metadata_entries: metadata.len(),
    })
}

/// The base of a delta as pack sees it: its id and sequence, and the
/// digests of every artifact and blob of its full release.
#[derive(Debug)]
struct BaseRelease {
    bundle_id: String,
    sequence: u64,
    digests: std::collections::HashSet<[u8; 32]>,
}

fn base_unusable(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::operator(
        "delta-base-unusable",
        format!("--base {}: {why}", path.display()),
        "give --base the bundle (or its manifest.cbor) this release follows on the same channel",
    )
}

/// Reads the base of a delta (`--base`): a bundle (or a split bundle's
/// first volume), whose manifest is read but whose signatures are NOT
/// checked — this is the connected side, and the isolated side checks the
/// base against its own journal — or a signed manifest alone. The base
/// must be of `channel`, with a sequence below `sequence`.
fn read_base(
    path: &Path,
    channel: &str,
    sequence: u64,
    limits: &Limits,
) -> Result<BaseRelease, Error> {
    let mut magic = [0u8; 16];
    let head = std::fs::File::open(path)
        .and_then(|f| std::io::Read::read(&mut std::io::Read::take(f, 16), &mut magic))
        .map_err(|e| Error::input(path, e))?;
    let is_bundle =
        magic[..head].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) || is_volume(&magic[..head]);
    let manifest = if is_bundle {
        let mut input = crate::volumes::BundleInput::open(path, None)?;
        if let Some(set) = input.volumes() {
            set.read_unauthenticated();
        }
        airlock_bundle::BundleReader::open(input.take_reader(), limits.clone())
            .map_err(|e| base_unusable(path, e))?
            .manifest()
            .clone()
    } else {
        let bytes = read_limited(path, limits.max_manifest_bytes, "base manifest")?;
        Manifest::decode(&bytes, limits)
            .map_err(|e| base_unusable(path, format!("neither a bundle nor a manifest ({e})")))?
    };
    if manifest.channel != channel {
        return Err(base_unusable(
            path,
            format!(
                "bundle {} is on channel {}, not {channel}",
                manifest.bundle_id, manifest.channel
            ),
        ));
    }
    if manifest.sequence >= sequence {
        return Err(base_unusable(
            path,
            format!(
                "bundle {} has sequence {}, not below this bundle's {sequence}",
                manifest.bundle_id, manifest.sequence
            ),
        ));
    }
    let digests = manifest
        .full_release()
        .artifacts()
        .iter()
        .map(|e| e.sha256)
        .collect();
    Ok(BaseRelease {
        bundle_id: manifest.bundle_id,
        sequence: manifest.sequence,
        digests,
    })
}

/// A delta being packed: its `base` key, and the digests the carried
/// files had when they were compared with the base.
#[derive(Debug)]
struct Delta {
    base: airlock_bundle::Base,
    carried: std::collections::HashMap<(EntryKind, String), [u8; 32]>,
}

impl Delta {
    /// The payload just written must have hashed every carried file as it
    /// was when compared with the base.
    fn check_unchanged(&self, written: &[Entry]) -> Result<(), Error> {
        for e in written {
            if self.carried.get(&(e.kind, e.path.as_str().to_owned())) != Some(&e.sha256) {
                return Err(Error::usage(
                    format!("{} changed while packing", e.tar_path()),
                    "pack again once the artifacts are no longer being written",
                ));
            }
        }
        Ok(())
    }
}

/// Hashes every artifact (blobs are named by their digest) and splits them
/// into those the bundle carries and those it takes from `base`. With
/// nothing in common, the bundle is a full one (a warning says so).
fn split_against_base(
    artifacts: Vec<ArtifactSource>,
    base: BaseRelease,
    progress: &dyn Progress,
    warn: &dyn Fn(&str),
) -> Result<(Vec<ArtifactSource>, Option<Delta>), Error> {
    let total = artifacts
        .iter()
        .filter(|x| x.kind != EntryKind::Blob)
        .map(|x| x.size)
        .sum();
    progress.start("compare with base", total);
    let mut carried = Vec::new();
    let mut digests = std::collections::HashMap::new();
    let mut taken = Vec::new();
    for x in artifacts {
        let sha256 = match x.kind {
            EntryKind::Blob => x.planned_entry().sha256,
            _ => {
                let (sha256, size) = hash_file(&x.file, &|n| progress.advance(n))?;
                if size != x.size {
                    return Err(Error::usage(
                        format!("{} changed while packing", x.file.display()),
                        "pack again once the artifacts are no longer being written",
                    ));
                }
                sha256
            }
        };
        if base.digests.contains(&sha256) {
            taken.push(Entry {
                sha256,
                ..x.planned_entry()
            });
        } else {
            digests.insert((x.kind, x.path.as_str().to_owned()), sha256);
            carried.push(x);
        }
    }
    progress.finish();
    if taken.is_empty() {
        warn(&format!(
            "--base: no file of this release is in bundle {}; packing a full bundle",
            base.bundle_id
        ));
        return Ok((carried, None));
    }
    Ok((
        carried,
        Some(Delta {
            base: airlock_bundle::Base {
                bundle_id: base.bundle_id,
                sequence: base.sequence,
                entries: taken,
            },
            carried: digests,
        }),
    ))
}

/// SHA-256 and length of a file, streamed.
fn hash_file(path: &Path, advance: &dyn Fn(u64)) -> Result<([u8; 32], u64), Error> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::input(path, e))?;
    crate::fsutil::sha256_through(&mut f, &mut vec![0u8; 1 << 20], &mut |k| advance(k))
        .map_err(|e| Error::input(path, e))
}
