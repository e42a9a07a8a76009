//! The SIEM feed: journal records as JSON lines, CEF or RFC 5424 syslog
//! (`journal export --format`), and `journal forward`, which sends the
//! committed records a destination has not had yet over UDP or TCP and
//! remembers the last one sent (`docs/monitoring.md`, "SIEM").
//!
//! Records are read without the store's lock (a slow receiver must not hold
//! up imports) and only up to the store's bound head: each record is sent
//! once it has been checked (sequence, chain, signature, and the head).
use std::io::{BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};

use airlock_hsm::{JournalFile, PublicKey, TrustStore};
use serde_json::{Value, json};

use crate::error::Error;
use crate::journal::chain::{Checker, JournalError, ReadError, for_each_line};
use crate::journal::env_error::JournalEnvError;
use crate::journal::facts::{code_label, error_code, is_attack_code};
use crate::journal::record::Record;
use crate::timefmt::format_utc;

/// The SD-ID of airlock's structured data: 32473 is the private
/// enterprise number RFC 5612 reserves for documentation.
pub const SD_ID: &str = "airlock@32473";

/// RFC 5424 facility 13, "log audit".
const FACILITY: u8 = 13;

/// The largest UDP datagram payload; a longer message is sent without the
/// record's JSON (its structured data still names it).
const MAX_DATAGRAM: usize = 65_507;

/// A SIEM format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The record lines as they are (signed, canonical JSON).
    Jsonl,
    /// ArcSight Common Event Format, one event per line.
    Cef,
    /// RFC 5424 syslog messages, one per line.
    Syslog,
}

/// Syslog severity of a record: critical for a refusal with a code that
/// suggests an attack, warning for other refusals and recoveries, error
/// for failed or aborted runs, notice for acceptances, informational for
/// the rest.
fn severity(r: &Record) -> u8 {
    match r.str_field("outcome") {
        Some("refused") if error_code(r).is_some_and(is_attack_code) => 2,
        Some("refused") => 4,
        Some("failed" | "aborted") => 3,
        Some("accepted") => 5,
        _ if r.event == "journal.recovered" => 4,
        _ => 6,
    }
}

/// The record's facts a SIEM indexes: (name, value), only those present.
fn params(r: &Record) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("seq", r.seq.to_string()),
        ("event", r.event.clone()),
        ("sha256", hex::encode(r.sha256)),
        ("keyid", r.keyid.clone()),
    ];
    let s = |k: &str| r.str_field(k).map(str::to_owned);
    let u = |k: &str| r.u64_field(k).map(|v| v.to_string());
    for (name, v) in [
        ("outcome", s("outcome")),
        ("code", error_code(r).map(|c| code_label(Some(c)))),
        ("bundle_id", s("bundle_id")),
        ("channel", s("channel")),
        ("sequence", u("sequence")),
        (
            "root_version",
            u("root_version").or_else(|| u("new_root_version")),
        ),
        ("bundle_file", s("bundle_file")),
        ("bundle_sha256", s("bundle_sha256")),
        ("duration_ms", u("duration_ms")),
    ] {
        if let Some(v) = v {
            p.push((name, v));
        }
    }
    if let Some(a) = r
        .fields
        .get("manifest_authenticated")
        .and_then(Value::as_bool)
    {
        p.push(("authenticated", a.to_string()));
    }
    if let Some(Value::Array(s)) = r.fields.get("signers") {
        let keys: Vec<&str> = s.iter().filter_map(Value::as_str).collect();
        if !keys.is_empty() {
            p.push(("signers", keys.join(",")));
        }
    }
    p
}

/// An SD-PARAM value (RFC 5424 §6.3.3: `"`, `\` and `]` escaped).
fn sd_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// Printable US-ASCII, at most `max` characters, or `-` (RFC 5424 header
/// fields).
fn header_field(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if t.is_empty() { "-".into() } else { t }
}

/// This machine's name for the syslog HOSTNAME field.
pub fn hostname() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    header_field(h.trim(), 255)
}

/// The RFC 5424 message of a record (no framing, no line end): PRI,
/// version 1, the record's time, `hostname`, APP-NAME `airlock`, MSGID the
/// event, structured data `[airlock@32473 …]`, and the record's JSON line
/// as MSG (so a SIEM holds the signed record itself).
pub fn syslog(r: &Record, hostname: &str, max: Option<usize>) -> Vec<u8> {
    let pri = u16::from(FACILITY) * 8 + u16::from(severity(r));
    let mut sd = format!("[{SD_ID}");
    for (k, v) in params(r) {
        sd.push_str(&format!(" {k}=\"{}\"", sd_escape(&v)));
    }
    sd.push(']');
    let mut m = format!(
        "<{pri}>1 {} {} airlock - {} {sd} ",
        format_utc(r.time),
        header_field(hostname, 255),
        header_field(&r.event, 32)
    )
    .into_bytes();
    if max.is_some_and(|max| m.len() + r.line.len() > max) {
        m.extend_from_slice(b"(record too large for one datagram: read it from the journal)");
    } else {
        m.extend_from_slice(&r.line);
    }
    m
}

/// A CEF header field (`\` and `|` escaped).
fn cef_header(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// A CEF extension value (`\`, `=` and line ends escaped).
fn cef_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// The CEF event of a record (one line, no line end).
pub fn cef(r: &Record, hostname: &str) -> String {
    let outcome = r.str_field("outcome");
    let code = error_code(r).map(|c| code_label(Some(c)));
    let signature = match &code {
        Some(c) => format!("{}:{c}", r.event),
        None => r.event.clone(),
    };
    let name = match (outcome, &code) {
        (Some(o), Some(c)) => format!("{} {o}: {c}", r.event),
        (Some(o), None) => format!("{} {o}", r.event),
        _ => r.event.clone(),
    };
    let sev = match severity(r) {
        2 => 9,
        3 => 6,
        4 => 7,
        5 => 3,
        _ => 2,
    };
    let mut ext: Vec<(String, String)> = vec![
        ("rt".into(), (r.time * 1000).to_string()),
        ("dvchost".into(), hostname.to_owned()),
        ("externalId".into(), r.seq.to_string()),
    ];
    if let Some(o) = outcome {
        ext.push(("outcome".into(), o.to_owned()));
    }
    if let Some(c) = &code {
        ext.push(("reason".into(), c.clone()));
    }
    let err = r.fields.get("error");
    if let Some(m) = err.and_then(|e| e.get("message")).and_then(Value::as_str) {
        ext.push(("msg".into(), m.to_owned()));
    }
    if let Some(f) = r.str_field("bundle_file") {
        ext.push(("fname".into(), f.to_owned()));
    }
    if let Some(n) = r.u64_field("bundle_size") {
        ext.push(("fsize".into(), n.to_string()));
    }
    let mut custom = 0;
    let mut label = |ext: &mut Vec<(String, String)>, l: &str, v: String| {
        custom += 1;
        ext.push((format!("cs{custom}Label"), l.to_owned()));
        ext.push((format!("cs{custom}"), v));
    };
    label(&mut ext, "recordSha256", hex::encode(r.sha256));
    if let Some(b) = r.str_field("bundle_id") {
        label(&mut ext, "bundleId", b.to_owned());
    }
    if let Some(c) = r.str_field("channel") {
        label(&mut ext, "channel", c.to_owned());
    }
    if let Some(Value::Array(s)) = r.fields.get("signers") {
        let keys: Vec<&str> = s.iter().filter_map(Value::as_str).collect();
        label(&mut ext, "signers", keys.join(","));
    }
    if let Some(h) = err.and_then(|e| e.get("hint")).and_then(Value::as_str) {
        label(&mut ext, "hint", h.to_owned());
    }
    if let Some(q) = r.u64_field("sequence") {
        ext.push(("cn1Label".into(), "sequence".into()));
        ext.push(("cn1".into(), q.to_string()));
    }
    let ext: Vec<String> = ext
        .into_iter()
        .map(|(k, v)| format!("{k}={}", cef_value(&v)))
        .collect();
    format!(
        "CEF:0|airlock|airlock|{}|{}|{}|{sev}|{}",
        cef_header(env!("CARGO_PKG_VERSION")),
        cef_header(&signature),
        cef_header(&name),
        ext.join(" ")
    )
}

/// One record in `format`, with its line end.
pub fn line(format: Format, r: &Record, hostname: &str) -> Vec<u8> {
    let mut l = match format {
        Format::Jsonl => r.line.clone(),
        Format::Cef => cef(r, hostname).into_bytes(),
        Format::Syslog => syslog(r, hostname, None),
    };
    l.push(b'\n');
    l
}

/// Why reading stopped.
enum Stop {
    /// At the head: everything committed was read.
    Head,
    /// The journal is not intact.
    Journal(JournalError),
    /// The callback failed.
    Other(Error),
}

/// Checks the store's journal from record 1 up to the store's bound head,
/// calling `each` with every record once it has been checked. Takes no
/// lock: records after the head (an operation in progress) are not read.
pub fn committed_records(
    store: &dyn TrustStore,
    key: &PublicKey,
    mut each: impl FnMut(&Record) -> Result<(), Error>,
) -> Result<u64, Error> {
    let head = store.journal_head()?;
    let mut checker = Checker::new(key, Some(head))?;
    let file = JournalFile::in_dir(store.dir());
    let truncated = || -> Error {
        JournalError::Truncated {
            head: head.seq,
            last: 0,
        }
        .into()
    };
    let Some(f) = file.open_read()? else {
        return Err(truncated());
    };
    let mut last = 0;
    let result = for_each_line(BufReader::new(f), 1, |l| {
        let Some(r) = checker.line(l).map_err(Stop::Journal)? else {
            return Ok(());
        };
        last = r.seq;
        each(&r).map_err(Stop::Other)?;
        if r.seq >= head.seq {
            return Err(Stop::Head);
        }
        Ok(())
    });
    match result {
        Err(ReadError::Stop(Stop::Head)) => Ok(head.seq),
        Err(ReadError::Stop(Stop::Journal(e))) => Err(e.into()),
        Err(ReadError::Stop(Stop::Other(e))) => Err(e),
        Err(ReadError::TooLong(_)) => Err(JournalError::Malformed {
            line: checker.line_number() + 1,
            reason: "longer than any record".into(),
        }
        .into()),
        Err(ReadError::Io(source)) => Err(Error::StoreUnreadable {
            path: file.path().to_owned(),
            source,
        }),
        // The file ended before the head (a torn line, or a cut).
        Ok(torn) => Err(checker.finish(torn.as_deref()).err().map_or_else(
            || {
                JournalError::Truncated {
                    head: head.seq,
                    last,
                }
                .into()
            },
            Error::from,
        )),
    }
}

/// Writes the committed records of `store` in `format` to `out`.
pub fn export(store: &dyn TrustStore, format: Format, out: &mut dyn Write) -> Result<u64, Error> {
    let key = store.journal_public_key()?;
    let host = hostname();
    let mut n = 0;
    committed_records(store, &key, |r| {
        n += 1;
        out.write_all(&line(format, r, &host)).map_err(|e| {
            crate::fsutil::FsError::Write {
                what: "write the records".into(),
                source: e,
            }
            .into()
        })
    })?;
    Ok(n)
}

/// Where `journal forward` sends to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `udp` or `tcp`.
    pub transport: Transport,
    /// `HOST:PORT` as given.
    pub host_port: String,
}

/// A syslog transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// RFC 5426: one message per datagram.
    Udp,
    /// RFC 6587 octet counting: `LEN SP MESSAGE`.
    Tcp,
}

impl Destination {
    /// Parses `udp://HOST:PORT` or `tcp://HOST:PORT`.
    pub fn parse(s: &str) -> Result<Destination, Error> {
        let bad = || {
            Error::usage(
                format!(
                    "--to {} is not udp://HOST:PORT or tcp://HOST:PORT",
                    crate::excerpt(s)
                ),
                "give the syslog receiver as udp://HOST:PORT or tcp://HOST:PORT, e.g. tcp://siem.example:514",
            )
        };
        let (transport, rest) = if let Some(r) = s.strip_prefix("udp://") {
            (Transport::Udp, r)
        } else if let Some(r) = s.strip_prefix("tcp://") {
            (Transport::Tcp, r)
        } else {
            return Err(bad());
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let port = rest.rsplit_once(':').map(|(_, p)| p).ok_or_else(bad)?;
        if rest.is_empty() || rest.contains('/') || port.parse::<u16>().is_err() {
            return Err(bad());
        }
        Ok(Destination {
            transport,
            host_port: rest.to_owned(),
        })
    }

    /// The destination as a URL.
    pub fn url(&self) -> String {
        let t = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        format!("{t}://{}", self.host_port)
    }

    /// The default cursor file: `STORE/siem-forward/TRANSPORT-HOST-PORT.json`.
    pub fn default_cursor(&self, store: &Path) -> PathBuf {
        let name: String = self
            .url()
            .replace("://", "-")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        store.join("siem-forward").join(format!("{name}.json"))
    }
}

/// The last record sent to a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Its seq (0: none yet).
    pub seq: u64,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

fn cursor_err(path: &Path, why: impl std::fmt::Display) -> Error {
    JournalEnvError::ForwardCursorMalformed {
        path: path.to_owned(),
        why: why.to_string(),
    }
    .into()
}

/// Reads a cursor file (absent: nothing sent yet).
pub fn read_cursor(path: &Path, dest: &Destination) -> Result<Cursor, Error> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Cursor {
                seq: 0,
                sha256: [0; 32],
            });
        }
        Err(e) => return Err(cursor_err(path, e)),
    };
    if bytes.len() > 4096 {
        return Err(cursor_err(path, "over 4096 bytes"));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| cursor_err(path, e))?;
    let seq = v["seq"]
        .as_u64()
        .ok_or_else(|| cursor_err(path, "no \"seq\""))?;
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(v["sha256"].as_str().unwrap_or(""), &mut sha256)
        .map_err(|e| cursor_err(path, format!("\"sha256\": {e}")))?;
    if v["to"].as_str() != Some(dest.url().as_str()) {
        return Err(cursor_err(
            path,
            format!("it is the cursor of {}, not {}", v["to"], dest.url()),
        ));
    }
    Ok(Cursor { seq, sha256 })
}

fn write_cursor(path: &Path, dest: &Destination, c: Cursor) -> Result<(), Error> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| cursor_err(path, e))?;
    }
    let v = json!({"to": dest.url(), "seq": c.seq, "sha256": hex::encode(c.sha256)});
    crate::fsutil::replace_file(path, format!("{v}\n").as_bytes())
}

/// A connection to the receiver.
enum Sender {
    Udp(UdpSocket),
    /// Unbuffered: the cursor moves past a record only once the kernel
    /// has taken all of its bytes.
    Tcp(TcpStream),
}

impl Sender {
    fn connect(d: &Destination) -> Result<Sender, Error> {
        let unreachable = |e: std::io::Error| {
            Error::from(JournalEnvError::ForwardUnreachable {
                url: d.url(),
                reason: e.to_string(),
            })
        };
        let addr = d
            .host_port
            .to_socket_addrs()
            .map_err(unreachable)?
            .next()
            .ok_or_else(|| unreachable(std::io::ErrorKind::NotFound.into()))?;
        Ok(match d.transport {
            Transport::Udp => {
                let local = if addr.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let s = UdpSocket::bind(local).map_err(unreachable)?;
                s.connect(addr).map_err(unreachable)?;
                Sender::Udp(s)
            }
            Transport::Tcp => Sender::Tcp(
                TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(30))
                    .map_err(unreachable)?,
            ),
        })
    }

    fn send(&mut self, m: &[u8]) -> std::io::Result<()> {
        match self {
            Sender::Udp(s) => s.send(m).map(|_| ()),
            Sender::Tcp(w) => {
                let mut framed = format!("{} ", m.len()).into_bytes();
                framed.extend_from_slice(m);
                w.write_all(&framed)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sender::Udp(_) => Ok(()),
            Sender::Tcp(w) => w.shutdown(std::net::Shutdown::Write),
        }
    }
}

/// What a forward run did.
#[derive(Debug, Clone, Copy)]
pub struct Forwarded {
    /// Records sent now.
    pub sent: u64,
    /// The last record sent (now or before).
    pub cursor: Cursor,
    /// The store's head.
    pub head: u64,
}

/// Sends the committed records after the cursor to `dest` as RFC 5424
/// messages and moves the cursor past each one sent. Refuses (exit 1,
/// nothing sent) when the record the cursor names is not in the journal as
/// it was sent: the journal was rewritten or cut after it was forwarded.
pub fn forward(
    store: &dyn TrustStore,
    dest: &Destination,
    cursor_path: &Path,
    hostname: &str,
) -> Result<Forwarded, Error> {
    let key = store.journal_public_key()?;
    let mut cursor = read_cursor(cursor_path, dest)?;
    let start = cursor;
    let head = store.journal_head()?;
    let mismatch = |why: String| {
        Error::Journal(JournalError::ForwardMismatch {
            reason: format!("{why}; {} has the records as they were sent", dest.url()),
        })
    };
    if start.seq > head.seq {
        return Err(mismatch(format!(
            "record {} was forwarded, but the store's head is record {}",
            start.seq, head.seq
        )));
    }
    let mut sender: Option<Sender> = None;
    let mut sent = 0u64;
    let max = (dest.transport == Transport::Udp).then_some(MAX_DATAGRAM);
    let result = committed_records(store, &key, |r| {
        if r.seq == start.seq && r.sha256 != start.sha256 {
            return Err(mismatch(format!(
                "record {} is not the one forwarded (sha256 {})",
                r.seq,
                hex::encode(start.sha256)
            )));
        }
        if r.seq <= start.seq {
            return Ok(());
        }
        if sender.is_none() {
            sender = Some(Sender::connect(dest)?);
        }
        if let Some(s) = sender.as_mut() {
            s.send(&syslog(r, hostname, max)).map_err(|e| {
                Error::from(JournalEnvError::ForwardFailed(format!(
                    "sending record {} to {} failed: {e}",
                    r.seq,
                    dest.url()
                )))
            })?;
        }
        sent += 1;
        cursor = Cursor {
            seq: r.seq,
            sha256: r.sha256,
        };
        write_cursor(cursor_path, dest, cursor)
    });
    let flushed = sender.map_or(Ok(()), |mut s| s.flush());
    result?;
    flushed.map_err(|e| {
        Error::from(JournalEnvError::ForwardFailed(format!(
            "sending to {} failed: {e}",
            dest.url()
        )))
    })?;
    Ok(Forwarded {
        sent,
        cursor,
        head: head.seq,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::journal::record::build;
    use airlock_hsm::FileSigner;

    fn record(fields: Value) -> Record {
        let s = FileSigner::generate().unwrap();
        let (line, _) = build(
            4,
            1_800_000_000,
            "unpack",
            fields.as_object().unwrap().clone(),
            [0; 32],
            &s,
        )
        .unwrap();
        Record::parse(&line).unwrap()
    }

    #[test]
    fn syslog_is_rfc5424_with_escaped_structured_data() {
        let r = record(json!({
            "outcome": "refused",
            "bundle_id": "a\"b]c\\d",
            "error": {"code": "replay", "message": "m", "exit": 1, "hint": "h"},
        }));
        let m = String::from_utf8(syslog(&r, "host one", None)).unwrap();
        // facility 13 (log audit) * 8 + severity 2 (critical: replay).
        assert!(
            m.starts_with("<106>1 2027-01-15T08:00:00Z hostone airlock - unpack [airlock@32473 seq=\"4\" event=\"unpack\""),
            "{m}"
        );
        assert!(m.contains(r#" bundle_id="a\"b\]c\\d""#), "{m}");
        assert!(m.contains(" code=\"replay\""), "{m}");
        assert!(m.ends_with(std::str::from_utf8(&r.line).unwrap()));
        let small = String::from_utf8(syslog(&r, "h", Some(100))).unwrap();
        assert!(small.ends_with("read it from the journal)"), "{small}");
    }

    #[test]
    fn cef_escapes_headers_and_extensions() {
        let r = record(json!({
            "outcome": "refused",
            "bundle_file": "x=y|z\nw",
            "error": {"code": "rollback", "message": "a=b", "exit": 1},
        }));
        let c = cef(&r, "h");
        assert!(c.starts_with("CEF:0|airlock|airlock|"), "{c}");
        assert!(
            c.contains("|unpack:rollback|unpack refused: rollback|9|"),
            "{c}"
        );
        assert!(c.contains(r"fname=x\=y|z\nw"), "{c}");
        assert!(c.contains(r"msg=a\=b"), "{c}");
        assert!(c.contains("externalId=4"), "{c}");
        assert!(!c.contains('\n'));
    }

    #[test]
    fn destinations_parse_strictly() {
        let d = Destination::parse("tcp://127.0.0.1:514").unwrap();
        assert_eq!(d.transport, Transport::Tcp);
        assert_eq!(d.url(), "tcp://127.0.0.1:514");
        assert!(
            d.default_cursor(Path::new("/s"))
                .ends_with("siem-forward/tcp-127.0.0.1-514.json")
        );
        assert_eq!(
            Destination::parse("udp://[::1]:5514").unwrap().transport,
            Transport::Udp
        );
        for bad in [
            "http://x:1",
            "tcp://x",
            "tcp://x:99999",
            "tcp://:1/a",
            "udp://",
        ] {
            let e = Destination::parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
    }
}
