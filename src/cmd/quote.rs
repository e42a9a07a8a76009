//! `anchor quote` and `anchor verify-quote`: TPM2 quotes over a TPM
//! store's import measurements (PCR 23), bound to an auditor's nonce and
//! the journal head (`crate::gate::quote`, docs/policy.md "TPM quote").
use std::path::Path;

use airlock_hsm::{BackendKind, backend_of};
use serde_json::json;

use crate::cmd::Outcome;
use crate::error::Error;
use crate::fsutil::read_limited;
#[cfg(feature = "tpm")]
use crate::fsutil::replace_file;
use crate::gate::GateError;
use crate::gate::quote::{self, Expected, MAX_QUOTE_FILE, PCR};
#[cfg(feature = "tpm")]
use crate::gate::quote::{PCR_SELECTION, QuoteFile};

/// `airlock anchor quote --store STORE [--nonce HEX --out FILE] [--ak-pub FILE]`.
pub fn quote(
    store_dir: &Path,
    nonce: Option<&str>,
    out: Option<&Path>,
    ak_pub: Option<&Path>,
) -> Result<Outcome, Error> {
    let nonce = nonce.map(quote::parse_nonce).transpose()?;
    let backend = backend_of(store_dir)?;
    if backend != BackendKind::Tpm {
        return Err(GateError::QuoteNeedsTpm {
            store: store_dir.display().to_string(),
            backend: backend.name().to_owned(),
        }
        .into());
    }
    tpm_quote(store_dir, nonce.as_deref().zip(out), ak_pub)
}

#[cfg(feature = "tpm")]
fn tpm_quote(
    store_dir: &Path,
    request: Option<(&[u8], &Path)>,
    ak_pub: Option<&Path>,
) -> Result<Outcome, Error> {
    use airlock_hsm::TrustStore as _;
    use airlock_hsm::journal::journal_keyid;

    let store = airlock_hsm::TpmStore::open(store_dir)?;
    let ak = store.attestation_key()?;
    let keyid = journal_keyid(&ak);
    let mut o = Outcome::default();
    if let Some((nonce, out)) = request {
        // Under the store's lock: no import extends PCR 23 or moves the
        // journal head between reading the head and the quote.
        let lock = crate::journal::decision::lock_store(&store, &super::warn)?;
        let head = store.journal_head()?;
        let qualifying = quote::qualifying_data(nonce, &head.sha256);
        let q = store.quote(qualifying)?;
        drop(lock);
        let file = QuoteFile {
            format: quote::QUOTE_FORMAT,
            pcr_selection: PCR_SELECTION.to_owned(),
            nonce: hex::encode(nonce),
            journal_head: quote::QuotedHead {
                seq: head.seq,
                sha256: hex::encode(head.sha256),
            },
            qualifying_data: hex::encode(qualifying),
            message: quote::encode_b64(&q.attest),
            signature: quote::encode_b64(&q.signature),
            pcrs: quote::encode_b64(&q.pcr),
            attestation_key: keyid.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file)
            .map_err(|e| Error::Internal(format!("cannot encode the quote: {e}")))?;
        bytes.push(b'\n');
        replace_file(out, &bytes)?;
        o.line(format!(
            "quote      {} (PCR {PCR}, SHA-256 bank)",
            out.display()
        ));
        o.line(format!("pcr        {}", hex::encode(q.pcr)));
        o.line(format!(
            "journal    head record {} sha256 {}",
            head.seq,
            hex::encode(head.sha256)
        ));
        o.line(format!("qualifying {}", hex::encode(qualifying)));
        o.field("quote", out.display().to_string())
            .field(
                "pcr",
                json!({"index": PCR, "bank": "sha256", "value": hex::encode(q.pcr)}),
            )
            .field(
                "journal_head",
                json!({"seq": head.seq, "sha256": hex::encode(head.sha256)}),
            )
            .field("qualifying_data", hex::encode(qualifying));
    }
    if let Some(path) = ak_pub {
        replace_file(path, ak.to_spki_pem().as_bytes())?;
        o.line(format!("ak public  {}", path.display()));
        o.field("ak_pub", path.display().to_string());
    }
    o.line(format!(
        "ak         {keyid} (TPM attestation key, ECDSA P-256, restricted)"
    ));
    o.field("attestation_key", keyid);
    Ok(o)
}

#[cfg(not(feature = "tpm"))]
fn tpm_quote(
    _store_dir: &Path,
    _request: Option<(&[u8], &Path)>,
    _ak_pub: Option<&Path>,
) -> Result<Outcome, Error> {
    Err(airlock_hsm::Error::Unsupported {
        backend: "tpm".into(),
        reason: "this build of airlock has no TPM support (build with --features tpm)".into(),
    }
    .into())
}

/// `airlock anchor verify-quote QUOTE --ak-pub FILE --nonce HEX
/// [--journal-head SHA256]`: anywhere, no TPM needed.
pub fn verify_quote(
    file: &Path,
    ak_pub: &Path,
    nonce: &str,
    journal_head: Option<&str>,
) -> Result<Outcome, Error> {
    let nonce = quote::parse_nonce(nonce)?;
    let journal_head = journal_head
        .map(|h| {
            hex::decode(h.trim())
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or_else(|| {
                    Error::usage(
                        "--journal-head is not a SHA-256 in hex",
                        "give the SHA-256 of the journal head record's line (64 hex digits), as `anchor quote` printed it",
                    )
                })
        })
        .transpose()?;
    let key = crate::keys::load_public_key(ak_pub)?;
    let bytes = read_limited(file, MAX_QUOTE_FILE, "the quote")?;
    let checked = quote::verify(
        &bytes,
        &Expected {
            key: &key,
            nonce: &nonce,
            journal_head,
        },
    )?;
    let f = &checked.file;
    let a = &checked.attest;
    let mut o = Outcome::default();
    o.line(format!(
        "VALID TPM quote {} signed by attestation key {}",
        file.display(),
        airlock_hsm::journal::journal_keyid(&key)
    ));
    o.line(format!("nonce      {} (matches)", hex::encode(&nonce)));
    o.line(format!(
        "journal    head record {} sha256 {}{}",
        f.journal_head.seq,
        f.journal_head.sha256,
        if journal_head.is_some() {
            " (matches)"
        } else {
            ""
        }
    ));
    o.line(format!(
        "pcr        {PCR} (sha256) = {}",
        hex::encode(checked.pcr)
    ));
    o.line(format!(
        "tpm        clock {} ms, reset count {}, restart count {}",
        a.clock, a.reset_count, a.restart_count
    ));
    o.field("valid", true)
        .field("attestation_key", airlock_hsm::journal::journal_keyid(&key))
        .field("nonce", hex::encode(&nonce))
        .field(
            "journal_head",
            json!({"seq": f.journal_head.seq, "sha256": f.journal_head.sha256, "checked": journal_head.is_some()}),
        )
        .field("pcr", json!({"index": PCR, "bank": "sha256", "value": hex::encode(checked.pcr)}))
        .field(
            "tpm",
            json!({"clock": a.clock, "reset_count": a.reset_count, "restart_count": a.restart_count, "firmware_version": a.firmware_version}),
        );
    Ok(o)
}
