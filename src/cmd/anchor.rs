//! `anchor init` (file, TPM or PKCS#11 store), `anchor channels`, `anchor
//! floor` and `anchor show`.
use std::collections::BTreeSet;
use std::path::Path;

use airlock_hsm::{
    Anchor, FileStore, InitMode, JournalHead, Pkcs11Store, Provisioning, TrustStore, open_store,
};
use serde_json::json;

use crate::cmd::Outcome;
use crate::error::Error;
use crate::journal::decision::lock_store;
use crate::journal::{Event, Journal, signer_of};
use crate::timefmt::{format_utc, now};
use crate::trust_anchor::read_root;
use crate::trust_anchor::trusted_anchor;
use crate::tuf::Root;

/// Where and how `anchor init` provisions a store.
#[derive(Clone, Copy, Debug, Default)]
pub struct InitOptions<'a> {
    /// `--tpm TCTI`.
    pub tpm: Option<&'a str>,
    /// `--owner-auth-file`: the TPM owner's authorization value (needed to
    /// define, and to replace, the TPM anchor when the owner hierarchy has
    /// a password).
    pub owner_auth: Option<&'a Path>,
    /// `--pkcs11 URI`.
    pub pkcs11: Option<&'a str>,
    /// `--replace`: re-provision, keeping the state (and the journal).
    pub replace: bool,
    /// `--new-journal`: with `replace` onto hardware, close the journal
    /// (its key is gone or another) and start a new one.
    pub new_journal: bool,
    /// `--channel`: the channels the store accepts (required for a new
    /// store; with `replace`, replaces them when given).
    pub channels: &'a [String],
    /// `--allow-older-root`: with `replace`, go back to an older root.
    pub allow_older_root: bool,
}

/// `airlock anchor init` with all its options.
pub fn init_with(store: &Path, root_file: &Path, o: InitOptions<'_>) -> Result<Outcome, Error> {
    let InitOptions {
        tpm,
        owner_auth,
        pkcs11,
        replace,
        new_journal,
        channels,
        allow_older_root,
    } = o;
    let channels = channel_set(channels)?;
    if channels.is_empty() && !replace {
        return Err(Error::usage(
            "anchor init needs the channels the store accepts",
            "name each with --channel, e.g. --channel stable (change them later with `airlock anchor channels`)",
        ));
    }
    if new_journal && tpm.is_none() && pkcs11.is_none() {
        return Err(Error::usage(
            "--new-journal is for moving a store onto a TPM or token whose journal key is not the journal's",
            "a file store keeps its journal key: use --replace alone",
        ));
    }
    let (root, bytes) = read_root(root_file)?;
    // The anchor must stand on its own: self-signed by a threshold of its
    // root keys, and not expired.
    root.check_signed_by(&root)?;
    root.check_unexpired(now())?;
    let anchor = Anchor::new(bytes, root.version);
    if replace && !allow_older_root {
        refuse_older_root(store, &root)?;
    }
    if tpm.is_none() && pkcs11.is_none() {
        refuse_downgrade(store)?;
    }
    // The provisioning's journal records, written with the backend's
    // journal key before the store commits the head they end at.
    let journal = |p: &Provisioning<'_>| crate::journal::provision(p, &anchor);
    // The channels are part of the provisioning (and of its record); with
    // --replace and no --channel, the store keeps its own.
    let channels = (!channels.is_empty()).then_some(&channels);
    let s: Box<dyn TrustStore> = match (tpm, pkcs11) {
        (Some(tcti), _) => Box::new(init_tpm(
            store,
            tcti,
            (&anchor, channels),
            InitMode::from_flags(replace, new_journal),
            owner_auth,
            journal,
        )?),
        (None, Some(uri)) => Box::new(Pkcs11Store::init(
            store,
            uri,
            &anchor,
            channels,
            InitMode::from_flags(replace, new_journal),
            journal,
        )?),
        (None, None) => Box::new(FileStore::init(
            store,
            &anchor,
            channels,
            InitMode::from_flags(replace, false),
            journal,
        )?),
    };
    let mut o = Outcome::default();
    o.line(format!(
        "store {} anchored to root version {} (sha256 {})",
        store.display(),
        root.version,
        hex::encode(anchor.sha256)
    ));
    o.line(format!("backend: {}", s.backend().name()));
    let allowed = s.state()?.allowed_channels;
    o.line(format!("channels: {}", list_or_none(&allowed)));
    o.field(
        "allowed_channels",
        allowed.iter().cloned().collect::<Vec<_>>(),
    );
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
    if new_journal {
        let mut closed: Vec<String> = std::fs::read_dir(store)
            .map_err(|e| Error::input(store, e))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("journal.closed-"))
            .collect();
        closed.sort();
        for name in &closed {
            o.line(format!(
                "closed journal kept: {}/{name} (its record 1 names its key)",
                store.display()
            ));
        }
        o.field("closed_journals", closed);
    }
    o.field("store", store.display().to_string())
        .field("backend", s.backend().name())
        .field("root_version", root.version)
        .field("root_sha256", hex::encode(anchor.sha256));
    Ok(o)
}

fn list_or_none(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "none".into()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Whether `c` is a channel name as a manifest requires: 1 to 64 bytes of
/// `[A-Za-z0-9._-]`.
pub fn is_channel_name(c: &str) -> bool {
    (1..=64).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Checks channel names (see [`is_channel_name`]).
fn channel_set(names: &[String]) -> Result<BTreeSet<String>, Error> {
    names
        .iter()
        .map(|c| {
            if is_channel_name(c) {
                Ok(c.clone())
            } else {
                Err(Error::usage(
                    format!("{} is not a channel name", crate::excerpt(c)),
                    "a channel is 1 to 64 characters of A-Z a-z 0-9 . _ -",
                ))
            }
        })
        .collect()
}

/// Replaces the store's channels, journaled as `store.channels`.
fn set_channels(store: &dyn TrustStore, channels: &BTreeSet<String>) -> Result<(), Error> {
    let signer = signer_of(store)?;
    let journal = Journal::new(store.dir(), signer.as_ref())?;
    let lock = lock_store(store, &crate::cmd::warn)?;
    let before = store.state()?.allowed_channels;
    let event = Event::new(
        "store.channels",
        json!({
            "allowed": channels,
            "added": channels.difference(&before).collect::<Vec<_>>(),
            "removed": before.difference(channels).collect::<Vec<_>>(),
        }),
    );
    let head = journal.append(&lock, Some(store.journal_head()?), vec![event])?;
    lock.set_allowed_channels(channels, &head)?;
    Ok(())
}

/// `airlock anchor channels`: shows the channels the store accepts, or
/// allows and denies some (journaled).
pub fn channels(store: &Path, allow: &[String], deny: &[String]) -> Result<Outcome, Error> {
    let s = open_store(store)?;
    let (allow, deny) = (channel_set(allow)?, channel_set(deny)?);
    if let Some(both) = allow.intersection(&deny).next() {
        return Err(Error::usage(
            format!("channel {both} is both allowed and denied"),
            "name each channel in --allow or --deny, not both",
        ));
    }
    let mut o = Outcome::default();
    let mut set = s.state()?.allowed_channels;
    if !allow.is_empty() || !deny.is_empty() {
        set.extend(allow.iter().cloned());
        set.retain(|c| !deny.contains(c));
        set_channels(s.as_ref(), &set)?;
        o.line(format!(
            "store {} now accepts channels: {}",
            store.display(),
            list_or_none(&set)
        ));
    } else {
        o.line(format!(
            "store {} accepts channels: {}",
            store.display(),
            list_or_none(&set)
        ));
    }
    o.field("allowed_channels", set.into_iter().collect::<Vec<_>>());
    Ok(o)
}

/// `airlock anchor floor`: raises `channel`'s floor to `sequence`,
/// journaled as `store.floor` and bound in the store's state under its lock.
/// A floor at or below the current one is refused (`floor-not-raised`):
/// floors only go up, so a floor, once set, keeps out what it keeps out.
pub fn floor(store: &Path, channel: &str, sequence: u64) -> Result<Outcome, Error> {
    if !is_channel_name(channel) {
        return Err(Error::usage(
            format!("{} is not a channel name", crate::excerpt(channel)),
            "a channel is 1 to 64 characters of A-Z a-z 0-9 . _ -",
        ));
    }
    if sequence > crate::policy::MAX_SEQUENCE {
        return Err(Error::usage(
            format!(
                "--sequence {sequence} is above the largest sequence a bundle may carry, {}",
                crate::policy::MAX_SEQUENCE
            ),
            "give a floor of at most 2^53 - 1 (9007199254740991)",
        ));
    }
    let s = open_store(store)?;
    let signer = signer_of(s.as_ref())?;
    let journal = Journal::new(s.dir(), signer.as_ref())?;
    let lock = lock_store(s.as_ref(), &crate::cmd::warn)?;
    // Read under the lock: two raises cannot both pass against one floor.
    let previous = s.state()?.floors.get(channel).copied();
    if let Some(p) = previous.filter(|&p| sequence <= p) {
        return Err(Error::operator(
            "floor-not-raised",
            format!(
                "channel {channel} already has floor {p}; --sequence {sequence} would not raise it"
            ),
            "floors only go up: give a sequence above the current floor (`airlock anchor show` lists them)",
        ));
    }
    let event = Event::new(
        "store.floor",
        json!({"channel": channel, "floor": sequence, "previous": previous}),
    );
    let head = journal.append(&lock, Some(s.journal_head()?), vec![event])?;
    lock.set_floor(channel, sequence, &head)?;
    drop(lock);
    let mut o = Outcome::default();
    o.line(format!(
        "store {} now refuses bundles on channel {channel} below sequence {sequence}{}",
        store.display(),
        previous.map_or_else(String::new, |p| format!(" (was {p})"))
    ));
    o.line(format!("journal    record {}", head.seq));
    o.field("channel", channel)
        .field("floor", sequence)
        .field("previous", previous)
        .field("journal_record", head.seq);
    Ok(o)
}

/// `--replace` with a root older than the anchor in force would undo every
/// rotation since (keys the runbook retired would count again): that takes
/// `--allow-older-root`. A store that cannot be opened is left to the
/// backend's own re-provisioning checks.
fn refuse_older_root(store: &Path, root: &Root) -> Result<(), Error> {
    let Some(current) = open_store(store).ok().and_then(|s| s.anchor().ok()) else {
        return Ok(());
    };
    if root.version < current.version {
        return Err(Error::usage(
            format!(
                "the store is anchored to root version {}; --root is version {}: going back undoes every rotation after version {} and trusts the keys they retired again",
                current.version, root.version, root.version
            ),
            "give the newest root you trust; if going back is really meant (the newer roots are compromised), add --allow-older-root",
        ));
    }
    Ok(())
}

/// A store anchored in hardware is never quietly turned into a file store
/// (which would drop its protection): that takes a new directory.
fn refuse_downgrade(store: &Path) -> Result<(), Error> {
    let Ok(bytes) = std::fs::read(store.join(airlock_hsm::CONFIG_FILE)) else {
        return Ok(());
    };
    let backend = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["backend"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if backend.is_empty() || backend == "file" {
        return Ok(());
    }
    Err(Error::AnchoredInHardware {
        store: store.to_owned(),
        backend,
    })
}

#[cfg(feature = "tpm")]
fn init_tpm(
    store: &Path,
    tcti: &str,
    (anchor, channels): (&Anchor, Option<&BTreeSet<String>>),
    replace: InitMode,
    owner_auth: Option<&Path>,
    journal: impl FnOnce(&Provisioning<'_>) -> Result<JournalHead, Error>,
) -> Result<airlock_hsm::TpmStore, Error> {
    airlock_hsm::TpmStore::init(store, tcti, anchor, channels, replace, owner_auth, journal)
}

#[cfg(not(feature = "tpm"))]
fn init_tpm(
    _store: &Path,
    _tcti: &str,
    _anchor: (&Anchor, Option<&BTreeSet<String>>),
    _replace: InitMode,
    _owner_auth: Option<&Path>,
    _journal: impl FnOnce(&Provisioning<'_>) -> Result<JournalHead, Error>,
) -> Result<FileStore, Error> {
    Err(airlock_hsm::Error::Unsupported {
        backend: "tpm".into(),
        reason: "this build of airlock has no TPM support: use a build made with `--features tpm` (needs libtss2-dev), as scripts/test.sh and release builds are".into(),
    }
    .into())
}

/// `airlock anchor show`.
pub fn show(store: &Path) -> Result<Outcome, Error> {
    let s = open_store(store)?;
    let anchor = trusted_anchor(s.as_ref())?;
    let history = s.anchor_history()?;
    let state = s.state()?;
    let root = crate::trust_anchor::anchored_root(&anchor)?;
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
    if history.len() > 1 {
        o.line(format!(
            "chain      {} (the first held by the {} backend; each later one checked against it)",
            history
                .iter()
                .map(|a| format!("v{}", a.version))
                .collect::<Vec<_>>()
                .join(" -> "),
            s.backend().name()
        ));
    }
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
    o.line(format!(
        "accepts    channels {}",
        list_or_none(&state.allowed_channels)
    ));
    for (channel, seq) in &state.channels {
        o.line(format!("channel    {channel}: last sequence {seq}"));
    }
    for (channel, floor) in &state.floors {
        o.line(format!(
            "floor      {channel}: refuses sequences below {floor}"
        ));
    }
    for (channel, l) in &state.layouts {
        o.line(format!(
            "layout     {channel}: expires {}, sha256 {}",
            format_utc(l.expires),
            l.sha256
        ));
    }
    o.line(format!("imported   {} bundle(s)", state.imported()));
    let journal = match (s.journal_public_key(), s.journal_head()) {
        (Ok(k), Ok(h)) => {
            let id = airlock_hsm::journal::journal_keyid(&k);
            o.line(format!(
                "journal    {} key {id}, head record {}",
                k.algorithm().name(),
                h.seq
            ));
            json!({"keyid": id, "alg": k.algorithm().name(), "head_seq": h.seq, "head_sha256": hex::encode(h.sha256), "public_key_pem": k.to_spki_pem()})
        }
        (Err(airlock_hsm::Error::JournalNotStarted { .. }), _) => {
            o.line("journal    none (start one with `airlock journal init`)");
            serde_json::Value::Null
        }
        (Err(e), _) | (_, Err(e)) => return Err(e.into()),
    };
    let enclave = crate::policy::enclave_id(s.as_ref())?;
    o.line(format!(
        "enclave    {}",
        enclave
            .as_deref()
            .unwrap_or("none (a store without a journal has no enclave id)")
    ));
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
        .field("allowed_channels", json!(state.allowed_channels))
        .field("layouts", json!(state.layouts))
        .field(
            "root_chain",
            history.iter().map(|a| json!({"version": a.version, "sha256": hex::encode(a.sha256)})).collect::<Vec<_>>(),
        )
        .field("imported", state.imported())
        .field("journal", journal)
        .field("enclave_id", enclave)
        .field("floors", json!(state.floors))
        .field("latest_time", state.latest_time);
    Ok(o)
}
