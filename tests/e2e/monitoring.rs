//! What operators and auditors look at (docs/monitoring.md): the metrics
//! agree with the journal and pass `promtool`; a real Prometheus loads the
//! alert rules, scrapes the file and fires; the dashboard's queries run;
//! the HTML report renders in a real Chromium; the SIEM feed reaches a real
//! rsyslog over UDP and TCP, once per record.
//!
//! Each component runs on 127.0.0.1 on a free port, in a temporary
//! directory, and is stopped afterwards. Under CI a missing component fails
//! the test; a developer run without it skips loudly.
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::World;

/// The Debian packages these tests need (scripts/test.sh installs them).
const PACKAGES: &str = "prometheus chromium rsyslog";

/// `true` when the test must skip (a developer run without `programs`);
/// panics under CI.
#[track_caller]
pub(crate) fn skip(test: &str, programs: &[&str]) -> bool {
    let absent: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| {
            !crate::emulators::on_path(p) && !Path::new(&format!("/usr/sbin/{p}")).is_file()
        })
        .collect();
    if absent.is_empty() {
        return false;
    }
    let msg = format!(
        "{test}: {} not found (apt-get install {PACKAGES})",
        absent.join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}; under CI the monitoring tests must run");
    }
    eprintln!("\n!!!!!!!!!! SKIPPED {msg} !!!!!!!!!!\n");
    true
}

/// A child process killed (and reaped) on drop.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (bounded; not a timing assertion) until `ready` says yes.
#[track_caller]
pub(crate) fn wait_for(what: &str, secs: u64, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ready() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A store with a history: two imports on two channels, a verify, a
/// replay, a rollback, and a garbage file.
fn history() -> World {
    let w = World::new();
    w.pack("a.airlock", &["--channel", "stable", "--sequence", "7"])
        .ok();
    w.write("dist/extra.txt", b"second release\n");
    w.pack("b.airlock", &["--channel", "beta", "--sequence", "3"])
        .ok();
    w.write("dist/extra.txt", b"old release\n");
    w.pack("old.airlock", &["--channel", "stable", "--sequence", "2"])
        .ok();
    w.write("garbage.airlock", b"not a bundle at all");
    std::fs::create_dir_all(w.path("in")).unwrap();
    w.verify("a.airlock").ok();
    w.unpack("a.airlock", "in/a").ok();
    w.unpack("b.airlock", "in/b").ok();
    w.unpack("a.airlock", "in/again").fails(1, "replay");
    w.unpack("old.airlock", "in/old").fails(1, "rollback");
    assert_ne!(w.verify("garbage.airlock").code, 0);
    w
}

/// The journal's records, parsed.
fn records(w: &World) -> Vec<Value> {
    std::fs::read_to_string(w.path("store/journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Samples of an exposition: "name{labels}" -> value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_owned(), v.parse().unwrap())
        })
        .collect()
}

pub(crate) fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut c = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    let mut input = c.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let o = c.wait_with_output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn metrics_agree_with_the_journal_and_pass_promtool() {
    let w = history();
    w.run(&["metrics", "--store", "store", "--out", "m/airlock.prom"])
        .fails(3, "cannot write");
    std::fs::create_dir_all(w.path("m")).unwrap();
    w.run(&["metrics", "--store", "store", "--out", "m/airlock.prom"])
        .ok();
    let text = std::fs::read_to_string(w.path("m/airlock.prom")).unwrap();
    let m = samples(&text);

    // Decisions by (command, outcome, code), counted from the records.
    let recs = records(&w);
    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    for r in &recs {
        let e = r["event"].as_str().unwrap();
        if !["verify", "unpack", "intoto.verify"].contains(&e) {
            continue;
        }
        let o = r["fields"]["outcome"].as_str().unwrap();
        let code = r["fields"]["error"]["code"].as_str().unwrap_or("none");
        *want
            .entry(format!(
                "airlock_decisions_total{{command=\"{e}\",outcome=\"{o}\",code=\"{code}\"}}"
            ))
            .or_default() += 1.0;
    }
    let got: BTreeMap<String, f64> = m
        .iter()
        .filter(|(k, _)| k.starts_with("airlock_decisions_total"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        m["airlock_decisions_total{command=\"unpack\",outcome=\"refused\",code=\"replay\"}"],
        1.0
    );
    // Imports per channel, last sequences (the store's state), the anchor.
    assert_eq!(m["airlock_imports_total{channel=\"stable\"}"], 1.0);
    assert_eq!(m["airlock_imports_total{channel=\"beta\"}"], 1.0);
    assert_eq!(m["airlock_channel_last_sequence{channel=\"stable\"}"], 7.0);
    assert_eq!(m["airlock_channel_last_sequence{channel=\"beta\"}"], 3.0);
    assert_eq!(m["airlock_root_version"], 1.0);
    assert_eq!(m["airlock_journal_intact"], 1.0);
    assert_eq!(m["airlock_journal_records"], recs.len() as f64);
    assert_eq!(m["airlock_journal_head_seq"], recs.len() as f64);
    assert_eq!(m["airlock_store_info{backend=\"file\"}"], 1.0);
    assert!(!m.keys().any(|k| k.starts_with("airlock_store_counter")));
    // The last import's time is its record's.
    let last_beta = recs
        .iter()
        .rfind(|r| r["event"] == "unpack" && r["fields"]["channel"] == "beta")
        .unwrap();
    let t = airlock::timefmt::parse_utc(last_beta["time"].as_str().unwrap()).unwrap();
    assert_eq!(
        m["airlock_last_import_timestamp_seconds{channel=\"beta\"}"],
        t as f64
    );
    // One duration observation per verify/unpack record.
    let decided = |c: &str| recs.iter().filter(|r| r["event"] == c).count() as f64;
    for c in ["verify", "unpack"] {
        assert_eq!(
            m[&format!("airlock_decision_duration_seconds_count{{command=\"{c}\"}}")],
            decided(c)
        );
        assert_eq!(
            m[&format!("airlock_decision_duration_seconds_bucket{{command=\"{c}\",le=\"+Inf\"}}")],
            decided(c)
        );
    }
    // The refused channel claim of garbage never becomes a label, and no
    // bundle id is a label value anywhere.
    for r in &recs {
        if let Some(id) = r["fields"]["bundle_id"].as_str() {
            assert!(!text.contains(id), "bundle id {id} in the metrics");
        }
    }
    // The replay's hint is the one recorded.
    let replay = recs
        .iter()
        .find(|r| r["fields"]["error"]["code"] == "replay")
        .unwrap();
    assert!(text.contains(&format!(
        "hint=\"{}\"",
        replay["fields"]["error"]["hint"].as_str().unwrap()
    )));

    // promtool: the exposition lints clean, the rules check.
    if skip(
        "metrics_agree_with_the_journal_and_pass_promtool",
        &["promtool"],
    ) {
        return;
    }
    let (ok, out) = promtool(&["check", "metrics"], Some(&text));
    assert!(ok, "promtool check metrics: {out}");
    let rules = repo("docs/monitoring/airlock-alerts.yml");
    let (ok, out) = promtool(&["check", "rules", rules.to_str().unwrap()], None);
    assert!(ok && out.contains("SUCCESS: 5 rules found"), "{out}");

    // Deciding commands refresh --metrics-file.
    w.run(&[
        "verify",
        "a.airlock",
        "--store",
        "store",
        "--metrics-file",
        "m/airlock.prom",
    ])
    .fails(1, "replay");
    let after = samples(&std::fs::read_to_string(w.path("m/airlock.prom")).unwrap());
    let key = "airlock_decisions_total{command=\"verify\",outcome=\"refused\",code=\"replay\"}";
    assert_eq!(after[key], m.get(key).copied().unwrap_or(0.0) + 1.0);

    // A journal that does not verify: the file says so, exit 1.
    let path = w.path("store/journal.jsonl");
    let j = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, j.replacen("\"stable\"", "\"stabl3\"", 1)).unwrap();
    w.run(&["metrics", "--store", "store", "--out", "m/airlock.prom"])
        .fails(1, "");
    let broken = samples(&std::fs::read_to_string(w.path("m/airlock.prom")).unwrap());
    assert_eq!(broken["airlock_journal_intact"], 0.0);
    assert!(
        !broken
            .keys()
            .any(|k| k.starts_with("airlock_decisions_total"))
    );
    let (ok, out) = promtool(
        &["check", "metrics"],
        Some(&std::fs::read_to_string(w.path("m/airlock.prom")).unwrap()),
    );
    assert!(ok, "{out}");
}

/// The metric names a PromQL expression uses.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while let Some(p) = expr[i..].find("airlock_") {
        let s = i + p;
        let mut e = s;
        while e < b.len() && (b[e].is_ascii_alphanumeric() || b[e] == b'_') {
            e += 1;
        }
        out.push(expr[s..e].to_owned());
        i = e;
    }
    out
}

/// The dashboard: the structure Grafana imports (unique ids, a grid of at
/// most 24 columns, a datasource input, known panel types), the three
/// views, and every query naming metrics `airlock metrics` writes.
fn dashboard_queries(exposition: &str) -> Vec<String> {
    let d: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("docs/monitoring/airlock-dashboard.json")).unwrap(),
    )
    .unwrap();
    assert!(
        d["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty() && u.len() <= 40)
    );
    assert!(d["title"].as_str().is_some());
    assert!(d["schemaVersion"].as_u64().unwrap() >= 30);
    assert_eq!(d["__inputs"][0]["pluginId"], "prometheus");
    let panels = d["panels"].as_array().unwrap();
    let rows: Vec<&str> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(rows, ["Overview", "On-call", "Audit"]);
    let mut ids = std::collections::BTreeSet::new();
    let mut exprs = Vec::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "duplicate id {}",
            p["id"]
        );
        let g = &p["gridPos"];
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "{p}"
        );
        assert!(g["h"].as_u64().unwrap() >= 1);
        let ty = p["type"].as_str().unwrap();
        assert!(
            ["row", "stat", "timeseries", "table", "bargauge"].contains(&ty),
            "{ty}"
        );
        if ty == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            let e = t["expr"].as_str().unwrap();
            for name in metric_names(e) {
                let stem = name.strip_suffix("_bucket").unwrap_or(&name);
                assert!(
                    exposition.contains(&format!("# TYPE {stem} ")),
                    "panel {} uses {name}, which airlock metrics does not write",
                    p["title"]
                );
            }
            exprs.push(e.to_owned());
        }
    }
    exprs
}

/// A minimal HTTP/1.0 GET on 127.0.0.1: the body.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Serves `file` at /metrics on a free port until the process ends (the
/// scrape target standing in for node_exporter's textfile collector).
fn serve_file(file: PathBuf) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = std::fs::read(&file).unwrap_or_default();
            let _ = write!(
                s,
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    port
}

#[test]
fn prometheus_scrapes_the_metrics_fires_the_attack_alert_and_runs_the_dashboard() {
    if skip(
        "prometheus_scrapes_the_metrics_fires_the_attack_alert_and_runs_the_dashboard",
        &["prometheus", "promtool"],
    ) {
        return;
    }
    let w = history();
    std::fs::create_dir_all(w.path("m")).unwrap();
    w.run(&["metrics", "--store", "store", "--out", "m/airlock.prom"])
        .ok();
    let exposition = std::fs::read_to_string(w.path("m/airlock.prom")).unwrap();
    let exprs = dashboard_queries(&format!("\n{exposition}"));

    let target = serve_file(w.path("m/airlock.prom"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo("docs/monitoring/airlock-alerts.yml"),
        dir.path().join("airlock-alerts.yml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [airlock-alerts.yml]\n\
             scrape_configs:\n  - job_name: airlock\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        ),
    )
    .unwrap();
    let (ok, out) = promtool(
        &[
            "check",
            "config",
            dir.path().join("prometheus.yml").to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{out}");
    let port = free_port();
    let _prom = Service(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    // The attack alert fires for the replay and the rollback; nothing else.
    let mut alerts = Value::Null;
    wait_for("the AirlockPossibleAttack alert", 120, || {
        let Some(body) = http_get(port, "/api/v1/alerts") else {
            return false;
        };
        alerts = serde_json::from_str(&body).unwrap_or(Value::Null);
        let firing: Vec<&Value> = alerts["data"]["alerts"]
            .as_array()
            .map(|a| a.iter().filter(|a| a["state"] == "firing").collect())
            .unwrap_or_default();
        firing.len() >= 2
    });
    let mut firing: Vec<(String, String)> = alerts["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap().to_owned(),
                a["labels"]["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    firing.sort();
    assert_eq!(
        firing,
        [
            ("AirlockPossibleAttack".to_owned(), "replay".to_owned()),
            ("AirlockPossibleAttack".to_owned(), "rollback".to_owned()),
        ]
    );
    // Every dashboard query runs.
    for e in exprs {
        let body = http_get(port, &format!("/api/v1/query?query={}", urlencode(&e))).unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "success", "{e}: {body}");
    }
    let body = http_get(
        port,
        &format!(
            "/api/v1/query?query={}",
            urlencode("sum(airlock_imports_total)")
        ),
    )
    .unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["result"][0]["value"][1], "2");
}

/// A private rsyslogd listening on 127.0.0.1 (UDP or TCP), writing what it
/// parsed of each RFC 5424 message to a file; killed on drop.
pub(crate) struct Rsyslog {
    _service: Service,
    dir: tempfile::TempDir,
    pub(crate) port: u16,
}

fn program(name: &str) -> String {
    let sbin = format!("/usr/sbin/{name}");
    if Path::new(&sbin).is_file() {
        sbin
    } else {
        name.to_owned()
    }
}

impl Rsyslog {
    pub(crate) fn start(transport: &str) -> Rsyslog {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("rsyslog.conf"),
            format!(
                "global(workDirectory=\"{d}\" maxMessageSize=\"128k\")\n\
                 module(load=\"im{transport}\")\n\
                 input(type=\"im{transport}\" address=\"127.0.0.1\" port=\"{port}\")\n\
                 template(name=\"fields\" type=\"string\" string=\"%syslogfacility%|%syslogseverity%|%hostname%|%app-name%|%msgid%|%structured-data%|%msg%\\n\")\n\
                 *.* action(type=\"omfile\" file=\"{d}/out.log\" template=\"fields\")\n"
            ),
        )
        .unwrap();
        let service = Service(
            Command::new(program("rsyslogd"))
                .arg("-n")
                .arg("-f")
                .arg(dir.path().join("rsyslog.conf"))
                .arg("-i")
                .arg(dir.path().join("rsyslogd.pid"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start rsyslogd"),
        );
        let r = Rsyslog {
            _service: service,
            dir,
            port,
        };
        // Ready once a probe message comes out the other end.
        wait_for("rsyslogd to receive", 60, || {
            let m = b"<13>1 - - probe - - - ready";
            match transport {
                "udp" => {
                    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                    let _ = s.send_to(m, ("127.0.0.1", port));
                }
                _ => {
                    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                        let _ = write!(s, "{} ", m.len());
                        let _ = s.write_all(m);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
            r.lines().iter().any(|l| l.contains("|probe|"))
        });
        r
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("out.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The messages from airlock: (facility, severity, msgid, sd, msg).
    pub(crate) fn airlock(&self) -> Vec<[String; 5]> {
        self.lines()
            .iter()
            .filter_map(|l| {
                let p: Vec<&str> = l.splitn(7, '|').collect();
                (p.len() == 7 && p[3] == "airlock")
                    .then(|| [p[0], p[1], p[4], p[5], p[6]].map(str::to_owned))
            })
            .collect()
    }
}

/// Forwards the store's journal to a real rsyslogd over `transport`, then
/// a new record, then nothing: each committed record arrives once, parsed
/// as RFC 5424, its MSG the signed record itself.
fn forward_to_rsyslog(test: &str, transport: &str) {
    if skip(test, &["rsyslogd"]) {
        return;
    }
    let w = history();
    let rs = Rsyslog::start(transport);
    let to = format!("{transport}://127.0.0.1:{}", rs.port);
    let f = w
        .run(&[
            "journal", "forward", "--store", "store", "--to", &to, "--json",
        ])
        .ok()
        .json();
    let journal = |w: &World| -> Vec<String> {
        std::fs::read_to_string(w.path("store/journal.jsonl"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let lines = journal(&w);
    assert_eq!(f["sent"], lines.len());
    wait_for("the records at rsyslogd", 60, || {
        rs.airlock().len() >= lines.len()
    });

    // A new decision; the next run sends just it.
    assert_ne!(w.verify("garbage.airlock").code, 0);
    let f = w
        .run(&[
            "journal", "forward", "--store", "store", "--to", &to, "--json",
        ])
        .ok()
        .json();
    assert_eq!(f["sent"], 1);
    let lines = journal(&w);
    wait_for("the new record at rsyslogd", 60, || {
        rs.airlock().len() > lines.len() - 1
    });
    let f = w
        .run(&[
            "journal", "forward", "--store", "store", "--to", &to, "--json",
        ])
        .ok()
        .json();
    assert_eq!(f["sent"], 0);

    let got = rs.airlock();
    assert_eq!(got.len(), lines.len(), "each record once");
    for (i, ([facility, severity, msgid, sd, msg], line)) in got.iter().zip(&lines).enumerate() {
        let rec: Value = serde_json::from_str(line).unwrap();
        assert_eq!(facility, "13");
        assert_eq!(msgid, rec["event"].as_str().unwrap());
        assert!(
            sd.starts_with(&format!("[airlock@32473 seq=\"{}\" ", i + 1)),
            "{sd}"
        );
        assert_eq!(msg.trim_start(), line, "record {}", i + 1);
        let want = match (
            rec["fields"]["outcome"].as_str(),
            rec["fields"]["error"]["code"].as_str(),
        ) {
            (Some("refused"), Some("replay" | "rollback")) => "2",
            (Some("refused"), _) => "4",
            (Some("accepted"), _) => "5",
            _ => "6",
        };
        assert_eq!(severity, want, "record {}: {line}", i + 1);
    }

    // A journal that no longer holds what was sent is refused; nothing goes.
    let cursor = w.path(&format!(
        "store/siem-forward/{transport}-127.0.0.1-{}.json",
        rs.port
    ));
    let c: Value = serde_json::from_str(&std::fs::read_to_string(&cursor).unwrap()).unwrap();
    assert_eq!(c["seq"], lines.len());
    std::fs::write(
        &cursor,
        c.to_string()
            .replace(c["sha256"].as_str().unwrap(), &"0".repeat(64)),
    )
    .unwrap();
    assert_ne!(w.verify("garbage.airlock").code, 0);
    let r = w.run(&[
        "journal", "forward", "--store", "store", "--to", &to, "--json",
    ]);
    assert_eq!(
        (r.code, r.error_code()),
        (1, "journal-forward-mismatch".into())
    );
    assert!(cursor.is_file());
    assert_eq!(rs.airlock().len(), lines.len());
}

#[test]
fn journal_forward_reaches_rsyslog_over_udp_once_per_record() {
    forward_to_rsyslog(
        "journal_forward_reaches_rsyslog_over_udp_once_per_record",
        "udp",
    );
}

#[test]
fn journal_forward_reaches_rsyslog_over_tcp_once_per_record() {
    forward_to_rsyslog(
        "journal_forward_reaches_rsyslog_over_tcp_once_per_record",
        "tcp",
    );
}

#[test]
fn journal_export_formats_hold_every_committed_record() {
    let w = history();
    let lines: Vec<String> = std::fs::read_to_string(w.path("store/journal.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let jsonl = w
        .run(&["journal", "export", "--store", "store", "--format", "jsonl"])
        .ok();
    assert_eq!(jsonl.stdout.lines().collect::<Vec<_>>(), lines);
    w.run(&[
        "journal", "export", "--store", "store", "--format", "cef", "--out", "feed.cef",
    ])
    .ok();
    let cef = std::fs::read_to_string(w.path("feed.cef")).unwrap();
    assert_eq!(cef.lines().count(), lines.len());
    assert!(cef.lines().all(|l| l.starts_with("CEF:0|airlock|airlock|")));
    assert!(
        cef.contains("|unpack:replay|unpack refused: replay|9|"),
        "{cef}"
    );
    let syslog = w
        .run(&[
            "journal", "export", "--store", "store", "--format", "syslog",
        ])
        .ok();
    for (m, l) in syslog.stdout.lines().zip(&lines) {
        assert!(
            m.starts_with('<') && m.contains(">1 ") && m.ends_with(l.as_str()),
            "{m}"
        );
    }
    // Read-only: no record was written.
    assert_eq!(
        std::fs::read_to_string(w.path("store/journal.jsonl"))
            .unwrap()
            .lines()
            .count(),
        lines.len()
    );
    // A tampered journal: exit 1, and no file appears.
    let path = w.path("store/journal.jsonl");
    let j = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, j.replacen("\"beta\"", "\"bet4\"", 1)).unwrap();
    let r = w.run(&[
        "journal", "export", "--store", "store", "--format", "cef", "--out", "bad.cef", "--json",
    ]);
    assert_eq!((r.code, r.error_code()), (1, "journal-signature".into()));
    assert!(!w.path("bad.cef").exists());
    assert!(
        std::fs::read_dir(w.tmp.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".tmp"))
    );
}

/// Runs headless Chromium on `url` with `args`; its stdout.
fn chromium(args: &[String], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(
        o.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The text of the element carrying `data-figure="name"`.
fn figure(dom: &str, name: &str) -> String {
    let at = dom
        .find(&format!("data-figure=\"{name}\""))
        .unwrap_or_else(|| panic!("no figure {name}"));
    let rest = &dom[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest.find('<').unwrap();
    rest[start..end].to_owned()
}

#[test]
fn the_html_report_renders_in_chromium_with_the_journal_figures() {
    if skip(
        "the_html_report_renders_in_chromium_with_the_journal_figures",
        &["chromium"],
    ) {
        return;
    }
    let w = history();
    // A journal string that would be markup if it were not escaped.
    w.write("<b>x</b>.airlock", b"<script>alert(1)</script>");
    assert_ne!(w.verify("<b>x</b>.airlock").code, 0);
    w.run(&[
        "journal",
        "report",
        "--store",
        "store",
        "--out",
        "report.html",
    ])
    .ok();
    let html = std::fs::read_to_string(w.path("report.html")).unwrap();
    assert!(!html.contains("<script") && !html.contains("<b>x"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    let recs = records(&w);
    let refused = recs
        .iter()
        .filter(|r| r["fields"]["outcome"] == "refused")
        .count();
    let url = format!("file://{}", w.path("report.html").display());

    let dom = chromium(&["--dump-dom".into()], &url);
    assert!(dom.contains("data-intact=\"true\""));
    assert_eq!(figure(&dom, "records"), recs.len().to_string());
    assert_eq!(figure(&dom, "imports"), "2");
    assert_eq!(figure(&dom, "refused"), refused.to_string());
    assert_eq!(figure(&dom, "root-version"), "1");
    assert_eq!(
        figure(&dom, "keyid"),
        recs[0]["fields"]["journal_key"]["keyid"].as_str().unwrap()
    );
    assert_eq!(dom.matches("<tr class=\"import\"").count(), 2);
    assert_eq!(dom.matches("<tr class=\"refusal\"").count(), refused);
    assert_eq!(dom.matches("<tr class=\"record\"").count(), recs.len());
    for r in recs.iter().filter(|r| r["fields"]["outcome"] == "refused") {
        let code = r["fields"]["error"]["code"].as_str().unwrap();
        assert!(dom.contains(&format!("data-code=\"{code}\"")), "{code}");
    }
    // The charts: the bars add up to the imports and refusals.
    let bars = |class: &str| -> u64 {
        dom.split(&format!("class=\"{class}\""))
            .skip(1)
            .map(|s| {
                let n = s.split("data-n=\"").nth(1).unwrap();
                n[..n.find('"').unwrap()].parse::<u64>().unwrap()
            })
            .sum()
    };
    assert_eq!(bars("bar-imports"), 2);
    assert_eq!(bars("bar-refusals"), refused as u64);
    assert_eq!(bars("bar-code"), refused as u64);
    assert!(dom.contains("&lt;b&gt;x&lt;/b&gt;.airlock"));

    let out = tempfile::tempdir().unwrap();
    let png = out.path().join("report.png");
    let pdf = out.path().join("report.pdf");
    chromium(
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,1800".into(),
        ],
        &url,
    );
    chromium(
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
        &url,
    );
    let png = std::fs::read(png).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
    let pdf = std::fs::read(pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF-") && pdf.len() > 10_000);

    // A tampered journal: the report says so, and the command exits 1.
    let path = w.path("store/journal.jsonl");
    let j = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, j.replacen("\"beta\"", "\"bet4\"", 1)).unwrap();
    let r = w.run(&[
        "journal",
        "report",
        "--store",
        "store",
        "--out",
        "report.html",
        "--json",
    ]);
    assert_eq!((r.code, r.error_code()), (1, "journal-signature".into()));
    let html = std::fs::read_to_string(w.path("report.html")).unwrap();
    assert!(html.contains("data-intact=\"false\"") && html.contains("journal-signature"));
}

/// Attestation coverage (issue 19): each import's record says how many of
/// its artifacts and images a verified attestation names, and `metrics`
/// sums them per channel; the exposition passes `promtool check metrics`.
#[test]
fn attestation_coverage_is_recorded_and_exported() {
    if skip(
        "attestation_coverage_is_recorded_and_exported",
        &["promtool"],
    ) {
        return;
    }
    use crate::attestations::{cyclonedx_v01, sha256_hex, signed};
    let w = World::new();
    // One release with an SBOM about README.md (1 of its 5 artifacts),
    // one with none.
    let readme = sha256_hex(&std::fs::read(w.path("dist/README.md")).unwrap());
    let env = signed(&w, "keys/builder.pem", &cyclonedx_v01("README.md", &readme));
    w.write("sbom.dsse.json", &env);
    w.pack(
        "a.airlock",
        &[
            "--channel",
            "stable",
            "--sequence",
            "1",
            "--attestation",
            "sbom.dsse.json",
        ],
    )
    .ok();
    w.pack("b.airlock", &["--channel", "stable", "--sequence", "2"])
        .ok();
    w.unpack("a.airlock", "a").ok();
    w.unpack("b.airlock", "b").ok();
    let imports: Vec<Value> = records(&w)
        .into_iter()
        .filter(|r| r["event"] == "unpack")
        .collect();
    let coverage = |r: &Value| {
        (
            r["fields"]["attestations"].as_u64(),
            r["fields"]["attested_subjects"].as_u64(),
            r["fields"]["attestable_subjects"].as_u64(),
        )
    };
    assert_eq!(coverage(&imports[0]), (Some(1), Some(1), Some(5)));
    assert_eq!(coverage(&imports[1]), (Some(0), Some(0), Some(5)));
    let text = w.run(&["metrics", "--store", "store"]).ok().stdout;
    let m = samples(&text);
    assert_eq!(
        m["airlock_attested_subjects_total{channel=\"stable\"}"],
        1.0
    );
    assert_eq!(
        m["airlock_attestable_subjects_total{channel=\"stable\"}"],
        10.0
    );
    let (ok, out) = promtool(&["check", "metrics"], Some(&text));
    assert!(ok, "promtool check metrics: {out}");
}
