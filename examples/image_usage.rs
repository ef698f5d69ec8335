//! Image usage: an `image.pixelate` action that fetches a picture (an `http://` URL or a file
//! path), pixelates it in square blocks, writes it to an output folder and returns the path;
//! the REPL drives it.
//!
//! ```sh
//! cargo run -p examples --example image_usage                          # in memory
//! cargo run -p examples --example image_usage redis://127.0.0.1:6379   # on Redis
//! ```
//!
//! ```text
//! mol $ call image.pixelate --source output/sample.png --blockSize 16
//! mol $ call image.pixelate {"source": "http://127.0.0.1:8000/cat.jpg", "blockSize": 8}
//! ```
//!
//! On start it writes `sample.png` into the output folder, so there is something to try.
//! Environment: `TRANSPORTER` (or the first argument), `NAMESPACE`, `NODE_ID`,
//! `MOLECULER_PROTOCOL` (`5` by default, `4` for Moleculer.js 0.14), `IMAGE_OUTPUT_DIR` (default
//! `output`) and `RUST_LOG`. PNG and JPEG are read; the result is always PNG.

#[path = "image_usage/http.rs"]
mod http;
#[path = "image_usage/service.rs"]
mod service;
#[cfg(test)]
#[path = "image_usage/tests.rs"]
mod tests;

use broker_core::Broker;
use broker_repl::ReplExt;
use examples::{builder_from_env, env};
use service::*;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[tokio::main]
async fn main() -> ExitCode {
    broker_repl::init_logging("warn,broker_core=info,broker_redis=info,broker_nats=info");
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("image_usage: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).or_else(|| env("TRANSPORTER"));
    let output_dir = PathBuf::from(env("IMAGE_OUTPUT_DIR").unwrap_or_else(|| "output".into()));
    std::fs::create_dir_all(&output_dir)?;
    let sample = output_dir.join("sample.png");
    sample_image().save(&sample)?;

    let broker = builder_from_env(url.as_deref())?
        .request_timeout(Duration::from_secs(60))
        .build();
    broker.add_service(ImageService { output_dir }).await?;
    broker.start().await?;
    println!(
        "Try: call image.pixelate --source {} --blockSize 16",
        sample.display()
    );
    // The console until `exit` or Ctrl-D, or a graceful stop on SIGTERM (see simple_usage).
    let signal = tokio::select! {
        biased;
        signal = Broker::wait_for_signal() => Some(signal?),
        done = broker.repl() => {
            done?;
            None
        }
    };
    broker.stop().await?;
    if signal.is_some() {
        std::process::exit(0);
    }
    Ok(())
}
