//! Checking calls to other nodes' actions on the caller's side (opt-in,
//! [`crate::BrokerBuilder::check_remote_params`]): against the `params` schema the serving node
//! published in its INFO, a Moleculer.js node's fastest-validator schema or ours. Wrong params
//! fail at once with the `ValidationError` that node would answer, without a round trip.

use super::{rejected, ParamsChecker};
use crate::error::Error;
use crate::payload::Params;
use crate::registry::State;
use crate::schema::fastest::PARAMS;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Compiled `params` schemas of other nodes' actions, by node and action, each valid for one
/// INFO of its node (a new INFO may change them).
#[derive(Debug, Default)]
pub(crate) struct RemoteParams {
    checkers: Mutex<HashMap<String, HashMap<String, Compiled>>>,
}

#[derive(Debug)]
struct Compiled {
    /// The node's INFO `seq` it was compiled from.
    seq: u64,
    checker: Option<Arc<ParamsChecker>>,
}

impl RemoteParams {
    /// Checks `params` of a call to `action` on `node_id` (empty when the bus picks the node:
    /// then any node serving it with a schema), as that node would, with `caller` as the
    /// calling node in the problems.
    pub(crate) fn check(
        &self,
        state: &State,
        node_id: &str,
        action: &str,
        params: &Params,
        caller: &str,
    ) -> Result<(), Error> {
        let Some(checker) = self.checker(state, node_id, action) else {
            return Ok(());
        };
        if checker.passes(params.raw().get()) {
            return Ok(());
        }
        let problems = checker.check(params.value());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(rejected(problems, action, caller))
        }
    }

    fn checker(&self, state: &State, node_id: &str, action: &str) -> Option<Arc<ParamsChecker>> {
        let node = if node_id.is_empty() {
            state
                .nodes
                .values()
                .find(|n| !n.local && published(n, action).is_some())?
        } else {
            state.nodes.get(node_id)?
        };
        let mut checkers = self.checkers.lock().unwrap_or_else(|p| p.into_inner());
        let of_node = checkers.get(node.id.as_str());
        if let Some(compiled) = of_node
            .and_then(|actions| actions.get(action))
            .filter(|c| c.seq == node.seq)
        {
            return compiled.checker.clone();
        }
        let checker = published(node, action)
            .and_then(ParamsChecker::compile)
            .map(Arc::new);
        checkers.entry(node.id.clone()).or_default().insert(
            action.to_owned(),
            Compiled {
                seq: node.seq,
                checker: checker.clone(),
            },
        );
        checker
    }
}

/// The `params` a node published for an action.
fn published<'a>(node: &'a crate::registry::Node, action: &str) -> Option<&'a Value> {
    node.services
        .iter()
        .find_map(|s| s.actions.get(action))?
        .get(PARAMS)
        .filter(|p| p.is_object() || p.is_array())
}
