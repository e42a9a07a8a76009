//! Evaluation bounded in time and memory: the policy runs in a child
//! process (this same program, `airlock __gate-eval`, never a shell), which
//! lowers its own heap limit (`RLIMIT_DATA`) and CPU limit (`RLIMIT_CPU`)
//! before it evaluates anything, and which the parent kills when the
//! policy's wall-clock limit has passed. Rego is also stopped from inside
//! by regorus's execution timer. However the child ends — out of memory,
//! killed, crashed, an error — the parent reports `policy-error`: a policy
//! that cannot finish never passes.
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::GateError;
use super::eval::evaluate;
use super::file::Policy;
use super::rule::RuleResult;

/// The argument that makes the program the evaluating child.
pub const CHILD_ARG: &str = "__gate-eval";

/// Time the child may take to start and read its input, on top of the
/// policy's own limit.
const STARTUP_GRACE: Duration = Duration::from_millis(2000);

/// The most the parent reads of the child's output.
const MAX_OUTPUT: u64 = 16 << 20;

#[derive(Serialize, Deserialize)]
struct Request {
    policy: String,
    input: Value,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Reply {
    Results(Vec<RuleResult>),
    Error(String),
}

fn failed(reason: impl Into<String>) -> GateError {
    GateError::Failed {
        reason: reason.into(),
    }
}

/// Evaluates `policy` (its file's exact `text`) over `input` in a bounded
/// child process.
pub fn evaluate_bounded(
    text: &str,
    policy: &Policy,
    input: &Value,
) -> Result<Vec<RuleResult>, GateError> {
    let exe = std::env::current_exe().map_err(|e| {
        failed(format!(
            "cannot find this program to evaluate the policy: {e}"
        ))
    })?;
    let request = serde_json::to_vec(&Request {
        policy: text.to_owned(),
        input: input.clone(),
    })
    .map_err(|e| failed(e.to_string()))?;
    let mut child = Command::new(exe)
        .arg(CHILD_ARG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot start the policy evaluation: {e}")))?;
    let stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(mut s) = stdin {
            // A child that ends early closes the pipe: its status says why.
            let _ = s.write_all(&request);
        }
    });
    let read = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(r) = r {
                let _ = r.take(MAX_OUTPUT).read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Duration::from_millis(policy.limits.time_ms) + STARTUP_GRACE;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if started.elapsed() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = writer.join();
                return Err(failed(format!(
                    "the policy did not finish within its time limit ({} ms) and was stopped",
                    policy.limits.time_ms
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                return Err(failed(format!(
                    "cannot wait for the policy evaluation: {e}"
                )));
            }
        }
    };
    let _ = writer.join();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr);
    if !status.success() {
        use std::os::unix::process::ExitStatusExt as _;
        // SIGXCPU: the child's own CPU limit (RLIMIT_CPU).
        if status.signal() == Some(24) {
            return Err(failed(format!(
                "the policy did not finish within its time limit ({} ms) and was stopped",
                policy.limits.time_ms
            )));
        }
        if stderr.contains("memory allocation") || stderr.contains("out of memory") {
            return Err(failed(format!(
                "the policy exceeded its memory limit ({} MiB) and was stopped",
                policy.limits.memory_mib
            )));
        }
        return Err(failed(format!(
            "the policy evaluation ended abnormally ({status}): it exceeded a limit or crashed"
        )));
    }
    match serde_json::from_slice::<Reply>(&stdout) {
        Ok(Reply::Results(r)) => Ok(r),
        Ok(Reply::Error(e)) => Err(failed(e)),
        Err(e) => Err(failed(format!(
            "the policy evaluation's output does not parse: {e}"
        ))),
    }
}

/// The child: reads the request on stdin, limits itself, evaluates, and
/// writes its reply on stdout. Returns the exit code.
pub fn child_main() -> i32 {
    let mut bytes = Vec::new();
    if std::io::stdin().read_to_end(&mut bytes).is_err() {
        return 3;
    }
    let reply = match serde_json::from_slice::<Request>(&bytes) {
        Err(e) => Reply::Error(format!("bad request: {e}")),
        Ok(req) => match Policy::parse(req.policy.as_bytes()) {
            Err(e) => Reply::Error(e.to_string()),
            Ok(policy) => match limit_self(&policy) {
                Err(e) => Reply::Error(e),
                Ok(()) => match evaluate(&policy, &req.input) {
                    Ok(r) => Reply::Results(r),
                    Err(e) => Reply::Error(e),
                },
            },
        },
    };
    let out = serde_json::to_vec(&reply).unwrap_or_default();
    let mut stdout = std::io::stdout();
    if stdout
        .write_all(&out)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return 3;
    }
    0
}

/// Lowers this process's heap and CPU limits to the policy's.
fn limit_self(policy: &Policy) -> Result<(), String> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let heap = policy.limits.memory_mib.saturating_mul(1 << 20);
    let cpu = policy.limits.time_ms.div_ceil(1000) + 1;
    for (resource, value) in [(Resource::Data, heap), (Resource::Cpu, cpu)] {
        setrlimit(
            resource,
            Rlimit {
                current: Some(value),
                maximum: Some(value),
            },
        )
        .map_err(|e| format!("cannot limit the policy evaluation ({resource:?}): {e}"))?;
    }
    Ok(())
}
