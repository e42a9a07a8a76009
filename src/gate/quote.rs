//! TPM quotes of a store's import measurements (docs/policy.md, "TPM
//! quote"): the quote file `anchor quote` writes, and its verification
//! anywhere, without a TPM (`anchor verify-quote`).
//!
//! The TPM signs a `TPMS_ATTEST` of type `TPM_ST_ATTEST_QUOTE` with its
//! restricted attestation key (ECDSA P-256, SHA-256). Its `extraData` (the
//! qualifying data) is [`qualifying_data`]: SHA-256 of the auditor's nonce
//! followed by the SHA-256 of the journal's head record, so the quote
//! proves both freshness (the nonce) and which journal state the PCR
//! value goes with. Its PCR digest is SHA-256 of PCR 23's SHA-256 value,
//! which every import extends with SHA-256 of the bundle id.
//!
//! The TPM structures are parsed here, once, into [`Attest`] and an ECDSA
//! signature, refusing trailing bytes, before anything is compared.
use airlock_hsm::PublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::GateError;

/// The quote file's format.
pub const QUOTE_FORMAT: u32 = 1;
/// The PCR a quote covers (the import measurements).
pub const PCR: u32 = 23;
/// The PCR selection in tpm2-tools' syntax (`tpm2_checkquote -l`).
pub const PCR_SELECTION: &str = "sha256:23";
/// Shortest nonce accepted, in bytes.
pub const MIN_NONCE: usize = 8;
/// Longest nonce accepted, in bytes.
pub const MAX_NONCE: usize = 64;
/// The most of a quote file read.
pub const MAX_QUOTE_FILE: u64 = 64 << 10;

/// `TPM_GENERATED_VALUE`: every structure the TPM signs with a restricted
/// key starts with it.
const TPM_GENERATED: u32 = 0xff54_4347;
/// `TPM_ST_ATTEST_QUOTE`.
const ST_ATTEST_QUOTE: u16 = 0x8018;
/// `TPM_ALG_SHA256`.
const ALG_SHA256: u16 = 0x000b;
/// `TPM_ALG_ECDSA`.
const ALG_ECDSA: u16 = 0x0018;

/// The journal head a quote is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotedHead {
    /// The head record's sequence number.
    pub seq: u64,
    /// SHA-256 (hex) of the head record's line in `journal.jsonl`.
    pub sha256: String,
}

/// The file `anchor quote --out` writes (JSON). `message`, `signature`
/// and `pcrs` are base64 of exactly what `tpm2_checkquote` takes as `-m`,
/// `-s` and `-f` (with `-l sha256:23`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteFile {
    /// [`QUOTE_FORMAT`].
    pub format: u32,
    /// The PCRs quoted, in tpm2-tools' syntax: `sha256:23`.
    pub pcr_selection: String,
    /// The auditor's nonce (hex).
    pub nonce: String,
    /// The journal head bound into the qualifying data.
    pub journal_head: QuotedHead,
    /// SHA-256(nonce ‖ journal head SHA-256), hex: the quote's
    /// `extraData` (`tpm2_checkquote -q`).
    pub qualifying_data: String,
    /// Base64 of the marshalled `TPMS_ATTEST` (the signed message).
    pub message: String,
    /// Base64 of the marshalled `TPMT_SIGNATURE`.
    pub signature: String,
    /// Base64 of PCR 23's SHA-256 value (what `tpm2_pcrread -o` writes).
    pub pcrs: String,
    /// The attestation key's id (SHA-256 of its SubjectPublicKeyInfo),
    /// for information: the verifier brings the key itself.
    pub attestation_key: String,
}

/// The qualifying data of a quote: SHA-256(`nonce` ‖ `head_sha256`), with
/// the nonce's bytes and the 32 bytes of the head record's hash.
pub fn qualifying_data(nonce: &[u8], head_sha256: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(nonce);
    h.update(head_sha256);
    h.finalize().into()
}

/// An auditor's nonce from hex: [`MIN_NONCE`] to [`MAX_NONCE`] bytes.
pub fn parse_nonce(hex_nonce: &str) -> Result<Vec<u8>, GateError> {
    let invalid = || GateError::NonceInvalid {
        reason: format!("it is not {MIN_NONCE} to {MAX_NONCE} bytes of hex"),
    };
    let bytes = hex::decode(hex_nonce.trim()).map_err(|_| invalid())?;
    if !(MIN_NONCE..=MAX_NONCE).contains(&bytes.len()) {
        return Err(invalid());
    }
    Ok(bytes)
}

/// A parsed `TPMS_ATTEST` of a quote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attest {
    /// `qualifiedSigner`: the name of the signing key.
    pub qualified_signer: Vec<u8>,
    /// `extraData`: the qualifying data.
    pub extra_data: Vec<u8>,
    /// `clockInfo.clock`, milliseconds the TPM has been powered.
    pub clock: u64,
    /// `clockInfo.resetCount`: TPM resets (reboots) so far.
    pub reset_count: u32,
    /// `clockInfo.restartCount`.
    pub restart_count: u32,
    /// `firmwareVersion`.
    pub firmware_version: u64,
    /// `pcrSelect`: (hash algorithm, selection bitmap) per bank.
    pub pcr_select: Vec<(u16, Vec<u8>)>,
    /// `pcrDigest`: the digest of the selected PCR values.
    pub pcr_digest: Vec<u8>,
}

/// Big-endian TPM wire format, refusing reads past the end.
struct Cursor<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn err(&self, reason: &str) -> GateError {
        GateError::QuoteInvalid {
            reason: format!("the {} is malformed: {reason}", self.what),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], GateError> {
        if self.bytes.len() < n {
            return Err(self.err("it ends early"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, GateError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, GateError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, GateError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, GateError> {
        let hi = u64::from(self.u32()?);
        let lo = u64::from(self.u32()?);
        Ok(hi << 32 | lo)
    }

    /// A `TPM2B_*`: a u16 size and that many bytes, at most `max`.
    fn sized(&mut self, max: usize) -> Result<Vec<u8>, GateError> {
        let n = usize::from(self.u16()?);
        if n > max {
            return Err(self.err("a sized field is longer than allowed"));
        }
        Ok(self.take(n)?.to_vec())
    }

    fn end(&self) -> Result<(), GateError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(self.err("trailing bytes"))
        }
    }
}

impl Attest {
    /// Parses a marshalled `TPMS_ATTEST` that must be a quote.
    pub fn parse(bytes: &[u8]) -> Result<Attest, GateError> {
        let mut c = Cursor {
            bytes,
            what: "quote message (TPMS_ATTEST)",
        };
        if c.u32()? != TPM_GENERATED {
            return Err(
                c.err("it does not start with TPM_GENERATED_VALUE: the TPM did not make it")
            );
        }
        if c.u16()? != ST_ATTEST_QUOTE {
            return Err(c.err("it is not a quote (TPM_ST_ATTEST_QUOTE)"));
        }
        let qualified_signer = c.sized(66)?;
        let extra_data = c.sized(64)?;
        let clock = c.u64()?;
        let reset_count = c.u32()?;
        let restart_count = c.u32()?;
        let _safe = c.u8()?;
        let firmware_version = c.u64()?;
        let banks = c.u32()?;
        if banks > 16 {
            return Err(c.err("too many PCR banks"));
        }
        let mut pcr_select = Vec::new();
        for _ in 0..banks {
            let alg = c.u16()?;
            let n = usize::from(c.u8()?);
            if n > 8 {
                return Err(c.err("a PCR selection longer than 8 bytes"));
            }
            pcr_select.push((alg, c.take(n)?.to_vec()));
        }
        let pcr_digest = c.sized(64)?;
        c.end()?;
        Ok(Attest {
            qualified_signer,
            extra_data,
            clock,
            reset_count,
            restart_count,
            firmware_version,
            pcr_select,
            pcr_digest,
        })
    }

    /// Whether exactly PCR 23 of the SHA-256 bank is selected.
    fn selects_pcr_23_only(&self) -> bool {
        let [(alg, bitmap)] = self.pcr_select.as_slice() else {
            return false;
        };
        let mut want = vec![0u8; bitmap.len().max(3)];
        want[(PCR / 8) as usize] = 1 << (PCR % 8);
        *alg == ALG_SHA256 && *bitmap == want
    }
}

/// Parses a marshalled `TPMT_SIGNATURE`: ECDSA with SHA-256 on P-256.
fn parse_signature(bytes: &[u8]) -> Result<p256::ecdsa::Signature, GateError> {
    let mut c = Cursor {
        bytes,
        what: "quote signature (TPMT_SIGNATURE)",
    };
    if c.u16()? != ALG_ECDSA || c.u16()? != ALG_SHA256 {
        return Err(c.err("it is not an ECDSA signature with SHA-256"));
    }
    let r = c.sized(32)?;
    let s = c.sized(32)?;
    c.end()?;
    let field = |v: &[u8]| {
        let mut out = [0u8; 32];
        out[32 - v.len()..].copy_from_slice(v);
        out
    };
    p256::ecdsa::Signature::from_scalars(field(&r), field(&s))
        .map_err(|_| c.err("r or s is not a P-256 scalar"))
}

fn b64(what: &str, s: &str) -> Result<Vec<u8>, GateError> {
    B64.decode(s).map_err(|_| GateError::QuoteInvalid {
        reason: format!("`{what}` is not base64"),
    })
}

fn hex32(what: &str, s: &str) -> Result<[u8; 32], GateError> {
    hex::decode(s)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or_else(|| GateError::QuoteInvalid {
            reason: format!("`{what}` is not 32 bytes of hex"),
        })
}

/// A quote that verified.
#[derive(Clone, Debug)]
pub struct CheckedQuote {
    /// The file.
    pub file: QuoteFile,
    /// The signed `TPMS_ATTEST`.
    pub attest: Attest,
    /// PCR 23's value the quote covers.
    pub pcr: [u8; 32],
}

/// What the verifier expects of a quote.
#[derive(Clone, Debug)]
pub struct Expected<'a> {
    /// The TPM's attestation public key.
    pub key: &'a PublicKey,
    /// The nonce the auditor gave.
    pub nonce: &'a [u8],
    /// The journal head (SHA-256 of its record's line) the auditor
    /// expects, when they know it.
    pub journal_head: Option<[u8; 32]>,
}

/// Verifies a quote file's bytes: its signature by the attestation key,
/// that the TPM made it (a quote of PCR 23 alone), its qualifying data
/// against the nonce and the journal head, and its PCR digest against the
/// PCR value it carries.
pub fn verify(bytes: &[u8], expected: &Expected<'_>) -> Result<CheckedQuote, GateError> {
    let file: QuoteFile = serde_json::from_slice(bytes).map_err(|e| GateError::QuoteInvalid {
        reason: format!(
            "not an airlock quote file: {}",
            crate::excerpt(&e.to_string())
        ),
    })?;
    if file.format != QUOTE_FORMAT || file.pcr_selection != PCR_SELECTION {
        return Err(GateError::QuoteInvalid {
            reason: format!(
                "unknown format {} or PCR selection {:?} (this airlock reads format {QUOTE_FORMAT}, {PCR_SELECTION})",
                file.format,
                crate::excerpt(&file.pcr_selection)
            ),
        });
    }
    let message = b64("message", &file.message)?;
    let signature = b64("signature", &file.signature)?;
    let pcrs = b64("pcrs", &file.pcrs)?;
    // 1. The signature, over the exact message bytes, before anything in
    //    them is believed.
    let sig = parse_signature(&signature)?;
    let PublicKey::EcdsaP256(vk) = expected.key else {
        return Err(GateError::QuoteSignatureInvalid {
            reason: "the attestation key given is not an ECDSA P-256 key".into(),
        });
    };
    let sig = sig.normalize_s();
    if p256::ecdsa::signature::Verifier::verify(vk, &message, &sig).is_err() {
        return Err(GateError::QuoteSignatureInvalid {
            reason: "the signature does not verify with the attestation key given".into(),
        });
    }
    // 2. What the TPM signed.
    let attest = Attest::parse(&message)?;
    if !attest.selects_pcr_23_only() {
        return Err(GateError::QuoteInvalid {
            reason: format!("the quote does not cover exactly PCR {PCR} of the SHA-256 bank"),
        });
    }
    // 3. Freshness and the journal: the qualifying data.
    let head = hex32("journal_head.sha256", &file.journal_head.sha256)?;
    if let Some(want) = expected.journal_head
        && want != head
    {
        return Err(GateError::QuoteJournalMismatch {
            expected: hex::encode(want),
            quoted: file.journal_head.sha256.clone(),
        });
    }
    let want = qualifying_data(expected.nonce, &head);
    if attest.extra_data != want {
        // The nonce the file names is the auditor's: then its journal head
        // is not the one the TPM signed (the file was altered).
        if hex::decode(&file.nonce).ok().as_deref() == Some(expected.nonce) {
            return Err(GateError::QuoteInvalid {
                reason: "the journal head in the file is not the one the TPM signed".into(),
            });
        }
        return Err(GateError::QuoteNonceMismatch {
            nonce: hex::encode(expected.nonce),
        });
    }
    if hex::decode(&file.qualifying_data).ok().as_deref() != Some(want.as_slice())
        || hex::decode(&file.nonce).ok().as_deref() != Some(expected.nonce)
    {
        return Err(GateError::QuoteInvalid {
            reason: "the file's nonce or qualifying_data is not what the TPM signed".into(),
        });
    }
    // 4. The PCR value.
    let pcr = <[u8; 32]>::try_from(pcrs.as_slice()).map_err(|_| GateError::QuoteInvalid {
        reason: format!("`pcrs` is not one SHA-256 value (PCR {PCR})"),
    })?;
    if attest.pcr_digest != Sha256::digest(pcr).as_slice() {
        return Err(GateError::QuotePcrMismatch {
            reason: format!(
                "SHA-256 of the PCR {PCR} value in the file is not the PCR digest the TPM signed"
            ),
        });
    }
    Ok(CheckedQuote { file, attest, pcr })
}

/// PCR 23 after `bundle_ids` were imported, in order, from a TPM reset:
/// each import extends it with SHA-256 of the bundle id.
#[cfg(test)]
fn expected_pcr<'a>(bundle_ids: impl IntoIterator<Item = &'a str>) -> [u8; 32] {
    bundle_ids.into_iter().fold([0u8; 32], |pcr, id| {
        let mut h = Sha256::new();
        h.update(pcr);
        h.update(Sha256::digest(id.as_bytes()));
        h.finalize().into()
    })
}

/// Base64 as the quote file carries it (written only where a TPM quotes).
#[cfg(feature = "tpm")]
pub fn encode_b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_quote_message_with_trailing_bytes_is_refused() {
        let mut m = Vec::new();
        m.extend_from_slice(&TPM_GENERATED.to_be_bytes());
        m.extend_from_slice(&ST_ATTEST_QUOTE.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]); // signer, extra data
        m.extend_from_slice(&[0; 17]); // clock info
        m.extend_from_slice(&[0; 8]); // firmware
        m.extend_from_slice(&1u32.to_be_bytes());
        m.extend_from_slice(&ALG_SHA256.to_be_bytes());
        m.extend_from_slice(&[3, 0, 0, 0x80]);
        m.extend_from_slice(&32u16.to_be_bytes());
        m.extend_from_slice(&[7; 32]);
        let a = Attest::parse(&m).unwrap();
        assert!(a.selects_pcr_23_only());
        m.push(0);
        assert_eq!(Attest::parse(&m).unwrap_err().code(), "quote-invalid");
        m.truncate(m.len() - 2);
        assert_eq!(Attest::parse(&m).unwrap_err().code(), "quote-invalid");
    }

    #[test]
    fn the_pcr_chain_is_sha256_of_the_old_value_and_the_bundle_id_hash() {
        let one = expected_pcr(["a"]);
        let mut h = Sha256::new();
        h.update([0u8; 32]);
        h.update(Sha256::digest(b"a"));
        assert_eq!(one.as_slice(), h.finalize().as_slice());
        assert_ne!(expected_pcr(["a", "b"]), expected_pcr(["b", "a"]));
    }

    #[test]
    fn a_nonce_is_8_to_64_bytes_of_hex() {
        assert_eq!(
            parse_nonce("00112233445566").unwrap_err().code(),
            "quote-nonce-invalid"
        );
        assert_eq!(parse_nonce("zz").unwrap_err().code(), "quote-nonce-invalid");
        assert_eq!(parse_nonce("0011223344556677").unwrap().len(), 8);
        assert!(parse_nonce(&"ab".repeat(65)).is_err());
    }
}
