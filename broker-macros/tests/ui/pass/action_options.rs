// `#[action(name, visibility, timeout)]` in every accepted form.
use broker_core::{service, Error, Service, Visibility};
use std::sync::Arc;
use std::time::Duration;

struct Options;

struct MyError;

impl From<MyError> for Error {
    fn from(_: MyError) -> Error {
        Error::new("MyError", "boom")
    }
}

#[service(name = "options")]
impl Options {
    #[action(name = "welcome", visibility = "public", timeout = "2s")]
    async fn welcome(&self, params: serde_json::Value) -> Result<serde_json::Value, Error> {
        Ok(params)
    }

    #[action(visibility = "published")]
    async fn published(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(visibility = "protected", timeout = "500ms")]
    async fn protected(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(visibility = "private", timeout = "1m")]
    async fn private(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(timeout = "1h")]
    async fn hourly(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(timeout = 1500)]
    async fn millis(&self) -> Result<(), Error> {
        Ok(())
    }

    // A custom error type converting into `Error`.
    #[action()]
    async fn custom_error(&self) -> Result<&'static str, MyError> {
        Ok("fine")
    }
}

fn main() {
    let schema = Arc::new(Options).schema();
    let expect = [
        ("welcome", Visibility::Public, Some(2_000)),
        ("published", Visibility::Published, None),
        ("protected", Visibility::Protected, Some(500)),
        ("private", Visibility::Private, Some(60_000)),
        ("hourly", Visibility::Published, Some(3_600_000)),
        ("millis", Visibility::Published, Some(1_500)),
        ("custom_error", Visibility::Published, None),
    ];
    assert_eq!(schema.actions.len(), expect.len());
    for (action, (name, visibility, timeout)) in schema.actions.iter().zip(expect) {
        assert_eq!(action.name, name);
        assert_eq!(action.visibility, visibility, "{name}");
        assert_eq!(action.timeout, timeout.map(Duration::from_millis), "{name}");
    }
}
