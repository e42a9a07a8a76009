//! `unpack`: verify while extracting into a staging directory, then place it
//! atomically and record the import. Only on success does the store advance.
use airlock_hsm::{Acceptance, open_store};

use crate::cli::UnpackArgs;
use crate::cmd::Outcome;
use crate::cmd::verify::{check, describe, time_override};
use crate::error::Error;
use crate::journal::decision::{Decision, lock_store};
use crate::journal::{Journal, signer_of};
use crate::policy::verification_time;
use crate::staging::{Staging, undo_placement};
use crate::timefmt::now;

/// `airlock unpack BUNDLE --store STORE --to DIR`; then refreshes
/// `--metrics-file`.
pub fn run(a: &UnpackArgs, quiet: bool) -> Result<Outcome, Error> {
    let result = decide(a, quiet);
    crate::journal::metrics::refresh(&a.store.dir(), a.metrics_file.as_deref());
    result
}

fn decide(a: &UnpackArgs, quiet: bool) -> Result<Outcome, Error> {
    let at = time_override(a.at.as_deref())?;
    let store = open_store(&a.store.dir())?;
    let signer = signer_of(store.as_ref())?;
    let journal = Journal::new(store.dir(), signer.as_ref())?;
    let mut decision = Decision::new("unpack", &a.bundle, at);
    decision.destination = Some(a.to.clone());
    // Hold the store's lock from the freshness check to the commit, so two
    // imports of one bundle cannot both pass.
    let lock = lock_store(store.as_ref())?;
    let result = Staging::create(&a.to).and_then(|mut staging| {
        let state = store.state()?;
        let time = verification_time(at, &state, now());
        decision.time = Some(time);
        let verdict = check(
            &a.bundle,
            store.as_ref(),
            &state,
            time,
            quiet,
            &mut staging,
            "unpack",
            a.prompt,
            &mut decision.seen,
        )?;
        Ok((staging, verdict))
    });
    let (staging, verdict) = match result {
        Ok(v) => v,
        Err(e) => return Err(decision.record_refusal(store.as_ref(), &journal, &lock, e)),
    };
    // No acceptance without its record: the record is durable before
    // anything is placed. A full disk fails here (exit 3), with nothing
    // placed and the store unchanged.
    let anchor_before = store.anchor()?;
    let events = decision.accepted(&verdict, Some(&anchor_before));
    let extra = events.len() as u64 - 1;
    let accepted = journal.append(&lock, Some(store.journal_head()?), events)?;
    let record = (accepted, accepted.seq - extra);
    let placed = match staging.commit() {
        Ok(p) => p,
        Err(e) => {
            return Err(decision.record_abort(store.as_ref(), &journal, &lock, record, e));
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
        journal_head: accepted,
    };
    if let Err(e) = store.accept(&lock, &acceptance) {
        undo_placement(&placed);
        return Err(decision.record_abort(store.as_ref(), &journal, &lock, record, e.into()));
    }
    drop(lock);
    let mut o = Outcome::default();
    o.line(format!(
        "ACCEPTED {} -> {}",
        a.bundle.display(),
        placed.display()
    ));
    describe(&mut o, &verdict);
    o.line(format!("journal    record {}", record.1));
    o.field("accepted", true)
        .field("destination", placed.display().to_string())
        .field("journal_record", record.1);
    Ok(o)
}
