//! One module per command, and the one place that prints outcomes and errors
//! (every line through [`terminal`], so no string from a bundle reaches the
//! terminal raw).
use std::io::Write;

use serde_json::{Value, json};

use crate::cli::{
    AnchorCommand, Cli, Command, IntotoCommand, JournalCommand, KeyCommand, LayoutCommand,
    PolicyCommand, ReceiptCommand, RootCommand, SigstoreCommand, VolumesCommand,
};
use crate::error::{EXIT_OK, Error};

pub mod anchor;
pub mod demo;
pub mod init;
pub mod inspect;
pub mod intoto;
pub mod journal;
pub mod key;
pub mod metrics;
pub mod pack;
pub mod policy;
pub mod progress;
pub mod project;
pub mod publish;
pub mod quote;
pub mod report;
pub mod root;
pub mod shell;
pub mod siem;
pub mod sigstore;
pub mod terminal;
pub mod unpack;
pub mod verify;
pub mod volumes;

/// What a successful command reports: text lines for people, a JSON object
/// for scripts.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Lines printed on stdout without `--json`.
    pub lines: Vec<String>,
    /// Fields of the `--json` object (besides `"ok"`).
    pub json: serde_json::Map<String, Value>,
    /// The command already wrote its `--json` output (JSON lines): print
    /// no object after it.
    pub streamed: bool,
}

impl Outcome {
    /// Adds a text line.
    pub fn line(&mut self, s: impl Into<String>) -> &mut Self {
        self.lines.push(s.into());
        self
    }

    /// Sets a JSON field.
    pub fn field(&mut self, k: &str, v: impl Into<Value>) -> &mut Self {
        self.json.insert(k.to_owned(), v.into());
        self
    }
}

/// What a command may show on stderr besides its result and its warnings:
/// progress bars and per-step lines, or nothing (`--quiet`, and `--json`
/// whose stdout is for a program).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Progress on a terminal, per-step lines.
    Progress,
    /// Errors and warnings only.
    Quiet,
}

impl Output {
    /// The output the command line asks for.
    pub fn of(cli: &Cli) -> Output {
        if cli.quiet || cli.json {
            Output::Quiet
        } else {
            Output::Progress
        }
    }

    /// Progress and per-step lines are shown.
    pub fn shows_progress(self) -> bool {
        self == Output::Progress
    }
}

/// Runs the command and returns its outcome.
pub fn run(cli: &Cli) -> Result<Outcome, Error> {
    let output = Output::of(cli);
    crate::journal::decision::set_lock_timeout(cli.lock_timeout);
    match &cli.command {
        Command::Keygen(a) => key::keygen(a),
        Command::Key(KeyCommand::Id { files }) => key::id(files),
        Command::Key(KeyCommand::Show { key }) => key::show(key),
        Command::Root(RootCommand::Init(a)) => root::init(a),
        Command::Root(RootCommand::Sign {
            file,
            key,
            previous,
        }) => root::sign(file, key, previous.as_deref()),
        Command::Root(RootCommand::Rotate(a)) => root::rotate(a),
        Command::Root(RootCommand::Verify(a)) => root::verify(a),
        Command::Record(a) => intoto::record(a),
        Command::Layout(LayoutCommand::Sign { file, key, dsse }) => {
            intoto::sign_layout(file, key, *dsse)
        }
        Command::Intoto(IntotoCommand::Verify(a)) => intoto::verify(a),
        Command::Sigstore(SigstoreCommand::Verify(a)) => sigstore::verify(a),
        Command::Pack(a) => pack::run(a, output),
        Command::Inspect(a) => inspect::run(&a.bundle, a.extract_metadata.as_deref()),
        Command::Verify(a) => verify::run(a, output),
        Command::Unpack(a) => unpack::run(a, output),
        Command::Publish(a) => publish::run(a, output),
        Command::Anchor(AnchorCommand::Init {
            store,
            root,
            tpm,
            owner_auth_file,
            pkcs11,
            replace,
            new_journal,
            channels,
            allow_older_root,
        }) => anchor::init_with(
            &store.dir(),
            root,
            anchor::InitOptions {
                tpm: tpm.as_deref(),
                owner_auth: owner_auth_file.as_deref(),
                pkcs11: pkcs11.as_deref(),
                replace: *replace,
                new_journal: *new_journal,
                channels,
                allow_older_root: *allow_older_root,
            },
        ),
        Command::Anchor(AnchorCommand::Show { store }) => anchor::show(&store.dir()),
        Command::Anchor(AnchorCommand::Quote(a)) => quote::quote(
            &a.store.dir(),
            a.nonce.as_deref(),
            a.out.as_deref(),
            a.ak_pub.as_deref(),
        ),
        Command::Anchor(AnchorCommand::VerifyQuote(a)) => {
            quote::verify_quote(&a.quote, &a.ak_pub, &a.nonce, a.journal_head.as_deref())
        }
        Command::Anchor(AnchorCommand::Sigstore {
            store,
            trusted_root,
            identity,
            issuer,
        }) => sigstore::pin(
            &store.dir(),
            trusted_root
                .as_deref()
                .zip(identity.as_deref().zip(issuer.as_deref())),
        ),
        Command::Policy(PolicyCommand::Set { store, file }) => {
            policy::set(&store.dir(), Some(file.as_path()))
        }
        Command::Policy(PolicyCommand::Clear { store }) => policy::set(&store.dir(), None),
        Command::Policy(PolicyCommand::Show { store }) => policy::show(&store.dir()),
        Command::Policy(PolicyCommand::Test {
            file,
            bundle,
            store,
            at,
        }) => policy::test(file, bundle, &store.dir(), at.as_deref(), output),
        Command::Receipt(ReceiptCommand::Verify {
            receipt,
            key,
            journal,
        }) => policy::verify_receipt(receipt, key, journal.as_deref()),
        Command::Anchor(AnchorCommand::Channels { store, allow, deny }) => {
            anchor::channels(&store.dir(), allow, deny)
        }
        Command::Anchor(AnchorCommand::Floor {
            store,
            channel,
            sequence,
        }) => anchor::floor(&store.dir(), channel, *sequence),
        Command::Journal(JournalCommand::Show(a)) => journal::show(a, cli.json),
        Command::Journal(JournalCommand::Verify(a)) => journal::verify(a),
        Command::Journal(JournalCommand::Export {
            store,
            out,
            format: Some(f),
        }) => siem::export(&store.dir(), *f, out.as_deref(), cli.json),
        Command::Journal(JournalCommand::Export { store, out, .. }) => match out {
            Some(out) => journal::export(&store.dir(), out),
            None => Err(Error::usage(
                "journal export needs --out FILE (or --format)",
                "give the export file to write",
            )),
        },
        Command::Journal(JournalCommand::Report(a)) => report::run(a),
        Command::Journal(JournalCommand::Forward {
            store,
            to,
            cursor,
            hostname,
        }) => siem::forward(&store.dir(), to, cursor.as_deref(), hostname.as_deref()),
        Command::Journal(JournalCommand::Init { store }) => journal::init(&store.dir()),
        Command::Journal(JournalCommand::Recover { store }) => journal::recover(&store.dir()),
        Command::Metrics(a) => metrics::run(a, cli.json),
        Command::Demo(a) => demo::run(a.dir.as_deref(), output),
        Command::Completions { shell } => shell::completions(*shell, cli.json),
        Command::Init(a) => init::run(a),
        Command::Layout(LayoutCommand::New {
            out,
            steps,
            expires,
            key,
        }) => init::layout_new(out, steps, expires, key),
        Command::Man { out } => shell::man(out),
        Command::Split(a) => volumes::split(a, output),
        Command::Volumes(VolumesCommand::Check(a)) => volumes::check(a, output),
    }
}

/// The version of the `--json` objects' shape (`docs/json.md`): raised when
/// a field changes meaning or goes away, never for an added field.
pub const JSON_SCHEMA: u64 = 1;

/// Reports a command line clap refused and returns the exit code: clap's
/// own message on stderr and, with `--json` anywhere on the line, one JSON
/// object on stdout as for any other error (code `usage`, exit 2). `--help`
/// and `--version` print as usual and exit 0.
pub fn usage_error(e: &clap::Error) -> i32 {
    if e.exit_code() == 0 {
        let _ = e.print();
        return EXIT_OK;
    }
    if std::env::args_os().any(|a| a == "--json") {
        let text = e.to_string();
        // clap's message up to its usage line, on one line.
        let message = text
            .lines()
            .take_while(|l| !l.starts_with("Usage:"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .trim_start_matches("error: ")
            .to_owned();
        let v = json!({"schema": JSON_SCHEMA, "ok": false, "errors": [{"code": "usage", "message": message, "hint": "see `airlock COMMAND --help`"}]});
        println!("{}", terminal::json_safe(&v.to_string()));
    }
    // clap quotes the offending argument, which may be anything.
    for line in e.to_string().lines() {
        terminal::eprint_line(line);
    }
    crate::error::EXIT_USAGE
}

/// Runs the command, prints its outcome or error, and returns the exit code.
pub fn main(cli: &Cli) -> i32 {
    let result = run(cli);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match result {
        Ok(outcome) => {
            if cli.json && outcome.streamed {
                // JSON lines already written.
            } else if cli.json {
                let mut obj = serde_json::Map::new();
                obj.insert("schema".into(), Value::from(JSON_SCHEMA));
                obj.insert("ok".into(), Value::Bool(true));
                obj.extend(outcome.json);
                let text = Value::Object(obj).to_string();
                let _ = writeln!(out, "{}", terminal::json_safe(&text));
            } else {
                for l in outcome.lines {
                    let _ = writeln!(out, "{}", terminal::safe(&l));
                }
            }
            EXIT_OK
        }
        Err(e) => {
            drop(out);
            report_error(&e, cli.json)
        }
    }
}

/// Prints an error (`error:` and `hint:` on stderr; with `json`, also the
/// error object on stdout) and returns its exit code.
pub fn report_error(e: &Error, json: bool) -> i32 {
    if json {
        let v = json!({"schema": JSON_SCHEMA, "ok": false, "errors": [{"code": e.code(), "message": e.to_string(), "hint": e.hint()}]});
        println!("{}", terminal::json_safe(&v.to_string()));
    }
    terminal::eprint_line(&format!("error: {e}"));
    terminal::eprint_line(&format!("hint: {}", e.hint()));
    e.exit_code()
}

/// The whole binary: the project file's flags (`airlock.toml`, for `record`
/// and `pack`), the command line, the command, and the project's sequence
/// written back after a successful pack. Returns the exit code.
pub fn entry(args: Vec<std::ffi::OsString>) -> i32 {
    // The bounded child that evaluates an enclave policy (never a command
    // anyone types: `crate::gate::sandbox`).
    if args
        .get(1)
        .is_some_and(|a| a == crate::gate::sandbox::CHILD_ARG)
    {
        return crate::gate::sandbox::child_main();
    }
    let json = args.iter().any(|a| a == "--json");
    let (args, pending) = match project::expand_args(args, std::path::Path::new(".")) {
        Ok(x) => x,
        Err(e) => return report_error(&e, json),
    };
    let cli = match <Cli as clap::Parser>::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let code = main(&cli);
    if code == EXIT_OK
        && let Some(p) = pending
        && let Err(e) = project::commit_sequence(&p)
    {
        warn(&format!(
            "the bundle was packed, but {} could not record its sequence {}: {e}; set [pack] sequence = {} by hand",
            p.path.display(),
            p.sequence,
            p.sequence
        ));
    }
    code
}

/// The warning of `pack`/`record --image docker://… --insecure-plain-http`.
pub const PLAIN_HTTP_PULL: &str = "--insecure-plain-http: pulling images WITHOUT TLS; anyone on the path can substitute an image named by tag (a digest reference, @sha256:…, still pins it)";

/// Prints a loud warning on stderr (never suppressed by `--quiet`).
pub fn warn(msg: &str) {
    terminal::eprint_line(&format!("warning: {msg}"));
}
