//! CBOR as npm `cbor-x` writes it with Moleculer's options (`useRecords: false`,
//! `useTag259ForMaps: false`): every object under a map header with a 16-bit count (cbor-x
//! reserves it before counting), integers up to 2^32 as integers and everything else (larger
//! integers too) as float 64, a Buffer as an untagged byte string.

use crate::buffer::{as_buffer, buffer_value, float_value, js_number, JsNumber};
use serde_json::{Map, Value};

pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write(&mut out, value);
    out
}

/// An object with one more key, `undefined_key`, written as CBOR `undefined` right after
/// the key `after`: cbor-x writes the keys JS left `undefined` (an EVENT's `groups` when
/// broadcast), which a JSON tree cannot hold.
pub(crate) fn encode_with_undefined(
    map: &Map<String, Value>,
    after: &str,
    undefined_key: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(0xb9);
    out.extend_from_slice(&((map.len() + 1) as u16).to_be_bytes());
    for (key, item) in map {
        head(&mut out, 3, key.len() as u64);
        out.extend_from_slice(key.as_bytes());
        write(&mut out, item);
        if key == after {
            head(&mut out, 3, undefined_key.len() as u64);
            out.extend_from_slice(undefined_key.as_bytes());
            out.push(0xf7);
        }
    }
    out
}

/// A major type and its argument, in the shortest form.
fn head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let major = major << 5;
    if arg < 0x18 {
        out.push(major | arg as u8);
    } else if arg < 0x100 {
        out.extend_from_slice(&[major | 0x18, arg as u8]);
    } else if arg < 0x10000 {
        out.push(major | 0x19);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg < 0x1_0000_0000 {
        out.push(major | 0x1a);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(major | 0x1b);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0xf6),
        Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Value::Number(n) => match js_number(n) {
            JsNumber::Int(i) if (0..=0xffff_ffff).contains(&i) => head(out, 0, i as u64),
            JsNumber::Int(i) if (-0x1_0000_0000..0).contains(&i) => {
                // cbor-x: int32 negatives in the shortest form, the rest of 32 bits in four bytes.
                if i >= -0x8000_0000 {
                    head(out, 1, (-1 - i) as u64);
                } else {
                    out.push(0x3a);
                    out.extend_from_slice(&((-1 - i) as u32).to_be_bytes());
                }
            }
            JsNumber::Int(i) => write_f64(out, i as f64),
            JsNumber::Float(f) => write_f64(out, f),
        },
        Value::String(s) => {
            head(out, 3, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            head(out, 4, items.len() as u64);
            for item in items {
                write(out, item);
            }
        }
        Value::Object(map) => match as_buffer(map) {
            Some(bytes) => {
                head(out, 2, bytes.len() as u64);
                out.extend_from_slice(&bytes);
            }
            None => {
                if map.len() < 0x10000 {
                    out.push(0xb9);
                    out.extend_from_slice(&(map.len() as u16).to_be_bytes());
                } else {
                    out.push(0xba);
                    out.extend_from_slice(&(map.len() as u32).to_be_bytes());
                }
                for (key, item) in map {
                    head(out, 3, key.len() as u64);
                    out.extend_from_slice(key.as_bytes());
                    write(out, item);
                }
            }
        },
    }
}

fn write_f64(out: &mut Vec<u8>, f: f64) {
    out.push(0xfb);
    out.extend_from_slice(&f.to_be_bytes());
}

/// Decodes one CBOR item; trailing bytes are an error. `undefined` inside a map drops the
/// key (as `JSON.stringify`), elsewhere it reads as `null`.
pub(crate) fn decode(bytes: &[u8]) -> Result<Value, String> {
    let mut reader = Reader { bytes, at: 0 };
    let value = reader.item(0)?.unwrap_or(Value::Null);
    if reader.at != bytes.len() {
        return Err(format!("{} bytes after the value", bytes.len() - reader.at));
    }
    Ok(value)
}

const MAX_DEPTH: usize = 256;
/// The "break" that ends an indefinite-length item.
const BREAK: u8 = 0xff;

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

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// The argument of a head whose low five bits are `info`; `None` for indefinite length.
    fn arg(&mut self, info: u8) -> Result<Option<u64>, String> {
        let n = match info {
            0..=0x17 => return Ok(Some(u64::from(info))),
            0x18 => 1,
            0x19 => 2,
            0x1a => 4,
            0x1b => 8,
            0x1f => return Ok(None),
            _ => return Err(format!("reserved additional info {info}")),
        };
        Ok(Some(
            self.take(n)?
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        ))
    }

    fn len(&mut self, info: u8) -> Result<Option<usize>, String> {
        match self.arg(info)? {
            None => Ok(None),
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|&n| n <= self.bytes.len())
                .map(Some)
                .ok_or_else(|| format!("a length of {n} in {} bytes", self.bytes.len())),
        }
    }

    /// One item; `Ok(None)` is `undefined`.
    fn item(&mut self, depth: usize) -> Result<Option<Value>, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deep".to_owned());
        }
        let byte = self.take(1)?[0];
        let (major, info) = (byte >> 5, byte & 0x1f);
        Ok(Some(match major {
            0 => match self.arg(info)? {
                Some(n) => Value::from(n),
                None => return Err("indefinite integer".to_owned()),
            },
            1 => match self.arg(info)? {
                Some(n) if n <= i64::MAX as u64 => Value::from(-1 - n as i64),
                Some(n) => float_value(-1.0 - n as f64),
                None => return Err("indefinite integer".to_owned()),
            },
            2 => buffer_value(&self.chunks(2, info)?),
            3 => {
                let bytes = self.chunks(3, info)?;
                Value::from(
                    String::from_utf8(bytes).map_err(|e| format!("a string is not UTF-8: {e}"))?,
                )
            }
            4 => {
                let mut items = Vec::new();
                match self.len(info)? {
                    Some(n) => {
                        for _ in 0..n {
                            items.push(self.item(depth + 1)?.unwrap_or(Value::Null));
                        }
                    }
                    None => {
                        while self.peek() != Some(BREAK) {
                            items.push(self.item(depth + 1)?.unwrap_or(Value::Null));
                        }
                        self.at += 1;
                    }
                }
                Value::Array(items)
            }
            5 => {
                let mut map = Map::new();
                let count = self.len(info)?;
                let mut read = 0;
                loop {
                    match count {
                        Some(n) if read == n => break,
                        None if self.peek() == Some(BREAK) => {
                            self.at += 1;
                            break;
                        }
                        _ => {}
                    }
                    let key = match self.item(depth + 1)?.unwrap_or(Value::Null) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    if let Some(value) = self.item(depth + 1)? {
                        map.insert(key, value);
                    }
                    read += 1;
                }
                Value::Object(map)
            }
            6 => {
                let tag = self.arg(info)?.ok_or("indefinite tag")?;
                let inner = self.item(depth + 1)?.unwrap_or(Value::Null);
                match (tag, inner) {
                    // A date as epoch seconds: the ISO string JSON would carry.
                    (1, Value::Number(n)) => {
                        let ms = (n.as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
                        Value::from(crate::date::iso_string(ms))
                    }
                    // Uint8Array (64), sets (258) and the rest: the tagged content itself.
                    (_, inner) => inner,
                }
            }
            _ => match info {
                20 => Value::Bool(false),
                21 => Value::Bool(true),
                22 => Value::Null,
                23 => return Ok(None),
                25 => {
                    let half = self.arg(info)?.unwrap_or(0) as u16;
                    float_value(half_to_f64(half))
                }
                26 => float_value(f64::from(f32::from_bits(
                    self.arg(info)?.unwrap_or(0) as u32
                ))),
                27 => float_value(f64::from_bits(self.arg(info)?.unwrap_or(0))),
                other => return Err(format!("unsupported simple value {other}")),
            },
        }))
    }

    /// The bytes of a (possibly chunked) byte or text string.
    fn chunks(&mut self, major: u8, info: u8) -> Result<Vec<u8>, String> {
        match self.len(info)? {
            Some(n) => Ok(self.take(n)?.to_vec()),
            None => {
                let mut all = Vec::new();
                while self.peek() != Some(BREAK) {
                    let byte = self.take(1)?[0];
                    if byte >> 5 != major {
                        return Err("a chunk of another type in a string".to_owned());
                    }
                    let n = self.len(byte & 0x1f)?.ok_or("a nested indefinite chunk")?;
                    all.extend_from_slice(self.take(n)?);
                }
                self.at += 1;
                Ok(all)
            }
        }
    }
}

fn half_to_f64(half: u16) -> f64 {
    let sign = if half & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((half >> 10) & 0x1f);
    let frac = f64::from(half & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
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
    fn shapes_follow_cbor_x() {
        assert_eq!(hex(&encode(&json!({"a": 1}))), "b90001616101");
        assert_eq!(hex(&encode(&json!(-1))), "20");
        assert_eq!(hex(&encode(&json!(-2147483649i64))), "3a80000000");
        assert_eq!(hex(&encode(&json!(4294967296u64))), "fb41f0000000000000");
        assert_eq!(hex(&encode(&json!(0.5))), "fb3fe0000000000000");
        assert_eq!(
            hex(&encode(&json!({"type": "Buffer", "data": [1, 2]}))),
            "420102"
        );
    }

    #[test]
    fn values_round_trip_and_bad_input_is_an_error() {
        let v = json!({"a": [1, -1, 300, -40000, 1.5, "x", null, true],
                       "b": {"type": "Buffer", "data": [0, 1, 2]},
                       "long": "y".repeat(300)});
        let bytes = encode(&v);
        assert_eq!(decode(&bytes).expect("decodes"), v);
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        // Indefinite array, undefined in a map, half float, tag 64.
        assert_eq!(decode(&[0x9f, 0x01, 0xff]).expect("indefinite"), json!([1]));
        assert_eq!(
            decode(&[0xa2, 0x61, 0x61, 0xf7, 0x61, 0x62, 0xf9, 0x3c, 0x00]).expect("map"),
            json!({"b": 1})
        );
        assert_eq!(
            decode(&[0xd8, 0x40, 0x41, 0x07]).expect("tagged bytes"),
            json!({"type": "Buffer", "data": [7]})
        );
        assert!(decode(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode(&[0x1c]).is_err());
    }
}
