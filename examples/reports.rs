//! Scheduled tasks: a `reports` service with an hourly task that runs once per cluster, on
//! three nodes.
//!
//! Each node has `greeter` and `reports`. The `hourly` report runs at the top of every hour on
//! exactly one of the nodes (a lock in Redis decides which); `pulse`, every 2 s and also once
//! per cluster, shows the ticks going round the nodes while the example runs. Then `tasks`
//! lists the tasks of the cluster with their next run, and `tasks run` runs the hourly report
//! now.
//!
//! ```sh
//! cargo run -p examples --example reports                          # Redis on 127.0.0.1:6379
//! TRANSPORTER=memory cargo run -p examples --example reports       # no server: in-process lock
//! ```

use broker_core::periodic::TaskContext;
use broker_core::{service, Broker, Error, MemoryBus, MemoryTransporter};
use broker_redis::RedisTransporter;
use serde::{Deserialize, Serialize};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Serialize, Deserialize)]
struct HelloParams {
    name: String,
}

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn hello(&self, params: HelloParams) -> Result<String, Error> {
        Ok(format!("Hello, {}!", params.name))
    }
}

struct Reports {
    node: String,
}

#[service(name = "reports")]
impl Reports {
    /// At minute 0 of every hour (UTC), on one node of the cluster. The lock is renewed while
    /// the report runs; if this node dies halfway, another takes the tick over after 30 s.
    #[periodic(cron = "@hourly", once = "cluster", lock_ttl = "30s")]
    async fn hourly(&self, ctx: TaskContext) -> Result<(), Error> {
        // Typed params, typed result; `ctx` makes the call a child of the run's context.
        let greeting: String = ctx
            .call_owned(
                "greeter.hello",
                HelloParams {
                    name: "reports".into(),
                },
            )
            .await?;
        println!(
            "[{}] hourly report for {} (fencing token {:?}, manual: {}): {greeting}",
            self.node,
            format_ms(ctx.scheduled_ms()),
            ctx.fencing_token(),
            ctx.is_manual()
        );
        Ok(())
    }

    /// Every 2 s, on one node of the cluster: watch the ticks go round.
    #[periodic(every = "2s", once = "cluster", lock_ttl = "5s")]
    async fn pulse(&self, ctx: TaskContext) {
        println!("[{}] pulse {}", self.node, format_ms(ctx.scheduled_ms()));
    }
}

fn format_ms(ms: u64) -> String {
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

async fn run() -> Result<(), Error> {
    let spec = std::env::var("TRANSPORTER")
        .or_else(|_| std::env::var("REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let bus = MemoryBus::new();
    let namespace = format!("reports-{}", std::process::id());
    let mut nodes = Vec::new();
    for i in 1..=3 {
        let id = format!("reports-{i}");
        let builder = Broker::builder()
            .node_id(id.clone())
            .namespace(namespace.clone())
            .stop_delay(Duration::ZERO);
        let builder = if spec == "memory" {
            builder.transporter(MemoryTransporter::on_bus(bus.clone()))
        } else {
            builder.transporter(RedisTransporter::new(&spec)?)
        };
        let broker = builder.build();
        broker.add_service(Greeter).await?;
        broker.add_service(Reports { node: id }).await?;
        broker.start().await?;
        nodes.push(broker);
    }
    let first = &nodes[0];
    first
        .wait_for_services(&["greeter", "reports"], Duration::from_secs(5))
        .await?;
    tokio::time::sleep(Duration::from_secs(7)).await;

    let style = broker_repl::Style::plain();
    let tasks = broker_repl::run_command(first, "tasks")
        .await
        .map_err(|e| Error::new("CommandError", e.to_string()))?;
    println!("{}", tasks.render(style));
    let ran = broker_repl::run_command(first, "tasks run reports.hourly")
        .await
        .map_err(|e| Error::new("CommandError", e.to_string()))?;
    println!("{}", ran.render(style));

    for node in nodes.iter().rev() {
        node.stop().await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
