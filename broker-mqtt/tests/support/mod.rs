//! Test helpers: private Mosquitto servers on ports of their own (their subscription log
//! captured), and a plain MQTT client that watches what goes over the server.
#![allow(dead_code, unreachable_pub)]

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Bound for ordinary waits.
pub const WAIT: Duration = Duration::from_secs(10);

/// The shared server (`MQTT_URL`, default the local Mosquitto).
pub fn mqtt_url() -> String {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    std::env::var("MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".to_owned())
}

/// A name no other test or run uses.
pub fn unique(tag: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t-{tag}-{}", &id[..12])
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A private `mosquitto` on 127.0.0.1 and a port of its own, logging subscriptions.
#[derive(Debug)]
pub struct OwnMosquitto {
    pub port: u16,
    config: std::path::PathBuf,
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
}

impl OwnMosquitto {
    /// Starts one with these extra configuration lines (for the listener on `port`).
    pub async fn start(extra: &str) -> OwnMosquitto {
        let port = free_port();
        let config = std::env::temp_dir().join(format!("broker-mqtt-test-{port}.conf"));
        let text = format!(
            "per_listener_settings false\npersistence false\nlog_dest stdout\nlog_type subscribe\n\
             log_type error\nlistener {port} 127.0.0.1\n{extra}\n"
        );
        std::fs::write(&config, text).expect("write the mosquitto config");
        let mut server = OwnMosquitto {
            port,
            config,
            child: None,
            log: Arc::default(),
        };
        server.up().await;
        server
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on its port and waits until it accepts connections.
    pub async fn up(&mut self) {
        // Line-buffered, so each subscription shows in the log at once (stdbuf execs mosquitto).
        let mut child = Command::new("stdbuf")
            .args(["-oL", "mosquitto", "-c"])
            .arg(&self.config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn mosquitto (Debian: apt-get install mosquitto)");
        let stdout = child.stdout.take().expect("mosquitto stdout");
        let log = self.log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut log) = log.lock() {
                    log.push(line);
                }
            }
        });
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "private mosquitto on port {} did not come up",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the server: every client connection drops at once.
    pub async fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(WAIT, child.wait()).await;
        }
    }

    /// The subscriptions logged so far whose topic contains `needle`, as `(qos, topic)`.
    pub fn subscriptions(&self, needle: &str) -> Vec<(u8, String)> {
        // Mosquitto logs each filter of a SUBSCRIBE as `<time>: <client> <qos> <topic>`.
        let log = self.log.lock().expect("log").clone();
        log.iter()
            .filter_map(|line| {
                let mut parts = line.split_whitespace().skip(2);
                let qos = parts.next()?.parse::<u8>().ok()?;
                let topic = parts.next()?;
                (topic.contains(needle) && parts.next().is_none()).then(|| (qos, topic.to_owned()))
            })
            .collect()
    }
}

/// One message a [`Spy`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
}

/// A plain MQTT client subscribed (at QoS 2, so it sees the publisher's QoS) to some filters.
#[derive(Debug)]
pub struct Spy {
    pub client: AsyncClient,
    seen: mpsc::UnboundedReceiver<Seen>,
}

impl Spy {
    /// Connects to `url` (`mqtt://127.0.0.1:<port>`) and subscribes `filters`; returns once the
    /// server acknowledged them.
    pub async fn start(url: &str, filters: &[String]) -> Spy {
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .expect("a port in the URL");
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut options = MqttOptions::new(format!("spy_{}", &id[..12]), "127.0.0.1", port);
        options.set_max_packet_size(300 << 20, 300 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        for filter in filters {
            client
                .subscribe(filter.clone(), QoS::ExactlyOnce)
                .await
                .expect("spy subscribe");
        }
        let (tx, seen) = mpsc::unbounded_channel();
        let (acked_tx, mut acked) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let qos = p.qos as u8;
                        let _ = tx.send(Seen {
                            topic: p.topic,
                            payload: p.payload.to_vec(),
                            qos,
                        });
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = acked_tx.send(());
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        for _ in filters {
            tokio::time::timeout(WAIT, acked.recv())
                .await
                .expect("spy subscribed in time")
                .expect("spy running");
        }
        Spy { client, seen }
    }

    /// The next message, within [`WAIT`].
    pub async fn next(&mut self) -> Seen {
        tokio::time::timeout(WAIT, self.seen.recv())
            .await
            .expect("the spy sees a message in time")
            .expect("spy running")
    }

    /// Everything that arrives until nothing has for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Seen> {
        let mut got = Vec::new();
        while let Ok(Some(seen)) = tokio::time::timeout(quiet, self.seen.recv()).await {
            got.push(seen);
        }
        got
    }
}
