//! A private `redis-server` or `nats-server` on a free port of its own, for tests that stop and
//! restart the bus without disturbing the shared server other tests use.

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Redis,
    Nats,
}

impl ServerKind {
    fn program(self) -> &'static str {
        match self {
            ServerKind::Redis => "redis-server",
            ServerKind::Nats => "nats-server",
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            ServerKind::Redis => "install Redis (Debian: `apt-get install redis-server`)",
            ServerKind::Nats => "install it (Debian: `apt-get install nats-server`)",
        }
    }

    /// Loopback only, on `port`; Redis keeps nothing on disk.
    fn args(self, port: u16) -> Vec<String> {
        let port = port.to_string();
        let args: &[&str] = match self {
            ServerKind::Redis => &[
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            ServerKind::Nats => &["-a", "127.0.0.1", "-p", &port],
        };
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    /// The server must be on PATH; without it the test fails with one line saying so.
    fn require(self) {
        use std::sync::OnceLock;
        static FOUND: [OnceLock<bool>; 2] = [OnceLock::new(), OnceLock::new()];
        let found = FOUND[self as usize].get_or_init(|| {
            std::process::Command::new(self.program())
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        assert!(
            *found,
            "`{}` is not on PATH; {}",
            self.program(),
            self.install_hint()
        );
    }

    /// Whether a server of this kind answers on `port`.
    async fn answers(self, port: u16) -> bool {
        let exchange = async {
            let stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
            match self {
                ServerKind::Redis => redis_pong(stream).await,
                ServerKind::Nats => nats_pong(stream).await,
            }
        };
        matches!(
            tokio::time::timeout(Duration::from_millis(500), exchange).await,
            Ok(Some(()))
        )
    }
}

/// Redis answers `PING` with `+PONG`.
async fn redis_pong(mut s: TcpStream) -> Option<()> {
    s.write_all(b"PING\r\n").await.ok()?;
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).await.ok()?;
    buf[..n].starts_with(b"+PONG").then_some(())
}

/// NATS greets with an `INFO {…}` line and answers `PING` with `PONG`.
async fn nats_pong(stream: TcpStream) -> Option<()> {
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
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

#[derive(Debug)]
pub struct PrivateServer {
    pub kind: ServerKind,
    pub port: u16,
    child: Option<Child>,
}

impl PrivateServer {
    /// Starts a server on a free port and waits until it answers.
    pub async fn start(kind: ServerKind) -> PrivateServer {
        let mut s = PrivateServer::not_started(kind);
        s.up().await;
        s
    }

    /// A free port with no server on it yet (`up` starts one): a bus that is not there.
    pub fn not_started(kind: ServerKind) -> PrivateServer {
        PrivateServer {
            kind,
            port: free_port(),
            child: None,
        }
    }

    pub fn url(&self) -> String {
        match self.kind {
            ServerKind::Redis => format!("redis://127.0.0.1:{}", self.port),
            ServerKind::Nats => format!("nats://127.0.0.1:{}", self.port),
        }
    }

    /// (Re)starts the server on its port.
    pub async fn up(&mut self) {
        self.kind.require();
        let program = self.kind.program();
        let child = Command::new(program)
            .args(self.kind.args(self.port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.kind.answers(self.port).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "private {program} on port {} did not come up",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server: every client connection drops at once (Redis saves nothing).
    pub async fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.kind.answers(self.port).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} on port {} did not stop",
                self.kind.program(),
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
