//! `root.json` as the TUF specification defines it, parsed once into a
//! checked [`Root`]. Signatures are verified over the canonical JSON of the
//! raw `signed` object, so unknown fields stay covered by them.
use std::collections::{BTreeMap, BTreeSet};

use airlock_hsm::{PublicKey, Signer};

use crate::json::Json;
use crate::keys::{KeyObject, Tally, key_object, keyid, obj, tally};
use crate::timefmt::{format_utc, parse_utc};

/// The largest root airlock reads (python-tuf's limit is 512000 bytes).
pub const MAX_ROOT_BYTES: usize = 512 * 1024;
/// The most rotations applied in one verification (as python-tuf).
pub const MAX_ROTATIONS: usize = 256;
/// The `spec_version` airlock writes.
pub const SPEC_VERSION: &str = "1.0.31";
const ROLE_NAMES: [&str; 4] = ["root", "snapshot", "targets", "timestamp"];

/// Why root metadata was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RootError {
    /// Not a well-formed root.
    #[error("root metadata is malformed: {0}")]
    Malformed(String),
    /// Over [`MAX_ROOT_BYTES`].
    #[error("root metadata is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Too few valid signatures.
    #[error(
        "root version {version} is signed by {counted} of the {threshold} root keys of version {by_version} it needs"
    )]
    Threshold {
        /// The root being checked.
        version: u64,
        /// The root whose root role is counted.
        by_version: u64,
        /// Distinct valid signers.
        counted: usize,
        /// Required.
        threshold: u64,
    },
    /// A rotation that does not advance by exactly one.
    #[error(
        "root version {found} cannot follow version {trusted}: rotations advance by exactly one"
    )]
    VersionSkip {
        /// The trusted version.
        trusted: u64,
        /// The version offered.
        found: u64,
    },
    /// Too many rotations in one verification.
    #[error("more than {MAX_ROTATIONS} root rotations")]
    TooManyRotations,
    /// The final root has expired.
    #[error("root version {version} expired at {}", format_utc(*expires))]
    Expired {
        /// The version.
        version: u64,
        /// Its expiry.
        expires: u64,
    },
}

impl RootError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RootError::Malformed(_) => "root-malformed",
            RootError::TooLarge { .. } => "root-too-large",
            RootError::Threshold { .. } => "root-threshold",
            RootError::VersionSkip { .. } => "root-version",
            RootError::TooManyRotations => "root-too-many-rotations",
            RootError::Expired { .. } => "root-expired",
        }
    }
}

/// A role: the keyids allowed to sign for it and how many must.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    /// Authorized keyids, unique.
    pub keyids: Vec<String>,
    /// Threshold, at least 1.
    pub threshold: u64,
}

/// One signature on a root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootSignature {
    /// The keyid as stored.
    pub keyid: String,
    /// The raw signature bytes.
    pub sig: Vec<u8>,
}

/// A parsed, structurally checked root (signatures not yet counted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    /// `signed.version`, at least 1.
    pub version: u64,
    /// `signed.expires` in unix seconds.
    pub expires: u64,
    /// `signed.keys`.
    pub keys: BTreeMap<String, KeyObject>,
    /// The root role.
    pub root: Role,
    /// The targets role: the keys that sign bundle manifests.
    pub targets: Role,
    /// The signatures, in file order.
    pub signatures: Vec<RootSignature>,
    /// The canonical JSON of the raw `signed` object: what signatures cover.
    pub canonical_signed: Vec<u8>,
}

fn malformed(msg: impl Into<String>) -> RootError {
    RootError::Malformed(msg.into())
}

impl Root {
    /// Parses `bytes` as a root.
    pub fn parse(bytes: &[u8]) -> Result<Root, RootError> {
        if bytes.len() > MAX_ROOT_BYTES {
            return Err(RootError::TooLarge {
                size: bytes.len(),
                limit: MAX_ROOT_BYTES,
            });
        }
        let doc = Json::parse(bytes).map_err(|e| malformed(e.0))?;
        let top = doc.as_obj().ok_or_else(|| malformed("not a JSON object"))?;
        if let Some(extra) = top.keys().find(|k| *k != "signed" && *k != "signatures") {
            return Err(malformed(format!(
                "unknown top-level field {}",
                crate::excerpt(extra)
            )));
        }
        let signed = top
            .get("signed")
            .ok_or_else(|| malformed("no signed object"))?;
        let s = signed
            .as_obj()
            .ok_or_else(|| malformed("signed is not an object"))?;
        if get_str(s, "_type")? != "root" {
            return Err(malformed("_type is not \"root\""));
        }
        let spec = get_str(s, "spec_version")?;
        let mut parts = spec.split('.');
        if parts.next() != Some("1")
            || parts.clone().count() != 2
            || !parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(malformed(format!(
                "unsupported spec_version {}",
                crate::excerpt(spec)
            )));
        }
        match s.get("consistent_snapshot") {
            Some(Json::Bool(_)) | None => {}
            Some(_) => return Err(malformed("consistent_snapshot must be a boolean")),
        }
        let version = match s.get("version") {
            Some(Json::Int(v)) if *v >= 1 => {
                u64::try_from(*v).map_err(|_| malformed("version too large"))?
            }
            Some(Json::Int(_)) => return Err(malformed("version must be at least 1")),
            _ => return Err(malformed("version must be an integer")),
        };
        let expires =
            parse_utc(get_str(s, "expires")?).map_err(|e| malformed(format!("expires: {e}")))?;
        let mut keys = BTreeMap::new();
        for (id, k) in s
            .get("keys")
            .and_then(Json::as_obj)
            .ok_or_else(|| malformed("keys must be an object"))?
        {
            let key = KeyObject::parse(k)
                .map_err(|e| malformed(format!("key {}: {e}", crate::excerpt(id))))?;
            keys.insert(id.clone(), key);
        }
        let roles = s
            .get("roles")
            .and_then(Json::as_obj)
            .ok_or_else(|| malformed("roles must be an object"))?;
        if roles.len() != ROLE_NAMES.len() || !ROLE_NAMES.iter().all(|r| roles.contains_key(*r)) {
            return Err(malformed(
                "roles must be exactly root, snapshot, targets and timestamp",
            ));
        }
        let mut parsed = BTreeMap::new();
        for name in ROLE_NAMES {
            parsed.insert(name, parse_role(name, &roles[name])?);
        }
        let signatures = parse_signatures(top.get("signatures"))?;
        let take = |parsed: &mut BTreeMap<&str, Role>, name| {
            parsed.remove(name).ok_or_else(|| malformed("role missing"))
        };
        Ok(Root {
            version,
            expires,
            keys,
            root: take(&mut parsed, "root")?,
            targets: take(&mut parsed, "targets")?,
            signatures,
            canonical_signed: signed.canonical(),
        })
    }

    /// Counts this root's signatures against the root role of `by` (itself
    /// for a self-check, the previous root for a rotation).
    pub fn tally_by(&self, by: &Root) -> Tally {
        tally(
            &by.root.keyids,
            by.root.threshold,
            &by.keys,
            self.signatures
                .iter()
                .map(|s| (s.keyid.as_str(), s.sig.as_slice())),
            &self.canonical_signed,
        )
    }

    /// Requires a threshold of signatures by `by`'s root role.
    pub fn check_signed_by(&self, by: &Root) -> Result<(), RootError> {
        let t = self.tally_by(by);
        if t.met() {
            Ok(())
        } else {
            Err(RootError::Threshold {
                version: self.version,
                by_version: by.version,
                counted: t.counted.len(),
                threshold: t.threshold,
            })
        }
    }

    /// Requires that the root is not expired at `time` (expired when
    /// `expires <= time`).
    pub fn check_unexpired(&self, time: u64) -> Result<(), RootError> {
        if self.expires <= time {
            Err(RootError::Expired {
                version: self.version,
                expires: self.expires,
            })
        } else {
            Ok(())
        }
    }
}

fn get_str<'a>(m: &'a BTreeMap<String, Json>, field: &str) -> Result<&'a str, RootError> {
    m.get(field)
        .and_then(Json::as_str)
        .ok_or_else(|| malformed(format!("{field} must be a string")))
}

fn parse_role(name: &str, json: &Json) -> Result<Role, RootError> {
    let m = json
        .as_obj()
        .ok_or_else(|| malformed(format!("role {name} must be an object")))?;
    let threshold = match m.get("threshold") {
        Some(Json::Int(t)) if *t >= 1 => {
            u64::try_from(*t).map_err(|_| malformed("threshold too large"))?
        }
        _ => {
            return Err(malformed(format!(
                "role {name}: threshold must be an integer of at least 1"
            )));
        }
    };
    let Some(Json::Arr(ids)) = m.get("keyids") else {
        return Err(malformed(format!("role {name}: keyids must be an array")));
    };
    let mut keyids = Vec::new();
    let mut seen = BTreeSet::new();
    for id in ids {
        let id = id
            .as_str()
            .ok_or_else(|| malformed(format!("role {name}: keyids must be strings")))?;
        if !seen.insert(id) {
            return Err(malformed(format!(
                "role {name}: duplicate keyid {}",
                crate::excerpt(id)
            )));
        }
        keyids.push(id.to_owned());
    }
    Ok(Role { keyids, threshold })
}

fn parse_signatures(json: Option<&Json>) -> Result<Vec<RootSignature>, RootError> {
    let Some(Json::Arr(items)) = json else {
        return Err(malformed("signatures must be an array"));
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for item in items {
        let m = item
            .as_obj()
            .ok_or_else(|| malformed("a signature must be an object"))?;
        let keyid = get_str(m, "keyid")?;
        let sig =
            hex::decode(get_str(m, "sig")?).map_err(|_| malformed("signature sig must be hex"))?;
        if !seen.insert(keyid.to_owned()) {
            return Err(malformed(format!(
                "duplicate signature keyid {}",
                crate::excerpt(keyid)
            )));
        }
        out.push(RootSignature {
            keyid: keyid.to_owned(),
            sig,
        });
    }
    Ok(out)
}

/// Applies carried roots to a trusted one, one at a time and in version
/// order (TUF specification 5.3), keeping only the current root: roots at or
/// below the trusted version are skipped; every other must be exactly
/// current+1, signed by a threshold of the current root's root keys and of
/// its own. Only the final root must be unexpired.
#[derive(Debug)]
pub struct RootChain {
    trusted_version: u64,
    current: Root,
    current_bytes: Option<Vec<u8>>,
    rotations: usize,
}

impl RootChain {
    /// Starts from the trusted root.
    pub fn new(trusted: Root) -> RootChain {
        RootChain {
            trusted_version: trusted.version,
            current: trusted,
            current_bytes: None,
            rotations: 0,
        }
    }

    /// Offers the next carried root (with its exact bytes).
    pub fn offer(&mut self, next: Root, bytes: Vec<u8>) -> Result<(), RootError> {
        if next.version <= self.trusted_version {
            return Ok(());
        }
        if next.version != self.current.version + 1 {
            return Err(RootError::VersionSkip {
                trusted: self.current.version,
                found: next.version,
            });
        }
        self.rotations += 1;
        if self.rotations > MAX_ROTATIONS {
            return Err(RootError::TooManyRotations);
        }
        next.check_signed_by(&self.current)?;
        next.check_signed_by(&next)?;
        self.current = next;
        self.current_bytes = Some(bytes);
        Ok(())
    }

    /// The final root, unexpired at `time`, and its bytes when it is newer
    /// than the trusted one.
    pub fn finish(self, time: u64) -> Result<(Root, Option<Vec<u8>>), RootError> {
        self.current.check_unexpired(time)?;
        Ok((self.current, self.current_bytes))
    }
}

/// Applies `carried` roots (in any order) to `trusted`; see [`RootChain`].
pub fn apply_chain(trusted: &Root, carried: &[Root], time: u64) -> Result<Root, RootError> {
    let mut newer: Vec<&Root> = carried.iter().collect();
    newer.sort_by_key(|r| r.version);
    let mut chain = RootChain::new(trusted.clone());
    for r in newer {
        chain.offer(r.clone(), Vec::new())?;
    }
    Ok(chain.finish(time)?.0)
}

/// The `signed` object of a new root: `root_keys` and `targets_keys` with
/// their thresholds; snapshot and timestamp (unused by airlock, required by
/// TUF) are given the targets keys.
pub fn build_root(
    version: u64,
    expires: u64,
    root_keys: &[PublicKey],
    root_threshold: u64,
    targets_keys: &[PublicKey],
    targets_threshold: u64,
) -> Json {
    let mut keys = BTreeMap::new();
    let mut ids = |list: &[PublicKey]| -> Vec<Json> {
        let mut out: Vec<String> = Vec::new();
        for pk in list {
            let id = keyid(pk);
            keys.insert(id.clone(), key_object(pk));
            if !out.contains(&id) {
                out.push(id);
            }
        }
        out.into_iter().map(Json::Str).collect()
    };
    let root_ids = ids(root_keys);
    let targets_ids = ids(targets_keys);
    let role = |ids: &Vec<Json>, t: u64| {
        obj([
            ("keyids", Json::Arr(ids.clone())),
            ("threshold", Json::Int(t.into())),
        ])
    };
    obj([
        ("_type", Json::Str("root".into())),
        ("spec_version", Json::Str(SPEC_VERSION.into())),
        ("consistent_snapshot", Json::Bool(false)),
        ("version", Json::Int(version.into())),
        ("expires", Json::Str(format_utc(expires))),
        ("keys", Json::Obj(keys)),
        (
            "roles",
            obj([
                ("root", role(&root_ids, root_threshold)),
                ("snapshot", role(&targets_ids, targets_threshold)),
                ("targets", role(&targets_ids, targets_threshold)),
                ("timestamp", role(&targets_ids, targets_threshold)),
            ]),
        ),
    ])
}

/// Adds (or replaces) `signer`'s signature on a root document
/// (`{"signed":…,"signatures":[…]}`), signing the canonical `signed` object.
pub fn sign_root_document(
    doc: &mut Json,
    signer: &dyn Signer,
) -> Result<String, crate::error::Error> {
    let Json::Obj(top) = doc else {
        return Err(crate::error::Error::from(malformed("not a JSON object")));
    };
    let signed = top
        .get("signed")
        .ok_or_else(|| malformed("no signed object"))?;
    let sig = signer.sign(&signed.canonical())?;
    let id = keyid(signer.public_key());
    let entry = obj([
        ("keyid", Json::Str(id.clone())),
        ("sig", Json::Str(hex::encode(sig))),
    ]);
    let sigs = top
        .entry("signatures".to_owned())
        .or_insert_with(|| Json::Arr(Vec::new()));
    let Json::Arr(list) = sigs else {
        return Err(crate::error::Error::from(malformed(
            "signatures must be an array",
        )));
    };
    list.retain(|s| {
        s.as_obj()
            .and_then(|m| m.get("keyid"))
            .and_then(Json::as_str)
            != Some(id.as_str())
    });
    list.push(entry);
    Ok(id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use airlock_hsm::FileSigner;

    fn signer(n: u8) -> FileSigner {
        FileSigner::from_seed(&[n; 32])
    }

    fn make(version: u64, root: &[&FileSigner], threshold: u64, sign: &[&FileSigner]) -> Vec<u8> {
        let pks: Vec<_> = root.iter().map(|s| s.public_key().clone()).collect();
        let signed = build_root(version, 4_000_000_000, &pks, threshold, &pks[..1], 1);
        let mut doc = obj([("signed", signed), ("signatures", Json::Arr(vec![]))]);
        for s in sign {
            sign_root_document(&mut doc, *s).unwrap();
        }
        doc.to_pretty().into_bytes()
    }

    #[test]
    fn self_signed_root() {
        let (a, b) = (signer(1), signer(2));
        let r = Root::parse(&make(1, &[&a, &b], 2, &[&a, &b])).unwrap();
        r.check_signed_by(&r).unwrap();
        let r = Root::parse(&make(1, &[&a, &b], 2, &[&a])).unwrap();
        assert_eq!(
            r.check_signed_by(&r),
            Err(RootError::Threshold {
                version: 1,
                by_version: 1,
                counted: 1,
                threshold: 2
            })
        );
    }

    #[test]
    fn rotation_rules() {
        let (a, b) = (signer(1), signer(2));
        let r1 = Root::parse(&make(1, &[&a], 1, &[&a])).unwrap();
        let r2 = Root::parse(&make(2, &[&b], 1, &[&a, &b])).unwrap();
        assert_eq!(
            apply_chain(&r1, std::slice::from_ref(&r2), 0)
                .unwrap()
                .version,
            2
        );
        let r2_new_only = Root::parse(&make(2, &[&b], 1, &[&b])).unwrap();
        assert!(matches!(
            apply_chain(&r1, &[r2_new_only], 0),
            Err(RootError::Threshold { by_version: 1, .. })
        ));
        let r3 = Root::parse(&make(3, &[&b], 1, &[&b])).unwrap();
        assert_eq!(
            apply_chain(&r1, &[r3], 0),
            Err(RootError::VersionSkip {
                trusted: 1,
                found: 3
            })
        );
        assert!(matches!(
            apply_chain(&r1, &[], 4_000_000_000),
            Err(RootError::Expired { .. })
        ));
    }

    #[test]
    fn unknown_fields_are_signed() {
        let a = signer(1);
        let bytes = make(1, &[&a], 1, &[&a]);
        let mut doc = Json::parse(&bytes).unwrap();
        if let Json::Obj(top) = &mut doc
            && let Some(Json::Obj(s)) = top.get_mut("signed")
        {
            s.insert("x-extra".into(), Json::Int(1));
        }
        let r = Root::parse(doc.to_pretty().as_bytes()).unwrap();
        assert!(
            r.check_signed_by(&r).is_err(),
            "a field added after signing breaks the signature"
        );
    }

    #[test]
    fn structural_refusals() {
        let a = signer(1);
        let good = String::from_utf8(make(1, &[&a], 1, &[&a])).unwrap();
        for (from, to) in [
            ("\"version\": 1", "\"version\": 0"),
            ("\"threshold\": 1", "\"threshold\": 0"),
            ("\"_type\": \"root\"", "\"_type\": \"targets\""),
            ("Z\"", "+00:00\""),
            ("\"1.0.31\"", "\"1.+0.31\""),
        ] {
            let bad = good.replacen(from, to, 1);
            assert_ne!(bad, good, "{from}");
            assert!(
                matches!(Root::parse(bad.as_bytes()), Err(RootError::Malformed(_))),
                "{to}"
            );
        }
    }
}
