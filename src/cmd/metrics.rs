//! `airlock metrics`.
use std::io::Write as _;

use crate::cli::MetricsArgs;
use crate::cmd::Outcome;
use crate::error::Error;
use crate::journal::metrics::write;

/// `airlock metrics --store STORE [--out FILE]`. With `--json` and no
/// `--out`, the text goes in the object's `metrics` field (stdout carries
/// one JSON object, as for every command).
pub fn run(a: &MetricsArgs, json: bool) -> Result<Outcome, Error> {
    let (snapshot, text) = write(&a.store.dir(), a.out.as_deref(), &crate::cmd::warn)?;
    let mut o = Outcome::default();
    match &a.out {
        None if json => {
            o.field("metrics", text.clone());
        }
        None => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            o.streamed = true;
        }
        Some(out) => {
            o.line(format!(
                "wrote {} metric lines to {}",
                text.lines().filter(|l| !l.starts_with('#')).count(),
                out.display()
            ));
            o.field("out", out.display().to_string());
        }
    }
    match snapshot.journal {
        Ok((facts, _)) => {
            o.field("intact", true).field("records", facts.records);
            Ok(o)
        }
        Err(e) => Err(e.into()),
    }
}
