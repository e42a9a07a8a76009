//! What `sha256sum -c FILE` would check, read from FILE's bytes: the exact
//! line forms GNU coreutils writes (`HEX  NAME` and `HEX *NAME`, 64 hex
//! digits in either case) and `#` comment lines. Any other line (BSD
//! `SHA256 (NAME) = HEX` tags, backslash-escaped names, blank lines, `\r`,
//! leading blanks) is not evaluated: what sha256sum makes of it is not
//! computed here.
use std::io::Read;

use super::ContentError;

/// Largest checksum file read.
pub const MAX_CHECKSUM_FILE: u64 = 16 << 20;

/// One line: the file named and its expected SHA-256 (lower-case hex).
pub type Checksums = Vec<(String, String)>;

/// Parses a checksum file read from `r`.
pub fn parse(r: &mut dyn Read) -> Result<Checksums, ContentError> {
    let mut bytes = Vec::new();
    r.take(MAX_CHECKSUM_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ContentError::Failed(format!("cannot read the checksum file: {e}")))?;
    if bytes.len() as u64 > MAX_CHECKSUM_FILE {
        return Err(ContentError::Unevaluable(format!(
            "the checksum file is over {MAX_CHECKSUM_FILE} bytes, which airlock does not read"
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ContentError::Unevaluable("the checksum file is not UTF-8".into()))?;
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut out = Vec::new();
    if text.is_empty() {
        return Ok(out);
    }
    for (i, line) in body.split('\n').enumerate() {
        if line.starts_with('#') {
            continue;
        }
        let odd = || {
            ContentError::Unevaluable(format!(
                "line {} of the checksum file is not `HEX  NAME` or `HEX *NAME`: {}",
                i + 1,
                crate::excerpt(line)
            ))
        };
        let (hex, rest) = line.split_at_checked(64).ok_or_else(odd)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(odd());
        }
        let name = rest
            .strip_prefix("  ")
            .or_else(|| rest.strip_prefix(" *"))
            .ok_or_else(odd)?;
        if name.is_empty() || name.chars().any(char::is_control) || name.contains('\\') {
            return Err(odd());
        }
        out.push((name.to_owned(), hex.to_ascii_lowercase()));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_gnu_lines_and_refuses_others() {
        let h = "A".repeat(64);
        let ok = format!("# made by sha256sum\n{h}  a.txt\n{h} *dir/b\n");
        let got = parse(&mut ok.as_bytes()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], ("dir/b".to_owned(), "a".repeat(64)));
        for bad in [
            format!("{h} a.txt\n"),
            format!("\n{h}  a.txt\n"),
            format!("SHA256 (a.txt) = {h}\n"),
            format!("\\{h}  a\\nb\n"),
            format!("{h}  a.txt\r\n"),
            format!(" {h}  a.txt\n"),
        ] {
            assert!(
                matches!(
                    parse(&mut bad.as_bytes()),
                    Err(ContentError::Unevaluable(_))
                ),
                "{bad:?}"
            );
        }
    }
}
