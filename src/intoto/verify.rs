//! Supply-chain verification in the reference's order (in-toto 3.1
//! `in_toto_verify`): layout signatures by every given key, expiry, link
//! discovery, link signatures and thresholds, sublayouts, command alignment
//! (a warning), threshold agreement, step rules, inspections, inspection
//! rules.
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::envelope::{self, Signed};
use super::inspection::{
    Contents, EvaluatedBy, InspectionResult, Need, Outcome, Reading, evaluate, evaluator,
};
use super::linkfile::LinkFile;
use super::model::{Artifacts, Layout, Link, Side};
use super::rules::{Links, verify_item_rules};
use super::{IntotoError, record};
use crate::keys::KeyObject;
use crate::timefmt::format_utc;

/// Largest link or layout file read from a directory (a link listing
/// 100,000 artifacts is about 12 MB).
pub const MAX_METADATA_FILE: u64 = 256 << 20;

/// Where link files come from (read from several threads at once).
pub trait LinkSource: Sync {
    /// The bytes of link file `rel` (`STEP.KEYID8.link`, or
    /// `STEP.KEYID8/SUB.KEYID8.link` for a sublayout), `None` if absent.
    fn read(&self, rel: &str) -> Result<Option<Cow<'_, [u8]>>, IntotoError>;
}

/// Links in a directory (`--link-dir`).
#[derive(Debug)]
pub struct DirLinks(pub PathBuf);

impl LinkSource for DirLinks {
    fn read(&self, rel: &str) -> Result<Option<Cow<'_, [u8]>>, IntotoError> {
        let path = self.0.join(rel);
        let malformed = |reason: String| IntotoError::LinkMalformed {
            file: rel.to_owned(),
            reason,
        };
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(malformed(format!("cannot read it: {e}"))),
            Ok(m) if !m.is_file() => return Err(malformed("not a regular file".into())),
            Ok(m) if m.len() > MAX_METADATA_FILE => {
                return Err(malformed(format!(
                    "{} bytes is over the {MAX_METADATA_FILE}-byte limit",
                    m.len()
                )));
            }
            Ok(_) => {}
        }
        airlock_hsm::opfile::read_regular(&path, MAX_METADATA_FILE)
            .map(|b| Some(Cow::Owned(b)))
            .map_err(|e| malformed(format!("cannot read it: {e}")))
    }
}

/// Links held in memory by relative path (a bundle's `meta/links/`).
#[derive(Debug)]
pub struct MapLinks<'a, B>(pub &'a BTreeMap<String, B>);

impl<B: AsRef<[u8]> + Sync> LinkSource for MapLinks<'_, B> {
    fn read(&self, rel: &str) -> Result<Option<Cow<'_, [u8]>>, IntotoError> {
        Ok(self.0.get(rel).map(|b| Cow::Borrowed(b.as_ref())))
    }
}

/// How inspections are treated.
#[derive(Debug, Clone, Copy)]
pub enum Inspections<'a> {
    /// Never run commands: an inspection is evaluated by
    /// [`super::inspection`] over the artifacts under verification (and,
    /// for an archive or checksum file, its bytes), or refused when its
    /// command is not one it evaluates. When an artifact's bytes are not
    /// available yet (a bundle's payload not read yet), the layout's
    /// inspections are left pending ([`Verified::pending`]).
    Evaluate(&'a UnderVerification),
    /// Leave every inspection for later (they will be run).
    Defer,
    /// Run the commands one after another in one scratch copy of `dir`
    /// (each with a timeout, without network access) and record what they
    /// saw, as the reference does.
    Run {
        /// The artifacts under verification.
        dir: &'a Path,
        /// Per-command timeout.
        timeout: Duration,
    },
}

/// The artifacts under verification: known (a bundle's manifest) or hashed
/// from a directory the first time an inspection needs them; and the bytes
/// of those an inspection reads, read from the directory or supplied.
#[derive(Debug)]
pub struct UnderVerification {
    dir: Option<PathBuf>,
    cell: std::cell::OnceCell<Artifacts>,
    contents: std::cell::RefCell<Contents>,
    complete: bool,
}

impl UnderVerification {
    /// Artifacts already known with their digests (their bytes not read).
    pub fn known(artifacts: Artifacts) -> UnderVerification {
        UnderVerification {
            dir: None,
            cell: std::cell::OnceCell::from(artifacts),
            contents: Default::default(),
            complete: false,
        }
    }

    /// Artifacts known with their digests, and the readings of every
    /// artifact the inspections read that is among them.
    pub fn with_contents(artifacts: Artifacts, contents: Contents) -> UnderVerification {
        UnderVerification {
            dir: None,
            cell: std::cell::OnceCell::from(artifacts),
            contents: std::cell::RefCell::new(contents),
            complete: true,
        }
    }

    /// The files under `dir`, recorded as the reference records an
    /// inspection's `.` (default excludes apply).
    pub fn dir(dir: PathBuf) -> UnderVerification {
        UnderVerification {
            dir: Some(dir),
            cell: std::cell::OnceCell::new(),
            contents: Default::default(),
            complete: true,
        }
    }

    /// The artifacts, hashing the directory on first use.
    pub fn get(&self, inspection: &str) -> Result<&Artifacts, IntotoError> {
        if let Some(a) = self.cell.get() {
            return Ok(a);
        }
        let dir = self.dir.as_deref().unwrap_or(Path::new("."));
        let a = record::record_artifacts(dir, &[".".to_owned()], &record::RecordOptions::default())
            .map_err(|e| IntotoError::InspectionFailed {
                name: inspection.to_owned(),
                reason: format!("cannot hash the artifacts under verification: {e}"),
            })?;
        Ok(self.cell.get_or_init(|| a))
    }

    /// The reading for `need`: supplied, or read from the directory;
    /// `None` while the bytes are not available yet.
    fn read(
        &self,
        inspection: &str,
        run: &[String],
        need: &Need,
    ) -> Result<Option<Reading>, IntotoError> {
        if let Some(r) = self.contents.borrow().get(need) {
            return Ok(Some(r.clone()));
        }
        let unevaluable = |reason: String| IntotoError::InspectionUnevaluable {
            name: inspection.to_owned(),
            command: run.join(" "),
            reason,
        };
        let Some(dir) = &self.dir else {
            return if self.complete {
                Err(unevaluable(format!(
                    "it reads {}, whose bytes airlock does not have (an image, or a file an earlier inspection wrote): not evaluated",
                    crate::excerpt(&need.artifact)
                )))
            } else {
                Ok(None)
            };
        };
        let path = dir.join(&need.artifact);
        let mut f = std::fs::File::open(&path).map_err(|e| {
            unevaluable(format!(
                "cannot read {}: {e}",
                crate::excerpt(&need.artifact)
            ))
        })?;
        let reading = super::inspection::read_content(need.read, &mut f);
        self.contents
            .borrow_mut()
            .insert(need.clone(), reading.clone());
        Ok(Some(reading))
    }
}

/// A key a layout must be signed by, with the keyids a signature may claim
/// for it (an operator's PEM key has a modern and a legacy keyid).
#[derive(Debug, Clone)]
pub struct LayoutKey {
    /// Accepted keyids; the first names the key in messages.
    pub keyids: Vec<String>,
    /// The key.
    pub key: KeyObject,
}

impl LayoutKey {
    /// A PEM key given by the operator.
    pub fn from_public(pk: &airlock_hsm::PublicKey) -> LayoutKey {
        LayoutKey {
            keyids: vec![crate::keys::keyid(pk), crate::keys::legacy_keyid(pk)],
            key: KeyObject {
                keytype: String::new(),
                scheme: String::new(),
                public: Some(pk.clone()),
            },
        }
    }
}

/// What verification established.
#[derive(Debug)]
pub struct Verified {
    /// The layout.
    pub layout: Layout,
    /// One link per step (the first valid one; sublayouts summarized).
    pub steps: BTreeMap<String, Link>,
    /// Non-fatal findings (e.g. a command that differs from the expected one).
    pub warnings: Vec<String>,
    /// How each inspection was evaluated (none while pending).
    pub inspections: Vec<InspectionResult>,
    /// Artifacts whose bytes inspections read and were not available: the
    /// inspections of those layouts (and their rules) are not evaluated
    /// yet; verify again with the readings
    /// ([`UnderVerification::with_contents`]).
    pub pending: Vec<Need>,
}

/// What verification finds besides its verdict.
#[derive(Debug, Default)]
struct Findings {
    warnings: Vec<String>,
    inspections: Vec<InspectionResult>,
    pending: Vec<Need>,
}

/// Verifies a signed layout and its links.
pub fn verify(
    layout: &Signed,
    keys: &[LayoutKey],
    links: &dyn LinkSource,
    time: u64,
    inspections: Inspections<'_>,
) -> Result<Verified, IntotoError> {
    let mut found = Findings::default();
    let (layout, steps) = verify_at(layout, keys, links, "", time, inspections, &mut found)?;
    Ok(Verified {
        layout,
        steps,
        warnings: found.warnings,
        inspections: found.inspections,
        pending: found.pending,
    })
}

/// Parses a layout file's bytes into its envelope (checking it holds a layout).
pub fn parse_layout(bytes: &[u8], what: &str) -> Result<(Signed, Layout), IntotoError> {
    let malformed = |reason: String| IntotoError::LayoutMalformed {
        what: what.to_owned(),
        reason,
    };
    let doc = envelope::parse(bytes).map_err(malformed)?;
    let layout = Layout::parse(&doc.payload).map_err(malformed)?;
    Ok((doc, layout))
}

enum Evidence {
    /// A link, with whether its signature by the file's keyid verified
    /// (checked while the file was loaded, reported in the reference's
    /// order).
    Link {
        link: Link,
        signed: bool,
    },
    Sublayout(Signed),
}

struct Loaded {
    keyid: String,
    file: String,
    evidence: Evidence,
}

/// Loads link file `file`, named for `keyid`, whose layout key is `key`.
fn load(
    links: &dyn LinkSource,
    file: &str,
    keyid: &str,
    key: Option<&KeyObject>,
) -> Result<Option<Evidence>, IntotoError> {
    let Some(bytes) = links.read(file)? else {
        return Ok(None);
    };
    let malformed = |reason: String| IntotoError::LinkMalformed {
        file: file.to_owned(),
        reason,
    };
    // An Ed25519 signature is checked while the link is parsed when it can
    // be (intoto::stream_check); otherwise after, below. Only a large link
    // is worth the thread that takes.
    const STREAM_FROM: usize = 1 << 20;
    let parsed = match key {
        Some(key) if bytes.len() >= STREAM_FROM => LinkFile::parse_checking(&bytes, &[keyid], key),
        _ => LinkFile::parse(&bytes).map(|doc| (doc, None)),
    };
    let (doc, streamed) = match parsed {
        Ok(parsed) => parsed,
        // The fast parser reads `materials`/`products` as artifact lists
        // wherever they appear (a sublayout's unknown field, a stray
        // `signed` beside a DSSE payload). What it refuses goes through the
        // generic parser, which decides as the reference does.
        Err(fast) => return load_generic(&bytes, keyid, key).map_err(|_| malformed(fast)),
    };
    match doc.payload_type() {
        "link" => {
            // The file's bytes are parsed: their memory holds the message.
            let buf = match bytes {
                Cow::Owned(buf) => buf,
                Cow::Borrowed(_) => Vec::new(),
            };
            let signed =
                streamed.unwrap_or_else(|| key.is_some_and(|k| doc.signed_by_in(&[keyid], k, buf)));
            let link = doc.into_link().map_err(malformed)?;
            Ok(Some(Evidence::Link { link, signed }))
        }
        "layout" => {
            drop(doc);
            let doc = envelope::parse(&bytes).map_err(malformed)?;
            Layout::parse(&doc.payload).map_err(malformed)?;
            Ok(Some(Evidence::Sublayout(doc)))
        }
        other => Err(malformed(format!(
            "`_type` is {}, expected link or layout",
            crate::excerpt(other)
        ))),
    }
}

/// [`load`] through the generic envelope and JSON tree.
fn load_generic(
    bytes: &[u8],
    keyid: &str,
    key: Option<&KeyObject>,
) -> Result<Option<Evidence>, String> {
    let doc = envelope::parse(bytes)?;
    match doc.payload_type() {
        "link" => {
            let signed = key.is_some_and(|k| doc.signed_by(&[keyid], k));
            let link = Link::parse(&doc.payload)?;
            Ok(Some(Evidence::Link { link, signed }))
        }
        "layout" => {
            Layout::parse(&doc.payload)?;
            Ok(Some(Evidence::Sublayout(doc)))
        }
        _ => Err("not a link or layout".into()),
    }
}

fn short(keyid: &str) -> &str {
    keyid.get(..8).unwrap_or(keyid)
}

/// `STEP.KEYID8.link`: the link file of `step` signed by `keyid`.
pub fn link_file_name(step: &str, keyid: &str) -> String {
    format!("{step}.{}.link", short(keyid))
}

/// The in-toto verification workflow (in-toto spec 1.0, section 5.3: the
/// reference implementation's `in_toto_verify`), each step a function
/// named as the reference names it.
#[allow(clippy::too_many_arguments)]
fn verify_at(
    doc: &Signed,
    keys: &[LayoutKey],
    links: &dyn LinkSource,
    prefix: &str,
    time: u64,
    inspections: Inspections<'_>,
    found: &mut Findings,
) -> Result<(Layout, BTreeMap<String, Link>), IntotoError> {
    let layout = Layout::parse(&doc.payload).map_err(|reason| IntotoError::LayoutMalformed {
        what: if prefix.is_empty() {
            "file".into()
        } else {
            prefix.trim_end_matches('/').into()
        },
        reason,
    })?;
    verify_layout_signatures(doc, keys)?;
    verify_layout_expiration(&layout, time)?;
    let per_step = load_links_for_layout(&layout, links, prefix)?;
    let verified = verify_link_signature_thresholds(&layout, per_step)?;
    let chain = verify_sublayouts(&layout, verified, links, prefix, time, inspections, found)?;
    verify_all_steps_command_alignment(&layout, &chain, &mut found.warnings);
    verify_threshold_constraints(&layout, &chain)?;
    let reduced = reduce_chain_links(&layout, chain);
    verify_all_step_rules(&layout, &reduced)?;
    run_all_inspections(&layout, &reduced, inspections, prefix, found)?;
    Ok((layout, reduced))
}

/// Every given key must have signed the layout.
fn verify_layout_signatures(doc: &Signed, keys: &[LayoutKey]) -> Result<(), IntotoError> {
    if keys.is_empty() {
        return Err(IntotoError::LayoutSignature {
            keyid: "(none given)".into(),
        });
    }
    for k in keys {
        let ids: Vec<&str> = k.keyids.iter().map(String::as_str).collect();
        if !doc.signed_by(&ids, &k.key) {
            return Err(IntotoError::LayoutSignature {
                keyid: k.keyids.first().cloned().unwrap_or_default(),
            });
        }
    }
    Ok(())
}

/// The layout has not expired at `time`.
fn verify_layout_expiration(layout: &Layout, time: u64) -> Result<(), IntotoError> {
    if layout.expires <= time {
        return Err(IntotoError::LayoutExpired {
            expires: layout.expires_text.clone(),
            time: format_utc(time),
        });
    }
    Ok(())
}

/// Link discovery: `STEP.KEYID8.link` per authorized keyid, at least the
/// step's threshold of them. The files are read, parsed and their
/// signatures checked on every core ([`crate::par`]); what they hold is
/// then decided in the layout's order, so the first error is the one a
/// file-by-file load would meet.
fn load_links_for_layout(
    layout: &Layout,
    links: &dyn LinkSource,
    prefix: &str,
) -> Result<Vec<Vec<Loaded>>, IntotoError> {
    let wanted: Vec<(usize, &String, String)> = layout
        .steps
        .iter()
        .enumerate()
        .flat_map(|(i, step)| {
            let mut seen = BTreeSet::new();
            step.pubkeys
                .iter()
                .filter(move |k| seen.insert(k.as_str()))
                .map(move |keyid| {
                    let file = format!("{prefix}{}", link_file_name(&step.item.name, keyid));
                    (i, keyid, file)
                })
        })
        .collect();
    let mut results = crate::par::map_in_order(&wanted, |(_, keyid, file)| {
        load(links, file, keyid, layout.keys.get(*keyid))
    })
    .into_iter();
    let mut wanted = wanted.into_iter().peekable();
    let mut per_step: Vec<Vec<Loaded>> = Vec::new();
    for (i, step) in layout.steps.iter().enumerate() {
        let mut loaded: Vec<Loaded> = Vec::new();
        let mut missing = Vec::new();
        while let Some((_, keyid, file)) = wanted.next_if(|w| w.0 == i) {
            match results.next() {
                Some(Ok(Some(evidence))) => loaded.push(Loaded {
                    keyid: keyid.clone(),
                    file,
                    evidence,
                }),
                Some(Ok(None)) | None => missing.push(file),
                Some(Err(e)) => return Err(e),
            }
        }
        if (loaded.len() as u64) < step.threshold {
            return Err(IntotoError::LinkThreshold {
                step: step.item.name.clone(),
                threshold: step.threshold,
                found: loaded.len() as u64,
                detail: format!("; missing: {}", missing.join(", ")),
            });
        }
        per_step.push(loaded);
    }
    Ok(per_step)
}

/// Link signatures, counting distinct public keys against each step's
/// threshold.
fn verify_link_signature_thresholds(
    layout: &Layout,
    per_step: Vec<Vec<Loaded>>,
) -> Result<Vec<Vec<Loaded>>, IntotoError> {
    let mut verified: Vec<Vec<Loaded>> = Vec::new();
    for (step, loaded) in layout.steps.iter().zip(per_step) {
        let mut refused = Vec::new();
        let mut distinct = BTreeSet::new();
        let mut ok = Vec::new();
        for l in loaded {
            let Some(key) = layout.keys.get(&l.keyid) else {
                refused.push(format!("{}: keyid {} is not a layout key", l.file, l.keyid));
                continue;
            };
            let Some(public) = key.public.as_ref() else {
                refused.push(format!(
                    "{}: airlock cannot verify key type {} with scheme {}",
                    l.file,
                    crate::excerpt(&key.keytype),
                    crate::excerpt(&key.scheme)
                ));
                continue;
            };
            let signed = match &l.evidence {
                Evidence::Link { signed, .. } => *signed,
                Evidence::Sublayout(doc) => doc.signed_by(&[l.keyid.as_str()], key),
            };
            if !signed {
                refused.push(format!("{}: no valid signature by {}", l.file, l.keyid));
                continue;
            }
            if let Evidence::Link { link, .. } = &l.evidence
                && link.name != step.item.name
            {
                return Err(IntotoError::LinkNameMismatch {
                    file: l.file,
                    name: link.name.clone(),
                    step: step.item.name.clone(),
                });
            }
            distinct.insert(public.raw_bytes());
            ok.push(l);
        }
        if (distinct.len() as u64) < step.threshold {
            let detail = if refused.is_empty() {
                String::new()
            } else {
                format!("; refused: {}", refused.join("; "))
            };
            return Err(IntotoError::LinkThreshold {
                step: step.item.name.clone(),
                threshold: step.threshold,
                found: distinct.len() as u64,
                detail,
            });
        }
        verified.push(ok);
    }
    Ok(verified)
}

/// Sublayouts, verified recursively and each summarized as one link.
#[allow(clippy::too_many_arguments)]
fn verify_sublayouts(
    layout: &Layout,
    verified: Vec<Vec<Loaded>>,
    links: &dyn LinkSource,
    prefix: &str,
    time: u64,
    inspections: Inspections<'_>,
    found: &mut Findings,
) -> Result<Vec<Vec<(String, Link)>>, IntotoError> {
    let mut chain: Vec<Vec<(String, Link)>> = Vec::new();
    for (step, loaded) in layout.steps.iter().zip(verified) {
        let mut links_of_step = Vec::new();
        for l in loaded {
            let link = match l.evidence {
                Evidence::Link { link, .. } => link,
                Evidence::Sublayout(sub_doc) => {
                    let key =
                        layout.keys.get(&l.keyid).cloned().ok_or_else(|| {
                            IntotoError::Internal("sublayout key vanished".into())
                        })?;
                    let sub_keys = [LayoutKey {
                        keyids: vec![l.keyid.clone()],
                        key,
                    }];
                    let sub_prefix = format!("{prefix}{}.{}/", step.item.name, short(&l.keyid));
                    let wrap = |inner| IntotoError::Sublayout {
                        step: step.item.name.clone(),
                        file: l.file.clone(),
                        inner: Box::new(inner),
                    };
                    let (sub_layout, sub_steps) = verify_at(
                        &sub_doc,
                        &sub_keys,
                        links,
                        &sub_prefix,
                        time,
                        inspections,
                        found,
                    )
                    .map_err(wrap)?;
                    summary(&sub_layout, &sub_steps, &step.item.name)
                }
            };
            links_of_step.push((l.file, link));
        }
        chain.push(links_of_step);
    }
    Ok(chain)
}

/// Command alignment: a warning only.
fn verify_all_steps_command_alignment(
    layout: &Layout,
    chain: &[Vec<(String, Link)>],
    warnings: &mut Vec<String>,
) {
    for (step, links_of_step) in layout.steps.iter().zip(chain) {
        for (file, link) in links_of_step {
            if link.command != step.expected_command {
                warnings.push(format!(
                    "step '{}': {file} ran {:?}, the layout expects {:?}",
                    step.item.name, link.command, step.expected_command
                ));
            }
        }
    }
}

/// Threshold agreement: the links of a step with a threshold above 1
/// record the same materials and products.
fn verify_threshold_constraints(
    layout: &Layout,
    chain: &[Vec<(String, Link)>],
) -> Result<(), IntotoError> {
    for (step, links_of_step) in layout.steps.iter().zip(chain) {
        if step.threshold <= 1 {
            continue;
        }
        if let Some((first_file, first)) = links_of_step.first() {
            for (file, link) in &links_of_step[1..] {
                if link.materials != first.materials || link.products != first.products {
                    return Err(IntotoError::LinkDisagreement {
                        step: step.item.name.clone(),
                        first: first_file.clone(),
                        other: file.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// One link per step.
fn reduce_chain_links(layout: &Layout, chain: Vec<Vec<(String, Link)>>) -> BTreeMap<String, Link> {
    let mut reduced: BTreeMap<String, Link> = BTreeMap::new();
    for (step, links_of_step) in layout.steps.iter().zip(chain) {
        if let Some((_, link)) = links_of_step.into_iter().next() {
            reduced.insert(step.item.name.clone(), link);
        }
    }
    reduced
}

/// The steps' artifact rules (the reference's `verify_all_item_rules` for
/// steps).
fn verify_all_step_rules(
    layout: &Layout,
    reduced: &BTreeMap<String, Link>,
) -> Result<(), IntotoError> {
    {
        let view: Links = reduced.iter().map(|(k, v)| (k.as_str(), v)).collect();
        for step in &layout.steps {
            verify_item_rules("step", &step.item, Side::Materials, &view)?;
            verify_item_rules("step", &step.item, Side::Products, &view)?;
        }
    }
    Ok(())
}

/// Inspections, one after another (each sees the files the one before it
/// left, as in the reference), then their artifact rules.
fn run_all_inspections(
    layout: &Layout,
    reduced: &BTreeMap<String, Link>,
    mode: Inspections<'_>,
    prefix: &str,
    found: &mut Findings,
) -> Result<(), IntotoError> {
    if layout.inspections.is_empty() {
        return Ok(());
    }
    let empty = || crate::json::Json::Obj(BTreeMap::new());
    let mut inspection_links = BTreeMap::new();
    let mut results = Vec::new();
    match mode {
        Inspections::Defer => return Ok(()),
        Inspections::Evaluate(under) => {
            let evaluators = layout
                .inspections
                .iter()
                .map(|i| evaluator(&i.item.name, &i.run))
                .collect::<Result<Vec<_>, _>>()?;
            let first = &layout.inspections[0].item.name;
            let mut current = under.get(first)?.clone();
            for (inspection, ev) in layout.inspections.iter().zip(&evaluators) {
                let name = &inspection.item.name;
                let read = |need: &Need| under.read(name, &inspection.run, need);
                match evaluate(name, &inspection.run, ev, &current, &read)? {
                    Outcome::Needs(_) => {
                        // Left for when the bytes are there: every artifact
                        // this layout's inspections read.
                        for need in evaluators.iter().filter_map(|e| e.need()) {
                            if !found.pending.contains(&need) {
                                found.pending.push(need);
                            }
                        }
                        return Ok(());
                    }
                    Outcome::Passed(after) => {
                        inspection_links.insert(
                            name.clone(),
                            Link {
                                name: name.clone(),
                                command: inspection.run.clone(),
                                materials: std::mem::replace(&mut current, after.clone()),
                                products: after,
                                byproducts: empty(),
                                environment: empty(),
                            },
                        );
                        results.push((name, ev.by()));
                    }
                }
            }
        }
        Inspections::Run { dir, timeout } => {
            let first = &layout.inspections[0].item.name;
            let failed = |name: &str, reason: String| IntotoError::InspectionFailed {
                name: name.to_owned(),
                reason,
            };
            let scratch = tempfile::Builder::new()
                .prefix("airlock-inspection-")
                .tempdir()
                .map_err(|e| failed(first, format!("cannot make a scratch directory: {e}")))?;
            record::copy_tree(dir, scratch.path())
                .map_err(|e| failed(first, format!("cannot copy the artifacts: {e}")))?;
            for inspection in &layout.inspections {
                let name = &inspection.item.name;
                let link = run_inspection(name, &inspection.run, scratch.path(), timeout)?;
                inspection_links.insert(name.clone(), link);
                results.push((name, EvaluatedBy::Ran));
            }
        }
    }
    let mut view: Links = reduced.iter().map(|(k, v)| (k.as_str(), v)).collect();
    for (k, v) in &inspection_links {
        view.insert(k.as_str(), v);
    }
    for inspection in &layout.inspections {
        verify_item_rules("inspection", &inspection.item, Side::Materials, &view)?;
        verify_item_rules("inspection", &inspection.item, Side::Products, &view)?;
    }
    found
        .inspections
        .extend(results.into_iter().map(|(name, by)| InspectionResult {
            name: format!("{prefix}{name}"),
            evaluated_by: by,
            result: "pass",
        }));
    Ok(())
}

/// The link standing for a whole (sub)layout: materials of its first step,
/// products, byproducts and command of its last.
pub fn summary(layout: &Layout, steps: &BTreeMap<String, Link>, name: &str) -> Link {
    let first = layout.steps.first().and_then(|s| steps.get(&s.item.name));
    let last = layout.steps.last().and_then(|s| steps.get(&s.item.name));
    Link {
        name: name.to_owned(),
        command: last.map(|l| l.command.clone()).unwrap_or_default(),
        materials: first.map(|l| l.materials.clone()).unwrap_or_default(),
        products: last.map(|l| l.products.clone()).unwrap_or_default(),
        byproducts: last
            .map(|l| l.byproducts.clone())
            .unwrap_or(crate::json::Json::Obj(BTreeMap::new())),
        environment: crate::json::Json::Obj(BTreeMap::new()),
    }
}

/// Runs one inspection's command in `scratch`, without network access,
/// recording the directory before and after it.
fn run_inspection(
    name: &str,
    run: &[String],
    scratch: &Path,
    timeout: Duration,
) -> Result<Link, IntotoError> {
    let failed = |reason: String| IntotoError::InspectionFailed {
        name: name.to_owned(),
        reason,
    };
    let opts = record::RecordOptions::default();
    let dot = [".".to_owned()];
    let materials =
        record::record_artifacts(scratch, &dot, &opts).map_err(|e| failed(e.to_string()))?;
    let mut command = record::offline_prefix();
    command.extend(run.iter().cloned());
    let outcome = record::run_command(&command, scratch, Some(timeout), record::Streams::Discard)
        .map_err(|e| failed(e.to_string()))?;
    if outcome.return_value != 0 {
        return Err(failed(format!(
            "{:?} exited with {}",
            run, outcome.return_value
        )));
    }
    let products =
        record::record_artifacts(scratch, &dot, &opts).map_err(|e| failed(e.to_string()))?;
    Ok(Link {
        name: name.to_owned(),
        command: run.to_vec(),
        materials,
        products,
        byproducts: outcome.byproducts(),
        environment: crate::json::Json::Obj(BTreeMap::new()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod load_tests {
    use super::*;

    fn loads(text: &str) -> bool {
        let map: BTreeMap<String, Vec<u8>> = [("f".to_owned(), text.as_bytes().to_vec())].into();
        matches!(load(&MapLinks(&map), "f", "ab", None), Ok(Some(_)))
    }

    #[test]
    fn what_the_fast_parser_refuses_is_decided_by_the_generic_one() {
        // Accepted by in-toto 3.1.0 and the generic path.
        let body = envelope::b64_encode(br#"{"_type":"link","name":"s"}"#);
        let payload_type = envelope::PAYLOAD_TYPE;
        assert!(loads(&format!(
            r#"{{"payload":"{body}","payloadType":"{payload_type}","signatures":[],"signed":[]}}"#
        )));
        assert!(loads(
            r#"{"signatures":[],"signed":{"_type":"layout","expires":"2030-01-01T00:00:00Z","keys":{},"steps":[],"inspect":[],"readme":"","materials":"x"}}"#
        ));
        // Still refused: a malformed link.
        assert!(!loads(
            r#"{"signatures":[],"signed":{"_type":"link","name":"s","materials":{"a":{"sha256":"zz"}}}}"#
        ));
    }
}
