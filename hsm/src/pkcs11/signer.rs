//! Signing keys that live on a PKCS#11 token and never leave it.
use std::sync::Mutex;

use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use sha2::{Digest, Sha256, Sha384};

use super::Pkcs11Uri;
use super::token::{Access, bool_attributes, find_objects, hw, login};
use crate::error::Error;
use crate::key::{KeyAlgorithm, PublicKey, RSA_MIN_BITS};
use crate::signer::Signer;

/// DER of the Ed25519 OID 1.3.101.112 (RFC 8410), as `CKA_EC_PARAMS`.
const EC_PARAMS_ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// `CKA_EC_PARAMS` as PrintableString "edwards25519" (PKCS#11 3.0 also
/// allows this form; SoftHSM2 and OpenSC write it).
const EC_PARAMS_ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";
/// DER of the P-256 OID 1.2.840.10045.3.1.7.
const EC_PARAMS_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER of the P-384 OID 1.3.132.0.34.
const EC_PARAMS_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
/// The largest RSA key generated on a token, in bits (what file keys sign
/// with too).
const RSA_MAX_SIGNING_BITS: usize = 4096;
/// The PSS salt length airlock signs with, as file keys do (the SHA-256
/// length, as securesystemslib).
const PSS_SALT_LEN: u64 = 32;

/// How the private key is protected, as the token reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyProtection {
    /// `CKA_SENSITIVE`: the key's value is never revealed in plaintext.
    pub sensitive: bool,
    /// `CKA_EXTRACTABLE`: the key can be wrapped out of the token.
    pub extractable: bool,
    /// `CKA_NEVER_EXTRACTABLE`: it never could be.
    pub never_extractable: bool,
    /// `CKA_LOCAL`: it was generated on the token.
    pub local: bool,
}

/// A key pair on a PKCS#11 token, named by an RFC 7512 URI.
///
/// Holds one logged-in session (a token's login state is per process, so
/// several signers on one token share it). Signing goes through the
/// session's mutex: PKCS#11 sessions take one operation at a time.
pub struct Pkcs11Signer {
    uri: Pkcs11Uri,
    session: Mutex<Session>,
    key: ObjectHandle,
    public: PublicKey,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("uri", &self.uri)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Signer {
    /// Opens the key pair the URI names (`token=`, and `object=`, `id=` or
    /// both), logging in with the PIN from `pin-source`.
    pub fn open(uri: &str) -> Result<Pkcs11Signer, Error> {
        let uri = Pkcs11Uri::parse(uri).map_err(|reason| Error::Pkcs11Uri { reason })?;
        let label = uri
            .key_selector()
            .map_err(|reason| Error::Pkcs11Uri { reason })?;
        let session = login(&uri, Access::ReadOnly)?;
        let what = || format!("{} on token {:?}", uri.key_name(), uri.token);
        let by = if label.is_some() { "label" } else { "id" };
        let private = match find_objects(&session, &uri, ObjectClass::PRIVATE_KEY, label)?[..] {
            [k] => k,
            [] => {
                return Err(Error::KeyNotFound {
                    what: what(),
                    reason: format!("the token holds no private key with that {by}"),
                });
            }
            ref many => {
                return Err(Error::KeyNotFound {
                    what: what(),
                    reason: format!(
                        "{} private keys carry that {by}; add {} to the URI",
                        many.len(),
                        if label.is_some() {
                            "id=…"
                        } else {
                            "object=…"
                        }
                    ),
                });
            }
        };
        let public = match find_objects(&session, &uri, ObjectClass::PUBLIC_KEY, label)?[..] {
            [k] => read_public(&session, k)?,
            _ => {
                return Err(Error::KeyNotFound {
                    what: what(),
                    reason: format!(
                        "the token holds no single public key with that {by} next to the \
                         private key (airlock needs it to name the key)"
                    ),
                });
            }
        };
        Ok(Pkcs11Signer {
            uri,
            session: Mutex::new(session),
            key: private,
            public,
        })
    }

    /// Generates an Ed25519 or ECDSA (P-256, P-384) key pair on the token
    /// under the URI's object label: the private key sensitive and
    /// non-extractable, both token objects. Refuses a label that is
    /// already taken.
    pub fn generate(uri: &str, algorithm: KeyAlgorithm) -> Result<Pkcs11Signer, Error> {
        let parsed = Pkcs11Uri::parse(uri).map_err(|reason| Error::Pkcs11Uri { reason })?;
        let (mechanism, params) = match algorithm {
            KeyAlgorithm::Ed25519 => (Mechanism::EccEdwardsKeyPairGen, EC_PARAMS_ED25519_OID),
            KeyAlgorithm::EcdsaP256 => (Mechanism::EccKeyPairGen, EC_PARAMS_P256),
            KeyAlgorithm::EcdsaP384 => (Mechanism::EccKeyPairGen, EC_PARAMS_P384),
            other => {
                return Err(Error::KeyParse {
                    path: parsed.to_string().into(),
                    reason: format!(
                        "{} keys are not generated this way; use Pkcs11Signer::generate_rsa \
                         for RSA, or ed25519, ecdsa-p256 or ecdsa-p384",
                        other.name()
                    ),
                });
            }
        };
        Self::generate_pair(
            parsed,
            &mechanism,
            vec![Attribute::EcParams(params.to_vec())],
            algorithm.name(),
        )
    }

    /// Generates an RSA key pair of `bits` (2048 to 4096) on the token with
    /// public exponent 65537 (`CKM_RSA_PKCS_KEY_PAIR_GEN`), protected as
    /// [`Pkcs11Signer::generate`] protects its keys. It signs RSASSA-PSS
    /// unless chosen under `rsa-pkcs1v15-sha256`
    /// ([`Pkcs11Signer::with_pkcs1v15`]).
    pub fn generate_rsa(uri: &str, bits: u32) -> Result<Pkcs11Signer, Error> {
        let parsed = Pkcs11Uri::parse(uri).map_err(|reason| Error::Pkcs11Uri { reason })?;
        if !(RSA_MIN_BITS..=RSA_MAX_SIGNING_BITS).contains(&(bits as usize)) {
            return Err(Error::KeyParse {
                path: parsed.to_string().into(),
                reason: format!(
                    "RSA keys of {bits} bits are not generated; choose {RSA_MIN_BITS} to \
                     {RSA_MAX_SIGNING_BITS} bits"
                ),
            });
        }
        Self::generate_pair(
            parsed,
            &Mechanism::RsaPkcsKeyPairGen,
            vec![
                Attribute::ModulusBits(u64::from(bits).into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ],
            &format!("rsa-{bits}"),
        )
    }

    fn generate_pair(
        parsed: Pkcs11Uri,
        mechanism: &Mechanism<'_>,
        key_attributes: Vec<Attribute>,
        what: &str,
    ) -> Result<Pkcs11Signer, Error> {
        let label = parsed
            .object_label()
            .map_err(|reason| Error::Pkcs11Uri { reason })?
            .to_owned();
        let session = login(&parsed, Access::ReadWrite)?;
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            if !find_objects(&session, &parsed, class, Some(&label))?.is_empty() {
                return Err(Error::Exists {
                    path: format!("key {label:?} on token {:?}", parsed.token).into(),
                });
            }
        }
        let id = match &parsed.id {
            Some(id) => id.clone(),
            None => {
                let mut id = vec![0u8; 16];
                getrandom::fill(&mut id).map_err(|e| Error::Sign(e.to_string()))?;
                id
            }
        };
        let common = [
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id),
        ];
        let mut public_template = common.to_vec();
        public_template.extend([
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Wrap(false),
            Attribute::Derive(false),
        ]);
        public_template.extend(key_attributes);
        let mut private_template = common.to_vec();
        private_template.extend([
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
        ]);
        let (public, private) = session
            .generate_key_pair(mechanism, &public_template, &private_template)
            .map_err(|e| {
                hw(format!(
                    "token {:?} cannot generate {what} keys: {e}",
                    parsed.token
                ))
            })?;
        let public = read_public(&session, public)?;
        let signer = Pkcs11Signer {
            uri: parsed,
            session: Mutex::new(session),
            key: private,
            public,
        };
        let p = signer.protection()?;
        if !p.sensitive || p.extractable {
            return Err(hw(
                "the token generated a key that is not sensitive and non-extractable; it was kept \
                 on the token but must not be used: delete it",
            ));
        }
        Ok(signer)
    }

    /// The same RSA key pair, signing RSASSA-PKCS1-v1_5 with SHA-256
    /// (`CKM_SHA256_RSA_PKCS`, the `rsa-pkcs1v15-sha256` scheme) instead of
    /// PSS; its public key, key object and keyid change with the scheme.
    /// Refuses a key that is not RSA.
    pub fn with_pkcs1v15(self) -> Result<Pkcs11Signer, Error> {
        let public = self
            .public
            .clone()
            .with_pkcs1v15()
            .ok_or_else(|| Error::KeyParse {
                path: self.uri.to_string().into(),
                reason: format!(
                    "the rsa-pkcs1v15-sha256 scheme needs an RSA key, not {}",
                    self.public.algorithm().name()
                ),
            })?;
        Ok(Pkcs11Signer { public, ..self })
    }

    /// The URI this key was opened with.
    pub fn uri(&self) -> &Pkcs11Uri {
        &self.uri
    }

    /// How the token protects the private key.
    pub fn protection(&self) -> Result<KeyProtection, Error> {
        let session = self
            .session
            .lock()
            .map_err(|_| hw("the token session is poisoned"))?;
        let got = bool_attributes(
            &session,
            self.key,
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::NeverExtractable,
                AttributeType::Local,
            ],
        )?;
        Ok(KeyProtection {
            sensitive: got[0].unwrap_or(false),
            // Unknown counts as the worse case.
            extractable: got[1].unwrap_or(true),
            never_extractable: got[2].unwrap_or(false),
            local: got[3].unwrap_or(false),
        })
    }
}

/// The public key of a token public-key object: Ed25519, ECDSA P-256 or
/// P-384, or RSA (used with RSASSA-PSS-SHA256, as RSA key files are).
fn read_public(session: &Session, object: ObjectHandle) -> Result<PublicKey, Error> {
    let unsupported = || Error::KeyNotFound {
        what: "on the token".into(),
        reason: "the key is not Ed25519, ECDSA P-256 or P-384, or RSA (the types airlock \
                 uses on tokens)"
            .into(),
    };
    let key_type = session
        .get_attributes(object, &[AttributeType::KeyType])
        .map_err(|e| hw(format!("cannot read the public key: {e}")))?
        .into_iter()
        .find_map(|a| match a {
            Attribute::KeyType(t) => Some(t),
            _ => None,
        })
        .ok_or_else(unsupported)?;
    if key_type == KeyType::RSA {
        return read_rsa_public(session, object);
    }
    let attrs = session
        .get_attributes(object, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(|e| hw(format!("cannot read the public key: {e}")))?;
    let (mut params, mut point) = (None, None);
    for a in attrs {
        match a {
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let (Some(params), Some(point)) = (params, point) else {
        return Err(unsupported());
    };
    let raw = unwrap_octet_string(&point);
    if key_type == KeyType::EC_EDWARDS
        && (params == EC_PARAMS_ED25519_OID || params == EC_PARAMS_ED25519_NAME)
    {
        PublicKey::ed25519_from_bytes(raw).map_err(|e| hw(format!("token public key: {e}")))
    } else if key_type == KeyType::EC && params == EC_PARAMS_P256 {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(raw)
            .map(PublicKey::EcdsaP256)
            .map_err(|e| hw(format!("token public key: invalid P-256 point ({e})")))
    } else if key_type == KeyType::EC && params == EC_PARAMS_P384 {
        p384::ecdsa::VerifyingKey::from_sec1_bytes(raw)
            .map(PublicKey::EcdsaP384)
            .map_err(|e| hw(format!("token public key: invalid P-384 point ({e})")))
    } else {
        Err(unsupported())
    }
}

/// An RSA public key from its modulus and public exponent, within the
/// limits RSA key files have.
fn read_rsa_public(session: &Session, object: ObjectHandle) -> Result<PublicKey, Error> {
    let attrs = session
        .get_attributes(
            object,
            &[AttributeType::Modulus, AttributeType::PublicExponent],
        )
        .map_err(|e| hw(format!("cannot read the RSA public key: {e}")))?;
    let (mut n, mut e) = (None, None);
    for a in attrs {
        match a {
            Attribute::Modulus(v) => n = Some(v),
            Attribute::PublicExponent(v) => e = Some(v),
            _ => {}
        }
    }
    let (Some(n), Some(e)) = (n, e) else {
        return Err(hw("the token reports no RSA modulus or exponent"));
    };
    PublicKey::rsa_from_components(&n, &e).map_err(|reason| Error::KeyNotFound {
        what: "on the token".into(),
        reason,
    })
}

/// `CKA_EC_POINT` is a DER OCTET STRING holding the point; some modules
/// return the bare point. Accept both.
fn unwrap_octet_string(point: &[u8]) -> &[u8] {
    match point {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() && *len < 0x80 => rest,
        [0x04, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() => rest,
        _ => point,
    }
}

impl Signer for Pkcs11Signer {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Ed25519: CKM_EDDSA (pure) over the message. ECDSA P-256 / P-384:
    /// CKM_ECDSA over the SHA-256 / SHA-384 digest computed here (SoftHSM2
    /// has no CKM_ECDSA_SHA256), the raw `r‖s` re-encoded as DER, low-S.
    /// RSA: CKM_SHA256_RSA_PKCS_PSS, MGF1-SHA-256, a 32-byte salt (as RSA
    /// key files sign), or CKM_SHA256_RSA_PKCS for a key chosen under
    /// `rsa-pkcs1v15-sha256`. Every signature is
    /// checked against the public key before it is returned, so a faulty
    /// token cannot slip a bad signature into metadata.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let session = self
            .session
            .lock()
            .map_err(|_| hw("the token session is poisoned"))?;
        let sig = match &self.public {
            PublicKey::Ed25519(_) => {
                let mech = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
                session.sign(&mech, self.key, msg)
            }
            PublicKey::EcdsaP256(_) => {
                session.sign(&Mechanism::Ecdsa, self.key, &Sha256::digest(msg))
            }
            PublicKey::EcdsaP384(_) => {
                session.sign(&Mechanism::Ecdsa, self.key, &Sha384::digest(msg))
            }
            PublicKey::RsaPssSha256(_) => {
                let params = PkcsPssParams {
                    hash_alg: MechanismType::SHA256,
                    mgf: PkcsMgfType::MGF1_SHA256,
                    s_len: PSS_SALT_LEN.into(),
                };
                session.sign(&Mechanism::Sha256RsaPkcsPss(params), self.key, msg)
            }
            PublicKey::RsaPkcs1v15Sha256(_) => {
                session.sign(&Mechanism::Sha256RsaPkcs, self.key, msg)
            }
        }
        .map_err(|e| Error::Sign(format!("token {:?}: {e}", self.uri.token)))?;
        drop(session);
        let sig = match &self.public {
            PublicKey::EcdsaP256(_) => p256::ecdsa::Signature::from_slice(&sig)
                .map_err(|e| {
                    Error::Sign(format!("token returned a malformed ECDSA signature ({e})"))
                })?
                .normalize_s()
                .to_der()
                .as_bytes()
                .to_vec(),
            PublicKey::EcdsaP384(_) => p384::ecdsa::Signature::from_slice(&sig)
                .map_err(|e| {
                    Error::Sign(format!("token returned a malformed ECDSA signature ({e})"))
                })?
                .normalize_s()
                .to_der()
                .as_bytes()
                .to_vec(),
            _ => sig,
        };
        if !self.public.verify(msg, &sig) {
            return Err(Error::Sign(format!(
                "token {:?} returned a signature that does not verify",
                self.uri.token
            )));
        }
        Ok(sig)
    }
}
