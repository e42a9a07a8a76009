//! `split` (cut an existing bundle into volumes) and `volumes check` (check
//! volume files one at a time against their signed index, as media are
//! inserted). Reading volumes as one bundle is `verify`/`unpack`/`inspect`'s
//! business (`crate::volumes::BundleInput`).
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use airlock_bundle::{
    BundleReader, EntryKind, Limits, VolumeHeader, Wanted, WrittenVolumes, check_volume,
    check_volume_slice, is_volume, parse_volume_path,
};
use airlock_hsm::{Signer, open_store};
use serde_json::json;

use crate::cli::{SplitArgs, VolumesCheckArgs};
use crate::cmd::Outcome;
use crate::cmd::Output;
use crate::cmd::progress::{TermProgress, bytes_bar};
use crate::cmd::verify::time_override;
use crate::error::Error;
use crate::keys::load_signer;
use crate::policy::{check_index_signatures, check_signatures, verification_time};
use crate::timefmt::now;
use crate::tuf::Root;
use crate::volumes::{
    SplitSource, authenticate_from_first_volume, parse_volume_size, sign_index, size_warnings,
    split_bundle_file,
};

/// Parses `--split` / `--size` (exit 2 on error), warning about a size
/// that does not fit the media its name suggests.
pub fn volume_size_arg(flag: &str, s: &str) -> Result<u64, Error> {
    let size = parse_volume_size(s).map_err(|e| {
        Error::usage(
            format!("{flag} {e}"),
            "e.g. --split fat32 (USB sticks), dvd, bd, 700MB or 4GiB",
        )
    })?;
    for w in size_warnings(s, size) {
        super::warn(&w);
    }
    Ok(size)
}

/// Reports written volumes (for `split` and `pack --split`).
pub fn describe_volumes(o: &mut Outcome, w: &WrittenVolumes, volume_size: u64) {
    let count = w.paths.len();
    o.line(format!(
        "volumes    {count} of at most {volume_size} bytes (each header {} bytes)",
        w.index.header_len
    ));
    let mut list = Vec::new();
    for (k, p) in w.paths.iter().enumerate() {
        let number = k as u32 + 1;
        let size = w.index.file_len(number);
        o.line(format!("  {}  {size} bytes", p.display()));
        list.push(
            json!({"number": number, "path": p.display().to_string(), "size": size,
            "slice_sha256": hex::encode(w.index.volumes[k].sha256)}),
        );
    }
    for r in &w.removed {
        o.line(format!(
            "removed    {} (a volume of an earlier, longer split under the same name)",
            r.display()
        ));
    }
    o.field("volumes", list)
        .field("volume_size", volume_size)
        .field(
            "removed",
            w.removed
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>(),
        );
}

/// `airlock split BUNDLE --size SIZE --key KEY...`.
pub fn split(a: &SplitArgs, output: Output) -> Result<Outcome, Error> {
    let size = volume_size_arg("--size", &a.size)?;
    let signers: Vec<Box<dyn Signer>> = a
        .key
        .iter()
        .map(|k| load_signer(k))
        .collect::<Result<_, _>>()?;
    let mut file = File::open(&a.bundle).map_err(|e| Error::input(&a.bundle, e))?;
    let mut magic = Vec::new();
    (&mut file)
        .take(16)
        .read_to_end(&mut magic)
        .and_then(|_| file.seek(SeekFrom::Start(0)))
        .map_err(|e| Error::input(&a.bundle, e))?;
    if is_volume(&magic) {
        return Err(Error::usage(
            format!(
                "{} is already a volume of a split bundle",
                a.bundle.display()
            ),
            "split the bundle file itself (airlock pack without --split writes one)",
        ));
    }
    let mut reader = BundleReader::open(file, Limits::default())?;
    let mut final_root: Option<Root> = None;
    while let Some(m) = reader.next_metadata()? {
        if m.entry.kind == EntryKind::Root {
            final_root = Some(Root::parse(&m.bytes)?);
        }
    }
    let head_len = reader
        .head_frame_len()
        .ok_or_else(|| Error::Internal("the head was not read".into()))?;
    let manifest = reader.manifest().clone();
    // The bundle's own final root decides who may sign its manifest, and so
    // its index; the isolated side checks the chain up to it.
    let root = final_root.ok_or_else(|| {
        Error::usage(
            format!("{} carries no root metadata", a.bundle.display()),
            "split bundles made by airlock pack",
        )
    })?;
    check_signatures(&root, reader.manifest_bytes(), reader.signatures())?;
    let probe = b"airlock split key check";
    if let Err(r) = check_index_signatures(&root, probe, &sign_index(&signers, probe)?) {
        return Err(Error::usage(
            format!("these --key signers cannot sign this bundle's volume index: {r}"),
            format!(
                "sign with targets keys of the bundle's final root (version {}, keyids {})",
                root.version,
                root.targets.keyids.join(", ")
            ),
        ));
    }
    let out = a.out.clone().unwrap_or_else(|| a.bundle.clone());
    // As pack: temporary volumes of a split killed earlier are swept, this
    // one's are removed on SIGINT/SIGTERM/SIGHUP.
    crate::pack::sweep_stale_temps(&out);
    let _cleanup = crate::cleanup::on_signal_remove_prefixed(
        crate::pack::out_dir(&out),
        &format!("{}{}-", airlock_bundle::TEMP_PREFIX, std::process::id()),
    );
    let written = split_bundle_file(
        &a.bundle,
        &manifest.bundle_id,
        head_len,
        &out,
        size,
        &signers,
        SplitSource::Keep,
        &TermProgress::new(output),
    )?;
    let mut o = Outcome::default();
    o.line(match written.paths.len() {
        1 => format!("split {} into 1 volume", a.bundle.display()),
        n => format!("split {} into {n} volumes", a.bundle.display()),
    });
    o.line(format!("bundle     {}", manifest.bundle_id));
    describe_volumes(&mut o, &written, size);
    o.field("bundle", a.bundle.display().to_string())
        .field("bundle_id", manifest.bundle_id);
    Ok(o)
}

/// What `volumes check` trusts the index by.
struct Trust {
    anchor_root: Root,
    time: u64,
}

/// The state of one `volumes check` run.
struct Checker {
    limits: Limits,
    trust: Option<Trust>,
    /// The first volume's header: every other must carry the same index.
    reference: Option<(VolumeHeader, PathBuf)>,
    /// Keyids that signed the index, once authenticated.
    signers: Option<Vec<String>>,
    /// Why authenticating against the anchored root failed, kept until
    /// volume 1 comes (a bundle rotating its root needs volume 1's chain).
    pending: Option<Error>,
    output: Output,
}

impl Checker {
    fn check(&mut self, path: &Path) -> Result<(u32, u32), Error> {
        let first = self.reference.as_ref().map(|(h, p)| (h, p.as_path()));
        let header = check_volume(path, first, &self.limits)?;
        let (number, count) = (header.number, header.index.count());
        // The digest first: a damaged volume 1 is named as such, rather than
        // as whatever its damaged head fails to authenticate.
        self.hash(path, &header)?;
        self.authenticate(path, &header)?;
        if self.reference.is_none() {
            self.reference = Some((header, path.to_owned()));
        }
        Ok((number, count))
    }

    /// Authenticates the index once: from volume 1's head (root chain and
    /// manifest), or else against the anchored root.
    fn authenticate(&mut self, path: &Path, header: &VolumeHeader) -> Result<(), Error> {
        let Some(trust) = &self.trust else {
            return Ok(());
        };
        if self.signers.is_some() {
            return Ok(());
        }
        if header.number == 1 {
            self.signers = Some(authenticate_from_first_volume(
                path,
                header,
                trust.anchor_root.clone(),
                trust.time,
            )?);
            self.pending = None;
            return Ok(());
        }
        // Volume 1 may still come (and its roots may rotate past an expired
        // or replaced anchor): keep the refusal until the end.
        let by_anchor = trust
            .anchor_root
            .check_unexpired(trust.time)
            .map_err(Error::from)
            .and_then(|()| {
                check_index_signatures(&trust.anchor_root, header.index_bytes(), &header.signatures)
                    .map_err(Error::from)
            });
        match by_anchor {
            Ok(s) => self.signers = Some(s),
            Err(e) => {
                if self.pending.is_none() {
                    self.pending = Some(e);
                }
            }
        }
        Ok(())
    }

    fn hash(&self, path: &Path, header: &VolumeHeader) -> Result<(), Error> {
        let bar = bytes_bar(
            header.entry().size,
            &format!("vol {}", header.number),
            self.output,
        );
        let checked = check_volume_slice(path, header, &|n| bar.inc(n));
        bar.finish_and_clear();
        Ok(checked?)
    }
}

/// Where `path` is, asking on the terminal with `prompt` while it is not there.
fn locate(path: &Path, prompt: bool, count: u32) -> Option<PathBuf> {
    let mut at = path.to_owned();
    loop {
        if at.is_file() {
            return Some(at);
        }
        if !prompt {
            return None;
        }
        let wanted = Wanted {
            number: parse_volume_path(path).map_or(0, |(_, n, _)| n),
            count,
            path: at.clone(),
        };
        let answer = super::terminal::ask_for_volume(&wanted)?;
        at = if answer.is_dir() {
            answer.join(path.file_name().unwrap_or_default())
        } else {
            answer
        };
    }
}

/// `airlock volumes check PATH...`.
pub fn check(a: &VolumesCheckArgs, output: Output) -> Result<Outcome, Error> {
    let at = time_override(a.at.as_deref())?;
    let trust = match &a.store {
        Some(s) => {
            let dir = s.dir();
            let store = open_store(&dir)?;
            let state = store.state()?;
            let anchor = crate::trust_anchor::trusted_anchor(store.as_ref())?;
            let anchor_root = crate::trust_anchor::anchored_root(&anchor)?;
            Some(Trust {
                anchor_root,
                time: verification_time(at, &state, now()),
            })
        }
        None => None,
    };
    let mut c = Checker {
        limits: Limits::default(),
        trust,
        reference: None,
        signers: None,
        pending: None,
        output,
    };
    let mut good: Vec<(u32, PathBuf)> = Vec::new();
    let mut failures: Vec<Error> = Vec::new();
    let mut count = 0;
    for path in &a.paths {
        let Some(found) = locate(path, a.prompt.asks(), count) else {
            failures.push(Error::input(
                path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
            continue;
        };
        match c.check(&found) {
            Ok((number, n)) => {
                count = n;
                if output.shows_progress() {
                    crate::cmd::terminal::eprint_line(&format!(
                        "volume {number} of {n}  {}  ok",
                        found.display()
                    ));
                }
                good.push((number, found));
            }
            Err(e) => {
                if output.shows_progress() {
                    crate::cmd::terminal::eprint_line(&format!("{}  FAILED: {e}", found.display()));
                }
                failures.push(e);
            }
        }
    }
    if let Some(e) = failures.into_iter().next() {
        return Err(e);
    }
    if c.trust.is_some() && c.signers.is_none() {
        return Err(c
            .pending
            .take()
            .unwrap_or_else(|| Error::Internal("the volume index was not authenticated".into())));
    }
    let Some((first, _)) = &c.reference else {
        return Err(Error::usage("no volume was checked", "give volume files"));
    };
    let mut numbers: Vec<u32> = good.iter().map(|(n, _)| *n).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let unchecked: Vec<u32> = (1..=count).filter(|n| !numbers.contains(n)).collect();
    let mut o = Outcome::default();
    match &c.signers {
        Some(s) => o.line(format!(
            "CHECKED {} of {count} volumes of bundle {}; the volume index is signed by {}",
            numbers.len(),
            first.index.bundle_id,
            s.join(", ")
        )),
        None => o.line(format!(
            "CHECKED {} of {count} volumes of bundle {} against the index they carry. \
             UNAUTHENTICATED: without --store the index's signatures were not checked",
            numbers.len(),
            first.index.bundle_id
        )),
    };
    for (number, p) in &good {
        o.line(format!("  volume {number} of {count}  {}  ok", p.display()));
    }
    if !unchecked.is_empty() {
        let list: Vec<String> = unchecked.iter().map(u32::to_string).collect();
        o.line(format!("not checked: volumes {}", list.join(", ")));
    }
    o.field("bundle_id", first.index.bundle_id.clone())
        .field("count", count)
        .field("authenticated", c.signers.is_some())
        .field("signers", c.signers.clone().unwrap_or_default())
        .field(
            "checked",
            good.iter()
                .map(|(n, p)| json!({"number": n, "path": p.display().to_string()}))
                .collect::<Vec<_>>(),
        )
        .field("unchecked", unchecked);
    Ok(o)
}
