//! `mcall`: several calls at once, either all-or-error or settled one by one.

use super::Broker;
use crate::context::{CallOptions, Context};
use crate::error::Error;
use crate::payload::{from_payload, to_payload};
use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinSet;

/// One call of an `mcall`.
#[derive(Debug, Clone)]
pub struct McallItem {
    /// Action name.
    pub action: String,
    /// Params.
    pub params: Value,
    /// Options.
    pub options: CallOptions,
}

impl McallItem {
    /// A call with default options.
    pub fn new(action: impl Into<String>, params: impl Serialize) -> Result<McallItem, Error> {
        Ok(McallItem {
            action: action.into(),
            params: serde_json::to_value(params)?,
            options: CallOptions::default(),
        })
    }

    /// Sets the options.
    pub fn options(mut self, options: CallOptions) -> McallItem {
        self.options = options;
        self
    }
}

impl Broker {
    /// Runs the calls concurrently; the results come in the order of the calls. The first
    /// failure fails the whole (the other calls are abandoned).
    pub async fn mcall(&self, calls: Vec<McallItem>) -> Result<Vec<Value>, Error> {
        self.mcall_with_parent(calls, None, false)
            .await
            .into_iter()
            .collect()
    }

    /// Runs the calls concurrently and returns every outcome, in the order of the calls.
    pub async fn mcall_settled(&self, calls: Vec<McallItem>) -> Vec<Result<Value, Error>> {
        self.mcall_with_parent(calls, None, true).await
    }

    pub(crate) async fn mcall_with_parent(
        &self,
        calls: Vec<McallItem>,
        parent: Option<Context>,
        settled: bool,
    ) -> Vec<Result<Value, Error>> {
        let count = calls.len();
        let mut set = JoinSet::new();
        for (index, call) in calls.into_iter().enumerate() {
            let broker = self.clone();
            let parent = parent.clone();
            set.spawn(async move {
                let result = match to_payload(&call.params) {
                    Ok(params) => broker
                        .call_value(&call.action, params, call.options, parent.as_ref())
                        .await
                        .and_then(from_payload::<Value>),
                    Err(err) => Err(err),
                };
                (index, result)
            });
        }
        let mut results: Vec<Option<Result<Value, Error>>> = (0..count).map(|_| None).collect();
        while let Some(joined) = set.join_next().await {
            let (index, result) = match joined {
                Ok(done) => done,
                Err(e) => {
                    let err = Error::server(format!("mcall task failed: {e}"), 500, "MCALL_TASK");
                    if settled {
                        continue;
                    }
                    return vec![Err(err)];
                }
            };
            if !settled && result.is_err() {
                set.abort_all();
                return vec![result];
            }
            results[index] = Some(result);
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::server(
                        "mcall call did not finish",
                        500,
                        "MCALL_TASK",
                    ))
                })
            })
            .collect()
    }
}
