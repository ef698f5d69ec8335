// `#[cfg]` on a method also gates its registration, and what the expansion defines for it.
#![deny(unused)]

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

/// Every handler compiled out: nothing generated for them is left unused.
struct AllGated;

#[service(name = "all-gated")]
impl AllGated {
    #[cfg(any())]
    #[action]
    async fn never(&self) -> Result<(), Error> {
        Ok(())
    }

    #[cfg(any())]
    #[cfg(test)]
    #[before]
    async fn never_before(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {
    assert!(Arc::new(AllGated).schema().actions.is_empty());
    let schema = Arc::new(Gated).schema();
    assert_eq!(schema.actions.len(), 1);
    assert!(schema.events.is_empty());
    assert!(schema.started.is_none());
    assert!(schema.settings.is_empty());
}
