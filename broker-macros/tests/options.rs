//! `#[action(bulkhead(...), strategy = ..., shard_key = ...)]` on a local broker: the bulkhead
//! refuses calls past its queue, the strategy is published in the service's description.

mod common;

use broker_core::{service, Broker, Error, ErrorKind};
use common::{bounded, call};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};

struct Tuned {
    /// Told each time `narrow` starts running.
    entered: mpsc::UnboundedSender<()>,
    /// `narrow` waits for a permit here before it returns.
    release: Arc<Semaphore>,
}

#[service(name = "tuned")]
impl Tuned {
    #[action(bulkhead(concurrency = 1, max_queue_size = 1))]
    async fn narrow(&self) -> Result<&'static str, Error> {
        let _ = self.entered.send(());
        self.release
            .acquire()
            .await
            .map_err(|_| Error::server("closed", 500, "CLOSED"))?
            .forget();
        Ok("done")
    }

    #[action(strategy = "Shard", shard_key = "user.id")]
    async fn sharded(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(strategy = "Random")]
    async fn random(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action]
    async fn plain(&self) -> Result<(), Error> {
        Ok(())
    }
}

async fn start() -> (Broker, mpsc::UnboundedReceiver<()>, Arc<Semaphore>) {
    let (entered, entered_rx) = mpsc::unbounded_channel();
    let release = Arc::new(Semaphore::new(0));
    let broker = Broker::builder().node_id("options").build();
    bounded(broker.add_service(Tuned {
        entered,
        release: release.clone(),
    }))
    .await
    .expect("add_service");
    bounded(broker.start()).await.expect("start");
    (broker, entered_rx, release)
}

#[tokio::test]
async fn bulkhead_refuses_calls_past_its_queue() {
    let (broker, mut entered, release) = start().await;
    let (results_tx, mut results) = mpsc::unbounded_channel();
    let spawn_call = |broker: &Broker| {
        let (broker, results_tx) = (broker.clone(), results_tx.clone());
        tokio::spawn(async move {
            let result = call::<String>(&broker, "tuned.narrow", json!({})).await;
            let _ = results_tx.send(result);
        })
    };
    // One call runs (and waits for its release)...
    let first = spawn_call(&broker);
    bounded(entered.recv()).await.expect("the first call runs");
    // ...of two more, one waits in the queue and the other is refused at once, while the
    // first still holds the only slot.
    let others = [spawn_call(&broker), spawn_call(&broker)];
    let refused = bounded(results.recv())
        .await
        .expect("a result")
        .expect_err("one call is past the queue");
    assert_eq!(refused.kind(), ErrorKind::QueueIsFull, "{refused:?}");
    assert_eq!(refused.code(), 429);

    release.add_permits(2);
    for _ in 0..2 {
        let done = bounded(results.recv()).await.expect("a result");
        assert_eq!(done.expect("runs once released"), "done");
    }
    for task in [first].into_iter().chain(others) {
        bounded(task).await.expect("task");
    }
    bounded(broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn strategy_is_published_with_the_action() {
    let (broker, _entered, _release) = start().await;
    let services: Value = call(&broker, "$node.services", json!({ "withActions": true }))
        .await
        .expect("$node.services");
    let tuned = services
        .as_array()
        .and_then(|list| list.iter().find(|s| s["name"] == "tuned"))
        .expect("the tuned service is listed");
    let actions = &tuned["actions"];
    assert_eq!(actions["tuned.sharded"]["strategy"], "Shard", "{actions}");
    assert_eq!(
        actions["tuned.sharded"]["strategyOptions"]["shardKey"], "user.id",
        "{actions}"
    );
    assert_eq!(actions["tuned.random"]["strategy"], "Random", "{actions}");
    assert!(
        actions["tuned.plain"].get("strategy").is_none(),
        "{actions}"
    );
    bounded(broker.stop()).await.expect("stop");
}

/// Keeps every finished span.
#[derive(Debug, Default)]
struct Spans(std::sync::Mutex<Vec<broker_core::trace::SpanData>>);

impl broker_core::trace::SpanExporter for Spans {
    fn span_finished(&self, span: &broker_core::trace::FinishedSpan) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(span.data().clone());
    }
}

struct Traced;

#[service(name = "traced")]
impl Traced {
    #[action(tracing(tags(params = ["id"], meta = ["user.id"]), span_name = "get one"))]
    async fn get(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(tracing = false)]
    async fn health(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(tracing(tags(params = false, meta = true)))]
    async fn secret(&self) -> Result<(), Error> {
        Ok(())
    }
}

#[tokio::test]
async fn tracing_options_choose_tags_and_switch_spans_off() {
    let spans = Arc::new(Spans::default());
    let broker = Broker::builder()
        .node_id("traced")
        .tracing(broker_core::TracingOptions::new().exporter_arc(spans.clone()))
        .build();
    bounded(broker.add_service(Traced)).await.expect("add");
    bounded(broker.start()).await.expect("start");
    let opts = broker_core::CallOptions::new().meta(json!({"user": {"id": 3, "pw": "x"}}));
    for action in ["traced.get", "traced.health", "traced.secret"] {
        let _: Value = bounded(broker.call_with(action, json!({"id": 1, "pw": "y"}), opts.clone()))
            .await
            .expect("call");
    }
    bounded(broker.stop()).await.expect("stop");
    let spans = spans.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["get one", "action 'traced.secret'"]);
    assert_eq!(spans[0].tags["params"], json!({"id": 1}));
    assert_eq!(spans[0].tags["meta"], json!({"user": {"id": 3}}));
    assert!(!spans[1].tags.contains_key("params"));
    assert_eq!(spans[1].tags["meta"], json!({"user": {"id": 3, "pw": "x"}}));
}
