//! `airlock journal report`: one self-contained HTML file an assessor can
//! open and print — the journal's integrity verdict and key, the anchor,
//! charts of imports and refusals over time and of refusals by code, every
//! import with its signers, root version and supply-chain verdict, every
//! refusal with its code and hint, and the timeline of all decisions.
//!
//! No scripts, no fetches: inline CSS and inline SVG. Every string taken
//! from the journal is HTML-escaped. The journal is read twice (figures
//! first, then the rows, streamed to the file), so memory does not grow
//! with its length. Figures carry `data-figure` attributes so that tests
//! (and scripts) can read them back.
use std::io;
use std::path::Path;

use airlock_hsm::{PublicKey, open_store};
use serde_json::Value;

use crate::error::Error;
use crate::journal::facts::{Day, Facts, code_label, error_code};
use crate::journal::record::Record;
use crate::timefmt::{format_utc, now};
use crate::tuf::Root;

/// What the report is made from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A store's journal (its committed records).
    Store(&'a Path),
    /// An export file, checked with the key it carries or `key`.
    Export(&'a Path, Option<&'a PublicKey>),
}

/// What the report says about its source, besides the records.
#[derive(Debug, Default)]
struct Meta {
    source: String,
    backend: String,
    key: Option<(String, String)>,
    root: Option<(u64, String, Option<u64>)>,
    channels: Vec<(String, u64)>,
    note: Option<String>,
}

/// The verdict: `None` when intact, or why not (an exit-1 error).
type Verdict = Option<Error>;

fn scan(src: Source<'_>, each: &mut dyn FnMut(&Record)) -> Result<(Meta, Verdict), Error> {
    let mut meta = Meta::default();
    let result = match src {
        Source::Store(dir) => {
            let store = open_store(dir)?;
            let key = store.journal_public_key()?;
            let anchor = crate::trust_anchor::trusted_anchor(store.as_ref())?;
            let expires = Root::parse(&anchor.root_json).ok().map(|r| r.expires);
            meta.source = format!("trust store {}", dir.display());
            meta.backend = store.backend().name().to_owned();
            meta.key = Some((
                key.algorithm().name().to_owned(),
                airlock_hsm::journal::journal_keyid(&key),
            ));
            meta.root = Some((anchor.version, hex::encode(anchor.sha256), expires));
            meta.channels = store.state()?.channels.into_iter().collect();
            meta.note = (store.backend() == airlock_hsm::BackendKind::File).then(|| {
                "A file store's head is a plain file: someone who can rewrite the store directory can truncate the journal and its head together undetected (docs/journal-format.md).".to_owned()
            });
            crate::journal::siem::committed_records(store.as_ref(), &key, |r| {
                each(r);
                Ok(())
            })
            .map(|_| ())
        }
        Source::Export(path, key) => {
            meta.source = format!("journal export {}", path.display());
            match crate::journal::export::verify_export(path, key, |r| each(r)) {
                Ok(s) => {
                    meta.backend = s.backend.clone();
                    meta.key = Some((
                        s.key.algorithm().name().to_owned(),
                        airlock_hsm::journal::journal_keyid(&s.key),
                    ));
                    meta.root = Some((s.root.version, s.root_sha256.clone(), Some(s.root.expires)));
                    if key.is_none() {
                        meta.note = Some("Checked against the key the export carries: compare its keyid with the one recorded when the store was provisioned.".into());
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    };
    let verdict = match result {
        Ok(()) => None,
        // Not intact (exit 1): reported in the report. Anything else (a
        // store that cannot be read) is the command's error.
        Err(e) if e.exit_code() == crate::error::EXIT_REJECTED => Some(e),
        Err(e) => return Err(e),
    };
    Ok((meta, verdict))
}

/// HTML-escapes text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn date(t: u64) -> String {
    format_utc(t)[..10].to_owned()
}

const CSS: &str = r#"
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; --bar-imp: #2f81f7; --bar-ref: #cf222e; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1f2328; margin: 0 auto; max-width: 1200px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.sub { color: var(--muted); margin: 0 0 16px; }
.verdict { border: 2px solid; border-radius: 6px; padding: 12px 16px; margin: 16px 0; }
.verdict.ok { border-color: var(--ok); background: #dafbe1; }
.verdict.bad { border-color: var(--bad); background: #ffebe9; }
.verdict strong { font-size: 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.card .n { font-size: 22px; font-weight: 600; }
.card .l { color: var(--muted); font-size: 12px; }
.card.bad .n { color: var(--bad); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 12.5px; }
th, td { border: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
tr.refusal td.code, span.code { color: var(--bad); font-weight: 600; }
.muted { color: var(--muted); }
.tag { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 11.5px; border: 1px solid var(--line); }
.tag.accepted { color: var(--ok); border-color: var(--ok); }
.tag.refused { color: var(--bad); border-color: var(--bad); }
.tag.failed, .tag.aborted, .tag.uncommitted { color: var(--warn); border-color: var(--warn); }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.chart { border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
.chart h3 { font-size: 14px; margin: 0 0 6px; }
svg text { font: 11px system-ui, sans-serif; fill: #1f2328; }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; vertical-align: middle; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-after: avoid; }
  .chart, .verdict, .card, tr { break-inside: avoid; }
  thead { display: table-header-group; }
  .charts { grid-template-columns: 1fr 1fr; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// A period's bars: bucket size in days and its name.
fn period(first: u64, last: u64) -> (u64, &'static str) {
    let days = last / 86_400 - first / 86_400 + 1;
    if days <= 45 {
        (1, "day")
    } else if days <= 45 * 7 {
        (7, "week")
    } else if days <= 45 * 30 {
        (30, "30 days")
    } else {
        (365, "year")
    }
}

/// Imports and refusals per period, as an SVG bar chart.
fn timeline_chart(f: &Facts) -> String {
    let (Some(first), Some(last)) = (f.first_time, f.last_time) else {
        return "<p class=\"muted\">No records.</p>".into();
    };
    let (size, name) = period(first, last);
    let d0 = first / 86_400 / size;
    let d1 = last / 86_400 / size;
    let mut buckets: Vec<(u64, Day)> = (d0..=d1).map(|b| (b, Day::default())).collect();
    for (day, d) in &f.days {
        let i = (day / size - d0) as usize;
        if let Some((_, b)) = buckets.get_mut(i) {
            b.imports += d.imports;
            b.refused += d.refused;
        }
    }
    let max = buckets
        .iter()
        .map(|(_, d)| d.imports.max(d.refused))
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, left, bottom) = (520.0, 200.0, 30.0, 34.0);
    let slot = (w - left - 6.0) / buckets.len() as f64;
    let bar = (slot * 0.4).clamp(1.0, 18.0);
    let scale = (h - bottom - 12.0) / max as f64;
    let mut s = format!(
        "<svg role=\"img\" aria-label=\"imports and refusals per {name}\" viewBox=\"0 0 {w} {h}\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\">"
    );
    let base = h - bottom;
    s.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{base}\" x2=\"{w}\" y2=\"{base}\" stroke=\"#8c959f\"/><text x=\"2\" y=\"{:.1}\">{max}</text><text x=\"2\" y=\"{base}\">0</text>",
        h - bottom - max as f64 * scale + 4.0
    ));
    let every = (buckets.len() / 8).max(1);
    for (i, (b, d)) in buckets.iter().enumerate() {
        let x = left + i as f64 * slot + (slot - 2.0 * bar) / 2.0;
        let label = date(b * size * 86_400);
        for (k, (n, class, color)) in [
            (d.imports, "bar-imports", "var(--bar-imp)"),
            (d.refused, "bar-refusals", "var(--bar-ref)"),
        ]
        .into_iter()
        .enumerate()
        {
            let bh = n as f64 * scale;
            s.push_str(&format!(
                "<rect class=\"{class}\" data-period=\"{label}\" data-n=\"{n}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{bh:.1}\" fill=\"{color}\"><title>{label}: {n}</title></rect>",
                x + k as f64 * bar,
                base - bh
            ));
        }
        if i % every == 0 {
            s.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x,
                h - bottom + 14.0,
                &label[5..]
            ));
        }
    }
    s.push_str(&format!(
        "<text x=\"{left}\" y=\"{:.1}\" class=\"muted\">per {name}, {} to {} (UTC)</text></svg>",
        h - 4.0,
        date(d0 * size * 86_400),
        date(d1 * size * 86_400)
    ));
    s.push_str("<div class=\"legend\"><span style=\"background:var(--bar-imp)\"></span>imports<span style=\"background:var(--bar-ref)\"></span>refusals</div>");
    s
}

/// Refusals by code, as horizontal SVG bars.
fn codes_chart(f: &Facts) -> String {
    if f.refusals_by_code.is_empty() {
        return "<p class=\"muted\">No refusals.</p>".into();
    }
    let mut codes: Vec<(&String, &u64)> = f.refusals_by_code.iter().collect();
    codes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let max = *codes[0].1 as f64;
    let row = 20.0;
    let h = row * codes.len() as f64 + 6.0;
    let mut s = format!(
        "<svg role=\"img\" aria-label=\"refusals by code\" viewBox=\"0 0 520 {h}\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\">"
    );
    for (i, (code, n)) in codes.iter().enumerate() {
        let y = i as f64 * row + 4.0;
        let bw = (**n as f64 / max) * 300.0;
        let code = esc(code);
        s.push_str(&format!(
            "<text x=\"4\" y=\"{:.1}\">{code}</text><rect class=\"bar-code\" data-code=\"{code}\" data-n=\"{n}\" x=\"180\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"14\" fill=\"var(--bar-ref)\"><title>{code}: {n}</title></rect><text x=\"{:.1}\" y=\"{:.1}\">{n}</text>",
            y + 11.0,
            184.0 + bw,
            y + 11.0
        ));
    }
    s.push_str("</svg>");
    s
}

/// How a summary card is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    /// A figure.
    Plain,
    /// A figure that needs attention (drawn in red).
    Alarm,
}

impl Tone {
    fn when(alarm: bool) -> Tone {
        if alarm { Tone::Alarm } else { Tone::Plain }
    }
}

fn card(out: &mut String, figure: &str, n: impl std::fmt::Display, label: &str, tone: Tone) {
    out.push_str(&format!(
        "<div class=\"card{}\"><div class=\"n\" data-figure=\"{figure}\">{n}</div><div class=\"l\">{label}</div></div>",
        if tone == Tone::Alarm { " bad" } else { "" }
    ));
}

/// The report's head: verdict, key, anchor, figures and charts.
fn head(meta: &Meta, verdict: &Verdict, f: &Facts, generated: u64) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">");
    h.push_str(&format!(
        "<title>airlock audit report — {}</title><style>{CSS}</style></head><body>",
        esc(&meta.source)
    ));
    h.push_str("<h1>airlock audit report</h1>");
    h.push_str(&format!(
        "<p class=\"sub\">{} · generated {} · records {} to {}</p>",
        esc(&meta.source),
        format_utc(generated),
        f.first_time.map_or("—".into(), format_utc),
        f.last_time.map_or("—".into(), format_utc),
    ));
    match verdict {
        None => h.push_str(&format!(
            "<div class=\"verdict ok\" id=\"verdict\" data-intact=\"true\"><strong>Journal intact</strong>: <span data-figure=\"records\">{}</span> records; sequence, hash chain and signatures verify{}.</div>",
            f.records,
            if meta.backend.is_empty() || meta.source.starts_with("journal export") {
                ", and the export ends with its own export record"
            } else {
                ", up to the head bound to the store's state"
            }
        )),
        Some(e) => h.push_str(&format!(
            "<div class=\"verdict bad\" id=\"verdict\" data-intact=\"false\"><strong>Journal NOT intact</strong> — <span class=\"code\" data-figure=\"verify-code\">{}</span>: {}<br><em>{}</em><br>The figures and tables below cover only the <span data-figure=\"records\">{}</span> records that checked before the failure.</div>",
            esc(e.code()),
            esc(&e.to_string()),
            esc(&e.hint()),
            f.records
        )),
    }
    h.push_str("<dl class=\"facts\">");
    let dd = |h: &mut String, k: &str, v: String| {
        h.push_str(&format!("<dt>{k}</dt><dd>{v}</dd>"));
    };
    if let Some((alg, keyid)) = &meta.key {
        dd(
            &mut h,
            "Journal key",
            format!(
                "{} <code data-figure=\"keyid\">{}</code>",
                esc(alg),
                esc(keyid)
            ),
        );
    }
    if !meta.backend.is_empty() {
        dd(&mut h, "Backend", esc(&meta.backend));
    }
    if let Some((v, sha, expires)) = &meta.root {
        dd(
            &mut h,
            "Anchored root",
            format!(
                "version <span data-figure=\"root-version\">{v}</span>{}, sha256 <code>{}</code>",
                expires.map_or(String::new(), |e| format!(", expires {}", format_utc(e))),
                esc(sha)
            ),
        );
        if let Some((jv, jsha)) = &f.anchor
            && (jv != v || jsha != sha)
        {
            dd(
                &mut h,
                "Warning",
                format!(
                    "<span class=\"code\">the journal last records root version {jv} (sha256 <code>{}</code>), not the anchored one</span>",
                    esc(jsha)
                ),
            );
        }
    }
    if !meta.channels.is_empty() {
        let c: Vec<String> = meta
            .channels
            .iter()
            .map(|(c, q)| format!("{} #{q}", esc(c)))
            .collect();
        dd(&mut h, "Channels (last sequence)", c.join(", "));
    }
    if let Some(n) = &meta.note {
        dd(
            &mut h,
            "Note",
            format!("<span class=\"muted\">{}</span>", esc(n)),
        );
    }
    h.push_str("</dl>");

    let decided = f.count(Some("verify"), "accepted")
        + f.count(Some("unpack"), "accepted")
        + f.count(Some("verify"), "refused")
        + f.count(Some("unpack"), "refused");
    let accepted = f.count(Some("verify"), "accepted") + f.count(Some("unpack"), "accepted");
    let ratio = if decided == 0 {
        "—".to_owned()
    } else {
        format!("{:.1}%", accepted as f64 * 100.0 / decided as f64)
    };
    h.push_str("<h2>Summary</h2><div class=\"cards\">");
    card(
        &mut h,
        "imports",
        f.imports(),
        "imports (committed)",
        Tone::Plain,
    );
    card(
        &mut h,
        "verified",
        f.count(Some("verify"), "accepted"),
        "verified (verify only)",
        Tone::Plain,
    );
    let refused = f.count(None, "refused");
    card(
        &mut h,
        "refused",
        refused,
        "refused (exit 1)",
        Tone::when(refused > 0),
    );
    card(
        &mut h,
        "failed",
        f.count(None, "failed"),
        "failed (exit 2/3)",
        Tone::Plain,
    );
    card(
        &mut h,
        "aborted",
        f.count(None, "aborted"),
        "imports aborted",
        Tone::Plain,
    );
    card(
        &mut h,
        "ratio",
        ratio,
        "verified release ratio",
        Tone::Plain,
    );
    card(
        &mut h,
        "rotations",
        f.root_rotations,
        "root rotations",
        Tone::Plain,
    );
    let overrides: u64 = f.overrides.values().sum();
    card(
        &mut h,
        "overrides",
        overrides,
        "--at overrides",
        Tone::when(overrides > 0),
    );
    h.push_str("</div>");
    h.push_str(
        "<div class=\"charts\"><div class=\"chart\"><h3>Imports and refusals over time</h3>",
    );
    h.push_str(&timeline_chart(f));
    h.push_str("</div><div class=\"chart\"><h3>Refusals by code</h3>");
    h.push_str(&codes_chart(f));
    h.push_str("</div></div>");
    h
}

fn s<'a>(r: &'a Record, k: &str) -> &'a str {
    r.str_field(k).unwrap_or("")
}

fn tag(t: &str) -> String {
    format!("<span class=\"tag {0}\">{0}</span>", esc(t))
}

/// A field the record may carry (added by later versions): compact JSON,
/// or what to say when it is absent.
fn optional(r: &Record, keys: &[&str], absent: &str) -> String {
    for k in keys {
        if let Some(v) = r.fields.get(*k).filter(|v| !v.is_null()) {
            let text = match v {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            return format!("<span class=\"mono\">{}</span>", esc(&text));
        }
    }
    format!("<span class=\"muted\">{absent}</span>")
}

/// One `<tr>` of the imports table.
fn import_row(r: &Record, f: &Facts) -> String {
    let status = if f.is_import(r.seq) {
        "committed"
    } else {
        "uncommitted"
    };
    let signers: Vec<String> = r
        .fields
        .get("signers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|k| format!("<code>{}</code>", esc(k)))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "<tr class=\"import\" data-status=\"{status}\" data-seq=\"{}\"><td>{}</td><td>{}</td><td><code>{}</code></td><td>{} #{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({} bytes)</td><td class=\"mono\">{}</td><td>{}</td></tr>\n",
        r.seq,
        r.seq,
        format_utc(r.time),
        esc(s(r, "bundle_id")),
        esc(s(r, "channel")),
        r.u64_field("sequence")
            .map_or("?".into(), |v| v.to_string()),
        signers.join("<br>"),
        r.u64_field("root_version")
            .map_or("?".into(), |v| v.to_string()),
        optional(
            r,
            &["supply_chain", "layout", "intoto"],
            "held (every accepted bundle passed the in-toto check; details not recorded)"
        ),
        optional(r, &["policy"], "not recorded"),
        r.u64_field("artifacts").unwrap_or(0),
        r.u64_field("artifact_bytes").unwrap_or(0),
        esc(s(r, "destination")),
        tag(status),
    )
}

/// One `<tr>` of the refusals table.
fn refusal_row(r: &Record) -> String {
    let e = r.fields.get("error");
    let get = |k: &str| {
        e.and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let hint = get("hint");
    let claimed = if r.fields.get("manifest_authenticated") == Some(&Value::Bool(true)) {
        esc(s(r, "bundle_id"))
    } else if s(r, "bundle_id").is_empty() {
        String::new()
    } else {
        format!(
            "{} <span class=\"muted\">(unauthenticated claim)</span>",
            esc(s(r, "bundle_id"))
        )
    };
    format!(
        "<tr class=\"refusal\" data-seq=\"{}\" data-code=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"code\">{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>\n",
        r.seq,
        esc(&code_label(error_code(r))),
        r.seq,
        format_utc(r.time),
        esc(&r.event),
        esc(get("code")),
        esc(get("message")),
        if hint.is_empty() {
            "<span class=\"muted\">not recorded</span>".to_owned()
        } else {
            esc(hint)
        },
        esc(s(r, "bundle_file")),
        esc(s(r, "bundle_sha256")),
        claimed,
    )
}

/// One `<tr>` of the timeline.
fn timeline_row(r: &Record) -> String {
    let outcome = r.str_field("outcome").unwrap_or("");
    let detail = match r.event.as_str() {
        "verify" | "unpack" if outcome == "accepted" => format!(
            "bundle <code>{}</code> {} #{}",
            esc(s(r, "bundle_id")),
            esc(s(r, "channel")),
            r.u64_field("sequence").unwrap_or(0)
        ),
        "verify" | "unpack" | "intoto.verify" => {
            let e = r.fields.get("error");
            let code = e.and_then(|e| e.get("code")).and_then(Value::as_str);
            format!(
                "{}{}",
                code.map_or(String::new(), |c| format!(
                    "<span class=\"code\">{}</span> ",
                    esc(c)
                )),
                esc(if r.event == "intoto.verify" {
                    s(r, "layout_file")
                } else {
                    s(r, "bundle_file")
                })
            )
        }
        "anchor.provisioned" => format!(
            "root version {} ({})",
            r.u64_field("root_version").unwrap_or(0),
            esc(s(r, "backend"))
        ),
        "anchor.advanced" => format!(
            "root version {} → {}",
            r.u64_field("old_root_version").unwrap_or(0),
            r.u64_field("new_root_version").unwrap_or(0)
        ),
        "store.floor" => format!(
            "channel {} floor {}",
            esc(s(r, "channel")),
            r.u64_field("floor").unwrap_or(0)
        ),
        "journal.started" => format!("root version {}", r.u64_field("root_version").unwrap_or(0)),
        "journal.exported" => format!("{} records", r.u64_field("records").unwrap_or(0)),
        "journal.recovered" => format!(
            "uncommitted {}",
            esc(&r
                .fields
                .get("uncommitted")
                .map_or(String::new(), Value::to_string))
        ),
        "import.interrupted" => format!(
            "bundle <code>{}</code>: kept {} entries, discarded {} files",
            esc(s(r, "bundle_id")),
            r.u64_field("kept_entries").unwrap_or(0),
            r.u64_field("discarded_files").unwrap_or(0)
        ),
        "import.resumed" => format!(
            "bundle <code>{}</code>: from payload frame {} (byte {})",
            esc(s(r, "bundle_id")),
            r.u64_field("frame").unwrap_or(0),
            r.u64_field("offset").unwrap_or(0)
        ),
        _ => String::new(),
    };
    let over = r.str_field("at").map_or(String::new(), |a| {
        format!(" <span class=\"tag failed\">--at {}</span>", esc(a))
    });
    format!(
        "<tr class=\"record\" data-seq=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{detail}{over}</td></tr>\n",
        r.seq,
        r.seq,
        format_utc(r.time),
        esc(&r.event),
        if outcome.is_empty() {
            String::new()
        } else {
            tag(outcome)
        },
    )
}

/// Which table a second pass writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    Imports,
    Refusals,
    Timeline,
}

/// What [`write`] found.
#[derive(Debug)]
pub struct Written {
    /// The journal's figures.
    pub facts: Facts,
    /// `None` when the journal is intact; otherwise why not.
    pub verdict: Option<Error>,
}

/// Writes the report of `src` to `out` (atomically; mode 0644 for a new
/// file). A journal that does not verify still gets its report (saying
/// so, with the records that checked); the caller reports the verdict.
pub fn write(src: Source<'_>, out: &Path) -> Result<Written, Error> {
    let mut facts = Facts::default();
    let (meta, verdict) = scan(src, &mut |r| facts.add(r))?;
    let facts = facts.finish(None);
    let last = facts.records;
    let generated = now();
    let mut failure: Option<Error> = None;
    crate::fsutil::replace_file_with(out, 0o644, |w| {
        w.write_all(head(&meta, &verdict, &facts, generated).as_bytes())?;
        for (table, title, header) in [
            (
                Table::Imports,
                "Imports",
                "<th>seq</th><th>recorded</th><th>bundle id</th><th>channel #sequence</th><th>signers</th><th>root</th><th>in-toto</th><th>policy</th><th>artifacts</th><th>destination</th><th>status</th>",
            ),
            (
                Table::Refusals,
                "Refusals",
                "<th>seq</th><th>recorded</th><th>command</th><th>code</th><th>message</th><th>hint</th><th>bundle file</th><th>file sha256</th><th>bundle id</th>",
            ),
            (
                Table::Timeline,
                "Timeline of records",
                "<th>seq</th><th>recorded</th><th>event</th><th>outcome</th><th>detail</th>",
            ),
        ] {
            writeln!(
                w,
                "<h2>{title}</h2><table id=\"{}\"><thead><tr>{header}</tr></thead><tbody>",
                title.split(' ').next().unwrap_or(title).to_lowercase()
            )?;
            let mut io_err: Option<io::Error> = None;
            let mut rows = 0u64;
            let rescan = scan(src, &mut |r| {
                if io_err.is_some() || r.seq > last {
                    return;
                }
                let row = match (table, r.event.as_str(), r.str_field("outcome")) {
                    (Table::Imports, "unpack", Some("accepted")) => import_row(r, &facts),
                    (Table::Refusals, _, Some("refused")) => refusal_row(r),
                    (Table::Timeline, _, _) => timeline_row(r),
                    _ => return,
                };
                rows += 1;
                if let Err(e) = w.write_all(row.as_bytes()) {
                    io_err = Some(e);
                }
            });
            if let Some(e) = io_err {
                return Err(e);
            }
            if let Err(e) = rescan {
                failure = Some(e);
                return Err(io::Error::other("the journal could not be read again"));
            }
            if rows == 0 {
                w.write_all(b"<tr><td colspan=\"11\" class=\"muted\">none</td></tr>\n")?;
            }
            w.write_all(b"</tbody></table>\n")?;
        }
        writeln!(
            w,
            "<footer>Every figure above is computed from the journal's records, each checked (sequence, hash chain, signature) before it was counted. Written by airlock {} at {}. Check the journal yourself: <code>airlock journal verify</code>.</footer></body></html>",
            env!("CARGO_PKG_VERSION"),
            format_utc(generated)
        )
    })
    .map_err(|e| failure.take().unwrap_or(e))?;
    Ok(Written { facts, verdict })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_could_open_markup() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn periods_stay_within_45_bars() {
        assert_eq!(period(0, 10 * 86_400), (1, "day"));
        assert_eq!(period(0, 100 * 86_400), (7, "week"));
        assert_eq!(period(0, 1000 * 86_400), (30, "30 days"));
        assert_eq!(period(0, 5000 * 86_400).1, "year");
    }
}
