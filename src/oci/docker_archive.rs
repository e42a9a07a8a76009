//! `docker save`'s `manifest.json`, parsed from its bytes into checked
//! types: which image of the archive to take (by one of its `RepoTags`, or
//! the only one), its config file and its layer files as paths that stay
//! inside the extracted archive. Nothing here touches the disk; the caller
//! ([`super::source`]) reads at most [`super::MAX_MANIFEST_BYTES`] and
//! joins the paths below the directory it extracted the archive into.
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

/// A relative path inside the extracted archive: only normal components
/// (no `..`, no root, no `.`, no prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsidePath(PathBuf);

impl InsidePath {
    /// Checks a path from `manifest.json`.
    pub fn parse(p: &str) -> Result<InsidePath, DockerManifestError> {
        let rel = Path::new(p);
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(DockerManifestError::UnsafePath(p.to_owned()));
        }
        Ok(InsidePath(rel.to_owned()))
    }

    /// The path below `dir`.
    pub fn under(&self, dir: &Path) -> PathBuf {
        dir.join(&self.0)
    }
}

/// The image taken from a `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerImage {
    /// The `RepoTags` entry it was taken by (or its first one, when the
    /// archive holds one image and none was asked for).
    pub repo_tag: Option<String>,
    /// Its config file.
    pub config: InsidePath,
    /// Its layer files (uncompressed tars), in order.
    pub layers: Vec<InsidePath>,
}

/// Why a `manifest.json` is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DockerManifestError {
    /// Not a JSON array.
    #[error("manifest.json: {0}")]
    Json(String),
    /// No image carries the tag asked for.
    #[error("has no image tagged {0}")]
    NoSuchTag(String),
    /// No tag asked for, and not exactly one image.
    #[error("holds {0} images; say which one")]
    Ambiguous(usize),
    /// A path leaving the archive.
    #[error("manifest.json names an unsafe path {0:?}")]
    UnsafePath(String),
    /// The image has no `Config`.
    #[error("manifest.json has no Config")]
    NoConfig,
    /// A `Layers` entry that is not a string.
    #[error("a layer is not a path")]
    LayerNotPath,
}

fn tags(m: &Value) -> Vec<String> {
    m["RepoTags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Parses `manifest.json` and takes the image tagged `reference` (or the
/// only one), with its config and layer paths checked.
pub fn select(bytes: &[u8], reference: Option<&str>) -> Result<DockerImage, DockerManifestError> {
    let list: Vec<Value> =
        serde_json::from_slice(bytes).map_err(|e| DockerManifestError::Json(e.to_string()))?;
    let (entry, repo_tag) = match reference {
        Some(r) => list
            .iter()
            .find_map(|m| tags(m).into_iter().find(|t| t == r).map(|t| (m, Some(t))))
            .ok_or_else(|| DockerManifestError::NoSuchTag(r.to_owned()))?,
        None if list.len() == 1 => (&list[0], tags(&list[0]).into_iter().next()),
        None => return Err(DockerManifestError::Ambiguous(list.len())),
    };
    let config = InsidePath::parse(
        entry["Config"]
            .as_str()
            .ok_or(DockerManifestError::NoConfig)?,
    )?;
    let layers = entry["Layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| InsidePath::parse(l.as_str().ok_or(DockerManifestError::LayerNotPath)?))
        .collect::<Result<_, _>>()?;
    Ok(DockerImage {
        repo_tag,
        config,
        layers,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_tagged_image_with_its_paths() {
        let m = br#"[{"Config":"c.json","RepoTags":["a:1"],"Layers":["l/layer.tar"]},
                     {"Config":"d.json","RepoTags":["b:2"],"Layers":[]}]"#;
        let img = select(m, Some("b:2")).unwrap();
        assert_eq!(img.repo_tag.as_deref(), Some("b:2"));
        assert_eq!(img.config, InsidePath::parse("d.json").unwrap());
        assert!(img.layers.is_empty());
        assert_eq!(
            select(m, None).unwrap_err(),
            DockerManifestError::Ambiguous(2)
        );
        assert_eq!(
            select(m, Some("c:3")).unwrap_err(),
            DockerManifestError::NoSuchTag("c:3".into())
        );
    }

    #[test]
    fn refuses_paths_leaving_the_archive() {
        for p in ["../x", "/etc/passwd", "a/../../b", "./a"] {
            let m = format!(
                r#"[{{"Config":"c.json","Layers":[{}]}}]"#,
                serde_json::json!(p)
            );
            assert_eq!(
                select(m.as_bytes(), None).unwrap_err(),
                DockerManifestError::UnsafePath(p.into())
            );
        }
        assert_eq!(
            select(br#"[{"Layers":[]}]"#, None).unwrap_err(),
            DockerManifestError::NoConfig
        );
        assert_eq!(
            select(br#"[{"Config":"c","Layers":[1]}]"#, None).unwrap_err(),
            DockerManifestError::LayerNotPath
        );
        assert!(matches!(
            select(b"{}", None).unwrap_err(),
            DockerManifestError::Json(_)
        ));
    }
}
