//! JSON Schemas of actions and events, derived from their Rust types with [`schemars`].
//!
//! A params, result or payload type opts in with `#[derive(JsonSchema)]`; the macros record
//! its schema when the service is added (never per call), and the broker publishes it in
//! INFO next to the action's Moleculer keys:
//!
//! | INFO key | on | what |
//! | --- | --- | --- |
//! | [`PARAMS_SCHEMA`] (`paramsSchema`) | actions | the params, as the action deserializes them |
//! | [`RESPONSE_SCHEMA`] (`responseSchema`) | actions | the result, as the action serializes it |
//! | [`PAYLOAD_SCHEMA`] (`payloadSchema`) | events | the payload, as the handler deserializes it |
//! | [`DESCRIPTION`] (`description`) | both | the method's doc comment |
//!
//! An action's params schema is also published as Moleculer's own `params` key, converted to
//! fastest-validator's form by [`fastest`] (a JSON Schema there would be misread): Moleculer.js
//! tools show it, and the [`crate::middleware::Validator`] checks calls against it. Moleculer.js
//! keeps the keys it does not know on an action or event as they came, so JS nodes carry the
//! JSON Schemas along and ignore them.
//!
//! Each schema is JSON Schema 2020-12 (the dialect of OpenAPI 3.1) and stands alone: the types
//! it refers to are under its own `$defs`, referenced as `#/$defs/Name`. No `$schema` key is
//! sent (it would repeat on every action of every INFO). A type without `JsonSchema` has no
//! schema, published as an absent key; `serde_json::Value` has the schema `{}` (anything).
//!
//! ```
//! use broker_core::{schemars, JsonSchema};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct HelloParams {
//!     /// Who to greet.
//!     name: String,
//! }
//!
//! let schema = broker_core::params_schema_for::<HelloParams>();
//! assert_eq!(schema["properties"]["name"]["type"], "string");
//! assert_eq!(schema["required"], serde_json::json!(["name"]));
//! ```

pub mod fastest;

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::Value;
use std::marker::PhantomData;

/// The INFO key of an action's params schema.
pub const PARAMS_SCHEMA: &str = "paramsSchema";
/// The INFO key of an action's result schema.
pub const RESPONSE_SCHEMA: &str = "responseSchema";
/// The INFO key of an event's payload schema.
pub const PAYLOAD_SCHEMA: &str = "payloadSchema";
/// The INFO key of an action's or event's description (Moleculer actions may carry one).
pub const DESCRIPTION: &str = "description";

/// The JSON Schema of `T` as it is deserialized: what an action accepts as params or an event
/// handler as payload.
pub fn params_schema_for<T: JsonSchema + ?Sized>() -> Value {
    generate::<T>(SchemaSettings::draft2020_12().for_deserialize())
}

/// The JSON Schema of `T` as it is serialized: what an action returns.
pub fn response_schema_for<T: JsonSchema + ?Sized>() -> Value {
    generate::<T>(SchemaSettings::draft2020_12().for_serialize())
}

fn generate<T: JsonSchema + ?Sized>(settings: SchemaSettings) -> Value {
    let settings = settings.with(|s| s.meta_schema = None);
    let mut schema = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    // Only the title schemars adds to every root: an "anything" schema (`serde_json::Value`)
    // is published as the plain `{}`.
    if let Value::Object(map) = &schema {
        if map.keys().all(|k| k == "title") {
            schema = Value::Object(serde_json::Map::new());
        }
    }
    schema
}

/// Picks a type's schema when it has one, in code the macros generate for concrete types:
/// `(&&SchemaProbe::<T>::new()).params_schema()` resolves to [`WithSchema`] when
/// `T: JsonSchema`, else (one auto-deref further) to [`WithoutSchema`], which gives `None`;
/// `(&&SchemaProbe::<Result<T, E>>::new()).response_schema()` resolves to
/// [`WithResponseSchema`] when `T: JsonSchema`. The traits must be in scope.
#[doc(hidden)]
pub struct SchemaProbe<T: ?Sized>(PhantomData<fn() -> Box<T>>);

impl<T: ?Sized> std::fmt::Debug for SchemaProbe<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SchemaProbe")
    }
}

impl<T: ?Sized> SchemaProbe<T> {
    /// A probe for `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> SchemaProbe<T> {
        SchemaProbe(PhantomData)
    }
}

/// The probe's choice for a params or payload type with a schema.
#[doc(hidden)]
pub trait WithSchema {
    /// The schema of the type as deserialized.
    fn params_schema(&self) -> Option<Value>;
}

impl<T: JsonSchema + ?Sized> WithSchema for &SchemaProbe<T> {
    fn params_schema(&self) -> Option<Value> {
        Some(params_schema_for::<T>())
    }
}

/// The probe's choice for an action's return type `Result<T, E>` whose `T` has a schema.
#[doc(hidden)]
pub trait WithResponseSchema {
    /// The schema of `T` as serialized.
    fn response_schema(&self) -> Option<Value>;
}

impl<T: JsonSchema, E> WithResponseSchema for &SchemaProbe<Result<T, E>> {
    fn response_schema(&self) -> Option<Value> {
        Some(response_schema_for::<T>())
    }
}

/// The probe's choice for a type without a schema.
#[doc(hidden)]
pub trait WithoutSchema {
    /// `None`.
    fn params_schema(&self) -> Option<Value> {
        None
    }
    /// `None`.
    fn response_schema(&self) -> Option<Value> {
        None
    }
}

impl<T: ?Sized> WithoutSchema for SchemaProbe<T> {}

/// A method's doc comment as a description: its lines (`///` lines, or the lines of a `/** */`
/// block) without the indentation they share, trimmed. `None` when empty.
#[doc(hidden)]
pub fn description(chunks: &[&str]) -> Option<String> {
    let lines: Vec<&str> = chunks
        .iter()
        .flat_map(|chunk| chunk.split('\n'))
        .map(str::trim_end)
        .collect();
    let indent = lines
        .iter()
        .filter(|line| !line.is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    let text = lines
        .iter()
        .map(|line| line.get(indent..).unwrap_or_else(|| line.trim_start()))
        .collect::<Vec<_>>()
        .join("\n");
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
// The `&&` before a probe is the point: it is what lets the `JsonSchema` impl win.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    #[derive(Deserialize, Serialize, JsonSchema)]
    struct Point {
        x: i32,
        #[serde(default)]
        label: Option<String>,
    }

    struct Plain;

    #[test]
    fn the_probe_picks_the_schema_when_the_type_has_one() {
        let schema = (&&SchemaProbe::<Point>::new()).params_schema();
        let schema = schema.expect("Point derives JsonSchema");
        assert_eq!(schema["title"], "Point");
        assert_eq!(schema["properties"]["x"]["type"], "integer");
        assert!(schema.get("$schema").is_none(), "{schema}");
        let response = (&&SchemaProbe::<Result<Point, ()>>::new()).response_schema();
        assert_eq!(
            response.expect("Point derives JsonSchema")["title"],
            "Point"
        );
    }

    #[test]
    fn the_probe_falls_back_to_none_without_json_schema() {
        assert_eq!((&&SchemaProbe::<Plain>::new()).params_schema(), None);
        let result = &&SchemaProbe::<Result<Plain, ()>>::new();
        assert_eq!(result.response_schema(), None);
        // Not a `Result` at all (the macro reports that on its own): no schema either.
        assert_eq!((&&SchemaProbe::<Point>::new()).response_schema(), None);
    }

    #[test]
    fn a_json_value_accepts_anything() {
        assert_eq!(params_schema_for::<Value>(), json!({}));
        assert_eq!(response_schema_for::<Value>(), json!({}));
    }

    #[test]
    fn params_and_results_follow_their_serde_direction() {
        // `#[serde(default)]` makes a field optional when deserializing only.
        let params = params_schema_for::<Point>();
        let result = response_schema_for::<Point>();
        assert_eq!(params["required"], json!(["x"]));
        assert_eq!(result["required"], json!(["x", "label"]));
    }

    #[test]
    fn descriptions_come_from_doc_lines() {
        assert_eq!(
            description(&[" Says hello.", "", " Twice."]),
            Some("Says hello.\n\nTwice.".to_owned())
        );
        assert_eq!(
            description(&["\n   Block\n     indented\n "]),
            Some("Block\n  indented".to_owned())
        );
        assert_eq!(description(&[]), None);
        assert_eq!(description(&[" ", ""]), None);
    }
}
