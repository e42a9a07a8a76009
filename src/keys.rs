//! Keys as TUF and in-toto metadata see them: key objects, keyids, loading
//! operator-supplied keys, and threshold counting.
//!
//! A keyid is the lowercase hex SHA-256 of the canonical JSON of the key
//! object (securesystemslib's "modern" keyid). Keyids found in metadata are
//! matched as stored, never recomputed; a threshold counts distinct public
//! keys, so one key listed under two keyids never counts twice.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use airlock_hsm::opfile::{MAX_KEY_FILE, read_regular_text};
use airlock_hsm::{FileSigner, KeyAlgorithm, Pkcs11Signer, PublicKey, Signer};
use sha2::{Digest, Sha256};

use crate::json::Json;

/// A key object from metadata (`{"keytype","scheme","keyval":{"public"}}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyObject {
    /// `keytype` as written.
    pub keytype: String,
    /// `scheme` as written.
    pub scheme: String,
    /// The usable key, or `None` for a key type airlock does not verify
    /// (such a key is kept but never counts towards a threshold).
    pub public: Option<PublicKey>,
}

impl KeyObject {
    /// Parses a key object; unknown key types are kept as unusable.
    pub fn parse(json: &Json) -> Result<KeyObject, String> {
        let obj = json.as_obj().ok_or("a key must be an object")?;
        let field = |name: &str| {
            obj.get(name)
                .and_then(Json::as_str)
                .ok_or_else(|| format!("key field {name} must be a string"))
        };
        let keytype = field("keytype")?.to_owned();
        let scheme = field("scheme")?.to_owned();
        let public = obj
            .get("keyval")
            .and_then(Json::as_obj)
            .and_then(|kv| kv.get("public"))
            .and_then(Json::as_str)
            .ok_or("key field keyval.public must be a string")?;
        let public = match (keytype.as_str(), scheme.as_str()) {
            ("ed25519", "ed25519") => {
                let raw = hex::decode(public).map_err(|_| "ed25519 public key must be hex")?;
                Some(PublicKey::ed25519_from_bytes(&raw)?)
            }
            ("rsa", "rsassa-pss-sha256") => Some(pem_key(public, KeyAlgorithm::RsaPssSha256)?),
            // The same RSA key file, verified with PKCS#1 v1.5 padding.
            ("rsa", "rsa-pkcs1v15-sha256") => {
                pem_key(public, KeyAlgorithm::RsaPssSha256)?.with_pkcs1v15()
            }
            ("ecdsa" | "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256") => {
                Some(pem_key(public, KeyAlgorithm::EcdsaP256)?)
            }
            ("ecdsa" | "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384") => {
                Some(pem_key(public, KeyAlgorithm::EcdsaP384)?)
            }
            _ => None,
        };
        Ok(KeyObject {
            keytype,
            scheme,
            public,
        })
    }
}

/// An SPKI PEM `keyval.public` that must hold a key of `expected`.
fn pem_key(public: &str, expected: KeyAlgorithm) -> Result<PublicKey, String> {
    let pk = PublicKey::from_spki_pem(public)?;
    if pk.algorithm() != expected {
        return Err(format!(
            "the {} scheme needs {} key, but keyval.public holds {} key",
            scheme_of(expected),
            describe(expected),
            describe(pk.algorithm())
        ));
    }
    Ok(pk)
}

/// The (keytype, scheme) securesystemslib writes for `alg`.
fn names_of(alg: KeyAlgorithm) -> (&'static str, &'static str) {
    match alg {
        KeyAlgorithm::Ed25519 => ("ed25519", "ed25519"),
        KeyAlgorithm::EcdsaP256 => ("ecdsa", "ecdsa-sha2-nistp256"),
        KeyAlgorithm::EcdsaP384 => ("ecdsa", "ecdsa-sha2-nistp384"),
        KeyAlgorithm::RsaPssSha256 => ("rsa", "rsassa-pss-sha256"),
        KeyAlgorithm::RsaPkcs1v15Sha256 => ("rsa", "rsa-pkcs1v15-sha256"),
        _ => ("unknown", "unknown"),
    }
}

fn scheme_of(alg: KeyAlgorithm) -> &'static str {
    names_of(alg).1
}

/// The securesystemslib scheme `pk` signs and verifies under.
pub fn key_scheme(pk: &PublicKey) -> &'static str {
    scheme_of(pk.algorithm())
}

fn describe(alg: KeyAlgorithm) -> &'static str {
    match alg {
        KeyAlgorithm::Ed25519 => "an Ed25519",
        KeyAlgorithm::EcdsaP256 => "an ECDSA P-256",
        KeyAlgorithm::EcdsaP384 => "an ECDSA P-384",
        KeyAlgorithm::RsaPssSha256 | KeyAlgorithm::RsaPkcs1v15Sha256 => "an RSA",
        _ => "an unknown",
    }
}

/// The modern key object of `pk`, as securesystemslib 1.6 writes it:
/// Ed25519 as hex, the others as SPKI PEM with its trailing newline.
pub fn key_object(pk: &PublicKey) -> Json {
    key_object_with(pk, KeyObjectForm::Modern)
}

/// Which key object: securesystemslib 1.x's, or the legacy one older
/// tools hash for keyids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyObjectForm {
    /// Ed25519 as hex, others as SPKI PEM with its trailing newline.
    Modern,
    /// With `keyid_hash_algorithms`, PEM without trailing whitespace.
    Legacy,
}

fn key_object_with(pk: &PublicKey, form: KeyObjectForm) -> Json {
    let legacy = form == KeyObjectForm::Legacy;
    let (keytype, scheme) = names_of(pk.algorithm());
    let public = match pk.algorithm() {
        KeyAlgorithm::Ed25519 => hex::encode(pk.raw_bytes()),
        _ if legacy => pk.to_spki_pem().trim_end().to_owned(),
        _ => pk.to_spki_pem(),
    };
    let mut pairs = vec![
        ("keytype", Json::Str(keytype.into())),
        ("scheme", Json::Str(scheme.into())),
        ("keyval", obj([("public", Json::Str(public))])),
    ];
    if legacy {
        pairs.push((
            "keyid_hash_algorithms",
            Json::Arr(vec![Json::Str("sha256".into()), Json::Str("sha512".into())]),
        ));
    }
    Json::Obj(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// The modern keyid of `pk`.
pub fn keyid(pk: &PublicKey) -> String {
    hex::encode(Sha256::digest(key_object(pk).canonical()))
}

/// The legacy keyid of `pk` (key object with `keyid_hash_algorithms`, PEM
/// without trailing whitespace), as old securesystemslib, in-toto-golang and
/// python-tuf test data compute it.
pub fn legacy_keyid(pk: &PublicKey) -> String {
    hex::encode(Sha256::digest(
        key_object_with(pk, KeyObjectForm::Legacy).canonical(),
    ))
}

/// Builds a JSON object from pairs.
pub fn obj<const N: usize>(pairs: [(&str, Json); N]) -> Json {
    Json::Obj(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A key named on the command line that cannot be used (the binary's
/// `input-unreadable`, `key-invalid`, or the token's error).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key does not parse, or is not the kind needed.
    #[error("{path} is not a usable key: {reason}")]
    Invalid {
        /// The key file or URI.
        path: String,
        /// Why.
        reason: String,
    },
    /// A `pkcs11:` key pair cannot be opened.
    #[error(transparent)]
    Token(#[from] airlock_hsm::Error),
}

fn unreadable(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Unreadable {
        path: path.to_owned(),
        source,
    }
}

/// The prefix that chooses the `rsa-pkcs1v15-sha256` scheme for an RSA key
/// named on the command line (`rsa-pkcs1v15-sha256:keys/kms.pem`,
/// `rsa-pkcs1v15-sha256:pkcs11:token=…`): the key then signs with
/// RSASSA-PKCS1-v1_5 and SHA-256, and its key object and keyid are those of
/// that scheme. Without it an RSA key is an `rsassa-pss-sha256` key.
pub const PKCS1V15_PREFIX: &str = "rsa-pkcs1v15-sha256:";

/// The scheme a key named on the command line is chosen under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// The key type's own scheme (RSA: `rsassa-pss-sha256`).
    Default,
    /// `rsa-pkcs1v15-sha256` ([`PKCS1V15_PREFIX`]).
    RsaPkcs1v15,
}

/// Splits a key named on the command line into the scheme it chooses and
/// the key file or `pkcs11:` URI.
pub fn split_scheme(spec: &str) -> (Scheme, &str) {
    match spec.strip_prefix(PKCS1V15_PREFIX) {
        Some(rest) => (Scheme::RsaPkcs1v15, rest),
        None => (Scheme::Default, spec),
    }
}

/// `pk` under `scheme`: refuses `rsa-pkcs1v15-sha256` for a key that is not
/// RSA, naming the scheme.
pub fn with_scheme(pk: PublicKey, scheme: Scheme, spec: &str) -> Result<PublicKey, KeyError> {
    match scheme {
        Scheme::Default => Ok(pk),
        Scheme::RsaPkcs1v15 => {
            let alg = pk.algorithm();
            pk.with_pkcs1v15().ok_or_else(|| KeyError::Invalid {
                path: spec.into(),
                reason: format!(
                    "the rsa-pkcs1v15-sha256 scheme needs an RSA key, not {}",
                    alg.name()
                ),
            })
        }
    }
}

/// Loads a public key named on the command line: an SPKI PEM file
/// (Ed25519, ECDSA P-256 / P-384 or RSA) or a `pkcs11:` URI (the public
/// half of the key pair on the token), optionally chosen under
/// `rsa-pkcs1v15-sha256` ([`PKCS1V15_PREFIX`]).
pub fn load_public_key(path: &Path) -> Result<PublicKey, KeyError> {
    let spec = path.to_string_lossy();
    let (scheme, rest) = split_scheme(&spec);
    let pk = if rest.starts_with("pkcs11:") {
        Pkcs11Signer::open(rest)?.public_key().clone()
    } else {
        let file = Path::new(rest);
        let pem = read_regular_text(file, MAX_KEY_FILE).map_err(unreadable(file))?;
        PublicKey::from_spki_pem(&pem).map_err(|reason| KeyError::Invalid {
            path: rest.to_owned(),
            reason,
        })?
    };
    with_scheme(pk, scheme, &spec)
}

/// Loads a signing key named on the command line: a PEM private key file
/// (PKCS#8 of any supported type, SEC1 or PKCS#1), or an RFC 7512
/// `pkcs11:` URI naming a key pair on a token (the PIN comes from the
/// URI's `pin-source` file, never from the command line). An RSA key signs
/// RSASSA-PSS, or RSASSA-PKCS1-v1_5 when named with [`PKCS1V15_PREFIX`].
pub fn load_signer(spec: &str) -> Result<Box<dyn Signer>, KeyError> {
    let (scheme, rest) = split_scheme(spec);
    if rest.starts_with("pkcs11:") {
        let signer = Pkcs11Signer::open(rest)?;
        return Ok(match scheme {
            Scheme::Default => Box::new(signer),
            Scheme::RsaPkcs1v15 => Box::new(signer.with_pkcs1v15()?),
        });
    }
    let path = Path::new(rest);
    let pem =
        zeroize::Zeroizing::new(read_regular_text(path, MAX_KEY_FILE).map_err(unreadable(path))?);
    if pem.contains("BEGIN PUBLIC KEY") {
        return Err(KeyError::Invalid {
            path: spec.into(),
            reason: "this is a public key; signing needs the private key (PREFIX.pem)".into(),
        });
    }
    let invalid = |reason| KeyError::Invalid {
        path: spec.into(),
        reason,
    };
    let signer = FileSigner::from_pem(&pem).map_err(invalid)?;
    Ok(match scheme {
        Scheme::Default => Box::new(signer),
        Scheme::RsaPkcs1v15 => Box::new(signer.with_pkcs1v15().map_err(invalid)?),
    })
}

/// The scheme under which `keys` list the key of `pk` when they do not
/// list `pk` itself: an RSA key given without [`PKCS1V15_PREFIX`] that
/// metadata lists under `rsa-pkcs1v15-sha256` (or the other way round), so
/// that a refusal can say how to name the key.
pub fn listed_under_other_scheme<'k>(
    pk: &PublicKey,
    keys: impl IntoIterator<Item = &'k KeyObject>,
) -> Option<&'k str> {
    let mut other = None;
    for k in keys {
        match &k.public {
            Some(listed) if listed == pk => return None,
            Some(listed) if listed.raw_bytes() == pk.raw_bytes() => other = Some(k.scheme.as_str()),
            _ => {}
        }
    }
    other
}

/// The same RSA key under the other RSA scheme (PSS and PKCS#1 v1.5);
/// `None` for other keys.
pub fn under_other_rsa_scheme(pk: &PublicKey) -> Option<PublicKey> {
    match pk {
        PublicKey::RsaPssSha256(k) => Some(PublicKey::RsaPkcs1v15Sha256(k.clone())),
        PublicKey::RsaPkcs1v15Sha256(k) => Some(PublicKey::RsaPssSha256(k.clone())),
        _ => None,
    }
}

/// How to name `spec` so that it signs under `scheme` (for a hint).
pub fn respell(spec: &str, scheme: &str) -> String {
    let (_, rest) = split_scheme(spec);
    if scheme == "rsa-pkcs1v15-sha256" {
        format!("{PKCS1V15_PREFIX}{rest}")
    } else {
        rest.to_owned()
    }
}

/// The outcome of counting signatures against a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Keyids whose signatures verified and counted (one per distinct key).
    pub counted: Vec<String>,
    /// The role's threshold.
    pub threshold: u64,
}

impl Tally {
    /// Whether the threshold is met.
    pub fn met(&self) -> bool {
        self.counted.len() as u64 >= self.threshold
    }
}

/// Counts the valid signatures over `msg` by keys of a role (`role_keyids`,
/// looked up in `keys`), each distinct public key at most once. Signatures by
/// keyids outside the role, by unusable keys, or that do not verify are
/// ignored — they cannot help reach the threshold.
pub fn tally<'a>(
    role_keyids: &[String],
    threshold: u64,
    keys: &BTreeMap<String, KeyObject>,
    signatures: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    msg: &[u8],
) -> Tally {
    let mut seen = BTreeSet::new();
    let mut counted = Vec::new();
    for (keyid, sig) in signatures {
        if !role_keyids.iter().any(|k| k == keyid) {
            continue;
        }
        let Some(public) = keys.get(keyid).and_then(|k| k.public.as_ref()) else {
            continue;
        };
        if public.verify(msg, sig) && seen.insert(public.raw_bytes()) {
            counted.push(keyid.to_owned());
        }
    }
    Tally { counted, threshold }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keyid_matches_securesystemslib() {
        // securesystemslib 1.6.0: SSlibKey.from_crypto(Ed25519 key from the
        // seed [7; 32]).keyid, and its to_dict() public value.
        let pk = FileSigner::from_seed(&[7; 32]).public_key().clone();
        assert_eq!(
            hex::encode(pk.raw_bytes()),
            "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
        );
        assert_eq!(
            keyid(&pk),
            "bfe1a83869e5bf574e3ff3acbb83f840de84a990d10059f3096f0bf4f2b90c10"
        );
        assert_ne!(keyid(&pk), legacy_keyid(&pk));
    }

    /// The keys of `hsm/tests/data` (made by `scripts/gen-key-vectors.sh`)
    /// and securesystemslib 1.6.0's keyid, `to_dict()` and legacy keyid.
    const VECTORS: [(&str, &str); 5] = [
        (
            "ed25519",
            include_str!("../hsm/tests/data/keys/ed25519.pub"),
        ),
        ("p256", include_str!("../hsm/tests/data/keys/p256.pub")),
        (
            "p256-ecparam",
            include_str!("../hsm/tests/data/keys/p256-ecparam.pub"),
        ),
        ("p384", include_str!("../hsm/tests/data/keys/p384.pub")),
        (
            "rsa3072",
            include_str!("../hsm/tests/data/keys/rsa3072.pub"),
        ),
    ];
    const EXPECTED: &str = include_str!("../hsm/tests/data/expected.json");

    fn vector(name: &str) -> PublicKey {
        let (_, pem) = VECTORS.iter().find(|(n, _)| *n == name).unwrap();
        PublicKey::from_spki_pem(pem).unwrap()
    }

    fn key_json(keytype: &str, scheme: &str, public: &str) -> Json {
        obj([
            ("keytype", Json::Str(keytype.into())),
            ("scheme", Json::Str(scheme.into())),
            ("keyval", obj([("public", Json::Str(public.into()))])),
        ])
    }

    #[test]
    fn key_objects_and_keyids_match_securesystemslib_for_every_type() {
        let expected: serde_json::Value = serde_json::from_str(EXPECTED).unwrap();
        for (name, _) in VECTORS {
            let pk = vector(name);
            let want = &expected[name];
            let object = String::from_utf8(key_object(&pk).canonical()).unwrap();
            assert_eq!(object, want["key_object"].as_str().unwrap(), "{name}");
            assert_eq!(keyid(&pk), want["keyid"].as_str().unwrap(), "{name}");
            assert_eq!(
                legacy_keyid(&pk),
                want["legacy_keyid"].as_str().unwrap(),
                "{name}"
            );
            // (Canonical JSON keeps the PEM's newlines raw: not JSON to re-parse.)
            let parsed = KeyObject::parse(&key_object(&pk)).unwrap();
            assert_eq!(parsed.public.as_ref(), Some(&pk), "{name}");
        }
    }

    #[test]
    fn older_key_objects_parse() {
        let pem = vector("p256").to_spki_pem();
        let mut old = key_json("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256", pem.trim_end());
        let Json::Obj(map) = &mut old else {
            unreachable!()
        };
        map.insert(
            "keyid_hash_algorithms".into(),
            Json::Arr(vec![Json::Str("sha256".into()), Json::Str("sha512".into())]),
        );
        map.insert(
            "keyval".into(),
            obj([
                ("public", Json::Str(pem.trim_end().into())),
                ("private", Json::Str(String::new())),
            ]),
        );
        let k = KeyObject::parse(&old).unwrap();
        assert_eq!(k.public, Some(vector("p256")));
        assert_eq!(k.keytype, "ecdsa-sha2-nistp256");
        let p384 = vector("p384").to_spki_pem();
        let k = KeyObject::parse(&key_json(
            "ecdsa-sha2-nistp384",
            "ecdsa-sha2-nistp384",
            &p384,
        ));
        assert_eq!(k.unwrap().public, Some(vector("p384")));
    }

    #[test]
    fn a_known_scheme_with_the_wrong_key_is_an_error() {
        let p256 = vector("p256").to_spki_pem();
        let p384 = vector("p384").to_spki_pem();
        let rsa = vector("rsa3072").to_spki_pem();
        let ed = vector("ed25519").to_spki_pem();
        let cases = [
            (
                key_json("ecdsa", "ecdsa-sha2-nistp256", &p384),
                "the ecdsa-sha2-nistp256 scheme needs an ECDSA P-256 key, but keyval.public holds an ECDSA P-384 key",
            ),
            (
                key_json("ecdsa", "ecdsa-sha2-nistp384", &p256),
                "the ecdsa-sha2-nistp384 scheme needs an ECDSA P-384 key, but keyval.public holds an ECDSA P-256 key",
            ),
            (
                key_json("rsa", "rsassa-pss-sha256", &ed),
                "the rsassa-pss-sha256 scheme needs an RSA key, but keyval.public holds an Ed25519 key",
            ),
            (
                key_json("ecdsa", "ecdsa-sha2-nistp256", &rsa),
                "the ecdsa-sha2-nistp256 scheme needs an ECDSA P-256 key, but keyval.public holds an RSA key",
            ),
            (
                key_json("ed25519", "ed25519", &rsa),
                "ed25519 public key must be hex",
            ),
            (
                key_json("rsa", "rsassa-pss-sha256", "ab01"),
                "not an SPKI PEM public key (",
            ),
        ];
        for (json, want) in cases {
            let got = KeyObject::parse(&json).unwrap_err();
            assert!(
                got.starts_with(want),
                "{got:?} does not start with {want:?}"
            );
        }
    }

    #[test]
    fn unknown_combinations_are_kept_unusable() {
        let rsa = vector("rsa3072").to_spki_pem();
        let p256 = vector("p256").to_spki_pem();
        for json in [
            key_json("rsa", "rsa-pkcs1v15-sha384", &rsa),
            key_json("ecdsa", "ecdsa-sha2-nistp521", "anything"),
            key_json("ecdsa-sha2-nistp384", "ecdsa-sha2-nistp256", &p256),
            key_json("sphincs", "sphincs-shake-128s", "00"),
        ] {
            assert_eq!(KeyObject::parse(&json).unwrap().public, None);
        }
    }

    /// An RSA key under `rsa-pkcs1v15-sha256` (as cloud KMS signers list
    /// it) is usable, verified with PKCS#1 v1.5, and its key object and
    /// keyid are written back as read.
    #[test]
    fn an_rsa_pkcs1v15_key_is_usable_and_keeps_its_scheme() {
        let rsa = vector("rsa3072").to_spki_pem();
        let json = key_json("rsa", "rsa-pkcs1v15-sha256", &rsa);
        let k = KeyObject::parse(&json).unwrap();
        let public = k.public.unwrap();
        assert_eq!(public.algorithm(), KeyAlgorithm::RsaPkcs1v15Sha256);
        assert_eq!(key_object(&public), json);
        assert_eq!(
            keyid(&public),
            hex::encode(Sha256::digest(json.canonical()))
        );
    }

    /// A key named under one RSA scheme and listed under the other is
    /// found, so the refusal can name the listed scheme; a key listed as
    /// given, or not at all, is not.
    #[test]
    fn an_rsa_key_listed_under_the_other_scheme_is_found() {
        let pss = vector("rsa3072");
        let v15 = pss.clone().with_pkcs1v15().unwrap();
        let listed = |pk: &PublicKey| KeyObject::parse(&key_object(pk)).unwrap();
        let (as_pss, as_v15) = (listed(&pss), listed(&v15));
        assert_eq!(
            listed_under_other_scheme(&pss, [&as_v15]),
            Some("rsa-pkcs1v15-sha256")
        );
        assert_eq!(
            listed_under_other_scheme(&v15, [&as_pss]),
            Some("rsassa-pss-sha256")
        );
        assert_eq!(listed_under_other_scheme(&pss, [&as_v15, &as_pss]), None);
        assert_eq!(
            listed_under_other_scheme(&pss, [&listed(&vector("p256"))]),
            None
        );
        assert_eq!(
            respell("keys/kms.pem", "rsa-pkcs1v15-sha256"),
            "rsa-pkcs1v15-sha256:keys/kms.pem"
        );
        assert_eq!(
            respell("rsa-pkcs1v15-sha256:pkcs11:token=t", "rsassa-pss-sha256"),
            "pkcs11:token=t"
        );
        assert_eq!(
            split_scheme("rsa-pkcs1v15-sha256:k.pub"),
            (Scheme::RsaPkcs1v15, "k.pub")
        );
        assert_eq!(split_scheme("k.pub"), (Scheme::Default, "k.pub"));
    }

    #[test]
    fn tally_counts_an_ecdsa_key_under_two_keyids_once() {
        let s = FileSigner::generate_with(KeyAlgorithm::EcdsaP256).unwrap();
        let other = FileSigner::generate_with(KeyAlgorithm::EcdsaP384).unwrap();
        let k = KeyObject::parse(&key_object(s.public_key())).unwrap();
        let o = KeyObject::parse(&key_object(other.public_key())).unwrap();
        let keys: BTreeMap<_, _> = [
            ("a".to_owned(), k.clone()),
            ("b".to_owned(), k),
            ("c".to_owned(), o),
        ]
        .into();
        let role = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        // ECDSA signatures are randomised: two different signatures by one key.
        let (s1, s2, s3) = (
            s.sign(b"m").unwrap(),
            s.sign(b"m").unwrap(),
            other.sign(b"m").unwrap(),
        );
        let t = tally(
            &role,
            2,
            &keys,
            [("a", &s1[..]), ("b", &s2[..]), ("c", &s3[..])],
            b"m",
        );
        assert_eq!(t.counted, vec!["a".to_owned(), "c".to_owned()]);
        assert!(t.met());
    }

    #[test]
    fn tally_counts_distinct_keys_once() {
        let s = FileSigner::from_seed(&[1; 32]);
        let kobj = KeyObject::parse(&key_object(s.public_key())).unwrap();
        let keys: BTreeMap<_, _> = [("a".to_owned(), kobj.clone()), ("b".to_owned(), kobj)].into();
        let sig = s.sign(b"m").unwrap();
        let role = vec!["a".to_owned(), "b".to_owned()];
        let t = tally(&role, 2, &keys, [("a", &sig[..]), ("b", &sig[..])], b"m");
        assert_eq!(t.counted, vec!["a".to_owned()]);
        assert!(!t.met());
        let t = tally(&role, 1, &keys, [("c", &sig[..]), ("a", &b"bad"[..])], b"m");
        assert!(t.counted.is_empty());
    }
}
