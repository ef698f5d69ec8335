//! Checking params against a fastest-validator schema, as Moleculer.js's validator does.
//!
//! A [`ParamsChecker`] is compiled once from an action's `params` (ours, converted from the
//! Rust type, or one a Moleculer.js node published) and reports every problem of a call's
//! params as fastest-validator reports it: the same `type`, `message`, `field` (in its
//! notation: `address.city`, `tags[2]`, `meta['first-name']`), `expected` and `actual`, in the
//! same order. The rules and options covered are those of [`crate::schema::fastest`] plus
//! the common hand-written ones (`equal`, `forbidden`, `multi`, string `enum`/`numeric`/
//! `alpha`/…/`trim`, `convert`, `$$type`, shorthands like `"string|min:3"` and `"number[]"`,
//! custom `messages` and `label`s). Rules it does not know (custom checkers, `date`, `uuid`,
//! `class`…) accept anything: the node that owns the action still checks them.

mod fast;
mod js;
mod messages;

use js::{
    is_base64, is_email, is_identifier, is_numeric, is_url, js_len, js_loose_eq, js_number,
    js_regex_source, js_strict_eq, js_text, js_to_number, js_unescape,
};
use messages::default_message;
use regex::Regex;
use serde_json::{Map, Value};

/// A compiled fastest-validator schema.
#[derive(Debug, Clone)]
pub struct ParamsChecker {
    root: Rule,
}

#[derive(Debug, Clone)]
struct Rule {
    kind: Kind,
    optional: bool,
    nullable: bool,
    has_default: bool,
    label: Option<String>,
    messages: Option<Map<String, Value>>,
}

#[derive(Debug, Clone)]
enum Kind {
    Any,
    Boolean {
        convert: bool,
    },
    Number(Box<NumberRule>),
    String(Box<StringRule>),
    Email {
        empty: bool,
        min: Option<Value>,
        max: Option<Value>,
        precise: bool,
    },
    Url {
        empty: bool,
    },
    Enum(Vec<Value>),
    Equal {
        value: Value,
        strict: bool,
    },
    Forbidden {
        remove: bool,
    },
    Array(Box<ArrayRule>),
    Object(Box<ObjectRule>),
    Multi(Vec<Rule>),
}

#[derive(Debug, Clone, Default)]
struct NumberRule {
    convert: bool,
    min: Option<Value>,
    max: Option<Value>,
    equal: Option<Value>,
    not_equal: Option<Value>,
    integer: bool,
    positive: bool,
    negative: bool,
}

/// A string option that tests the whole text (`numeric`, `alpha`…): its problem type and test.
type CharClass = (&'static str, fn(&str) -> bool);

#[derive(Debug, Clone, Default)]
struct StringRule {
    convert: bool,
    trim: (bool, bool),
    case: Option<bool>,
    empty: Option<bool>,
    min: Option<Value>,
    max: Option<Value>,
    length: Option<Value>,
    /// The regex (when Rust's syntax takes it) and its JS text (`/src/flags`), the `expected`.
    pattern: Option<(Option<Regex>, String)>,
    contains: Option<String>,
    one_of: Option<Vec<Value>>,
    classes: Vec<CharClass>,
}

#[derive(Debug, Clone, Default)]
struct ArrayRule {
    empty: Option<bool>,
    min: Option<Value>,
    max: Option<Value>,
    length: Option<Value>,
    contains: Option<Value>,
    unique: bool,
    one_of: Option<Vec<Value>>,
    items: Option<Rule>,
}

#[derive(Debug, Clone, Default)]
struct ObjectRule {
    props: Option<Vec<(String, Rule)>>,
    /// `strict: true` reports unknown keys; `strict: "remove"` drops them silently.
    strict: bool,
    min_props: Option<Value>,
    max_props: Option<Value>,
}

impl ParamsChecker {
    /// Compiles an action's `params` as Moleculer does: an object of props (with `$$strict`),
    /// a `$$root: true` rule, or an array of alternatives. `None` for anything else.
    pub fn compile(schema: &Value) -> Option<ParamsChecker> {
        let root = match schema {
            Value::Object(map) if map.get("$$root") == Some(&Value::Bool(true)) => {
                Rule::compile(schema)
            }
            Value::Object(map) => {
                let props = map
                    .iter()
                    .filter(|(k, _)| !k.starts_with("$$"))
                    .map(|(k, v)| (k.clone(), Rule::compile(v)))
                    .collect();
                let strict = map.get("$$strict") == Some(&Value::Bool(true));
                Rule::plain(Kind::Object(Box::new(ObjectRule {
                    props: Some(props),
                    strict,
                    ..ObjectRule::default()
                })))
            }
            Value::Array(_) => Rule::compile(schema),
            _ => return None,
        };
        Some(ParamsChecker { root })
    }

    /// Whether the params, as JSON text, surely pass: a quick pass over the text that builds
    /// nothing. `false` means "not sure": [`ParamsChecker::check`] the parsed params then.
    pub fn passes(&self, raw: &str) -> bool {
        fast::passes(&self.root, raw)
    }

    /// Every problem of `params` as fastest-validator items (`type`, `message`, `field`,
    /// `expected`, `actual`); empty when they pass. Moleculer checks `{}` for absent params.
    pub fn check(&self, params: &Value) -> Vec<Value> {
        let empty = Value::Object(Map::new());
        let params = if params.is_null() { &empty } else { params };
        let mut errors = Vec::new();
        self.root.check(Some(params), &Path::Root, &mut errors);
        errors.into_iter().map(Problem::into_item).collect()
    }
}

/// Where a value is, written out (`a.b[2]`) only for a problem: checks that pass build no
/// strings.
enum Path<'a> {
    /// The params themselves (no `field`).
    Root,
    /// A property of an object.
    Prop { parent: &'a Path<'a>, name: &'a str },
    /// An item of an array.
    Item { parent: &'a Path<'a>, index: usize },
}

impl Path<'_> {
    /// The `field` in fastest-validator's notation: `a.b`, `a['b-c']`, `a[2]`; none at the root.
    fn field(&self) -> Option<String> {
        match self {
            Path::Root => None,
            Path::Prop { parent, name } => Some(match parent.field().filter(|p| !p.is_empty()) {
                Some(parent) if is_identifier(name) => format!("{parent}.{name}"),
                Some(parent) => format!("{parent}['{name}']"),
                None => (*name).to_owned(),
            }),
            Path::Item { parent, index } => {
                Some(format!("{}[{index}]", parent.field().unwrap_or_default()))
            }
        }
    }
}

/// One problem, before its message is filled in.
struct Problem<'a> {
    kind: &'static str,
    rule: &'a Rule,
    field: Option<String>,
    expected: Option<Value>,
    /// `None` is JavaScript's `undefined` (no `actual` key).
    actual: Option<Value>,
}

impl Problem<'_> {
    fn into_item(self) -> Value {
        let template = self
            .rule
            .messages
            .as_ref()
            .and_then(|m| m.get(self.kind))
            .and_then(Value::as_str)
            .unwrap_or_else(|| default_message(self.kind));
        let shown_field = self.rule.label.clone().or_else(|| self.field.clone());
        let message = template
            .replace("{field}", &shown_field.unwrap_or_default())
            .replace("{expected}", &js_text(self.expected.as_ref()))
            .replace("{actual}", &js_text(self.actual.as_ref()));
        let mut item = Map::new();
        item.insert("type".into(), Value::String(self.kind.into()));
        item.insert("message".into(), Value::String(message));
        if let Some(field) = self.field {
            item.insert("field".into(), Value::String(field));
        }
        if let Some(expected) = self.expected {
            item.insert("expected".into(), expected);
        }
        if let Some(actual) = self.actual {
            item.insert("actual".into(), actual);
        }
        if let Some(label) = &self.rule.label {
            item.insert("label".into(), Value::String(label.clone()));
        }
        Value::Object(item)
    }
}

impl Rule {
    fn plain(kind: Kind) -> Rule {
        Rule {
            kind,
            optional: false,
            nullable: false,
            has_default: false,
            label: None,
            messages: None,
        }
    }

    fn compile(schema: &Value) -> Rule {
        match schema {
            Value::String(text) => Rule::compile_map(&shorthand(text)),
            Value::Array(alternatives) => {
                let rules: Vec<Rule> = alternatives.iter().map(Rule::compile).collect();
                let mut rule = Rule::plain(Kind::Multi(Vec::new()));
                rule.optional = !rules.is_empty() && rules.iter().all(|r| r.optional);
                rule.kind = Kind::Multi(rules);
                rule
            }
            Value::Object(map) => {
                if map.get("type").is_none() {
                    if let Some(kind) = map.get("$$type").and_then(Value::as_str) {
                        // `{$$type: "object|optional", a: "string"}`: an object of these props.
                        let mut outer = shorthand(kind);
                        let props: Map<String, Value> = map
                            .iter()
                            .filter(|(k, _)| !k.starts_with("$$"))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        outer.insert("props".into(), Value::Object(props));
                        return Rule::compile_map(&outer);
                    }
                }
                Rule::compile_map(map)
            }
            _ => Rule::plain(Kind::Any),
        }
    }

    fn compile_map(s: &Map<String, Value>) -> Rule {
        let flag = |key: &str| s.get(key) == Some(&Value::Bool(true));
        let opt_flag = |key: &str| s.get(key).and_then(Value::as_bool);
        let num = |key: &str| s.get(key).filter(|v| v.is_number()).cloned();
        let kind = match s.get("type").and_then(Value::as_str).unwrap_or("") {
            "boolean" => Kind::Boolean {
                convert: flag("convert"),
            },
            "number" => Kind::Number(Box::new(NumberRule {
                convert: flag("convert"),
                min: num("min"),
                max: num("max"),
                equal: num("equal"),
                not_equal: num("notEqual"),
                integer: flag("integer"),
                positive: flag("positive"),
                negative: flag("negative"),
            })),
            "string" => Kind::String(Box::new(StringRule::compile(s))),
            "email" => Kind::Email {
                empty: flag("empty"),
                min: num("min"),
                max: num("max"),
                precise: s.get("mode").and_then(Value::as_str) == Some("precise"),
            },
            "url" => Kind::Url {
                empty: flag("empty"),
            },
            "enum" => Kind::Enum(
                s.get("values")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            ),
            "equal" if s.get("field").is_none() => Kind::Equal {
                value: s.get("value").cloned().unwrap_or(Value::Null),
                strict: flag("strict"),
            },
            "forbidden" => Kind::Forbidden {
                remove: flag("remove"),
            },
            "array" => Kind::Array(Box::new(ArrayRule {
                empty: opt_flag("empty"),
                min: num("min"),
                max: num("max"),
                length: num("length"),
                contains: s.get("contains").cloned(),
                unique: flag("unique"),
                one_of: s.get("enum").and_then(Value::as_array).cloned(),
                items: s.get("items").map(Rule::compile),
            })),
            "object" => {
                let props = s
                    .get("props")
                    .or_else(|| s.get("properties"))
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter(|(k, _)| !k.starts_with("$$"))
                            .map(|(k, v)| (k.clone(), Rule::compile(v)))
                            .collect()
                    });
                Kind::Object(Box::new(ObjectRule {
                    props,
                    strict: flag("strict"),
                    min_props: num("minProps"),
                    max_props: num("maxProps"),
                }))
            }
            "multi" => match s.get("rules") {
                Some(rules @ Value::Array(_)) => Rule::compile(rules).kind,
                _ => Kind::Any,
            },
            _ => Kind::Any,
        };
        let forbidden = matches!(kind, Kind::Forbidden { .. });
        Rule {
            kind,
            optional: flag("optional") || forbidden,
            nullable: flag("nullable") || forbidden,
            has_default: s.get("default").is_some_and(|d| !d.is_null()),
            label: s.get("label").and_then(Value::as_str).map(str::to_owned),
            messages: s.get("messages").and_then(Value::as_object).cloned(),
        }
    }

    /// Checks one value (`None`: absent) at `path`, adding problems to `errors`.
    fn check<'r>(&'r self, value: Option<&Value>, path: &Path<'_>, errors: &mut Vec<Problem<'r>>) {
        let problem =
            |kind: &'static str, expected: Option<Value>, actual: Option<Value>| Problem {
                kind,
                rule: self,
                field: path.field(),
                expected,
                actual,
            };
        let value = match value {
            // A default fills the value in: nothing to report.
            None if self.has_default => return,
            None if self.optional => return,
            None => return errors.push(problem("required", None, None)),
            Some(Value::Null) if self.has_default && !self.nullable => return,
            Some(Value::Null) if self.optional || self.nullable => return,
            Some(Value::Null) => return errors.push(problem("required", None, Some(Value::Null))),
            Some(value) => value,
        };
        match &self.kind {
            Kind::Any => {}
            Kind::Boolean { convert } => {
                let converted = match value {
                    Value::Number(n)
                        if *convert && (n.as_f64() == Some(1.0) || n.as_f64() == Some(0.0)) =>
                    {
                        true
                    }
                    Value::String(s)
                        if *convert
                            && ["true", "1", "on", "false", "0", "off"].contains(&s.as_str()) =>
                    {
                        true
                    }
                    _ => false,
                };
                if !value.is_boolean() && !converted {
                    errors.push(problem("boolean", None, Some(value.clone())));
                }
            }
            Kind::Number(rule) => rule.check(value, &problem, errors),
            Kind::String(rule) => rule.check(value, &problem, errors),
            Kind::Email {
                empty,
                min,
                max,
                precise,
            } => {
                let Some(text) = value.as_str() else {
                    return errors.push(problem("string", None, Some(value.clone())));
                };
                if text.is_empty() {
                    if !empty {
                        errors.push(problem("emailEmpty", None, Some(value.clone())));
                    }
                    return;
                }
                let len = js_len(text) as f64;
                if let Some(min) = min.as_ref().filter(|m| len < m.as_f64().unwrap_or(0.0)) {
                    errors.push(problem(
                        "emailMin",
                        Some(min.clone()),
                        Some(Value::from(js_len(text))),
                    ));
                }
                if let Some(max) = max
                    .as_ref()
                    .filter(|m| len > m.as_f64().unwrap_or(f64::MAX))
                {
                    errors.push(problem(
                        "emailMax",
                        Some(max.clone()),
                        Some(Value::from(js_len(text))),
                    ));
                }
                if !is_email(text, *precise) {
                    errors.push(problem("email", None, Some(value.clone())));
                }
            }
            Kind::Url { empty } => {
                let Some(text) = value.as_str() else {
                    return errors.push(problem("string", None, Some(value.clone())));
                };
                if text.is_empty() {
                    if !empty {
                        errors.push(problem("urlEmpty", None, Some(value.clone())));
                    }
                    return;
                }
                if !is_url(text) {
                    errors.push(problem("url", None, Some(value.clone())));
                }
            }
            Kind::Enum(values) => {
                if !values.iter().any(|v| js_strict_eq(v, value)) {
                    let expected = values
                        .iter()
                        .map(|v| js_text(Some(v)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    errors.push(problem(
                        "enumValue",
                        Some(Value::String(expected)),
                        Some(value.clone()),
                    ));
                }
            }
            Kind::Equal {
                value: want,
                strict,
            } => {
                let equal = if *strict {
                    js_strict_eq(want, value)
                } else {
                    js_loose_eq(want, value)
                };
                if !equal {
                    errors.push(problem(
                        "equalValue",
                        Some(want.clone()),
                        Some(value.clone()),
                    ));
                }
            }
            Kind::Forbidden { remove } => {
                if !remove {
                    errors.push(problem("forbidden", None, Some(value.clone())));
                }
            }
            Kind::Array(rule) => {
                let Value::Array(items) = value else {
                    return errors.push(problem("array", None, Some(value.clone())));
                };
                rule.check(items, value, path, &problem, errors);
            }
            Kind::Object(rule) => {
                let Value::Object(map) = value else {
                    return errors.push(problem("object", None, Some(value.clone())));
                };
                rule.check(map, path, &problem, errors);
            }
            Kind::Multi(rules) => {
                let mut collected = Vec::new();
                for rule in rules {
                    let mut own = Vec::new();
                    rule.check(Some(value), path, &mut own);
                    if own.is_empty() {
                        return;
                    }
                    collected.extend(own);
                }
                errors.extend(collected);
            }
        }
    }
}

type MakeProblem<'p, 'r> = dyn Fn(&'static str, Option<Value>, Option<Value>) -> Problem<'r> + 'p;

impl NumberRule {
    fn check<'r>(
        &self,
        value: &Value,
        problem: &MakeProblem<'_, 'r>,
        errors: &mut Vec<Problem<'r>>,
    ) {
        let number = match value {
            Value::Number(n) => n.as_f64(),
            other if self.convert => js_to_number(other),
            _ => None,
        };
        let Some(n) = number.filter(|n| n.is_finite()) else {
            return errors.push(problem("number", None, Some(value.clone())));
        };
        let bound = |v: &Option<Value>| v.as_ref().and_then(|b| b.as_f64().map(|f| (f, b.clone())));
        if let Some((min, expected)) = bound(&self.min) {
            if n < min {
                errors.push(problem("numberMin", Some(expected), Some(value.clone())));
            }
        }
        if let Some((max, expected)) = bound(&self.max) {
            if n > max {
                errors.push(problem("numberMax", Some(expected), Some(value.clone())));
            }
        }
        if let Some((equal, expected)) = bound(&self.equal) {
            if n != equal {
                errors.push(problem("numberEqual", Some(expected), Some(value.clone())));
            }
        }
        if let Some((not_equal, expected)) = bound(&self.not_equal) {
            if n == not_equal {
                errors.push(problem(
                    "numberNotEqual",
                    Some(expected),
                    Some(value.clone()),
                ));
            }
        }
        if self.integer && n % 1.0 != 0.0 {
            errors.push(problem("numberInteger", None, Some(value.clone())));
        }
        if self.positive && n <= 0.0 {
            errors.push(problem("numberPositive", None, Some(value.clone())));
        }
        if self.negative && n >= 0.0 {
            errors.push(problem("numberNegative", None, Some(value.clone())));
        }
    }
}

impl StringRule {
    fn compile(s: &Map<String, Value>) -> StringRule {
        let flag = |key: &str| s.get(key) == Some(&Value::Bool(true));
        let num = |key: &str| s.get(key).filter(|v| v.is_number()).cloned();
        let pattern = s.get("pattern").and_then(Value::as_str).map(|source| {
            let flags = s.get("patternFlags").and_then(Value::as_str).unwrap_or("");
            let inline: String = flags
                .chars()
                .filter(|c| matches!(c, 'i' | 'm' | 's'))
                .collect();
            let rust = if inline.is_empty() {
                source.to_owned()
            } else {
                format!("(?{inline}){source}")
            };
            // A JS pattern Rust's syntax does not take (lookaround, backreferences) is not
            // checked here; its own node still checks it.
            // fastest-validator writes the regex's text into generated code as a string
            // literal, which undoes its escapes: `^\\d+$` is reported as `/^d+$/`.
            let shown = js_unescape(&format!("/{}/{flags}", js_regex_source(source)));
            (Regex::new(&rust).ok(), shown)
        });
        let mut classes: Vec<CharClass> = Vec::new();
        let checks: [(&str, CharClass); 7] = [
            ("numeric", ("stringNumeric", is_numeric)),
            (
                "alpha",
                ("stringAlpha", |t| {
                    !t.is_empty() && t.chars().all(|c| c.is_ascii_alphabetic())
                }),
            ),
            (
                "alphanum",
                ("stringAlphanum", |t| {
                    !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric())
                }),
            ),
            (
                "alphadash",
                ("stringAlphadash", |t| {
                    !t.is_empty()
                        && t.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                }),
            ),
            (
                "hex",
                ("stringHex", |t| {
                    t.len() % 2 == 0 && !t.is_empty() && t.chars().all(|c| c.is_ascii_hexdigit())
                }),
            ),
            ("singleLine", ("stringSingleLine", |t| !t.contains('\n'))),
            ("base64", ("stringBase64", is_base64)),
        ];
        for (key, class) in checks {
            if flag(key) {
                classes.push(class);
            }
        }
        StringRule {
            convert: flag("convert"),
            trim: (
                flag("trim") || flag("trimLeft"),
                flag("trim") || flag("trimRight"),
            ),
            case: if flag("lowercase") {
                Some(false)
            } else if flag("uppercase") {
                Some(true)
            } else {
                None
            },
            empty: s.get("empty").and_then(Value::as_bool),
            min: num("min"),
            max: num("max"),
            length: num("length"),
            pattern,
            contains: s.get("contains").and_then(Value::as_str).map(str::to_owned),
            one_of: s.get("enum").and_then(Value::as_array).cloned(),
            classes,
        }
    }

    fn check<'r>(
        &self,
        value: &Value,
        problem: &MakeProblem<'_, 'r>,
        errors: &mut Vec<Problem<'r>>,
    ) {
        let converted;
        let original = match value {
            Value::String(s) => s.as_str(),
            other if self.convert => {
                converted = js_text(Some(other));
                converted.as_str()
            }
            other => return errors.push(problem("string", None, Some(other.clone()))),
        };
        self.check_text(original, problem, errors);
    }

    /// The checks of a string value's text.
    fn check_text<'r>(
        &self,
        original: &str,
        problem: &MakeProblem<'_, 'r>,
        errors: &mut Vec<Problem<'r>>,
    ) {
        let actual = || Some(Value::String(original.to_owned()));
        let mut text = original;
        if self.trim.0 {
            text = text.trim_start();
        }
        if self.trim.1 {
            text = text.trim_end();
        }
        let cased;
        let text = match self.case {
            Some(upper) => {
                cased = if upper {
                    text.to_uppercase()
                } else {
                    text.to_lowercase()
                };
                cased.as_str()
            }
            None => text,
        };
        let len = js_len(text);
        if len == 0 {
            match self.empty {
                Some(false) => errors.push(problem(
                    "stringEmpty",
                    None,
                    Some(Value::String(text.to_owned())),
                )),
                Some(true) => return,
                None => {}
            }
        }
        let len_f = len as f64;
        let len_value = || Some(Value::from(len));
        if let Some(min) = self
            .min
            .as_ref()
            .filter(|m| len_f < m.as_f64().unwrap_or(0.0))
        {
            errors.push(problem("stringMin", Some(min.clone()), len_value()));
        }
        if let Some(max) = self
            .max
            .as_ref()
            .filter(|m| len_f > m.as_f64().unwrap_or(f64::MAX))
        {
            errors.push(problem("stringMax", Some(max.clone()), len_value()));
        }
        if let Some(length) = self.length.as_ref().filter(|l| l.as_f64() != Some(len_f)) {
            errors.push(problem("stringLength", Some(length.clone()), len_value()));
        }
        if let Some((Some(regex), shown)) = &self.pattern {
            if !regex.is_match(text) {
                errors.push(problem(
                    "stringPattern",
                    Some(Value::String(shown.clone())),
                    actual(),
                ));
            }
        }
        if let Some(needle) = self
            .contains
            .as_ref()
            .filter(|n| !text.contains(n.as_str()))
        {
            errors.push(problem(
                "stringContains",
                Some(Value::String(needle.clone())),
                actual(),
            ));
        }
        if let Some(values) = &self.one_of {
            if !values.iter().any(|v| v.as_str() == Some(text)) {
                let expected = values
                    .iter()
                    .map(|v| js_text(Some(v)))
                    .collect::<Vec<_>>()
                    .join(", ");
                errors.push(problem(
                    "stringEnum",
                    Some(Value::String(expected)),
                    actual(),
                ));
            }
        }
        for (kind, test) in &self.classes {
            if !test(text) {
                let actual = if *kind == "stringSingleLine" {
                    None
                } else {
                    actual()
                };
                errors.push(problem(kind, None, actual));
            }
        }
    }
}

impl ArrayRule {
    fn check<'r>(
        &'r self,
        items: &[Value],
        value: &Value,
        path: &Path<'_>,
        problem: &MakeProblem<'_, 'r>,
        errors: &mut Vec<Problem<'r>>,
    ) {
        let len = items.len() as f64;
        let len_value = || Some(Value::from(items.len()));
        if self.empty == Some(false) && items.is_empty() {
            errors.push(problem("arrayEmpty", None, Some(value.clone())));
        }
        if let Some(min) = self
            .min
            .as_ref()
            .filter(|m| len < m.as_f64().unwrap_or(0.0))
        {
            errors.push(problem("arrayMin", Some(min.clone()), len_value()));
        }
        if let Some(max) = self
            .max
            .as_ref()
            .filter(|m| len > m.as_f64().unwrap_or(f64::MAX))
        {
            errors.push(problem("arrayMax", Some(max.clone()), len_value()));
        }
        if let Some(length) = self.length.as_ref().filter(|l| l.as_f64() != Some(len)) {
            errors.push(problem("arrayLength", Some(length.clone()), len_value()));
        }
        if let Some(wanted) = &self.contains {
            if !items.iter().any(|i| js_strict_eq(i, wanted)) {
                errors.push(problem(
                    "arrayContains",
                    Some(wanted.clone()),
                    Some(value.clone()),
                ));
            }
        }
        if self.unique {
            // JavaScript's `Set` compares objects by identity: only equal primitives repeat.
            let mut repeated: Vec<&Value> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let first = items.iter().position(|other| js_strict_eq(other, item));
                if first != Some(i) && !repeated.iter().any(|r| js_strict_eq(r, item)) {
                    repeated.push(item);
                }
            }
            if !repeated.is_empty() {
                let expected = Value::Array(repeated.into_iter().cloned().collect());
                errors.push(problem("arrayUnique", Some(expected), Some(value.clone())));
            }
        }
        if let Some(values) = &self.one_of {
            let expected = values
                .iter()
                .map(|v| js_text(Some(v)))
                .collect::<Vec<_>>()
                .join(", ");
            for item in items
                .iter()
                .filter(|i| !values.iter().any(|v| js_strict_eq(v, i)))
            {
                errors.push(problem(
                    "arrayEnum",
                    Some(Value::String(expected.clone())),
                    Some(item.clone()),
                ));
            }
        }
        if let Some(rule) = &self.items {
            for (index, item) in items.iter().enumerate() {
                if item.is_null() {
                    // fastest-validator reports a missing item under the array's own field.
                    rule.check(Some(item), path, errors);
                    continue;
                }
                rule.check(
                    Some(item),
                    &Path::Item {
                        parent: path,
                        index,
                    },
                    errors,
                );
            }
        }
    }
}

impl ObjectRule {
    fn check<'r>(
        &'r self,
        map: &Map<String, Value>,
        path: &Path<'_>,
        problem: &MakeProblem<'_, 'r>,
        errors: &mut Vec<Problem<'r>>,
    ) {
        if let Some(props) = &self.props {
            for (name, rule) in props {
                rule.check(map.get(name), &Path::Prop { parent: path, name }, errors);
            }
            if self.strict {
                let unknown: Vec<&str> = map
                    .keys()
                    .filter(|k| !props.iter().any(|(name, _)| name == *k))
                    .map(String::as_str)
                    .collect();
                if !unknown.is_empty() {
                    let allowed: Vec<&str> = props.iter().map(|(n, _)| n.as_str()).collect();
                    errors.push(problem(
                        "objectStrict",
                        Some(Value::String(allowed.join(", "))),
                        Some(Value::String(unknown.join(", "))),
                    ));
                }
            }
        }
        let count = map.len() as f64;
        if let Some(min) = self
            .min_props
            .as_ref()
            .filter(|m| count < m.as_f64().unwrap_or(0.0))
        {
            errors.push(problem(
                "objectMinProps",
                Some(min.clone()),
                Some(Value::from(map.len())),
            ));
        }
        if let Some(max) = self
            .max_props
            .as_ref()
            .filter(|m| count > m.as_f64().unwrap_or(f64::MAX))
        {
            errors.push(problem(
                "objectMaxProps",
                Some(max.clone()),
                Some(Value::from(map.len())),
            ));
        }
    }
}

/// `"string|min:3|optional"`, `"number[]"`, `"no-empty"` flags: fastest-validator's shorthand.
fn shorthand(text: &str) -> Map<String, Value> {
    let mut parts = text.split('|').map(str::trim);
    let kind = parts.next().unwrap_or("");
    let mut map = Map::new();
    match kind.strip_suffix("[]") {
        Some(item) => {
            map.insert("type".into(), Value::String("array".into()));
            map.insert("items".into(), Value::String(item.into()));
        }
        None => {
            map.insert("type".into(), Value::String(kind.into()));
        }
    }
    for part in parts {
        match part.split_once(':') {
            Some((key, value)) => {
                let value = value.trim();
                let parsed = match value {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => js_to_number(&Value::String(value.into()))
                        .and_then(|n| serde_json::Number::from_f64(n).map(js_number))
                        .unwrap_or_else(|| Value::String(value.into())),
                };
                map.insert(key.trim().into(), parsed);
            }
            None => match part.strip_prefix("no-") {
                Some(key) => {
                    map.insert(key.into(), Value::Bool(false));
                }
                None => {
                    map.insert(part.into(), Value::Bool(true));
                }
            },
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(schema: Value, params: Value) -> Vec<Value> {
        ParamsChecker::compile(&schema)
            .expect("compiles")
            .check(&params)
    }

    #[test]
    fn valid_params_have_no_problems() {
        let schema = json!({"name": "string", "age": {"type": "number", "optional": true}});
        assert!(check(schema.clone(), json!({"name": "Ann"})).is_empty());
        assert!(check(schema, json!({"name": "Ann", "age": 3, "other": true})).is_empty());
    }

    #[test]
    fn problems_are_reported_in_fastest_validators_shape() {
        let schema = json!({
            "name": {"type": "string", "min": 3},
            "address": {"type": "object", "props": {"city": "string", "first-line": "string"}},
            "tags": {"type": "array", "items": "string"},
        });
        let problems = check(
            schema,
            json!({"name": "Al", "address": {"city": 5, "first-line": "x"}, "tags": ["a", 1]}),
        );
        assert_eq!(
            problems,
            vec![
                json!({"type": "stringMin", "message": "The 'name' field length must be greater than or equal to 3 characters long.", "field": "name", "expected": 3, "actual": 2}),
                json!({"type": "string", "message": "The 'address.city' field must be a string.", "field": "address.city", "actual": 5}),
                json!({"type": "string", "message": "The 'tags[1]' field must be a string.", "field": "tags[1]", "actual": 1}),
            ]
        );
        let problems = check(
            json!({"a": {"type": "object", "props": {"b-c": "string"}}}),
            json!({"a": {}}),
        );
        assert_eq!(problems[0]["field"], "a['b-c']");
        assert!(
            problems[0].get("actual").is_none(),
            "an absent field has no actual"
        );
    }

    #[test]
    fn shorthands_strict_and_nulls() {
        let schema = json!({"n": "number|min:2|optional", "$$strict": true});
        assert_eq!(
            check(schema.clone(), json!({"n": 1}))[0]["type"],
            "numberMin"
        );
        assert!(check(schema.clone(), json!({"n": null})).is_empty());
        let strict = check(schema, json!({"x": 1, "y": 2}));
        assert_eq!(
            strict,
            vec![
                json!({"type": "objectStrict", "message": "The object '' contains forbidden keys: 'x, y'.", "expected": "n", "actual": "x, y"})
            ]
        );
        assert_eq!(
            check(json!({"a": "string"}), json!({"a": null})),
            vec![
                json!({"type": "required", "message": "The 'a' field is required.", "field": "a", "actual": null})
            ]
        );
    }

    #[test]
    fn messages_write_values_as_javascript_does() {
        assert_eq!(js_text(Some(&json!(3.0))), "3");
        assert_eq!(js_text(Some(&json!(1.5))), "1.5");
        assert_eq!(js_text(Some(&json!([1, "a", null]))), "1,a,");
        assert_eq!(js_text(Some(&json!({"a": 1}))), "[object Object]");
        assert_eq!(js_regex_source("^a/b$"), "^a\\/b$");
        assert_eq!(js_unescape("/^\\d+\\.x\\\\y\\/$/"), "/^d+.x\\y/$/");
    }

    #[test]
    fn the_quick_pass_is_sure_only_of_right_params() {
        let schema = json!({"a": "string|min:2", "b": {"type": "array", "items": "number", "optional": true}});
        let checker = ParamsChecker::compile(&schema).expect("compiles");
        assert!(checker.passes(r#"{"a": "xy", "b": [1, 2.5], "c": {"d": [null]}}"#));
        assert!(checker.passes(r#"{"a": "x\u0079"}"#), "escapes are read");
        for wrong in [
            r#"{"a": "x"}"#,
            r#"{"b": []}"#,
            r#"{"a": "xy", "b": [1, "2"]}"#,
            r#"{"a": "xy", "a": 5}"#,
            "null",
            "[]",
            r#"{"a": "xy"} trailing"#,
        ] {
            assert!(!checker.passes(wrong), "{wrong}");
        }
    }

    #[test]
    fn emails_and_urls() {
        assert!(is_email("a@b.co", false));
        assert!(!is_email("a@b", false));
        assert!(!is_email("a b@c.de", false));
        assert!(!is_email("@b.co", false));
        assert!(!is_email("a@.", false));
        assert!(is_email("first.last@example.com", true));
        assert!(!is_email("first..last@example", true));
        assert!(is_url("https://x"));
        assert!(!is_url("ftp://x"));
        assert!(!is_url("http:// x"));
    }
}
