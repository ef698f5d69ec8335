//! Shared schemas of a spec document: each action's or event's schema stands alone with its
//! own `$defs`; a document keeps them once, under `components/schemas`, and points at them.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The `components/schemas` of a document being built.
#[derive(Debug)]
pub(crate) struct Components {
    /// Where references to a component go (`#/components/schemas/`).
    prefix: &'static str,
    pub(crate) schemas: BTreeMap<String, Value>,
}

impl Components {
    pub(crate) fn new(prefix: &'static str) -> Components {
        Components {
            prefix,
            schemas: BTreeMap::new(),
        }
    }

    /// A free name for `schema`: `name`, or (when a different schema has it) `owner_name`,
    /// `owner_name_2`…; an equal schema under a candidate name is that name.
    fn pick(&self, name: &str, owner: &str, schema: &Value) -> String {
        let base = sanitize(name);
        let owned = format!("{}_{base}", sanitize(owner));
        let candidates = std::iter::once(base)
            .chain(std::iter::once(owned.clone()))
            .chain((2..).map(|n| format!("{owned}_{n}")));
        for candidate in candidates {
            match self.schemas.get(&candidate) {
                Some(existing) if existing != schema => continue,
                _ => return candidate,
            }
        }
        unreachable!("an endless list of candidates")
    }

    /// Moves the `$defs` of a standalone schema of `owner` (a service's full name) into the
    /// components, rewrites its `#/$defs/X` references, and returns what is left. A schema that
    /// refers to its own root (`#`, a recursive type) becomes a component itself.
    pub(crate) fn hoist(&mut self, schema: &Value, owner: &str, root_name: &str) -> Value {
        let mut schema = schema.clone();
        let defs = match schema.as_object_mut().and_then(|m| m.remove("$defs")) {
            Some(Value::Object(defs)) => defs,
            _ => Map::new(),
        };
        // A def keeps its name unless a different schema has it; "different" is judged on
        // the def as it reads with the names chosen, so names are chosen again until they
        // settle (deterministic: defs in name order, services in the caller's order).
        let mut renamed: BTreeMap<String, String> =
            defs.keys().map(|n| (n.clone(), sanitize(n))).collect();
        for _ in 0..8 {
            let mut next = BTreeMap::new();
            for (name, def) in &defs {
                let mut probe = def.clone();
                rewrite_refs(&mut probe, &|r| rewrite_local(r, &renamed, self.prefix));
                next.insert(name.clone(), self.pick(name, owner, &probe));
            }
            if next == renamed {
                break;
            }
            renamed = next;
        }
        for (name, def) in &defs {
            let mut def = def.clone();
            rewrite_refs(&mut def, &|r| rewrite_local(r, &renamed, self.prefix));
            let used = &renamed[name];
            // Never replace a different schema that already has the name.
            let used = match self.schemas.get(used) {
                Some(existing) if *existing != def => {
                    let again = self.pick(name, owner, &def);
                    renamed.insert(name.clone(), again.clone());
                    again
                }
                _ => used.clone(),
            };
            self.schemas.insert(used, def);
        }
        let self_ref = contains_ref(&schema, "#");
        rewrite_refs(&mut schema, &|r| rewrite_local(r, &renamed, self.prefix));
        if self_ref {
            let name = schema
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or(root_name)
                .to_owned();
            let used = self.pick(&name, owner, &Value::Null);
            let target = format!("{}{used}", self.prefix);
            rewrite_refs(&mut schema, &|r| (r == "#").then(|| target.clone()));
            self.schemas.insert(used, schema);
            return serde_json::json!({ "$ref": target });
        }
        schema
    }
}

fn rewrite_local(r: &str, renamed: &BTreeMap<String, String>, prefix: &str) -> Option<String> {
    let rest = r.strip_prefix("#/$defs/")?;
    let (name, tail) = match rest.split_once('/') {
        Some((n, t)) => (n, format!("/{t}")),
        None => (rest, String::new()),
    };
    let name = json_pointer_unescape(name);
    let target = renamed
        .get(&name)
        .cloned()
        .unwrap_or_else(|| sanitize(&name));
    Some(format!("{prefix}{target}{tail}"))
}

fn json_pointer_unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

/// Applies `f` to every `$ref` string of `value`; `Some` replaces it.
pub(crate) fn rewrite_refs(value: &mut Value, f: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "$ref" {
                    if let Some(new) = v.as_str().and_then(f) {
                        *v = Value::String(new);
                    }
                } else {
                    rewrite_refs(v, f);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, f)),
        _ => {}
    }
}

fn contains_ref(value: &Value, target: &str) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| {
            (k == "$ref" && v.as_str() == Some(target)) || (k != "$defs" && contains_ref(v, target))
        }),
        Value::Array(items) => items.iter().any(|v| contains_ref(v, target)),
        _ => false,
    }
}

/// A component name as OpenAPI and AsyncAPI allow them: `[A-Za-z0-9._-]+`.
pub(crate) fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "_".to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defs_move_to_components_and_clashes_get_the_owner_name() {
        let mut c = Components::new("#/components/schemas/");
        let a = json!({"$ref": "#/$defs/User", "$defs": {"User": {"type": "object"}}});
        let b = json!({"properties": {"u": {"$ref": "#/$defs/User"}},
                       "$defs": {"User": {"type": "string"}}});
        assert_eq!(
            c.hoist(&a, "users", "P"),
            json!({"$ref": "#/components/schemas/User"})
        );
        let b = c.hoist(&b, "v2.people", "P");
        assert_eq!(
            b["properties"]["u"]["$ref"],
            "#/components/schemas/v2.people_User"
        );
        // The same def again is the same component.
        c.hoist(&a, "other", "P");
        assert_eq!(c.schemas.len(), 2);
    }

    #[test]
    fn a_def_that_refers_to_a_renamed_def_is_renamed_too() {
        let mut c = Components::new("#/components/schemas/");
        let a = json!({"$ref": "#/$defs/Outer", "$defs": {
            "Outer": {"properties": {"i": {"$ref": "#/$defs/Inner"}}},
            "Inner": {"type": "string"}}});
        let b = json!({"$ref": "#/$defs/Outer", "$defs": {
            "Outer": {"properties": {"i": {"$ref": "#/$defs/Inner"}}},
            "Inner": {"type": "integer"}}});
        c.hoist(&a, "a", "P");
        let out = c.hoist(&b, "b", "P");
        assert_eq!(out["$ref"], "#/components/schemas/b_Outer");
        assert_eq!(
            c.schemas["Outer"]["properties"]["i"]["$ref"],
            "#/components/schemas/Inner"
        );
        assert_eq!(
            c.schemas["b_Outer"]["properties"]["i"]["$ref"],
            "#/components/schemas/b_Inner"
        );
        // The same schemas again: the same components, nothing new.
        assert_eq!(
            c.hoist(&b, "b", "P")["$ref"],
            "#/components/schemas/b_Outer"
        );
        c.hoist(&a, "a", "P");
        assert_eq!(c.schemas.len(), 4);
    }

    #[test]
    fn a_recursive_root_becomes_a_component() {
        let mut c = Components::new("#/components/schemas/");
        let tree = json!({"title": "Tree", "type": "object",
                          "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}}});
        let out = c.hoist(&tree, "t", "P");
        assert_eq!(out, json!({"$ref": "#/components/schemas/Tree"}));
        assert_eq!(
            c.schemas["Tree"]["properties"]["kids"]["items"]["$ref"],
            "#/components/schemas/Tree"
        );
    }
}
