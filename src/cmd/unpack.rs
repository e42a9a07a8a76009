//! `unpack`: verify while extracting into a staging directory, then place it
//! atomically and record the import. Only on success does the store advance.
use airlock_hsm::{Acceptance, open_store};

use crate::cli::UnpackArgs;
use crate::cmd::verify::{check, describe, time_override};
use crate::cmd::{Outcome, warn};
use crate::error::Error;
use crate::policy::verification_time;
use crate::staging::{Staging, undo_placement};
use crate::timefmt::now;

/// `airlock unpack BUNDLE --store STORE --to DIR`.
pub fn run(a: &UnpackArgs, quiet: bool) -> Result<Outcome, Error> {
    let at = time_override(a.at.as_deref())?;
    let store = open_store(&a.store.dir())?;
    let mut staging = Staging::create(&a.to)?;
    // Hold the store's lock from the freshness check to the commit, so two
    // imports of one bundle cannot both pass.
    let lock = match store.try_lock()? {
        Some(lock) => lock,
        None => {
            warn(&format!(
                "waiting for the trust store {}: another airlock process is importing into it",
                store.dir().display()
            ));
            store.lock()?
        }
    };
    let state = store.state()?;
    let time = verification_time(at, &state, now());
    let verdict = check(
        &a.bundle,
        store.as_ref(),
        &state,
        time,
        quiet,
        &mut staging,
        "unpack",
        a.prompt,
    )?;
    let placed = staging.commit()?;
    let acceptance = Acceptance {
        channel: verdict.channel.clone(),
        sequence: verdict.sequence,
        bundle_id: verdict.bundle_id.clone(),
        // The store's clock moves only to authenticated time: the signed
        // creation time of what it accepted. Neither --at nor a wrongly set
        // system clock can push it forward.
        time: verdict.created,
        new_anchor: verdict.new_anchor.clone(),
    };
    if let Err(e) = store.accept(&lock, &acceptance) {
        undo_placement(&placed);
        return Err(e.into());
    }
    drop(lock);
    let mut o = Outcome::default();
    o.line(format!(
        "ACCEPTED {} -> {}",
        a.bundle.display(),
        placed.display()
    ));
    describe(&mut o, &verdict);
    o.field("accepted", true)
        .field("destination", placed.display().to_string());
    Ok(o)
}
