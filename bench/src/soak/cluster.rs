//! The processes of one soak run: a private `redis-server` on its own port and the worker
//! nodes (Rust: this binary's `node` role; Moleculer.js: `bench/js/soak-node.js`), with the
//! signals the fault schedule sends them and their RSS and open descriptors from `/proc`.

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The implementation of a worker node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Lang {
    Rust,
    Js,
}

impl Lang {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Js => "Moleculer.js",
        }
    }
}

/// The workspace root (bench/..): where `interop/node_modules` and `bench/js` are.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// A free loopback port (the kernel's pick; released before the server binds it).
pub(crate) fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// A private Redis that can be killed and started again on the same port.
#[derive(Debug)]
pub(crate) struct Redis {
    pub(crate) port: u16,
    child: Option<Child>,
}

impl Redis {
    /// A port with no server yet.
    pub(crate) fn new() -> Result<Redis, String> {
        Ok(Redis {
            port: free_port()?,
            child: None,
        })
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts `redis-server` (nothing on disk) and waits until it answers PING.
    pub(crate) async fn up(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start redis-server (is it installed?): {e}"))?;
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !redis_answers(self.port).await {
            if tokio::time::Instant::now() > deadline {
                return Err(format!("redis-server on port {port} did not come up"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// SIGKILL: every connection drops at once, as in a crash (Redis keeps nothing).
    pub(crate) async fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
    }
}

async fn redis_answers(port: u16) -> bool {
    let exchange = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        s.write_all(b"PING\r\n").await.ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        buf[..n].starts_with(b"+PONG").then_some(())
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), exchange).await,
        Ok(Some(()))
    )
}

/// What every worker node is started with.
#[derive(Debug, Clone)]
pub(crate) struct NodeEnv {
    pub(crate) namespace: String,
    pub(crate) transporter: String,
    pub(crate) dir: PathBuf,
    pub(crate) hb_interval: Duration,
    pub(crate) hb_timeout: Duration,
}

/// One worker node (restarts keep its node ID and log file).
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) lang: Lang,
    env: NodeEnv,
    child: Option<Child>,
    /// The running process's pid (0: none), shared with the RSS sampler.
    pid: Arc<AtomicU32>,
}

impl Node {
    pub(crate) fn new(id: String, lang: Lang, env: NodeEnv) -> Node {
        Node {
            id,
            lang,
            env,
            child: None,
            pid: Arc::new(AtomicU32::new(0)),
        }
    }

    /// The pid cell the RSS sampler reads.
    pub(crate) fn pid_cell(&self) -> Arc<AtomicU32> {
        self.pid.clone()
    }

    /// The file the node records its executions in.
    pub(crate) fn log_path(&self) -> PathBuf {
        self.env.dir.join(format!("{}.exec", self.id))
    }

    /// Spawns the process (it connects on its own, waiting for Redis if need be).
    pub(crate) fn spawn(&mut self) -> Result<(), String> {
        let root = workspace_root();
        let mut cmd = match self.lang {
            Lang::Rust => {
                let exe = std::env::current_exe().map_err(|e| e.to_string())?;
                let mut c = Command::new(exe);
                c.arg("node");
                c
            }
            Lang::Js => {
                let mut c = Command::new("node");
                c.arg(root.join("bench/js/soak-node.js"));
                c.env("NODE_PATH", root.join("interop/node_modules"));
                c
            }
        };
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.env.dir.join(format!("{}.stderr", self.id)))
            .map_err(|e| e.to_string())?;
        let child = cmd
            .env("NODE_ID", &self.id)
            .env("NAMESPACE", &self.env.namespace)
            .env("TRANSPORTER", &self.env.transporter)
            .env("SOAK_LOG", self.log_path())
            .env(
                "HB_INTERVAL_MS",
                self.env.hb_interval.as_millis().to_string(),
            )
            .env("HB_TIMEOUT_MS", self.env.hb_timeout.as_millis().to_string())
            .env(
                "RUST_LOG",
                std::env::var("SOAK_NODE_LOG").unwrap_or("warn".into()),
            )
            // A backtrace per panic (symbolized, from the debug info) would make the panicking
            // handler cost what a deployment's default does not.
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start node {}: {e}", self.id))?;
        self.pid.store(child.id().unwrap_or(0), Ordering::Relaxed);
        self.child = Some(child);
        Ok(())
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Sends a signal (`KILL`, `STOP`, `CONT`, `TERM`) with kill(1).
    pub(crate) async fn signal(&self, name: &str) -> Result<(), String> {
        let pid = self
            .pid()
            .ok_or_else(|| format!("{} is not running", self.id))?;
        let status = Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status()
            .await
            .map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -{name} {pid} failed"))
        }
    }

    /// SIGKILL, and reaps the process.
    pub(crate) async fn kill(&mut self) -> Result<(), String> {
        self.signal("KILL").await?;
        self.pid.store(0, Ordering::Relaxed);
        if let Some(mut child) = self.child.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
        Ok(())
    }

    /// SIGTERM (a graceful stop), then SIGKILL if it has not exited within 8 s.
    pub(crate) async fn stop(&mut self) {
        let _ = self.signal("CONT").await;
        let _ = self.signal("TERM").await;
        self.pid.store(0, Ordering::Relaxed);
        if let Some(mut child) = self.child.take() {
            if tokio::time::timeout(Duration::from_secs(8), child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            }
        }
    }

    /// RSS and open descriptors of the running process.
    pub(crate) fn resources(&self) -> Option<Resources> {
        Resources::of(self.pid()?)
    }
}

/// A process's resident memory (now and its peak) and open file descriptors.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Resources {
    pub(crate) pid: u32,
    pub(crate) rss_kib: u64,
    pub(crate) peak_rss_kib: u64,
    pub(crate) fds: usize,
}

impl Resources {
    pub(crate) fn of(pid: u32) -> Option<Resources> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
        Some(Resources {
            pid,
            rss_kib: field("VmRSS:")?,
            peak_rss_kib: field("VmHWM:")?,
            fds,
        })
    }
}
