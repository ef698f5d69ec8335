//! The Rust worker node of the soak (`soak node`, configured by environment): the `soak`
//! service, recording every execution to a log file the soak reads at the end.
//!
//! Every line is written with one `write` on a file opened for appending, before the handler
//! answers: a SIGKILL loses no record of an execution that was answered.

use broker_core::{service, Broker, Context, Error};
use broker_redis::RedisTransporter;
use serde::Deserialize;
use serde_json::{json, Value};
use std::fs::File;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

/// The execution log: `c <id>` per action execution, `e <id>` per event delivery.
#[derive(Debug)]
struct ExecLog(Mutex<File>);

impl ExecLog {
    fn record(&self, kind: char, id: u64) {
        let line = format!("{kind} {id}\n");
        if let Ok(mut file) = self.0.lock() {
            // A record that cannot be written shows as a missing execution in the figures.
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// Params of every soak action and event.
#[derive(Debug, Deserialize)]
struct Job {
    id: u64,
    #[serde(default)]
    ms: u64,
}

/// The soak service: `work` answers at once, `slow` after `ms`, `panic` panics; `ev` is the
/// balanced event.
#[derive(Debug)]
struct Soak {
    log: ExecLog,
}

#[service(name = "soak")]
impl Soak {
    /// Records the execution and names the node that ran it.
    #[action]
    async fn work(&self, ctx: Context, job: Job) -> Result<Value, Error> {
        self.log.record('c', job.id);
        Ok(json!({"node": ctx.broker().node_id()}))
    }

    /// The slow handler: sleeps `ms` before answering.
    #[action]
    async fn slow(&self, ctx: Context, job: Job) -> Result<Value, Error> {
        self.log.record('c', job.id);
        tokio::time::sleep(Duration::from_millis(job.ms)).await;
        Ok(json!({"node": ctx.broker().node_id()}))
    }

    /// The handler that panics: the broker must answer it with an error, and live on.
    #[action]
    async fn panic(&self, job: Job) -> Result<Value, Error> {
        self.log.record('c', job.id);
        panic!("soak: the panicking handler, call {}", job.id);
    }

    /// The balanced event (group `soak`): one node of the group gets each emit.
    #[event(name = "soak.ev")]
    async fn ev(&self, job: Job) {
        self.log.record('e', job.id);
    }
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

fn env_ms(name: &str) -> Result<Duration, String> {
    let raw = env(name)?;
    raw.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("{name}={raw}: not a number of milliseconds"))
}

/// Runs the node until SIGTERM/SIGINT (or SIGKILL).
pub(crate) async fn run() -> Result<(), String> {
    let log_path = env("SOAK_LOG")?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("cannot open {log_path}: {e}"))?;
    let transporter = RedisTransporter::new(&env("TRANSPORTER")?).map_err(|e| e.to_string())?;
    let broker = Broker::builder()
        .node_id(env("NODE_ID")?)
        .namespace(env("NAMESPACE")?)
        .transporter(transporter)
        .heartbeat_interval(env_ms("HB_INTERVAL_MS")?)
        .heartbeat_timeout(env_ms("HB_TIMEOUT_MS")?)
        .build();
    broker
        .add_service(Soak {
            log: ExecLog(Mutex::new(file)),
        })
        .await
        .map_err(|e| e.to_string())?;
    // Started before Redis in the first phase: start waits for it with back-off.
    broker.start().await.map_err(|e| e.to_string())?;
    broker.run_until_signal().await.map_err(|e| e.to_string())?;
    Ok(())
}
