//! Progress of long operations (bytes packed, split, read), reported to
//! whoever drives them: the library never draws; the command line shows a
//! bar (`cmd::progress`, nothing with `--quiet`).

/// Receives the progress of one stage at a time.
pub trait Progress: Sync {
    /// A stage of `total` bytes, named `label` (`split`, `pack`, …), starts.
    fn start(&self, label: &str, total: u64);
    /// `n` more bytes of the stage are done.
    fn advance(&self, n: u64);
    /// The stage is over (done or abandoned).
    fn finish(&self);
}
