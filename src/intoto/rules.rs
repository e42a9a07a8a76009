//! Artifact rules, evaluated exactly as the reference's `verify_item_rules`:
//! a queue starts with the item's materials (or products); each rule in
//! order consumes what it matches; DISALLOW and REQUIRE can fail; whatever
//! is left at the end is implicitly allowed.
use std::collections::BTreeMap;

use super::IntotoError;
use super::fnmatch::Pattern;
use super::model::{Artifacts, Item, Link, Rule, RuleKind, Side};

/// Links by step or inspection name, as the rules see them.
pub type Links<'a> = BTreeMap<&'a str, &'a Link>;

/// Python's `os.path.join(a, b)` on POSIX, then `\` → `/` (as the reference
/// builds prefixed paths).
fn join(prefix: &str, rest: &str) -> String {
    let joined = if rest.starts_with('/') {
        rest.to_owned()
    } else if prefix.is_empty() || prefix.ends_with('/') {
        format!("{prefix}{rest}")
    } else {
        format!("{prefix}/{rest}")
    };
    joined.replace('\\', "/")
}

/// The consuming queue of one rule list: the artifacts of one side of a
/// link, each still queued or already consumed. Iterated in path order, as
/// the reference iterates its set (the order only matters for messages).
struct Queue<'a> {
    artifacts: &'a Artifacts,
    queued: Vec<bool>,
}

impl<'a> Queue<'a> {
    fn new(artifacts: &'a Artifacts) -> Queue<'a> {
        Queue {
            artifacts,
            queued: vec![true; artifacts.len()],
        }
    }

    /// (index, path) of the queued artifacts.
    fn iter(&self) -> impl Iterator<Item = (usize, &'a str)> + '_ {
        let artifacts = self.artifacts;
        self.queued
            .iter()
            .enumerate()
            .filter(|(_, q)| **q)
            .map(move |(i, _)| (i, artifacts.path(i)))
    }

    /// Indexes of the queued artifacts `pattern` matches.
    fn filter(&self, pattern: &Pattern) -> Vec<usize> {
        self.iter()
            .filter(|(_, p)| pattern.matches(p))
            .map(|(i, _)| i)
            .collect()
    }

    fn contains(&self, path: &str) -> bool {
        self.artifacts
            .position(path)
            .is_some_and(|i| self.queued[i])
    }

    fn consume(&mut self, indexes: &[usize]) {
        for &i in indexes {
            self.queued[i] = false;
        }
    }
}

fn match_rule(rule: &Rule, queue: &Queue<'_>, links: &Links<'_>) -> Vec<usize> {
    let RuleKind::Match {
        source_prefix,
        dest_side,
        dest_prefix,
        dest_name,
    } = &rule.kind
    else {
        return Vec::new();
    };
    let Some(dest) = links.get(dest_name.as_str()) else {
        return Vec::new();
    };
    let dest_artifacts = dest.side(*dest_side);
    let source_artifacts = queue.artifacts;
    let pattern = Pattern::new(&rule.pattern);
    let normalized_source = join(source_prefix, "");
    let mut consumed = Vec::new();
    let (mut sources, mut dests) = (source_artifacts.cursor(), dest_artifacts.cursor());
    for (index, path) in queue.iter() {
        let rest = if source_prefix.is_empty() {
            path
        } else if let Some(rest) = path.strip_prefix(normalized_source.as_str()) {
            rest
        } else {
            continue;
        };
        if !pattern.matches(rest) {
            continue;
        }
        // The reference looks up and consumes the reconstructed source
        // path: the same path, but in degenerate cases (a `\`, or a `/`
        // after the prefix) another one.
        let source_index = if source_prefix.is_empty() {
            Some(index)
        } else {
            sources.position(&join(source_prefix, rest))
        };
        let Some(source_index) = source_index else {
            continue;
        };
        let full_dest = if dest_prefix.is_empty() {
            std::borrow::Cow::Borrowed(rest)
        } else {
            std::borrow::Cow::Owned(join(dest_prefix, rest))
        };
        let Some(d) = dests.get(&full_dest) else {
            continue;
        };
        if source_artifacts.digests(source_index) == d && queue.queued[source_index] {
            consumed.push(source_index);
        }
    }
    consumed
}

fn listing(paths: &[&str]) -> String {
    const SHOWN: usize = 5;
    let mut s = paths
        .iter()
        .take(SHOWN)
        .map(|p| crate::excerpt(p))
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        s.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    s
}

/// Applies `item`'s rules for `side`. `kind` is `step` or `inspection`;
/// `links` must hold `item.name`.
pub fn verify_item_rules(
    kind: &str,
    item: &Item,
    side: Side,
    links: &Links<'_>,
) -> Result<(), IntotoError> {
    let Some(source) = links.get(item.name.as_str()) else {
        return Err(IntotoError::Internal(format!(
            "no link for {kind} {} when applying its rules",
            item.name
        )));
    };
    let materials = &source.materials;
    let products = &source.products;
    let mut queue = Queue::new(source.side(side));
    let rules = match side {
        Side::Materials => &item.materials,
        Side::Products => &item.products,
    };
    for rule in rules {
        let pattern = Pattern::new(&rule.pattern);
        let fail = |code, detail: String| {
            IntotoError::Rule(Box::new(super::RuleFailure {
                code,
                kind: kind.to_owned(),
                item: item.name.clone(),
                side: side.name(),
                rule: rule.text.clone(),
                detail,
            }))
        };
        let path = |i: usize| queue.artifacts.path(i);
        // Membership in the other side (the queue's own side holds them all).
        let (mut in_materials, mut in_products) = (materials.cursor(), products.cursor());
        let mut in_materials = |i: usize| side == Side::Materials || in_materials.contains(path(i));
        let mut in_products = |i: usize| side == Side::Products || in_products.contains(path(i));
        let consumed: Vec<usize> = match &rule.kind {
            RuleKind::Match { .. } => match_rule(rule, &queue, links),
            RuleKind::Create => queue
                .filter(&pattern)
                .into_iter()
                .filter(|&i| in_products(i) && !in_materials(i))
                .collect(),
            RuleKind::Delete => queue
                .filter(&pattern)
                .into_iter()
                .filter(|&i| in_materials(i) && !in_products(i))
                .collect(),
            RuleKind::Modify => queue
                .filter(&pattern)
                .into_iter()
                .filter(|&i| {
                    matches!((materials.get(path(i)), products.get(path(i))), (Some(m), Some(q)) if m != q)
                })
                .collect(),
            RuleKind::Allow => queue.filter(&pattern),
            RuleKind::Disallow => {
                let hit: Vec<&str> = queue.filter(&pattern).into_iter().map(path).collect();
                if !hit.is_empty() {
                    return Err(fail(
                        "rule-disallow",
                        format!("matched artifact {}", listing(&hit)),
                    ));
                }
                Vec::new()
            }
            RuleKind::Require => {
                if !queue.contains(rule.pattern.as_str()) {
                    return Err(fail(
                        "rule-require",
                        format!(
                            "did not find artifact {} among the unconsumed {}",
                            crate::excerpt(&rule.pattern),
                            side.name()
                        ),
                    ));
                }
                Vec::new()
            }
        };
        queue.consume(&consumed);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::intoto::model::parse_rule;
    use crate::json::Json;

    fn link(name: &str, materials: &[(&str, &str)], products: &[(&str, &str)]) -> Link {
        let arts = |a: &[(&str, &str)]| {
            a.iter()
                .map(|(p, h)| {
                    (
                        (*p).to_owned(),
                        crate::intoto::Digests::from_pairs(vec![("sha256".into(), (*h).into())])
                            .unwrap(),
                    )
                })
                .collect()
        };
        Link {
            name: name.into(),
            command: vec![],
            materials: arts(materials),
            products: arts(products),
            byproducts: Json::Null,
            environment: Json::Null,
        }
    }

    fn item(name: &str, materials: &[&str], products: &[&str]) -> Item {
        let rules = |rs: &[&str]| {
            rs.iter()
                .map(|r| parse_rule(&r.split(' ').map(str::to_owned).collect::<Vec<_>>()).unwrap())
                .collect()
        };
        Item {
            name: name.into(),
            materials: rules(materials),
            products: rules(products),
        }
    }

    #[test]
    fn match_with_prefixes_then_disallow() {
        let build = link("build", &[], &[("out/app", "aa"), ("out/lib", "bb")]);
        let pkg = link("pkg", &[("dist/app", "aa"), ("dist/lib", "cc")], &[]);
        let links: Links = [("build", &build), ("pkg", &pkg)].into();
        let ok = item(
            "pkg",
            &[
                "MATCH app IN dist WITH PRODUCTS IN out FROM build",
                "DISALLOW *",
            ],
            &[],
        );
        assert!(verify_item_rules("step", &ok, Side::Materials, &links).is_err());
        let e = verify_item_rules(
            "step",
            &item(
                "pkg",
                &[
                    "MATCH * IN dist WITH PRODUCTS IN out FROM build",
                    "DISALLOW *",
                ],
                &[],
            ),
            Side::Materials,
            &links,
        )
        .unwrap_err();
        assert_eq!(e.code(), "rule-disallow");
        assert!(e.to_string().contains("dist/lib"), "{e}");
        verify_item_rules(
            "step",
            &item(
                "pkg",
                &[
                    "MATCH app IN dist WITH PRODUCTS IN out FROM build",
                    "ALLOW dist/lib",
                    "DISALLOW *",
                ],
                &[],
            ),
            Side::Materials,
            &links,
        )
        .unwrap();
    }

    #[test]
    fn create_delete_modify_require() {
        let s = link(
            "s",
            &[("a", "1"), ("b", "2"), ("c", "3")],
            &[("b", "2"), ("c", "4"), ("d", "5")],
        );
        let links: Links = [("s", &s)].into();
        let run = |m: &[&str], p: &[&str]| {
            let it = item("s", m, p);
            verify_item_rules("step", &it, Side::Materials, &links)
                .and_then(|()| verify_item_rules("step", &it, Side::Products, &links))
        };
        run(
            &["DELETE a", "ALLOW b", "MODIFY c", "DISALLOW *"],
            &["CREATE d", "MODIFY c", "ALLOW b", "DISALLOW *"],
        )
        .unwrap();
        assert_eq!(
            run(&["DELETE b", "DISALLOW b"], &[]).unwrap_err().code(),
            "rule-disallow"
        );
        assert_eq!(
            run(&["MODIFY b", "DISALLOW b"], &[]).unwrap_err().code(),
            "rule-disallow"
        );
        assert_eq!(
            run(&[], &["CREATE c", "DISALLOW c"]).unwrap_err().code(),
            "rule-disallow"
        );
        assert_eq!(
            run(&["ALLOW a", "REQUIRE a"], &[]).unwrap_err().code(),
            "rule-require"
        );
        run(&["REQUIRE a"], &["REQUIRE d"]).unwrap();
    }
}
