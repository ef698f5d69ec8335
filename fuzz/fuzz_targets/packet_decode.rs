//! Packet decoding: any bytes on a topic of any type. Decoding must not panic, and what it
//! accepts must encode to bytes that decode again to the same encoding (no packet the node
//! takes in turns into one it cannot send on).
#![no_main]

use broker_core::packet::{Packet, PacketType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let packet_type = PacketType::ALL[usize::from(selector) % PacketType::ALL.len()];
    let Ok(packet) = Packet::decode(packet_type, bytes) else {
        return;
    };
    let _ = (packet.sender(), packet.ver(), packet.packet_type());
    let encoded = packet.encode();
    assert!(!encoded.is_empty(), "a decoded packet encodes");
    let again = match Packet::decode(packet_type, &encoded) {
        Ok(again) => again,
        Err(err) => panic!("re-decoding our own encoding failed: {err}"),
    };
    assert_eq!(again.encode(), encoded, "encoding is stable");
});
