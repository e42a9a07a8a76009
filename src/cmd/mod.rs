//! One module per command, and the one place that prints outcomes and errors.
use std::io::Write;

use serde_json::{Value, json};

use crate::cli::{
    AnchorCommand, Cli, Command, IntotoCommand, JournalCommand, KeyCommand, LayoutCommand,
    RootCommand, VolumesCommand,
};
use crate::error::{EXIT_OK, Error};

pub mod anchor;
pub mod demo;
pub mod inspect;
pub mod intoto;
pub mod journal;
pub mod key;
pub mod pack;
pub mod publish;
pub mod root;
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

/// Runs the command and returns its outcome.
pub fn run(cli: &Cli) -> Result<Outcome, Error> {
    let quiet = cli.quiet || cli.json;
    match &cli.command {
        Command::Keygen(a) => key::keygen(a),
        Command::Key(KeyCommand::Id { files }) => key::id(files),
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
        Command::Pack(a) => pack::run(a, quiet),
        Command::Inspect(a) => inspect::run(&a.bundle),
        Command::Verify(a) => verify::run(a, quiet),
        Command::Unpack(a) => unpack::run(a, quiet),
        Command::Publish(a) => publish::run(a, quiet),
        Command::Anchor(AnchorCommand::Init {
            store,
            root,
            tpm,
            owner_auth_file,
            pkcs11,
            replace,
            new_journal,
        }) => anchor::init_with(
            &store.dir(),
            root,
            anchor::InitOptions {
                tpm: tpm.as_deref(),
                owner_auth: owner_auth_file.as_deref(),
                pkcs11: pkcs11.as_deref(),
                replace: *replace,
                new_journal: *new_journal,
            },
        ),
        Command::Anchor(AnchorCommand::Show { store }) => anchor::show(&store.dir()),
        Command::Journal(JournalCommand::Show(a)) => journal::show(a, cli.json),
        Command::Journal(JournalCommand::Verify(a)) => journal::verify(a),
        Command::Journal(JournalCommand::Export { store, out }) => {
            journal::export(&store.dir(), out)
        }
        Command::Journal(JournalCommand::Init { store }) => journal::init(&store.dir()),
        Command::Journal(JournalCommand::Recover { store }) => journal::recover(&store.dir()),
        Command::Demo(a) => demo::run(a.dir.as_deref(), quiet),
        Command::Split(a) => volumes::split(a, quiet),
        Command::Volumes(VolumesCommand::Check(a)) => volumes::check(a, quiet),
    }
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
                obj.insert("ok".into(), Value::Bool(true));
                obj.extend(outcome.json);
                let _ = writeln!(out, "{}", Value::Object(obj));
            } else {
                for l in outcome.lines {
                    let _ = writeln!(out, "{l}");
                }
            }
            EXIT_OK
        }
        Err(e) => {
            if cli.json {
                let v = json!({"ok": false, "errors": [{"code": e.code(), "message": e.to_string(), "hint": e.hint()}]});
                let _ = writeln!(out, "{v}");
            }
            eprintln!("error: {e}");
            eprintln!("hint: {}", e.hint());
            e.exit_code()
        }
    }
}

/// Prints a loud warning on stderr (never suppressed by `--quiet`).
pub fn warn(msg: &str) {
    eprintln!("warning: {msg}");
}
