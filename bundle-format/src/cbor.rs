//! The canonical CBOR encoder for the manifest and the signatures entry.
//!
//! Decoding goes through `ciborium` and serde; encoding is done here, by hand,
//! so that the canonical form is written down in one place and cannot fail:
//! definite lengths only, every head in its shortest form (RFC 8949 §4.2.1
//! "preferred serialization"), no tags, map keys in the order the caller
//! writes them. A decoded item is accepted only if this encoder reproduces
//! its bytes exactly.

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
