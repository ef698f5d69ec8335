//! The OpenAPI 3.1 document of a gateway, built from its live aliases and the cluster's
//! service docs: paths and methods from the aliases (and the direct `/route/service/action`
//! paths of routes that map all actions), schemas from the actions' Rust types or Moleculer
//! `params`, error responses and the bearer scheme from the routes' options.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::http::Method;
use broker_core::{ActionDoc, ServiceDoc};
use serde_json::{json, Map, Value};

use super::components::Components;
use super::fastest::params_to_json_schema;
use crate::alias::{Alias, AliasKind, PathPattern, Segment};
use crate::route::{MappingPolicy, Route};

/// What a document is built from.
pub(crate) struct Input<'a> {
    pub(crate) title: &'a str,
    pub(crate) routes: &'a [Route],
    /// The auto-aliases of each route.
    pub(crate) auto: &'a [Vec<Alias>],
    /// Actions that are not published.
    pub(crate) hidden: &'a HashSet<String>,
    pub(crate) services: &'a [ServiceDoc],
}

const SCHEMAS: &str = "#/components/schemas/";
const ERROR: &str = "MoleculerError";
/// The methods an OpenAPI path item has a key for.
const DOCUMENTED_METHODS: [Method; 8] = [
    Method::GET,
    Method::PUT,
    Method::POST,
    Method::DELETE,
    Method::OPTIONS,
    Method::HEAD,
    Method::PATCH,
    Method::TRACE,
];

/// One documented operation before it is written out.
struct Op<'a> {
    route: &'a Route,
    method: Method,
    path: &'a PathPattern,
    action: &'a str,
    kind: AliasKind,
    direct: bool,
}

/// The OpenAPI document.
pub(crate) fn build(input: &Input<'_>) -> Value {
    let mut docs: HashMap<&str, (&ServiceDoc, &ActionDoc)> = HashMap::new();
    for service in input.services {
        for action in &service.actions {
            docs.insert(action.name.as_str(), (service, action));
        }
    }
    let direct_patterns = direct_paths(input, &docs);
    let mut ops = Vec::new();
    for (i, route) in input.routes.iter().enumerate() {
        let generated = input.auto.get(i).map(Vec::as_slice).unwrap_or_default();
        for alias in route.aliases.iter().chain(generated) {
            if !route.allows(&alias.action) || input.hidden.contains(&alias.action) {
                continue;
            }
            let methods = match &alias.method {
                // OpenAPI has no place for other methods (`PURGE`): such an alias is left out.
                Some(m) if !DOCUMENTED_METHODS.contains(m) => continue,
                Some(m) => vec![m.clone()],
                // Any method: the two a client uses for a call.
                None => vec![Method::GET, Method::POST],
            };
            for method in methods {
                ops.push(Op {
                    route,
                    method,
                    path: &alias.path,
                    action: &alias.action,
                    kind: alias.kind,
                    direct: false,
                });
            }
        }
    }
    for (route, path, action) in &direct_patterns {
        for method in [Method::GET, Method::POST] {
            ops.push(Op {
                route,
                method,
                path,
                action,
                kind: AliasKind::Call,
                direct: true,
            });
        }
    }

    // Schemas are hoisted service by service (sorted by full name), so which of two clashing
    // types keeps its plain name does not depend on the order of the aliases.
    let mut components = Components::new(SCHEMAS);
    let documented: HashSet<&str> = ops.iter().map(|op| op.action).collect();
    let mut schemas_of: HashMap<&str, Schemas> = HashMap::new();
    for service in input.services {
        for action in &service.actions {
            if documented.contains(action.name.as_str()) {
                let hoisted = hoisted_schemas(action, &service.full_name, &mut components);
                schemas_of.insert(action.name.as_str(), hoisted);
            }
        }
    }
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut used_ids: HashSet<String> = HashSet::new();
    let mut tags: BTreeMap<String, Value> = BTreeMap::new();
    let mut bearer = false;
    for op in &ops {
        let doc = docs.get(op.action).copied();
        let service = doc.map_or_else(
            || {
                op.action
                    .rsplit_once('.')
                    .map_or(op.action, |(s, _)| s)
                    .to_owned()
            },
            |(s, _)| s.full_name.clone(),
        );
        tags.entry(service.clone())
            .or_insert_with(|| json!({"name": service}));
        for (openapi_path, params) in openapi_paths(op.path) {
            let method = op.method.as_str().to_ascii_lowercase();
            let entry = paths.entry(openapi_path.clone()).or_default();
            // The first alias of a method and path is the one requests reach.
            if entry.contains_key(&method) {
                continue;
            }
            let mut id = op.action.to_owned();
            let mut n = 2;
            while !used_ids.insert(id.clone()) {
                id = format!("{}_{n}", op.action);
                n += 1;
            }
            let schemas = schemas_of.get(op.action);
            let operation = operation(op, doc, schemas, &service, &id, &params);
            bearer |= op.route.requires_bearer_token();
            entry.insert(method, operation);
        }
    }

    let mut schemas = Map::new();
    schemas.insert(ERROR.into(), error_schema());
    for (name, schema) in components.schemas {
        schemas.insert(name, schema);
    }
    let mut components_json = json!({ "schemas": schemas });
    if bearer {
        components_json["securitySchemes"] =
            json!({"bearer": {"type": "http", "scheme": "bearer"}});
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("{} gateway", input.title),
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Generated from the gateway's aliases and the cluster's services.",
        },
        "servers": [{"url": "/"}],
        "tags": tags.into_values().collect::<Vec<_>>(),
        "paths": paths,
        "components": components_json,
    })
}

/// `(route, path, action)` of the actions a route with [`MappingPolicy::All`] reaches
/// without an alias: `/api/users/get` for `users.get`, when no earlier route covers the path.
fn direct_paths<'a>(
    input: &Input<'a>,
    docs: &HashMap<&str, (&ServiceDoc, &ActionDoc)>,
) -> Vec<(&'a Route, PathPattern, String)> {
    let mut names: Vec<&str> = docs.keys().copied().collect();
    names.sort_unstable();
    let mut out = Vec::new();
    for (i, route) in input.routes.iter().enumerate() {
        if route.mapping_policy != MappingPolicy::All {
            continue;
        }
        for name in &names {
            // Internal services (`$node`) are left out of the document.
            if name.starts_with('$') || !route.allows(name) || input.hidden.contains(*name) {
                continue;
            }
            let path = format!("{}/{}", route.path, name.replace('.', "/"));
            if input.routes[..i].iter().any(|r| r.covers(&path)) {
                continue;
            }
            out.push((route, PathPattern::parse(&path), (*name).to_owned()));
        }
    }
    out
}

/// A path param of an OpenAPI path, and what it stands for.
struct PathParam {
    name: String,
    description: Option<&'static str>,
}

/// The OpenAPI paths of a pattern: `/users/{id}`; an optional param gives two paths (with
/// and without it), a repeated or wildcard param one path param that takes the rest.
fn openapi_paths(pattern: &PathPattern) -> Vec<(String, Vec<PathParam>)> {
    let mut variants: Vec<(String, Vec<PathParam>)> = vec![(String::new(), Vec::new())];
    for segment in pattern.segments() {
        match segment {
            Segment::Literal(text) => {
                for (p, _) in &mut variants {
                    p.push('/');
                    p.push_str(text);
                }
            }
            Segment::Param { name, optional } => {
                let without: Vec<(String, Vec<PathParam>)> = if *optional {
                    variants
                        .iter()
                        .map(|(p, ps)| {
                            let ps = ps
                                .iter()
                                .map(|x| PathParam {
                                    name: x.name.clone(),
                                    description: x.description,
                                })
                                .collect();
                            (p.clone(), ps)
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                for (p, ps) in &mut variants {
                    p.push_str(&format!("/{{{name}}}"));
                    ps.push(PathParam {
                        name: name.clone(),
                        description: None,
                    });
                }
                variants.extend(without);
            }
            Segment::Repeat { name, .. } => {
                for (p, ps) in &mut variants {
                    p.push_str(&format!("/{{{name}}}"));
                    ps.push(PathParam {
                        name: name.clone(),
                        description: Some(
                            "One or more path segments; the action gets them as an array.",
                        ),
                    });
                }
            }
            Segment::Wildcard(name) => {
                for (p, ps) in &mut variants {
                    p.push_str(&format!("/{{{name}}}"));
                    ps.push(PathParam {
                        name: name.clone(),
                        description: Some("The rest of the path, slashes included."),
                    });
                }
            }
        }
    }
    for (p, _) in &mut variants {
        if p.is_empty() {
            p.push('/');
        }
    }
    variants
}

/// An action's params and result schemas as the document uses them (`$defs` hoisted);
/// `None` when unknown.
struct Schemas {
    params: Option<Value>,
    response: Option<Value>,
}

fn hoisted_schemas(action: &ActionDoc, service: &str, c: &mut Components) -> Schemas {
    let params = match &action.params_schema {
        Some(s) => Some(c.hoist(s, service, &format!("{}.Params", action.name))),
        None => action.params.as_ref().map(params_to_json_schema),
    };
    let response = action
        .response_schema
        .as_ref()
        .map(|s| c.hoist(s, service, &format!("{}.Response", action.name)));
    Schemas { params, response }
}

fn unknown_schema(what: &str) -> Value {
    json!({"description": format!("Unknown: the action publishes no schema of its {what}.")})
}

fn operation(
    op: &Op<'_>,
    doc: Option<(&ServiceDoc, &ActionDoc)>,
    schemas: Option<&Schemas>,
    service: &str,
    id: &str,
    path_params: &[PathParam],
) -> Value {
    let action = doc.map(|(_, a)| a);
    let params = schemas.and_then(|s| s.params.clone());
    let response = schemas.and_then(|s| s.response.clone());
    let props = params
        .as_ref()
        .filter(|s| s.get("type").and_then(Value::as_str) == Some("object"))
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object);
    let required: Vec<&str> = params
        .as_ref()
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();

    let mut parameters = Vec::new();
    let path_names: HashSet<&str> = path_params.iter().map(|p| p.name.as_str()).collect();
    for p in path_params {
        let schema = match p.description {
            None => props
                .and_then(|m| m.get(&p.name))
                .filter(|s| s.get("type").and_then(Value::as_str) == Some("string"))
                .cloned()
                .unwrap_or_else(|| json!({"type": "string"})),
            Some(_) => json!({"type": "string"}),
        };
        let mut param = json!({"name": p.name, "in": "path", "required": true, "schema": schema});
        if let Some(d) = p.description {
            param["description"] = json!(d);
        }
        parameters.push(param);
    }
    let body_method = matches!(op.method, Method::POST | Method::PUT | Method::PATCH);
    let mut body = None;
    if op.kind == AliasKind::Raw {
        body = Some(json!({
            "description": "The raw body; the action gets it base64-encoded as `$body`.",
            "content": {"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}},
        }));
    } else if op.kind == AliasKind::Multipart {
        body = Some(json!({
            "description": "A form: each file part is one call of the action (its bytes base64-encoded as `$body`), the other fields go to `ctx.meta.$multipart`.",
            "required": true,
            "content": {"multipart/form-data": {"schema": {
                "type": "object",
                "additionalProperties": {"type": "string", "contentMediaType": "application/octet-stream"},
            }}},
        }));
    } else if body_method {
        let schema = match &params {
            Some(s) => without_properties(s, &path_names),
            None => unknown_schema("params"),
        };
        let needed = required.iter().any(|r| !path_names.contains(r));
        body = Some(json!({
            "required": needed,
            "content": {"application/json": {"schema": schema}},
        }));
    } else if let Some(props) = props {
        // GET, DELETE…: the top-level params travel in the query string.
        for (name, schema) in props {
            if path_names.contains(name.as_str()) {
                continue;
            }
            let mut param = json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "schema": schema,
            });
            if schema.get("type").and_then(Value::as_str) == Some("object") {
                // `a[b]=1`, as the gateway merges nested query params.
                param["style"] = json!("deepObject");
                param["explode"] = json!(true);
            }
            parameters.push(param);
        }
    }

    let summary = action
        .and_then(|a| a.description.as_deref())
        .and_then(|d| d.lines().next())
        .unwrap_or(id);
    let mut description =
        action
            .and_then(|a| a.description.clone())
            .unwrap_or_else(|| match action {
                Some(_) => format!("Calls `{}`.", op.action),
                None => format!("Calls `{}` (no node serves it right now).", op.action),
            });
    if op.direct {
        description.push_str("\n\nReached by the route's direct mapping (any method).");
    }

    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": "The action's result.",
            "content": {"application/json": {"schema": response.unwrap_or_else(|| unknown_schema("result"))}},
        }),
    );
    let route = op.route;
    let auth = route.requires_bearer_token()
        || route.authentication.is_some()
        || route.authorization.is_some();
    let mut errors: Vec<(&str, &str)> = Vec::new();
    let has_body = body_method || matches!(op.kind, AliasKind::Raw | AliasKind::Multipart);
    if has_body {
        errors.push((
            "400",
            "The body does not parse (`InvalidRequestBodyError`).",
        ));
    }
    if auth {
        errors.push(("401", "No or a wrong token (`UnAuthorizedError`)."));
        errors.push(("403", "Not allowed (`ForbiddenError`)."));
    }
    errors.push((
        "404",
        "Not found (`NotFoundError`, `ServiceNotFoundError`).",
    ));
    if has_body {
        errors.push((
            "413",
            "The body is over the route's limit (`PayloadTooLarge`).",
        ));
    }
    errors.push(("422", "The params are not valid (`ValidationError`)."));
    if route.rate_limit.is_some() {
        errors.push((
            "429",
            "Too many requests (`RateLimitExceeded`); see `Retry-After`.",
        ));
    }
    errors.push(("500", "An internal error."));
    errors.push(("503", "No node serves the action right now."));
    for (code, text) in errors {
        responses.insert(
            code.into(),
            json!({
                "description": text,
                "content": {"application/json": {"schema": {"$ref": format!("{SCHEMAS}{ERROR}")}}},
            }),
        );
    }

    let mut out = json!({
        "operationId": id,
        "tags": [service],
        "summary": summary,
        "description": description,
        "responses": responses,
    });
    if !parameters.is_empty() {
        out["parameters"] = Value::Array(parameters);
    }
    if let Some(body) = body {
        out["requestBody"] = body;
    }
    if route.requires_bearer_token() {
        out["security"] = json!([{"bearer": []}]);
    }
    out
}

/// An object schema without the properties that come from the path.
fn without_properties(schema: &Value, names: &HashSet<&str>) -> Value {
    let mut schema = schema.clone();
    if names.is_empty() {
        return schema;
    }
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.retain(|k, _| !names.contains(k.as_str()));
    }
    if let Some(req) = schema.get_mut("required").and_then(Value::as_array_mut) {
        req.retain(|r| r.as_str().is_none_or(|r| !names.contains(r)));
    }
    schema
}

/// The error object every error answer carries (moleculer-web's).
fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "A Moleculer error as the gateway sends it.",
        "properties": {
            "name": {"type": "string", "description": "The error class (`ValidationError`)."},
            "message": {"type": "string"},
            "code": {"type": "integer", "description": "The HTTP status."},
            "type": {"type": "string", "description": "A finer reason (`NO_TOKEN`)."},
            "data": {"description": "Details, when the error has any."},
        },
        "required": ["name", "message", "code"],
    })
}
