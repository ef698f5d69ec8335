//! A private `nats-server` on a free port, for tests that stop and restart NATS without
//! disturbing the shared one other tests use, and small clusters of them on loopback.

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

#[derive(Debug)]
pub struct PrivateNats {
    pub port: u16,
    /// Extra command-line arguments (cluster settings), given again on every restart.
    args: Vec<String>,
    child: Option<Child>,
}

/// `nats-server` must be on PATH; without it the test fails with one line saying so.
fn require_nats_server() {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let found = OK.get_or_init(|| {
        std::process::Command::new("nats-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(
        *found,
        "`nats-server` is not on PATH; install it (Debian: `apt-get install nats-server`)"
    );
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// Whether a NATS server answers on `port`: its greeting is an `INFO {…}` line, and a `PING`
/// gets a `PONG`.
async fn pong(port: u16) -> bool {
    let exchange = async {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let info = lines.next_line().await.ok()??;
        if !info.starts_with("INFO ") {
            return None;
        }
        write
            .write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
            .await
            .ok()?;
        let answer = lines.next_line().await.ok()??;
        answer.starts_with("PONG").then_some(())
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), exchange).await,
        Ok(Some(()))
    )
}

impl PrivateNats {
    /// Starts a server on a free port and waits until it answers PING.
    pub async fn start() -> PrivateNats {
        PrivateNats::start_with(free_port(), Vec::new()).await
    }

    /// Starts a server on `port` with extra arguments (e.g. `--cluster`, `--routes`).
    pub async fn start_with(port: u16, args: Vec<String>) -> PrivateNats {
        let mut s = PrivateNats {
            port,
            args,
            child: None,
        };
        s.up().await;
        s
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on its port.
    pub async fn up(&mut self) {
        require_nats_server();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn nats-server");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !pong(self.port).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "private nats-server on port {} did not come up",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server (every client connection drops at once).
    pub async fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while pong(self.port).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server on port {} did not stop",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
