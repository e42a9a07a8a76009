//! New layouts from a few facts (`airlock init`, `airlock layout new`):
//! steps with their functionary keys, key objects filled in, and artifact
//! rules that bind each step to the one before it.
use std::collections::BTreeMap;

use airlock_hsm::PublicKey;

use crate::json::Json;
use crate::keys::{key_object, keyid, obj};
use crate::timefmt::format_utc;

/// One step of a new layout.
#[derive(Debug, Clone)]
pub struct NewStep {
    /// The step's name (a link's `name`).
    pub name: String,
    /// Its functionaries' public keys.
    pub keys: Vec<PublicKey>,
    /// How many of them must have recorded it.
    pub threshold: u64,
}

/// The rules of step `i` of a chain: the first step's products must be
/// created by it (nothing else may appear); every later step's materials
/// must be exactly the previous step's products, and its products are
/// created by it.
pub fn chain_rules(steps: &[NewStep], i: usize) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let materials = match i.checked_sub(1).and_then(|p| steps.get(p)) {
        None => vec![],
        Some(prev) => vec![
            words(&["MATCH", "*", "WITH", "PRODUCTS", "FROM", &prev.name]),
            words(&["DISALLOW", "*"]),
        ],
    };
    let products = vec![words(&["CREATE", "*"]), words(&["DISALLOW", "*"])];
    (materials, products)
}

/// The `signed` object of a layout with `steps` (rules from
/// [`chain_rules`]), expiring at `expires`.
pub fn layout(steps: &[NewStep], expires: u64, readme: &str) -> Json {
    let strs = |v: &[String]| Json::Arr(v.iter().map(|s| Json::Str(s.clone())).collect());
    let rules = |r: &[Vec<String>]| Json::Arr(r.iter().map(|x| strs(x)).collect());
    let mut keys = BTreeMap::new();
    let mut js = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let mut ids = Vec::new();
        for pk in &step.keys {
            let id = keyid(pk);
            keys.insert(id.clone(), key_object(pk));
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let (materials, products) = chain_rules(steps, i);
        js.push(obj([
            ("_type", Json::Str("step".into())),
            ("name", Json::Str(step.name.clone())),
            ("threshold", Json::Int(step.threshold.into())),
            ("pubkeys", strs(&ids)),
            ("expected_command", Json::Arr(vec![])),
            ("expected_materials", rules(&materials)),
            ("expected_products", rules(&products)),
        ]));
    }
    obj([
        ("_type", Json::Str("layout".into())),
        ("expires", Json::Str(format_utc(expires))),
        ("readme", Json::Str(readme.into())),
        ("keys", Json::Obj(keys)),
        ("steps", Json::Arr(js)),
        ("inspect", Json::Arr(vec![])),
    ])
}
