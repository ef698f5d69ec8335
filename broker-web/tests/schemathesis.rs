//! The OpenAPI document checked by a real tool: PyPI's `schemathesis` generates requests from
//! it against a running gateway and checks every answer against it (no 500s, statuses,
//! content types and bodies as documented). Skipped with a message when not installed.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use broker_core::{schemars, service, Error, JsonSchema, Service};
use broker_web::{BearerToken, MappingPolicy, Route};
use common::Cluster;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, JsonSchema)]
struct HelloParams {
    /// Who to greet.
    name: String,
    /// The word to greet with.
    greeting: Option<String>,
}

/// A greeting.
#[derive(Serialize, JsonSchema)]
struct Greeting {
    text: String,
    length: usize,
}

#[derive(Deserialize, JsonSchema)]
struct AddParams {
    // Bounded in the schema, so generated sums stay finite (see `add`).
    #[schemars(range(min = -1e12, max = 1e12))]
    a: f64,
    #[schemars(range(min = -1e12, max = 1e12))]
    b: f64,
}

/// Where a user lives.
#[derive(Serialize, Deserialize, JsonSchema, Clone)]
struct Address {
    city: String,
}

#[derive(Deserialize, JsonSchema)]
struct CreateUser {
    name: String,
    address: Address,
    tags: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
struct User {
    id: u64,
    name: String,
    address: Address,
}

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    /// Greets someone.
    #[action(rest = "GET /hello/:name")]
    async fn hello(&self, params: HelloParams) -> Result<Greeting, Error> {
        let text = format!(
            "{}, {}!",
            params.greeting.as_deref().unwrap_or("Hello"),
            params.name
        );
        Ok(Greeting {
            length: text.chars().count(),
            text,
        })
    }

    /// Adds two numbers.
    #[action(rest = "POST /add")]
    async fn add(&self, params: AddParams) -> Result<f64, Error> {
        // The handler enforces the range its schema publishes (serde checks types, not
        // ranges), so the spec and the answers agree, and no sum overflows to infinity (which
        // JSON cannot carry).
        let limit = 1e12;
        if !(-limit..=limit).contains(&params.a) || !(-limit..=limit).contains(&params.b) {
            return Err(Error::client(
                "a and b must be within ±1e12",
                422,
                "OUT_OF_RANGE",
            ));
        }
        Ok(params.a + params.b)
    }

    /// Creates a user.
    #[action(rest = "POST /users")]
    async fn create(&self, params: CreateUser) -> Result<User, Error> {
        Ok(User {
            id: params.tags.len() as u64 + 1,
            name: params.name,
            address: params.address,
        })
    }
}

fn installed(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_wrong_with_the_spec() {
    if !installed("schemathesis") {
        eprintln!("skipped: schemathesis not installed (pip install schemathesis)");
        return;
    }
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![std::sync::Arc::new(Greeter).schema()], |b| {
            b.route(
                Route::new("/api")
                    .auto_aliases(true)
                    .mapping_policy(MappingPolicy::Restrict)
                    .whitelist(["greeter.*"]),
            )
            .route(
                Route::new("/admin")
                    .alias("GET /greet/:name", "greeter.hello")
                    .bearer_token(BearerToken::new("s3cret"))
                    .mapping_policy(MappingPolicy::Restrict),
            )
        })
        .await;
    let spec = gw.url("/openapi.json");
    let base = gw.url("");
    let run = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("schemathesis")
            .args(["run", &spec, "--url", &base])
            .args(["--checks", "all"])
            // The admin route's token; `ignored_auth` still tries it without.
            .args(["-H", "Authorization: Bearer s3cret"])
            // A method an alias does not declare is a 404 `NotFoundError`, as moleculer-web
            // answers, not the 405 this check wants.
            .args(["--exclude-checks", "unsupported_method"])
            .args(["--max-examples", "50", "--request-timeout", "5"])
            // A fixed seed: CI checks the same generated requests every run (no flaky seeds).
            .args(["--seed", "20261201"])
            .args(["--phases", "examples,coverage,fuzzing"])
            .env("SCHEMATHESIS_HOOKS", "")
            // It keeps a cache directory where it runs: not in the source tree.
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("schemathesis starts");
        let deadline = Instant::now() + Duration::from_secs(120);
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let out = std::thread::spawn(move || std::io::read_to_string(out).unwrap_or_default());
        let err = std::thread::spawn(move || std::io::read_to_string(err).unwrap_or_default());
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let text = format!(
            "{}\n{}",
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default()
        );
        (status, text)
    })
    .await
    .expect("schemathesis task");
    let (status, text) = run;
    let status = status.unwrap_or_else(|| panic!("schemathesis did not finish in 120 s:\n{text}"));
    assert!(status.success(), "schemathesis found problems:\n{text}");
    // Its summary, for the log.
    eprintln!("{text}");
    gw.broker.stop().await.expect("stop");
}
