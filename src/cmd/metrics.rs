//! `airlock metrics`.
use std::io::Write as _;

use crate::cli::MetricsArgs;
use crate::cmd::Outcome;
use crate::error::Error;
use crate::journal::metrics::write;

/// `airlock metrics --store STORE [--out FILE]`.
pub fn run(a: &MetricsArgs) -> Result<Outcome, Error> {
    let (snapshot, text) = write(&a.store.dir(), a.out.as_deref())?;
    let mut o = Outcome::default();
    match &a.out {
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
