//! A Sigstore `trusted_root.json`
//! (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`): the Fulcio
//! certificate authorities and the Rekor logs, each with its validity
//! period. Parsed once into checked types; the operator pins it.
use serde::Deserialize;
use x509_cert::Certificate;
use x509_cert::der::Decode;

use super::{SigstoreError, b64, parse_timestamp};

/// The media types accepted.
const MEDIA_TYPES: &[&str] = &[
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "application/vnd.dev.sigstore.trustedroot.v0.2+json",
];

/// A validity period in unix seconds (`end` open when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidFor {
    /// First second of validity.
    pub start: u64,
    /// Last second of validity, if it ended.
    pub end: Option<u64>,
}

impl ValidFor {
    /// Whether `t` falls in the period.
    pub fn contains(&self, t: u64) -> bool {
        t >= self.start && self.end.is_none_or(|e| t <= e)
    }
}

/// A Rekor log the root trusts.
#[derive(Debug, Clone)]
pub struct Tlog {
    /// The log's base URL (for messages).
    pub base_url: String,
    /// The log ID bundles name it by.
    pub key_id: Vec<u8>,
    /// The log's key.
    pub key: airlock_hsm::PublicKey,
    /// When the key may be used.
    pub valid_for: ValidFor,
}

/// A Fulcio CA the root trusts: its chain, issuing certificate first.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    /// The CA's URI (for messages).
    pub uri: String,
    /// The chain, issuing certificate first, as DER.
    pub chain: Vec<Certificate>,
    /// When it may issue.
    pub valid_for: ValidFor,
}

/// A checked trusted root.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    /// The Rekor logs.
    pub tlogs: Vec<Tlog>,
    /// The Fulcio CAs.
    pub certificate_authorities: Vec<CertificateAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<RawTlog>,
    #[serde(default)]
    certificate_authorities: Vec<RawCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTlog {
    #[serde(default)]
    base_url: String,
    public_key: RawKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKey {
    raw_bytes: String,
    valid_for: RawValidFor,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawLogId {
    pub(crate) key_id: String,
}

#[derive(Deserialize)]
struct RawValidFor {
    start: String,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCa {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    valid_for: RawValidFor,
}

#[derive(Deserialize)]
pub(crate) struct RawChain {
    pub(crate) certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawCert {
    pub(crate) raw_bytes: String,
}

fn bad(s: impl Into<String>) -> SigstoreError {
    SigstoreError::TrustedRootMalformed(s.into())
}

fn valid_for(v: &RawValidFor) -> Result<ValidFor, SigstoreError> {
    Ok(ValidFor {
        start: parse_timestamp(&v.start).map_err(bad)?,
        end: v
            .end
            .as_deref()
            .map(parse_timestamp)
            .transpose()
            .map_err(bad)?,
    })
}

impl TrustedRoot {
    /// Parses a `trusted_root.json`.
    pub fn parse(bytes: &[u8]) -> Result<TrustedRoot, SigstoreError> {
        crate::json::Json::parse(bytes).map_err(|e| bad(e.0))?;
        let raw: RawRoot = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if !MEDIA_TYPES.contains(&raw.media_type.as_str()) {
            return Err(bad(format!(
                "media type {} is not a Sigstore trusted root",
                crate::excerpt(&raw.media_type)
            )));
        }
        let mut tlogs = Vec::new();
        for t in &raw.tlogs {
            let der = b64(&t.public_key.raw_bytes).map_err(bad)?;
            let key = airlock_hsm::PublicKey::from_spki_der(&der)
                .map_err(|e| bad(format!("Rekor key of {}: {e}", crate::excerpt(&t.base_url))))?;
            // Rekor v1 log IDs are the SHA-256 of the key; Rekor v2 logs
            // use their signed-note key ID. Bundles name the log by it.
            let key_id = b64(&t.log_id.key_id).map_err(bad)?;
            tlogs.push(Tlog {
                base_url: t.base_url.clone(),
                key_id,
                key,
                valid_for: valid_for(&t.public_key.valid_for)?,
            });
        }
        let mut cas = Vec::new();
        for ca in &raw.certificate_authorities {
            let mut chain = Vec::new();
            for c in &ca.cert_chain.certificates {
                let der = b64(&c.raw_bytes).map_err(bad)?;
                chain.push(Certificate::from_der(&der).map_err(|e| {
                    bad(format!("a certificate of {}: {e}", crate::excerpt(&ca.uri)))
                })?);
            }
            if chain.is_empty() {
                return Err(bad(format!(
                    "the CA {} has no certificates",
                    crate::excerpt(&ca.uri)
                )));
            }
            cas.push(CertificateAuthority {
                uri: ca.uri.clone(),
                chain,
                valid_for: valid_for(&ca.valid_for)?,
            });
        }
        if tlogs.is_empty() || cas.is_empty() {
            return Err(bad("it names no Rekor log or no Fulcio CA"));
        }
        Ok(TrustedRoot {
            tlogs,
            certificate_authorities: cas,
        })
    }

    /// The log whose ID is `key_id`.
    pub fn tlog(&self, key_id: &[u8]) -> Option<&Tlog> {
        self.tlogs.iter().find(|t| t.key_id == key_id)
    }
}
