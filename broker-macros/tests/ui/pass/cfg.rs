// `#[cfg]` on a method also gates its registration.
use broker_core::{service, Error, Service};
use std::sync::Arc;

struct Gated;

#[service(name = "gated")]
impl Gated {
    #[action]
    async fn always(&self) -> Result<(), Error> {
        Ok(())
    }

    #[cfg(any())]
    #[action]
    async fn never(&self) -> Result<(), Error> {
        Ok(())
    }

    #[event(name = "never")]
    #[cfg(any())]
    async fn never_event(&self) {}

    #[cfg(any())]
    #[started]
    async fn started(&self) {}

    #[cfg(any())]
    #[settings]
    fn settings(&self) -> serde_json::Value {
        serde_json::json!({ "never": true })
    }
}

fn main() {
    let schema = Arc::new(Gated).schema();
    assert_eq!(schema.actions.len(), 1);
    assert!(schema.events.is_empty());
    assert!(schema.started.is_none());
    assert!(schema.settings.is_empty());
}
