//! What the interop tests need from the machine (Node.js with npm, a Redis, a NATS, a
//! Mosquitto, `redis-server`, `nats-server`, `mosquitto`),
//! checked once, so that a missing piece fails with one line saying what to install instead of
//! an `Os { code: 2, kind: NotFound, .. }` from deep inside a spawn.

use std::sync::OnceLock;
use std::time::Duration;

/// Fails the test with `message` (one line, no Debug dump).
fn missing(message: &str) -> ! {
    panic!("interop prerequisite missing: {message}");
}

/// Whether `program --version` runs.
fn runs(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Node.js (and npm, which installs the pinned packages) must be on PATH.
pub fn require_node() {
    static OK: OnceLock<bool> = OnceLock::new();
    if !*OK.get_or_init(|| runs("node") && runs("npm")) {
        missing(
            "Node.js 20 and npm are not on PATH; install them (Debian: `apt-get install nodejs npm`) \
             or run `.ci/run`, which sets up everything the tests need",
        );
    }
}

/// The shared server at `url` (Redis or NATS; one of each per test binary) must answer;
/// checked once per URL.
pub fn require_bus(url: &str) {
    type Checked = Vec<(String, Result<(), String>)>;
    static CHECKED: OnceLock<std::sync::Mutex<Checked>> = OnceLock::new();
    let checked = CHECKED.get_or_init(Default::default);
    let mut checked = checked.lock().unwrap_or_else(|p| p.into_inner());
    let result = match checked.iter().find(|(u, _)| u == url) {
        Some((_, result)) => result.clone(),
        None => {
            let result = reach(url);
            checked.push((url.to_owned(), result.clone()));
            result
        }
    };
    if let Err(err) = result {
        let start = if url.starts_with("nats://") {
            "start one (`nats-server -a 127.0.0.1 -p 4222`), set NATS_URL"
        } else if url.starts_with("amqp") {
            "start RabbitMQ (`service rabbitmq-server start`), set AMQP_URL"
        } else if url.starts_with("mqtt://") {
            "start one (`mosquitto -p 1883`), set MQTT_URL"
        } else {
            "start one (`redis-server --port 6379 --save \"\"`), set REDIS_URL"
        };
        missing(&format!(
            "{err}; {start}, or run `.ci/run`, which starts it"
        ));
    }
}

fn reach(url: &str) -> Result<(), String> {
    let addr = host_port(url).ok_or_else(|| format!("cannot read a host:port from {url}"))?;
    let resolved = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr} resolves to nothing"))?;
    std::net::TcpStream::connect_timeout(&resolved, Duration::from_secs(2))
        .map(drop)
        .map_err(|e| format!("nothing answers at {url} ({e})"))
}

/// `host:port` of a `redis://[user:pass@]host[:port][/db]` or `nats://…` URL (the scheme's
/// default port if none is given).
fn host_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit('@').next()?;
    if host.is_empty() {
        return None;
    }
    let default_port = match scheme {
        "nats" => 4222,
        "amqp" => 5672,
        "amqps" => 5671,
        "mqtt" => 1883,
        _ => 6379,
    };
    Some(if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:{default_port}")
    })
}

#[test]
fn host_port_of_bus_urls() {
    assert_eq!(
        host_port("redis://127.0.0.1:6379").as_deref(),
        Some("127.0.0.1:6379")
    );
    assert_eq!(host_port("redis://u:p@h/3").as_deref(), Some("h:6379"));
    assert_eq!(host_port("nope"), None);
    assert_eq!(host_port("nats://n1").as_deref(), Some("n1:4222"));
    assert_eq!(
        host_port("amqp://guest:guest@127.0.0.1/vh").as_deref(),
        Some("127.0.0.1:5672")
    );
    assert_eq!(host_port("mqtt://m1").as_deref(), Some("m1:1883"));
}
