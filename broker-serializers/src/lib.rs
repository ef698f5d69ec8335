//! Moleculer's serializers for `broker-core`, each behind a cargo feature and each writing
//! the bytes the npm package Moleculer.js uses writes, so a Rust node joins a cluster whatever
//! serializer it chose:
//!
//! | type | Moleculer name | npm package | feature |
//! | --- | --- | --- | --- |
//! | [`MsgPackSerializer`] | `MsgPack` | `msgpack5` | `msgpack` |
//! | [`NotepackSerializer`] | `Notepack` | `notepack.io` | `notepack` |
//! | [`CborSerializer`] | `CBOR` | `cbor-x` | `cbor` |
//!
//! Transit middlewares (`broker_core::transmit`), as Moleculer's `Middlewares.Transmit`:
//! [`Compression`] (feature `compression`) and [`Encryption`] (feature `encryption`).
//!
//! JSON, the default, is `broker_core::serializer::JsonSerializer`. Moleculer 0.14 and 0.15
//! encode the same packet object with these (no field is turned into a JSON string first), so
//! one type serves both protocol versions.
//!
//! Handlers see payloads as JSON whatever the serializer: a Node.js Buffer sent as bytes
//! arrives as `{"type": "Buffer", "data": [..]}`, as Moleculer's JSON serializer would give
//! it, and such an object is sent as bytes.
//!
//! ```
//! use broker_core::Broker;
//! use broker_serializers::MsgPackSerializer;
//!
//! let broker = Broker::builder().serializer(MsgPackSerializer).build();
//! assert_eq!(broker.config().serializer.name(), "MsgPack");
//! ```

#[cfg(any(feature = "msgpack", feature = "notepack", feature = "cbor"))]
mod buffer;
#[cfg(feature = "cbor")]
mod cbor;
#[cfg(feature = "compression")]
mod compression;
#[cfg(any(feature = "msgpack", feature = "notepack", feature = "cbor"))]
mod date;
#[cfg(feature = "encryption")]
mod encryption;
#[cfg(any(feature = "msgpack", feature = "notepack"))]
mod msgpack;

#[cfg(feature = "compression")]
pub use compression::{Compression, CompressionMethod};
#[cfg(feature = "encryption")]
pub use encryption::Encryption;

#[cfg(any(feature = "msgpack", feature = "notepack", feature = "cbor"))]
use broker_core::{
    packet::{DecodeError, Packet, PacketType},
    serializer::Serializer,
    Error,
};

/// Encodes a packet through its JSON tree with `encode`.
#[cfg(any(feature = "msgpack", feature = "notepack"))]
fn serialize_with(
    packet: &Packet,
    encode: impl FnOnce(&serde_json::Value) -> Vec<u8>,
) -> Result<Vec<u8>, Error> {
    Ok(encode(&packet.to_value()?))
}

/// Decodes a packet through its JSON tree with `decode`.
#[cfg(any(feature = "msgpack", feature = "notepack", feature = "cbor"))]
fn deserialize_with(
    packet_type: PacketType,
    bytes: &[u8],
    decode: impl FnOnce(&[u8]) -> Result<serde_json::Value, String>,
) -> Result<Packet, DecodeError> {
    let value = decode(bytes).map_err(|e| DecodeError::new(packet_type, e))?;
    Packet::from_value(packet_type, value)
}

/// Moleculer's `MsgPack` serializer: MessagePack as npm `msgpack5` writes it.
#[cfg(feature = "msgpack")]
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgPackSerializer;

#[cfg(feature = "msgpack")]
impl Serializer for MsgPackSerializer {
    fn name(&self) -> &'static str {
        "MsgPack"
    }

    fn serialize(&self, packet: &Packet) -> Result<Vec<u8>, Error> {
        serialize_with(packet, |v| msgpack::encode(v, msgpack::Flavor::MsgPack5))
    }

    fn deserialize(&self, packet_type: PacketType, bytes: &[u8]) -> Result<Packet, DecodeError> {
        deserialize_with(packet_type, bytes, msgpack::decode)
    }
}

/// Moleculer's `Notepack` serializer: MessagePack as npm `notepack.io` writes it.
#[cfg(feature = "notepack")]
#[derive(Debug, Clone, Copy, Default)]
pub struct NotepackSerializer;

#[cfg(feature = "notepack")]
impl Serializer for NotepackSerializer {
    fn name(&self) -> &'static str {
        "Notepack"
    }

    fn serialize(&self, packet: &Packet) -> Result<Vec<u8>, Error> {
        serialize_with(packet, |v| msgpack::encode(v, msgpack::Flavor::Notepack))
    }

    fn deserialize(&self, packet_type: PacketType, bytes: &[u8]) -> Result<Packet, DecodeError> {
        deserialize_with(packet_type, bytes, msgpack::decode)
    }
}

/// Moleculer's `CBOR` serializer: CBOR as npm `cbor-x` writes it with Moleculer's options.
#[cfg(feature = "cbor")]
#[derive(Debug, Clone, Copy, Default)]
pub struct CborSerializer;

#[cfg(feature = "cbor")]
impl Serializer for CborSerializer {
    fn name(&self) -> &'static str {
        "CBOR"
    }

    fn serialize(&self, packet: &Packet) -> Result<Vec<u8>, Error> {
        match (packet, packet.to_value()?) {
            // A broadcast's `groups` is `undefined` in JS, which cbor-x writes.
            (Packet::Event(event), serde_json::Value::Object(map))
                if event.groups.is_none() && map.len() < 0xffff =>
            {
                Ok(cbor::encode_with_undefined(&map, "data", "groups"))
            }
            (_, value) => Ok(cbor::encode(&value)),
        }
    }

    fn deserialize(&self, packet_type: PacketType, bytes: &[u8]) -> Result<Packet, DecodeError> {
        deserialize_with(packet_type, bytes, cbor::decode)
    }
}
