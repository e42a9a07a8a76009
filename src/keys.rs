//! Keys as TUF and in-toto metadata see them: key objects, keyids, loading
//! operator-supplied keys, and threshold counting.
//!
//! A keyid is the lowercase hex SHA-256 of the canonical JSON of the key
//! object (securesystemslib's "modern" keyid). Keyids found in metadata are
//! matched as stored, never recomputed; a threshold counts distinct public
//! keys, so one key listed under two keyids never counts twice.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use airlock_hsm::{FileSigner, PublicKey, Signer};
use sha2::{Digest, Sha256};

use crate::error::Error;
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
            _ => None,
        };
        Ok(KeyObject {
            keytype,
            scheme,
            public,
        })
    }
}

/// The modern key object of `pk`.
pub fn key_object(pk: &PublicKey) -> Json {
    let (keytype, scheme, public) = match pk.algorithm() {
        airlock_hsm::KeyAlgorithm::Ed25519 => ("ed25519", "ed25519", hex::encode(pk.raw_bytes())),
        #[allow(unreachable_patterns)]
        _ => ("unknown", "unknown", String::new()),
    };
    obj([
        ("keytype", Json::Str(keytype.into())),
        ("scheme", Json::Str(scheme.into())),
        ("keyval", obj([("public", Json::Str(public))])),
    ])
}

/// The modern keyid of `pk`.
pub fn keyid(pk: &PublicKey) -> String {
    hex::encode(Sha256::digest(key_object(pk).canonical()))
}

/// The legacy keyid of `pk` (key object with `keyid_hash_algorithms`), as old
/// securesystemslib, in-toto-golang and python-tuf test data compute it.
pub fn legacy_keyid(pk: &PublicKey) -> String {
    let Json::Obj(mut map) = key_object(pk) else {
        return keyid(pk);
    };
    map.insert(
        "keyid_hash_algorithms".into(),
        Json::Arr(vec![Json::Str("sha256".into()), Json::Str("sha512".into())]),
    );
    hex::encode(Sha256::digest(Json::Obj(map).canonical()))
}

/// Builds a JSON object from pairs.
pub fn obj<const N: usize>(pairs: [(&str, Json); N]) -> Json {
    Json::Obj(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Loads an SPKI PEM public key named on the command line.
pub fn load_public_key(path: &Path) -> Result<PublicKey, Error> {
    let pem = std::fs::read_to_string(path).map_err(|source| Error::input(path, source))?;
    PublicKey::from_spki_pem(&pem).map_err(|reason| Error::BadKey {
        path: path.display().to_string(),
        reason,
    })
}

/// Loads a signing key named on the command line: a PKCS#8 PEM file, or (in
/// the hardware backend) an RFC 7512 `pkcs11:` URI.
pub fn load_signer(spec: &str) -> Result<Box<dyn Signer>, Error> {
    if spec.starts_with("pkcs11:") {
        return Err(Error::Usage {
            message: "PKCS#11 signing keys are not supported by this build yet".into(),
            hint: "use a PEM key file made with `airlock keygen --out PREFIX`".into(),
        });
    }
    let path = Path::new(spec);
    let pem = std::fs::read_to_string(path).map_err(|source| Error::input(path, source))?;
    if pem.contains("BEGIN PUBLIC KEY") {
        return Err(Error::BadKey {
            path: spec.into(),
            reason: "this is a public key; signing needs the private key (PREFIX.pem)".into(),
        });
    }
    let signer = FileSigner::from_pem(&pem).map_err(|reason| Error::BadKey {
        path: spec.into(),
        reason,
    })?;
    Ok(Box::new(signer))
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
