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

    #[event(name = "hello.said", group = "g")]
    async fn said(&self, _payload: Params) {}

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
    ::std::assert_eq!(schema.actions.len(), 2);
}
