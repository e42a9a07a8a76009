//! Split volumes (SPEC.md section 11): what the splitter writes, the volume
//! reader streams back as the bundle; every damaged, missing, extra,
//! reordered or foreign volume is refused with an error naming it.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use airlock_bundle::*;

use crate::common::*;
use crate::round_trip::write_bundle;

/// Volume size of these tests: the sample bundle spans about a dozen.
const SIZE: u64 = 100_000;

struct Split {
    dir: tempfile::TempDir,
    bundle: Vec<u8>,
    manifest: Manifest,
    paths: Vec<PathBuf>,
    plan: SplitPlan,
}

impl Split {
    fn path(&self, number: usize) -> &Path {
        &self.paths[number - 1]
    }

    fn base(&self) -> PathBuf {
        self.dir.path().join("rel.airlock")
    }
}

fn opts() -> WriteOptions {
    WriteOptions {
        workers: 1,
        mtime: CREATED,
        ..WriteOptions::default()
    }
}

/// The index "signatures" of these tests: the crate checks their form only.
fn index_sigs() -> Signatures {
    Signatures(vec![ManifestSignature {
        keyid: "ef".repeat(32),
        sig: vec![0xef; 64],
    }])
}

fn head_len(bundle: &Path) -> u64 {
    let mut r = BundleReader::open(fs::File::open(bundle).unwrap(), lim()).unwrap();
    while r.next_metadata().unwrap().is_some() {}
    r.head_frame_len().unwrap()
}

/// Writes the sample bundle and splits it into `SIZE`-byte volumes.
fn split_sample(consume: bool) -> Split {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.bundle");
    let manifest = write_bundle(dir.path(), &file, &sample_items(), &opts());
    let bundle = fs::read(&file).unwrap();
    let plan = plan_split(bundle.len() as u64, head_len(&file), SIZE, 1, &lim()).unwrap();
    let out = dir.path().join("rel.airlock");
    let unsigned = write_volumes(
        &file,
        &manifest.bundle_id,
        &plan,
        &out,
        consume,
        &lim(),
        &|_| {},
    )
    .unwrap();
    let written = unsigned.finish(&index_sigs()).unwrap();
    if consume {
        assert_eq!(fs::metadata(&file).unwrap().len(), 0, "consumed");
    }
    fs::remove_file(&file).unwrap();
    Split {
        dir,
        bundle,
        manifest,
        paths: written.paths,
        plan,
    }
}

/// Reads the set as `verify` does: head, authenticate, metadata, payload
/// to the end; a failure is diagnosed. Returns the artifacts' bytes.
fn read_set(first: &Path, locator: Option<Locator>) -> Result<Vec<Vec<u8>>, Error> {
    let mut set = VolumeSet::open(first, lim(), locator)?;
    let run = |set: &mut VolumeSet| -> Result<Vec<Vec<u8>>, Error> {
        let mut reader = BundleReader::open(set.stream()?, lim())?;
        set.authenticated(&reader.manifest().bundle_id.clone())?;
        while reader.next_metadata()?.is_some() {}
        let mut payload = reader.into_payload()?;
        let mut out = Vec::new();
        while payload.next_artifact()?.is_some() {
            let mut data = Vec::new();
            payload.copy_to(&mut data)?;
            out.push(data);
        }
        Ok(out)
    };
    run(&mut set).map_err(|e| set.diagnose().unwrap_or(e))
}

fn artifacts() -> Vec<Vec<u8>> {
    Parts::new(sample_items())
        .artifacts()
        .iter()
        .map(|i| i.data.clone())
        .collect()
}

#[test]
fn volumes_stream_back_as_the_bundle() {
    let s = split_sample(false);
    let n = s.plan.count() as usize;
    assert!(n >= 8, "{n} volumes");
    assert_eq!(s.paths.len(), n);
    let mut joined = Vec::new();
    for (k, p) in s.paths.iter().enumerate() {
        let k = k + 1;
        assert_eq!(
            p.file_name().unwrap(),
            format!("rel.airlock.{k:03}").as_str()
        );
        let bytes = fs::read(p).unwrap();
        // Every volume but the last exactly SIZE bytes; all the same header.
        assert_eq!(bytes.len() as u64, s.plan.file_len(k as u32));
        if k < n {
            assert_eq!(bytes.len() as u64, SIZE);
        }
        assert!(bytes.len() as u64 <= SIZE);
        let h = read_volume_header(p, &lim()).unwrap();
        assert_eq!(h.number as usize, k);
        assert_eq!(h.index.bundle_id, s.manifest.bundle_id);
        assert_eq!(h.signatures, index_sigs());
        joined.extend_from_slice(&bytes[s.plan.header_len as usize..]);
    }
    assert_eq!(joined, s.bundle, "the slices are the bundle, in order");
    assert_eq!(read_set(s.path(1), None).unwrap(), artifacts());
}

#[test]
fn consuming_the_bundle_writes_the_same_volumes() {
    let a = split_sample(false);
    let b = split_sample(true);
    assert_eq!(a.paths.len(), b.paths.len());
    for (x, y) in a.paths.iter().zip(&b.paths) {
        assert_eq!(fs::read(x).unwrap(), fs::read(y).unwrap());
    }
}

#[test]
fn a_later_shorter_split_removes_the_stale_volumes() {
    let s = split_sample(false);
    let n = s.paths.len();
    // Split a smaller bundle to the same name: the old tail must go.
    let small = s.dir.path().join("small.bundle");
    let items = vec![item(EntryKind::Artifact, "a", noise(9, 150_000), 0o644)];
    let m = write_bundle(s.dir.path(), &small, &items, &opts());
    let len = fs::metadata(&small).unwrap().len();
    let plan = plan_split(len, head_len(&small), SIZE, 1, &lim()).unwrap();
    assert!(plan.count() < n as u32);
    let written = write_volumes(
        &small,
        &m.bundle_id,
        &plan,
        &s.base(),
        false,
        &lim(),
        &|_| {},
    )
    .unwrap()
    .finish(&index_sigs())
    .unwrap();
    assert_eq!(written.removed.len(), n - plan.count() as usize);
    assert!(!s.path(n).exists());
    read_set(s.path(1), None).unwrap();
}

#[test]
fn a_missing_volume_is_named() {
    let s = split_sample(false);
    fs::remove_file(s.path(3)).unwrap();
    let e = read_set(s.path(1), None).unwrap_err();
    assert_eq!(e.code(), "volume-missing");
    assert_eq!(e.volume(), Some((3, s.paths.len() as u32, s.path(3))));
}

#[test]
fn an_extra_volume_is_named() {
    let s = split_sample(false);
    let n = s.paths.len();
    let extra = volume_path(&s.base(), n as u32 + 1, 3);
    fs::copy(s.path(n), &extra).unwrap();
    let e = read_set(s.path(1), None).unwrap_err();
    assert_eq!(e.code(), "volume-extra");
    assert_eq!(e.volume(), Some((n as u32 + 1, n as u32, extra.as_path())));
}

#[test]
fn reordered_volumes_are_named() {
    let s = split_sample(false);
    let tmp = s.dir.path().join("swap");
    fs::rename(s.path(2), &tmp).unwrap();
    fs::rename(s.path(4), s.path(2)).unwrap();
    fs::rename(&tmp, s.path(4)).unwrap();
    let e = read_set(s.path(1), None).unwrap_err();
    assert!(
        matches!(
            e,
            Error::VolumeOutOfOrder {
                number: 2,
                found: 4,
                ..
            }
        ),
        "{e}"
    );
    // Given a later volume as the first, the reader names the first.
    let e = VolumeSet::open(s.path(3), lim(), None).unwrap_err();
    assert!(
        matches!(&e, Error::VolumeNotFirst { number: 3, first, .. } if first == s.path(1)),
        "{e}"
    );
    assert_eq!(e.fault(), Fault::Input);
}

#[test]
fn a_first_volume_whose_header_names_another_is_the_volumes_fault() {
    let s = split_sample(false);
    let good = fs::read(s.path(1)).unwrap();
    // Volume 1 with its number field (bytes 20..24) edited to 3: a corrupt
    // volume 1, the bundle's fault, not an operator giving volume 3.
    let mut bad = good.clone();
    bad[20..24].copy_from_slice(&3u32.to_be_bytes());
    fs::write(s.path(1), &bad).unwrap();
    let e = VolumeSet::open(s.path(1), lim(), None).unwrap_err();
    assert!(matches!(e, Error::VolumeCorrupt { number: 1, .. }), "{e}");
    assert_eq!(e.fault(), Fault::Bundle);
    // An intact volume 3 under volume 1's name: out of order.
    fs::copy(s.path(3), s.path(1)).unwrap();
    let e = VolumeSet::open(s.path(1), lim(), None).unwrap_err();
    assert!(
        matches!(
            e,
            Error::VolumeOutOfOrder {
                number: 1,
                found: 3,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.fault(), Fault::Bundle);
    // The same intact volume under a name without a number: the operator's.
    let loose = s.dir.path().join("loose");
    fs::copy(s.path(3), &loose).unwrap();
    let e = VolumeSet::open(&loose, lim(), None).unwrap_err();
    assert!(matches!(e, Error::VolumeNotFirst { number: 3, .. }), "{e}");
    fs::write(s.path(1), &good).unwrap();
}

#[test]
fn a_truncated_volume_is_named() {
    let s = split_sample(false);
    for (number, cut) in [(5, 1), (5, SIZE - 100), (5, 10), (1, 10)] {
        let good = fs::read(s.path(number)).unwrap();
        fs::write(s.path(number), &good[..good.len() - cut as usize]).unwrap();
        let e = read_set(s.path(1), None).unwrap_err();
        assert_eq!(e.code(), "volume-truncated", "cut {cut} of {number}: {e}");
        assert_eq!(e.volume().unwrap().0, number as u32);
        fs::write(s.path(number), &good).unwrap();
    }
}

#[test]
fn a_corrupt_volume_is_named_and_nothing_after_it_is_read() {
    let s = split_sample(false);
    let n = s.paths.len();
    // In the head of volume 1, in the middle and at the very end of a
    // slice, and in the last volume.
    for (number, at) in [
        (1, s.plan.header_len + 700),
        (4, SIZE / 2),
        (4, SIZE - 1),
        (n, s.plan.header_len),
    ] {
        let good = fs::read(s.path(number)).unwrap();
        let mut bad = good.clone();
        bad[at as usize] ^= 0x20;
        fs::write(s.path(number), &bad).unwrap();
        let e = read_set(s.path(1), None).unwrap_err();
        assert_eq!(e.code(), "volume-corrupt", "flip at {at} of {number}: {e}");
        assert_eq!(e.volume().unwrap().0, number as u32, "{e}");
        fs::write(s.path(number), &good).unwrap();
    }
    // Appended bytes.
    let mut longer = fs::read(s.path(2)).unwrap();
    longer.push(0);
    fs::write(s.path(2), &longer).unwrap();
    let e = read_set(s.path(1), None).unwrap_err();
    assert!(matches!(e, Error::VolumeCorrupt { number: 2, .. }), "{e}");
}

#[test]
fn every_header_byte_of_a_later_volume_is_checked() {
    let s = split_sample(false);
    let good = fs::read(s.path(2)).unwrap();
    for at in 0..s.plan.header_len as usize {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        fs::write(s.path(2), &bad).unwrap();
        let e = VolumeSet::open(s.path(1), lim(), None)
            .unwrap()
            .authenticated(&s.manifest.bundle_id)
            .unwrap_err();
        assert_eq!(e.volume().unwrap().0, 2, "flip at {at}: {e}");
    }
}

#[test]
fn no_edit_of_the_first_volumes_header_is_blamed_on_the_operator() {
    let s = split_sample(false);
    let good = fs::read(s.path(1)).unwrap();
    for at in 0..s.plan.header_len as usize {
        // In the fixed fields, 0x02 also: it turns the number's 1 into 3.
        let bits: &[u8] = if (16..28).contains(&at) {
            &[0x01, 0x02, 0x80]
        } else {
            &[0x01, 0x80]
        };
        for &bit in bits {
            let mut bad = good.clone();
            bad[at] ^= bit;
            fs::write(s.path(1), &bad).unwrap();
            // Signature bytes are the caller's to check: reading may pass.
            if let Err(e) = read_set(s.path(1), None) {
                assert_eq!(e.fault(), Fault::Bundle, "flip {bit:#x} at {at}: {e}");
            }
        }
    }
    fs::write(s.path(1), &good).unwrap();
}

#[test]
fn a_volume_of_another_bundle_is_named() {
    let s = split_sample(false);
    // Same content, another bundle (the manifest differs in its time).
    let dir = s.dir.path();
    let file = dir.join("y.bundle");
    let o = WriteOptions {
        mtime: CREATED + 1,
        ..opts()
    };
    let m = write_bundle(dir, &file, &sample_items(), &o);
    let len = fs::metadata(&file).unwrap().len();
    let plan = plan_split(len, head_len(&file), SIZE, 1, &lim()).unwrap();
    let out = dir.join("other.airlock");
    let w = write_volumes(&file, &m.bundle_id, &plan, &out, false, &lim(), &|_| {})
        .unwrap()
        .finish(&index_sigs())
        .unwrap();
    fs::copy(&w.paths[2], s.path(3)).unwrap();
    let e = read_set(s.path(1), None).unwrap_err();
    assert!(
        matches!(&e, Error::VolumeForeign { number: 3, found, .. } if *found == m.bundle_id),
        "{e}"
    );
}

#[test]
fn the_stream_does_not_leave_the_first_volume_unauthenticated() {
    let s = split_sample(false);
    let mut set = VolumeSet::open(s.path(1), lim(), None).unwrap();
    let mut all = Vec::new();
    let e = set.stream().unwrap().read_to_end(&mut all).unwrap_err();
    assert!(
        e.to_string().contains("does not fit in the first volume"),
        "{e}"
    );
    assert_eq!(all.len() as u64, s.plan.sizes[0]);
    // inspect's way: no authentication, every volume still checked.
    let mut set = VolumeSet::open(s.path(1), lim(), None).unwrap();
    set.read_unauthenticated();
    let mut all = Vec::new();
    set.stream().unwrap().read_to_end(&mut all).unwrap();
    assert_eq!(all, s.bundle);
}

#[test]
fn the_index_must_name_the_manifests_bundle() {
    let s = split_sample(false);
    let set = VolumeSet::open(s.path(1), lim(), None).unwrap();
    let e = set.authenticated(&"0".repeat(32)).unwrap_err();
    assert_eq!(e.code(), "volume-index-mismatch");
}

#[test]
fn a_locator_finds_volumes_elsewhere() {
    let s = split_sample(false);
    let n = s.paths.len();
    let elsewhere = s.dir.path().join("disc2");
    fs::create_dir(&elsewhere).unwrap();
    for k in 4..=n {
        let p = s.path(k);
        fs::rename(p, elsewhere.join(p.file_name().unwrap())).unwrap();
    }
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = asked.clone();
    let dir = elsewhere.clone();
    let locator: Locator = Box::new(move |w: &Wanted| {
        log.lock().unwrap().push(w.number);
        Some(dir.clone())
    });
    assert_eq!(read_set(s.path(1), Some(locator)).unwrap(), artifacts());
    // Asked once, for volume 4; 5 onwards were beside 4.
    assert_eq!(*asked.lock().unwrap(), [4]);
    // A locator that gives up: the volume is missing.
    let locator: Locator = Box::new(|_: &Wanted| None);
    let e = read_set(s.path(1), Some(locator)).unwrap_err();
    assert!(matches!(e, Error::VolumeMissing { number: 4, .. }), "{e}");
}

#[test]
fn small_sizes_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.bundle");
    write_bundle(dir.path(), &file, &sample_items(), &opts());
    let len = fs::metadata(&file).unwrap().len();
    let e = plan_split(len, head_len(&file), 2000, 1, &lim()).unwrap_err();
    assert_eq!(e.code(), "split-size");
    assert_eq!(e.fault(), Fault::Input);
}

#[test]
fn a_stream_from_an_offset_starts_at_its_volume_and_checks_it() {
    let s = split_sample(false);
    let open = || {
        let mut set = VolumeSet::open(s.path(1), lim(), None).unwrap();
        let reader = BundleReader::open(set.stream().unwrap(), lim()).unwrap();
        set.authenticated(&reader.manifest().bundle_id).unwrap();
        set
    };
    let slice = SIZE - s.plan.header_len;
    // Not before the index is authenticated.
    let mut unauth = VolumeSet::open(s.path(1), lim(), None).unwrap();
    let _ = unauth.stream().unwrap();
    assert!(matches!(unauth.stream_from(0), Err(Error::Misuse(_))));
    // In volume 1, at a volume's first byte, in the middle of volume 4.
    for offset in [10, slice, 3 * slice + 777, s.bundle.len() as u64 - 1] {
        let mut got = Vec::new();
        open()
            .stream_from(offset)
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, s.bundle[offset as usize..], "from {offset}");
    }
    // The volumes before are not read: a corrupt volume 2 goes unnoticed
    // from volume 4 on, but a byte of volume 4 before the offset is checked.
    let good2 = fs::read(s.path(2)).unwrap();
    let mut bad = good2.clone();
    bad[SIZE as usize / 2] ^= 1;
    fs::write(s.path(2), &bad).unwrap();
    let mut got = Vec::new();
    let offset = 3 * slice + 777;
    open()
        .stream_from(offset)
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert_eq!(got, s.bundle[offset as usize..]);
    fs::write(s.path(2), &good2).unwrap();
    let good4 = fs::read(s.path(4)).unwrap();
    let mut bad = good4.clone();
    bad[s.plan.header_len as usize + 100] ^= 1;
    fs::write(s.path(4), &bad).unwrap();
    let mut got = Vec::new();
    let e = open()
        .stream_from(offset)
        .unwrap()
        .read_to_end(&mut got)
        .unwrap_err();
    let e = e.into_inner().unwrap().downcast::<Error>().unwrap();
    assert!(matches!(*e, Error::VolumeCorrupt { number: 4, .. }), "{e}");
}
