//! `policy set|clear|show|test` (the enclave's own pinned policy,
//! `crate::gate`) and `receipt verify`.
use std::path::Path;

use airlock_hsm::{PolicyPin, open_store};
use serde_json::{Value, json};

use crate::cmd::Outcome;
use crate::cmd::Output;
use crate::cmd::verify::{check, open_bundle, time_override};
use crate::error::Error;
use crate::fsutil::{ensure_dir, read_limited, replace_file};
use crate::gate::file::MAX_POLICY_BYTES;
use crate::gate::pin::{self, POLICY_DIR, Pinned};
use crate::gate::{Outcome as RuleOutcome, RuleResult, input, judge, receipt};
use crate::journal::decision::lock_store;
use crate::journal::{Event, Journal, signer_of};
use crate::policy::verification_time;
use crate::timefmt::now;
use crate::verifier::{Discard, Observed};

/// The most of a receipt `receipt verify` reads.
const MAX_RECEIPT_BYTES: u64 = 64 << 20;

fn read_policy(file: &Path) -> Result<(Vec<u8>, Pinned), Error> {
    let bytes = read_limited(file, MAX_POLICY_BYTES as u64, "the policy file")?;
    let pinned = pin::parse(&bytes)?;
    Ok((bytes, pinned))
}

fn summary(p: &Pinned) -> Value {
    json!({
        "sha256": p.sha256,
        "name": p.policy.name,
        "language": p.policy.language.name(),
        "rules": p.policy.rule_names(),
        "limits": {"time_ms": p.policy.limits.time_ms, "memory_mib": p.policy.limits.memory_mib},
    })
}

/// `airlock policy set --store STORE FILE` (`file`), or `policy clear`
/// (`None`): journaled as `policy.set` / `policy.cleared`, then pinned.
pub fn set(store_dir: &Path, file: Option<&Path>) -> Result<Outcome, Error> {
    let new = file.map(read_policy).transpose()?;
    let store = open_store(store_dir)?;
    let signer = signer_of(store.as_ref())?;
    let journal = Journal::new(store.dir(), signer.as_ref())?;
    let lock = lock_store(store.as_ref(), &super::warn)?;
    let before = store.state()?.policy.map(|p| p.sha256);
    // The file first, under its digest: the state never pins a file that
    // is not there.
    if let Some((bytes, p)) = &new {
        ensure_dir(&store.dir().join(POLICY_DIR))?;
        replace_file(&pin::path(store.dir(), &p.sha256), bytes)?;
    }
    let event = match &new {
        Some((_, p)) => {
            let mut f = summary(p);
            f["previous_sha256"] = json!(before);
            Event::new("policy.set", f)
        }
        None => Event::new("policy.cleared", json!({"previous_sha256": before})),
    };
    let head = journal.append(&lock, Some(store.journal_head()?), vec![event])?;
    let pin_to = new.as_ref().map(|(_, p)| PolicyPin {
        sha256: p.sha256.clone(),
    });
    lock.set_policy(pin_to.as_ref(), &head)?;
    // The policy it replaced is no longer pinned: its file goes.
    if let Some(old) = &before
        && Some(old) != pin_to.as_ref().map(|p| &p.sha256)
    {
        let _ = std::fs::remove_file(pin::path(store.dir(), old));
    }
    drop(lock);
    let mut o = Outcome::default();
    match &new {
        Some((_, p)) => {
            o.line(format!(
                "store {} now holds bundles to policy sha256:{} ({} rules: {})",
                store_dir.display(),
                p.sha256,
                p.policy.rule_names().len(),
                p.policy.rule_names().join(", ")
            ));
            o.field("policy", summary(p));
        }
        None => {
            o.line(format!(
                "store {} has no policy: airlock's own checks decide alone",
                store_dir.display()
            ));
            o.field("policy", Value::Null);
        }
    }
    o.line(format!("journal    record {}", head.seq));
    o.field("previous_sha256", before)
        .field("journal_record", head.seq);
    Ok(o)
}

/// `airlock policy show --store STORE`.
pub fn show(store_dir: &Path) -> Result<Outcome, Error> {
    let store = open_store(store_dir)?;
    let state = store.state()?;
    let mut o = Outcome::default();
    match pin::load(store.as_ref(), &state)? {
        None => {
            o.line(format!(
                "store {} has no policy: airlock's own checks decide alone",
                store_dir.display()
            ));
            o.field("policy", Value::Null);
        }
        Some(p) => {
            o.line(format!("policy     sha256:{}", p.sha256));
            if let Some(n) = &p.policy.name {
                o.line(format!("name       {n}"));
            }
            o.line(format!("language   {}", p.policy.language.name()));
            o.line(format!("rules      {}", p.policy.rule_names().join(", ")));
            o.line(format!(
                "limits     {} ms, {} MiB",
                p.policy.limits.time_ms, p.policy.limits.memory_mib
            ));
            o.line(String::new());
            for l in p.text.lines() {
                o.line(l.to_owned());
            }
            let mut f = summary(&p);
            f["text"] = json!(p.text);
            o.field("policy", f);
        }
    }
    Ok(o)
}

fn rule_line(r: &RuleResult) -> String {
    let word = match r.outcome {
        RuleOutcome::Pass => "PASS ",
        RuleOutcome::Fail => "FAIL ",
        RuleOutcome::Error => "ERROR",
    };
    match &r.detail {
        Some(d) if r.outcome != RuleOutcome::Pass => format!("{word} {}: {d}", r.name),
        _ => format!("{word} {}", r.name),
    }
}

/// `airlock policy test FILE BUNDLE --store STORE`: the bundle verified as
/// `verify` would (nothing journaled), then FILE evaluated on it.
pub fn test(
    file: &Path,
    bundle: &Path,
    store_dir: &Path,
    at: Option<&str>,
    output: Output,
) -> Result<Outcome, Error> {
    let (_, pinned) = read_policy(file)?;
    let at = time_override(at)?;
    let store = open_store(store_dir)?;
    let mut state = store.state()?;
    // A dry run of the policy, not of freshness: a bundle already imported
    // (or older than the channel's last) can be tried too. Without the
    // channels' last sequences, no bundle is a replay or a rollback (the
    // ledger is asked only about a sequence not above its channel's last).
    state.channels.clear();
    let time = verification_time(at, &state, now());
    let opened = open_bundle(bundle, output, "verify", false)?;
    let verdict = check(
        opened,
        store.as_ref(),
        &state,
        time,
        &mut Discard,
        &mut Observed::default(),
        crate::verifier::InspectionPolicy::Evaluate,
    )?;
    let doc = input::Document::of(&verdict, state.latest_time).to_value();
    let results = crate::gate::evaluate(&pinned, &doc)?;
    let lines: Vec<String> = results.iter().map(rule_line).collect();
    match judge(&pinned, results.clone()) {
        Ok(_) => {
            let mut o = Outcome::default();
            for l in lines {
                o.line(l);
            }
            o.line(format!(
                "ADMITTED by policy sha256:{} (dry run: nothing recorded)",
                pinned.sha256
            ));
            o.field("admitted", true)
                .field("policy", summary(&pinned))
                .field("rules", serde_json::to_value(&results).unwrap_or_default())
                .field("input", doc);
            Ok(o)
        }
        Err(e) => {
            for l in lines {
                crate::cmd::terminal::eprint_line(&l);
            }
            Err(e.into())
        }
    }
}

/// `airlock receipt verify RECEIPT --key JOURNAL-PUBKEY [--journal EXPORT]`.
pub fn verify_receipt(file: &Path, key: &Path, journal: Option<&Path>) -> Result<Outcome, Error> {
    let key = crate::keys::load_public_key(key)?;
    let bytes = read_limited(file, MAX_RECEIPT_BYTES, "the receipt")?;
    let checked = receipt::verify(&bytes, &key)?;
    let st = &checked.statement;
    let p = &st["predicate"];
    let a = &p["airlock"];
    let mut o = Outcome::default();
    if let Some(export) = journal {
        receipt::check_journal(st, export, &key)?;
        o.line(format!(
            "journal    record {} in {} is this {}'s, signed by the same key",
            a["journal"]["seq"],
            export.display(),
            a["command"].as_str().unwrap_or("?")
        ));
    }
    o.field("journal_checked", journal.is_some());
    o.line(format!(
        "VALID receipt {} signed by journal key {}",
        file.display(),
        airlock_hsm::journal::journal_keyid(&key)
    ));
    o.line(format!(
        "result     {} at {} ({})",
        p["verificationResult"].as_str().unwrap_or("?"),
        p["timeVerified"].as_str().unwrap_or("?"),
        a["command"].as_str().unwrap_or("?")
    ));
    o.line(format!(
        "bundle     {} (channel {} sequence {})",
        a["bundle_id"].as_str().unwrap_or("?"),
        a["channel"].as_str().unwrap_or("?"),
        a["sequence"]
    ));
    o.line(format!(
        "policy     {}",
        p["policy"]["uri"].as_str().unwrap_or("?")
    ));
    o.line(format!(
        "subjects   {}",
        st["subject"].as_array().map_or(0, Vec::len)
    ));
    o.line(format!("journal    record {}", a["journal"]["seq"]));
    o.field("valid", true)
        .field("keyid", airlock_hsm::journal::journal_keyid(&key))
        .field("statement", st.clone());
    Ok(o)
}
