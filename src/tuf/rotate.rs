//! Root version N+1 from version N (`root rotate`): the raw `signed` object
//! of N is copied — other roles and fields airlock does not know included —
//! and only the version, the expiry, the root and targets roles and the keys
//! they need are changed.
use std::collections::{BTreeMap, BTreeSet};

use airlock_hsm::PublicKey;

use crate::json::Json;
use crate::keys::{key_object, keyid};
use crate::timefmt::format_utc;
use crate::tuf::root::{Role, Root};

/// What changes from version N to N+1.
#[derive(Debug, Clone, Default)]
pub struct Rotation {
    /// Keys added to the root role.
    pub add_root: Vec<PublicKey>,
    /// Keyids removed from the root role (as N lists them).
    pub remove_root: Vec<String>,
    /// The root role's new threshold (default: unchanged).
    pub root_threshold: Option<u64>,
    /// The targets role's new keys (default: unchanged).
    pub targets: Option<Vec<PublicKey>>,
    /// The targets role's new threshold (default: unchanged).
    pub targets_threshold: Option<u64>,
    /// The in-toto layout owner's new keys and threshold (default:
    /// unchanged).
    pub layout: Option<(Vec<PublicKey>, u64)>,
    /// The new expiry (unix seconds).
    pub expires: u64,
}

/// The new root's `signed` object and what changed.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The `signed` object of version N+1.
    pub signed: Json,
    /// Keyids added to the root role.
    pub added: Vec<String>,
    /// Keyids removed from the root role.
    pub removed: Vec<String>,
    /// Roles that follow the targets keys (snapshot and timestamp, when N
    /// gave them exactly the targets keys, as `root init` does).
    pub followers: Vec<&'static str>,
}

/// A rotation the operator asked for that cannot be made (the binary's
/// `usage`, exit 2): the message, and what to ask for instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RotateError {
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
}

fn usage(message: impl Into<String>, hint: impl Into<String>) -> RotateError {
    RotateError {
        message: message.into(),
        hint: hint.into(),
    }
}

/// The keyid under which `prev` lists `pk` (any role), if it does.
fn listed_keyid(prev: &Root, pk: &PublicKey) -> Option<String> {
    prev.keys
        .iter()
        .find(|(_, k)| k.public.as_ref() == Some(pk))
        .map(|(id, _)| id.clone())
}

/// The keyids of `prev`'s root role under which `pk` is listed.
pub fn root_keyids_of(prev: &Root, pk: &PublicKey) -> Vec<String> {
    prev.root
        .keyids
        .iter()
        .filter(|id| prev.keys.get(*id).and_then(|k| k.public.as_ref()) == Some(pk))
        .cloned()
        .collect()
}

/// Distinct usable public keys among `keyids`.
fn distinct_keys(keyids: &[String], keys: &BTreeMap<String, Json>, prev: &Root) -> usize {
    let mut seen = BTreeSet::new();
    for id in keyids {
        // Keys of N keep their parsed form; added keys are parsed afresh.
        let pk = prev
            .keys
            .get(id)
            .and_then(|k| k.public.clone())
            .or_else(|| {
                keys.get(id)
                    .and_then(|j| crate::keys::KeyObject::parse(j).ok())
                    .and_then(|k| k.public)
            });
        if let Some(pk) = pk {
            seen.insert(pk.raw_bytes());
        }
    }
    seen.len()
}

fn check_threshold(role: &str, threshold: u64, usable: usize) -> Result<(), RotateError> {
    if threshold == 0 || threshold > usable as u64 {
        return Err(usage(
            format!(
                "the {role} role would need {threshold} signatures but has {usable} distinct usable key(s)"
            ),
            format!("give --{role}-threshold between 1 and the number of {role} keys"),
        ));
    }
    Ok(())
}

fn set_role(roles: &mut BTreeMap<String, Json>, name: &str, role: &Role) {
    let entry = roles
        .entry(name.to_owned())
        .or_insert_with(|| Json::Obj(BTreeMap::new()));
    if let Json::Obj(m) = entry {
        m.insert(
            "keyids".into(),
            Json::Arr(role.keyids.iter().cloned().map(Json::Str).collect()),
        );
        m.insert("threshold".into(), Json::Int(role.threshold.into()));
    }
}

fn role_of(roles: &BTreeMap<String, Json>, name: &str) -> Option<Role> {
    let m = roles.get(name)?.as_obj()?;
    let Some(Json::Arr(ids)) = m.get("keyids") else {
        return None;
    };
    let threshold = match m.get("threshold") {
        Some(Json::Int(t)) => u64::try_from(*t).ok()?,
        _ => return None,
    };
    Some(Role {
        keyids: ids
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        threshold,
    })
}

/// Makes version N+1 of `prev` (whose raw `signed` object is `prev_signed`).
pub fn rotate(prev_signed: &Json, prev: &Root, change: &Rotation) -> Result<Rotated, RotateError> {
    let Json::Obj(mut signed) = prev_signed.clone() else {
        return Err(usage(
            "the --from root has no signed object",
            "give a root.json",
        ));
    };
    let version = prev.version.checked_add(1).ok_or_else(|| {
        usage(
            "the --from root's version cannot be incremented",
            "start from a root with a smaller version",
        )
    })?;
    let mut keys: BTreeMap<String, Json> = match signed.get("keys") {
        Some(Json::Obj(m)) => m.clone(),
        _ => BTreeMap::new(),
    };
    let mut roles: BTreeMap<String, Json> = match signed.get("roles") {
        Some(Json::Obj(m)) => m.clone(),
        _ => BTreeMap::new(),
    };

    // The root role.
    let mut root = prev.root.clone();
    let mut removed = Vec::new();
    for id in &change.remove_root {
        let Some(pos) = root.keyids.iter().position(|k| k == id) else {
            return Err(usage(
                format!(
                    "{} is not a root key of version {}",
                    crate::excerpt(id),
                    prev.version
                ),
                format!(
                    "--remove-root-key takes a keyid of the root role or its .pub file; the root keys are {}",
                    prev.root.keyids.join(", ")
                ),
            ));
        };
        removed.push(root.keyids.remove(pos));
    }
    let mut added = Vec::new();
    for pk in &change.add_root {
        if let Some(id) = root
            .keyids
            .iter()
            .find(|id| prev.keys.get(*id).and_then(|k| k.public.as_ref()) == Some(pk))
        {
            return Err(usage(
                format!("the key {} is already a root key", keyid(pk)),
                format!("it is listed as {id}; give only new keys to --add-root-key"),
            ));
        }
        let id = listed_keyid(prev, pk).unwrap_or_else(|| keyid(pk));
        if root.keyids.contains(&id) {
            continue;
        }
        keys.entry(id.clone()).or_insert_with(|| key_object(pk));
        root.keyids.push(id.clone());
        added.push(id);
    }
    if let Some(t) = change.root_threshold {
        root.threshold = t;
    }
    if root.keyids.is_empty() {
        return Err(usage(
            "the new root role would have no keys",
            "keep or add at least as many root keys as the threshold",
        ));
    }
    check_threshold(
        "root",
        root.threshold,
        distinct_keys(&root.keyids, &keys, prev),
    )?;
    set_role(&mut roles, "root", &root);

    // The targets role, and the roles that follow it.
    let mut followers = Vec::new();
    if change.targets.is_some() || change.targets_threshold.is_some() {
        let old: BTreeSet<&String> = prev.targets.keyids.iter().collect();
        let mut targets = prev.targets.clone();
        if let Some(list) = &change.targets {
            let mut ids: Vec<String> = Vec::new();
            let mut seen = BTreeSet::new();
            for pk in list {
                if !seen.insert(pk.raw_bytes()) {
                    continue;
                }
                let id = listed_keyid(prev, pk).unwrap_or_else(|| keyid(pk));
                keys.entry(id.clone()).or_insert_with(|| key_object(pk));
                ids.push(id);
            }
            targets.keyids = ids;
        }
        if let Some(t) = change.targets_threshold {
            targets.threshold = t;
        }
        check_threshold(
            "targets",
            targets.threshold,
            distinct_keys(&targets.keyids, &keys, prev),
        )?;
        set_role(&mut roles, "targets", &targets);
        for name in ["snapshot", "timestamp"] {
            if let Some(r) = role_of(&roles, name)
                && r.keyids.iter().collect::<BTreeSet<_>>() == old
            {
                set_role(&mut roles, name, &targets);
                followers.push(name);
            }
        }
    }

    // Keys no role uses any more are dropped.
    let used: BTreeSet<String> = ["root", "snapshot", "targets", "timestamp"]
        .iter()
        .filter_map(|r| role_of(&roles, r))
        .flat_map(|r| r.keyids)
        .collect();
    keys.retain(|id, _| used.contains(id));

    if let Some((keys, threshold)) = &change.layout {
        signed.insert(
            crate::tuf::root::LAYOUT_FIELD.into(),
            crate::tuf::root::LayoutOwner::to_json(keys, *threshold),
        );
    }
    signed.insert("version".into(), Json::Int(version.into()));
    signed.insert("expires".into(), Json::Str(format_utc(change.expires)));
    signed.insert("keys".into(), Json::Obj(keys));
    signed.insert("roles".into(), Json::Obj(roles));
    Ok(Rotated {
        signed: Json::Obj(signed),
        added,
        removed,
        followers,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::keys::obj;
    use crate::tuf::root::{build_root, sign_root_document};
    use airlock_hsm::{FileSigner, Signer};

    fn signer(n: u8) -> FileSigner {
        FileSigner::from_seed(&[n; 32])
    }

    fn pk(n: u8) -> PublicKey {
        signer(n).public_key().clone()
    }

    /// Version 1: root keys 1, 2, 3 (2 of 3), targets key 9; `x-vendor` unknown field.
    fn v1() -> (Json, Root) {
        let mut signed = build_root(
            1,
            4_000_000_000,
            &[pk(1), pk(2), pk(3)],
            2,
            &[pk(9)],
            1,
            None,
        );
        if let Json::Obj(m) = &mut signed {
            m.insert("x-vendor".into(), Json::Str("kept".into()));
        }
        let mut doc = obj([
            ("signed", signed.clone()),
            ("signatures", Json::Arr(vec![])),
        ]);
        sign_root_document(&mut doc, &signer(1), &[]).unwrap();
        sign_root_document(&mut doc, &signer(2), &[]).unwrap();
        (signed, Root::parse(doc.to_pretty().as_bytes()).unwrap())
    }

    fn parse(signed: Json) -> Root {
        Root::parse(
            obj([("signed", signed), ("signatures", Json::Arr(vec![]))])
                .to_pretty()
                .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn replaces_a_root_key_and_keeps_the_rest() {
        let (signed, prev) = v1();
        let r = rotate(
            &signed,
            &prev,
            &Rotation {
                add_root: vec![pk(4)],
                remove_root: vec![keyid(&pk(3))],
                root_threshold: Some(3),
                expires: 4_100_000_000,
                ..Rotation::default()
            },
        )
        .unwrap();
        assert_eq!(r.added, vec![keyid(&pk(4))]);
        assert_eq!(r.removed, vec![keyid(&pk(3))]);
        assert!(r.followers.is_empty());
        let new = parse(r.signed.clone());
        assert_eq!(new.version, 2);
        assert_eq!(new.expires, 4_100_000_000);
        assert_eq!(
            new.root.keyids,
            vec![keyid(&pk(1)), keyid(&pk(2)), keyid(&pk(4))]
        );
        assert_eq!(new.root.threshold, 3);
        assert_eq!(new.targets, prev.targets);
        assert!(
            !new.keys.contains_key(&keyid(&pk(3))),
            "unused keys dropped"
        );
        assert_eq!(
            r.signed.as_obj().unwrap()["x-vendor"],
            Json::Str("kept".into())
        );
    }

    #[test]
    fn new_targets_keys_carry_snapshot_and_timestamp_along() {
        let (signed, prev) = v1();
        let r = rotate(
            &signed,
            &prev,
            &Rotation {
                targets: Some(vec![pk(7), pk(8), pk(7)]),
                targets_threshold: Some(2),
                expires: 4_100_000_000,
                ..Rotation::default()
            },
        )
        .unwrap();
        assert_eq!(r.followers, vec!["snapshot", "timestamp"]);
        let new = parse(r.signed);
        assert_eq!(new.targets.keyids, vec![keyid(&pk(7)), keyid(&pk(8))]);
        assert_eq!(new.targets.threshold, 2);
        assert!(!new.keys.contains_key(&keyid(&pk(9))));
        assert_eq!(new.root, prev.root);
    }

    #[test]
    fn refuses_what_cannot_work() {
        let (signed, prev) = v1();
        let base = Rotation {
            expires: 4_100_000_000,
            ..Rotation::default()
        };
        let cases = [
            (
                Rotation {
                    root_threshold: Some(4),
                    ..base.clone()
                },
                "the root role would need 4 signatures but has 3 distinct usable key(s)",
            ),
            (
                Rotation {
                    root_threshold: Some(0),
                    ..base.clone()
                },
                "the root role would need 0 signatures",
            ),
            (
                Rotation {
                    remove_root: vec![keyid(&pk(1)), keyid(&pk(2))],
                    ..base.clone()
                },
                "the root role would need 2 signatures but has 1",
            ),
            (
                Rotation {
                    remove_root: vec![keyid(&pk(9))],
                    ..base.clone()
                },
                "is not a root key of version 1",
            ),
            (
                Rotation {
                    add_root: vec![pk(2)],
                    ..base.clone()
                },
                "is already a root key",
            ),
            (
                Rotation {
                    targets_threshold: Some(2),
                    ..base.clone()
                },
                "the targets role would need 2 signatures but has 1",
            ),
        ];
        for (change, want) in cases {
            let e = crate::error::Error::from(rotate(&signed, &prev, &change).unwrap_err());
            assert!(e.to_string().contains(want), "{e} / {want}");
            assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
        }
    }
}
