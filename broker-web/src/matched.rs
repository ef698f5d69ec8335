//! The params a request path matched: names borrowed from the alias, values from the path
//! (copied only when a segment needed decoding). They serialize straight to the JSON text
//! the action gets, with no map in between for the usual request that has nothing else.

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// One param's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathValue<'p> {
    /// `:name`, `:name?` and `*wildcard`: a string.
    One(Cow<'p, str>),
    /// `:name*` and `:name+`: an array of segments.
    Many(Vec<Cow<'p, str>>),
}

impl PathValue<'_> {
    fn to_value(&self) -> Value {
        match self {
            PathValue::One(s) => Value::String(s.as_ref().to_owned()),
            PathValue::Many(items) => items
                .iter()
                .map(|s| Value::String(s.as_ref().to_owned()))
                .collect(),
        }
    }
}

impl Serialize for PathValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PathValue::One(v) => s.serialize_str(v),
            PathValue::Many(items) => s.collect_seq(items.iter().map(AsRef::<str>::as_ref)),
        }
    }
}

/// The params in the order matched. A name given twice keeps its last value (the one a map
/// built by inserting them in this order would keep).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PathParams<'a, 'p>(Vec<(&'a str, PathValue<'p>)>);

impl<'a, 'p> PathParams<'a, 'p> {
    pub(crate) fn push(&mut self, name: &'a str, value: PathValue<'p>) {
        self.0.push((name, value));
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    pub(crate) fn reverse_from(&mut self, start: usize) {
        if let Some(tail) = self.0.get_mut(start..) {
            tail.reverse();
        }
    }

    /// The entries that count: each name's last value.
    fn effective(&self) -> impl Iterator<Item = &(&'a str, PathValue<'p>)> {
        self.0
            .iter()
            .enumerate()
            .filter(|(i, (name, _))| !self.0[i + 1..].iter().any(|(n, _)| n == name))
            .map(|(_, entry)| entry)
    }

    /// As a JSON object (for merging with query and body params).
    pub(crate) fn into_map(self) -> Map<String, Value> {
        let mut map = Map::new();
        for (name, value) in &self.0 {
            map.insert((*name).to_owned(), value.to_value());
        }
        map
    }
}

impl Serialize for PathParams<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (name, value) in self.effective() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializes_as_the_map_it_stands_for() {
        let mut p = PathParams::default();
        p.push("id", PathValue::One("7".into()));
        p.push("tags", PathValue::Many(vec!["a".into(), "b \"c\"".into()]));
        p.push("id", PathValue::One("8".into()));
        let text = serde_json::to_string(&p).expect("serializes");
        let parsed: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(parsed, Value::Object(p.clone().into_map()));
        assert_eq!(parsed, json!({"tags": ["a", "b \"c\""], "id": "8"}));
    }
}
