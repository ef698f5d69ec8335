//! A Moleculer.js node (`interop/peer.js`) as a child process, driven over JSON lines.
//!
//! The child dies with the test: `kill_on_drop`, and the script exits when its stdin closes.

use super::{ensure_js_deps, interop_dir, WAIT};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running JS peer.
#[derive(Debug)]
pub struct JsPeer {
    pub node_id: String,
    /// The `ready` line: `{nodeID, moleculer, protocol}`.
    pub ready: Value,
    child: tokio::sync::Mutex<Child>,
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    pending: Pending,
    next_id: AtomicU64,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

/// A successful JS call: the result and the caller's context meta after the call.
#[derive(Debug, Clone)]
pub struct JsReply {
    pub result: Value,
    pub meta: Value,
    pub elapsed_ms: u64,
}

impl JsPeer {
    /// Starts `node peer.js <config>` and waits until its broker has started.
    pub async fn start(config: Value) -> JsPeer {
        ensure_js_deps();
        let node_id = config["nodeID"].as_str().unwrap_or_default().to_owned();
        let mut child = Command::new("node")
            .arg("peer.js")
            .arg(config.to_string())
            .current_dir(interop_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `node interop/peer.js`: {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("peer stdout");
        let stderr_pipe = child.stderr.take().expect("peer stderr");

        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let tail = stderr.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr_pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut t = lock(&tail);
                if t.len() >= 200 {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });

        let pending: Pending = Arc::default();
        let (ready_tx, ready_rx) = oneshot::channel();
        let map = pending.clone();
        tokio::spawn(async move {
            let mut ready_tx = Some(ready_tx);
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if msg["ready"] == true {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(msg);
                    }
                } else if let Some(id) = msg["id"].as_u64() {
                    if let Some(tx) = lock(&map).remove(&id) {
                        let _ = tx.send(msg);
                    }
                }
            }
            // The peer is gone: waiters see their sender dropped.
            lock(&map).clear();
        });

        let peer = JsPeer {
            node_id,
            ready: Value::Null,
            child: tokio::sync::Mutex::new(child),
            stdin: tokio::sync::Mutex::new(stdin),
            pending,
            next_id: AtomicU64::new(1),
            stderr,
        };
        let ready = match tokio::time::timeout(Duration::from_secs(30), ready_rx).await {
            Ok(Ok(ready)) => ready,
            _ => panic!(
                "JS peer {} did not start; stderr:\n{}",
                peer.node_id,
                peer.stderr_tail()
            ),
        };
        JsPeer { ready, ..peer }
    }

    /// The last lines the peer wrote to stderr (its Moleculer logs), for failure messages.
    pub fn stderr_tail(&self) -> String {
        lock(&self.stderr)
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Fails if the JS node logged an error: a Moleculer.js node that chokes on a packet from
    /// the Rust node (bad version, invalid data, a response it cannot parse) says so at error
    /// level even when the call itself went through.
    pub fn assert_no_errors(&self) {
        let tail = self.stderr_tail();
        let bad: Vec<&str> = tail
            .lines()
            .filter(|l| l.contains(" ERROR ") || l.contains(" FATAL ") || l.starts_with("peer:"))
            .collect();
        assert!(
            bad.is_empty(),
            "JS peer {} logged errors:\n{}",
            self.node_id,
            bad.join("\n")
        );
    }

    /// Sends one command and waits (bounded) for its answer line.
    pub async fn request(&self, mut cmd: Value, bound: Duration) -> Value {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        cmd["id"] = json!(id);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let line = format!("{cmd}\n");
        {
            let mut stdin = self.stdin.lock().await;
            let Some(stdin) = stdin.as_mut() else {
                panic!("JS peer {}: stdin already closed", self.node_id);
            };
            if let Err(err) = stdin.write_all(line.as_bytes()).await {
                panic!("JS peer {}: write failed: {err}", self.node_id);
            }
        }
        match tokio::time::timeout(bound, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => panic!(
                "JS peer {} exited before answering {cmd}; stderr:\n{}",
                self.node_id,
                self.stderr_tail()
            ),
            Err(_) => {
                lock(&self.pending).remove(&id);
                panic!(
                    "JS peer {} did not answer {cmd} within {bound:?}; stderr:\n{}",
                    self.node_id,
                    self.stderr_tail()
                )
            }
        }
    }

    /// `broker.call`: `Ok` with the result and merged meta, or `Err` with the error as JS sees it
    /// (`name`, `message`, `code`, `type`, `data`, `retryable`, `nodeID`, `class`, `instanceOf`).
    pub async fn call(&self, action: &str, params: Value, opts: Value) -> Result<JsReply, Value> {
        self.call_bounded(action, params, opts, WAIT).await
    }

    pub async fn call_bounded(
        &self,
        action: &str,
        params: Value,
        opts: Value,
        bound: Duration,
    ) -> Result<JsReply, Value> {
        let cmd = json!({"cmd": "call", "action": action, "params": params, "opts": opts});
        let answer = self.request(cmd, bound).await;
        if answer["ok"] == true {
            Ok(JsReply {
                result: answer["result"].clone(),
                meta: answer["meta"].clone(),
                elapsed_ms: answer["elapsedMs"].as_u64().unwrap_or(0),
            })
        } else {
            let mut err = answer["error"].clone();
            err["elapsedMs"] = answer["elapsedMs"].clone();
            Err(err)
        }
    }

    /// Like [`JsPeer::call`] but panics on error.
    pub async fn call_ok(&self, action: &str, params: Value, opts: Value) -> JsReply {
        match self.call(action, params, opts).await {
            Ok(reply) => reply,
            Err(err) => panic!("JS {} call {action} failed: {err}", self.node_id),
        }
    }

    /// Like [`JsPeer::call`] but panics on success.
    pub async fn call_err(&self, action: &str, params: Value, opts: Value) -> Value {
        match self.call(action, params, opts).await {
            Ok(reply) => panic!(
                "JS {} call {action} succeeded with {:?}",
                self.node_id, reply.result
            ),
            Err(err) => err,
        }
    }

    async fn ok(&self, cmd: Value) -> Value {
        let answer = self.request(cmd.clone(), WAIT).await;
        assert_eq!(
            answer["ok"], true,
            "JS {} {cmd} failed: {answer}",
            self.node_id
        );
        answer["result"].clone()
    }

    pub async fn emit(&self, event: &str, data: Value, opts: Value) {
        self.ok(json!({"cmd": "emit", "event": event, "data": data, "opts": opts}))
            .await;
    }

    pub async fn broadcast(&self, event: &str, data: Value, opts: Value) {
        self.ok(json!({"cmd": "broadcast", "event": event, "data": data, "opts": opts}))
            .await;
    }

    /// Events the peer's recording handlers received so far.
    pub async fn events(&self) -> Vec<Value> {
        let v = self.ok(json!({"cmd": "events"})).await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// The spans the peer's `spancollector` service received from `$tracing.spans` so far.
    pub async fn spans(&self) -> Vec<Value> {
        let v = self.ok(json!({"cmd": "spans"})).await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// `$node.connected/updated/disconnected` seen on the local bus, with timestamps.
    pub async fn node_events(&self) -> Vec<Value> {
        let v = self.ok(json!({"cmd": "nodeEvents"})).await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// The local `$node.list`.
    pub async fn list(&self) -> Value {
        self.ok(json!({"cmd": "list", "params": {}})).await
    }

    /// The local `$node.services` with `params`.
    pub async fn services(&self, params: Value) -> Value {
        self.ok(json!({"cmd": "services", "params": params})).await
    }

    /// `broker.waitForServices`.
    pub async fn wait_for(&self, services: &[&str]) {
        let ms = WAIT.as_millis() as u64;
        let cmd = json!({"cmd": "waitFor", "services": services, "timeout": ms});
        let answer = self.request(cmd, WAIT + Duration::from_secs(2)).await;
        assert_eq!(
            answer["ok"], true,
            "JS {} did not see {services:?}: {answer}",
            self.node_id
        );
    }

    /// Stops the broker gracefully and waits for the process to exit.
    pub async fn exit(&self) {
        let cmd = json!({"cmd": "exit", "id": 0});
        if let Some(stdin) = self.stdin.lock().await.as_mut() {
            let _ = stdin.write_all(format!("{cmd}\n").as_bytes()).await;
        }
        let mut child = self.child.lock().await;
        if tokio::time::timeout(Duration::from_secs(8), child.wait())
            .await
            .is_err()
        {
            let _ = child.start_kill();
        }
    }

    /// SIGKILL: the broker vanishes without DISCONNECT.
    pub async fn kill(&self) {
        let mut child = self.child.lock().await;
        let _ = child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    }
}
