//! Endpoint lists: for each action, the nodes that serve it; for each `(event pattern, group)`,
//! the nodes that handle it. Balancing happens here.

use super::node::Node;
use crate::error::Error;
use crate::event_match::matches;
use crate::packet::ServiceInfo;
use crate::service::{ActionHandler, EventHandler, Visibility};
use crate::strategy::{Candidate, Request, Strategy, StrategySpec};
use crate::transporter::BalancedTopic;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A local action, ready to run.
pub(crate) struct LocalAction {
    pub(crate) name: Arc<str>,
    pub(crate) service: Arc<str>,
    pub(crate) handler: ActionHandler,
    pub(crate) timeout: Option<Duration>,
    pub(crate) visibility: Visibility,
    pub(crate) strategy: Option<StrategySpec>,
    /// Its request metrics, when metrics are on.
    pub(crate) metrics: Option<Arc<crate::metrics::RequestCell>>,
    /// Whether nothing between a caller and the handler reads the result (no hooks, user
    /// middlewares or tracing around it): then a local caller may take it as a value.
    pub(crate) result_unseen: bool,
    /// Its tracing, when tracing (of it) is on.
    pub(crate) trace: Option<Arc<crate::trace::ActionTrace>>,
    /// Its `params` checker, for an action whose handler's typed params reject what the
    /// schema would: run only on a call the handler rejected, to list every problem.
    pub(crate) params_checker: Option<Arc<crate::validation::ParamsChecker>>,
}

impl fmt::Debug for LocalAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalAction")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A local event handler, ready to run.
pub(crate) struct LocalEvent {
    pub(crate) service: Arc<str>,
    pub(crate) handler: EventHandler,
    pub(crate) strategy: Option<StrategySpec>,
}

/// Where a call goes.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Local(Arc<LocalAction>),
    Remote {
        node_id: Arc<str>,
        timeout: Option<Duration>,
    },
}

struct ActionEndpoint {
    node_id: Arc<str>,
    local: Option<Arc<LocalAction>>,
    timeout: Option<Duration>,
}

struct ActionList {
    endpoints: Vec<ActionEndpoint>,
    strategy: Box<dyn Strategy>,
}

struct EventEndpoint {
    node_id: Arc<str>,
    local: Option<Arc<LocalEvent>>,
}

struct EventList {
    pattern: String,
    group: String,
    endpoints: Vec<EventEndpoint>,
    strategy: Box<dyn Strategy>,
}

/// Where an event goes: local handlers to run, and remote nodes with the groups each serves.
#[derive(Default)]
pub(crate) struct EventTargets {
    pub(crate) local: Vec<Arc<LocalEvent>>,
    pub(crate) remote: Vec<(Arc<str>, Vec<String>)>,
}

pub(crate) struct Catalog {
    local_node_id: Arc<str>,
    strategy: StrategySpec,
    prefer_local: bool,
    /// Looked up on every call: hashed with foldhash, several times cheaper than SipHash for
    /// short keys (the names come from this node's services and other nodes' INFO).
    actions: HashMap<String, ActionList, foldhash::fast::RandomState>,
    events: Vec<EventList>,
    /// (pattern, group) → index in `events`: a peer's INFO may list 100k events, and a
    /// search of the list per event made registering it quadratic.
    event_index: HashMap<(String, String), usize, foldhash::fast::RandomState>,
}

fn pick<T>(
    strategy: &dyn Strategy,
    items: &[T],
    node_of: impl Fn(&T) -> &str,
    nodes: &HashMap<String, Node>,
    local_node_id: &str,
    request: &Request<'_>,
) -> usize {
    if items.len() == 1 {
        return 0;
    }
    let candidates: Vec<Candidate<'_>> = items
        .iter()
        .map(|item| {
            let node_id = node_of(item);
            Candidate {
                node_id,
                local: node_id == local_node_id,
                cpu: nodes.get(node_id).and_then(|n| n.cpu),
                latency: nodes.get(node_id).and_then(|n| n.latency),
            }
        })
        .collect();
    strategy.select(&candidates, request).min(items.len() - 1)
}

/// The strategy an INFO entry asks callers to balance it with.
fn declared_strategy(entry: &Value) -> Option<StrategySpec> {
    let name = entry.get("strategy").and_then(Value::as_str)?;
    StrategySpec::from_name(name, entry.get("strategyOptions"))
}

fn duration_ms(value: Option<&Value>) -> Option<Duration> {
    value
        .and_then(Value::as_f64)
        .filter(|ms| *ms > 0.0 && ms.is_finite())
        .map(|ms| Duration::from_millis(ms as u64))
}

impl Catalog {
    pub(crate) fn new(local_node_id: Arc<str>, strategy: StrategySpec, prefer_local: bool) -> Self {
        Catalog {
            local_node_id,
            strategy,
            prefer_local,
            actions: HashMap::default(),
            events: Vec::new(),
            event_index: HashMap::default(),
        }
    }

    /// The list of an action; a new list balances with the strategy its first endpoint asks
    /// for, or the broker's.
    fn action_list(&mut self, name: &str, wanted: Option<&StrategySpec>) -> &mut ActionList {
        let strategy = wanted.unwrap_or(&self.strategy);
        self.actions
            .entry(name.to_owned())
            .or_insert_with(|| ActionList {
                endpoints: Vec::new(),
                strategy: strategy.build(),
            })
    }

    fn event_list(
        &mut self,
        pattern: &str,
        group: &str,
        wanted: Option<&StrategySpec>,
    ) -> &mut EventList {
        let key = (pattern.to_owned(), group.to_owned());
        let index = match self.event_index.get(&key) {
            Some(&i) => i,
            None => {
                self.events.push(EventList {
                    pattern: key.0.clone(),
                    group: key.1.clone(),
                    endpoints: Vec::new(),
                    strategy: wanted.unwrap_or(&self.strategy).build(),
                });
                let index = self.events.len() - 1;
                self.event_index.insert(key, index);
                index
            }
        };
        &mut self.events[index]
    }

    pub(crate) fn add_local_action(&mut self, action: Arc<LocalAction>) {
        let node_id = self.local_node_id.clone();
        let name = action.name.clone();
        let list = self.action_list(&name, action.strategy.as_ref());
        list.endpoints.push(ActionEndpoint {
            node_id,
            timeout: action.timeout,
            local: Some(action),
        });
    }

    pub(crate) fn add_local_event(&mut self, pattern: &str, group: &str, handler: Arc<LocalEvent>) {
        let node_id = self.local_node_id.clone();
        let wanted = handler.strategy.clone();
        self.event_list(pattern, group, wanted.as_ref())
            .endpoints
            .push(EventEndpoint {
                node_id,
                local: Some(handler),
            });
    }

    /// Registers a remote service from INFO. Protected and private actions are not callable
    /// from here, so they are not registered (as Moleculer does).
    pub(crate) fn add_remote_service(&mut self, node_id: &Arc<str>, service: &ServiceInfo) {
        for (key, action) in &service.actions {
            let name = action.get("name").and_then(Value::as_str).unwrap_or(key);
            let visibility = action
                .get("visibility")
                .and_then(Value::as_str)
                .and_then(Visibility::parse)
                .unwrap_or_default();
            if !visibility.is_remote_callable() {
                continue;
            }
            let timeout = duration_ms(action.get("timeout"));
            let wanted = declared_strategy(action);
            let list = self.action_list(name, wanted.as_ref());
            if !list.endpoints.iter().any(|e| &e.node_id == node_id) {
                list.endpoints.push(ActionEndpoint {
                    node_id: node_id.clone(),
                    local: None,
                    timeout,
                });
            }
        }
        for (key, event) in &service.events {
            let pattern = event.get("name").and_then(Value::as_str).unwrap_or(key);
            // The group defaults to the service name, not its full name.
            let group = event
                .get("group")
                .and_then(Value::as_str)
                .unwrap_or(&service.name);
            let wanted = declared_strategy(event);
            let list = self.event_list(pattern, group, wanted.as_ref());
            if !list.endpoints.iter().any(|e| &e.node_id == node_id) {
                list.endpoints.push(EventEndpoint {
                    node_id: node_id.clone(),
                    local: None,
                });
            }
        }
    }

    pub(crate) fn remove_node(&mut self, node_id: &str) {
        self.actions.retain(|_, list| {
            list.endpoints.retain(|e| &*e.node_id != node_id);
            !list.endpoints.is_empty()
        });
        let before = self.events.len();
        self.events.retain_mut(|list| {
            list.endpoints.retain(|e| &*e.node_id != node_id);
            !list.endpoints.is_empty()
        });
        if self.events.len() != before {
            self.event_index = self
                .events
                .iter()
                .enumerate()
                .map(|(i, l)| ((l.pattern.clone(), l.group.clone()), i))
                .collect();
        }
    }

    pub(crate) fn select_action(
        &self,
        action: &str,
        node_id: Option<&str>,
        nodes: &HashMap<String, Node>,
        request: &Request<'_>,
        admits: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<Target, Error> {
        let Some(list) = self.actions.get(action) else {
            return Err(Error::service_not_found(action, node_id));
        };
        let target = |e: &ActionEndpoint| match &e.local {
            Some(local) => Target::Local(local.clone()),
            None => Target::Remote {
                node_id: e.node_id.clone(),
                timeout: e.timeout,
            },
        };
        if let Some(wanted) = node_id {
            return list
                .endpoints
                .iter()
                .find(|e| &*e.node_id == wanted)
                .map(target)
                .ok_or_else(|| Error::service_not_found(action, Some(wanted)));
        }
        // Internal `$…` services always run locally when present locally.
        let prefer_local = self.prefer_local || action.starts_with('$');
        let Some(admits) = admits else {
            // No breakers: choose among the endpoints as they are, without collecting them.
            if prefer_local {
                if let Some(local) = list.endpoints.iter().find(|e| e.local.is_some()) {
                    return Ok(target(local));
                }
            }
            if list.endpoints.is_empty() {
                return Err(Error::service_not_available(action, None));
            }
            let i = pick(
                &*list.strategy,
                &list.endpoints,
                |e| &e.node_id,
                nodes,
                &self.local_node_id,
                request,
            );
            return Ok(target(&list.endpoints[i]));
        };
        // Endpoints whose circuit breaker is open are skipped.
        let available: Vec<&ActionEndpoint> = list
            .endpoints
            .iter()
            .filter(|e| admits(&e.node_id))
            .collect();
        if prefer_local {
            if let Some(local) = available.iter().find(|e| e.local.is_some()) {
                return Ok(target(local));
            }
        }
        if available.is_empty() {
            return Err(Error::service_not_available(action, None));
        }
        let i = pick(
            &*list.strategy,
            &available,
            |e| &e.node_id,
            nodes,
            &self.local_node_id,
            request,
        );
        Ok(target(available[i]))
    }

    pub(crate) fn local_action(&self, action: &str) -> Option<Arc<LocalAction>> {
        self.actions
            .get(action)?
            .endpoints
            .iter()
            .find_map(|e| e.local.clone())
    }

    /// What this node serves on the bus's balanced topics: its remote-callable actions, and
    /// its event handlers as (pattern, group).
    pub(crate) fn balanced_topics(&self) -> Vec<BalancedTopic> {
        let mut topics: Vec<BalancedTopic> = self
            .actions
            .iter()
            .filter(|(_, list)| {
                list.endpoints.iter().any(|e| {
                    e.local
                        .as_ref()
                        .is_some_and(|a| a.visibility.is_remote_callable())
                })
            })
            .map(|(name, _)| BalancedTopic::Request {
                action: name.clone(),
            })
            .collect();
        topics.sort_by_key(|t| t.channel(""));
        topics.extend(
            self.events
                .iter()
                .filter(|l| l.endpoints.iter().any(|e| e.local.is_some()))
                .map(|l| BalancedTopic::Event {
                    group: l.group.clone(),
                    event: l.pattern.clone(),
                }),
        );
        topics
    }

    /// The groups with a handler of `event` anywhere in the cluster, each once.
    pub(crate) fn event_groups(&self, event: &str) -> Vec<String> {
        let mut groups: Vec<String> = Vec::new();
        for list in self.matching_lists(event, None) {
            if !list.endpoints.is_empty() && !groups.contains(&list.group) {
                groups.push(list.group.clone());
            }
        }
        groups
    }

    fn matching_lists<'a>(
        &'a self,
        event: &'a str,
        groups: Option<&'a [String]>,
    ) -> impl Iterator<Item = &'a EventList> + 'a {
        self.events.iter().filter(move |l| {
            matches(&l.pattern, event)
                && match groups {
                    Some(groups) if !groups.is_empty() => groups.contains(&l.group),
                    _ => true,
                }
        })
    }

    pub(crate) fn event_targets(
        &self,
        event: &str,
        groups: Option<&[String]>,
        broadcast: bool,
        nodes: &HashMap<String, Node>,
        request: &Request<'_>,
    ) -> EventTargets {
        let mut targets = EventTargets::default();
        let mut add_remote = |node_id: &Arc<str>, group: &str| match targets
            .remote
            .iter_mut()
            .find(|(n, _)| n == node_id)
        {
            Some((_, gs)) => {
                if !gs.iter().any(|g| g == group) {
                    gs.push(group.to_owned());
                }
            }
            None => targets
                .remote
                .push((node_id.clone(), vec![group.to_owned()])),
        };
        let mut local = Vec::new();
        for list in self.matching_lists(event, groups) {
            if broadcast {
                for e in &list.endpoints {
                    match &e.local {
                        Some(handler) => local.push(handler.clone()),
                        None => add_remote(&e.node_id, &list.group),
                    }
                }
                continue;
            }
            let chosen = if self.prefer_local && list.endpoints.iter().any(|e| e.local.is_some()) {
                let locals: Vec<&EventEndpoint> = list
                    .endpoints
                    .iter()
                    .filter(|e| e.local.is_some())
                    .collect();
                let i = pick(
                    &*list.strategy,
                    &locals,
                    |e| &e.node_id,
                    nodes,
                    &self.local_node_id,
                    request,
                );
                locals[i]
            } else {
                let i = pick(
                    &*list.strategy,
                    &list.endpoints,
                    |e| &e.node_id,
                    nodes,
                    &self.local_node_id,
                    request,
                );
                &list.endpoints[i]
            };
            match &chosen.local {
                Some(handler) => local.push(handler.clone()),
                None => add_remote(&chosen.node_id, &list.group),
            }
        }
        targets.local = local;
        targets
    }

    pub(crate) fn local_event_handlers(
        &self,
        event: &str,
        groups: Option<&[String]>,
        broadcast: bool,
        request: &Request<'_>,
    ) -> Vec<Arc<LocalEvent>> {
        let mut out = Vec::new();
        for list in self.matching_lists(event, groups) {
            let locals: Vec<&Arc<LocalEvent>> = list
                .endpoints
                .iter()
                .filter_map(|e| e.local.as_ref())
                .collect();
            if locals.is_empty() {
                continue;
            }
            if broadcast {
                out.extend(locals.into_iter().cloned());
            } else {
                let candidates: Vec<Candidate<'_>> = locals
                    .iter()
                    .map(|_| Candidate {
                        node_id: &self.local_node_id,
                        local: true,
                        cpu: None,
                        latency: None,
                    })
                    .collect();
                let i = if locals.len() == 1 {
                    0
                } else {
                    list.strategy
                        .select(&candidates, request)
                        .min(locals.len() - 1)
                };
                out.push(locals[i].clone());
            }
        }
        out
    }

    /// Every action list: name, and per endpoint (node ID, whether local).
    pub(crate) fn action_names(&self) -> impl Iterator<Item = (&str, Vec<(&str, bool)>)> {
        self.actions.iter().map(|(name, list)| {
            (
                name.as_str(),
                list.endpoints
                    .iter()
                    .map(|e| (&*e.node_id, e.local.is_some()))
                    .collect(),
            )
        })
    }

    /// Every event list: pattern, group, and per endpoint (node ID, whether local).
    pub(crate) fn event_lists(&self) -> impl Iterator<Item = (&str, &str, Vec<(&str, bool)>)> {
        self.events.iter().map(|list| {
            (
                list.pattern.as_str(),
                list.group.as_str(),
                list.endpoints
                    .iter()
                    .map(|e| (&*e.node_id, e.local.is_some()))
                    .collect(),
            )
        })
    }
}
