//! `root init` and `root sign`.
use std::collections::BTreeSet;
use std::path::Path;

use crate::cli::RootInitArgs;
use crate::cmd::Outcome;
use crate::error::Error;
use crate::fsutil::{create_file, read_limited, replace_file};
use crate::json::Json;
use crate::keys::{keyid, load_public_key, load_signer, obj};
use crate::timefmt::{format_utc, now, parse_duration};
use crate::tuf::root::MAX_ROOT_BYTES;
use crate::tuf::{Root, RootError, build_root, sign_root_document};

fn check_threshold(
    role: &str,
    threshold: u64,
    keys: &[airlock_hsm::PublicKey],
) -> Result<(), Error> {
    let distinct: BTreeSet<Vec<u8>> = keys.iter().map(|k| k.raw_bytes()).collect();
    if threshold == 0 || threshold > distinct.len() as u64 {
        return Err(Error::usage(
            format!(
                "--{role}-threshold {threshold} cannot be met by {} distinct {role} key(s)",
                distinct.len()
            ),
            format!(
                "give at least {threshold} distinct --{role}-key files, or lower the threshold"
            ),
        ));
    }
    Ok(())
}

/// `airlock root init`.
pub fn init(a: &RootInitArgs) -> Result<Outcome, Error> {
    let root_keys = a
        .root_key
        .iter()
        .map(|p| load_public_key(p))
        .collect::<Result<Vec<_>, _>>()?;
    let targets_keys = a
        .targets_key
        .iter()
        .map(|p| load_public_key(p))
        .collect::<Result<Vec<_>, _>>()?;
    check_threshold("root", a.root_threshold, &root_keys)?;
    check_threshold("targets", a.targets_threshold, &targets_keys)?;
    let lifetime =
        parse_duration(&a.expires).map_err(|e| Error::usage(e, "e.g. --expires 365d"))?;
    let expires = now().saturating_add(lifetime);
    let signed = build_root(
        a.root_version,
        expires,
        &root_keys,
        a.root_threshold,
        &targets_keys,
        a.targets_threshold,
    );
    let doc = obj([("signatures", Json::Arr(vec![])), ("signed", signed)]);
    create_file(&a.out, doc.to_pretty().as_bytes())?;
    let mut o = Outcome::default();
    o.line(format!(
        "wrote {} (version {}, expires {}), unsigned",
        a.out.display(),
        a.root_version,
        format_utc(expires)
    ));
    o.line(format!(
        "root role: {} of {} keys must sign: {}",
        a.root_threshold,
        root_keys.len(),
        root_keys.iter().map(keyid).collect::<Vec<_>>().join(", ")
    ));
    o.line(format!(
        "targets role: {} of {} keys sign bundles: {}",
        a.targets_threshold,
        targets_keys.len(),
        targets_keys
            .iter()
            .map(keyid)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    o.line(format!(
        "next: airlock root sign {} --key ROOT-KEY.pem ...",
        a.out.display()
    ));
    o.field("file", a.out.display().to_string())
        .field("version", a.root_version)
        .field("expires", format_utc(expires));
    Ok(o)
}

/// Reads and structurally checks a root file named by the operator.
pub fn read_root(path: &Path) -> Result<(Root, Vec<u8>), Error> {
    let bytes = read_limited(path, MAX_ROOT_BYTES as u64, "root")?;
    let root = Root::parse(&bytes)?;
    Ok((root, bytes))
}

/// `airlock root sign FILE --key KEY...`.
pub fn sign(file: &Path, keys: &[String]) -> Result<Outcome, Error> {
    let (root, bytes) = read_root(file)?;
    let mut doc = Json::parse(&bytes).map_err(|e| RootError::Malformed(e.0))?;
    let mut o = Outcome::default();
    let mut signed_by = Vec::new();
    for spec in keys {
        let signer = load_signer(spec)?;
        let id = sign_root_document(&mut doc, signer.as_ref())?;
        if !root.root.keyids.contains(&id) {
            o.line(format!(
                "note: {id} is not in this root's root role; its signature counts only towards a previous root's threshold in a rotation"
            ));
        }
        signed_by.push(id);
    }
    replace_file(file, doc.to_pretty().as_bytes())?;
    let root = Root::parse(doc.to_pretty().as_bytes())?;
    let tally = root.tally_by(&root);
    let missing: Vec<&String> = root
        .root
        .keyids
        .iter()
        .filter(|k| !tally.counted.contains(k))
        .collect();
    o.line(format!(
        "signed {} (version {}) with {}",
        file.display(),
        root.version,
        signed_by.join(", ")
    ));
    if tally.met() {
        o.line(format!(
            "root role: {} of {} required signatures present: complete",
            tally.counted.len(),
            tally.threshold
        ));
    } else {
        o.line(format!(
            "root role: {} of {} required signatures present; still missing a signature from {} more of: {}",
            tally.counted.len(),
            tally.threshold,
            tally.threshold - tally.counted.len() as u64,
            missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    o.field("file", file.display().to_string())
        .field("version", root.version)
        .field("signed_by", signed_by)
        .field("complete", tally.met())
        .field(
            "missing",
            missing.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        );
    Ok(o)
}
