//! TPM2 quotes over the import measurements (PCR 23), signed by the
//! store's attestation key (docs/policy.md, "TPM quote").
//!
//! The attestation key (AK) is, like the journal key, a *primary* key of
//! the endorsement hierarchy derived by the TPM from its endorsement seed
//! and a fixed template on every use, and flushed afterwards: nothing is
//! persisted, no object slot stays taken, and the same TPM always derives
//! the same AK (until `TPM2_ChangeEPS`). Unlike the journal key it is a
//! **restricted** signing key (ECDSA P-256, SHA-256): the TPM signs with it
//! only structures it produced itself (`TPMS_ATTEST`, starting with
//! `TPM_GENERATED_VALUE`), so a quote cannot be forged by asking the TPM to
//! sign chosen bytes.
use sha2::{Digest as _, Sha256};
use tss_esapi::attributes::ObjectAttributesBuilder;
use tss_esapi::handles::KeyHandle;
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::structures::{
    Data, EccParameter, EccPoint, EccScheme, HashScheme, KeyDerivationFunctionScheme, PcrSlot,
    Public, PublicBuilder, PublicEccParametersBuilder, SignatureScheme, SymmetricDefinitionObject,
};
use tss_esapi::structures::{PcrSelectionList, PcrSelectionListBuilder};
use tss_esapi::traits::Marshall;

use super::device::{MEASURE_PCR, Tpm, tpm_err};
use super::journal_key::field;
use crate::error::Error;
use crate::key::PublicKey;

/// The `unique` field of the attestation key's template (another
/// application deriving a primary from the default template gets another
/// key; so does the journal key's template).
const UNIQUE: &[u8] = b"airlock attestation key v1";

/// A quote as the TPM returned it, with the PCR value it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmQuote {
    /// The marshalled `TPMS_ATTEST` (type `TPM_ST_ATTEST_QUOTE`): the
    /// signed message.
    pub attest: Vec<u8>,
    /// The marshalled `TPMT_SIGNATURE` (ECDSA, SHA-256) over `attest`.
    pub signature: Vec<u8>,
    /// PCR 23's SHA-256 bank, read just before the quote.
    pub pcr: [u8; 32],
}

/// The attestation key's template: a restricted ECDSA P-256 signing key.
fn template() -> Result<Public, tss_esapi::Error> {
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_sign_encrypt(true)
        .with_decrypt(false)
        .with_restricted(true)
        .build()?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes)
        .with_ecc_parameters(
            PublicEccParametersBuilder::new()
                .with_symmetric(SymmetricDefinitionObject::Null)
                .with_ecc_scheme(EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)))
                .with_curve(EccCurve::NistP256)
                .with_key_derivation_function_scheme(KeyDerivationFunctionScheme::Null)
                .with_is_signing_key(true)
                .with_is_decryption_key(false)
                .with_restricted(true)
                .build()?,
        )
        .with_ecc_unique_identifier(EccPoint::new(
            EccParameter::try_from(UNIQUE.to_vec())?,
            EccParameter::default(),
        ))
        .build()
}

/// PCR 23's SHA-256 bank.
fn selection() -> Result<PcrSelectionList, Error> {
    PcrSelectionListBuilder::new()
        .with_selection(HashingAlgorithm::Sha256, &[PcrSlot::Slot23])
        .build()
        .map_err(|e| tpm_err(e.to_string()))
}

impl Tpm {
    /// Derives the attestation key, runs `f` with its handle, flushes it.
    fn with_attestation_key<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Self, KeyHandle, &Public) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let template = template().map_err(|e| tpm_err(e.to_string()))?;
        self.with_endorsement_key("attestation key", template, what, f)
    }

    /// The attestation key's public half.
    pub(crate) fn attestation_public_key(&mut self) -> Result<PublicKey, Error> {
        self.with_attestation_key("read its public key", |_, _, public| p256_of(public))
    }

    /// PCR 23's SHA-256 value.
    pub(crate) fn read_measure_pcr(&mut self) -> Result<[u8; 32], Error> {
        let selection = selection()?;
        let (_, _, digests) = self
            .ctx
            .execute_without_session(|c| c.pcr_read(selection))
            .map_err(|e| {
                tpm_err(format!(
                    "the TPM at {} cannot read PCR {MEASURE_PCR}: {e}",
                    self.tcti
                ))
            })?;
        let value = digests
            .value()
            .first()
            .ok_or_else(|| tpm_err(format!("the TPM has no SHA-256 bank for PCR {MEASURE_PCR}")))?;
        <[u8; 32]>::try_from(value.value())
            .map_err(|_| tpm_err(format!("PCR {MEASURE_PCR}'s SHA-256 value is not 32 bytes")))
    }

    /// A quote over PCR 23 (SHA-256 bank) with `qualifying_data` as its
    /// `extraData`, signed by the attestation key; the PCR value is read
    /// first and checked against the quote's PCR digest, so a measurement
    /// between the two is an error rather than an inconsistent quote.
    pub(crate) fn quote(&mut self, qualifying_data: [u8; 32]) -> Result<TpmQuote, Error> {
        let pcr = self.read_measure_pcr()?;
        let (attest, signature) = self.with_attestation_key("quote", |tpm, key, _| {
            let data =
                Data::try_from(qualifying_data.to_vec()).map_err(|e| tpm_err(e.to_string()))?;
            let selection = selection()?;
            tpm.ctx
                .execute_with_nullauth_session(|c| {
                    c.quote(key, data, SignatureScheme::Null, selection)
                })
                .map_err(|e| tpm_err(format!("the TPM at {} cannot quote: {e}", tpm.tcti)))
        })?;
        let attest = attest
            .marshall()
            .map_err(|e| tpm_err(format!("cannot marshal the quote: {e}")))?;
        let signature = signature
            .marshall()
            .map_err(|e| tpm_err(format!("cannot marshal the quote's signature: {e}")))?;
        let quote = TpmQuote {
            attest,
            signature,
            pcr,
        };
        // The quote's PCR digest is the last 32 bytes of a one-bank,
        // one-PCR TPMS_QUOTE_INFO: SHA-256 of the PCR value.
        let expected: [u8; 32] = Sha256::digest(pcr).into();
        if !quote.attest.ends_with(&expected) {
            return Err(tpm_err(format!(
                "PCR {MEASURE_PCR} changed while it was quoted (an import at the same time?): try again"
            )));
        }
        Ok(quote)
    }
}

/// The P-256 public key of an ECC `public` area.
fn p256_of(public: &Public) -> Result<PublicKey, Error> {
    let Public::Ecc { unique, .. } = public else {
        return Err(tpm_err("the attestation key is not an ECC key"));
    };
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(&field(unique.x().value())?);
    sec1.extend_from_slice(&field(unique.y().value())?);
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
        .map(PublicKey::EcdsaP256)
        .map_err(|e| tpm_err(format!("the attestation key is not a P-256 point: {e}")))
}

/// The PCR a quote covers: the one every import extends
/// (`SHA-256(PCR ‖ SHA-256(bundle id))`, SHA-256 bank).
pub const QUOTE_PCR: u32 = MEASURE_PCR;

impl super::TpmStore {
    /// The public half of the TPM's attestation key (the same on every
    /// call: the TPM derives it from its endorsement seed).
    pub fn attestation_key(&self) -> Result<PublicKey, Error> {
        super::lock(&self.hardware().tpm)?.attestation_public_key()
    }

    /// A quote over PCR 23 with `qualifying_data` as its `extraData`.
    /// Callers hold the store's lock, so that no import extends PCR 23 or
    /// moves the journal head they bound into `qualifying_data`.
    pub fn quote(&self, qualifying_data: [u8; 32]) -> Result<TpmQuote, Error> {
        super::lock(&self.hardware().tpm)?.quote(qualifying_data)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::emulators::Swtpm;
    use super::*;
    use tss_esapi::constants::tss::{TPM2_RH_NULL, TPM2_ST_HASHCHECK};
    use tss_esapi::structures::{Digest, Signature};
    use tss_esapi::traits::UnMarshall;
    use tss_esapi::tss2_esys::TPMT_TK_HASHCHECK;

    #[test]
    fn the_attestation_key_is_restricted_and_signs_quotes_of_pcr_23() {
        let Some(swtpm) = Swtpm::start("the_attestation_key_is_restricted") else {
            return;
        };
        let mut tpm = Tpm::connect(&swtpm.tcti()).unwrap();
        // The same key on every derivation, and not the journal key.
        let ak = tpm.attestation_public_key().unwrap();
        assert_eq!(tpm.attestation_public_key().unwrap(), ak);
        assert_ne!(tpm.journal_public_key().unwrap(), ak);
        tpm.extend_pcr([9; 32]).unwrap();
        let q = tpm.quote([7; 32]).unwrap();
        assert_eq!(q.pcr, tpm.read_measure_pcr().unwrap());
        // The signature verifies over the attest bytes, which carry the
        // qualifying data.
        let Signature::EcDsa(sig) = Signature::unmarshall(&q.signature).unwrap() else {
            panic!("not ECDSA");
        };
        let sig = p256::ecdsa::Signature::from_scalars(
            field(sig.signature_r().value()).unwrap(),
            field(sig.signature_s().value()).unwrap(),
        )
        .unwrap()
        .normalize_s();
        let PublicKey::EcdsaP256(vk) = &ak else {
            panic!("not P-256");
        };
        p256::ecdsa::signature::Verifier::verify(vk, &q.attest, &sig).unwrap();
        assert!(q.attest.windows(32).any(|w| w == [7; 32]));
        // Restricted: the TPM will not sign a digest it did not make
        // itself, so no one can have it sign a forged quote.
        let refused = tpm.with_attestation_key("sign a chosen digest", |tpm, key, _| {
            let ticket = TPMT_TK_HASHCHECK {
                tag: TPM2_ST_HASHCHECK,
                hierarchy: TPM2_RH_NULL,
                digest: Default::default(),
            }
            .try_into()
            .unwrap();
            tpm.ctx
                .execute_with_nullauth_session(|c| {
                    c.sign(
                        key,
                        Digest::try_from(vec![0x42; 32]).unwrap(),
                        SignatureScheme::Null,
                        ticket,
                    )
                })
                .map_err(|e| tpm_err(e.to_string()))
        });
        assert!(
            refused.is_err(),
            "the TPM signed a chosen digest with the AK"
        );
    }
}
