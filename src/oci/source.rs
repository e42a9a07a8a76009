//! Where `pack --image` and `record --image` read images from, in the
//! transport syntax users know from skopeo: `oci:DIR[:REF]`,
//! `oci-archive:FILE[:REF]`, `docker-archive:FILE[:NAME:TAG]` and
//! `docker://HOST/REPO[:TAG|@DIGEST]` (pulled first: [`super::pull`]).
//!
//! Reading an image gives its name, tag, top digest and platforms, its
//! manifests (small, read whole) and its blobs (files on disk, streamed by
//! the bundle writer, which checks each against its digest). Archives are
//! extracted first into a scratch directory the caller owns, entry by entry
//! (regular files only, paths that stay inside it), so memory never grows
//! with image size.
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::docker_archive::{self, DockerManifestError};
use super::{
    Digest, Doc, MAX_MANIFEST_BYTES, MT_OCI_CONFIG, MT_OCI_LAYER_TAR, MT_OCI_MANIFEST, OciError,
    REF_NAME,
};
use crate::error::Error;

/// A parsed `--image` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `oci:DIR[:REF]`: an OCI image layout directory.
    Oci {
        /// The layout directory.
        dir: PathBuf,
        /// The `org.opencontainers.image.ref.name` to take.
        reference: Option<String>,
    },
    /// `oci-archive:FILE[:REF]`: a tar of an OCI image layout.
    OciArchive {
        /// The tar file.
        file: PathBuf,
        /// The ref name to take.
        reference: Option<String>,
    },
    /// `docker-archive:FILE[:NAME:TAG]`: what `docker save` / `podman save` write.
    DockerArchive {
        /// The tar file.
        file: PathBuf,
        /// Which of its `RepoTags` to take.
        reference: Option<String>,
    },
    /// `docker://HOST/REPO[:TAG|@DIGEST]`: pulled from a registry.
    Registry(super::pull::Remote),
}

fn usage(msg: impl Into<String>) -> Error {
    Error::usage(
        msg,
        "give --image as oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG] or docker://HOST/REPO:TAG",
    )
}

fn split_ref(rest: &str) -> (PathBuf, Option<String>) {
    match rest.split_once(':') {
        Some((p, r)) if !r.is_empty() => (PathBuf::from(p), Some(r.to_owned())),
        Some((p, _)) => (PathBuf::from(p), None),
        None => (PathBuf::from(rest), None),
    }
}

impl Source {
    /// Parses a transport-prefixed source.
    pub fn parse(s: &str) -> Result<Source, Error> {
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, reference) = split_ref(rest);
            Ok(Source::Oci { dir, reference })
        } else if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (file, reference) = split_ref(rest);
            Ok(Source::OciArchive { file, reference })
        } else if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (file, reference) = split_ref(rest);
            Ok(Source::DockerArchive { file, reference })
        } else if let Some(rest) = s.strip_prefix("docker://") {
            Ok(Source::Registry(super::pull::Remote::parse(rest)?))
        } else {
            Err(usage(format!("{s} names no known transport")))
        }
    }
}

/// One image read from a source, ready to pack.
#[derive(Debug, Clone)]
pub struct Collected {
    /// Repository path (no registry host).
    pub name: String,
    /// Tag, if any.
    pub tag: Option<String>,
    /// Digest of the top manifest or index.
    pub digest: Digest,
    /// Its platforms, sorted.
    pub platforms: Vec<String>,
    /// Every manifest and index, by digest.
    pub documents: BTreeMap<Digest, Vec<u8>>,
    /// Every blob: digest → (size, file).
    pub blobs: BTreeMap<Digest, (u64, PathBuf)>,
}

/// Reads one image; archives are extracted and registry images pulled
/// below `scratch`, registries reached through `conn`.
pub fn collect(
    source: &Source,
    platforms: &[String],
    scratch: &Path,
    conn: &super::registry::Connection,
) -> Result<Collected, Error> {
    match source {
        Source::Registry(remote) => {
            let dir = scratch.join(format!("x{}", count(scratch)));
            super::pull::pull(remote, conn, platforms, &dir)?;
            let name = remote.repo.rsplit('/').next().unwrap_or(&remote.repo);
            let reference = remote.tag().map(|t| format!("{}:{t}", remote.repo));
            let mut c = collect_layout(&dir, reference.as_deref(), platforms, name)?;
            c.name.clone_from(&remote.repo);
            add_referrers(&mut c, &dir)?;
            Ok(c)
        }
        Source::Oci { dir, reference } => {
            collect_layout(dir, reference.as_deref(), platforms, &dir_name(dir))
        }
        Source::OciArchive { file, reference } => {
            let dir = extract(file, &scratch.join(format!("x{}", count(scratch))))?;
            collect_layout(&dir, reference.as_deref(), platforms, &dir_name(file))
        }
        Source::DockerArchive { file, reference } => {
            let dir = extract(file, &scratch.join(format!("x{}", count(scratch))))?;
            collect_docker(&dir, file, reference.as_deref(), platforms)
        }
    }
}

/// Adds the referrers [`super::pull`] downloaded into `dir` whose subject
/// is one of `c`'s manifests (with a platform filter, the referrers of an
/// index not carried are left behind), with their blobs.
fn add_referrers(c: &mut Collected, dir: &Path) -> Result<(), Error> {
    let path = dir.join(super::pull::REFERRERS_FILE);
    let bytes = crate::fsutil::read_limited(&path, MAX_MANIFEST_BYTES, "referrers list")?;
    let listed: Vec<String> =
        serde_json::from_slice(&bytes).map_err(|e| source_err(e.to_string()))?;
    for d in listed.iter().filter_map(|d| Digest::parse(d)) {
        let b = read_doc(&blob_path(dir, d), d, None)?;
        let doc = Doc::parse(&b, &d.to_string()).map_err(oci)?;
        if doc
            .subject()
            .is_none_or(|s| !c.documents.contains_key(&s.digest))
        {
            continue;
        }
        for r in doc.references() {
            let p = blob_path(dir, r.digest);
            let size = fs::metadata(&p)
                .map_err(|e| source_err(format!("blob {}: {e}", r.digest)))?
                .len();
            c.blobs.insert(r.digest, (size, p));
        }
        c.documents.insert(d, b);
    }
    Ok(())
}

fn count(dir: &Path) -> usize {
    fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}

fn dir_name(p: &Path) -> String {
    let stem = p
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("image")
        .to_ascii_lowercase();
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

fn source_err(what: impl Into<String>) -> Error {
    Error::usage(
        what,
        "check the image source: it must be a complete, uncorrupted image",
    )
}

fn oci(e: OciError) -> Error {
    source_err(e.to_string())
}

/// Splits `[HOST/]NAME[:TAG]` into a repository path without the host and
/// an optional tag. A first component with a `.` or `:`, or `localhost`, is
/// a registry host and is dropped (as Docker reads references).
pub fn split_reference(r: &str) -> (String, Option<String>) {
    let (name, tag) = match r.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t.to_owned())),
        _ => (r, None),
    };
    let name = match name.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            rest
        }
        _ => name,
    };
    (name.to_owned(), tag)
}

fn read_doc(path: &Path, digest: Digest, size: Option<u64>) -> Result<Vec<u8>, Error> {
    let bytes = crate::fsutil::read_limited(path, MAX_MANIFEST_BYTES, "image manifest")?;
    if Digest::of(&bytes) != digest || size.is_some_and(|s| s != bytes.len() as u64) {
        return Err(source_err(format!(
            "{} does not match its digest {digest} or size",
            path.display()
        )));
    }
    Ok(bytes)
}

fn blob_path(dir: &Path, d: Digest) -> PathBuf {
    dir.join("blobs").join("sha256").join(d.hex())
}

fn collect_layout(
    dir: &Path,
    reference: Option<&str>,
    platforms: &[String],
    fallback_name: &str,
) -> Result<Collected, Error> {
    let index_path = dir.join("index.json");
    let index = crate::fsutil::read_limited(&index_path, MAX_MANIFEST_BYTES, "index.json")?;
    let v: Value = serde_json::from_slice(&index)
        .map_err(|e| source_err(format!("{}: {e}", index_path.display())))?;
    let Doc::Index(list) = Doc::parse(&index, &index_path.display().to_string()).map_err(oci)?
    else {
        return Err(source_err(format!(
            "{} is not an index",
            index_path.display()
        )));
    };
    let names: Vec<Option<String>> = v["manifests"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    m.get("annotations")
                        .and_then(|x| x.get(REF_NAME))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    let pick = match reference {
        Some(r) => list
            .iter()
            .zip(&names)
            .find(|(_, n)| n.as_deref() == Some(r))
            .map(|(d, n)| (d.clone(), n.clone()))
            .ok_or_else(|| source_err(format!("{} has no image named {r}", dir.display())))?,
        None if list.len() == 1 => (list[0].clone(), names[0].clone()),
        None => {
            return Err(Error::usage(
                format!(
                    "{} holds {} images; say which one",
                    dir.display(),
                    list.len()
                ),
                "add the ref name: oci:DIR:REF (the org.opencontainers.image.ref.name annotation)",
            ));
        }
    };
    let (desc, ref_name) = pick;
    let (name, tag) = match ref_name.as_deref() {
        Some(r) if r.contains(':') || r.contains('/') => split_reference(r),
        Some(tag) => (fallback_name.to_owned(), Some(tag.to_owned())),
        None => (fallback_name.to_owned(), None),
    };
    let top_bytes = read_doc(&blob_path(dir, desc.digest), desc.digest, Some(desc.size))?;
    finish(dir, name, tag, desc.digest, top_bytes, platforms)
}

/// Walks an image from its top document, applying the platform filter, and
/// gathers everything it references from `dir`'s `blobs/sha256/`.
fn finish(
    dir: &Path,
    name: String,
    tag: Option<String>,
    top: Digest,
    top_bytes: Vec<u8>,
    platforms: &[String],
) -> Result<Collected, Error> {
    let mut c = Collected {
        name,
        tag,
        digest: top,
        platforms: Vec::new(),
        documents: BTreeMap::new(),
        blobs: BTreeMap::new(),
    };
    let doc = Doc::parse(&top_bytes, &top.to_string()).map_err(oci)?;
    let (top, top_bytes, doc) = match (&doc, platforms.is_empty()) {
        (Doc::Index(list), false) => {
            let keep: Vec<usize> = (0..list.len())
                .filter(|&i| {
                    list[i]
                        .platform
                        .as_ref()
                        .is_some_and(|p| platforms.contains(&p.0))
                })
                .collect();
            if keep.is_empty() {
                return Err(Error::usage(
                    format!(
                        "image {top} has none of the platforms {}",
                        platforms.join(", ")
                    ),
                    "give --platform as os/architecture[/variant], as the image index lists them",
                ));
            }
            if keep.len() == list.len() {
                (top, top_bytes, doc.clone())
            } else if let [one] = keep.as_slice() {
                // One platform: the image is that platform's manifest.
                let d = &list[*one];
                let b = read_doc(&blob_path(dir, d.digest), d.digest, Some(d.size))?;
                let parsed = Doc::parse(&b, &d.digest.to_string()).map_err(oci)?;
                (d.digest, b, parsed)
            } else {
                // Several: a new index of those entries only, serialised
                // deterministically (keys sorted, no whitespace).
                let mut v: Value =
                    serde_json::from_slice(&top_bytes).map_err(|e| source_err(e.to_string()))?;
                let kept: Vec<Value> = v["manifests"]
                    .as_array()
                    .map(|a| keep.iter().filter_map(|&i| a.get(i).cloned()).collect())
                    .unwrap_or_default();
                v["manifests"] = Value::Array(kept);
                let b = serde_json::to_vec(&v).map_err(|e| source_err(e.to_string()))?;
                let parsed = Doc::parse(&b, "the filtered index").map_err(oci)?;
                (Digest::of(&b), b, parsed)
            }
        }
        _ => (top, top_bytes, doc),
    };
    c.digest = top;
    c.documents.insert(top, top_bytes);
    let mut stack = vec![doc];
    while let Some(doc) = stack.pop() {
        if let Doc::Index(list) = &doc {
            for d in list {
                if let Some(p) = &d.platform
                    && !c.platforms.contains(&p.0)
                {
                    c.platforms.push(p.0.clone());
                }
            }
        }
        for d in doc.references() {
            let path = blob_path(dir, d.digest);
            if Doc::is_index_type(&d.media_type) || Doc::is_manifest_type(&d.media_type) {
                if c.documents.contains_key(&d.digest) {
                    continue;
                }
                let b = read_doc(&path, d.digest, Some(d.size))?;
                stack.push(Doc::parse(&b, &d.digest.to_string()).map_err(oci)?);
                c.documents.insert(d.digest, b);
            } else {
                let size = fs::metadata(&path)
                    .map_err(|e| source_err(format!("blob {}: {e}", d.digest)))?
                    .len();
                if size != d.size {
                    return Err(source_err(format!(
                        "blob {} has {size} bytes, its descriptor says {}",
                        d.digest, d.size
                    )));
                }
                c.blobs.insert(d.digest, (size, path));
            }
        }
    }
    // A single manifest: its platform is in its config.
    if c.platforms.is_empty()
        && let Some(Doc::Manifest { config, .. }) = c
            .documents
            .get(&c.digest)
            .and_then(|b| Doc::parse(b, "").ok())
        && let Some((_, path)) = c.blobs.get(&config.digest)
        && let Ok(bytes) = crate::fsutil::read_limited(path, MAX_MANIFEST_BYTES, "image config")
        && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
        && let (Some(os), Some(arch)) = (v["os"].as_str(), v["architecture"].as_str())
    {
        let mut p = format!("{os}/{arch}");
        if let Some(var) = v["variant"].as_str().filter(|s| !s.is_empty()) {
            p.push('/');
            p.push_str(var);
        }
        c.platforms.push(p);
    }
    c.platforms.sort();
    c.platforms.dedup();
    Ok(c)
}

/// `docker save` output: `manifest.json` lists each image's config and
/// layer files. Converted to an OCI manifest deterministically: the config
/// file as an `application/vnd.oci.image.config.v1+json` blob, each layer
/// file (an uncompressed tar) as an `application/vnd.oci.image.layer.v1.tar`
/// blob, in order; the manifest JSON with its keys in a fixed order and no
/// whitespace. The same archive always gives the same digest.
fn collect_docker(
    dir: &Path,
    file: &Path,
    reference: Option<&str>,
    platforms: &[String],
) -> Result<Collected, Error> {
    let mpath = dir.join("manifest.json");
    let bytes = crate::fsutil::read_limited(&mpath, MAX_MANIFEST_BYTES, "manifest.json")?;
    let image = docker_archive::select(&bytes, reference).map_err(|e| match e {
        DockerManifestError::Ambiguous(_) => Error::usage(
            format!("{} {e}", file.display()),
            "add the tag: docker-archive:FILE:NAME:TAG",
        ),
        DockerManifestError::Json(_) | DockerManifestError::NoSuchTag(_) => {
            source_err(format!("{} {e}", file.display()))
        }
        e => source_err(e.to_string()),
    })?;
    let (name, tag) = match &image.repo_tag {
        Some(r) => split_reference(r),
        None => (dir_name(file), None),
    };
    let config_path = image.config.under(dir);
    let (config_digest, config_size) = hash_file(&config_path)?;
    let mut blobs = BTreeMap::new();
    blobs.insert(config_digest, (config_size, config_path));
    let mut layers = String::new();
    for l in &image.layers {
        let p = l.under(dir);
        let (d, size) = hash_file(&p)?;
        if !layers.is_empty() {
            layers.push(',');
        }
        layers.push_str(&format!(
            r#"{{"mediaType":"{MT_OCI_LAYER_TAR}","digest":"{d}","size":{size}}}"#
        ));
        blobs.insert(d, (size, p));
    }
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MT_OCI_MANIFEST}","config":{{"mediaType":"{MT_OCI_CONFIG}","digest":"{config_digest}","size":{config_size}}},"layers":[{layers}]}}"#
    );
    // Lay the blobs out as an OCI layout would, so the walk is the same.
    let layout = dir.join(".airlock-oci");
    let bdir = layout.join("blobs").join("sha256");
    fs::create_dir_all(&bdir).map_err(|e| source_err(e.to_string()))?;
    for (d, (_, p)) in &blobs {
        let to = bdir.join(d.hex());
        if !to.exists() {
            fs::hard_link(p, &to)
                .or_else(|_| fs::copy(p, &to).map(|_| ()))
                .map_err(|e| source_err(e.to_string()))?;
        }
    }
    let top = Digest::of(manifest.as_bytes());
    finish(&layout, name, tag, top, manifest.into_bytes(), platforms)
}

/// SHA-256 and size of a file, streamed.
pub fn hash_file(p: &Path) -> Result<(Digest, u64), Error> {
    let failed = |e: io::Error| source_err(format!("{}: {e}", p.display()));
    let mut f = File::open(p).map_err(failed)?;
    let (sha256, n) = crate::fsutil::sha256_of(&mut f).map_err(failed)?;
    Ok((Digest(sha256), n))
}

/// Extracts a tar into `to`: regular files and directories only, every path
/// relative and inside; symbolic links (`docker save` links repeated layers)
/// are copied from their target inside the archive once it is extracted.
fn extract(file: &Path, to: &Path) -> Result<PathBuf, Error> {
    let f = File::open(file).map_err(|e| source_err(format!("{}: {e}", file.display())))?;
    let mut ar = tar::Archive::new(io::BufReader::with_capacity(1 << 20, f));
    fs::create_dir_all(to).map_err(|e| source_err(e.to_string()))?;
    let mut links = Vec::new();
    let bad = |e: io::Error| source_err(format!("{}: {e}", file.display()));
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.into_owned();
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(source_err(format!(
                "{} holds an unsafe path {}",
                file.display(),
                path.display()
            )));
        }
        let dest = to.join(&path);
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&dest).map_err(bad)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(p) = dest.parent() {
                    fs::create_dir_all(p).map_err(bad)?;
                }
                let mut out = File::create(&dest).map_err(bad)?;
                io::copy(&mut (&mut entry).take(u64::MAX), &mut out).map_err(bad)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(bad)?
                    .ok_or_else(|| source_err("a link without a target"))?
                    .into_owned();
                let base = path.parent().unwrap_or(Path::new("")).join(target);
                links.push((
                    dest,
                    normalize(&base).ok_or_else(|| {
                        source_err(format!("{} holds a link leaving it", file.display()))
                    })?,
                ));
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            other => {
                return Err(source_err(format!(
                    "{} holds {} of type {other:?}; only files and directories are read",
                    file.display(),
                    path.display()
                )));
            }
        }
    }
    for (dest, target) in links {
        if let Some(p) = dest.parent() {
            fs::create_dir_all(p).map_err(bad)?;
        }
        fs::copy(to.join(target), &dest).map_err(bad)?;
    }
    Ok(to.to_owned())
}

fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(out)
}
