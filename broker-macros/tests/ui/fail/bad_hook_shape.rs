use broker_core::{service, Context, Error};
use serde_json::Value;

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[before]
    async fn with_params(&self, ctx: Context, params: Value) -> Result<(), Error> {
        let _ = (ctx, params);
        Ok(())
    }

    #[before]
    async fn no_return(&self, _ctx: Context) {}

    #[after]
    async fn no_result(&self, _ctx: Context) -> Result<Value, Error> {
        Ok(Value::Null)
    }

    #[after]
    async fn too_many(&self, result: Value, extra: Value) -> Result<Value, Error> {
        let _ = extra;
        Ok(result)
    }

    #[error]
    async fn ctx_last(&self, err: Error, ctx: Context) -> Result<Value, Error> {
        let _ = ctx;
        Err(err)
    }

    #[error]
    async fn ctx_by_ref(&self, ctx: &Context, err: Error) -> Result<Value, Error> {
        let _ = ctx;
        Err(err)
    }

    #[error]
    async fn by_mut(&mut self, err: Error) -> Result<Value, Error> {
        Err(err)
    }
}

fn main() {}
