//! Transit middlewares: what happens to a packet's bytes between the serializer and the bus,
//! as Moleculer's `transporterSend` / `transporterReceive` hooks (its `Transmit.Compression`
//! and `Transmit.Encryption` middlewares; implementations in `broker-serializers`).
//!
//! Order follows Moleculer: with middlewares `[A, B]` a packet is given to B, then A, then the
//! bus when sent, and to A, then B when received; so the first one is nearest the bus.

use crate::error::Error;
use crate::packet::{Packet, PacketType};
use crate::serializer::Serializer;
use std::fmt;
use std::sync::Arc;

/// A transformation of every packet's bytes, applied on send and undone on receive.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a transit middleware",
    note = "see the compression and encryption middlewares of `broker-serializers`"
)]
pub trait TransitMiddleware: Send + Sync + fmt::Debug + 'static {
    /// A short name for logs (`Compression`, `Encryption`).
    fn name(&self) -> &'static str;

    /// Transforms the bytes of an outgoing packet.
    fn outgoing(&self, bytes: Vec<u8>) -> Result<Vec<u8>, Error>;

    /// Undoes [`TransitMiddleware::outgoing`] on received bytes; an error drops the packet.
    fn incoming(&self, bytes: Vec<u8>) -> Result<Vec<u8>, Error>;
}

/// The serializer and the transit middlewares of one broker.
#[derive(Debug, Clone)]
pub(crate) struct Codec {
    pub(crate) serializer: Arc<dyn Serializer>,
    pub(crate) middlewares: Vec<Arc<dyn TransitMiddleware>>,
}

impl Codec {
    /// A packet as the bytes to publish.
    pub(crate) fn encode(&self, packet: &Packet) -> Result<Vec<u8>, Error> {
        let mut bytes = self.serializer.serialize(packet)?;
        for middleware in self.middlewares.iter().rev() {
            bytes = middleware.outgoing(bytes)?;
        }
        Ok(bytes)
    }

    /// Received bytes as a packet; the error says which step refused them.
    pub(crate) fn decode(&self, packet_type: PacketType, bytes: &[u8]) -> Result<Packet, String> {
        if self.middlewares.is_empty() {
            return self
                .serializer
                .deserialize(packet_type, bytes)
                .map_err(|e| e.to_string());
        }
        let mut owned = bytes.to_vec();
        for middleware in &self.middlewares {
            owned = middleware
                .incoming(owned)
                .map_err(|e| format!("{} middleware: {e}", middleware.name()))?;
        }
        self.serializer
            .deserialize(packet_type, &owned)
            .map_err(|e| e.to_string())
    }
}
