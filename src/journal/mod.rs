//! The audit journal (`docs/journal-format.md`): every decision the isolated
//! side makes, recorded in the store as hash-chained, signed JSON lines.
//!
//! - [`canonical`] and [`record`]: the format of one record;
//! - [`chain`]: checking a journal or an export, record by record;
//! - [`writer`]: appending (the one place that writes the journal);
//! - [`decision`]: the records of `verify`, `unpack` and `intoto verify`;
//! - [`export`]: the self-contained extract for auditors;
//! - [`facts`]: a journal's figures, shared by [`metrics`] (Prometheus),
//!   [`report`] (the HTML audit report) — and [`siem`], the feed of
//!   records to a SIEM (JSON lines, CEF, RFC 5424 syslog).
//!
//! The store side (the file, crash-safe appends, the key and the head's
//! binding to the store's monotonic state) is `airlock_hsm::journal` and
//! the [`TrustStore`](airlock_hsm::TrustStore) trait.
use airlock_hsm::journal::journal_keyid;
use airlock_hsm::{Anchor, JournalHead, Provisioning, Signer, TrustStore};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::error::Error;

pub mod canonical;
pub mod chain;
pub mod decision;
mod env_error;
pub mod export;
pub mod facts;
pub mod metrics;
pub mod record;
pub mod report;
pub mod siem;
pub mod writer;

pub use chain::JournalError;
pub use env_error::JournalEnvError;
pub use writer::{Event, Journal};

/// The journal key as records and exports name it.
pub fn key_field(signer_key: &airlock_hsm::PublicKey) -> Value {
    json!({
        "alg": record::Alg::of_key(signer_key).map_or("unsupported", record::Alg::name),
        "keyid": journal_keyid(signer_key),
        "spki": base64::engine::general_purpose::STANDARD.encode(signer_key.to_spki_der()),
    })
}

/// The journal's signer for a command that will record its decision:
/// fails (exit 3) before anything is decided when the store cannot journal.
pub fn signer_of(store: &dyn TrustStore) -> Result<Box<dyn Signer>, Error> {
    Ok(store.journal_signer()?)
}

/// The first record of a journal: its key, and the anchor and state it
/// starts from.
fn started(p: &Provisioning<'_>, anchor: &Anchor) -> Event {
    Event::new(
        "journal.started",
        json!({
            "journal_key": key_field(p.signer.public_key()),
            "backend": p.backend.name(),
            "root_version": anchor.version,
            "root_sha256": hex::encode(anchor.sha256),
            "channels": p.state.channels,
            "imported": p.state.imported(),
        }),
    )
}

/// Writes the journal records of `anchor init`: `journal.started` when the
/// journal starts now, then `anchor.provisioned`. Returns the new head,
/// which the store binds in the commit that provisions it.
pub fn provision(p: &Provisioning<'_>, anchor: &Anchor) -> Result<JournalHead, Error> {
    let journal = Journal::new(p.dir, p.signer)?;
    let mut events = Vec::new();
    if p.head.is_none() {
        events.push(started(p, p.previous_anchor.as_ref().unwrap_or(anchor)));
    }
    events.push(Event::new(
        "anchor.provisioned",
        json!({
            "backend": p.backend.name(),
            "root_version": anchor.version,
            "root_sha256": hex::encode(anchor.sha256),
            "allowed_channels": p.state.allowed_channels,
            "replaced": p.previous_anchor.as_ref().map(|a| json!({
                "root_version": a.version,
                "root_sha256": hex::encode(a.sha256),
            })),
        }),
    ));
    Ok(journal.append(p.lock, p.head, events)?)
}

/// Writes the first record of a journal started on an existing store
/// (`journal init`).
pub fn start(p: &Provisioning<'_>) -> Result<JournalHead, Error> {
    let journal = Journal::new(p.dir, p.signer)?;
    let anchor = p
        .previous_anchor
        .as_ref()
        .ok_or_else(|| Error::Internal("journal init without an anchor".into()))?;
    Ok(journal.append(p.lock, None, vec![started(p, anchor)])?)
}
