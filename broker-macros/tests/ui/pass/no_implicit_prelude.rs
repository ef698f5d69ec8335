// The generated code names everything by absolute path: it compiles without the prelude, and
// next to user items named like the things it uses.
#![no_implicit_prelude]

extern crate broker_core;
extern crate serde;
extern crate serde_json;
extern crate std;

use broker_core::{service, Context, Error};
use std::result::Result::{self, Ok};
use std::string::String;

#[derive(serde::Deserialize)]
struct Params {
    name: String,
}

// Decoys: the macro must not pick these up.
#[allow(dead_code)]
struct Arc;
#[allow(dead_code)]
struct Box;
#[allow(dead_code)]
struct Option;
#[allow(dead_code)]
trait Clone {}
#[allow(dead_code)]
mod core {}
#[allow(dead_code)]
trait Default {}
#[allow(dead_code)]
trait From {}
#[allow(dead_code)]
trait Into {}
#[allow(dead_code)]
struct Value;
#[allow(dead_code)]
struct StrategySpec;
#[allow(dead_code)]
struct ShardOptions;
#[allow(dead_code)]
struct BulkheadOptions;
#[allow(dead_code)]
mod middleware {}

struct Hygienic {
    greeting: String,
}

#[service(name = "hygienic", version = 1)]
impl Hygienic {
    #[action(visibility = "public", timeout = "1s")]
    async fn hello(&self, ctx: Context, params: Params) -> Result<String, Error> {
        let _ = ctx.level();
        let mut out = ::std::clone::Clone::clone(&self.greeting);
        out.push_str(&params.name);
        Ok(out)
    }

    #[action]
    async fn clone(&self) -> Result<u8, Error> {
        Ok(0)
    }

    #[action(
        bulkhead(concurrency = 2, max_queue_size = 10),
        strategy = "Shard",
        shard_key = "user.id"
    )]
    async fn tuned(&self) -> Result<u8, Error> {
        Ok(1)
    }

    #[action(bulkhead(), strategy = "CpuUsage")]
    async fn cpu(&self) -> Result<u8, Error> {
        Ok(2)
    }

    #[before]
    async fn check(&self) -> Result<(), Error> {
        Ok(())
    }

    #[before("hello|tuned")]
    async fn replace(
        &self,
        ctx: Context,
    ) -> Result<::std::option::Option<serde_json::Value>, Error> {
        Ok(::std::option::Option::Some(::std::clone::Clone::clone(
            ctx.params(),
        )))
    }

    #[after("t*")]
    async fn typed(&self, ctx: Context, result: u8) -> Result<u8, Error> {
        let _ = ctx.level();
        Ok(result)
    }

    #[error("clone")]
    async fn recover(&self, err: Error) -> Result<u8, Error> {
        let _ = err;
        Ok(0)
    }

    #[event(name = "hello.said", group = "g", bulkhead(max_queue_size = 1))]
    async fn said(&self, _payload: Params) {}

    #[periodic(cron = "0 */5 * * * *", once = "cluster", overlap = "queue", lock_ttl = "10s")]
    async fn sweep(&self, ctx: broker_core::periodic::TaskContext) -> Result<(), Error> {
        let _ = ctx.scheduled_ms();
        Ok(())
    }

    #[started]
    async fn started(&self) -> Result<(), Error> {
        Ok(())
    }

    #[settings]
    fn settings(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}

fn main() {
    let service = ::std::sync::Arc::new(Hygienic {
        greeting: String::new(),
    });
    let schema = broker_core::Service::schema(service);
    ::std::assert_eq!(schema.actions.len(), 4);
    ::std::assert_eq!(schema.hooks.before.len(), 2);
    ::std::assert_eq!(schema.hooks.after.len(), 1);
    ::std::assert_eq!(schema.hooks.error.len(), 1);
    ::std::assert_eq!(schema.tasks.len(), 1);
}
