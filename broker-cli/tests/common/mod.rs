//! Running the `broker` binary from tests, every run bounded.

#![allow(dead_code, unreachable_pub)]

pub mod peer;
pub mod pty;
pub mod redis_server;

use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Standard output parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str(&self.stdout) {
            Ok(v) => v,
            Err(err) => panic!("stdout is not JSON ({err}): {self:?}"),
        }
    }
}

/// Runs `broker` with `args`, `env` and `stdin`, killing it after `limit`.
pub async fn broker_with(args: &[&str], env: &[(&str, &str)], stdin: &str, limit: Duration) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_broker"));
    cmd.args(args)
        .env_remove("TRANSPORTER")
        .env_remove("NAMESPACE")
        .env_remove("NODE_ID")
        .env_remove("NODEID")
        .env_remove("MOLECULER_PROTOCOL")
        .env("BROKER_REPL_HISTORY", "")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(err) => panic!("cannot run broker: {err}"),
    };
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes()).await;
    }
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(out)) => Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Ok(Err(err)) => panic!("broker {args:?} failed to run: {err}"),
        Err(_) => panic!("broker {args:?} did not finish within {limit:?}"),
    }
}

/// Runs `broker` with `args` only, within 30 s.
pub async fn broker(args: &[&str]) -> Run {
    broker_with(args, &[], "", Duration::from_secs(30)).await
}

/// Starts `broker` with `args` and `env` without waiting for it; stdin stays open until the
/// child is dropped, and the child is killed if the test ends first.
pub fn spawn_broker(args: &[&str], env: &[(&str, &str)]) -> tokio::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_broker"));
    cmd.args(args)
        .env_remove("TRANSPORTER")
        .env_remove("NAMESPACE")
        .env_remove("NODE_ID")
        .env_remove("NODEID")
        .env_remove("MOLECULER_PROTOCOL")
        .env("BROKER_REPL_HISTORY", "")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    match cmd.spawn() {
        Ok(c) => c,
        Err(err) => panic!("cannot run broker: {err}"),
    }
}

/// Sends `signal` (`INT`, `TERM`) to a process with `kill`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status();
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "kill -{signal} {pid}: {status:?}"
    );
}
