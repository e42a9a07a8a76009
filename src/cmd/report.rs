//! `journal report`: the HTML audit report ([`crate::journal::report`]).

use crate::cli::JournalReportArgs;
use crate::cmd::Outcome;
use crate::error::Error;
use crate::journal::report::{Source, write};
use crate::keys::load_public_key;

/// `airlock journal report --store STORE | --export FILE --out FILE`.
pub fn run(a: &JournalReportArgs) -> Result<Outcome, Error> {
    let key = a.key.as_deref().map(load_public_key).transpose()?;
    let store = a.store.as_ref().map(crate::cli::StoreDir::dir);
    let src = match (&a.export, &store) {
        (Some(e), _) => Source::Export(e, key.as_ref()),
        (None, Some(s)) => Source::Store(s),
        (None, None) => {
            return Err(Error::usage(
                "journal report needs --store STORE (or --export FILE)",
                "give the store directory, set AIRLOCK_STORE, or report on an export with --export FILE",
            ));
        }
    };
    let w = write(src, &a.out)?;
    if let Some(e) = w.verdict {
        crate::cmd::warn(&format!(
            "wrote {}: it reports a journal that does not verify",
            a.out.display()
        ));
        return Err(e);
    }
    let mut o = Outcome::default();
    o.line(format!(
        "wrote the audit report {} ({} records, {} imports, {} refusals; the journal verifies)",
        a.out.display(),
        w.facts.records,
        w.facts.imports(),
        w.facts.count(None, "refused")
    ));
    o.field("out", a.out.display().to_string())
        .field("intact", true)
        .field("records", w.facts.records)
        .field("imports", w.facts.imports())
        .field("refused", w.facts.count(None, "refused"));
    Ok(o)
}
