use broker_core::{service, Context, Error};
use serde_json::Value;

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[before]
    fn check(&self) -> Result<(), Error> {
        Ok(())
    }

    #[after("*")]
    fn stamp(&self, result: Value) -> Result<Value, Error> {
        Ok(result)
    }

    #[error("*")]
    fn recover(&self, ctx: Context, err: Error) -> Result<Value, Error> {
        let _ = ctx;
        Err(err)
    }
}

fn main() {}
