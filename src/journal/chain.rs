//! Checking a journal, record by record, as it streams past: sequence,
//! hash chain, signatures, the first record, and the store's head
//! (`docs/journal-format.md`, "Verifying").
use std::io::BufRead;

use airlock_hsm::journal::{MAX_RECORD_BYTES, journal_keyid};
use airlock_hsm::{JournalHead, PublicKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::journal::record::{Alg, Record};

/// Why a journal (or an export) is not intact. Each names the first place
/// that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The last line has no line end.
    #[error(
        "journal line {line} is torn: {bytes} bytes without a line end (a crash while record {line} was written, or a cut)"
    )]
    Torn {
        /// Line number (from 1).
        line: u64,
        /// Bytes in the torn line.
        bytes: usize,
    },
    /// A line that is not a valid record.
    #[error("journal line {line} is not a valid record: {reason}")]
    Malformed {
        /// Line number.
        line: u64,
        /// Why.
        reason: String,
    },
    /// A record out of sequence.
    #[error(
        "journal line {line} holds record {found} where record {expected} belongs: a record was deleted, duplicated or moved"
    )]
    Sequence {
        /// Line number.
        line: u64,
        /// Expected sequence number.
        expected: u64,
        /// Found sequence number.
        found: u64,
    },
    /// A record whose `prev` is not the hash of the record before it.
    #[error(
        "journal record {seq} (line {line}) does not chain to the record before it: the record before it was edited or replaced"
    )]
    Chain {
        /// Line number.
        line: u64,
        /// Sequence number.
        seq: u64,
    },
    /// A record whose signature does not verify.
    #[error("journal record {seq} (line {line}) has a bad signature: {reason}")]
    Signature {
        /// Line number.
        line: u64,
        /// Sequence number.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// Record 1 is not a `journal.started` record for this key.
    #[error("journal record 1 does not start the journal: {reason}")]
    Genesis {
        /// Why.
        reason: String,
    },
    /// The journal ends before the store's head.
    #[error(
        "the journal ends at record {last} but the store's head is record {head}: records were removed from its end"
    )]
    Truncated {
        /// The bound head's sequence number.
        head: u64,
        /// The last record in the journal (0: none).
        last: u64,
    },
    /// The record at the head's sequence number is not the bound one.
    #[error(
        "journal record {seq} is not the record the store's head names (sha256 {expected}): the journal was rewritten"
    )]
    HeadMismatch {
        /// Sequence number.
        seq: u64,
        /// The bound hash (hex).
        expected: String,
    },
    /// The store's state (and so the head bound in it) is older than its
    /// hardware counter: it was restored from an older copy, and records
    /// may have been cut from the journal's end with it.
    #[error(
        "the store's journal head cannot be trusted, records may have been removed from the journal's end: {reason}"
    )]
    HeadRolledBack {
        /// What the store found.
        reason: String,
    },
    /// An export file that does not have the export's shape.
    #[error("the export is malformed: {reason}")]
    ExportMalformed {
        /// Why.
        reason: String,
    },
    /// An export that does not end with its own `journal.exported` record.
    #[error("the export is incomplete: {reason}")]
    ExportIncomplete {
        /// Why.
        reason: String,
    },
    /// An export whose header disagrees with its signed records.
    #[error("the export does not match its signed records: {reason}")]
    ExportMismatch {
        /// Why.
        reason: String,
    },
    /// The journal is not what `journal forward` sent: the record its
    /// cursor names changed, or the journal now ends before it.
    #[error("the journal does not match what was forwarded: {reason}")]
    ForwardMismatch {
        /// Why.
        reason: String,
    },
    /// The journal key is not the one the auditor expects.
    #[error("the journal key is {found}, not the expected {expected}")]
    KeyMismatch {
        /// The keyid given.
        expected: String,
        /// The journal's keyid.
        found: String,
    },
}

impl JournalError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            JournalError::Torn { .. } => "journal-torn",
            JournalError::Malformed { .. } => "journal-malformed",
            JournalError::Sequence { .. } => "journal-sequence",
            JournalError::Chain { .. } => "journal-chain",
            JournalError::Signature { .. } => "journal-signature",
            JournalError::Genesis { .. } => "journal-genesis",
            JournalError::Truncated { .. } => "journal-truncated",
            JournalError::HeadMismatch { .. } => "journal-head-mismatch",
            JournalError::HeadRolledBack { .. } => "journal-head-rolled-back",
            JournalError::ExportMalformed { .. } => "journal-export-malformed",
            JournalError::ExportIncomplete { .. } => "journal-export-incomplete",
            JournalError::ExportMismatch { .. } => "journal-export-mismatch",
            JournalError::KeyMismatch { .. } => "journal-key-mismatch",
            JournalError::ForwardMismatch { .. } => "journal-forward-mismatch",
        }
    }

    /// What to do.
    pub fn hint(&self) -> &'static str {
        match self {
            JournalError::Torn { .. } => {
                "a crash interrupted a journal write: keep the file as it is for the auditors, then run `airlock journal recover --store STORE` to record the torn line and continue"
            }
            JournalError::KeyMismatch { .. } => {
                "this journal was not signed by the key you expected: do not trust it; check which store it came from"
            }
            _ => {
                "the journal is not what airlock wrote: do not trust it; keep a copy of the file and the store for investigation"
            }
        }
    }
}

/// A line that did not parse, held until the next record says whether a
/// `journal recover` recorded it.
#[derive(Debug)]
struct Unparsed {
    line: u64,
    sha256: [u8; 32],
    reason: String,
}

/// What [`Checker::finish`] found.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// The last record (`None` for an empty journal).
    pub last: Option<JournalHead>,
    /// Records after the store's head: written by operations that did not
    /// commit (a crash or a failure before the store's state was written).
    pub after_head: Vec<u64>,
    /// Torn lines recorded by `journal recover`.
    pub recovered_lines: Vec<u64>,
    /// The anchor the journal last recorded: (root version, root sha256).
    pub anchor: Option<(u64, String)>,
    /// Records checked.
    pub records: u64,
}

/// The streaming checker.
#[derive(Debug)]
pub struct Checker<'k> {
    key: &'k PublicKey,
    keyid: String,
    head: Option<JournalHead>,
    line: u64,
    next_seq: u64,
    prev: [u8; 32],
    unparsed: Option<Unparsed>,
    summary: Summary,
}

impl<'k> Checker<'k> {
    /// Checks a journal from its first record with `key`, against the
    /// store's bound `head` (`None` for an export, which has no store).
    pub fn new(key: &'k PublicKey, head: Option<JournalHead>) -> Result<Checker<'k>, JournalError> {
        if Alg::of_key(key).is_none() {
            return Err(JournalError::Genesis {
                reason: format!(
                    "the journal key is {}, which the journal format does not use",
                    key.algorithm().name()
                ),
            });
        }
        Ok(Checker {
            key,
            keyid: journal_keyid(key),
            head,
            line: 0,
            next_seq: 1,
            prev: [0; 32],
            unparsed: None,
            summary: Summary::default(),
        })
    }

    /// Checks records that follow the record `after` (already checked).
    pub fn resume(key: &'k PublicKey, after: JournalHead) -> Result<Checker<'k>, JournalError> {
        let mut c = Checker::new(key, None)?;
        c.line = after.seq;
        c.next_seq = after.seq + 1;
        c.prev = after.sha256;
        c.summary.last = Some(after);
        Ok(c)
    }

    /// Counts lines from after `lines` lines that are not records (an
    /// export's header), so errors name the line of the file.
    pub fn after_lines(mut self, lines: u64) -> Checker<'k> {
        self.line = lines;
        self
    }

    /// The line number of the last line seen.
    pub fn line_number(&self) -> u64 {
        self.line
    }

    /// Checks the next line (without its line end). Returns the record, or
    /// `None` for a line that does not parse and may yet turn out to be a
    /// torn line that `journal recover` recorded.
    pub fn line(&mut self, bytes: &[u8]) -> Result<Option<Record>, JournalError> {
        self.line += 1;
        let line = self.line;
        let r = match Record::parse(bytes) {
            Ok(r) => r,
            Err(reason) => {
                if let Some(u) = self.unparsed.take() {
                    return Err(JournalError::Malformed {
                        line: u.line,
                        reason: u.reason,
                    });
                }
                self.unparsed = Some(Unparsed {
                    line,
                    sha256: Sha256::digest(bytes).into(),
                    reason,
                });
                return Ok(None);
            }
        };
        if let Some(u) = self.unparsed.take() {
            let torn = r.fields.get("torn");
            let names_it = r.event == "journal.recovered"
                && torn.and_then(|t| t.get("sha256")).and_then(Value::as_str)
                    == Some(hex::encode(u.sha256).as_str())
                && torn.and_then(|t| t.get("line")).and_then(Value::as_u64) == Some(u.line);
            if !names_it {
                return Err(JournalError::Malformed {
                    line: u.line,
                    reason: u.reason,
                });
            }
            self.summary.recovered_lines.push(u.line);
        }
        if r.seq != self.next_seq {
            return Err(JournalError::Sequence {
                line,
                expected: self.next_seq,
                found: r.seq,
            });
        }
        if r.prev != self.prev {
            return Err(JournalError::Chain { line, seq: r.seq });
        }
        if let Some(reason) = r.signature_problem(self.key) {
            return Err(JournalError::Signature {
                line,
                seq: r.seq,
                reason,
            });
        }
        if r.seq == 1 {
            self.check_genesis(&r)?;
        }
        if let Some(h) = self.head {
            if r.seq == h.seq && r.sha256 != h.sha256 {
                return Err(JournalError::HeadMismatch {
                    seq: h.seq,
                    expected: hex::encode(h.sha256),
                });
            }
            if r.seq > h.seq {
                self.summary.after_head.push(r.seq);
            }
        }
        self.track_anchor(&r);
        self.next_seq += 1;
        self.prev = r.sha256;
        self.summary.records += 1;
        self.summary.last = Some(JournalHead {
            seq: r.seq,
            sha256: r.sha256,
        });
        Ok(Some(r))
    }

    fn check_genesis(&self, r: &Record) -> Result<(), JournalError> {
        if r.event != "journal.started" {
            return Err(JournalError::Genesis {
                reason: format!("it is a {} record, not journal.started", r.event),
            });
        }
        let keyid = r
            .fields
            .get("journal_key")
            .and_then(|k| k.get("keyid"))
            .and_then(Value::as_str);
        if keyid != Some(self.keyid.as_str()) {
            return Err(JournalError::Genesis {
                reason: format!(
                    "it names journal key {}, not {}",
                    crate::excerpt(keyid.unwrap_or("(none)")),
                    self.keyid
                ),
            });
        }
        Ok(())
    }

    fn track_anchor(&mut self, r: &Record) {
        let (v, s) = match r.event.as_str() {
            "journal.started" | "anchor.provisioned" => ("root_version", "root_sha256"),
            "anchor.advanced" => ("new_root_version", "new_root_sha256"),
            _ => return,
        };
        if let (Some(v), Some(s)) = (r.u64_field(v), r.str_field(s)) {
            self.summary.anchor = Some((v, s.to_owned()));
        }
    }

    /// Ends the check. `torn` is what followed the last line end.
    pub fn finish(self, torn: Option<&[u8]>) -> Result<Summary, JournalError> {
        if let Some(u) = self.unparsed {
            return Err(JournalError::Malformed {
                line: u.line,
                reason: u.reason,
            });
        }
        if let Some(t) = torn {
            return Err(JournalError::Torn {
                line: self.line + 1,
                bytes: t.len(),
            });
        }
        if let Some(h) = self.head {
            let last = self.summary.last.map_or(0, |l| l.seq);
            if last < h.seq {
                return Err(JournalError::Truncated { head: h.seq, last });
            }
        }
        Ok(self.summary)
    }
}

/// Why reading lines stopped early.
#[derive(Debug)]
pub enum ReadError<E> {
    /// The reader failed.
    Io(std::io::Error),
    /// A line longer than any record (its line number).
    TooLong(u64),
    /// The callback's error.
    Stop(E),
}

/// Calls `f` with each complete line of `r` (without its line end), line
/// numbers from `first`; returns what follows the last line end (a torn
/// line), if anything. Lines are bounded by the record limit, so memory
/// stays constant however long the journal is.
pub fn for_each_line<E>(
    mut r: impl BufRead,
    first: u64,
    mut f: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<Option<Vec<u8>>, ReadError<E>> {
    use std::io::Read as _;
    let mut buf = Vec::with_capacity(4096);
    let mut n = first;
    loop {
        buf.clear();
        let got = (&mut r)
            .take(MAX_RECORD_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(ReadError::Io)?;
        if got == 0 {
            return Ok(None);
        }
        if buf.last() != Some(&b'\n') {
            if got > MAX_RECORD_BYTES {
                return Err(ReadError::TooLong(n));
            }
            return Ok(Some(std::mem::take(&mut buf)));
        }
        buf.pop();
        f(&buf).map_err(ReadError::Stop)?;
        n += 1;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::journal::record::build;
    use crate::journal::writer::{Event, recovered};
    use airlock_hsm::{FileSigner, Signer};
    use serde_json::json;

    /// Lines of a journal: `journal.started`, then `n` verify records.
    fn journal(s: &FileSigner, n: u64) -> Vec<Vec<u8>> {
        let mut prev = [0u8; 32];
        let mut out = Vec::new();
        for seq in 1..=n + 1 {
            let (event, fields) = if seq == 1 {
                (
                    "journal.started",
                    json!({"journal_key": crate::journal::key_field(s.public_key())}),
                )
            } else {
                ("verify", json!({"outcome": "accepted"}))
            };
            let (line, sha) = build(
                seq,
                1_800_000_000,
                event,
                fields.as_object().unwrap().clone(),
                prev,
                s,
            )
            .unwrap();
            prev = sha;
            out.push(line);
        }
        out
    }

    fn check(
        key: &PublicKey,
        lines: &[Vec<u8>],
        torn: Option<&[u8]>,
    ) -> Result<Summary, JournalError> {
        let mut c = Checker::new(key, None)?;
        for l in lines {
            c.line(l)?;
        }
        c.finish(torn)
    }

    #[test]
    fn a_torn_line_is_accepted_only_where_a_recovered_record_names_it() {
        let s = FileSigner::generate().unwrap();
        let mut lines = journal(&s, 2);
        let torn = lines[2][..40].to_vec();
        assert_eq!(
            check(s.public_key(), &lines, Some(&torn))
                .unwrap_err()
                .code(),
            "journal-torn"
        );
        // What `journal recover` writes after ending the torn line.
        let prev: [u8; 32] = Sha256::digest(&lines[2]).into();
        let Event { name, fields } = recovered(&[], Some((4, &torn)));
        let (rec, _) = build(4, 1_800_000_000, name, fields, prev, &s).unwrap();
        lines.push(torn.clone());
        lines.push(rec);
        let summary = check(s.public_key(), &lines, None).unwrap();
        assert_eq!(summary.recovered_lines, vec![4]);
        assert_eq!(summary.last.unwrap().seq, 4);
        // Another line in its place is not what the record names.
        lines[3] = b"{\"not\":\"it\"}".to_vec();
        let e = check(s.public_key(), &lines, None).unwrap_err();
        assert!(matches!(e, JournalError::Malformed { line: 4, .. }), "{e}");
    }
}
