//! The MQTT transporter against real Mosquitto servers: the shared one (`MQTT_URL`, default
//! `mqtt://127.0.0.1:1883`, a namespace per test) and private ones on ports of their own for
//! restarts, authentication and the subscription log.

use broker_core::packet::PacketType;
use broker_core::transporter::{Bytes, Topic, TransportEvent, TransportEvents, TransportSetup};
use broker_core::{
    ActionDef, Broker, BrokerBuilder, CallOptions, Context, ErrorKind, EventDef, ServiceSchema,
    Transporter,
};
use broker_mqtt::{MqttTransporter, Qos};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod support;

use support::{mqtt_url, unique, OwnMosquitto, Seen, Spy, WAIT};

fn setup(namespace: &str, node_id: &str) -> TransportSetup {
    TransportSetup {
        namespace: namespace.to_owned(),
        node_id: node_id.to_owned(),
    }
}

async fn connect(t: &MqttTransporter, namespace: &str, node_id: &str) -> TransportEvents {
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

fn seen(topic: &str, payload: &[u8], qos: u8) -> Seen {
    Seen {
        topic: topic.to_owned(),
        payload: payload.to_vec(),
        qos,
    }
}

fn node(transporter: MqttTransporter, namespace: &str, id: &str) -> BrokerBuilder {
    Broker::builder()
        .node_id(id)
        .namespace(namespace)
        .transporter(transporter)
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

/// Topics with the default separator, bodies untouched, QoS 0: as Moleculer.js's defaults.
#[tokio::test]
async fn topics_are_moleculers_and_bodies_are_the_bare_payload() {
    let url = mqtt_url();
    let ns = unique("topics");
    let mut spy = Spy::start(
        &url,
        &[format!("MOL-{ns}.RES.js-1"), format!("MOL-{ns}.INFO")],
    )
    .await;

    let t = MqttTransporter::new(&url).expect("url");
    let mut events = connect(&t, &ns, "n1").await;
    assert!(t.is_connected());
    assert_eq!(t.describe(), "mqtt://127.0.0.1:1883");
    assert!(!t.has_builtin_balancer(), "Moleculer's MQTT has none");

    // What a foreign node publishes on our topics arrives with the type of its topic.
    for (topic, body) in [
        (format!("MOL-{ns}.REQ.n1"), "{\"r\":1}"),
        (format!("MOL-{ns}.REQ.other"), "not mine"),
        (format!("MOL-{ns}.HEARTBEAT"), "hb"),
    ] {
        spy.client
            .publish(topic, rumqttc::QoS::AtMostOnce, false, body)
            .await
            .expect("publish");
    }
    assert_message(
        next_event(&mut events).await,
        PacketType::Request,
        b"{\"r\":1}",
    );
    assert_message(next_event(&mut events).await, PacketType::Heartbeat, b"hb");

    // What we publish goes out on exactly Moleculer's topic, body untouched, at QoS 0.
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
    assert_eq!(
        spy.next().await,
        seen(&format!("MOL-{ns}.RES.js-1"), b"{\"ok\":true}", 0)
    );
    assert_eq!(
        spy.next().await,
        seen(&format!("MOL-{ns}.INFO"), b"info", 0)
    );
    assert_message(next_event(&mut events).await, PacketType::Info, b"info");
    assert!(drain(&mut events, Duration::from_millis(200))
        .await
        .is_empty());

    // The empty namespace is plain `MOL`.
    let mut plain = Spy::start(&url, &["MOL.DISCOVER".to_owned()]).await;
    let t2 = MqttTransporter::new(&url).expect("url");
    let _e2 = t2.connect(&setup("", "n2")).await.expect("connect");
    t2.publish(
        &Topic::broadcast(PacketType::Discover),
        Bytes::from_static(b"d"),
    )
    .expect("publish");
    // Other tests' nodes may discover in the empty namespace too: find ours.
    let mine = tokio::time::timeout(WAIT, async {
        loop {
            let s = plain.next().await;
            if s.payload == b"d" {
                return s;
            }
        }
    })
    .await
    .expect("our DISCOVER");
    assert_eq!(mine.topic, "MOL.DISCOVER");

    t.disconnect().await.expect("disconnect");
    t2.disconnect().await.expect("disconnect");
    assert!(!t.is_connected());
    let err = t
        .publish(&Topic::broadcast(PacketType::Heartbeat), Bytes::new())
        .expect_err("closed");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected);
}

/// `topicSeparator: "/"` and `qos: 1`, from the URL or the builder: the topics and the QoS of
/// every subscription (the server's log) and publish (what a QoS 2 watcher receives).
#[tokio::test]
async fn the_separator_and_qos_options_shape_topics_and_deliveries() {
    let mut server = OwnMosquitto::start("allow_anonymous true").await;
    let ns = unique("sep");
    let mut spy = Spy::start(&server.url(), &[format!("MOL-{ns}/#")]).await;
    let from_url =
        MqttTransporter::new(&format!("{}?topicSeparator=/&qos=1", server.url())).expect("url");
    let from_builder = MqttTransporter::new(&server.url())
        .expect("url")
        .topic_separator("/")
        .qos(Qos::ExactlyOnce);
    for (t, id, qos) in [(&from_url, "a", 1u8), (&from_builder, "b", 2u8)] {
        let mut events = connect(t, &ns, id).await;
        let subs = server.subscriptions(&format!("MOL-{ns}/"));
        let expected: Vec<String> = Topic::node_subscriptions(id)
            .iter()
            .map(|topic| match &topic.node_id {
                Some(node) => format!("MOL-{ns}/{}/{node}", topic.packet_type.as_str()),
                None => format!("MOL-{ns}/{}", topic.packet_type.as_str()),
            })
            .collect();
        for topic in &expected {
            assert!(
                subs.iter().any(|(q, t)| t == topic && *q == qos),
                "{topic} subscribed at QoS {qos}: {subs:?}"
            );
        }
        t.publish(
            &Topic::targeted(PacketType::Request, "z/1"),
            Bytes::from_static(b"req"),
        )
        .expect("publish");
        assert_eq!(
            spy.next().await,
            seen(&format!("MOL-{ns}/REQ/z/1"), b"req", qos)
        );
        // Arriving with the type of its first level, whatever the node ID holds.
        spy.client
            .publish(
                format!("MOL-{ns}/EVENT/{id}"),
                rumqttc::QoS::ExactlyOnce,
                false,
                "ev",
            )
            .await
            .expect("publish");
        let got = tokio::time::timeout(WAIT, async {
            loop {
                if let TransportEvent::Message {
                    packet_type,
                    payload,
                } = next_event(&mut events).await
                {
                    if &payload[..] == b"ev" {
                        return packet_type;
                    }
                }
            }
        })
        .await
        .expect("the event arrives");
        assert_eq!(got, PacketType::Event);
        let _ = spy.drain(Duration::from_millis(100)).await;
        t.disconnect().await.expect("disconnect");
    }
    server.down().await;
}

/// A Rust cluster over MQTT with the `/` separator and QoS 1: calls and events.
#[tokio::test]
async fn brokers_call_and_emit_over_mqtt() {
    let url = format!("{}?topicSeparator=/&qos=1", mqtt_url());
    let ns = unique("broker");
    let counter = Arc::new(AtomicUsize::new(0));
    let a = node(MqttTransporter::new(&url).expect("url"), &ns, "a").build();
    let b = node(MqttTransporter::new(&url).expect("url"), &ns, "b").build();
    b.add_service(math_service(counter.clone()))
        .await
        .expect("service");
    let got = Arc::new(AtomicUsize::new(0));
    let sink = got.clone();
    a.add_service(ServiceSchema::new("sink").event(EventDef::new(
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

/// Payloads far above rumqttc's 10 KiB default pass (Moleculer's INFO packets can be large);
/// one above the configured maximum is reported undelivered and the connection stays up.
#[tokio::test]
async fn big_payloads_pass_and_oversized_ones_are_undelivered() {
    let url = mqtt_url();
    let ns = unique("big");
    let t = MqttTransporter::new(&url)
        .expect("url")
        .max_packet_size(4 << 20);
    let mut events = connect(&t, &ns, "n").await;
    let big = Bytes::from(vec![b'x'; 3 << 20]);
    t.publish(&Topic::broadcast(PacketType::Info), big.clone())
        .expect("publish");
    assert_message(next_event(&mut events).await, PacketType::Info, &big);

    let huge = Bytes::from(vec![b'y'; 5 << 20]);
    t.publish(&Topic::targeted(PacketType::Request, "peer"), huge.clone())
        .expect("queued");
    match next_event(&mut events).await {
        TransportEvent::Undelivered {
            packet_type,
            target,
            payload,
        } => {
            assert_eq!(packet_type, PacketType::Request);
            assert_eq!(target.as_deref(), Some("peer"));
            assert_eq!(payload.len(), huge.len());
        }
        other => panic!("expected Undelivered, got {other:?}"),
    }
    // A node ID MQTT cannot carry in a topic: undelivered too, nothing else disturbed.
    t.publish(
        &Topic::targeted(PacketType::Request, "bad+node"),
        Bytes::from_static(b"r"),
    )
    .expect("queued");
    assert!(matches!(
        next_event(&mut events).await,
        TransportEvent::Undelivered { .. }
    ));
    assert!(t.is_connected());
    t.publish(
        &Topic::broadcast(PacketType::Heartbeat),
        Bytes::from_static(b"still"),
    )
    .expect("publish");
    assert_message(
        next_event(&mut events).await,
        PacketType::Heartbeat,
        b"still",
    );
    t.disconnect().await.expect("disconnect");

    // Our own node ID must fit in a topic.
    let bad = MqttTransporter::new(&url).expect("url");
    let err = bad.connect(&setup(&ns, "n#1")).await.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::BrokerOptions, "{err}");
}

/// The server goes away twice: the broker hears Disconnected once per loss, publishes and
/// subscribes fail fast, and after each return the 12 topics are subscribed exactly once more
/// (in the server's log), then Reconnected, and every message arrives once.
#[tokio::test]
async fn a_restarted_server_gets_every_subscription_exactly_once() {
    mqtt_url();
    let mut server = OwnMosquitto::start("allow_anonymous true").await;
    let ns = unique("restart");
    let t = MqttTransporter::new(&server.url())
        .expect("url")
        .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(200));
    let mut events = connect(&t, &ns, "n").await;
    assert_eq!(server.subscriptions(&ns).len(), 12);

    for round in 1..=2 {
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
        tokio::time::sleep(Duration::from_millis(300)).await;

        server.up().await;
        assert!(matches!(
            next_event(&mut events).await,
            TransportEvent::Reconnected
        ));
        assert!(t.is_connected());
        let subs = server.subscriptions(&ns);
        assert_eq!(subs.len(), 12 * (round + 1), "round {round}: {subs:?}");
        let mut topics: Vec<_> = subs[12 * round..].iter().map(|(_, t)| t.clone()).collect();
        topics.sort();
        topics.dedup();
        assert_eq!(topics.len(), 12, "round {round}: each topic once");

        // One publish from a peer arrives once; ours arrive once.
        let spy = Spy::start(&server.url(), &[]).await;
        let body = format!("req {round}");
        spy.client
            .publish(
                format!("MOL-{ns}.REQ.n"),
                rumqttc::QoS::AtLeastOnce,
                false,
                body.clone(),
            )
            .await
            .expect("peer publishes");
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
        let extra = drain(&mut events, Duration::from_millis(300)).await;
        assert!(extra.is_empty(), "round {round}: nothing twice: {extra:?}");
    }
    t.disconnect().await.expect("disconnect");
    // After our own disconnect the server's going away is no news to the broker.
    server.down().await;
    assert!(drain(&mut events, Duration::from_millis(300))
        .await
        .iter()
        .all(|e| !matches!(e, TransportEvent::Disconnected)));
}

/// Brokers fail calls fast with `BrokerDisconnectedError` while the server is down, and call
/// again once it is back (both re-announce themselves).
#[tokio::test]
async fn brokers_fail_fast_while_down_and_announce_themselves_after() {
    mqtt_url();
    let mut server = OwnMosquitto::start("allow_anonymous true").await;
    let ns = unique("down");
    let transporter = || {
        MqttTransporter::new(&server.url())
            .expect("url")
            .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
    };
    let counter = Arc::new(AtomicUsize::new(0));
    let a = node(transporter(), &ns, "a").build();
    let b = node(transporter(), &ns, "b").build();
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
    let back = tokio::time::timeout(WAIT, async {
        loop {
            let opts = CallOptions::new().timeout(Duration::from_millis(500));
            if let Ok(sum) = a
                .call_with::<f64>("math.add", json!({"a": 2, "b": 2}), opts)
                .await
            {
                return sum;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("calls work again after the restart");
    assert_eq!(back, 4.0);
    let (x, y) = tokio::join!(a.stop(), b.stop());
    x.expect("a stops");
    y.expect("b stops");
}

/// Credentials from the URL or the builder; wrong ones are a `BrokerOptionsError` (no retry
/// helps), a server that is not there a retryable `BrokerDisconnectedError`.
#[tokio::test]
async fn credentials_from_the_url_or_the_builder() {
    mqtt_url();
    let dir = std::env::temp_dir().join(unique("passwd"));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("passwd");
    let made = std::process::Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&file)
        .args(["bob", "s3cr@t"])
        .status()
        .expect("mosquitto_passwd runs (Debian: apt-get install mosquitto)");
    assert!(made.success());
    let mut server = OwnMosquitto::start(&format!(
        "allow_anonymous false\npassword_file {}",
        file.display()
    ))
    .await;
    let ns = unique("auth");
    let port = server.port;

    let good = MqttTransporter::new(&format!("mqtt://bob:s3cr%40t@127.0.0.1:{port}")).expect("url");
    let _events = connect(&good, &ns, "a").await;
    good.disconnect().await.expect("disconnect");
    let built = MqttTransporter::new(&server.url())
        .expect("url")
        .credentials("bob", "s3cr@t");
    let _events = connect(&built, &ns, "b").await;
    built.disconnect().await.expect("disconnect");

    for bad in [
        MqttTransporter::new(&format!("mqtt://bob:nope@127.0.0.1:{port}")).expect("url"),
        MqttTransporter::new(&server.url()).expect("url"),
    ] {
        let err = bad.connect(&setup(&ns, "c")).await.expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::BrokerOptions, "{err}");
        assert!(!err.is_retryable());
        assert!(!err.message().contains("nope"), "{err}");
    }
    server.down().await;
    let gone = MqttTransporter::new(&server.url())
        .expect("url")
        .command_timeout(Duration::from_secs(2));
    let err = gone.connect(&setup(&ns, "d")).await.expect_err("no server");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected, "{err}");
    assert!(err.is_retryable());
    let _ = std::fs::remove_dir_all(dir);
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let status = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs (Debian: apt-get install openssl)");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA, and a server (127.0.0.1) and a client certificate it signed, in a fresh directory,
/// readable by the mosquitto user the server may drop to.
fn make_certificates() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique("mqtt-tls"));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca_args = [
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
    ];
    openssl(&dir, &[&["req", "-x509"][..], &ec, &ca_args].concat());
    for name in ["server", "client"] {
        let (key, csr, crt, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        let subject = format!("/CN={name}");
        let req = ["-keyout", key.as_str(), "-out", &csr, "-subj", &subject];
        openssl(&dir, &[&["req"][..], &ec, &req].concat());
        openssl(
            &dir,
            &[
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
            ],
        );
    }
    for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o644));
    }
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
    dir
}

/// `mqtts://` against a Mosquitto with a private CA that requires client certificates.
#[tokio::test]
async fn tls_with_a_private_ca_and_client_certificates() {
    mqtt_url();
    let dir = make_certificates();
    let path = |f: &str| dir.join(f).display().to_string();
    let mut server = OwnMosquitto::start(&format!(
        "allow_anonymous true\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true",
        path("ca.crt"),
        path("server.crt"),
        path("server.key")
    ))
    .await;
    let ns = unique("tls");
    let url = format!("mqtts://127.0.0.1:{}", server.port);
    let t = MqttTransporter::new(&url)
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

    // Without the private CA the server is not trusted: no retry makes it so.
    let untrusted = MqttTransporter::new(&url).expect("url");
    let err = untrusted
        .connect(&setup(&ns, "tls2"))
        .await
        .expect_err("untrusted");
    assert_eq!(err.kind(), ErrorKind::BrokerOptions, "{err}");
    // A CA file that does not exist is an options error before any connection.
    let missing = MqttTransporter::new(&url)
        .expect("url")
        .tls_root_certificate(dir.join("nope.crt"));
    let err = missing
        .connect(&setup(&ns, "tls3"))
        .await
        .expect_err("no file");
    assert_eq!(err.kind(), ErrorKind::BrokerOptions, "{err}");
    server.down().await;
    let _ = std::fs::remove_dir_all(&dir);
}
