//! A private `redis-server`, `nats-server` or `mosquitto` on a free port of its own, for tests
//! that stop and restart the bus without disturbing the shared server other tests use.

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
    Mosquitto,
}

impl ServerKind {
    fn program(self) -> &'static str {
        match self {
            ServerKind::Redis => "redis-server",
            ServerKind::Nats => "nats-server",
            ServerKind::Mosquitto => "mosquitto",
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            ServerKind::Redis => "install Redis (Debian: `apt-get install redis-server`)",
            ServerKind::Nats => "install it (Debian: `apt-get install nats-server`)",
            ServerKind::Mosquitto => "install it (Debian: `apt-get install mosquitto`)",
        }
    }

    /// Loopback only, on `port`; Redis and Mosquitto keep nothing on disk.
    fn args(self, port: u16) -> Vec<String> {
        if self == ServerKind::Mosquitto {
            return vec!["-c".to_owned(), mosquitto_config(port)];
        }
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
            ServerKind::Mosquitto => &[],
        };
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    /// The server must be on PATH; without it the test fails with one line saying so.
    fn require(self) {
        use std::sync::OnceLock;
        static FOUND: [OnceLock<bool>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let found = FOUND[self as usize].get_or_init(|| {
            let status = std::process::Command::new(self.program())
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            match self {
                // mosquitto prints its version and usage, and exits 3: it runs.
                ServerKind::Mosquitto => status.is_ok(),
                _ => status.is_ok_and(|s| s.success()),
            }
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
                ServerKind::Mosquitto => mqtt_connack(stream).await,
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

/// An MQTT server answers a CONNECT (3.1.1, clean session, client `probe`) with CONNACK 0.
async fn mqtt_connack(mut s: TcpStream) -> Option<()> {
    const CONNECT: &[u8] = &[
        0x10, 17, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 5, b'p', b'r', b'o', b'b', b'e',
    ];
    s.write_all(CONNECT).await.ok()?;
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.ok()?;
    // DISCONNECT, so the server does not log a lost client.
    let _ = s.write_all(&[0xe0, 0]).await;
    (buf == [0x20, 2, 0, 0]).then_some(())
}

/// A Mosquitto configuration listening on 127.0.0.1:`port` only, anonymous, nothing persisted,
/// logging subscriptions to stdout; written to the temporary directory, its path returned.
fn mosquitto_config(port: u16) -> String {
    let path = std::env::temp_dir().join(format!("interop-mosquitto-{port}.conf"));
    let config = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
         log_dest stdout\nlog_type subscribe\nlog_type error\n"
    );
    std::fs::write(&path, config).expect("write the private mosquitto's config");
    path.display().to_string()
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
            ServerKind::Mosquitto => format!("mqtt://127.0.0.1:{}", self.port),
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
