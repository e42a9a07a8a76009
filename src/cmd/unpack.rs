//! `unpack`: verify while extracting into a staging directory, then place it
//! atomically and record the import. Only on success does the store advance.
use airlock_hsm::{Acceptance, open_store};

use crate::cli::UnpackArgs;
use crate::cmd::Outcome;
use crate::cmd::Output;
use crate::cmd::verify::{check, describe, open_bundle, time_override};
use crate::error::Error;
use crate::journal::decision::{Decision, lock_store};
use crate::journal::{Journal, signer_of};
use crate::policy::verification_time;
use crate::publish::stream::{Tee, Uploader};
use crate::staging::Staging;
use crate::timefmt::{format_utc, now};

/// The verification time of an import: `--at` may move it forward of the
/// store's clock (a machine whose clock is behind), never back — that would
/// import what has already expired by the store's own clock. (`verify`,
/// which imports nothing, may look back.)
fn import_time(at: Option<u64>, state: &airlock_hsm::StoreState) -> Result<u64, Error> {
    let clock = verification_time(None, state, now());
    match at {
        Some(t) if t < clock => Err(Error::usage(
            format!(
                "--at {} is before the verification time {} (the later of the system clock and the store's clock): an import only moves time forward",
                format_utc(t),
                format_utc(clock)
            ),
            "to check a bundle as of an earlier time use `airlock verify --at`, which imports nothing",
        )),
        _ => Ok(verification_time(at, state, now())),
    }
}

/// `airlock unpack BUNDLE --store STORE --to DIR`; then refreshes
/// `--metrics-file`.
pub fn run(a: &UnpackArgs, output: Output) -> Result<Outcome, Error> {
    let result = decide(a, output, Destination::Operator, None);
    crate::journal::metrics::refresh(&a.store.dir(), a.metrics_file.as_deref(), &crate::cmd::warn);
    result
}

/// `publish BUNDLE`'s import: `a.to` is the store's own
/// `imports/BUNDLE_ID`, the one place in the store's directory where an
/// import may be placed. With `uploader`, each image blob is also streamed
/// to the target registry as it is checked (`crate::publish::stream`).
pub fn import_into_store(
    a: &UnpackArgs,
    output: Output,
    uploader: Option<&mut Uploader>,
) -> Result<Outcome, Error> {
    let result = decide(a, output, Destination::StoreImports, uploader);
    crate::journal::metrics::refresh(&a.store.dir(), a.metrics_file.as_deref(), &crate::cmd::warn);
    result
}

/// Where an unpack may place what it verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Destination {
    /// Where the operator said, never inside the trust store.
    Operator,
    /// The store's `imports/` (publish).
    StoreImports,
}

fn decide(
    a: &UnpackArgs,
    output: Output,
    destination: Destination,
    uploader: Option<&mut Uploader>,
) -> Result<Outcome, Error> {
    let at = time_override(a.at.as_deref())?;
    let store = open_store(&a.store.dir())?;
    // Journaled, printed and placed as one absolute path, whatever the
    // working directory: a later delta finds its base's files by it.
    let to = absolute_destination(&a.to);
    if destination == Destination::Operator {
        refuse_destination_in_store(&to, store.dir())?;
    }
    let signer = signer_of(store.as_ref())?;
    let journal = Journal::new(store.dir(), signer.as_ref())?;
    let inspections = crate::cmd::verify::inspection_policy(a.run_inspections)?;
    let mut decision = Decision::new("unpack", &a.bundle, at);
    decision.run_inspections = inspections != crate::verifier::InspectionPolicy::Evaluate;
    decision.destination = Some(to.clone());
    // The bundle is opened (a regular file, readable) before the lock: a
    // FIFO or a file that cannot be read never holds the store.
    let opened = open_bundle(&a.bundle, output, "unpack", a.prompt.asks());
    // Hold the store's lock from the freshness check to the commit, so two
    // imports of one bundle cannot both pass.
    let lock = lock_store(store.as_ref(), &crate::cmd::warn)?;
    let result = opened.and_then(|opened| {
        // A bundle whose payload is cut into frames stages under a name of
        // its own, which a run interrupted by kill -9 leaves behind for the
        // next run to resume from (docs/transfers.md, section 7).
        let mut staging = match opened.resumable_id(&a.bundle) {
            Some(id) => Staging::create_resumable(&to, &id)?,
            None => Staging::create(&to)?,
        };
        let state = store.state()?;
        let time = import_time(at, &state)?;
        decision.time = Some(time);
        let mut tee;
        let sink: &mut dyn crate::verifier::ArtifactSink = match uploader {
            Some(uploader) => {
                tee = Tee {
                    inner: &mut staging,
                    uploader,
                };
                &mut tee
            }
            None => &mut staging,
        };
        let checked = check(
            opened,
            store.as_ref(),
            &state,
            time,
            sink,
            &mut decision.seen,
            inspections,
        );
        let verdict = match checked {
            Ok(verdict) => verdict,
            // The input stopped (a medium pulled, a copy cut short): what
            // was staged stays for the same command to resume from.
            Err(e) if e.is_input_interruption() => {
                if let Some(kept) = staging.keep_for_resume() {
                    crate::cmd::warn(&format!(
                        "the files verified so far are kept in {}: run the same command again, with the whole bundle readable, to resume from where it stopped (each is re-hashed first)",
                        kept.display()
                    ));
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        // Last, the enclave's own policy (if the store pins one): on a
        // denial the staging directory goes, nothing is placed.
        // The input document is kept in the store (its SHA-256 in the
        // record): `publish` evaluates the store's policy on it again.
        let doc = crate::gate::input::Document::of(&verdict, state.latest_time);
        let admission = crate::gate::enforce_document(store.as_ref(), &state, &doc)?;
        let input = crate::gate::input::encode(&doc);
        Ok((staging, verdict, (admission, input)))
    });
    let (staging, verdict, (admission, (input, input_sha256))) = result.map_err(|e| {
        decision.record_refusal(store.as_ref(), &journal, &lock, e, &crate::cmd::warn)
    })?;
    decision.policy = admission.as_ref().map(crate::gate::Admission::field);
    decision.policy_input = Some(input_sha256.clone());
    // No acceptance without its record: the record is durable before
    // anything is placed. A full disk fails here (exit 3), with nothing
    // placed and the store unchanged.
    let anchor_before = store.anchor()?;
    let mut events = decision.resume_events();
    let lead = events.len();
    events.extend(decision.accepted(&verdict, Some(&anchor_before)));
    // The unpack record's number: the resume records come before it.
    let extra = (events.len() - lead) as u64 - 1;
    let accepted = journal.append(&lock, Some(store.journal_head()?), events)?;
    let record = (accepted, accepted.seq - extra);
    let placed = match staging.commit(verdict.artifacts) {
        Ok(p) => p,
        Err(e) => {
            return Err(decision.record_abort(&journal, &lock, record, e, &crate::cmd::warn));
        }
    };
    let acceptance = Acceptance {
        channel: verdict.channel.clone(),
        sequence: verdict.sequence,
        bundle_id: verdict.bundle_id.clone(),
        // The store's clock moves only to authenticated time: the signed
        // creation time of what it accepted. Neither --at nor a wrongly set
        // system clock can push it forward.
        time: verdict.created,
        new_anchor: verdict.new_anchor.clone(),
        layout: Some(verdict.supply_chain.layout.clone()),
        journal_head: accepted,
    };
    if let Err(e) = lock.accept(&acceptance) {
        placed.undo();
        return Err(decision.record_abort(&journal, &lock, record, e.into(), &crate::cmd::warn));
    }
    crate::gate::input::keep(store.dir(), &input, &input_sha256, &crate::cmd::warn);
    drop(lock);
    let receipt = crate::gate::receipt::path_for(placed.path());
    let receipt = crate::gate::receipt::deliver(
        &crate::gate::receipt::About::import(&verdict),
        admission.as_ref(),
        crate::gate::receipt::JournalRef {
            seq: record.1,
            head: accepted,
        },
        signer.as_ref(),
        &receipt,
        &crate::cmd::warn,
    )
    .filter(|(_, _, written)| *written)
    .map(|_| receipt);
    let mut o = Outcome::default();
    o.line(format!(
        "ACCEPTED {} -> {}",
        a.bundle.display(),
        placed.path().display()
    ));
    describe(&mut o, &verdict);
    if let Some(m) = placed.metadata_path() {
        o.line(format!(
            "metadata   {} (roots, layout, links, attestations, manifest)",
            m.display()
        ));
    }
    crate::cmd::verify::describe_admission(&mut o, admission.as_ref());
    if let Some(r) = &receipt {
        o.line(format!("receipt    {}", r.display()));
    }
    o.field("receipt", receipt.map(|r| r.display().to_string()));
    o.line(format!("journal    record {}", record.1));
    o.field("accepted", true)
        .field("destination", placed.path().display().to_string())
        .field(
            "metadata_destination",
            crate::staging::metadata_dir(placed.path())
                .display()
                .to_string(),
        )
        .field("journal_record", record.1);
    match decision.seen.resumed {
        Some(r) => {
            o.line(format!(
                "resumed    kept {} of the interrupted import's entries ({} bytes), discarded {} files; read from payload frame {} (byte {})",
                r.kept, r.kept_bytes, r.discarded, r.frame, r.offset
            ));
            o.field(
                "resumed",
                serde_json::json!({
                    "frame": r.frame,
                    "offset": r.offset,
                    "kept_entries": r.kept,
                    "kept_bytes": r.kept_bytes,
                    "discarded_files": r.discarded,
                }),
            );
        }
        None => {
            o.field("resumed", serde_json::Value::Null);
        }
    }
    Ok(o)
}

/// `to` as an absolute path: its parent directory resolved (links
/// followed, as the staging directory will be created in it) and its own
/// name kept; a path whose parent does not resolve is only made absolute
/// (it is refused with its own error later).
fn absolute_destination(to: &std::path::Path) -> std::path::PathBuf {
    if let (Some(name), Ok(parent)) = (to.file_name(), crate::fsutil::parent_dir(to).canonicalize())
    {
        return parent.join(name);
    }
    std::path::absolute(to).unwrap_or_else(|_| to.to_owned())
}

/// Refuses a destination inside the trust store's directory: artifacts must
/// never land among the store's files.
fn refuse_destination_in_store(to: &std::path::Path, store: &std::path::Path) -> Result<(), Error> {
    let parent = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let (Ok(parent), Ok(store)) = (parent.canonicalize(), store.canonicalize()) else {
        // A missing parent is refused with its own error later.
        return Ok(());
    };
    if parent.starts_with(&store) {
        return Err(Error::operator(
            "destination-in-store",
            format!(
                "--to {} is inside the trust store {}",
                to.display(),
                store.display()
            ),
            "unpack outside the trust store's directory",
        ));
    }
    Ok(())
}
