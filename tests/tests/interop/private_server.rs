//! A private `redis-server`, `nats-server`, RabbitMQ or `mosquitto` on a free port of its own,
//! for tests that stop and restart the bus without disturbing the shared server other tests use.

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
    /// A RabbitMQ node of its own: its own node name, AMQP and distribution ports, config,
    /// database and log directories (in a temporary directory), sharing only the machine's
    /// `epmd`.
    RabbitMq,
    /// A `mosquitto` of its own, keeping nothing on disk.
    Mosquitto,
}

impl ServerKind {
    fn program(self) -> &'static str {
        match self {
            ServerKind::Redis => "redis-server",
            ServerKind::Nats => "nats-server",
            // The script itself: Debian's /usr/sbin wrapper would switch to the rabbitmq user.
            ServerKind::RabbitMq => "/usr/lib/rabbitmq/bin/rabbitmq-server",
            ServerKind::Mosquitto => "mosquitto",
        }
    }

    /// How long a (re)start may take: RabbitMQ boots an Erlang VM (about 10 s on a busy
    /// machine).
    fn boot_bound(self) -> Duration {
        match self {
            ServerKind::RabbitMq => Duration::from_secs(60),
            _ => Duration::from_secs(10),
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            ServerKind::Redis => "install Redis (Debian: `apt-get install redis-server`)",
            ServerKind::Nats => "install it (Debian: `apt-get install nats-server`)",
            ServerKind::RabbitMq => "install RabbitMQ (Debian: `apt-get install rabbitmq-server`)",
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
            // Configured through the environment (`rabbit_env`).
            ServerKind::RabbitMq => &[],
            ServerKind::Mosquitto => &[],
        };
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    /// The server must be on PATH; without it the test fails with one line saying so.
    fn require(self) {
        use std::sync::OnceLock;
        static FOUND: [OnceLock<bool>; 4] = [
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
            OnceLock::new(),
        ];
        let found = FOUND[self as usize].get_or_init(|| {
            if self == ServerKind::RabbitMq {
                return std::path::Path::new(self.program()).exists();
            }
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
                ServerKind::RabbitMq => amqp_start(stream).await,
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

/// An AMQP 0-9-1 server answers the protocol header with a method frame (type 1) carrying
/// `connection.start`.
async fn amqp_start(mut s: TcpStream) -> Option<()> {
    s.write_all(b"AMQP\x00\x00\x09\x01").await.ok()?;
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).await.ok()?;
    (n >= 1 && buf[0] == 1).then_some(())
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
    /// RabbitMQ's config, database and logs; removed on drop.
    dir: Option<TempDir>,
}

/// A directory removed when dropped.
#[derive(Debug)]
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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
            dir: None,
        }
    }

    pub fn url(&self) -> String {
        match self.kind {
            ServerKind::Redis => format!("redis://127.0.0.1:{}", self.port),
            ServerKind::Nats => format!("nats://127.0.0.1:{}", self.port),
            ServerKind::RabbitMq => format!("amqp://guest:guest@127.0.0.1:{}", self.port),
            ServerKind::Mosquitto => format!("mqtt://127.0.0.1:{}", self.port),
        }
    }

    /// The environment of a private RabbitMQ node: everything of its own in a temporary
    /// directory (kept across restarts, so durable queues survive as on a real server).
    fn rabbit_env(&mut self) -> Vec<(String, String)> {
        let port = self.port;
        let dir = self.dir.get_or_insert_with(|| {
            let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("rabbitmq-{}-{port}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("mnesia")).expect("rabbitmq dir");
            std::fs::create_dir_all(dir.join("log")).expect("rabbitmq log dir");
            std::fs::write(
                dir.join("rabbitmq.conf"),
                format!("listeners.tcp.local = 127.0.0.1:{port}\n"),
            )
            .expect("rabbitmq.conf");
            // No plugins: the management plugin would take the shared server's port 15672.
            std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("enabled_plugins");
            TempDir(dir)
        });
        let d = |name: &str| dir.0.join(name).display().to_string();
        let dist_port = free_port();
        [
            ("RABBITMQ_NODENAME", format!("interop{port}@localhost")),
            ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".to_owned()),
            ("RABBITMQ_NODE_PORT", port.to_string()),
            ("RABBITMQ_DIST_PORT", dist_port.to_string()),
            ("RABBITMQ_CONFIG_FILE", d("rabbitmq.conf")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", d("enabled_plugins")),
            ("RABBITMQ_CONF_ENV_FILE", d("rabbitmq-env.conf")),
            ("RABBITMQ_MNESIA_BASE", d("mnesia")),
            ("RABBITMQ_LOG_BASE", d("log")),
            ("RABBITMQ_PID_FILE", d("pid")),
            ("ERL_EPMD_ADDRESS", "127.0.0.1".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// (Re)starts the server on its port.
    pub async fn up(&mut self) {
        self.kind.require();
        let program = self.kind.program();
        let mut command = Command::new(program);
        command
            .args(self.kind.args(self.port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if self.kind == ServerKind::RabbitMq {
            // The script starts the Erlang VM as a child: a process group of its own lets
            // `down` kill them all.
            command.envs(self.rabbit_env()).process_group(0);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + self.kind.boot_bound();
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
            kill_group(self.kind, &child);
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

/// Kills a RabbitMQ node's whole process group (the script, the Erlang VM and its helpers).
fn kill_group(kind: ServerKind, child: &Child) {
    if kind != ServerKind::RabbitMq {
        return;
    }
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            kill_group(self.kind, child);
        }
    }
}
