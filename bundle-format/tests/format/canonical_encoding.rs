//! Property: for many generated manifests, encode → decode → encode is the
//! identity, and the bytes are what a generic CBOR encoder would write.

use airlock_bundle::*;

use crate::common::*;

/// A small deterministic generator (xorshift64*).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Integers around every CBOR head width boundary.
    fn int(&mut self) -> u64 {
        const EDGES: [u64; 12] = [
            0,
            1,
            23,
            24,
            255,
            256,
            65_535,
            65_536,
            4_294_967_295,
            4_294_967_296,
            u64::MAX - 1,
            u64::MAX,
        ];
        match self.below(3) {
            0 => EDGES[self.below(EDGES.len() as u64) as usize],
            1 => self.below(1000),
            _ => self.next() >> self.below(64),
        }
    }

    fn segment(&mut self) -> String {
        const ALPHABET: [&str; 12] = ["a", "z", "0", "-", "_", " ", "é", "文", "~", "+", "@", "ß"];
        let len = 1 + self.below(12);
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
            .collect()
    }

    fn keyid(&mut self) -> String {
        format!(
            "{:016x}{:016x}{:016x}{:016x}",
            self.next(),
            self.next(),
            self.next(),
            self.next()
        )
    }
}

fn generate(g: &mut Gen) -> ManifestFields {
    let n = g.below(40) as usize;
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        // The kinds of format 1 (image content is generated in images.rs).
        let kind = [
            EntryKind::Root,
            EntryKind::Layout,
            EntryKind::LayoutKey,
            EntryKind::Link,
            EntryKind::Attestation,
            EntryKind::Artifact,
        ][g.below(6) as usize];
        // Intermediate components never end in `.f`, leaves always do, and
        // the index makes leaves unique: no duplicates, no conflicts.
        let depth = g.below(4);
        let mut path = String::new();
        for _ in 0..depth {
            path.push_str(&g.segment());
            path.push('/');
        }
        path.push_str(&format!("{i}.f"));
        let mut sha256 = [0u8; 32];
        for b in sha256.iter_mut() {
            *b = g.next() as u8;
        }
        let size = if kind.is_metadata() {
            g.int() % (32 << 20)
        } else {
            g.int() % (1 << 36)
        };
        entries.push(Entry {
            kind,
            path: bp(&path),
            size,
            sha256,
            mode: (g.next() % 0o10000) as u32,
        });
    }
    let mut keyids: Vec<String> = (0..g.below(5)).map(|_| g.keyid()).collect();
    keyids.sort();
    keyids.dedup();
    let created = g.int() % (u64::MAX - 1);
    // Segments may end in a space (not portable): those manifests, and a
    // random half of the others, are POSIX-only.
    let portable = entries
        .iter()
        .all(|e| check_portable(e.path.as_str()).is_ok());
    let names = if portable && g.below(2) == 0 {
        NameRule::Portable
    } else {
        NameRule::PosixOnly
    };
    let mut payload_sha256 = [0u8; 32];
    for b in payload_sha256.iter_mut() {
        *b = g.next() as u8;
    }
    ManifestFields {
        payload_sha256,
        channel: ["stable", "beta.1", "Ch_2-x", &"c".repeat(64)][g.below(4) as usize].to_owned(),
        sequence: g.int(),
        created,
        expires: created + 1 + g.below(1 << 40).min(u64::MAX - created - 1),
        supply_chain: SupplyChain {
            layout_keyids: keyids,
            product_step: if g.below(2) == 0 {
                None
            } else {
                Some(g.segment())
            },
        },
        images: Vec::new(),
        entries,
        names,
        // Directed to 0 to 3 enclaves (ids in any order; `new` sorts them).
        enclaves: (0..g.below(4)).map(|_| g.keyid()).collect(),
    }
}

#[test]
fn generated_manifests_round_trip_byte_for_byte() {
    let mut g = Gen(0x0123_4567_89ab_cdef);
    let l = lim();
    for round in 0..500 {
        let m =
            Manifest::new(generate(&mut g), &l).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let bytes = m.encode();
        let d = Manifest::decode(&bytes, &l).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(d, m, "round {round}");
        assert_eq!(d.encode(), bytes, "round {round}");
        // A generic CBOR decoder/encoder pair reproduces the bytes: the
        // encoding uses nothing but definite lengths and shortest heads.
        let v: ciborium::Value = ciborium::from_reader(&bytes[..]).unwrap();
        let mut again = Vec::new();
        ciborium::into_writer(&v, &mut again).unwrap();
        assert_eq!(again, bytes, "round {round}");
    }
}

#[test]
fn generated_signatures_round_trip_byte_for_byte() {
    let mut g = Gen(42);
    let l = lim();
    for _ in 0..200 {
        let n = g.below(33);
        let mut sigs: Vec<ManifestSignature> = (0..n)
            .map(|_| ManifestSignature {
                keyid: g.keyid(),
                sig: (0..1 + g.below(1024)).map(|_| g.next() as u8).collect(),
            })
            .collect();
        let bytes = Signatures(sigs.clone()).encode();
        let d = Signatures::decode(&bytes, &l).unwrap();
        sigs.sort_by(|a, b| a.keyid.cmp(&b.keyid));
        assert_eq!(d.0, sigs);
        assert_eq!(d.encode(), bytes);
    }
}

#[test]
fn generated_deltas_round_trip_byte_for_byte() {
    // Half the generated artifacts move to the base (SPEC.md 5.7): the
    // carried list and the base list together are the generated release.
    let mut g = Gen(0x00de_17a0);
    let l = lim();
    let mut made = 0;
    for round in 0..300 {
        let mut fields = generate(&mut g);
        if fields.sequence == 0 {
            continue;
        }
        let (mut taken, mut kept) = (Vec::new(), Vec::new());
        for e in fields.entries.drain(..) {
            if e.kind == EntryKind::Artifact && g.below(2) == 0 {
                taken.push(e);
            } else {
                kept.push(e);
            }
        }
        if taken.is_empty() {
            continue;
        }
        fields.entries = kept;
        let base = Base {
            bundle_id: format!("{:016x}{:016x}", g.next(), g.next()),
            sequence: g.int() % fields.sequence,
            entries: taken,
        };
        let m =
            Manifest::new_delta(fields, base, &l).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let bytes = m.encode();
        let d = Manifest::decode(&bytes, &l).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(d, m, "round {round}");
        assert_eq!(d.encode(), bytes, "round {round}");
        let v: ciborium::Value = ciborium::from_reader(&bytes[..]).unwrap();
        let mut again = Vec::new();
        ciborium::into_writer(&v, &mut again).unwrap();
        assert_eq!(again, bytes, "round {round}");
        made += 1;
    }
    assert!(made > 50, "{made}");
}
