//! Text for a terminal: the one place where strings that may come from a
//! bundle (paths, step names, file names, error messages quoting them) are
//! made safe before they are printed.
//!
//! A bundle's producer chooses its paths and step names, and an operator
//! may be handed a bundle file with any name. Printed raw, a control
//! character can move the cursor, rewrite earlier lines or forge table rows
//! (`\n`, ESC, CSI U+009B), and a bidi control can make `txt.exe` read as
//! `exe.txt` (U+202E). [`safe`] escapes every such character visibly and
//! unambiguously; [`json_safe`] does the same inside JSON text with JSON's
//! own `\uXXXX` escapes, so a program that parses the JSON still gets the
//! exact string. The command layer applies them to every line it prints
//! (`error:`/`hint:`/`warning:` lines, outcome lines, `journal show` rows,
//! `--json` objects); the journal itself keeps the exact strings.
use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::PathBuf;

use airlock_bundle::{Locator, Wanted};
use indicatif::ProgressBar;

/// Whether `c` must not reach a terminal raw: C0 controls, DEL and C1
/// controls (general category Cc), every format character (Cf: bidi
/// embeddings, overrides and isolates U+202A–202E and U+2066–2069, the marks
/// U+200E/U+200F/U+061C, zero-width characters, tags U+E0000–E007F that can
/// carry invisible text), and the line and paragraph separators U+2028,
/// U+2029 (Zl, Zp).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{890}'..='\u{891}'
                | '\u{8e2}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{110bd}'
                | '\u{110cd}'
                | '\u{13430}'..='\u{1343f}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0001}'
                | '\u{e0020}'..='\u{e007f}'
        )
}

/// `s` as it may be printed on a terminal: every [`is_unsafe`] character
/// escaped as `\n`, `\r`, `\t` or `\u{hex}` (lowercase, as Rust writes it),
/// and a backslash as `\\`, so that an escape in the output can only come
/// from an escaped character. Everything else, including all printable
/// non-ASCII text, is kept.
pub fn safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c == '\\' || is_unsafe(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A JSON text (as `serde_json` writes it, or a journal line) with every
/// [`is_unsafe`] character that it holds raw written as a JSON `\uXXXX`
/// escape (a surrogate pair beyond the BMP). Such characters can only occur
/// inside strings, where the escape denotes the same character: the JSON
/// means exactly what it meant.
pub fn json_safe(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{u:04x}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Prints one line on stdout, made [`safe`].
pub fn print_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{}", safe(line));
}

/// Prints one line on stderr, made [`safe`].
pub fn eprint_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{}", safe(line));
}

/// Asks on the terminal where a volume is; see [`airlock_bundle::Locator`].
pub fn prompt_locator(bar: ProgressBar) -> Locator {
    Box::new(move |w: &Wanted| bar.suspend(|| ask_for_volume(w)))
}

/// The question `unpack --prompt` asks; answers come from standard input:
/// Enter to look again, a file or directory, or `q` (or end of input) to
/// stop.
pub fn ask_for_volume(w: &Wanted) -> Option<PathBuf> {
    let which = match (w.number, w.count) {
        (0, _) => "the volume".to_owned(),
        (n, 0) => format!("volume {n}"),
        (n, c) => format!("volume {n} of {c}"),
    };
    eprint_line(&format!("{which} not found at {}", w.path.display()));
    eprint_line(
        "insert the medium that holds it and press Enter, or type the file or directory \
         that holds it (q to stop):",
    );
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => match line.trim() {
            "q" => None,
            "" => Some(w.path.clone()),
            p => Some(PathBuf::from(p)),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_cursor_moving_and_reordering_character() {
        for (raw, shown) in [
            ("a\nb", "a\\nb"),
            ("\u{1b}[2J", "\\u{1b}[2J"),
            ("\u{9b}31m", "\\u{9b}31m"),
            ("\u{7f}", "\\u{7f}"),
            ("txt\u{202e}exe", "txt\\u{202e}exe"),
            (
                "\u{2066}\u{2069}\u{200e}\u{200f}\u{61c}",
                "\\u{2066}\\u{2069}\\u{200e}\\u{200f}\\u{61c}",
            ),
            ("a\u{2028}b\u{2029}", "a\\u{2028}b\\u{2029}"),
            ("\u{e0041}", "\\u{e0041}"),
            ("back\\slash", "back\\\\slash"),
            ("\\u{202e}", "\\\\u{202e}"),
        ] {
            assert_eq!(safe(raw), shown, "{raw:?}");
        }
        for kept in ["café/文件 — ok…", "ПРИВЕТ", "emoji 🙂", "a b"] {
            assert!(matches!(safe(kept), Cow::Borrowed(_)), "{kept}");
        }
    }

    #[test]
    fn json_keeps_the_exact_string() {
        let s = "a\u{202e}b\u{9b}c\u{2028}\u{e0041}\u{7f}\n\\";
        let text = serde_json::to_string(&serde_json::json!({ "p": s })).unwrap();
        let shown = json_safe(&text);
        assert!(!shown.chars().any(is_unsafe), "{shown}");
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back["p"], s);
    }
}
