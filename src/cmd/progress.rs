//! Progress bars on a terminal (bytes, rate, ETA); silent otherwise.
use std::io::{IsTerminal, Read};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Output;

/// A byte-count progress bar on stderr, hidden with [`Output::Quiet`] or when stderr
/// is not a terminal.
pub fn bytes_bar(total: u64, label: &str, output: Output) -> ProgressBar {
    if !output.shows_progress() || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{prefix:>8} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(label.to_owned());
    bar
}

/// A reader that advances a progress bar by the bytes read through it.
#[derive(Debug)]
pub struct CountingReader<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R> CountingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, bar: ProgressBar) -> Self {
        CountingReader { inner, bar }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// [`crate::progress::Progress`] on the terminal: one bar per stage, none
/// with [`Output::Quiet`] or when stderr is not a terminal.
#[derive(Debug)]
pub struct TermProgress {
    output: Output,
    bar: std::sync::Mutex<ProgressBar>,
}

impl TermProgress {
    /// No stage yet.
    pub fn new(output: Output) -> Self {
        TermProgress {
            output,
            bar: std::sync::Mutex::new(ProgressBar::hidden()),
        }
    }

    fn bar(&self) -> ProgressBar {
        match self.bar.lock() {
            Ok(b) => b.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

impl crate::progress::Progress for TermProgress {
    fn start(&self, label: &str, total: u64) {
        let bar = bytes_bar(total, label, self.output);
        match self.bar.lock() {
            Ok(mut b) => *b = bar,
            Err(p) => *p.into_inner() = bar,
        }
    }
    fn advance(&self, n: u64) {
        self.bar().inc(n);
    }
    fn finish(&self) {
        self.bar().finish_and_clear();
    }
}
