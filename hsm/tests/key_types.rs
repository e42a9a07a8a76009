//! Ed25519, ECDSA P-256 / P-384 and RSA-PSS keys verify exactly as the
//! reference (securesystemslib 1.6.0 on pyca/cryptography) does, against the
//! vectors in `tests/data/` (made by `scripts/gen-key-vectors.sh`; the
//! `pass_` / `fail_` prefix of each signature is the reference's verdict).
#![allow(clippy::unwrap_used, missing_docs)]

use std::fs;
use std::path::{Path, PathBuf};

use airlock_hsm::{Error, FileSigner, KeyAlgorithm, PublicKey, Signer};

const KEYS: [(&str, KeyAlgorithm); 5] = [
    ("ed25519", KeyAlgorithm::Ed25519),
    ("p256", KeyAlgorithm::EcdsaP256),
    ("p384", KeyAlgorithm::EcdsaP384),
    ("rsa3072", KeyAlgorithm::RsaPssSha256),
    ("p256-ecparam", KeyAlgorithm::EcdsaP256),
];

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn read(rel: &str) -> String {
    fs::read_to_string(data(rel)).unwrap()
}

fn public(name: &str) -> PublicKey {
    PublicKey::from_spki_pem(&read(&format!("keys/{name}.pub"))).unwrap()
}

fn message() -> Vec<u8> {
    fs::read(data("message.bin")).unwrap()
}

/// Every signature vector: (file name, key name, expected verdict, bytes).
fn vectors() -> Vec<(String, String, bool, Vec<u8>)> {
    let mut out = Vec::new();
    for e in fs::read_dir(data("sigs")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let (verdict, rest) = name.split_once('_').unwrap();
        let (key, _) = rest.split_once('_').unwrap();
        let expect = match verdict {
            "pass" => true,
            "fail" => false,
            other => panic!("{name}: verdict {other}"),
        };
        let sig = fs::read(data(&format!("sigs/{name}"))).unwrap();
        out.push((name.clone(), key.to_owned(), expect, sig));
    }
    out.sort();
    assert!(out.len() >= 20, "vectors missing: {}", out.len());
    out
}

#[test]
fn every_vector_gets_the_reference_verdict() {
    let msg = message();
    for (name, key, expect, sig) in vectors() {
        assert_eq!(public(&key).verify(&msg, &sig), expect, "{name}");
    }
}

#[test]
fn a_flipped_bit_in_message_or_signature_fails() {
    let msg = message();
    for (name, key, expect, sig) in vectors() {
        if !expect {
            continue;
        }
        let pk = public(&key);
        let mut bad_msg = msg.clone();
        bad_msg[3] ^= 1;
        assert!(!pk.verify(&bad_msg, &sig), "{name}: message");
        for at in [0, sig.len() / 2, sig.len() - 1] {
            let mut bad = sig.clone();
            bad[at] ^= 0x01;
            assert!(!pk.verify(&msg, &bad), "{name}: byte {at}");
        }
        assert!(!pk.verify(&msg, &sig[..sig.len() - 1]), "{name}: truncated");
        assert!(!pk.verify(&msg, &[]), "{name}: empty");
    }
}

#[test]
fn a_signature_does_not_verify_under_another_key_type() {
    let msg = message();
    for (name, key, expect, sig) in vectors() {
        if !expect {
            continue;
        }
        for (other, _) in KEYS {
            if other != key {
                assert!(!public(other).verify(&msg, &sig), "{name} under {other}");
            }
        }
    }
}

#[test]
fn spki_pem_is_what_cryptography_writes() {
    for (name, alg) in KEYS {
        let pem = read(&format!("keys/{name}.pub"));
        let pk = PublicKey::from_spki_pem(&pem).unwrap();
        assert_eq!(pk.algorithm(), alg, "{name}");
        assert_eq!(pk.to_spki_pem(), pem, "{name}");
    }
    let distinct: std::collections::BTreeSet<Vec<u8>> =
        KEYS.iter().map(|(n, _)| public(n).raw_bytes()).collect();
    assert_eq!(distinct.len(), KEYS.len());
    assert_eq!(public("ed25519").raw_bytes().len(), 32);
}

#[test]
fn private_keys_load_in_every_form_openssl_writes() {
    for (file, public_name) in [
        ("ed25519.pem", "ed25519"),
        ("p256.pem", "p256"),
        ("p256-sec1.pem", "p256"),
        ("p256-ecparam.pem", "p256-ecparam"),
        ("p384.pem", "p384"),
        ("rsa3072.pem", "rsa3072"),
        ("rsa3072-pkcs1.pem", "rsa3072"),
    ] {
        let s = FileSigner::load(&data(&format!("keys/{file}"))).unwrap();
        assert_eq!(s.public_key(), &public(public_name), "{file}");
    }
    assert!(
        read("keys/p256-sec1.pem").starts_with("-----BEGIN EC PRIVATE KEY-----"),
        "the SEC1 vector must be SEC1"
    );
    assert!(read("keys/rsa3072-pkcs1.pem").starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(read("keys/p256-ecparam.pem").starts_with("-----BEGIN EC PARAMETERS-----"));
}

#[test]
fn written_private_keys_are_byte_for_byte_what_openssl_writes() {
    // PKCS#8 as `openssl genpkey` writes it, so OpenSSL and pyca/cryptography
    // read airlock's keys (Ed25519 PKCS#8 v2 is refused by OpenSSL 3.0).
    for name in ["ed25519", "p256", "p384", "rsa3072"] {
        let dir = tempfile::tempdir().unwrap();
        let s = FileSigner::load(&data(&format!("keys/{name}.pem"))).unwrap();
        let (private, public) = s.write_pair(&dir.path().join("k")).unwrap();
        assert_eq!(
            fs::read_to_string(private).unwrap(),
            read(&format!("keys/{name}.pem")),
            "{name}"
        );
        assert_eq!(
            fs::read_to_string(public).unwrap(),
            read(&format!("keys/{name}.pub")),
            "{name}"
        );
    }
}

#[test]
fn file_signer_signatures_of_every_type_verify() {
    for name in [
        "ed25519",
        "p256",
        "p384",
        "rsa3072",
        "p256-sec1",
        "rsa3072-pkcs1",
    ] {
        let s = FileSigner::load(&data(&format!("keys/{name}.pem"))).unwrap();
        let sig = s.sign(b"payload").unwrap();
        assert!(s.public_key().verify(b"payload", &sig), "{name}");
        assert!(!s.public_key().verify(b"payloaD", &sig), "{name}");
        match s.public_key().algorithm() {
            KeyAlgorithm::Ed25519 => assert_eq!(sig.len(), 64),
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => assert_eq!(sig[0], 0x30),
            KeyAlgorithm::RsaPssSha256 => assert_eq!(sig.len(), 384),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn rsa_signs_with_a_32_byte_salt_as_securesystemslib_does() {
    use rsa::signature::Verifier as _;
    let s = FileSigner::load(&data("keys/rsa3072.pem")).unwrap();
    let sig = s.sign(b"payload").unwrap();
    let pem = read("keys/rsa3072.pub");
    let k = <rsa::RsaPublicKey as rsa::pkcs8::DecodePublicKey>::from_public_key_pem(&pem).unwrap();
    let sig = rsa::pss::Signature::try_from(&sig[..]).unwrap();
    let with =
        |salt| rsa::pss::VerifyingKey::<rsa::sha2::Sha256>::new_with_salt_len(k.clone(), salt);
    assert!(with(32).verify(b"payload", &sig).is_ok());
    assert!(with(20).verify(b"payload", &sig).is_err());
}

#[test]
fn ecdsa_signatures_hash_with_the_curve_s_digest() {
    // A P-384 signature over SHA-256 (or P-256 over SHA-384) is refused,
    // whoever made it: see also the fail_ vectors.
    let s = FileSigner::generate_with(KeyAlgorithm::EcdsaP384).unwrap();
    let sig = s.sign(b"m").unwrap();
    assert!(s.public_key().verify(b"m", &sig));
    let p256 = FileSigner::generate_with(KeyAlgorithm::EcdsaP256).unwrap();
    assert!(!p256.public_key().verify(b"m", &sig));
}

#[test]
fn small_rsa_keys_and_other_curves_are_refused() {
    assert_eq!(
        PublicKey::from_spki_pem(&read("keys/rsa1024.pub")).unwrap_err(),
        "RSA key of 1024 bits is too small; at least 2048 bits are required"
    );
    let e = FileSigner::load(&data("keys/rsa1024.pem")).unwrap_err();
    assert!(
        matches!(&e, Error::KeyParse { reason, .. }
            if reason == "RSA key of 1024 bits is too small; at least 2048 bits are required"),
        "{e}"
    );
    assert_eq!(
        PublicKey::from_spki_pem(&read("keys/p521.pub")).unwrap_err(),
        "unsupported elliptic curve 1.3.132.0.35; airlock supports P-256 and P-384"
    );
}

/// An RSA key listed under the `rsa-pkcs1v15-sha256` scheme verifies
/// PKCS#1 v1.5 signatures (made by pyca/cryptography:
/// `sigs/fail_rsa3072_pkcs1v15.sig`, a failure only for the PSS scheme) and
/// no PSS signature; the key itself (SPKI, raw bytes) is the same key.
#[test]
fn an_rsa_key_under_the_pkcs1v15_scheme_verifies_pkcs1v15_signatures_only() {
    let msg = message();
    let pss = public("rsa3072");
    let v15 = pss.clone().with_pkcs1v15().unwrap();
    assert_eq!(v15.algorithm(), KeyAlgorithm::RsaPkcs1v15Sha256);
    assert_eq!(v15.to_spki_pem(), pss.to_spki_pem());
    assert_eq!(v15.raw_bytes(), pss.raw_bytes());
    let sig = fs::read(data("sigs/fail_rsa3072_pkcs1v15.sig")).unwrap();
    assert!(v15.verify(&msg, &sig));
    assert!(!pss.verify(&msg, &sig));
    assert!(!v15.verify(b"another message", &sig));
    for (name, key, _, sig) in vectors() {
        if key == "rsa3072" && name.starts_with("pass_") {
            assert!(!v15.verify(&msg, &sig), "{name}");
        }
    }
    assert_eq!(public("p256").with_pkcs1v15(), None);
}

/// A file RSA key chosen under `rsa-pkcs1v15-sha256` signs exactly what
/// pyca/cryptography signs (PKCS#1 v1.5 is deterministic:
/// `sigs/fail_rsa3072_pkcs1v15.sig` is its signature over the same
/// message), and its public key carries the scheme; other key types are
/// refused with the scheme named.
#[test]
fn an_rsa_file_key_signs_pkcs1v15_byte_for_byte_as_cryptography() {
    let msg = message();
    for name in ["rsa3072", "rsa3072-pkcs1"] {
        let s = FileSigner::load(&data(&format!("keys/{name}.pem")))
            .unwrap()
            .with_pkcs1v15()
            .unwrap();
        assert_eq!(
            s.public_key().algorithm(),
            KeyAlgorithm::RsaPkcs1v15Sha256,
            "{name}"
        );
        let sig = s.sign(&msg).unwrap();
        assert_eq!(
            sig,
            fs::read(data("sigs/fail_rsa3072_pkcs1v15.sig")).unwrap(),
            "{name}"
        );
        assert!(s.public_key().verify(&msg, &sig));
        assert!(!public("rsa3072").verify(&msg, &sig));
    }
    let e = FileSigner::load(&data("keys/p384.pem"))
        .unwrap()
        .with_pkcs1v15()
        .unwrap_err();
    assert_eq!(
        e,
        "the rsa-pkcs1v15-sha256 scheme needs an RSA key, not ecdsa-p384"
    );
}
