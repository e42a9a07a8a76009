//! `root.json` as the TUF specification defines it, parsed once into a
//! checked [`Root`]. Signatures are verified over the canonical JSON of the
//! raw `signed` object, so unknown fields stay covered by them.
use std::collections::{BTreeMap, BTreeSet};

use airlock_hsm::{PublicKey, Signer};

use crate::json::Json;
use crate::keys::{KeyObject, Tally, key_object, keyid, obj, tally};
use crate::timefmt::{format_utc, parse_utc};

/// The largest root airlock reads: python-tuf's `root_max_length`, 512000
/// bytes (500 KiB), so a root the reference client would refuse to download
/// is refused here too.
pub const MAX_ROOT_BYTES: usize = 512_000;
/// The most rotations applied in one verification (as python-tuf).
pub const MAX_ROTATIONS: usize = 256;
/// The most roots a bundle (or a volume set's first volume) may carry: the
/// chain from version 1, so the first root and [`MAX_ROTATIONS`] rotations.
/// Both the verifier and `volumes check` bound what they read by it before
/// any signature is checked.
pub const MAX_CARRIED_ROOTS: usize = MAX_ROTATIONS + 1;
/// The `spec_version` airlock writes.
pub const SPEC_VERSION: &str = "1.0.31";
const ROLE_NAMES: [&str; 4] = ["root", "snapshot", "targets", "timestamp"];
/// The field of a root's `signed` object that names the in-toto layout
/// owner: `{"keys": {KEYID: KEY}, "threshold": N}`. Only the root role can
/// change it (python-tuf keeps unrecognised fields, covered by the root
/// signatures), so a release key alone cannot bring its own layout.
pub const LAYOUT_FIELD: &str = "x-airlock-layout";
/// The (keytype, scheme) pairs securesystemslib 1.6 knows: a root holding
/// any other key is refused, as python-tuf refuses to load it. Of these,
/// airlock verifies Ed25519, ECDSA P-256/P-384, RSA-PSS-SHA256 and
/// RSA-PKCS1v15-SHA256; the others are kept but never count towards a
/// threshold.
const KNOWN_KEY_TYPES: [(&str, &str); 19] = [
    ("ecdsa", "ecdsa-sha2-nistp256"),
    ("ecdsa", "ecdsa-sha2-nistp384"),
    ("ecdsa", "ecdsa-sha2-nistp521"),
    ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256"),
    ("ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384"),
    ("ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521"),
    ("ed25519", "ed25519"),
    ("ml-dsa", "ml-dsa-44/1"),
    ("ml-dsa", "ml-dsa-65/1"),
    ("ml-dsa", "ml-dsa-87/1"),
    ("rsa", "rsassa-pss-sha256"),
    ("rsa", "rsassa-pss-sha384"),
    ("rsa", "rsassa-pss-sha512"),
    ("rsa", "rsa-pkcs1v15-sha256"),
    ("rsa", "rsa-pkcs1v15-sha384"),
    ("rsa", "rsa-pkcs1v15-sha512"),
    ("rsa", "pgp+rsa-pkcsv1.5"),
    ("dsa", "pgp+dsa-fips-180-2"),
    ("eddsa", "pgp+eddsa-ed25519"),
];

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
        "root version {version} is signed by {counted} of the {threshold} root keys of version {by_version} it needs{unverifiable}"
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
        /// The role's keys airlock cannot verify, with their key type and
        /// scheme (empty when there are none).
        unverifiable: String,
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
    /// One link of a chain of root files failed: which, and why.
    #[error("{link}: {source}")]
    Link {
        /// The link, e.g. `rotation 2 -> 3 (3.root.json)`.
        link: String,
        /// Why it failed.
        source: Box<RootError>,
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
            RootError::Link { source, .. } => source.code(),
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            RootError::Link { source, .. } => source.hint(),
            RootError::Expired { .. } => {
                "the final root has expired: it needs a newer root, made with `airlock root rotate` and signed by the old and new root keys (on the isolated side, carried in a bundle)"
            }
            RootError::Threshold { .. } => {
                "the root lacks valid signatures: a new version needs a threshold of the previous version's root keys and of its own (`airlock root sign` says which are missing); otherwise do not use it"
            }
            RootError::VersionSkip { .. } => {
                "give every root from the trusted version on, each exactly one version above the one before"
            }
            RootError::TooManyRotations => {
                "more rotations than one verification applies: provision the isolated side from a recent root (`anchor init --replace`) instead"
            }
            RootError::Malformed(_) | RootError::TooLarge { .. } => {
                "the root metadata is not trustworthy: do not use it; ask the root key holders for a correctly formed and signed root"
            }
        }
    }

    /// The same error, naming the link of the chain where it happened.
    pub fn in_link(self, link: impl Into<String>) -> RootError {
        RootError::Link {
            link: link.into(),
            source: Box::new(self),
        }
    }
}

/// The keys that may sign a bundle's in-toto layout, and how many must.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutOwner {
    /// The keys, by the keyid the root lists them under.
    pub keys: BTreeMap<String, KeyObject>,
    /// Distinct keys whose signatures a layout needs, at least 1.
    pub threshold: u64,
}

impl LayoutOwner {
    /// Whether `pk` is one of the owner's keys.
    pub fn names(&self, pk: &PublicKey) -> bool {
        self.keys.values().any(|k| k.public.as_ref() == Some(pk))
    }

    fn parse(json: &Json) -> Result<LayoutOwner, RootError> {
        let bad = |why: &str| malformed(format!("{LAYOUT_FIELD}: {why}"));
        let m = json.as_obj().ok_or_else(|| bad("not an object"))?;
        if m.keys().any(|k| k != "keys" && k != "threshold") {
            return Err(bad("only keys and threshold are allowed"));
        }
        let mut keys = BTreeMap::new();
        let mut distinct = BTreeSet::new();
        for (id, k) in m
            .get("keys")
            .and_then(Json::as_obj)
            .ok_or_else(|| bad("keys must be an object"))?
        {
            let key = KeyObject::parse(k)
                .map_err(|e| bad(&format!("key {}: {e}", crate::excerpt(id))))?;
            let Some(pk) = &key.public else {
                return Err(bad(&format!(
                    "key {}: airlock cannot verify key type {}/{}",
                    crate::excerpt(id),
                    crate::excerpt(&key.keytype),
                    crate::excerpt(&key.scheme)
                )));
            };
            distinct.insert(pk.raw_bytes());
            keys.insert(id.clone(), key);
        }
        let threshold = match m.get("threshold") {
            Some(Json::Int(t)) if *t >= 1 => {
                u64::try_from(*t).map_err(|_| bad("threshold too large"))?
            }
            _ => return Err(bad("threshold must be an integer of at least 1")),
        };
        if threshold > distinct.len() as u64 {
            return Err(bad(&format!(
                "threshold {threshold} cannot be met by {} distinct key(s)",
                distinct.len()
            )));
        }
        Ok(LayoutOwner { keys, threshold })
    }

    /// The field's JSON for `keys` and `threshold`.
    pub fn to_json(keys: &[PublicKey], threshold: u64) -> Json {
        let map = keys
            .iter()
            .map(|pk| (keyid(pk), key_object(pk)))
            .collect::<BTreeMap<_, _>>();
        obj([
            ("keys", Json::Obj(map)),
            ("threshold", Json::Int(threshold.into())),
        ])
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
    /// The in-toto layout owner ([`LAYOUT_FIELD`]), if the root names one.
    pub layout_owner: Option<LayoutOwner>,
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
        // Fields beside `signed` and `signatures` are kept (as python-tuf
        // keeps them) but never read: no signature covers them.
        let top = doc.as_obj().ok_or_else(|| malformed("not a JSON object"))?;
        let signed = top
            .get("signed")
            .ok_or_else(|| malformed("no signed object"))?;
        let s = signed
            .as_obj()
            .ok_or_else(|| malformed("signed is not an object"))?;
        if get_str(s, "_type")? != "root" {
            return Err(malformed("_type is not \"root\""));
        }
        // `1.Y.Z`, or `1.Y` (which python-tuf accepts for old metadata).
        let spec = get_str(s, "spec_version")?;
        let parts: Vec<&str> = spec.split('.').collect();
        if parts[0] != "1"
            || !(2..=3).contains(&parts.len())
            || !parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
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
            if !KNOWN_KEY_TYPES.contains(&(key.keytype.as_str(), key.scheme.as_str())) {
                return Err(malformed(format!(
                    "key {}: unknown key type and scheme {}/{}",
                    crate::excerpt(id),
                    crate::excerpt(&key.keytype),
                    crate::excerpt(&key.scheme)
                )));
            }
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
        let layout_owner = s.get(LAYOUT_FIELD).map(LayoutOwner::parse).transpose()?;
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
            layout_owner,
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
        self.check_tally(&self.tally_by(by), by)
    }

    fn check_tally(&self, t: &Tally, by: &Root) -> Result<(), RootError> {
        if t.met() {
            Ok(())
        } else {
            let unverifiable: Vec<String> = by
                .root
                .keyids
                .iter()
                .filter_map(|id| {
                    let k = by.keys.get(id)?;
                    k.public.is_none().then(|| {
                        format!(
                            "{} (keytype {}, scheme {})",
                            crate::excerpt(id),
                            crate::excerpt(&k.keytype),
                            crate::excerpt(&k.scheme)
                        )
                    })
                })
                .collect();
            Err(RootError::Threshold {
                version: self.version,
                by_version: by.version,
                counted: t.counted.len(),
                threshold: t.threshold,
                unverifiable: if unverifiable.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; airlock cannot verify signatures of root key(s) {}",
                        unverifiable.join(", ")
                    )
                },
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

/// Applies newer roots to a trusted one, one at a time and in version
/// order (TUF specification 5.3), keeping only the current root: each must be
/// exactly current+1, signed by a threshold of the current root's root keys
/// and of its own. Only the final root must be unexpired.
#[derive(Debug)]
pub struct RootChain {
    trusted_version: u64,
    current: Root,
    current_bytes: Option<Vec<u8>>,
    rotations: usize,
}

/// How one rotation was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationTally {
    /// The version rotated from.
    pub from: u64,
    /// The version rotated to.
    pub to: u64,
    /// Signatures counted against the previous root's root role.
    pub by_previous: Tally,
    /// Signatures counted against the new root's own root role.
    pub by_itself: Tally,
}

impl RootChain {
    /// Starts from the trusted root (an anchor: its own signatures are the
    /// caller's business, see [`Root::check_signed_by`]).
    pub fn new(trusted: Root) -> RootChain {
        RootChain {
            trusted_version: trusted.version,
            current: trusted,
            current_bytes: None,
            rotations: 0,
        }
    }

    /// The current (latest accepted) root.
    pub fn current(&self) -> &Root {
        &self.current
    }

    /// Offers the next root carried in a bundle (with its exact bytes):
    /// roots at or below the trusted version are history the store already
    /// holds and are skipped; any other goes through [`RootChain::advance`].
    pub fn offer(&mut self, next: Root, bytes: Vec<u8>) -> Result<(), RootError> {
        if next.version <= self.trusted_version {
            return Ok(());
        }
        self.advance(next, bytes).map(|_| ())
    }

    /// Rotates to `next`, which must be exactly the current version + 1 and
    /// signed by a threshold of the current root's root keys and of its own.
    pub fn advance(&mut self, next: Root, bytes: Vec<u8>) -> Result<RotationTally, RootError> {
        if next.version != self.current.version.saturating_add(1) {
            return Err(RootError::VersionSkip {
                trusted: self.current.version,
                found: next.version,
            });
        }
        self.rotations += 1;
        if self.rotations > MAX_ROTATIONS {
            return Err(RootError::TooManyRotations);
        }
        let by_previous = next.tally_by(&self.current);
        next.check_tally(&by_previous, &self.current)?;
        let by_itself = next.tally_by(&next);
        next.check_tally(&by_itself, &next)?;
        let tally = RotationTally {
            from: self.current.version,
            to: next.version,
            by_previous,
            by_itself,
        };
        self.current = next;
        self.current_bytes = Some(bytes);
        Ok(tally)
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
    layout: Option<(&[PublicKey], u64)>,
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
    let mut signed = obj([
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
    ]);
    if let (Some((keys, threshold)), Json::Obj(m)) = (layout, &mut signed) {
        m.insert(LAYOUT_FIELD.into(), LayoutOwner::to_json(keys, threshold));
    }
    signed
}

/// The keyids under which `roots` list `pk`, or its modern keyid when none
/// does: a root made by another tool may list a key under a legacy keyid,
/// and signatures are matched by keyid as stored.
pub fn keyids_for(pk: &PublicKey, roots: &[&Root]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for r in roots {
        for (id, k) in &r.keys {
            if k.public.as_ref() == Some(pk) && !ids.contains(id) {
                ids.push(id.clone());
            }
        }
    }
    if ids.is_empty() {
        ids.push(keyid(pk));
    }
    ids
}

/// Why a root document could not be signed: it is not a root document, or
/// the signer failed.
#[derive(Debug, thiserror::Error)]
pub enum SignRootError {
    /// The document is not a root document.
    #[error(transparent)]
    Root(#[from] RootError),
    /// The key or token did not sign.
    #[error(transparent)]
    Sign(#[from] airlock_hsm::Error),
}

/// Adds (or replaces) `signer`'s signature on a root document
/// (`{"signed":…,"signatures":[…]}`), signing the canonical `signed` object,
/// under each keyid `listing` (the document's own root, and the previous
/// version in a rotation) lists the signer's key under; returns those keyids.
pub fn sign_root_document(
    doc: &mut Json,
    signer: &dyn Signer,
    listing: &[&Root],
) -> Result<Vec<String>, SignRootError> {
    let Json::Obj(top) = doc else {
        return Err(malformed("not a JSON object").into());
    };
    let signed = top
        .get("signed")
        .ok_or_else(|| malformed("no signed object"))?;
    let ids = keyids_for(signer.public_key(), listing);
    let sig = hex::encode(signer.sign(&signed.canonical())?);
    let sigs = top
        .entry("signatures".to_owned())
        .or_insert_with(|| Json::Arr(Vec::new()));
    let Json::Arr(list) = sigs else {
        return Err(malformed("signatures must be an array").into());
    };
    list.retain(|s| {
        !s.as_obj()
            .and_then(|m| m.get("keyid"))
            .and_then(Json::as_str)
            .is_some_and(|k| ids.iter().any(|id| id == k))
    });
    for id in &ids {
        list.push(obj([
            ("keyid", Json::Str(id.clone())),
            ("sig", Json::Str(sig.clone())),
        ]));
    }
    Ok(ids)
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
        let signed = build_root(version, 4_000_000_000, &pks, threshold, &pks[..1], 1, None);
        let mut doc = obj([("signed", signed), ("signatures", Json::Arr(vec![]))]);
        for s in sign {
            sign_root_document(&mut doc, *s, &[]).unwrap();
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
                threshold: 2,
                unverifiable: String::new(),
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

    fn with_signed(bytes: &[u8], edit: impl FnOnce(&mut BTreeMap<String, Json>)) -> Json {
        let mut doc = Json::parse(bytes).unwrap();
        if let Json::Obj(top) = &mut doc
            && let Some(Json::Obj(s)) = top.get_mut("signed")
        {
            edit(s);
        }
        doc
    }

    fn resign(mut doc: Json, signers: &[&FileSigner]) -> Vec<u8> {
        if let Json::Obj(top) = &mut doc {
            top.insert("signatures".into(), Json::Arr(vec![]));
        }
        for s in signers {
            sign_root_document(&mut doc, *s, &[]).unwrap();
        }
        doc.to_pretty().into_bytes()
    }

    #[test]
    fn spec_version_major_one_with_two_or_three_parts() {
        let a = signer(1);
        let good = make(1, &[&a], 1, &[&a]);
        for (spec, ok) in [
            ("1.0.31", true),
            ("1.0", true),
            ("1.20.0", true),
            ("2.0.0", false),
            ("1", false),
            ("1.0.0.0", false),
            ("1..0", false),
            ("1.0.x", false),
            ("01.0.0", false),
            ("v1.0.0", false),
        ] {
            let doc = with_signed(&good, |s| {
                s.insert("spec_version".into(), Json::Str(spec.into()));
            });
            let parsed = Root::parse(&resign(doc, &[&a]));
            assert_eq!(parsed.is_ok(), ok, "{spec}: {parsed:?}");
        }
    }

    #[test]
    fn size_limit_is_python_tufs() {
        let a = signer(1);
        let good = make(1, &[&a], 1, &[&a]);
        // Trailing whitespace is still one JSON document.
        let mut at_limit = good.clone();
        at_limit.resize(MAX_ROOT_BYTES, b' ');
        Root::parse(&at_limit).unwrap();
        at_limit.push(b' ');
        assert_eq!(
            Root::parse(&at_limit),
            Err(RootError::TooLarge {
                size: 512_001,
                limit: 512_000
            })
        );
    }

    #[test]
    fn unknown_fields_are_kept_and_top_level_ones_ignored() {
        let a = signer(1);
        let good = make(1, &[&a], 1, &[&a]);
        let doc = with_signed(&good, |s| {
            s.insert("x-vendor".into(), obj([("n", Json::Int(1))]));
            if let Some(Json::Obj(roles)) = s.get_mut("roles")
                && let Some(Json::Obj(r)) = roles.get_mut("root")
            {
                r.insert("x-role-note".into(), Json::Str("kept".into()));
            }
        });
        let mut bytes = resign(doc, &[&a]);
        let r = Root::parse(&bytes).unwrap();
        r.check_signed_by(&r).unwrap();
        assert!(String::from_utf8_lossy(&r.canonical_signed).contains("x-role-note"));
        // Outside `signed`: kept as python-tuf keeps it, never read.
        let mut doc = Json::parse(&bytes).unwrap();
        if let Json::Obj(top) = &mut doc {
            top.insert("x-unsigned".into(), Json::Int(2));
        }
        bytes = doc.to_pretty().into_bytes();
        let r = Root::parse(&bytes).unwrap();
        r.check_signed_by(&r).unwrap();
    }

    #[test]
    fn one_key_under_two_keyids_counts_once() {
        let a = signer(1);
        let good = make(1, &[&a], 1, &[&a]);
        let id = keyid(a.public_key());
        let other = "0".repeat(64);
        let doc = with_signed(&good, |s| {
            if let Some(Json::Obj(keys)) = s.get_mut("keys") {
                let k = keys[&id].clone();
                keys.insert(other.clone(), k);
            }
            if let Some(Json::Obj(roles)) = s.get_mut("roles") {
                roles.insert(
                    "root".into(),
                    obj([
                        (
                            "keyids",
                            Json::Arr(vec![Json::Str(id.clone()), Json::Str(other.clone())]),
                        ),
                        ("threshold", Json::Int(2)),
                    ]),
                );
            }
        });
        // sign_root_document signs under every keyid the root lists the key under.
        let mut doc = resign(doc, &[]);
        let parsed = Root::parse(&doc).unwrap();
        let mut j = Json::parse(&doc).unwrap();
        let ids = sign_root_document(&mut j, &a, &[&parsed]).unwrap();
        assert_eq!(ids.len(), 2);
        doc = j.to_pretty().into_bytes();
        let r = Root::parse(&doc).unwrap();
        assert_eq!(r.signatures.len(), 2);
        assert_eq!(
            r.check_signed_by(&r),
            Err(RootError::Threshold {
                version: 1,
                by_version: 1,
                counted: 1,
                threshold: 2,
                unverifiable: String::new(),
            })
        );
    }

    #[test]
    fn advance_is_strict_and_offer_skips_history() {
        let a = signer(1);
        let r1 = Root::parse(&make(1, &[&a], 1, &[&a])).unwrap();
        let r1b = Root::parse(&make(1, &[&a], 1, &[&a])).unwrap();
        let r2 = Root::parse(&make(2, &[&a], 1, &[&a])).unwrap();
        let mut chain = RootChain::new(r1.clone());
        assert_eq!(
            chain.advance(r1b.clone(), vec![]),
            Err(RootError::VersionSkip {
                trusted: 1,
                found: 1
            })
        );
        chain.offer(r1b, vec![]).unwrap();
        let t = chain.advance(r2.clone(), vec![2]).unwrap();
        assert_eq!((t.from, t.to), (1, 2));
        assert_eq!(t.by_previous.counted, vec![keyid(a.public_key())]);
        assert_eq!(
            chain.advance(r2, vec![]),
            Err(RootError::VersionSkip {
                trusted: 2,
                found: 2
            })
        );
        let (root, bytes) = chain.finish(0).unwrap();
        assert_eq!((root.version, bytes), (2, Some(vec![2])));
    }

    #[test]
    fn at_most_256_rotations() {
        let a = signer(1);
        let mut chain = RootChain::new(Root::parse(&make(1, &[&a], 1, &[&a])).unwrap());
        for v in 2..=257 {
            chain
                .advance(Root::parse(&make(v, &[&a], 1, &[&a])).unwrap(), vec![])
                .unwrap();
        }
        assert_eq!(
            chain.advance(Root::parse(&make(258, &[&a], 1, &[&a])).unwrap(), vec![]),
            Err(RootError::TooManyRotations)
        );
    }

    #[test]
    fn errors_in_a_chain_name_the_link_and_keep_the_code() {
        let e = RootError::VersionSkip {
            trusted: 1,
            found: 3,
        }
        .in_link("rotation 1 -> 3 (3.root.json)");
        assert_eq!(e.code(), "root-version");
        assert_eq!(
            e.to_string(),
            "rotation 1 -> 3 (3.root.json): root version 3 cannot follow version 1: rotations advance by exactly one"
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
            ("Z\"", ".5Z\""),
            ("\"1.0.31\"", "\"1.+0.31\""),
            ("\"1.0.31\"", "\"2.0.0\""),
            ("\"snapshot\"", "\"mirror\""),
            (
                "\"signatures\": [",
                "\"signatures\": [{\"keyid\": \"ab\", \"sig\": \"00\"}, {\"keyid\": \"ab\", \"sig\": \"00\"},",
            ),
        ] {
            let bad = good.replacen(from, to, 1);
            assert_ne!(bad, good, "{from}");
            assert!(
                matches!(Root::parse(bad.as_bytes()), Err(RootError::Malformed(_))),
                "{to}"
            );
        }
        // A role missing, and a keyid twice in a role.
        for edit in [
            |r: &mut BTreeMap<String, Json>| {
                r.remove("timestamp");
            },
            |r: &mut BTreeMap<String, Json>| {
                let id = Json::Str("ab".into());
                r.insert(
                    "targets".into(),
                    obj([
                        ("keyids", Json::Arr(vec![id.clone(), id])),
                        ("threshold", Json::Int(1)),
                    ]),
                );
            },
        ] {
            let doc = with_signed(good.as_bytes(), |s| {
                if let Some(Json::Obj(roles)) = s.get_mut("roles") {
                    edit(roles);
                }
            });
            assert!(matches!(
                Root::parse(&resign(doc, &[&a])),
                Err(RootError::Malformed(_))
            ));
        }
    }
}
