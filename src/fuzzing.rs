//! Entry points for the fuzz targets in `fuzz/` (not part of the API).
//!
//! Each function takes untrusted bytes the way the binary receives them
//! and runs them through the same parsing and checking; the result is
//! dropped, a fuzz target only looks for panics, leaks, hangs and memory.
//! Where a signature stands between the input and the code behind it (the
//! in-toto verifier), the entry point signs what it was given with fixed
//! test keys, so that the fuzzer reaches the checks behind the signatures.
use std::collections::BTreeMap;
use std::io::Write as _;

use airlock_hsm::{FileSigner, PublicKey, Signer};
use base64::Engine as _;

use crate::intoto::envelope::{self, Signature};
use crate::intoto::verify::{self, Inspections, LayoutKey, MapLinks, UnderVerification};
use crate::intoto::{Artifacts, linkfile::LinkFile, statement};
use crate::journal::chain::{Checker, for_each_line};
use crate::journal::export::verify_export;
use crate::journal::record::Record;
use crate::json::Json;
use crate::keys;
use crate::tuf::root::{Root, apply_chain};

/// Separates the documents of one input where a target takes several (TUF
/// roots, in-toto layout and links): 0xFF never occurs in UTF-8 text.
pub const SEPARATOR: u8 = 0xFF;

/// The verification time of the targets that need one (2027-01-15).
pub const TIME: u64 = 1_800_000_000;

/// An in-toto layout or link file: both envelopes, the layout model, the
/// link model, and a Statement.
pub fn intoto_document(bytes: &[u8]) {
    let _ = verify::parse_layout(bytes, "fuzz.layout");
    if let Ok(link) = LinkFile::parse(bytes) {
        let _ = link.payload_type();
        let _ = link.message();
        let _ = link.into_link();
    }
    // The signature checked while the link is parsed (a fixed Ed25519 key
    // under keyid `ab`) must give the verdict of the check after it.
    let key = keys::KeyObject {
        keytype: "ed25519".into(),
        scheme: "ed25519".into(),
        public: Some(PublicKey::Ed25519(
            ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key(),
        )),
    };
    if let Ok((link, Some(streamed))) = LinkFile::parse_checking(bytes, &["ab"], &key) {
        assert_eq!(streamed, link.signed_by(&["ab"], &key));
    }
    let _ = statement::parse(bytes);
}

/// Keys for [`intoto_verify`].
#[derive(Debug)]
pub struct IntotoKeys {
    owner: FileSigner,
    functionaries: Vec<FileSigner>,
}

impl IntotoKeys {
    /// From PKCS#8 PEM private keys (the test keys of
    /// `tests/vectors/intoto/keys/`).
    pub fn from_pems(owner: &str, functionaries: &[&str]) -> Result<IntotoKeys, String> {
        Ok(IntotoKeys {
            owner: FileSigner::from_pem(owner)?,
            functionaries: functionaries
                .iter()
                .map(|p| FileSigner::from_pem(p))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The in-toto verifier. `data` is the `signed` object of a layout, then
/// the `signed` objects of links, separated by [`SEPARATOR`]; the layout is
/// signed with the owner key, each link with every functionary key (as
/// `NAME.KEYID8.link` for its `name`), and the layout verified with the
/// owner key at [`TIME`], inspections evaluated over no artifacts.
pub fn intoto_verify(keys: &IntotoKeys, data: &[u8]) {
    let mut parts = data.split(|b| *b == SEPARATOR);
    let Some(Ok(layout)) = parts.next().map(Json::parse) else {
        return;
    };
    let Ok(layout) = envelope::parse(&metablock(&keys.owner, &layout)) else {
        return;
    };
    let mut links = BTreeMap::new();
    for part in parts {
        let Ok(link) = Json::parse(part) else {
            continue;
        };
        let Some(name) = link
            .as_obj()
            .and_then(|o| o.get("name"))
            .and_then(Json::as_str)
        else {
            continue;
        };
        for f in &keys.functionaries {
            let file = verify::link_file_name(name, &keys::keyid(f.public_key()));
            links.insert(file, metablock(f, &link));
        }
    }
    let owner = LayoutKey::from_public(keys.owner.public_key());
    let under = UnderVerification::known(Artifacts::default());
    let _ = verify::verify(
        &layout,
        &[owner],
        &MapLinks(&links),
        TIME,
        Inspections::Evaluate(&under),
    );
}

fn metablock(signer: &FileSigner, signed: &Json) -> Vec<u8> {
    let sig = signer.sign(&signed.canonical()).unwrap_or_default();
    let keyid = keys::keyid(signer.public_key());
    envelope::metablock(signed, &[Signature { keyid, sig }])
}

/// TUF root metadata: the first document is the trusted root (it must sign
/// itself), the others are carried roots applied to it at [`TIME`].
pub fn tuf_roots(data: &[u8]) {
    let mut roots = data
        .split(|b| *b == SEPARATOR)
        .filter_map(|d| Root::parse(d).ok());
    let Some(trusted) = roots.next() else {
        return;
    };
    let _ = trusted.check_signed_by(&trusted);
    let _ = trusted.check_unexpired(TIME);
    let carried: Vec<Root> = roots.collect();
    let _ = apply_chain(&trusted, &carried, TIME);
}

/// Journal lines, read as `journal verify` reads a journal: each line
/// parsed as a record and checked as a chain, under the key the first
/// record names (`journal_key.spki` of a genesis record), else `fallback`.
pub fn journal_lines(fallback: &PublicKey, data: &[u8]) {
    let first = data.split(|b| *b == b'\n').next().unwrap_or_default();
    let named = Record::parse(first).ok().and_then(|r| {
        let spki = r.fields.get("journal_key")?.get("spki")?.as_str()?;
        let der = base64::engine::general_purpose::STANDARD
            .decode(spki)
            .ok()?;
        PublicKey::from_spki_der(&der).ok()
    });
    let Ok(mut checker) = Checker::new(named.as_ref().unwrap_or(fallback), None) else {
        return;
    };
    let torn = for_each_line(data, 1, |line| {
        let _ = Record::parse(line);
        checker.line(line).map(|_| ())
    });
    if let Ok(torn) = torn {
        let _ = checker.finish(torn.as_deref());
    }
}

/// A journal export, checked as `journal verify --export` checks it (from
/// a temporary file: the check reads a path).
pub fn journal_export(data: &[u8]) {
    let Ok(mut f) = tempfile::NamedTempFile::new() else {
        return;
    };
    if f.write_all(data).is_err() {
        return;
    }
    let _ = verify_export(f.path(), None, |_| {});
}

/// The trusted root [`sigstore_bundle`] verifies against.
#[derive(Debug)]
pub struct SigstoreRoot(crate::sigstore::TrustedRoot);

impl SigstoreRoot {
    /// Parses a `trusted_root.json`.
    pub fn parse(bytes: &[u8]) -> Result<SigstoreRoot, String> {
        crate::sigstore::TrustedRoot::parse(bytes)
            .map(SigstoreRoot)
            .map_err(|e| e.to_string())
    }
}

/// A Sigstore bundle (`*.sigstore.json`) against `root`: parsed, then the
/// whole verifier (which stops at the first failing step) and each of its
/// steps on its own, so that the fuzzer reaches the later steps (signature,
/// artifact, Rekor body) with a bundle an earlier one refuses. The
/// identity policy and the artifact are fixed; signing time [`TIME`].
pub fn sigstore_bundle(root: &SigstoreRoot, data: &[u8]) {
    let root = &root.0;
    use crate::sigstore::{
        ArtifactDigest, Bundle, IdentityPolicy, SigningTime, bundle, cert, tlog,
    };
    let Ok(b) = Bundle::parse(data) else {
        return;
    };
    let artifact = ArtifactDigest(bundle::sha256(b""));
    if let Ok(policy) = IdentityPolicy::new("fuzz@example.com", "https://fuzz.example") {
        let _ = crate::sigstore::verify(&b, &artifact, root, &policy, TIME);
        let _ = cert::verify_identity(b.leaf(), &policy);
    }
    let at = SigningTime::Now(TIME);
    let _ = cert::leaf_key(b.leaf());
    let _ = cert::verify_chain(b.leaf(), root, at);
    let _ = cert::verify_validity(b.leaf(), at);
    let _ = bundle::verify_signature(&b);
    let _ = bundle::verify_artifact(&b, &artifact);
    if let Ok(entry) = tlog::verify_entry(&b, root) {
        let _ = tlog::verify_body_matches(&b, &entry);
    }
}

/// A Sigstore `trusted_root.json` (what `anchor sigstore` pins).
pub fn sigstore_trusted_root(data: &[u8]) {
    let _ = crate::sigstore::TrustedRoot::parse(data);
}

/// An OCI (or Docker schema 2) image manifest or index, as a bundle's
/// images and a registry's answers are parsed.
pub fn oci_document(data: &[u8]) {
    let _ = crate::oci::Doc::parse(data, "fuzz");
}

/// The enclave's policy file (`policy set`): parsed and checked, then its
/// expressions compiled (CEL) or its module compiled (Rego). Not
/// evaluated: evaluation runs in the sandboxed child with its own time and
/// memory limits (`crate::gate::sandbox`).
pub fn policy_file(data: &[u8]) {
    if let Ok(policy) = crate::gate::file::Policy::parse(data) {
        let _ = policy.rule_names();
        let _ = crate::gate::eval::compile(&policy);
    }
}

/// `docker save`'s `manifest.json` (`pack --image docker-archive:…`): the
/// image taken without a tag and by a tag, its paths checked.
pub fn docker_archive_manifest(data: &[u8]) {
    use crate::oci::docker_archive::select;
    if let Ok(image) = select(data, None)
        && let Some(tag) = image.repo_tag
    {
        let _ = crate::oci::source::split_reference(&tag);
        let _ = select(data, Some(&tag));
    }
    let _ = select(data, Some("team/base:1"));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_intoto_document_target_compares_the_streamed_verdict() {
        // A link signed by the target's fixed key, its signature good and
        // changed: the streamed verdict is checked against the other in both.
        use ed25519_dalek::Signer as _;
        let signed = r#"{"_type": "link", "name": "s", "products": {"a": {"sha256": "00"}}}"#;
        let message =
            envelope::parse(format!(r#"{{"signatures": [], "signed": {signed}}}"#).as_bytes())
                .unwrap()
                .message;
        let sig = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).sign(&message);
        for sig in [hex::encode(sig.to_bytes()), "00".repeat(64)] {
            let text = format!(
                r#"{{"signatures": [{{"keyid": "ab", "sig": "{sig}"}}], "signed": {signed}}}"#
            );
            intoto_document(text.as_bytes());
        }
    }
}
