//! Authentication with a `.creds` file (a user JWT and the user's NKey seed) against a private
//! `nats-server` in operator (JWT) mode. The operator, account and user are made here with
//! the `nkeys` crate (no `nsc` needed): the operator's JWT is the server's trust root, the
//! account's JWT is preloaded in the server's memory resolver, and the user's JWT, signed by
//! the account, goes into the `.creds` file with the user's seed.

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use broker_core::{ActionDef, Broker, Context, ErrorKind, ServiceSchema};
use broker_nats::NatsTransporter;
use nkeys::KeyPair;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{OwnNats, WAIT};

fn unique(tag: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t-{tag}-{}", &id[..12])
}

/// A NATS JWT (v2): `{"typ":"JWT","alg":"ed25519-nkey"}`, the claims, and the issuer's
/// ed25519 signature over both, each part base64url without padding.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let claims = json!({
        "jti": uuid::Uuid::new_v4().simple().to_string().to_uppercase(),
        "iat": now,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{body}");
    let signature = issuer.sign(signing_input.as_bytes()).expect("sign");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// No limits (`-1`), as `nsc` writes them by default.
fn unlimited() -> Value {
    json!({"subs": -1, "data": -1, "payload": -1})
}

fn account_jwt(operator: &KeyPair, account: &KeyPair, name: &str) -> String {
    let mut limits = unlimited();
    for key in ["imports", "exports", "conn", "leaf"] {
        limits[key] = json!(-1);
    }
    limits["wildcards"] = json!(true);
    let claims = json!({
        "type": "account",
        "version": 2,
        "limits": limits,
        "default_permissions": {"pub": {}, "sub": {}},
    });
    jwt(operator, &account.public_key(), name, claims)
}

fn user_jwt(account: &KeyPair, user: &KeyPair, name: &str) -> String {
    let mut claims = unlimited();
    claims["type"] = json!("user");
    claims["version"] = json!(2);
    claims["pub"] = json!({});
    claims["sub"] = json!({});
    jwt(account, &user.public_key(), name, claims)
}

/// A `.creds` file as `nsc generate creds` writes it.
fn write_creds(path: &Path, user_jwt: &str, user: &KeyPair) {
    let seed = user.seed().expect("seed");
    let text = format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    );
    std::fs::write(path, text).expect("write creds");
}

/// The operator, one account preloaded in the server, and a directory for the files.
struct Trust {
    dir: PathBuf,
    account: KeyPair,
    server: OwnNats,
}

impl Trust {
    async fn start() -> Trust {
        let dir = std::env::temp_dir().join(unique("creds"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let operator = KeyPair::new_operator();
        let operator_jwt = jwt(
            &operator,
            &operator.public_key(),
            "test-operator",
            json!({"type": "operator", "version": 2}),
        );
        let account = KeyPair::new_account();
        let conf = format!(
            "operator: {operator_jwt}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {}\n}}\n",
            account.public_key(),
            account_jwt(&operator, &account, "APP")
        );
        let conf_path = dir.join("server.conf");
        std::fs::write(&conf_path, conf).expect("write config");
        let conf_path = conf_path.to_string_lossy().into_owned();
        let server = OwnNats::start(&["-c", conf_path.as_str()]).await;
        Trust {
            dir,
            account,
            server,
        }
    }

    /// A `.creds` file for a new user of `account`.
    fn creds(&self, file: &str, account: &KeyPair) -> PathBuf {
        let user = KeyPair::new_user();
        let path = self.dir.join(file);
        write_creds(&path, &user_jwt(account, &user, file), &user);
        path
    }
}

impl Drop for Trust {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn node(url: &str, namespace: &str, id: &str, creds: Option<&Path>) -> Broker {
    let mut transporter = NatsTransporter::new(url)
        .expect("url")
        .without_service_api()
        .command_timeout(Duration::from_secs(3))
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200));
    if let Some(path) = creds {
        transporter = transporter.credentials_file(path);
    }
    Broker::builder()
        .node_id(id)
        .namespace(namespace)
        .transporter(transporter)
        .request_timeout(Duration::from_secs(5))
        .build()
}

#[tokio::test]
async fn a_creds_file_authenticates_against_an_operator_mode_server() {
    let trust = Trust::start().await;
    let url = trust.server.url();
    let ns = unique("ns");
    let server = node(
        &url,
        &ns,
        "creds-server",
        Some(&trust.creds("server.creds", &trust.account)),
    );
    server
        .add_service(ServiceSchema::new("math").action(ActionDef::new(
            "add",
            |ctx: Context| async move {
                let p = ctx.params();
                Ok(json!(
                    p["a"].as_i64().unwrap_or(0) + p["b"].as_i64().unwrap_or(0)
                ))
            },
        )))
        .await
        .expect("service");
    let client = node(
        &url,
        &ns,
        "creds-client",
        Some(&trust.creds("client.creds", &trust.account)),
    );
    let started = async {
        server.start().await?;
        client.start().await?;
        client.wait_for_services(&["math"], WAIT).await
    };
    tokio::time::timeout(WAIT * 2, started)
        .await
        .expect("bounded")
        .expect("both nodes start with their creds files and see each other");
    let sum: i64 = tokio::time::timeout(WAIT, client.call("math.add", json!({"a": 40, "b": 2})))
        .await
        .expect("bounded")
        .expect("a call between two users of the account");
    assert_eq!(sum, 42);
    let _ = tokio::time::timeout(WAIT, client.stop()).await;
    let _ = tokio::time::timeout(WAIT, server.stop()).await;
}

#[tokio::test]
async fn without_valid_creds_the_server_refuses_and_it_is_an_options_error() {
    let trust = Trust::start().await;
    let url = trust.server.url();
    let ns = unique("ns");
    let refused = |broker: Broker, why: &'static str| async move {
        let result = tokio::time::timeout(WAIT * 2, broker.start())
            .await
            .unwrap_or_else(|_| panic!("{why}: start did not end within {:?}", WAIT * 2));
        let err = result.expect_err(why);
        assert_eq!(err.kind(), ErrorKind::BrokerOptions, "{why}: {err}");
        err
    };
    // No credentials at all.
    refused(node(&url, &ns, "none", None), "no credentials").await;
    // A user signed by an account the server does not know.
    let stranger = KeyPair::new_account();
    let creds = trust.creds("stranger.creds", &stranger);
    refused(node(&url, &ns, "stranger", Some(&creds)), "unknown account").await;
    // A user JWT signed by the right account, with another user's seed.
    let good = trust.creds("good.creds", &trust.account);
    let other = trust.creds("other.creds", &trust.account);
    let text = |p: &Path| std::fs::read_to_string(p).expect("read creds");
    let (good_text, other_text) = (text(&good), text(&other));
    let seed_of = |t: &str| t.lines().find(|l| l.starts_with("SU")).map(str::to_owned);
    let mixed = trust.dir.join("mixed.creds");
    let swapped = good_text.replace(
        &seed_of(&good_text).expect("seed line"),
        &seed_of(&other_text).expect("seed line"),
    );
    std::fs::write(&mixed, swapped).expect("write");
    refused(
        node(&url, &ns, "mixed", Some(&mixed)),
        "seed of another user",
    )
    .await;
    // A file that is not there, or not a creds file: said so, with its path.
    let missing = trust.dir.join("missing.creds");
    let err = refused(node(&url, &ns, "missing", Some(&missing)), "missing file").await;
    assert!(err.message().contains("missing.creds"), "{err}");
    let garbage = trust.dir.join("garbage.creds");
    std::fs::write(&garbage, "not a creds file\n").expect("write");
    let err = refused(node(&url, &ns, "garbage", Some(&garbage)), "garbage file").await;
    assert!(err.message().contains("garbage.creds"), "{err}");
}
