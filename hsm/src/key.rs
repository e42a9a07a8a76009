//! Public keys and signature verification.
//!
//! Four key types, each verified exactly as securesystemslib 1.6 (through
//! pyca/cryptography and OpenSSL) verifies it:
//!
//! | type | signature |
//! |---|---|
//! | Ed25519 | 64 bytes, pure EdDSA, strict (`verify_strict`) |
//! | ECDSA P-256 | DER, over SHA-256 of the message; high `S` accepted |
//! | ECDSA P-384 | DER, over SHA-384 of the message; high `S` accepted |
//! | RSA | RSASSA-PSS, SHA-256, MGF1-SHA-256, any salt length |
//! | RSA, scheme `rsa-pkcs1v15-sha256` | RSASSA-PKCS1-v1_5 with SHA-256 |
//!
//! An RSA key is read as an RSASSA-PSS key; one that metadata lists under
//! the `rsa-pkcs1v15-sha256` scheme (common from cloud KMS signers) is
//! [`PublicKey::with_pkcs1v15`]. airlock signs PKCS#1 v1.5 only with a key
//! chosen under that scheme (`FileSigner::with_pkcs1v15`,
//! `Pkcs11Signer::with_pkcs1v15`).
use pkcs8::der::pem::LineEnding;
use pkcs8::der::{Decode, Document};
use pkcs8::spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};
use pkcs8::{DecodePublicKey, EncodePublicKey};
use sha2::{Digest, Sha256};

/// The signature algorithms airlock keys use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// Ed25519 (pure EdDSA over the message).
    Ed25519,
    /// ECDSA over NIST P-256 with SHA-256, DER signatures.
    EcdsaP256,
    /// ECDSA over NIST P-384 with SHA-384, DER signatures.
    EcdsaP384,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256.
    RsaPssSha256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (made only by a key chosen under the
    /// `rsa-pkcs1v15-sha256` scheme).
    RsaPkcs1v15Sha256,
}

impl KeyAlgorithm {
    /// The name used in key objects and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
            KeyAlgorithm::RsaPssSha256 => "rsa-pss-sha256",
            KeyAlgorithm::RsaPkcs1v15Sha256 => "rsa-pkcs1v15-sha256",
        }
    }
}

/// Smallest RSA modulus accepted, in bits.
pub const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits.
pub const RSA_MAX_BITS: usize = 16384;

pub(crate) const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
pub(crate) const OID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(crate) const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
pub(crate) const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
pub(crate) const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub(crate) const OID_RSA_PSS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// A public key airlock can verify signatures with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKey {
    /// An Ed25519 key.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// An ECDSA key on NIST P-256.
    EcdsaP256(p256::ecdsa::VerifyingKey),
    /// An ECDSA key on NIST P-384.
    EcdsaP384(p384::ecdsa::VerifyingKey),
    /// An RSA key (2048 to 16384 bits), used with RSASSA-PSS-SHA256.
    RsaPssSha256(rsa::RsaPublicKey),
    /// An RSA key (2048 to 16384 bits), used with RSASSA-PKCS1-v1_5-SHA256.
    RsaPkcs1v15Sha256(rsa::RsaPublicKey),
}

impl PublicKey {
    /// Parses an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`) of any of
    /// the four types, chosen by the SPKI algorithm (and, for EC, the curve).
    pub fn from_spki_pem(pem: &str) -> Result<PublicKey, String> {
        let (label, doc) = Document::from_pem(pem.trim())
            .map_err(|e| format!("not an SPKI PEM public key ({e})"))?;
        if label != "PUBLIC KEY" {
            return Err(format!(
                "expected a PEM \"PUBLIC KEY\" (SPKI), found \"{}\"",
                label.escape_default()
            ));
        }
        PublicKey::from_spki_der(doc.as_bytes())
    }

    /// An RSA key (used with RSASSA-PSS-SHA256) from its big-endian modulus
    /// and public exponent (as a PKCS#11 token reports them), within the
    /// size limits of RSA key files.
    pub fn rsa_from_components(modulus: &[u8], exponent: &[u8]) -> Result<PublicKey, String> {
        rsa_public_from_be(modulus, exponent).map(PublicKey::RsaPssSha256)
    }

    /// The same RSA key, used with RSASSA-PKCS1-v1_5-SHA256 (as metadata
    /// that lists it under the `rsa-pkcs1v15-sha256` scheme says); `None`
    /// for a key that is not RSA.
    pub fn with_pkcs1v15(self) -> Option<PublicKey> {
        match self {
            PublicKey::RsaPssSha256(k) | PublicKey::RsaPkcs1v15Sha256(k) => {
                Some(PublicKey::RsaPkcs1v15Sha256(k))
            }
            _ => None,
        }
    }

    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, String> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| format!("not a SubjectPublicKeyInfo ({e})"))?;
        let oid = spki.algorithm.oid;
        if oid == OID_ED25519 {
            ed25519_dalek::VerifyingKey::from_public_key_der(der)
                .map(PublicKey::Ed25519)
                .map_err(|e| format!("invalid Ed25519 public key ({e})"))
        } else if oid == OID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters_oid()
                .map_err(|_| "EC public key without a named curve".to_owned())?;
            if curve == OID_P256 {
                p256::ecdsa::VerifyingKey::from_public_key_der(der)
                    .map(PublicKey::EcdsaP256)
                    .map_err(|e| format!("invalid ECDSA P-256 public key ({e})"))
            } else if curve == OID_P384 {
                p384::ecdsa::VerifyingKey::from_public_key_der(der)
                    .map(PublicKey::EcdsaP384)
                    .map_err(|e| format!("invalid ECDSA P-384 public key ({e})"))
            } else {
                Err(format!(
                    "unsupported elliptic curve {curve}; airlock supports P-256 and P-384"
                ))
            }
        } else if oid == OID_RSA {
            let pkcs1 = spki
                .subject_public_key
                .as_bytes()
                .ok_or("RSA public key is not a whole number of bytes")?;
            rsa_public_from_pkcs1(pkcs1).map(PublicKey::RsaPssSha256)
        } else if oid == OID_RSA_PSS {
            Err(
                "RSASSA-PSS-restricted keys (OID 1.2.840.113549.1.1.10) are not supported; \
                 export the key as a plain rsaEncryption SPKI"
                    .into(),
            )
        } else {
            Err(format!(
                "unsupported public key algorithm {oid}; airlock supports Ed25519, \
                 ECDSA P-256, ECDSA P-384 and RSA"
            ))
        }
    }

    /// An Ed25519 key from its 32 raw bytes.
    pub fn ed25519_from_bytes(bytes: &[u8]) -> Result<PublicKey, String> {
        let raw: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("Ed25519 public key must be 32 bytes, not {}", bytes.len()))?;
        ed25519_dalek::VerifyingKey::from_bytes(raw)
            .map(PublicKey::Ed25519)
            .map_err(|e| format!("invalid Ed25519 public key ({e})"))
    }

    /// The key as DER SubjectPublicKeyInfo (EC points uncompressed).
    pub fn to_spki_der(&self) -> Vec<u8> {
        let der = match self {
            PublicKey::Ed25519(k) => k.to_public_key_der().map(Document::into_vec),
            PublicKey::EcdsaP256(k) => k.to_public_key_der().map(Document::into_vec),
            PublicKey::EcdsaP384(k) => k.to_public_key_der().map(Document::into_vec),
            PublicKey::RsaPssSha256(k) | PublicKey::RsaPkcs1v15Sha256(k) => {
                return rsa::pkcs8::EncodePublicKey::to_public_key_der(k)
                    .map(|d| d.into_vec())
                    .unwrap_or_default();
            }
        };
        // Encoding a key that was decoded or generated cannot fail; keep the
        // impossible branch out of the way without a panic in library code.
        der.unwrap_or_default()
    }

    /// The key as SPKI PEM with LF line endings and a trailing newline: the
    /// bytes pyca/cryptography's `public_bytes(PEM, SubjectPublicKeyInfo)`
    /// writes.
    pub fn to_spki_pem(&self) -> String {
        pkcs8::der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &self.to_spki_der())
            .unwrap_or_default()
    }

    /// The algorithm of this key.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            PublicKey::Ed25519(_) => KeyAlgorithm::Ed25519,
            PublicKey::EcdsaP256(_) => KeyAlgorithm::EcdsaP256,
            PublicKey::EcdsaP384(_) => KeyAlgorithm::EcdsaP384,
            PublicKey::RsaPssSha256(_) => KeyAlgorithm::RsaPssSha256,
            PublicKey::RsaPkcs1v15Sha256(_) => KeyAlgorithm::RsaPkcs1v15Sha256,
        }
    }

    /// Bytes that identify the key: the 32 raw bytes for Ed25519, the SPKI
    /// DER for the others. Two keys are the same key exactly when these are
    /// equal.
    pub fn raw_bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::Ed25519(k) => k.to_bytes().to_vec(),
            _ => self.to_spki_der(),
        }
    }

    /// Whether `sig` is a valid signature by this key over `msg`.
    ///
    /// Ed25519 uses strict verification (no small-order keys, canonical `S`).
    /// ECDSA takes a DER signature over SHA-256 (P-256) or SHA-384 (P-384)
    /// of `msg` and, like OpenSSL, accepts high `S`. RSA is RSASSA-PSS with
    /// SHA-256 and MGF1-SHA-256 with the salt length recovered from the
    /// signature, as OpenSSL does for `RSA_PSS_SALTLEN_AUTO`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier as _;
        match self {
            PublicKey::Ed25519(k) => {
                let Ok(raw) = <&[u8; 64]>::try_from(sig) else {
                    return false;
                };
                let sig = ed25519_dalek::Signature::from_bytes(raw);
                k.verify_strict(msg, &sig).is_ok()
            }
            PublicKey::EcdsaP256(k) => {
                p256::ecdsa::Signature::from_der(sig).is_ok_and(|sig| k.verify(msg, &sig).is_ok())
            }
            PublicKey::EcdsaP384(k) => {
                p384::ecdsa::Signature::from_der(sig).is_ok_and(|sig| k.verify(msg, &sig).is_ok())
            }
            PublicKey::RsaPssSha256(k) => pss::verify_sha256_any_salt(k, msg, sig),
            PublicKey::RsaPkcs1v15Sha256(k) => {
                use rsa::sha2::Digest as _;
                let digest = rsa::sha2::Sha256::digest(msg);
                k.verify(rsa::Pkcs1v15Sign::new::<rsa::sha2::Sha256>(), &digest, sig)
                    .is_ok()
            }
        }
    }

    /// [`Self::verify`] over a message given in pieces: `None` for a key
    /// whose check does not stream (all but Ed25519; verify those whole).
    /// Ed25519's SHA-512 over the message is nearly all of checking a large
    /// one, and streaming lets it run while the message is still being
    /// written (`intoto verify`, docs/performance.md).
    pub fn verify_stream(&self, sig: &[u8]) -> Option<SignatureStream> {
        let PublicKey::Ed25519(k) = self else {
            return None;
        };
        // verify_strict's checks, of which the stream verifier makes only
        // the one on `S` (canonical): `R` a point, neither `R` nor the key
        // of small order. Failing any, no message can verify.
        let check = <&[u8; 64]>::try_from(sig).ok().and_then(|raw| {
            let sig = ed25519_dalek::Signature::from_bytes(raw);
            let r = curve25519_dalek::edwards::CompressedEdwardsY(*sig.r_bytes()).decompress()?;
            if r.is_small_order() || k.is_weak() {
                return None;
            }
            k.verify_stream(&sig).ok()
        });
        Some(SignatureStream(check))
    }

    /// Whether `sig` is in the one encoding airlock writes: for ECDSA, DER
    /// exactly as it re-encodes, with `S` in the lower half of the group
    /// order (low-S, so that `(r, n - s)` is not a second valid signature
    /// over the same message); other algorithms have one encoding already
    /// (Ed25519 is verified strictly) and are always canonical here.
    pub fn is_canonical_signature(&self, sig: &[u8]) -> bool {
        match self {
            PublicKey::EcdsaP256(_) => p256::ecdsa::Signature::from_der(sig)
                .is_ok_and(|s| s.normalize_s() == s && s.to_der().as_bytes() == sig),
            PublicKey::EcdsaP384(_) => p384::ecdsa::Signature::from_der(sig)
                .is_ok_and(|s| s.normalize_s() == s && s.to_der().as_bytes() == sig),
            PublicKey::Ed25519(_)
            | PublicKey::RsaPssSha256(_)
            | PublicKey::RsaPkcs1v15Sha256(_) => true,
        }
    }
}

/// An RSA public key from a PKCS#1 `RSAPublicKey`, within the size limits.
fn rsa_public_from_pkcs1(pkcs1: &[u8]) -> Result<rsa::RsaPublicKey, String> {
    use rsa::pkcs1::der::Decode as _;
    let k = rsa::pkcs1::RsaPublicKey::from_der(pkcs1)
        .map_err(|e| format!("invalid RSA public key ({e})"))?;
    rsa_public_from_be(k.modulus.as_bytes(), k.public_exponent.as_bytes())
}

/// An RSA public key from its big-endian modulus and public exponent,
/// within the size limits.
fn rsa_public_from_be(n: &[u8], e: &[u8]) -> Result<rsa::RsaPublicKey, String> {
    let n = rsa::BigUint::from_bytes_be(n);
    let e = rsa::BigUint::from_bytes_be(e);
    let bits = n.bits();
    if bits < RSA_MIN_BITS {
        return Err(format!(
            "RSA key of {bits} bits is too small; at least {RSA_MIN_BITS} bits are required"
        ));
    }
    if bits > RSA_MAX_BITS {
        return Err(format!(
            "RSA key of {bits} bits is too large; at most {RSA_MAX_BITS} bits are accepted"
        ));
    }
    rsa::RsaPublicKey::new_with_max_size(n, e, RSA_MAX_BITS)
        .map_err(|e| format!("invalid RSA public key ({e})"))
}

/// EMSA-PSS-VERIFY (RFC 8017 §9.1.2) for SHA-256 / MGF1-SHA-256 with the salt
/// length recovered from the encoded message.
///
/// The `rsa` crate (0.9) only verifies a salt length known in advance, while
/// securesystemslib verifies with `PSS.AUTO`: OpenSSL's
/// `RSA_verify_PKCS1_PSS_mgf1` with `RSA_PSS_SALTLEN_AUTO`, which takes the
/// salt to be everything after the first `0x01` in the unmasked DB. This
/// module does the same on top of the crate's raw public-key operation, step
/// for step as OpenSSL does (including accepting a signature with leading
/// zero bytes removed, since OpenSSL only refuses one longer than the
/// modulus). Only public data is handled, so nothing here needs to be
/// constant-time.
mod pss {
    use super::{Digest, Sha256};
    use rsa::traits::PublicKeyParts;

    const H_LEN: usize = 32;

    pub(super) fn verify_sha256_any_salt(key: &rsa::RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool {
        let k = key.size();
        if sig.len() > k {
            return false;
        }
        let s = rsa::BigUint::from_bytes_be(sig);
        if &s >= key.n() {
            return false;
        }
        let Ok(m) = rsa::hazmat::rsa_encrypt(key, &s) else {
            return false;
        };
        let m = m.to_bytes_be();
        if m.len() > k {
            return false;
        }
        let mut em = vec![0u8; k];
        em[k - m.len()..].copy_from_slice(&m);
        let m_hash = Sha256::digest(msg);
        emsa_pss_verify(&m_hash, &em, key.n().bits() - 1)
    }

    /// `em` is the k-byte output of the RSA public operation; `em_bits` is
    /// modBits - 1.
    pub(super) fn emsa_pss_verify(m_hash: &[u8], em: &[u8], em_bits: usize) -> bool {
        // When modBits - 1 is a multiple of 8, EM is one byte shorter than
        // the modulus and the first output byte must be zero.
        let em_len = em_bits.div_ceil(8);
        let em = match em.len() - em_len {
            0 => em,
            1 if em[0] == 0 => &em[1..],
            _ => return false,
        };
        // Step 3, with the smallest salt (zero bytes).
        if em_len < H_LEN + 2 {
            return false;
        }
        // Step 4.
        if em[em_len - 1] != 0xbc {
            return false;
        }
        // Step 5.
        let (masked_db, rest) = em.split_at(em_len - H_LEN - 1);
        let h = &rest[..H_LEN];
        // Step 6: the leftmost 8*emLen - emBits bits must be zero.
        let top_bits = 8 * em_len - em_bits;
        let top_mask = (0xffu16 << (8 - top_bits)) as u8;
        if masked_db[0] & top_mask != 0 {
            return false;
        }
        // Steps 7-9.
        let mut db = mgf1_sha256(h, masked_db.len());
        for (d, m) in db.iter_mut().zip(masked_db) {
            *d ^= m;
        }
        db[0] &= !top_mask;
        // Step 10, recovering the salt length: zeros, then 0x01, then salt.
        let Some(one) = db.iter().position(|&b| b != 0) else {
            return false;
        };
        if db[one] != 0x01 {
            return false;
        }
        // Steps 11-14.
        let salt = &db[one + 1..];
        let mut hasher = Sha256::new();
        hasher.update([0u8; 8]);
        hasher.update(m_hash);
        hasher.update(salt);
        hasher.finalize().as_slice() == h
    }

    /// MGF1 with SHA-256 (RFC 8017 §B.2.1).
    pub(super) fn mgf1_sha256(seed: &[u8], len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + H_LEN);
        let mut counter = 0u32;
        while out.len() < len {
            let mut hasher = Sha256::new();
            hasher.update(seed);
            hasher.update(counter.to_be_bytes());
            out.extend_from_slice(&hasher.finalize());
            counter += 1;
        }
        out.truncate(len);
        out
    }
}

/// A signature check fed the message a piece at a time
/// ([`PublicKey::verify_stream`]): [`Self::verify`] gives the verdict
/// [`PublicKey::verify`] gives over the pieces joined.
pub struct SignatureStream(Option<ed25519_dalek::StreamVerifier>);

impl SignatureStream {
    /// Feeds the next piece of the message.
    pub fn update(&mut self, piece: &[u8]) {
        if let Some(v) = &mut self.0 {
            v.update(piece);
        }
    }

    /// Whether the signature verifies over everything fed.
    pub fn verify(self) -> bool {
        self.0.is_some_and(|v| v.finalize_and_verify().is_ok())
    }
}

impl std::fmt::Debug for SignatureStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "SignatureStream"
        } else {
            "SignatureStream (refused)"
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer as _;

    #[test]
    fn pem_round_trip_and_verify() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let pk = PublicKey::Ed25519(sk.verifying_key());
        let pem = pk.to_spki_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"));
        assert_eq!(PublicKey::from_spki_pem(&pem).unwrap(), pk);
        let sig = sk.sign(b"msg").to_bytes();
        assert!(pk.verify(b"msg", &sig));
        assert!(!pk.verify(b"msh", &sig));
        assert!(!pk.verify(b"msg", &sig[..63]));
    }

    /// `verify_stream` fed `pieces`, then verified.
    fn streamed(pk: &PublicKey, sig: &[u8], pieces: &[&[u8]]) -> bool {
        let mut s = pk.verify_stream(sig).unwrap();
        for p in pieces {
            s.update(p);
        }
        s.verify()
    }

    #[test]
    fn a_streamed_check_gives_the_whole_messages_verdict() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let pk = PublicKey::Ed25519(sk.verifying_key());
        let msg: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let sig = sk.sign(&msg).to_bytes();
        assert!(pk.verify(&msg, &sig));
        for at in [0, 1, 127, 128, 500, 999, 1000] {
            let (a, b) = msg.split_at(at);
            assert!(streamed(&pk, &sig, &[a, b]), "split at {at}");
            assert!(streamed(&pk, &sig, &[a, &[], b]));
        }
        // Refused as verify refuses: another message, one cut short or
        // longer, a signature cut short, or with a non-canonical S (S + L).
        let mut other = msg.clone();
        other[500] ^= 1;
        assert!(!streamed(&pk, &sig, &[&other]));
        assert!(!streamed(&pk, &sig, &[&msg[..999]]));
        assert!(!streamed(&pk, &sig, &[&msg, b"x"]));
        assert!(!streamed(&pk, &sig[..63], &[&msg]));
        let l = curve25519_dalek::scalar::Scalar::ZERO - curve25519_dalek::scalar::Scalar::ONE;
        let mut high = sig;
        let mut carry = 1u16; // S + L = S + (L - 1) + 1
        for (i, b) in high[32..].iter_mut().enumerate() {
            let sum = u16::from(*b) + u16::from(l.as_bytes()[i]) + carry;
            *b = sum as u8;
            carry = sum >> 8;
        }
        assert!(!pk.verify(&msg, &high));
        assert!(!streamed(&pk, &high, &[&msg]));
        // Keys that do not stream.
        let p256 = p256::ecdsa::SigningKey::from_slice(&[5; 32]).unwrap();
        assert!(
            PublicKey::EcdsaP256(*p256.verifying_key())
                .verify_stream(&sig)
                .is_none()
        );
    }

    #[test]
    fn a_streamed_check_refuses_what_only_verify_strict_refuses() {
        // Signatures the stream verifier of ed25519-dalek accepts on its
        // own (checked first, so that each case shows a check of ours at
        // work) and verify_strict refuses: a key of small order, and an `R`
        // of small order.
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        use curve25519_dalek::edwards::EdwardsPoint;
        use curve25519_dalek::scalar::Scalar;
        use sha2::Sha512;
        let msg = b"any message at all";
        let dalek_accepts = |key: &ed25519_dalek::VerifyingKey, sig: &[u8; 64]| {
            let mut v = key
                .verify_stream(&ed25519_dalek::Signature::from_bytes(sig))
                .unwrap();
            v.update(msg);
            v.finalize_and_verify().is_ok()
        };
        let signature = |r: EdwardsPoint, s: Scalar| {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(r.compress().as_bytes());
            sig[32..].copy_from_slice(s.as_bytes());
            sig
        };
        let key_of = |p: EdwardsPoint| {
            ed25519_dalek::VerifyingKey::from_bytes(p.compress().as_bytes()).unwrap()
        };
        let identity = <EdwardsPoint as curve25519_dalek::traits::Identity>::identity();
        // The identity as the key: R = rB, S = r verifies any message.
        let weak = key_of(identity);
        let r = Scalar::from(123_456_789u64);
        let sig = signature(B * r, r);
        assert!(dalek_accepts(&weak, &sig));
        assert!(!PublicKey::Ed25519(weak).verify(msg, &sig));
        assert!(!streamed(&PublicKey::Ed25519(weak), &sig, &[msg]));
        // The identity as R under an ordinary key aB: S = k a, with k the
        // challenge SHA-512(R || A || M).
        let a = Scalar::from(987_654_321u64);
        let key = key_of(B * a);
        let mut h = Sha512::new();
        h.update(identity.compress().as_bytes());
        h.update(key.as_bytes());
        h.update(msg);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let sig = signature(identity, k * a);
        assert!(dalek_accepts(&key, &sig));
        assert!(!PublicKey::Ed25519(key).verify(msg, &sig));
        assert!(!streamed(&PublicKey::Ed25519(key), &sig, &[msg]));
        // And an R that is not the canonical encoding of a point.
        let mut bad = sig;
        bad[..32].copy_from_slice(&[0xff; 32]);
        assert!(!streamed(&PublicKey::Ed25519(key), &bad, &[msg]));
    }

    #[test]
    fn surrounding_blank_lines_are_allowed() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let pk = PublicKey::Ed25519(sk.verifying_key());
        let pem = pk.to_spki_pem();
        for text in [
            format!("{pem}\n"),
            format!("\n{pem}\r\n\n"),
            format!("  {pem}  \n"),
        ] {
            assert_eq!(PublicKey::from_spki_pem(&text).unwrap(), pk, "{text:?}");
        }
    }

    #[test]
    fn refuses_garbage_pem() {
        assert!(
            PublicKey::from_spki_pem(
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
            )
            .is_err()
        );
        assert!(PublicKey::ed25519_from_bytes(&[0; 31]).is_err());
        let e = PublicKey::from_spki_pem(
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\n-----END PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            "expected a PEM \"PUBLIC KEY\" (SPKI), found \"PRIVATE KEY\""
        );
    }

    #[test]
    fn mgf1_matches_a_known_value() {
        // MGF1-SHA256("", 32) is SHA-256 of four zero bytes.
        assert_eq!(pss::mgf1_sha256(b"", 32), Sha256::digest([0u8; 4]).to_vec());
        assert_eq!(pss::mgf1_sha256(b"x", 70).len(), 70);
        assert_eq!(pss::mgf1_sha256(b"x", 70)[..32], pss::mgf1_sha256(b"x", 32));
    }
}
