//! Moleculer's `params`: a JSON Schema turned into fastest-validator's schema form.
//!
//! Moleculer.js tools read an action's `params` (moleculer-repl's `actions -d`, moleculer-web,
//! API doc generators) and Moleculer.js validates calls with it, so the broker publishes one
//! for every action whose params type derives `JsonSchema`, next to the JSON Schema itself
//! (`paramsSchema`). The conversion covers what fastest-validator can say:
//!
//! | JSON Schema | fastest-validator |
//! | --- | --- |
//! | `type: string`, `minLength`, `maxLength`, `pattern` | `string` with `min`, `max`, `pattern` |
//! | `format: email` / `uri` | `email` / `url` |
//! | `type: integer` / `number`, `minimum`, `maximum`, `exclusiveMinimum: 0` | `number` (`integer: true`), `min`, `max`, `positive` |
//! | `type: boolean` | `boolean` |
//! | `type: array`, `items`, `minItems`, `maxItems`, `uniqueItems` | `array` with `items`, `min`, `max`, `unique` |
//! | `type: object`, `properties`, `required`, `additionalProperties: false` | `object` with `props`, `optional`, `strict` |
//! | `enum` of strings, `oneOf`/`anyOf` of string `const`s | `enum` with `values` |
//! | `const` | `equal` (`strict: true`) |
//! | `null` among the types, `anyOf [X, null]` | `nullable: true` |
//! | anything else (`{}`, tagged unions, tuples, maps) | `any` (or a plain `object` / `array`) |
//!
//! A required property without options is written in the shorthand (`"name": "string"`), as
//! Moleculer users write it. The root is the object's props, with `$$strict: true` when the
//! type denies unknown fields; a params type that is no object has no `params`.

use serde_json::{json, Map, Value};

/// The INFO key of an action's fastest-validator params schema (Moleculer's own key).
pub const PARAMS: &str = "params";

/// How deep `$ref`s are followed; a recursive type becomes `any` below this.
const MAX_DEPTH: usize = 16;

/// A params schema in fastest-validator form, converted from a JSON Schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The `params` value to publish.
    pub params: Value,
    /// Whether it checks more than the Rust type's own deserialization does (lengths,
    /// patterns, ranges, formats): then every call is checked before the handler runs.
    pub has_constraints: bool,
}

/// Converts a params JSON Schema (as [`crate::params_schema_for`] makes) to Moleculer's
/// `params`. `None` when the params are not an object.
///
/// ```
/// use broker_core::schema::fastest::from_json_schema;
/// use serde_json::json;
///
/// let schema = json!({
///     "type": "object",
///     "properties": {
///         "name": {"type": "string"},
///         "age": {"type": ["integer", "null"], "format": "uint32", "minimum": 0}
///     },
///     "required": ["name"]
/// });
/// let converted = from_json_schema(&schema).expect("an object");
/// assert_eq!(
///     converted.params,
///     json!({
///         "name": "string",
///         "age": {"type": "number", "integer": true, "min": 0, "nullable": true, "optional": true}
///     })
/// );
/// assert!(!converted.has_constraints, "u32's own minimum is no constraint");
/// ```
pub fn from_json_schema(schema: &Value) -> Option<Converted> {
    let mut converter = Converter {
        defs: schema.get("$defs").and_then(Value::as_object),
        has_constraints: false,
    };
    let root = converter.resolve(schema, 0)?;
    let (props, strict) = converter.object_props(root, 0)?;
    let mut params = props;
    if strict {
        params.insert("$$strict".into(), Value::Bool(true));
    }
    Some(Converted {
        params: Value::Object(params),
        has_constraints: converter.has_constraints,
    })
}

struct Converter<'a> {
    defs: Option<&'a Map<String, Value>>,
    has_constraints: bool,
}

impl<'a> Converter<'a> {
    /// The schema a `$ref` (`#/$defs/Name`) points to, or the schema itself.
    fn resolve(&self, schema: &'a Value, depth: usize) -> Option<&'a Value> {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) if depth < MAX_DEPTH => {
                let name = reference.strip_prefix("#/$defs/")?;
                let target = self.defs?.get(name)?;
                self.resolve(target, depth + 1)
            }
            Some(_) => None,
            None => Some(schema),
        }
    }

    /// An object schema's props and whether it is strict; `None` if it is no object with
    /// properties.
    fn object_props(
        &mut self,
        schema: &'a Value,
        depth: usize,
    ) -> Option<(Map<String, Value>, bool)> {
        let properties = schema.get("properties")?.as_object()?;
        if !types(schema).is_some_and(|t| t.contains(&"object")) {
            return None;
        }
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut props = Map::new();
        for (name, property) in properties {
            let mut rule = self.rule(property, depth + 1);
            if !required.contains(&name.as_str()) {
                rule.insert("optional".into(), Value::Bool(true));
            }
            props.insert(name.clone(), shorthand(rule));
        }
        let strict = schema.get("additionalProperties") == Some(&Value::Bool(false));
        Some((props, strict))
    }

    /// One rule in object form.
    fn rule(&mut self, schema: &'a Value, depth: usize) -> Map<String, Value> {
        let any = || {
            let mut m = Map::new();
            m.insert("type".into(), json!("any"));
            m
        };
        if depth > MAX_DEPTH {
            return any();
        }
        let Some(schema) = self.resolve(schema, depth) else {
            return any();
        };
        if let Some(value) = schema.get("const") {
            return obj(json!({"type": "equal", "value": value, "strict": true}));
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            let mut rule = obj(json!({"type": "enum", "values": values}));
            if values.contains(&Value::Null) {
                rule.insert("nullable".into(), Value::Bool(true));
            }
            return rule;
        }
        if let Some(variants) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
        {
            return self.union(variants, depth);
        }
        let Some(types) = types(schema) else {
            return any();
        };
        let nullable = types.contains(&"null");
        let concrete: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
        let mut rule = match concrete.as_slice() {
            ["string"] => self.string(schema),
            ["integer"] => self.number(schema, true),
            ["number"] => self.number(schema, false),
            ["boolean"] => obj(json!({"type": "boolean"})),
            ["array"] => self.array(schema, depth),
            ["object"] => match self.object_props(schema, depth) {
                Some((props, strict)) => {
                    let mut rule = obj(json!({"type": "object", "props": props}));
                    if strict {
                        rule.insert("strict".into(), Value::Bool(true));
                    }
                    rule
                }
                None => obj(json!({"type": "object"})),
            },
            _ => any(),
        };
        if nullable {
            rule.insert("nullable".into(), Value::Bool(true));
        }
        rule
    }

    /// `oneOf`/`anyOf`: `X or null` is a nullable `X`; string constants are an `enum`.
    fn union(&mut self, variants: &'a [Value], depth: usize) -> Map<String, Value> {
        let is_null = |v: &Value| v.get("type") == Some(&json!("null"));
        let others: Vec<&Value> = variants.iter().filter(|v| !is_null(v)).collect();
        let nullable = others.len() < variants.len();
        let mut rule = if let [only] = others.as_slice() {
            self.rule(only, depth + 1)
        } else if let Some(values) = others
            .iter()
            .map(|v| self.resolve(v, depth).and_then(constants))
            .collect::<Option<Vec<Vec<Value>>>>()
        {
            obj(json!({"type": "enum", "values": values.concat()}))
        } else {
            obj(json!({"type": "any"}))
        };
        if nullable {
            rule.insert("nullable".into(), Value::Bool(true));
        }
        rule
    }

    fn string(&mut self, schema: &Value) -> Map<String, Value> {
        let kind = match schema.get("format").and_then(Value::as_str) {
            Some("email") => "email",
            Some("uri") | Some("url") => "url",
            _ => "string",
        };
        let mut rule = obj(json!({"type": kind}));
        if kind != "string" {
            self.has_constraints = true;
            return rule;
        }
        for (from, to) in [
            ("minLength", "min"),
            ("maxLength", "max"),
            ("pattern", "pattern"),
        ] {
            if let Some(v) = schema.get(from) {
                rule.insert(to.into(), v.clone());
                self.has_constraints = true;
            }
        }
        rule
    }

    fn number(&mut self, schema: &Value, integer: bool) -> Map<String, Value> {
        let mut rule = obj(json!({"type": "number"}));
        if integer {
            rule.insert("integer".into(), Value::Bool(true));
        }
        let (implied_min, implied_max) =
            implied_bounds(schema.get("format").and_then(Value::as_str));
        for (from, to, implied) in [
            ("minimum", "min", implied_min),
            ("maximum", "max", implied_max),
        ] {
            if let Some(v) = schema.get(from) {
                rule.insert(to.into(), v.clone());
                if v.as_f64() != implied {
                    self.has_constraints = true;
                }
            }
        }
        if schema.get("exclusiveMinimum").and_then(Value::as_f64) == Some(0.0) {
            rule.insert("positive".into(), Value::Bool(true));
            self.has_constraints = true;
        }
        if schema.get("exclusiveMaximum").and_then(Value::as_f64) == Some(0.0) {
            rule.insert("negative".into(), Value::Bool(true));
            self.has_constraints = true;
        }
        rule
    }

    fn array(&mut self, schema: &'a Value, depth: usize) -> Map<String, Value> {
        let mut rule = obj(json!({"type": "array"}));
        let tuple = schema.get("prefixItems").is_some();
        if let Some(items) = schema.get("items").filter(|_| !tuple) {
            rule.insert("items".into(), shorthand(self.rule(items, depth + 1)));
        }
        if !tuple {
            for (from, to) in [("minItems", "min"), ("maxItems", "max")] {
                if let Some(v) = schema.get(from) {
                    rule.insert(to.into(), v.clone());
                    self.has_constraints = true;
                }
            }
        }
        if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
            // fastest-validator compares items by identity: only primitive items are checked.
            rule.insert("unique".into(), Value::Bool(true));
            self.has_constraints = true;
        }
        rule
    }
}

/// The `type` of a schema as a list (`"string"` or `["string", "null"]`).
fn types(schema: &Value) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

/// The values a variant stands for when it is a constant or an enum of constants.
fn constants(schema: &Value) -> Option<Vec<Value>> {
    if let Some(c) = schema.get("const") {
        return Some(vec![c.clone()]);
    }
    schema.get("enum").and_then(Value::as_array).cloned()
}

/// The bounds an integer format implies (schemars writes them for unsigned and small types);
/// repeating them is no constraint beyond the type.
fn implied_bounds(format: Option<&str>) -> (Option<f64>, Option<f64>) {
    match format {
        Some("uint8") => (Some(0.0), Some(255.0)),
        Some("uint16") => (Some(0.0), Some(65535.0)),
        Some("uint32") => (Some(0.0), Some(4294967295.0)),
        Some("uint64" | "uint" | "uint128") => (Some(0.0), None),
        Some("int8") => (Some(-128.0), Some(127.0)),
        Some("int16") => (Some(-32768.0), Some(32767.0)),
        Some("int32") => (Some(-2147483648.0), Some(2147483647.0)),
        _ => (None, None),
    }
}

/// A rule with nothing but a type as the shorthand string (`"string"`).
fn shorthand(rule: Map<String, Value>) -> Value {
    match (rule.len(), rule.get("type")) {
        (1, Some(Value::String(t))) => Value::String(t.clone()),
        _ => Value::Object(rule),
    }
}

fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::params_schema_for;
    use schemars::JsonSchema;
    use serde::Deserialize;

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Signup {
        #[schemars(length(min = 2, max = 20))]
        name: String,
        #[schemars(range(min = 18))]
        age: u8,
        #[schemars(email)]
        email: Option<String>,
        #[schemars(url)]
        site: String,
        #[schemars(regex(pattern = r"^[a-z]+$"))]
        slug: String,
        tags: Vec<String>,
        role: Role,
        address: Option<Address>,
        #[serde(default)]
        newsletter: bool,
        extra: serde_json::Value,
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(rename_all = "lowercase")]
    enum Role {
        Admin,
        Member,
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Address {
        city: String,
        zip: Option<u32>,
    }

    #[test]
    fn a_struct_becomes_props_with_constraints_and_shorthands() {
        let converted = from_json_schema(&params_schema_for::<Signup>()).expect("object");
        assert_eq!(
            converted.params,
            json!({
                "name": {"type": "string", "min": 2, "max": 20},
                "age": {"type": "number", "integer": true, "min": 18, "max": 255},
                "email": {"type": "email", "nullable": true, "optional": true},
                "site": "url",
                "slug": {"type": "string", "pattern": "^[a-z]+$"},
                "tags": {"type": "array", "items": "string"},
                "role": {"type": "enum", "values": ["admin", "member"]},
                "address": {
                    "type": "object",
                    "props": {
                        "city": "string",
                        "zip": {"type": "number", "integer": true, "min": 0, "nullable": true, "optional": true}
                    },
                    "nullable": true,
                    "optional": true
                },
                "newsletter": {"type": "boolean", "optional": true},
                "extra": "any",
                "$$strict": true
            })
        );
        assert!(converted.has_constraints);
    }

    // schemars also reads the `validator` crate's attributes (without that crate).
    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct ValidatorStyle {
        #[validate(email)]
        email: String,
        #[validate(length(min = 3))]
        code: String,
    }

    #[test]
    fn validator_style_attributes_are_constraints_too() {
        let converted = from_json_schema(&params_schema_for::<ValidatorStyle>()).expect("object");
        assert_eq!(converted.params["email"], "email");
        assert_eq!(
            converted.params["code"],
            json!({"type": "string", "min": 3})
        );
        assert!(converted.has_constraints);
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Plain {
        id: u64,
        name: String,
        address: Address,
    }

    #[test]
    fn types_alone_are_no_constraints() {
        let converted = from_json_schema(&params_schema_for::<Plain>()).expect("object");
        assert!(!converted.has_constraints, "{}", converted.params);
        assert_eq!(converted.params["name"], "string");
    }

    #[test]
    fn params_that_are_no_object_have_no_fastest_validator_schema() {
        assert_eq!(from_json_schema(&params_schema_for::<u32>()), None);
        assert_eq!(from_json_schema(&params_schema_for::<Vec<String>>()), None);
        assert_eq!(
            from_json_schema(&params_schema_for::<serde_json::Value>()),
            None
        );
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    #[serde(tag = "kind")]
    enum Shape {
        Circle { r: f64 },
        Square { side: f64 },
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Draw {
        shape: Shape,
        tree: Box<Option<Draw>>,
    }

    #[test]
    fn unions_and_recursion_fall_back_to_any() {
        let converted = from_json_schema(&params_schema_for::<Draw>()).expect("object");
        assert_eq!(converted.params["shape"], "any");
        // The type refers to itself (`$ref: "#"`): that is not followed.
        assert_eq!(converted.params["tree"]["type"], "any");
    }
}
