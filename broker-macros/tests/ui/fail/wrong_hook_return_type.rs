use broker_core::{service, Error};
use serde_json::Value;
use std::rc::Rc;

struct Greeter;

struct NotFromError;

#[service(name = "greeter")]
impl Greeter {
    #[before]
    async fn check(&self) -> Result<String, Error> {
        Ok(String::new())
    }

    #[after]
    async fn stamp(&self, result: Value) -> Value {
        result
    }

    #[after]
    async fn not_deserialize(&self, result: Rc<u8>) -> Result<u8, Error> {
        Ok(*result)
    }

    #[error]
    async fn recover(&self, err: NotFromError) -> Result<Value, Error> {
        let _ = err;
        Ok(Value::Null)
    }
}

fn main() {}
