//! `soak`: the reliability soak of issue 16.
//!
//! ```text
//! soak [--duration 10m | --short] [--rate 400] [--event-rate 100] [--only rust|js]
//!      [--out target/soak-report.json]
//! soak node        # a Rust worker node (started by the soak itself)
//! ```
//!
//! For each implementation in turn (Rust, then Moleculer.js) it runs five worker nodes on a
//! private `redis-server` of its own (the Rust run's fifth node is a Moleculer.js one). The
//! nodes start before Redis (how long until they serve once it is up), then a Rust load
//! generator calls them at a steady rate and emits events while the fault schedule runs
//! (`schedule.rs`). Every node logs each execution; at the end the soak prints a markdown
//! table of both runs and writes the figures as JSON. See RELIABILITY.md.

mod cluster;
mod load;
mod node;
mod report;
mod run;
mod schedule;

use cluster::Lang;
use std::time::Duration;

const USAGE: &str = "usage: soak [--duration 10m|60s|600 | --short] [--rate N] [--event-rate N] [--only rust|js] [--out FILE] | soak node";

/// The command line of the soak proper.
#[derive(Debug)]
struct Args {
    duration: Duration,
    rate: f64,
    event_rate: f64,
    langs: Vec<Lang>,
    out: String,
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    let bad = || format!("--duration {raw}: use 600, 600s or 10m");
    let (digits, unit) = match raw.strip_suffix('m') {
        Some(d) => (d, 60),
        None => (raw.strip_suffix('s').unwrap_or(raw), 1),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    Ok(Duration::from_secs(n * unit))
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        duration: Duration::from_secs(600),
        rate: 400.0,
        event_rate: 100.0,
        langs: vec![Lang::Rust, Lang::Js],
        out: cluster::workspace_root()
            .join("target/soak-report.json")
            .display()
            .to_string(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--short" => parsed.duration = Duration::from_secs(60),
            "--duration" => parsed.duration = parse_duration(value()?)?,
            "--rate" => parsed.rate = value()?.parse().map_err(|_| "--rate: a number")?,
            "--event-rate" => {
                parsed.event_rate = value()?.parse().map_err(|_| "--event-rate: a number")?
            }
            "--only" => {
                parsed.langs = match value()?.as_str() {
                    "rust" => vec![Lang::Rust],
                    "js" => vec![Lang::Js],
                    other => return Err(format!("--only {other}: use rust or js")),
                }
            }
            "--out" => parsed.out = value()?.clone(),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

async fn soak(args: Args) -> Result<(), String> {
    let moleculer = cluster::workspace_root().join("interop/node_modules/moleculer");
    if !moleculer.is_dir() {
        return Err(format!(
            "{} is missing: run `npm ci` in interop/",
            moleculer.display()
        ));
    }
    let settings = run::Settings {
        duration: args.duration,
        rate: args.rate,
        event_rate: args.event_rate,
        hb_interval: Duration::from_secs(2),
        hb_timeout: Duration::from_secs(6),
    };
    let mut reports = Vec::new();
    for lang in &args.langs {
        eprintln!(
            "soak: {} nodes, {} s at {} calls/s and {} events/s …",
            lang.label(),
            args.duration.as_secs(),
            args.rate,
            args.event_rate
        );
        let report = run::run(*lang, &settings).await?;
        reports.push(report);
    }
    println!("{}", report::table(&reports));
    let json = serde_json::to_string_pretty(&serde_json::json!({ "runs": reports }))
        .map_err(|e| e.to_string())?;
    std::fs::write(&args.out, json).map_err(|e| format!("{}: {e}", args.out))?;
    eprintln!("soak: figures written to {}", args.out);
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let node_role = args.first().is_some_and(|a| a == "node");
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
        .and_then(|rt| {
            rt.block_on(async {
                if node_role {
                    init_node_logs();
                    node::run().await
                } else {
                    soak(parse_args(&args)?).await
                }
            })
        });
    if let Err(e) = result {
        eprintln!("soak: {e}");
        std::process::exit(1);
    }
    // Brokers may leave background tasks behind; the figures are written.
    std::process::exit(0);
}

/// A worker node logs to its stderr file at `RUST_LOG` (warn by default).
fn init_node_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
}
