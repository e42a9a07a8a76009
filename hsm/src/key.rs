//! Public keys and signature verification.
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};

/// The signature algorithms airlock keys use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// Ed25519 (pure EdDSA over the message).
    Ed25519,
}

impl KeyAlgorithm {
    /// The name used in key objects and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }
}

/// A public key airlock can verify signatures with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKey {
    /// An Ed25519 key.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Parses an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_spki_pem(pem: &str) -> Result<PublicKey, String> {
        ed25519_dalek::VerifyingKey::from_public_key_pem(pem.trim_start())
            .map(PublicKey::Ed25519)
            .map_err(|e| format!("not an Ed25519 SPKI PEM public key ({e})"))
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

    /// The key as SPKI PEM, with a trailing newline.
    pub fn to_spki_pem(&self) -> String {
        match self {
            PublicKey::Ed25519(k) => k
                .to_public_key_pem(LineEnding::LF)
                .unwrap_or_else(|_| unreachable_pem()),
        }
    }

    /// The algorithm of this key.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            PublicKey::Ed25519(_) => KeyAlgorithm::Ed25519,
        }
    }

    /// The raw public key bytes (32 bytes for Ed25519).
    pub fn raw_bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::Ed25519(k) => k.to_bytes().to_vec(),
        }
    }

    /// Whether `sig` is a valid signature by this key over `msg`.
    ///
    /// Ed25519 uses strict verification (no small-order keys, canonical `S`).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::Ed25519(k) => {
                let Ok(raw) = <&[u8; 64]>::try_from(sig) else {
                    return false;
                };
                let sig = ed25519_dalek::Signature::from_bytes(raw);
                k.verify_strict(msg, &sig).is_ok()
            }
        }
    }
}

// Encoding a 32-byte Ed25519 key as SPKI cannot fail; keep the impossible
// branch out of the way without a panic in library code.
fn unreachable_pem() -> String {
    String::new()
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
        assert_eq!(PublicKey::from_spki_pem(&pem).unwrap(), pk);
        let sig = sk.sign(b"msg").to_bytes();
        assert!(pk.verify(b"msg", &sig));
        assert!(!pk.verify(b"msh", &sig));
        assert!(!pk.verify(b"msg", &sig[..63]));
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
    }
}
