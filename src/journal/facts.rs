//! What a journal says, in figures: decisions by command, outcome and code,
//! imports per channel, refusals per code and per day, latency and size
//! distributions. Built from checked records, one at a time (memory grows
//! with the number of imports, as the store's own ledger does, never with
//! the journal's length); shared by `airlock metrics`
//! ([`crate::journal::metrics`]) and the HTML report
//! ([`crate::journal::report`]).
//!
//! Only authenticated values become categories: a channel counts once a
//! bundle on it was accepted (a refused bundle's channel is the manifest's
//! unauthenticated claim), and an error code only when it has the shape of
//! airlock's codes.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::journal::chain::Summary;
use crate::journal::record::Record;

/// The commands whose records carry a decision (`outcome`).
pub const DECIDING: [&str; 3] = ["verify", "unpack", "intoto.verify"];

/// Upper bounds (seconds) of the decision-duration histogram's buckets.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];

/// Upper bounds (bytes) of the bundle-size histogram's buckets.
pub const SIZE_BUCKETS: [f64; 10] = [
    1e4,
    1e5,
    1e6,
    1e7,
    1e8,
    1e9,
    4.294_967_295e9,
    1e10,
    2.5e10,
    1e11,
];

/// The codes that suggest an attack rather than an accident: a signature,
/// rollback, replay, root-chain or supply-chain refusal (the alert
/// `AirlockPossibleAttack` matches the same set).
pub fn is_attack_code(code: &str) -> bool {
    code.starts_with("signature-")
        || code.starts_with("root-")
        || code.starts_with("layout-")
        || code.starts_with("link-")
        || code.starts_with("rule-")
        || code.starts_with("attestation-")
        || matches!(
            code,
            "signatures-malformed"
                | "rollback"
                | "replay"
                | "digest-mismatch"
                | "payload-digest-mismatch"
                | "payload-frame-mismatch"
                | "artifact-unbound"
                | "size-mismatch"
                | "not-in-manifest"
                | "bundle-id-mismatch"
                | "volume-index-mismatch"
                | "volume-foreign"
        )
}

/// The longest hint kept as a label value (characters).
const MAX_HINT: usize = 240;

/// A cumulative histogram over fixed bucket bounds.
#[derive(Debug, Clone)]
pub struct Histogram {
    /// Upper bounds, ascending.
    pub bounds: &'static [f64],
    /// Observations at or below each bound (not cumulative).
    pub counts: Vec<u64>,
    /// Sum of the observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// An empty histogram over `bounds`.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    /// Adds one observation.
    pub fn observe(&mut self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| v <= b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    /// (bound, cumulative count) per bucket, ending with `+Inf`.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut acc = 0;
        let mut out: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .zip(&self.counts)
            .map(|(&b, &c)| {
                acc += c;
                (b, acc)
            })
            .collect();
        out.push((f64::INFINITY, self.count));
        out
    }
}

/// One accepted import, as its `unpack` record names it.
#[derive(Debug, Clone)]
pub struct Import {
    /// The record's `seq`.
    pub seq: u64,
    /// When it was recorded.
    pub time: u64,
    /// The channel.
    pub channel: String,
    /// The sequence number on the channel.
    pub sequence: u64,
    /// Keyids whose signatures counted.
    pub signers: Vec<String>,
    /// Root version the bundle was checked against.
    pub root_version: Option<u64>,
    /// Artifacts and images named by a verified attestation (0 in records
    /// from before coverage was recorded).
    pub attested_subjects: u64,
    /// Artifacts and images in the bundle (0 in such older records).
    pub attestable_subjects: u64,
}

/// What the imports on one channel add up to.
#[derive(Debug, Clone, Default)]
pub struct Channel {
    /// Committed imports.
    pub imports: u64,
    /// The last import.
    pub last: Option<Import>,
    /// Artifacts and images of committed imports named by a verified
    /// attestation.
    pub attested_subjects: u64,
    /// Artifacts and images of committed imports (records that say so).
    pub attestable_subjects: u64,
}

/// Refusals and imports on one day (or other period).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Day {
    /// Committed imports.
    pub imports: u64,
    /// Bundles accepted by `verify` (checked, not imported).
    pub verified: u64,
    /// Refused decisions (exit 1).
    pub refused: u64,
    /// Failed runs (exit 2 or 3) and aborted imports.
    pub failed: u64,
}

/// The figures of a journal.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Records read.
    pub records: u64,
    /// Time of the first and the last record.
    pub first_time: Option<u64>,
    /// Time of the last record.
    pub last_time: Option<u64>,
    /// Decisions by (command, outcome, code); `code` is `none` for an
    /// accepted run and `other` for a code that is not airlock-shaped.
    pub decisions: BTreeMap<(String, String, String), u64>,
    /// Decision durations (seconds) by command, from `duration_ms`.
    pub durations: BTreeMap<String, Histogram>,
    /// Bundle sizes (bytes) read by `verify`/`unpack`, by command.
    pub bundle_bytes: BTreeMap<String, Histogram>,
    /// Artifact bytes of accepted bundles, by command.
    pub artifact_bytes: BTreeMap<String, u64>,
    /// Runs with `--at` (a verification-time override), by command.
    pub overrides: BTreeMap<String, u64>,
    /// Refusals (exit 1) by code.
    pub refusals_by_code: BTreeMap<String, u64>,
    /// Refusals by the enclave policy (`policy-denied`, `policy-error`), by
    /// (command, rule, code): one count per rule that failed or erred.
    pub policy_denials: BTreeMap<(String, String, String), u64>,
    /// The last refusal per (command, code): (time, seq, hint).
    pub last_refusal: BTreeMap<(String, String), (u64, u64, String)>,
    /// Per day (days since the epoch, UTC).
    pub days: BTreeMap<u64, Day>,
    /// Committed imports per channel (after [`Facts::finish`]).
    pub channels: BTreeMap<String, Channel>,
    /// The seqs of the `unpack` records of committed imports (after
    /// [`Facts::finish`]).
    pub imported: BTreeSet<u64>,
    /// Root rotations carried by committed imports.
    pub root_rotations: u64,
    /// Anchors provisioned (`anchor init`, including `--replace`).
    pub provisionings: u64,
    /// The anchor the journal last recorded: (root version, sha256).
    pub anchor: Option<(u64, String)>,
    /// The journal key as record 1 names it: (alg, keyid).
    pub key: Option<(String, String)>,
    /// `journal.recovered` records.
    pub recoveries: u64,
    /// Accepted `unpack` records, by seq, until [`Facts::finish`] drops
    /// the ones that were aborted or never committed.
    pending: BTreeMap<u64, Import>,
    /// `anchor.advanced` records, by seq, likewise.
    advanced: BTreeSet<u64>,
    /// Seqs that were aborted or recorded as uncommitted.
    cancelled: BTreeSet<u64>,
}

/// A code usable as a category: airlock's codes are short kebab-case.
pub fn code_label(code: Option<&str>) -> String {
    match code {
        Some(c)
            if !c.is_empty()
                && c.len() <= 64
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
        {
            c.to_owned()
        }
        _ => "other".to_owned(),
    }
}

/// The most distinct rule labels the policy-denial metric keeps; later
/// rules count under `other`.
pub const MAX_RULE_LABELS: usize = 200;

/// A policy rule name usable as a label: as a policy may name it (1 to 64
/// of `A-Z a-z 0-9 . _ -`, `crate::gate::file::is_rule_name`), else `other`.
pub fn rule_label(name: Option<&str>) -> String {
    match name {
        Some(n) if crate::gate::file::is_rule_name(n) => n.to_owned(),
        _ => "other".to_owned(),
    }
}

/// The error code of a record (`None` when it has no error).
pub fn error_code(r: &Record) -> Option<&str> {
    r.fields
        .get("error")
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
}

impl Facts {
    /// Adds one checked record.
    pub fn add(&mut self, r: &Record) {
        self.records += 1;
        self.first_time.get_or_insert(r.time);
        self.last_time = Some(r.time);
        let day = r.time / 86_400;
        match r.event.as_str() {
            "journal.started" => {
                let k = r.fields.get("journal_key");
                let s = |n: &str| {
                    k.and_then(|k| k.get(n))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                self.key = Some((s("alg"), s("keyid")));
                self.track_anchor(r, "root_version", "root_sha256");
            }
            "anchor.provisioned" => {
                self.provisionings += 1;
                self.track_anchor(r, "root_version", "root_sha256");
            }
            "anchor.advanced" => {
                self.advanced.insert(r.seq);
                self.track_anchor(r, "new_root_version", "new_root_sha256");
            }
            "journal.recovered" => {
                self.recoveries += 1;
                if let Some(Value::Array(u)) = r.fields.get("uncommitted") {
                    self.cancelled.extend(u.iter().filter_map(Value::as_u64));
                }
            }
            e if DECIDING.contains(&e) => self.add_decision(r, day),
            _ => {}
        }
    }

    /// One count per rule a policy refusal names (record field `policy`).
    fn add_policy_denials(&mut self, r: &Record, command: &str, code: &str) {
        if !matches!(code, "policy-denied" | "policy-error") {
            return;
        }
        let Some(Value::Array(rules)) = r.fields.get("policy").and_then(|p| p.get("rules")) else {
            return;
        };
        for rule in rules {
            let mut label = rule_label(rule.as_str());
            let known = self.policy_denials.keys().any(|(_, r, _)| *r == label);
            let distinct: std::collections::BTreeSet<&String> =
                self.policy_denials.keys().map(|(_, r, _)| r).collect();
            if !known && distinct.len() >= MAX_RULE_LABELS {
                label = "other".to_owned();
            }
            *self
                .policy_denials
                .entry((command.to_owned(), label, code.to_owned()))
                .or_default() += 1;
        }
    }

    fn track_anchor(&mut self, r: &Record, v: &str, s: &str) {
        if let (Some(v), Some(s)) = (r.u64_field(v), r.str_field(s)) {
            self.anchor = Some((v, s.to_owned()));
        }
    }

    fn add_decision(&mut self, r: &Record, day: u64) {
        let command = r.event.clone();
        let outcome = r
            .str_field("outcome")
            .filter(|o| matches!(*o, "accepted" | "refused" | "failed" | "aborted"))
            .unwrap_or("other");
        let code = if outcome == "accepted" {
            "none".to_owned()
        } else {
            code_label(error_code(r))
        };
        *self
            .decisions
            .entry((command.clone(), outcome.to_owned(), code.clone()))
            .or_default() += 1;
        if let Some(ms) = r.u64_field("duration_ms") {
            self.durations
                .entry(command.clone())
                .or_insert_with(|| Histogram::new(&DURATION_BUCKETS))
                .observe(ms as f64 / 1000.0);
        }
        if let Some(size) = r.u64_field("bundle_size") {
            self.bundle_bytes
                .entry(command.clone())
                .or_insert_with(|| Histogram::new(&SIZE_BUCKETS))
                .observe(size as f64);
        }
        if r.str_field("at").is_some() {
            *self.overrides.entry(command.clone()).or_default() += 1;
        }
        let d = self.days.entry(day).or_default();
        match outcome {
            "accepted" => {
                *self.artifact_bytes.entry(command.clone()).or_default() +=
                    r.u64_field("artifact_bytes").unwrap_or(0);
                if command == "verify" {
                    d.verified += 1;
                }
            }
            "refused" => {
                d.refused += 1;
                *self.refusals_by_code.entry(code.clone()).or_default() += 1;
                self.add_policy_denials(r, &command, &code);
                let hint = r
                    .fields
                    .get("error")
                    .and_then(|e| e.get("hint"))
                    .and_then(Value::as_str)
                    .map(|h| h.chars().take(MAX_HINT).collect())
                    .unwrap_or_default();
                self.last_refusal
                    .insert((command.clone(), code), (r.time, r.seq, hint));
            }
            _ => d.failed += 1,
        }
        if command == "unpack" {
            match outcome {
                "accepted" => {
                    if let (Some(channel), Some(sequence)) =
                        (r.str_field("channel"), r.u64_field("sequence"))
                    {
                        self.pending.insert(
                            r.seq,
                            Import {
                                seq: r.seq,
                                time: r.time,
                                channel: channel.to_owned(),
                                sequence,
                                signers: r
                                    .fields
                                    .get("signers")
                                    .and_then(Value::as_array)
                                    .map(|a| {
                                        a.iter()
                                            .filter_map(Value::as_str)
                                            .map(str::to_owned)
                                            .collect()
                                    })
                                    .unwrap_or_default(),
                                root_version: r.u64_field("root_version"),
                                attested_subjects: r.u64_field("attested_subjects").unwrap_or(0),
                                attestable_subjects: r
                                    .u64_field("attestable_subjects")
                                    .unwrap_or(0),
                            },
                        );
                    }
                }
                "aborted" => {
                    if let Some(a) = r.u64_field("aborts") {
                        self.cancelled.insert(a);
                    }
                }
                _ => {}
            }
        }
    }

    /// Whether the accepted `unpack` record `seq` is a committed import
    /// (valid after [`Facts::finish`]).
    pub fn is_import(&self, seq: u64) -> bool {
        self.imported.contains(&seq)
    }

    /// Ends the count: accepted imports that were aborted, never committed
    /// (recorded by `journal recover`), or not committed yet (after the
    /// store's head, per `summary`) are not imports.
    pub fn finish(mut self, summary: Option<&Summary>) -> Facts {
        if let Some(s) = summary {
            self.cancelled.extend(s.after_head.iter().copied());
        }
        let pending = std::mem::take(&mut self.pending);
        for (seq, import) in pending {
            if self.cancelled.contains(&seq) {
                continue;
            }
            self.imported.insert(seq);
            let day = self.days.entry(import.time / 86_400).or_default();
            day.imports += 1;
            let c = self.channels.entry(import.channel.clone()).or_default();
            c.imports += 1;
            c.attested_subjects += import.attested_subjects;
            c.attestable_subjects += import.attestable_subjects;
            if c.last.as_ref().is_none_or(|l| l.seq < import.seq) {
                c.last = Some(import);
            }
        }
        // An anchor.advanced record follows its unpack record directly.
        self.root_rotations = self
            .advanced
            .iter()
            .filter(|&&s| self.imported.contains(&(s - 1)))
            .count() as u64;
        self
    }

    /// Committed imports in all.
    pub fn imports(&self) -> u64 {
        self.channels.values().map(|c| c.imports).sum()
    }

    /// The last committed import on any channel.
    pub fn last_import(&self) -> Option<&Import> {
        self.channels
            .values()
            .filter_map(|c| c.last.as_ref())
            .max_by_key(|i| i.seq)
    }

    /// Decisions with `outcome` (all commands, all codes).
    pub fn count(&self, command: Option<&str>, outcome: &str) -> u64 {
        self.decisions
            .iter()
            .filter(|((c, o, _), _)| o == outcome && command.is_none_or(|x| x == c))
            .map(|(_, n)| n)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_labels_are_bounded() {
        assert_eq!(rule_label(Some("slsa-builder")), "slsa-builder");
        for bad in ["", "a b", "ÿ", "x\"y", "{}"] {
            assert_eq!(rule_label(Some(bad)), "other", "{bad}");
        }
        assert_eq!(rule_label(Some(&"x".repeat(65))), "other");
        assert_eq!(rule_label(None), "other");
    }
}
