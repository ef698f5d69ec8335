//! A Rust node in a child process, so a test can SIGKILL it (the node vanishes without
//! DISCONNECT, as a crashed process would) or SIGTERM it (the node stops gracefully, as
//! `Broker::run_until_signal` makes it).
//!
//! The child is this very test binary, re-run with only the ignored test `child_node_entry`
//! (which each test file using this module defines as `child::child_main()`), told what to do
//! through an environment variable.

use super::{services, Bus, Cluster, JsVersion};
use serde_json::{json, Value};
use std::io::BufRead;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

const CHILD_ENV: &str = "INTEROP_CHILD_NODE";
const READY: &str = "INTEROP-CHILD-READY";

/// The body of the `child_node_entry` test: a no-op unless started by [`RustChild::start`].
pub fn child_main() {
    let Ok(raw) = std::env::var(CHILD_ENV) else {
        return;
    };
    let cfg: Value = serde_json::from_str(&raw).expect("child config");
    let version = if cfg["version"] == "0.14" {
        JsVersion::V014
    } else {
        JsVersion::V015
    };
    let url = cfg["url"].as_str().unwrap_or_default().to_owned();
    let cluster = Cluster {
        version,
        namespace: cfg["namespace"].as_str().unwrap_or_default().to_owned(),
        bus: Bus::of_url(&url),
        url,
        disable_balancer: cfg["disableBalancer"] == true,
    };
    let node_id = cfg["nodeID"].as_str().unwrap_or_default().to_owned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("child runtime");
    rt.block_on(async move {
        let broker = cluster.rust_node(&node_id).build();
        broker.add_service(services::rmath()).await.expect("rmath");
        broker.start().await.expect("child broker starts");
        println!("{READY}");
        // Live until the parent closes stdin, or SIGINT/SIGTERM arrive (or SIGKILL).
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                if line.is_err() {
                    break;
                }
            }
        });
        tokio::select! {
            stopped = broker.run_until_signal() => {
                // The exit status tells the parent whether the graceful stop succeeded.
                std::process::exit(if stopped.is_ok() { 0 } else { 3 });
            }
            _ = stdin_closed => {}
        }
        let _ = broker.stop().await;
    });
    std::process::exit(0);
}

/// A running Rust child node.
#[derive(Debug)]
pub struct RustChild {
    pub node_id: String,
    child: Child,
    _stdin: Option<ChildStdin>,
}

impl RustChild {
    /// Starts a Rust node with the `rmath` service and waits until its broker has started.
    pub async fn start(cluster: &Cluster, node_id: &str) -> RustChild {
        let cfg = json!({
            "version": cluster.version.peer_arg(),
            "namespace": cluster.namespace,
            "url": cluster.url,
            "disableBalancer": cluster.disable_balancer,
            "nodeID": node_id,
        });
        let exe = std::env::current_exe().expect("current test binary");
        let mut child = Command::new(exe)
            .args(["child_node_entry", "--exact", "--ignored", "--nocapture"])
            .args(["--test-threads=1"])
            .env(CHILD_ENV, cfg.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the Rust child node");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("child stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                // libtest prints `test child_node_entry ... ` on the same line.
                if line.contains(READY) {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(ready, Ok(true)),
            "Rust child node {node_id} did not start"
        );
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        RustChild {
            node_id: node_id.to_owned(),
            child,
            _stdin: stdin,
        }
    }

    /// SIGTERM, then waits (bounded) for the process to exit; returns its exit code.
    pub async fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id()?;
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
        assert!(
            sent.is_ok_and(|s| s.success()),
            "could not send SIGTERM to {pid}"
        );
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        match status {
            Ok(Ok(status)) => status.code(),
            _ => None,
        }
    }

    /// SIGKILL.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}
