//! Test support: a fresh SoftHSM2 token and a private swtpm per test.
//!
//! Shared by the end-to-end tests (`tests/e2e`) and the hsm crate's tests
//! (`hsm/tests`), included with `#[path]`.
//!
//! Under CI (`CI=true`) a missing emulator fails the test; a developer run
//! without the packages skips it and says so loudly on stderr.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Debian packages the hardware tests need (scripts/test.sh installs
/// them).
pub const PACKAGES: &str = "swtpm swtpm-tools tpm2-tools libtss2-dev softhsm2 opensc";

/// Whether `program` is on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// `None` when everything in `needs` is there. Otherwise: under CI, a panic;
/// for a developer, a loud skip notice and `Some(())` (the test returns).
#[track_caller]
pub fn missing(test: &str, needs: &[&str]) -> Option<()> {
    let absent: Vec<&str> = needs
        .iter()
        .copied()
        .filter(|n| {
            if n.starts_with('/') {
                !Path::new(n).exists()
            } else {
                !on_path(n)
            }
        })
        .collect();
    if absent.is_empty() {
        return None;
    }
    let msg = format!(
        "{test}: {} not found (apt-get install {PACKAGES})",
        absent.join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}; under CI the hardware backend tests must run");
    }
    eprintln!("\n!!!!!!!!!! SKIPPED {msg} !!!!!!!!!!\n");
    Some(())
}

/// The SoftHSM2 module.
pub fn softhsm_module() -> PathBuf {
    std::env::var_os("AIRLOCK_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"))
}

/// The workspace root (for `scripts/`).
fn workspace() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if here.join("scripts").is_dir() {
        here
    } else {
        here.parent().map(Path::to_owned).unwrap_or(here)
    }
}

/// A SoftHSM2 token of its own (made by `scripts/softhsm-token.sh`):
/// its own configuration, token directory and PIN file, removed on drop.
pub struct SoftHsm {
    pub dir: tempfile::TempDir,
    pub label: String,
}

impl SoftHsm {
    /// A fresh token labelled `label`; `None` if the test must skip.
    #[track_caller]
    pub fn new(test: &str, label: &str) -> Option<SoftHsm> {
        let module = softhsm_module();
        if missing(
            test,
            &["softhsm2-util", module.to_str().unwrap_or("/nonexistent")],
        )
        .is_some()
        {
            return None;
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let out = Command::new("bash")
            .arg(workspace().join("scripts/softhsm-token.sh"))
            .arg(dir.path())
            .arg(label)
            .output()
            .expect("run scripts/softhsm-token.sh");
        assert!(
            out.status.success(),
            "softhsm-token.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(SoftHsm {
            dir,
            label: label.to_owned(),
        })
    }

    /// `SOFTHSM2_CONF` for processes that use this token.
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    /// The user PIN file.
    pub fn pin_file(&self) -> PathBuf {
        self.dir.path().join("user.pin")
    }

    /// The user PIN (for tools like pkcs11-tool in checks).
    pub fn pin(&self) -> String {
        std::fs::read_to_string(self.pin_file())
            .expect("pin file")
            .trim_end()
            .to_owned()
    }

    /// The URI of object `object` on this token.
    pub fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token={};object={object}?module-path={}&pin-source=file:{}",
            self.label,
            softhsm_module().display(),
            self.pin_file().display()
        )
    }

    /// The URI of the token itself (no object).
    pub fn token_uri(&self) -> String {
        format!(
            "pkcs11:token={}?module-path={}&pin-source=file:{}",
            self.label,
            softhsm_module().display(),
            self.pin_file().display()
        )
    }
}

/// A swtpm of its own on a free loopback port pair, killed on drop.
pub struct Swtpm {
    child: Child,
    pub port: u16,
    pub state: tempfile::TempDir,
}

/// A port P with P and P+1 both free on 127.0.0.1 (swtpm's server and
/// control ports).
fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let a = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let p = a.local_addr().expect("local address").port();
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free loopback port pair");
}

impl Swtpm {
    /// Starts a fresh TPM; `None` if the test must skip.
    #[track_caller]
    pub fn start(test: &str) -> Option<Swtpm> {
        if missing(test, &["swtpm"]).is_some() {
            return None;
        }
        let state = tempfile::tempdir().expect("temporary directory");
        // Another process can take the ports between the check and swtpm's
        // bind: then swtpm exits and we try another pair.
        for _ in 0..10 {
            let port = free_port_pair();
            let mut child = Command::new("swtpm")
                .args(["socket", "--tpm2", "--tpmstate"])
                .arg(format!("dir={}", state.path().display()))
                .arg("--server")
                .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
                .arg("--ctrl")
                .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
                .args(["--flags", "not-need-init,startup-clear"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn swtpm");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            // A bounded wait for readiness (not a timing assertion).
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Some(Swtpm { child, port, state });
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("swtpm did not start");
    }

    /// The TCTI string for this TPM.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CNCF distribution registry (Debian `docker-registry`) on a free
/// loopback port, storage in a temporary directory; with `tls`, a CA made
/// here signs its certificate and htpasswd (bcrypt) guards it.
pub struct Registry {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub tls: bool,
}

/// The user and password of a TLS registry.
pub const REGISTRY_USER: (&str, &str) = ("publisher", "s3cret-pass");

impl Registry {
    /// Starts a registry; `None` if the test must skip.
    #[track_caller]
    pub fn start(test: &str, tls: bool) -> Option<Registry> {
        let needs: &[&str] = if tls {
            &["docker-registry", "openssl", "htpasswd"]
        } else {
            &["docker-registry"]
        };
        if missing(test, needs).is_some() {
            return None;
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let d = dir.path();
        std::fs::create_dir_all(d.join("storage")).expect("storage dir");
        if tls {
            let run = |args: &[&str]| {
                let ok = Command::new(args[0])
                    .args(&args[1..])
                    .current_dir(d)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .expect("run openssl/htpasswd")
                    .success();
                assert!(ok, "{args:?} failed");
            };
            run(&[
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=airlock test CA",
            ]);
            run(&[
                "openssl",
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ]);
            std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
            run(&[
                "openssl",
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ]);
            let out = Command::new("htpasswd")
                .args(["-Bbn", REGISTRY_USER.0, REGISTRY_USER.1])
                .output()
                .expect("htpasswd");
            std::fs::write(d.join("htpasswd"), out.stdout).expect("htpasswd file");
            // skopeo's --cert-dir: the CA as *.crt.
            std::fs::create_dir_all(d.join("certs")).expect("certs");
            std::fs::copy(d.join("ca.crt"), d.join("certs/ca.crt")).expect("ca copy");
        }
        let mut r = Registry {
            child: None,
            port: 0,
            dir,
            tls,
        };
        for _ in 0..10 {
            let port = TcpListener::bind("127.0.0.1:0")
                .expect("bind loopback")
                .local_addr()
                .expect("local address")
                .port();
            if r.start_on(port) {
                return Some(r);
            }
        }
        panic!("the registry did not start");
    }

    fn start_on(&mut self, port: u16) -> bool {
        let d = self.dir.path();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            d.join("storage").display()
        );
        if self.tls {
            cfg.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: airlock-test\n    path: {}\n",
                d.join("server.crt").display(),
                d.join("server.key").display(),
                d.join("htpasswd").display()
            ));
        }
        std::fs::write(d.join("config.yml"), cfg).expect("config");
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn docker-registry");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // A bounded wait for readiness (not a timing assertion).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                self.child = Some(child);
                self.port = port;
                return true;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops it (the storage stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same storage.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        for _ in 0..50 {
            if self.start_on(port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the registry did not restart");
    }

    /// The CA certificate (TLS registries).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// skopeo's flags to reach it (`--tls-verify`/`--cert-dir`, `--creds`),
    /// with `prefix` `src-`/`dest-`/`` as the skopeo command needs.
    pub fn skopeo_flags(&self, prefix: &str) -> Vec<String> {
        if self.tls {
            vec![
                format!(
                    "--{prefix}cert-dir={}",
                    self.dir.path().join("certs").display()
                ),
                format!("--{prefix}creds={}:{}", REGISTRY_USER.0, REGISTRY_USER.1),
            ]
        } else {
            vec![format!("--{prefix}tls-verify=false")]
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
