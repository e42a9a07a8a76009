//! A small client for the OCI distribution API, enough to publish and to
//! pull: check for a blob, upload one (streamed, one PUT), put a manifest
//! under a digest or a tag, read what a tag points at, read a manifest and
//! download a blob (streamed, checked against its digest).
//!
//! Blocking, on `ureq` (rustls): publishing is a sequence of uploads, an
//! async runtime would add a large dependency and nothing else. TLS trusts
//! the CA file given (or the web PKI roots); plain HTTP only when the
//! operator asks with the loud flag. Authentication: HTTP basic, or the
//! token flow (`WWW-Authenticate: Bearer realm=…,service=…,scope=…`) with the
//! credentials of the usual auth file (`auths.HOST.auth`, base64 `user:pass`).
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use ureq::Agent;
use ureq::tls::{PemItem, RootCerts, TlsConfig};

use super::{Digest, RegistryError};
use crate::error::Error;

/// Where to publish: a registry (host, optional namespace) or an OCI layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `HOST[:PORT][/NAMESPACE]`.
    Registry {
        /// `HOST[:PORT]`.
        host: String,
        /// Repository prefix, without slashes at either end.
        namespace: Option<String>,
    },
    /// `oci:DIR`: an OCI image layout directory.
    Layout(PathBuf),
}

impl Target {
    /// Parses `--registry`.
    pub fn parse(s: &str) -> Result<Target, Error> {
        if let Some(dir) = s.strip_prefix("oci:") {
            if dir.is_empty() {
                return Err(Error::usage(
                    "--registry oci: needs a directory",
                    "e.g. --registry oci:/media/images",
                ));
            }
            return Ok(Target::Layout(PathBuf::from(dir)));
        }
        let s = s.strip_prefix("docker://").unwrap_or(s);
        let (host, ns) = match s.split_once('/') {
            Some((h, n)) => (
                h,
                Some(n.trim_matches('/').to_owned()).filter(|n| !n.is_empty()),
            ),
            None => (s, None),
        };
        if host.is_empty() || host.contains(['@', ' ']) {
            return Err(Error::usage(
                format!("--registry {s} is not HOST[:PORT][/NAMESPACE] or oci:DIR"),
                "e.g. --registry registry.enclave:5000/releases",
            ));
        }
        if let Some(n) = &ns
            && !airlock_bundle::is_image_name(n)
        {
            return Err(Error::usage(
                format!("--registry namespace {n} is not a repository path"),
                "use lowercase components like team/releases",
            ));
        }
        Ok(Target::Registry {
            host: host.to_owned(),
            namespace: ns,
        })
    }

    /// The display form (for the journal).
    pub fn display(&self) -> String {
        match self {
            Target::Registry { host, namespace } => match namespace {
                Some(n) => format!("{host}/{n}"),
                None => host.clone(),
            },
            Target::Layout(d) => format!("oci:{}", d.display()),
        }
    }
}

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// PEM file of the CA(s) to trust instead of the web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// The auth file (`auths.HOST.auth`); default: `$REGISTRY_AUTH_FILE`,
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.docker/config.json`.
    pub auth_file: Option<PathBuf>,
    /// Talk plain HTTP (the `--insecure-plain-http` flag).
    pub plain_http: bool,
}

fn registry_err(msg: impl Into<String>) -> Error {
    RegistryError::Failed(msg.into()).into()
}

fn unreachable(host: &str, e: &ureq::Error) -> Error {
    RegistryError::Unreachable {
        host: host.to_owned(),
        reason: e.to_string(),
    }
    .into()
}

/// A registry session.
#[derive(Debug)]
pub struct Registry {
    agent: Agent,
    host: String,
    base: String,
    basic: Option<String>,
    bearer: Option<String>,
}

/// The credentials for `host` in the auth file, as `Basic …` header value.
fn credentials(host: &str, file: Option<&Path>) -> Result<Option<String>, Error> {
    let candidates: Vec<PathBuf> = match file {
        Some(f) => vec![f.to_owned()],
        None => {
            let mut v = Vec::new();
            if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE") {
                v.push(PathBuf::from(f));
            }
            if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR") {
                v.push(PathBuf::from(d).join("containers/auth.json"));
            }
            if let Some(h) = std::env::var_os("HOME") {
                v.push(PathBuf::from(h).join(".docker/config.json"));
            }
            v
        }
    };
    for f in candidates {
        let bytes = match std::fs::read(&f) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && file.is_none() => continue,
            Err(e) => return Err(Error::input(&f, e)),
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::usage(
                format!("{} is not an auth file: {e}", f.display()),
                "give --auth-file a file like {\"auths\":{\"HOST\":{\"auth\":\"BASE64(user:pass)\"}}}",
            )
        })?;
        if let Some(a) = v["auths"][host]["auth"].as_str() {
            return Ok(Some(format!("Basic {a}")));
        }
    }
    Ok(None)
}

/// One `key="value"` parameter of a `WWW-Authenticate` challenge.
fn challenge_param(h: &str, key: &str) -> Option<String> {
    let i = h.find(&format!("{key}=\""))? + key.len() + 2;
    let rest = &h[i..];
    Some(rest[..rest.find('"')?].to_owned())
}

impl Registry {
    /// Opens a session with `host`.
    pub fn connect(host: &str, c: &Connection) -> Result<Registry, Error> {
        let mut tls = TlsConfig::builder();
        if let Some(ca) = &c.ca_file {
            let pem = std::fs::read(ca).map_err(|e| Error::input(ca, e))?;
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|i| match i {
                    Ok(PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(Error::usage(
                    format!("{} holds no PEM certificate", ca.display()),
                    "give --ca-file the registry's CA certificate in PEM",
                ));
            }
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls.build())
            .timeout_connect(Some(Duration::from_secs(30)))
            .max_redirects(5)
            .build()
            .into();
        let scheme = if c.plain_http { "http" } else { "https" };
        Ok(Registry {
            agent,
            host: host.to_owned(),
            base: format!("{scheme}://{host}"),
            basic: credentials(host, c.auth_file.as_deref())?,
            bearer: None,
        })
    }

    /// Fetches a token for `challenge` (a Bearer challenge), or uses basic.
    fn authenticate(&mut self, challenge: &str) -> Result<(), Error> {
        if challenge.to_ascii_lowercase().starts_with("basic") {
            if self.basic.is_none() {
                return Err(RegistryError::Auth(format!(
                    "the registry {} wants credentials",
                    self.host
                ))
                .into());
            }
            self.bearer = None;
            return Ok(());
        }
        let realm = challenge_param(challenge, "realm").ok_or_else(|| {
            registry_err(format!(
                "an authentication challenge without realm: {challenge}"
            ))
        })?;
        let mut url = realm;
        let mut sep = if url.contains('?') { '&' } else { '?' };
        for k in ["service", "scope"] {
            if let Some(v) = challenge_param(challenge, k) {
                url.push(sep);
                url.push_str(&format!("{k}={}", v.replace(' ', "%20")));
                sep = '&';
            }
        }
        let mut req = self.agent.get(&url);
        if let Some(b) = &self.basic {
            req = req.header("Authorization", b);
        }
        let mut resp = req.call().map_err(|e| unreachable(&self.host, &e))?;
        if resp.status().as_u16() != 200 {
            return Err(RegistryError::Auth(format!(
                "the token service refused ({})",
                resp.status()
            ))
            .into());
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| unreachable(&self.host, &e))?;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let token = v["token"]
            .as_str()
            .or(v["access_token"].as_str())
            .ok_or_else(|| registry_err("the token service sent no token"))?;
        self.bearer = Some(format!("Bearer {token}"));
        Ok(())
    }

    fn auth_header(&self) -> Option<&str> {
        self.bearer.as_deref().or(self.basic.as_deref())
    }

    /// Sends a request built by `make` (with the current authorization),
    /// authenticating once on a 401; `body` supplies a fresh body for each try.
    fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        mut body: Option<&mut dyn FnMut() -> Result<Box<dyn Read + Send>, Error>>,
    ) -> Result<ureq::http::Response<ureq::Body>, Error> {
        for attempt in 0..2 {
            let mut b = ureq::http::Request::builder().method(method).uri(url);
            for (k, v) in headers {
                b = b.header(*k, v);
            }
            if let Some(a) = self.auth_header() {
                b = b.header("Authorization", a);
            }
            let resp = match body.as_mut() {
                Some(make) => {
                    let mut r = make()?;
                    let req = b
                        .body(ureq::SendBody::from_reader(&mut r))
                        .map_err(|e| registry_err(e.to_string()))?;
                    self.agent.run(req)
                }
                None => {
                    let req = b.body(()).map_err(|e| registry_err(e.to_string()))?;
                    self.agent.run(req)
                }
            }
            .map_err(|e| unreachable(&self.host, &e))?;
            if resp.status().as_u16() == 401 && attempt == 0 {
                let ch = resp
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                self.authenticate(&ch)?;
                continue;
            }
            return Ok(resp);
        }
        Err(RegistryError::Auth(format!(
            "the registry {} refused the credentials",
            self.host
        ))
        .into())
    }

    fn expect(
        resp: &ureq::http::Response<ureq::Body>,
        ok: &[u16],
        what: &str,
    ) -> Result<(), Error> {
        let s = resp.status().as_u16();
        if ok.contains(&s) {
            Ok(())
        } else if s == 401 || s == 403 {
            Err(RegistryError::Auth(format!("{what}: the registry answered {s}")).into())
        } else {
            Err(registry_err(format!("{what}: the registry answered {s}")))
        }
    }

    /// Whether the registry has blob `d` in `repo`.
    pub fn has_blob(&mut self, repo: &str, d: Digest) -> Result<bool, Error> {
        let url = format!("{}/v2/{repo}/blobs/{d}", self.base);
        let r = self.send("HEAD", &url, &[], None)?;
        match r.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Self::expect(&r, &[], &format!("checking blob {d}")).map(|()| false),
        }
    }

    /// Uploads blob `d` of `size` bytes read from `open()` (one monolithic
    /// PUT, streamed).
    pub fn push_blob(
        &mut self,
        repo: &str,
        d: Digest,
        size: u64,
        open: &mut dyn FnMut() -> Result<Box<dyn Read + Send>, Error>,
    ) -> Result<(), Error> {
        let url = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        let r = self.send("POST", &url, &[("Content-Length", "0".into())], None)?;
        Self::expect(&r, &[202], &format!("starting the upload of {d}"))?;
        let loc = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| registry_err("the registry gave no upload location"))?
            .to_owned();
        let loc = if loc.starts_with('/') {
            format!("{}{loc}", self.base)
        } else {
            loc
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let put = format!("{loc}{sep}digest={d}");
        let r = self.send(
            "PUT",
            &put,
            &[
                ("Content-Type", "application/octet-stream".into()),
                ("Content-Length", size.to_string()),
            ],
            Some(open),
        )?;
        Self::expect(&r, &[201], &format!("uploading blob {d}"))
    }

    /// Puts a manifest under `reference` (a digest or a tag).
    pub fn put_manifest(
        &mut self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), Error> {
        let r = self.send_manifest(repo, reference, media_type, bytes)?;
        Self::expect(&r, &[201], &format!("putting manifest {repo}:{reference}"))
    }

    /// `PUT`s `bytes` as manifest `reference` of `repo` (any answer).
    fn send_manifest(
        &mut self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<ureq::http::Response<ureq::Body>, Error> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let owned = bytes.to_vec();
        let mut make = move || -> Result<Box<dyn Read + Send>, Error> {
            Ok(Box::new(std::io::Cursor::new(owned.clone())))
        };
        self.send(
            "PUT",
            &url,
            &[
                ("Content-Type", media_type.to_owned()),
                ("Content-Length", bytes.len().to_string()),
            ],
            Some(&mut make),
        )
    }

    /// Whether the registry has manifest `d` in `repo`.
    pub fn has_manifest(&mut self, repo: &str, d: Digest, media_type: &str) -> Result<bool, Error> {
        let url = format!("{}/v2/{repo}/manifests/{d}", self.base);
        let r = self.send("HEAD", &url, &[("Accept", media_type.to_owned())], None)?;
        Ok(r.status().as_u16() == 200)
    }

    /// The digest tag `tag` of `repo` points at, if the tag exists.
    pub fn tag_digest(&mut self, repo: &str, tag: &str) -> Result<Option<Digest>, Error> {
        let url = format!("{}/v2/{repo}/manifests/{tag}", self.base);
        let r = self.send("HEAD", &url, &[("Accept", manifest_accept())], None)?;
        match r.status().as_u16() {
            200 => Ok(r
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(Digest::parse)),
            404 => Ok(None),
            _ => Self::expect(&r, &[], &format!("reading tag {repo}:{tag}")).map(|()| None),
        }
    }
}

/// Every manifest and index media type a pull accepts.
fn manifest_accept() -> String {
    [
        super::MT_OCI_INDEX,
        super::MT_OCI_MANIFEST,
        super::MT_DOCKER_LIST,
        super::MT_DOCKER_MANIFEST,
    ]
    .join(", ")
}

impl Registry {
    /// Reads manifest or index `reference` (a tag or a digest) of `repo`:
    /// its bytes (at most [`super::MAX_MANIFEST_BYTES`]), their digest, and
    /// the media type the registry named. A digest reference must match
    /// the bytes.
    pub fn get_manifest(
        &mut self,
        repo: &str,
        reference: &str,
    ) -> Result<(Vec<u8>, Digest, String), Error> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let mut r = self.send("GET", &url, &[("Accept", manifest_accept())], None)?;
        if r.status().as_u16() == 404 {
            return Err(Error::operator(
                "image-not-found",
                format!("the registry {} has no image {repo}:{reference}", self.host),
                "check the repository and tag (skopeo list-tags docker://HOST/REPO lists the tags)",
            ));
        }
        Self::expect(&r, &[200], &format!("reading manifest {repo}:{reference}"))?;
        let media_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = r
            .body_mut()
            .with_config()
            .limit(super::MAX_MANIFEST_BYTES)
            .read_to_vec()
            .map_err(|e| unreachable(&self.host, &e))?;
        let digest = Digest::of(&bytes);
        if let Some(want) = Digest::parse(reference)
            && want != digest
        {
            return Err(pulled_wrong(&format!(
                "manifest {repo}@{want} arrived with the digest {digest}"
            )));
        }
        Ok((bytes, digest, media_type))
    }

    /// Downloads blob `d` of `size` bytes from `repo` into the file `to`
    /// (created), streaming and hashing; refused unless both match.
    pub fn get_blob(&mut self, repo: &str, d: Digest, size: u64, to: &Path) -> Result<(), Error> {
        use sha2::Digest as _;
        let url = format!("{}/v2/{repo}/blobs/{d}", self.base);
        let r = self.send("GET", &url, &[], None)?;
        Self::expect(&r, &[200], &format!("reading blob {d}"))?;
        let mut body = r.into_body();
        let mut reader = body.as_reader().take(size.saturating_add(1));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(to)
            .map_err(|e| Error::input(to, e))?;
        let mut hasher = sha2::Sha256::new();
        let mut got = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| registry_err(format!("reading blob {d} from {}: {e}", self.host)))?;
            if n == 0 {
                break;
            }
            got += n as u64;
            hasher.update(&buf[..n]);
            std::io::Write::write_all(&mut file, &buf[..n]).map_err(|e| Error::input(to, e))?;
        }
        let digest = Digest(hasher.finalize().into());
        if got != size || digest != d {
            return Err(pulled_wrong(&format!(
                "blob {d} of {size} bytes arrived as {got} bytes with the digest {digest}"
            )));
        }
        Ok(())
    }
}

/// The registry sent content that does not match what was asked for.
fn pulled_wrong(what: &str) -> Error {
    RegistryError::PullMismatch(format!(
        "{what}: the registry (or something between) sent other content"
    ))
    .into()
}

/// Base64 of `user:pass`, as auth files hold it (for tests and docs).
pub fn auth_value(user: &str, pass: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
}

/// What OCI 1.1 referrers need besides the calls above
/// (`super::referrers`).
impl Registry {
    /// Puts the artifact manifest `bytes` (which has a `subject`) under its
    /// digest `d`; whether the registry answered with `OCI-Subject`, that
    /// is, has the referrers API and lists the artifact itself.
    pub fn put_referrer(&mut self, repo: &str, d: Digest, bytes: &[u8]) -> Result<bool, Error> {
        let r = self.send_manifest(repo, &d.to_string(), super::MT_OCI_MANIFEST, bytes)?;
        Self::expect(&r, &[201], &format!("putting referrer {repo}@{d}"))?;
        Ok(r.headers().contains_key("oci-subject"))
    }

    /// The bytes of manifest or index `reference` of `repo` (at most
    /// [`super::MAX_MANIFEST_BYTES`]), or `None` when there is none.
    pub fn find_manifest(&mut self, repo: &str, reference: &str) -> Result<Option<Vec<u8>>, Error> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let mut r = self.send("GET", &url, &[("Accept", manifest_accept())], None)?;
        if r.status().as_u16() == 404 {
            return Ok(None);
        }
        Self::expect(&r, &[200], &format!("reading {repo}:{reference}"))?;
        let bytes = r
            .body_mut()
            .with_config()
            .limit(super::MAX_MANIFEST_BYTES)
            .read_to_vec()
            .map_err(|e| unreachable(&self.host, &e))?;
        Ok(Some(bytes))
    }
}

impl Registry {
    /// The referrers API's list for `d` in `repo` (an image index), or
    /// `None` when the registry does not answer it (no referrers API: the
    /// caller falls back to the referrers tag schema).
    pub fn referrers_list(&mut self, repo: &str, d: Digest) -> Result<Option<Vec<u8>>, Error> {
        let url = format!("{}/v2/{repo}/referrers/{d}", self.base);
        let mut r = self.send(
            "GET",
            &url,
            &[("Accept", super::MT_OCI_INDEX.to_owned())],
            None,
        )?;
        if r.status().as_u16() != 200 {
            return Ok(None);
        }
        let bytes = r
            .body_mut()
            .with_config()
            .limit(super::MAX_MANIFEST_BYTES)
            .read_to_vec()
            .map_err(|e| unreachable(&self.host, &e))?;
        Ok(Some(bytes))
    }
}
