//! `autoAliases`: aliases built from the `rest` property that actions carry in INFO, the way
//! moleculer-web builds them, plus the set of actions a gateway must not expose.

use std::collections::HashSet;

use broker_core::NodeRecord;
use serde_json::Value;

use crate::alias::Alias;
use crate::route::Route;

/// What the gateway keeps of the registry between `$services.changed` events.
#[derive(Debug, Default, Clone)]
pub(crate) struct RegistryView {
    /// Actions whose visibility is not `published`: never reachable through the gateway.
    pub(crate) hidden: HashSet<String>,
    /// The auto-aliases of each route (empty for routes without `auto_aliases`).
    pub(crate) auto_aliases: Vec<Vec<Alias>>,
}

impl RegistryView {
    /// Builds the view of `nodes` for `routes`.
    pub(crate) fn build(routes: &[Route], nodes: &[NodeRecord]) -> RegistryView {
        let mut hidden = HashSet::new();
        for node in nodes {
            for service in node.services.iter().flatten() {
                for (name, def) in &service.actions {
                    if !is_published(def) {
                        hidden.insert(name.clone());
                    }
                }
            }
        }
        let auto_aliases = routes
            .iter()
            .map(|r| {
                if r.auto_aliases {
                    route_aliases(r, nodes)
                } else {
                    Vec::new()
                }
            })
            .collect();
        RegistryView {
            hidden,
            auto_aliases,
        }
    }
}

fn is_published(def: &Value) -> bool {
    def.get("visibility")
        .and_then(Value::as_str)
        .is_none_or(|v| v == "published")
}

fn route_aliases(route: &Route, nodes: &[NodeRecord]) -> Vec<Alias> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for service in nodes.iter().flat_map(|n| n.services.iter().flatten()) {
        let full_name = service
            .full_name
            .clone()
            .unwrap_or_else(|| service.name.clone());
        // One instance per service: the same actions run on several nodes.
        if !seen.insert(full_name.clone()) {
            continue;
        }
        let base_paths: Vec<String> = match service.settings.get("rest") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map_or_else(|| default_base(&full_name), str::to_owned)
                })
                .collect(),
            _ => vec![default_base(&full_name)],
        };
        for base in &base_paths {
            let base = format!("/{}", base.trim_matches('/'));
            for (name, def) in &service.actions {
                let Some(rest) = def.get("rest") else {
                    continue;
                };
                if !is_published(def) || !route.allows(name) {
                    continue;
                }
                let raw_name = def.get("rawName").and_then(Value::as_str).unwrap_or(name);
                let entries = match rest {
                    Value::Array(items) => items.iter().collect::<Vec<_>>(),
                    one => vec![one],
                };
                for entry in entries {
                    if let Some(mut alias) = alias_of(route, &base, raw_name, name, entry) {
                        alias.generated = true;
                        out.push(alias);
                    }
                }
            }
        }
    }
    out
}

fn default_base(full_name: &str) -> String {
    full_name.replace('.', "/")
}

/// One `rest` entry: `"GET /hello/:name"`, `"/hello"` (any method), or
/// `{method, path, basePath}` (path defaults to the action's raw name).
fn alias_of(
    route: &Route,
    base: &str,
    raw_name: &str,
    action: &str,
    rest: &Value,
) -> Option<Alias> {
    let (method, path) = match rest {
        Value::String(s) => match s.split_once(char::is_whitespace) {
            Some((m, p)) => (m.to_owned(), format!("{base}/{}", p.trim())),
            None => ("*".to_owned(), format!("{base}/{s}")),
        },
        Value::Object(o) => {
            let method = o.get("method").and_then(Value::as_str).unwrap_or("*");
            let base = o
                .get("basePath")
                .and_then(Value::as_str)
                .map_or_else(|| base.to_owned(), |b| format!("/{}", b.trim_matches('/')));
            let path = o.get("path").and_then(Value::as_str).unwrap_or(raw_name);
            (method.to_owned(), format!("{base}/{path}"))
        }
        _ => return None,
    };
    Alias::parse(route.path(), &format!("{method} {path}"), action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(services: Value) -> NodeRecord {
        let mut record: NodeRecord = serde_json::from_value(json!({
            "id": "n1", "instanceID": "i", "available": true, "local": false,
            "lastHeartbeatTime": 0, "config": {}, "client": {"type": "js", "version": "0", "langVersion": "0"},
            "metadata": {}, "ipList": [], "hostname": "h", "seq": 1, "cpuSeq": 0
        }))
        .expect("a node record");
        record.services = serde_json::from_value(services).ok();
        record
    }

    #[test]
    fn rest_strings_objects_and_arrays_become_aliases() {
        let nodes = [node(json!([{
            "name": "greeter", "fullName": "greeter", "settings": {}, "metadata": {}, "events": {},
            "actions": {
                "greeter.hello": {"name": "greeter.hello", "rawName": "hello", "rest": "GET /hello/:name"},
                "greeter.both": {"name": "greeter.both", "rawName": "both", "rest": ["POST /b", {"method": "PUT"}]},
                "greeter.secret": {"name": "greeter.secret", "rawName": "secret", "rest": "GET /s", "visibility": "public"},
                "greeter.plain": {"name": "greeter.plain", "rawName": "plain"}
            }
        }, {
            "name": "users", "version": 2, "fullName": "v2.users", "settings": {"rest": "/people"}, "metadata": {}, "events": {},
            "actions": {"v2.users.list": {"name": "v2.users.list", "rawName": "list", "rest": "GET /"}}
        }]))];
        let route = Route::new("/api").auto_aliases(true);
        let view = RegistryView::build(&[route], &nodes);
        let got: Vec<String> = view.auto_aliases[0].iter().map(Alias::describe).collect();
        assert!(
            got.contains(&"GET /api/greeter/hello/:name => greeter.hello".to_owned()),
            "{got:?}"
        );
        assert!(
            got.contains(&"POST /api/greeter/b => greeter.both".to_owned()),
            "{got:?}"
        );
        assert!(
            got.contains(&"PUT /api/greeter/both => greeter.both".to_owned()),
            "{got:?}"
        );
        assert!(
            got.contains(&"GET /api/people => v2.users.list".to_owned()),
            "{got:?}"
        );
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(view.hidden.contains("greeter.secret"));
    }
}
