//! Writing volumes: a finished bundle file cut into volumes (SPEC.md 11.5).
//!
//! [`write_volumes`] copies each slice of the bundle into a temporary file
//! beside the output, after the space reserved for its header, hashing it
//! as it goes; the caller signs [`UnsignedVolumes::index_bytes`]; then
//! [`UnsignedVolumes::finish`] writes every header, syncs, and renames the
//! volumes into place. Nothing appears under the volume names until every
//! volume is complete.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::error::Error;
use crate::limits::Limits;
use crate::manifest::Signatures;
use crate::volume::{
    SplitPlan, VolumeEntry, VolumeIndex, header_bytes, is_volume, name_width, volume_path,
};
use crate::write::{sync_dir_of, temp_beside};

/// Copy buffer.
const BUF: usize = 1 << 20;

/// Volumes written but not yet signed: temporary files beside the output.
/// Dropping this removes them.
pub struct UnsignedVolumes {
    out: PathBuf,
    files: Vec<NamedTempFile>,
    index: VolumeIndex,
    index_bytes: Vec<u8>,
    limits: Limits,
}

impl fmt::Debug for UnsignedVolumes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsignedVolumes")
            .field("out", &self.out)
            .field("volumes", &self.files.len())
            .field("bundle_id", &self.index.bundle_id)
            .finish_non_exhaustive()
    }
}

/// What [`UnsignedVolumes::finish`] put in place.
#[derive(Clone, Debug)]
pub struct WrittenVolumes {
    /// The volume files, in order.
    pub paths: Vec<PathBuf>,
    /// Files of an earlier, longer volume set with the same name that
    /// followed the new last volume and were removed (otherwise a reader
    /// would take them for extra volumes).
    pub removed: Vec<PathBuf>,
    /// The signed index.
    pub index: VolumeIndex,
}

/// Copies `bundle` (a complete bundle file whose manifest has `bundle_id`)
/// into volumes as `plan` says, as temporary files beside `out`; volume `k`
/// will be `out` with `.NNN` appended. Each slice is hashed as it is copied.
/// `progress` is called with the bytes copied, as they are copied.
///
/// With `consume`, the volumes are cut from the end of the bundle, which is
/// truncated after each one, so the disk never holds the bundle and its
/// volumes both at once but for one volume. The bundle is then lost
/// whatever happens: use it only for a temporary bundle (as `pack` does).
///
/// A bundle whose length is not the plan's is [`Error::Misuse`]; one that
/// changes while it is copied is [`Error::InputChanged`].
pub fn write_volumes(
    bundle: &Path,
    bundle_id: &str,
    plan: &SplitPlan,
    out: &Path,
    consume: bool,
    limits: &Limits,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<UnsignedVolumes, Error> {
    let ierr = |source: io::Error| Error::Input {
        path: bundle.to_owned(),
        source,
    };
    let mut src = OpenOptions::new()
        .read(true)
        .write(consume)
        .open(bundle)
        .map_err(ierr)?;
    let len = src.metadata().map_err(ierr)?.len();
    if len != plan.sizes.iter().sum::<u64>() {
        return Err(Error::Misuse(
            "the split plan is not for this bundle's length",
        ));
    }
    let n = plan.sizes.len();
    let offsets: Vec<u64> = plan
        .sizes
        .iter()
        .scan(0u64, |at, s| {
            let o = *at;
            *at += s;
            Some(o)
        })
        .collect();
    let mut files: Vec<Option<NamedTempFile>> = (0..n).map(|_| None).collect();
    let mut digests = vec![[0u8; 32]; n];
    let order: Vec<usize> = if consume {
        (0..n).rev().collect()
    } else {
        (0..n).collect()
    };
    let mut buf = vec![0u8; BUF];
    for i in order {
        let tmp = temp_beside(out)?;
        let werr = |source: io::Error| Error::Write {
            path: tmp.path().to_owned(),
            source,
        };
        let mut w = tmp.as_file();
        w.seek(SeekFrom::Start(plan.header_len)).map_err(werr)?;
        src.seek(SeekFrom::Start(offsets[i])).map_err(ierr)?;
        let mut hasher = Sha256::new();
        let mut left = plan.sizes[i];
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(BUF).min(BUF);
            let got = match src.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(Error::InputChanged {
                        path: bundle.to_owned(),
                    });
                }
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ierr(e)),
            };
            hasher.update(&buf[..got]);
            w.write_all(&buf[..got]).map_err(werr)?;
            left -= got as u64;
            progress(got as u64);
        }
        if consume {
            src.set_len(offsets[i]).map_err(ierr)?;
        }
        digests[i] = hasher.finalize().into();
        files[i] = Some(tmp);
    }
    let index = VolumeIndex {
        bundle_id: bundle_id.to_owned(),
        header_len: plan.header_len,
        volumes: plan
            .sizes
            .iter()
            .zip(&digests)
            .map(|(size, sha256)| VolumeEntry {
                size: *size,
                sha256: *sha256,
            })
            .collect(),
    };
    let index_bytes = index.encode();
    // The plan and the bundle id become an index a reader accepts, or this
    // is a caller's mistake.
    VolumeIndex::decode(&index_bytes, limits)
        .map_err(|_| Error::Misuse("the split plan or bundle id does not make a valid index"))?;
    Ok(UnsignedVolumes {
        out: out.to_owned(),
        files: files.into_iter().flatten().collect(),
        index,
        index_bytes,
        limits: limits.clone(),
    })
}

impl UnsignedVolumes {
    /// The index to sign, over
    /// [`index_signing_message`](crate::index_signing_message).
    pub fn index_bytes(&self) -> &[u8] {
        &self.index_bytes
    }

    /// The index.
    pub fn index(&self) -> &VolumeIndex {
        &self.index
    }

    /// Writes every volume's header with `signatures` over the index, syncs
    /// the files, renames them to `out.001`, `out.002`, … (replacing files
    /// of those names), removes the volumes of an earlier set with the same
    /// name that would follow the last one, and syncs the directory.
    ///
    /// Signatures that do not fit the header space the plan reserved (more
    /// signers than planned) are [`Error::Misuse`], and nothing is renamed.
    pub fn finish(self, signatures: &Signatures) -> Result<WrittenVolumes, Error> {
        let sig_bytes = signatures.encode();
        Signatures::decode(&sig_bytes, &self.limits)?;
        let count = self.index.count();
        let width = name_width(count);
        for (i, f) in self.files.iter().enumerate() {
            let header = header_bytes(
                i as u32 + 1,
                self.index.header_len,
                &self.index_bytes,
                &sig_bytes,
            )
            .ok_or(Error::Misuse(
                "the signatures do not fit in the header space the split plan reserved",
            ))?;
            let mut w = f.as_file();
            w.seek(SeekFrom::Start(0))
                .and_then(|_| w.write_all(&header))
                .and_then(|()| w.sync_all())
                .map_err(|source| Error::Write {
                    path: f.path().to_owned(),
                    source,
                })?;
        }
        let mut paths = Vec::with_capacity(self.files.len());
        for (i, f) in self.files.into_iter().enumerate() {
            let to = volume_path(&self.out, i as u32 + 1, width);
            if let Err(e) = f.persist(&to) {
                // No half set under the volume names.
                for p in &paths {
                    let _ = fs::remove_file(p);
                }
                return Err(Error::Write {
                    path: to,
                    source: e.error,
                });
            }
            paths.push(to);
        }
        let mut removed = Vec::new();
        let mut k = count + 1;
        loop {
            let stale = volume_path(&self.out, k, width);
            let mut head = [0u8; 16];
            let is_ours = File::open(&stale)
                .and_then(|mut f| f.read_exact(&mut head))
                .is_ok_and(|()| is_volume(&head));
            if !is_ours || fs::remove_file(&stale).is_err() {
                break;
            }
            removed.push(stale);
            k += 1;
        }
        sync_dir_of(&self.out)?;
        Ok(WrittenVolumes {
            paths,
            removed,
            index: self.index,
        })
    }
}
