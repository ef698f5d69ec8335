use broker_core::{service, Context, Error};
use serde_json::Value;
use std::rc::Rc;

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn hello(&self) -> Result<u8, Error> {
        let rc = Rc::new(1);
        tokio::task::yield_now().await;
        Ok(*rc)
    }

    #[action]
    async fn with_params(&self, ctx: Context, params: Value) -> Result<Value, Error> {
        let rc = Rc::new(ctx.level());
        tokio::task::yield_now().await;
        Ok(Value::from(*rc).as_u64().map_or(params, Value::from))
    }

    #[event(name = "user.created")]
    async fn user_created(&self, user: Value) {
        let rc = Rc::new(user);
        tokio::task::yield_now().await;
        drop(rc);
    }

    #[started]
    async fn started(&self) {
        let rc = Rc::new(1);
        tokio::task::yield_now().await;
        drop(rc);
    }

    #[before("hello")]
    async fn check(&self) -> Result<(), Error> {
        let rc = Rc::new(1);
        tokio::task::yield_now().await;
        drop(rc);
        Ok(())
    }
}

fn main() {}
