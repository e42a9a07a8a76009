//! Imports into one store are serialized by its lock: two concurrent
//! unpacks of the same bundle cannot both pass the replay check.
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::{World, airlock_bin};

#[test]
fn concurrent_unpacks_of_one_bundle_are_serialized() {
    let w = World::new();
    w.pack("rel.airlock", &[]).ok();
    // Hold the store's lock, as a long import would.
    let lock = OpenOptions::new()
        .write(true)
        .open(w.path("store/lock"))
        .unwrap();
    lock.lock().unwrap();

    let (tx, rx) = mpsc::channel();
    let mut children = Vec::new();
    for to in ["a", "b"] {
        let mut child = Command::new(airlock_bin())
            .current_dir(w.tmp.path())
            .args([
                "unpack",
                "rel.airlock",
                "--store",
                "store",
                "--to",
                to,
                "--json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines() {
                let line = line.unwrap();
                if line.contains("waiting for the trust store") {
                    tx.send(()).unwrap();
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        children.push(child);
    }
    for _ in 0..2 {
        rx.recv_timeout(Duration::from_secs(120))
            .expect("an unpack did not report that it waits for the lock");
    }
    drop(lock);

    let mut codes = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        codes.push((
            out.status.code().unwrap(),
            json["errors"][0]["code"].as_str().map(str::to_owned),
        ));
    }
    codes.sort();
    assert_eq!(codes, vec![(0, None), (1, Some("replay".to_owned()))]);
    assert!(
        w.path("a").exists() != w.path("b").exists(),
        "exactly one destination"
    );
}
