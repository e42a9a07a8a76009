//! `airlock pack`: its flags into a [`PackRequest`], the pipeline
//! ([`crate::pack`]), and what was packed printed.
use airlock_bundle::NameRule;

use crate::cli::PackArgs;
use crate::cmd::Outcome;
use crate::cmd::Output;
use crate::cmd::progress::TermProgress;
use crate::cmd::volumes::{describe_volumes, volume_size_arg};
use crate::error::Error;
use crate::pack::{PackRequest, Packed, danger, pack};
use crate::timefmt::{format_utc, parse_duration};

/// The pipeline's request from `pack`'s flags.
fn request(a: &PackArgs) -> Result<PackRequest, Error> {
    let split = a
        .split
        .as_deref()
        .map(|s| volume_size_arg("--split", s))
        .transpose()?;
    let lifetime = parse_duration(&a.expires).map_err(|e| Error::usage(e, "e.g. --expires 30d"))?;
    Ok(PackRequest {
        out: a.out.clone(),
        force: a.force,
        key: a.key.clone(),
        root: a.root.clone(),
        layout: a.layout.clone(),
        layout_key: a.layout_key.clone(),
        links: a.links.clone(),
        artifacts: a.artifacts.clone(),
        image: a.image.clone(),
        platform: a.platform.clone(),
        registry: a.registry_conn.connection(),
        channel: a.channel.clone(),
        sequence: a.sequence,
        lifetime,
        split,
        attestation: a.attestation.clone(),
        source_date_epoch: a.source_date_epoch,
        product_step: a.product_step.clone(),
        level: a.level,
        threads: a.threads,
        names: if a.posix_names {
            NameRule::PosixOnly
        } else {
            NameRule::Portable
        },
        base: a.base.clone(),
        inspections: super::verify::inspection_policy(a.run_inspections)?,
        enclaves: enclave_ids(&a.for_enclave)?,
    })
}

/// `--for`'s enclave ids: checked, sorted, each once.
fn enclave_ids(ids: &[String]) -> Result<Vec<String>, Error> {
    let set = ids
        .iter()
        .map(|id| {
            if airlock_bundle::is_enclave_id(id) {
                Ok(id.clone())
            } else {
                Err(Error::usage(
                    format!("--for {} is not an enclave id", crate::excerpt(id)),
                    "an enclave id is the 64 lowercase hex digits `airlock anchor show` prints as `enclave` on the isolated side",
                ))
            }
        })
        .collect::<Result<std::collections::BTreeSet<String>, Error>>()?;
    if set.len() > airlock_bundle::MAX_ENCLAVES {
        return Err(Error::usage(
            format!(
                "--for names {} enclaves; a bundle is directed to at most {}",
                set.len(),
                airlock_bundle::MAX_ENCLAVES
            ),
            "pack one bundle per group of enclaves",
        ));
    }
    Ok(set.into_iter().collect())
}

/// `airlock pack`.
pub fn run(a: &PackArgs, output: Output) -> Result<Outcome, Error> {
    let request = request(a)?;
    if a.registry_conn.insecure_plain_http && a.image.iter().any(|i| i.starts_with("docker://")) {
        super::warn(super::PLAIN_HTTP_PULL);
    }
    let p = pack(&request, &TermProgress::new(output), &super::warn)?;
    Ok(describe(a, &p))
}

/// `pack` without the supply-chain check ([`danger`]): only the demo's
/// rogue bundle. Not reachable from the command line.
pub(crate) fn run_without_chain_check(a: &PackArgs, output: Output) -> Result<Outcome, Error> {
    let p =
        danger::pack_without_chain_check(&request(a)?, &TermProgress::new(output), &super::warn)?;
    Ok(describe(a, &p))
}

/// What `pack` prints.
fn describe(a: &PackArgs, p: &Packed) -> Outcome {
    let mut o = Outcome::default();
    match &p.volumes {
        Some((w, _)) => {
            let (first, last) = (&w.paths[0], &w.paths[w.paths.len() - 1]);
            o.line(if first == last {
                format!("packed {} (1 volume, {} bytes)", first.display(), p.size)
            } else {
                format!(
                    "packed {} … {} ({} volumes, {} bytes)",
                    first.display(),
                    last.display(),
                    w.paths.len(),
                    p.size
                )
            });
        }
        None => {
            o.line(format!("packed {} ({} bytes)", a.out.display(), p.size));
        }
    }
    o.line(format!("bundle     {}", p.manifest.bundle_id));
    o.line(format!(
        "channel    {} sequence {}",
        p.manifest.channel, p.manifest.sequence
    ));
    o.line(format!(
        "created    {}  expires {}",
        format_utc(p.created),
        format_utc(p.expires)
    ));
    o.line(format!(
        "signed by  {} (targets of root version {})",
        p.signed_by.join(", "),
        p.root_version
    ));
    o.line(format!(
        "chain      in-toto layout holds: {} steps, {} inspections passed; artifacts are products of step '{}'",
        p.chain.steps,
        p.chain.inspection_results.len(),
        p.chain.product_step
    ));
    let release = p.manifest.full_release();
    super::verify::describe_inspections(&mut o, &p.chain.inspection_results);
    o.line(format!(
        "content    {} artifacts, {} bytes; {} metadata entries",
        release.artifact_count(),
        release.artifact_bytes(),
        p.metadata_entries
    ));
    let delta = match &p.manifest.base {
        Some(b) => {
            let sum = |es: &[airlock_bundle::Entry]| es.iter().map(|e| e.size).sum::<u64>();
            let (taken, taken_bytes) = (b.entries.len(), sum(&b.entries));
            let (carried, carried_bytes) =
                (p.manifest.artifacts().len(), sum(p.manifest.artifacts()));
            o.line(format!(
                "delta      of bundle {} (sequence {}): carries {carried} files ({carried_bytes} bytes), takes {taken} ({taken_bytes} bytes) from the base",
                b.bundle_id, b.sequence
            ));
            serde_json::json!({"base_bundle_id": b.bundle_id, "base_sequence": b.sequence,
                "from_base_files": taken, "from_base_bytes": taken_bytes,
                "carried_files": carried, "carried_bytes": carried_bytes})
        }
        None => serde_json::Value::Null,
    };
    for i in &p.manifest.images {
        o.line(format!(
            "image      {} sha256:{} [{}]",
            i.reference(),
            hex::encode(i.digest),
            i.platforms.join(", ")
        ));
    }
    for id in &p.manifest.enclaves {
        o.line(format!("for        enclave {id}"));
    }
    if let Some((w, volume_size)) = &p.volumes {
        describe_volumes(&mut o, w, *volume_size);
    }
    let bundle = p
        .volumes
        .as_ref()
        .map_or(a.out.clone(), |(w, _)| w.paths[0].clone());
    o.field("bundle", bundle.display().to_string())
        .field("bundle_id", p.manifest.bundle_id.clone())
        .field("size", p.size)
        .field("channel", p.manifest.channel.clone())
        .field("sequence", p.manifest.sequence)
        .field("created", format_utc(p.created))
        .field("expires", format_utc(p.expires))
        .field("signers", p.signed_by.clone())
        .field("root_version", p.root_version)
        .field("product_step", p.chain.product_step.clone())
        .field("posix_names", a.posix_names)
        .field("enclaves", p.manifest.enclaves.clone())
        .field(
            "images",
            p.manifest
                .images
                .iter()
                .map(|i| format!("{}@sha256:{}", i.reference(), hex::encode(i.digest)))
                .collect::<Vec<_>>(),
        )
        .field("artifacts", release.artifact_count())
        .field("artifact_bytes", release.artifact_bytes())
        .field("delta", delta);
    o
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(extra: &[&str]) -> PackArgs {
        let mut argv = vec![
            "airlock",
            "pack",
            "--out",
            "rel.airlock",
            "--key",
            "k.pem",
            "--root",
            "1.root.json",
            "--layout",
            "root.layout",
            "--layout-key",
            "o.pub",
            "--links",
            "links",
            "--artifacts",
            "dist",
        ];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Pack(a) => *a,
            _ => panic!("not pack"),
        }
    }

    #[test]
    fn the_request_is_the_flags_parsed() {
        let r = request(&args(&[
            "--expires",
            "2d",
            "--split",
            "700MB",
            "--channel",
            "stable",
            "--sequence",
            "7",
            "--posix-names",
        ]))
        .unwrap();
        assert_eq!(r.lifetime, 2 * 86_400);
        assert_eq!(r.split, Some(700_000_000));
        assert_eq!(r.channel, "stable");
        assert_eq!(r.sequence, Some(7));
        assert_eq!(r.names, NameRule::PosixOnly);
        assert_eq!(request(&args(&[])).unwrap().names, NameRule::Portable);
    }

    #[test]
    fn bad_sizes_and_durations_are_usage_errors() {
        for extra in [&["--split", "4G"][..], &["--expires", "soon"][..]] {
            let e = request(&args(extra)).unwrap_err();
            assert_eq!(e.code(), "usage", "{extra:?}");
            assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
        }
    }
}
