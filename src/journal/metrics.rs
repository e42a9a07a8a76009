//! `airlock metrics`: the store's figures in the Prometheus text exposition
//! format (version 0.0.4), for node_exporter's textfile collector or any
//! scraper (`docs/monitoring.md` lists every metric).
//!
//! Everything is computed from the checked journal ([`Facts`]) and the
//! store (anchor, state, hardware counter, head), so the figures are
//! always consistent with the evidence. No label carries a bundle id or
//! another unbounded value: commands, outcomes and error codes are fixed
//! sets, and channels count only once a bundle on them was accepted.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use airlock_hsm::{BackendKind, open_store};

use crate::error::Error;
use crate::journal::chain::{JournalError, Summary};
use crate::journal::decision::lock_store;
use crate::journal::export::check_store;
use crate::journal::facts::{Facts, Histogram};
use crate::timefmt::now;

/// What the store itself says (not the journal).
#[derive(Debug, Clone)]
pub struct StoreFacts {
    /// The backend.
    pub backend: BackendKind,
    /// The anchored root's version.
    pub root_version: u64,
    /// When it expires (unix seconds).
    pub root_expires: u64,
    /// Its SHA-256 (hex).
    pub root_sha256: String,
    /// Last accepted sequence per channel.
    pub channels: BTreeMap<String, u64>,
    /// Bundle ids in the store's ledger (including imports from before
    /// the journal started).
    pub ledger: u64,
    /// The store's latest authenticated time.
    pub latest_time: u64,
    /// The hardware counter (hardware stores).
    pub counter: Option<u64>,
    /// The journal head's seq.
    pub head_seq: u64,
}

/// One reading of a store: its facts, and its journal's (or why the
/// journal does not verify).
#[derive(Debug)]
pub struct Snapshot {
    /// When it was taken.
    pub generated: u64,
    /// The store's facts.
    pub store: StoreFacts,
    /// The journal's figures, or why it is not intact.
    pub journal: Result<(Facts, Summary), JournalError>,
}

/// Reads the store and checks its journal under the store's lock.
pub fn collect(dir: &Path, warn: &dyn Fn(&str)) -> Result<Snapshot, Error> {
    let store = open_store(dir)?;
    let key = store.journal_public_key()?;
    let lock = lock_store(store.as_ref(), warn)?;
    let anchor = crate::trust_anchor::trusted_anchor(store.as_ref())?;
    let root = crate::trust_anchor::anchored_root(&anchor)?;
    let state = store.state()?;
    let store_facts = StoreFacts {
        backend: store.backend(),
        root_version: root.version,
        root_expires: root.expires,
        root_sha256: hex::encode(anchor.sha256),
        channels: state.channels.clone(),
        ledger: state.imported(),
        latest_time: state.latest_time,
        counter: store.hardware_counter()?,
        head_seq: store.journal_head()?.seq,
    };
    let mut facts = Facts::default();
    let journal = match check_store(store.as_ref(), &key, |r| facts.add(r)) {
        Ok((summary, _)) => Ok((facts.finish(Some(&summary)), summary)),
        Err(Error::Journal(e)) => Err(e),
        Err(e) => return Err(e),
    };
    drop(lock);
    Ok(Snapshot {
        generated: now(),
        store: store_facts,
        journal,
    })
}

/// A label value, escaped for the exposition format.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

fn num(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The exposition being written.
struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", esc(val));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", num(v));
    }

    fn gauge(&mut self, name: &str, help: &str, v: f64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], v);
    }

    fn histogram(&mut self, name: &str, label: &str, hs: &BTreeMap<String, Histogram>) {
        for (l, h) in hs {
            for (bound, c) in h.cumulative() {
                let b = num(bound);
                self.sample(
                    &format!("{name}_bucket"),
                    &[(label, l.as_str()), ("le", b.as_str())],
                    c as f64,
                );
            }
            self.sample(&format!("{name}_sum"), &[(label, l.as_str())], h.sum);
            self.sample(
                &format!("{name}_count"),
                &[(label, l.as_str())],
                h.count as f64,
            );
        }
    }
}

/// The exposition of a snapshot.
pub fn render(s: &Snapshot) -> String {
    let mut o = Out(String::new());
    let st = &s.store;
    o.gauge(
        "airlock_metrics_generated_timestamp_seconds",
        "When these figures were computed from the journal and the store (unix seconds).",
        s.generated as f64,
    );
    o.family(
        "airlock_store_info",
        "gauge",
        "The store's backend (file, tpm, pkcs11); always 1.",
    );
    o.sample("airlock_store_info", &[("backend", st.backend.name())], 1.0);
    o.family(
        "airlock_store_counter",
        "gauge",
        "The hardware monotonic counter the store's state is bound to (TPM and PKCS#11 stores; no sample for a file store).",
    );
    if let Some(c) = st.counter {
        o.sample("airlock_store_counter", &[], c as f64);
    }
    o.gauge(
        "airlock_root_version",
        "Version of the anchored (trusted) root.",
        st.root_version as f64,
    );
    o.gauge(
        "airlock_root_expiry_timestamp_seconds",
        "When the anchored root expires (unix seconds).",
        st.root_expires as f64,
    );
    o.gauge(
        "airlock_root_expires_in_seconds",
        "Seconds from generation until the anchored root expires (negative: expired).",
        st.root_expires as f64 - s.generated as f64,
    );
    o.gauge(
        "airlock_bundles_in_ledger",
        "Bundle ids in the store's ledger of imports (including imports from before the journal started).",
        st.ledger as f64,
    );
    o.gauge(
        "airlock_store_latest_time_seconds",
        "The store's latest authenticated time: the newest creation time of an imported bundle (unix seconds; 0: none).",
        st.latest_time as f64,
    );
    o.family(
        "airlock_channel_last_sequence",
        "gauge",
        "The last accepted sequence number per channel, from the store's state.",
    );
    for (c, q) in &st.channels {
        o.sample(
            "airlock_channel_last_sequence",
            &[("channel", c)],
            *q as f64,
        );
    }
    o.gauge(
        "airlock_journal_head_seq",
        "The seq of the journal record bound to the store's state.",
        st.head_seq as f64,
    );
    let (facts, summary) = match &s.journal {
        Ok(j) => j,
        Err(e) => {
            o.gauge(
                "airlock_journal_intact",
                "1 when the journal verifies (sequence, chain, signatures, the store's head), 0 when it does not.",
                0.0,
            );
            o.family(
                "airlock_journal_verify_failure_info",
                "gauge",
                "Why the journal does not verify (its error code); always 1. No other journal figures are given for a journal that does not verify.",
            );
            o.sample(
                "airlock_journal_verify_failure_info",
                &[("code", e.code())],
                1.0,
            );
            return o.0;
        }
    };
    o.gauge(
        "airlock_journal_intact",
        "1 when the journal verifies (sequence, chain, signatures, the store's head), 0 when it does not.",
        1.0,
    );
    o.gauge(
        "airlock_journal_records",
        "Records in the journal (all checked).",
        facts.records as f64,
    );
    if let Some(t) = facts.last_time {
        o.gauge(
            "airlock_journal_head_timestamp_seconds",
            "When the journal's last record was written (unix seconds).",
            t as f64,
        );
        o.gauge(
            "airlock_journal_head_age_seconds",
            "Seconds from the journal's last record to generation.",
            s.generated.saturating_sub(t) as f64,
        );
    }
    o.gauge(
        "airlock_journal_uncommitted_records",
        "Records after the store's head: written by an operation that did not commit (the next command records that).",
        summary.after_head.len() as f64,
    );
    o.family(
        "airlock_journal_key_info",
        "gauge",
        "The journal key as record 1 names it; always 1.",
    );
    if let Some((alg, keyid)) = &facts.key {
        o.sample(
            "airlock_journal_key_info",
            &[("alg", alg), ("keyid", keyid)],
            1.0,
        );
    }
    o.family(
        "airlock_journal_recoveries_total",
        "counter",
        "journal.recovered records: interrupted operations acknowledged.",
    );
    o.sample(
        "airlock_journal_recoveries_total",
        &[],
        facts.recoveries as f64,
    );

    o.family(
        "airlock_decisions_total",
        "counter",
        "Decisions recorded in the journal by command (verify, unpack, intoto.verify), outcome (accepted, refused, failed, aborted) and error code (none when accepted).",
    );
    for ((c, out, code), n) in &facts.decisions {
        o.sample(
            "airlock_decisions_total",
            &[("command", c), ("outcome", out), ("code", code)],
            *n as f64,
        );
    }
    o.family(
        "airlock_last_refusal_timestamp_seconds",
        "gauge",
        "When the last refusal with this command and code was recorded (unix seconds), with the hint the operator was shown then.",
    );
    for ((c, code), (t, _, hint)) in &facts.last_refusal {
        o.sample(
            "airlock_last_refusal_timestamp_seconds",
            &[("command", c), ("code", code), ("hint", hint)],
            *t as f64,
        );
    }
    o.family(
        "airlock_policy_denials_total",
        "counter",
        "Refusals by the store's enclave policy (docs/policy.md), one count per rule that failed (code policy-denied) or could not be evaluated (policy-error), by command and rule name (as the policy names it: 1-64 of A-Z a-z 0-9 . _ -; other beyond 200 distinct names).",
    );
    for ((c, rule, code), n) in &facts.policy_denials {
        o.sample(
            "airlock_policy_denials_total",
            &[("command", c), ("rule", rule), ("code", code)],
            *n as f64,
        );
    }
    o.family(
        "airlock_time_overrides_total",
        "counter",
        "Decisions made with --at (a verification-time override).",
    );
    for (c, n) in &facts.overrides {
        o.sample("airlock_time_overrides_total", &[("command", c)], *n as f64);
    }
    o.family(
        "airlock_decision_duration_seconds",
        "histogram",
        "Wall-clock time of a verify/unpack run, from its start to its decision (records with duration_ms).",
    );
    o.histogram(
        "airlock_decision_duration_seconds",
        "command",
        &facts.durations,
    );
    o.family(
        "airlock_decision_bundle_bytes",
        "histogram",
        "Size of the bundle a verify/unpack run read, whatever the outcome.",
    );
    o.histogram(
        "airlock_decision_bundle_bytes",
        "command",
        &facts.bundle_bytes,
    );
    o.family(
        "airlock_verified_artifact_bytes_total",
        "counter",
        "Artifact bytes of accepted bundles (each checked against its signed digest).",
    );
    for (c, n) in &facts.artifact_bytes {
        o.sample(
            "airlock_verified_artifact_bytes_total",
            &[("command", c)],
            *n as f64,
        );
    }
    o.family(
        "airlock_imports_total",
        "counter",
        "Committed imports (accepted unpacks that were neither aborted nor left uncommitted) per channel.",
    );
    for (c, ch) in &facts.channels {
        o.sample(
            "airlock_imports_total",
            &[("channel", c)],
            ch.imports as f64,
        );
    }
    o.family(
        "airlock_attested_subjects_total",
        "counter",
        "Artifacts and images of committed imports named by a subject of a verified attestation, per channel (attestation coverage: divide by airlock_attestable_subjects_total).",
    );
    for (c, ch) in &facts.channels {
        o.sample(
            "airlock_attested_subjects_total",
            &[("channel", c)],
            ch.attested_subjects as f64,
        );
    }
    o.family(
        "airlock_attestable_subjects_total",
        "counter",
        "Artifacts and images of committed imports, per channel (records from before coverage was recorded count 0).",
    );
    for (c, ch) in &facts.channels {
        o.sample(
            "airlock_attestable_subjects_total",
            &[("channel", c)],
            ch.attestable_subjects as f64,
        );
    }
    o.family(
        "airlock_last_import_timestamp_seconds",
        "gauge",
        "When the last committed import on the channel was recorded (unix seconds).",
    );
    for (c, ch) in &facts.channels {
        if let Some(l) = &ch.last {
            o.sample(
                "airlock_last_import_timestamp_seconds",
                &[("channel", c)],
                l.time as f64,
            );
        }
    }
    o.family(
        "airlock_last_import_info",
        "gauge",
        "The last committed import per channel: its sequence, root version and signers (keyids); always 1.",
    );
    for (c, ch) in &facts.channels {
        if let Some(l) = &ch.last {
            let seq = l.sequence.to_string();
            let rv = l.root_version.map_or_else(String::new, |v| v.to_string());
            let signers = l.signers.join(",");
            o.sample(
                "airlock_last_import_info",
                &[
                    ("channel", c),
                    ("sequence", &seq),
                    ("root_version", &rv),
                    ("signers", &signers),
                ],
                1.0,
            );
        }
    }
    o.family(
        "airlock_root_rotations_total",
        "counter",
        "Root rotations carried by committed imports (anchor.advanced records).",
    );
    o.sample(
        "airlock_root_rotations_total",
        &[],
        facts.root_rotations as f64,
    );
    o.family(
        "airlock_anchor_provisionings_total",
        "counter",
        "anchor init runs recorded (the first provisioning and every --replace).",
    );
    o.sample(
        "airlock_anchor_provisionings_total",
        &[],
        facts.provisionings as f64,
    );
    o.0
}

/// Computes the metrics of the store `dir` and writes them to `out`
/// atomically (mode 0644 for a new file, so a collector running as another
/// user can read it), or returns them for stdout when `out` is `None`.
/// A journal that does not verify is reported in the figures
/// (`airlock_journal_intact 0`) and then as the error.
pub fn write(
    dir: &Path,
    out: Option<&Path>,
    warn: &dyn Fn(&str),
) -> Result<(Snapshot, String), Error> {
    let snapshot = collect(dir, warn)?;
    let text = render(&snapshot);
    if let Some(path) = out {
        crate::fsutil::replace_file_with(path, 0o644, |w| w.write_all(text.as_bytes()))?;
    }
    Ok((snapshot, text))
}

/// After a decision: refreshes the metrics file `out` of the store `dir`,
/// warning (never failing the decision) when it cannot.
pub fn refresh(dir: &Path, out: Option<&Path>, warn: &dyn Fn(&str)) {
    let Some(out) = out else { return };
    match write(dir, Some(out), warn) {
        Ok((s, _)) => {
            if let Err(e) = s.journal {
                warn(&format!(
                    "the metrics in {} report a journal that does not verify: {e}",
                    out.display()
                ));
            }
        }
        Err(e) => warn(&format!(
            "could not refresh the metrics file {}: {e}",
            out.display()
        )),
    }
}
