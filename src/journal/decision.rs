//! The records of the commands that decide about a bundle (`verify`,
//! `unpack`): what was checked, the verdict, and the overrides used. A
//! refused bundle is always recorded, whatever it is.
use std::path::{Path, PathBuf};

use airlock_hsm::{Anchor, JournalHead, StoreLock, TrustStore};
use serde_json::{Value, json};

use crate::error::{EXIT_REJECTED, Error};
use crate::journal::writer::{Event, Journal, record};
use crate::timefmt::format_utc;
use crate::verifier::{Observed, Verdict};

/// The longest error message a record keeps (characters).
const MAX_MESSAGE: usize = 1000;
/// The longest path a record keeps (characters).
const MAX_PATH: usize = 4096;

/// `s` cut to `max` characters (an ellipsis marks the cut).
pub fn bounded(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// A path as a record keeps it (lossy UTF-8, bounded).
pub fn path_field(p: &Path) -> String {
    bounded(&p.to_string_lossy(), MAX_PATH)
}

/// The error object of a record: code, message, exit code.
pub fn error_field(e: &Error) -> Value {
    json!({
        "code": e.code(),
        "message": bounded(&e.to_string(), MAX_MESSAGE),
        "exit": e.exit_code(),
        "hint": bounded(&e.hint(), MAX_MESSAGE),
    })
}

/// What one `verify` or `unpack` run is deciding about.
#[derive(Debug)]
pub struct Decision {
    /// `verify` or `unpack`.
    pub command: &'static str,
    /// The bundle as named on the command line.
    pub bundle: PathBuf,
    /// The `--at` override.
    pub at: Option<u64>,
    /// `unpack`'s destination.
    pub destination: Option<PathBuf>,
    /// The verification time used.
    pub time: Option<u64>,
    /// What the verifier learnt.
    pub seen: Observed,
    /// When the run started (for the record's `duration_ms`).
    pub started: std::time::Instant,
    /// The enclave policy that admitted the bundle (`crate::gate`), if the
    /// store pins one: the record's `policy` field.
    pub policy: Option<Value>,
    /// SHA-256 of the policy input document delivered with an accepted
    /// import (`DEST.airlock-metadata/policy-input.json`): the record's
    /// `policy_input_sha256` field.
    pub policy_input: Option<String>,
    /// `--run-inspections` was given: the records say so (and, when
    /// accepted, which inspections ran).
    pub run_inspections: bool,
}

/// A JSON value, or null.
pub fn opt<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

impl Decision {
    /// A run of `command` on `bundle`.
    pub fn new(command: &'static str, bundle: &Path, at: Option<u64>) -> Decision {
        Decision {
            command,
            bundle: bundle.to_owned(),
            at,
            destination: None,
            time: None,
            seen: Observed::default(),
            started: std::time::Instant::now(),
            policy: None,
            policy_input: None,
            run_inspections: false,
        }
    }

    fn fields(&self, outcome: &str) -> serde_json::Map<String, Value> {
        let s = &self.seen;
        let v = json!({
            "outcome": outcome,
            "bundle_file": path_field(&self.bundle),
            "bundle_size": opt(s.bundle_size),
            "bundle_sha256": null,
            "manifest_sha256": opt(s.manifest_sha256.clone()),
            "manifest_authenticated": s.authenticated,
            "bundle_id": opt(s.bundle_id.as_deref().map(|b| bounded(b, 200))),
            "channel": opt(s.channel.as_deref().map(|c| bounded(c, 200))),
            "posix_names": opt(s.posix_names),
            "sequence": opt(s.sequence.filter(|&q| q <= crate::journal::canonical::MAX_INT)),
            "created": opt(s.created.map(format_utc)),
            "expires": opt(s.expires.map(format_utc)),
            "signers": s.signers,
            "root_version": opt(s.root_version),
            "artifacts": s.artifacts,
            "artifact_bytes": s.artifact_bytes,
            "destination": opt(self.destination.as_deref().map(path_field)),
            "verification_time": opt(self.time.map(format_utc)),
            "at": opt(self.at.map(format_utc)),
            "error": null,
            "duration_ms": u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX).min(crate::journal::canonical::MAX_INT),
        });
        match v {
            Value::Object(mut m) => {
                if self.run_inspections {
                    m.insert("run_inspections".into(), true.into());
                }
                // An import that went on from where an interrupted one
                // stopped (docs/transfers.md, "An interrupted import").
                if s.resumed.is_some_and(|r| r.frame > 0) {
                    m.insert("resumed".into(), true.into());
                }
                m
            }
            _ => serde_json::Map::new(),
        }
    }

    /// The record of an accepted bundle (and, for an unpack that rotates
    /// the root, the anchor's advance from `anchor_before`).
    pub fn accepted(&mut self, v: &Verdict, anchor_before: Option<&Anchor>) -> Vec<Event> {
        self.seen = Observed {
            bundle_size: self.seen.bundle_size,
            manifest_sha256: Some(v.manifest_sha256.clone()),
            bundle_id: Some(v.bundle_id.clone()),
            posix_names: Some(v.posix_names),
            channel: Some(v.channel.clone()),
            sequence: Some(v.sequence),
            created: Some(v.created),
            expires: Some(v.expires),
            authenticated: true,
            signers: v.signers.clone(),
            root_version: Some(v.root_version),
            artifacts: v.artifacts,
            artifact_bytes: v.artifact_bytes,
            resumed: self.seen.resumed,
        };
        let mut fields = self.fields("accepted");
        // Attestation coverage of an import (issue 19): the artifacts and
        // images named by a subject of a verified attestation, out of all.
        if self.command == "unpack" {
            let sc = &v.supply_chain;
            fields.insert("attestations".into(), (sc.attestations as u64).into());
            fields.insert(
                "attested_subjects".into(),
                (sc.attested_subjects as u64).into(),
            );
            fields.insert(
                "attestable_subjects".into(),
                (sc.attestable_subjects as u64).into(),
            );
        }
        if let Some(p) = &self.policy {
            fields.insert("policy".into(), p.clone());
        }
        // A delta bundle (SPEC.md 5.7): its base, and what came from it.
        if let Some(d) = &v.delta {
            fields.insert(
                "delta".into(),
                json!({"base_bundle_id": d.base, "from_base_files": d.files, "from_base_bytes": d.bytes}),
            );
        }
        if let Some(p) = &self.policy_input {
            fields.insert("policy_input_sha256".into(), p.clone().into());
        }
        if self.run_inspections {
            fields.insert(
                "inspections_run".into(),
                v.supply_chain
                    .inspection_results
                    .iter()
                    .filter(|r| r.evaluated_by == crate::intoto::inspection::EvaluatedBy::Ran)
                    .map(|r| Value::from(bounded(&r.name, 200)))
                    .collect::<Vec<_>>()
                    .into(),
            );
        }
        let mut events = vec![Event {
            name: self.command,
            fields,
        }];
        if let (Some(old), Some(new)) = (anchor_before, &v.new_anchor) {
            events.push(Event::new(
                "anchor.advanced",
                json!({
                    "bundle_id": v.bundle_id,
                    "old_root_version": old.version,
                    "old_root_sha256": hex::encode(old.sha256),
                    "new_root_version": new.version,
                    "new_root_sha256": hex::encode(new.sha256),
                }),
            ));
        }
        events
    }

    /// The records of an import that found what an interrupted import of
    /// the same bundle to the same destination left, written before its
    /// own record: `import.interrupted` (what was found intact and kept,
    /// what was discarded) and `import.resumed` (the payload frame and the
    /// bundle offset the read went on from; 0 and the first frame's offset
    /// when nothing could be kept). Empty otherwise.
    pub fn resume_events(&self) -> Vec<Event> {
        let Some(r) = self.seen.resumed else {
            return Vec::new();
        };
        let bundle_id = opt(self.seen.bundle_id.as_deref().map(|b| bounded(b, 200)));
        let destination = opt(self.destination.as_deref().map(path_field));
        vec![
            Event::new(
                "import.interrupted",
                json!({
                    "bundle_id": bundle_id,
                    "destination": destination,
                    "kept_entries": r.kept,
                    "kept_bytes": r.kept_bytes,
                    "discarded_files": r.discarded,
                }),
            ),
            Event::new(
                "import.resumed",
                json!({
                    "bundle_id": bundle_id,
                    "destination": destination,
                    "frame": r.frame as u64,
                    "offset": r.offset,
                }),
            ),
        ]
    }

    /// The record of a run that did not accept: `refused` (the bundle was
    /// rejected, exit 1: the record names the file's SHA-256) or `failed`
    /// (the operator or the machine, exit 2 or 3).
    pub fn refused(&self, e: &Error) -> Event {
        let refused = e.exit_code() == EXIT_REJECTED;
        let mut fields = self.fields(if refused { "refused" } else { "failed" });
        if refused {
            fields.insert("bundle_sha256".into(), opt(file_sha256(&self.bundle)));
        }
        fields.insert("error".into(), error_field(e));
        if let Error::Gate(g) = e
            && let Some(p) = g.record()
        {
            fields.insert("policy".into(), p);
        }
        Event {
            name: self.command,
            fields,
        }
    }

    /// The record of an unpack that was accepted (record `accepted_seq`)
    /// but could not be completed: nothing is placed and the store did not
    /// record the import.
    pub fn aborted(&self, accepted_seq: u64, e: &Error) -> Event {
        let mut fields = self.fields("aborted");
        fields.insert("aborts".into(), accepted_seq.into());
        fields.insert("error".into(), error_field(e));
        Event {
            name: self.command,
            fields,
        }
    }

    /// Records the refusal `e` (bound to the store) and returns the error
    /// to report: `e`, or — when even the record cannot be written — the
    /// journal's error (exit 3), after a warning naming `e` (given to
    /// `warn`, which the command prints).
    pub fn record_refusal(
        &self,
        store: &dyn TrustStore,
        journal: &Journal<'_>,
        lock: &StoreLock,
        e: Error,
        warn: &dyn Fn(&str),
    ) -> Error {
        let mut events = self.resume_events();
        events.push(self.refused(&e));
        match record(store, journal, lock, events) {
            Ok(_) => e,
            Err(j) => {
                warn(&format!("this was not recorded in the journal: {e}"));
                j.into()
            }
        }
    }

    /// Records that the unpack accepted as record `accepted_seq` (its
    /// records ending at `after`) could not be completed, and returns the
    /// error to report (as `record_refusal`).
    pub fn record_abort(
        &self,
        journal: &Journal<'_>,
        lock: &StoreLock,
        (after, accepted_seq): (JournalHead, u64),
        e: Error,
        warn: &dyn Fn(&str),
    ) -> Error {
        let result = journal
            .append(lock, Some(after), vec![self.aborted(accepted_seq, &e)])
            .and_then(|head| Ok(lock.bind_journal_head(&head)?));
        match result {
            Ok(()) => e,
            Err(j) => {
                warn(&format!(
                    "the journal records this import as accepted (record {accepted_seq}) but could not record that it failed: {e}"
                ));
                j.into()
            }
        }
    }
}

/// SHA-256 of a regular file, streamed; `None` when it cannot be read.
pub fn file_sha256(path: &Path) -> Option<String> {
    // Never blocks on a FIFO, refuses devices.
    let mut f = airlock_hsm::opfile::open_regular(path).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let (sha256, _) = crate::fsutil::sha256_of(&mut f).ok()?;
    Some(hex::encode(sha256))
}

/// How long a command waits for a store another process holds
/// (`--lock-timeout`); `None`: as long as it takes.
static LOCK_TIMEOUT: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();

/// Sets the lock wait limit for this process (once, from the command line).
pub fn set_lock_timeout(seconds: Option<u64>) {
    let _ = LOCK_TIMEOUT.set(seconds.map(std::time::Duration::from_secs));
}

/// Takes the store's lock, saying so when another process holds it, and
/// giving up after `--lock-timeout` (exit 3, `store-busy`). The "waiting"
/// warning goes to `warn` (the command prints it before waiting).
pub fn lock_store<'s, S: TrustStore + ?Sized>(
    store: &'s S,
    warn: &dyn Fn(&str),
) -> Result<StoreLock<'s, S>, Error> {
    let try_lock = || Ok(StoreLock::try_acquire(store)?);
    wait_for_store(
        store.dir(),
        try_lock,
        || Ok(StoreLock::acquire(store)?),
        warn,
    )
}

/// Takes the store's shared lock for an audit: read-only, so a
/// write-protected copy of a store can be audited.
pub fn read_lock_store(dir: &Path, warn: &dyn Fn(&str)) -> Result<airlock_hsm::ReadLock, Error> {
    let try_lock = || Ok(airlock_hsm::ReadLock::try_acquire(dir)?);
    wait_for_store(
        dir,
        try_lock,
        || loop {
            std::thread::sleep(std::time::Duration::from_millis(50));
            if let Some(l) = try_lock()? {
                return Ok(l);
            }
        },
        warn,
    )
}

fn wait_for_store<L>(
    dir: &Path,
    mut try_lock: impl FnMut() -> Result<Option<L>, Error>,
    wait: impl FnOnce() -> Result<L, Error>,
    warn: &dyn Fn(&str),
) -> Result<L, Error> {
    if let Some(lock) = try_lock()? {
        return Ok(lock);
    }
    warn(&format!(
        "waiting for the trust store {}: another airlock process is using it",
        dir.display()
    ));
    let Some(limit) = LOCK_TIMEOUT.get().copied().flatten() else {
        return wait();
    };
    let deadline = std::time::Instant::now() + limit;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Some(lock) = try_lock()? {
            return Ok(lock);
        }
        if std::time::Instant::now() >= deadline {
            return Err(super::JournalEnvError::StoreBusy {
                dir: dir.to_owned(),
                secs: limit.as_secs(),
            }
            .into());
        }
    }
}
