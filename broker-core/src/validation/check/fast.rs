//! The quick pass: whether params surely pass, read straight from their JSON text, without
//! building a tree of them or writing any problem down.
//!
//! It only has to be right when it says "they pass": anything it does not follow (an `enum`
//! on an object, `multi`, `unique` lists, duplicate keys, params that are `null`…) or any
//! problem makes it answer "not sure", and the full check over the parsed params decides and
//! reports. Leaves go through the full check's own code (`Rule::check`, `check_text`), so both
//! agree on what a value is worth.

use super::{ArrayRule, Kind, ObjectRule, Path, Problem, Rule};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// Whether the params in `raw` surely pass `root`.
pub(super) fn passes(root: &Rule, raw: &str) -> bool {
    let mut de = serde_json::Deserializer::from_str(raw);
    Quick(root).deserialize(&mut de).is_ok() && de.end().is_ok()
}

/// Aborts the pass: not sure (a problem, or something the pass does not follow).
fn unsure<E: de::Error>() -> E {
    E::custom("not sure")
}

/// One value checked against one rule.
#[derive(Clone, Copy)]
struct Quick<'r>(&'r Rule);

impl Quick<'_> {
    /// A scalar through the full check's code.
    fn leaf<E: de::Error>(self, value: Value) -> Result<(), E> {
        let mut problems = Vec::new();
        self.0.check(Some(&value), &Path::Root, &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(unsure())
        }
    }
}

impl<'de> DeserializeSeed<'de> for Quick<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Quick<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.leaf(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.leaf(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.leaf(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.leaf(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        match &self.0.kind {
            Kind::Any => Ok(()),
            // The common case checks the text where it lies, with no copy.
            Kind::String(rule) => {
                let mut problems: Vec<Problem<'_>> = Vec::new();
                let problem = |kind, expected, actual| Problem {
                    kind,
                    rule: self.0,
                    field: None,
                    expected,
                    actual,
                };
                rule.check_text(v, &problem, &mut problems);
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(unsure())
                }
            }
            _ => self.leaf(Value::String(v.to_owned())),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.leaf(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.leaf(Value::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        match &self.0.kind {
            Kind::Any => {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(())
            }
            Kind::Object(object) => quick_object(object, map),
            _ => Err(unsure()),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        match &self.0.kind {
            Kind::Any => {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(())
            }
            Kind::Array(array) => quick_array(array, seq),
            _ => Err(unsure()),
        }
    }
}

fn quick_object<'de, A: MapAccess<'de>>(object: &ObjectRule, mut map: A) -> Result<(), A::Error> {
    let props: &[(String, Rule)] = object.props.as_deref().unwrap_or(&[]);
    if props.len() > 64 {
        return Err(unsure());
    }
    let mut seen = 0u64;
    let mut count = 0usize;
    while let Some(found) = map.next_key_seed(PropIndex(props))? {
        count += 1;
        match found {
            Some(i) => {
                let bit = 1u64 << i;
                if seen & bit != 0 {
                    // A repeated key: the last one wins in the parsed params; let them decide.
                    return Err(unsure());
                }
                seen |= bit;
                map.next_value_seed(Quick(&props[i].1))?;
            }
            None if object.strict && object.props.is_some() => return Err(unsure()),
            None => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    for (i, (_, rule)) in props.iter().enumerate() {
        if seen & (1u64 << i) == 0 {
            let mut problems = Vec::new();
            rule.check(None, &Path::Root, &mut problems);
            if !problems.is_empty() {
                return Err(unsure());
            }
        }
    }
    let count = count as f64;
    let below = |bound: &Option<Value>| {
        bound
            .as_ref()
            .is_some_and(|b| count < b.as_f64().unwrap_or(0.0))
    };
    let above = |bound: &Option<Value>| {
        bound
            .as_ref()
            .is_some_and(|b| count > b.as_f64().unwrap_or(f64::MAX))
    };
    if below(&object.min_props) || above(&object.max_props) {
        return Err(unsure());
    }
    Ok(())
}

fn quick_array<'de, A: SeqAccess<'de>>(array: &ArrayRule, mut seq: A) -> Result<(), A::Error> {
    if array.unique || array.contains.is_some() || array.one_of.is_some() {
        return Err(unsure());
    }
    let mut len = 0usize;
    match &array.items {
        Some(items) => {
            while seq.next_element_seed(Quick(items))?.is_some() {
                len += 1;
            }
        }
        None => {
            while seq.next_element::<IgnoredAny>()?.is_some() {
                len += 1;
            }
        }
    }
    let n = len as f64;
    let wrong = (array.empty == Some(false) && len == 0)
        || array
            .min
            .as_ref()
            .is_some_and(|m| n < m.as_f64().unwrap_or(0.0))
        || array
            .max
            .as_ref()
            .is_some_and(|m| n > m.as_f64().unwrap_or(f64::MAX))
        || array.length.as_ref().is_some_and(|l| l.as_f64() != Some(n));
    if wrong {
        Err(unsure())
    } else {
        Ok(())
    }
}

/// Reads an object key and finds it among the props, without copying it.
struct PropIndex<'p>(&'p [(String, Rule)]);

impl<'de> DeserializeSeed<'de> for PropIndex<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for PropIndex<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|(name, _)| name == key))
    }
}
