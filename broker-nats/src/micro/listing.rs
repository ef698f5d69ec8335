//! One view of the services on a bus: each instance's INFO with its endpoints' STATS counters
//! merged in, the shape the CLI's `broker micro list` and the REPL's `micro list` print.

use super::client::{DiscoveryOptions, MicroClient};
use super::wire::{InfoResponse, StatsResponse};
use broker_core::Error;
use serde_json::{json, Value};

impl MicroClient {
    /// INFO and STATS of every service (`name` `None`) or of one, asked at the same time and
    /// merged by [`listing`]: one JSON object per instance, sorted by name and id.
    pub async fn list(
        &self,
        name: Option<&str>,
        options: DiscoveryOptions,
    ) -> Result<Vec<Value>, Error> {
        let (info, stats) = tokio::try_join!(self.info(name, options), self.stats(name, options))?;
        Ok(listing(&info, &stats))
    }
}

/// One entry per instance: `name`, `id`, `version`, `description`, `metadata`, `started` (from
/// STATS, `null` if the instance did not answer STATS) and `endpoints`, each with `name`,
/// `subject`, `queue_group`, `metadata` and, when STATS had it, `num_requests`, `num_errors`,
/// `last_error`, `processing_time` and `average_processing_time` (nanoseconds).
pub fn listing(info: &[InfoResponse], stats: &[StatsResponse]) -> Vec<Value> {
    info.iter()
        .map(|i| {
            let s = stats.iter().find(|s| s.name == i.name && s.id == i.id);
            let endpoints: Vec<Value> = i
                .endpoints
                .iter()
                .map(|e| {
                    let mut entry = json!({
                        "name": e.name,
                        "subject": e.subject,
                        "queue_group": e.queue_group,
                        "metadata": e.metadata,
                    });
                    let counters = s.and_then(|s| {
                        s.endpoints
                            .iter()
                            .find(|x| x.name == e.name && x.subject == e.subject)
                    });
                    if let Some(c) = counters {
                        entry["num_requests"] = json!(c.num_requests);
                        entry["num_errors"] = json!(c.num_errors);
                        entry["last_error"] = json!(c.last_error);
                        entry["processing_time"] = json!(c.processing_time);
                        entry["average_processing_time"] = json!(c.average_processing_time);
                    }
                    entry
                })
                .collect();
            json!({
                "name": i.name,
                "id": i.id,
                "version": i.version,
                "description": i.description,
                "metadata": i.metadata,
                "started": s.map(|s| s.started.clone()),
                "endpoints": endpoints,
            })
        })
        .collect()
}
