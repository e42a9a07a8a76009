//! The artifact lists of links (`materials`, `products`): path → digests.
//!
//! Links list 100,000s of artifacts, so these are compact checked types
//! parsed straight from the JSON text (no generic JSON tree in between): a
//! sorted vector of paths, and a digest that is the 32 bytes of a SHA-256
//! whenever the link wrote exactly `{"sha256": <64 lowercase hex>}`. They
//! write their own canonical JSON, byte for byte what securesystemslib
//! writes for the same object, so signatures are checked over it.
use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use crate::json::{Json, write_canonical_str};

/// Digests of one artifact: algorithm → hex, as written in the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Digests {
    /// Exactly `{"sha256": <64 lowercase hex digits>}`, as the bytes.
    Sha256([u8; 32]),
    /// Anything else: (algorithm, hex as written), sorted by algorithm,
    /// algorithms unique.
    Other(Box<[(Box<str>, Box<str>)]>),
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The bytes of a SHA-256 written as 64 lowercase hex digits.
fn sha256_bytes(algorithm: &str, hex: &str) -> Option<[u8; 32]> {
    // A table, not branches: digits and letters come in random order, and
    // a mispredicted branch per digit made this the hottest loop of all.
    const NIBBLE: [u8; 256] = {
        let mut t = [0xff; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'a' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    };
    if algorithm != "sha256" || hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let (hi, lo) = (NIBBLE[pair[0] as usize], NIBBLE[pair[1] as usize]);
        bad |= hi | lo;
        *o = hi << 4 | lo;
    }
    (bad & 0xf0 == 0).then_some(out)
}

impl Digests {
    /// A SHA-256 digest.
    pub fn sha256(bytes: [u8; 32]) -> Digests {
        Digests::Sha256(bytes)
    }

    /// Digests from (algorithm, hex) pairs: every value must be hex and no
    /// algorithm may repeat. Two `Digests` are equal exactly when the pairs
    /// are (as the reference compares the dictionaries).
    pub fn from_pairs(mut pairs: Vec<(Box<str>, Box<str>)>) -> Result<Digests, String> {
        if let [(algorithm, hex)] = pairs.as_slice()
            && let Some(bytes) = sha256_bytes(algorithm, hex)
        {
            return Ok(Digests::Sha256(bytes));
        }
        for (algorithm, hex) in &pairs {
            if !is_hex(hex) {
                return Err(format!("digest {} must be hex", crate::excerpt(algorithm)));
            }
        }
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!("duplicate key {}", crate::excerpt(&w[0].0)));
        }
        Ok(Digests::Other(pairs.into_boxed_slice()))
    }

    /// The hex digest for `algorithm`.
    pub fn get(&self, algorithm: &str) -> Option<Cow<'_, str>> {
        match self {
            Digests::Sha256(b) => (algorithm == "sha256").then(|| Cow::Owned(hex::encode(b))),
            Digests::Other(pairs) => pairs
                .iter()
                .find(|(a, _)| &**a == algorithm)
                .map(|(_, h)| Cow::Borrowed(&**h)),
        }
    }

    /// The digests as a JSON object.
    pub fn to_json(&self) -> Json {
        match self {
            Digests::Sha256(b) => {
                Json::Obj([("sha256".to_owned(), Json::Str(hex::encode(b)))].into())
            }
            Digests::Other(pairs) => Json::Obj(
                pairs
                    .iter()
                    .map(|(a, h)| (a.to_string(), Json::Str(h.to_string())))
                    .collect(),
            ),
        }
    }

    fn canonical_len(&self) -> usize {
        match self {
            Digests::Sha256(_) => br#"{"sha256":""}"#.len() + 64,
            Digests::Other(pairs) => {
                1 + pairs
                    .iter()
                    .map(|(a, h)| canonical_str_len(a) + 1 + canonical_str_len(h) + 1)
                    .sum::<usize>()
                    .max(1)
            }
        }
    }

    fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            Digests::Sha256(b) => {
                let mut hex = [0u8; 64];
                // Cannot fail: the buffer is exactly twice the input.
                let _ = hex::encode_to_slice(b, &mut hex);
                out.extend_from_slice(br#"{"sha256":""#);
                out.extend_from_slice(&hex);
                out.extend_from_slice(br#""}"#);
            }
            Digests::Other(pairs) => {
                out.push(b'{');
                for (i, (a, h)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_canonical_str(a, out);
                    out.push(b':');
                    write_canonical_str(h, out);
                }
                out.push(b'}');
            }
        }
    }
}

/// The length of `s` as a canonical JSON string.
fn canonical_str_len(s: &str) -> usize {
    2 + s.len() + s.bytes().filter(|&b| b == b'"' || b == b'\\').count()
}

/// Artifacts of a link: path → digests, sorted by path (byte order, as
/// canonical JSON sorts keys), paths unique.
///
/// The paths are kept one after another in one string, not each in an
/// allocation of its own: a link of 100,000 artifacts made and freed
/// 100,000 of them (docs/performance.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Artifacts(Entries);

/// Entries in the order they were parsed or collected (see
/// [`Entries::into_artifacts`]), or sorted in [`Artifacts`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Entries {
    /// Every path, one after another.
    paths: String,
    /// Each entry's digests, and where its path ends in `paths` (it starts
    /// where the one before ends).
    entries: Vec<(usize, Digests)>,
}

impl Entries {
    fn with_capacity(entries: usize) -> Entries {
        Entries {
            paths: String::new(),
            entries: Vec::with_capacity(entries),
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn path(&self, i: usize) -> &str {
        let start = i.checked_sub(1).map_or(0, |j| self.entries[j].0);
        &self.paths[start..self.entries[i].0]
    }

    fn push(&mut self, path: &str, digests: Digests) {
        self.paths.push_str(path);
        self.entries.push((self.paths.len(), digests));
    }

    /// (path, digests) of entries `from..`.
    fn iter_from(&self, from: usize) -> impl Iterator<Item = (&str, &Digests)> {
        (from..self.len()).map(|i| (self.path(i), &self.entries[i].1))
    }

    /// Sorted by path. With `last_wins`, a repeated path keeps its last
    /// entry (as inserting into a map); without, it is refused.
    fn into_artifacts(self, last_wins: bool) -> Result<Artifacts, String> {
        let sorted = (1..self.len()).all(|i| self.path(i - 1) < self.path(i));
        if sorted {
            return Ok(Artifacts(self));
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        // Stable, so among equal paths the later entry stays later.
        order.sort_by(|&a, &b| self.path(a).cmp(self.path(b)));
        let mut keep: Vec<usize> = Vec::with_capacity(order.len());
        for i in order {
            match keep.last_mut() {
                Some(last) if self.path(*last) == self.path(i) => {
                    if !last_wins {
                        return Err(format!("duplicate key {}", crate::excerpt(self.path(i))));
                    }
                    *last = i;
                }
                _ => keep.push(i),
            }
        }
        let mut out = Entries {
            paths: String::with_capacity(self.paths.len()),
            entries: Vec::with_capacity(keep.len()),
        };
        for i in keep {
            out.push(self.path(i), self.entries[i].1.clone());
        }
        Ok(Artifacts(out))
    }
}

impl Artifacts {
    /// No artifacts.
    pub fn new() -> Artifacts {
        Artifacts::default()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.entries.is_empty()
    }

    /// The index of `path`, if listed.
    pub fn position(&self, path: &str) -> Option<usize> {
        self.search(path).ok()
    }

    /// `binary_search` by path.
    fn search(&self, path: &str) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.path(mid).cmp(path) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// A cursor for looking up paths mostly in increasing order (as rules
    /// do): each lookup first tries the entry after the previous hit.
    pub fn cursor(&self) -> Cursor<'_> {
        Cursor {
            artifacts: self,
            next: 0,
        }
    }

    /// The digests of `path`.
    pub fn get(&self, path: &str) -> Option<&Digests> {
        self.position(path).map(|i| self.digests(i))
    }

    /// Whether `path` is listed.
    pub fn contains_key(&self, path: &str) -> bool {
        self.position(path).is_some()
    }

    /// The path at `index` (in path order).
    pub fn path(&self, index: usize) -> &str {
        self.0.path(index)
    }

    /// The digests at `index` (in path order).
    pub fn digests(&self, index: usize) -> &Digests {
        &self.0.entries[index].1
    }

    /// The paths, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(p, _)| p)
    }

    /// (path, digests), in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Digests)> {
        self.0.iter_from(0)
    }

    /// The artifacts as a JSON object.
    pub fn to_json(&self) -> Json {
        Json::Obj(
            self.iter()
                .map(|(p, d)| (p.to_owned(), d.to_json()))
                .collect(),
        )
    }

    /// The length of [`Artifacts::write_canonical`]'s output.
    pub fn canonical_len(&self) -> usize {
        1 + self
            .iter()
            .map(|(p, d)| canonical_str_len(p) + 1 + d.canonical_len() + 1)
            .sum::<usize>()
            .max(1)
    }

    /// Appends the canonical JSON of the object.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        write_canonical_run(self.iter(), true, out);
        out.extend_from_slice(if self.is_empty() { b"{}" } else { b"}" });
    }

    /// Parses an artifacts object from a generic JSON value (`what` names it
    /// in errors).
    pub fn from_json(value: &Json, what: &str) -> Result<Artifacts, String> {
        let Json::Obj(map) = value else {
            return Err(format!("`{what}` must be an object of path → digests"));
        };
        let mut entries = Entries::with_capacity(map.len());
        for (path, digests) in map {
            let Json::Obj(d) = digests else {
                return Err(format!(
                    "{what} {}: digests must be an object",
                    crate::excerpt(path)
                ));
            };
            let pairs = d
                .iter()
                .map(|(alg, hex)| {
                    hex.as_str()
                        .map(|h| (Box::from(alg.as_str()), Box::from(h)))
                        .ok_or_else(|| {
                            format!("{what} {}: digest {alg} must be hex", crate::excerpt(path))
                        })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let digests = Digests::from_pairs(pairs)
                .map_err(|e| format!("{what} {}: {e}", crate::excerpt(path)))?;
            entries.push(path, digests);
        }
        entries.into_artifacts(false)
    }
}

impl serde::Serialize for Digests {
    /// As [`Digests::to_json`] serializes, without building it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Digests::Sha256(b) => {
                let mut hex = [0u8; 64];
                // Cannot fail: the buffer is exactly twice the input.
                let _ = hex::encode_to_slice(b, &mut hex);
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("sha256", std::str::from_utf8(&hex).unwrap_or_default())?;
                m.end()
            }
            Digests::Other(pairs) => {
                let mut m = s.serialize_map(Some(pairs.len()))?;
                for (a, h) in pairs {
                    m.serialize_entry(&**a, &**h)?;
                }
                m.end()
            }
        }
    }
}

impl serde::Serialize for Artifacts {
    /// As [`Artifacts::to_json`] serializes (paths in order), without
    /// building it: a tree of 100,000 entries was a tenth of `record`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.len()))?;
        for (p, d) in self.iter() {
            m.serialize_entry(p, d)?;
        }
        m.end()
    }
}

/// See [`Artifacts::cursor`].
#[derive(Debug)]
pub struct Cursor<'a> {
    artifacts: &'a Artifacts,
    next: usize,
}

impl Cursor<'_> {
    /// The index of `path`, if listed.
    pub fn position(&mut self, path: &str) -> Option<usize> {
        let artifacts = self.artifacts;
        let found = if self.next < artifacts.len() && artifacts.path(self.next) == path {
            Ok(self.next)
        } else {
            artifacts.search(path)
        };
        match found {
            Ok(i) => {
                self.next = i + 1;
                Some(i)
            }
            Err(i) => {
                self.next = i;
                None
            }
        }
    }

    /// Whether `path` is listed.
    pub fn contains(&mut self, path: &str) -> bool {
        self.position(path).is_some()
    }

    /// The digests of `path`.
    pub fn get(&mut self, path: &str) -> Option<&Digests> {
        let artifacts = self.artifacts;
        self.position(path).map(|i| artifacts.digests(i))
    }
}

impl FromIterator<(String, Digests)> for Artifacts {
    /// Sorted by path; for a repeated path the last one wins (as inserting
    /// into a map).
    fn from_iter<I: IntoIterator<Item = (String, Digests)>>(iter: I) -> Artifacts {
        let mut entries = Entries::default();
        for (p, d) in iter {
            entries.push(&p, d);
        }
        entries
            .into_artifacts(true)
            .unwrap_or_else(|_| unreachable!("the last of a repeated path wins"))
    }
}

/// Parses an artifacts object straight from JSON text (`what` is
/// `materials` or `products`, for errors), giving its entries to
/// [`ArtifactRuns`] as they are parsed when there is one.
pub struct ArtifactsSeed<'w, 'r>(pub &'w str, pub Option<&'r mut dyn ArtifactRuns>);

/// Given an artifacts object's entries while it is parsed, a run at a time,
/// in the text's order (a signature check streaming the canonical form,
/// `stream_check.rs`): every entry once, the last run possibly empty.
pub trait ArtifactRuns {
    /// The next entries, (path, digests) in the text's order.
    fn run(&mut self, entries: &mut dyn Iterator<Item = (&str, &Digests)>);
}

impl fmt::Debug for ArtifactsSeed<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ArtifactsSeed")
            .field(&self.0)
            .field(&self.1.is_some())
            .finish()
    }
}

/// Entries a run holds (about 400 KB of canonical form).
const RUN: usize = 4096;

impl<'de> DeserializeSeed<'de> for ArtifactsSeed<'_, '_> {
    type Value = Artifacts;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Artifacts, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ArtifactsSeed<'_, '_> {
    type Value = Artifacts;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` as an object of path → digests", self.0)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Artifacts, A::Error> {
        let mut entries = Entries::with_capacity(map.size_hint().unwrap_or(0));
        let mut given = 0;
        let mut start = 0;
        while map.next_key_seed(PathInto(&mut entries.paths))?.is_some() {
            let digests = map.next_value_seed(DigestsSeed {
                what: self.0,
                path: &entries.paths[start..],
            })?;
            entries.entries.push((entries.paths.len(), digests));
            start = entries.paths.len();
            if let Some(runs) = self.1.as_deref_mut()
                && entries.len() - given == RUN
            {
                runs.run(&mut entries.iter_from(given));
                given = entries.len();
            }
        }
        if let Some(runs) = self.1 {
            runs.run(&mut entries.iter_from(given));
        }
        entries
            .into_artifacts(false)
            .map_err(|e| de::Error::custom(format!("{}: {e}", self.0)))
    }
}

/// Appends the canonical JSON of `entries` as part of an object's: each
/// entry after `{` when `first` and the object's first, after `,` when not.
/// Entries in sorted order, written run after run and closed with `}` (or
/// `{}` for none), are [`Artifacts::write_canonical`]'s bytes.
pub fn write_canonical_run<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a Digests)>,
    mut first: bool,
    out: &mut Vec<u8>,
) {
    for (p, d) in entries {
        out.push(if first { b'{' } else { b',' });
        first = false;
        write_canonical_str(p, out);
        out.push(b':');
        d.write_canonical(out);
    }
}

/// A string key, appended to the paths parsed so far.
struct PathInto<'p>(&'p mut String);

impl<'de> DeserializeSeed<'de> for PathInto<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for PathInto<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push_str(v);
        Ok(())
    }
}

/// A digest value: a string, borrowed from the text when it can be.
struct HexStr<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for HexStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<HexStr<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HexStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a hex string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<HexStr<'de>, E> {
                Ok(HexStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<HexStr<'de>, E> {
                Ok(HexStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<HexStr<'de>, E> {
                Ok(HexStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

struct DigestsSeed<'w> {
    what: &'w str,
    path: &'w str,
}

impl<'de> DeserializeSeed<'de> for DigestsSeed<'_> {
    type Value = Digests;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Digests, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DigestsSeed<'_> {
    type Value = Digests;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: digests as an object",
            self.what,
            crate::excerpt(self.path)
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Digests, A::Error> {
        let fail = |e: String| {
            de::Error::custom(format!("{} {}: {e}", self.what, crate::excerpt(self.path)))
        };
        let mut pairs: Vec<(Box<str>, Box<str>)> = Vec::new();
        while let Some(algorithm) = map.next_key::<HexStr<'de>>()? {
            let hex: HexStr<'de> = map.next_value().map_err(|_: A::Error| {
                fail(format!(
                    "digest {} must be hex",
                    crate::excerpt(&algorithm.0)
                ))
            })?;
            // The common case, without an allocation: one SHA-256.
            if pairs.is_empty()
                && let Some(bytes) = sha256_bytes(&algorithm.0, &hex.0)
            {
                match map.next_key::<HexStr<'de>>()? {
                    None => return Ok(Digests::Sha256(bytes)),
                    Some(next) => {
                        pairs.push((Box::from(&*algorithm.0), Box::from(&*hex.0)));
                        let hex: HexStr<'de> = map.next_value().map_err(|_: A::Error| {
                            fail(format!("digest {} must be hex", crate::excerpt(&next.0)))
                        })?;
                        pairs.push((Box::from(&*next.0), Box::from(&*hex.0)));
                        continue;
                    }
                }
            }
            pairs.push((Box::from(&*algorithm.0), Box::from(&*hex.0)));
        }
        Digests::from_pairs(pairs).map_err(fail)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Artifacts, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        ArtifactsSeed("materials", None)
            .deserialize(&mut de)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn canonical_equals_the_generic_canonical() {
        let h = "ab".repeat(32);
        let text = format!(
            r#"{{"z": {{"sha256": "{h}"}}, "a\"b": {{"sha512": "AB", "sha256": "{h}"}},
                "é": {{"sha256": "{}"}}, "Z": {{}}, "m": {{"md5": "00"}}}}"#,
            h.to_uppercase()
        );
        let typed = parse(&text).unwrap();
        let mut out = Vec::new();
        typed.write_canonical(&mut out);
        assert_eq!(out, Json::parse(text.as_bytes()).unwrap().canonical());
        assert_eq!(typed.canonical_len(), out.len());
        assert_eq!(Artifacts::new().canonical_len(), 2);
        assert_eq!(
            typed,
            Artifacts::from_json(&Json::parse(text.as_bytes()).unwrap(), "materials").unwrap()
        );
        assert_eq!(typed.get("z"), Some(&Digests::Sha256([0xab; 32])));
        // Uppercase hex is kept as written, so it is not equal to lowercase.
        assert_ne!(typed.get("é"), typed.get("z"));
        assert_eq!(
            typed.keys().collect::<Vec<_>>(),
            ["Z", "a\"b", "m", "z", "é"]
        );
    }

    #[test]
    fn collected_in_any_order_the_last_of_a_repeated_path_wins() {
        let d = |b: u8| Digests::Sha256([b; 32]);
        let a: Artifacts = [
            ("b/x".to_owned(), d(1)),
            (String::new(), d(2)),
            ("a".to_owned(), d(3)),
            ("b/x".to_owned(), d(4)),
            ("é".to_owned(), d(5)),
            ("a".to_owned(), d(6)),
        ]
        .into_iter()
        .collect();
        assert_eq!(a.keys().collect::<Vec<_>>(), ["", "a", "b/x", "é"]);
        assert_eq!(
            a.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(),
            [d(2), d(6), d(4), d(5)]
        );
        for (i, p) in ["", "a", "b/x", "é"].iter().enumerate() {
            assert_eq!(a.position(p), Some(i));
            assert_eq!(a.path(i), *p);
        }
        assert_eq!(a.position("b"), None);
        assert_eq!(a.position("zz"), None);
        let mut c = a.cursor();
        assert_eq!(c.position("b/x"), Some(2));
        assert_eq!(c.position("é"), Some(3));
        assert_eq!(c.position(""), Some(0));
        assert!(!c.contains("c"));
        // Parsed out of order: sorted, and equal to the same list in order.
        let parsed = parse(r#"{"é": {"sha256": "05"}, "": {}, "a": {"md5": "00"}}"#).unwrap();
        let sorted = parse(r#"{"": {}, "a": {"md5": "00"}, "é": {"sha256": "05"}}"#).unwrap();
        assert_eq!(parsed, sorted);
        assert_eq!(parsed.keys().collect::<Vec<_>>(), ["", "a", "é"]);
        assert!(parse(r#"{"": {}, "a": {}, "": {}}"#).is_err());
        assert!(Artifacts::new().is_empty());
    }

    #[test]
    fn refusals() {
        for (text, want) in [
            (r#"{"a": {"sha256": "xyz"}}"#, "must be hex"),
            (r#"{"a": {"sha256": ""}}"#, "must be hex"),
            (r#"{"a": {"sha256": 5}}"#, "must be hex"),
            (r#"{"a": "00"}"#, "digests as an object"),
            (r#"{"a": {"md5": "00", "md5": "01"}}"#, "duplicate key"),
            (r#"{"b": {}, "a": {}, "b": {}}"#, "duplicate key"),
            (r#"[]"#, "path → digests"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        let h = "00".repeat(32);
        let e = parse(&format!(r#"{{"a": {{"sha256": "{h}", "sha256": "{h}"}}}}"#)).unwrap_err();
        assert!(e.contains("duplicate key"), "{e}");
    }
}
