//! The `airlock` binary: parse the command line, run the command, print the
//! outcome or the error (`error:` and `hint:` lines, or one JSON object), and
//! exit with the contract's code.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() {
    let cli = match airlock::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => std::process::exit(airlock::cmd::usage_error(&e)),
    };
    let code = airlock::cmd::main(&cli);
    std::process::exit(code);
}
