//! How packets become bytes on the bus, and back: Moleculer's `serializer` setting.
//!
//! JSON, the default, lives here and is the tuned path: payloads stay JSON text from the wire
//! to the handler (see [`crate::payload`]). Other formats (MsgPack, Notepack, CBOR, JSONExt)
//! live in the `broker-serializers` crate; they go through [`Packet::to_value`] and
//! [`Packet::from_value`], with Node.js Buffers as `{"type": "Buffer", "data": [..]}` objects
//! in the JSON the handlers see (the form Moleculer's JSON serializer gives them).
//!
//! ```
//! use broker_core::serializer::{JsonSerializer, Serializer};
//! use broker_core::Broker;
//!
//! let broker = Broker::builder().serializer(JsonSerializer).build();
//! assert_eq!(broker.config().serializer.name(), "JSON");
//! ```

use crate::error::Error;
use crate::packet::{DecodeError, Packet, PacketType};
use serde_json::Value;
use std::fmt;

/// Turns packets into bytes and back. Every node of a cluster must use the same one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a serializer",
    note = "use `JsonSerializer`, or one of the `broker-serializers` crate"
)]
pub trait Serializer: Send + Sync + fmt::Debug + 'static {
    /// The name Moleculer gives it (`JSON`, `MsgPack`, `Notepack`, `CBOR`, `JSONExt`).
    fn name(&self) -> &'static str;

    /// Encodes a packet (its type travels in the topic, not in the bytes).
    fn serialize(&self, packet: &Packet) -> Result<Vec<u8>, Error>;

    /// Decodes bytes received on a topic of `packet_type`.
    fn deserialize(&self, packet_type: PacketType, bytes: &[u8]) -> Result<Packet, DecodeError>;
}

/// Moleculer's default `JSON` serializer: `JSON.stringify` of the packet.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonSerializer;

impl Serializer for JsonSerializer {
    fn name(&self) -> &'static str {
        "JSON"
    }

    fn serialize(&self, packet: &Packet) -> Result<Vec<u8>, Error> {
        Ok(packet.encode())
    }

    fn deserialize(&self, packet_type: PacketType, bytes: &[u8]) -> Result<Packet, DecodeError> {
        Packet::decode(packet_type, bytes)
    }
}

impl Packet {
    /// The packet as a JSON tree, fields in Moleculer's order (what other serializers encode).
    pub fn to_value(&self) -> Result<Value, Error> {
        let value = match self {
            Packet::Event(p) => serde_json::to_value(p),
            Packet::Request(p) => serde_json::to_value(p),
            Packet::Response(p) => serde_json::to_value(p),
            Packet::Discover(p) | Packet::Disconnect(p) => serde_json::to_value(p),
            Packet::Info(p) => serde_json::to_value(p),
            Packet::Heartbeat(p) => serde_json::to_value(p),
            Packet::Ping(p) => serde_json::to_value(p),
            Packet::Pong(p) => serde_json::to_value(p),
        };
        value.map_err(Error::from)
    }

    /// A packet of `packet_type` from a JSON tree (what other serializers decode to).
    pub fn from_value(packet_type: PacketType, value: Value) -> Result<Packet, DecodeError> {
        let wrap = |source| DecodeError {
            packet_type,
            source,
        };
        use serde_json::from_value as from;
        Ok(match packet_type {
            PacketType::Event => Packet::Event(from(value).map_err(wrap)?),
            PacketType::Request => Packet::Request(from(value).map_err(wrap)?),
            PacketType::Response => Packet::Response(from(value).map_err(wrap)?),
            PacketType::Discover => Packet::Discover(from(value).map_err(wrap)?),
            PacketType::Info => Packet::Info(from(value).map_err(wrap)?),
            PacketType::Disconnect => Packet::Disconnect(from(value).map_err(wrap)?),
            PacketType::Heartbeat => Packet::Heartbeat(from(value).map_err(wrap)?),
            PacketType::Ping => Packet::Ping(from(value).map_err(wrap)?),
            PacketType::Pong => Packet::Pong(from(value).map_err(wrap)?),
        })
    }
}

impl DecodeError {
    /// A decode error with a message of the serializer's own.
    pub fn new(packet_type: PacketType, message: impl fmt::Display) -> DecodeError {
        DecodeError {
            packet_type,
            source: <serde_json::Error as serde::de::Error>::custom(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_goes_through_a_tree_and_back_with_its_payload_text() {
        let text = br#"{"id":"1","action":"math.add","params":{"a":1,"b":[2.5,"x"]},"meta":{},"timeout":0,"level":1,"tracing":null,"parentID":null,"requestID":"1","caller":null,"stream":false,"ver":"5","sender":"n1"}"#;
        let packet = JsonSerializer
            .deserialize(PacketType::Request, text)
            .expect("decodes");
        let value = packet.to_value().expect("to tree");
        assert_eq!(value["params"], json!({"a": 1, "b": [2.5, "x"]}));
        let back = Packet::from_value(PacketType::Request, value).expect("from tree");
        assert_eq!(JsonSerializer.serialize(&back).expect("encodes"), text);
        let err =
            Packet::from_value(PacketType::Request, json!({"id": 1})).expect_err("not a request");
        assert!(err.to_string().starts_with("invalid REQ packet"), "{err}");
        assert!(DecodeError::new(PacketType::Ping, "short")
            .to_string()
            .contains("short"));
    }
}
