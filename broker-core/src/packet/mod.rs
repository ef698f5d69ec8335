//! The Moleculer protocol packets (versions "4" and "5") and their JSON form.
//!
//! The packet type is not in the payload: it travels in the topic (the Redis channel name), so
//! decoding takes the [`PacketType`] from the transport and the bytes from the message. Field
//! names, optionality and order follow what Moleculer.js 0.14 and 0.15 put on the wire;
//! protocol "5" only adds `headers` to REQUEST, RESPONSE and EVENT.

pub(crate) mod lenient;

use crate::error::WireError;
use crate::payload::Payload;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// A JSON object (`meta`, `headers`, `settings`, …).
pub type JsonMap = Map<String, Value>;

/// The protocol version a broker speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProtocolVersion {
    /// `"4"`, as Moleculer.js 0.14 speaks it.
    V4,
    /// `"5"`, as Moleculer.js 0.15 (the current release) speaks it (adds `headers`); the default.
    #[default]
    V5,
}

impl ProtocolVersion {
    /// The `ver` string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V4 => "4",
            ProtocolVersion::V5 => "5",
        }
    }

    /// Parses `"4"` or `"5"`.
    pub fn parse(ver: &str) -> Option<ProtocolVersion> {
        match ver {
            "4" => Some(ProtocolVersion::V4),
            "5" => Some(ProtocolVersion::V5),
            _ => None,
        }
    }

    /// Whether REQUEST, RESPONSE and EVENT carry `headers`.
    pub fn has_headers(self) -> bool {
        self == ProtocolVersion::V5
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a packet, as named in topics (`REQ`, `RES`, `EVENT`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `EVENT`
    Event,
    /// `REQ`
    Request,
    /// `RES`
    Response,
    /// `DISCOVER`
    Discover,
    /// `INFO`
    Info,
    /// `DISCONNECT`
    Disconnect,
    /// `HEARTBEAT`
    Heartbeat,
    /// `PING`
    Ping,
    /// `PONG`
    Pong,
}

impl PacketType {
    /// Every packet type, in a fixed order.
    pub const ALL: [PacketType; 9] = [
        PacketType::Event,
        PacketType::Request,
        PacketType::Response,
        PacketType::Discover,
        PacketType::Info,
        PacketType::Disconnect,
        PacketType::Heartbeat,
        PacketType::Ping,
        PacketType::Pong,
    ];

    /// The name used in topics.
    pub fn as_str(self) -> &'static str {
        match self {
            PacketType::Event => "EVENT",
            PacketType::Request => "REQ",
            PacketType::Response => "RES",
            PacketType::Discover => "DISCOVER",
            PacketType::Info => "INFO",
            PacketType::Disconnect => "DISCONNECT",
            PacketType::Heartbeat => "HEARTBEAT",
            PacketType::Ping => "PING",
            PacketType::Pong => "PONG",
        }
    }

    /// Parses a topic name (`REQ`, `EVENT`, …).
    pub fn parse(name: &str) -> Option<PacketType> {
        PacketType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `DISCOVER` and `DISCONNECT` carry nothing but the common fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BarePacket {
    /// Protocol version.
    #[serde(default, deserialize_with = "lenient::string_or_null")]
    pub ver: String,
    /// Sending node (required: a packet without one is invalid).
    pub sender: String,
}

/// `INFO`: a node and its services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfoPacket {
    /// Local services; empty on stop.
    pub services: Vec<ServiceInfo>,
    /// IPv4 addresses of the node.
    #[serde(rename = "ipList", default)]
    pub ip_list: Vec<String>,
    /// Host name.
    #[serde(default, deserialize_with = "lenient::string_or_null")]
    pub hostname: String,
    /// Implementation info.
    #[serde(default)]
    pub client: ClientInfo,
    /// Always `{}` in Moleculer 0.15.
    #[serde(default, deserialize_with = "lenient::map_or_null")]
    pub config: JsonMap,
    /// Random ID of this broker process.
    #[serde(
        rename = "instanceID",
        default,
        deserialize_with = "lenient::string_or_null"
    )]
    pub instance_id: String,
    /// Node metadata.
    #[serde(default, deserialize_with = "lenient::map_or_null")]
    pub metadata: JsonMap,
    /// Revision of the service list; missing counts as 1.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub seq: Option<u64>,
    /// Protocol version.
    #[serde(default, deserialize_with = "lenient::string_or_null")]
    pub ver: String,
    /// Sending node (required: a packet without one is invalid).
    pub sender: String,
}

/// `INFO.client`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClientInfo {
    /// `nodejs`, `rust`, …
    #[serde(rename = "type", default, deserialize_with = "lenient::string_or_null")]
    pub client_type: String,
    /// Framework version.
    #[serde(default, deserialize_with = "lenient::string_or_null")]
    pub version: String,
    /// Language runtime version.
    #[serde(
        rename = "langVersion",
        default,
        deserialize_with = "lenient::string_or_null"
    )]
    pub lang_version: String,
}

/// One service in an INFO packet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Service name.
    pub name: String,
    /// Version: a number or a string; absent when unversioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Value>,
    /// `v2.posts`, `staging.posts` or `posts`.
    #[serde(rename = "fullName", default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// Public settings.
    #[serde(default, deserialize_with = "lenient::map_or_null")]
    pub settings: JsonMap,
    /// Service metadata.
    #[serde(default, deserialize_with = "lenient::map_or_null")]
    pub metadata: JsonMap,
    /// Full action name → definition.
    #[serde(default)]
    pub actions: Map<String, Value>,
    /// Event name (or pattern) → definition.
    #[serde(default)]
    pub events: Map<String, Value>,
}

/// `HEARTBEAT`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatPacket {
    /// CPU usage in percent; JS sends an integer.
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub cpu: Option<f64>,
    /// Not sent by 0.15; when present and different from the stored one, re-discover.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_u64"
    )]
    pub seq: Option<u64>,
    /// Not sent by 0.15's local discoverer.
    #[serde(
        rename = "instanceID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub instance_id: Option<String>,
    /// Protocol version.
    #[serde(default, deserialize_with = "lenient::string_or_null")]
    pub ver: String,
    /// Sending node (required: a packet without one is invalid).
    pub sender: String,
}

/// `REQ`: call one action on one node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestPacket {
    /// Context ID; the response carries it back.
    pub id: String,
    /// Full action name.
    pub action: String,
    /// Params, as JSON text.
    #[serde(default = "crate::payload::null_payload")]
    pub params: Payload,
    /// Context meta.
    #[serde(default, deserialize_with = "lenient::map_or_null")]
    pub meta: JsonMap,
    /// Per-call headers (protocol 5 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<JsonMap>,
    /// Remaining timeout budget in ms; 0 or `null` means none.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub timeout: Option<u64>,
    /// Call depth, 1 for a root call.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub level: Option<u64>,
    /// Tracing decision.
    #[serde(default)]
    pub tracing: Option<bool>,
    /// Parent context ID.
    #[serde(rename = "parentID", default)]
    pub parent_id: Option<String>,
    /// ID of the whole call chain.
    #[serde(rename = "requestID", default)]
    pub request_id: Option<String>,
    /// Full name of the calling service.
    #[serde(default)]
    pub caller: Option<String>,
    /// Stream packet flag.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Stream chunk number (stream packets only).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_u64"
    )]
    pub seq: Option<u64>,
    /// Protocol version.
    #[serde(default, deserialize_with = "lenient::string_or_null")]
    pub ver: String,
    /// Sending node (required: a packet without one is invalid).
    pub sender: String,
}

/// `RES`: the result of one request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponsePacket {
    /// The request's `id`.
    pub id: String,
    /// The callee's final meta; merged into the caller's.
    #[serde(default, deserialize_with = "lenient::map_or_null")]
    pub meta: JsonMap,
    /// Response headers (protocol 5 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<JsonMap>,
    /// Whether `data` holds the result.
    #[serde(default)]
    pub success: bool,
    /// The result, as JSON text; absent when a JS handler returned `undefined`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::present_payload"
    )]
    pub data: Option<Payload>,
    /// The error, when `success` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WireError>,
    /// Stream packet flag (stream responses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Stream chunk number.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_u64"
    )]
    pub seq: Option<u64>,
    /// Protocol version.
    #[serde(default, deserialize_with = "lenient::string_or_null")]
    pub ver: String,
    /// Sending node (required: a packet without one is invalid).
    pub sender: String,
}

/// `EVENT`: deliver an event to one node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventPacket {
    /// Context ID of this delivery.
    pub id: String,
    /// Event name as emitted.
    pub event: String,
    /// Payload, as JSON text.
    #[serde(default = "crate::payload::null_payload")]
    pub data: Payload,
    /// Groups the receiver must serve; absent for a plain broadcast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// `true` for broadcast, `false` for emit.
    #[serde(default)]
    pub broadcast: bool,
    /// Context meta.
    #[serde(default, deserialize_with = "lenient::map_or_null")]
    pub meta: JsonMap,
    /// Event headers (protocol 5 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<JsonMap>,
    /// Context level.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub level: Option<u64>,
    /// Tracing decision.
    #[serde(default)]
    pub tracing: Option<bool>,
    /// Parent context ID.
    #[serde(rename = "parentID", default)]
    pub parent_id: Option<String>,
    /// Chain ID.
    #[serde(rename = "requestID", default)]
    pub request_id: Option<String>,
    /// Emitting service full name.
    #[serde(default)]
    pub caller: Option<String>,
    /// Reserved; always `null`.
    #[serde(rename = "needAck", default)]
    pub need_ack: Option<Value>,
    /// Protocol version.
    #[serde(default, deserialize_with = "lenient::string_or_null")]
    pub ver: String,
    /// Sending node (required: a packet without one is invalid).
    pub sender: String,
}

/// `PING`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingPacket {
    /// Sender's clock, ms since the epoch.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub time: Option<i64>,
    /// Ping ID.
    #[serde(default, deserialize_with = "lenient::string_or_null")]
    pub id: String,
    /// Protocol version.
    #[serde(default, deserialize_with = "lenient::string_or_null")]
    pub ver: String,
    /// Sending node (required: a packet without one is invalid).
    pub sender: String,
}

/// `PONG`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PongPacket {
    /// Copied from the PING.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub time: Option<i64>,
    /// Copied from the PING.
    #[serde(default, deserialize_with = "lenient::string_or_null")]
    pub id: String,
    /// Responder's clock when the PING arrived.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub arrived: Option<i64>,
    /// Protocol version.
    #[serde(default, deserialize_with = "lenient::string_or_null")]
    pub ver: String,
    /// Sending node (required: a packet without one is invalid).
    pub sender: String,
}

/// Any packet of the protocol.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // packets are moved once from decode to dispatch
pub enum Packet {
    /// `EVENT`
    Event(EventPacket),
    /// `REQ`
    Request(RequestPacket),
    /// `RES`
    Response(ResponsePacket),
    /// `DISCOVER`
    Discover(BarePacket),
    /// `INFO`
    Info(InfoPacket),
    /// `DISCONNECT`
    Disconnect(BarePacket),
    /// `HEARTBEAT`
    Heartbeat(HeartbeatPacket),
    /// `PING`
    Ping(PingPacket),
    /// `PONG`
    Pong(PongPacket),
}

/// Deserializes a payload after one UTF-8 check of the whole of it: serde_json's reader of
/// byte slices checks every string it meets on its own, which costs more per packet (keys
/// included). Bytes that are not UTF-8 go to that reader, for its error and position.
fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// Why a payload could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("invalid {packet_type} packet: {source}")]
pub struct DecodeError {
    /// The type the topic named.
    pub packet_type: PacketType,
    /// What serde_json said.
    #[source]
    pub source: serde_json::Error,
}

impl Packet {
    /// Decodes a payload received on a topic of the given type.
    pub fn decode(packet_type: PacketType, bytes: &[u8]) -> Result<Packet, DecodeError> {
        let wrap = |source| DecodeError {
            packet_type,
            source,
        };
        Ok(match packet_type {
            PacketType::Event => Packet::Event(parse(bytes).map_err(wrap)?),
            PacketType::Request => Packet::Request(parse(bytes).map_err(wrap)?),
            PacketType::Response => Packet::Response(parse(bytes).map_err(wrap)?),
            PacketType::Discover => Packet::Discover(parse(bytes).map_err(wrap)?),
            PacketType::Info => Packet::Info(parse(bytes).map_err(wrap)?),
            PacketType::Disconnect => Packet::Disconnect(parse(bytes).map_err(wrap)?),
            PacketType::Heartbeat => Packet::Heartbeat(parse(bytes).map_err(wrap)?),
            PacketType::Ping => Packet::Ping(parse(bytes).map_err(wrap)?),
            PacketType::Pong => Packet::Pong(parse(bytes).map_err(wrap)?),
        })
    }

    /// Encodes the packet as JSON bytes.
    pub fn encode(&self) -> Vec<u8> {
        // Sized for the envelope plus the payload, so the buffer is not grown (and copied) on
        // the way: `to_vec` starts at 128 bytes, less than most packets.
        const ENVELOPE: usize = 320;
        let payload = match self {
            Packet::Event(p) => p.data.get().len(),
            Packet::Request(p) => p.params.get().len(),
            Packet::Response(p) => p.data.as_ref().map_or(0, |d| d.get().len()),
            Packet::Info(_) => 2048,
            _ => 0,
        };
        let mut out = Vec::with_capacity(ENVELOPE + payload);
        let result = match self {
            Packet::Event(p) => serde_json::to_writer(&mut out, p),
            Packet::Request(p) => serde_json::to_writer(&mut out, p),
            Packet::Response(p) => serde_json::to_writer(&mut out, p),
            Packet::Discover(p) | Packet::Disconnect(p) => serde_json::to_writer(&mut out, p),
            Packet::Info(p) => serde_json::to_writer(&mut out, p),
            Packet::Heartbeat(p) => serde_json::to_writer(&mut out, p),
            Packet::Ping(p) => serde_json::to_writer(&mut out, p),
            Packet::Pong(p) => serde_json::to_writer(&mut out, p),
        };
        // Serializing these structs cannot fail: every map key is a string and `Value` holds
        // no non-finite floats.
        match result {
            Ok(()) => out,
            Err(_) => Vec::new(),
        }
    }

    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Event(_) => PacketType::Event,
            Packet::Request(_) => PacketType::Request,
            Packet::Response(_) => PacketType::Response,
            Packet::Discover(_) => PacketType::Discover,
            Packet::Info(_) => PacketType::Info,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Heartbeat(_) => PacketType::Heartbeat,
            Packet::Ping(_) => PacketType::Ping,
            Packet::Pong(_) => PacketType::Pong,
        }
    }

    /// The sending node.
    pub fn sender(&self) -> &str {
        match self {
            Packet::Event(p) => &p.sender,
            Packet::Request(p) => &p.sender,
            Packet::Response(p) => &p.sender,
            Packet::Discover(p) | Packet::Disconnect(p) => &p.sender,
            Packet::Info(p) => &p.sender,
            Packet::Heartbeat(p) => &p.sender,
            Packet::Ping(p) => &p.sender,
            Packet::Pong(p) => &p.sender,
        }
    }

    /// The protocol version the sender wrote.
    pub fn ver(&self) -> &str {
        match self {
            Packet::Event(p) => &p.ver,
            Packet::Request(p) => &p.ver,
            Packet::Response(p) => &p.ver,
            Packet::Discover(p) | Packet::Disconnect(p) => &p.ver,
            Packet::Info(p) => &p.ver,
            Packet::Heartbeat(p) => &p.ver,
            Packet::Ping(p) => &p.ver,
            Packet::Pong(p) => &p.ver,
        }
    }
}

#[cfg(test)]
mod tests;
