// `#[broker_core::action]` and `#[broker_core::event]` are accepted and stripped like the bare
// forms; other attributes on the methods are kept.
use broker_core::{Error, Service};
use std::sync::Arc;

struct Paths;

#[broker_core::service(name = "paths")]
impl Paths {
    /// Docs stay.
    #[broker_core::action(name = "one")]
    #[allow(clippy::unused_async)]
    async fn first(&self) -> Result<u8, Error> {
        Ok(1)
    }

    #[broker_core::event(name = "happened")]
    async fn happened(&self) {}

    #[::broker_core::action]
    async fn two(&self) -> Result<u8, Error> {
        Ok(2)
    }
}

fn main() {
    let schema = Arc::new(Paths).schema();
    assert_eq!(schema.actions[0].name, "one");
    assert_eq!(schema.actions[1].name, "two");
    assert_eq!(schema.events[0].name, "happened");
}
