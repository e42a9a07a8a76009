//! TPM quotes of a TPM store's import measurements (`anchor quote`,
//! `anchor verify-quote`) on a private swtpm, each checked by airlock and
//! by tpm2-tools' `tpm2_checkquote` from the quote file as written; a
//! stale or wrong nonce, a quote bound to another journal head, another
//! TPM's key and altered files are refused with their exact codes.
use std::fs;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::common::World;
use crate::emulators::{Swtpm, missing};
use crate::tpm::{tpm_world, tpm2, unpack};

const NONCE: &str = "5f3a9c0e12b4d6f8a1c3e5f7092b4d6f";
const OTHER_NONCE: &str = "00112233445566778899aabbccddeeff";

fn keys(v: &serde_json::Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

/// SHA-256 (hex) of the last line of the store's journal: its head.
fn journal_head(w: &World) -> String {
    let text = fs::read_to_string(w.path("tstore/journal.jsonl")).unwrap();
    let last = text.lines().last().unwrap();
    hex::encode(Sha256::digest(last.as_bytes()))
}

/// The qualifying data of docs/policy.md: SHA-256(nonce ‖ head), hex.
fn qualifying(nonce: &str, head: &str) -> String {
    let mut h = Sha256::new();
    h.update(hex::decode(nonce).unwrap());
    h.update(hex::decode(head).unwrap());
    hex::encode(h.finalize())
}

/// Writes quote.msg, quote.sig and quote.pcrs from a quote file, as the
/// docs' `jq -r .message | base64 -d` does.
fn extract(w: &World, quote: &str) {
    let q: serde_json::Value = serde_json::from_slice(&fs::read(w.path(quote)).unwrap()).unwrap();
    for (field, file) in [
        ("message", "quote.msg"),
        ("signature", "quote.sig"),
        ("pcrs", "quote.pcrs"),
    ] {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(q[field].as_str().unwrap())
            .unwrap();
        fs::write(w.path(file), bytes).unwrap();
    }
}

/// `tpm2_checkquote` on the extracted files with qualifying data `q`.
fn checkquote(w: &World, tpm: &Swtpm, q: &str) -> std::process::Output {
    tpm2(
        tpm,
        &[
            "tpm2_checkquote",
            "-u",
            "ak.pub",
            "-m",
            "quote.msg",
            "-s",
            "quote.sig",
            "-f",
            "quote.pcrs",
            "-l",
            "sha256:23",
            "-g",
            "sha256",
            "-q",
            q,
        ],
        w.tmp.path(),
    )
}

/// The block of docs/policy.md that checks a quote with tpm2-tools.
fn documented_check() -> String {
    let doc = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/policy.md")).unwrap();
    doc.split("```")
        .find(|b| b.contains("tpm2_checkquote -u"))
        .expect("docs/policy.md shows how to check a quote with tpm2_checkquote")
        .to_owned()
}

/// Runs the documented tpm2-tools check of `quote.json` with `nonce`.
fn run_documented_check(w: &World, tpm: &Swtpm, nonce: &str) -> std::process::Output {
    std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &documented_check()])
        .current_dir(w.tmp.path())
        .env("NONCE", nonce)
        .env("TPM2TOOLS_TCTI", tpm.tcti())
        .env("TSS2_LOG", "all+none")
        .output()
        .unwrap()
}

fn verify_quote(w: &World, quote: &str, nonce: &str, extra: &[&str]) -> crate::common::Run {
    let mut args = vec![
        "anchor",
        "verify-quote",
        quote,
        "--ak-pub",
        "ak.pub",
        "--nonce",
        nonce,
        "--json",
    ];
    args.extend_from_slice(extra);
    w.run(&args)
}

#[test]
fn a_quote_verifies_with_airlock_and_tpm2_checkquote_and_a_stale_nonce_is_refused_by_both() {
    let test = "a_quote_verifies_with_airlock_and_tpm2_checkquote";
    let Some((w, tpm)) = tpm_world(test) else {
        return;
    };
    if missing(
        test,
        &["tpm2_checkquote", "tpm2_pcrread", "jq", "xxd", "base64"],
    )
    .is_some()
    {
        return;
    }
    w.pack("rel.airlock", &["--channel", "stable", "--sequence", "1"])
        .ok();
    let id = unpack(&w, "rel.airlock", "out").ok().json()["bundle_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let q = w
        .run(&[
            "anchor",
            "quote",
            "--store",
            "tstore",
            "--nonce",
            NONCE,
            "--out",
            "quote.json",
            "--ak-pub",
            "ak.pub",
            "--json",
        ])
        .ok()
        .json();
    // Exactly the fields docs/json.md lists for `anchor quote`.
    assert_eq!(
        keys(&q),
        [
            "ak_pub",
            "attestation_key",
            "journal_head",
            "ok",
            "pcr",
            "qualifying_data",
            "quote",
            "schema",
        ]
    );
    let head = journal_head(&w);
    assert_eq!(q["journal_head"]["sha256"], head.as_str());
    assert_eq!(q["qualifying_data"], qualifying(NONCE, &head).as_str());
    // PCR 23 is SHA-256(0…0 ‖ SHA-256(bundle id)) after the one import
    // since the TPM started, and what tpm2_pcrread reads.
    let mut h = Sha256::new();
    h.update([0u8; 32]);
    h.update(Sha256::digest(id.as_bytes()));
    let pcr = hex::encode(h.finalize());
    assert_eq!(q["pcr"]["value"], pcr.as_str());
    let o = tpm2(
        &tpm,
        &["tpm2_pcrread", "sha256:23", "-o", "pcr.bin"],
        w.tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(hex::encode(fs::read(w.path("pcr.bin")).unwrap()), pcr);

    // airlock: valid with the nonce, and with the journal head too.
    let v = verify_quote(&w, "quote.json", NONCE, &["--journal-head", &head])
        .ok()
        .json();
    assert_eq!(v["pcr"]["value"], pcr.as_str());
    assert_eq!(v["journal_head"]["checked"], true);
    assert_eq!(
        keys(&v),
        [
            "attestation_key",
            "journal_head",
            "nonce",
            "ok",
            "pcr",
            "schema",
            "tpm",
            "valid",
        ]
    );
    // tpm2-tools: the files inside the quote file, as docs/policy.md says.
    extract(&w, "quote.json");
    let o = checkquote(&w, &tpm, &qualifying(NONCE, &head));
    assert!(
        o.status.success(),
        "tpm2_checkquote: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    // And as docs/policy.md tells an auditor to, in the shell.
    let o = run_documented_check(&w, &tpm, NONCE);
    assert!(o.status.success(), "{o:?}");
    let o = run_documented_check(&w, &tpm, OTHER_NONCE);
    assert_eq!(o.status.code(), Some(1), "{o:?}");

    // A stale quote: the auditor's new nonce is not the one it was made for.
    let r = verify_quote(&w, "quote.json", OTHER_NONCE, &[]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "quote-nonce-mismatch"),
        "{r:?}"
    );
    let o = checkquote(&w, &tpm, &qualifying(OTHER_NONCE, &head));
    assert_eq!(o.status.code(), Some(1), "{o:?}");

    // The journal moved on (another import): the old quote is bound to
    // the old head; a new quote, for a new nonce, to the new one.
    w.pack("rel2.airlock", &["--channel", "stable", "--sequence", "2"])
        .ok();
    unpack(&w, "rel2.airlock", "out2").ok();
    let new_head = journal_head(&w);
    let r = verify_quote(&w, "quote.json", NONCE, &["--journal-head", &new_head]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (1, "quote-journal-mismatch"),
        "{r:?}"
    );
    w.run(&[
        "anchor",
        "quote",
        "--store",
        "tstore",
        "--nonce",
        OTHER_NONCE,
        "--out",
        "quote2.json",
    ])
    .ok();
    let v = verify_quote(
        &w,
        "quote2.json",
        OTHER_NONCE,
        &["--journal-head", &new_head],
    )
    .ok()
    .json();
    assert_ne!(v["pcr"]["value"], pcr.as_str());
    extract(&w, "quote2.json");
    let o = checkquote(&w, &tpm, &qualifying(OTHER_NONCE, &new_head));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = checkquote(&w, &tpm, &qualifying(NONCE, &new_head));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
}

/// A change to a quote file's JSON.
type Alter = Box<dyn FnOnce(&mut serde_json::Value)>;

/// `quote.json` with `f` applied to its JSON, written as `name`.
fn altered(w: &World, name: &str, f: impl FnOnce(&mut serde_json::Value)) {
    let mut q: serde_json::Value =
        serde_json::from_slice(&fs::read(w.path("quote.json")).unwrap()).unwrap();
    f(&mut q);
    fs::write(w.path(name), serde_json::to_vec(&q).unwrap()).unwrap();
}

fn flip_b64(v: &mut serde_json::Value, at: usize) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bytes = b64.decode(v.as_str().unwrap()).unwrap();
    let i = at.min(bytes.len() - 1);
    bytes[i] ^= 1;
    *v = b64.encode(bytes).into();
}

#[test]
fn an_altered_quote_or_another_tpms_key_is_refused() {
    let Some((w, _tpm)) = tpm_world("an_altered_quote_or_another_tpms_key_is_refused") else {
        return;
    };
    w.run(&[
        "anchor",
        "quote",
        "--store",
        "tstore",
        "--nonce",
        NONCE,
        "--out",
        "quote.json",
        "--ak-pub",
        "ak.pub",
    ])
    .ok();
    verify_quote(&w, "quote.json", NONCE, &[]).ok();
    let cases: Vec<(&str, Alter, &str)> = vec![
        (
            "message.json",
            Box::new(|q| flip_b64(&mut q["message"], 40)),
            "quote-signature-invalid",
        ),
        (
            "signature.json",
            Box::new(|q| flip_b64(&mut q["signature"], 10)),
            "quote-signature-invalid",
        ),
        (
            "pcrs.json",
            Box::new(|q| flip_b64(&mut q["pcrs"], 0)),
            "quote-pcr-mismatch",
        ),
        (
            "head.json",
            Box::new(|q| q["journal_head"]["sha256"] = "ab".repeat(32).into()),
            "quote-invalid",
        ),
        (
            "unknown.json",
            Box::new(|q| q["extra"] = true.into()),
            "quote-invalid",
        ),
    ];
    for (name, f, code) in cases {
        altered(&w, name, f);
        let r = verify_quote(&w, name, NONCE, &[]);
        assert_eq!(
            (r.code, r.error_code().as_str()),
            (1, code),
            "{name}: {r:?}"
        );
    }
    // Another P-256 key than this TPM's attestation key, and a key of
    // another type: not this TPM's quote.
    for args in [
        &[
            "openssl",
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "other.pem",
        ][..],
        &[
            "openssl",
            "pkey",
            "-in",
            "other.pem",
            "-pubout",
            "-out",
            "other.pub",
        ],
    ] {
        let o = std::process::Command::new(args[0])
            .args(&args[1..])
            .current_dir(w.tmp.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
    }
    for key in ["other.pub", "keys/owner.pub"] {
        fs::copy(w.path(key), w.path("ak.pub")).unwrap();
        let r = verify_quote(&w, "quote.json", NONCE, &[]);
        assert_eq!(
            (r.code, r.error_code().as_str()),
            (1, "quote-signature-invalid"),
            "{key}: {r:?}"
        );
    }
    // A nonce too short to be a nonce is the operator's mistake.
    w.run(&[
        "anchor",
        "quote",
        "--store",
        "tstore",
        "--nonce",
        "00ff",
        "--out",
        "short.json",
    ])
    .fails(2, "nonce");
    assert!(!w.path("short.json").exists());
}

#[test]
fn a_file_store_cannot_quote() {
    let w = World::new();
    let r = w.run(&[
        "anchor",
        "quote",
        "--store",
        "store",
        "--nonce",
        NONCE,
        "--out",
        "quote.json",
        "--json",
    ]);
    assert_eq!(
        (r.code, r.error_code().as_str()),
        (2, "quote-needs-tpm"),
        "{r:?}"
    );
    assert!(
        r.json()["errors"][0]["hint"]
            .as_str()
            .unwrap()
            .contains("--tpm"),
        "{r:?}"
    );
    assert!(!w.path("quote.json").exists());
}
