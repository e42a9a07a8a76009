//! The manifest and signatures entries: types, canonical encoding, strict decoding.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::cbor::{Dec, Enc};
use crate::error::{Error, excerpt};
use crate::limits::Limits;
use crate::path::{BundlePath, PathError, check_portable};

/// The manifest format version of a bundle without container images; such
/// bundles are byte for byte what version 1 writers always wrote.
pub const FORMAT_VERSION: u32 = 1;

/// The manifest format version of a bundle that carries container images
/// (the `images` field, `image-manifest` and `blob` entries; SPEC.md 5.5).
pub const FORMAT_VERSION_IMAGES: u32 = 2;

/// Longest image name (repository path), in bytes.
const MAX_IMAGE_NAME_BYTES: usize = 255;

/// Longest tag, in bytes (the OCI distribution spec's limit).
const MAX_TAG_BYTES: usize = 128;

/// Longest platform (`os/architecture[/variant]`), in bytes.
const MAX_PLATFORM_BYTES: usize = 128;

/// Most platforms one image may list.
const MAX_PLATFORMS: usize = 256;

/// Mode of every content-addressed entry (`image-manifest`, `blob`).
pub const BLOB_MODE: u32 = 0o644;

/// Domain separator prefixed to the manifest digest in [`signing_message`].
const SIGNING_CONTEXT: &[u8] = b"airlock-bundle-manifest-v1\n";

/// Largest signature, in bytes.
pub(crate) const MAX_SIG_BYTES: usize = 1024;

/// Longest channel name, in bytes.
const MAX_CHANNEL_BYTES: usize = 64;

/// Longest in-toto product step name, in bytes.
const MAX_STEP_BYTES: usize = 255;

/// Most enclaves a directed bundle may name (SPEC.md 5.6).
pub const MAX_ENCLAVES: usize = 256;

/// Bytes of payload tar stream after which the payload is cut into a new
/// frame at the next entry boundary (SPEC.md 5.8): fixed by the format, so
/// that the writer is deterministic and the reader can compute the cut.
pub const FRAME_CUT: u64 = 64 << 20;

/// Length of one record of the frame index (SPEC.md 5.8).
const FRAME_RECORD: usize = 48;

/// One payload frame's record in the manifest's frame index (SPEC.md 5.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadFrame {
    /// The frame's length as stored (compressed), in bytes.
    pub len: u64,
    /// SHA-256 of the frame's bytes as stored.
    pub sha256: [u8; 32],
    /// The first payload entry the frame holds: its index among the
    /// payload entries (artifacts then blobs), from 0.
    pub first_entry: u64,
}

/// Where the cut rule (SPEC.md 5.8) puts one payload frame: which payload
/// entries it holds and how many bytes of tar stream they (and, in the last
/// frame, the end-of-archive marker) take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameCut {
    /// First payload entry of the frame (index among the payload entries).
    pub first_entry: usize,
    /// One past its last payload entry.
    pub end_entry: usize,
    /// Bytes of tar stream the frame decompresses to.
    pub tar_len: u64,
}

/// The cut rule of SPEC.md 5.8 over the payload entries, in stream order:
/// a new frame starts before an entry once the current frame holds at
/// least [`FRAME_CUT`] bytes; the end-of-archive marker is in the last.
/// Always at least one frame.
pub(crate) fn cut_payload(payload: &[Entry]) -> Vec<FrameCut> {
    let mut cuts: Vec<FrameCut> = Vec::new();
    let mut cur = FrameCut {
        first_entry: 0,
        end_entry: 0,
        tar_len: 0,
    };
    for (i, e) in payload.iter().enumerate() {
        if i > 0 && cur.tar_len >= FRAME_CUT {
            cuts.push(cur);
            cur = FrameCut {
                first_entry: i,
                end_entry: i,
                tar_len: 0,
            };
        }
        let len = crate::tarhdr::header_len(&e.tar_path())
            .saturating_add(e.size)
            .saturating_add(crate::tarhdr::padding(e.size));
        cur.end_entry = i + 1;
        cur.tar_len = cur.tar_len.saturating_add(len);
    }
    cur.tar_len = cur.tar_len.saturating_add(2 * crate::tarhdr::BLOCK as u64);
    cuts.push(cur);
    cuts
}

/// Most significant mode bits a manifest entry may carry (permissions,
/// setuid/setgid/sticky); file-type bits are never carried.
const MAX_MODE: u32 = 0o7777;

/// The exact bytes a signer signs for a manifest.
///
/// `"airlock-bundle-manifest-v1\n" ‖ SHA-256(manifest_bytes)`: it covers the
/// exact encoded manifest and cannot be confused with a signature made for any
/// other purpose with the same key.
pub fn signing_message(manifest_bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNING_CONTEXT.len() + 32);
    m.extend_from_slice(SIGNING_CONTEXT);
    m.extend_from_slice(&Sha256::digest(manifest_bytes));
    m
}

/// What an entry is; decides its directory in the tar stream and whether it
/// travels in the head frame (metadata) or the payload frame (artifacts).
///
/// The declaration order is the order of entries in the manifest and the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    /// A TUF root metadata file.
    Root,
    /// An in-toto layout.
    Layout,
    /// A public key that signs the in-toto layout.
    LayoutKey,
    /// An in-toto link.
    Link,
    /// An attestation (for example an in-toto statement or SBOM).
    Attestation,
    /// A container image manifest or image index (JSON), named by its
    /// SHA-256 (`sha256/<hex>`); format 2 only.
    ImageManifest,
    /// A software artifact carried across.
    Artifact,
    /// A container image blob (layer or config), named by its SHA-256
    /// (`sha256/<hex>`); format 2 only.
    Blob,
}

impl EntryKind {
    /// All kinds, in stream order.
    pub const ALL: [EntryKind; 8] = [
        EntryKind::Root,
        EntryKind::Layout,
        EntryKind::LayoutKey,
        EntryKind::Link,
        EntryKind::Attestation,
        EntryKind::ImageManifest,
        EntryKind::Artifact,
        EntryKind::Blob,
    ];

    /// The tar directory prefix of this kind, with its trailing `/`.
    pub fn prefix(self) -> &'static str {
        match self {
            EntryKind::Root => "meta/roots/",
            EntryKind::Layout => "meta/layout/",
            EntryKind::LayoutKey => "meta/layout-keys/",
            EntryKind::Link => "meta/links/",
            EntryKind::Attestation => "meta/attestations/",
            EntryKind::ImageManifest => "meta/images/",
            EntryKind::Artifact => "artifacts/",
            EntryKind::Blob => "blobs/",
        }
    }

    /// The kind's name in the manifest (`"root"`, `"layout-key"`, …).
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Root => "root",
            EntryKind::Layout => "layout",
            EntryKind::LayoutKey => "layout-key",
            EntryKind::Link => "link",
            EntryKind::Attestation => "attestation",
            EntryKind::ImageManifest => "image-manifest",
            EntryKind::Artifact => "artifact",
            EntryKind::Blob => "blob",
        }
    }

    /// The kind with this manifest name, if any.
    pub fn from_name(name: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether entries of this kind are metadata (read whole, head frame)
    /// rather than payload (artifacts and blobs: streamed, payload frame).
    pub fn is_metadata(self) -> bool {
        !matches!(self, EntryKind::Artifact | EntryKind::Blob)
    }

    /// Whether entries of this kind are content-addressed image content
    /// (`image-manifest`, `blob`): path `sha256/<hex of their SHA-256>`,
    /// mode `0644`, only in format 2.
    pub fn is_image_content(self) -> bool {
        matches!(self, EntryKind::ImageManifest | EntryKind::Blob)
    }
}

/// One file in a bundle, as the manifest describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What the file is.
    pub kind: EntryKind,
    /// Its path below the kind's directory.
    pub path: BundlePath,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its contents.
    pub sha256: [u8; 32],
    /// Its permission bits (at most `0o7777`).
    pub mode: u32,
}

impl Entry {
    /// The entry's path in the tar stream: kind prefix + path.
    pub fn tar_path(&self) -> String {
        let mut s = String::with_capacity(self.kind.prefix().len() + self.path.as_str().len());
        s.push_str(self.kind.prefix());
        s.push_str(self.path.as_str());
        s
    }

    /// Whether `tar_path` is this entry's path in the tar stream, compared
    /// without building it.
    pub(crate) fn has_tar_path(&self, tar_path: &str) -> bool {
        tar_path.strip_prefix(self.kind.prefix()) == Some(self.path.as_str())
    }

    fn sort_key(&self) -> (EntryKind, &str) {
        (self.kind, self.path.as_str())
    }
}

/// Supply-chain parameters the verifier needs besides the files themselves.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SupplyChain {
    /// Key ids (64 lowercase hex digits) of the in-toto layout signers,
    /// strictly increasing.
    pub layout_keyids: Vec<String>,
    /// Name of the in-toto step whose products are the artifacts, if any.
    pub product_step: Option<String>,
}

/// Which file names a bundle may carry (SPEC.md section 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NameRule {
    /// Every name can be created, as written and without colliding with
    /// another, on FAT32, exFAT, NTFS and case-insensitive or normalizing
    /// filesystems (macOS). The default; the manifest says nothing.
    #[default]
    Portable,
    /// The producer declared the bundle POSIX-only: names may differ only by
    /// case or Unicode normalization, or be impossible on Windows
    /// filesystems. Signed in the manifest as `posix_names: true`.
    PosixOnly,
}

/// A container image the bundle carries (format 2): a name and tag for the
/// image manifest or image index whose SHA-256 is `digest`, carried as an
/// `image-manifest` entry, with everything it references.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Image {
    /// Repository path, as the OCI distribution spec allows it (lowercase
    /// `[a-z0-9]` components separated by `.`, `_`, `__`, `-`, joined by `/`),
    /// without a registry host.
    pub name: String,
    /// Tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`), or none for an image carried
    /// by digest only.
    pub tag: Option<String>,
    /// SHA-256 of the image manifest or index.
    pub digest: [u8; 32],
    /// The platforms it is for, `os/architecture[/variant]`, sorted, no
    /// duplicates; empty when unknown.
    pub platforms: Vec<String>,
}

impl Image {
    /// `name:tag`, or `name@sha256:<hex>` for an untagged image.
    pub fn reference(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}:{t}", self.name),
            None => format!("{}@sha256:{}", self.name, hex::encode(self.digest)),
        }
    }

    /// The path of the `image-manifest` entry holding its manifest or index.
    pub fn manifest_path(&self) -> String {
        format!("sha256/{}", hex::encode(self.digest))
    }
}

/// Everything a manifest holds except what [`Manifest::new`] derives.
#[derive(Clone, Debug)]
pub struct ManifestFields {
    /// Release channel: 1 to 64 bytes of `[A-Za-z0-9._-]`.
    pub channel: String,
    /// Monotonic sequence number within the channel.
    pub sequence: u64,
    /// Creation time, Unix seconds.
    pub created: u64,
    /// Expiry time, Unix seconds; after `created`.
    pub expires: u64,
    /// [`Payload::sha256`](crate::Payload::sha256): SHA-256 of the payload
    /// frame exactly as stored in the file, from its magic number to its
    /// last byte; for a payload cut into frames, SHA-256 of the frame index
    /// (SPEC.md 5.8).
    pub payload_sha256: [u8; 32],
    /// Supply-chain parameters.
    pub supply_chain: SupplyChain,
    /// Container images, in any order (they are sorted); empty for a
    /// bundle without images, which is then format 1.
    pub images: Vec<Image>,
    /// All entries, in any order (they are sorted).
    pub entries: Vec<Entry>,
    /// Which names the entries may have.
    pub names: NameRule,
    /// The enclaves the bundle is directed to (SPEC.md 5.6), in any order
    /// (they are sorted); empty for a bundle any enclave may import.
    pub enclaves: Vec<String>,
}

/// What a delta bundle takes from its base (SPEC.md 5.7): the base bundle
/// and the payload entries of the release that the delta does not carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Base {
    /// The base bundle's `bundle_id` (32 lowercase hex digits).
    pub bundle_id: String,
    /// The base bundle's sequence, below the delta's (same channel).
    pub sequence: u64,
    /// The release's artifacts and blobs taken from the base, sorted by
    /// (kind, path); at least one. Their paths are the release's paths; the
    /// receiver finds each in the base's import by its SHA-256.
    pub entries: Vec<Entry>,
}

/// The signed description of a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Format version: [`FORMAT_VERSION`] without images,
    /// [`FORMAT_VERSION_IMAGES`] with.
    pub format: u32,
    /// Lowercase hex of the first 16 bytes of SHA-256 of the manifest encoded
    /// with an empty `bundle_id`.
    pub bundle_id: String,
    /// Release channel.
    pub channel: String,
    /// Monotonic sequence number within the channel.
    pub sequence: u64,
    /// Creation time, Unix seconds.
    pub created: u64,
    /// Expiry time, Unix seconds.
    pub expires: u64,
    /// SHA-256 of the payload frame exactly as stored in the file, from its
    /// magic number to its last byte. The reader checks it after the end of
    /// input, so every byte after the head frame is authenticated, including
    /// compressed bits that do not change what they decompress to. With a
    /// frame index (`frames` not empty), it is instead the SHA-256 of the
    /// index's encoding (48 bytes a frame, SPEC.md 5.8), checked when the
    /// manifest is decoded; the index's records authenticate each frame.
    pub payload_sha256: [u8; 32],
    /// Supply-chain parameters.
    pub supply_chain: SupplyChain,
    /// Container images, sorted by (name, tag); empty in format 1.
    pub images: Vec<Image>,
    /// Entries sorted by (kind, path); also their order in the stream.
    pub entries: Vec<Entry>,
    /// Which names the entries may have: encoded as `posix_names: true`
    /// after `entries` when [`NameRule::PosixOnly`], absent otherwise.
    pub names: NameRule,
    /// For a delta bundle, its base and the entries taken from it (the
    /// optional last key `base`, SPEC.md 5.7); `None` for a full bundle.
    /// `entries` then lists only what the bundle carries;
    /// [`Manifest::full_release`] is the whole release.
    pub base: Option<Base>,
    /// The enclave ids the bundle is directed to, strictly increasing
    /// (SPEC.md 5.6): encoded as `enclaves` after `entries` when not empty,
    /// absent otherwise. Empty: any enclave may import the bundle.
    pub enclaves: Vec<String>,
    /// The payload's frame index (SPEC.md 5.8), one record per frame:
    /// encoded as the last key `frames` when the payload is cut into two
    /// frames or more; empty for a payload of one frame (the key is
    /// absent). Set with [`Manifest::with_frames`].
    pub frames: Vec<PayloadFrame>,
}

impl Manifest {
    /// Builds a manifest: sorts the entries and layout key ids, checks
    /// everything [`Manifest::decode`] checks, and computes the `bundle_id`.
    pub fn new(fields: ManifestFields, limits: &Limits) -> Result<Manifest, Error> {
        Manifest::build(fields, None, limits)
    }

    /// Builds the manifest of a delta bundle (SPEC.md 5.7): `fields.entries`
    /// are what it carries, `base` names the base bundle and the payload
    /// entries taken from it (in any order: they are sorted). Checks
    /// everything [`Manifest::decode`] checks.
    pub fn new_delta(
        fields: ManifestFields,
        base: Base,
        limits: &Limits,
    ) -> Result<Manifest, Error> {
        Manifest::build(fields, Some(base), limits)
    }

    fn build(
        fields: ManifestFields,
        base: Option<Base>,
        limits: &Limits,
    ) -> Result<Manifest, Error> {
        let base = base.map(|mut b| {
            b.entries.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
            b
        });
        let mut entries = fields.entries;
        entries.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        let mut supply_chain = fields.supply_chain;
        supply_chain.layout_keyids.sort();
        let mut images = fields.images;
        for i in &mut images {
            i.platforms.sort();
        }
        images.sort_by(|a, b| (&a.name, &a.tag).cmp(&(&b.name, &b.tag)));
        let mut enclaves = fields.enclaves;
        enclaves.sort();
        let mut m = Manifest {
            format: if images.is_empty() {
                FORMAT_VERSION
            } else {
                FORMAT_VERSION_IMAGES
            },
            bundle_id: String::new(),
            channel: fields.channel,
            sequence: fields.sequence,
            created: fields.created,
            expires: fields.expires,
            payload_sha256: fields.payload_sha256,
            supply_chain,
            images,
            entries,
            names: fields.names,
            base,
            enclaves,
            frames: Vec::new(),
        };
        m.seal(limits)?;
        Ok(m)
    }

    /// Checks everything and computes the `bundle_id`.
    fn seal(&mut self, limits: &Limits) -> Result<(), Error> {
        validate(self, limits)?;
        self.seal_id(limits)
    }

    /// Computes the `bundle_id` and checks the encoded length, with one
    /// encoding: the id is 32 hex digits, a text of 34 bytes in place of
    /// the empty one (1 byte) that the id is computed over.
    fn seal_id(&mut self, limits: &Limits) -> Result<(), Error> {
        let without_id = self.encode_with_id("");
        self.bundle_id = hex::encode(&Sha256::digest(&without_id)[..16]);
        let len = without_id.len() as u64 + 33;
        debug_assert_eq!(len, self.encode().len() as u64);
        if len > limits.max_manifest_bytes {
            return Err(Error::Limit {
                what: "manifest bytes",
                limit: limits.max_manifest_bytes,
            });
        }
        Ok(())
    }

    /// This manifest with the payload's frame index (SPEC.md 5.8): the
    /// records of [`Payload::frames`](crate::Payload::frames) (empty for a
    /// payload of one frame), or, for a provisional manifest that plans the
    /// head frame's length, [`Manifest::planned_frames`]. Checks them
    /// against the cut rule and recomputes the `bundle_id`. (Nothing else
    /// changes, so nothing else is checked again: a manifest is checked
    /// whole when it is built or decoded, and [`crate::finish_bundle`]
    /// decodes what it is given.)
    pub fn with_frames(
        mut self,
        frames: Vec<PayloadFrame>,
        limits: &Limits,
    ) -> Result<Manifest, Error> {
        self.frames = frames;
        validate_frames(&self)?;
        self.seal_id(limits)?;
        Ok(self)
    }

    /// This manifest with the digests of the payload just written: each
    /// artifact's SHA-256 from `entries` (the payload's entries, which must
    /// be this manifest's artifacts but for their digests: `Misuse`
    /// otherwise) and `payload_sha256`. Recomputes the `bundle_id`. An
    /// image blob is named by its digest, so its digest may not change
    /// (`BlobName`); nothing else depends on a digest, so nothing else is
    /// checked again: what a provisional manifest was built and checked
    /// with is what the final one holds.
    pub fn with_payload(
        mut self,
        entries: &[Entry],
        payload_sha256: [u8; 32],
        limits: &Limits,
    ) -> Result<Manifest, Error> {
        fn but_digests(e: &Entry) -> (EntryKind, &str, u64, u32) {
            (e.kind, e.path.as_str(), e.size, e.mode)
        }
        let first = self.first_artifact();
        let mine = &mut self.entries[first..];
        if !mine
            .iter()
            .map(but_digests)
            .eq(entries.iter().map(but_digests))
        {
            return Err(Error::Misuse(
                "the payload's entries are not the manifest's artifacts",
            ));
        }
        for (m, e) in mine.iter_mut().zip(entries) {
            if m.kind.is_image_content() && m.sha256 != e.sha256 {
                return Err(Error::BlobName { path: e.tar_path() });
            }
            m.sha256 = e.sha256;
        }
        self.payload_sha256 = payload_sha256;
        self.seal_id(limits)?;
        Ok(self)
    }

    /// The frame index the payload of these entries will have, with zero
    /// lengths (1) and digests: what a provisional manifest is planned
    /// with (the index's encoded length depends only on the frame count).
    /// Empty when the payload is one frame.
    pub fn planned_frames(&self) -> Vec<PayloadFrame> {
        let cuts = cut_payload(self.artifacts());
        if cuts.len() < 2 {
            return Vec::new();
        }
        cuts.iter()
            .map(|c| PayloadFrame {
                len: 1,
                sha256: [0; 32],
                first_entry: c.first_entry as u64,
            })
            .collect()
    }

    /// Where the cut rule puts the payload frames (SPEC.md 5.8): one cut
    /// per frame of the index, or a single one when there is no index.
    pub fn frame_cuts(&self) -> Vec<FrameCut> {
        let cuts = cut_payload(self.artifacts());
        if self.frames.is_empty() {
            // A payload without an index is one frame, whatever its size.
            let end = self.artifacts().len();
            let tar_len = cuts.iter().fold(0u64, |a, c| a.saturating_add(c.tar_len));
            return vec![FrameCut {
                first_entry: 0,
                end_entry: end,
                tar_len,
            }];
        }
        cuts
    }

    /// The frame a resumed read starts at (SPEC.md 8.1): the first frame
    /// holding a payload entry for which `held` (given the entry's index
    /// among the payload entries) is false; the last frame when every
    /// entry is held, so that a resumed read still checks the end of the
    /// payload. Always 0 for a payload of one frame.
    pub fn resume_frame(&self, held: impl Fn(usize) -> bool) -> usize {
        let cuts = self.frame_cuts();
        cuts.iter()
            .position(|c| !(c.first_entry..c.end_entry).all(&held))
            .unwrap_or(cuts.len() - 1)
    }

    /// The canonical CBOR encoding; these are the bytes that are signed.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with_id(&self.bundle_id)
    }

    fn encode_with_id(&self, bundle_id: &str) -> Vec<u8> {
        self.encode_parts(bundle_id).0
    }

    /// The encoding with `bundle_id`, and where in it the id's text item
    /// (head and bytes) is.
    fn encode_parts(&self, bundle_id: &str) -> (Vec<u8>, std::ops::Range<usize>) {
        let mut e = Enc(Vec::with_capacity(256 + self.entries.len() * 96));
        // Format 1 has no `images` key at all, so a bundle without images is
        // byte for byte what a version 1 writer produces; `posix_names` is
        // there only when true.
        let posix_only = self.names == NameRule::PosixOnly;
        let directed = !self.enclaves.is_empty();
        e.map(
            9 + usize::from(self.format != FORMAT_VERSION)
                + usize::from(directed)
                + usize::from(posix_only)
                + usize::from(self.base.is_some())
                + usize::from(!self.frames.is_empty()),
        );
        e.text("format");
        e.uint(u64::from(self.format));
        e.text("bundle_id");
        let id_start = e.0.len();
        e.text(bundle_id);
        let id = id_start..e.0.len();
        e.text("channel");
        e.text(&self.channel);
        e.text("sequence");
        e.uint(self.sequence);
        e.text("created");
        e.uint(self.created);
        e.text("expires");
        e.uint(self.expires);
        e.text("payload_sha256");
        e.bytes(&self.payload_sha256);
        e.text("supply_chain");
        e.map(2);
        e.text("layout_keyids");
        e.array(self.supply_chain.layout_keyids.len());
        for k in &self.supply_chain.layout_keyids {
            e.text(k);
        }
        e.text("product_step");
        match &self.supply_chain.product_step {
            Some(s) => e.text(s),
            None => e.null(),
        }
        if self.format != FORMAT_VERSION {
            e.text("images");
            e.array(self.images.len());
            for i in &self.images {
                e.map(4);
                e.text("name");
                e.text(&i.name);
                e.text("tag");
                match &i.tag {
                    Some(t) => e.text(t),
                    None => e.null(),
                }
                e.text("digest");
                e.bytes(&i.digest);
                e.text("platforms");
                e.array(i.platforms.len());
                for p in &i.platforms {
                    e.text(p);
                }
            }
        }
        e.text("entries");
        e.array(self.entries.len());
        for entry in &self.entries {
            encode_entry(&mut e, entry);
        }
        // Optional (SPEC.md 5.6): an undirected bundle keeps its exact bytes.
        if directed {
            e.text("enclaves");
            e.array(self.enclaves.len());
            for id in &self.enclaves {
                e.text(id);
            }
        }
        // Optional, so that bundles without it keep their exact bytes.
        if posix_only {
            e.text("posix_names");
            e.bool(true);
        }
        // Optional and last (SPEC.md 5.7): only a delta bundle has it.
        if let Some(base) = &self.base {
            e.text("base");
            e.map(3);
            e.text("bundle_id");
            e.text(&base.bundle_id);
            e.text("sequence");
            e.uint(base.sequence);
            e.text("entries");
            e.array(base.entries.len());
            for entry in &base.entries {
                encode_entry(&mut e, entry);
            }
        }
        // Optional and last (SPEC.md 5.8): only a payload of two frames or
        // more has an index, so every smaller bundle keeps its exact bytes.
        if !self.frames.is_empty() {
            e.text("frames");
            e.bytes(&encode_frames(&self.frames));
        }
        (e.0, id)
    }

    fn compute_bundle_id(&self) -> String {
        let digest = Sha256::digest(self.encode_with_id(""));
        hex::encode(&digest[..16])
    }

    /// Decodes and checks untrusted manifest bytes.
    ///
    /// Refuses: more than `max_manifest_bytes`; anything but one CBOR item;
    /// unknown, duplicate or missing fields; any semantic rule of the format
    /// (see SPEC.md); bytes that are not exactly the canonical encoding of
    /// what was decoded; a `bundle_id` that does not match.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Manifest, Error> {
        if bytes.len() as u64 > limits.max_manifest_bytes {
            return Err(Error::Limit {
                what: "manifest bytes",
                limit: limits.max_manifest_bytes,
            });
        }
        let m = WireManifest::decode(bytes)?.into_manifest(limits)?;
        validate(&m, limits)?;
        let (encoded, id) = m.encode_parts(&m.bundle_id);
        if encoded != bytes {
            return Err(Error::NonCanonical);
        }
        // The id is computed over these bytes with an empty id (0x60, the
        // empty text) in place of the one they hold: no second encoding.
        let without_id = Sha256::new()
            .chain_update(&bytes[..id.start])
            .chain_update([0x60])
            .chain_update(&bytes[id.end..])
            .finalize();
        debug_assert_eq!(hex::encode(&without_id[..16]), m.compute_bundle_id());
        if hex::encode(&without_id[..16]) != m.bundle_id {
            return Err(Error::BundleId);
        }
        // With a frame index, `payload_sha256` is the index's digest
        // (SPEC.md 5.8): checked here, before any payload byte is read.
        if !m.frames.is_empty() && index_sha256(&m.frames) != m.payload_sha256 {
            return Err(Error::PayloadDigest);
        }
        Ok(m)
    }

    /// Whether this is a delta bundle (it has a `base`).
    pub fn is_delta(&self) -> bool {
        self.base.is_some()
    }

    /// The whole release a bundle stands for: for a delta, its carried
    /// entries and those taken from its base, merged in manifest order, and
    /// no `base`; for a full bundle, a copy of itself. This is what a
    /// receiver judges (supply chain, policy) and places. It is not the
    /// manifest of any bundle: `bundle_id` and `payload_sha256` stay the
    /// delta's, and it is never encoded or signed.
    pub fn full_release(&self) -> Manifest {
        self.clone().into_full_release()
    }

    /// [`Self::full_release`], made of this manifest itself (no copy of
    /// its entries).
    pub fn into_full_release(mut self) -> Manifest {
        // The index describes the carried payload; the release is never
        // read as a stream.
        self.frames.clear();
        if let Some(base) = self.base.take() {
            self.entries.extend(base.entries);
            self.entries.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        }
        self
    }

    /// Number of artifact entries (blobs not included).
    pub fn artifact_count(&self) -> u64 {
        self.artifacts()
            .iter()
            .filter(|e| e.kind == EntryKind::Artifact)
            .count() as u64
    }

    /// Sum of the artifact sizes (blobs not included).
    pub fn artifact_bytes(&self) -> u64 {
        self.artifacts()
            .iter()
            .filter(|e| e.kind == EntryKind::Artifact)
            .fold(0u64, |a, e| a.saturating_add(e.size))
    }

    /// Sum of all entry sizes.
    pub fn total_bytes(&self) -> u64 {
        self.entries
            .iter()
            .fold(0u64, |a, e| a.saturating_add(e.size))
    }

    /// The metadata entries (a prefix of `entries`).
    pub fn metadata(&self) -> &[Entry] {
        &self.entries[..self.first_artifact()]
    }

    /// The payload entries, artifacts then blobs (a suffix of `entries`).
    pub fn artifacts(&self) -> &[Entry] {
        &self.entries[self.first_artifact()..]
    }

    pub(crate) fn first_artifact(&self) -> usize {
        self.entries.partition_point(|e| e.kind.is_metadata())
    }

    /// Index of the entry with this tar path, if any.
    pub(crate) fn find(&self, tar_path: &str) -> Option<usize> {
        EntryKind::ALL.into_iter().find_map(|kind| {
            let rest = tar_path.strip_prefix(kind.prefix())?;
            self.entries
                .binary_search_by(|e| e.sort_key().cmp(&(kind, rest)))
                .ok()
        })
    }
}

/// One signature over [`signing_message`] of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestSignature {
    /// Key id of the signing key: 64 lowercase hex digits.
    pub keyid: String,
    /// The signature bytes (1 to 1024).
    pub sig: Vec<u8>,
}

/// The signatures entry: signatures over the manifest, sorted by key id.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Signatures(pub Vec<ManifestSignature>);

impl Signatures {
    /// The same key ids and signature lengths with zero-filled values: the
    /// signatures entry's exact length, before anything is signed.
    pub fn zeroed(&self) -> Signatures {
        Signatures(
            self.0
                .iter()
                .map(|s| ManifestSignature {
                    keyid: s.keyid.clone(),
                    sig: vec![0; s.sig.len()],
                })
                .collect(),
        )
    }

    /// The canonical CBOR encoding, sorted by key id.
    pub fn encode(&self) -> Vec<u8> {
        let mut sigs: Vec<&ManifestSignature> = self.0.iter().collect();
        sigs.sort_by(|a, b| a.keyid.cmp(&b.keyid));
        let mut e = Enc::default();
        e.array(sigs.len());
        for s in sigs {
            e.map(2);
            e.text("keyid");
            e.text(&s.keyid);
            e.text("sig");
            e.bytes(&s.sig);
        }
        e.0
    }

    /// Decodes and checks an untrusted signatures entry. Zero signatures is
    /// allowed here; the caller's threshold check decides whether that is enough.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Signatures, Error> {
        if bytes.len() as u64 > limits.max_signatures_bytes {
            return Err(Error::Limit {
                what: "signatures bytes",
                limit: limits.max_signatures_bytes,
            });
        }
        let wire: Vec<WireSignature> = from_cbor(bytes).map_err(Error::Signatures)?;
        if wire.len() > limits.max_signatures {
            return Err(Error::Limit {
                what: "signatures",
                limit: limits.max_signatures as u64,
            });
        }
        let mut sigs = Vec::with_capacity(wire.len());
        for w in wire {
            if !is_keyid(&w.keyid) {
                return Err(Error::Signatures(format!(
                    "key id {} is not 64 lowercase hex digits",
                    excerpt(&w.keyid)
                )));
            }
            let sig = w.sig.into_vec();
            if sig.is_empty() || sig.len() > MAX_SIG_BYTES {
                return Err(Error::Signatures(format!(
                    "signature by {} has {} bytes; 1 to {MAX_SIG_BYTES} are allowed",
                    w.keyid,
                    sig.len()
                )));
            }
            if let Some(prev) = sigs.last().map(|s: &ManifestSignature| s.keyid.as_str()) {
                match prev.cmp(w.keyid.as_str()) {
                    std::cmp::Ordering::Equal => {
                        return Err(Error::DuplicateSignature { keyid: w.keyid });
                    }
                    std::cmp::Ordering::Greater => {
                        return Err(Error::Signatures("not sorted by keyid".into()));
                    }
                    std::cmp::Ordering::Less => {}
                }
            }
            sigs.push(ManifestSignature {
                keyid: w.keyid,
                sig,
            });
        }
        let s = Signatures(sigs);
        if s.encode() != bytes {
            return Err(Error::NonCanonical);
        }
        Ok(s)
    }
}

// ---- wire form (decode only) ----------------------------------------------

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct WireManifest {
    format: u32,
    bundle_id: String,
    channel: String,
    sequence: u64,
    created: u64,
    expires: u64,
    payload_sha256: serde_bytes::ByteArray<32>,
    supply_chain: WireSupplyChain,
    #[serde(default)]
    images: Option<Vec<WireImage>>,
    entries: Vec<WireEntry>,
    // Absent means none; an empty array decodes but does not re-encode to
    // the same bytes, so it is refused as non-canonical.
    #[serde(default)]
    enclaves: Vec<String>,
    // Absent means false; an explicit `false` decodes but does not
    // re-encode to the same bytes, so it is refused as non-canonical.
    #[serde(default)]
    posix_names: bool,
    #[serde(default)]
    base: Option<WireBase>,
    #[serde(default)]
    frames: Option<serde_bytes::ByteBuf>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct WireBase {
    bundle_id: String,
    sequence: u64,
    entries: Vec<WireEntry>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct WireImage {
    name: String,
    tag: Option<String>,
    digest: serde_bytes::ByteArray<32>,
    platforms: Vec<String>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct WireSupplyChain {
    layout_keyids: Vec<String>,
    // Present either way (SPEC 5.2): with `deserialize_with`, serde does not
    // treat a missing `Option` field as null, so a manifest without the key
    // is refused as malformed rather than decoded and re-encoded.
    #[serde(deserialize_with = "present_or_null")]
    product_step: Option<String>,
}

fn present_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct WireEntry {
    kind: String,
    path: String,
    size: u64,
    sha256: serde_bytes::ByteArray<32>,
    mode: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireSignature {
    keyid: String,
    sig: serde_bytes::ByteBuf,
}

impl WireManifest {
    /// Decodes untrusted manifest bytes: read directly when they are in the
    /// canonical form (the one [`Manifest::encode`] writes, fields in its
    /// order), through `ciborium` otherwise. Both give the same result for
    /// bytes that both read (see `the_canonical_reader_agrees_with_ciborium`);
    /// only `ciborium` refuses, so every refusal is the one it always was.
    fn decode(bytes: &[u8]) -> Result<WireManifest, Error> {
        match Self::canonical(&mut Dec::new(bytes)) {
            Some(w) => Ok(w),
            None => from_cbor(bytes).map_err(Error::Manifest),
        }
    }

    /// The canonical form, all of it, or `None`.
    fn canonical(d: &mut Dec<'_>) -> Option<WireManifest> {
        let fields = d.map()?;
        let format = d.field("format", uint32)?;
        let bundle_id = d.field("bundle_id", owned_text)?;
        let channel = d.field("channel", owned_text)?;
        let sequence = d.field("sequence", Dec::uint)?;
        let created = d.field("created", Dec::uint)?;
        let expires = d.field("expires", Dec::uint)?;
        let payload_sha256 = d.field("payload_sha256", byte_array)?;
        d.key("supply_chain")?;
        d.map_of(2)?;
        let layout_keyids = d.field("layout_keyids", texts)?;
        let product_step = d.field("product_step", text_or_null)?;
        let mut read = 9;
        let images = if d.key_if("images") {
            read += 1;
            Some(list(d, RESERVE, |d| {
                d.map_of(4)?;
                Some(WireImage {
                    name: d.field("name", owned_text)?,
                    tag: d.field("tag", text_or_null)?,
                    digest: d.field("digest", byte_array)?,
                    platforms: d.field("platforms", texts)?,
                })
            })?)
        } else {
            None
        };
        let entries = d.field("entries", wire_entry_list)?;
        let mut enclaves = Vec::new();
        if d.key_if("enclaves") {
            read += 1;
            enclaves = texts(d)?;
        }
        let mut posix_names = false;
        if d.key_if("posix_names") {
            read += 1;
            posix_names = d.bool()?;
        }
        let mut base = None;
        if d.key_if("base") {
            read += 1;
            d.map_of(3)?;
            let bundle_id = d.field("bundle_id", owned_text)?;
            let sequence = d.field("sequence", Dec::uint)?;
            let entries = d.field("entries", wire_entry_list)?;
            base = Some(WireBase {
                bundle_id,
                sequence,
                entries,
            });
        }
        let mut frames = None;
        if d.key_if("frames") {
            read += 1;
            frames = Some(serde_bytes::ByteBuf::from(d.bytes()?));
        }
        (read == fields && d.at_end()).then_some(WireManifest {
            format,
            bundle_id,
            channel,
            sequence,
            created,
            expires,
            payload_sha256,
            supply_chain: WireSupplyChain {
                layout_keyids,
                product_step,
            },
            images,
            entries,
            enclaves,
            posix_names,
            base,
            frames,
        })
    }

    fn into_manifest(self, limits: &Limits) -> Result<Manifest, Error> {
        if self.entries.len() > limits.max_entries {
            return Err(Error::Limit {
                what: "entries",
                limit: limits.max_entries as u64,
            });
        }
        if self.enclaves.len() > MAX_ENCLAVES {
            return Err(Error::Limit {
                what: "enclaves",
                limit: MAX_ENCLAVES as u64,
            });
        }
        if self.format != FORMAT_VERSION && self.format != FORMAT_VERSION_IMAGES {
            return Err(Error::Manifest(format!(
                "format version {} is not supported (only {FORMAT_VERSION} and {FORMAT_VERSION_IMAGES})",
                self.format
            )));
        }
        let images = match (self.format, self.images) {
            (FORMAT_VERSION, None) => Vec::new(),
            (FORMAT_VERSION, Some(_)) => {
                return Err(Error::Manifest(
                    "a format 1 manifest has no images field".into(),
                ));
            }
            (_, None) => {
                return Err(Error::Manifest(format!(
                    "a format {} manifest must have an images field",
                    self.format
                )));
            }
            (_, Some(list)) => {
                if list.len() > limits.max_entries {
                    return Err(Error::Limit {
                        what: "images",
                        limit: limits.max_entries as u64,
                    });
                }
                list.into_iter()
                    .map(|w| Image {
                        name: w.name,
                        tag: w.tag,
                        digest: w.digest.into_array(),
                        platforms: w.platforms,
                    })
                    .collect()
            }
        };
        let entries = wire_entries(self.entries, limits)?;
        let base = match self.base {
            None => None,
            Some(b) => {
                if b.entries.len() > limits.max_entries {
                    return Err(Error::Limit {
                        what: "entries",
                        limit: limits.max_entries as u64,
                    });
                }
                Some(Base {
                    bundle_id: b.bundle_id,
                    sequence: b.sequence,
                    entries: wire_entries(b.entries, limits)?,
                })
            }
        };
        let frames = match self.frames {
            None => Vec::new(),
            Some(b) => decode_frames(&b, limits)?,
        };
        Ok(Manifest {
            frames,
            format: self.format,
            bundle_id: self.bundle_id,
            channel: self.channel,
            sequence: self.sequence,
            created: self.created,
            expires: self.expires,
            payload_sha256: self.payload_sha256.into_array(),
            supply_chain: SupplyChain {
                layout_keyids: self.supply_chain.layout_keyids,
                product_step: self.supply_chain.product_step,
            },
            images,
            entries,
            names: if self.posix_names {
                NameRule::PosixOnly
            } else {
                NameRule::Portable
            },
            base,
            enclaves: self.enclaves,
        })
    }
}

// ---- the canonical form, read directly (see `WireManifest::canonical`) ------

/// Whether the canonical reader reads `bytes` as `ciborium` does: always
/// true when it does not read them. For the fuzz target and the tests.
pub(crate) fn readers_agree(bytes: &[u8]) -> bool {
    match WireManifest::canonical(&mut Dec::new(bytes)) {
        Some(direct) => from_cbor::<WireManifest>(bytes).ok() == Some(direct),
        None => true,
    }
}

/// The fewest bytes an entry takes: a map head, the five keys (27 bytes),
/// an empty kind and path, a size and a mode under 24, and a SHA-256 (34).
const MIN_ENTRY_BYTES: usize = 1 + 27 + 1 + 1 + 1 + 34 + 1;

/// Most items reserved up front for a list whose items may be one byte
/// each: the list grows past it as it is read, never on a count alone.
const RESERVE: usize = 64;

fn wire_entry_list(d: &mut Dec<'_>) -> Option<Vec<WireEntry>> {
    // As many as the bytes left can hold, so that a count alone cannot
    // reserve more than a real manifest of these bytes would need.
    let reserve = d.left() / MIN_ENTRY_BYTES;
    list(d, reserve, |d| {
        d.map_of(5)?;
        Some(WireEntry {
            kind: d.field("kind", owned_text)?,
            path: d.field("path", owned_text)?,
            size: d.field("size", Dec::uint)?,
            sha256: d.field("sha256", byte_array)?,
            mode: d.field("mode", uint32)?,
        })
    })
}

/// An array, each item read by `item` (fields in the order written), with
/// at most `reserve` items reserved before any is read.
fn list<T>(
    d: &mut Dec<'_>,
    reserve: usize,
    mut item: impl FnMut(&mut Dec<'_>) -> Option<T>,
) -> Option<Vec<T>> {
    let n = d.array()?;
    let mut list = Vec::with_capacity(n.min(reserve));
    for _ in 0..n {
        list.push(item(d)?);
    }
    Some(list)
}

fn owned_text(d: &mut Dec<'_>) -> Option<String> {
    d.text().map(str::to_owned)
}

fn uint32(d: &mut Dec<'_>) -> Option<u32> {
    u32::try_from(d.uint()?).ok()
}

fn byte_array(d: &mut Dec<'_>) -> Option<serde_bytes::ByteArray<32>> {
    let b: [u8; 32] = d.bytes()?.try_into().ok()?;
    Some(serde_bytes::ByteArray::new(b))
}

fn texts(d: &mut Dec<'_>) -> Option<Vec<String>> {
    list(d, RESERVE, owned_text)
}

fn text_or_null(d: &mut Dec<'_>) -> Option<Option<String>> {
    if d.null_if() {
        return Some(None);
    }
    owned_text(d).map(Some)
}

fn wire_entries(wire: Vec<WireEntry>, limits: &Limits) -> Result<Vec<Entry>, Error> {
    let mut entries = Vec::with_capacity(wire.len());
    for w in wire {
        let kind = EntryKind::from_name(&w.kind)
            .ok_or_else(|| Error::Manifest(format!("unknown entry kind {}", excerpt(&w.kind))))?;
        let path = BundlePath::new(&w.path, limits).map_err(|reason| Error::UnsafePath {
            path: excerpt(&w.path),
            reason,
        })?;
        entries.push(Entry {
            kind,
            path,
            size: w.size,
            sha256: w.sha256.into_array(),
            mode: w.mode,
        });
    }
    Ok(entries)
}

fn encode_frames(frames: &[PayloadFrame]) -> Vec<u8> {
    let mut b = Vec::with_capacity(frames.len() * FRAME_RECORD);
    for f in frames {
        b.extend_from_slice(&f.len.to_be_bytes());
        b.extend_from_slice(&f.sha256);
        b.extend_from_slice(&f.first_entry.to_be_bytes());
    }
    b
}

/// The manifest's `payload_sha256` for a payload cut into frames (SPEC.md
/// 5.8): the SHA-256 of the `frames` byte string, which lists each frame's
/// length and SHA-256 (one hash of the stored bytes, not two).
pub(crate) fn index_sha256(frames: &[PayloadFrame]) -> [u8; 32] {
    Sha256::digest(encode_frames(frames)).into()
}

/// The records of a `frames` byte string; its rules beyond the record
/// layout are checked by `validate_frames`.
fn decode_frames(b: &[u8], limits: &Limits) -> Result<Vec<PayloadFrame>, Error> {
    if !b.len().is_multiple_of(FRAME_RECORD) {
        return Err(Error::FrameIndex(format!(
            "{} bytes is not a whole number of {FRAME_RECORD}-byte records",
            b.len()
        )));
    }
    if b.len() / FRAME_RECORD > limits.max_entries {
        return Err(Error::FrameIndex(
            "more frames than the manifest may have entries".into(),
        ));
    }
    let u64_at = |r: &[u8], at: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&r[at..at + 8]);
        u64::from_be_bytes(x)
    };
    Ok(b.chunks_exact(FRAME_RECORD)
        .map(|r| {
            let mut sha256 = [0u8; 32];
            sha256.copy_from_slice(&r[8..40]);
            PayloadFrame {
                len: u64_at(r, 0),
                sha256,
                first_entry: u64_at(r, 40),
            }
        })
        .collect())
}

/// The rules of a frame index (SPEC.md 5.8): two records or more, each
/// where the cut rule puts its frame, none empty, lengths that add up.
fn validate_frames(m: &Manifest) -> Result<(), Error> {
    if m.frames.is_empty() {
        return Ok(());
    }
    if m.frames.len() < 2 {
        return Err(Error::FrameIndex(
            "a frame index lists one frame; a payload of one frame has no index".into(),
        ));
    }
    let cuts = cut_payload(m.artifacts());
    if cuts.len() != m.frames.len() {
        return Err(Error::FrameIndex(format!(
            "it lists {} frames; the cut rule gives {} for these entries",
            m.frames.len(),
            cuts.len()
        )));
    }
    let mut total = 0u64;
    for (i, (f, c)) in m.frames.iter().zip(&cuts).enumerate() {
        if f.first_entry != c.first_entry as u64 {
            return Err(Error::FrameIndex(format!(
                "frame {} starts at payload entry {}; the cut rule puts it at {}",
                i + 1,
                f.first_entry,
                c.first_entry
            )));
        }
        if f.len == 0 {
            return Err(Error::FrameIndex(format!("frame {} has length 0", i + 1)));
        }
        total = total
            .checked_add(f.len)
            .ok_or_else(|| Error::FrameIndex("the frame lengths overflow 64 bits".into()))?;
    }
    Ok(())
}

fn encode_entry(e: &mut Enc, entry: &Entry) {
    e.map(5);
    e.text("kind");
    e.text(entry.kind.name());
    e.text("path");
    e.text(entry.path.as_str());
    e.text("size");
    e.uint(entry.size);
    e.text("sha256");
    e.bytes(&entry.sha256);
    e.text("mode");
    e.uint(u64::from(entry.mode));
}

/// Decodes exactly one CBOR item filling all of `bytes`.
pub(crate) fn from_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut rest = bytes;
    let value: T = ciborium::from_reader(&mut rest)
        .map_err(|e| format!("invalid CBOR: {}", excerpt(&e.to_string())))?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes after the CBOR item", rest.len()));
    }
    Ok(value)
}

// ---- semantic checks ------------------------------------------------------

pub(crate) fn is_keyid(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn validate(m: &Manifest, limits: &Limits) -> Result<(), Error> {
    if m.format != FORMAT_VERSION && m.format != FORMAT_VERSION_IMAGES {
        return Err(Error::Manifest(format!(
            "format version {} is not supported (only {FORMAT_VERSION} and {FORMAT_VERSION_IMAGES})",
            m.format
        )));
    }
    let channel_ok = !m.channel.is_empty()
        && m.channel.len() <= MAX_CHANNEL_BYTES
        && m.channel
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !channel_ok {
        return Err(Error::Manifest(format!(
            "channel {} must be 1 to {MAX_CHANNEL_BYTES} bytes of [A-Za-z0-9._-]",
            excerpt(&m.channel)
        )));
    }
    if m.expires <= m.created {
        return Err(Error::Manifest(format!(
            "expires ({}) is not after created ({})",
            m.expires, m.created
        )));
    }
    let keyids = &m.supply_chain.layout_keyids;
    for (i, k) in keyids.iter().enumerate() {
        if !is_keyid(k) {
            return Err(Error::Manifest(format!(
                "layout key id {} is not 64 lowercase hex digits",
                excerpt(k)
            )));
        }
        if i > 0 && keyids[i - 1] >= *k {
            return Err(Error::Manifest(
                "layout key ids are not strictly increasing (unsorted or duplicated)".into(),
            ));
        }
    }
    if let Some(step) = &m.supply_chain.product_step
        && (step.is_empty() || step.len() > MAX_STEP_BYTES || step.chars().any(char::is_control))
    {
        return Err(Error::Manifest(format!(
            "product step {} must be 1 to {MAX_STEP_BYTES} bytes without control characters",
            excerpt(step)
        )));
    }
    validate_enclaves(&m.enclaves)?;
    validate_entries(&m.entries, limits)?;
    validate_frames(m)?;
    if let Some(base) = &m.base {
        validate_base(m, base, limits)?;
    }
    let release;
    let all = if m.base.is_some() {
        release = m.full_release();
        &release.entries
    } else {
        &m.entries
    };
    if m.names == NameRule::Portable {
        check_portable_names(all)?;
    }
    validate_images(m)
}

/// The rules of a delta's `base` (SPEC.md 5.7): a well-formed id, an older
/// sequence, at least one entry, only payload kinds (blobs only in format
/// 2), sorted; and the whole release — carried entries and these —
/// follows the entry rules of 5.3 (no duplicate, no conflict, the limits).
fn validate_base(m: &Manifest, base: &Base, limits: &Limits) -> Result<(), Error> {
    let id_ok = base.bundle_id.len() == 32
        && base
            .bundle_id
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !id_ok {
        return Err(Error::Manifest(format!(
            "base bundle id {} is not 32 lowercase hex digits",
            excerpt(&base.bundle_id)
        )));
    }
    if base.sequence >= m.sequence {
        return Err(Error::Manifest(format!(
            "base sequence {} is not below the bundle's sequence {}",
            base.sequence, m.sequence
        )));
    }
    if base.entries.is_empty() {
        return Err(Error::Manifest(
            "a base takes at least one entry (a bundle that takes none is not a delta)".into(),
        ));
    }
    for (i, e) in base.entries.iter().enumerate() {
        if e.kind.is_metadata() {
            return Err(Error::Manifest(format!(
                "base entry {} is metadata; only artifacts and blobs are taken from a base",
                e.tar_path()
            )));
        }
        if e.kind == EntryKind::Blob && m.format == FORMAT_VERSION {
            return Err(Error::Manifest(format!(
                "base entry {} is image content, which only a format 2 manifest carries",
                e.tar_path()
            )));
        }
        if i > 0 && base.entries[i - 1].sort_key() >= e.sort_key() {
            return Err(Error::Manifest(format!(
                "base entries are not sorted by kind and path (or repeat) at {}",
                e.tar_path()
            )));
        }
    }
    validate_entries(&m.full_release().entries, limits)
}

/// The enclave rules of SPEC.md 5.6: at most [`MAX_ENCLAVES`] ids, each 64
/// lowercase hex digits, strictly increasing.
fn validate_enclaves(enclaves: &[String]) -> Result<(), Error> {
    if enclaves.len() > MAX_ENCLAVES {
        return Err(Error::Limit {
            what: "enclaves",
            limit: MAX_ENCLAVES as u64,
        });
    }
    for (i, id) in enclaves.iter().enumerate() {
        if !is_enclave_id(id) {
            return Err(Error::Manifest(format!(
                "enclave id {} is not 64 lowercase hex digits",
                excerpt(id)
            )));
        }
        if i > 0 && enclaves[i - 1] >= *id {
            return Err(Error::Manifest(
                "enclave ids are not strictly increasing (unsorted or duplicated)".into(),
            ));
        }
    }
    Ok(())
}

/// Whether `s` is an enclave id as a manifest carries it (SPEC.md 5.6): 64
/// lowercase hex digits.
pub fn is_enclave_id(s: &str) -> bool {
    is_keyid(s)
}

/// The portable-name rules of SPEC.md section 4.1 over all entries: every
/// component can exist on FAT32, exFAT and NTFS, and no two names (of files
/// or of the directories above them) differ only by case or Unicode
/// normalization.
///
/// Each component is keyed once, by (kind, the key of its parent
/// directory, its canonical caseless form), so the cost is linear in the
/// total length of the paths whatever their depth.
fn check_portable_names(entries: &[Entry]) -> Result<(), Error> {
    use std::collections::HashMap;
    // (kind, parent node, caseless key) -> (node, entry index, byte range
    // of the component in that entry's path). A key borrows its component
    // when that is its own caseless form (lowercase ASCII, most names), and
    // the table is sized for one new node per entry (a file each, the
    // directories shared), so that neither allocation nor regrowth is paid
    // per component.
    type Seen = (usize, usize, std::ops::Range<usize>);
    let mut nodes: HashMap<(EntryKind, usize, Cow<'_, str>), Seen> =
        HashMap::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let path = e.path.as_str();
        check_portable(path).map_err(|reason| Error::PathNotPortable {
            path: excerpt(&e.tar_path()),
            reason,
        })?;
        let mut parent = 0usize;
        let mut start = 0usize;
        for component in path.split('/') {
            let end = start + component.len();
            let next = nodes.len() + 1;
            let (node, j, range) = nodes
                .entry((e.kind, parent, caseless_key(component)))
                .or_insert((next, i, start..end))
                .clone();
            let other_path = entries[j].path.as_str();
            let other_component = &other_path[range.clone()];
            // The parents are one node, spelled alike, so two names that
            // differ do so in this component.
            if other_component != component {
                let this = excerpt(&format!("{}{}", e.kind.prefix(), &path[..end]));
                let that = excerpt(&format!("{}{}", e.kind.prefix(), &other_path[..range.end]));
                return Err(if nfc(component) == nfc(other_component) {
                    Error::PathNormalizationCollision {
                        path: this,
                        other: that,
                    }
                } else {
                    Error::PathCaseCollision {
                        path: this,
                        other: that,
                    }
                });
            }
            parent = node;
            start = end + 1;
        }
    }
    Ok(())
}

/// The image rules of SPEC.md 5.5: format 2 exactly when there are images,
/// content-addressed entries only in format 2, every image well-formed,
/// sorted, unique, and its manifest carried.
fn validate_images(m: &Manifest) -> Result<(), Error> {
    if m.format == FORMAT_VERSION_IMAGES && m.images.is_empty() {
        return Err(Error::Manifest(
            "a format 2 manifest lists at least one image".into(),
        ));
    }
    if m.format == FORMAT_VERSION
        && let Some(e) = m.entries.iter().find(|e| e.kind.is_image_content())
    {
        return Err(Error::Manifest(format!(
            "entry {} is image content, which only a format 2 manifest carries",
            e.tar_path()
        )));
    }
    for (i, img) in m.images.iter().enumerate() {
        let what = || excerpt(&img.reference());
        if !is_image_name(&img.name) {
            return Err(Error::Manifest(format!(
                "image name {} is not a repository path (lowercase [a-z0-9] components joined by . _ __ - and /, at most {MAX_IMAGE_NAME_BYTES} bytes)",
                excerpt(&img.name)
            )));
        }
        if let Some(t) = &img.tag
            && !is_tag(t)
        {
            return Err(Error::Manifest(format!(
                "image {} has a tag that is not [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}",
                what()
            )));
        }
        if img.platforms.len() > MAX_PLATFORMS {
            return Err(Error::Manifest(format!(
                "image {} lists more than {MAX_PLATFORMS} platforms",
                what()
            )));
        }
        for (j, p) in img.platforms.iter().enumerate() {
            if !is_platform(p) {
                return Err(Error::Manifest(format!(
                    "image {} has platform {} that is not os/architecture[/variant]",
                    what(),
                    excerpt(p)
                )));
            }
            if j > 0 && img.platforms[j - 1] >= *p {
                return Err(Error::Manifest(format!(
                    "image {} lists its platforms unsorted or twice",
                    what()
                )));
            }
        }
        if i > 0 {
            let prev = &m.images[i - 1];
            match (&prev.name, &prev.tag).cmp(&(&img.name, &img.tag)) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => {
                    return Err(Error::Manifest(format!("image {} is listed twice", what())));
                }
                std::cmp::Ordering::Greater => {
                    return Err(Error::Manifest(format!(
                        "images are not sorted by name and tag at {}",
                        what()
                    )));
                }
            }
        }
        let path = img.manifest_path();
        let carried = m
            .entries
            .binary_search_by(|e| e.sort_key().cmp(&(EntryKind::ImageManifest, path.as_str())))
            .is_ok();
        if !carried {
            return Err(Error::ImageNotCarried {
                image: img.reference(),
            });
        }
    }
    Ok(())
}

fn nfc(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.nfc().collect()
}

/// The canonical caseless form of a name (Unicode section 3.13, D145):
/// NFC(full case folding(NFD(s))). ASCII is only lowercased, and is
/// borrowed when it has no uppercase letter.
fn caseless_key(s: &str) -> Cow<'_, str> {
    use unicode_normalization::UnicodeNormalization;
    if s.is_ascii() {
        return if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        };
    }
    let decomposed: String = s.nfd().collect();
    unicase::UniCase::new(decomposed.as_str())
        .to_folded_case()
        .nfc()
        .collect::<String>()
        .into()
}

/// A repository path as the OCI distribution spec's `<name>` grammar has it:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub fn is_image_name(s: &str) -> bool {
    s.len() <= MAX_IMAGE_NAME_BYTES && s.split('/').all(is_name_component)
}

fn is_name_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or "-"+, then an alphanumeric.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TAG_BYTES
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'.' | b'_' | b'-'))
}

/// `os/architecture[/variant]`, each part 1 or more of `[A-Za-z0-9._-]`.
fn is_platform(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    s.len() <= MAX_PLATFORM_BYTES
        && (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'.' | b'_' | b'-'))
        })
}

/// Checks a sorted entry list: count, paths, modes, sizes, order, duplicates
/// and path conflicts. Shared by the manifest and the payload writer.
pub(crate) fn validate_entries(entries: &[Entry], limits: &Limits) -> Result<(), Error> {
    if entries.len() > limits.max_entries {
        return Err(Error::Limit {
            what: "entries",
            limit: limits.max_entries as u64,
        });
    }
    let mut total: u64 = 0;
    for (i, e) in entries.iter().enumerate() {
        let path = e.path.as_str();
        BundlePath::new(path, limits).map_err(|reason| Error::UnsafePath {
            path: excerpt(path),
            reason,
        })?;
        if e.kind.prefix().len() + path.len() > limits.max_path_bytes {
            return Err(Error::UnsafePath {
                path: excerpt(&e.tar_path()),
                reason: PathError::TooLong,
            });
        }
        if e.kind.is_image_content() {
            let name_ok = path
                .strip_prefix("sha256/")
                .is_some_and(|h| h == hex::encode(e.sha256));
            if !name_ok {
                return Err(Error::BlobName { path: e.tar_path() });
            }
            if e.mode != BLOB_MODE {
                return Err(Error::Manifest(format!(
                    "entry {} has mode {:o}; image content is always 644",
                    e.tar_path(),
                    e.mode
                )));
            }
        }
        if e.mode > MAX_MODE {
            return Err(Error::Manifest(format!(
                "entry {} has mode {:o}; only permission bits (at most 7777) are allowed",
                e.tar_path(),
                e.mode
            )));
        }
        let (what, limit) = if e.kind.is_metadata() {
            ("metadata entry bytes", limits.max_metadata_entry_bytes)
        } else {
            ("entry bytes", limits.max_entry_bytes)
        };
        if e.size > limit {
            return Err(Error::Limit { what, limit });
        }
        total = total
            .checked_add(e.size)
            .filter(|t| *t <= limits.max_total_bytes)
            .ok_or(Error::Limit {
                what: "total bytes",
                limit: limits.max_total_bytes,
            })?;
        if i > 0 {
            match entries[i - 1].sort_key().cmp(&e.sort_key()) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => {
                    return Err(Error::DuplicatePath { path: e.tar_path() });
                }
                std::cmp::Ordering::Greater => {
                    return Err(Error::Manifest(format!(
                        "entries are not sorted by kind and path at {}",
                        e.tar_path()
                    )));
                }
            }
        }
    }
    // Kind prefixes are disjoint directories, so a conflict can only occur
    // within one kind. Byte order does not put `a` next to `a/b` (`a-c` and
    // `a.txt` sort between them), but component order does: there, a path's
    // descendants directly follow it. Comparing neighbours finds every
    // conflict with O(n log n) comparisons and no per-component allocation,
    // so an unsigned manifest of deep paths cannot make this expensive.
    let mut order: Vec<&Entry> = entries.iter().collect();
    order.sort_unstable_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then_with(|| a.path.as_str().split('/').cmp(b.path.as_str().split('/')))
    });
    for w in order.windows(2) {
        let (parent, child) = (w[0].path.as_str(), w[1].path.as_str());
        if w[0].kind == w[1].kind
            && child.len() > parent.len()
            && child.starts_with(parent)
            && child.as_bytes()[parent.len()] == b'/'
        {
            return Err(Error::PathConflict {
                path: w[0].tar_path(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(kind: EntryKind, path: &str, size: u64) -> Entry {
        Entry {
            kind,
            path: BundlePath::new(path, &Limits::default()).unwrap(),
            size,
            sha256: [7; 32],
            mode: 0o644,
        }
    }

    fn fields(entries: Vec<Entry>) -> ManifestFields {
        ManifestFields {
            channel: "stable".into(),
            sequence: 3,
            created: 1_700_000_000,
            expires: 1_800_000_000,
            payload_sha256: [9; 32],
            supply_chain: SupplyChain {
                layout_keyids: vec!["ab".repeat(32)],
                product_step: Some("build".into()),
            },
            images: Vec::new(),
            entries,
            names: NameRule::Portable,
            enclaves: Vec::new(),
        }
    }

    fn base(entries: Vec<Entry>) -> Base {
        Base {
            bundle_id: "0123456789abcdef0123456789abcdef".into(),
            sequence: 2,
            entries,
        }
    }

    /// A manifest with every optional key (images, enclaves, posix_names,
    /// base, frames), made by hand: the canonical reader reads the form,
    /// not the rules.
    fn every_key() -> Manifest {
        let mut m = Manifest::new(
            fields(vec![
                entry(EntryKind::Root, "1.root.json", 300),
                entry(EntryKind::Artifact, "bin/tool", 70_000),
                entry(EntryKind::Artifact, "é/ü", 5_000_000_000),
            ]),
            &Limits::default(),
        )
        .unwrap();
        m.format = FORMAT_VERSION_IMAGES;
        m.images = vec![
            Image {
                name: "app/web".into(),
                tag: Some("1.0".into()),
                digest: [3; 32],
                platforms: vec!["linux/amd64".into(), "linux/arm/v7".into()],
            },
            Image {
                name: "db".into(),
                tag: None,
                digest: [4; 32],
                platforms: Vec::new(),
            },
        ];
        m.supply_chain.product_step = None;
        m.enclaves = vec!["ab".repeat(32)];
        m.names = NameRule::PosixOnly;
        m.base = Some(base(vec![entry(EntryKind::Artifact, "old", 1)]));
        m.frames = vec![
            PayloadFrame {
                len: 10,
                sha256: [5; 32],
                first_entry: 0,
            },
            PayloadFrame {
                len: 20,
                sha256: [6; 32],
                first_entry: 1,
            },
        ];
        m
    }

    #[test]
    fn the_canonical_reader_agrees_with_ciborium() {
        let l = Limits::default();
        let simple = Manifest::new(fields(vec![entry(EntryKind::Artifact, "a", 1)]), &l).unwrap();
        for m in [simple, every_key()] {
            let bytes = m.encode();
            let direct = WireManifest::canonical(&mut Dec::new(&bytes));
            let serde: WireManifest = from_cbor(&bytes).unwrap();
            assert_eq!(direct, Some(serde));
        }
        // Changed or cut anywhere: what the canonical reader reads, ciborium
        // reads alike; everything else goes to ciborium, as before.
        let bytes = every_key().encode();
        let (mut read, mut passed) = (0, 0);
        for i in 0..bytes.len() {
            for b in [
                0x00, 0x01, 0x17, 0x18, 0x20, 0x40, 0x60, 0x80, 0xa0, 0xf6, 0xff,
            ] {
                let mut c = bytes.clone();
                c[i] = b;
                for bytes in [&c[..], &bytes[..i]] {
                    assert!(readers_agree(bytes), "{bytes:02x?}");
                    match WireManifest::canonical(&mut Dec::new(bytes)) {
                        Some(_) => read += 1,
                        None => passed += 1,
                    }
                }
            }
        }
        assert!(
            read > 100 && passed > 100,
            "{read} read, {passed} passed on"
        );
    }

    #[test]
    fn bytes_not_in_the_canonical_form_are_refused_as_before() {
        let l = Limits::default();
        let m = Manifest::new(fields(vec![entry(EntryKind::Artifact, "a", 1)]), &l).unwrap();
        let bytes = m.encode();
        // `sequence` (3) in a longer head than it needs: ciborium reads it,
        // the re-encoding tells it apart.
        let at = bytes.windows(9).position(|w| w == b"hsequence").unwrap() + 9;
        let mut long = bytes[..at].to_vec();
        long.extend_from_slice(&[0x18, 3]);
        long.extend_from_slice(&bytes[at + 1..]);
        assert!(WireManifest::canonical(&mut Dec::new(&long)).is_none());
        assert!(matches!(
            Manifest::decode(&long, &l),
            Err(Error::NonCanonical)
        ));
        // Trailing bytes and an unknown key keep ciborium's refusals.
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            Manifest::decode(&trailing, &l),
            Err(Error::Manifest(msg)) if msg.contains("trailing")
        ));
        let mut unknown = bytes.clone();
        unknown[0] += 1;
        unknown.extend_from_slice(b"czzz\x00");
        assert!(matches!(
            Manifest::decode(&unknown, &l),
            Err(Error::Manifest(msg)) if msg.contains("zzz")
        ));
    }

    #[test]
    fn delta_round_trips_and_full_release_merges() {
        let l = Limits::default();
        let m = Manifest::new_delta(
            fields(vec![entry(EntryKind::Artifact, "b", 1)]),
            base(vec![
                entry(EntryKind::Artifact, "c", 2),
                entry(EntryKind::Artifact, "a", 3),
            ]),
            &l,
        )
        .unwrap();
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes, &l).unwrap(), m);
        let paths: Vec<String> = m
            .full_release()
            .entries
            .iter()
            .map(Entry::tar_path)
            .collect();
        assert_eq!(paths, ["artifacts/a", "artifacts/b", "artifacts/c"]);
        assert!(m.full_release().base.is_none());
        // The base is part of what is signed: another base, another id.
        let mut other = base(vec![entry(EntryKind::Artifact, "a", 3)]);
        other.sequence = 1;
        let n = Manifest::new_delta(fields(vec![entry(EntryKind::Artifact, "b", 1)]), other, &l)
            .unwrap();
        assert_ne!(n.bundle_id, m.bundle_id);
    }

    #[test]
    fn a_reader_without_base_refuses_a_delta() {
        // What a reader that predates `base` does: deny_unknown_fields.
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Old {
            format: u32,
            bundle_id: String,
            channel: String,
            sequence: u64,
            created: u64,
            expires: u64,
            payload_sha256: serde_bytes::ByteBuf,
            supply_chain: serde::de::IgnoredAny,
            entries: serde::de::IgnoredAny,
            #[serde(default)]
            posix_names: bool,
        }
        let l = Limits::default();
        let full = Manifest::new(fields(vec![entry(EntryKind::Artifact, "b", 1)]), &l).unwrap();
        assert!(from_cbor::<Old>(&full.encode()).is_ok());
        let delta = Manifest::new_delta(
            fields(vec![entry(EntryKind::Artifact, "b", 1)]),
            base(vec![entry(EntryKind::Artifact, "a", 3)]),
            &l,
        )
        .unwrap();
        let err = from_cbor::<Old>(&delta.encode()).err().unwrap();
        assert!(err.contains("base"), "{err}");
    }

    #[test]
    fn delta_rules() {
        let l = Limits::default();
        let carried = || fields(vec![entry(EntryKind::Artifact, "b", 1)]);
        let bad = |b: Base| Manifest::new_delta(carried(), b, &l).unwrap_err();
        // The same path carried and taken from the base.
        assert!(matches!(
            bad(base(vec![entry(EntryKind::Artifact, "b", 1)])),
            Error::DuplicatePath { .. }
        ));
        // A base path that is a directory of a carried one.
        assert!(matches!(
            bad(base(vec![entry(EntryKind::Artifact, "b/c", 1)])),
            Error::PathConflict { .. }
        ));
        // Names collide across the two lists.
        assert!(matches!(
            bad(base(vec![entry(EntryKind::Artifact, "B", 1)])),
            Error::PathCaseCollision { .. }
        ));
        // Metadata is always carried; blobs need format 2.
        assert!(matches!(
            bad(base(vec![entry(EntryKind::Link, "x.link", 1)])),
            Error::Manifest(_)
        ));
        let mut blob = entry(
            EntryKind::Blob,
            &format!("sha256/{}", hex::encode([7; 32])),
            1,
        );
        blob.mode = BLOB_MODE;
        assert!(matches!(bad(base(vec![blob])), Error::Manifest(_)));
        // Empty, an older-or-equal sequence is required, a well-formed id.
        assert!(matches!(bad(base(vec![])), Error::Manifest(_)));
        let mut b = base(vec![entry(EntryKind::Artifact, "a", 1)]);
        b.sequence = 3;
        assert!(matches!(bad(b), Error::Manifest(_)));
        let mut b = base(vec![entry(EntryKind::Artifact, "a", 1)]);
        b.bundle_id = "ABC".into();
        assert!(matches!(bad(b), Error::Manifest(_)));
        // Unsorted base entries in the bytes are refused on decode.
        let m = Manifest::new_delta(
            carried(),
            base(vec![
                entry(EntryKind::Artifact, "a", 1),
                entry(EntryKind::Artifact, "c", 1),
            ]),
            &l,
        )
        .unwrap();
        let mut swapped = m.clone();
        if let Some(b) = swapped.base.as_mut() {
            b.entries.swap(0, 1);
        }
        let bytes = swapped.encode_with_id(&swapped.compute_bundle_id());
        assert!(matches!(
            Manifest::decode(&bytes, &l),
            Err(Error::Manifest(_))
        ));
    }

    #[test]
    fn new_sorts_and_round_trips() {
        let l = Limits::default();
        let m = Manifest::new(
            fields(vec![
                entry(EntryKind::Artifact, "b", 1),
                entry(EntryKind::Root, "root.json", 2),
                entry(EntryKind::Artifact, "a", 3),
            ]),
            &l,
        )
        .unwrap();
        let kinds: Vec<_> = m.entries.iter().map(|e| e.tar_path()).collect();
        assert_eq!(
            kinds,
            ["meta/roots/root.json", "artifacts/a", "artifacts/b"]
        );
        assert_eq!(m.bundle_id.len(), 32);
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes, &l).unwrap(), m);
        assert_eq!(m.find("artifacts/b"), Some(2));
        assert_eq!(m.find("artifacts/c"), None);
        assert_eq!(m.find("meta/roots/root.json"), Some(0));
        assert_eq!(m.artifact_count(), 2);
        assert_eq!(m.artifact_bytes(), 4);
        assert_eq!(m.total_bytes(), 6);
    }

    #[test]
    fn encoding_matches_ciborium_serde() {
        // The hand-written encoder must agree with a plain serde encoding of
        // the same structure (field order = declaration order).
        #[derive(serde::Serialize)]
        struct M<'a> {
            format: u32,
            bundle_id: &'a str,
            channel: &'a str,
            sequence: u64,
            created: u64,
            expires: u64,
            payload_sha256: serde_bytes::ByteArray<32>,
            supply_chain: S<'a>,
            entries: Vec<E<'a>>,
        }
        #[derive(serde::Serialize)]
        struct S<'a> {
            layout_keyids: &'a [String],
            product_step: Option<&'a str>,
        }
        #[derive(serde::Serialize)]
        struct E<'a> {
            kind: &'a str,
            path: &'a str,
            size: u64,
            sha256: serde_bytes::ByteArray<32>,
            mode: u32,
        }
        let m = Manifest::new(
            fields(vec![
                entry(EntryKind::Layout, "root.layout", 70_000),
                entry(EntryKind::Artifact, "x/y", u32::MAX as u64 + 9),
            ]),
            &Limits::default(),
        )
        .unwrap();
        let s = M {
            format: m.format,
            bundle_id: &m.bundle_id,
            channel: &m.channel,
            sequence: m.sequence,
            created: m.created,
            expires: m.expires,
            payload_sha256: serde_bytes::ByteArray::new(m.payload_sha256),
            supply_chain: S {
                layout_keyids: &m.supply_chain.layout_keyids,
                product_step: m.supply_chain.product_step.as_deref(),
            },
            entries: m
                .entries
                .iter()
                .map(|e| E {
                    kind: e.kind.name(),
                    path: e.path.as_str(),
                    size: e.size,
                    sha256: serde_bytes::ByteArray::new(e.sha256),
                    mode: e.mode,
                })
                .collect(),
        };
        let mut c = Vec::new();
        ciborium::into_writer(&s, &mut c).unwrap();
        assert_eq!(m.encode(), c);
    }

    #[test]
    fn path_conflict_is_found_across_interleaved_names() {
        let err = Manifest::new(
            fields(vec![
                entry(EntryKind::Artifact, "a", 1),
                entry(EntryKind::Artifact, "a-c", 1),
                entry(EntryKind::Artifact, "a.txt", 1),
                entry(EntryKind::Artifact, "a/b", 1),
            ]),
            &Limits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::PathConflict { ref path } if path == "artifacts/a"));
        // The same names under different kinds do not conflict.
        Manifest::new(
            fields(vec![
                entry(EntryKind::Attestation, "a", 1),
                entry(EntryKind::Artifact, "a/b", 1),
            ]),
            &Limits::default(),
        )
        .unwrap();
    }

    fn names_error(paths: &[(EntryKind, &str)], names: NameRule) -> Option<Error> {
        let entries = paths.iter().map(|(k, p)| entry(*k, p, 1)).collect();
        Manifest::new(
            ManifestFields {
                names,
                ..fields(entries)
            },
            &Limits::default(),
        )
        .err()
    }

    /// The same manifest as an unsigned reader sees it: built around
    /// `Manifest::new`'s checks, then decoded.
    fn decode_error(paths: &[&str]) -> Error {
        let mut m = Manifest::new(
            ManifestFields {
                names: NameRule::PosixOnly,
                ..fields(
                    paths
                        .iter()
                        .map(|p| entry(EntryKind::Artifact, p, 1))
                        .collect(),
                )
            },
            &Limits::default(),
        )
        .unwrap();
        m.names = NameRule::Portable;
        m.bundle_id = m.compute_bundle_id();
        Manifest::decode(&m.encode(), &Limits::default()).unwrap_err()
    }

    #[test]
    fn names_that_differ_only_by_case_collide() {
        use EntryKind::{Artifact, Attestation};
        for (paths, path, other) in [
            (
                &[(Artifact, "README"), (Artifact, "readme")][..],
                "artifacts/readme",
                "artifacts/README",
            ),
            (
                &[(Artifact, "Straße"), (Artifact, "STRASSE")],
                "artifacts/Straße",
                "artifacts/STRASSE",
            ),
            (
                &[(Artifact, "A/x"), (Artifact, "a/y")],
                "artifacts/a",
                "artifacts/A",
            ),
            (
                &[(Artifact, "a"), (Artifact, "A/b")],
                "artifacts/a",
                "artifacts/A",
            ),
            (
                &[(Artifact, "d/ΣΑΣ"), (Artifact, "d/σας")],
                "artifacts/d/σας",
                "artifacts/d/ΣΑΣ",
            ),
        ] {
            let err = names_error(paths, NameRule::Portable);
            assert!(
                matches!(&err, Some(Error::PathCaseCollision { path: p, other: o }) if p == path && o == other),
                "{paths:?}: {err:?}"
            );
            assert_eq!(err.unwrap().code(), "path-case-collision");
            assert!(
                names_error(paths, NameRule::PosixOnly).is_none(),
                "{paths:?}"
            );
        }
        // Different kinds are different directories.
        assert!(names_error(&[(Attestation, "a"), (Artifact, "A")], NameRule::Portable).is_none());
        assert!(matches!(
            decode_error(&["README", "readme"]),
            Error::PathCaseCollision { .. }
        ));
    }

    #[test]
    fn a_caseless_key_borrows_only_what_is_already_caseless() {
        assert!(matches!(
            caseless_key("lib-1.so"),
            Cow::Borrowed("lib-1.so")
        ));
        assert!(matches!(caseless_key("Lib-1.SO"), Cow::Owned(k) if k == "lib-1.so"));
        assert_eq!(caseless_key("ΣΑΣ"), caseless_key("σας"));
        assert_eq!(caseless_key("CAF\u{c9}"), caseless_key("cafe\u{301}"));
    }

    #[test]
    fn names_that_differ_only_by_normalization_collide() {
        let (nfc, nfd) = ("caf\u{e9}", "cafe\u{301}");
        for paths in [[nfc, nfd], [&format!("{nfc}/a"), &format!("{nfd}/b")]] {
            let paths: Vec<(EntryKind, &str)> =
                paths.iter().map(|p| (EntryKind::Artifact, *p)).collect();
            let err = names_error(&paths, NameRule::Portable).unwrap();
            assert!(
                matches!(err, Error::PathNormalizationCollision { .. }),
                "{err:?}"
            );
            assert_eq!(err.code(), "path-normalization-collision");
            assert!(names_error(&paths, NameRule::PosixOnly).is_none());
        }
        // Case and normalization at once: a case collision.
        let err = names_error(
            &[
                (EntryKind::Artifact, "CAF\u{c9}"),
                (EntryKind::Artifact, "cafe\u{301}"),
            ],
            NameRule::Portable,
        );
        assert!(
            matches!(err, Some(Error::PathCaseCollision { .. })),
            "{err:?}"
        );
        assert!(matches!(
            decode_error(&[nfc, nfd]),
            Error::PathNormalizationCollision { .. }
        ));
    }

    #[test]
    fn unportable_names_are_refused_unless_posix_only() {
        for p in ["a:b.txt", "x/trailing.", "CON", "dir/aux.txt", "what?"] {
            let paths = [(EntryKind::Artifact, p)];
            let err = names_error(&paths, NameRule::Portable).unwrap();
            assert!(matches!(err, Error::PathNotPortable { .. }), "{p}: {err:?}");
            assert_eq!(err.code(), "path-not-portable");
            assert!(names_error(&paths, NameRule::PosixOnly).is_none(), "{p}");
        }
        assert!(matches!(
            decode_error(&["a:b"]),
            Error::PathNotPortable { .. }
        ));
    }

    #[test]
    fn posix_names_is_an_optional_signed_key() {
        let l = Limits::default();
        let portable = Manifest::new(fields(vec![entry(EntryKind::Artifact, "a", 1)]), &l).unwrap();
        let posix = Manifest::new(
            ManifestFields {
                names: NameRule::PosixOnly,
                ..fields(vec![entry(EntryKind::Artifact, "a", 1)])
            },
            &l,
        )
        .unwrap();
        let (a, b) = (portable.encode(), posix.encode());
        // Absent when portable: the encoding is the one from before the key.
        assert!(!a.windows(11).any(|w| w == b"posix_names"));
        assert_ne!(portable.bundle_id, posix.bundle_id);
        // Present: map of 10, then the key and `true` last.
        assert_eq!(b[0], 0xaa);
        assert!(b.ends_with(b"kposix_names\xf5"));
        assert_eq!(Manifest::decode(&b, &l).unwrap(), posix);
        // An explicit `false` is a second encoding of the default: refused.
        let mut c = a.clone();
        c[0] = 0xaa;
        c.extend_from_slice(b"kposix_names\xf4");
        assert!(matches!(Manifest::decode(&c, &l), Err(Error::NonCanonical)));
    }

    #[test]
    fn enclaves_is_an_optional_signed_key_between_entries_and_posix_names() {
        let l = Limits::default();
        let (a, b) = ("a".repeat(64), "0b".repeat(32));
        let open = Manifest::new(fields(vec![entry(EntryKind::Artifact, "a", 1)]), &l).unwrap();
        let directed = Manifest::new(
            ManifestFields {
                enclaves: vec![a.clone(), b.clone()],
                names: NameRule::PosixOnly,
                ..fields(vec![entry(EntryKind::Artifact, "a", 1)])
            },
            &l,
        )
        .unwrap();
        // Sorted by `new`; absent when empty: the bytes from before the key.
        assert_eq!(directed.enclaves, [b.clone(), a.clone()]);
        assert!(!open.encode().windows(8).any(|w| w == b"enclaves"));
        assert_ne!(open.bundle_id, directed.bundle_id);
        let bytes = directed.encode();
        assert_eq!(bytes[0], 0xab);
        let mut tail = b"henclaves\x82\x78\x40".to_vec();
        tail.extend_from_slice(b.as_bytes());
        tail.extend_from_slice(b"\x78\x40");
        tail.extend_from_slice(a.as_bytes());
        tail.extend_from_slice(b"kposix_names\xf5");
        assert!(bytes.ends_with(&tail));
        assert_eq!(Manifest::decode(&bytes, &l).unwrap(), directed);
        // An empty list is a second encoding of "not directed": refused.
        let mut c = open.encode();
        c[0] += 1;
        c.extend_from_slice(b"henclaves\x80");
        assert!(matches!(Manifest::decode(&c, &l), Err(Error::NonCanonical)));
        // Ids are 64 lowercase hex digits, each once.
        for bad in [
            vec!["A".repeat(64)],
            vec!["ab".into()],
            vec![a.clone(), a.clone()],
        ] {
            let err = Manifest::new(
                ManifestFields {
                    enclaves: bad.clone(),
                    ..fields(vec![entry(EntryKind::Artifact, "a", 1)])
                },
                &l,
            )
            .unwrap_err();
            assert!(matches!(err, Error::Manifest(_)), "{bad:?}: {err:?}");
        }
        let err = Manifest::new(
            ManifestFields {
                enclaves: (0..=MAX_ENCLAVES).map(|i| format!("{i:064x}")).collect(),
                ..fields(vec![entry(EntryKind::Artifact, "a", 1)])
            },
            &l,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Limit {
                    what: "enclaves",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn signatures_round_trip_sorted() {
        let l = Limits::default();
        let s = Signatures(vec![
            ManifestSignature {
                keyid: "b".repeat(64),
                sig: vec![1; 64],
            },
            ManifestSignature {
                keyid: "a".repeat(64),
                sig: vec![2; 64],
            },
        ]);
        let d = Signatures::decode(&s.encode(), &l).unwrap();
        assert_eq!(d.0[0].keyid, "a".repeat(64));
        assert_eq!(d.0[1].sig, vec![1; 64]);
        assert_eq!(
            Signatures::decode(&Signatures::default().encode(), &l)
                .unwrap()
                .0
                .len(),
            0
        );
    }

    #[test]
    fn signing_message_is_domain_separated() {
        let m = signing_message(b"abc");
        assert!(m.starts_with(b"airlock-bundle-manifest-v1\n"));
        assert_eq!(m.len(), 27 + 32);
        assert_eq!(&m[27..], Sha256::digest(b"abc").as_slice());
    }
}
