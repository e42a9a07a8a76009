//! The `airlock` binary: parse the command line, run the command, print the
//! outcome or the error (`error:` and `hint:` lines, or one JSON object), and
//! exit with the contract's code (all in [`airlock::cmd::entry`]).
#![forbid(unsafe_code)]

fn main() {
    std::process::exit(airlock::cmd::entry(std::env::args_os().collect()));
}
