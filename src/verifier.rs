//! The isolated side's check of one bundle, in one streaming pass (the
//! steps of docs/isolated-side.md, "Verify and import"): anchor → carried roots → manifest signatures →
//! directed to this enclave → freshness → supply chain (in-toto, over the manifest's digests) → every
//! entry's size and digest. Artifact bytes go
//! to an [`ArtifactSink`]: nowhere for `verify`, a staging directory for
//! `unpack`.
use std::io::{Read, Write};

use airlock_bundle::{BundleReader, Entry, EntryKind, Limits, Manifest, NameRule};
use airlock_hsm::{Anchor, StoreState};
use sha2::{Digest, Sha256};

use crate::delta::base::{BaseImport, BaseProblems};
use crate::error::Error;
use crate::intoto::bundle::{
    BundleChain, ChainContext, ChainInspections, ChainVerdict, verify_bundle_chain,
};
use crate::intoto::inspection::tap::Taps;
use crate::oci::graph::{ImageGraph, check as check_images, digest_of};
use crate::policy::{check_directed, check_freshness, check_signatures};
use crate::tuf::root::{MAX_CARRIED_ROOTS, MAX_ROOT_BYTES};
use crate::tuf::{Root, RootChain, RootError};

/// Where verified artifact bytes go.
pub trait ArtifactSink {
    /// Receives the bundle's checked image graph (with the image manifests'
    /// bytes) and the exact manifest bytes, before any payload entry; the
    /// default ignores them.
    fn images(&mut self, _graph: &ImageGraph, _manifest_bytes: &[u8]) -> Result<(), Error> {
        Ok(())
    }

    /// Receives the bundle's metadata — every root, layout, layout key, link
    /// and attestation, as (entry, exact bytes), in manifest order — and the
    /// exact manifest bytes, once the supply chain holds and before any
    /// payload entry; the default ignores them.
    fn metadata(
        &mut self,
        _entries: &[(Entry, Vec<u8>)],
        _manifest_bytes: &[u8],
    ) -> Result<(), Error> {
        Ok(())
    }

    /// Offered once the bundle is authenticated and its supply chain
    /// holds, before any payload byte is read, when the import could resume
    /// (bundle-format/SPEC.md 8.1: a payload cut into frames, no delta, no
    /// inspection reading artifacts): the sink may keep
    /// what an interrupted import of the same bundle staged — each file
    /// re-hashed against `manifest`'s digest, nothing trusted — and say
    /// from which payload frame the read must go on
    /// ([`Manifest::resume_frame`]). The entries before that frame's first
    /// are then never offered to [`ArtifactSink::receive`]. The default
    /// keeps nothing.
    fn resume(&mut self, _manifest: &Manifest) -> Result<Option<Resumed>, Error> {
        Ok(None)
    }

    /// Receives one artifact: `copy` streams its bytes into the writer it is
    /// given and fails (with nothing trusted) if size or digest differ.
    fn receive(
        &mut self,
        entry: &Entry,
        copy: &mut dyn FnMut(&mut dyn Write) -> Result<(), airlock_bundle::Error>,
    ) -> Result<(), Error>;
}

/// Discards artifact bytes after checking them (`verify`).
#[derive(Debug, Default)]
pub struct Discard;

impl ArtifactSink for Discard {
    fn receive(
        &mut self,
        _entry: &Entry,
        copy: &mut dyn FnMut(&mut dyn Write) -> Result<(), airlock_bundle::Error>,
    ) -> Result<(), Error> {
        Ok(copy(&mut std::io::sink())?)
    }
}

/// What a sink kept of an interrupted import ([`ArtifactSink::resume`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resumed {
    /// The payload frame the read goes on from (0: from the start).
    pub frame: usize,
    /// Payload entries kept (re-hashed intact): the first `kept` of the
    /// manifest's payload entries, those before the frame's first.
    pub kept: u64,
    /// Their bytes.
    pub kept_bytes: u64,
    /// Files the interrupted import left that were not kept: short,
    /// changed, not the manifest's, or in a frame read again.
    pub discarded: u64,
    /// Where in the bundle the read goes on (bytes from its start);
    /// filled in by the verifier.
    pub offset: u64,
}

/// Opens the bundle again, positioned at a byte offset: how a resumed
/// import reads from a later payload frame.
pub type Reopen<'a> = &'a mut dyn FnMut(u64) -> Result<Box<dyn Read + Send>, Error>;

/// What a delta bundle took from its base (SPEC.md 5.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaTaken {
    /// The base's bundle id.
    pub base: String,
    /// Files (artifacts and blobs) taken from the base's import.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Timeout of an inspection command run with `--run-inspections`.
pub const INSPECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How a bundle's in-toto inspections are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectionPolicy {
    /// Built-in evaluators only, nothing run (the default); those that read
    /// an artifact (an archive, a checksum file) read it as it streams past.
    Evaluate,
    /// `--run-inspections`: the artifacts are also written to a private
    /// scratch directory and the layout's commands run there, without
    /// network access, each with `timeout`.
    Run {
        /// Per-command timeout.
        timeout: std::time::Duration,
    },
}

/// What an accepted bundle was.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Bundle id.
    pub bundle_id: String,
    /// Channel.
    pub channel: String,
    /// Sequence number.
    pub sequence: u64,
    /// Creation time.
    pub created: u64,
    /// Expiry.
    pub expires: u64,
    /// SHA-256 of the exact manifest bytes.
    pub manifest_sha256: String,
    /// Keyids whose signatures counted.
    pub signers: Vec<String>,
    /// Version of the root whose targets keys verified the manifest.
    pub root_version: u64,
    /// The new anchor, when the bundle carried a rotation.
    pub new_anchor: Option<Anchor>,
    /// Artifacts checked.
    pub artifacts: u64,
    /// Artifact bytes checked.
    pub artifact_bytes: u64,
    /// Metadata entries checked.
    pub metadata: u64,
    /// The verification time used.
    pub time: u64,
    /// What the supply-chain check established.
    pub supply_chain: ChainVerdict,
    /// The bundle is marked POSIX-only: its names may collide or be
    /// impossible on case-insensitive, normalizing or Windows filesystems.
    pub posix_names: bool,
    /// The bundle's container images, checked (empty without images).
    pub images: ImageGraph,
    /// The Sigstore bundles carried as attestations, with the artifacts'
    /// digests they must sign: checked against the store's pinned Sigstore
    /// policy (crate::sigstore::carried) before anything is committed.
    pub sigstore: crate::sigstore::carried::Carried,
    /// The verified manifest's full release ([`Manifest::full_release`]):
    /// for a delta, its carried entries and those taken from its base.
    pub manifest: Manifest,
    /// For a delta: its base, and what was taken from it.
    pub delta: Option<DeltaTaken>,
}

/// What the verifier had learnt about a bundle when it stopped: for the
/// journal's record of a refusal. Manifest fields are claims until
/// `authenticated` (a threshold of signatures verified).
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Size of the bundle file.
    pub bundle_size: Option<u64>,
    /// SHA-256 of the manifest bytes.
    pub manifest_sha256: Option<String>,
    /// The manifest's bundle id.
    pub bundle_id: Option<String>,
    /// Whether the manifest marks the bundle POSIX-only (`posix_names`).
    pub posix_names: Option<bool>,
    /// Its channel.
    pub channel: Option<String>,
    /// Its sequence number.
    pub sequence: Option<u64>,
    /// Its creation time.
    pub created: Option<u64>,
    /// Its expiry.
    pub expires: Option<u64>,
    /// Whether the manifest signatures met the threshold.
    pub authenticated: bool,
    /// Keyids whose signatures counted.
    pub signers: Vec<String>,
    /// Version of the final root.
    pub root_version: Option<u64>,
    /// Artifacts checked so far.
    pub artifacts: u64,
    /// Artifact bytes checked so far.
    pub artifact_bytes: u64,
    /// An interrupted import of this bundle was found and resumed.
    pub resumed: Option<Resumed>,
}

/// Whether the store accepted a bundle id ([`StoreState::ledger_contains`]).
pub type InLedger<'a> = &'a dyn Fn(&str) -> Result<bool, Error>;

/// Verifies the bundle read from `input` against `anchor` and `state` at
/// `time`, as received by the enclave `enclave` (the store's enclave id,
/// [`crate::policy::enclave_id`]), asking `in_ledger` whether the store
/// accepted the bundle only when its sequence is not above its channel's
/// last ([`check_freshness`]), streaming artifacts into `sink` (`seen` learns what it can as
/// the check goes), calling `authenticated` with the final root and the
/// manifest once the manifest's signatures and freshness have been checked
/// and before anything else is read: where a split bundle's volume index is
/// authenticated (`crate::volumes`). For a delta, `base` (called once the
/// manifest is authenticated) finds its base's import; the files taken
/// from it are streamed into `sink`, re-hashed against the delta's
/// manifest, and the supply chain, the images and the verdict are over the
/// full release.
#[allow(clippy::too_many_arguments)]
pub fn verify_bundle_with<R: Read + Send + 'static>(
    input: R,
    anchor: &Anchor,
    (state, enclave, in_ledger): (&StoreState, Option<&str>, InLedger<'_>),
    time: u64,
    limits: Limits,
    sink: &mut dyn ArtifactSink,
    seen: &mut Observed,
    authenticated: &mut dyn FnMut(&Root, &Manifest) -> Result<(), Error>,
    base: &dyn Fn(&Manifest) -> Result<Option<BaseImport>, Error>,
    inspections: InspectionPolicy,
    reopen: Option<Reopen<'_>>,
) -> Result<Verdict, Error> {
    // Step 1: the anchor. The store vouches for these bytes; if they do not
    // parse the store is damaged, which is the environment's fault.
    let trusted = crate::trust_anchor::anchored_root(anchor)?;

    if trusted.version != anchor.version {
        return Err(Error::AnchorVersionMismatch {
            recorded: anchor.version,
            anchored: trusted.version,
        });
    }

    let mut reader = BundleReader::open(input, limits)?;
    // Hashed once: the verdict and its receipt name the manifest by it.
    let manifest_sha256 = hex::encode(Sha256::digest(reader.manifest_bytes()));
    {
        let m = reader.manifest();
        seen.manifest_sha256 = Some(manifest_sha256.clone());
        seen.bundle_id = Some(m.bundle_id.clone());
        seen.channel = Some(m.channel.clone());
        seen.posix_names = Some(m.names == NameRule::PosixOnly);
        (seen.sequence, seen.created, seen.expires) =
            (Some(m.sequence), Some(m.created), Some(m.expires));
    }
    // Bound what is read before the signature check from the manifest
    // itself: at most MAX_CARRIED_ROOTS roots of at most MAX_ROOT_BYTES each,
    // applied one at a time so that only the current root is kept.
    let roots: Vec<&Entry> = reader
        .manifest()
        .metadata()
        .iter()
        .filter(|e| e.kind == EntryKind::Root)
        .collect();
    if roots.len() > MAX_CARRIED_ROOTS {
        return Err(RootError::TooManyRotations.into());
    }
    if let Some(big) = roots.iter().find(|e| e.size > MAX_ROOT_BYTES as u64) {
        return Err(RootError::TooLarge {
            size: usize::try_from(big.size).unwrap_or(usize::MAX),
            limit: MAX_ROOT_BYTES,
        }
        .into());
    }
    let root_count = roots.len();
    let mut chain = RootChain::new(trusted.clone());
    // The metadata the sink receives once the supply chain holds (bounded
    // like the reader's metadata: it is held in memory anyway).
    let mut delivered: Vec<(Entry, Vec<u8>)> = Vec::new();
    for _ in 0..root_count {
        // The reader yields metadata in manifest order, roots first.
        let Some(m) = reader.next_metadata()? else {
            return Err(Error::Internal(
                "the bundle reader ended before the roots".into(),
            ));
        };
        delivered.push((m.entry.clone(), m.bytes.clone()));
        chain.offer(Root::parse(&m.bytes)?, m.bytes)?;
    }
    // Steps 2-4, before anything else is read: the final root, a threshold
    // of its targets keys over the exact manifest bytes, freshness.
    let (final_root, rotated) = chain.finish(time)?;
    seen.root_version = Some(final_root.version);
    let signers = check_signatures(&final_root, reader.manifest_bytes(), reader.signatures())?;
    (seen.authenticated, seen.signers) = (true, signers.clone());
    // A directed bundle names the enclaves it is for: any other refuses it
    // before anything of it is written.
    check_directed(reader.manifest(), enclave)?;
    let freshness = check_freshness(reader.manifest(), state, time, in_ledger)?;
    authenticated(&final_root, reader.manifest())?;
    // A delta: its base must be an import of this store, before anything
    // else is read.
    let base_import = base(reader.manifest())?;
    let mut metadata = root_count as u64;
    let mut documents = std::collections::BTreeMap::new();
    while let Some(m) = reader.next_metadata()? {
        if m.entry.kind == EntryKind::ImageManifest {
            if let Some(d) = digest_of(&m.entry) {
                documents.insert(d, m.bytes);
            }
        } else {
            delivered.push((m.entry, m.bytes));
        }
        metadata += 1;
    }
    // The supply chain reads the metadata where it is held for delivery.
    let mut chain = BundleChain::default();
    for (entry, bytes) in &delivered {
        chain.add(entry, bytes);
    }
    // The images' graphs, from the signed manifest and the image manifests
    // just read: complete and consistent before any payload is decompressed.
    // Judged over the full release: for a delta, what it carries and what
    // it takes from its base.
    //
    // A delta's release is made here and kept; a full bundle's is the
    // reader's own manifest (but for the frame index), borrowed until the
    // payload is read and taken from the reader then: a manifest of
    // 20,000 entries is about 2 MB, held once.
    let merged = reader
        .manifest()
        .base
        .is_some()
        .then(|| reader.manifest().full_release());
    let release = merged.as_ref().unwrap_or(reader.manifest());
    let images = check_images(release, documents)?;
    check_image_paths(release)?;

    // Step 6: the supply chain, decided from the signed manifest's digests
    // and the metadata alone, before any payload byte is decompressed: a
    // signer without functionary keys cannot make the receiver stage the
    // payload. The payload is then held to those same digests. Inspections
    // that read an artifact's bytes (or run, with --run-inspections) are
    // left pending here and decided once the payload has streamed past.
    let sigstore = crate::sigstore::carried::Carried::gather(
        chain.attestations(),
        release.artifacts(),
        &release.images,
    );
    let chain_check = |release: &Manifest, inspections| {
        verify_bundle_chain(
            &chain,
            &release.supply_chain,
            release.artifacts(),
            &release.images,
            &ChainContext {
                root: &final_root,
                seen: state.layouts.get(&release.channel),
                channel: &release.channel,
                time,
                inspections,
            },
        )
    };
    let mut supply_chain = chain_check(
        release,
        match inspections {
            InspectionPolicy::Evaluate => ChainInspections::Metadata,
            InspectionPolicy::Run { .. } => ChainInspections::Defer,
        },
    )?;
    // Only then is anything written: the metadata (for delivery beside the
    // artifacts) and the images' manifests, into the sink's staging area.
    sink.metadata(&delivered, reader.manifest_bytes())?;
    sink.images(&images, reader.manifest_bytes())?;

    // Inspections that read an artifact (an archive, a checksum file) read
    // it as it streams past — a delta's files from its base included; with
    // --run-inspections every artifact is also written to a private scratch
    // directory, where the commands run.
    let mut taps = Taps::new(&supply_chain.pending_inspections);
    let scratch = match inspections {
        InspectionPolicy::Run { .. } => Some(inspection_scratch()?),
        InspectionPolicy::Evaluate => None,
    };
    let (mut artifacts, mut artifact_bytes) = (0u64, 0u64);
    // A delta's files from its base first: into the same staging area,
    // each re-hashed as it is copied; any that is gone or differs refuses
    // the delta (all of them named) before the payload is decompressed.
    let delta = match &base_import {
        None => None,
        Some(b) => {
            let mut problems = BaseProblems::default();
            for (entry, src) in &b.files {
                let path = entry.path.as_str().to_owned();
                let artifact = entry.kind == EntryKind::Artifact;
                let mut copy = match &scratch {
                    Some(dir) if artifact => Some(scratch_file(dir.path(), &path)?),
                    _ => None,
                };
                let found = problems.count();
                let received = sink.receive(entry, &mut |w| {
                    let copied = if artifact {
                        let mut tee = taps.wrap(&path, w);
                        match copy.as_mut() {
                            Some(f) => problems.copy(entry, &b.dir, src, &mut Both(&mut tee, f)),
                            None => problems.copy(entry, &b.dir, src, &mut tee),
                        }
                    } else {
                        problems.copy(entry, &b.dir, src, w)
                    };
                    copied.map_err(airlock_bundle::Error::Sink)
                });
                // A base file that is gone or differs failed its own copy
                // (nothing downstream took it as complete) and is named in
                // the refusal below; any other failure is the staging's.
                if let Err(e) = received
                    && problems.count() == found
                {
                    return Err(e);
                }
                artifacts += 1;
                artifact_bytes += entry.size;
            }
            problems.into_result(b)?;
            (seen.artifacts, seen.artifact_bytes) = (artifacts, artifact_bytes);
            Some(DeltaTaken {
                base: b.bundle_id.clone(),
                files: artifacts,
                bytes: artifact_bytes,
            })
        }
    };
    // An interrupted import of this bundle (SPEC.md 8.1): what it staged
    // intact is kept and the payload read from the first frame still
    // needed. Not for a delta (its base's files are staged first) nor when
    // inspections read artifacts (they must see every byte).
    let resumable = base_import.is_none()
        && taps.is_empty()
        && scratch.is_none()
        && !reader.manifest().frames.is_empty();
    let resumed = match reopen {
        Some(reopen) if resumable => match sink.resume(reader.manifest())? {
            Some(mut r) => {
                r.offset = reader.frame_offset(r.frame).ok_or_else(|| {
                    Error::Internal("a resumed import asked for a frame the bundle lacks".into())
                })?;
                seen.resumed = Some(r);
                let input = if r.frame > 0 {
                    Some(reopen(r.offset)?)
                } else {
                    None
                };
                Some((r, input))
            }
            None => None,
        },
        _ => None,
    };
    let mut payload = match resumed {
        Some((r, Some(input))) => {
            // The entries before the frame's first are the sink's, kept:
            // exactly those, by the cut the manifest fixes.
            let kept = reader
                .manifest()
                .frame_cuts()
                .get(r.frame)
                .map_or(0, |c| c.first_entry);
            if r.kept != kept as u64 {
                return Err(Error::Internal(
                    "the staging kept other entries than the frame's predecessors".into(),
                ));
            }
            for e in reader.manifest().artifacts().iter().take(kept) {
                artifacts += 1;
                artifact_bytes += e.size;
            }
            (seen.artifacts, seen.artifact_bytes) = (artifacts, artifact_bytes);
            reader.into_payload_from(r.frame, input)?
        }
        _ => reader.into_payload()?,
    };
    while let Some(entry) = payload.next_artifact()? {
        // Only artifacts are files under verification (image blobs are
        // not, and their paths live in another directory of the bundle).
        let path = entry.path.as_str().to_owned();
        let artifact = entry.kind == EntryKind::Artifact;
        let mut copy = match &scratch {
            Some(dir) if artifact => Some(scratch_file(dir.path(), &path)?),
            _ => None,
        };
        sink.receive(&entry, &mut |w| {
            if !artifact {
                return payload.copy_to(w);
            }
            let mut tee = taps.wrap(&path, w);
            match copy.as_mut() {
                Some(f) => payload.copy_to(&mut Both(&mut tee, f)),
                None => payload.copy_to(&mut tee),
            }
        })?;
        artifacts += 1;
        artifact_bytes += entry.size;
        (seen.artifacts, seen.artifact_bytes) = (artifacts, artifact_bytes);
    }
    // The inspections over what arrived, before anything is committed.
    let contents = taps.finish();
    let release = merged.as_ref().unwrap_or(payload.manifest());
    if let (InspectionPolicy::Run { timeout }, Some(dir)) = (inspections, &scratch) {
        supply_chain = chain_check(
            release,
            ChainInspections::Run {
                dir: dir.path(),
                timeout,
            },
        )?;
    } else if !supply_chain.pending_inspections.is_empty() {
        supply_chain = chain_check(release, ChainInspections::Contents(&contents))?;
    }
    drop(scratch);

    // Every check passed: an imported bundle is an intact replay.
    freshness.replay()?;
    let new_anchor = rotated.map(|bytes| Anchor::new(bytes, final_root.version));
    let manifest = match merged {
        Some(release) => release,
        None => payload.into_manifest().into_full_release(),
    };
    Ok(Verdict {
        delta,
        posix_names: manifest.names == NameRule::PosixOnly,
        bundle_id: manifest.bundle_id.clone(),
        channel: manifest.channel.clone(),
        sequence: manifest.sequence,
        created: manifest.created,
        expires: manifest.expires,
        manifest,
        manifest_sha256,
        signers,
        root_version: final_root.version,
        new_anchor,
        artifacts,
        artifact_bytes,
        metadata,
        time,
        supply_chain,
        images,
        sigstore,
    })
}

/// A private scratch directory for `--run-inspections`.
fn inspection_scratch() -> Result<tempfile::TempDir, Error> {
    tempfile::Builder::new()
        .prefix("airlock-inspection-")
        .tempdir()
        .map_err(|source| {
            crate::fsutil::FsError::Write {
                what: "create a scratch directory for --run-inspections in the temporary directory (TMPDIR)".into(),
                source,
            }
            .into()
        })
}

/// The scratch copy of artifact `rel` (a checked bundle path).
fn scratch_file(dir: &std::path::Path, rel: &str) -> Result<std::fs::File, Error> {
    let path = dir.join(rel);
    let made = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
        });
    made.map_err(|source| {
        crate::fsutil::FsError::Write {
            what: format!(
                "write the scratch copy {} for --run-inspections (TMPDIR)",
                path.display()
            ),
            source,
        }
        .into()
    })
}

/// Writes to both writers.
struct Both<'a, A: Write, B: Write>(&'a mut A, &'a mut B);

impl<A: Write, B: Write> Write for Both<'_, A, B> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1.write_all(&buf[..n])?;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}

/// Where an unpacked bundle's images go: `oci/` of the destination. An
/// artifact there would collide with them.
pub const IMAGE_DIR: &str = "oci";

/// With images, no artifact may live under `oci/` (`image-path-conflict`).
pub fn check_image_paths(manifest: &Manifest) -> Result<(), Error> {
    if manifest.images.is_empty() {
        return Ok(());
    }
    match manifest.entries.iter().find(|e| {
        e.kind == EntryKind::Artifact
            && (e.path.as_str() == IMAGE_DIR
                || e.path.as_str().starts_with(&format!("{IMAGE_DIR}/")))
    }) {
        Some(e) => Err(crate::oci::OciError::PathConflict { path: e.tar_path() }.into()),
        None => Ok(()),
    }
}
