//! Packet hot path: decoding and encoding a `REQ` with 22 B and 64 KB of params, the work every
//! remote call does twice on each side. Runs without any server: `cargo bench -p broker-bench`.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

// Shared with the bench program, of which only `make_payload` is used here.
#[allow(dead_code, unused_imports)]
#[path = "../src/payload.rs"]
mod payload;

use broker_core::packet::{Packet, PacketType};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use std::hint::black_box;

fn request_bytes(params: serde_json::Value) -> Vec<u8> {
    json!({
        "ver": "5",
        "sender": "bench-client-1",
        "id": "0f8c2a4e-5b1d-4c39-9a57-2f1e8d3c6b70",
        "action": "bench.echo",
        "params": params,
        "meta": {},
        "headers": {},
        "timeout": 10000,
        "level": 1,
        "tracing": null,
        "parentID": null,
        "requestID": "0f8c2a4e-5b1d-4c39-9a57-2f1e8d3c6b70",
        "caller": null,
        "stream": false
    })
    .to_string()
    .into_bytes()
}

fn packets(c: &mut Criterion) {
    let mut group = c.benchmark_group("packet");
    for (name, size) in [("req_22b", 0usize), ("req_64kb", 64 * 1024)] {
        let bytes = request_bytes(payload::make_payload(size));
        let packet = match Packet::decode(PacketType::Request, &bytes) {
            Ok(p) => p,
            Err(e) => panic!("the bench REQ does not decode: {e}"),
        };
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| Packet::decode(PacketType::Request, black_box(&bytes)))
        });
        group.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| black_box(&packet).encode())
        });
    }
    group.finish();
}

criterion_group!(benches, packets);
criterion_main!(benches);
