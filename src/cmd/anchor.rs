//! `anchor init` and `anchor show`.
use std::path::Path;

use airlock_hsm::{Anchor, FileStore, TrustStore, open_store};
use serde_json::json;

use crate::cmd::Outcome;
use crate::cmd::root::read_root;
use crate::error::Error;
use crate::timefmt::{format_utc, now};
use crate::tuf::Root;

/// `airlock anchor init`.
pub fn init(
    store: &Path,
    root_file: &Path,
    tpm: Option<&str>,
    pkcs11: Option<&str>,
    replace: bool,
) -> Result<Outcome, Error> {
    if tpm.is_some() || pkcs11.is_some() {
        return Err(Error::env(
            "backend-unsupported",
            "TPM and PKCS#11 trust stores are not supported by this build yet",
            "provision a file store (no --tpm/--pkcs11) for now; it protects nothing against a local root user",
        ));
    }
    let (root, bytes) = read_root(root_file)?;
    // The anchor must stand on its own: self-signed by a threshold of its
    // root keys, and not expired.
    root.check_signed_by(&root)?;
    root.check_unexpired(now())?;
    let anchor = Anchor::new(bytes, root.version);
    let s = FileStore::init(store, &anchor, replace, |p| {
        crate::journal::provision(p, &anchor)
    })?;
    let mut o = Outcome::default();
    o.line(format!(
        "store {} anchored to root version {} (sha256 {})",
        store.display(),
        root.version,
        hex::encode(anchor.sha256)
    ));
    o.line(format!("backend: {}", s.backend().name()));
    for p in s.protections() {
        o.line(format!("  {p}"));
    }
    let journal_key = s.journal_public_key()?;
    let journal_keyid = airlock_hsm::journal::journal_keyid(&journal_key);
    o.line(format!(
        "journal: {}/journal.jsonl, signed by {} key {journal_keyid} (note this keyid for auditors), head record {}",
        store.display(),
        journal_key.algorithm().name(),
        s.journal_head()?.seq
    ));
    o.field("journal_keyid", journal_keyid);
    o.field("store", store.display().to_string())
        .field("backend", s.backend().name())
        .field("root_version", root.version)
        .field("root_sha256", hex::encode(anchor.sha256));
    Ok(o)
}

/// `airlock anchor show`.
pub fn show(store: &Path) -> Result<Outcome, Error> {
    let s = open_store(store)?;
    let anchor = s.anchor()?;
    let state = s.state()?;
    let root = Root::parse(&anchor.root_json).map_err(|e| {
        Error::env(
            "store-corrupt",
            format!("the anchored root does not parse: {e}"),
            "re-provision the store with `anchor init --replace`",
        )
    })?;
    let mut o = Outcome::default();
    o.line(format!("store      {}", store.display()));
    o.line(format!("backend    {}", s.backend().name()));
    for p in s.protections() {
        o.line(format!("           {p}"));
    }
    o.line(format!(
        "root       version {}, expires {}, sha256 {}",
        root.version,
        format_utc(root.expires),
        hex::encode(anchor.sha256)
    ));
    o.line(format!(
        "root role  {} of {}: {}",
        root.root.threshold,
        root.root.keyids.len(),
        root.root.keyids.join(", ")
    ));
    o.line(format!(
        "targets    {} of {}: {}",
        root.targets.threshold,
        root.targets.keyids.len(),
        root.targets.keyids.join(", ")
    ));
    for (channel, seq) in &state.channels {
        o.line(format!("channel    {channel}: last sequence {seq}"));
    }
    o.line(format!("imported   {} bundle(s)", state.accepted.len()));
    let journal = match (s.journal_public_key(), s.journal_head()) {
        (Ok(k), Ok(h)) => {
            let id = airlock_hsm::journal::journal_keyid(&k);
            o.line(format!(
                "journal    {} key {id}, head record {}",
                k.algorithm().name(),
                h.seq
            ));
            json!({"keyid": id, "alg": k.algorithm().name(), "head_seq": h.seq, "head_sha256": hex::encode(h.sha256)})
        }
        (Err(airlock_hsm::Error::JournalNotStarted { .. }), _) => {
            o.line("journal    none (start one with `airlock journal init`)");
            serde_json::Value::Null
        }
        (Err(e), _) | (_, Err(e)) => return Err(e.into()),
    };
    o.line(format!(
        "latest time seen {}",
        if state.latest_time == 0 {
            "never".into()
        } else {
            format_utc(state.latest_time)
        }
    ));
    o.field("store", store.display().to_string())
        .field("backend", s.backend().name())
        .field("protections", s.protections())
        .field(
            "root",
            json!({"version": root.version, "expires": format_utc(root.expires), "sha256": hex::encode(anchor.sha256),
                   "root_keyids": root.root.keyids, "root_threshold": root.root.threshold,
                   "targets_keyids": root.targets.keyids, "targets_threshold": root.targets.threshold}),
        )
        .field("channels", json!(state.channels))
        .field("imported", state.accepted.len())
        .field("journal", journal)
        .field("latest_time", state.latest_time);
    Ok(o)
}
