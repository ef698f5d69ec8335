//! What the runtime tests of the hooks and handler options share: every wait is bounded, so a
//! broken handler fails the test instead of hanging it.

use broker_core::{Broker, Error};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// The longest any single step may take.
pub(crate) const BOUND: Duration = Duration::from_secs(5);

/// Awaits `future`, failing the test if it takes longer than [`BOUND`].
pub(crate) async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("step did not finish in time")
}

/// A bounded call.
pub(crate) async fn call<R: serde::de::DeserializeOwned + 'static>(
    broker: &Broker,
    action: &str,
    params: Value,
) -> Result<R, Error> {
    bounded(broker.call(action, params)).await
}
