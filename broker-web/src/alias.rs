//! Aliases: `"GET /users/:id" => "users.get"`, their path patterns, and the `REST` shorthand.

use std::borrow::Cow;

use axum::http::Method;
use serde_json::{Map, Value};

use crate::matched::{PathParams, PathValue};

/// One segment of a [`PathPattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Must equal this text.
    Literal(String),
    /// `:name` (or `:name?` when `optional`): one path segment, given to the action as a param.
    Param {
        /// Param name.
        name: String,
        /// Whether the segment may be absent.
        optional: bool,
    },
    /// `:name*` (zero or more segments) or `:name+` (one or more), given as an array of
    /// segments, as path-to-regexp's repeated params in moleculer-web.
    Repeat {
        /// Param name.
        name: String,
        /// `+` rather than `*`.
        at_least_one: bool,
    },
    /// `*name` (or a bare `*`, named `0`): the rest of the path, slashes included, as one
    /// string.
    Wildcard(String),
}

/// A path with `:param`, `:param?`, `:param*`, `:param+` (path-to-regexp's forms, which
/// moleculer-web uses) and a trailing `*wildcard` part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    raw: String,
    segments: Vec<Segment>,
    /// Only literals and required params: matched in one pass, without backtracking.
    simple: bool,
}

impl PathPattern {
    /// Parses a path such as `/users/:id` or `/files/*path`.
    pub fn parse(path: &str) -> PathPattern {
        let segments = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                if let Some(name) = s.strip_prefix(':') {
                    if let Some(n) = name.strip_suffix('*') {
                        return Segment::Repeat {
                            name: n.to_owned(),
                            at_least_one: false,
                        };
                    }
                    if let Some(n) = name.strip_suffix('+') {
                        return Segment::Repeat {
                            name: n.to_owned(),
                            at_least_one: true,
                        };
                    }
                    match name.strip_suffix('?') {
                        Some(n) => Segment::Param {
                            name: n.to_owned(),
                            optional: true,
                        },
                        None => Segment::Param {
                            name: name.to_owned(),
                            optional: false,
                        },
                    }
                } else if let Some(name) = s.strip_prefix('*') {
                    Segment::Wildcard(if name.is_empty() { "0" } else { name }.to_owned())
                } else {
                    Segment::Literal(s.to_owned())
                }
            })
            .collect::<Vec<_>>();
        let raw = format!(
            "/{}",
            path.split('/')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("/")
        );
        let simple = segments.iter().all(|s| {
            matches!(
                s,
                Segment::Literal(_)
                    | Segment::Param {
                        optional: false,
                        ..
                    }
            )
        });
        PathPattern {
            raw,
            segments,
            simple,
        }
    }

    /// The normalized path (`/users/:id`).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The segments, for spec generators.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The params of `path` (percent-decoded) when it matches.
    pub fn matches(&self, path: &str) -> Option<Map<String, Value>> {
        let mut params = PathParams::default();
        self.match_into(path, &mut params)
            .then(|| params.into_map())
    }

    /// Matches `path`, pushing its params (borrowed where nothing needed decoding) to `out`;
    /// on a mismatch `out` is left as it was.
    pub(crate) fn match_into<'a, 'p>(
        &'a self,
        path: &'p str,
        out: &mut PathParams<'a, 'p>,
    ) -> bool {
        let before = out.len();
        let matched = if self.simple {
            self.match_simple(path, out)
        } else {
            let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let matched = match_from(&self.segments, &parts, out);
            // Pushed innermost first: back to path order, where the last of a name wins (as
            // path-to-regexp's keys in moleculer-web).
            out.reverse_from(before);
            matched
        };
        if !matched {
            out.truncate(before);
        }
        matched
    }

    /// Literals and required params against the segments of `path`, in lockstep.
    fn match_simple<'a, 'p>(&'a self, path: &'p str, out: &mut PathParams<'a, 'p>) -> bool {
        let mut parts = Segments(path);
        for segment in &self.segments {
            let Some(part) = parts.next() else {
                return false;
            };
            match segment {
                Segment::Literal(text) if literal_eq(part, text) => {}
                Segment::Param { name, .. } => out.push(name, PathValue::One(decode(part))),
                _ => return false,
            }
        }
        parts.next().is_none()
    }
}

/// Backtracking match for optional, repeated and wildcard segments. Params are pushed once
/// the rest has matched, so in reverse path order.
fn match_from<'a, 'p>(
    segments: &'a [Segment],
    parts: &[&'p str],
    params: &mut PathParams<'a, 'p>,
) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return parts.is_empty();
    };
    match first {
        Segment::Literal(text) => match parts.split_first() {
            Some((p, more)) if literal_eq(p, text) => match_from(rest, more, params),
            _ => false,
        },
        Segment::Param { name, optional } => {
            if let Some((p, more)) = parts.split_first() {
                if match_from(rest, more, params) {
                    params.push(name, PathValue::One(decode(p)));
                    return true;
                }
            }
            *optional && match_from(rest, parts, params)
        }
        Segment::Repeat { name, at_least_one } => {
            let min = usize::from(*at_least_one);
            // Longest first, backing off so later segments can still match.
            for take in (min..=parts.len()).rev() {
                let mark = params.len();
                if match_from(rest, &parts[take..], params) {
                    let items = parts[..take].iter().map(|p| decode(p)).collect();
                    params.push(name, PathValue::Many(items));
                    return true;
                }
                params.truncate(mark);
            }
            false
        }
        Segment::Wildcard(name) => {
            let joined: Vec<Cow<'p, str>> = parts.iter().map(|p| decode(p)).collect();
            params.push(name, PathValue::One(Cow::Owned(joined.join("/"))));
            true
        }
    }
}

/// Whether the (percent-encoded) segment `p` decodes to `text`, without allocating when it
/// has nothing to decode.
fn literal_eq(p: &str, text: &str) -> bool {
    p == text || (p.contains('%') && decode(p) == text)
}

/// The non-empty segments of a path, found byte by byte (`/` is ASCII, so every cut is at a
/// character boundary).
struct Segments<'p>(&'p str);

impl<'p> Iterator for Segments<'p> {
    type Item = &'p str;

    fn next(&mut self) -> Option<&'p str> {
        let bytes = self.0.as_bytes();
        let start = bytes.iter().position(|&b| b != b'/')?;
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(bytes.len(), |n| start + n);
        let (segment, rest) = (&self.0[start..end], &self.0[end..]);
        self.0 = rest;
        Some(segment)
    }
}

fn decode(s: &str) -> Cow<'_, str> {
    // Most segments have nothing to decode: borrow them.
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    // Path segments are percent-encoded; `+` stays a plus (that is a query-string rule).
    let bytes: Vec<u8> = form_urlencoded::parse(format!("a={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_default();
    Cow::Owned(String::from_utf8(bytes).unwrap_or_else(|_| s.to_owned()))
}

/// How an alias hands the request to its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AliasKind {
    /// Params from the path, query and parsed body (the default).
    #[default]
    Call,
    /// `stream:action` (moleculer-web's name): the body is not parsed; it goes to the action
    /// base64-encoded as the `$body` param, next to the path and query params, with its
    /// content type in `ctx.meta.$contentType`.
    Raw,
    /// `multipart:action` (moleculer-web's name): a `multipart/form-data` body, one call per
    /// file, each file's bytes base64-encoded as `$body` (as [`AliasKind::Raw`]) with its
    /// `fieldname`, `filename`, `encoding` and `mimetype` in the call's meta and the form's
    /// other fields in `ctx.meta.$multipart`. See [`crate::Route::max_files`].
    Multipart,
}

/// One alias: a method (or any), a full path pattern (route prefix included) and an action.
#[derive(Debug, Clone)]
pub struct Alias {
    /// `None` for any method (`*`, `ALL` or no method given).
    pub method: Option<Method>,
    /// The full path, route prefix included.
    pub path: PathPattern,
    /// The action called.
    pub action: String,
    /// How the body reaches the action.
    pub kind: AliasKind,
    /// Whether it came from an action's `rest` property (`autoAliases`).
    pub generated: bool,
}

impl Alias {
    /// Parses `"GET /users/:id"` (or `"/users"` for any method) under `prefix`, calling
    /// `action` (`"users.get"`, or `"stream:files.save"` for a raw body). `None` when the
    /// method is not an HTTP method.
    pub fn parse(prefix: &str, spec: &str, action: &str) -> Option<Alias> {
        let mut words = spec.split_whitespace();
        let (method, path) = match (words.next(), words.next()) {
            (Some(m), Some(p)) => (parse_method(m)?, p),
            (Some(p), None) => (None, p),
            _ => (None, "/"),
        };
        let (kind, action) = match action.split_once(':') {
            Some(("stream", a)) => (AliasKind::Raw, a),
            Some(("multipart", a)) => (AliasKind::Multipart, a),
            Some(("call", a)) => (AliasKind::Call, a),
            _ => (AliasKind::Call, action),
        };
        Some(Alias {
            method,
            path: PathPattern::parse(&format!("{prefix}/{path}")),
            action: action.to_owned(),
            kind,
            generated: false,
        })
    }

    /// Whether it answers `method`.
    pub fn accepts(&self, method: &Method) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
    }

    /// `GET /users/:id users.get`, for logs.
    pub fn describe(&self) -> String {
        let method = self.method.as_ref().map_or("*", Method::as_str);
        format!("{method} {} => {}", self.path.as_str(), self.action)
    }
}

fn parse_method(m: &str) -> Option<Option<Method>> {
    match m.to_ascii_uppercase().as_str() {
        "*" | "ALL" => Some(None),
        other => Method::from_bytes(other.as_bytes()).ok().map(Some),
    }
}

/// The six aliases `"REST /users" => "users"` stands for, as moleculer-web expands it:
/// `list`, `get`, `create`, `update`, `patch` and `remove`.
pub fn rest_aliases(path: &str, service: &str) -> Vec<(String, String)> {
    let base = path.trim_end_matches('/');
    let one = format!("{base}/:id");
    let whole = if base.is_empty() { "/" } else { base };
    [
        ("GET", whole, "list"),
        ("GET", one.as_str(), "get"),
        ("POST", whole, "create"),
        ("PUT", one.as_str(), "update"),
        ("PATCH", one.as_str(), "patch"),
        ("DELETE", one.as_str(), "remove"),
    ]
    .into_iter()
    .map(|(m, p, a)| (format!("{m} {p}"), format!("{service}.{a}")))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params_optional_params_and_wildcards_match() {
        let p = PathPattern::parse("/api/users/:id");
        assert_eq!(
            p.matches("/api/users/7").map(|m| m["id"].clone()),
            Some(json!("7"))
        );
        assert!(p.matches("/api/users").is_none());
        assert!(p.matches("/api/users/7/x").is_none());
        let opt = PathPattern::parse("/a/:x?");
        assert!(opt.matches("/a").is_some());
        assert_eq!(
            opt.matches("/a/b").map(|m| m["x"].clone()),
            Some(json!("b"))
        );
        let wild = PathPattern::parse("/files/*path");
        let m = wild.matches("/files/a/b%20c.txt");
        assert_eq!(m.map(|m| m["path"].clone()), Some(json!("a/b c.txt")));
        let rep = PathPattern::parse("/tree/:parts*/leaf");
        let m = rep.matches("/tree/a/b/leaf").map(|m| m["parts"].clone());
        assert_eq!(m, Some(json!(["a", "b"])));
        assert_eq!(
            rep.matches("/tree/leaf").map(|m| m["parts"].clone()),
            Some(json!([]))
        );
        let plus = PathPattern::parse("/p/:rest+");
        assert!(plus.matches("/p").is_none());
        assert_eq!(
            plus.matches("/p/x").map(|m| m["rest"].clone()),
            Some(json!(["x"]))
        );
    }

    #[test]
    fn segments_decode_only_when_encoded_and_plus_stays_a_plus() {
        assert_eq!(decode("a+b"), "a+b");
        assert_eq!(decode("a%2Bb%20c"), "a+b c");
        assert_eq!(decode("plain"), "plain");
        // Literals compare decoded, with or without escapes in the request.
        let p = PathPattern::parse("/api/hello world/:name");
        let m = p
            .matches("/api/hello%20world/x+y")
            .map(|m| m["name"].clone());
        assert_eq!(m, Some(json!("x+y")));
        assert!(p.matches("/api/hello/x").is_none());
    }

    #[test]
    fn segments_skip_empty_parts() {
        let all: Vec<&str> = Segments("//a/bé//c/").collect();
        assert_eq!(all, ["a", "bé", "c"]);
        assert_eq!(Segments("/").next(), None);
        assert_eq!(Segments("").next(), None);
    }

    #[test]
    fn rest_expands_to_six_aliases() {
        let all = rest_aliases("/users", "users");
        assert_eq!(all.len(), 6);
        assert!(all.contains(&("PATCH /users/:id".into(), "users.patch".into())));
        assert!(all.contains(&("GET /users".into(), "users.list".into())));
    }

    #[test]
    fn alias_specs_parse() {
        let a = Alias::parse("/api", "POST /upload", "stream:files.save");
        let a = a.expect("parses");
        assert_eq!(a.method, Some(Method::POST));
        assert_eq!(a.kind, AliasKind::Raw);
        assert_eq!(a.path.as_str(), "/api/upload");
        let m = Alias::parse("/api", "POST /files", "multipart:files.save").expect("parses");
        assert_eq!(
            (m.kind, m.action.as_str()),
            (AliasKind::Multipart, "files.save")
        );
        let any = Alias::parse("/", "/x", "x.y").expect("parses");
        assert!(any.accepts(&Method::DELETE));
    }
}
