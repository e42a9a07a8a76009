//! `journal export --format jsonl|cef|syslog` and `journal forward`: the
//! SIEM feed (the formats and the sending are [`crate::journal::siem`]).
use std::io::Write as _;
use std::path::Path;

use airlock_hsm::open_store;

use crate::cli::SiemFormat;
use crate::cmd::Outcome;
use crate::error::Error;
use crate::journal::siem::{self, Destination, Format};

/// `airlock journal export --format F [--out FILE]`.
pub fn export(
    dir: &Path,
    format: SiemFormat,
    out: Option<&Path>,
    json: bool,
) -> Result<Outcome, Error> {
    // CEF and syslog lines on stdout are not JSON: with --json, stdout must
    // carry JSON only (jsonl writes the records, one JSON object a line, as
    // `journal show --json` does).
    if json && out.is_none() && format != SiemFormat::Jsonl {
        return Err(Error::usage(
            "journal export --format cef|syslog writes text, not JSON, on standard output",
            "give --out FILE (then --json prints the summary), or drop --json",
        ));
    }
    let format = match format {
        SiemFormat::Jsonl => Format::Jsonl,
        SiemFormat::Cef => Format::Cef,
        SiemFormat::Syslog => Format::Syslog,
    };
    let store = open_store(dir)?;
    let mut o = Outcome::default();
    match out {
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            siem::export(store.as_ref(), format, &mut w)?;
            let _ = w.flush();
            o.streamed = true;
        }
        Some(path) => {
            // The file appears only once every record checked.
            let mut result = Ok(0);
            let written = crate::fsutil::replace_file_with(path, 0o644, |w| {
                result = siem::export(store.as_ref(), format, w);
                match &result {
                    Ok(_) => Ok(()),
                    Err(e) => Err(std::io::Error::other(e.to_string())),
                }
            });
            let n = result?;
            written?;
            o.line(format!("wrote {n} journal records to {}", path.display()));
            o.field("out", path.display().to_string())
                .field("records", n);
        }
    }
    Ok(o)
}

/// `airlock journal forward --store STORE --to URL`.
pub fn forward(
    dir: &Path,
    to: &str,
    cursor: Option<&Path>,
    hostname: Option<&str>,
) -> Result<Outcome, Error> {
    let dest = Destination::parse(to)?;
    let store = open_store(dir)?;
    let cursor = cursor.map_or_else(|| dest.default_cursor(dir), Path::to_owned);
    let host = hostname.map_or_else(siem::hostname, str::to_owned);
    let f = siem::forward(store.as_ref(), &dest, &cursor, &host)?;
    let mut o = Outcome::default();
    o.line(if f.sent == 0 {
        format!(
            "nothing new to send to {}: it has records 1 to {} (the head)",
            dest.url(),
            f.cursor.seq
        )
    } else {
        format!(
            "sent {} record(s) to {} ({} to {}); cursor {}",
            f.sent,
            dest.url(),
            f.cursor.seq + 1 - f.sent,
            f.cursor.seq,
            cursor.display()
        )
    });
    o.field("sent", f.sent)
        .field("last_sent", f.cursor.seq)
        .field("head", f.head)
        .field("cursor", cursor.display().to_string());
    Ok(o)
}
