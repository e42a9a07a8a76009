//! The one extension point for signing keys.
use crate::error::Error;
use crate::key::PublicKey;

/// Something that can sign with a private key it never reveals.
///
/// A file key, a PKCS#11 token object and a TPM-resident key all implement
/// this; callers choose a signer, then use it, without knowing which it is.
pub trait Signer: Send + Sync + std::fmt::Debug {
    /// The public half of the key.
    fn public_key(&self) -> &PublicKey;

    /// Signs `msg` (the whole message; Ed25519 is pure EdDSA). ECDSA
    /// signatures are DER with a low `S`
    /// ([`PublicKey::is_canonical_signature`](crate::PublicKey::is_canonical_signature)).
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error>;
}
