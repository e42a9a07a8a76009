//! Appending to a store's journal: every journal write goes through
//! [`Journal::append`]. The caller holds the store's lock; the records are
//! durable before the caller commits anything they record.
use std::path::Path;

use airlock_hsm::{DirLock, JournalFile, JournalHead, Signer, StoreLock, TrustStore};
use serde_json::{Map, Value, json};

use crate::journal::chain::{Checker, JournalError};
use crate::journal::record::{Alg, BuildError, Record, build};
use crate::timefmt::now;

/// One event to record: its type and fields.
#[derive(Debug, Clone)]
pub struct Event {
    /// Event type (`verify`, `unpack`, `anchor.provisioned`, …).
    pub name: &'static str,
    /// The event's fields.
    pub fields: Map<String, Value>,
}

impl Event {
    /// An event from a JSON object (anything else gives empty fields).
    pub fn new(name: &'static str, fields: Value) -> Event {
        Event {
            name,
            fields: match fields {
                Value::Object(m) => m,
                _ => Map::new(),
            },
        }
    }
}

/// Why nothing could be recorded in a store's journal (the binary's
/// `journal-damaged`, `journal-key-unusable`, `journal-write-failed`, or the
/// store's error; all exit 3: nothing can be decided until it is looked
/// at).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The journal does not end where the store says it does.
    #[error("the store's journal is damaged, so nothing can be recorded: {0}")]
    Damaged(JournalError),
    /// The journal ends in a torn line (a crash while a record was written).
    #[error(
        "the store's journal ends in a torn line ({bytes} bytes without a line end: a crash while a record was written), so nothing can be recorded"
    )]
    Torn {
        /// The torn line's length.
        bytes: usize,
    },
    /// The store's journal key cannot sign records.
    #[error(
        "the store's journal key is {algorithm}; journals are signed with Ed25519 or ECDSA P-256"
    )]
    KeyUnusable {
        /// The key's algorithm.
        algorithm: String,
    },
    /// A record could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The store (its journal file, its head).
    #[error(transparent)]
    Store(#[from] airlock_hsm::Error),
}

fn damaged(e: &JournalError) -> WriteError {
    WriteError::Damaged(e.clone())
}

/// The journal of one store directory, with its signer.
#[derive(Debug)]
pub struct Journal<'s> {
    file: JournalFile,
    signer: &'s dyn Signer,
}

/// Whether an append first ends a torn last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TornLine {
    /// The file ends with a whole line.
    Absent,
    /// The file ends with a torn line: its line end goes first.
    End,
}

impl<'s> Journal<'s> {
    /// The journal in `dir`, signed by `signer`.
    pub fn new(dir: &Path, signer: &'s dyn Signer) -> Result<Journal<'s>, WriteError> {
        if Alg::of_key(signer.public_key()).is_none() {
            return Err(WriteError::KeyUnusable {
                algorithm: signer.public_key().algorithm().name().to_owned(),
            });
        }
        Ok(Journal {
            file: JournalFile::in_dir(dir),
            signer,
        })
    }

    /// The journal file.
    pub fn file(&self) -> &JournalFile {
        &self.file
    }

    /// Checks that the journal ends where the caller says (`after`: the
    /// last record it knows of; `None` for a journal not yet started) and
    /// returns the records after it (written by an operation that did not
    /// commit), each checked.
    fn check_tail(&self, after: Option<JournalHead>) -> Result<Vec<Record>, WriteError> {
        let stop_at = after.map_or(0, |h| h.seq);
        let tail = self.file.tail(|line| match Record::parse(line) {
            Ok(r) => r.seq <= stop_at,
            Err(_) => true,
        })?;
        if let Some(t) = &tail.torn {
            return Err(WriteError::Torn { bytes: t.len() });
        }
        let Some(after) = after else {
            if tail.lines.is_empty() {
                return Ok(Vec::new());
            }
            return Err(damaged(&JournalError::Genesis {
                reason: "the journal has records but the store has no head".into(),
            }));
        };
        let mut lines = tail.lines.iter();
        let head_line = lines.next();
        let head = head_line.and_then(|l| Record::parse(l).ok());
        match head {
            Some(r) if r.seq == after.seq && r.sha256 == after.sha256 => {}
            Some(r) if r.seq == after.seq => {
                return Err(damaged(&JournalError::HeadMismatch {
                    seq: after.seq,
                    expected: hex::encode(after.sha256),
                }));
            }
            _ => {
                return Err(damaged(&JournalError::Truncated {
                    head: after.seq,
                    last: head.map_or(0, |r| r.seq.min(after.seq.saturating_sub(1))),
                }));
            }
        }
        let key = self.signer.public_key();
        let mut checker = Checker::resume(key, after).map_err(|e| damaged(&e))?;
        let mut pending = Vec::new();
        for l in lines {
            match checker.line(l).map_err(|e| damaged(&e))? {
                Some(r) => pending.push(r),
                None => {
                    return Err(damaged(&JournalError::Malformed {
                        line: checker.line_number(),
                        reason: "a line after the store's head is not a record".into(),
                    }));
                }
            }
        }
        Ok(pending)
    }

    /// Appends `events` after the record `after` (the last one the caller
    /// knows: the bound head, or one it appended itself) and returns the
    /// new head, which the caller binds (`bind_journal_head`, or in the same
    /// commit as an acceptance). Records found after `after` — left by an
    /// operation that did not commit — are first acknowledged by a
    /// `journal.recovered` record. On failure nothing is appended.
    pub fn append(
        &self,
        lock: &DirLock,
        after: Option<JournalHead>,
        events: Vec<Event>,
    ) -> Result<JournalHead, WriteError> {
        let pending = self.check_tail(after)?;
        let mut all = Vec::with_capacity(events.len() + 1);
        let mut head = after;
        if let Some(last) = pending.last() {
            all.push(recovered(&pending, None));
            head = Some(JournalHead {
                seq: last.seq,
                sha256: last.sha256,
            });
        }
        all.extend(events);
        self.write(lock, head, all)
    }

    /// Signs `events` as the records after `after` and appends them in one
    /// write, without looking at the file (the caller has).
    pub fn write(
        &self,
        lock: &DirLock,
        after: Option<JournalHead>,
        events: Vec<Event>,
    ) -> Result<JournalHead, WriteError> {
        self.write_after(lock, after, events, TornLine::Absent)
    }

    /// [`Journal::write`] after a torn last line: the line end that closes
    /// it and the records go in one append, so a crash leaves either the
    /// torn line as it was or the torn line recorded (`journal recover`).
    pub fn write_ending_torn_line(
        &self,
        lock: &DirLock,
        after: Option<JournalHead>,
        events: Vec<Event>,
    ) -> Result<JournalHead, WriteError> {
        self.write_after(lock, after, events, TornLine::End)
    }

    fn write_after(
        &self,
        lock: &DirLock,
        after: Option<JournalHead>,
        events: Vec<Event>,
        torn: TornLine,
    ) -> Result<JournalHead, WriteError> {
        let mut head = after.unwrap_or(JournalHead {
            seq: 0,
            sha256: [0; 32],
        });
        let time = now();
        let mut bytes = Vec::new();
        if torn == TornLine::End {
            bytes.push(b'\n');
        }
        for e in events {
            let (line, sha) = build(
                head.seq + 1,
                time,
                e.name,
                e.fields,
                head.sha256,
                self.signer,
            )?;
            bytes.extend_from_slice(&line);
            bytes.push(b'\n');
            head = JournalHead {
                seq: head.seq + 1,
                sha256: sha,
            };
        }
        if head.seq == after.map_or(0, |h| h.seq) {
            return Ok(head);
        }
        self.file.append(lock, &bytes)?;
        Ok(head)
    }
}

/// The `journal.recovered` event acknowledging `pending` records (and a
/// torn line: its line number and bytes).
pub fn recovered(pending: &[Record], torn: Option<(u64, &[u8])>) -> Event {
    use sha2::{Digest, Sha256};
    let placed: Vec<&str> = pending
        .iter()
        .filter(|r| r.event == "unpack" && r.str_field("outcome") == Some("accepted"))
        .filter_map(|r| r.str_field("destination"))
        .filter(|d| Path::new(d).exists())
        .collect();
    Event::new(
        "journal.recovered",
        json!({
            "uncommitted": pending.iter().map(|r| r.seq).collect::<Vec<_>>(),
            "unrecorded_placements": placed,
            "torn": torn.map(|(line, b)| json!({
                "line": line,
                "bytes": b.len(),
                "sha256": hex::encode(Sha256::digest(b)),
            })),
        }),
    )
}

/// Appends `events` after the store's bound head and binds the new head:
/// the whole record of a decision that changes nothing else in the store.
pub fn record(
    store: &dyn TrustStore,
    journal: &Journal<'_>,
    lock: &StoreLock,
    events: Vec<Event>,
) -> Result<JournalHead, WriteError> {
    let head = journal.append(lock, Some(store.journal_head()?), events)?;
    lock.bind_journal_head(&head)?;
    Ok(head)
}
