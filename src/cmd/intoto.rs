//! `record`, `layout sign` and `intoto verify`: the in-toto commands.
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{IntotoVerifyArgs, RecordArgs};
use crate::cmd::{Outcome, warn};
use crate::error::EXIT_REJECTED;
use crate::error::Error;
use crate::fsutil::{read_limited, replace_file};
use crate::intoto::envelope::{self, Encoding, Signature};
use crate::intoto::model::{Layout, Link, safe_name};
use crate::intoto::record::{RecordOptions, Streams, record_artifacts, run_command};
use crate::intoto::verify::{
    DirLinks, Inspections, LayoutKey, MAX_METADATA_FILE, UnderVerification, link_file_name,
    parse_layout,
};
use crate::journal::decision::{bounded, error_field, file_sha256, lock_store, opt, path_field};
use crate::journal::writer::{self, Event, Journal};
use crate::json::Json;
use crate::keys::{keyid, load_public_key, load_signer};
use crate::timefmt::{format_utc, now, parse_utc};
use serde_json::{Value, json};

fn recording(e: crate::intoto::record::RecordError) -> Error {
    Error::usage(
        format!("cannot record: {e}"),
        "check the --materials/--products paths (relative to the working directory or --base-path) and --lstrip-paths",
    )
}

/// `airlock record`.
pub fn record(a: &RecordArgs) -> Result<Outcome, Error> {
    if !safe_name(&a.name) {
        return Err(Error::usage(
            format!("--name {} cannot be a step name", crate::excerpt(&a.name)),
            "use the step's name from the layout, without `/`",
        ));
    }
    let signer = load_signer(&a.key)?;
    // Before the command runs: a link that cannot be written is found out
    // first, not after a long build.
    crate::fsutil::ensure_dir(&a.out_dir)?;
    let base = a.base_path.clone().unwrap_or_else(|| PathBuf::from("."));
    let opts = RecordOptions {
        excludes: a.exclude.clone(),
        lstrip: a.lstrip_paths.clone(),
    };
    let materials = record_artifacts(&base, &a.materials, &opts).map_err(recording)?;
    let byproducts = if a.command.is_empty() {
        Json::Obj(Default::default())
    } else {
        let outcome = run_command(
            &a.command,
            Path::new("."),
            a.timeout.map(Duration::from_secs),
            if a.record_streams {
                Streams::Record
            } else {
                Streams::Discard
            },
        )
        .map_err(|e| {
            Error::usage(
                e.to_string(),
                "check the command after `--` (it is run directly, not through a shell)",
            )
        })?;
        if outcome.return_value != 0 {
            warn(&format!(
                "the command exited with {}; the link records that return value",
                outcome.return_value
            ));
        }
        outcome.byproducts()
    };
    let mut products = record_artifacts(&base, &a.products, &opts).map_err(recording)?;
    if !a.image.is_empty() {
        // Images as products: the same name and digest pack will carry.
        let scratch = tempfile::tempdir().map_err(|e| {
            Error::from(crate::fsutil::FsError::Write {
                what: "create a scratch directory (in TMPDIR)".into(),
                source: e,
            })
        })?;
        let mut all: Vec<(String, crate::intoto::model::Digests)> = products
            .iter()
            .map(|(p, d)| (p.to_owned(), d.clone()))
            .collect();
        if a.registry_conn.insecure_plain_http && a.image.iter().any(|i| i.starts_with("docker://"))
        {
            crate::cmd::warn(crate::cmd::PLAIN_HTTP_PULL);
        }
        for spec in &a.image {
            let source = crate::oci::source::Source::parse(spec)?;
            let c = crate::oci::source::collect(
                &source,
                &a.platform,
                scratch.path(),
                &a.registry_conn.connection(),
            )?;
            let image = airlock_bundle::Image {
                name: c.name,
                tag: c.tag,
                digest: c.digest.0,
                platforms: c.platforms,
            };
            all.push((
                crate::oci::artifact_name(&image),
                crate::intoto::model::Digests::sha256(image.digest),
            ));
        }
        products = all.into_iter().collect();
    }
    let link = Link {
        name: a.name.clone(),
        command: a.command.clone(),
        materials,
        products,
        byproducts,
        environment: Json::Obj(Default::default()),
    };
    let id = keyid(signer.public_key());
    let bytes = if a.dsse {
        let body = link.to_compact();
        let sig = signer.sign(&envelope::pae(envelope::PAYLOAD_TYPE, &body))?;
        envelope::dsse(
            &body,
            &[Signature {
                keyid: id.clone(),
                sig,
            }],
        )
    } else {
        // The file's body is written on a second core while the canonical
        // form is written and signed (for 100,000 artifacts each takes tens
        // of milliseconds, docs/performance.md).
        let (sig, body) = std::thread::scope(|s| {
            let body = s.spawn(|| envelope::MetablockBody::of(&link));
            let sig = signer.sign(&link.canonical());
            let body = body.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (sig, body)
        });
        envelope::metablock_around(
            &body,
            &[Signature {
                keyid: id.clone(),
                sig: sig?,
            }],
        )
    };
    let out = a.out_dir.join(link_file_name(&a.name, &id));
    replace_file(&out, &bytes)?;
    let mut o = Outcome::default();
    o.line(format!(
        "recorded step {}: {} materials, {} products -> {}",
        a.name,
        link.materials.len(),
        link.products.len(),
        out.display()
    ));
    o.field("link", out.display().to_string())
        .field("step", a.name.clone())
        .field("keyid", id)
        .field("materials", link.materials.len())
        .field("products", link.products.len())
        .field("encoding", if a.dsse { "dsse" } else { "metablock" });
    Ok(o)
}

/// `airlock layout sign`.
pub fn sign_layout(file: &Path, keys: &[String], dsse: bool) -> Result<Outcome, Error> {
    let bytes = read_limited(file, MAX_METADATA_FILE, "layout")?;
    let bad = |reason: String| {
        Error::usage(
            format!(
                "{} is not a layout airlock can sign: {reason}",
                file.display()
            ),
            "write the layout as JSON (`_type: layout`, `expires`, `keys`, `steps`, `inspect`) or give a signed layout",
        )
    };
    let doc = Json::parse(&bytes).map_err(|e| bad(e.0))?;
    let bare = doc
        .as_obj()
        .and_then(|o| o.get("_type"))
        .and_then(Json::as_str)
        == Some("layout");
    let (payload, body, encoding, mut signatures) = if bare {
        let body = doc.to_compact();
        let enc = if dsse {
            Encoding::Dsse
        } else {
            Encoding::Metablock
        };
        (doc, body, enc, Vec::new())
    } else {
        let signed = envelope::parse(&bytes).map_err(bad)?;
        let body = match signed.encoding {
            Encoding::Dsse => doc
                .as_obj()
                .and_then(|o| o.get("payload"))
                .and_then(Json::as_str)
                .map(envelope::b64_decode)
                .transpose()
                .map_err(bad)?
                .unwrap_or_default(),
            Encoding::Metablock => signed.message.clone(),
        };
        (signed.payload, body, signed.encoding, signed.signatures)
    };
    let layout = Layout::parse(&payload).map_err(bad)?;
    if layout.expires <= now() {
        return Err(Error::usage(
            format!("the layout expired at {}", layout.expires_text),
            "set a later `expires` in the layout before signing it",
        ));
    }
    let message = match encoding {
        Encoding::Dsse => envelope::pae(envelope::PAYLOAD_TYPE, &body),
        Encoding::Metablock => payload.canonical(),
    };
    let mut signed_by = Vec::new();
    for k in keys {
        let signer = load_signer(k)?;
        let id = keyid(signer.public_key());
        let sig = signer.sign(&message)?;
        signatures.retain(|s| s.keyid != id);
        signatures.push(Signature {
            keyid: id.clone(),
            sig,
        });
        signed_by.push(id);
    }
    let out = match encoding {
        Encoding::Dsse => envelope::dsse(&body, &signatures),
        Encoding::Metablock => envelope::metablock(&payload, &signatures),
    };
    replace_file(file, &out)?;
    let mut o = Outcome::default();
    o.line(format!(
        "signed {} ({}) with {}; it now carries {} signature(s)",
        file.display(),
        encoding.name(),
        signed_by.join(", "),
        signatures.len()
    ));
    o.field("layout", file.display().to_string())
        .field("encoding", encoding.name())
        .field("signed_by", signed_by)
        .field("signatures", signatures.len());
    Ok(o)
}

/// `airlock intoto verify`, journaled in the store named by `--store` (or
/// `AIRLOCK_STORE`) when there is one.
pub fn verify(a: &IntotoVerifyArgs) -> Result<Outcome, Error> {
    intoto_journaled(a, || verify_chain(a))
}

fn verify_chain(a: &IntotoVerifyArgs) -> Result<Outcome, Error> {
    let time = match &a.at {
        Some(at) => {
            let t = parse_utc(at).map_err(|e| Error::usage(e, "e.g. --at 2026-01-31T12:00:00Z"))?;
            warn(&format!(
                "verifying as if at {} (--at), not at the current time",
                format_utc(t)
            ));
            t
        }
        None => now(),
    };
    let keys = a
        .layout_key
        .iter()
        .map(|p| load_public_key(p).map(|pk| LayoutKey::from_public(&pk)))
        .collect::<Result<Vec<_>, _>>()?;
    if !a.link_dir.is_dir() {
        return Err(Error::usage(
            format!("--link-dir {} is not a directory", a.link_dir.display()),
            "give the directory holding the STEP.KEYID8.link files",
        ));
    }
    let artifacts_dir = a.artifacts.clone().unwrap_or_else(|| PathBuf::from("."));
    if !artifacts_dir.is_dir() {
        return Err(Error::usage(
            format!("--artifacts {} is not a directory", artifacts_dir.display()),
            "give the directory holding the files under verification",
        ));
    }
    let bytes = read_limited(&a.layout, MAX_METADATA_FILE, "layout")?;
    let (doc, _) = parse_layout(&bytes, &a.layout.display().to_string())?;
    let under = UnderVerification::dir(artifacts_dir.clone());
    let mode = if crate::cmd::verify::inspection_policy(a.run_inspections)?
        != crate::verifier::InspectionPolicy::Evaluate
    {
        Inspections::Run {
            dir: &artifacts_dir,
            timeout: crate::verifier::INSPECTION_TIMEOUT,
        }
    } else {
        Inspections::Evaluate(&under)
    };
    let links = DirLinks(a.link_dir.clone());
    let verified = crate::intoto::verify::verify(&doc, &keys, &links, time, mode)?;
    if !verified.pending.is_empty() {
        return Err(crate::intoto::IntotoError::Internal(
            "inspections left pending over a directory".into(),
        )
        .into());
    }
    for w in &verified.warnings {
        warn(w);
    }
    let mut o = Outcome::default();
    o.line(format!(
        "PASS: the supply chain of {} holds ({} steps, {} inspections {}; layout expires {})",
        a.layout.display(),
        verified.layout.steps.len(),
        verified.layout.inspections.len(),
        if a.run_inspections {
            "run"
        } else {
            "evaluated without running them"
        },
        verified.layout.expires_text
    ));
    crate::cmd::verify::describe_inspections(&mut o, &verified.inspections);
    o.field("layout", a.layout.display().to_string())
        .field("steps", verified.layout.steps.len())
        .field("inspections", verified.layout.inspections.len())
        .field("inspections_run", a.run_inspections)
        .field("warnings", verified.warnings.clone())
        .field("time", format_utc(time));
    Ok(o)
}

/// Runs `intoto verify` (`run`) and, when a store is named, records the
/// run in its journal: layout, keys, flags (`--at`, `--run-inspections`)
/// and the outcome. Without a store there is no journal to write; using
/// an override then says so.
pub fn intoto_journaled(
    a: &IntotoVerifyArgs,
    run: impl FnOnce() -> Result<Outcome, Error>,
) -> Result<Outcome, Error> {
    let Some(store) = &a.store else {
        if a.at.is_some() || a.run_inspections {
            warn(
                "this run is not journaled: no --store given (pass --store or set AIRLOCK_STORE to record it)",
            );
        }
        return run();
    };
    let store = airlock_hsm::open_store(&store.dir())?;
    let signer = crate::journal::signer_of(store.as_ref())?;
    let journal = Journal::new(store.dir(), signer.as_ref())?;
    let result = run();
    let keyids: Vec<Value> = a
        .layout_key
        .iter()
        .map(|p| {
            opt(crate::keys::load_public_key(p)
                .ok()
                .map(|k| crate::keys::keyid(&k)))
        })
        .collect();
    // Which inspections ran (`--run-inspections`, accepted runs).
    let ran: Vec<Value> = match &result {
        Ok(o) if a.run_inspections => o
            .json
            .get("inspection_results")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .filter_map(|r| r.get("name").and_then(Value::as_str))
                    .map(|n| Value::from(bounded(n, 200)))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let outcome = match &result {
        Ok(_) => "accepted",
        Err(e) if e.exit_code() == EXIT_REJECTED => "refused",
        Err(_) => "failed",
    };
    let at =
        a.at.as_deref()
            .map(|t| crate::timefmt::parse_utc(t).map_or_else(|_| bounded(t, 40), format_utc));
    let event = Event::new(
        "intoto.verify",
        json!({
            "outcome": outcome,
            "layout_file": path_field(&a.layout),
            "layout_sha256": opt(file_sha256(&a.layout)),
            "layout_keyids": keyids,
            "link_dir": path_field(&a.link_dir),
            "artifacts_dir": path_field(a.artifacts.as_deref().unwrap_or(Path::new("."))),
            "at": opt(at),
            "run_inspections": a.run_inspections,
            "inspections_run": ran,
            "error": result.as_ref().err().map_or(Value::Null, error_field),
        }),
    );
    let lock = lock_store(store.as_ref(), &warn)?;
    match (
        writer::record(store.as_ref(), &journal, &lock, vec![event]),
        result,
    ) {
        (Ok(head), Ok(mut o)) => {
            o.line(format!("journal: record {}", head.seq));
            o.field("journal_record", head.seq);
            Ok(o)
        }
        (Ok(_), Err(e)) => Err(e),
        (Err(j), Err(e)) => {
            warn(&format!("this was not recorded in the journal: {e}"));
            Err(j.into())
        }
        (Err(j), Ok(_)) => Err(j.into()),
    }
}
