//! The TPM store's journal key: a TPM-resident ECDSA P-256 signing key.
//!
//! The key is a *primary* key of the endorsement hierarchy, derived by the
//! TPM from its endorsement seed and a fixed template (whose `unique` field
//! names airlock's journal). Nothing is stored: the TPM derives the same key
//! again for every use and flushes it afterwards, so no object slot stays
//! taken (swtpm without a resource manager has only a few). The private key
//! never leaves the TPM.
//!
//! The endorsement seed, unlike the owner's, survives `TPM2_Clear`: a
//! cleared TPM that is re-provisioned (`anchor init --replace`) signs the
//! journal with the same key as before, so the journal carries on. Only
//! `TPM2_ChangeEPS` (a new TPM identity) changes it. The endorsement
//! hierarchy's authorization value must be empty (the default).
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};
use tss_esapi::attributes::ObjectAttributesBuilder;
use tss_esapi::constants::tss::{TPM2_RH_NULL, TPM2_ST_HASHCHECK};
use tss_esapi::handles::KeyHandle;
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::structures::{
    Digest, EccParameter, EccPoint, EccScheme, HashScheme, Public, PublicBuilder,
    PublicEccParametersBuilder, Signature, SignatureScheme,
};
use tss_esapi::tss2_esys::TPMT_TK_HASHCHECK;

use super::device::{Tpm, tpm_err};
use crate::error::Error;
use crate::key::PublicKey;
use crate::signer::Signer;

/// The `unique` field of the key's template: it makes the key airlock's
/// own (another application deriving a primary from the default template
/// gets a different key).
const UNIQUE: &[u8] = b"airlock journal key v1";

/// The template of the journal key.
fn template() -> Result<Public, tss_esapi::Error> {
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_sign_encrypt(true)
        .with_decrypt(false)
        .with_restricted(false)
        .build()?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes)
        .with_ecc_parameters(
            PublicEccParametersBuilder::new_unrestricted_signing_key(
                EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)),
                EccCurve::NistP256,
            )
            .build()?,
        )
        .with_ecc_unique_identifier(EccPoint::new(
            EccParameter::try_from(UNIQUE.to_vec())?,
            EccParameter::default(),
        ))
        .build()
}

/// A big-endian integer from the TPM, left-padded to 32 bytes.
pub(super) fn field(bytes: &[u8]) -> Result<[u8; 32], Error> {
    if bytes.len() > 32 {
        return Err(tpm_err(
            "the TPM returned a P-256 value longer than 32 bytes",
        ));
    }
    let mut out = [0u8; 32];
    out[32 - bytes.len()..].copy_from_slice(bytes);
    Ok(out)
}

impl Tpm {
    /// Derives the journal key, runs `f` with its handle, and flushes it.
    fn with_journal_key<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Self, KeyHandle, &Public) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let template = template().map_err(|e| tpm_err(e.to_string()))?;
        self.with_endorsement_key("journal key", template, what, f)
    }

    /// Derives the key `template` describes from the endorsement seed (the
    /// same key on every use, nothing stored), runs `f` with its handle, and
    /// flushes it; `name` and `what` say which key, for what, in an error.
    pub(super) fn with_endorsement_key<T>(
        &mut self,
        name: &str,
        template: Public,
        what: &str,
        f: impl FnOnce(&mut Self, KeyHandle, &Public) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let created = self
            .ctx
            .execute_with_nullauth_session(|c| {
                c.create_primary(Hierarchy::Endorsement, template, None, None, None, None)
            })
            .map_err(|e| {
                tpm_err(format!(
                    "the TPM at {} cannot derive the {name} (to {what}): {e}; the \
                     endorsement hierarchy must have an empty authorization value",
                    self.tcti
                ))
            })?;
        let result = f(self, created.key_handle, &created.out_public);
        let _ = self.ctx.flush_context(created.key_handle.into());
        result
    }

    /// The journal key's public half.
    pub(crate) fn journal_public_key(&mut self) -> Result<PublicKey, Error> {
        self.with_journal_key("read its public key", |_, _, public| {
            let Public::Ecc { unique, .. } = public else {
                return Err(tpm_err("the journal key is not an ECC key"));
            };
            let mut sec1 = vec![0x04];
            sec1.extend_from_slice(&field(unique.x().value())?);
            sec1.extend_from_slice(&field(unique.y().value())?);
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map(PublicKey::EcdsaP256)
                .map_err(|e| tpm_err(format!("the journal key is not a P-256 point: {e}")))
        })
    }

    /// Signs `digest` (a SHA-256) with the journal key; the DER signature.
    pub(crate) fn journal_sign(&mut self, digest: [u8; 32]) -> Result<Vec<u8>, Error> {
        self.with_journal_key("sign a record", |tpm, key, _| {
            let validation = TPMT_TK_HASHCHECK {
                tag: TPM2_ST_HASHCHECK,
                hierarchy: TPM2_RH_NULL,
                digest: Default::default(),
            };
            let digest = Digest::try_from(digest.to_vec()).map_err(|e| tpm_err(e.to_string()))?;
            let validation = validation
                .try_into()
                .map_err(|e: tss_esapi::Error| tpm_err(e.to_string()))?;
            let signature = tpm
                .ctx
                .execute_with_nullauth_session(|c| {
                    c.sign(key, digest, SignatureScheme::Null, validation)
                })
                .map_err(|e| tpm_err(format!("the TPM at {} cannot sign: {e}", tpm.tcti)))?;
            let Signature::EcDsa(ecc) = signature else {
                return Err(tpm_err("the TPM returned a signature that is not ECDSA"));
            };
            let r = field(ecc.signature_r().value())?;
            let s = field(ecc.signature_s().value())?;
            p256::ecdsa::Signature::from_scalars(r, s)
                .map(|sig| sig.normalize_s().to_der().as_bytes().to_vec())
                .map_err(|e| tpm_err(format!("the TPM returned a malformed signature: {e}")))
        })
    }
}

/// The journal key of a TPM store, as a [`Signer`].
#[derive(Debug)]
pub struct TpmJournalSigner {
    tpm: Arc<Mutex<Tpm>>,
    public: PublicKey,
}

impl TpmJournalSigner {
    pub(crate) fn new(tpm: Arc<Mutex<Tpm>>) -> Result<TpmJournalSigner, Error> {
        let public = super::lock(&tpm)?.journal_public_key()?;
        Ok(TpmJournalSigner { tpm, public })
    }
}

impl Signer for TpmJournalSigner {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// ECDSA P-256 over SHA-256 of `msg`, in DER; checked against the
    /// public key before it is returned.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let sig = super::lock(&self.tpm)?.journal_sign(Sha256::digest(msg).into())?;
        if !self.public.verify(msg, &sig) {
            return Err(Error::Sign(
                "the TPM returned a journal signature that does not verify".into(),
            ));
        }
        Ok(sig)
    }
}
