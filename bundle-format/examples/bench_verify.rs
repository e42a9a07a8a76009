//! Measures how fast a bundle is verified, for docs/performance.
//!
//! ```text
//! cargo run --release -p airlock-bundle --example bench_verify -- write DIR MIB
//! cargo run --release -p airlock-bundle --example bench_verify -- verify DIR/bench.bundle
//! ```
//!
//! `write` packs MIB mebibytes of generated artifacts (16 files, text-like and
//! binary-like data, about 2:1 compressible) into `DIR/bench.bundle` and also
//! leaves the same files under `DIR/src/` for a `zstd -dc | tar -x` +
//! `sha256sum -c` comparison. `verify` reads the bundle the way a receiver
//! does, discarding artifact data after it is hashed, and prints the time.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use airlock_bundle::*;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn generate(path: &Path, seed: u64, len: u64) -> Res<()> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut x = seed | 1;
    let words: [&[u8]; 8] = [
        b"return ",
        b"0x0000 ",
        b"mov rax",
        b"\x00\x00\x00\x00",
        b"error: ",
        b"\n    ",
        b"fn main",
        b"\xff\xfe",
    ];
    let mut buf = Vec::with_capacity(1 << 16);
    let mut written = 0;
    while written < len {
        buf.clear();
        while buf.len() < 1 << 16 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(2) {
                buf.extend_from_slice(words[(x >> 8) as usize % 8]);
            } else {
                buf.extend_from_slice(&x.to_le_bytes()[..3 + (x >> 60) as usize % 5]);
            }
        }
        let n = buf.len().min((len - written) as usize);
        w.write_all(&buf[..n])?;
        written += n as u64;
    }
    w.flush()?;
    Ok(())
}

fn write(dir: &Path, mib: u64) -> Res<()> {
    let limits = Limits::default();
    let src = dir.join("src");
    fs::create_dir_all(&src)?;
    let mut sources = Vec::new();
    for i in 0..16u64 {
        let file = src.join(format!("file{i:02}.bin"));
        let size = (mib << 20) / 16;
        generate(&file, i + 1, size)?;
        sources.push(ArtifactSource {
            kind: EntryKind::Artifact,
            path: BundlePath::new(&format!("file{i:02}.bin"), &limits)?,
            file,
            size,
            mode: 0o644,
        });
    }
    let out = dir.join("bench.bundle");
    let opts = WriteOptions {
        mtime: 1,
        ..WriteOptions::default()
    };
    let manifest_for = |entries: Vec<Entry>, payload_sha256| {
        Manifest::new(
            ManifestFields {
                channel: "bench".into(),
                sequence: 1,
                created: 1,
                expires: 2,
                payload_sha256,
                supply_chain: SupplyChain::default(),
                images: Vec::new(),
                entries,
                names: NameRule::Portable,
                enclaves: Vec::new(),
            },
            &limits,
        )
    };
    let t = Instant::now();
    // Digests do not change the head's length: reserve it with zeros.
    let provisional = sources.iter().map(ArtifactSource::planned_entry).collect();
    let head_len = head_frame_len(
        &manifest_for(provisional, [0; 32])?,
        &Signatures::default(),
        &[],
    );
    let payload = write_payload(&out, &sources, head_len, &opts, &|_| {})?;
    let manifest = manifest_for(payload.entries().to_vec(), payload.sha256())?;
    let mut sums = String::new();
    for e in &manifest.entries {
        sums.push_str(&format!("{}  {}\n", hex::encode(e.sha256), e.tar_path()));
    }
    fs::write(dir.join("SHA256SUMS"), sums)?;
    finish_bundle(
        &out,
        &manifest.encode(),
        &Signatures::default(),
        &[],
        payload,
        &opts,
    )?;
    println!(
        "wrote {} ({} bytes) in {:.2?}",
        out.display(),
        fs::metadata(&out)?.len(),
        t.elapsed()
    );
    Ok(())
}

fn verify(bundle: &Path) -> Res<()> {
    let t = Instant::now();
    let mut r = BundleReader::open(File::open(bundle)?, Limits::default())?;
    while r.next_metadata()?.is_some() {}
    let mut p = r.into_payload()?;
    let mut bytes = 0;
    while let Some(e) = p.next_artifact()? {
        p.copy_to(&mut std::io::sink())?;
        bytes += e.size;
    }
    let s = t.elapsed();
    println!(
        "verified {bytes} bytes in {s:.2?} ({:.0} MiB/s)",
        bytes as f64 / s.as_secs_f64() / (1 << 20) as f64
    );
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("write") if args.len() == 4 => write(Path::new(&args[2]), args[3].parse()?),
        Some("verify") if args.len() == 3 => verify(Path::new(&args[2])),
        _ => Err("usage: bench_verify write DIR MIB | verify BUNDLE".into()),
    }
}
