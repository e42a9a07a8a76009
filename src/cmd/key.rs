//! `keygen` (file keys, or key pairs generated on a PKCS#11 token), `key id`
//! and `key show`.
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use airlock_hsm::opfile::{MAX_KEY_FILE, read_regular_text};
use airlock_hsm::{FileSigner, KeyAlgorithm, Pkcs11Signer, PublicKey, Signer};
use serde_json::json;

use crate::cli::{KeyType, KeygenArgs};
use crate::cmd::Outcome;
use crate::error::Error;
use crate::keys::{key_object, keyid, legacy_keyid};

/// `airlock keygen`.
pub fn keygen(args: &KeygenArgs) -> Result<Outcome, Error> {
    let algorithm = match args.key_type {
        KeyType::Ed25519 => KeyAlgorithm::Ed25519,
        KeyType::EcdsaP256 => KeyAlgorithm::EcdsaP256,
        KeyType::EcdsaP384 => KeyAlgorithm::EcdsaP384,
    };
    if let Some(uri) = &args.pkcs11 {
        return keygen_on_token(uri, algorithm, args.out.as_deref());
    }
    let Some(out) = &args.out else {
        return Err(Error::usage(
            "keygen needs --out PREFIX",
            "airlock keygen --out keys/NAME",
        ));
    };
    crate::fsutil::ensure_parent(out)?;
    let signer = FileSigner::generate_with(algorithm)?;
    let (private, public) = signer.write_pair(out)?;
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

/// `airlock keygen --pkcs11 URI`: the pair is generated on the token; only
/// the public key is written (to PREFIX.pub, when --out is given) and
/// printed.
fn keygen_on_token(
    uri: &str,
    algorithm: KeyAlgorithm,
    out: Option<&Path>,
) -> Result<Outcome, Error> {
    if !matches!(algorithm, KeyAlgorithm::Ed25519 | KeyAlgorithm::EcdsaP256) {
        return Err(Error::usage(
            format!("{} keys are not generated on tokens", algorithm.name()),
            "use --type ed25519 or --type ecdsa-p256 with --pkcs11",
        ));
    }
    // Check the output before touching the token, so a failure leaves
    // nothing behind on either.
    let public_path = out.map(|p| {
        let mut s = p.as_os_str().to_owned();
        s.push(".pub");
        PathBuf::from(s)
    });
    if let Some(p) = &public_path
        && p.exists()
    {
        return Err(airlock_hsm::Error::Exists { path: p.clone() }.into());
    }
    if let Some(p) = &public_path {
        crate::fsutil::ensure_parent(p)?;
    }
    let signer = Pkcs11Signer::generate(uri, algorithm)?;
    let protection = signer.protection()?;
    let pem = signer.public_key().to_spki_pem();
    if let Some(p) = &public_path {
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(p)
            .and_then(|mut f| f.write_all(pem.as_bytes()).and_then(|()| f.sync_all()));
        if let Err(source) = written {
            let _ = std::fs::remove_file(p);
            crate::cmd::warn(&format!(
                "the key pair was generated on the token as {}, but its public key could not be written",
                signer.uri()
            ));
            return Err(airlock_hsm::Error::Write {
                path: p.clone(),
                source,
            }
            .into());
        }
    }
    let id = keyid(signer.public_key());
    let mut o = Outcome::default();
    o.line(format!("keyid {id}")).line(format!(
        "private key on the token: {} ({}{}; generated on the token: {})",
        signer.uri(),
        if protection.sensitive {
            "sensitive"
        } else {
            "NOT sensitive"
        },
        if protection.never_extractable {
            ", never extractable"
        } else if protection.extractable {
            ", EXTRACTABLE"
        } else {
            ", not extractable"
        },
        if protection.local { "yes" } else { "no" },
    ));
    if let Some(p) = &public_path {
        o.line(format!("public key  {}", p.display()));
        o.field("public", p.display().to_string());
    }
    o.line(pem.trim_end().to_owned());
    o.field("keyid", id)
        .field("uri", signer.uri().to_string())
        .field("keytype", signer.public_key().algorithm().name())
        .field("public_pem", pem)
        .field("sensitive", protection.sensitive)
        .field("extractable", protection.extractable)
        .field("never_extractable", protection.never_extractable);
    Ok(o)
}

/// Reads a PEM key file (public or private; Ed25519, ECDSA P-256 / P-384 or
/// RSA) and returns its public key.
fn public_of(path: &Path) -> Result<PublicKey, Error> {
    let pem = zeroize::Zeroizing::new(
        read_regular_text(path, MAX_KEY_FILE).map_err(|e| Error::input(path, e))?,
    );
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

/// The public key of a key named on the command line: a PEM file (public
/// or private) or a `pkcs11:` URI (the key pair on the token; the PIN comes
/// from the URI's `pin-source` file).
fn public_of_key(spec: &Path) -> Result<PublicKey, Error> {
    match spec.to_str() {
        Some(uri) if uri.starts_with("pkcs11:") => {
            Ok(Pkcs11Signer::open(uri)?.public_key().clone())
        }
        _ => public_of(spec),
    }
}

/// `airlock key id KEY...`.
pub fn id(files: &[PathBuf]) -> Result<Outcome, Error> {
    let mut o = Outcome::default();
    let mut keys = Vec::new();
    for f in files {
        let pk = public_of_key(f)?;
        let id = keyid(&pk);
        o.line(format!("{id}  {}", f.display()));
        keys.push(json!({"file": f.display().to_string(), "keyid": id, "legacy_keyid": legacy_keyid(&pk), "keytype": pk.algorithm().name()}));
    }
    o.field("keys", keys);
    Ok(o)
}

/// `airlock key show KEY`: the keyid and the securesystemslib key object.
pub fn show(key: &str) -> Result<Outcome, Error> {
    let pk = public_of_key(Path::new(key))?;
    let id = keyid(&pk);
    let object = key_object(&pk);
    let mut o = Outcome::default();
    o.line(format!("keyid {id}"))
        .line(format!("keytype {}", pk.algorithm().name()))
        .line(object.to_pretty().trim_end().to_owned());
    o.field("keyid", id)
        .field("legacy_keyid", legacy_keyid(&pk))
        .field("keytype", pk.algorithm().name())
        .field("key", object.to_value());
    Ok(o)
}
