//! The manifest and signatures are decoded strictly: one canonical encoding,
//! no unknown or missing fields, every semantic rule, every limit.

use airlock_bundle::*;
use ciborium::Value;

use crate::common::*;

fn sample() -> Manifest {
    Parts::sample().manifest
}

fn to_value(bytes: &[u8]) -> Value {
    ciborium::from_reader(bytes).unwrap()
}

fn to_bytes(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

fn map_mut(v: &mut Value) -> &mut Vec<(Value, Value)> {
    match v {
        Value::Map(m) => m,
        _ => panic!("not a map"),
    }
}

fn field<'a>(v: &'a mut Value, name: &str) -> &'a mut Value {
    &mut map_mut(v)
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some(name))
        .unwrap()
        .1
}

/// The sample manifest, changed by `f`, re-encoded canonically.
fn edited(f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = to_value(&sample().encode());
    f(&mut v);
    to_bytes(&v)
}

fn decode(bytes: &[u8]) -> Result<Manifest, Error> {
    Manifest::decode(bytes, &lim())
}

#[test]
fn the_sample_decodes() {
    let m = sample();
    assert_eq!(decode(&m.encode()).unwrap(), m);
    // An unchanged round trip through a generic CBOR value is byte-identical.
    assert_eq!(edited(|_| {}), m.encode());
}

#[test]
fn non_canonical_encodings_are_refused() {
    let bytes = sample().encode();
    // `format: 1` as a one-byte integer (0x18 0x01) instead of 0x01.
    let key = [&[0x66][..], b"format"].concat();
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    assert_eq!(bytes[at], 0x01);
    let mut wide = bytes[..at].to_vec();
    wide.extend_from_slice(&[0x18, 0x01]);
    wide.extend_from_slice(&bytes[at + 1..]);
    assert!(matches!(decode(&wide), Err(Error::NonCanonical)));

    // Reordered map keys.
    let swapped = edited(|v| map_mut(v).swap(2, 3));
    assert!(matches!(decode(&swapped), Err(Error::NonCanonical)));

    // An indefinite-length entries array.
    let v = to_value(&bytes);
    let mut indefinite = Vec::new();
    let m = match &v {
        Value::Map(m) => m,
        _ => unreachable!(),
    };
    indefinite.push(0xa0 | m.len() as u8);
    for (k, val) in m {
        indefinite.extend(to_bytes(k));
        if k.as_text() == Some("entries") {
            let items = val.as_array().unwrap();
            indefinite.push(0x9f);
            for i in items {
                indefinite.extend(to_bytes(i));
            }
            indefinite.push(0xff);
        } else {
            indefinite.extend(to_bytes(val));
        }
    }
    assert!(matches!(decode(&indefinite), Err(Error::NonCanonical)));

    // A tag around the channel.
    let tagged = edited(|v| {
        let c = field(v, "channel");
        *c = Value::Tag(32, Box::new(c.clone()));
    });
    assert!(matches!(decode(&tagged), Err(Error::NonCanonical)));
}

#[test]
fn unknown_missing_and_duplicate_fields_are_refused() {
    let unknown = edited(|v| map_mut(v).push((Value::Text("extra".into()), Value::Bool(true))));
    assert!(matches!(decode(&unknown), Err(Error::Manifest(ref m)) if m.contains("unknown field")));

    let missing = edited(|v| map_mut(v).retain(|(k, _)| k.as_text() != Some("sequence")));
    assert!(matches!(decode(&missing), Err(Error::Manifest(ref m)) if m.contains("missing field")));

    let dup = edited(|v| {
        let m = map_mut(v);
        let seq = m
            .iter()
            .find(|(k, _)| k.as_text() == Some("sequence"))
            .unwrap()
            .clone();
        m.push(seq);
    });
    assert!(matches!(decode(&dup), Err(Error::Manifest(ref m)) if m.contains("duplicate field")));

    let unknown_in_entry = edited(|v| {
        let e = &mut field(v, "entries").as_array_mut().unwrap()[0];
        map_mut(e).push((Value::Text("owner".into()), Value::Text("root".into())));
    });
    assert!(
        matches!(decode(&unknown_in_entry), Err(Error::Manifest(ref m)) if m.contains("unknown field"))
    );

    // A missing product_step is not the same as null.
    let no_step = edited(|v| {
        let sc = field(v, "supply_chain");
        map_mut(sc).retain(|(k, _)| k.as_text() != Some("product_step"));
    });
    assert!(decode(&no_step).is_err());
}

#[test]
fn trailing_bytes_are_refused() {
    let mut b = sample().encode();
    b.push(0);
    assert!(matches!(decode(&b), Err(Error::Manifest(ref m)) if m.contains("trailing")));
    let mut b = sample().encode();
    b.extend(sample().encode());
    assert!(matches!(decode(&b), Err(Error::Manifest(ref m)) if m.contains("trailing")));
}

#[test]
fn a_wrong_bundle_id_is_refused() {
    let b = edited(|v| *field(v, "sequence") = Value::Integer(8.into()));
    assert!(matches!(decode(&b), Err(Error::BundleId)));
    let b = edited(|v| *field(v, "bundle_id") = Value::Text("0".repeat(32)));
    assert!(matches!(decode(&b), Err(Error::BundleId)));
}

#[test]
fn every_single_byte_change_is_refused() {
    let bytes = sample().encode();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut b = bytes.clone();
        let at = (x % b.len() as u64) as usize;
        let delta = ((x >> 32) % 255 + 1) as u8;
        b[at] = b[at].wrapping_add(delta);
        assert!(
            decode(&b).is_err(),
            "byte {at} changed by {delta} was accepted"
        );
    }
}

fn entries_edit(f: impl FnOnce(&mut Vec<Value>)) -> Vec<u8> {
    edited(|v| f(field(v, "entries").as_array_mut().unwrap()))
}

fn set(e: &mut Value, name: &str, val: Value) {
    *field(e, name) = val;
}

#[test]
fn semantic_rules_are_enforced() {
    let m = |r: Result<Manifest, Error>, want: &str| match r {
        Err(Error::Manifest(msg)) => assert!(msg.contains(want), "{msg}"),
        other => panic!("expected Manifest({want}), got {other:?}"),
    };
    m(
        decode(&edited(|v| *field(v, "format") = Value::Integer(3.into()))),
        "format version 3",
    );
    m(
        decode(&edited(|v| *field(v, "format") = Value::Integer(2.into()))),
        "a format 2 manifest must have an images field",
    );
    m(
        decode(&edited(|v| {
            *field(v, "channel") = Value::Text("st able".into())
        })),
        "channel",
    );
    m(
        decode(&edited(|v| {
            *field(v, "channel") = Value::Text(String::new())
        })),
        "channel",
    );
    m(
        decode(&edited(|v| {
            *field(v, "channel") = Value::Text("c".repeat(65))
        })),
        "channel",
    );
    m(
        decode(&edited(|v| {
            *field(v, "expires") = Value::Integer(1_700_000_000.into())
        })),
        "expires",
    );
    m(
        decode(&edited(|v| {
            let ids = field(field(v, "supply_chain"), "layout_keyids")
                .as_array_mut()
                .unwrap();
            ids.reverse();
        })),
        "strictly increasing",
    );
    m(
        decode(&edited(|v| {
            let ids = field(field(v, "supply_chain"), "layout_keyids")
                .as_array_mut()
                .unwrap();
            ids[0] = Value::Text("0A".repeat(32));
        })),
        "64 lowercase hex",
    );
    m(
        decode(&entries_edit(|es| {
            set(&mut es[0], "kind", Value::Text("rootfs".into()))
        })),
        "unknown entry kind",
    );
    m(
        decode(&entries_edit(|es| {
            set(&mut es[0], "mode", Value::Integer(0o10644.into()))
        })),
        "mode",
    );
    m(
        decode(&entries_edit(|es| {
            let last = es.len() - 1;
            es.swap(0, last);
        })),
        "not sorted",
    );
    let short_digest = entries_edit(|es| set(&mut es[0], "sha256", Value::Bytes(vec![0; 31])));
    assert!(matches!(decode(&short_digest), Err(Error::Manifest(_))));
    let text_digest = entries_edit(|es| set(&mut es[0], "sha256", Value::Text("00".repeat(32))));
    assert!(matches!(decode(&text_digest), Err(Error::Manifest(_))));
}

#[test]
fn unsafe_manifest_paths_are_refused() {
    for (p, want) in [
        ("../x", PathError::DotDot),
        ("/x", PathError::Absolute),
        ("a//b", PathError::EmptyComponent),
        ("a\\b", PathError::Backslash),
        ("", PathError::Empty),
    ] {
        let b = entries_edit(|es| set(&mut es[0], "path", Value::Text(p.into())));
        assert!(
            matches!(decode(&b), Err(Error::UnsafePath { reason, .. }) if reason == want),
            "{p}"
        );
    }
}

#[test]
fn duplicate_and_conflicting_paths_are_refused() {
    let dup = entries_edit(|es| {
        let last = es[es.len() - 1].clone();
        es.push(last);
    });
    assert!(
        matches!(decode(&dup), Err(Error::DuplicatePath { ref path }) if path == "artifacts/share/empty")
    );

    // `artifacts/bin` is a file and also the directory of `artifacts/bin/tool`.
    let conflict = entries_edit(|es| {
        let i = es
            .iter()
            .position(|e| {
                e.as_map()
                    .unwrap()
                    .iter()
                    .any(|(_, v)| v.as_text() == Some("bin/tool"))
            })
            .unwrap();
        let mut bin = es[i].clone();
        set(&mut bin, "path", Value::Text("bin".into()));
        es.insert(i, bin);
        // `bin-x` sorts between `bin` and `bin/tool`.
        let mut between = es[i].clone();
        set(&mut between, "path", Value::Text("bin-x".into()));
        es.insert(i + 1, between);
    });
    assert!(
        matches!(decode(&conflict), Err(Error::PathConflict { ref path }) if path == "artifacts/bin")
    );
}

#[test]
fn limits_are_enforced() {
    let bytes = sample().encode();
    let with = |f: fn(&mut Limits)| {
        let mut l = Limits::default();
        f(&mut l);
        Manifest::decode(&bytes, &l)
    };
    assert!(matches!(
        with(|l| l.max_manifest_bytes = 64),
        Err(Error::Limit {
            what: "manifest bytes",
            limit: 64
        })
    ));
    assert!(matches!(
        with(|l| l.max_entries = 3),
        Err(Error::Limit {
            what: "entries",
            limit: 3
        })
    ));
    assert!(matches!(
        with(|l| l.max_metadata_entry_bytes = 100),
        Err(Error::Limit {
            what: "metadata entry bytes",
            limit: 100
        })
    ));
    assert!(matches!(
        with(|l| l.max_entry_bytes = 1000),
        Err(Error::Limit {
            what: "entry bytes",
            limit: 1000
        })
    ));
    assert!(matches!(
        with(|l| l.max_total_bytes = 1_000_000),
        Err(Error::Limit {
            what: "total bytes",
            ..
        })
    ));
    assert!(matches!(
        with(|l| l.max_path_bytes = 20),
        Err(Error::UnsafePath {
            reason: PathError::TooLong,
            ..
        })
    ));
    assert!(matches!(
        with(|l| l.max_component_bytes = 8),
        Err(Error::UnsafePath {
            reason: PathError::ComponentTooLong,
            ..
        })
    ));

    // Sizes that overflow a u64 when summed.
    let huge = entries_edit(|es| {
        for e in es.iter_mut() {
            set(e, "size", Value::Integer(u64::MAX.into()));
        }
    });
    let unlimited = Limits {
        max_entry_bytes: u64::MAX,
        max_metadata_entry_bytes: u64::MAX,
        max_total_bytes: u64::MAX,
        ..Limits::default()
    };
    assert!(matches!(
        Manifest::decode(&huge, &unlimited),
        Err(Error::Limit {
            what: "total bytes",
            ..
        })
    ));

    // Manifest::new refuses what decode would refuse.
    let small = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    let entries = sample().entries;
    assert!(matches!(
        Manifest::new(fields(entries), &small),
        Err(Error::Limit {
            what: "entries",
            ..
        })
    ));
}

#[test]
fn signatures_are_decoded_strictly() {
    let l = lim();
    let good = sample_signatures().encode();
    assert_eq!(Signatures::decode(&good, &l).unwrap().0.len(), 2);

    let sig = |k: &str, n: usize| ManifestSignature {
        keyid: k.into(),
        sig: vec![1; n],
    };
    let raw = |sigs: &[ManifestSignature]| {
        // Encoded in the given order, without the sort `encode` applies.
        let v = Value::Array(
            sigs.iter()
                .map(|s| {
                    Value::Map(vec![
                        (Value::Text("keyid".into()), Value::Text(s.keyid.clone())),
                        (Value::Text("sig".into()), Value::Bytes(s.sig.clone())),
                    ])
                })
                .collect(),
        );
        to_bytes(&v)
    };
    let a = "a".repeat(64);
    let b = "b".repeat(64);

    let dup = raw(&[sig(&a, 64), sig(&a, 64)]);
    assert!(
        matches!(Signatures::decode(&dup, &l), Err(Error::DuplicateSignature { ref keyid }) if *keyid == a)
    );
    // `encode` sorts but keeps duplicates, so they are refused on decode.
    let dup = Signatures(vec![sig(&b, 64), sig(&a, 64), sig(&b, 64)]).encode();
    assert!(
        matches!(Signatures::decode(&dup, &l), Err(Error::DuplicateSignature { ref keyid }) if *keyid == b)
    );

    let unsorted = raw(&[sig(&b, 64), sig(&a, 64)]);
    assert!(
        matches!(Signatures::decode(&unsorted, &l), Err(Error::Signatures(ref m)) if m == "not sorted by keyid")
    );

    let badkey = raw(&[sig("AB", 64)]);
    assert!(matches!(
        Signatures::decode(&badkey, &l),
        Err(Error::Signatures(_))
    ));
    let empty_sig = raw(&[sig(&a, 0)]);
    assert!(matches!(
        Signatures::decode(&empty_sig, &l),
        Err(Error::Signatures(_))
    ));
    let big_sig = raw(&[sig(&a, 1025)]);
    assert!(matches!(
        Signatures::decode(&big_sig, &l),
        Err(Error::Signatures(_))
    ));

    let many: Vec<_> = (0..33).map(|i| sig(&format!("{i:064x}"), 8)).collect();
    assert!(matches!(
        Signatures::decode(&raw(&many), &l),
        Err(Error::Limit {
            what: "signatures",
            limit: 32
        })
    ));

    let mut trailing = good.clone();
    trailing.push(0xf6);
    assert!(
        matches!(Signatures::decode(&trailing, &l), Err(Error::Signatures(ref m)) if m.contains("trailing"))
    );

    // keyid and sig swapped in the map: valid CBOR, wrong form.
    let v = Value::Array(vec![Value::Map(vec![
        (Value::Text("sig".into()), Value::Bytes(vec![1; 8])),
        (Value::Text("keyid".into()), Value::Text(a.clone())),
    ])]);
    assert!(matches!(
        Signatures::decode(&to_bytes(&v), &l),
        Err(Error::NonCanonical)
    ));

    let unknown = Value::Array(vec![Value::Map(vec![
        (Value::Text("keyid".into()), Value::Text(a.clone())),
        (Value::Text("sig".into()), Value::Bytes(vec![1; 8])),
        (Value::Text("alg".into()), Value::Text("ed25519".into())),
    ])]);
    assert!(
        matches!(Signatures::decode(&to_bytes(&unknown), &l), Err(Error::Signatures(ref m)) if m.contains("unknown field"))
    );
}

#[test]
fn the_reader_applies_the_same_rules() {
    let parts = Parts::sample();
    let mut b = parts.manifest_bytes.clone();
    b.push(0);
    let mut head = entry_tar(MANIFEST_PATH, &b, 0o644);
    head.extend(entry_tar(SIGNATURES_PATH, &parts.sig_bytes, 0o644));
    head.extend(parts.meta_tar());
    assert!(matches!(
        read_err(bundle_of(&head, &parts.payload())),
        Error::Manifest(_)
    ));

    let dup = Signatures(vec![
        sample_signatures().0[0].clone(),
        sample_signatures().0[0].clone(),
    ])
    .encode();
    let mut head = entry_tar(MANIFEST_PATH, &parts.manifest_bytes, 0o644);
    head.extend(entry_tar(SIGNATURES_PATH, &dup, 0o644));
    head.extend(parts.meta_tar());
    assert!(matches!(
        read_err(bundle_of(&head, &parts.payload())),
        Error::DuplicateSignature { .. }
    ));
}
