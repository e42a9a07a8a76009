//! The modules of `hsm/src` import one way: reading every `use crate::…`
//! and `use super::…` (and every inline `crate::…` path) of the library
//! code, the module graph has no cycle other than a module and its own
//! children. Intra-crate paths name the module that defines what they use,
//! not a re-export of the crate root, so that the graph is the real one.
//! Test modules (`#[cfg(test)] mod tests`) are left out: nothing imports
//! them.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `a/b.rs` and `a/b/mod.rs` → `["a", "b"]`; `lib.rs` → `[]`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    match last.as_str() {
        "lib.rs" | "mod.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_owned()),
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The library code of a file: without comments and without its
/// `#[cfg(test)] mod tests` (which, by convention, is the file's last item).
fn library_code(text: &str) -> String {
    let text = match text.find("\nmod tests {") {
        Some(j) => &text[..text[..j].rfind("#[cfg(test)]").unwrap_or(j)],
        None => text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path the code names from `crate::` or `super::`, as segments
/// (a `use` group `a::{b, c::d}` gives `a::b` and `a::c::d`).
fn paths(code: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for root in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(i) = rest.find(root) {
            let before = rest[..i].chars().last();
            rest = &rest[i + root.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let root = root.trim_end_matches("::").to_owned();
            expand(rest, &[], &mut |p| out.push((root.clone(), p)));
        }
    }
    out
}

/// Reads one path (possibly with a `{…}` group) from the start of `s`.
fn expand(s: &str, prefix: &[String], emit: &mut dyn FnMut(Vec<String>)) -> usize {
    let mut pos = 0;
    let bytes = s.as_bytes();
    let mut segs = prefix.to_vec();
    loop {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos < bytes.len() && bytes[pos] == b'{' {
            pos += 1;
            loop {
                pos += expand(&s[pos..], &segs, emit);
                while pos < bytes.len() && (bytes[pos].is_ascii_whitespace() || bytes[pos] == b',')
                {
                    pos += 1;
                }
                if pos >= bytes.len() || bytes[pos] == b'}' {
                    return pos + 1;
                }
            }
        }
        let start = pos;
        while pos < bytes.len() && (bytes[pos].is_ascii_alphanumeric() || bytes[pos] == b'_') {
            pos += 1;
        }
        if pos > start {
            segs.push(s[start..pos].to_owned());
        }
        if s[pos..].starts_with("::") {
            pos += 2;
            continue;
        }
        if !segs.is_empty() {
            emit(segs);
        }
        return pos;
    }
}

#[test]
fn hsm_src_has_no_import_cycle_but_parent_and_children() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            (module_of(f.strip_prefix(&src).unwrap()), text)
        })
        .collect();
    let is_module = |m: &[String]| modules.contains_key(m);

    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut re_export_uses = Vec::new();
    for (module, text) in &modules {
        if module.is_empty() {
            // lib.rs: module declarations and re-exports, all downwards.
            continue;
        }
        for (root, path) in paths(&library_code(text)) {
            let base: Vec<String> = match root.as_str() {
                "crate" => Vec::new(),
                _ => {
                    // `super` of `a/b.rs` is `a`; of `a/mod.rs` it is the
                    // crate root's `a`'s parent too: a module's parent.
                    let mut b = module.clone();
                    b.pop();
                    b
                }
            };
            // The longest prefix of the path that is a module.
            let mut target = base.clone();
            for seg in &path {
                let mut next = target.clone();
                next.push(seg.clone());
                if is_module(&next) {
                    target = next;
                } else {
                    break;
                }
            }
            if target == base && root == "crate" {
                re_export_uses.push(format!("{}: crate::{}", module.join("::"), path.join("::")));
                continue;
            }
            if &target != module {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    assert!(
        re_export_uses.is_empty(),
        "intra-crate paths must name the defining module, not a crate-root re-export: {re_export_uses:#?}"
    );

    // A parent's edges to its own descendants (and a child's to its
    // ancestors) are the allowed parent/children circles.
    let related = |a: &[String], b: &[String]| a.starts_with(b) || b.starts_with(a);
    let graph: BTreeMap<&Vec<String>, Vec<&Vec<String>>> = edges
        .iter()
        .map(|(from, tos)| (from, tos.iter().filter(|to| !related(from, to)).collect()))
        .collect();
    // Depth-first search for a back edge.
    fn visit<'a>(
        n: &'a Vec<String>,
        graph: &BTreeMap<&'a Vec<String>, Vec<&'a Vec<String>>>,
        state: &mut BTreeMap<&'a Vec<String>, u8>,
        stack: &mut Vec<&'a Vec<String>>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let i = stack.iter().position(|m| *m == n).unwrap();
                let mut cycle: Vec<String> = stack[i..].iter().map(|m| m.join("::")).collect();
                cycle.push(n.join("::"));
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n, 1);
        stack.push(n);
        for to in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(to, graph, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(cycle) = visit(n, &graph, &mut state, &mut Vec::new()) {
            panic!("import cycle in hsm/src: {}", cycle.join(" → "));
        }
    }
    // The guard sees the graph: the backends depend on the trait, and the
    // factory on the backends.
    let file_store = vec!["file_store".to_owned()];
    let store = vec!["store".to_owned()];
    let open = vec!["open".to_owned()];
    assert!(edges[&file_store].contains(&store), "{edges:#?}");
    assert!(edges[&open].contains(&file_store), "{edges:#?}");
    assert!(!edges.contains_key(&store) || !edges[&store].contains(&open));
}
