//! A private Redis Cluster of three masters (no replicas) on loopback, on ports of its own:
//! for the tests where Rust and Moleculer.js nodes meet through a cluster. Never the shared
//! Redis. Killed, and its files removed, when dropped.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

#[derive(Debug)]
pub struct PrivateRedisCluster {
    pub ports: Vec<u16>,
    servers: Vec<Child>,
    dir: PathBuf,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// `redis-cli -p <port> <args>`, bounded; its output, or `None` if it failed.
async fn cli(port: u16, args: &[&str]) -> Option<String> {
    let run = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .ok()?
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `check` every 50 ms for at most 20 s.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl PrivateRedisCluster {
    /// Starts three cluster-enabled `redis-server`s, joins them with `redis-cli --cluster
    /// create` and waits until each reports `cluster_state:ok`.
    pub async fn start() -> PrivateRedisCluster {
        let dir = std::env::temp_dir().join(super::unique("rcluster"));
        std::fs::create_dir_all(&dir).expect("temp dir for the cluster");
        let mut cluster = PrivateRedisCluster {
            ports: Vec::new(),
            servers: Vec::new(),
            dir,
        };
        for _ in 0..3 {
            // The bus port is given: the default (port + 10000) may be past 65535.
            let (port, bus) = (free_port(), free_port());
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus.to_string(),
                ])
                .arg("--cluster-config-file")
                .arg(cluster.dir.join(format!("nodes-{port}.conf")))
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .current_dir(&cluster.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("`redis-server` is on PATH (Debian: apt-get install redis-server)");
            cluster.servers.push(child);
            cluster.ports.push(port);
        }
        for port in cluster.ports.clone() {
            until(&format!("redis-server on {port} answers"), async || {
                cli(port, &["PING"])
                    .await
                    .is_some_and(|o| o.contains("PONG"))
            })
            .await;
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let mut args: Vec<&str> = vec!["--cluster", "create"];
        args.extend(nodes.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let created = Command::new("redis-cli")
            .args(&args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let created = tokio::time::timeout(Duration::from_secs(30), created)
            .await
            .expect("redis-cli --cluster create finishes in time")
            .expect("redis-cli runs");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        for port in cluster.ports.clone() {
            until(&format!("cluster_state:ok on {port}"), async || {
                cli(port, &["CLUSTER", "INFO"])
                    .await
                    .is_some_and(|o| o.contains("cluster_state:ok"))
            })
            .await;
        }
        cluster
    }

    /// `redis+cluster://…` with the seeds in this order (indexes into `ports`).
    pub fn url(&self, order: &[usize]) -> String {
        let hosts: Vec<String> = order
            .iter()
            .map(|&i| format!("127.0.0.1:{}", self.ports[i]))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// Moleculer.js's transporter option for this cluster, seeded with the given nodes
    /// (ioredis `Cluster` discovers the rest).
    pub fn moleculer_transporter(&self, order: &[usize]) -> Value {
        let nodes: Vec<Value> = order
            .iter()
            .map(|&i| json!({"host": "127.0.0.1", "port": self.ports[i]}))
            .collect();
        json!({"type": "Redis", "options": {"cluster": {"nodes": nodes}}})
    }

    /// The client names connected to one node (`CLIENT LIST`).
    pub async fn client_names(&self, index: usize) -> Vec<String> {
        let list = cli(self.ports[index], &["CLIENT", "LIST"])
            .await
            .unwrap_or_default();
        list.lines()
            .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("name=")))
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for PrivateRedisCluster {
    fn drop(&mut self) {
        for child in &mut self.servers {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
