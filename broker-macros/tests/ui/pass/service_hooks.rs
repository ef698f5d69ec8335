// `#[before]`, `#[after]` and `#[error]` hooks in every accepted shape: with or without the
// context, typed or `Value` results, `Error` or a type converting from it, bare (every action)
// or with a pattern; several of each kind, kept in declaration order.
use broker_core::{service, Context, Error, Service};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

#[derive(Deserialize, Serialize)]
struct Created {
    id: u64,
}

struct MyError;

impl From<MyError> for Error {
    fn from(_: MyError) -> Error {
        Error::new("MyError", "boom")
    }
}

struct Wrapped(Error);

impl From<Error> for Wrapped {
    fn from(err: Error) -> Wrapped {
        Wrapped(err)
    }
}

struct Hooked;

#[service(name = "hooked")]
impl Hooked {
    #[action]
    async fn create(&self) -> Result<Created, Error> {
        Ok(Created { id: 1 })
    }

    #[action(name = "update")]
    async fn update_it(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action]
    async fn get_one(&self) -> Result<(), Error> {
        Ok(())
    }

    #[before]
    async fn everything(&self) -> Result<(), Error> {
        Ok(())
    }

    #[before("create|update")]
    async fn replace(&self, ctx: Context) -> Result<Option<Value>, Error> {
        Ok(Some(ctx.params().clone()))
    }

    #[before("get*")]
    async fn custom_error(&self, _ctx: Context) -> Result<(), MyError> {
        Ok(())
    }

    #[before("*")]
    async fn star(&self) -> Result<Option<Value>, MyError> {
        Ok(None)
    }

    #[after("*")]
    async fn stamp(&self, _ctx: Context, result: Value) -> Result<Value, Error> {
        Ok(result)
    }

    #[after("create")]
    async fn typed(&self, result: Created) -> Result<Created, MyError> {
        Ok(Created { id: result.id + 1 })
    }

    #[after("cr?ate|get_*")]
    async fn unit(&self, _result: Value) -> Result<(), Error> {
        Ok(())
    }

    #[error("create")]
    async fn recover(&self, _ctx: Context, err: Error) -> Result<Value, Error> {
        Err(err)
    }

    #[error]
    async fn wrapped(&self, err: Wrapped) -> Result<String, Error> {
        Err(err.0)
    }

    #[error()]
    async fn empty_list(&self, _err: broker_core::Error) -> Result<u8, Error> {
        Ok(0)
    }

    #[cfg(any())]
    #[before("create")]
    async fn never(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {
    let schema = Arc::new(Hooked).schema();
    let patterns = |hooks: Vec<&String>| hooks.into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(
        patterns(schema.hooks.before.iter().map(|h| &h.0).collect()),
        ["*", "create|update", "get*", "*"]
    );
    assert_eq!(
        patterns(schema.hooks.after.iter().map(|h| &h.0).collect()),
        ["*", "create", "cr?ate|get_*"]
    );
    assert_eq!(
        patterns(schema.hooks.error.iter().map(|h| &h.0).collect()),
        ["create", "*", "*"]
    );
}
