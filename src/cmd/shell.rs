//! `completions` and `man`: generated from the clap definitions, so they
//! say exactly what `--help` says.
use std::io::Write as _;
use std::path::Path;

use clap::CommandFactory as _;

use crate::cli::Cli;
use crate::cmd::Outcome;
use crate::error::Error;

/// `airlock completions SHELL`: the script, on stdout (so not with
/// `--json`, whose stdout carries JSON only).
pub fn completions(shell: clap_complete::Shell, json: bool) -> Result<Outcome, Error> {
    if json {
        return Err(Error::usage(
            "completions prints a shell script, not JSON",
            "drop --json",
        ));
    }
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "airlock", &mut script);
    match std::io::stdout().write_all(&script) {
        // A reader that stopped early (`| head`) is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(crate::fsutil::FsError::Write {
                what: "write to stdout".into(),
                source: e,
            }
            .into());
        }
        _ => {}
    }
    Ok(Outcome {
        streamed: true,
        ..Outcome::default()
    })
}

/// `airlock man --out DIR`: `airlock.1` and `airlock-VERB[-SUB].1` for
/// every command.
pub fn man(out: &Path) -> Result<Outcome, Error> {
    crate::fsutil::ensure_dir(out)?;
    let mut written = Vec::new();
    write_pages(Cli::command(), "airlock", out, &mut written)?;
    let mut o = Outcome::default();
    o.line(format!(
        "wrote {} man pages to {} (e.g. man airlock-unpack)",
        written.len(),
        out.display()
    ));
    o.field("pages", written);
    Ok(o)
}

fn write_pages(
    cmd: clap::Command,
    name: &str,
    dir: &Path,
    written: &mut Vec<String>,
) -> Result<(), Error> {
    let cmd = cmd.name(name.to_owned()).bin_name(name.replace('-', " "));
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut page)
        .map_err(|e| {
            Error::from(crate::fsutil::FsError::Write {
                what: format!("render the man page of {name}"),
                source: e,
            })
        })?;
    let file = format!("{name}.1");
    crate::fsutil::replace_file(&dir.join(&file), &page)?;
    written.push(file);
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let sub_name = format!("{name}-{}", sub.get_name());
        write_pages(sub.clone(), &sub_name, dir, written)?;
    }
    Ok(())
}
