//! Signing keys held in PEM files (PKCS#8), and key generation.
use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};

use crate::atomic::write_new;
use crate::{Error, PublicKey, Signer};

/// An Ed25519 private key loaded from a PKCS#8 PEM file.
pub struct FileSigner {
    key: ed25519_dalek::SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for FileSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSigner")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl FileSigner {
    /// Generates a new Ed25519 key from the operating system's CSPRNG.
    pub fn generate() -> Result<FileSigner, Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::Sign(format!("no randomness: {e}")))?;
        Ok(FileSigner::from_seed(&seed))
    }

    /// A key from a 32-byte seed (for deterministic tests and the demo).
    pub fn from_seed(seed: &[u8; 32]) -> FileSigner {
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        let public = PublicKey::Ed25519(key.verifying_key());
        FileSigner { key, public }
    }

    /// Loads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn load(path: &Path) -> Result<FileSigner, Error> {
        let pem = fs::read_to_string(path).map_err(|source| Error::KeyRead {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pem(&pem).map_err(|reason| Error::KeyParse {
            path: path.to_owned(),
            reason,
        })
    }

    /// Parses a PKCS#8 PEM private key.
    pub fn from_pem(pem: &str) -> Result<FileSigner, String> {
        if pem.contains("ENCRYPTED PRIVATE KEY") {
            return Err(
                "encrypted private keys are not supported; keep keys on a token instead".into(),
            );
        }
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem.trim_start())
            .map_err(|e| format!("not an Ed25519 PKCS#8 PEM private key ({e})"))?;
        let public = PublicKey::Ed25519(key.verifying_key());
        Ok(FileSigner { key, public })
    }

    /// Writes `PREFIX.pem` (PKCS#8, mode 0600) and `PREFIX.pub` (SPKI), refusing
    /// to overwrite either. Returns the two paths.
    pub fn write_pair(&self, prefix: &Path) -> Result<(PathBuf, PathBuf), Error> {
        let private = with_suffix(prefix, "pem");
        let public = with_suffix(prefix, "pub");
        for path in [&private, &public] {
            if path.exists() {
                return Err(Error::Exists { path: path.clone() });
            }
        }
        let pem = self
            .key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| Error::Sign(format!("cannot encode key: {e}")))?;
        write_new(&private, pem.as_bytes(), 0o600).map_err(|source| Error::Write {
            path: private.clone(),
            source,
        })?;
        write_new(&public, self.public.to_spki_pem().as_bytes(), 0o644).map_err(|source| {
            let _ = fs::remove_file(&private);
            Error::Write {
                path: public.clone(),
                source,
            }
        })?;
        Ok((private, public))
    }
}

fn with_suffix(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

impl Signer for FileSigner {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn write_load_sign() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("k");
        let s = FileSigner::generate().unwrap();
        let (private, public) = s.write_pair(&prefix).unwrap();
        assert_eq!(
            fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let loaded = FileSigner::load(&private).unwrap();
        assert_eq!(loaded.public_key(), s.public_key());
        let pk = PublicKey::from_spki_pem(&fs::read_to_string(public).unwrap()).unwrap();
        assert!(pk.verify(b"m", &loaded.sign(b"m").unwrap()));
        assert!(matches!(s.write_pair(&prefix), Err(Error::Exists { .. })));
    }

    #[test]
    fn refuses_non_keys() {
        assert!(FileSigner::from_pem("hello").is_err());
        assert!(FileSigner::from_pem("-----BEGIN ENCRYPTED PRIVATE KEY-----\n").is_err());
    }
}
