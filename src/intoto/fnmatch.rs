//! Python's `fnmatch` (POSIX, case-sensitive), as the in-toto reference
//! matches artifact paths: `*` matches any run of characters *including*
//! `/`, `?` any one character, `[seq]` / `[!seq]` a set, and an unclosed
//! `[` is a literal. Sets follow CPython's `fnmatch.translate` exactly,
//! including its handling of hyphens and reversed ranges (which are dropped).

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Star,
    Any,
    Literal(char),
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
    /// For a pattern of literals and stars only (the common case: `*.c`,
    /// `src/*`, the default excludes' `*.link*`): the literal runs between
    /// its stars, compared as bytes instead of character by character
    /// (that backtracking was a quarter of the instructions of `record`'s
    /// walk, docs/performance.md). `None` for a pattern with `?` or a set.
    segments: Option<Vec<String>>,
}

/// CPython's set translation: returns the ranges (singles are `(c, c)`).
fn set_ranges(body: &[char]) -> Vec<(char, char)> {
    // Split on hyphens that separate ranges; a hyphen right after a range's
    // end, or first in the set, is a literal (CPython searches from k+3 / 1).
    let mut chunks: Vec<Vec<char>> = Vec::new();
    let mut i = 0;
    let mut k = 1;
    while let Some(pos) = (k..body.len()).find(|&p| body[p] == '-') {
        chunks.push(body[i..pos].to_vec());
        i = pos + 1;
        k = pos + 3;
    }
    let tail = body[i..].to_vec();
    if tail.is_empty() {
        if let Some(last) = chunks.last_mut() {
            last.push('-');
        }
    } else {
        chunks.push(tail);
    }
    // Drop empty (reversed) ranges, from the end, as CPython does.
    let mut idx = chunks.len();
    while idx > 1 {
        idx -= 1;
        let (Some(&prev_last), Some(&next_first)) = (chunks[idx - 1].last(), chunks[idx].first())
        else {
            continue;
        };
        if prev_last > next_first {
            let mut merged = chunks[idx - 1].clone();
            merged.pop();
            merged.extend_from_slice(&chunks[idx][1..]);
            chunks[idx - 1] = merged;
            chunks.remove(idx);
        }
    }
    // Chunks are joined by range hyphens: the last char of one chunk and the
    // first of the next form a range; every other char is a literal.
    let mut ranges = Vec::new();
    let n = chunks.len();
    for (ci, chunk) in chunks.iter().enumerate() {
        let start = usize::from(ci > 0);
        let end = if ci + 1 < n {
            chunk.len().saturating_sub(1)
        } else {
            chunk.len()
        };
        if ci > 0
            && let (Some(&lo), Some(&hi)) = (chunks[ci - 1].last(), chunk.first())
        {
            ranges.push((lo, hi));
        }
        for &c in chunk.get(start..end.max(start)).unwrap_or(&[]) {
            ranges.push((c, c));
        }
    }
    ranges
}

impl Pattern {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Pattern {
        let p: Vec<char> = pattern.chars().collect();
        let n = p.len();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < n {
            let c = p[i];
            i += 1;
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => tokens.push(Token::Any),
                '[' => {
                    let mut j = i;
                    if j < n && p[j] == '!' {
                        j += 1;
                    }
                    if j < n && p[j] == ']' {
                        j += 1;
                    }
                    while j < n && p[j] != ']' {
                        j += 1;
                    }
                    if j >= n {
                        tokens.push(Token::Literal('['));
                    } else {
                        let content = &p[i..j];
                        i = j + 1;
                        let negated = content.first() == Some(&'!');
                        let body = if negated { &content[1..] } else { content };
                        let ranges = if body.is_empty() {
                            Vec::new()
                        } else {
                            set_ranges(body)
                        };
                        tokens.push(Token::Set { negated, ranges });
                    }
                }
                c => tokens.push(Token::Literal(c)),
            }
        }
        let segments = tokens.iter().try_fold(vec![String::new()], |mut segs, t| {
            match t {
                Token::Star => segs.push(String::new()),
                Token::Literal(c) => segs.last_mut()?.push(*c),
                Token::Any | Token::Set { .. } => return None,
            }
            Some(segs)
        });
        Pattern { tokens, segments }
    }

    fn one(token: &Token, c: char) -> bool {
        match token {
            Token::Any => true,
            Token::Literal(l) => *l == c,
            Token::Set { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
            Token::Star => false,
        }
    }

    /// Whether the whole of `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match &self.segments {
            Some(segments) => Self::matches_segments(segments, name),
            None => self.matches_tokens(name),
        }
    }

    /// `segments` are the literal runs between a pattern's stars (so
    /// `k` stars make `k + 1` runs, the first and last empty when the
    /// pattern starts or ends with a star). The first run must begin
    /// `name`, the last end it, without overlapping; each run between
    /// is found leftmost after the one before it, which is a match
    /// whenever any is (the stars around it take up the difference).
    fn matches_segments(segments: &[String], name: &str) -> bool {
        let Some((first, rest)) = segments.split_first() else {
            return name.is_empty();
        };
        let name = name.as_bytes();
        let Some((last, middle)) = rest.split_last() else {
            return same(name, first.as_bytes()); // no star: the whole name
        };
        let (first, last) = (first.as_bytes(), last.as_bytes());
        if name.len() < first.len() + last.len()
            || !same(&name[..first.len()], first)
            || !same(&name[name.len() - last.len()..], last)
        {
            return false;
        }
        // Comparing bytes is comparing characters: a run of whole UTF-8
        // characters matches only at character boundaries.
        let mut rest = &name[first.len()..name.len() - last.len()];
        for run in middle {
            let run = run.as_bytes();
            if run.is_empty() {
                continue; // not made (stars in a row are one), but `windows(0)` panics
            }
            match rest.windows(run.len()).position(|w| same(w, run)) {
                Some(at) => rest = &rest[at + run.len()..],
                None => return false,
            }
        }
        true
    }

    /// The general match, for any pattern.
    fn matches_tokens(&self, name: &str) -> bool {
        let t = &self.tokens;
        if let [Token::Star] = t.as_slice() {
            return true; // `*` matches everything, `/` and newlines included
        }
        // Backtracking over characters (by byte offset into `name`): a
        // failed match after a star retries with the star taking one
        // character more.
        let at = |i: usize| name[i..].chars().next().unwrap_or('\0');
        let (mut ti, mut si) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while si < name.len() {
            let c = at(si);
            if ti < t.len() && t[ti] == Token::Star {
                star = Some((ti, si));
                ti += 1;
            } else if ti < t.len() && Self::one(&t[ti], c) {
                ti += 1;
                si += c.len_utf8();
            } else if let Some((st, ss)) = star {
                ti = st + 1;
                si = ss + at(ss).len_utf8();
                star = Some((st, si));
            } else {
                return false;
            }
        }
        t[ti..].iter().all(|tok| *tok == Token::Star)
    }
}

/// `a == b`, inline: the runs and names compared are a few bytes long, where
/// a call to `memcmp` (what `==`, `starts_with` and `find` make) costs more
/// than the comparison.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// `fnmatch.fnmatch(name, pattern)`.
pub fn fnmatch(name: &str, pattern: &str) -> bool {
    Pattern::new(pattern).matches(name)
}

#[cfg(test)]
mod tests {
    use super::{Pattern, fnmatch};

    #[test]
    fn matches_like_python() {
        // Each row checked with CPython 3.11 fnmatch.fnmatchcase.
        let cases: &[(&str, &str, bool)] = &[
            ("foo/bar.c", "*.c", true),
            ("foo/bar.c", "foo*", true),
            ("foo", "*", true),
            ("", "*", true),
            // Multi-byte characters, through the backtracking.
            ("é/ü.c", "*.c", true),
            ("aéb", "a?b", true),
            ("aéé", "a*é", true),
            ("aéxé", "a*é", true),
            ("aéx", "a*é", false),
            ("ü", "[ä-ü]", true),
            ("éé", "?", false),
            ("abc", "a?c", true),
            ("a/c", "a?c", true),
            ("ac", "a?c", false),
            ("Foo", "foo", false),
            ("b", "[abc]", true),
            ("d", "[abc]", false),
            ("d", "[!abc]", true),
            ("a", "[!abc]", false),
            ("m", "[a-z]", true),
            ("M", "[a-z]", false),
            ("-", "[a-]", true),
            ("-", "[-a]", true),
            ("]", "[]]", true),
            ("x", "[!]]", true),
            ("]", "[!]]", false),
            ("[", "[", true),
            ("[a", "[a", true),
            ("a", "[z-a]", false),
            ("z", "[z-a]", false),
            ("b", "[!z-a]", true),
            ("-", "[a-c-e]", true),
            ("e", "[a-c-e]", true),
            ("d", "[a-c-e]", false),
            ("\\", "[\\]", true),
            ("a\\b", "a\\b", true),
            ("aXbXc", "a*b*c", true),
            ("abcabd", "*abd", true),
            ("données/résumé.txt", "donn?es/*", true),
            ("x.tar.gz", "*.tar.*", true),
        ];
        for &(name, pat, want) in cases {
            assert_eq!(fnmatch(name, pat), want, "fnmatch({name:?}, {pat:?})");
        }
    }

    #[test]
    fn literal_and_star_patterns_match_as_the_general_matcher_does() {
        // Every pattern of up to five symbols over `a`, `é`, `/` and `*`
        // (the fast path's whole domain, multi-byte characters included)
        // against every name of up to four of `a`, `é`, `/`: the substring
        // search agrees with the character-by-character backtracking.
        fn all(alphabet: &[&str], max: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..max {
                last = last
                    .iter()
                    .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                    .collect();
                out.extend(last.iter().cloned());
            }
            out
        }
        let names = all(&["a", "é", "/"], 4);
        let mut checked = 0;
        for pat in all(&["a", "é", "/", "*"], 5) {
            let p = Pattern::new(&pat);
            assert!(p.segments.is_some(), "{pat:?} takes the fast path");
            for name in &names {
                assert_eq!(
                    p.matches(name),
                    p.matches_tokens(name),
                    "fnmatch({name:?}, {pat:?})"
                );
                checked += 1;
            }
        }
        assert!(checked > 100_000);
        // A pattern with `?` or a set keeps the general matcher.
        assert!(Pattern::new("a?").segments.is_none());
        assert!(Pattern::new("*[ab]").segments.is_none());
        assert!(Pattern::new("[").segments.is_some()); // an unclosed `[` is a literal
    }
}
