//! `broker-bench`: the benchmark harness of the broker.
//!
//! ```text
//! broker-bench server              # the `bench` service (echo, count, tick) on a transporter
//! broker-bench client              # the scenarios, one JSON line each on stdout
//! broker-bench floor responder     # raw Redis pub/sub echo, or raw NATS request/reply when
//!                                  # TRANSPORTER is nats://… (the floor under any broker)
//! broker-bench floor requester     # the floor scenarios, one JSON line each
//! broker-bench floor micro         # plain NATS requests to the server's ADR-32 endpoint
//!                                  # bench.echo (the ADR-32 path; scripts/bench-nats-adr32.sh)
//! broker-bench summarize FILE...   # markdown tables of medians (min–max) and ratios
//! broker-bench web local|gateway|service|axum   # HTTP servers for scripts/bench-gateway.sh
//! ```
//!
//! Environment: see `BENCHMARKS.md` at the workspace root (`RUNTIME=current` runs any role on
//! a current-thread Tokio runtime instead of the multi-threaded one).

/// `--features mimalloc`: mimalloc instead of the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod client;
mod floor;
mod floor_nats;
mod payload;
mod server;
mod stats;
mod summarize;
mod web;

const USAGE: &str =
    "usage: broker-bench server | client | floor responder|requester|micro | summarize FILE... | web local|gateway|service|axum";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let role = args.first().map(String::as_str).unwrap_or_default();
    let result = match role {
        "summarize" => summarize::run(&args[1..]),
        "server" | "client" | "floor" | "web" => run_async(role, args.get(1).cloned()),
        _ => Err(USAGE.to_owned()),
    };
    if let Err(e) = result {
        eprintln!("broker-bench {role}: {e}");
        std::process::exit(1);
    }
    // Brokers may leave background tasks behind; the result lines are already written.
    std::process::exit(0);
}

/// Whether `TRANSPORTER` names NATS (the floor then measures NATS instead of Redis).
fn on_nats() -> bool {
    std::env::var("TRANSPORTER").is_ok_and(|t| t.starts_with("nats://"))
}

/// The Tokio runtime: multi-threaded (one worker per core) by default, one thread with
/// `RUNTIME=current` (what a runtime choice does to CPU per request: see BENCHMARKS.md).
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    let mut builder = match std::env::var("RUNTIME").as_deref() {
        Ok("current") => tokio::runtime::Builder::new_current_thread(),
        Ok("multi") | Err(_) => tokio::runtime::Builder::new_multi_thread(),
        Ok(other) => return Err(format!("RUNTIME={other}: use current or multi")),
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn run_async(role: &str, sub: Option<String>) -> Result<(), String> {
    let runtime = runtime()?;
    runtime.block_on(async move {
        match (role, sub.as_deref()) {
            ("server", _) => server::run().await,
            ("client", _) => client::run().await,
            ("floor", Some("responder")) if on_nats() => floor_nats::responder().await,
            ("floor", Some("requester")) if on_nats() => floor_nats::requester().await,
            ("floor", Some("micro")) => floor_nats::micro_requester().await,
            ("floor", Some("responder")) => floor::responder().await,
            ("floor", Some("requester")) => floor::requester().await,
            ("web", variant) => web::run(variant).await,
            _ => Err(USAGE.to_owned()),
        }
    })
}
