//! in-toto layouts and links as checked types, parsed once from the JSON the
//! envelope carried. Parsing follows the reference's validation (rule
//! grammar, unique step and inspection names, `YYYY-MM-DDTHH:MM:SSZ`
//! expiry) and adds what a verifier that reads link files by step name must
//! refuse: step names that are not plain file-name components.
use std::collections::{BTreeMap, BTreeSet};

use crate::json::{Json, write_canonical_str};
use crate::keys::KeyObject;

pub use super::artifacts::{Artifacts, Digests};

/// Which artifact list of a link a rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `materials`
    Materials,
    /// `products`
    Products,
}

impl Side {
    /// `materials` or `products`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Materials => "materials",
            Side::Products => "products",
        }
    }
}

/// What an artifact rule does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// `MATCH pattern [IN src] WITH MATERIALS|PRODUCTS [IN dst] FROM step`.
    Match {
        /// Source prefix (`""` for none).
        source_prefix: String,
        /// Destination side.
        dest_side: Side,
        /// Destination prefix (`""` for none).
        dest_prefix: String,
        /// Destination step or inspection.
        dest_name: String,
    },
    /// In products but not materials.
    Create,
    /// In materials but not products.
    Delete,
    /// In both, with different digests.
    Modify,
    /// Consumes what matches.
    Allow,
    /// Fails if anything queued matches.
    Disallow,
    /// Fails unless the literal path is queued.
    Require,
}

/// One artifact rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// What it does.
    pub kind: RuleKind,
    /// The pattern (or, for REQUIRE, the literal path).
    pub pattern: String,
    /// The rule as written, for messages.
    pub text: String,
}

/// A step or an inspection: a name and its artifact rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Unique within the layout.
    pub name: String,
    /// `expected_materials`.
    pub materials: Vec<Rule>,
    /// `expected_products`.
    pub products: Vec<Rule>,
}

/// A layout step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Name and rules.
    pub item: Item,
    /// Links needed from distinct authorized functionaries (≥ 1).
    pub threshold: u64,
    /// Keyids of the authorized functionaries.
    pub pubkeys: Vec<String>,
    /// The command the step is expected to run (a mismatch only warns).
    pub expected_command: Vec<String>,
}

/// A layout inspection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    /// Name and rules.
    pub item: Item,
    /// The command (run only when the operator asks for it).
    pub run: Vec<String>,
}

/// A supply-chain layout.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Expiry, unix seconds.
    pub expires: u64,
    /// Expiry as written.
    pub expires_text: String,
    /// Free text.
    pub readme: String,
    /// Functionary keys by keyid (as stored).
    pub keys: BTreeMap<String, KeyObject>,
    /// Steps, in order.
    pub steps: Vec<Step>,
    /// Inspections, in order.
    pub inspections: Vec<Inspection>,
}

/// A link: the evidence of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The step it claims to be.
    pub name: String,
    /// The command that ran.
    pub command: Vec<String>,
    /// Artifacts before.
    pub materials: Artifacts,
    /// Artifacts after.
    pub products: Artifacts,
    /// `byproducts` as written (stdout, stderr, return-value).
    pub byproducts: Json,
    /// `environment` as written.
    pub environment: Json,
}

impl Link {
    /// The artifacts on `side`.
    pub fn side(&self, side: Side) -> &Artifacts {
        match side {
            Side::Materials => &self.materials,
            Side::Products => &self.products,
        }
    }

    /// The canonical JSON of [`Link::to_json`] (what a Metablock's
    /// signatures cover), written straight from the link.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            256 + self.materials.canonical_len() + self.products.canonical_len(),
        );
        // The keys in canonical (code point) order.
        out.extend_from_slice(br#"{"_type":"link","byproducts":"#);
        self.byproducts.write_canonical(&mut out);
        out.extend_from_slice(br#","command":["#);
        for (i, c) in self.command.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_canonical_str(c, &mut out);
        }
        out.extend_from_slice(br#"],"environment":"#);
        self.environment.write_canonical(&mut out);
        out.extend_from_slice(br#","materials":"#);
        self.materials.write_canonical(&mut out);
        out.extend_from_slice(br#","name":"#);
        write_canonical_str(&self.name, &mut out);
        out.extend_from_slice(br#","products":"#);
        self.products.write_canonical(&mut out);
        out.push(b'}');
        out
    }

    /// Compact JSON text, keys sorted (a DSSE payload), as
    /// [`Json::to_compact`] of [`Link::to_json`] writes it.
    pub fn to_compact(&self) -> Vec<u8> {
        // Cannot fail: every map key is a string.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The link as JSON (`signed` of a Metablock, or a DSSE payload). It
    /// serializes as this does (`Link` is `Serialize`).
    pub fn to_json(&self) -> Json {
        crate::keys::obj([
            ("_type", Json::Str("link".into())),
            ("name", Json::Str(self.name.clone())),
            (
                "command",
                Json::Arr(self.command.iter().cloned().map(Json::Str).collect()),
            ),
            ("materials", self.materials.to_json()),
            ("products", self.products.to_json()),
            ("byproducts", self.byproducts.clone()),
            ("environment", self.environment.clone()),
        ])
    }
}

impl serde::Serialize for Link {
    /// As [`Link::to_json`] serializes (keys sorted), without building it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("_type", "link")?;
        m.serialize_entry("byproducts", &self.byproducts)?;
        m.serialize_entry("command", &self.command)?;
        m.serialize_entry("environment", &self.environment)?;
        m.serialize_entry("materials", &self.materials)?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("products", &self.products)?;
        m.end()
    }
}

type Obj = BTreeMap<String, Json>;

fn str_field<'a>(obj: &'a Obj, name: &str, what: &str) -> Result<&'a str, String> {
    obj.get(name)
        .and_then(Json::as_str)
        .ok_or_else(|| format!("{what} needs a string `{name}`"))
}

fn str_list(value: Option<&Json>, what: &str) -> Result<Vec<String>, String> {
    match value {
        None => Ok(Vec::new()),
        Some(Json::Arr(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{what} must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(format!("{what} must be a list of strings")),
    }
}

fn check_type(obj: &Obj, expected: &str) -> Result<(), String> {
    match obj.get("_type").and_then(Json::as_str) {
        Some(t) if t == expected => Ok(()),
        Some(t) => Err(format!(
            "`_type` is {}, expected {expected}",
            crate::excerpt(t)
        )),
        None => Err(format!("`_type` missing, expected {expected}")),
    }
}

/// Parses one rule with the reference's grammar (keywords case-insensitive).
pub fn parse_rule(words: &[String]) -> Result<Rule, String> {
    let text = words.join(" ");
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let bad = |why: &str| format!("rule {} is malformed: {why}", crate::excerpt(&text));
    if words.len() < 2 {
        return Err(bad("a rule needs a keyword and a pattern"));
    }
    let pattern = words[1].clone();
    let generic = |kind| {
        if words.len() == 2 {
            Ok(Rule {
                kind,
                pattern: pattern.clone(),
                text: text.clone(),
            })
        } else {
            Err(bad("this rule takes exactly one pattern"))
        }
    };
    match lower[0].as_str() {
        "create" => generic(RuleKind::Create),
        "delete" => generic(RuleKind::Delete),
        "modify" => generic(RuleKind::Modify),
        "allow" => generic(RuleKind::Allow),
        "disallow" => generic(RuleKind::Disallow),
        "require" => generic(RuleKind::Require),
        "match" => {
            let l = |i: usize| lower[i].as_str();
            let (source_prefix, dest_type, dest_prefix, dest_name) = match words.len() {
                10 if l(2) == "in" && l(4) == "with" && l(6) == "in" && l(8) == "from" => {
                    (&words[3], l(5), words[7].as_str(), &words[9])
                }
                8 if l(2) == "in" && l(4) == "with" && l(6) == "from" => {
                    (&words[3], l(5), "", &words[7])
                }
                8 if l(2) == "with" && l(4) == "in" && l(6) == "from" => {
                    (&String::new(), l(3), words[5].as_str(), &words[7])
                }
                6 if l(2) == "with" && l(4) == "from" => (&String::new(), l(3), "", &words[5]),
                _ => {
                    return Err(bad(
                        "expected MATCH <pattern> [IN <prefix>] WITH (MATERIALS|PRODUCTS) [IN <prefix>] FROM <step>",
                    ));
                }
            };
            let dest_side = match dest_type {
                "materials" => Side::Materials,
                "products" => Side::Products,
                _ => return Err(bad("MATCH must name MATERIALS or PRODUCTS")),
            };
            Ok(Rule {
                kind: RuleKind::Match {
                    source_prefix: source_prefix.clone(),
                    dest_side,
                    dest_prefix: dest_prefix.to_owned(),
                    dest_name: dest_name.clone(),
                },
                pattern,
                text,
            })
        }
        _ => Err(bad(
            "the keyword must be MATCH, CREATE, DELETE, MODIFY, ALLOW, DISALLOW or REQUIRE",
        )),
    }
}

fn rules(value: Option<&Json>, what: &str) -> Result<Vec<Rule>, String> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let Json::Arr(items) = value else {
        return Err(format!("{what} must be a list of rules"));
    };
    items
        .iter()
        .map(|r| parse_rule(&str_list(Some(r), "a rule")?))
        .collect()
}

/// Whether `name` can be part of a link file name without leaving the link
/// directory.
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
}

fn item(obj: &Obj, what: &str) -> Result<Item, String> {
    let name = str_field(obj, "name", what)?.to_owned();
    let what = format!("{what} {}", crate::excerpt(&name));
    if !safe_name(&name) {
        return Err(format!(
            "{what}: a name must be a plain file-name component (no `/`, `\\`, control characters, `.` or `..`)"
        ));
    }
    Ok(Item {
        materials: rules(
            obj.get("expected_materials"),
            &format!("{what} expected_materials"),
        )?,
        products: rules(
            obj.get("expected_products"),
            &format!("{what} expected_products"),
        )?,
        name,
    })
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Layout {
    /// Parses a layout payload.
    pub fn parse(json: &Json) -> Result<Layout, String> {
        let obj = json.as_obj().ok_or("a layout must be an object")?;
        check_type(obj, "layout")?;
        let expires_text = str_field(obj, "expires", "a layout")?.to_owned();
        let expires = crate::timefmt::parse_utc(&expires_text)?;
        let readme = match obj.get("readme") {
            None => String::new(),
            Some(Json::Str(s)) => s.clone(),
            Some(_) => return Err("`readme` must be a string".into()),
        };
        let mut keys = BTreeMap::new();
        match obj.get("keys") {
            None => {}
            Some(Json::Obj(map)) => {
                for (id, k) in map {
                    let key = KeyObject::parse(k).map_err(|e| format!("layout key {id}: {e}"))?;
                    keys.insert(id.clone(), key);
                }
            }
            Some(_) => return Err("`keys` must be an object".into()),
        }
        let list = |name: &str| match obj.get(name) {
            None => Ok(Vec::new()),
            Some(Json::Arr(items)) => Ok(items.clone()),
            Some(_) => Err(format!("`{name}` must be a list")),
        };
        let mut names = BTreeSet::new();
        let mut steps = Vec::new();
        for s in list("steps")? {
            let so = s.as_obj().ok_or("each step must be an object")?;
            check_type(so, "step")?;
            let item = item(so, "step")?;
            let what = format!("step {}", crate::excerpt(&item.name));
            let threshold = match so.get("threshold") {
                None => 1,
                Some(Json::Int(t)) if *t >= 1 => u64::try_from(*t).unwrap_or(u64::MAX),
                Some(_) => return Err(format!("{what}: `threshold` must be an integer ≥ 1")),
            };
            let pubkeys = str_list(so.get("pubkeys"), &format!("{what} pubkeys"))?;
            if let Some(bad) = pubkeys.iter().find(|k| !is_hex(k)) {
                return Err(format!(
                    "{what}: pubkey {} is not a hex keyid",
                    crate::excerpt(bad)
                ));
            }
            let expected_command = str_list(
                so.get("expected_command"),
                &format!("{what} expected_command"),
            )?;
            if !names.insert(item.name.clone()) {
                return Err(format!(
                    "two steps or inspections are named {}",
                    crate::excerpt(&item.name)
                ));
            }
            steps.push(Step {
                item,
                threshold,
                pubkeys,
                expected_command,
            });
        }
        let mut inspections = Vec::new();
        for i in list("inspect")? {
            let io = i.as_obj().ok_or("each inspection must be an object")?;
            check_type(io, "inspection")?;
            let item = item(io, "inspection")?;
            let run = str_list(
                io.get("run"),
                &format!("inspection {} run", crate::excerpt(&item.name)),
            )?;
            if !names.insert(item.name.clone()) {
                return Err(format!(
                    "two steps or inspections are named {}",
                    crate::excerpt(&item.name)
                ));
            }
            inspections.push(Inspection { item, run });
        }
        Ok(Layout {
            expires,
            expires_text,
            readme,
            keys,
            steps,
            inspections,
        })
    }

    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.item.name == name)
    }
}

impl Link {
    /// Parses a link payload.
    pub fn parse(json: &Json) -> Result<Link, String> {
        let obj = json.as_obj().ok_or("a link must be an object")?;
        let side = |field: &str| {
            obj.get(field)
                .map(|v| Artifacts::from_json(v, field))
                .transpose()
        };
        Link::from_parts(obj, side("materials")?, side("products")?)
    }

    /// Builds a link from its fields: `materials` and `products` already
    /// parsed (absent: empty), the rest as JSON (other entries of `obj`
    /// named `materials` / `products` are ignored).
    pub fn from_parts(
        obj: &BTreeMap<String, Json>,
        materials: Option<Artifacts>,
        products: Option<Artifacts>,
    ) -> Result<Link, String> {
        check_type(obj, "link")?;
        let name = str_field(obj, "name", "a link")?.to_owned();
        let dict = |field: &str| match obj.get(field) {
            None => Ok(Json::Obj(BTreeMap::new())),
            Some(v @ Json::Obj(_)) => Ok(v.clone()),
            Some(_) => Err(format!("`{field}` must be an object")),
        };
        Ok(Link {
            command: str_list(obj.get("command"), "`command`")?,
            materials: materials.unwrap_or_default(),
            products: products.unwrap_or_default(),
            byproducts: dict("byproducts")?,
            environment: dict("environment")?,
            name,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn a_link_writes_as_its_json_tree_does() {
        let h = "0123456789abcdef".repeat(4);
        let link = Link::parse(
            &Json::parse(
                format!(
                    r#"{{"_type": "link", "name": "b\"u\\ild é",
                    "command": ["make", "x\ny", ""],
                    "materials": {{"src/a.c": {{"sha256": "{h}"}}, "Z\"q": {{"sha512": "FF", "md5": "00"}}}},
                    "products": {{}},
                    "byproducts": {{"return-value": -1, "stdout": "ok\u0001", "big": 18446744073709551615}},
                    "environment": {{"e": [true, null, {{"b": 1, "a": 2}}]}}}}"#
                )
                .as_bytes(),
            )
            .unwrap(),
        )
        .unwrap();
        let tree = link.to_json();
        assert_eq!(link.canonical(), tree.canonical());
        assert_eq!(link.to_compact(), tree.to_compact());
        assert_eq!(
            serde_json::to_vec_pretty(&link).unwrap(),
            serde_json::to_vec_pretty(&tree).unwrap()
        );
        let empty = Link {
            name: "s".into(),
            command: Vec::new(),
            materials: Artifacts::new(),
            products: Artifacts::new(),
            byproducts: Json::Obj(BTreeMap::new()),
            environment: Json::Obj(BTreeMap::new()),
        };
        assert_eq!(empty.canonical(), empty.to_json().canonical());
        assert_eq!(
            serde_json::to_vec_pretty(&empty).unwrap(),
            serde_json::to_vec_pretty(&empty.to_json()).unwrap()
        );
    }

    #[test]
    fn rule_grammar_follows_the_reference() {
        let r = parse_rule(&words("match foo IN src with Products in dst FROM build")).unwrap();
        assert_eq!(
            r.kind,
            RuleKind::Match {
                source_prefix: "src".into(),
                dest_side: Side::Products,
                dest_prefix: "dst".into(),
                dest_name: "build".into()
            }
        );
        for ok in [
            "MATCH * WITH MATERIALS FROM a",
            "MATCH * IN x WITH MATERIALS FROM a",
            "MATCH * WITH PRODUCTS IN y FROM a",
            "CREATE x",
            "require x",
        ] {
            parse_rule(&words(ok)).unwrap();
        }
        for bad in [
            "CREATE",
            "CREATE a b",
            "MATCH * WITH THINGS FROM a",
            "MATCH * FROM a",
            "MATCH * IN x WITH PRODUCTS IN y",
            "COPY x",
        ] {
            assert!(parse_rule(&words(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn layout_refuses_unsafe_step_names_and_duplicates() {
        let layout = |steps: &str| {
            Json::parse(
                format!(r#"{{"_type":"layout","expires":"2099-01-01T00:00:00Z","keys":{{}},"steps":[{steps}],"inspect":[]}}"#)
                    .as_bytes(),
            )
            .unwrap()
        };
        let step = |n: &str| {
            format!(
                r#"{{"_type":"step","name":"{n}","threshold":1,"pubkeys":[],"expected_materials":[],"expected_products":[]}}"#
            )
        };
        Layout::parse(&layout(&step("build"))).unwrap();
        for bad in ["../x", "a/b", "..", ""] {
            assert!(Layout::parse(&layout(&step(bad))).is_err(), "{bad}");
        }
        let two = format!("{},{}", step("a"), step("a"));
        assert!(
            Layout::parse(&layout(&two))
                .unwrap_err()
                .contains("two steps")
        );
        let zero = r#"{"_type":"step","name":"a","threshold":0,"pubkeys":[]}"#;
        assert!(Layout::parse(&layout(zero)).is_err());
    }
}
