//! `root init`, `root sign`, `root rotate` and `root verify`.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use airlock_hsm::PublicKey;
use serde_json::json;

use crate::cli::{RootInitArgs, RootRotateArgs, RootVerifyArgs};
use crate::cmd::verify::time_override;
use crate::cmd::{Outcome, warn};
use crate::error::Error;
use crate::fsutil::{create_file, replace_file};
use crate::json::Json;
use crate::keys::{
    Tally, key_scheme, keyid, listed_under_other_scheme, load_public_key, load_signer, obj, respell,
};
use crate::timefmt::{format_utc, now, parse_duration};
use crate::trust_anchor::read_root;
use crate::tuf::root::MAX_ROTATIONS;
use crate::tuf::rotate::root_keyids_of;
use crate::tuf::sign_root_document;
use crate::tuf::{Root, RootChain, RootError, Rotation, build_root, rotate as make_rotation};

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
    let layout_keys = a
        .layout_key
        .iter()
        .map(|p| load_public_key(p))
        .collect::<Result<Vec<_>, _>>()?;
    check_threshold("root", a.root_threshold, &root_keys)?;
    check_threshold("targets", a.targets_threshold, &targets_keys)?;
    check_threshold("layout", a.layout_threshold, &layout_keys)?;
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
        Some((&layout_keys, a.layout_threshold)),
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
        "layout owner: {} of {} keys must sign the in-toto layout: {}",
        a.layout_threshold,
        layout_keys.len(),
        layout_keys.iter().map(keyid).collect::<Vec<_>>().join(", ")
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

/// Names the link of a chain in a root refusal (other errors pass).
fn in_link(e: Error, link: impl FnOnce() -> String) -> Error {
    match e {
        Error::Root(r) => Error::Root(r.in_link(link())),
        other => other,
    }
}

/// The keyids of `by`'s root role that have not signed (a key counted under
/// one keyid counts for all its keyids).
fn missing(by: &Root, tally: &Tally) -> Vec<String> {
    let counted: Vec<&PublicKey> = tally
        .counted
        .iter()
        .filter_map(|id| by.keys.get(id).and_then(|k| k.public.as_ref()))
        .collect();
    by.root
        .keyids
        .iter()
        .filter(|id| {
            by.keys
                .get(*id)
                .and_then(|k| k.public.as_ref())
                .is_some_and(|pk| !counted.contains(&pk))
        })
        .cloned()
        .collect()
}

/// One line on a role's signatures: `label: 1 of 2 required signatures
/// present; still missing …`, or `label: 3 signatures, 2 required:
/// threshold met` (more keys may sign than the threshold asks).
fn tally_line(label: &str, by: &Root, tally: &Tally) -> String {
    if tally.met() {
        let n = tally.counted.len();
        format!(
            "{label}: {n} signature{}, {} required: threshold met",
            if n == 1 { "" } else { "s" },
            tally.threshold
        )
    } else {
        format!(
            "{label}: {} of {} required signatures present; still missing a signature from {} more of: {}",
            tally.counted.len(),
            tally.threshold,
            tally.threshold - tally.counted.len() as u64,
            missing(by, tally).join(", ")
        )
    }
}

/// The previous version of `root`: `--previous`, or `N-1.root.json` (or its
/// zero-padded name) beside `file`.
fn previous_root(
    file: &Path,
    root: &Root,
    previous: Option<&Path>,
) -> Result<Option<(PathBuf, Root)>, Error> {
    if let Some(p) = previous {
        let (prev, _) = read_root(p)?;
        if prev.version.checked_add(1) != Some(root.version) {
            return Err(Error::usage(
                format!(
                    "--previous {} is version {}, but {} is version {}",
                    p.display(),
                    prev.version,
                    file.display(),
                    root.version
                ),
                format!(
                    "give the root of version {} as --previous",
                    root.version.saturating_sub(1)
                ),
            ));
        }
        return Ok(Some((p.to_owned(), prev)));
    }
    if root.version <= 1 {
        return Ok(None);
    }
    let dir = file.parent().unwrap_or(Path::new(""));
    let v = root.version - 1;
    for name in [format!("{v}.root.json"), format!("{v:010}.root.json")] {
        let p = dir.join(name);
        if p.is_file()
            && let Ok((prev, _)) = read_root(&p)
            && prev.version == v
        {
            return Ok(Some((p, prev)));
        }
    }
    Ok(None)
}

/// `airlock root sign FILE --key KEY... [--previous FILE]`.
pub fn sign(file: &Path, keys: &[String], previous: Option<&Path>) -> Result<Outcome, Error> {
    let (root, bytes) = read_root(file)?;
    let prev = previous_root(file, &root, previous)?;
    // Every key is loaded and checked before anything is signed: a wrong
    // key leaves the file as it was.
    let signers = keys
        .iter()
        .map(|k| load_signer(k))
        .collect::<Result<Vec<_>, _>>()?;
    let mut o = Outcome::default();
    for (spec, signer) in keys.iter().zip(&signers) {
        let pk = signer.public_key();
        let listed = root
            .keys
            .values()
            .chain(prev.iter().flat_map(|(_, p)| p.keys.values()));
        if let Some(scheme) = listed_under_other_scheme(pk, listed) {
            return Err(Error::usage(
                format!(
                    "{spec} is listed in the root under the {scheme} scheme, but was named as a key of the {} scheme",
                    key_scheme(pk)
                ),
                format!(
                    "name it as --key '{}'; nothing was written",
                    respell(spec, scheme)
                ),
            ));
        }
        let own = !root_keyids_of(&root, pk).is_empty();
        let before = prev
            .as_ref()
            .map(|(_, p)| !root_keyids_of(p, pk).is_empty());
        match (own, before) {
            (true, _) | (false, Some(true)) => {}
            (false, Some(false)) => {
                return Err(Error::usage(
                    format!(
                        "{spec} (keyid {}) is a root key of neither version {} nor version {}",
                        keyid(pk),
                        root.version,
                        root.version - 1
                    ),
                    "sign with root keys of the new or the previous version; nothing was written",
                ));
            }
            (false, None) if root.version <= 1 => {
                return Err(Error::usage(
                    format!(
                        "{spec} (keyid {}) is not a root key of version {}",
                        keyid(pk),
                        root.version
                    ),
                    format!(
                        "sign with its root keys ({}); nothing was written",
                        root.root.keyids.join(", ")
                    ),
                ));
            }
            (false, None) => {
                o.line(format!(
                    "note: {} is not a root key of version {}; its signature counts only towards version {}'s threshold (not found beside the file: give --previous to check it)",
                    keyid(pk),
                    root.version,
                    root.version - 1
                ));
            }
        }
    }
    let mut doc = Json::parse(&bytes).map_err(|e| RootError::Malformed(e.0))?;
    let mut listing = vec![&root];
    if let Some((_, p)) = &prev {
        listing.push(p);
    }
    let mut signed_by = Vec::new();
    for signer in &signers {
        signed_by.extend(sign_root_document(&mut doc, signer.as_ref(), &listing)?);
    }
    let text = doc.to_pretty();
    let signed = Root::parse(text.as_bytes())?;
    replace_file(file, text.as_bytes())?;

    o.line(format!(
        "signed {} (version {}) with {}",
        file.display(),
        signed.version,
        signed_by.join(", ")
    ));
    let mut complete = true;
    let mut prev_json = serde_json::Value::Null;
    if let Some((p, prev)) = &prev {
        let t = signed.tally_by(prev);
        complete &= t.met();
        o.line(tally_line(
            &format!(
                "root keys of version {} (previous, {})",
                prev.version,
                p.display()
            ),
            prev,
            &t,
        ));
        prev_json = json!({
            "file": p.display().to_string(),
            "version": prev.version,
            "complete": t.met(),
            "missing": missing(prev, &t),
        });
    } else if signed.version > 1 {
        o.line(format!(
            "note: version {} was not found beside {}: give --previous to see which of its root keys must still sign this rotation",
            signed.version - 1,
            file.display()
        ));
    }
    let own = signed.tally_by(&signed);
    complete &= own.met();
    o.line(tally_line(
        &format!("root keys of version {} (this root)", signed.version),
        &signed,
        &own,
    ));
    if complete {
        o.line(if prev.is_some() {
            "complete: the rotation is fully signed"
        } else {
            "complete"
        });
    }
    o.field("file", file.display().to_string())
        .field("version", signed.version)
        .field("signed_by", signed_by)
        .field("complete", complete)
        .field("missing", missing(&signed, &own))
        .field("previous", prev_json);
    Ok(o)
}

/// Resolves a `--remove-root-key` argument: a keyid of the root role, or a
/// public key file whose key the root role lists.
fn resolve_root_key(prev: &Root, arg: &str) -> Result<Vec<String>, Error> {
    if prev.root.keyids.iter().any(|k| k == arg) {
        return Ok(vec![arg.to_owned()]);
    }
    let path = Path::new(arg);
    if path.is_file() {
        let pk = load_public_key(path)?;
        let ids = root_keyids_of(prev, &pk);
        if ids.is_empty() {
            return Err(Error::usage(
                format!(
                    "{arg} (keyid {}) is not a root key of version {}",
                    keyid(&pk),
                    prev.version
                ),
                format!("the root keys are {}", prev.root.keyids.join(", ")),
            ));
        }
        return Ok(ids);
    }
    Err(Error::usage(
        format!(
            "{} is neither a root keyid of version {} nor a key file",
            crate::excerpt(arg),
            prev.version
        ),
        format!("the root keys are {}", prev.root.keyids.join(", ")),
    ))
}

fn role_line(name: &str, role: &crate::tuf::Role) -> String {
    format!(
        "{name} role: {} of {} keys: {}",
        role.threshold,
        role.keyids.len(),
        role.keyids.join(", ")
    )
}

/// The layout owner `root rotate` writes: new keys (`--layout-key`), a new
/// threshold over the current keys, or `None` to keep the field as it is.
fn layout_change(a: &RootRotateArgs, prev: &Root) -> Result<Option<(Vec<PublicKey>, u64)>, Error> {
    let keys = if !a.layout_key.is_empty() {
        a.layout_key
            .iter()
            .map(|p| load_public_key(p))
            .collect::<Result<Vec<_>, _>>()?
    } else if a.layout_threshold.is_some() {
        let Some(owner) = &prev.layout_owner else {
            return Err(Error::usage(
                format!(
                    "root version {} names no layout owner to change the threshold of",
                    prev.version
                ),
                "name the layout owner's keys with --layout-key PUB",
            ));
        };
        owner
            .keys
            .values()
            .filter_map(|k| k.public.clone())
            .collect()
    } else {
        return Ok(None);
    };
    let threshold = a.layout_threshold.unwrap_or(1);
    check_threshold("layout", threshold, &keys)?;
    Ok(Some((keys, threshold)))
}

/// `airlock root rotate --from N.root.json --out M.root.json ...`.
pub fn rotate(a: &RootRotateArgs) -> Result<Outcome, Error> {
    let (prev, bytes) = read_root(&a.from)?;
    let doc = Json::parse(&bytes).map_err(|e| RootError::Malformed(e.0))?;
    let prev_signed = doc
        .as_obj()
        .and_then(|m| m.get("signed"))
        .ok_or_else(|| RootError::Malformed("no signed object".into()))?;
    let add_root = a
        .add_root_key
        .iter()
        .map(|p| load_public_key(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut remove_root = Vec::new();
    for r in &a.remove_root_key {
        for id in resolve_root_key(&prev, r)? {
            if !remove_root.contains(&id) {
                remove_root.push(id);
            }
        }
    }
    let targets = if a.targets_key.is_empty() {
        None
    } else {
        Some(
            a.targets_key
                .iter()
                .map(|p| load_public_key(p))
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let layout = layout_change(a, &prev)?;
    let lifetime =
        parse_duration(&a.expires).map_err(|e| Error::usage(e, "e.g. --expires 365d"))?;
    let expires = now().saturating_add(lifetime);
    let rotated = make_rotation(
        prev_signed,
        &prev,
        &Rotation {
            add_root,
            remove_root,
            root_threshold: a.root_threshold,
            targets,
            targets_threshold: a.targets_threshold,
            layout,
            expires,
        },
    )?;
    let text = obj([
        ("signatures", Json::Arr(vec![])),
        ("signed", rotated.signed),
    ])
    .to_pretty();
    let new = Root::parse(text.as_bytes())?;
    create_file(&a.out, text.as_bytes())?;

    let mut o = Outcome::default();
    if prev.check_signed_by(&prev).is_err() {
        warn(&format!(
            "{} is not signed by a threshold of its own root keys: a chain through it will not verify",
            a.from.display()
        ));
    }
    o.line(format!(
        "wrote {} (version {} from version {}, expires {}), unsigned",
        a.out.display(),
        new.version,
        prev.version,
        format_utc(new.expires)
    ));
    let mut root_line = role_line("root", &new.root);
    if !rotated.added.is_empty() {
        root_line += &format!("; added {}", rotated.added.join(", "));
    }
    if !rotated.removed.is_empty() {
        root_line += &format!("; removed {}", rotated.removed.join(", "));
    }
    o.line(root_line);
    o.line(role_line("targets", &new.targets));
    if !rotated.followers.is_empty() {
        o.line(format!(
            "{} role(s) follow the targets keys",
            rotated.followers.join(" and ")
        ));
    }
    o.line(format!(
        "it must be signed by {} of the root keys of version {} ({}) and {} of its own ({})",
        prev.root.threshold,
        prev.version,
        prev.root.keyids.join(", "),
        new.root.threshold,
        new.root.keyids.join(", ")
    ));
    o.line(format!(
        "next: airlock root sign {} --previous {} --key ROOT-KEY.pem ...",
        a.out.display(),
        a.from.display()
    ));
    o.field("file", a.out.display().to_string())
        .field("version", new.version)
        .field("from_version", prev.version)
        .field("expires", format_utc(new.expires))
        .field("added", rotated.added)
        .field("removed", rotated.removed)
        .field("root_keyids", new.root.keyids.clone())
        .field("root_threshold", new.root.threshold)
        .field("targets_keyids", new.targets.keyids.clone())
        .field("targets_threshold", new.targets.threshold);
    Ok(o)
}

/// `airlock root verify --trusted ROOT [ROOT...] [--at TIME]`.
pub fn verify(a: &RootVerifyArgs) -> Result<Outcome, Error> {
    let at = time_override(a.at.as_deref())?;
    let time = at.unwrap_or_else(now);
    // A bound before anything is read (the trusted file may be among the
    // roots); `advance` counts the rotations exactly.
    if a.roots.len() > MAX_ROTATIONS + 1 {
        return Err(RootError::TooManyRotations.into());
    }
    let name = |p: &Path| p.display().to_string();
    let (trusted, _) = read_root(&a.trusted)
        .map_err(|e| in_link(e, || format!("trusted root {}", name(&a.trusted))))?;
    let self_tally = trusted.tally_by(&trusted);
    trusted
        .check_signed_by(&trusted)
        .map_err(|e| e.in_link(format!("trusted root {}", name(&a.trusted))))?;
    let mut o = Outcome::default();
    o.line(format!(
        "trusted   version {} ({}): signed by {} of its root keys ({} required)",
        trusted.version,
        name(&a.trusted),
        self_tally.counted.len(),
        self_tally.threshold
    ));

    // Versions first (one root in memory at a time), then the chain in
    // version order: a shell glob's order (10 before 2) does not matter.
    // The trusted file itself among the roots (`--trusted roots/1.root.json
    // roots/*.root.json`) is not a rotation: skipped. Any other root at or
    // below the trusted version — even a copy of the trusted one — is
    // refused, as python-tuf refuses it.
    let trusted_file =
        std::fs::canonicalize(&a.trusted).map_err(|e| Error::input(&a.trusted, e))?;
    let mut order = Vec::new();
    for p in &a.roots {
        if std::fs::canonicalize(p).is_ok_and(|c| c == trusted_file) {
            o.line(format!("skipped   {} (the trusted root itself)", name(p)));
            continue;
        }
        let (r, _) = read_root(p).map_err(|e| in_link(e, || format!("root file {}", name(p))))?;
        order.push((r.version, p));
    }
    order.sort_by_key(|(v, _)| *v);
    let trusted_version = trusted.version;
    let mut chain = RootChain::new(trusted);
    let mut last = &a.trusted;
    let mut links = Vec::new();
    for (_, p) in order {
        let (next, _) =
            read_root(p).map_err(|e| in_link(e, || format!("root file {}", name(p))))?;
        let from = chain.current().version;
        let to = next.version;
        let t = chain
            .advance(next, Vec::new())
            .map_err(|e| e.in_link(format!("rotation {from} -> {to} ({})", name(p))))?;
        o.line(format!(
            "rotation  {} -> {} ({}): signed by {} of version {}'s root keys ({} required) and {} of its own ({} required)",
            t.from,
            t.to,
            name(p),
            t.by_previous.counted.len(),
            t.from,
            t.by_previous.threshold,
            t.by_itself.counted.len(),
            t.by_itself.threshold
        ));
        links.push(json!({"from": t.from, "to": t.to, "file": name(p),
            "previous_signers": t.by_previous.counted, "own_signers": t.by_itself.counted}));
        last = p;
    }
    let (final_root, _) = chain
        .finish(time)
        .map_err(|e| e.in_link(format!("final root {}", name(last))))?;
    o.line(format!(
        "final     version {}, expires {} (checked at {})",
        final_root.version,
        format_utc(final_root.expires),
        format_utc(time)
    ));
    o.line(format!("VALID: final root version {}", final_root.version));
    o.field("version", final_root.version)
        .field("trusted_version", trusted_version)
        .field("rotations", links.len())
        .field("links", links)
        .field("file", name(last))
        .field("expires", format_utc(final_root.expires))
        .field("time", format_utc(time));
    Ok(o)
}
