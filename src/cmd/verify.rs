//! `verify`: every check `unpack` makes, changing nothing in the store.
use std::io::Read;
use std::path::Path;

use airlock_bundle::Limits;
use airlock_hsm::{StoreState, TrustStore, open_store};

use crate::cli::VerifyArgs;
use crate::cmd::Output;
use crate::cmd::progress::{CountingReader, bytes_bar};
use crate::cmd::{Outcome, warn};
use crate::error::Error;
use crate::intoto::inspection::InspectionResult;
use crate::journal::decision::{Decision, lock_store};
use crate::journal::{Journal, signer_of, writer::record};
use crate::policy::verification_time;
use crate::timefmt::{format_utc, now, parse_utc};
use crate::verifier::{
    ArtifactSink, Discard, InspectionPolicy, Observed, Verdict, verify_bundle_with,
};
use crate::volumes::BundleInput;
use indicatif::ProgressBar;

/// Parses `--at` and reports its use loudly.
pub fn time_override(at: Option<&str>) -> Result<Option<u64>, Error> {
    let Some(s) = at else { return Ok(None) };
    let t = parse_utc(s).map_err(|e| Error::usage(e, "give --at as YYYY-MM-DDTHH:MM:SSZ (UTC)"))?;
    warn(&format!(
        "--at overrides the verification time: checking as of {} (system clock {})",
        format_utc(t),
        format_utc(now())
    ));
    Ok(Some(t))
}

/// `--run-inspections`: said loudly, and only where commands can be cut
/// off the network (`inspection-sandbox` otherwise).
pub fn inspection_policy(run: bool) -> Result<InspectionPolicy, Error> {
    if !run {
        return Ok(InspectionPolicy::Evaluate);
    }
    crate::intoto::record::check_offline().map_err(Error::InspectionSandbox)?;
    warn(
        "--run-inspections: the layout's inspection commands will run (in a scratch copy of the artifacts, without network access)",
    );
    Ok(InspectionPolicy::Run {
        timeout: crate::verifier::INSPECTION_TIMEOUT,
    })
}

/// The inspections of an accepted chain: a line each, and
/// `inspection_results` for `--json`.
pub(crate) fn describe_inspections(o: &mut Outcome, results: &[InspectionResult]) {
    for r in results {
        o.line(format!(
            "inspection '{}' {} ({})",
            r.name,
            r.result,
            r.evaluated_by.as_str()
        ));
    }
    o.field("inspection_results", inspection_results_json(results));
}

/// The inspections of an accepted chain, for `--json`.
fn inspection_results_json(results: &[InspectionResult]) -> serde_json::Value {
    results
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "evaluated_by": r.evaluated_by.as_str(),
                "result": r.result,
            })
        })
        .collect()
}

/// A bundle opened for checking, with its progress bar.
#[derive(Debug)]
pub struct OpenedBundle {
    input: BundleInput,
    bar: ProgressBar,
}

/// Opens the bundle (a file, or the first volume of a split bundle): checked
/// to be a regular file and readable, before any store lock is taken, so a
/// FIFO or an unreadable file never holds the store. With `prompt`, volumes
/// not beside the previous one are asked for.
pub fn open_bundle(
    bundle: &Path,
    output: Output,
    label: &str,
    prompt: bool,
) -> Result<OpenedBundle, Error> {
    let bar = bytes_bar(0, label, output);
    let input = BundleInput::open(
        bundle,
        prompt.then(|| crate::cmd::terminal::prompt_locator(bar.clone())),
    )?;
    bar.set_length(input.size);
    Ok(OpenedBundle { input, bar })
}

impl OpenedBundle {
    /// The bundle id an import of this bundle file would resume under, if
    /// its payload is cut into frames (bundle-format/SPEC.md 5.8): read
    /// from its head through a handle of its own, unverified — it only
    /// names the staging directory an interrupted import may have left
    /// (whatever is found there is re-hashed against the verified
    /// manifest). `None` for a single-frame payload or a head that does
    /// not read.
    pub fn resumable_id(&self, bundle: &Path) -> Option<String> {
        let r = if self.input.volumes().is_some() {
            // The head is in the first volume.
            let mut set = airlock_bundle::VolumeSet::open(bundle, Limits::default(), None).ok()?;
            set.read_unauthenticated();
            airlock_bundle::BundleReader::open(set.stream().ok()?, Limits::default()).ok()?
        } else {
            let file = airlock_hsm::opfile::open_regular(bundle).ok()?;
            airlock_bundle::BundleReader::open(file, Limits::default()).ok()?
        };
        let m = r.manifest();
        (!m.frames.is_empty()).then(|| m.bundle_id.clone())
    }
}

/// Runs the verifier over an opened bundle, with its progress bar.
pub fn check(
    opened: OpenedBundle,
    store: &dyn TrustStore,
    state: &StoreState,
    time: u64,
    sink: &mut dyn ArtifactSink,
    seen: &mut Observed,
    inspections: InspectionPolicy,
) -> Result<Verdict, Error> {
    let OpenedBundle { mut input, bar } = opened;
    let reader = input.take_reader();
    // The bundle can be read again from a later payload frame, for an
    // import that resumes (`ArtifactSink::resume`): a bundle file through a
    // second handle on it, a split bundle from the volume holding that
    // frame (bundle-format/SPEC.md 11.6).
    let mut again = input.reopener();
    let input = input;
    let mut reopen = |offset: u64| -> Result<Box<dyn Read + Send>, Error> {
        bar.set_position(offset);
        if let Some(file) = again.as_mut() {
            use std::io::Seek;
            file.seek(std::io::SeekFrom::Start(offset))
                .map_err(|e| Error::Internal(format!("cannot seek in the bundle: {e}")))?;
            let file = file
                .try_clone()
                .map_err(|e| Error::Internal(format!("cannot reopen the bundle: {e}")))?;
            return Ok(Box::new(CountingReader::new(file, bar.clone())));
        }
        match input.volumes() {
            Some(set) => Ok(Box::new(CountingReader::new(
                set.stream_from(offset)?,
                bar.clone(),
            ))),
            None => Err(Error::Internal("the bundle cannot be read again".into())),
        }
    };
    let anchor = crate::trust_anchor::trusted_anchor(store)?;
    let enclave = crate::policy::enclave_id(store)?;
    seen.bundle_size = Some(input.size);
    let result = verify_bundle_with(
        CountingReader::new(reader, bar.clone()),
        &anchor,
        (state, enclave.as_deref(), &|id| {
            Ok(state.ledger_contains(store.dir(), id)?)
        }),
        time,
        Limits::default(),
        sink,
        seen,
        &mut |root, manifest| input.authenticate(root, manifest),
        &|manifest| crate::delta::locate(store, state, manifest),
        inspections,
        Some(&mut reopen),
    );
    bar.finish_and_clear();
    let verdict = result.map_err(|e| input.diagnose(e))?;
    verdict.sigstore.verify_pinned(store, time)?;
    Ok(verdict)
}

/// Describes an accepted bundle.
pub fn describe(o: &mut Outcome, v: &Verdict) {
    o.line(format!("bundle     {}", v.bundle_id));
    o.line(format!("channel    {} sequence {}", v.channel, v.sequence));
    o.line(format!(
        "created    {}  expires {}",
        format_utc(v.created),
        format_utc(v.expires)
    ));
    o.line(format!(
        "signed by  {} (root version {})",
        v.signers.join(", "),
        v.root_version
    ));
    o.line(format!(
        "content    {} artifacts, {} bytes; {} metadata entries",
        v.artifacts, v.artifact_bytes, v.metadata
    ));
    o.line(format!(
        "chain      in-toto layout holds ({} steps, {} inspections passed, {} attestations); artifacts are products of step '{}'",
        v.supply_chain.steps,
        v.supply_chain.inspection_results.len(),
        v.supply_chain.attestations,
        v.supply_chain.product_step
    ));
    describe_inspections(o, &v.supply_chain.inspection_results);
    for w in &v.supply_chain.warnings {
        crate::cmd::warn(w);
    }
    if v.posix_names {
        crate::cmd::warn(
            "the bundle is marked POSIX-only (pack --posix-names): its file names may differ only by case or Unicode normalization, or cannot exist on FAT32, exFAT or NTFS; unpack it only onto a case-sensitive, non-normalizing POSIX filesystem",
        );
        o.line("names      POSIX-only (pack --posix-names)");
    }
    o.field("posix_names", v.posix_names);
    match &v.delta {
        Some(d) => {
            o.line(format!(
                "delta      of bundle {}: {} files, {} bytes taken from its import, re-hashed",
                d.base, d.files, d.bytes
            ));
            o.field(
                "delta",
                serde_json::json!({"base_bundle_id": d.base, "from_base_files": d.files, "from_base_bytes": d.bytes}),
            );
        }
        None => {
            o.field("delta", serde_json::Value::Null);
        }
    }
    for id in &v.manifest.enclaves {
        o.line(format!("for        enclave {id}"));
    }
    o.field("enclaves", v.manifest.enclaves.clone());
    if let Some(a) = &v.new_anchor {
        o.line(format!(
            "root       rotates the anchor to version {}",
            a.version
        ));
    }
    o.field("product_step", v.supply_chain.product_step.clone())
        .field("layout_expires", v.supply_chain.layout_expires.clone());
    o.field("bundle_id", v.bundle_id.clone())
        .field("channel", v.channel.clone())
        .field("sequence", v.sequence)
        .field("created", format_utc(v.created))
        .field("expires", format_utc(v.expires))
        .field("manifest_sha256", v.manifest_sha256.clone())
        .field("signers", v.signers.clone())
        .field("root_version", v.root_version)
        .field("artifacts", v.artifacts)
        .field("artifact_bytes", v.artifact_bytes)
        .field("time", format_utc(v.time));
}

/// `airlock verify BUNDLE --store STORE`; then refreshes `--metrics-file`.
pub fn run(a: &VerifyArgs, output: Output) -> Result<Outcome, Error> {
    let result = decide(a, output);
    crate::journal::metrics::refresh(&a.store.dir(), a.metrics_file.as_deref(), &crate::cmd::warn);
    result
}

fn decide(a: &VerifyArgs, output: Output) -> Result<Outcome, Error> {
    let at = time_override(a.at.as_deref())?;
    let store = open_store(&a.store.dir())?;
    let signer = signer_of(store.as_ref())?;
    let journal = Journal::new(store.dir(), signer.as_ref())?;
    let inspections = inspection_policy(a.run_inspections)?;
    let mut decision = Decision::new("verify", &a.bundle, at);
    decision.run_inspections = inspections != InspectionPolicy::Evaluate;
    let result = open_bundle(&a.bundle, output, "verify", a.prompt.asks()).and_then(|opened| {
        let state = store.state()?;
        let time = verification_time(at, &state, now());
        decision.time = Some(time);
        let verdict = check(
            opened,
            store.as_ref(),
            &state,
            time,
            &mut Discard,
            &mut decision.seen,
            inspections,
        )?;
        // Last, the enclave's own policy (if the store pins one).
        let admission = crate::gate::enforce(store.as_ref(), &state, &verdict)?;
        Ok((verdict, admission))
    });
    // Every decision is journaled; the lock serializes the appends.
    let lock = lock_store(store.as_ref(), &crate::cmd::warn)?;
    let (verdict, admission) = result.map_err(|e| {
        decision.record_refusal(store.as_ref(), &journal, &lock, e, &crate::cmd::warn)
    })?;
    decision.policy = admission.as_ref().map(crate::gate::Admission::field);
    let head = record(
        store.as_ref(),
        &journal,
        &lock,
        decision.accepted(&verdict, None),
    )?;
    drop(lock);
    let mut o = Outcome::default();
    o.line(format!(
        "ACCEPTED {} (verify only; the store is unchanged)",
        a.bundle.display()
    ));
    describe(&mut o, &verdict);
    describe_admission(&mut o, admission.as_ref());
    o.line(format!("journal    record {}", head.seq));
    o.field("accepted", true).field("journal_record", head.seq);
    Ok(o)
}

/// The `policy` line and field of an accepted bundle's outcome.
pub(crate) fn describe_admission(o: &mut Outcome, admission: Option<&crate::gate::Admission>) {
    match admission {
        Some(a) => {
            o.line(format!(
                "policy     admitted by sha256:{} ({} rules pass)",
                a.sha256,
                a.results.len()
            ));
            o.field("policy", a.field());
        }
        None => {
            o.field("policy", serde_json::Value::Null);
        }
    }
}
