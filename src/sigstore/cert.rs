//! The signing certificate: its chain to a Fulcio CA of the trusted root,
//! its validity at the signing time, Fulcio's profile (code signing, not a
//! CA) and the identity it binds (SAN and OIDC issuer).
use x509_cert::Certificate;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode, Encode, asn1::Utf8StringRef};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

use super::trust_root::TrustedRoot;
use super::{IdentityPolicy, SigningTime, SigstoreError};

const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// Fulcio's OIDC issuer (v2, a DER UTF8String).
const OIDC_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's OIDC issuer (v1, the raw string).
const OIDC_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Extensions a Fulcio leaf may mark critical.
const KNOWN_CRITICAL: &[ObjectIdentifier] = &[
    ObjectIdentifier::new_unwrap("2.5.29.15"), // key usage
    ObjectIdentifier::new_unwrap("2.5.29.37"), // extended key usage
    ObjectIdentifier::new_unwrap("2.5.29.19"), // basic constraints
    ObjectIdentifier::new_unwrap("2.5.29.17"), // subject alternative name
];

fn malformed(s: impl Into<String>) -> SigstoreError {
    SigstoreError::CertificateMalformed(s.into())
}

/// The certificate's public key.
pub fn leaf_key(cert: &Certificate) -> Result<airlock_hsm::PublicKey, SigstoreError> {
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| malformed(e.to_string()))?;
    airlock_hsm::PublicKey::from_spki_der(&spki).map_err(malformed)
}

/// Whether `issuer`'s key signed `cert` (ECDSA P-256/SHA-256 or
/// P-384/SHA-384, as Fulcio issues).
fn signed_by(cert: &Certificate, issuer: &Certificate) -> Result<bool, SigstoreError> {
    let key = leaf_key(issuer)?;
    let alg = cert.signature_algorithm().oid;
    let matches = matches!(
        (&key, alg),
        (airlock_hsm::PublicKey::EcdsaP256(_), ECDSA_SHA256)
            | (airlock_hsm::PublicKey::EcdsaP384(_), ECDSA_SHA384)
    );
    if !matches {
        return Ok(false);
    }
    let tbs = cert
        .tbs_certificate()
        .to_der()
        .map_err(|e| malformed(e.to_string()))?;
    let Some(sig) = cert.signature().as_bytes() else {
        return Ok(false);
    };
    Ok(key.verify(&tbs, sig))
}

fn validity(cert: &Certificate) -> (u64, u64) {
    let v = cert.tbs_certificate().validity();
    (
        v.not_before.to_unix_duration().as_secs(),
        v.not_after.to_unix_duration().as_secs(),
    )
}

/// Step: the leaf chains to a Fulcio CA of the trusted root that was valid
/// (as a trusted-root entry and as certificates) at the signing time.
pub fn verify_chain(
    leaf: &Certificate,
    root: &TrustedRoot,
    at: SigningTime,
) -> Result<(), SigstoreError> {
    let t = at.secs();
    let mut reasons = Vec::new();
    for ca in &root.certificate_authorities {
        let issuing = &ca.chain[0];
        if issuing.tbs_certificate().subject() != leaf.tbs_certificate().issuer() {
            continue;
        }
        if !signed_by(leaf, issuing)? {
            reasons.push(format!(
                "not signed by the key of {}",
                crate::excerpt(&ca.uri)
            ));
            continue;
        }
        let in_period = ca.valid_for.contains(t)
            && ca.chain.iter().all(|c| {
                let (nb, na) = validity(c);
                nb <= t && t <= na
            });
        if !in_period {
            reasons.push(format!(
                "{} was not valid at {}",
                crate::excerpt(&ca.uri),
                crate::timefmt::format_utc(t)
            ));
            continue;
        }
        return Ok(());
    }
    if reasons.is_empty() {
        reasons.push(format!(
            "no CA of the trusted root has the issuer {}",
            crate::excerpt(&leaf.tbs_certificate().issuer().to_string())
        ));
    }
    Err(SigstoreError::CertificateUntrusted(reasons.join("; ")))
}

/// Step: the leaf was valid at the signing time.
pub fn verify_validity(leaf: &Certificate, at: SigningTime) -> Result<(), SigstoreError> {
    let (nb, na) = validity(leaf);
    let t = at.secs();
    if nb <= t && t <= na {
        return Ok(());
    }
    let source = match at {
        SigningTime::Rekor(_) => "the Rekor entry's verified integrated time",
        SigningTime::Now(_) => "the current time: the bundle proves no signing time",
    };
    Err(SigstoreError::CertificateExpired {
        at: crate::timefmt::format_utc(t),
        detail: format!(
            "it is valid from {} to {}; the time checked is {source}",
            crate::timefmt::format_utc(nb),
            crate::timefmt::format_utc(na)
        ),
    })
}

/// The certificate's SANs as strings (e-mail, URI, other names in UTF-8).
fn sans(leaf: &Certificate) -> Result<Vec<String>, SigstoreError> {
    let Some((_, san)) = leaf
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
        .map_err(|e| malformed(format!("subject alternative name: {e}")))?
    else {
        return Err(malformed("it has no subject alternative name"));
    };
    let mut out = Vec::new();
    for name in san.0 {
        match name {
            GeneralName::Rfc822Name(s) | GeneralName::UniformResourceIdentifier(s) => {
                out.push(s.to_string());
            }
            GeneralName::DnsName(s) => out.push(s.to_string()),
            GeneralName::OtherName(o) => {
                if let Ok(s) = o.value.decode_as::<Utf8StringRef<'_>>() {
                    out.push(s.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The certificate's OIDC issuer (Fulcio's v2 extension, else v1).
fn oidc_issuer(leaf: &Certificate) -> Result<Option<String>, SigstoreError> {
    let exts = leaf
        .tbs_certificate()
        .extensions()
        .map(|e| e.as_slice())
        .unwrap_or(&[]);
    if let Some(e) = exts.iter().find(|e| e.extn_id == OIDC_ISSUER_V2) {
        let s = Utf8StringRef::from_der(e.extn_value.as_bytes())
            .map_err(|e| malformed(format!("OIDC issuer: {e}")))?;
        return Ok(Some(s.to_string()));
    }
    if let Some(e) = exts.iter().find(|e| e.extn_id == OIDC_ISSUER_V1) {
        let s = std::str::from_utf8(e.extn_value.as_bytes())
            .map_err(|_| malformed("the OIDC issuer is not UTF-8"))?;
        return Ok(Some(s.to_owned()));
    }
    Ok(None)
}

/// Fulcio's profile: a code-signing leaf, not a CA, with no critical
/// extension airlock does not understand.
fn verify_profile(leaf: &Certificate) -> Result<(), SigstoreError> {
    let tbs = leaf.tbs_certificate();
    for e in tbs.extensions().map(|e| e.as_slice()).unwrap_or(&[]) {
        if e.critical && !KNOWN_CRITICAL.contains(&e.extn_id) {
            return Err(malformed(format!(
                "unknown critical extension {}",
                e.extn_id
            )));
        }
    }
    let ku = tbs
        .get_extension::<KeyUsage>()
        .map_err(|e| malformed(format!("key usage: {e}")))?;
    if !ku.is_some_and(|(_, ku)| ku.digital_signature()) {
        return Err(malformed("its key usage does not allow digital signatures"));
    }
    let eku = tbs
        .get_extension::<ExtendedKeyUsage>()
        .map_err(|e| malformed(format!("extended key usage: {e}")))?;
    if !eku.is_some_and(|(_, eku)| eku.0.contains(&CODE_SIGNING)) {
        return Err(malformed("it is not a code-signing certificate"));
    }
    let bc = tbs
        .get_extension::<BasicConstraints>()
        .map_err(|e| malformed(format!("basic constraints: {e}")))?;
    if bc.is_some_and(|(_, bc)| bc.ca) {
        return Err(malformed("it is a CA certificate"));
    }
    Ok(())
}

/// Step: the leaf is a Fulcio code-signing certificate for the identity and
/// OIDC issuer the policy names. Returns the matched SAN and the issuer.
pub fn verify_identity(
    leaf: &Certificate,
    policy: &IdentityPolicy,
) -> Result<(String, String), SigstoreError> {
    verify_profile(leaf)?;
    let sans = sans(leaf)?;
    let issuer = oidc_issuer(leaf)?.unwrap_or_default();
    let Some(identity) = sans.iter().find(|s| *s == policy.identity()) else {
        return Err(SigstoreError::IdentityMismatch {
            found: sans
                .iter()
                .map(|s| crate::excerpt(s))
                .collect::<Vec<_>>()
                .join(", "),
            expected: crate::excerpt(policy.identity()),
        });
    };
    if issuer != policy.issuer() {
        return Err(SigstoreError::IssuerMismatch {
            found: crate::excerpt(&issuer),
            expected: crate::excerpt(policy.issuer()),
        });
    }
    Ok((identity.clone(), issuer))
}
