//! The transporter's tunables, with Moleculer.js's defaults.

use std::time::Duration;

/// Moleculer's `autoDeleteQueues: true`: two minutes.
pub(crate) const AUTO_DELETE_DEFAULT_MS: u64 = 2 * 60 * 1000;

/// Tunables, set with the builder methods of [`crate::AmqpTransporter`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// `basic.qos` prefetch: unacknowledged requests a consumer holds at once.
    pub(crate) prefetch: u16,
    /// `x-expires` of the node's request, response and event queues (ms); `None`: never.
    pub(crate) auto_delete_queues: Option<u64>,
    /// `x-message-ttl` of event queues (ms).
    pub(crate) event_ttl: Option<u64>,
    /// `x-message-ttl` of the heartbeat queue (ms).
    pub(crate) heartbeat_ttl: Option<u64>,
    /// First delay between reconnect attempts; doubles up to `backoff_cap`.
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_cap: Duration,
    /// The longest wait for the server: to connect, declare, and flush on disconnect.
    pub(crate) command_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            prefetch: 1,
            auto_delete_queues: Some(AUTO_DELETE_DEFAULT_MS),
            event_ttl: None,
            heartbeat_ttl: None,
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(2),
            command_timeout: Duration::from_secs(5),
        }
    }
}

/// Milliseconds of a duration, as the AMQP arguments carry them.
pub(crate) fn millis(d: Duration) -> u64 {
    (d.as_millis().min(u128::from(u32::MAX))) as u64
}
