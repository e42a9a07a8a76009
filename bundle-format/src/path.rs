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

/// Why a path cannot exist, as written, on FAT32, exFAT or NTFS (SPEC.md
/// section 4.1). A bundle that is not marked POSIX-only refuses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotPortable {
    /// A component contains one of `<>:"|?*`.
    ReservedChar,
    /// A component contains a control character (C0, DEL or C1).
    ControlChar,
    /// A component ends in a dot or a space (Windows drops them).
    TrailingDotOrSpace,
    /// A component is a Windows device name (`CON`, `PRN`, `AUX`, `NUL`,
    /// `COM1`–`COM9`, `LPT1`–`LPT9`), with or without an extension, in any case.
    ReservedName,
    /// A component is longer than 255 UTF-16 code units.
    ComponentTooLong,
}

impl fmt::Display for NotPortable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotPortable::ReservedChar => "a component contains one of < > : \" | ? *",
            NotPortable::ControlChar => "a component contains a control character",
            NotPortable::TrailingDotOrSpace => "a component ends in a dot or a space",
            NotPortable::ReservedName => {
                "a component is a Windows device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9)"
            }
            NotPortable::ComponentTooLong => "a component is longer than 255 UTF-16 code units",
        })
    }
}

impl std::error::Error for NotPortable {}

/// Windows device names: reserved with any extension and in any case.
const RESERVED_NAMES: [&str; 4] = ["CON", "PRN", "AUX", "NUL"];

/// Checks that every component of `path` can exist, spelled exactly so, on
/// FAT32, exFAT and NTFS (the rules of SPEC.md section 4.1). Collisions
/// between paths are checked over the whole manifest, not here.
pub fn check_portable(path: &str) -> Result<(), NotPortable> {
    for component in path.split('/') {
        check_portable_component(component)?;
    }
    Ok(())
}

fn check_portable_component(c: &str) -> Result<(), NotPortable> {
    if c.chars()
        .any(|ch| matches!(ch, '<' | '>' | ':' | '"' | '|' | '?' | '*'))
    {
        return Err(NotPortable::ReservedChar);
    }
    if c.chars().any(char::is_control) {
        return Err(NotPortable::ControlChar);
    }
    if c.ends_with('.') || c.ends_with(' ') {
        return Err(NotPortable::TrailingDotOrSpace);
    }
    if is_device_name(c) {
        return Err(NotPortable::ReservedName);
    }
    if c.encode_utf16().count() > 255 {
        return Err(NotPortable::ComponentTooLong);
    }
    Ok(())
}

/// `CON`, `con.txt`, `Com1.tar.gz`, `LPT9`, `COM¹`: the part before the
/// first dot, trailing spaces ignored, is a device name.
fn is_device_name(c: &str) -> bool {
    let stem = c.split('.').next().unwrap_or(c).trim_end_matches(' ');
    if RESERVED_NAMES.iter().any(|r| stem.eq_ignore_ascii_case(r)) {
        return true;
    }
    let mut chars = stem.chars();
    let (Some(a), Some(b), Some(c3), Some(d), None) = (
        chars.next(),
        chars.next(),
        chars.next(),
        chars.next(),
        chars.next(),
    ) else {
        return false;
    };
    let head: String = [a, b, c3].iter().collect();
    (head.eq_ignore_ascii_case("COM") || head.eq_ignore_ascii_case("LPT"))
        && matches!(d, '1'..='9' | '\u{b9}' | '\u{b2}' | '\u{b3}')
}

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
    fn portable_names_pass() {
        for p in [
            "a",
            "README",
            "café/文件.txt",
            "..a",
            ".hidden",
            "CONSOLE",
            "con-fig",
            "COM0",
            "COM10",
            "LPT",
            "a.b.c",
            "x y",
        ] {
            assert_eq!(check_portable(p), Ok(()), "{p:?}");
        }
    }

    #[test]
    fn refuses_each_unportable_form() {
        let cases = [
            ("a:b.txt", NotPortable::ReservedChar),
            ("dir/a<b", NotPortable::ReservedChar),
            ("a>b", NotPortable::ReservedChar),
            ("say\"hi\"", NotPortable::ReservedChar),
            ("a|b", NotPortable::ReservedChar),
            ("what?", NotPortable::ReservedChar),
            ("*.txt", NotPortable::ReservedChar),
            ("a\u{9b}b", NotPortable::ControlChar),
            ("trailing.", NotPortable::TrailingDotOrSpace),
            ("dir./x", NotPortable::TrailingDotOrSpace),
            ("space ", NotPortable::TrailingDotOrSpace),
            ("CON", NotPortable::ReservedName),
            ("con.txt", NotPortable::ReservedName),
            ("x/Nul.tar.gz", NotPortable::ReservedName),
            ("aux", NotPortable::ReservedName),
            ("PRN", NotPortable::ReservedName),
            ("com1", NotPortable::ReservedName),
            ("LPT9.log", NotPortable::ReservedName),
            ("COM\u{b9}", NotPortable::ReservedName),
            ("CON .txt", NotPortable::ReservedName),
            (&"\u{10000}".repeat(128), NotPortable::ComponentTooLong),
        ];
        for (p, want) in cases {
            assert_eq!(check_portable(p), Err(want), "{p:?}");
        }
        assert_eq!(check_portable(&"\u{10000}".repeat(127)), Ok(()));
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
