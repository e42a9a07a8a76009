//! docs/codes.md is the one registry of error codes: every code the binary
//! can print (on `error:` lines' JSON, `--json`, journal records) has a row
//! with its exit code, who is at fault, and the hint.
//!
//! The codes are found by reading the sources, as a newcomer would: the
//! match arms of every `fn code(&self)` (with the exit code the layer's
//! `fault()` or the binary's `exit_code()` gives that variant, and the hint
//! its `fn hint(&self)` gives it), every `Error::operator("…")` site (exit 2)
//! and the in-toto rule codes. The test fails when a code has no row, when a
//! row names a code no source raises, when a code is not kebab-case, when
//! two sites give one code different exit codes (different meanings), when
//! two sites give one code different hints (a code has one hint, defined
//! next to it), or when a row's hint is not the one the sources give.
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// One place a code is raised.
#[derive(Debug, Clone)]
struct Site {
    code: String,
    exit: i32,
    at: String,
    /// The hint given with it, where the sources give a fixed text.
    hint: Option<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A source file without its unit tests (the `#[cfg(test)]` module at its
/// end), so codes used only by tests are not counted.
fn source(rel: &str) -> String {
    let text = fs::read_to_string(root().join(rel)).unwrap();
    match text.find("#[cfg(test)]\nmod ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// The end (exclusive) of the string literal starting at `at` (a `"`).
fn skip_string(b: &[u8], at: usize) -> usize {
    let mut i = at + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// The offset just after the brace that closes the one at `open`.
fn close_brace(text: &str, open: usize) -> usize {
    let b = text.as_bytes();
    let mut depth = 0;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = skip_string(b, i);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced braces from offset {open}");
}

/// One match arm: the variant names its pattern mentions (empty for `_`),
/// the value (a string literal's content, or the value's text), and the
/// offset of the arm in the file.
#[derive(Debug)]
struct Arm {
    /// The pattern, with its whitespace collapsed.
    pattern: String,
    variants: Vec<String>,
    literal: Option<String>,
    value: String,
    offset: usize,
}

/// The arms of the `match self { … }` in the body of `fn NAME(&self)`.
fn arms(text: &str, name: &str) -> Vec<Vec<Arm>> {
    arms_of(text, &format!("fn {name}(&self)"), "match self {")
}

/// The arms of the first `MATCH` (e.g. `match self {`) in the body of each
/// function whose signature starts with `needle`.
fn arms_of(text: &str, needle: &str, matching: &str) -> Vec<Vec<Arm>> {
    let mut all = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find(needle) {
        let start = from + found;
        let m = start + text[start..].find(matching).unwrap();
        let open = m + matching.len() - 1;
        let end = close_brace(text, open) - 1;
        all.push(split_arms(text, open + 1, end));
        from = end;
    }
    all
}

/// The text of a hint arm's value when it is one string literal (in a
/// block or not, with or without `.into()`): the hint every site gets.
fn fixed_text(value: &str) -> Option<String> {
    let mut v = value.trim();
    if v.starts_with('{') && v.ends_with('}') {
        v = v[1..v.len() - 1].trim();
    }
    for suffix in [".into()", ".to_owned()", ".to_string()"] {
        if let Some(x) = v.strip_suffix(suffix) {
            v = x.trim_end();
        }
    }
    if v.len() < 2 || !v.starts_with('"') || skip_string(v.as_bytes(), 0) != v.len() {
        return None;
    }
    let mut out = String::new();
    let mut chars = v[1..v.len() - 1].chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\n') => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Some(out)
}

/// A `fn hint` read as arms: by the arm's pattern text, and by each
/// variant it names (`_` for a wildcard), the fixed hint (or `None` when
/// the hint is computed).
#[derive(Default)]
struct Hints {
    by_pattern: BTreeMap<String, Option<String>>,
    by_variant: BTreeMap<String, Option<String>>,
}

impl Hints {
    fn read(text: &str, needle: &str, matching: &str) -> Hints {
        let mut h = Hints::default();
        for arm in arms_of(text, needle, matching).into_iter().flatten() {
            let fixed = fixed_text(&arm.value);
            h.by_pattern.insert(arm.pattern.clone(), fixed.clone());
            if arm.variants.is_empty() {
                h.by_variant.insert("_".into(), fixed.clone());
            }
            for v in &arm.variants {
                h.by_variant.entry(v.clone()).or_insert(fixed.clone());
            }
        }
        h
    }

    /// The hints of a `fn code` arm: the arm of the same pattern, or else
    /// the arm of each variant it names (`None` where a hint is computed).
    fn of(&self, arm: &Arm) -> Vec<Option<String>> {
        if let Some(h) = self.by_pattern.get(&arm.pattern) {
            return vec![h.clone()];
        }
        let names: Vec<&str> = if arm.variants.is_empty() {
            vec!["_"]
        } else {
            arm.variants.iter().map(String::as_str).collect()
        };
        names
            .into_iter()
            .map(|v| {
                self.by_variant
                    .get(v)
                    .or_else(|| self.by_variant.get("_"))
                    .cloned()
                    .flatten()
            })
            .collect()
    }
}

fn split_arms(text: &str, start: usize, end: usize) -> Vec<Arm> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = start;
    while i < end {
        // Pattern: up to `=>` at depth 0.
        let pat_start = i;
        let mut depth = 0i32;
        while i < end && !(depth == 0 && b[i] == b'=' && b.get(i + 1) == Some(&b'>')) {
            match b[i] {
                b'"' => {
                    i = skip_string(b, i);
                    continue;
                }
                b'{' | b'(' | b'[' => depth += 1,
                b'}' | b')' | b']' => depth -= 1,
                _ => {}
            }
            i += 1;
        }
        if i >= end {
            break;
        }
        let pattern = &text[pat_start..i];
        i += 2;
        // Value: a block, or up to `,` at depth 0.
        while i < end && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let val_start = i;
        if b[i] == b'{' {
            i = close_brace(text, i);
        } else {
            let mut depth = 0i32;
            while i < end && !(depth == 0 && b[i] == b',') {
                match b[i] {
                    b'"' => {
                        i = skip_string(b, i);
                        continue;
                    }
                    b'{' | b'(' | b'[' => depth += 1,
                    b'}' | b')' | b']' => depth -= 1,
                    _ => {}
                }
                i += 1;
            }
        }
        let value = text[val_start..i].trim().to_owned();
        if i < end && b[i] == b',' {
            i += 1;
        }
        let literal = fixed_text(&value);
        let offset = pat_start + (pattern.len() - pattern.trim_start().len());
        out.push(Arm {
            pattern: pattern.split_whitespace().collect::<Vec<_>>().join(" "),
            variants: variants(pattern),
            literal,
            value,
            offset,
        });
    }
    out
}

/// The names after `::` in a pattern (`Error::Foo { .. } | Error::Bar(_)`).
fn variants(pattern: &str) -> Vec<String> {
    pattern
        .split("::")
        .skip(1)
        .map(|s| {
            s.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .collect()
}

/// `variant → value` of a `fn NAME(&self)` whose arms return paths
/// (`Fault::Input`, `EXIT_USAGE`); `_` is stored under "_".
fn path_map(text: &str, name: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for arm in arms(text, name).into_iter().flatten() {
        let value = arm.value.rsplit("::").next().unwrap().to_owned();
        if arm.variants.is_empty() {
            map.insert("_".to_owned(), value.clone());
        }
        for v in arm.variants {
            map.insert(v, value.clone());
        }
    }
    map
}

fn lookup<'m>(map: &'m BTreeMap<String, String>, variant: &str) -> &'m str {
    map.get(variant)
        .or_else(|| map.get("_"))
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no arm for {variant}"))
}

/// The binary's exit code for each variant of its `Error` (src/error.rs),
/// for the variants mapped to a constant.
fn binary_exits() -> BTreeMap<String, i32> {
    let text = source("src/error.rs");
    path_map(&text, "exit_code")
        .into_iter()
        .filter_map(|(v, c)| {
            let exit = match c.as_str() {
                "EXIT_REJECTED" => 1,
                "EXIT_USAGE" => 2,
                "EXIT_ENVIRONMENT" => 3,
                _ => return None,
            };
            Some((v, exit))
        })
        .collect()
}

/// How a file's `fn code(&self)` variants get their exit code.
enum Exit {
    /// By the variant's `fault()`: (fault, exit) pairs.
    Fault(&'static [(&'static str, i32)]),
    /// By the binary's `exit_code()` for the variant itself (src/error.rs).
    Binary,
    /// The type is wrapped in this variant of the binary's `Error`.
    Wrapped(&'static str),
}

/// Every file with a `fn code(&self)`, and how its exit codes are found.
const CODE_FILES: &[(&str, Exit)] = &[
    (
        "bundle-format/src/error.rs",
        Exit::Fault(&[("Bundle", 1), ("Input", 2), ("Environment", 3)]),
    ),
    (
        "hsm/src/error.rs",
        Exit::Fault(&[("Operator", 2), ("Environment", 3)]),
    ),
    ("src/error.rs", Exit::Binary),
    ("src/tuf/root.rs", Exit::Wrapped("Root")),
    ("src/policy.rs", Exit::Wrapped("Rejected")),
    ("src/intoto/mod.rs", Exit::Wrapped("Intoto")),
    ("src/journal/chain.rs", Exit::Wrapped("Journal")),
    ("src/oci/mod.rs", Exit::Wrapped("Image")),
    ("src/publish.rs", Exit::Wrapped("Publish")),
    ("src/fsutil/error.rs", Exit::Wrapped("Fs")),
    ("src/staging/error.rs", Exit::Wrapped("Staging")),
    ("src/oci/registry_error.rs", Exit::Wrapped("Registry")),
    ("src/journal/env_error.rs", Exit::Wrapped("JournalEnv")),
    ("src/delta/error.rs", Exit::Wrapped("Delta")),
    (
        "src/sigstore/mod.rs",
        Exit::Fault(&[("Input", 1), ("Operator", 2)]),
    ),
    (
        "src/gate/error.rs",
        Exit::Fault(&[("Bundle", 1), ("Operator", 2), ("Environment", 3)]),
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<String>) {
    for e in fs::read_dir(root().join(dir)).unwrap() {
        let p = e.unwrap().path();
        let rel = p.strip_prefix(root()).unwrap().to_path_buf();
        if p.is_dir() {
            rust_files(&rel, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(rel.to_str().unwrap().to_owned());
        }
    }
}

fn all_sources() -> Vec<String> {
    let mut files = Vec::new();
    for d in ["src", "hsm/src", "bundle-format/src"] {
        rust_files(Path::new(d), &mut files);
    }
    files.sort();
    files
}

/// Every code the sources can raise, with its exit code and where.
fn sites() -> Vec<Site> {
    let binary = binary_exits();
    let mut out = Vec::new();
    for file in all_sources() {
        let text = source(&file);
        if text.contains("fn code(&self)") {
            assert!(
                CODE_FILES.iter().any(|(f, _)| *f == file),
                "{file} has a `fn code(&self)`: add it to CODE_FILES in tests/e2e/codes.rs"
            );
        }
    }
    // The binary's hints: its own variants', the wrapped types' without a
    // `fn hint` of their own, and the bundle format's (by fault, unless a
    // volume error has its own).
    let binary_text = source("src/error.rs");
    let binary_hints = Hints::read(&binary_text, "fn hint(&self)", "match self {");
    let volume_hints = Hints::read(&binary_text, "fn volume_hint(", "match e {");
    let bundle_arm = arms(&binary_text, "hint")
        .into_iter()
        .flatten()
        .find(|a| a.variants == ["Bundle"])
        .expect("src/error.rs: the hint of Error::Bundle");
    let by_fault = split_arms(
        &bundle_arm.value,
        {
            let m = bundle_arm.value.find("match e.fault() {").unwrap();
            m + "match e.fault() {".len()
        },
        bundle_arm.value.len() - 1,
    );
    let bundle_hint = |variant: &str, fault: &str| -> Option<String> {
        if let Some(h) = volume_hints.by_variant.get(variant) {
            return h.clone();
        }
        by_fault
            .iter()
            .find(|a| a.variants.iter().any(|v| v == fault) || a.variants.is_empty())
            .and_then(|a| fixed_text(&a.value))
    };
    for (file, how) in CODE_FILES {
        let text = source(file);
        let faults = path_map(&text, "fault");
        let own = text
            .contains("fn hint(&self)")
            .then(|| Hints::read(&text, "fn hint(&self)", "match self {"));
        for arm in arms(&text, "code").into_iter().flatten() {
            let hints = match (&own, how) {
                (Some(h), _) => h.of(&arm),
                (None, Exit::Wrapped(v)) => {
                    vec![binary_hints.by_variant.get(*v).cloned().flatten()]
                }
                (None, Exit::Fault(_)) if file.starts_with("bundle-format/") => arm
                    .variants
                    .iter()
                    .map(|v| bundle_hint(v, lookup(&faults, v)))
                    .collect(),
                (None, _) => vec![None],
            };
            let Some(code) = arm.literal else { continue };
            let variant = arm.variants.first().cloned().unwrap_or_default();
            let exit = match how {
                Exit::Fault(table) => {
                    let fault = lookup(&faults, &variant);
                    table
                        .iter()
                        .find(|(f, _)| *f == fault)
                        .unwrap_or_else(|| panic!("{file}: fault {fault} has no exit code"))
                        .1
                }
                Exit::Binary => *binary
                    .get(&variant)
                    .unwrap_or_else(|| panic!("src/error.rs: no exit code for {variant}")),
                Exit::Wrapped(v) => binary[*v],
            };
            for hint in hints {
                out.push(Site {
                    code: code.clone(),
                    exit,
                    at: format!("{file}:{}", line_of(&text, arm.offset)),
                    hint,
                });
            }
        }
    }
    // Errors built in place with their code: `Error::operator("code", …)`
    // (the operator's; each code at one site).
    for file in all_sources() {
        let text = source(&file);
        for (ctor, variant) in [("Error::operator(", "Operator")] {
            for (at, _) in text.match_indices(ctor) {
                let rest = text[at + ctor.len()..].trim_start();
                let here = format!("{file}:{}", line_of(&text, at));
                assert!(
                    rest.starts_with('"'),
                    "{here}: {ctor}…) takes its code from an expression; give a literal so that docs/codes.md can be checked"
                );
                let code = &rest[1..rest[1..].find('"').unwrap() + 1];
                out.push(Site {
                    code: code.to_owned(),
                    exit: binary[variant],
                    at: here,
                    hint: None,
                });
            }
        }
    }
    // In-toto rule refusals carry their code in the rule check.
    let file = "src/intoto/rules.rs";
    let text = source(file);
    for (at, _) in text.match_indices("\"rule-") {
        let code = &text[at + 1..at + 1 + text[at + 1..].find('"').unwrap()];
        out.push(Site {
            code: code.to_owned(),
            exit: binary["Intoto"],
            at: format!("{file}:{}", line_of(&text, at)),
            hint: None,
        });
    }
    out
}

/// A row of docs/codes.md.
#[derive(Debug)]
struct Row {
    exit: i32,
    fault: String,
    hint: String,
    line: usize,
}

fn registry() -> BTreeMap<String, Row> {
    let text = fs::read_to_string(root().join("docs/codes.md")).unwrap();
    let mut rows = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let cells: Vec<&str> = rest.split(" | ").collect();
        assert!(
            cells.len() >= 4,
            "docs/codes.md:{}: a row is | `code` | exit | at fault | hint | raised by |",
            n + 1
        );
        let code = cells[0].trim_end_matches('`').to_owned();
        let row = Row {
            exit: cells[1]
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("docs/codes.md:{}: exit code {:?}", n + 1, cells[1])),
            fault: cells[2].trim().to_owned(),
            hint: cells[3].trim().to_owned(),
            line: n + 1,
        };
        if let Some(old) = rows.insert(code.clone(), row) {
            panic!(
                "docs/codes.md:{}: code `{code}` has a second row (first at line {})",
                n + 1,
                old.line
            );
        }
    }
    rows
}

/// The "at fault" column for an exit code.
fn fault_of(exit: i32) -> &'static str {
    match exit {
        1 => "input",
        2 => "operator",
        _ => "environment",
    }
}

fn kebab(code: &str) -> bool {
    !code.is_empty()
        && code.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

#[test]
fn every_code_has_one_row_in_docs_codes_md() {
    let sites = sites();
    let rows = registry();
    assert!(
        sites.len() > 100,
        "the scan found only {} codes",
        sites.len()
    );
    let mut problems = Vec::new();
    let mut by_code: BTreeMap<&str, Vec<&Site>> = BTreeMap::new();
    for s in &sites {
        by_code.entry(&s.code).or_default().push(s);
    }
    for (code, sites) in &by_code {
        let at = |s: &&Site| format!("exit {} at {}", s.exit, s.at);
        if !kebab(code) {
            problems.push(format!(
                "code `{code}` ({}) is not kebab-case",
                sites.iter().map(at).collect::<Vec<_>>().join(", ")
            ));
        }
        if sites.iter().any(|s| s.exit != sites[0].exit) {
            problems.push(format!(
                "code `{code}` is used with different exit codes, so it means different things: {}",
                sites.iter().map(at).collect::<Vec<_>>().join(", ")
            ));
        }
        let mut fixed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for s in sites {
            if let Some(h) = &s.hint {
                fixed.entry(h.as_str()).or_default().push(s.at.as_str());
            }
        }
        if fixed.len() > 1 {
            problems.push(format!(
                "code `{code}` is given {} different hints; a code has one hint, defined next to it (put what differs by site into the message): {}",
                fixed.len(),
                fixed
                    .iter()
                    .map(|(h, at)| format!("{h:?} at {}", at.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        match rows.get(*code) {
            None => problems.push(format!(
                "code `{code}` has no row in docs/codes.md; add: | `{code}` | {} | {} | HINT | {} |",
                sites[0].exit,
                fault_of(sites[0].exit),
                sites.iter().map(|s| s.at.as_str()).collect::<Vec<_>>().join(", ")
            )),
            Some(row) => {
                if row.exit != sites[0].exit {
                    problems.push(format!(
                        "docs/codes.md:{}: code `{code}` is documented with exit {} but raised with exit {} at {}",
                        row.line, row.exit, sites[0].exit, sites[0].at
                    ));
                }
                let fault = fault_of(row.exit);
                if row.fault != fault {
                    problems.push(format!(
                        "docs/codes.md:{}: code `{code}` exits {}, so the one at fault is `{fault}`, not `{}`",
                        row.line, row.exit, row.fault
                    ));
                }
                if row.hint.is_empty() {
                    problems.push(format!("docs/codes.md:{}: code `{code}` has no hint", row.line));
                }
                if fixed.len() == 1
                    && let Some(hint) = fixed.keys().next()
                    && row.hint != *hint
                {
                    problems.push(format!(
                        "docs/codes.md:{}: code `{code}`'s hint is not the one the sources give: {hint:?}",
                        row.line
                    ));
                }
            }
        }
    }
    for (code, row) in &rows {
        if !by_code.contains_key(code.as_str()) {
            problems.push(format!(
                "docs/codes.md:{}: code `{code}` is raised nowhere in the sources; remove its row",
                row.line
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn the_scanner_reads_what_the_sources_say() {
    // A known code of each kind, with its exit code, so that a change in
    // the sources' shape cannot make the scan above silently find nothing.
    let sites = sites();
    let exit_of = |code: &str| {
        sites
            .iter()
            .find(|s| s.code == code)
            .unwrap_or_else(|| panic!("the scan did not find `{code}`"))
            .exit
    };
    assert_eq!(exit_of("payload-digest-mismatch"), 1); // bundle, Fault::Bundle
    assert_eq!(exit_of("split-size"), 2); // bundle, Fault::Input
    assert_eq!(exit_of("output-write"), 3); // bundle, Fault::Environment
    assert_eq!(exit_of("pkcs11-uri-invalid"), 2); // hsm, Fault::Operator
    assert_eq!(exit_of("tpm-error"), 3); // hsm, an arm with a guard
    assert_eq!(exit_of("usage"), 2); // the binary's own
    assert_eq!(exit_of("root-threshold"), 1); // a domain error
    assert_eq!(exit_of("rule-disallow"), 1); // an in-toto rule
    assert_eq!(exit_of("journal-signature"), 1);
    assert_eq!(exit_of("write-failed"), 3); // the binary's file errors
    assert_eq!(exit_of("staging-removed"), 3); // unpack's staging
    assert_eq!(exit_of("registry-auth"), 3); // a registry
    assert_eq!(exit_of("store-busy"), 3); // a journal operation
    assert!(
        sites
            .iter()
            .any(|s| s.at.starts_with("src/cmd/") && s.exit == 2)
    );
    // The hints are read too: a fixed one from a layer's `fn hint`, the
    // bundle format's by fault, a volume error's own.
    let hint_of = |code: &str| {
        sites
            .iter()
            .find(|s| s.code == code)
            .and_then(|s| s.hint.clone())
            .unwrap_or_else(|| panic!("the scan found no hint for `{code}`"))
    };
    assert!(hint_of("store-busy").contains("--lock-timeout"));
    assert!(hint_of("tpm-error").contains("TPM is reachable"));
    assert!(hint_of("pkcs11-error").contains("module-path"));
    assert!(hint_of("bundle-truncated").starts_with("do not use this bundle"));
    assert!(hint_of("split-size").starts_with("choose a larger volume size"));
    assert!(hint_of("write-failed").contains("free space"));
    assert_eq!(
        fixed_text("{\n \"a \\\"b\\\" \\\n    c\".into()\n}").as_deref(),
        Some("a \"b\" c")
    );
    assert_eq!(fixed_text("format!(\"{x}\")"), None);
    assert_eq!(fixed_text("\"a\" | \"b\""), None);
    assert!(kebab("a-b2-c") && !kebab("A-b") && !kebab("a--b") && !kebab("a_b") && !kebab("-a"));
}
