//! `journal show`, `journal verify`, `journal export`, `journal init` and
//! `journal recover`.
use std::path::Path;

use airlock_hsm::{BackendKind, FileStore, JournalFile, TrustStore, open_store};
use serde_json::{Value, json};

use crate::cli::{JournalShowArgs, JournalVerifyArgs, OutcomeFilter};
use crate::cmd::{Outcome, warn};
use crate::error::Error;
use crate::journal::chain::{JournalError, Summary};
use crate::journal::decision::{lock_store, read_lock_store};
use crate::journal::export::{check_store, export as write_export, verify_export};
use crate::journal::record::Record;
use crate::journal::start;
use crate::journal::writer::{Journal, recovered};
use crate::keys::load_public_key;
use crate::timefmt::{format_utc, parse_utc};

/// Which records to show.
#[derive(Debug, Default)]
pub struct Filter {
    since: Option<u64>,
    until: Option<u64>,
    bundle: Option<String>,
    outcome: Option<&'static str>,
    event: Option<String>,
}

impl Filter {
    fn from_args(a: &JournalShowArgs) -> Result<Filter, Error> {
        let time = |s: &Option<String>, flag: &str| {
            s.as_deref()
                .map(|t| {
                    parse_utc(t).map_err(|e| {
                        Error::usage(e, format!("give {flag} as YYYY-MM-DDTHH:MM:SSZ (UTC)"))
                    })
                })
                .transpose()
        };
        Ok(Filter {
            since: time(&a.since, "--since")?,
            until: time(&a.until, "--until")?,
            bundle: a.bundle.clone(),
            outcome: a.outcome.map(|o| match o {
                OutcomeFilter::Accepted => "accepted",
                OutcomeFilter::Refused => "refused",
                OutcomeFilter::Failed => "failed",
                OutcomeFilter::Aborted => "aborted",
            }),
            event: a.event.clone(),
        })
    }

    fn matches(&self, r: &Record) -> bool {
        self.since.is_none_or(|t| r.time >= t)
            && self.until.is_none_or(|t| r.time < t)
            && self.event.as_deref().is_none_or(|e| r.event == e)
            && self
                .outcome
                .is_none_or(|o| r.str_field("outcome") == Some(o))
            && self.bundle.as_deref().is_none_or(|b| {
                !b.is_empty() && r.str_field("bundle_id").is_some_and(|id| id.starts_with(b))
            })
    }
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n).collect();
        t.push('…');
        t
    }
}

/// One table row's DETAIL column.
fn detail(r: &Record) -> String {
    let f = |k: &str| r.str_field(k).unwrap_or("?");
    let u = |k: &str| r.u64_field(k).map_or("?".to_owned(), |v| v.to_string());
    let error = || {
        r.fields
            .get("error")
            .map(|e| {
                let code = e.get("code").and_then(Value::as_str).unwrap_or("?");
                let message = e.get("message").and_then(Value::as_str).unwrap_or("");
                // Some messages already start with their code ("replay: …").
                let message = message
                    .strip_prefix(code)
                    .and_then(|m| m.strip_prefix(": "))
                    .unwrap_or(message);
                format!("{code}: {}", short(message, 100))
            })
            .unwrap_or_default()
    };
    let overrides = || {
        let mut o = String::new();
        if let Some(at) = r.str_field("at") {
            o.push_str(&format!(" [--at {at}]"));
        }
        if r.fields.get("run_inspections") == Some(&Value::Bool(true)) {
            o.push_str(" [--run-inspections]");
        }
        o
    };
    match r.event.as_str() {
        "verify" | "unpack" => match r.str_field("outcome") {
            Some("accepted") => {
                let mut s = format!(
                    "bundle {} {}#{}, {} artifacts ({} bytes), root v{}",
                    short(f("bundle_id"), 16),
                    f("channel"),
                    u("sequence"),
                    u("artifacts"),
                    u("artifact_bytes"),
                    u("root_version")
                );
                if let Some(d) = r.str_field("destination") {
                    s.push_str(&format!(" -> {d}"));
                }
                s + &overrides()
            }
            _ => format!("{} ({})", error(), short(f("bundle_file"), 60)) + &overrides(),
        },
        "intoto.verify" => {
            let e = error();
            format!(
                "layout {}{}",
                short(f("layout_file"), 60),
                if e.is_empty() {
                    String::new()
                } else {
                    format!(": {e}")
                }
            ) + &overrides()
        }
        "anchor.provisioned" => {
            let mut s = format!(
                "root v{} sha256 {}",
                u("root_version"),
                short(f("root_sha256"), 16)
            );
            if let Some(old) = r.fields.get("replaced").filter(|v| !v.is_null()) {
                s.push_str(&format!(
                    ", replacing root v{}",
                    old.get("root_version").and_then(Value::as_u64).unwrap_or(0)
                ));
            }
            s
        }
        "anchor.advanced" => format!(
            "root v{} -> v{} by bundle {}",
            u("old_root_version"),
            u("new_root_version"),
            short(f("bundle_id"), 16)
        ),
        "journal.started" => format!(
            "key {} {}, root v{}",
            r.fields["journal_key"]["alg"].as_str().unwrap_or("?"),
            short(r.fields["journal_key"]["keyid"].as_str().unwrap_or("?"), 16),
            u("root_version")
        ),
        "journal.exported" => format!("{} records to {}", u("records"), f("out")),
        "store.channels" => {
            let list = |k: &str| {
                r.fields[k]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default()
            };
            format!(
                "accepts [{}] (added [{}], removed [{}])",
                list("allowed"),
                list("added"),
                list("removed")
            )
        }
        "store.floor" => format!(
            "channel {} floor {} (was {})",
            f("channel"),
            u("floor"),
            r.fields
                .get("previous")
                .and_then(Value::as_u64)
                .map_or_else(|| "none".to_owned(), |p| p.to_string())
        ),
        "policy.set" => format!(
            "policy sha256 {} ({})",
            short(f("sha256"), 16),
            f("language")
        ),
        "policy.cleared" => "no policy".to_owned(),
        "journal.recovered" => {
            let mut s = format!("uncommitted records {}", r.fields["uncommitted"]);
            if let Some(t) = r.fields.get("torn").filter(|v| !v.is_null()) {
                s.push_str(&format!(", torn line {}", t["line"]));
            }
            s
        }
        "import.interrupted" => format!(
            "bundle {}: kept {} entries ({} bytes), discarded {} files",
            short(f("bundle_id"), 16),
            u("kept_entries"),
            u("kept_bytes"),
            u("discarded_files")
        ),
        "import.resumed" => format!(
            "bundle {}: read from payload frame {} (byte {})",
            short(f("bundle_id"), 16),
            u("frame"),
            u("offset")
        ),
        _ => String::new(),
    }
}

/// The table row of a record.
pub fn row(r: &Record) -> String {
    format!(
        "{:>5}  {}  {:<18}  {:<8}  {}",
        r.seq,
        format_utc(r.time),
        r.event,
        r.str_field("outcome").unwrap_or("-"),
        detail(r)
    )
}

/// The table row of a record whose operation did not commit: whatever its
/// outcome says, the store never recorded it.
fn uncommitted_row(r: &Record) -> String {
    format!(
        "{:>5}  {}  {:<18}  {:<8}  NOT COMMITTED (the store did not record it; nothing it accepted counts): {}",
        r.seq,
        format_utc(r.time),
        r.event,
        r.str_field("outcome").unwrap_or("-"),
        detail(r)
    )
}

/// The table header.
pub const HEADER: &str = "  SEQ  TIME                  EVENT               OUTCOME   DETAIL";

fn open_journaled(dir: &Path) -> Result<Box<dyn TrustStore>, Error> {
    let store = open_store(dir)?;
    store.journal_head()?;
    Ok(store)
}

/// Checks the store's journal, emitting each record that `filter` keeps as
/// a table row (or its line, with `json`) once it has been checked.
pub fn show_records(
    dir: &Path,
    filter: &Filter,
    json: bool,
    emit: &mut dyn FnMut(String),
) -> Result<(Summary, u64), Error> {
    let store = open_journaled(dir)?;
    let key = store.journal_public_key()?;
    let _lock = read_lock_store(store.dir(), &crate::cmd::warn)?;
    // Records an operation wrote and then did not commit (a crash, a full
    // disk): after the store's head, or named by a later
    // `journal.recovered`. The table says so on their rows.
    let mut uncommitted = std::collections::BTreeSet::new();
    if !json {
        let head = store.journal_head()?.seq;
        // A damaged journal is reported by the pass below, after the rows
        // that check.
        let _ = check_store(store.as_ref(), &key, |r| {
            if r.seq > head {
                uncommitted.insert(r.seq);
            }
            if r.event == "journal.recovered"
                && let Some(seqs) = r.fields.get("uncommitted").and_then(Value::as_array)
            {
                uncommitted.extend(seqs.iter().filter_map(Value::as_u64));
            }
        });
        emit(HEADER.to_owned());
    }
    let mut shown = 0u64;
    let (summary, _) = check_store(store.as_ref(), &key, |r| {
        if filter.matches(r) {
            shown += 1;
            emit(if json {
                String::from_utf8_lossy(&r.line).into_owned()
            } else if uncommitted.contains(&r.seq) {
                uncommitted_row(r)
            } else {
                row(r)
            });
        }
    })?;
    Ok((summary, shown))
}

fn summary_warnings(s: &Summary) {
    if !s.after_head.is_empty() {
        warn(&format!(
            "record(s) {:?} come after the store's head: an operation wrote them and then did not commit (a crash or a failure); the next command on this store records that",
            s.after_head
        ));
    }
    for l in &s.recovered_lines {
        warn(&format!(
            "line {l} is a torn record (a crash while it was written), recorded by `journal recover`"
        ));
    }
}

/// `airlock journal show`.
pub fn show(a: &JournalShowArgs, json: bool) -> Result<Outcome, Error> {
    let filter = Filter::from_args(a)?;
    let mut out = std::io::stdout().lock();
    let (summary, shown) = show_records(&a.store.dir(), &filter, json, &mut |l| {
        use std::io::Write;
        // A record's strings come from bundles and operators: escaped here,
        // exact in the journal (and, for `--json`, exact once parsed).
        let l = if json {
            crate::cmd::terminal::json_safe(&l)
        } else {
            crate::cmd::terminal::safe(&l)
        };
        let _ = writeln!(out, "{l}");
    })?;
    summary_warnings(&summary);
    let mut o = Outcome {
        streamed: true,
        ..Outcome::default()
    };
    o.line(format!(
        "{shown} of {} records shown; the journal verifies (chain, signatures, head)",
        summary.records
    ));
    Ok(o)
}

/// `airlock journal verify`.
pub fn verify(a: &JournalVerifyArgs) -> Result<Outcome, Error> {
    if let Some(export) = &a.export {
        return verify_export_cmd(export, a.key.as_deref());
    }
    let Some(store) = &a.store else {
        return Err(Error::usage(
            "journal verify needs --store STORE (or --export FILE)",
            "give the store directory, set AIRLOCK_STORE, or check an export with --export FILE",
        ));
    };
    let dir = store.dir();
    verify_store(&dir).map_err(|e| match e {
        // For an auditor a rolled-back hardware store is a journal whose
        // end cannot be trusted: tampering (exit 1), not a broken machine.
        Error::Hsm(airlock_hsm::Error::StoreRollback { reason, .. }) => {
            JournalError::HeadRolledBack { reason }.into()
        }
        e => e,
    })
}

fn verify_store(dir: &Path) -> Result<Outcome, Error> {
    let (summary, _) = show_records(dir, &Filter::default(), true, &mut |_| {})?;
    summary_warnings(&summary);
    let last = summary.last.map_or(0, |h| h.seq);
    let store = open_store(dir)?;
    let head = store.journal_head()?;
    let key = store.journal_public_key()?;
    let mut o = Outcome::default();
    o.line(format!(
        "journal intact: {} records (1 to {last}); chain and signatures verify",
        summary.records
    ));
    o.line(format!(
        "head: record {} (sha256 {}), bound to the store's state ({} store)",
        head.seq,
        hex::encode(head.sha256),
        store.backend().name()
    ));
    o.line(format!(
        "key:  {} {}",
        key.algorithm().name(),
        airlock_hsm::journal::journal_keyid(&key)
    ));
    if store.backend() == BackendKind::File {
        o.line("note: a file store's head is a plain file; someone who can rewrite the store directory can truncate the journal and its head together undetected (see docs/journal-format.md)");
    }
    o.field("intact", true)
        .field("records", summary.records)
        .field(
            "head",
            json!({"seq": head.seq, "sha256": hex::encode(head.sha256)}),
        )
        .field("journal_keyid", airlock_hsm::journal::journal_keyid(&key))
        .field("after_head", summary.after_head.clone())
        .field("recovered_lines", summary.recovered_lines.clone());
    Ok(o)
}

fn verify_export_cmd(path: &Path, key: Option<&Path>) -> Result<Outcome, Error> {
    let expected = key.map(load_public_key).transpose()?;
    let s = verify_export(path, expected.as_ref(), |_| {})?;
    summary_warnings(&s.chain);
    let keyid = airlock_hsm::journal::journal_keyid(&s.key);
    if expected.is_none() {
        warn(&format!(
            "no --key given: the export is consistent with the key it carries ({keyid}); compare that keyid with the one recorded when the store was provisioned"
        ));
    }
    let mut o = Outcome::default();
    o.line(format!(
        "export intact: {} records, chain and signatures verify, ending with its own export record",
        s.records
    ));
    o.line(format!(
        "exported {} from a {} store",
        s.exported, s.backend
    ));
    o.line(format!(
        "key:    {} {keyid}{}",
        s.key.algorithm().name(),
        if expected.is_some() {
            " (the expected key)"
        } else {
            " (carried by the export)"
        }
    ));
    o.line(format!(
        "anchor: root version {} (sha256 {}), targets keys {}",
        s.root.version,
        s.root_sha256,
        s.root.targets.keyids.join(", ")
    ));
    o.field("intact", true)
        .field("records", s.records)
        .field("journal_keyid", keyid)
        .field("key_pinned", expected.is_some())
        .field("root_version", s.root.version)
        .field("root_sha256", s.root_sha256.clone())
        .field("exported", s.exported.clone());
    Ok(o)
}

/// `airlock journal export`.
pub fn export(dir: &Path, out: &Path) -> Result<Outcome, Error> {
    let store = open_journaled(dir)?;
    let lock = lock_store(store.as_ref(), &crate::cmd::warn)?;
    let head = write_export(store.as_ref(), out, &lock)?;
    let mut o = Outcome::default();
    o.line(format!(
        "exported {} journal records to {} (the last one records this export)",
        head.seq,
        out.display()
    ));
    o.line(format!(
        "check it anywhere with: airlock journal verify --export {}",
        out.display()
    ));
    o.field("out", out.display().to_string())
        .field("records", head.seq);
    Ok(o)
}

/// `airlock journal init`.
pub fn init(dir: &Path) -> Result<Outcome, Error> {
    let store = open_store(dir)?;
    match store.journal_head() {
        Err(airlock_hsm::Error::JournalNotStarted { .. }) => {}
        Err(e) => return Err(e.into()),
        Ok(_) => {
            return Err(crate::journal::JournalEnvError::Exists(dir.to_owned()).into());
        }
    }
    if store.backend() != BackendKind::File {
        return Err(airlock_hsm::Error::Unsupported {
            backend: store.backend().name().into(),
            reason: "only file stores can be without a journal: re-provision the store with `anchor init --replace`".into(),
        }
        .into());
    }
    let fs = FileStore::open(dir)?;
    let lock = lock_store(&fs, &crate::cmd::warn)?;
    FileStore::start_journal(&lock, start)?;
    let key = fs.journal_public_key()?;
    let mut o = Outcome::default();
    o.line(format!(
        "started the journal of {}: record 1, signed by {} key {}",
        dir.display(),
        key.algorithm().name(),
        airlock_hsm::journal::journal_keyid(&key)
    ));
    o.line("(decisions made before now were not journaled; record 1 notes the state the journal starts from)");
    o.field("journal_keyid", airlock_hsm::journal::journal_keyid(&key));
    Ok(o)
}

/// `airlock journal recover`.
pub fn recover(dir: &Path) -> Result<Outcome, Error> {
    let store = open_journaled(dir)?;
    let lock = lock_store(store.as_ref(), &crate::cmd::warn)?;
    let key = store.journal_public_key()?;
    let mut pending = Vec::new();
    let head = store.journal_head()?;
    let result = check_store(store.as_ref(), &key, |r| {
        if r.seq > head.seq {
            pending.push(r.clone());
        }
    });
    let torn_line = match result {
        Ok((s, _)) if s.after_head.is_empty() => {
            let mut o = Outcome::default();
            o.line("nothing to recover: the journal is intact and committed");
            return Ok(o);
        }
        Ok(_) => None,
        Err(Error::Journal(JournalError::Torn { line, .. })) => Some(line),
        Err(e) => {
            return Err(crate::journal::JournalEnvError::Damaged(format!(
                "the journal is damaged beyond a torn last line, which is not what a crash leaves (keep the store as it is and investigate): {e}"
            ))
            .into());
        }
    };
    let signer = store.journal_signer()?;
    let journal = Journal::new(dir, signer.as_ref())?;
    let file = JournalFile::in_dir(dir);
    let tail = file.tail(|_| true)?;
    let last = match pending.last() {
        Some(r) => airlock_hsm::JournalHead {
            seq: r.seq,
            sha256: r.sha256,
        },
        None => head,
    };
    let torn = match (torn_line, &tail.torn) {
        (Some(line), Some(bytes)) => Some((line, bytes.as_slice())),
        _ => None,
    };
    let event = recovered(&pending, torn);
    airlock_hsm::fault::point("journal-recover-before-append");
    // One append: the line end closing the torn line and the record naming
    // it, so a crash cannot leave a closed torn line that nothing records.
    let new = if torn.is_some() {
        journal.write_ending_torn_line(&lock, Some(last), vec![event])?
    } else {
        journal.write(&lock, Some(last), vec![event])?
    };
    airlock_hsm::fault::point("journal-recover-before-bind");
    lock.bind_journal_head(&new)?;
    let mut o = Outcome::default();
    if let Some(line) = torn_line {
        o.line(format!(
            "recorded the torn line {line} in record {}; the torn bytes stay in the journal",
            new.seq
        ));
    }
    if !pending.is_empty() {
        o.line(format!(
            "recorded that records {:?} were never committed",
            pending.iter().map(|r| r.seq).collect::<Vec<_>>()
        ));
    }
    o.field("record", new.seq);
    Ok(o)
}
