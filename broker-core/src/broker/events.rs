//! Events: `emit` (one handler per group), `broadcast` (every handler) and `broadcast_local`
//! (this node's handlers), and running local handlers.

use super::incoming::run_inline_first;
use super::Broker;
use crate::context::{Context, ContextInner, EmitOptions, EventInfo, EventType};
use crate::error::Error;
use crate::packet::{EventPacket, JsonMap, Packet};
use crate::payload::{Params, Payload};
use crate::registry::LocalEvent;
use crate::strategy::Request;
use crate::trace::CallTrace;
use crate::transporter::{Ack, BalancedTopic};
use crate::util::{generate_uid, CatchPanic};
use std::sync::{Arc, Mutex, OnceLock};

/// The identity an event delivery carries, shared by all its handlers.
#[derive(Clone)]
pub(crate) struct Delivery {
    pub(crate) id: Option<String>,
    pub(crate) event: EventInfo,
    pub(crate) data: Params,
    pub(crate) meta: JsonMap,
    pub(crate) headers: JsonMap,
    pub(crate) level: u32,
    pub(crate) request_id: Option<String>,
    pub(crate) parent_id: Option<String>,
    /// The emitter's sampling decision.
    pub(crate) tracing: Option<bool>,
    pub(crate) caller: Option<String>,
    /// The emitting node; `None` for this one.
    pub(crate) node_id: Option<String>,
    /// The bus's acknowledgement of the message that carried the event, if it wants one:
    /// shared by the handlers, sent when the last of them finished.
    pub(crate) ack: Option<Arc<Ack>>,
}

impl Broker {
    pub(crate) async fn emit_value(
        &self,
        event: &str,
        data: Payload,
        options: EmitOptions,
        kind: EventType,
        parent: Option<&Context>,
    ) -> Result<(), Error> {
        if self.refuses_work(parent.is_some()) {
            return Err(Error::broker_stopped_emit(event, self.node_id()));
        }
        self.emit_unchecked(event, data, options, kind, parent)
            .await
    }

    /// An emit even while stopping (for the tracing exporter's last batch).
    pub(crate) async fn emit_unchecked(
        &self,
        event: &str,
        data: Payload,
        options: EmitOptions,
        kind: EventType,
        parent: Option<&Context>,
    ) -> Result<(), Error> {
        if let Some(metrics) = self.inner.metrics.builtin() {
            metrics.event_sent(kind, event);
        }
        let mut meta = parent.map(Context::meta).unwrap_or_default();
        if let Some(extra) = options.meta {
            meta.extend(extra);
        }
        let level = parent.map_or(1, |p| p.level() + 1);
        let request_id = options
            .request_id
            .or_else(|| parent.map(|p| p.request_id().to_owned()))
            .unwrap_or_else(generate_uid);
        let parent_id = parent.map(Context::span_parent_id);
        let trace = CallTrace::of(parent);
        let caller = parent.and_then(|p| p.service().map(str::to_owned));

        let data = Params::from_payload(data);
        if kind == EventType::Emit {
            if let Some(transit) = self.inner.transit.as_ref().filter(|t| t.bus_balances) {
                // The bus balances: one EVENT per group on the group's balanced topic, each
                // taken by one node of the group (this one included), as Moleculer does.
                let groups = match options.groups {
                    Some(groups) if !groups.is_empty() => groups,
                    _ => self.inner.registry.event_groups(event),
                };
                let mut first_error = None;
                for group in groups {
                    let packet = Packet::Event(EventPacket {
                        id: generate_uid(),
                        event: event.to_owned(),
                        data: data.to_payload(),
                        groups: Some(vec![group.clone()]),
                        broadcast: false,
                        meta: meta.clone(),
                        headers: transit
                            .protocol
                            .has_headers()
                            .then(|| options.headers.clone().unwrap_or_default()),
                        level: Some(level.into()),
                        tracing: None,
                        parent_id: parent_id.clone(),
                        request_id: Some(request_id.clone()),
                        caller: caller.clone(),
                        need_ack: None,
                        ver: transit.ver(),
                        sender: self.node_id().to_owned(),
                    });
                    let topic = BalancedTopic::Event {
                        group,
                        event: event.to_owned(),
                    };
                    if let Err(err) = transit.publish_balanced(&packet, &topic) {
                        first_error.get_or_insert(err);
                    }
                }
                return first_error.map_or(Ok(()), Err);
            }
        }
        let request = Request {
            name: event,
            params: &data,
            meta: &meta,
        };
        let (local, remote) = match kind {
            EventType::BroadcastLocal => (
                self.inner
                    .registry
                    .local_event_handlers(event, None, true, &request),
                Vec::new(),
            ),
            EventType::Emit | EventType::Broadcast => {
                let targets = self.inner.registry.event_targets(
                    event,
                    options.groups.as_deref(),
                    kind == EventType::Broadcast,
                    &request,
                );
                (targets.local, targets.remote)
            }
        };

        let mut first_error = None;
        if let Some(transit) = &self.inner.transit {
            for (node_id, groups) in remote {
                let mut headers = transit
                    .protocol
                    .has_headers()
                    .then(|| options.headers.clone().unwrap_or_default());
                let mut meta = meta.clone();
                if self.inner.tracer.is_some() {
                    trace.inject(
                        &request_id,
                        parent_id.as_deref(),
                        headers.as_mut(),
                        &mut meta,
                    );
                }
                let packet = Packet::Event(EventPacket {
                    id: generate_uid(),
                    event: event.to_owned(),
                    data: data.to_payload(),
                    groups: match kind {
                        EventType::Emit => Some(groups),
                        _ => options.groups.clone(),
                    },
                    broadcast: kind == EventType::Broadcast,
                    meta,
                    headers,
                    level: Some(level.into()),
                    tracing: trace.sampled,
                    parent_id: parent_id.clone(),
                    request_id: Some(request_id.clone()),
                    caller: caller.clone(),
                    need_ack: None,
                    ver: transit.ver(),
                    sender: self.node_id().to_owned(),
                });
                if let Err(err) = transit.publish(&packet, Some(&node_id)) {
                    first_error.get_or_insert(err);
                }
            }
        }

        if !local.is_empty() {
            self.run_event_handlers(
                local,
                Delivery {
                    id: None,
                    event: EventInfo {
                        name: event.to_owned(),
                        event_type: kind,
                        groups: options.groups,
                    },
                    data,
                    meta,
                    headers: options.headers.unwrap_or_default(),
                    level,
                    request_id: Some(request_id),
                    parent_id,
                    tracing: trace.sampled,
                    caller,
                    node_id: None,
                    ack: None,
                },
                false,
            );
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Runs handlers concurrently: events are fire-and-forget, and a handler's error is only
    /// logged. With `inline` (the receive loop), each handler starts on the caller's task
    /// ([`run_inline_first`]); a local emit does not ask for that, since an emit from inside a
    /// handler would otherwise nest handlers on the stack.
    pub(crate) fn run_event_handlers(
        &self,
        handlers: Vec<Arc<LocalEvent>>,
        delivery: Delivery,
        inline: bool,
    ) {
        let count = handlers.len();
        let mut delivery = Some(delivery);
        for (i, handler) in handlers.into_iter().enumerate() {
            // The last handler takes the delivery; the others get copies.
            let Some(d) = (if i + 1 == count {
                delivery.take()
            } else {
                delivery.clone()
            }) else {
                break;
            };
            let ctx = Context::new(ContextInner {
                broker: self.clone(),
                id: d.id.map(OnceLock::from).unwrap_or_default(),
                request_id: d.request_id,
                parent_id: d.parent_id,
                level: d.level,
                caller: d.caller,
                node_id: d.node_id,
                params: d.data,
                meta: Mutex::new(d.meta),
                headers: d.headers,
                response_headers: Mutex::new(JsonMap::new()),
                action: None,
                service: Some(handler.service.clone()),
                event: Some(d.event),
                deadline: None,
                trace: crate::trace::TraceState::new(d.tracing),
                accepts_typed_reply: false,
                reply: Mutex::new(None),
                caller_keeps_handle: false,
            });
            let ack = d.ack;
            let run = CatchPanic::call(|| (handler.handler)(ctx.clone()), "event handler");
            let broker = self.clone();
            let work = async move {
                let _in_flight = broker.inner.in_flight.enter();
                // Released (and, by the last handler, sent) once this handler finished.
                let _ack = ack;
                log_failure(&ctx, &handler, run.await);
            };
            if inline {
                run_inline_first(work);
            } else {
                tokio::spawn(work);
            }
        }
    }
}

/// Events have no caller to return an error to, so the log is where a failure shows: the
/// event, the service, the node that sent it and the error, at `warn` (`error` for a panic).
fn log_failure(ctx: &Context, handler: &LocalEvent, result: Result<(), Error>) {
    let Err(err) = result else { return };
    let event = ctx.event_name().unwrap_or_default();
    let sender = ctx.node_id();
    let service = &handler.service;
    if err.error_type() == Some(crate::util::PANIC_TYPE) {
        tracing::error!(
            %event, %service, %sender,
            "handler of event '{event}' in service '{service}' (sent by '{sender}') failed: {err}"
        );
    } else {
        tracing::warn!(
            %event, %service, %sender,
            "handler of event '{event}' in service '{service}' (sent by '{sender}') failed: {err}"
        );
    }
}
