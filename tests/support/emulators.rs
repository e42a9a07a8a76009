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
