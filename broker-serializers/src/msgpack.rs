//! MessagePack, as the two npm encoders Moleculer uses write it: `msgpack5` (its `MsgPack`
//! serializer) and `notepack.io` (its `Notepack`). Both encode the packet object itself; they
//! differ only in numbers: msgpack5 writes a fraction as float 32 when that is exact, an
//! integer beyond 2^53 as float 64, and (a quirk kept for byte equality) negative integers
//! from -2^31 to -214748365 as int 64; notepack writes every fraction as float 64.

use crate::buffer::{as_buffer, buffer_value, float_value, js_number, JsNumber};
use serde_json::{Map, Value};

/// Which npm encoder's choices to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `msgpack5`
    MsgPack5,
    /// `notepack.io`
    Notepack,
}

pub(crate) fn encode(value: &Value, flavor: Flavor) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write(&mut out, value, flavor);
    out
}

fn write(out: &mut Vec<u8>, value: &Value, flavor: Flavor) {
    match value {
        Value::Null => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => match js_number(n) {
            JsNumber::Int(i) => write_int(out, i, flavor),
            JsNumber::Float(f) => write_float(out, f, flavor),
        },
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            header(out, items.len(), 0x90, 0xdc);
            for item in items {
                write(out, item, flavor);
            }
        }
        Value::Object(map) => match as_buffer(map) {
            Some(bytes) => write_bin(out, &bytes),
            None => {
                header(out, map.len(), 0x80, 0xde);
                for (key, item) in map {
                    write_str(out, key);
                    write(out, item, flavor);
                }
            }
        },
    }
}

/// Array and map headers: fix form under 16, then 16- or 32-bit lengths.
fn header(out: &mut Vec<u8>, len: usize, fix: u8, wide16: u8) {
    if len < 16 {
        out.push(fix | len as u8);
    } else if len < 0x10000 {
        out.push(wide16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(wide16 + 1);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn write_bin(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len();
    if len <= 0xff {
        out.extend_from_slice(&[0xc4, len as u8]);
    } else if len <= 0xffff {
        out.push(0xc5);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xc6);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(bytes);
}

fn write_int(out: &mut Vec<u8>, i: i64, flavor: Flavor) {
    if i >= 0 {
        if i < 128 {
            out.push(i as u8);
        } else if i < 0x100 {
            out.extend_from_slice(&[0xcc, i as u8]);
        } else if i < 0x10000 {
            out.push(0xcd);
            out.extend_from_slice(&(i as u16).to_be_bytes());
        } else if i <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(i as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(i as u64).to_be_bytes());
        }
        return;
    }
    // msgpack5 compares with -214748365 (a digit short of -2^31); notepack with -2^31.
    let int32_floor = match flavor {
        Flavor::MsgPack5 => -214_748_364,
        Flavor::Notepack => -0x8000_0000,
    };
    if i >= -32 {
        out.push(i as i8 as u8);
    } else if i >= -128 {
        out.extend_from_slice(&[0xd0, i as i8 as u8]);
    } else if i >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= int32_floor {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

fn write_float(out: &mut Vec<u8>, f: f64, flavor: Flavor) {
    let narrow = f as f32;
    if flavor == Flavor::MsgPack5 && f.fract() != 0.0 && f64::from(narrow).to_bits() == f.to_bits()
    {
        out.push(0xca);
        out.extend_from_slice(&narrow.to_be_bytes());
    } else if flavor == Flavor::Notepack && f.fract() == 0.0 && f.is_finite() {
        // notepack writes any integral number as an integer, however large.
        if f >= 0.0 {
            out.push(0xcf);
            out.extend_from_slice(&(f as u64).to_be_bytes());
        } else {
            out.push(0xd3);
            out.extend_from_slice(&(f as i64).to_be_bytes());
        }
    } else {
        out.push(0xcb);
        out.extend_from_slice(&f.to_be_bytes());
    }
}

/// Decodes one MessagePack value; trailing bytes are an error.
pub(crate) fn decode(bytes: &[u8]) -> Result<Value, String> {
    let mut reader = Reader { bytes, at: 0 };
    let value = reader.value(0)?;
    if reader.at != bytes.len() {
        return Err(format!("{} bytes after the value", bytes.len() - reader.at));
    }
    Ok(value)
}

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 256;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| format!("truncated at byte {}", self.at))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn be(&mut self, n: usize) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deep".to_owned());
        }
        let tag = self.take(1)?[0];
        Ok(match tag {
            0x00..=0x7f => Value::from(tag),
            0x80..=0x8f => self.map(usize::from(tag & 0x0f), depth)?,
            0x90..=0x9f => self.array(usize::from(tag & 0x0f), depth)?,
            0xa0..=0xbf => self.string(usize::from(tag & 0x1f))?,
            0xc0 => Value::Null,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let len = self.be(1 << (tag - 0xc4))? as usize;
                buffer_value(self.take(len)?)
            }
            0xc7..=0xc9 => {
                let len = self.be(1 << (tag - 0xc7))? as usize;
                self.ext(len)?
            }
            0xca => float_value(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => float_value(f64::from_bits(self.be(8)?)),
            0xcc..=0xcf => Value::from(self.be(1 << (tag - 0xcc))?),
            0xd0 => Value::from(self.be(1)? as u8 as i8),
            0xd1 => Value::from(self.be(2)? as u16 as i16),
            0xd2 => Value::from(self.be(4)? as u32 as i32),
            0xd3 => Value::from(self.be(8)? as i64),
            0xd4..=0xd8 => self.ext(1 << (tag - 0xd4))?,
            0xd9..=0xdb => {
                let len = self.be(1 << (tag - 0xd9))? as usize;
                self.string(len)?
            }
            0xdc | 0xdd => {
                let len = self.be(2 << (tag - 0xdc))? as usize;
                self.array(len, depth)?
            }
            0xde | 0xdf => {
                let len = self.be(2 << (tag - 0xde))? as usize;
                self.map(len, depth)?
            }
            0xe0..=0xff => Value::from(tag as i8),
            0xc1 => return Err("reserved byte 0xc1".to_owned()),
        })
    }

    fn string(&mut self, len: usize) -> Result<Value, String> {
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(|s| Value::from(s.to_owned()))
            .map_err(|e| format!("a string is not UTF-8: {e}"))
    }

    fn array(&mut self, len: usize, depth: usize) -> Result<Value, String> {
        // Each element takes a byte at least: a length beyond the input is a lie.
        let mut items = Vec::with_capacity(len.min(self.bytes.len() - self.at));
        for _ in 0..len {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value, String> {
        let mut map = Map::new();
        for _ in 0..len {
            let key = match self.value(depth + 1)? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let value = self.value(depth + 1)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }

    /// Extension types: only the timestamp (-1), which both npm encoders write for a `Date`;
    /// it becomes the ISO string `JSON.stringify` gives a Date.
    fn ext(&mut self, len: usize) -> Result<Value, String> {
        let kind = self.take(1)?[0] as i8;
        let data = self.take(len)?;
        if kind != -1 {
            return Err(format!("unsupported extension type {kind}"));
        }
        let (secs, nanos) = match data.len() {
            4 => (
                i64::from(u32::from_be_bytes([data[0], data[1], data[2], data[3]])),
                0,
            ),
            8 => {
                let all = u64::from_be_bytes([
                    data[0], data[1], data[2], data[3], data[4], data[5], data[6], data[7],
                ]);
                ((all & 0x3_ffff_ffff) as i64, (all >> 34) as u32)
            }
            12 => {
                let nanos = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                let secs = i64::from_be_bytes([
                    data[4], data[5], data[6], data[7], data[8], data[9], data[10], data[11],
                ]);
                (secs, nanos)
            }
            n => return Err(format!("a timestamp of {n} bytes")),
        };
        Ok(Value::from(crate::date::iso_string(
            secs.saturating_mul(1000) + i64::from(nanos / 1_000_000),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn numbers_follow_each_npm_encoder() {
        // Values checked against msgpack5 6.1 and notepack.io 3.0 in node.
        let m = |v: Value| hex(&encode(&v, Flavor::MsgPack5));
        let n = |v: Value| hex(&encode(&v, Flavor::Notepack));
        assert_eq!(m(json!(0.5)), "ca3f000000");
        assert_eq!(n(json!(0.5)), "cb3fe0000000000000");
        assert_eq!(m(json!(0.1)), "cb3fb999999999999a");
        assert_eq!(m(json!(-214748365)), "d3fffffffff3333333");
        assert_eq!(n(json!(-214748365)), "d2f3333333");
        assert_eq!(m(json!(5.0)), "05");
        assert_eq!(m(json!(-33)), "d0df");
        assert_eq!(m(json!(4294967296u64)), "cf0000000100000000");
        assert_eq!(m(json!(9007199254740993u64)), "cb4340000000000000");
    }

    #[test]
    fn values_round_trip_and_bad_input_is_an_error() {
        let v = json!({"a": [1, -1, 300, -40000, 1.5, "x", null, true],
                       "b": {"type": "Buffer", "data": [0, 1, 2]},
                       "long": "y".repeat(300)});
        for flavor in [Flavor::MsgPack5, Flavor::Notepack] {
            let bytes = encode(&v, flavor);
            assert_eq!(decode(&bytes).expect("decodes"), v);
            assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        }
        assert!(decode(&[0x91, 0xc1]).is_err());
        assert!(decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode(&[0x01, 0x02]).is_err());
        assert_eq!(
            decode(&[0xd6, 0xff, 0, 0, 0, 1]).expect("a date"),
            json!("1970-01-01T00:00:01.000Z")
        );
    }
}
