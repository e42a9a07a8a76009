//! Container images: the OCI (and Docker schema 2) manifest and index
//! types, parsed once into checked types; the sources `pack --image` and
//! `record --image` read (`source`); the graph check of a bundle's images
//! (`graph`); and the OCI image layout the isolated side writes (`layout`).
//!
//! Only what airlock relies on is parsed: media types, descriptors (digest,
//! size, platform) and the references between documents. The documents
//! themselves are carried byte for byte, so their digests never change.
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

pub mod attestations;
pub mod docker_archive;
pub mod graph;
pub mod layout;
pub mod pull;
pub mod referrers;
pub mod registry;
mod registry_error;
pub mod source;

pub use registry_error::RegistryError;

/// OCI image index.
pub const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const MT_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer (what `docker save` layers become).
pub const MT_OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Docker manifest list.
pub const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 2 manifest.
pub const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The largest manifest or index airlock reads (the distribution spec lets
/// registries refuse more than 4 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// The annotation naming a manifest in an OCI layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// What went wrong with an image; every variant has a code and a hint.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum OciError {
    /// A manifest or index that does not parse as one.
    #[error("{what} is not a valid image manifest or index: {reason}")]
    Malformed {
        /// Which document.
        what: String,
        /// Why.
        reason: String,
    },
    /// A descriptor points at content that is not there.
    #[error("{what} references {digest}, which is not carried")]
    Missing {
        /// Which document.
        what: String,
        /// The digest it references.
        digest: String,
    },
    /// A descriptor's size differs from the content's.
    #[error("{what} says {digest} has {expected} bytes, but it has {found}")]
    SizeMismatch {
        /// Which document.
        what: String,
        /// The digest.
        digest: String,
        /// The descriptor's size.
        expected: u64,
        /// The content's size.
        found: u64,
    },
    /// Content no listed image references.
    #[error("{path} is carried but no image references it")]
    Unreferenced {
        /// The entry.
        path: String,
    },
    /// An artifact where the unpacked images go (`oci/`).
    #[error("artifact {path} would be unpacked where the bundle's images go (oci/)")]
    PathConflict {
        /// The artifact.
        path: String,
    },
    /// An image's platforms in the manifest differ from its index.
    #[error("image {image} lists platforms {listed}, its index says {found}")]
    Platforms {
        /// The image.
        image: String,
        /// Signed list.
        listed: String,
        /// From the index.
        found: String,
    },
}

impl OciError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            OciError::Malformed { .. } => "image-manifest-malformed",
            OciError::Missing { .. } => "image-blob-missing",
            OciError::SizeMismatch { .. } => "image-blob-size",
            OciError::Unreferenced { .. } => "image-content-unreferenced",
            OciError::Platforms { .. } => "image-platforms-mismatch",
            OciError::PathConflict { .. } => "image-path-conflict",
        }
    }
}

/// A SHA-256 digest (`sha256:<hex>` on the wire).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// Parses `sha256:` followed by 64 lowercase hex digits.
    pub fn parse(s: &str) -> Option<Digest> {
        let h = s.strip_prefix("sha256:")?;
        if h.len() != 64 || !h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut d = [0u8; 32];
        hex::decode_to_slice(h, &mut d).ok()?;
        Some(Digest(d))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        Digest(sha2::Sha256::digest(bytes).into())
    }

    /// The lowercase hex digits.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A platform: `os/architecture[/variant]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Platform(pub String);

/// A checked descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Its media type.
    pub media_type: String,
    /// The digest of what it points at.
    pub digest: Digest,
    /// The size of what it points at.
    pub size: u64,
    /// For an index entry, the platform, if given.
    pub platform: Option<Platform>,
}

/// A checked image document: an index (or Docker list) or a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Doc {
    /// An image index: the manifests it lists.
    Index(Vec<Descriptor>),
    /// An image manifest: its config and layers (and its subject, for an
    /// artifact manifest attached to another image).
    Manifest {
        /// The config blob.
        config: Descriptor,
        /// The layers, in order.
        layers: Vec<Descriptor>,
        /// The image this one is attached to (an OCI 1.1 referrer), if any.
        subject: Option<Descriptor>,
    },
}

impl Doc {
    /// Whether a media type is one of an index.
    pub fn is_index_type(mt: &str) -> bool {
        mt == MT_OCI_INDEX || mt == MT_DOCKER_LIST
    }

    /// Whether a media type is one of a manifest.
    pub fn is_manifest_type(mt: &str) -> bool {
        mt == MT_OCI_MANIFEST || mt == MT_DOCKER_MANIFEST
    }

    /// Parses an untrusted manifest or index. `what` names it in errors.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Doc, OciError> {
        let bad = |reason: String| OciError::Malformed {
            what: what.to_owned(),
            reason,
        };
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(bad(format!("larger than {MAX_MANIFEST_BYTES} bytes")));
        }
        let w: WireDoc = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if w.schema_version != 2 {
            return Err(bad(format!("schemaVersion {} (only 2)", w.schema_version)));
        }
        let desc = |d: WireDescriptor| -> Result<Descriptor, OciError> {
            let digest = Digest::parse(&d.digest).ok_or_else(|| {
                bad(format!(
                    "digest {} is not sha256:<64 hex>",
                    airlock_bundle::excerpt(&d.digest)
                ))
            })?;
            let platform = match d.platform {
                None => None,
                Some(p) => {
                    Some(Platform(platform_string(&p).ok_or_else(|| {
                        bad("a platform without os or architecture".into())
                    })?))
                }
            };
            Ok(Descriptor {
                media_type: d.media_type,
                digest,
                size: d.size,
                platform,
            })
        };
        let subject = w.subject.map(desc).transpose()?;
        match (w.manifests, w.config, w.layers) {
            (Some(ms), None, None) => {
                if let Some(mt) = &w.media_type
                    && !Doc::is_index_type(mt)
                {
                    return Err(bad(format!("an index with media type {mt}")));
                }
                let list = ms.into_iter().map(desc).collect::<Result<Vec<_>, _>>()?;
                Ok(Doc::Index(list))
            }
            (None, Some(c), layers) => {
                if let Some(mt) = &w.media_type
                    && !Doc::is_manifest_type(mt)
                {
                    return Err(bad(format!("a manifest with media type {mt}")));
                }
                let layers = layers
                    .unwrap_or_default()
                    .into_iter()
                    .map(desc)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Doc::Manifest {
                    config: desc(c)?,
                    layers,
                    subject,
                })
            }
            _ => Err(bad(
                "neither an index (manifests) nor a manifest (config, layers)".into(),
            )),
        }
    }

    /// The media type of a document, from its bytes (`mediaType`, or by shape).
    pub fn media_type_of(bytes: &[u8]) -> String {
        let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        if let Some(mt) = v.get("mediaType").and_then(Value::as_str) {
            return mt.to_owned();
        }
        if v.get("manifests").is_some() {
            MT_OCI_INDEX.into()
        } else {
            MT_OCI_MANIFEST.into()
        }
    }

    /// The image a referrer is attached to (its `subject`), if any.
    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Doc::Manifest { subject, .. } => subject.as_ref(),
            Doc::Index(_) => None,
        }
    }

    /// Every descriptor this document references.
    pub fn references(&self) -> Vec<&Descriptor> {
        match self {
            Doc::Index(l) => l.iter().collect(),
            Doc::Manifest { config, layers, .. } => std::iter::once(config).chain(layers).collect(),
        }
    }
}

fn platform_string(p: &WirePlatform) -> Option<String> {
    if p.os.is_empty() || p.architecture.is_empty() {
        return None;
    }
    let mut s = format!("{}/{}", p.os, p.architecture);
    if let Some(v) = p.variant.as_deref().filter(|v| !v.is_empty()) {
        s.push('/');
        s.push_str(v);
    }
    Some(s)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDoc {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<WireDescriptor>>,
    #[serde(default)]
    config: Option<WireDescriptor>,
    #[serde(default)]
    layers: Option<Vec<WireDescriptor>>,
    #[serde(default)]
    subject: Option<WireDescriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDescriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    platform: Option<WirePlatform>,
}

#[derive(Deserialize)]
struct WirePlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

/// The in-toto artifact name of an image: `images/NAME:TAG` (or
/// `images/NAME@sha256:HEX` untagged). `record --image` records this name,
/// and the bundle's images are checked against the products under it.
pub fn artifact_name(image: &airlock_bundle::Image) -> String {
    format!("images/{}", image.reference())
}
