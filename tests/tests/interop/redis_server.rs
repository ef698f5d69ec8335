//! A private `redis-server` on a free port, for tests that stop and restart Redis without
//! disturbing the shared one other tests use.

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

#[derive(Debug)]
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

/// `redis-server` must be on PATH; without it the test fails with one line saying so.
fn require_redis_server() {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let found = OK.get_or_init(|| {
        std::process::Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(
        *found,
        "`redis-server` is not on PATH; install Redis (Debian: `apt-get install redis-server`)"
    );
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

async fn pong(port: u16) -> bool {
    let Ok(Ok(mut s)) = tokio::time::timeout(
        Duration::from_millis(500),
        TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(
        tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await,
        Ok(Ok(n)) if buf[..n].starts_with(b"+PONG")
    )
}

impl PrivateRedis {
    /// Starts a server on a free port and waits until it answers PING.
    pub async fn start() -> PrivateRedis {
        let mut r = PrivateRedis {
            port: free_port(),
            child: None,
        };
        r.up().await;
        r
    }

    /// A free port with no server on it yet (`up` starts one): a Redis that is not there.
    pub fn not_started() -> PrivateRedis {
        PrivateRedis {
            port: free_port(),
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on its port.
    pub async fn up(&mut self) {
        require_redis_server();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !pong(self.port).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "private redis-server on port {} did not come up",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server (every client connection drops at once, nothing is saved).
    pub async fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while pong(self.port).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server on port {} did not stop",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
