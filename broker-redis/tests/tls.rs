//! `rediss://` against a TLS-only `redis-server` of our own, with a private CA and client
//! certificates made by `openssl` for the test. Skipped where either binary is missing.

mod common;

use broker_core::packet::PacketType;
use broker_core::transporter::{Bytes, Topic, TransportEvent, TransportSetup};
use broker_core::{ErrorKind, Transporter};
use broker_redis::RedisTransporter;
use common::{next_event, unique, WAIT};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn run(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, in a fresh directory.
fn make_certificates() -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(unique("tls"));
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
    let ok = run(
        &dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.crt"],
            &["-days", "2", "-subj", "/CN=broker-redis test CA"],
        ]
        .concat(),
    ) && ["server", "client"].iter().all(|name| {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let crt = format!("{name}.crt");
        let ext = format!("{name}.ext");
        let subject = format!("/CN={name}");
        run(
            &dir,
            &[
                &["req"][..],
                &ec,
                &["-keyout", &key, "-out", &csr, "-subj", &subject],
            ]
            .concat(),
        ) && run(
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
        )
    });
    ok.then_some(dir)
}

/// A TLS-only `redis-server` that requires client certificates; killed when dropped.
struct TlsRedis {
    child: Child,
    port: u16,
}

impl TlsRedis {
    fn start(dir: &Path) -> Option<TlsRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args(["--tls-cert-file", &file("server.crt")])
            .args(["--tls-key-file", &file("server.key")])
            .args(["--tls-ca-cert-file", &file("ca.crt")])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(TlsRedis { child, port })
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).expect("certificate file")
}

#[tokio::test]
async fn rediss_with_a_private_ca_and_client_certificate() {
    let Some(dir) = make_certificates() else {
        eprintln!("skipped: openssl could not make test certificates");
        return;
    };
    let Some(server) = TlsRedis::start(&dir) else {
        eprintln!("skipped: no redis-server binary");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let setup = TransportSetup {
        namespace: unique("tls"),
        node_id: "n".to_owned(),
    };
    let transporter = || {
        RedisTransporter::new(&url)
            .expect("url")
            .tls_root_certificate(read(&dir, "ca.crt"))
            .expect("CA")
            .tls_client_certificate(read(&dir, "client.crt"), read(&dir, "client.key"))
            .expect("client certificate")
            .command_timeout(Duration::from_secs(2))
    };

    // Wait for the server, then talk over TLS: subscribe, publish, receive.
    let connected = tokio::time::timeout(WAIT, async {
        loop {
            let attempt = transporter();
            match attempt.connect(&setup).await {
                Ok(events) => return (attempt, events),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    let (t, mut events) = connected.expect("TLS redis-server up and the handshake done");
    t.subscribe(&Topic::node_subscriptions("n"))
        .await
        .expect("subscribe");
    t.publish(
        &Topic::targeted(PacketType::Request, "n"),
        Bytes::from_static(b"over tls"),
    )
    .expect("publish");
    match next_event(&mut events).await {
        TransportEvent::Message {
            packet_type,
            payload,
        } => {
            assert_eq!(packet_type, PacketType::Request);
            assert_eq!(&payload[..], b"over tls");
        }
        other => panic!("{other:?}"),
    }
    t.disconnect().await.expect("disconnect");

    // Without the client certificate the server refuses us: a clean error, no panic.
    let no_client_cert = RedisTransporter::new(&url)
        .expect("url")
        .tls_root_certificate(read(&dir, "ca.crt"))
        .expect("CA")
        .command_timeout(Duration::from_secs(2));
    let err = tokio::time::timeout(WAIT, no_client_cert.connect(&setup))
        .await
        .expect("bounded")
        .expect_err("client certificate required");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected);

    // Without our CA the server's certificate is not trusted.
    let untrusted = RedisTransporter::new(&url)
        .expect("url")
        .command_timeout(Duration::from_secs(2));
    let err = tokio::time::timeout(WAIT, untrusted.connect(&setup))
        .await
        .expect("bounded")
        .expect_err("unknown CA");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected);

    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
