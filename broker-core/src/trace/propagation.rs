//! Trace context across the wire in W3C form (`traceparent`, `tracestate`), and the mapping of
//! Moleculer's IDs to W3C/OpenTelemetry IDs.
//!
//! Moleculer's IDs are strings, UUIDs by default; W3C and OTLP want a 16-byte trace ID and an
//! 8-byte span ID. The mapping, stable and easy to redo in any language:
//! - **trace ID** (16 bytes): a UUID's 16 bytes (its hex digits without dashes), or a 32-hex-digit
//!   ID's bytes as they are; any other string: `fnv1a64(s) ‖ fnv1a64("\x01" + s)`, big-endian.
//! - **span ID** (8 bytes): the first 8 bytes of a UUID or of a 32-hex-digit ID; a
//!   16-hex-digit ID's bytes; any other string: `fnv1a64(s)`, big-endian.
//!
//! So `traceparent` trace and parent IDs, read back as Moleculer IDs (32 and 16 hex digits),
//! map to themselves: a trace that enters from OpenTelemetry keeps its IDs through our nodes.
//! In JavaScript the UUID rule is `id.replace(/-/g, "")` for the trace ID and
//! `id.replace(/-/g, "").slice(0, 16)` for the span ID.

use crate::packet::JsonMap;
use serde_json::Value;

/// The `traceparent` header name.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` header name.
pub const TRACESTATE: &str = "tracestate";

fn fnv1a64(prefix: &[u8], s: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in prefix.iter().chain(s) {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The hex digits of `id` when it is a UUID (dashes at 8, 13, 18, 23) or plain hex of
/// `len` digits.
fn hex_digits(id: &str, len: usize) -> Option<Vec<u8>> {
    let plain: String = if id.len() == 36 && len == 32 {
        let b = id.as_bytes();
        if [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
            return None;
        }
        id.chars().filter(|c| *c != '-').collect()
    } else {
        id.to_owned()
    };
    if plain.len() != len || !plain.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..len / 2)
        .map(|i| u8::from_str_radix(&plain[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// The 16-byte trace ID of a Moleculer trace (request) ID.
pub fn trace_id_bytes(id: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    match hex_digits(id, 32) {
        Some(bytes) => out.copy_from_slice(&bytes),
        None => {
            out[..8].copy_from_slice(&fnv1a64(b"", id.as_bytes()).to_be_bytes());
            out[8..].copy_from_slice(&fnv1a64(b"\x01", id.as_bytes()).to_be_bytes());
        }
    }
    out
}

/// The 8-byte span ID of a Moleculer span (context) ID.
pub fn span_id_bytes(id: &str) -> [u8; 8] {
    let mut out = [0u8; 8];
    if let Some(bytes) = hex_digits(id, 16).or_else(|| hex_digits(id, 32)) {
        out.copy_from_slice(&bytes[..8]);
    } else {
        out.copy_from_slice(&fnv1a64(b"", id.as_bytes()).to_be_bytes());
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `traceparent` value (version 00) for a span of a trace.
pub fn traceparent(trace_id: &str, span_id: &str, sampled: bool) -> String {
    format!(
        "00-{}-{}-{}",
        hex(&trace_id_bytes(trace_id)),
        hex(&span_id_bytes(span_id)),
        if sampled { "01" } else { "00" }
    )
}

/// A parsed `traceparent`: trace ID (32 hex digits), parent span ID (16 hex digits), sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace ID, 32 lowercase hex digits.
    pub trace_id: String,
    /// The parent span ID, 16 lowercase hex digits.
    pub parent_id: String,
    /// The `sampled` flag.
    pub sampled: bool,
}

/// Parses a `traceparent` value; `None` when it is malformed or all-zero (as the W3C spec
/// says to ignore it).
pub fn parse_traceparent(value: &str) -> Option<TraceParent> {
    let mut parts = value.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?.to_ascii_lowercase();
    let parent_id = parts.next()?.to_ascii_lowercase();
    let flags = parts.next()?;
    if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    let flags = u8::from_str_radix(flags.get(..2)?, 16).ok()?;
    let valid = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
    };
    if !valid(&trace_id, 32) || !valid(&parent_id, 16) {
        return None;
    }
    Some(TraceParent {
        trace_id,
        parent_id,
        sampled: flags & 1 == 1,
    })
}

/// The `traceparent` (and `tracestate`) found in headers first, then in meta (protocol 4).
pub(crate) fn find(headers: &JsonMap, meta: &JsonMap) -> Option<(TraceParent, Option<String>)> {
    let from = |map: &JsonMap| {
        let parent = map.get(TRACEPARENT)?.as_str().and_then(parse_traceparent)?;
        let state = map
            .get(TRACESTATE)
            .and_then(Value::as_str)
            .map(str::to_owned);
        Some((parent, state))
    };
    from(headers).or_else(|| from(meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_map_to_their_bytes() {
        let id = "0af76519-16cd-43dd-8448-eb211c80319c";
        assert_eq!(hex(&trace_id_bytes(id)), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(hex(&span_id_bytes(id)), "0af7651916cd43dd");
    }

    #[test]
    fn w3c_ids_map_to_themselves() {
        let tp = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("valid");
        assert!(tp.sampled);
        assert_eq!(hex(&trace_id_bytes(&tp.trace_id)), tp.trace_id);
        assert_eq!(hex(&span_id_bytes(&tp.parent_id)), tp.parent_id);
        assert_eq!(
            traceparent(&tp.trace_id, &tp.parent_id, true),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }

    #[test]
    fn other_ids_hash_stably() {
        assert_eq!(trace_id_bytes("node-1-42"), trace_id_bytes("node-1-42"));
        assert_ne!(trace_id_bytes("node-1-42"), trace_id_bytes("node-1-43"));
        assert_ne!(span_id_bytes("a"), [0; 8]);
        // FNV-1a 64 of "a", the published test vector.
        assert_eq!(hex(&span_id_bytes("a")), "af63dc4c8601ec8c");
    }

    #[test]
    fn bad_traceparents_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-xbf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }
}
