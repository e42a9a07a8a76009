//! A payload of more than 64 MiB of tar stream is cut into independent
//! frames at entry boundaries, listed in the signed frame index (SPEC.md
//! 5.8): the writer cuts where the rule says, the reader checks every frame
//! against its record and its cut, refuses every index that lies, and can
//! resume at a frame (8.1).

use std::fs;
use std::io::{Cursor, Read, Seek, SeekFrom};

use airlock_bundle::*;
use sha2::{Digest, Sha256};

use crate::common::*;
use crate::round_trip::write_bundle;

/// Data of exactly the cut: its entry alone fills a frame.
const BIG: usize = FRAME_CUT as usize;

/// Items whose payload the rule cuts in three frames: `a/big` (64 MiB,
/// frame 1), `b/big` (64 MiB + 1, frame 2), `c/small` and `d/small`
/// (frame 3, with the end-of-archive). Plus two metadata entries.
fn three_frame_items() -> Vec<Item> {
    use EntryKind::*;
    let mut big = vec![0u8; BIG];
    big[12345] = 7;
    let mut big2 = vec![1u8; BIG + 1];
    big2[BIG] = 9;
    vec![
        item(Root, "1.root.json", br#"{"signed":{}}"#.to_vec(), 0o644),
        item(Link, "build.link", br#"{"name":"build"}"#.to_vec(), 0o644),
        item(Artifact, "a/big", big, 0o644),
        item(Artifact, "b/big", big2, 0o600),
        item(Artifact, "c/small", b"small\n".to_vec(), 0o755),
        item(Artifact, "d/small", noise(4, 70_000), 0o644),
    ]
}

/// A bundle built by hand from SPEC.md: the payload tar stream cut into
/// `frames`, a frame index given to [`Crafted::bundle_with`] (the true one:
/// [`Crafted::bundle`]), `payload_sha256` the SHA-256 of that index (of the
/// whole payload when there is none).
struct Crafted {
    items: Vec<Item>,
    frames: Vec<Vec<u8>>,
}

impl Crafted {
    /// Frames cut as the rule says: one per big entry, the rest together.
    fn honest() -> Crafted {
        let items = {
            let mut it = three_frame_items();
            it.sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
            it
        };
        let art: Vec<&Item> = items.iter().filter(|i| !i.kind.is_metadata()).collect();
        let mut last = art[2].tar();
        last.extend(art[3].tar());
        last.extend_from_slice(&EOA);
        let frames = vec![frame(&art[0].tar()), frame(&art[1].tar()), frame(&last)];
        Crafted { items, frames }
    }

    fn records(&self) -> Vec<PayloadFrame> {
        self.frames
            .iter()
            .zip([0u64, 1, 2])
            .map(|(f, first_entry)| PayloadFrame {
                len: f.len() as u64,
                sha256: Sha256::digest(f).into(),
                first_entry,
            })
            .collect()
    }

    /// The manifest with this index (not checked: a test may make it lie),
    /// its `payload_sha256` as SPEC.md 5.8 says.
    fn manifest(&self, records: Vec<PayloadFrame>) -> Vec<u8> {
        let digest = if records.is_empty() {
            Sha256::digest(self.frames.concat()).into()
        } else {
            index_sha256(&records)
        };
        self.manifest_with(records, digest)
    }

    /// The manifest with this index and this `payload_sha256`.
    fn manifest_with(&self, records: Vec<PayloadFrame>, payload_sha256: [u8; 32]) -> Vec<u8> {
        let mut m = Manifest::new(
            ManifestFields {
                payload_sha256,
                ..fields(self.items.iter().map(Item::entry).collect())
            },
            &lim(),
        )
        .unwrap();
        m.frames = records;
        // The id over the manifest as it is, so only the index is wrong.
        let mut probe = m.clone();
        probe.bundle_id = String::new();
        m.bundle_id = hex::encode(&Sha256::digest(probe.encode())[..16]);
        m.encode()
    }

    fn bundle_with(&self, records: Vec<PayloadFrame>) -> Vec<u8> {
        self.bundle_of(self.manifest(records))
    }

    fn bundle_of(&self, manifest_bytes: Vec<u8>) -> Vec<u8> {
        let mut head = entry_tar(MANIFEST_PATH, &manifest_bytes, 0o644);
        head.extend(entry_tar(
            SIGNATURES_PATH,
            &sample_signatures().encode(),
            0o644,
        ));
        for i in self.items.iter().filter(|i| i.kind.is_metadata()) {
            head.extend(i.tar());
        }
        let mut b = head_frame(&head);
        for f in &self.frames {
            b.extend_from_slice(f);
        }
        b
    }

    fn bundle(&self) -> Vec<u8> {
        self.bundle_with(self.records())
    }
}

/// The `frames` byte string of these records (SPEC.md 5.8), hashed: a
/// multi-frame manifest's `payload_sha256`.
fn index_sha256(records: &[PayloadFrame]) -> [u8; 32] {
    let mut h = Sha256::new();
    for r in records {
        h.update(r.len.to_be_bytes());
        h.update(r.sha256);
        h.update(r.first_entry.to_be_bytes());
    }
    h.finalize().into()
}

fn open_err(bytes: Vec<u8>) -> Error {
    BundleReader::open(Cursor::new(bytes), lim()).unwrap_err()
}

#[test]
fn the_cut_rule_puts_each_frame_where_the_spec_says() {
    let c = Crafted::honest();
    let out = read_bundle(c.bundle()).unwrap();
    assert_eq!(out.manifest.frames, c.records());
    assert_eq!(out.artifacts.len(), 4);
    let cuts = out.manifest.frame_cuts();
    assert_eq!(
        cuts.iter()
            .map(|c| (c.first_entry, c.end_entry))
            .collect::<Vec<_>>(),
        [(0, 1), (1, 2), (2, 4)]
    );
    // 512 header + 64 MiB (no padding): exactly the cut, so the next
    // entry starts a new frame.
    assert_eq!(cuts[0].tar_len, 512 + FRAME_CUT);
}

#[test]
fn the_writer_cuts_frames_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.bundle");
    let opts = WriteOptions {
        workers: 1,
        mtime: CREATED,
        ..WriteOptions::default()
    };
    let items = three_frame_items();
    let m = write_bundle(dir.path(), &out, &items, &opts);
    assert_eq!(m.frames.len(), 3);
    assert_eq!(
        m.frames.iter().map(|f| f.first_entry).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let bytes = fs::read(&out).unwrap();
    let got = read_bundle(bytes.clone()).unwrap();
    assert_eq!(got.manifest, m);
    // payload_sha256 is the index's digest, not the whole payload's.
    assert_eq!(m.payload_sha256, index_sha256(&m.frames));
    let head = bytes.len() as u64 - m.frames.iter().map(|f| f.len).sum::<u64>();
    assert_ne!(
        <[u8; 32]>::from(Sha256::digest(&bytes[head as usize..])),
        m.payload_sha256
    );
    // The frames are exactly where the index says, each a whole zstd
    // frame of exactly its entries.
    let mut r = BundleReader::open(Cursor::new(bytes.clone()), lim()).unwrap();
    while r.next_metadata().unwrap().is_some() {}
    let cuts = m.frame_cuts();
    for (k, f) in m.frames.iter().enumerate() {
        let at = r.frame_offset(k).unwrap() as usize;
        let stored = &bytes[at..at + f.len as usize];
        assert_eq!(<[u8; 32]>::from(Sha256::digest(stored)), f.sha256);
        assert_eq!(
            zstd::decode_all(stored).unwrap().len() as u64,
            cuts[k].tar_len
        );
    }
    assert_eq!(
        r.frame_offset(2).unwrap() + m.frames[2].len,
        bytes.len() as u64
    );
    // Below the cut, nothing changes: no index.
    let small = write_bundle(
        dir.path(),
        &dir.path().join("s.bundle"),
        &sample_items(),
        &opts,
    );
    assert!(small.frames.is_empty());
    assert!(!small.encode().windows(6).any(|w| w == b"frames"));
}

#[test]
fn a_read_resumes_at_a_frame_and_reads_only_from_there() {
    let c = Crafted::honest();
    let bytes = c.bundle();
    let mut r = BundleReader::open(Cursor::new(bytes.clone()), lim()).unwrap();
    while r.next_metadata().unwrap().is_some() {}
    let m = r.manifest().clone();
    // Entries 0 and 1 held: resume at frame 2 (from 0).
    assert_eq!(m.resume_frame(|i| i < 2), 2);
    assert_eq!(m.resume_frame(|i| i != 1), 1);
    assert_eq!(m.resume_frame(|_| false), 0);
    assert_eq!(m.resume_frame(|_| true), 2, "all held: the last frame");
    let at = r.frame_offset(2).unwrap();
    // The frames before are not read: spoil them in the copy given.
    let mut spoiled = bytes.clone();
    for b in &mut spoiled[..at as usize] {
        *b = 0xee;
    }
    let mut input = Cursor::new(spoiled);
    input.seek(SeekFrom::Start(at)).unwrap();
    let mut p = r.into_payload_from(2, input).unwrap();
    assert_eq!(p.started_at_frame(), 2);
    let mut names = Vec::new();
    while let Some(e) = p.next_artifact().unwrap() {
        p.copy_to(&mut std::io::sink()).unwrap();
        names.push(e.tar_path());
    }
    assert_eq!(names, ["artifacts/c/small", "artifacts/d/small"]);
}

/// Reads from frame `k` of `bytes` with the head of `bytes`; the first error.
fn resume_err(bytes: Vec<u8>, k: usize) -> Error {
    let mut r = BundleReader::open(Cursor::new(bytes.clone()), lim()).unwrap();
    while r.next_metadata().unwrap().is_some() {}
    let at = r.frame_offset(k).unwrap();
    let mut input = Cursor::new(bytes);
    input.seek(SeekFrom::Start(at)).unwrap();
    let mut p = r.into_payload_from(k, input).unwrap();
    loop {
        match p.next_artifact() {
            Ok(Some(_)) => {
                if let Err(e) = p.copy_to(&mut std::io::sink()) {
                    return e;
                }
            }
            Ok(None) => panic!("the resumed read was accepted"),
            Err(e) => return e,
        }
    }
}

fn frame_no(e: &Error) -> u64 {
    match e {
        Error::PayloadFrame { frame, .. } => *frame,
        other => panic!("expected PayloadFrame, got {other:?}"),
    }
}

#[test]
fn a_frame_other_than_its_record_is_refused_and_named() {
    // Frame 3 re-compressed at another level: the same entries, other
    // bytes. A whole read and a resumed read both refuse it by the index.
    let mut c = Crafted::honest();
    let records = c.records();
    let plain = zstd::decode_all(&c.frames[2][..]).unwrap();
    c.frames[2] = zstd::encode_all(&plain[..], 19).unwrap();
    assert_ne!(c.frames[2].len() as u64, records[2].len);
    let bytes = c.bundle_with(records.clone());
    let e = read_err(bytes.clone());
    assert_eq!(frame_no(&e), 3);
    assert_eq!(e.code(), "payload-frame-mismatch");
    assert_eq!(e.fault(), Fault::Bundle);
    assert_eq!(frame_no(&resume_err(bytes, 2)), 3);
    // Same length, other digest: one byte of the stored frame flipped in
    // its content checksum would be Compression; flip the record instead.
    let c = Crafted::honest();
    let mut lying = c.records();
    lying[1].sha256[0] ^= 1;
    assert_eq!(frame_no(&read_err(c.bundle_with(lying.clone()))), 2);
    assert_eq!(frame_no(&resume_err(c.bundle_with(lying), 1)), 2);
    // A length that lies (the sum still fits).
    let mut lying = c.records();
    lying[0].len += 1;
    assert_eq!(frame_no(&read_err(c.bundle_with(lying))), 1);
}

#[test]
fn frames_not_cut_where_the_rule_says_are_refused() {
    // Frame 1 holds the first two entries and frame 2 the third: the
    // records are honest about every byte, but the cut is elsewhere.
    let honest = Crafted::honest();
    let plain: Vec<Vec<u8>> = honest
        .frames
        .iter()
        .map(|f| zstd::decode_all(&f[..]).unwrap())
        .collect();
    let mut late = Crafted::honest();
    late.frames = vec![
        frame(&[plain[0].clone(), plain[1][..512].to_vec()].concat()),
        frame(&plain[1][512..]),
        frame(&plain[2]),
    ];
    assert_eq!(frame_no(&read_err(late.bundle())), 1);
    // Cut early, inside the first entry.
    let mut early = Crafted::honest();
    early.frames = vec![
        frame(&plain[0][..1 << 20]),
        frame(&[&plain[0][1 << 20..], &plain[1][..]].concat()),
        frame(&plain[2]),
    ];
    assert_eq!(frame_no(&read_err(early.bundle())), 1);
}

#[test]
fn an_extra_a_missing_or_an_unannounced_frame_is_refused() {
    let c = Crafted::honest();
    // An extra frame after the last one the index lists.
    let mut b = c.bundle();
    b.extend(frame(b"extra"));
    assert!(matches!(read_err(b.clone()), Error::TrailingData));
    assert!(matches!(resume_err(b, 2), Error::TrailingData));
    // The last frame missing.
    let mut b = c.bundle();
    b.truncate(b.len() - c.frames[2].len());
    assert!(matches!(read_err(b), Error::Truncated(_)), "missing frame");
    // Several frames without an index: the reader reads one frame only,
    // which ends where the next artifact is due.
    let b = c.bundle_with(Vec::new());
    let e = read_err(b);
    assert!(matches!(e, Error::MissingEntry { .. }), "{e:?}");
}

#[test]
fn an_index_that_lies_about_the_cut_is_refused_before_the_payload() {
    let c = Crafted::honest();
    let code = |e: Error| {
        assert!(matches!(e, Error::FrameIndex(_)), "{e:?}");
        e.code()
    };
    // A first entry elsewhere than the rule puts it.
    let mut r = c.records();
    r[1].first_entry = 2;
    assert_eq!(code(open_err(c.bundle_with(r))), "frame-index-malformed");
    let mut r = c.records();
    r[0].first_entry = 1;
    code(open_err(c.bundle_with(r)));
    // A record too many, a record too few.
    let mut r = c.records();
    r.push(r[2]);
    code(open_err(c.bundle_with(r)));
    let mut r = c.records();
    r.pop();
    code(open_err(c.bundle_with(r)));
    // One record: a second encoding of "one frame".
    let r = vec![c.records()[0]];
    code(open_err(c.bundle_with(r)));
    // A zero length.
    let mut r = c.records();
    r[2].len = 0;
    code(open_err(c.bundle_with(r)));
    // Lengths whose sum overflows.
    let mut r = c.records();
    r[0].len = u64::MAX;
    code(open_err(c.bundle_with(r)));
}

#[test]
fn an_index_on_a_payload_below_the_cut_is_refused() {
    // Two small artifacts: the rule gives one frame, so no index at all.
    let parts = Parts::sample();
    let mut m = parts.manifest.clone();
    m.frames = vec![
        PayloadFrame {
            len: 10,
            sha256: [1; 32],
            first_entry: 0,
        },
        PayloadFrame {
            len: 10,
            sha256: [1; 32],
            first_entry: 1,
        },
    ];
    let e = Manifest::decode(&m.encode(), &lim()).unwrap_err();
    assert!(matches!(e, Error::FrameIndex(_)), "{e:?}");
    // And with_frames refuses to build it.
    let e = parts
        .manifest
        .clone()
        .with_frames(m.frames, &lim())
        .unwrap_err();
    assert!(matches!(e, Error::FrameIndex(_)), "{e:?}");
}

#[test]
fn a_frames_key_that_is_not_whole_records_is_refused() {
    let c = Crafted::honest();
    let bytes = c.manifest(c.records());
    // The key is last: `66 "frames" 58 90 <144 bytes>`; cut one record
    // short by one byte (143 bytes), fixing the byte-string head.
    let at = bytes.windows(6).position(|w| w == b"frames").unwrap() + 6;
    assert_eq!(&bytes[at..at + 2], &[0x58, 144]);
    let mut short = bytes[..at].to_vec();
    short.extend_from_slice(&[0x58, 143]);
    short.extend_from_slice(&bytes[at + 2..bytes.len() - 1]);
    let e = Manifest::decode(&short, &lim()).unwrap_err();
    assert!(matches!(e, Error::FrameIndex(_)), "{e:?}");
}

#[test]
fn a_big_payload_without_an_index_is_still_one_frame() {
    // What every writer before the index wrote: one frame, any size.
    let c = Crafted::honest();
    let plain: Vec<u8> = c
        .frames
        .iter()
        .flat_map(|f| zstd::decode_all(&f[..]).unwrap())
        .collect();
    let one = Crafted {
        items: c.items.clone(),
        frames: vec![frame(&plain)],
    };
    let out = read_bundle(one.bundle_with(Vec::new())).unwrap();
    assert!(out.manifest.frames.is_empty());
    assert_eq!(out.artifacts.len(), 4);
    // It cannot resume: frame 0 is the only one.
    let mut r = BundleReader::open(Cursor::new(one.bundle_with(Vec::new())), lim()).unwrap();
    while r.next_metadata().unwrap().is_some() {}
    assert_eq!(r.manifest().resume_frame(|i| i < 3), 0);
    assert!(r.frame_offset(1).is_none());
    let e = r.into_payload_from(1, std::io::empty()).unwrap_err();
    assert!(matches!(e, Error::Misuse(_)), "{e:?}");
}

#[test]
fn a_resumed_read_counts_only_what_it_reads() {
    // What resuming saves: the bytes before the frame are never asked for.
    struct Counting(
        Cursor<Vec<u8>>,
        std::sync::Arc<std::sync::atomic::AtomicU64>,
    );
    impl Read for Counting {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(b)?;
            self.1
                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(n)
        }
    }
    let c = Crafted::honest();
    let bytes = c.bundle();
    let mut r = BundleReader::open(Cursor::new(bytes.clone()), lim()).unwrap();
    while r.next_metadata().unwrap().is_some() {}
    let at = r.frame_offset(1).unwrap();
    let mut cur = Cursor::new(bytes.clone());
    cur.set_position(at);
    let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut p = r
        .into_payload_from(1, Counting(cur, std::sync::Arc::clone(&n)))
        .unwrap();
    while p.next_artifact().unwrap().is_some() {}
    drop(p);
    assert_eq!(
        n.load(std::sync::atomic::Ordering::Relaxed),
        bytes.len() as u64 - at
    );
}

#[test]
fn a_payload_sha256_that_is_not_the_index_digest_is_refused_before_the_payload() {
    // SPEC.md 5.8: with a frame index, payload_sha256 is the SHA-256 of the
    // index. The SHA-256 of the whole payload (what it was before), or any
    // other value, is refused when the manifest is decoded: no payload
    // byte is read (the payload here is spoiled, and never looked at).
    let c = Crafted::honest();
    let whole: [u8; 32] = Sha256::digest(c.frames.concat()).into();
    let mut other = index_sha256(&c.records());
    other[31] ^= 1;
    for digest in [whole, other] {
        let manifest = c.manifest_with(c.records(), digest);
        let e = Manifest::decode(&manifest, &lim()).unwrap_err();
        assert!(matches!(e, Error::PayloadDigest), "{e:?}");
        assert_eq!(e.code(), "payload-digest-mismatch");
        assert_eq!(e.fault(), Fault::Bundle);
        let mut b = c.bundle_of(manifest);
        let payload = c.frames.iter().map(Vec::len).sum::<usize>();
        let n = b.len();
        for x in &mut b[n - payload..] {
            *x = 0xee;
        }
        assert!(matches!(open_err(b), Error::PayloadDigest));
    }
    // The true index digest opens, and reads.
    read_bundle(c.bundle()).unwrap();
}
