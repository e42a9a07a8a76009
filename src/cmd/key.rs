//! `keygen` and `key id`.
use std::path::PathBuf;

use airlock_hsm::{FileSigner, KeyAlgorithm, PublicKey, Signer};
use serde_json::json;

use crate::cli::{KeyType, KeygenArgs};
use crate::cmd::Outcome;
use crate::error::Error;
use crate::keys::{keyid, legacy_keyid};

/// `airlock keygen`.
pub fn keygen(args: &KeygenArgs) -> Result<Outcome, Error> {
    if args.pkcs11.is_some() {
        return Err(Error::usage(
            "generating keys on a PKCS#11 token is not supported by this build yet",
            "generate a file key with `airlock keygen --out PREFIX`",
        ));
    }
    let algorithm = match args.key_type {
        KeyType::Ed25519 => KeyAlgorithm::Ed25519,
        KeyType::EcdsaP256 => KeyAlgorithm::EcdsaP256,
        KeyType::EcdsaP384 => KeyAlgorithm::EcdsaP384,
    };
    let signer = FileSigner::generate_with(algorithm)?;
    let (private, public) = signer.write_pair(&args.out)?;
    let id = keyid(signer.public_key());
    let mut o = Outcome::default();
    o.line(format!("keyid {id}"))
        .line(format!(
            "private key {} (mode 0600; keep it secret)",
            private.display()
        ))
        .line(format!("public key  {}", public.display()))
        .field("keyid", id)
        .field("private", private.display().to_string())
        .field("public", public.display().to_string());
    Ok(o)
}

/// Reads a PEM key file (public or private; Ed25519, ECDSA P-256 / P-384 or
/// RSA) and returns its public key.
fn public_of(path: &PathBuf) -> Result<PublicKey, Error> {
    let pem =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::input(path, e))?);
    let parsed = if pem.contains("PRIVATE KEY") {
        FileSigner::from_pem(&pem).map(|s| s.public_key().clone())
    } else {
        PublicKey::from_spki_pem(&pem)
    };
    parsed.map_err(|reason| Error::BadKey {
        path: path.display().to_string(),
        reason,
    })
}

/// `airlock key id FILE...`.
pub fn id(files: &[PathBuf]) -> Result<Outcome, Error> {
    let mut o = Outcome::default();
    let mut keys = Vec::new();
    for f in files {
        let pk = public_of(f)?;
        let id = keyid(&pk);
        o.line(format!("{id}  {}", f.display()));
        keys.push(json!({"file": f.display().to_string(), "keyid": id, "legacy_keyid": legacy_keyid(&pk), "keytype": pk.algorithm().name()}));
    }
    o.field("keys", keys);
    Ok(o)
}
