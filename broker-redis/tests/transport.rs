//! The transporter on its own against a real Redis: channel names, delivery, batching, flush,
//! fail-fast publishing and connect failures.

mod common;

use broker_core::packet::PacketType;
use broker_core::transporter::{
    channel_prefix, Bytes, Topic, TransportEvent, TransportEvents, TransportSetup,
};
use broker_core::{ErrorKind, Transporter};
use broker_redis::RedisTransporter;
use common::{channels, drain, next_event, publish_raw, raw, redis_url, unique, AclUser, WAIT};
use std::time::{Duration, Instant};

fn setup(namespace: &str, node_id: &str) -> TransportSetup {
    TransportSetup {
        namespace: namespace.to_owned(),
        node_id: node_id.to_owned(),
    }
}

/// A connected transporter subscribed to a node's 12 channels.
async fn node(namespace: &str, node_id: &str) -> (RedisTransporter, TransportEvents) {
    let t = RedisTransporter::new(&redis_url()).expect("url");
    let events = t
        .connect(&setup(namespace, node_id))
        .await
        .expect("connect");
    t.subscribe(&Topic::node_subscriptions(node_id))
        .await
        .expect("subscribe");
    (t, events)
}

fn message(event: TransportEvent) -> (PacketType, Bytes) {
    match event {
        TransportEvent::Message {
            packet_type,
            payload,
        } => (packet_type, payload),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn subscribes_exactly_the_twelve_moleculer_channels() {
    let ns = unique("chan");
    let prefix = channel_prefix(&ns);
    let mut conn = raw().await;
    let acl = AclUser::create(&mut conn).await;
    let t = RedisTransporter::new(&acl.url).expect("url");
    let _events = t.connect(&setup(&ns, "node-1")).await.expect("connect");
    t.subscribe(&Topic::node_subscriptions("node-1"))
        .await
        .expect("subscribe");

    let mut expected: Vec<String> = [
        "EVENT.node-1",
        "REQ.node-1",
        "RES.node-1",
        "DISCOVER",
        "DISCOVER.node-1",
        "INFO",
        "INFO.node-1",
        "DISCONNECT",
        "HEARTBEAT",
        "PING",
        "PING.node-1",
        "PONG.node-1",
    ]
    .iter()
    .map(|c| format!("{prefix}.{c}"))
    .collect();
    expected.sort();
    assert_eq!(channels(&mut conn, &prefix).await, expected);

    // Subscribing again changes nothing.
    t.subscribe(&Topic::node_subscriptions("node-1"))
        .await
        .expect("subscribe again");
    assert_eq!(channels(&mut conn, &prefix).await.len(), 12);

    // One subscriber connection with 12 exact subscriptions and no pattern; one publisher.
    let clients = acl.clients(&mut conn).await;
    assert_eq!(clients.len(), 2, "{clients:?}");
    let sub: Vec<_> = clients
        .iter()
        .filter(|c| common::field(c, "sub") != Some("0"))
        .collect();
    assert_eq!(sub.len(), 1, "{clients:?}");
    assert_eq!(common::field(sub[0], "sub"), Some("12"));
    assert_eq!(common::field(sub[0], "psub"), Some("0"));
    assert!(
        clients
            .iter()
            .any(|c| common::field(c, "name") == Some("mol-node-1-pub")),
        "publisher is named: {clients:?}"
    );

    t.disconnect().await.expect("disconnect");
    assert!(channels(&mut conn, &prefix).await.is_empty());
    common::eventually("connections closed", || {
        let acl = &acl;
        let mut conn = conn.clone();
        async move { acl.clients(&mut conn).await.is_empty() }
    })
    .await;
}

#[tokio::test]
async fn targeted_and_broadcast_packets_arrive_exactly_once() {
    let ns = unique("deliver");
    let (a, mut a_events) = node(&ns, "a").await;
    let (b, mut b_events) = node(&ns, "b").await;

    a.publish(
        &Topic::targeted(PacketType::Request, "b"),
        Bytes::from_static(b"{\"to\":\"b\"}"),
    )
    .expect("publish");
    let (kind, payload) = message(next_event(&mut b_events).await);
    assert_eq!(kind, PacketType::Request);
    assert_eq!(&payload[..], b"{\"to\":\"b\"}");

    a.publish(
        &Topic::broadcast(PacketType::Heartbeat),
        Bytes::from_static(b"beat"),
    )
    .expect("publish");
    for events in [&mut a_events, &mut b_events] {
        let (kind, payload) = message(next_event(events).await);
        assert_eq!(kind, PacketType::Heartbeat);
        assert_eq!(&payload[..], b"beat");
    }

    // Nothing twice, nothing for the wrong node.
    assert!(drain(&mut a_events, Duration::from_millis(200))
        .await
        .is_empty());
    assert!(drain(&mut b_events, Duration::from_millis(50))
        .await
        .is_empty());

    // Packets from another namespace never arrive.
    let (other, _other_events) = node(&unique("other"), "x").await;
    other
        .publish(
            &Topic::targeted(PacketType::Request, "b"),
            Bytes::from_static(b"no"),
        )
        .expect("publish");
    assert!(drain(&mut b_events, Duration::from_millis(200))
        .await
        .is_empty());

    for t in [a, b, other] {
        t.disconnect().await.expect("disconnect");
    }
}

#[tokio::test]
async fn a_burst_is_pipelined_in_order_without_loss() {
    let ns = unique("burst");
    let (a, _a_events) = node(&ns, "a").await;
    let (b, mut b_events) = node(&ns, "b").await;
    let topic = Topic::targeted(PacketType::Event, "b");
    const N: usize = 5000;
    for i in 0..N {
        a.publish(&topic, Bytes::from(format!("{i}")))
            .expect("publish");
    }
    for i in 0..N {
        let (kind, payload) = message(next_event(&mut b_events).await);
        assert_eq!(kind, PacketType::Event);
        assert_eq!(&payload[..], format!("{i}").as_bytes());
    }
    assert!(drain(&mut b_events, Duration::from_millis(100))
        .await
        .is_empty());
    a.disconnect().await.expect("disconnect");
    b.disconnect().await.expect("disconnect");
}

#[tokio::test]
async fn raw_payloads_pass_through_untouched() {
    let ns = unique("raw");
    let prefix = channel_prefix(&ns);
    let (b, mut b_events) = node(&ns, "b").await;
    let mut conn = raw().await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    assert_eq!(
        publish_raw(&mut conn, &format!("{prefix}.PONG.b"), &bytes).await,
        1
    );
    let (kind, payload) = message(next_event(&mut b_events).await);
    assert_eq!(kind, PacketType::Pong);
    assert_eq!(&payload[..], &bytes[..]);
    b.disconnect().await.expect("disconnect");
}

#[tokio::test]
async fn disconnect_flushes_queued_publishes_and_ends_the_stream() {
    let ns = unique("flush");
    let (a, mut a_events) = node(&ns, "a").await;
    let (b, mut b_events) = node(&ns, "b").await;
    let topic = Topic::targeted(PacketType::Request, "b");
    for i in 0..500 {
        a.publish(&topic, Bytes::from(format!("{i}")))
            .expect("publish");
    }
    tokio::time::timeout(WAIT, a.disconnect())
        .await
        .expect("disconnect is bounded")
        .expect("disconnect");
    assert!(!a.is_connected());
    for i in 0..500 {
        let (_, payload) = message(next_event(&mut b_events).await);
        assert_eq!(&payload[..], format!("{i}").as_bytes());
    }
    // a's event stream ends: its tasks are gone.
    let end = tokio::time::timeout(WAIT, async { while a_events.recv().await.is_some() {} }).await;
    assert!(end.is_ok(), "the event stream of a closed transporter ends");

    // Publishing after disconnect fails fast; a second disconnect is harmless.
    let err = a.publish(&topic, Bytes::new()).expect_err("disconnected");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected);
    a.disconnect().await.expect("idempotent");

    // It can connect again (a broker restarted with the same transporter).
    let mut a_events = a.connect(&setup(&ns, "a")).await.expect("reconnect");
    a.subscribe(&Topic::node_subscriptions("a"))
        .await
        .expect("subscribe");
    b.publish(
        &Topic::targeted(PacketType::Request, "a"),
        Bytes::from_static(b"hi"),
    )
    .expect("publish");
    let (_, payload) = message(next_event(&mut a_events).await);
    assert_eq!(&payload[..], b"hi");
    a.disconnect().await.expect("disconnect");
    b.disconnect().await.expect("disconnect");
}

#[tokio::test]
async fn publish_and_subscribe_fail_fast_when_not_connected() {
    let t = RedisTransporter::new(&redis_url()).expect("url");
    assert!(!t.is_connected());
    let start = Instant::now();
    let err = t
        .publish(&Topic::broadcast(PacketType::Heartbeat), Bytes::new())
        .expect_err("not connected");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected);
    assert_eq!(err.name(), "BrokerDisconnectedError");
    let err = t
        .subscribe(&Topic::node_subscriptions("n"))
        .await
        .expect_err("not connected");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected);
    assert!(start.elapsed() < Duration::from_millis(100));

    let (connected, _events) = node(&unique("twice"), "n").await;
    let err = connected
        .connect(&setup("x", "n"))
        .await
        .expect_err("already connected");
    assert_eq!(err.kind(), ErrorKind::BrokerOptions);
    connected.disconnect().await.expect("disconnect");
}

#[tokio::test]
async fn connect_fails_cleanly_when_redis_is_unreachable() {
    // A port nothing listens on: refused at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let t = RedisTransporter::new(&format!("redis://127.0.0.1:{port}")).expect("url");
    let err = tokio::time::timeout(WAIT, t.connect(&setup("x", "n")))
        .await
        .expect("bounded")
        .expect_err("nothing listens");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected);
    assert!(
        err.message().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!t.is_connected());
}

#[tokio::test]
async fn connect_gives_up_on_a_silent_server_after_the_command_timeout() {
    // Accepts TCP connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let t = RedisTransporter::new(&format!("redis://127.0.0.1:{port}"))
        .expect("url")
        .command_timeout(Duration::from_millis(300));
    let start = Instant::now();
    let err = tokio::time::timeout(WAIT, t.connect(&setup("x", "n")))
        .await
        .expect("bounded")
        .expect_err("silent server");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    silent.abort();
}

#[tokio::test]
async fn channels_refused_by_an_acl_fail_alone_without_dropping_the_connection() {
    let ns = unique("acl");
    let prefix = channel_prefix(&ns);
    let mut conn = raw().await;
    let allowed = format!("&{prefix}.REQ.*");
    let acl = AclUser::with_channels(&mut conn, &[allowed.as_str()]).await;
    let t = RedisTransporter::new(&acl.url).expect("url");
    let mut events = t.connect(&setup(&ns, "n")).await.expect("connect");
    t.subscribe(&[Topic::targeted(PacketType::Request, "n")])
        .await
        .expect("allowed channel");

    let err = tokio::time::timeout(WAIT, t.subscribe(&[Topic::broadcast(PacketType::Info)]))
        .await
        .expect("answered, not hung")
        .expect_err("refused channel");
    assert_eq!(err.kind(), ErrorKind::BrokerOptions);
    assert!(err.message().contains("SUBSCRIBE"), "{err}");

    // A refused PUBLISH in the same pipeline as allowed ones: the allowed ones still go out.
    t.publish(
        &Topic::broadcast(PacketType::Info),
        Bytes::from_static(b"refused"),
    )
    .expect("queued");
    t.publish(
        &Topic::targeted(PacketType::Request, "n"),
        Bytes::from_static(b"allowed"),
    )
    .expect("queued");
    match next_event(&mut events).await {
        TransportEvent::Message { payload, .. } => assert_eq!(&payload[..], b"allowed"),
        other => panic!("expected the allowed message, got {other:?}"),
    }
    assert!(t.is_connected());
    assert!(
        drain(&mut events, Duration::from_millis(200))
            .await
            .is_empty(),
        "no reconnect"
    );

    t.disconnect().await.expect("disconnect");
}

#[tokio::test]
async fn a_request_event_or_response_that_nobody_receives_is_reported_undelivered() {
    let ns = unique("unheard");
    let (t, mut events) = node(&ns, "n").await;
    for kind in [PacketType::Request, PacketType::Event, PacketType::Response] {
        t.publish(
            &Topic::targeted(kind, "ghost"),
            Bytes::from(format!("to ghost: {kind}")),
        )
        .expect("queued");
        match next_event(&mut events).await {
            TransportEvent::Undelivered {
                packet_type,
                target,
                payload,
            } => {
                assert_eq!(packet_type, kind);
                assert_eq!(target.as_deref(), Some("ghost"));
                assert_eq!(&payload[..], format!("to ghost: {kind}").as_bytes());
            }
            other => panic!("expected {kind} undelivered, got {other:?}"),
        }
    }
    // Broadcasts (nobody subscribes `EVENT` without a node), and packets that are sent again
    // anyway, may reach nobody without a report.
    t.publish(
        &Topic::broadcast(PacketType::Event),
        Bytes::from_static(b"b"),
    )
    .expect("queued");
    t.publish(
        &Topic::targeted(PacketType::Info, "ghost"),
        Bytes::from_static(b"i"),
    )
    .expect("queued");
    // Received by its subscriber: not reported either.
    t.publish(
        &Topic::targeted(PacketType::Request, "n"),
        Bytes::from_static(b"heard"),
    )
    .expect("queued");
    let mut rest = drain(&mut events, Duration::from_millis(200)).await;
    assert_eq!(rest.len(), 1, "only the one heard: {rest:?}");
    let (kind, payload) = message(rest.remove(0));
    assert_eq!((kind, &payload[..]), (PacketType::Request, &b"heard"[..]));
    t.disconnect().await.expect("disconnect");
}

/// A `redis+unix://` URL: both connections over a Unix socket, to a private `redis-server`
/// listening on nothing else, carry a targeted packet and a 1 MiB one (read in many pieces)
/// intact.
#[tokio::test]
async fn a_unix_socket_carries_small_and_large_packets() {
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let dir = std::env::temp_dir().join(unique("redis-unix"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let socket = dir.join("redis.sock");
    let child = std::process::Command::new("redis-server")
        .args(["--port", "0", "--unixsocket"])
        .arg(&socket)
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed");
    let _server = Server(child);
    tokio::time::timeout(WAIT, async {
        while !socket.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("redis-server opens its socket in time");

    let url = format!("redis+unix://{}", socket.display());
    let ns = unique("unix");
    let t = RedisTransporter::new(&url).expect("url");
    let mut events = t.connect(&setup(&ns, "u1")).await.expect("connect");
    t.subscribe(&Topic::node_subscriptions("u1"))
        .await
        .expect("subscribe");
    let topic = Topic::targeted(PacketType::Request, "u1");
    t.publish(&topic, Bytes::from_static(b"{\"over\":\"unix\"}"))
        .expect("publish");
    let (kind, payload) = message(next_event(&mut events).await);
    assert_eq!(kind, PacketType::Request);
    assert_eq!(&payload[..], b"{\"over\":\"unix\"}");

    let large: Vec<u8> = (0..1024 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    t.publish(&topic, Bytes::from(large.clone()))
        .expect("publish");
    let (_, payload) = message(next_event(&mut events).await);
    assert_eq!(payload.len(), large.len());
    assert!(payload[..] == large[..], "the large payload arrives intact");

    t.disconnect().await.expect("disconnect");
    let _ = std::fs::remove_dir_all(&dir);
}
