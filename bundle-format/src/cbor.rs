//! The canonical CBOR encoder for the manifest and the signatures entry,
//! and a reader of exactly that form.
//!
//! Decoding goes through `ciborium` and serde; encoding is done here, by hand,
//! so that the canonical form is written down in one place and cannot fail:
//! definite lengths only, every head in its shortest form (RFC 8949 §4.2.1
//! "preferred serialization"), no tags, map keys in the order the caller
//! writes them. A decoded item is accepted only if this encoder reproduces
//! its bytes exactly.
//!
//! [`Dec`] reads what [`Enc`] writes and nothing else, so that the
//! manifest's canonical bytes (tens of thousands of entries) are read
//! without serde's per-item cost. It decides nothing: any other form is
//! `None`, and its caller decodes those bytes with `ciborium` as before,
//! which accepts or refuses them with the same errors.

const UINT: u8 = 0;
const BYTES: u8 = 2;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const MAP: u8 = 5;
const FALSE: u8 = 0xf4;
const TRUE: u8 = 0xf5;
const NULL: u8 = 0xf6;

/// An append-only canonical CBOR writer.
#[derive(Default)]
pub(crate) struct Enc(pub(crate) Vec<u8>);

impl Enc {
    fn head(&mut self, major: u8, n: u64) {
        let m = major << 5;
        if n < 24 {
            self.0.push(m | n as u8);
        } else if let Ok(n) = u8::try_from(n) {
            self.0.extend_from_slice(&[m | 24, n]);
        } else if let Ok(n) = u16::try_from(n) {
            self.0.push(m | 25);
            self.0.extend_from_slice(&n.to_be_bytes());
        } else if let Ok(n) = u32::try_from(n) {
            self.0.push(m | 26);
            self.0.extend_from_slice(&n.to_be_bytes());
        } else {
            self.0.push(m | 27);
            self.0.extend_from_slice(&n.to_be_bytes());
        }
    }

    pub(crate) fn uint(&mut self, n: u64) {
        self.head(UINT, n);
    }

    pub(crate) fn text(&mut self, s: &str) {
        self.head(TEXT, s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.head(BYTES, b.len() as u64);
        self.0.extend_from_slice(b);
    }

    pub(crate) fn array(&mut self, len: usize) {
        self.head(ARRAY, len as u64);
    }

    pub(crate) fn map(&mut self, len: usize) {
        self.head(MAP, len as u64);
    }

    pub(crate) fn bool(&mut self, b: bool) {
        self.0.push(if b { TRUE } else { FALSE });
    }

    pub(crate) fn null(&mut self) {
        self.0.push(NULL);
    }
}

/// A reader of the canonical form [`Enc`] writes. Each method reads one
/// item of the kind it names and returns `None`, having consumed an
/// unspecified part of the input, for anything else: another major type,
/// a head not in its shortest form, an indefinite length, text that is not
/// UTF-8, or an item running past the end.
pub(crate) struct Dec<'a> {
    rest: &'a [u8],
}

impl<'a> Dec<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Dec { rest: bytes }
    }

    /// Whether every byte has been read.
    pub(crate) fn at_end(&self) -> bool {
        self.rest.is_empty()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(taken)
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        Some(
            self.take(n)?
                .iter()
                .fold(0u64, |a, b| (a << 8) | u64::from(*b)),
        )
    }

    /// The argument of a head of `major` type, in its shortest form only.
    fn head(&mut self, major: u8) -> Option<u64> {
        let (&first, rest) = self.rest.split_first()?;
        if first >> 5 != major {
            return None;
        }
        self.rest = rest;
        let (n, least) = match first & 0x1f {
            info @ 0..=23 => return Some(u64::from(info)),
            24 => (self.be(1)?, 24),
            25 => (self.be(2)?, 0x100),
            26 => (self.be(4)?, 0x1_0000),
            27 => (self.be(8)?, 0x1_0000_0000),
            _ => return None,
        };
        (n >= least).then_some(n)
    }

    fn len(&mut self, major: u8) -> Option<usize> {
        usize::try_from(self.head(major)?).ok()
    }

    pub(crate) fn uint(&mut self) -> Option<u64> {
        self.head(UINT)
    }

    pub(crate) fn text(&mut self) -> Option<&'a str> {
        let n = self.len(TEXT)?;
        std::str::from_utf8(self.take(n)?).ok()
    }

    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.len(BYTES)?;
        self.take(n)
    }

    /// Bytes not yet read.
    pub(crate) fn left(&self) -> usize {
        self.rest.len()
    }

    /// An array's length; at most one item per byte left.
    pub(crate) fn array(&mut self) -> Option<usize> {
        self.len(ARRAY).filter(|n| *n <= self.rest.len())
    }

    pub(crate) fn map(&mut self) -> Option<usize> {
        self.len(MAP)
    }

    /// The text `key`, and nothing else.
    pub(crate) fn key(&mut self, key: &str) -> Option<()> {
        (self.text()? == key).then_some(())
    }

    /// The text `key`, then the value `read` reads.
    pub(crate) fn field<T>(
        &mut self,
        key: &str,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<T> {
        self.key(key)?;
        read(self)
    }

    /// A map of exactly `n` pairs.
    pub(crate) fn map_of(&mut self, n: usize) -> Option<()> {
        (self.map()? == n).then_some(())
    }

    /// Reads the text `key` if it comes next; reads nothing otherwise.
    pub(crate) fn key_if(&mut self, key: &str) -> bool {
        let mut ahead = Dec { rest: self.rest };
        let next = ahead.key(key).is_some();
        if next {
            self.rest = ahead.rest;
        }
        next
    }

    pub(crate) fn bool(&mut self) -> Option<bool> {
        let b = match self.take(1)? {
            [FALSE] => false,
            [TRUE] => true,
            _ => return None,
        };
        Some(b)
    }

    /// Reads a null if one comes next; reads nothing otherwise.
    pub(crate) fn null_if(&mut self) -> bool {
        let next = self.rest.first() == Some(&NULL);
        if next {
            self.rest = &self.rest[1..];
        }
        next
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dec_reads_what_enc_writes() {
        let nums = [0u64, 23, 24, 255, 256, 65535, 65536, 1 << 32, u64::MAX];
        let mut e = Enc::default();
        e.map(2);
        e.text("héllo");
        e.bytes(&[1, 2, 3]);
        e.array(nums.len());
        for n in nums {
            e.uint(n);
        }
        e.bool(true);
        e.bool(false);
        e.null();
        let mut d = Dec::new(&e.0);
        assert_eq!(d.map(), Some(2));
        assert!(!d.key_if("hello"));
        assert!(d.key_if("héllo"));
        assert_eq!(d.bytes(), Some(&[1u8, 2, 3][..]));
        assert_eq!(d.array(), Some(nums.len()));
        for n in nums {
            assert_eq!(d.uint(), Some(n));
        }
        assert_eq!(d.bool(), Some(true));
        assert_eq!(d.bool(), Some(false));
        assert!(d.null_if());
        assert!(d.at_end());
    }

    #[test]
    fn dec_reads_nothing_but_the_canonical_form() {
        let none = |b: &[u8], f: fn(&mut Dec<'_>) -> bool| {
            let mut d = Dec::new(b);
            assert!(!f(&mut d), "{b:02x?}");
        };
        let uint = |d: &mut Dec<'_>| d.uint().is_some();
        // Heads longer than they need be, reserved and indefinite forms.
        none(&[0x18, 23], uint);
        none(&[0x19, 0, 255], uint);
        none(&[0x1a, 0, 0, 255, 255], uint);
        none(&[0x1b, 0, 0, 0, 0, 255, 255, 255, 255], uint);
        none(&[0x1c], uint);
        none(&[0x1f], uint);
        none(&[0x5f, 0x41, 0, 0xff], |d| d.bytes().is_some());
        none(&[0x9f, 0xff], |d| d.array().is_some());
        // Another major type, a tag, a float.
        none(&[0x20], uint);
        none(&[0xc0, 0x00], uint);
        none(&[0xf9, 0, 0], uint);
        // Short input, text that is not UTF-8, more items than bytes.
        none(&[0x19, 1], uint);
        none(&[0x63, b'a', b'b'], |d| d.text().is_some());
        none(&[0x62, 0xc3, 0x28], |d| d.text().is_some());
        none(&[0x83, 0, 0], |d| d.array().is_some());
        none(&[0xf6], |d| d.bool().is_some());
    }

    #[test]
    fn heads_are_shortest_and_match_ciborium() {
        for n in [
            0u64,
            23,
            24,
            255,
            256,
            65535,
            65536,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            let mut e = Enc::default();
            e.uint(n);
            let mut c = Vec::new();
            ciborium::into_writer(&n, &mut c).unwrap();
            assert_eq!(e.0, c, "{n}");
        }
        let mut e = Enc::default();
        e.text("héllo");
        let mut c = Vec::new();
        ciborium::into_writer("héllo", &mut c).unwrap();
        assert_eq!(e.0, c);
    }
}
