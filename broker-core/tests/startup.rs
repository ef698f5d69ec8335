//! `Broker::start` when the bus is not there yet: retries with a capped back-off, each
//! failure logged once, until it connects, the connect timeout passes, or `stop` is called.

mod logs;

use broker_core::transporter::{BoxFuture, Topic, TransportEvents, TransportSetup, Transporter};
use broker_core::{Broker, Error, ErrorKind, MemoryBus, MemoryTransporter};
use bytes::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn refusing(bus: &Arc<MemoryBus>) -> Arc<MemoryTransporter> {
    let t = Arc::new(MemoryTransporter::on_bus(bus.clone()));
    t.refuse_connections(true);
    t
}

#[tokio::test(start_paused = true)]
async fn start_waits_for_the_bus_and_logs_each_failure_once() {
    let logs = logs::capture();
    let bus = MemoryBus::new();
    let transporter = refusing(&bus);
    let broker = Broker::builder()
        .node_id("late")
        .shared_transporter(transporter.clone())
        .build();
    let starting = {
        let broker = broker.clone();
        tokio::spawn(async move { broker.start().await })
    };
    // Attempts at 0 s, ~0.5 s, ~1.5 s and ~3.5 s (±20 %).
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert!(!starting.is_finished(), "start keeps waiting");
    transporter.refuse_connections(false);
    let begun = tokio::time::Instant::now();
    tokio::time::timeout(WAIT, starting)
        .await
        .expect("start completes")
        .expect("task")
        .expect("started");
    assert!(broker.is_running());
    // The next attempt came within the 5 s cap (plus jitter).
    assert!(
        begun.elapsed() <= Duration::from_secs(6),
        "{:?}",
        begun.elapsed()
    );

    let failures: Vec<String> = logs
        .matching("transporter cannot connect")
        .into_iter()
        .filter(|l| l.contains("node_id=late "))
        .collect();
    assert!(
        (4..=5).contains(&failures.len()),
        "one line per failed attempt: {failures:#?}"
    );
    for (i, line) in failures.iter().enumerate() {
        assert!(line.contains(" WARN "), "{line}");
        assert!(line.contains(&format!("(attempt {})", i + 1)), "{line}");
        assert!(
            line.contains("BrokerDisconnectedError: the memory bus refuses connections"),
            "Display of the error: {line}"
        );
        assert!(line.contains("retrying in"), "{line}");
    }
    let connected = logs.matching("transporter connected after");
    assert_eq!(
        connected
            .iter()
            .filter(|l| l.contains("node_id=late "))
            .count(),
        1,
        "{connected:#?}"
    );
    broker.stop().await.expect("stop");
}

#[tokio::test(start_paused = true)]
async fn connect_timeout_fails_start_with_the_last_error_in_bounded_time() {
    let bus = MemoryBus::new();
    let broker = Broker::builder()
        .node_id("never")
        .shared_transporter(refusing(&bus))
        .connect_timeout(Duration::from_secs(3))
        .build();
    let begun = tokio::time::Instant::now();
    let err = tokio::time::timeout(WAIT, broker.start())
        .await
        .expect("start gives up")
        .expect_err("no bus");
    assert_eq!(err.kind(), ErrorKind::BrokerDisconnected, "{err}");
    assert!(err.to_string().contains("refuses connections"), "{err}");
    // It kept trying until (just before) the timeout, and no longer.
    let elapsed = begun.elapsed();
    assert!(
        elapsed >= Duration::from_millis(2800) && elapsed <= Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert!(!broker.is_running());
}

#[tokio::test(start_paused = true)]
async fn stop_ends_a_start_that_is_still_waiting() {
    let bus = MemoryBus::new();
    let broker = Broker::builder()
        .node_id("abandoned")
        .shared_transporter(refusing(&bus))
        .build();
    let starting = {
        let broker = broker.clone();
        tokio::spawn(async move { broker.start().await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::time::timeout(Duration::from_secs(1), broker.stop())
        .await
        .expect("stop does not wait for the bus")
        .expect("stop");
    let result = tokio::time::timeout(Duration::from_secs(1), starting)
        .await
        .expect("start returns")
        .expect("task");
    assert!(result.is_err());
    assert!(!broker.is_running());
}

/// A transporter whose configuration is wrong: nothing will make it connect.
#[derive(Debug, Default)]
struct Misconfigured {
    attempts: AtomicUsize,
}

impl Transporter for Misconfigured {
    fn connect<'a>(
        &'a self,
        _setup: &'a TransportSetup,
    ) -> BoxFuture<'a, Result<TransportEvents, Error>> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Err(Error::broker_options("invalid URL: no host")) })
    }
    fn subscribe<'a>(&'a self, _topics: &'a [Topic]) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }
    fn publish(&self, _topic: &Topic, _payload: Bytes) -> Result<(), Error> {
        Err(Error::broker_disconnected())
    }
    fn disconnect(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }
    fn is_connected(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn a_configuration_error_fails_start_at_once() {
    let transporter = Arc::new(Misconfigured::default());
    let broker = Broker::builder()
        .node_id("misconfigured")
        .shared_transporter(transporter.clone())
        .build();
    let err = tokio::time::timeout(Duration::from_secs(1), broker.start())
        .await
        .expect("no retry")
        .expect_err("bad options");
    assert_eq!(err.kind(), ErrorKind::BrokerOptions, "{err}");
    assert_eq!(transporter.attempts.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_start_cancelled_by_a_timeout_is_not_taken_for_a_running_broker() {
    let bus = MemoryBus::new();
    let transporter = refusing(&bus);
    let broker = Broker::builder()
        .node_id("impatient")
        .shared_transporter(transporter.clone())
        .build();
    assert!(
        tokio::time::timeout(Duration::from_secs(2), broker.start())
            .await
            .is_err(),
        "still waiting for the bus"
    );
    transporter.refuse_connections(false);
    let err = tokio::time::timeout(Duration::from_secs(1), broker.start())
        .await
        .expect("answers at once")
        .expect_err("a half-done start is not a running broker");
    assert_eq!(err.kind(), ErrorKind::BrokerOptions, "{err}");
    assert!(!broker.is_running());
    tokio::time::timeout(Duration::from_secs(1), broker.stop())
        .await
        .expect("stops")
        .expect("stop");
}
