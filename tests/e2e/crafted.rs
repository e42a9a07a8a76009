//! Bundles written by hand — CBOR manifest, tar headers and zstd frames —
//! and signed with the real release key: a malicious *authorized* signer.
//! Each must be refused with its own error, with nothing written outside the
//! staging directory.
use std::fs;
use std::io::Write;

use airlock_hsm::{FileSigner, Signer};
use ciborium::Value;
use sha2::{Digest, Sha256};

use crate::common::{World, airlock_bin, listing};

/// One tar entry as written into the stream.
#[derive(Clone)]
pub struct Item {
    pub tar_path: String,
    pub kind: tar::EntryType,
    pub data: Vec<u8>,
    pub mode: u32,
    /// The size written into the header, when it lies.
    pub header_size: Option<u64>,
    pub link: Option<String>,
}

pub fn reg(tar_path: &str, data: &[u8]) -> Item {
    Item {
        tar_path: tar_path.into(),
        kind: tar::EntryType::Regular,
        data: data.to_vec(),
        mode: 0o644,
        header_size: None,
        link: None,
    }
}

/// One manifest entry.
#[derive(Clone)]
pub struct ManEntry {
    pub kind: &'static str,
    pub path: String,
    pub size: u64,
    pub sha256: [u8; 32],
    pub mode: u32,
}

pub fn man(kind: &'static str, path: &str, data: &[u8]) -> ManEntry {
    ManEntry {
        kind,
        path: path.into(),
        size: data.len() as u64,
        sha256: Sha256::digest(data).into(),
        mode: 0o644,
    }
}

pub struct Crafted {
    pub entries: Vec<ManEntry>,
    pub head: Vec<Item>,
    pub payload: Vec<Item>,
    pub zeros_after_end: u64,
    pub sequence: u64,
    signers: Vec<(String, String)>,
    /// Extra (keyid, signature bytes) pairs added as they are.
    pub extra_sigs: Vec<(String, Vec<u8>)>,
    /// Rewrites each signature the signers make (e.g. to high-S).
    pub sig_edit: Option<fn(Vec<u8>) -> Vec<u8>>,
    /// The manifest's layout keyids.
    pub layout_keyids: Vec<String>,
    /// The manifest's product step (null when `None`).
    pub product_step: Option<String>,
    /// Mark the bundle POSIX-only (`posix_names: true`).
    pub posix_names: bool,
    /// A delta's `base` (SPEC.md 5.7): base bundle id, base sequence, the
    /// entries taken from it.
    pub base: Option<(String, u64, Vec<ManEntry>)>,
}

fn t(s: &str) -> Value {
    Value::Text(s.into())
}

impl Crafted {
    /// A consistent bundle: the fixture's root and layout, one artifact.
    pub fn standard(w: &World) -> Crafted {
        let root = fs::read(w.path("1.root.json")).unwrap();
        let layout = fs::read(w.path("root.layout")).unwrap();
        let release = FileSigner::load(&w.path("keys/release.pem")).unwrap();
        let c = Crafted {
            entries: vec![
                man("root", "1.root.json", &root),
                man("layout", "root.layout", &layout),
            ],
            head: vec![
                reg("meta/roots/1.root.json", &root),
                reg("meta/layout/root.layout", &layout),
            ],
            payload: vec![],
            zeros_after_end: 0,
            sequence: 1,
            extra_sigs: vec![],
            sig_edit: None,
            layout_keyids: vec![],
            product_step: None,
            posix_names: false,
            base: None,
            signers: vec![(
                "keys/release.pem".into(),
                airlock::keys::keyid(release.public_key()),
            )],
        };
        c.artifact("a.txt", b"hello\n")
    }

    /// Adds an artifact listed in the manifest and present in the stream.
    pub fn artifact(mut self, path: &str, data: &[u8]) -> Crafted {
        self.entries.push(man("artifact", path, data));
        self.payload.push(reg(&format!("artifacts/{path}"), data));
        self
    }

    /// Signs with these (key file, keyid) pairs instead of the release key.
    pub fn signed_as(mut self, signers: Vec<(&str, String)>) -> Crafted {
        self.signers = signers
            .into_iter()
            .map(|(k, id)| (k.to_owned(), id))
            .collect();
        self
    }

    fn manifest(&self, bundle_id: &str, payload_sha256: &[u8; 32]) -> Vec<u8> {
        let u = |n: u64| Value::Integer(n.into());
        let entries = self
            .entries
            .iter()
            .map(|e| {
                Value::Map(vec![
                    (t("kind"), t(e.kind)),
                    (t("path"), t(&e.path)),
                    (t("size"), u(e.size)),
                    (t("sha256"), Value::Bytes(e.sha256.to_vec())),
                    (t("mode"), u(e.mode.into())),
                ])
            })
            .collect();
        let v = Value::Map(vec![
            (t("format"), u(1)),
            (t("bundle_id"), t(bundle_id)),
            (t("channel"), t("crafted")),
            (t("sequence"), u(self.sequence)),
            (t("created"), u(crate::common::EPOCH)),
            (t("expires"), u(4_000_000_000)),
            (t("payload_sha256"), Value::Bytes(payload_sha256.to_vec())),
            (
                t("supply_chain"),
                Value::Map(vec![
                    (
                        t("layout_keyids"),
                        Value::Array(self.layout_keyids.iter().map(|k| t(k)).collect()),
                    ),
                    (
                        t("product_step"),
                        self.product_step.as_deref().map_or(Value::Null, t),
                    ),
                ]),
            ),
            (t("entries"), Value::Array(entries)),
        ]);
        let v = match v {
            Value::Map(mut m) if self.posix_names => {
                m.push((t("posix_names"), Value::Bool(true)));
                Value::Map(m)
            }
            v => v,
        };
        let v = match (v, &self.base) {
            (Value::Map(mut m), Some((id, seq, taken))) => {
                let taken = taken
                    .iter()
                    .map(|e| {
                        Value::Map(vec![
                            (t("kind"), t(e.kind)),
                            (t("path"), t(&e.path)),
                            (t("size"), u(e.size)),
                            (t("sha256"), Value::Bytes(e.sha256.to_vec())),
                            (t("mode"), u(e.mode.into())),
                        ])
                    })
                    .collect();
                m.push((
                    t("base"),
                    Value::Map(vec![
                        (t("bundle_id"), t(id)),
                        (t("sequence"), u(*seq)),
                        (t("entries"), Value::Array(taken)),
                    ]),
                ));
                Value::Map(m)
            }
            (v, _) => v,
        };
        let mut out = Vec::new();
        ciborium::into_writer(&v, &mut out).unwrap();
        out
    }

    /// This bundle plus a valid supply chain for its artifacts: the owner's
    /// layout key, and a `build` link signed by the builder whose products
    /// are exactly the manifest's artifacts.
    pub fn with_chain(&self, w: &World) -> Crafted {
        use airlock::intoto::envelope::{Signature, metablock};
        use airlock::intoto::model::Link;
        use airlock::json::Json;
        let owner = FileSigner::load(&w.path("keys/owner.pem")).unwrap();
        let owner_id = airlock::keys::keyid(owner.public_key());
        let builder = FileSigner::load(&w.path("keys/builder.pem")).unwrap();
        let builder_id = airlock::keys::keyid(builder.public_key());
        let link = Link {
            name: "build".into(),
            command: vec![],
            materials: Default::default(),
            products: self
                .entries
                .iter()
                .filter(|e| e.kind == "artifact")
                .map(|e| (e.path.clone(), airlock::intoto::Digests::sha256(e.sha256)))
                .collect(),
            byproducts: Json::Obj(Default::default()),
            environment: Json::Obj(Default::default()),
        };
        let signed = link.to_json();
        let sig = builder.sign(&signed.canonical()).unwrap();
        let link_bytes = metablock(
            &signed,
            &[Signature {
                keyid: builder_id.clone(),
                sig,
            }],
        );
        let link_name = format!("build.{}.link", &builder_id[..8]);
        let key_name = format!("{owner_id}.pub");
        let pem = owner.public_key().to_spki_pem().into_bytes();
        let mut entries = self.entries.clone();
        let at = entries
            .iter()
            .position(|e| e.kind == "artifact")
            .unwrap_or(entries.len());
        entries.insert(at, man("link", &link_name, &link_bytes));
        entries.insert(at, man("layout-key", &key_name, &pem));
        let mut head = self.head.clone();
        head.push(reg(&format!("meta/layout-keys/{key_name}"), &pem));
        head.push(reg(&format!("meta/links/{link_name}"), &link_bytes));
        Crafted {
            entries,
            head,
            payload: self.payload.clone(),
            zeros_after_end: self.zeros_after_end,
            sequence: self.sequence,
            signers: self.signers.clone(),
            extra_sigs: self.extra_sigs.clone(),
            sig_edit: self.sig_edit,
            layout_keyids: vec![owner_id],
            product_step: self.product_step.clone(),
            posix_names: self.posix_names,
            base: self.base.clone(),
        }
    }

    /// Adds a metadata entry carried under `meta/attestations/NAME`, after
    /// the links (call after [`Crafted::with_chain`]).
    pub fn attestation(mut self, name: &str, bytes: &[u8]) -> Crafted {
        let at = self
            .entries
            .iter()
            .position(|e| e.kind == "artifact")
            .unwrap_or(self.entries.len());
        self.entries.insert(at, man("attestation", name, bytes));
        self.head
            .push(reg(&format!("meta/attestations/{name}"), bytes));
        self
    }

    /// Encodes, signs and writes the bundle, with a valid supply chain for
    /// its artifacts; returns its file name.
    pub fn write(&self, w: &World, name: &str) -> String {
        self.with_chain(w).write_as_is(w, name)
    }

    /// Encodes, signs and writes the bundle exactly as described.
    pub fn write_as_is(&self, w: &World, name: &str) -> String {
        // Frame P first: the manifest carries its SHA-256.
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
        let mut payload = Vec::new();
        for item in &self.payload {
            tar_item(&mut payload, item);
        }
        payload.extend_from_slice(&[0u8; 1024]);
        enc.write_all(&payload).unwrap();
        let zeros = vec![0u8; 1 << 20];
        let mut left = self.zeros_after_end;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            enc.write_all(&zeros[..n]).unwrap();
            left -= n as u64;
        }
        let frame_p = enc.finish().unwrap();
        let payload_sha256: [u8; 32] = Sha256::digest(&frame_p).into();

        let id = hex::encode(&Sha256::digest(self.manifest("", &payload_sha256))[..16]);
        let manifest = self.manifest(&id, &payload_sha256);
        let msg = airlock_bundle::signing_message(&manifest);
        let mut sigs: Vec<(String, Vec<u8>)> = self
            .signers
            .iter()
            .map(|(key, keyid)| {
                let sig = FileSigner::load(&w.path(key)).unwrap().sign(&msg).unwrap();
                (keyid.clone(), self.sig_edit.map_or(sig.clone(), |f| f(sig)))
            })
            .collect();
        sigs.extend(self.extra_sigs.iter().cloned());
        sigs.sort();
        let sigs = Value::Array(
            sigs.into_iter()
                .map(|(k, s)| Value::Map(vec![(t("keyid"), t(&k)), (t("sig"), Value::Bytes(s))]))
                .collect(),
        );
        let mut sig_bytes = Vec::new();
        ciborium::into_writer(&sigs, &mut sig_bytes).unwrap();

        let mut head = Vec::new();
        tar_item(&mut head, &reg(airlock_bundle::MANIFEST_PATH, &manifest));
        tar_item(&mut head, &reg(airlock_bundle::SIGNATURES_PATH, &sig_bytes));
        for item in &self.head {
            tar_item(&mut head, item);
        }
        let mut out = raw_frame(&head);
        out.extend(frame_p);
        fs::write(w.path(name), out).unwrap();
        name.to_owned()
    }
}

/// Frame H as the format requires it: a zstd frame of raw blocks of
/// 131072 bytes (the last one shorter), 128 KiB window, no checksum.
pub fn raw_frame(content: &[u8]) -> Vec<u8> {
    let mut out = vec![0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x38];
    let blocks: Vec<&[u8]> = content.chunks(131_072).collect();
    for (i, b) in blocks.iter().enumerate() {
        let last = u32::from(i + 1 == blocks.len());
        let header = last | ((b.len() as u32) << 3);
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(b);
    }
    out
}

/// Appends one raw tar entry; the path bytes are written as they are, even
/// when `tar` itself would refuse them.
pub fn tar_item(out: &mut Vec<u8>, item: &Item) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(item.kind);
    h.set_size(item.header_size.unwrap_or(item.data.len() as u64));
    h.set_mode(item.mode);
    h.set_mtime(crate::common::EPOCH);
    h.set_uid(0);
    h.set_gid(0);
    if let Some(link) = &item.link {
        h.set_link_name(link).unwrap();
    }
    let name = item.tar_path.as_bytes();
    if name.len() >= 100 {
        // A GNU long-name entry, as the writer emits it (SPEC §4).
        let mut b = tar::Builder::new(Vec::new());
        b.append_data(&mut h, &item.tar_path, &item.data[..])
            .unwrap();
        let mut v = b.into_inner().unwrap();
        v.truncate(v.len() - 1024);
        out.extend_from_slice(&v);
        return;
    }
    h.as_old_mut().name = [0; 100];
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(&item.data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// Unpacks `bundle` and asserts exit 1 with `code`, no destination, and no
/// stray files beside it.
#[track_caller]
pub fn refused(w: &World, bundle: &str, code: &str) {
    let before = listing(w.tmp.path());
    let state = w.store_state();
    let r = w.unpack_json(bundle, "out");
    assert_eq!((r.code, r.error_code().as_str()), (1, code), "{}", r.stderr);
    assert!(!w.path("out").exists(), "destination appeared");
    assert_eq!(
        listing(w.tmp.path()),
        before,
        "something was written beside the destination"
    );
    assert_eq!(w.store_state(), state);
    let v = w.run(&["verify", bundle, "--store", "store", "--json"]);
    assert_eq!(
        (v.code, v.error_code().as_str()),
        (1, code),
        "verify: {}",
        v.stderr
    );
}

#[test]
fn the_crafting_itself_is_sound() {
    let w = World::new();
    let b = Crafted::standard(&w)
        .artifact("b/c.txt", b"c\n")
        .write(&w, "ok.airlock");
    w.unpack(&b, "out").ok();
    assert_eq!(fs::read(w.path("out/b/c.txt")).unwrap(), b"c\n");
}

#[test]
fn dot_dot_paths_are_refused() {
    let w = World::new();
    let b = Crafted::standard(&w)
        .artifact("../evil.txt", b"x")
        .write(&w, "b.airlock");
    refused(&w, &b, "unsafe-path");
    // A header path the manifest does not list: checked before the lookup.
    let mut c = Crafted::standard(&w);
    c.payload[0].tar_path = "artifacts/../../evil.txt".into();
    refused(&w, &c.write(&w, "c.airlock"), "unsafe-path");
}

#[test]
fn absolute_paths_are_refused() {
    let w = World::new();
    let b = Crafted::standard(&w)
        .artifact("/etc/evil", b"x")
        .write(&w, "b.airlock");
    refused(&w, &b, "unsafe-path");
    let mut c = Crafted::standard(&w);
    c.payload[0].tar_path = "/tmp/evil.txt".into();
    refused(&w, &c.write(&w, "c.airlock"), "unsafe-path");
}

#[test]
fn links_and_device_nodes_are_refused() {
    let w = World::new();
    for (kind, link) in [
        (tar::EntryType::Symlink, Some("/etc/passwd")),
        (tar::EntryType::Link, Some("artifacts/a.txt")),
        (tar::EntryType::Char, None),
        (tar::EntryType::Block, None),
        (tar::EntryType::Fifo, None),
    ] {
        let mut c = Crafted::standard(&w).artifact("z.dev", b"");
        let last = c.payload.len() - 1;
        c.payload[last].kind = kind;
        c.payload[last].link = link.map(str::to_owned);
        refused(&w, &c.write(&w, "l.airlock"), "entry-type");
    }
}

#[test]
fn an_entry_not_in_the_manifest_is_refused() {
    let w = World::new();
    let mut c = Crafted::standard(&w);
    c.payload.push(reg("artifacts/extra.txt", b"extra"));
    refused(&w, &c.write(&w, "e.airlock"), "not-in-manifest");
}

#[test]
fn entries_out_of_order_are_refused() {
    let w = World::new();
    let mut c = Crafted::standard(&w).artifact("b.txt", b"b");
    c.payload.swap(0, 1);
    refused(&w, &c.write(&w, "o.airlock"), "out-of-order");
}

#[test]
fn duplicate_paths_are_refused() {
    let w = World::new();
    // In the stream: the same entry twice.
    let mut c = Crafted::standard(&w).artifact("b.txt", b"b");
    c.payload[1] = c.payload[0].clone();
    refused(&w, &c.write(&w, "d1.airlock"), "duplicate-entry");
    // In the manifest: one path listed twice.
    let c = Crafted::standard(&w).artifact("a.txt", b"hello\n");
    refused(&w, &c.write(&w, "d2.airlock"), "duplicate-path");
}

#[test]
fn a_size_that_lies_is_refused() {
    let w = World::new();
    let mut c = Crafted::standard(&w);
    c.payload[0].header_size = Some(3);
    refused(&w, &c.write(&w, "s.airlock"), "size-mismatch");
    let mut c = Crafted::standard(&w);
    let last = c.entries.len() - 1;
    c.entries[last].size = 1 << 40;
    refused(&w, &c.write(&w, "s2.airlock"), "size-mismatch");
}

#[test]
fn content_that_differs_from_its_digest_is_refused() {
    let w = World::new();
    let mut c = Crafted::standard(&w);
    c.payload[0].data = b"HELLO\n".to_vec();
    refused(&w, &c.write(&w, "h.airlock"), "digest-mismatch");
}

#[test]
fn a_missing_entry_is_refused() {
    let w = World::new();
    let mut c = Crafted::standard(&w).artifact("b.txt", b"b");
    c.payload.pop();
    refused(&w, &c.write(&w, "m.airlock"), "missing-entry");
}

#[test]
fn a_stream_inflating_past_the_declared_total_is_refused_in_bounded_memory() {
    let w = World::new();
    let mut c = Crafted::standard(&w);
    c.zeros_after_end = 2 << 30; // 2 GiB of zeros after the end of the archive
    let b = c.write(&w, "bomb.airlock");
    assert!(
        fs::metadata(w.path(&b)).unwrap().len() < 1 << 20,
        "the bomb is small on disk"
    );
    refused(&w, &b, "trailing-data");
    // Under a 768 MiB address-space limit: decompressing the zeros into
    // memory (or onto disk) would fail differently or not at all.
    let out = std::process::Command::new("sh")
        .current_dir(w.tmp.path())
        .arg("-c")
        .arg(format!(
            "ulimit -v 786432; exec '{}' unpack {b} --store store --to out --json",
            airlock_bin()
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"code\":\"trailing-data\""), "{stdout}");
    assert!(!w.path("out").exists());
}

#[test]
fn every_signature_must_verify_even_beyond_the_threshold() {
    let w = World::new();
    let release = FileSigner::load(&w.path("keys/release.pem")).unwrap();
    let id = airlock::keys::keyid(release.public_key());
    // A valid signature plus garbage under a second, unknown keyid.
    let mut c = Crafted::standard(&w);
    c.extra_sigs = vec![("f".repeat(64), vec![7; 64])];
    refused(&w, &c.write(&w, "x1.airlock"), "signature-unknown-key");
    // The owner key is a real key, but not a targets key.
    let owner = FileSigner::load(&w.path("keys/owner.pem")).unwrap();
    let c = Crafted::standard(&w).signed_as(vec![
        ("keys/release.pem", id.clone()),
        ("keys/owner.pem", airlock::keys::keyid(owner.public_key())),
    ]);
    refused(&w, &c.write(&w, "x2.airlock"), "signature-unknown-key");
    // The targets key's keyid with a signature that does not verify.
    let mut c = Crafted::standard(&w).signed_as(vec![]);
    c.extra_sigs = vec![(id, vec![9; 64])];
    refused(&w, &c.write(&w, "x3.airlock"), "signature-invalid");
}

#[test]
fn carried_roots_are_bounded_before_they_are_read() {
    let w = World::new();
    // A root entry the manifest declares over the root size limit: refused
    // from the manifest alone, before its bytes are read or parsed.
    let big = vec![b' '; 600 * 1024];
    let mut c = Crafted::standard(&w);
    c.entries.insert(1, man("root", "2.root.json", &big));
    c.head.insert(1, reg("meta/roots/2.root.json", &big));
    refused(&w, &c.write(&w, "big.airlock"), "root-too-large");
}

// Supply-chain refusals on the isolated side: bundles signed by the real
// release key whose in-toto evidence does not hold. (`pack` refuses to
// build them; a malicious signer would use their own tool.)

#[test]
fn an_artifact_differing_from_the_recorded_product_is_refused() {
    let w = World::new();
    let mut c = Crafted::standard(&w).with_chain(&w);
    // The link records "hello\n"; the bundle carries (and its manifest
    // lists) something else under the same path.
    let evil = b"hello, evil\n";
    let e = c.entries.iter_mut().find(|e| e.path == "a.txt").unwrap();
    *e = man("artifact", "a.txt", evil);
    c.payload[0] = reg("artifacts/a.txt", evil);
    let b = c.write_as_is(&w, "evil.airlock");
    refused(&w, &b, "artifact-unbound");
}

#[test]
fn an_artifact_no_step_produced_is_refused() {
    let w = World::new();
    let c = Crafted::standard(&w)
        .with_chain(&w)
        .artifact("extra.bin", b"x");
    let b = c.write_as_is(&w, "extra.airlock");
    refused(&w, &b, "artifact-unbound");
}

#[test]
fn a_missing_step_link_is_refused() {
    let w = World::new();
    let mut c = Crafted::standard(&w).with_chain(&w);
    c.entries.retain(|e| e.kind != "link");
    c.head.retain(|i| !i.tar_path.starts_with("meta/links/"));
    let b = c.write_as_is(&w, "nolink.airlock");
    refused(&w, &b, "link-threshold");
}

#[test]
fn a_layout_key_the_manifest_does_not_name_is_refused() {
    let w = World::new();
    w.run(&["keygen", "--out", "keys/rogue"]).ok();
    let rogue = FileSigner::load(&w.path("keys/rogue.pem")).unwrap();
    // The manifest names a key the bundle does not carry.
    let mut c = Crafted::standard(&w).with_chain(&w);
    c.layout_keyids = vec![airlock::keys::keyid(rogue.public_key())];
    let b = c.write_as_is(&w, "unnamed.airlock");
    refused(&w, &b, "layout-key-mismatch");
    // The manifest names, and the bundle carries, a key that did not sign
    // the layout.
    let mut c = Crafted::standard(&w).with_chain(&w);
    let rogue_id = airlock::keys::keyid(rogue.public_key());
    let pem = rogue.public_key().to_spki_pem().into_bytes();
    let name = format!("{rogue_id}.pub");
    let at = c
        .entries
        .iter()
        .position(|e| e.kind == "layout-key")
        .unwrap();
    c.entries[at] = man("layout-key", &name, &pem);
    let at = c
        .head
        .iter()
        .position(|i| i.tar_path.starts_with("meta/layout-keys/"))
        .unwrap();
    c.head[at] = reg(&format!("meta/layout-keys/{name}"), &pem);
    c.layout_keyids = vec![rogue_id];
    let b = c.write_as_is(&w, "rogue.airlock");
    // The root names only the owner: a key the bundle brings is refused
    // before any signature is looked at.
    refused(&w, &b, "layout-key-not-rooted");
}

// ---- portable names (SPEC.md section 4.1) ----------------------------------

#[test]
fn names_that_differ_only_by_case_are_refused() {
    let w = World::new();
    let c = Crafted::standard(&w)
        .artifact("b/README", b"upper\n")
        .artifact("b/readme", b"lower\n");
    refused(&w, &c.write(&w, "case.airlock"), "path-case-collision");
    // A directory spelled two ways collides too: on a case-insensitive
    // filesystem its files would merge into one directory.
    let c = Crafted::standard(&w)
        .artifact("d/Docs/x", b"x\n")
        .artifact("d/docs/y", b"y\n");
    refused(&w, &c.write(&w, "dir.airlock"), "path-case-collision");
}

#[test]
fn names_that_differ_only_by_normalization_are_refused() {
    let w = World::new();
    // NFD ("e" + U+0301) sorts before NFC (U+00E9).
    let c = Crafted::standard(&w)
        .artifact("cafe\u{301}", b"nfd\n")
        .artifact("caf\u{e9}", b"nfc\n");
    refused(
        &w,
        &c.write(&w, "nfc.airlock"),
        "path-normalization-collision",
    );
}

#[test]
fn names_no_windows_filesystem_can_hold_are_refused() {
    let w = World::new();
    for (n, name) in [
        "b:c.txt",
        "trailing.",
        "trailing ",
        "con.txt",
        "lpt1",
        "x/AUX",
        "why?",
    ]
    .into_iter()
    .enumerate()
    {
        let c = Crafted::standard(&w).artifact(name, b"x\n");
        refused(
            &w,
            &c.write(&w, &format!("np{n}.airlock")),
            "path-not-portable",
        );
    }
}

#[test]
fn a_posix_only_bundle_may_carry_any_names_and_is_recorded_as_such() {
    let w = World::new();
    let mut c = Crafted::standard(&w)
        .artifact("b/README", b"upper\n")
        .artifact("b/a:b.", b"colon\n")
        .artifact("b/readme", b"lower\n");
    c.posix_names = true;
    let b = c.write(&w, "posix.airlock");
    let r = w
        .run(&["unpack", &b, "--store", "store", "--to", "out", "--json"])
        .ok();
    assert_eq!(r.json()["posix_names"], true);
    assert!(
        r.stderr
            .contains("warning: the bundle is marked POSIX-only"),
        "{}",
        r.stderr
    );
    assert_eq!(fs::read(w.path("out/b/README")).unwrap(), b"upper\n");
    assert_eq!(fs::read(w.path("out/b/readme")).unwrap(), b"lower\n");
    let journal = fs::read_to_string(w.path("store/journal.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(journal.lines().last().unwrap()).unwrap();
    assert_eq!(
        (
            last["event"].as_str(),
            last["fields"]["posix_names"].as_bool()
        ),
        (Some("unpack"), Some(true))
    );
}
