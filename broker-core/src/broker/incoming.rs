//! The receive path: every payload from the transporter is size-checked, decoded,
//! version-checked and dispatched. A bad packet is logged and dropped; it never stops the loop.

use super::events::Delivery;
use super::{Broker, BrokerInner};
use crate::context::{Context, ContextInner, EventInfo, EventType};
use crate::error::Error;
use crate::packet::{
    BarePacket, EventPacket, InfoPacket, JsonMap, Packet, PacketType, PingPacket, PongPacket,
    RequestPacket, ResponsePacket,
};
use crate::payload::{Params, Payload};
use crate::registry::{HeartbeatOutcome, InfoOutcome};
use crate::strategy::Request;
use crate::transit::Transit;
use crate::transporter::{Ack, TransportEvent, TransportEvents};
use crate::util::now_ms;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;
use tokio::time::Instant;

pub(super) async fn run(weak: Weak<BrokerInner>, mut events: TransportEvents) {
    while let Some(event) = events.recv().await {
        let Some(inner) = weak.upgrade() else { return };
        let broker = Broker { inner };
        match event {
            TransportEvent::Message {
                packet_type,
                payload,
            } => broker.handle_message(packet_type, &payload, None),
            TransportEvent::MessageWithAck {
                packet_type,
                payload,
                ack,
            } => broker.handle_message(packet_type, &payload, Some(ack)),
            TransportEvent::Disconnected => {
                tracing::warn!(node_id = %broker.node_id(), "transporter disconnected; calls fail fast until it is back");
            }
            TransportEvent::Reconnected => {
                tracing::info!(node_id = %broker.node_id(), "transporter reconnected; announcing this node again");
                broker.reannounce();
            }
            TransportEvent::Undelivered {
                packet_type,
                target,
                payload,
            } => broker.on_undelivered(packet_type, target.as_deref(), &payload),
        }
    }
}

impl Broker {
    /// Decodes and dispatches one packet. `ack`, if any, is held until the packet is handled
    /// (a request until its response is published, an event until its handlers finished);
    /// every other path drops it at once, which acknowledges the message.
    fn handle_message(&self, packet_type: PacketType, payload: &[u8], ack: Option<Ack>) {
        if let Some(metrics) = self.inner.metrics.builtin() {
            metrics.received(packet_type, payload.len());
        }
        let max = self.inner.config.max_packet_size;
        if payload.len() > max {
            tracing::warn!(
                packet = %packet_type,
                size = payload.len(),
                max,
                "oversized packet dropped"
            );
            return;
        }
        let Some(transit) = &self.inner.transit else {
            return;
        };
        let packet = match transit.codec.decode(packet_type, payload) {
            Ok(packet) => packet,
            Err(err) => {
                let preview = String::from_utf8_lossy(&payload[..payload.len().min(120)]);
                tracing::warn!(%err, payload = %preview, "malformed packet dropped");
                return;
            }
        };
        if !self.inner.config.disable_version_check && packet.ver() != transit.protocol.as_str() {
            let leaving = matches!(packet, Packet::Disconnect(_));
            transit.other_version_seen(packet.sender(), packet.ver(), leaving);
            return;
        }
        let sender = packet.sender();
        if sender.is_empty() {
            tracing::warn!(packet = %packet_type, "packet without sender dropped");
            return;
        }
        if sender == self.node_id() {
            match &packet {
                Packet::Info(info) if info.instance_id != self.inner.instance_id => {
                    tracing::error!(
                        node_id = %self.node_id(),
                        other_instance = %info.instance_id,
                        "another process uses this node ID; node IDs must be unique (packet dropped)"
                    );
                    return;
                }
                Packet::Event(_) | Packet::Request(_) | Packet::Response(_) => {}
                _ => return,
            }
        }
        match packet {
            // Moleculer 0.15 stream packets: the chunks and the end marker of a request
            // stream share the first packet's id. Streams are not served yet: the first packet
            // is answered with an error, the rest dropped, so the action never runs per chunk.
            Packet::Request(req) if req.seq.is_some_and(|seq| seq > 0) => {
                tracing::debug!(request_id = %req.id, seq = ?req.seq, "request stream chunk dropped");
            }
            Packet::Request(req) => {
                let broker = self.clone();
                run_inline_first(async move { broker.serve_request(req, ack).await });
            }
            Packet::Response(res) => transit.resolve(res),
            Packet::Event(event) => self.deliver_event(event, ack),
            Packet::Discover(discover) => {
                if let Some(info) = self.info_packet(None) {
                    transit.publish_quietly(&info, Some(&discover.sender));
                }
            }
            Packet::Info(info) => self.on_info(info),
            Packet::Disconnect(bye) => {
                let broker = self.clone();
                tokio::spawn(async move { broker.node_gone(&bye.sender, false).await });
            }
            Packet::Heartbeat(hb) => {
                if self.inner.registry.process_heartbeat(&hb) == HeartbeatOutcome::Rediscover {
                    let discover = Packet::Discover(BarePacket {
                        ver: transit.ver(),
                        sender: self.node_id().to_owned(),
                    });
                    transit.publish_quietly(&discover, Some(&hb.sender));
                }
            }
            Packet::Ping(ping) => self.answer_ping(ping),
            Packet::Pong(pong) => transit.resolve_pong(pong),
        }
    }

    fn answer_ping(&self, ping: PingPacket) {
        let Some(transit) = &self.inner.transit else {
            return;
        };
        let pong = Packet::Pong(PongPacket {
            time: ping.time,
            id: ping.id,
            arrived: Some(now_ms()),
            ver: transit.ver(),
            sender: self.node_id().to_owned(),
        });
        transit.publish_quietly(&pong, Some(&ping.sender));
    }

    fn on_info(&self, info: InfoPacket) {
        let sender = info.sender.clone();
        let outcome = self.inner.registry.process_info(info);
        let node = self
            .inner
            .registry
            .read()
            .nodes
            .get(&sender)
            .map(|n| n.to_list_entry(false))
            .unwrap_or(Value::Null);
        let broker = self.clone();
        tokio::spawn(async move {
            let (event, payload) = match outcome {
                InfoOutcome::Connected => {
                    tracing::info!(node = %sender, "node '{sender}' joined");
                    (
                        "$node.connected",
                        json!({"node": node, "reconnected": false}),
                    )
                }
                InfoOutcome::Reconnected => {
                    tracing::info!(node = %sender, "node '{sender}' is back");
                    (
                        "$node.connected",
                        json!({"node": node, "reconnected": true}),
                    )
                }
                InfoOutcome::Updated => ("$node.updated", json!({ "node": node })),
            };
            let _ = broker.broadcast_local(event, payload).await;
            let _ = broker
                .broadcast_local("$services.changed", json!({"localService": false}))
                .await;
        });
    }

    /// A node left (DISCONNECT) or stopped answering (heartbeat timeout): forget its
    /// endpoints and fail the calls waiting on it at once.
    pub(crate) async fn node_gone(&self, node_id: &str, unexpected: bool) {
        let Some(node) = self.inner.registry.node_offline(node_id) else {
            return;
        };
        if let Some(transit) = &self.inner.transit {
            transit.reject_node(node_id);
        }
        if unexpected {
            tracing::warn!(
                node = %node_id,
                "node '{node_id}' lost: no heartbeat for {:.1} s",
                self.inner.config.heartbeat_timeout.as_secs_f64()
            );
        } else {
            tracing::info!(node = %node_id, "node '{node_id}' left (DISCONNECT)");
        }
        let payload = json!({"node": node.to_list_entry(false), "unexpected": unexpected});
        let _ = self.broadcast_local("$node.disconnected", payload).await;
        let _ = self
            .broadcast_local("$services.changed", json!({"localService": false}))
            .await;
    }

    /// After a reconnect: ask everyone for INFO again and tell them about us.
    fn reannounce(&self) {
        let Some(transit) = &self.inner.transit else {
            return;
        };
        let discover = Packet::Discover(BarePacket {
            ver: transit.ver(),
            sender: self.node_id().to_owned(),
        });
        transit.publish_quietly(&discover, None);
        if self.is_running() {
            if let Some(info) = self.info_packet(None) {
                transit.publish_quietly(&info, None);
            }
        }
    }

    async fn serve_request(&self, req: RequestPacket, ack: Option<Ack>) {
        // Dropped when this returns, after the response is published: a bus that redelivers
        // unacknowledged requests hands this one to another node if this one dies first.
        let _ack = ack;
        let Some(transit) = &self.inner.transit else {
            return;
        };
        // Held until the response is published, so a graceful stop waits for the reply to
        // leave, not only for the handler to return.
        let _in_flight = self.inner.in_flight.enter();
        let me = self.node_id();
        let refusal = if !self.inner.accepting.load(Ordering::Acquire) {
            Some(Error::service_not_available(&req.action, Some(me)))
        } else if req.stream == Some(true) {
            Some(stream_not_supported(&req.action, me))
        } else {
            None
        };
        let action = match refusal {
            Some(_) => None,
            None => self
                .inner
                .registry
                .local_action(&req.action)
                .filter(|a| a.visibility.is_remote_callable()),
        };
        let Some(action) = action else {
            let err = refusal.unwrap_or_else(|| Error::service_not_found(&req.action, Some(me)));
            let reply = Reply {
                id: req.id,
                caller: &req.sender,
                action: &req.action,
            };
            self.reply(transit, reply, Err((err, req.meta)));
            return;
        };
        let timeout = req.timeout.filter(|t| *t > 0).map(Duration::from_millis);
        let headers = req.headers.unwrap_or_default();
        let (mut request_id, mut parent_id) = (req.request_id, req.parent_id);
        let trace = crate::trace::incoming(
            self.inner.tracer.is_some(),
            &headers,
            &req.meta,
            &mut request_id,
            &mut parent_id,
            req.tracing,
        );
        let ctx = Context::new(ContextInner {
            broker: self.clone(),
            id: OnceLock::from(req.id),
            request_id,
            parent_id,
            level: req.level.map_or(1, |l| l.min(u32::MAX as u64) as u32),
            caller: req.caller,
            node_id: Some(req.sender),
            params: Params::from_payload(req.params),
            meta: Mutex::new(req.meta),
            headers,
            response_headers: Mutex::new(JsonMap::new()),
            action: Some(action.name.clone()),
            service: Some(action.service.clone()),
            event: None,
            deadline: timeout.map(|t| Instant::now() + t),
            trace,
            accepts_typed_reply: false,
            reply: Mutex::new(None),
            caller_keeps_handle: true,
        });
        let result = self.run_action(&action, ctx.clone()).await;
        // A handler rarely keeps its context: then the reply takes its parts back, uncopied.
        let (id, caller, meta, headers) = match Arc::try_unwrap(ctx.0) {
            Ok(inner) => (
                inner.id.into_inner().unwrap_or_default(),
                inner.node_id.unwrap_or_default(),
                inner
                    .meta
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner),
                inner
                    .response_headers
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner),
            ),
            Err(shared) => {
                let ctx = Context(shared);
                (
                    ctx.id().to_owned(),
                    ctx.node_id().to_owned(),
                    ctx.take_meta(),
                    ctx.take_response_headers(),
                )
            }
        };
        let reply = Reply {
            id,
            caller: &caller,
            action: &action.name,
        };
        let outcome = match result {
            Ok(data) => Ok((data, meta, headers)),
            Err(err) => Err((err, meta)),
        };
        self.reply(transit, reply, outcome);
    }

    /// Publishes the RES of a request: its data, meta and response headers, or its error.
    fn reply(&self, transit: &Transit, to: Reply<'_>, outcome: Outcome) {
        let me = self.node_id();
        let with_headers = transit.protocol.has_headers();
        let response = match outcome {
            Ok((data, meta, headers)) => ResponsePacket {
                id: to.id,
                meta,
                headers: with_headers.then_some(headers),
                success: true,
                data: Some(data),
                error: None,
                stream: None,
                seq: None,
                ver: transit.ver(),
                sender: me.to_owned(),
            },
            Err((err, meta)) => {
                tracing::debug!(action = %to.action, %err, "request failed");
                ResponsePacket {
                    id: to.id,
                    meta,
                    headers: with_headers.then(JsonMap::new),
                    success: false,
                    data: None,
                    error: Some(err.to_wire(me)),
                    stream: None,
                    seq: None,
                    ver: transit.ver(),
                    sender: me.to_owned(),
                }
            }
        };
        transit.publish_quietly(&Packet::Response(response), Some(to.caller));
    }

    fn deliver_event(&self, event: EventPacket, ack: Option<Ack>) {
        if !self.inner.accepting.load(Ordering::Acquire) {
            return;
        }
        let data = Params::from_payload(event.data);
        let request = Request {
            name: &event.event,
            params: &data,
            meta: &event.meta,
        };
        let handlers = self.inner.registry.local_event_handlers(
            &event.event,
            event.groups.as_deref(),
            event.broadcast,
            &request,
        );
        if handlers.is_empty() {
            return;
        }
        self.run_event_handlers(
            handlers,
            Delivery {
                id: Some(event.id),
                event: EventInfo {
                    name: event.event,
                    event_type: if event.broadcast {
                        EventType::Broadcast
                    } else {
                        EventType::Emit
                    },
                    groups: event.groups,
                },
                data,
                meta: event.meta,
                headers: event.headers.unwrap_or_default(),
                level: event.level.map_or(1, |l| l.min(u32::MAX as u64) as u32),
                request_id: event.request_id,
                parent_id: event.parent_id,
                // As Moleculer: an event without the flag is not sampled.
                tracing: Some(event.tracing.unwrap_or(false)),
                caller: event.caller,
                node_id: Some(event.sender),
                ack: ack.map(Arc::new),
            },
            true,
        );
    }
}

/// Runs an event handler, or a request with its reply, on the receive loop until it first has
/// to wait, and only then gives it a task of its own: a handler that finishes at once (most
/// do) costs no task and no hop between threads, and the request stays on the thread that
/// decoded it. As in Moleculer.js, a handler hogging the CPU before its first await holds up
/// the packets behind it.
pub(crate) fn run_inline_first(work: impl Future<Output = ()> + Send + 'static) {
    let mut work = Box::pin(work);
    // A waker that does nothing is enough: pending work is spawned below, and the task's first
    // poll registers the real waker.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    if work.as_mut().poll(&mut cx).is_pending() {
        tokio::spawn(work);
    }
}

/// Where a RES goes: the request's ID, the node that sent it, and the action (for the log).
struct Reply<'a> {
    id: String,
    caller: &'a str,
    action: &'a str,
}

/// A request's outcome: the result with the meta and response headers, or the error with the
/// meta.
type Outcome = Result<(Payload, JsonMap, JsonMap), (Error, JsonMap)>;

/// The answer to a streamed request: this node does not take request streams yet.
fn stream_not_supported(action: &str, node_id: &str) -> Error {
    Error::server(
        format!("Action '{action}' cannot take a streamed request: streams are not supported by this node yet."),
        501,
        "STREAM_NOT_SUPPORTED",
    )
    .with_data(serde_json::json!({"action": action, "nodeID": node_id}))
    .with_retryable(false)
}
