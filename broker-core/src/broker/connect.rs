//! Connecting the transporter on start: a bus that is not up yet (Redis still starting) is
//! retried with a capped, jittered back-off, as Moleculer.js retries every 5 s, until it
//! answers or the optional connect timeout passes. A configuration error fails at once.

use super::Broker;
use crate::error::Error;
use crate::transporter::{Topic, TransportEvents, TransportSetup};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// The first pause between attempts.
const FIRST_DELAY: Duration = Duration::from_millis(500);
/// The longest pause, Moleculer's fixed retry interval.
const MAX_DELAY: Duration = Duration::from_secs(5);
/// With a connect timeout, the last attempt starts this long before it passes.
const LAST_TRY_MARGIN: Duration = Duration::from_millis(100);

/// The pause after failed attempt `attempt` (1-based): 0.5 s doubling up to 5 s, ±20 %.
pub(crate) fn retry_delay(attempt: u32) -> Duration {
    let base = FIRST_DELAY
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(8))
        .min(MAX_DELAY);
    // Jitter, so nodes started together do not knock on the server in step.
    let unit = (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
    base.mul_f64(0.8 + 0.4 * unit)
}

impl Broker {
    /// Connects the transporter and subscribes this node's topics, retrying what may succeed
    /// later. Returns the event stream of the connection that made it.
    pub(super) async fn connect_with_retry(
        &self,
        setup: &TransportSetup,
    ) -> Result<TransportEvents, Error> {
        let Some(transit) = &self.inner.transit else {
            return Err(Error::broker_options("no transporter to connect"));
        };
        let deadline = self
            .inner
            .config
            .connect_timeout
            .map(|t| Instant::now() + t);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let once = async {
                let events = transit.transporter.connect(setup).await?;
                let subscribed = transit
                    .transporter
                    .subscribe(&Topic::node_subscriptions(&setup.node_id))
                    .await;
                match subscribed {
                    Ok(()) => Ok(events),
                    Err(err) => {
                        // Half a connection is no use: close it so the next attempt starts clean.
                        let _ = transit.transporter.disconnect().await;
                        Err(err)
                    }
                }
            };
            let result = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, once).await {
                    Ok(result) => result,
                    Err(_) => {
                        // Cut off midway, perhaps connected but not subscribed: close it.
                        let _ = transit.transporter.disconnect().await;
                        Err(Error::broker_disconnected())
                    }
                },
                None => once.await,
            };
            let err = match result {
                Ok(events) => {
                    if attempt > 1 {
                        tracing::info!(
                            node_id = %self.node_id(),
                            attempt,
                            "transporter connected after {attempt} attempts"
                        );
                    }
                    return Ok(events);
                }
                Err(err) if !err.is_retryable() => return Err(err),
                Err(err) => err,
            };
            let mut delay = retry_delay(attempt);
            // The last attempt comes just before the deadline rather than never.
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if let Some(remaining) = remaining.filter(|r| *r > LAST_TRY_MARGIN) {
                delay = delay.min(remaining - LAST_TRY_MARGIN);
            } else if remaining.is_some() {
                tracing::error!(
                    node_id = %self.node_id(),
                    attempt,
                    "transporter did not connect within the connect timeout: {err}"
                );
                return Err(err);
            }
            tracing::warn!(
                node_id = %self.node_id(),
                attempt,
                retry_in_ms = delay.as_millis() as u64,
                "transporter cannot connect (attempt {attempt}): {err}; retrying in {:.1} s",
                delay.as_secs_f64()
            );
            let stopped = self.inner.stop_notify.notified();
            if self.inner.stop_requested.load(Ordering::Acquire) {
                return Err(err);
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stopped => return Err(err),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_from_half_a_second_to_five_with_jitter() {
        for (attempt, base) in [
            (1, 500),
            (2, 1000),
            (3, 2000),
            (4, 4000),
            (5, 5000),
            (40, 5000),
        ] {
            for _ in 0..20 {
                let d = retry_delay(attempt).as_millis() as u64;
                assert!(
                    d >= base * 8 / 10 && d <= base * 12 / 10,
                    "attempt {attempt}: {d} ms"
                );
            }
        }
    }
}
