//! `docker://HOST/REPO[:TAG|@DIGEST]`: an image pulled from a registry into
//! a scratch OCI image layout, which [`super::source`] then reads like any
//! `oci:` directory (the same checks, the same platform filter).
//!
//! Signatures and attestations attached there to the image, or to one of
//! its platforms' manifests, come along ([`pull_referrers`]). Only what
//! will be carried is downloaded: with `--platform`, an index's other
//! platforms are skipped (their manifests included). Every manifest
//! is checked against the digest its parent names, every blob streamed to
//! disk and checked against its digest and size before anything is packed.
use std::fs;
use std::path::Path;

use serde_json::{Value, json};

use super::registry::{Connection, Registry};
use super::{Digest, Doc, MT_OCI_INDEX, REF_NAME};
use crate::error::Error;

/// A registry image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `HOST[:PORT]`.
    pub host: String,
    /// The repository path.
    pub repo: String,
    /// A tag, or a `sha256:` digest.
    pub reference: String,
}

impl Remote {
    /// Parses what follows `docker://`: `HOST/REPO[:TAG]` or
    /// `HOST/REPO@sha256:HEX`; no tag means `latest`, as skopeo reads it.
    pub fn parse(s: &str) -> Result<Remote, Error> {
        let bad = |why: &str| {
            Error::usage(
                format!("docker://{s}: {why}"),
                "give it as docker://HOST[:PORT]/REPO:TAG or docker://HOST[:PORT]/REPO@sha256:DIGEST",
            )
        };
        let (host, rest) = s.split_once('/').ok_or_else(|| bad("no registry host"))?;
        if host.is_empty() || host.contains(['@', ' ']) {
            return Err(bad("no registry host"));
        }
        let (repo, reference) = if let Some((r, d)) = rest.split_once('@') {
            if Digest::parse(d).is_none() {
                return Err(bad("the digest is not sha256:<64 hex>"));
            }
            (r, d.to_owned())
        } else {
            match rest.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r, t.to_owned()),
                _ => (rest, "latest".to_owned()),
            }
        };
        if !airlock_bundle::is_image_name(repo) {
            return Err(bad("the repository is not a lowercase path like team/app"));
        }
        if reference.is_empty()
            || (Digest::parse(&reference).is_none()
                && (reference.len() > 128
                    || !reference
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))))
        {
            return Err(bad("the tag is not [A-Za-z0-9_.-]{1,128}"));
        }
        Ok(Remote {
            host: host.to_owned(),
            repo: repo.to_owned(),
            reference,
        })
    }

    /// The tag, if the reference is one.
    pub fn tag(&self) -> Option<&str> {
        Digest::parse(&self.reference)
            .is_none()
            .then_some(self.reference.as_str())
    }
}

/// Pulls `remote` into `dir` (created) as an OCI image layout with one
/// entry, named `REPO:TAG` when the reference is a tag.
pub fn pull(
    remote: &Remote,
    conn: &Connection,
    platforms: &[String],
    dir: &Path,
) -> Result<(), Error> {
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).map_err(|e| Error::input(&blobs, e))?;
    let mut reg = Registry::connect(&remote.host, conn)?;
    let (top, digest, _) = reg.get_manifest(&remote.repo, &remote.reference)?;
    let media_type = Doc::media_type_of(&top);
    let mut pending = vec![(digest, top, true)];
    let mut pulled = Vec::new();
    while let Some((d, bytes, is_top)) = pending.pop() {
        pulled.push((d, Doc::media_type_of(&bytes)));
        let doc = Doc::parse(&bytes, &d.to_string()).map_err(|e| {
            Error::usage(
                format!("{}/{}: {e}", remote.host, remote.repo),
                "check the image source: it must be a complete, uncorrupted image",
            )
        })?;
        write_new(&blobs.join(d.hex()), &bytes)?;
        for r in doc.references() {
            let path = blobs.join(r.digest.hex());
            if path.exists() {
                continue;
            }
            let skipped = is_top
                && !platforms.is_empty()
                && r.platform
                    .as_ref()
                    .is_some_and(|p| !platforms.contains(&p.0));
            if skipped {
                continue;
            }
            if Doc::is_index_type(&r.media_type) || Doc::is_manifest_type(&r.media_type) {
                let (b, got, _) = reg.get_manifest(&remote.repo, &r.digest.to_string())?;
                if got != r.digest || b.len() as u64 != r.size {
                    return Err(super::RegistryError::PullMismatch(format!(
                        "manifest {} arrived with other bytes",
                        r.digest
                    ))
                    .into());
                }
                pending.push((r.digest, b, false));
            } else {
                reg.get_blob(&remote.repo, r.digest, r.size, &path)?;
            }
        }
    }
    // What is attached to the image, and to each platform's manifest.
    let mut referrers = Vec::new();
    for (d, mt) in &pulled {
        referrers.extend(pull_referrers(&mut reg, remote, *d, mt, &blobs)?);
    }
    let mut entry = json!({
        "mediaType": media_type,
        "digest": digest.to_string(),
        "size": fs::metadata(blobs.join(digest.hex())).map_err(|e| Error::input(dir, e))?.len(),
    });
    if let Some(tag) = remote.tag() {
        entry["annotations"] = json!({ REF_NAME: format!("{}:{tag}", remote.repo) });
    }
    let index: Value = json!({
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [entry],
    });
    let listed: Vec<String> = referrers.iter().map(Digest::to_string).collect();
    write_new(
        &dir.join(REFERRERS_FILE),
        &serde_json::to_vec(&listed).expect("a JSON value serialises"),
    )?;
    write_new(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    write_new(
        &dir.join("index.json"),
        &serde_json::to_vec(&index).expect("a JSON value serialises"),
    )
}

/// The file of the scratch layout listing the referrers pulled (a JSON
/// array of digests), for [`super::source`] to carry.
pub const REFERRERS_FILE: &str = "airlock-referrers.json";

/// The most referrers carried per manifest; more are left behind.
pub const MAX_REFERRERS: usize = 64;

/// The referrers of `top` in the source registry, downloaded into `blobs`
/// (each manifest checked against its digest, each blob against its digest
/// and size): those the OCI 1.1 referrers API lists (or, without it, the
/// referrers tag `sha256-<hex>`), whose `subject` is `top`; and what
/// cosign's `sha256-<hex>.sig` / `.att` tags hold, which has no subject:
/// that manifest is carried as an OCI manifest with the subject and the
/// annotation [`super::graph::COSIGN_TAG`] added (a new digest; its layers
/// and their annotations — what cosign verifies — unchanged), so it is
/// bound to the image and tagged the same way again on publish.
fn pull_referrers(
    reg: &mut Registry,
    remote: &Remote,
    top: Digest,
    top_media_type: &str,
    blobs: &Path,
) -> Result<Vec<Digest>, Error> {
    let top_size = fs::metadata(blobs.join(top.hex()))
        .map_err(|e| Error::input(blobs, e))?
        .len();
    let list = match reg.referrers_list(&remote.repo, top)? {
        Some(b) => Some(b),
        None => reg.find_manifest(&remote.repo, &super::referrers::tag_of(top))?,
    };
    let listed: Vec<Digest> = list
        .and_then(|b| match Doc::parse(&b, "the referrers list") {
            Ok(Doc::Index(l)) => Some(l),
            _ => None,
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|d| Doc::is_manifest_type(&d.media_type))
        .map(|d| d.digest)
        .collect();
    let mut out = Vec::new();
    let fetch_blobs = |reg: &mut Registry, doc: &Doc| -> Result<(), Error> {
        for r in doc.references() {
            let path = blobs.join(r.digest.hex());
            if !path.exists() {
                reg.get_blob(&remote.repo, r.digest, r.size, &path)?;
            }
        }
        Ok(())
    };
    for d in listed {
        if out.len() >= MAX_REFERRERS {
            break;
        }
        let Some(bytes) = reg.find_manifest(&remote.repo, &d.to_string())? else {
            continue; // a stale entry
        };
        if Digest::of(&bytes) != d {
            return Err(referrer_mismatch(format!(
                "referrer {d} arrived with other bytes"
            )));
        }
        let Ok(doc) = Doc::parse(&bytes, &d.to_string()) else {
            continue;
        };
        if doc.subject().is_none_or(|s| s.digest != top) || out.contains(&d) {
            continue;
        }
        fetch_blobs(reg, &doc)?;
        write_new(&blobs.join(d.hex()), &bytes)?;
        out.push(d);
    }
    for suffix in ["sig", "att"] {
        let tag = format!("{}.{suffix}", super::referrers::tag_of(top));
        let Some(bytes) = reg.find_manifest(&remote.repo, &tag)? else {
            continue;
        };
        let Ok(doc @ Doc::Manifest { .. }) = Doc::parse(&bytes, &tag) else {
            continue;
        };
        fetch_blobs(reg, &doc)?;
        let mut v: Value =
            serde_json::from_slice(&bytes).map_err(|e| referrer_mismatch(format!("{tag}: {e}")))?;
        // `subject` is an OCI field: a Docker schema 2 signature manifest
        // (older cosign) becomes an OCI one.
        v["mediaType"] = json!(super::MT_OCI_MANIFEST);
        v["subject"] =
            json!({"mediaType": top_media_type, "digest": top.to_string(), "size": top_size});
        if !v["annotations"].is_object() {
            v["annotations"] = json!({});
        }
        v["annotations"][super::graph::COSIGN_TAG] = json!(suffix);
        let b = serde_json::to_vec(&v).expect("a JSON value serialises");
        let d = Digest::of(&b);
        write_new(&blobs.join(d.hex()), &b)?;
        out.push(d);
    }
    Ok(out)
}

/// A referrer the registry sent with other bytes than its digest (the same
/// code as the image's own manifests and blobs).
fn referrer_mismatch(what: String) -> Error {
    super::registry_error::RegistryError::PullMismatch(what).into()
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if path.exists() {
        return Ok(());
    }
    fs::write(path, bytes).map_err(|e| Error::input(path, e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_as_skopeo_reads_them() {
        let r = Remote::parse("reg.example:5000/team/app:1.2").unwrap();
        assert_eq!(
            (r.host.as_str(), r.repo.as_str(), r.reference.as_str()),
            ("reg.example:5000", "team/app", "1.2")
        );
        assert_eq!(r.tag(), Some("1.2"));
        let r = Remote::parse("localhost:5000/app").unwrap();
        assert_eq!(r.reference, "latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Remote::parse(&format!("h/app@{d}")).unwrap();
        assert_eq!((r.reference.as_str(), r.tag()), (d.as_str(), None));
        for bad in [
            "app",
            "/app:1",
            "h/App:1",
            "h/app@sha256:12",
            "h/app:bad tag",
            "h/app:",
        ] {
            assert!(Remote::parse(bad).is_err(), "{bad}");
        }
    }
}
