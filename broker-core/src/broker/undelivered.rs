//! Packets the transporter could not deliver ([`TransportEvent::Undelivered`]: lost with its
//! connection, or nobody listened on their topic): the call of a lost request fails at once
//! instead of waiting for its timeout, and every other loss leaves a log line naming what was
//! lost.
//!
//! [`TransportEvent::Undelivered`]: crate::transporter::TransportEvent::Undelivered

use super::Broker;
use crate::error::Error;
use crate::packet::{Packet, PacketType};
use serde_json::json;

impl Broker {
    pub(super) fn on_undelivered(
        &self,
        packet_type: PacketType,
        target: Option<&str>,
        payload: &[u8],
    ) {
        let target = target.unwrap_or("all nodes");
        let Some(transit) = &self.inner.transit else {
            return;
        };
        let packet = match transit.codec.decode(packet_type, payload) {
            Ok(packet) => packet,
            Err(err) => {
                tracing::warn!(packet = %packet_type, %target, %err, "a packet was not delivered");
                return;
            }
        };
        match packet {
            Packet::Request(req) => {
                let pending = self
                    .inner
                    .transit
                    .as_ref()
                    .and_then(|transit| transit.remove_pending(&req.id));
                // The failed call is the trace.
                tracing::debug!(
                    action = %req.action,
                    request_id = %req.id,
                    %target,
                    waiting = pending.is_some(),
                    "a REQ was not delivered; its call fails with BrokerDisconnectedError"
                );
                if let Some(pending) = pending {
                    let err = Error::broker_disconnected()
                        .with_data(json!({"action": req.action, "nodeID": target}));
                    let _ = pending.tx.send(Err(err));
                }
            }
            Packet::Event(event) => tracing::warn!(
                event = %event.event,
                %target,
                "an EVENT was not delivered"
            ),
            Packet::Response(res) => tracing::warn!(
                request_id = %res.id,
                %target,
                "a RES was not delivered; its caller will not get it"
            ),
            // INFO, DISCOVER, HEARTBEAT…: the node announces itself again after the reconnect.
            other => tracing::debug!(
                packet = %other.packet_type(),
                %target,
                "a packet was not delivered"
            ),
        }
    }
}
