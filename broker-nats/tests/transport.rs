//! The NATS transporter against real servers: the shared one (`NATS_URL`, default
//! `nats://127.0.0.1:4222`, a namespace per test) and private `nats-server`s on ports of their
//! own for restarts and authentication.

use broker_core::packet::PacketType;
use broker_core::transporter::{Bytes, Topic, TransportEvent, TransportEvents, TransportSetup};
use broker_core::{
    ActionDef, Broker, BrokerBuilder, CallOptions, Context, ErrorKind, ServiceSchema, Transporter,
};
use broker_nats::NatsTransporter;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod support;

use support::{free_port, http_get, OwnNats, WAIT};

fn nats_url() -> String {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

fn unique(tag: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t-{tag}-{}", &id[..12])
}

fn setup(namespace: &str, node_id: &str) -> TransportSetup {
    TransportSetup {
        namespace: namespace.to_owned(),
        node_id: node_id.to_owned(),
    }
}

async fn connect(t: &NatsTransporter, namespace: &str, node_id: &str) -> TransportEvents {
    let events = tokio::time::timeout(WAIT, t.connect(&setup(namespace, node_id)))
        .await
        .expect("connect in time")
        .expect("connect");
    t.subscribe(&Topic::node_subscriptions(node_id))
        .await
        .expect("subscribe");
    events
}

async fn next_event(events: &mut TransportEvents) -> TransportEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the transporter is still running")
}

async fn drain(events: &mut TransportEvents, quiet: Duration) -> Vec<TransportEvent> {
    let mut got = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(quiet, events.recv()).await {
        got.push(event);
    }
    got
}

/// Waits until the server has processed what `client` sent so far: a message to a fresh inbox
/// comes back (a flush only says the bytes left the socket).
async fn settle(client: &async_nats::Client) {
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await.expect("echo sub");
    client.publish(inbox, Bytes::new()).await.expect("echo pub");
    tokio::time::timeout(WAIT, echo.next())
        .await
        .expect("echo in time")
        .expect("echo");
}

fn assert_message(event: TransportEvent, kind: PacketType, body: &[u8]) {
    match event {
        TransportEvent::Message {
            packet_type,
            payload,
        } => {
            assert_eq!(packet_type, kind);
            assert_eq!(&payload[..], body);
        }
        other => panic!("expected a {kind} message, got {other:?}"),
    }
}

fn node(url: &str, namespace: &str, id: &str) -> BrokerBuilder {
    Broker::builder()
        .node_id(id)
        .namespace(namespace)
        .transporter(
            NatsTransporter::new(url)
                .expect("valid URL")
                .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200)),
        )
        .heartbeat_interval(Duration::from_millis(200))
        .heartbeat_timeout(Duration::from_secs(2))
        .stop_delay(Duration::from_millis(10))
}

fn math_service(counter: Arc<AtomicUsize>) -> ServiceSchema {
    ServiceSchema::new("math").action(ActionDef::new("add", move |ctx: Context| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let a = ctx.params()["a"].as_f64().unwrap_or(0.0);
            let b = ctx.params()["b"].as_f64().unwrap_or(0.0);
            Ok(json!(a + b))
        }
    }))
}

#[tokio::test]
async fn subjects_are_moleculers_and_bodies_are_the_bare_payload() {
    let url = nats_url();
    let ns = unique("subjects");
    let raw = async_nats::connect(url.as_str()).await.expect("raw client");
    let mut spy = raw.subscribe(format!("MOL-{ns}.>")).await.expect("spy");
    settle(&raw).await;

    let t = NatsTransporter::new(&url).expect("url");
    let mut events = connect(&t, &ns, "n1").await;
    assert!(t.is_connected());
    assert_eq!(t.describe(), "nats://127.0.0.1:4222");

    // What a foreign node publishes on our subjects arrives with the type of its subject.
    raw.publish(format!("MOL-{ns}.REQ.n1"), Bytes::from_static(b"{\"r\":1}"))
        .await
        .expect("publish");
    raw.publish(format!("MOL-{ns}.HEARTBEAT"), Bytes::from_static(b"hb"))
        .await
        .expect("publish");
    raw.publish(
        format!("MOL-{ns}.REQ.other"),
        Bytes::from_static(b"not mine"),
    )
    .await
    .expect("publish");
    assert_message(
        next_event(&mut events).await,
        PacketType::Request,
        b"{\"r\":1}",
    );
    assert_message(next_event(&mut events).await, PacketType::Heartbeat, b"hb");

    // What we publish goes out on exactly Moleculer's subject, body untouched.
    t.publish(
        &Topic::targeted(PacketType::Response, "js-1"),
        Bytes::from_static(b"{\"ok\":true}"),
    )
    .expect("publish");
    t.publish(
        &Topic::broadcast(PacketType::Info),
        Bytes::from_static(b"info"),
    )
    .expect("publish");
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let msg = tokio::time::timeout(WAIT, spy.next())
            .await
            .expect("spy sees traffic")
            .expect("spy open");
        seen.push((msg.subject.to_string(), msg.payload.to_vec()));
    }
    assert!(
        seen.contains(&(format!("MOL-{ns}.RES.js-1"), b"{\"ok\":true}".to_vec())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&(format!("MOL-{ns}.INFO"), b"info".to_vec())),
        "{seen:?}"
    );
    assert_message(next_event(&mut events).await, PacketType::Info, b"info");
    assert!(drain(&mut events, Duration::from_millis(100))
        .await
        .is_empty());

    // The empty namespace is plain `MOL`.
    let t2 = NatsTransporter::new(&url).expect("url");
    let _e2 = t2.connect(&setup("", "n2")).await.expect("connect");
    let mut plain = raw.subscribe("MOL.DISCOVER").await.expect("sub");
    settle(&raw).await;
    t2.publish(
        &Topic::broadcast(PacketType::Discover),
        Bytes::from_static(b"d"),
    )
    .expect("publish");
    let msg = tokio::time::timeout(WAIT, plain.next())
        .await
        .expect("in time")
        .expect("msg");
    assert_eq!(&msg.payload[..], b"d");

    t.disconnect().await.expect("disconnect");
    t2.disconnect().await.expect("disconnect");
    assert!(!t.is_connected());
    let err = t
        .publish(&Topic::broadcast(PacketType::Heartbeat), Bytes::new())
        .expect_err("closed");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected);
}

#[tokio::test]
async fn brokers_call_and_emit_over_nats() {
    let url = nats_url();
    let ns = unique("broker");
    let counter = Arc::new(AtomicUsize::new(0));
    let a = node(&url, &ns, "a").build();
    let b = node(&url, &ns, "b").build();
    b.add_service(math_service(counter.clone()))
        .await
        .expect("service");
    let got = Arc::new(AtomicUsize::new(0));
    let sink = got.clone();
    a.add_service(ServiceSchema::new("sink").event(broker_core::EventDef::new(
        "ping.*",
        move |_ctx: Context| {
            let sink = sink.clone();
            async move {
                sink.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        },
    )))
    .await
    .expect("sink");
    let (sa, sb) = tokio::join!(a.start(), b.start());
    sa.expect("a starts");
    sb.expect("b starts");
    a.wait_for_services(&["math"], WAIT)
        .await
        .expect("a sees math");
    b.wait_for_services(&["sink"], WAIT)
        .await
        .expect("b sees sink");
    for i in 0..20 {
        let sum: f64 = a
            .call("math.add", json!({"a": i, "b": 1}))
            .await
            .expect("call");
        assert_eq!(sum, f64::from(i + 1));
    }
    assert_eq!(counter.load(Ordering::SeqCst), 20);
    for _ in 0..5 {
        b.emit("ping.x", json!({})).await.expect("emit");
    }
    tokio::time::timeout(WAIT, async {
        while got.load(Ordering::SeqCst) < 5 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("five events arrive");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(got.load(Ordering::SeqCst), 5, "each event once");
    let (x, y) = tokio::join!(a.stop(), b.stop());
    x.expect("a stops");
    y.expect("b stops");
}

#[tokio::test]
async fn a_restarted_server_gets_every_subscription_exactly_once() {
    nats_url();
    let mut server = OwnNats::start(&[]).await;
    let ns = unique("restart");
    let t = NatsTransporter::new(&server.url())
        .expect("url")
        .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(200));
    let mut events = connect(&t, &ns, "n").await;
    let before = server.subscriptions_of("n").await;
    assert_eq!(before.len(), 12, "{before:?}");

    for round in 0..2 {
        server.down().await;
        assert!(matches!(
            next_event(&mut events).await,
            TransportEvent::Disconnected
        ));
        assert!(!t.is_connected());
        let err = t
            .publish(&Topic::broadcast(PacketType::Heartbeat), Bytes::new())
            .expect_err("down");
        assert_eq!(err.kind(), ErrorKind::BrokerDisconnected);
        let err = t
            .subscribe(&[Topic::broadcast(PacketType::Heartbeat)])
            .await
            .expect_err("down");
        assert_eq!(err.kind(), ErrorKind::BrokerDisconnected);

        server.up().await;
        assert!(matches!(
            next_event(&mut events).await,
            TransportEvent::Reconnected
        ));
        assert!(t.is_connected());
        assert_eq!(
            server.subscriptions_of("n").await,
            before,
            "round {round}: the same 12 subscriptions, each once"
        );

        // One publish from a peer arrives once; ours arrive once.
        let peer = async_nats::connect(server.url()).await.expect("peer");
        let body = format!("req {round}");
        peer.publish(format!("MOL-{ns}.REQ.n"), Bytes::from(body.clone()))
            .await
            .expect("peer publishes");
        peer.flush().await.expect("flush");
        assert_message(
            next_event(&mut events).await,
            PacketType::Request,
            body.as_bytes(),
        );
        t.publish(
            &Topic::broadcast(PacketType::Heartbeat),
            Bytes::from_static(b"mine"),
        )
        .expect("publishes again");
        assert_message(
            next_event(&mut events).await,
            PacketType::Heartbeat,
            b"mine",
        );
        let extra = drain(&mut events, Duration::from_millis(200)).await;
        assert!(extra.is_empty(), "round {round}: nothing twice: {extra:?}");
    }
    t.disconnect().await.expect("disconnect");
    // After our own disconnect the server's going away is no news to the broker.
    server.down().await;
    assert!(drain(&mut events, Duration::from_millis(200))
        .await
        .iter()
        .all(|e| !matches!(e, TransportEvent::Disconnected)));
}

#[tokio::test]
async fn brokers_fail_fast_while_down_and_announce_themselves_after() {
    nats_url();
    let mut server = OwnNats::start(&[]).await;
    let ns = unique("down");
    let counter = Arc::new(AtomicUsize::new(0));
    let a = node(&server.url(), &ns, "a").build();
    let b = node(&server.url(), &ns, "b").build();
    b.add_service(math_service(counter.clone()))
        .await
        .expect("service");
    let (sa, sb) = tokio::join!(a.start(), b.start());
    sa.expect("a starts");
    sb.expect("b starts");
    a.wait_for_services(&["math"], WAIT)
        .await
        .expect("a sees math");
    let sum: f64 = a
        .call("math.add", json!({"a": 1, "b": 2}))
        .await
        .expect("call");
    assert_eq!(sum, 3.0);

    server.down().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = a
        .call::<Value>("math.add", json!({"a": 1, "b": 2}))
        .await
        .expect_err("down");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected, "{err}");

    server.up().await;
    // Both nodes are back, announce themselves on the new connection, and call again.
    let last = std::sync::Mutex::new(String::new());
    let back = tokio::time::timeout(WAIT, async {
        loop {
            // A REQ published before the other node is back is lost, as with Moleculer.js: each
            // attempt has a timeout.
            let opts = CallOptions::new().timeout(Duration::from_millis(500));
            match a
                .call_with::<f64>("math.add", json!({"a": 2, "b": 2}), opts)
                .await
            {
                Ok(sum) => return sum,
                Err(err) => *last.lock().expect("lock") = err.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "calls work again after the restart; last error: {}",
            last.lock().expect("lock")
        )
    });
    assert_eq!(back, 4.0);
    let (x, y) = tokio::join!(a.stop(), b.stop());
    x.expect("a stops");
    y.expect("b stops");
}

#[tokio::test]
async fn credentials_from_the_url_or_the_builder() {
    nats_url();
    let ns = unique("auth");
    let users = OwnNats::start(&["--user", "bob", "--pass", "s3cret"]).await;
    let good = format!("nats://bob:s3cret@127.0.0.1:{}", users.port);
    let t = NatsTransporter::new(&good).expect("url");
    assert_eq!(
        t.describe(),
        format!("nats://bob:***@127.0.0.1:{}", users.port)
    );
    let _events = connect(&t, &ns, "u1").await;
    t.disconnect().await.expect("disconnect");
    let t = NatsTransporter::new(&users.url())
        .expect("url")
        .user_password("bob", "s3cret");
    let _events = connect(&t, &ns, "u2").await;
    t.disconnect().await.expect("disconnect");
    // Wrong credentials will not get better by retrying: an options error, not a retry.
    let bad =
        NatsTransporter::new(&format!("nats://bob:wrong@127.0.0.1:{}", users.port)).expect("url");
    let err = bad.connect(&setup(&ns, "u3")).await.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::BrokerOptions, "{err}");
    assert!(!err.message().contains("wrong"), "{err}");

    let tokens = OwnNats::start(&["--auth", "t0ken"]).await;
    let t = NatsTransporter::new(&format!("nats://t0ken@127.0.0.1:{}", tokens.port)).expect("url");
    let _events = connect(&t, &ns, "t1").await;
    t.disconnect().await.expect("disconnect");
    let t = NatsTransporter::new(&tokens.url())
        .expect("url")
        .token("t0ken");
    let _events = connect(&t, &ns, "t2").await;
    t.disconnect().await.expect("disconnect");
}

#[tokio::test]
async fn several_servers_and_a_server_that_is_not_there() {
    let url = nats_url();
    let ns = unique("list");
    let dead = free_port();
    // The first server of the list does not answer: the client moves on to the next.
    let list = format!("nats://127.0.0.1:{dead},{url}");
    let t = NatsTransporter::new(&list).expect("url");
    assert_eq!(t.describe().split(',').count(), 2);
    let _events = connect(&t, &ns, "l1").await;
    assert!(t.is_connected());
    t.disconnect().await.expect("disconnect");

    // Nobody at all: a retryable BrokerDisconnectedError, so the broker tries again later.
    let none = NatsTransporter::new(&format!("nats://127.0.0.1:{dead}"))
        .expect("url")
        .command_timeout(Duration::from_secs(1));
    let err = none.connect(&setup(&ns, "l2")).await.expect_err("nobody");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected, "{err}");
    assert!(err.is_retryable());
}

/// A `math.add` that counts its calls, and a `sink` whose `tick` handler (group `sink`) counts
/// its events.
async fn balanced_node(
    url: &str,
    ns: &str,
    id: &str,
) -> (Broker, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let events = Arc::new(AtomicUsize::new(0));
    let b = node(url, ns, id).disable_balancer(true).build();
    b.add_service(math_service(calls.clone()))
        .await
        .expect("math");
    let seen = events.clone();
    b.add_service(ServiceSchema::new("sink").event(broker_core::EventDef::new(
        "tick",
        move |_ctx: Context| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        },
    )))
    .await
    .expect("sink");
    (b, calls, events)
}

#[tokio::test]
async fn with_the_balancer_disabled_nats_queue_groups_balance() {
    let url = nats_url();
    let ns = unique("balanced");
    let raw = async_nats::connect(url.as_str()).await.expect("raw client");
    let mut spy = raw.subscribe(format!("MOL-{ns}.>")).await.expect("spy");
    settle(&raw).await;

    let (a, a_calls, a_events) = balanced_node(&url, &ns, "a").await;
    let (b, b_calls, b_events) = balanced_node(&url, &ns, "b").await;
    let caller = node(&url, &ns, "caller").disable_balancer(true).build();
    let (x, y, z) = tokio::join!(a.start(), b.start(), caller.start());
    x.expect("a starts");
    y.expect("b starts");
    z.expect("caller starts");
    caller
        .wait_for_services(&["math", "sink"], WAIT)
        .await
        .expect("caller sees math");

    const N: usize = 40;
    for i in 0..N {
        let opts = CallOptions::new().timeout(WAIT);
        let sum: f64 = caller
            .call_with("math.add", json!({"a": i, "b": 1}), opts)
            .await
            .expect("balanced call");
        assert_eq!(sum, (i + 1) as f64);
    }
    let (ca, cb) = (
        a_calls.load(Ordering::SeqCst),
        b_calls.load(Ordering::SeqCst),
    );
    assert_eq!(ca + cb, N, "each call served once");
    assert!(ca > 0 && cb > 0, "NATS spread the calls: a {ca}, b {cb}");

    // A node serving the action itself still goes through the bus: both take a share.
    let before = (
        a_calls.load(Ordering::SeqCst),
        b_calls.load(Ordering::SeqCst),
    );
    for i in 0..N {
        let sum: f64 = a
            .call_with(
                "math.add",
                json!({"a": i, "b": 2}),
                CallOptions::new().timeout(WAIT),
            )
            .await
            .expect("balanced call from a serving node");
        assert_eq!(sum, (i + 2) as f64);
    }
    assert!(
        b_calls.load(Ordering::SeqCst) > before.1,
        "a's own calls reached b too"
    );
    assert_eq!(
        a_calls.load(Ordering::SeqCst) + b_calls.load(Ordering::SeqCst),
        before.0 + before.1 + N
    );

    for _ in 0..N {
        caller.emit("tick", json!({})).await.expect("emit");
    }
    tokio::time::timeout(WAIT, async {
        while a_events.load(Ordering::SeqCst) + b_events.load(Ordering::SeqCst) < N {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("every event handled");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (ea, eb) = (
        a_events.load(Ordering::SeqCst),
        b_events.load(Ordering::SeqCst),
    );
    assert_eq!(ea + eb, N, "each event once in its group");
    assert!(ea > 0 && eb > 0, "NATS spread the events: a {ea}, b {eb}");

    // On the wire: Moleculer's balanced subjects, nothing else.
    let mut subjects = std::collections::BTreeSet::new();
    let until = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(Some(msg)) = tokio::time::timeout_at(until, spy.next()).await {
        if msg.subject.contains("B.") {
            subjects.insert(msg.subject.to_string());
        }
    }
    assert!(
        subjects.contains(&format!("MOL-{ns}.REQB.math.add")),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&format!("MOL-{ns}.EVENTB.sink.tick")),
        "{subjects:?}"
    );

    // A call pinned to a node is not balanced.
    let before = b_calls.load(Ordering::SeqCst);
    let opts = CallOptions::new().node_id("b").timeout(WAIT);
    let _: f64 = caller
        .call_with("math.add", json!({"a": 1, "b": 1}), opts)
        .await
        .expect("pinned call");
    assert_eq!(b_calls.load(Ordering::SeqCst), before + 1);

    // A stopping node leaves the queue groups first: calls keep working on the other.
    a.stop().await.expect("a stops");
    for i in 0..5 {
        let opts = CallOptions::new().timeout(WAIT);
        let sum: f64 = caller
            .call_with("math.add", json!({"a": i, "b": 3}), opts)
            .await
            .expect("call after a left");
        assert_eq!(sum, (i + 3) as f64);
    }
    let (x, y) = tokio::join!(b.stop(), caller.stop());
    x.expect("b stops");
    y.expect("caller stops");
}

/// The node names connected to a server, from its monitoring port.
async fn clients_of(server: &OwnNats) -> Vec<String> {
    let body = http_get(server.monitor, "/connz").await.unwrap_or_default();
    let connz: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    connz["connections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_three_server_cluster_carries_calls_and_events_and_survives_a_server() {
    nats_url();
    let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut servers = Vec::new();
    for (i, port) in routes.iter().enumerate() {
        let others: Vec<String> = routes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| format!("nats://127.0.0.1:{p}"))
            .collect();
        let cluster = format!("nats://127.0.0.1:{port}");
        let joined = others.join(",");
        let args = [
            "--cluster_name",
            "t",
            "--cluster",
            cluster.as_str(),
            "--routes",
            joined.as_str(),
        ];
        servers.push(OwnNats::start(&args).await);
    }
    let routed = tokio::time::timeout(WAIT, async {
        loop {
            let mut all = true;
            for s in &servers {
                let body = http_get(s.monitor, "/routez").await.unwrap_or_default();
                let routez: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                all &= routez["num_routes"].as_u64().unwrap_or(0) >= 2;
            }
            if all {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(routed.is_ok(), "the three servers route to each other");

    // Each node is given all three URLs, its own server first.
    let urls: Vec<String> = servers.iter().map(OwnNats::url).collect();
    let list_from = |first: usize| {
        (0..3)
            .map(|k| urls[(first + k) % 3].clone())
            .collect::<Vec<_>>()
            .join(",")
    };
    let ns = unique("cluster");
    let on = |id: &str, first: usize| {
        Broker::builder()
            .node_id(id)
            .namespace(&ns)
            .transporter(
                NatsTransporter::new(&list_from(first))
                    .expect("urls")
                    .servers_in_order()
                    .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200)),
            )
            .heartbeat_interval(Duration::from_millis(200))
            .heartbeat_timeout(Duration::from_secs(3))
            .stop_delay(Duration::from_millis(10))
            .build()
    };
    let counter = Arc::new(AtomicUsize::new(0));
    let a = on("a", 0);
    a.add_service(math_service(counter.clone()))
        .await
        .expect("math");
    let got = Arc::new(AtomicUsize::new(0));
    let b = on("b", 1);
    let sink = got.clone();
    b.add_service(ServiceSchema::new("sink").event(broker_core::EventDef::new(
        "tick",
        move |_ctx: Context| {
            let sink = sink.clone();
            async move {
                sink.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        },
    )))
    .await
    .expect("sink");
    let c = on("c", 2);
    let (x, y, z) = tokio::join!(a.start(), b.start(), c.start());
    x.expect("a starts");
    y.expect("b starts");
    z.expect("c starts");
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        let clients = clients_of(&servers[i]).await;
        assert!(
            clients.iter().any(|n| n == id),
            "{id} on server {i}: {clients:?}"
        );
    }
    c.wait_for_services(&["math", "sink"], WAIT)
        .await
        .expect("c sees a's and b's services across servers");

    let calls_and_events = |round: usize| {
        let (a, c, got) = (&a, &c, got.clone());
        async move {
            let before = got.load(Ordering::SeqCst);
            let opts = CallOptions::new().timeout(Duration::from_millis(500));
            let sum: f64 = c
                .call_with("math.add", json!({"a": round, "b": 1}), opts)
                .await
                .ok()?;
            c.emit("tick", json!({})).await.ok()?;
            a.emit("tick", json!({})).await.ok()?;
            tokio::time::timeout(Duration::from_millis(500), async {
                while got.load(Ordering::SeqCst) < before + 2 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .ok()?;
            (sum == (round + 1) as f64).then_some(())
        }
    };
    assert!(
        calls_and_events(0).await.is_some(),
        "calls and events cross the servers"
    );

    // a's server goes away: a moves to the next server of its list and goes on.
    servers[0].down().await;
    let back = tokio::time::timeout(WAIT, async {
        let mut round = 1;
        loop {
            if calls_and_events(round).await.is_some() {
                return;
            }
            round += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        back.is_ok(),
        "calls and events work again after a server left"
    );
    let moved = clients_of(&servers[1]).await;
    assert!(
        moved.iter().any(|n| n == "a"),
        "a reconnected to the next server: {moved:?}"
    );
    let (x, y, z) = tokio::join!(a.stop(), b.stop(), c.stop());
    x.expect("a stops");
    y.expect("b stops");
    z.expect("c stops");
}

#[tokio::test]
async fn a_packet_nats_refuses_fails_its_call_at_once_and_the_rest_goes_on() {
    let url = nats_url();
    let ns = unique("big");
    let counter = Arc::new(AtomicUsize::new(0));
    let a = node(&url, &ns, "a").build();
    let b = node(&url, &ns, "b").build();
    b.add_service(math_service(counter.clone()))
        .await
        .expect("service");
    let (sa, sb) = tokio::join!(a.start(), b.start());
    sa.expect("a starts");
    sb.expect("b starts");
    a.wait_for_services(&["math"], WAIT)
        .await
        .expect("a sees math");
    // Over the server's default max_payload of 1 MiB.
    let big = "x".repeat(2 * 1024 * 1024);
    let started = std::time::Instant::now();
    let err = a
        .call::<Value>("math.add", json!({"a": 1, "b": 2, "pad": big}))
        .await
        .expect_err("too big for NATS");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2), "failed at once");
    let sum: f64 = a
        .call("math.add", json!({"a": 1, "b": 2}))
        .await
        .expect("next call");
    assert_eq!(sum, 3.0);
    let (x, y) = tokio::join!(a.stop(), b.stop());
    x.expect("a stops");
    y.expect("b stops");
}

#[tokio::test]
async fn an_nkey_seed_authenticates() {
    nats_url();
    let ns = unique("nkey");
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().expect("seed");
    let dir = std::env::temp_dir().join(unique("nkey-conf"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("server.conf");
    let body = format!(
        "authorization {{ users = [ {{ nkey: {} }} ] }}\n",
        user.public_key()
    );
    std::fs::write(&conf, body).expect("write config");
    let conf_path = conf.to_string_lossy().into_owned();
    let server = OwnNats::start(&["-c", conf_path.as_str()]).await;

    let t = NatsTransporter::new(&server.url())
        .expect("url")
        .nkey_seed(seed);
    let _events = connect(&t, &ns, "k1").await;
    assert!(t.is_connected());
    t.disconnect().await.expect("disconnect");

    // Without the key the server refuses, and that is an options error, not a retry.
    let bare = NatsTransporter::new(&server.url()).expect("url");
    let err = bare.connect(&setup(&ns, "k2")).await.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::BrokerOptions, "{err}");
    let other = nkeys::KeyPair::new_user().seed().expect("seed");
    let wrong = NatsTransporter::new(&server.url())
        .expect("url")
        .nkey_seed(other);
    let err = wrong.connect(&setup(&ns, "k3")).await.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::BrokerOptions, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn openssl(dir: &std::path::Path, args: &[&str]) -> bool {
    std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A CA, and a server (127.0.0.1) and a client certificate it signed, in a fresh directory;
/// `None` without `openssl`.
fn make_certificates() -> Option<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(unique("nats-tls"));
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .ok()?;
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").ok()?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = [
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=test CA",
        ],
    ]
    .concat();
    let ok = openssl(&dir, &ca)
        && ["server", "client"].iter().all(|name| {
            let (key, csr, crt, ext) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.crt"),
                format!("{name}.ext"),
            );
            let subject = format!("/CN={name}");
            let req = [
                &["req"][..],
                &ec,
                &["-keyout", &key, "-out", &csr, "-subj", &subject],
            ]
            .concat();
            let sign = [
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &ext,
            ];
            openssl(&dir, &req) && openssl(&dir, &sign)
        });
    ok.then_some(dir)
}

#[tokio::test]
async fn tls_with_a_private_ca_and_client_certificates() {
    nats_url();
    let Some(dir) = make_certificates() else {
        eprintln!("skipped: no openssl to make certificates");
        return;
    };
    let path = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let (ca, cert, key) = (path("ca.crt"), path("server.crt"), path("server.key"));
    let args = [
        "--tls",
        "--tlscert",
        cert.as_str(),
        "--tlskey",
        key.as_str(),
        "--tlsverify",
        "--tlscacert",
        ca.as_str(),
    ];
    let server = OwnNats::start(&args).await;
    let ns = unique("tls");
    let url = format!("tls://127.0.0.1:{}", server.port);

    let t = NatsTransporter::new(&url)
        .expect("url")
        .tls_root_certificate(dir.join("ca.crt"))
        .tls_client_certificate(dir.join("client.crt"), dir.join("client.key"));
    assert_eq!(t.describe(), url);
    let mut events = connect(&t, &ns, "tls1").await;
    t.publish(
        &Topic::broadcast(PacketType::Heartbeat),
        Bytes::from_static(b"over tls"),
    )
    .expect("publish");
    assert_message(
        next_event(&mut events).await,
        PacketType::Heartbeat,
        b"over tls",
    );
    t.disconnect().await.expect("disconnect");

    // Without the private CA the server is not trusted; without a client certificate the
    // server refuses us: neither gets better by retrying.
    let untrusted = NatsTransporter::new(&url).expect("url");
    let err = untrusted
        .connect(&setup(&ns, "tls2"))
        .await
        .expect_err("untrusted");
    assert_eq!(err.kind(), ErrorKind::BrokerOptions, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
