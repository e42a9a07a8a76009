//! Helpers shared by the integration tests: sample inputs, crafted tar
//! entries and zstd frames (the head frame built here independently of the
//! crate, from SPEC.md), and a reader that runs a bundle to the end.

#![allow(dead_code)]

use std::io::Cursor;

use airlock_bundle::*;
use sha2::{Digest, Sha256};

pub fn lim() -> Limits {
    Limits::default()
}

pub fn bp(p: &str) -> BundlePath {
    BundlePath::new(p, &lim()).unwrap()
}

/// Deterministic pseudo-random bytes (xorshift), somewhat compressible.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 3 == 0 {
                b'a' + (x % 4) as u8
            } else {
                x as u8
            }
        })
        .collect()
}

/// One file to put in a bundle.
#[derive(Clone, Debug)]
pub struct Item {
    pub kind: EntryKind,
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

pub fn item(kind: EntryKind, path: &str, data: impl Into<Vec<u8>>, mode: u32) -> Item {
    Item {
        kind,
        path: path.into(),
        data: data.into(),
        mode,
    }
}

impl Item {
    pub fn entry(&self) -> Entry {
        Entry {
            kind: self.kind,
            path: bp(&self.path),
            size: self.data.len() as u64,
            sha256: Sha256::digest(&self.data).into(),
            mode: self.mode,
        }
    }

    pub fn tar_path(&self) -> String {
        format!("{}{}", self.kind.prefix(), self.path)
    }

    /// The entry as the writer puts it in the tar stream.
    pub fn tar(&self) -> Vec<u8> {
        entry_tar(&self.tar_path(), &self.data, self.mode)
    }
}

/// A little of everything: each metadata kind, nested artifacts, an empty
/// file, a file of exactly one block, and one larger than a read-ahead chunk.
pub fn sample_items() -> Vec<Item> {
    use EntryKind::*;
    vec![
        item(
            Artifact,
            "bin/tool",
            b"#!/bin/sh\necho tool\n".to_vec(),
            0o755,
        ),
        item(Artifact, "share/empty", Vec::new(), 0o644),
        item(Artifact, "lib/block.bin", noise(2, 512), 0o644),
        item(Artifact, "data/big.bin", noise(3, 1_300_000), 0o600),
        item(
            Root,
            "1.root.json",
            br#"{"signed":{"version":1}}"#.to_vec(),
            0o644,
        ),
        item(
            Layout,
            "root.layout",
            br#"{"steps":["build"]}"#.to_vec(),
            0o644,
        ),
        item(
            LayoutKey,
            "owner.pub",
            b"-----BEGIN PUBLIC KEY-----\n".to_vec(),
            0o644,
        ),
        item(
            Link,
            "build.0123abcd.link",
            br#"{"name":"build"}"#.to_vec(),
            0o644,
        ),
        item(Attestation, "sbom.spdx.json", noise(5, 3000), 0o644),
    ]
}

/// The `created` time of the sample manifests, and so the mtime of every
/// tar header in the sample bundles.
pub const CREATED: u64 = 1_700_000_000;

pub fn fields(entries: Vec<Entry>) -> ManifestFields {
    ManifestFields {
        channel: "stable".into(),
        sequence: 7,
        created: CREATED,
        expires: 1_900_000_000,
        payload_sha256: [0; 32],
        supply_chain: SupplyChain {
            layout_keyids: vec!["0a".repeat(32), "fe".repeat(32)],
            product_step: Some("build".into()),
        },
        images: Vec::new(),
        entries,
        names: NameRule::Portable,
        enclaves: Vec::new(),
    }
}

pub fn sample_signatures() -> Signatures {
    Signatures(vec![
        ManifestSignature {
            keyid: "cd".repeat(32),
            sig: vec![0xcd; 64],
        },
        ManifestSignature {
            keyid: "ab".repeat(32),
            sig: vec![0xab; 64],
        },
    ])
}

/// A regular-file entry exactly as `tar::Builder::append_data` writes it
/// with a GNU header (long-name entry included), without end-of-archive.
pub fn entry_tar(path: &str, data: &[u8], mode: u32) -> Vec<u8> {
    entry_tar_with(path, data, mode, |_| {})
}

/// [`entry_tar`] with the header changed by `f` before it is written (the
/// checksum is then recomputed).
pub fn entry_tar_with(
    path: &str,
    data: &[u8],
    mode: u32,
    f: impl FnOnce(&mut tar::Header),
) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(CREATED);
    f(&mut h);
    b.append_data(&mut h, path, data).unwrap();
    let mut v = b.into_inner().unwrap();
    v.truncate(v.len() - 1024);
    v
}

/// A header with any name bytes and entry type, bypassing the `tar` crate's
/// own path checks.
pub fn raw_header(name: &[u8], kind: u8, size: u64, mode: u32) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_size(size);
    h.set_mode(mode);
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_cksum();
    h.as_bytes().to_vec()
}

pub fn raw_entry(name: &[u8], kind: u8, data: &[u8], mode: u32) -> Vec<u8> {
    let mut v = raw_header(name, kind, data.len() as u64, mode);
    v.extend_from_slice(data);
    pad(&mut v);
    v
}

pub fn pad(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(512) {
        v.push(0);
    }
}

pub const EOA: [u8; 1024] = [0; 1024];

/// One ordinary zstd frame (for the payload).
pub fn frame(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// Ordinary zstd frames, one for each part.
pub fn frames(parts: &[&[u8]]) -> Vec<u8> {
    parts.iter().flat_map(|p| frame(p)).collect()
}

/// Size of every head-frame block but the last.
pub const HEAD_BLOCK: usize = 131_072;

/// The canonical head frame for `tar`, built from SPEC.md: magic, FHD 0x00,
/// WD 0x38, raw blocks of exactly 131072 bytes, the last one 1..=131072
/// bytes with Last_Block set.
pub fn head_frame(tar: &[u8]) -> Vec<u8> {
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38];
    let chunks: Vec<&[u8]> = tar.chunks(HEAD_BLOCK).collect();
    for (i, c) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let h = (c.len() as u32) << 3 | u32::from(last);
        out.extend_from_slice(&h.to_le_bytes()[..3]);
        out.extend_from_slice(c);
    }
    out
}

/// A bundle of a canonical head frame and an ordinary payload frame.
pub fn bundle_of(head: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut b = head_frame(head);
    b.extend(frame(payload));
    b
}

pub enum Piece<'a> {
    Raw(&'a [u8]),
    Zeros(u64),
}

/// A zstd frame assembled by hand from raw and RLE blocks, with the given
/// window log: lets a test make a huge frame cheaply, or one whose window is
/// too large.
pub fn hand_frame(window_log: u8, pieces: &[Piece]) -> Vec<u8> {
    const MAX_BLOCK: usize = 128 << 10;
    let mut blocks: Vec<(u8, usize, Vec<u8>)> = Vec::new();
    for p in pieces {
        match p {
            Piece::Raw(d) => {
                for c in d.chunks(MAX_BLOCK) {
                    blocks.push((0, c.len(), c.to_vec()));
                }
            }
            Piece::Zeros(n) => {
                let mut left = *n;
                while left > 0 {
                    let k = left.min(MAX_BLOCK as u64);
                    blocks.push((1, k as usize, vec![0]));
                    left -= k;
                }
            }
        }
    }
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, (window_log - 10) << 3];
    let last = blocks.len() - 1;
    for (i, (ty, size, body)) in blocks.into_iter().enumerate() {
        let h = (size as u32) << 3 | u32::from(ty) << 1 | u32::from(i == last);
        out.extend_from_slice(&h.to_le_bytes()[..3]);
        out.extend_from_slice(&body);
    }
    out
}

/// The pieces of a well-formed bundle, for tests to rearrange.
#[derive(Clone)]
pub struct Parts {
    pub manifest: Manifest,
    pub manifest_bytes: Vec<u8>,
    pub sig_bytes: Vec<u8>,
    /// Items in manifest order.
    pub items: Vec<Item>,
}

impl Parts {
    /// The parts of a bundle whose payload frame is `frame(payload())`.
    pub fn new(items: Vec<Item>) -> Parts {
        let p = Parts::for_payload_sha256(items, [0; 32]);
        let sha = Sha256::digest(frame(&p.payload())).into();
        Parts::for_payload_sha256(p.items, sha)
    }

    /// The parts of a bundle whose manifest has this `payload_sha256`.
    pub fn for_payload_sha256(mut items: Vec<Item>, payload_sha256: [u8; 32]) -> Parts {
        items.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
        let manifest = Manifest::new(
            ManifestFields {
                payload_sha256,
                ..fields(items.iter().map(Item::entry).collect())
            },
            &lim(),
        )
        .unwrap();
        Parts {
            manifest_bytes: manifest.encode(),
            manifest,
            sig_bytes: sample_signatures().encode(),
            items,
        }
    }

    pub fn sample() -> Parts {
        Parts::new(sample_items())
    }

    pub fn control_tar(&self) -> Vec<u8> {
        let mut v = entry_tar(MANIFEST_PATH, &self.manifest_bytes, 0o644);
        v.extend(entry_tar(SIGNATURES_PATH, &self.sig_bytes, 0o644));
        v
    }

    pub fn metadata(&self) -> Vec<&Item> {
        self.items.iter().filter(|i| i.kind.is_metadata()).collect()
    }

    pub fn artifacts(&self) -> Vec<&Item> {
        self.items
            .iter()
            .filter(|i| !i.kind.is_metadata())
            .collect()
    }

    pub fn meta_tar(&self) -> Vec<u8> {
        self.metadata().iter().flat_map(|i| i.tar()).collect()
    }

    pub fn artifact_tar(&self) -> Vec<u8> {
        self.artifacts().iter().flat_map(|i| i.tar()).collect()
    }

    pub fn head(&self) -> Vec<u8> {
        let mut v = self.control_tar();
        v.extend(self.meta_tar());
        v
    }

    pub fn payload(&self) -> Vec<u8> {
        let mut v = self.artifact_tar();
        v.extend_from_slice(&EOA);
        v
    }

    pub fn bundle(&self) -> Vec<u8> {
        bundle_of(&self.head(), &self.payload())
    }

    /// A bundle with this payload tar stream (in an ordinary frame) and a
    /// manifest whose `payload_sha256` matches it, so only what the test
    /// changed is wrong.
    pub fn with_payload(&self, payload: &[u8]) -> Vec<u8> {
        self.with_payload_frame(frame(payload))
    }

    /// A bundle with this payload frame and a manifest whose
    /// `payload_sha256` matches it.
    pub fn with_payload_frame(&self, p: Vec<u8>) -> Vec<u8> {
        let parts = Parts::for_payload_sha256(self.items.clone(), Sha256::digest(&p).into());
        let mut b = head_frame(&parts.head());
        b.extend(p);
        b
    }
}

/// Everything a reader got out of a bundle.
#[derive(Debug)]
pub struct ReadOut {
    pub manifest: Manifest,
    pub manifest_bytes: Vec<u8>,
    pub signatures: Signatures,
    pub metadata: Vec<(Entry, Vec<u8>)>,
    pub artifacts: Vec<(Entry, Vec<u8>)>,
}

/// Reads a bundle to the end, copying every artifact; the first error wins.
pub fn read_bundle(bytes: Vec<u8>) -> Result<ReadOut, Error> {
    read_bundle_with(bytes, lim())
}

pub fn read_bundle_with(bytes: Vec<u8>, limits: Limits) -> Result<ReadOut, Error> {
    let mut r = BundleReader::open(Cursor::new(bytes), limits)?;
    let manifest = r.manifest().clone();
    let manifest_bytes = r.manifest_bytes().to_vec();
    let signatures = r.signatures().clone();
    let mut metadata = Vec::new();
    while let Some(m) = r.next_metadata()? {
        metadata.push((m.entry, m.bytes));
    }
    let mut p = r.into_payload()?;
    let mut artifacts = Vec::new();
    while let Some(e) = p.next_artifact()? {
        let mut data = Vec::new();
        p.copy_to(&mut data)?;
        artifacts.push((e, data));
    }
    Ok(ReadOut {
        manifest,
        manifest_bytes,
        signatures,
        metadata,
        artifacts,
    })
}

/// The error reading `bytes` ends with; panics if it reads cleanly.
pub fn read_err(bytes: Vec<u8>) -> Error {
    match read_bundle(bytes) {
        Ok(_) => panic!("the bundle was accepted"),
        Err(e) => e,
    }
}
