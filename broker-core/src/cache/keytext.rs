//! The params key straight from the params' JSON text, without building a `Value` tree: the
//! path a cache hit takes for an action cached by all its params. Gives up (`None`) on what
//! needs a second look, an object with array-index keys (which JavaScript lists first), and
//! on text that is not JSON; the caller then uses [`KeyGen::key`](super::KeyGen::key).

use super::keygen::{array_index, js_double, KeyGen, KeyRules};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

impl KeyGen {
    /// The key of a call to `action` cached by all its params (no `keys`), from their JSON
    /// text; `None` when it needs the parsed params ([`KeyGen::key`]): array-index object
    /// keys, or text that is not JSON.
    pub fn key_from_text(&self, action: &str, params: &str) -> Option<String> {
        let mut out = String::with_capacity(action.len() + 1 + params.len());
        out.push_str(action);
        out.push(':');
        let start = out.len();
        let mut de = serde_json::Deserializer::from_str(params);
        Writer {
            out: &mut out,
            rules: self.rules,
        }
        .deserialize(&mut de)
        .ok()?;
        de.end().ok()?;
        if self.max_params_length.is_some() {
            let text = out.split_off(start);
            out.push_str(&self.hashed(text));
        }
        Some(out)
    }
}

/// Writes one value as Moleculer's `_generateKeyFromObject` prints it.
struct Writer<'a> {
    out: &'a mut String,
    rules: KeyRules,
}

impl<'de> DeserializeSeed<'de> for Writer<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Writer<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        if v.unsigned_abs() <= 1 << 53 {
            self.out.push_str(itoa(v.unsigned_abs(), v < 0).as_str());
        } else {
            self.out.push_str(&js_double(v as f64));
        }
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        if v <= 1 << 53 {
            self.out.push_str(itoa(v, false).as_str());
        } else {
            self.out.push_str(&js_double(v as f64));
        }
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.out.push_str(&js_double(v));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        match self.rules {
            KeyRules::V15 => {
                self.out.push('"');
                self.out.push_str(v);
                self.out.push('"');
            }
            KeyRules::V14 => self.out.push_str(v),
        }
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.push_str("null");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push('[');
        let mut first = true;
        loop {
            let len = self.out.len();
            if !first {
                self.out.push('|');
            }
            let item = Writer {
                out: &mut *self.out,
                rules: self.rules,
            };
            if seq.next_element_seed(item)?.is_none() {
                self.out.truncate(len);
                break;
            }
            first = false;
        }
        self.out.push(']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut first = true;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if array_index(&key).is_some() {
                return Err(de::Error::custom("array-index key: JavaScript reorders it"));
            }
            if !first {
                self.out.push('|');
            }
            first = false;
            self.out.push_str(&key);
            self.out.push('|');
            map.next_value_seed(Writer {
                out: &mut *self.out,
                rules: self.rules,
            })?;
        }
        Ok(())
    }
}

/// An object key, borrowed from the text when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

/// An integer in decimal, without a heap allocation.
fn itoa(n: u64, negative: bool) -> Small {
    let mut buf = [0u8; 21];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        buf[i] = b'-';
    }
    Small { buf, start: i }
}

struct Small {
    buf: [u8; 21],
    start: usize,
}

impl Small {
    fn as_str(&self) -> &str {
        // Only ASCII digits and '-' were written.
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or("0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::KeySource;
    use crate::packet::JsonMap;

    #[test]
    fn the_text_path_gives_the_value_paths_keys() {
        let cases = [
            r#"{"id": 5, "s": "x \" y", "n": null, "b": [true, false, [], {}], "o": {"k": {"q": 1.5}}}"#,
            r#"{"big": 12345678901234567890, "neg": -9007199254740993, "f": 1e21, "small": 1e-7, "z": -0}"#,
            r#"[1, "2", {"a": [null]}]"#,
            r#""text""#,
            r#"null"#,
            r#"{}"#,
            r#"{"uni": "żółw 🐢", "k\u00e9y": 1}"#,
        ];
        for rules in [KeyRules::V15, KeyRules::V14] {
            for max in [None, Some(50)] {
                let gen = KeyGen {
                    rules,
                    max_params_length: max,
                };
                for text in cases {
                    let value: serde_json::Value = serde_json::from_str(text).expect("json");
                    let empty = JsonMap::new();
                    let src = KeySource {
                        params: &value,
                        meta: &empty,
                        headers: &empty,
                    };
                    assert_eq!(
                        gen.key_from_text("a.b", text),
                        Some(gen.key("a.b", None, src)),
                        "{text} {rules:?} {max:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn index_keys_and_bad_text_give_up() {
        let gen = KeyGen::default();
        assert_eq!(gen.key_from_text("a", r#"{"b": 1, "2": 2}"#), None);
        assert_eq!(gen.key_from_text("a", "{"), None);
    }
}
