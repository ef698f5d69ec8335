//! A private `nats-server` for the tests that restart a server or need one configured their
//! own way (authentication, TLS, clusters), on ports of its own: never the shared one.
// Each test binary includes this module and uses only part of it.
#![allow(dead_code)]

use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The bound of every wait on a server.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A `nats-server` of our own (with its HTTP monitoring port), killed when dropped.
pub(crate) struct OwnNats {
    pub(crate) port: u16,
    pub(crate) monitor: u16,
    args: Vec<String>,
    child: Option<Child>,
    /// Whether it ever ran (a restart keeps its ports).
    started: bool,
}

impl OwnNats {
    pub(crate) async fn start(args: &[&str]) -> OwnNats {
        let mut s = OwnNats {
            port: free_port(),
            monitor: free_port(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
            started: false,
        };
        s.up().await;
        s
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts (or restarts, on the same ports) the server. A first start that fails, as when
    /// a port handed out by `free_port` was taken by a parallel test in between, is tried again
    /// on fresh ports; the server's own log is in the panic message otherwise.
    pub(crate) async fn up(&mut self) {
        let first_start = self.child.is_none() && !self.started;
        let mut last_log = String::new();
        for attempt in 0..3 {
            if attempt > 0 {
                if !first_start {
                    break;
                }
                self.port = free_port();
                self.monitor = free_port();
            }
            let log = std::env::temp_dir().join(format!(
                "own-nats-{}-{}.log",
                std::process::id(),
                self.port
            ));
            let file = std::fs::File::create(&log).expect("nats-server log file");
            let mut child = Command::new("nats-server")
                .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-m", &self.monitor.to_string()])
                .args(&self.args)
                .stdout(Stdio::null())
                .stderr(Stdio::from(file))
                .kill_on_drop(true)
                .spawn()
                .expect("`nats-server` on PATH (Debian: apt-get install nats-server)");
            let ready = tokio::time::timeout(WAIT, async {
                loop {
                    if http_get(self.monitor, "/healthz").await.is_some() {
                        return true;
                    }
                    if let Ok(Some(_)) = child.try_wait() {
                        return false;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            if ready == Ok(true) {
                self.child = Some(child);
                self.started = true;
                let _ = std::fs::remove_file(&log);
                return;
            }
            let _ = child.start_kill();
            let _ = tokio::time::timeout(WAIT, child.wait()).await;
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
            let _ = std::fs::remove_file(&log);
        }
        panic!("own nats-server did not come up; its log:\n{last_log}");
    }

    pub(crate) async fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(WAIT, child.wait()).await;
        }
    }

    /// The subjects the server holds for the client connection named `name`.
    pub(crate) async fn subscriptions_of(&self, name: &str) -> Vec<String> {
        let body = http_get(self.monitor, "/connz?subs=1")
            .await
            .expect("monitoring answers");
        let connz: Value = serde_json::from_str(&body).expect("connz JSON");
        let conns = connz["connections"].as_array().cloned().unwrap_or_default();
        let mine: Vec<&Value> = conns.iter().filter(|c| c["name"] == name).collect();
        assert_eq!(mine.len(), 1, "one connection named {name}: {connz}");
        let mut subs: Vec<String> = mine[0]["subscriptions_list"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        subs.sort();
        subs
    }
}

/// A bounded HTTP GET on the monitoring port; the body, or `None` if nothing answers.
pub(crate) async fn http_get(port: u16, path: &str) -> Option<String> {
    let exchange = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.0 200")
            .then(|| body.to_owned())
            .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_owned()))
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()
        .flatten()
}
