//! Safe relative paths for bundle entries.

use std::fmt;

use crate::limits::Limits;

/// Why a path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathError {
    /// The path is empty.
    Empty,
    /// The path starts with `/`.
    Absolute,
    /// The path has an empty component (`a//b`, or a trailing `/`).
    EmptyComponent,
    /// A component is `.`.
    Dot,
    /// A component is `..`.
    DotDot,
    /// The path contains a backslash.
    Backslash,
    /// The path contains NUL or another ASCII control character.
    ControlChar,
    /// The path is longer than `Limits::max_path_bytes`.
    TooLong,
    /// A component is longer than `Limits::max_component_bytes`.
    ComponentTooLong,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::Empty => "the path is empty",
            PathError::Absolute => "the path is absolute",
            PathError::EmptyComponent => "the path has an empty component",
            PathError::Dot => "the path has a `.` component",
            PathError::DotDot => "the path has a `..` component",
            PathError::Backslash => "the path contains a backslash",
            PathError::ControlChar => "the path contains a control character",
            PathError::TooLong => "the path is too long",
            PathError::ComponentTooLong => "a path component is too long",
        })
    }
}

impl std::error::Error for PathError {}

/// A relative path that is safe to create below any directory.
///
/// Components are separated by `/`; none is empty, `.` or `..`; there are no
/// backslashes, NULs or ASCII control characters; length limits come from
/// [`Limits`]. A `BundlePath` can therefore be joined to a destination
/// directory without escaping it (symlinks already present in that directory
/// are the extractor's concern).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BundlePath(String);

impl BundlePath {
    /// Checks `path` and wraps it.
    pub fn new(path: &str, limits: &Limits) -> Result<BundlePath, PathError> {
        check(path, limits)?;
        Ok(BundlePath(path.to_owned()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BundlePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for BundlePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn check(path: &str, limits: &Limits) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute);
    }
    if path.len() > limits.max_path_bytes {
        return Err(PathError::TooLong);
    }
    for b in path.bytes() {
        if b < 0x20 || b == 0x7f {
            return Err(PathError::ControlChar);
        }
        if b == b'\\' {
            return Err(PathError::Backslash);
        }
    }
    for component in path.split('/') {
        match component {
            "" => return Err(PathError::EmptyComponent),
            "." => return Err(PathError::Dot),
            ".." => return Err(PathError::DotDot),
            c if c.len() > limits.max_component_bytes => {
                return Err(PathError::ComponentTooLong);
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check(p: &str) -> Result<BundlePath, PathError> {
        BundlePath::new(p, &Limits::default())
    }

    #[test]
    fn accepts_ordinary_paths() {
        for p in [
            "a",
            "a/b",
            "bin/tool-1.2.3",
            "..a",
            "a..",
            ".hidden/x",
            "ü/文件",
        ] {
            assert_eq!(check(p).unwrap().as_str(), p);
        }
    }

    #[test]
    fn refuses_each_unsafe_form() {
        let cases = [
            ("", PathError::Empty),
            ("/etc/passwd", PathError::Absolute),
            ("a//b", PathError::EmptyComponent),
            ("a/", PathError::EmptyComponent),
            ("./a", PathError::Dot),
            ("a/./b", PathError::Dot),
            ("../a", PathError::DotDot),
            ("a/..", PathError::DotDot),
            ("a\\b", PathError::Backslash),
            ("a\0b", PathError::ControlChar),
            ("a\nb", PathError::ControlChar),
            ("a\x7fb", PathError::ControlChar),
        ];
        for (p, want) in cases {
            assert_eq!(check(p), Err(want), "{p:?}");
        }
    }

    #[test]
    fn enforces_lengths() {
        let limits = Limits {
            max_path_bytes: 10,
            max_component_bytes: 4,
            ..Limits::default()
        };
        assert!(BundlePath::new("abcd/efgh", &limits).is_ok());
        assert_eq!(
            BundlePath::new("abcde", &limits),
            Err(PathError::ComponentTooLong)
        );
        assert_eq!(
            BundlePath::new("abcd/efg/hi", &limits),
            Err(PathError::TooLong)
        );
    }
}
