//! The export: a self-contained, signed extract of a store's journal that
//! an auditor checks on a machine without the store
//! (`docs/journal-format.md`, "Exports").
//!
//! Line 1 is a header carrying the journal's public key and the anchored
//! root; the other lines are the journal's records, verbatim, the last one
//! being the `journal.exported` record that the export itself wrote. Every
//! header field is checked against the signed records.
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use airlock_hsm::journal::journal_keyid;
use airlock_hsm::{Anchor, JournalHead, PublicKey, TrustStore};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::journal::canonical::encode;
use crate::journal::chain::{Checker, JournalError, ReadError, Summary, for_each_line};
use crate::journal::decision::path_field;
use crate::journal::key_field;
use crate::journal::record::{Alg, Record};
use crate::journal::writer::{Event, Journal};
use crate::timefmt::{format_utc, now};
use crate::tuf::Root;
use crate::tuf::root::MAX_ROOT_BYTES;

/// The export format version (`"airlock_journal_export"`).
pub const EXPORT_VERSION: u64 = 1;

/// The longest header line: a root of at most [`MAX_ROOT_BYTES`] in base64
/// plus the rest.
const MAX_HEADER_BYTES: usize = MAX_ROOT_BYTES * 4 / 3 + 64 * 1024;

fn malformed(reason: impl Into<String>) -> JournalError {
    JournalError::ExportMalformed {
        reason: reason.into(),
    }
}

/// Checks the store's journal completely, under the caller's lock, calling
/// `each` with every record once it has been checked.
pub fn check_store(
    store: &dyn TrustStore,
    key: &PublicKey,
    mut each: impl FnMut(&Record),
) -> Result<(Summary, u64), Error> {
    let head = store.journal_head()?;
    let mut checker = Checker::new(key, Some(head))?;
    let file = airlock_hsm::JournalFile::in_dir(store.dir());
    let Some(f) = file.open_read()? else {
        return Err(JournalError::Truncated {
            head: head.seq,
            last: 0,
        }
        .into());
    };
    let mut len = 0u64;
    let torn = for_each_line(BufReader::new(f), 1, |line| {
        len += line.len() as u64 + 1;
        if let Some(r) = checker.line(line)? {
            each(&r);
        }
        Ok::<_, JournalError>(())
    });
    let torn = read_result(torn, &checker, file.path())?;
    Ok((checker.finish(torn.as_deref())?, len))
}

fn read_result(
    r: Result<Option<Vec<u8>>, ReadError<JournalError>>,
    checker: &Checker<'_>,
    path: &Path,
) -> Result<Option<Vec<u8>>, Error> {
    match r {
        Ok(t) => Ok(t),
        Err(ReadError::Stop(e)) => Err(e.into()),
        Err(ReadError::TooLong(_)) => Err(JournalError::Malformed {
            line: checker.line_number() + 1,
            reason: "longer than any record".into(),
        }
        .into()),
        Err(ReadError::Io(source)) => Err(Error::StoreUnreadable {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes the export of the store's journal to `out` (which must not
/// exist): checks the journal, records the export as a `journal.exported`
/// record, then writes header and records. Returns the export's head.
pub fn export(
    store: &dyn TrustStore,
    out: &Path,
    lock: &airlock_hsm::StoreLock,
) -> Result<JournalHead, Error> {
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(crate::fsutil::FsError::exists(out).into());
    }
    let signer = store.journal_signer()?;
    let key = signer.public_key().clone();
    let journal = Journal::new(store.dir(), signer.as_ref())?;
    // Records left by an interrupted operation are acknowledged first, so
    // that the export starts from a committed head.
    let bound = store.journal_head()?;
    let head = journal.append(lock, Some(bound), Vec::new())?;
    if head != bound {
        lock.bind_journal_head(&head)?;
    }
    let (summary, len) = check_store(store, &key, |_| {})?;
    let anchor = crate::trust_anchor::trusted_anchor(store)?;
    if summary.anchor.as_ref() != Some(&(anchor.version, hex::encode(anchor.sha256))) {
        return Err(super::JournalEnvError::Damaged(
            "the store's anchor is not the last one its journal records (compare `airlock anchor show --store STORE`)".into(),
        )
        .into());
    }
    let seq = head.seq + 1;
    let event = Event::new(
        "journal.exported",
        json!({
            "out": path_field(out),
            "records": seq,
            "journal_keyid": journal_keyid(&key),
            "backend": store.backend().name(),
            "root_version": anchor.version,
            "root_sha256": hex::encode(anchor.sha256),
        }),
    );
    let header = header(&key, &anchor, store.backend().name(), seq)?;
    // The export is written beside its destination first; the record is
    // appended (and bound) next; the export appears under its name last.
    let mut tmp = tempfile::NamedTempFile::new_in(parent(out)).map_err(|e| write_err(out, e))?;
    write_export(&mut tmp, &header, store, len).map_err(|e| write_err(out, e))?;
    let new_head = journal.write(lock, Some(head), vec![event])?;
    lock.bind_journal_head(&new_head)?;
    let tail = journal_tail_line(store, new_head)?;
    tmp.write_all(&tail)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| write_err(out, e))?;
    tmp.persist_noclobber(out)
        .map_err(|e| write_err(out, e.error))?;
    Ok(new_head)
}

fn parent(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn write_err(out: &Path, e: std::io::Error) -> Error {
    crate::fsutil::FsError::Write {
        what: format!("write the export {}", out.display()),
        source: e,
    }
    .into()
}

fn header(key: &PublicKey, anchor: &Anchor, backend: &str, records: u64) -> Result<Vec<u8>, Error> {
    let v = json!({
        "airlock_journal_export": EXPORT_VERSION,
        "exported": format_utc(now()),
        "backend": backend,
        "journal_key": key_field(key),
        "anchor": {
            "root_version": anchor.version,
            "root_sha256": hex::encode(anchor.sha256),
            "root": B64.encode(&anchor.root_json),
        },
        "records": records,
    });
    let mut bytes = encode(&v).map_err(Error::Internal)?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn write_export(
    out: &mut impl Write,
    header: &[u8],
    store: &dyn TrustStore,
    len: u64,
) -> std::io::Result<()> {
    out.write_all(header)?;
    let f = File::open(airlock_hsm::JournalFile::in_dir(store.dir()).path())?;
    let copied = std::io::copy(&mut f.take(len), out)?;
    if copied != len {
        return Err(std::io::Error::other(
            "the journal changed while it was exported",
        ));
    }
    Ok(())
}

/// The line of record `head` (the one just appended), with its line end.
fn journal_tail_line(store: &dyn TrustStore, head: JournalHead) -> Result<Vec<u8>, Error> {
    let tail = airlock_hsm::JournalFile::in_dir(store.dir()).tail(|_| true)?;
    match tail.lines.last() {
        Some(l) if Sha256::digest(l).as_slice() == head.sha256 => {
            let mut l = l.clone();
            l.push(b'\n');
            Ok(l)
        }
        _ => Err(super::JournalEnvError::Damaged(
            "the export record is not at the end of the journal".into(),
        )
        .into()),
    }
}

/// What an intact export holds.
#[derive(Debug)]
pub struct ExportSummary {
    /// Records (the last is the export's own).
    pub records: u64,
    /// The journal key.
    pub key: PublicKey,
    /// The store's backend.
    pub backend: String,
    /// When the export was made.
    pub exported: String,
    /// The anchored root at export time.
    pub root: Root,
    /// Its SHA-256.
    pub root_sha256: String,
    /// The chain's summary.
    pub chain: Summary,
}

fn get<'a>(m: &'a Map<String, Value>, k: &str) -> Result<&'a Value, JournalError> {
    m.get(k)
        .ok_or_else(|| malformed(format!("the header has no \"{k}\"")))
}

fn get_str<'a>(m: &'a Map<String, Value>, k: &str) -> Result<&'a str, JournalError> {
    get(m, k)?
        .as_str()
        .ok_or_else(|| malformed(format!("the header's \"{k}\" is not a string")))
}

fn get_u64(m: &Map<String, Value>, k: &str) -> Result<u64, JournalError> {
    get(m, k)?
        .as_u64()
        .ok_or_else(|| malformed(format!("the header's \"{k}\" is not an integer")))
}

fn get_obj<'a>(m: &'a Map<String, Value>, k: &str) -> Result<&'a Map<String, Value>, JournalError> {
    get(m, k)?
        .as_object()
        .ok_or_else(|| malformed(format!("the header's \"{k}\" is not an object")))
}

/// Checks the export `path` with no store: the header, every record (chain
/// and signatures with the header's key), that it ends with its own
/// `journal.exported` record, and that the header matches what that record
/// and the anchor records say. With `expected`, the journal key must be
/// that key.
pub fn verify_export(
    path: &Path,
    expected: Option<&PublicKey>,
    mut each: impl FnMut(&Record),
) -> Result<ExportSummary, Error> {
    let f = File::open(path).map_err(|e| Error::input(path, e))?;
    let mut r = BufReader::new(f);
    let mut first = Vec::new();
    (&mut r)
        .take(MAX_HEADER_BYTES as u64 + 1)
        .read_until(b'\n', &mut first)
        .map_err(|e| Error::input(path, e))?;
    if first.pop() != Some(b'\n') {
        return Err(malformed("the first line is not a complete header line").into());
    }
    let h: Value = serde_json::from_slice(&first)
        .map_err(|e| malformed(format!("the header is not JSON: {e}")))?;
    if encode(&h).ok().as_deref() != Some(first.as_slice()) {
        return Err(malformed("the header is not in the canonical encoding").into());
    }
    let h = h
        .as_object()
        .ok_or_else(|| malformed("the header is not an object"))?;
    if h.len() != 6 || get_u64(h, "airlock_journal_export")? != EXPORT_VERSION {
        return Err(malformed(format!(
            "not an airlock journal export of version {EXPORT_VERSION}"
        ))
        .into());
    }
    let jk = get_obj(h, "journal_key")?;
    let spki = B64
        .decode(get_str(jk, "spki")?)
        .map_err(|e| malformed(format!("journal_key.spki is not base64: {e}")))?;
    let key =
        PublicKey::from_spki_der(&spki).map_err(|e| malformed(format!("journal_key.spki: {e}")))?;
    let keyid = journal_keyid(&key);
    if get_str(jk, "keyid")? != keyid
        || Alg::of_key(&key).map(Alg::name) != Some(get_str(jk, "alg")?)
    {
        return Err(JournalError::ExportMismatch {
            reason: "journal_key's keyid or alg is not that of its spki".into(),
        }
        .into());
    }
    if let Some(want) = expected {
        let want = journal_keyid(want);
        if want != keyid {
            return Err(JournalError::KeyMismatch {
                expected: want,
                found: keyid,
            }
            .into());
        }
    }
    let an = get_obj(h, "anchor")?;
    let root_bytes = B64
        .decode(get_str(an, "root")?)
        .map_err(|e| malformed(format!("anchor.root is not base64: {e}")))?;
    let root_sha256 = hex::encode(Sha256::digest(&root_bytes));
    if get_str(an, "root_sha256")? != root_sha256 {
        return Err(JournalError::ExportMismatch {
            reason: "anchor.root does not have the SHA-256 anchor.root_sha256 names".into(),
        }
        .into());
    }
    let root = Root::parse(&root_bytes)?;
    root.check_signed_by(&root)?;
    if get_u64(an, "root_version")? != root.version {
        return Err(JournalError::ExportMismatch {
            reason: format!(
                "anchor.root_version is {} but the root is version {}",
                get_u64(an, "root_version")?,
                root.version
            ),
        }
        .into());
    }
    let backend = get_str(h, "backend")?.to_owned();
    let exported = get_str(h, "exported")?.to_owned();
    let records = get_u64(h, "records")?;

    // Line 1 is the header; records start on line 2.
    let mut checker = Checker::new(&key, None)?.after_lines(1);
    let mut last: Option<Record> = None;
    let torn = for_each_line(r, 1, |line| {
        if let Some(rec) = checker.line(line)? {
            each(&rec);
            last = Some(rec);
        }
        Ok::<_, JournalError>(())
    });
    let torn = read_result(torn, &checker, path)?;
    let chain = checker.finish(torn.as_deref())?;
    let incomplete = |reason: String| Error::from(JournalError::ExportIncomplete { reason });
    let Some(last) = last else {
        return Err(incomplete("it holds no records".into()));
    };
    if last.event != "journal.exported" || last.u64_field("records") != Some(last.seq) {
        return Err(incomplete(format!(
            "its last record ({}, a {} record) is not the export's own journal.exported record: records were removed from its end",
            last.seq, last.event
        )));
    }
    let mismatch = |reason: &str| {
        Error::from(JournalError::ExportMismatch {
            reason: reason.into(),
        })
    };
    if records != last.seq {
        return Err(mismatch(
            "the header's record count is not the export record's",
        ));
    }
    if last.str_field("journal_keyid") != Some(keyid.as_str())
        || last.str_field("backend") != Some(backend.as_str())
    {
        return Err(mismatch(
            "the header's key or backend is not what the export record names",
        ));
    }
    if last.u64_field("root_version") != Some(root.version)
        || last.str_field("root_sha256") != Some(root_sha256.as_str())
        || chain.anchor.as_ref() != Some(&(root.version, root_sha256.clone()))
    {
        return Err(mismatch(
            "the header's root is not the anchor the signed records name",
        ));
    }
    Ok(ExportSummary {
        records,
        key,
        backend,
        exported,
        root,
        root_sha256,
        chain,
    })
}
