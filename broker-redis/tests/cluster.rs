//! Brokers over a Redis Cluster: a private 3-master cluster on loopback (its own ports, never
//! the shared Redis), two nodes connected through different masters, calls and events both
//! ways, a node given one seed failing over to a node it learnt from the cluster when that
//! seed dies, and a node starting past a dead first seed.

mod common;

use broker_core::{ActionDef, Broker, Context, EventDef, ServiceSchema};
use broker_redis::RedisTransporter;
use common::{events_of, eventually, free_port, init_tracing, math_service, unique, Tap, WAIT};
use redis::aio::MultiplexedConnection;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::process::{Child, Command};

/// A Redis Cluster of three masters (no replicas) on loopback, killed and its files removed
/// when dropped.
struct OwnCluster {
    servers: Vec<Option<Child>>,
    ports: Vec<u16>,
    dir: PathBuf,
}

impl OwnCluster {
    /// Starts three cluster-enabled servers, joins them with `redis-cli --cluster create` and
    /// waits (bounded) until every node reports `cluster_state:ok`. `None` if there is no
    /// `redis-server` here.
    async fn start() -> Option<OwnCluster> {
        init_tracing();
        let dir = std::env::temp_dir().join(unique("rcluster"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut cluster = OwnCluster {
            servers: Vec::new(),
            ports: Vec::new(),
            dir,
        };
        for _ in 0..3 {
            // The cluster bus port is given too: the default (port + 10000) may not exist.
            let (port, bus) = (free_port(), free_port());
            let conf = cluster.dir.join(format!("nodes-{port}.conf"));
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus.to_string(),
                ])
                .arg("--cluster-config-file")
                .arg(&conf)
                .args(["--cluster-node-timeout", "2000"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .current_dir(&cluster.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .ok()?;
            cluster.servers.push(Some(child));
            cluster.ports.push(port);
        }
        for port in cluster.ports.clone() {
            cluster.wait_answering(port).await;
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for port in &cluster.ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let created = tokio::time::timeout(
            Duration::from_secs(30),
            create
                .args(["--cluster-replicas", "0", "--cluster-yes"])
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("redis-cli --cluster create finishes in time")
        .expect("redis-cli runs");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        for port in cluster.ports.clone() {
            let conn = connect(port).await;
            eventually(&format!("cluster_state:ok on {port}"), || {
                let mut conn = conn.clone();
                async move {
                    let info: String = redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default();
                    info.contains("cluster_state:ok")
                }
            })
            .await;
        }
        Some(cluster)
    }

    async fn wait_answering(&self, port: u16) {
        let answered = tokio::time::timeout(WAIT, async {
            loop {
                let ping = async {
                    let client = redis::Client::open(url(port))?;
                    let mut conn = client.get_multiplexed_async_connection().await?;
                    redis::cmd("PING").query_async::<String>(&mut conn).await
                };
                if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), ping).await {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(answered.is_ok(), "redis-server on {port} did not start");
    }

    /// `redis://127.0.0.1:<port>` of the servers, in the order given.
    fn urls(&self, order: [usize; 3]) -> Vec<String> {
        order.iter().map(|&i| url(self.ports[i])).collect()
    }

    /// Kills one server (SIGKILL).
    async fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.servers[index].take() {
            let _ = child.kill().await;
        }
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        for child in self.servers.iter_mut().flatten() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}

async fn connect(port: u16) -> MultiplexedConnection {
    let client = redis::Client::open(url(port)).expect("url");
    tokio::time::timeout(WAIT, client.get_multiplexed_async_connection())
        .await
        .expect("cluster node answers in time")
        .expect("cluster node accepts a connection")
}

/// The client names connected to the server on `port` (`CLIENT LIST`).
async fn client_names(port: u16) -> Vec<String> {
    let mut conn = connect(port).await;
    let list: String = tokio::time::timeout(
        WAIT,
        redis::cmd("CLIENT").arg("LIST").query_async(&mut conn),
    )
    .await
    .expect("CLIENT LIST in time")
    .expect("CLIENT LIST");
    list.lines()
        .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("name=")))
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A broker on the cluster through `seeds` (first seed first), its transporter tapped.
fn cluster_node(seeds: &[String], namespace: &str, id: &str) -> (Broker, Arc<Mutex<Vec<String>>>) {
    let transporter = RedisTransporter::cluster(seeds)
        .expect("seed URLs")
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .health_check_interval(Duration::from_millis(200))
        .command_timeout(Duration::from_secs(1));
    let (tap, log) = Tap::new(transporter);
    let broker = Broker::builder()
        .node_id(id)
        .namespace(namespace)
        .transporter(tap)
        .heartbeat_interval(Duration::from_millis(200))
        .heartbeat_timeout(Duration::from_secs(3))
        .stop_delay(Duration::from_millis(10))
        .build();
    (broker, log)
}

/// A `greeter` service answering `hello` and recording the `user.created` events it gets.
fn greeter(seen: Arc<Mutex<Vec<(String, Value)>>>) -> ServiceSchema {
    ServiceSchema::new("greeter")
        .action(ActionDef::new("hello", |ctx: Context| async move {
            Ok(json!(format!(
                "Hello {} from {}",
                ctx.params()["name"].as_str().unwrap_or("?"),
                ctx.broker().node_id()
            )))
        }))
        .event(EventDef::new("user.created", move |ctx: Context| {
            let seen = seen.clone();
            async move {
                if let Ok(mut seen) = seen.lock() {
                    seen.push((ctx.node_id().to_owned(), ctx.params().clone()));
                }
                Ok(())
            }
        }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_different_masters_call_each_other_emit_and_fail_over() {
    let Some(mut cluster) = OwnCluster::start().await else {
        panic!("this test needs redis-server and redis-cli (apt-get install redis-server)");
    };
    let ns = unique("rcluster");

    // Node A knows only master 0 (the others it learns from the cluster), node B goes
    // through master 1 first.
    let (a, a_log) = cluster_node(&cluster.urls([0, 1, 2])[..1], &ns, "node-a");
    let a_seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    a.add_service(greeter(a_seen.clone()))
        .await
        .expect("add greeter");
    a.start().await.expect("start a");

    let (b, _b_log) = cluster_node(&cluster.urls([1, 2, 0]), &ns, "node-b");
    let adds = Arc::new(AtomicUsize::new(0));
    let b_seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let b_seen_in_handler = b_seen.clone();
    b.add_service(math_service(adds.clone()).event(EventDef::new(
        "order.paid",
        move |ctx: Context| {
            let seen = b_seen_in_handler.clone();
            async move {
                if let Ok(mut seen) = seen.lock() {
                    seen.push((ctx.node_id().to_owned(), ctx.params().clone()));
                }
                Ok(())
            }
        },
    )))
    .await
    .expect("add math");
    b.start().await.expect("start b");

    // Each node's connections are on its own master, and on no other.
    let names = [
        client_names(cluster.ports[0]).await,
        client_names(cluster.ports[1]).await,
        client_names(cluster.ports[2]).await,
    ];
    assert!(names[0].contains(&"mol-node-a-pub".to_owned()), "{names:?}");
    assert!(names[1].contains(&"mol-node-b-pub".to_owned()), "{names:?}");
    assert!(
        !names[0].contains(&"mol-node-b-pub".to_owned()),
        "{names:?}"
    );
    assert!(
        !names[1].contains(&"mol-node-a-pub".to_owned()),
        "{names:?}"
    );
    assert!(names[2].iter().all(|n| !n.starts_with("mol-")), "{names:?}");

    a.wait_for_services(&["math"], WAIT)
        .await
        .expect("a sees math");
    b.wait_for_services(&["greeter"], WAIT)
        .await
        .expect("b sees greeter");

    // Calls both ways, across masters.
    for i in 0..20 {
        let sum: f64 = a
            .call("math.add", json!({"a": i, "b": 1}))
            .await
            .expect("a calls b");
        assert_eq!(sum, f64::from(i) + 1.0);
    }
    assert_eq!(adds.load(Ordering::SeqCst), 20);
    let hello: String = b
        .call("greeter.hello", json!({"name": "Bob"}))
        .await
        .expect("b calls a");
    assert_eq!(hello, "Hello Bob from node-a");

    // Events both ways: a balanced emit and a broadcast.
    b.emit("user.created", json!({"id": 7}))
        .await
        .expect("b emits");
    a.broadcast("order.paid", json!({"order": 9}))
        .await
        .expect("a broadcasts");
    eventually("a receives b's event", || {
        let seen = a_seen.clone();
        async move { seen.lock().map(|s| s.len() == 1).unwrap_or(false) }
    })
    .await;
    eventually("b receives a's broadcast", || {
        let seen = b_seen.clone();
        async move { seen.lock().map(|s| s.len() == 1).unwrap_or(false) }
    })
    .await;
    assert_eq!(
        a_seen.lock().expect("lock").clone(),
        vec![("node-b".to_owned(), json!({"id": 7}))]
    );
    assert_eq!(
        b_seen.lock().expect("lock").clone(),
        vec![("node-a".to_owned(), json!({"order": 9}))]
    );

    // Node A's master, its only seed, dies: A hears Disconnected, moves to a node it learnt
    // from the cluster and reports Reconnected; calls work both ways again.
    cluster.kill(0).await;
    eventually("a reconnects through another master", || {
        let log = a_log.clone();
        async move {
            let events = events_of(&log);
            events.iter().any(|e| e == "Disconnected") && events.iter().any(|e| e == "Reconnected")
        }
    })
    .await;
    let a_pub = "mol-node-a-pub".to_owned();
    assert!(
        client_names(cluster.ports[1]).await.contains(&a_pub)
            || client_names(cluster.ports[2]).await.contains(&a_pub),
        "node A did not move to master 1 or 2"
    );
    let mut answered = None;
    for _ in 0..50 {
        match a.call::<f64>("math.add", json!({"a": 40, "b": 2})).await {
            Ok(sum) => {
                answered = Some(sum);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(answered, Some(42.0), "a calls b after the failover");
    let hello: String = b
        .call("greeter.hello", json!({"name": "again"}))
        .await
        .expect("b calls a after the failover");
    assert_eq!(hello, "Hello again from node-a");

    // One outage, one cycle: the broker heard of it once, and of the return once.
    let events = events_of(&a_log);
    let count = |name: &str| events.iter().filter(|e| *e == name).count();
    assert_eq!(
        (count("Disconnected"), count("Reconnected")),
        (1, 1),
        "{events:?}"
    );

    // A node starting while its first seed is down connects through the next one.
    let (c, _c_log) = cluster_node(&cluster.urls([0, 2, 1]), &ns, "node-c");
    c.start().await.expect("start c past a dead seed");
    assert!(
        client_names(cluster.ports[2])
            .await
            .contains(&"mol-node-c-pub".to_owned()),
        "node C is not on master 2"
    );
    c.wait_for_services(&["math", "greeter"], WAIT)
        .await
        .expect("c sees both nodes' services");
    let sum: f64 = c
        .call("math.add", json!({"a": 1, "b": 1}))
        .await
        .expect("c calls b");
    assert_eq!(sum, 2.0);

    c.stop().await.expect("stop c");
    a.stop().await.expect("stop a");
    b.stop().await.expect("stop b");
    for i in 1..3 {
        cluster.kill(i).await;
    }
}
