//! The greeter and image services behind HTTP, through the `broker-web` gateway.
//!
//! ```sh
//! cargo run -p examples --example gateway                       # in memory, 127.0.0.1:3000
//! TRANSPORTER=redis://127.0.0.1:6379 cargo run -p examples --example gateway   # on Redis
//! ```
//!
//! Routes (the greeter's come from its actions' `rest` routes, `autoAliases`):
//!
//! ```sh
//! curl http://127.0.0.1:3000/api/hello/Ann                        # "Hello, Ann!"
//! curl -X POST http://127.0.0.1:3000/api/welcome \
//!      -H 'Content-Type: application/json' -d '{"name": "Ann", "language": "fr"}'
//! curl -i -X POST 'http://127.0.0.1:3000/api/image/pixelate?blockSize=8' \
//!      -H 'Content-Type: image/png' --data-binary @output/sample.png          # 401: no token
//! curl -X POST 'http://127.0.0.1:3000/api/image/pixelate?blockSize=8' \
//!      -H 'Authorization: Bearer demo-token' -H 'Content-Type: image/png' \
//!      --data-binary @output/sample.png -o pixelated.png                      # the PNG
//! curl -F file=@output/sample.png -H 'Authorization: Bearer demo-token' \
//!      'http://127.0.0.1:3000/api/image/upload?blockSize=8' -o pixelated.png   # a form upload
//! curl http://127.0.0.1:3000/health
//! curl http://127.0.0.1:3000/ready
//! ```
//!
//! `/api/image/...` needs the bearer token (`API_TOKEN`, default `demo-token`, printed at
//! start). The upload goes to `image.pixelateUpload` through a raw-body alias
//! (`/api/image/pixelate`) or a `multipart/form-data` alias taking one file
//! (`/api/image/upload`, as `curl -F` sends it): the action gets the bytes (PNG or JPEG, up to
//! 8 MiB) and answers with the pixelated PNG's bytes and `ctx.meta.$responseType: image/png`. `image.pixelate`, which reads server-side paths and
//! URLs, stays reachable through the broker only (see `image_usage`), not over HTTP. On start
//! the example writes `sample.png` into the output folder, so there is something to upload.
//!
//! Environment: `GATEWAY_ADDR` (default `127.0.0.1:3000`), `API_TOKEN`, `TRANSPORTER` (a
//! `redis://` URL; in memory without it), `NAMESPACE`, `NODE_ID`, `MOLECULER_PROTOCOL` (`5` by
//! default, `4` for Moleculer.js 0.14), `IMAGE_OUTPUT_DIR` (default `output`) and `RUST_LOG`.
//! Ctrl-C or SIGTERM stops it gracefully.

#[path = "image_usage/http.rs"]
#[allow(dead_code)] // Only `image.pixelate` fetches URLs.
mod http;
#[path = "image_usage/service.rs"]
#[allow(dead_code)] // `output_name` and friends serve `image.pixelate`.
mod service;
#[cfg(test)]
#[path = "gateway/tests.rs"]
mod tests;

use broker_core::{service, Broker, Error};
use broker_web::{ApiGateway, BearerToken, MappingPolicy, Route};
use examples::{builder_from_env, env};
use serde::Deserialize;
use serde_json::{json, Value};
use service::{sample_image, ImageService};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The token of the image route when `API_TOKEN` is not set.
const DEMO_TOKEN: &str = "demo-token";
/// The largest upload accepted.
const UPLOAD_LIMIT: usize = 8 * 1024 * 1024;

#[derive(Deserialize)]
struct HelloParams {
    name: String,
}

#[derive(Deserialize)]
struct WelcomeParams {
    name: String,
    #[serde(default)]
    language: Option<String>,
}

/// Routes at the gateway's route path itself (`rest = "/"`), so `/api/hello/:name`.
struct Greeter;

#[service(name = "greeter", rest = "/")]
impl Greeter {
    /// `GET /api/hello/:name`.
    #[action(rest = "GET /hello/:name")]
    async fn hello(&self, params: HelloParams) -> Result<String, Error> {
        Ok(format!("Hello, {}!", params.name))
    }

    /// `POST /api/welcome` with `{"name": "Ann", "language": "fr"}` (`en` by default).
    #[action(rest = "POST /welcome")]
    async fn welcome(&self, params: WelcomeParams) -> Result<Value, Error> {
        let language = params.language.unwrap_or_else(|| "en".into());
        let word = match language.as_str() {
            "en" => "Welcome",
            "fr" => "Bienvenue",
            "de" => "Willkommen",
            "es" => "Bienvenido",
            _ => {
                return Err(Error::client(
                    format!("unknown language {language:?} (en, fr, de, es)"),
                    422,
                    "UNKNOWN_LANGUAGE",
                )
                .with_data(json!({"language": language})))
            }
        };
        Ok(json!({"greeting": format!("{word}, {}!", params.name), "language": language}))
    }
}

/// The gateway: `/api/image` (bearer token, raw uploads) and `/api` (the greeter's routes).
fn gateway(broker: &Broker, addr: &str, token: &str) -> ApiGateway {
    ApiGateway::builder()
        .listen(addr)
        .route(
            Route::new("/api/image")
                .alias("POST /pixelate", "stream:image.pixelateUpload")
                .alias("POST /upload", "multipart:image.pixelateUpload")
                .max_files(1)
                .whitelist(["image.pixelateUpload"])
                .mapping_policy(MappingPolicy::Restrict)
                .body_limit(UPLOAD_LIMIT)
                .bearer_token(BearerToken::new(token)),
        )
        .route(
            Route::new("/api")
                .auto_aliases(true)
                .whitelist(["greeter.*"])
                .mapping_policy(MappingPolicy::Restrict),
        )
        .require_services(["greeter", "image"])
        .request_timeout(Duration::from_secs(30))
        .build(broker)
}

#[tokio::main]
async fn main() -> ExitCode {
    broker_repl::init_logging(
        "warn,broker_core=info,broker_redis=info,broker_nats=info,broker_web=info",
    );
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gateway: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr = env("GATEWAY_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into());
    let token = env("API_TOKEN").unwrap_or_else(|| DEMO_TOKEN.into());
    let output_dir = PathBuf::from(env("IMAGE_OUTPUT_DIR").unwrap_or_else(|| "output".into()));
    std::fs::create_dir_all(&output_dir)?;
    let sample = output_dir.join("sample.png");
    sample_image().save(&sample)?;

    let broker = builder_from_env(env("TRANSPORTER").as_deref())?.build();
    let gateway = gateway(&broker, &addr, &token);
    broker.add_service(Greeter).await?;
    broker.add_service(ImageService { output_dir }).await?;
    broker.add_service(gateway.clone()).await?;
    broker.start().await?;
    let base = match gateway.local_addr() {
        Some(bound) => format!("http://{bound}"),
        None => format!("http://{addr}"),
    };
    println!("Gateway on {base} (bearer token for /api/image: {token})");
    println!("Try: curl {base}/api/hello/Ann");
    println!(
        "     curl -X POST '{base}/api/image/pixelate?blockSize=8' -H 'Authorization: Bearer {token}' \
         -H 'Content-Type: image/png' --data-binary @{} -o pixelated.png",
        sample.display()
    );
    println!(
        "     curl -F file=@{} -H 'Authorization: Bearer {token}' '{base}/api/image/upload?blockSize=8' \
         -o pixelated.png",
        sample.display()
    );
    broker.run_until_signal().await?;
    Ok(())
}
