//! What the interop tests need from the machine (Node.js with npm, a Redis, `redis-server`),
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

/// The shared Redis at `url` (always the same one in a test binary) must answer; checked once.
pub fn require_redis(url: &str) {
    static OK: OnceLock<Result<(), String>> = OnceLock::new();
    let result = OK.get_or_init(|| {
        let addr = host_port(url).ok_or_else(|| format!("cannot read a host:port from {url}"))?;
        let resolved = std::net::ToSocketAddrs::to_socket_addrs(&addr)
            .map_err(|e| format!("{addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr} resolves to nothing"))?;
        std::net::TcpStream::connect_timeout(&resolved, Duration::from_secs(2))
            .map(drop)
            .map_err(|e| format!("no Redis answers at {url} ({e})"))
    });
    if let Err(err) = result {
        missing(&format!(
            "{err}; start one (`redis-server --port 6379 --save \"\"`), set REDIS_URL, \
             or run `.ci/run`, which starts it"
        ));
    }
}

/// `host:port` of a `redis://[user:pass@]host[:port][/db]` URL.
fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit('@').next()?;
    if host.is_empty() {
        return None;
    }
    Some(if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:6379")
    })
}

#[test]
fn host_port_of_redis_urls() {
    assert_eq!(
        host_port("redis://127.0.0.1:6379").as_deref(),
        Some("127.0.0.1:6379")
    );
    assert_eq!(host_port("redis://u:p@h/3").as_deref(), Some("h:6379"));
    assert_eq!(host_port("nope"), None);
}
