//! RFC 7512 PKCS#11 URIs, the subset airlock uses to name a token and a key:
//!
//! ```text
//! pkcs11:token=release;object=targets-1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/airlock/pin
//! ```
//!
//! Path attributes (`;`-separated): `token` (label, required), `object`
//! (label), `id` (percent-encoded bytes), and the token filters
//! `manufacturer`, `model`, `serial`; `type` is accepted and ignored (airlock
//! knows which object class it needs). Query attributes (`&`-separated):
//! `module-path` (required) and `pin-source` (only the `file:` form). A
//! `pin-value` is refused: a PIN never appears on a command line, where
//! `ps` and shell history would show it. Anything else is refused rather
//! than silently ignored, so a typo cannot select a different key.
use std::fmt;
use std::path::PathBuf;

/// A parsed `pkcs11:` URI.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// The token label (`token=`).
    pub token: String,
    /// The object label (`object=`), naming a key or the store's objects.
    pub object: Option<String>,
    /// The object id (`id=`), raw bytes.
    pub id: Option<Vec<u8>>,
    /// Token manufacturer filter.
    pub manufacturer: Option<String>,
    /// Token model filter.
    pub model: Option<String>,
    /// Token serial number filter.
    pub serial: Option<String>,
    /// The PKCS#11 module to load (`module-path=`).
    pub module_path: PathBuf,
    /// The file holding the user PIN (`pin-source=file:…`).
    pub pin_source: Option<PathBuf>,
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Pkcs11Uri {
    /// The URI in a canonical form (holds no secret: the PIN is in a file).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pkcs11:token={}", pct(self.token.as_bytes()))?;
        for (k, v) in [
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("serial", &self.serial),
            ("object", &self.object),
        ] {
            if let Some(v) = v {
                write!(f, ";{k}={}", pct(v.as_bytes()))?;
            }
        }
        if let Some(id) = &self.id {
            write!(f, ";id=")?;
            for b in id {
                write!(f, "%{b:02x}")?;
            }
        }
        write!(
            f,
            "?module-path={}",
            pct(self.module_path.to_string_lossy().as_bytes())
        )?;
        if let Some(p) = &self.pin_source {
            write!(
                f,
                "&pin-source=file:{}",
                pct(p.to_string_lossy().as_bytes())
            )?;
        }
        Ok(())
    }
}

/// Percent-encodes everything outside RFC 7512's unreserved set plus `/`
/// and `:` (kept readable in paths).
fn pct(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~/:".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// Decodes `%XX` escapes; refuses malformed ones.
fn unpct(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-escape in {:?}", s))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn unpct_str(s: &str) -> Result<String, String> {
    String::from_utf8(unpct(s)?).map_err(|_| format!("{s:?} is not UTF-8 after decoding"))
}

impl Pkcs11Uri {
    /// Parses a `pkcs11:` URI. The error text never repeats a `pin-value`.
    pub fn parse(uri: &str) -> Result<Pkcs11Uri, String> {
        let rest = uri
            .strip_prefix("pkcs11:")
            .ok_or("a PKCS#11 URI starts with \"pkcs11:\"")?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut parsed = Pkcs11Uri {
            token: String::new(),
            object: None,
            id: None,
            manufacturer: None,
            model: None,
            serial: None,
            module_path: PathBuf::new(),
            pin_source: None,
        };
        let mut token = None;
        let mut module = None;
        let mut seen = Vec::new();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (k, v) = attr
                .split_once('=')
                .ok_or_else(|| format!("path attribute {attr:?} has no '='"))?;
            if seen.contains(&k) {
                return Err(format!("attribute {k:?} is given twice"));
            }
            seen.push(k);
            match k {
                "token" => token = Some(unpct_str(v)?),
                "object" => parsed.object = Some(unpct_str(v)?),
                "id" => parsed.id = Some(unpct(v)?),
                "manufacturer" => parsed.manufacturer = Some(unpct_str(v)?),
                "model" => parsed.model = Some(unpct_str(v)?),
                "serial" => parsed.serial = Some(unpct_str(v)?),
                "type" => {
                    let t = unpct_str(v)?;
                    if !["private", "public", "data", "secret-key", "cert"].contains(&t.as_str()) {
                        return Err(format!("unknown object type {t:?}"));
                    }
                }
                other => {
                    return Err(format!(
                        "unsupported path attribute {:?}; airlock understands token, object, id, \
                         manufacturer, model, serial and type",
                        other.escape_default().to_string()
                    ));
                }
            }
        }
        for attr in query.into_iter().flat_map(|q| q.split('&')) {
            if attr.is_empty() {
                continue;
            }
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            if k == "pin-value" {
                return Err(
                    "pin-value is refused: a PIN is never given on the command line; put it \
                     in a file readable only by you and use pin-source=file:PATH"
                        .into(),
                );
            }
            if seen.contains(&k) {
                return Err(format!("attribute {k:?} is given twice"));
            }
            seen.push(k);
            match k {
                "module-path" => module = Some(PathBuf::from(unpct_str(v)?)),
                "pin-source" => {
                    let v = unpct_str(v)?;
                    let file = v.strip_prefix("file:").ok_or(
                        "only pin-source=file:PATH is supported (the PIN is read from that file)",
                    )?;
                    // `file:///abs` and `file:/abs` both name /abs.
                    let file = file.strip_prefix("//").unwrap_or(file);
                    if file.is_empty() {
                        return Err("pin-source=file: names no file".into());
                    }
                    parsed.pin_source = Some(PathBuf::from(file));
                }
                other => {
                    return Err(format!(
                        "unsupported query attribute {:?}; airlock understands module-path and \
                         pin-source",
                        other.escape_default().to_string()
                    ));
                }
            }
        }
        parsed.token = token.filter(|t| !t.is_empty()).ok_or(
            "the URI must name the token by its label (token=LABEL): airlock never guesses a token",
        )?;
        parsed.module_path = module
            .filter(|m| !m.as_os_str().is_empty())
            .ok_or("the URI must name the PKCS#11 module (module-path=/path/to/module.so)")?;
        Ok(parsed)
    }

    /// The object label, or an error saying the URI must name one.
    pub fn object_label(&self) -> Result<&str, String> {
        self.object
            .as_deref()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| "the URI must name the key by its label (object=LABEL)".to_owned())
    }

    /// How the URI selects an existing key: by label (`Some`, and by `id=`
    /// too when given) or by `id=` alone (`None`); an error when it names
    /// neither.
    pub fn key_selector(&self) -> Result<Option<&str>, String> {
        match (self.object_label(), &self.id) {
            (Ok(label), _) => Ok(Some(label)),
            (Err(_), Some(id)) if !id.is_empty() => Ok(None),
            _ => Err(
                "the URI must name the key by its label (object=LABEL), its id (id=%01%02…) \
                 or both"
                    .into(),
            ),
        }
    }

    /// The key the URI names, for messages: `"LABEL"`, `id 0102…` or both.
    pub fn key_name(&self) -> String {
        let id = self.id.as_ref().map(|id| format!("id {}", hex::encode(id)));
        match (&self.object, id) {
            (Some(label), Some(id)) => format!("{label:?} ({id})"),
            (Some(label), None) => format!("{label:?}"),
            (None, Some(id)) => id,
            (None, None) => "no key".into(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MODULE: &str = "module-path=/usr/lib/softhsm/libsofthsm2.so";

    #[test]
    fn parses_the_spec_example() {
        let u = Pkcs11Uri::parse(&format!(
            "pkcs11:token=release;object=targets-1?{MODULE}&pin-source=file:/etc/airlock/pin"
        ))
        .unwrap();
        assert_eq!(u.token, "release");
        assert_eq!(u.object.as_deref(), Some("targets-1"));
        assert_eq!(
            u.module_path,
            PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")
        );
        assert_eq!(u.pin_source, Some(PathBuf::from("/etc/airlock/pin")));
        // Display round-trips.
        assert_eq!(Pkcs11Uri::parse(&u.to_string()).unwrap(), u);
    }

    #[test]
    fn decodes_percent_escapes_and_ids() {
        let u = Pkcs11Uri::parse(&format!(
            "pkcs11:token=my%20token;object=a%3Bb;id=%01%ff;type=private?{MODULE}&pin-source=file:///p%20in"
        ))
        .unwrap();
        assert_eq!(u.token, "my token");
        assert_eq!(u.object.as_deref(), Some("a;b"));
        assert_eq!(u.id, Some(vec![1, 0xff]));
        assert_eq!(u.pin_source, Some(PathBuf::from("/p in")));
        assert_eq!(Pkcs11Uri::parse(&u.to_string()).unwrap(), u);
    }

    #[test]
    fn a_key_is_named_by_label_by_id_or_by_both() {
        let u = |path: &str| Pkcs11Uri::parse(&format!("pkcs11:token=t;{path}?{MODULE}")).unwrap();
        assert_eq!(u("object=k").key_selector(), Ok(Some("k")));
        assert_eq!(u("object=k;id=%01%02").key_selector(), Ok(Some("k")));
        assert_eq!(u("id=%01%02").key_selector(), Ok(None));
        assert_eq!(u("id=%01%02").key_name(), "id 0102");
        assert_eq!(u("object=k;id=%01").key_name(), "\"k\" (id 01)");
        assert!(u("manufacturer=m").key_selector().is_err());
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        let cases = [
            (
                "token=a?module-path=/m&pin-value=1234",
                "pin-value is refused",
            ),
            (
                "token=a?module-path=/m&pin-source=|/bin/cat",
                "only pin-source=file:",
            ),
            (
                "token=a?module-path=/m&pin-source=/abs",
                "only pin-source=file:",
            ),
            ("object=k?module-path=/m", "must name the token"),
            ("token=a;object=k", "must name the PKCS#11 module"),
            (
                "token=a;slot-id=1?module-path=/m",
                "unsupported path attribute",
            ),
            (
                "token=a?module-path=/m&module-name=softhsm2",
                "unsupported query attribute",
            ),
            ("token=a;token=b?module-path=/m", "given twice"),
            ("token=a%2?module-path=/m", "bad percent-escape"),
            ("token=a;type=banana?module-path=/m", "unknown object type"),
        ];
        for (rest, want) in cases {
            let e = Pkcs11Uri::parse(&format!("pkcs11:{rest}")).unwrap_err();
            assert!(e.contains(want), "{rest}: {e}");
            assert!(!e.contains("1234"), "a PIN is never echoed: {e}");
        }
        assert!(Pkcs11Uri::parse("file:/x").is_err());
    }
}
