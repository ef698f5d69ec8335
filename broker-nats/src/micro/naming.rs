//! Moleculer names as ADR-32 names: service and endpoint names limited to `[A-Za-z0-9_-]`,
//! versions as SemVer, actions' default subjects, and the checks ADR-32 makes on subjects and
//! queue groups.

use serde_json::Value;

/// An ADR-32 service or endpoint name: every character outside `[A-Za-z0-9_-]` becomes `_`
/// (`users.admin` → `users_admin`, `$node` → `_node`); an empty name becomes `_`.
pub(crate) fn adr32_name(moleculer: &str) -> String {
    if moleculer.is_empty() {
        return "_".to_owned();
    }
    moleculer
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A Moleculer version as SemVer: none → `0.0.0`; a number `2` → `2.0.0`; a string that
/// already is SemVer stays (a leading `v` dropped: `v1.2.3` → `1.2.3`); `"2"` or `"2.1"` are
/// padded (`2.0.0`, `2.1.0`); any other string becomes a pre-release of `0.0.0`
/// (`"staging"` → `0.0.0-staging`, characters SemVer forbids there turned into `-`).
pub(crate) fn semver(version: Option<&Value>) -> String {
    match version {
        None | Some(Value::Null) => "0.0.0".to_owned(),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) => format!("{n}.0.0"),
            None => prerelease(&n.to_string()),
        },
        Some(Value::String(s)) => semver_of_text(s),
        Some(other) => prerelease(&other.to_string()),
    }
}

fn semver_of_text(text: &str) -> String {
    let trimmed = text
        .strip_prefix(['v', 'V'])
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(text);
    if is_semver(trimmed) {
        return trimmed.to_owned();
    }
    let parts: Vec<&str> = trimmed.split('.').collect();
    if parts.len() <= 3 && parts.iter().all(|p| is_digits(p)) {
        let numbers: Option<Vec<u64>> = parts.iter().map(|p| p.parse().ok()).collect();
        if let Some(mut numbers) = numbers {
            numbers.resize(3, 0);
            return format!("{}.{}.{}", numbers[0], numbers[1], numbers[2]);
        }
    }
    if text.is_empty() {
        return "0.0.0".to_owned();
    }
    prerelease(text)
}

/// `0.0.0-<text>`, with `text` made one valid pre-release identifier.
fn prerelease(text: &str) -> String {
    let id: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    // A numeric identifier must not have a leading zero: make it alphanumeric.
    if is_digits(&id) && id.len() > 1 && id.starts_with('0') {
        format!("0.0.0-v{id}")
    } else {
        format!("0.0.0-{id}")
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// SemVer 2.0.0: `MAJOR.MINOR.PATCH[-pre.release][+build.meta]`, numbers without leading
/// zeros (what the schema's regular expression accepts).
pub(crate) fn is_semver(s: &str) -> bool {
    let (rest, build) = match s.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (s, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numeric = |p: &str| is_digits(p) && (p == "0" || !p.starts_with('0'));
    let ident =
        |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let core: Vec<&str> = core.split('.').collect();
    core.len() == 3
        && core.iter().all(|p| numeric(p))
        && pre.is_none_or(|pre| {
            pre.split('.')
                .all(|p| ident(p) && (!is_digits(p) || numeric(p)))
        })
        && build.is_none_or(|b| b.split('.').all(ident))
}

/// An action's default subject: its full name (`v2.math.add`), each token with whitespace,
/// `*` and `>` turned into `_` (they would make a wildcard or an invalid subject) and empty
/// tokens into `_`.
pub(crate) fn default_subject(action: &str) -> String {
    action
        .split('.')
        .map(|token| {
            if token.is_empty() {
                "_".to_owned()
            } else {
                token
                    .chars()
                    .map(|c| {
                        if c.is_whitespace() || c == '*' || c == '>' {
                            '_'
                        } else {
                            c
                        }
                    })
                    .collect()
            }
        })
        .collect::<Vec<String>>()
        .join(".")
}

/// Checks an endpoint subject (or a group prefix, with `prefix`): ADR-32's rule (no spaces,
/// `>` only last) made exact for NATS: non-empty dot-separated tokens, `*` and `>` only as
/// whole tokens, `>` only as the last one (never in a prefix), nothing under `$SRV`.
pub(crate) fn check_subject(subject: &str, prefix: bool) -> Result<(), String> {
    let tokens: Vec<&str> = subject.split('.').collect();
    let problem = if subject.chars().any(char::is_whitespace) {
        "must not contain whitespace"
    } else if tokens.iter().any(|t| t.is_empty()) {
        "must not have an empty token (a leading, trailing or doubled `.`)"
    } else if tokens
        .iter()
        .enumerate()
        .any(|(i, t)| t.contains('>') && (*t != ">" || i + 1 != tokens.len() || prefix))
    {
        "may contain `>` only as its whole last token (and not in a group prefix)"
    } else if tokens.iter().any(|t| t.contains('*') && *t != "*") {
        "may contain `*` only as a whole token"
    } else if tokens[0] == "$SRV" {
        "must not start with `$SRV` (reserved for the service API's PING, INFO and STATS)"
    } else {
        return Ok(());
    };
    Err(format!("the NATS subject \"{subject}\" {problem}"))
}

/// Checks a queue group name: ADR-32's `^[^ >]*[>]?$`, non-empty, and no other whitespace
/// (NATS would split the SUB line on it).
pub(crate) fn check_queue_group(group: &str) -> Result<(), String> {
    let body = group.strip_suffix('>').unwrap_or(group);
    if group.is_empty() || body.contains('>') || group.chars().any(char::is_whitespace) {
        Err(format!(
            "the queue group \"{group}\" must be non-empty, without whitespace, with `>` only last"
        ))
    } else {
        Ok(())
    }
}

/// A new instance id: 32 hex characters, one valid subject token.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_keep_only_what_adr32_allows() {
        assert_eq!(adr32_name("math"), "math");
        assert_eq!(adr32_name("users.admin"), "users_admin");
        assert_eq!(adr32_name("$node"), "_node");
        assert_eq!(adr32_name("a b/c-d_e"), "a_b_c-d_e");
        assert_eq!(adr32_name(""), "_");
    }

    #[test]
    fn versions_become_semver() {
        assert_eq!(semver(None), "0.0.0");
        assert_eq!(semver(Some(&json!(2))), "2.0.0");
        assert_eq!(semver(Some(&json!("2"))), "2.0.0");
        assert_eq!(semver(Some(&json!("v2"))), "2.0.0");
        assert_eq!(semver(Some(&json!("2.1"))), "2.1.0");
        assert_eq!(semver(Some(&json!("v1.2.3-rc.1+b7"))), "1.2.3-rc.1+b7");
        assert_eq!(semver(Some(&json!("staging"))), "0.0.0-staging");
        assert_eq!(semver(Some(&json!("my build!"))), "0.0.0-my-build-");
        assert_eq!(semver(Some(&json!("1.02"))), "1.2.0");
        assert_eq!(semver(Some(&json!(-3))), "0.0.0--3");
        assert_eq!(semver(Some(&json!(""))), "0.0.0");
        for v in ["0.0.0-staging", "0.0.0-my-build-", "2.1.0", "0.0.0--3"] {
            assert!(is_semver(v), "{v}");
        }
    }

    #[test]
    fn semver_check_follows_the_spec() {
        for ok in [
            "0.0.0",
            "1.2.3",
            "10.20.30-alpha.1",
            "1.0.0+build.5",
            "1.0.0-0A.is.legal",
        ] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in [
            "1",
            "1.2",
            "01.2.3",
            "1.2.3-01",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-a..b",
            "v1.2.3",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn default_subjects_are_the_action_names_made_literal() {
        assert_eq!(default_subject("v2.math.add"), "v2.math.add");
        assert_eq!(default_subject("a.b c.*.>"), "a.b_c._._");
        assert_eq!(default_subject("a..b"), "a._.b");
    }

    #[test]
    fn subjects_and_queue_groups_are_checked() {
        assert!(check_subject("math.add", false).is_ok());
        assert!(check_subject("math.*.add", false).is_ok());
        assert!(check_subject("math.>", false).is_ok());
        assert!(check_subject("math.>", true).is_err());
        assert!(check_subject("math add", false).is_err());
        assert!(check_subject("math..add", false).is_err());
        assert!(check_subject("math.a>", false).is_err());
        assert!(check_subject(">.a", false).is_err());
        assert!(check_subject("$SRV.PING", false).is_err());
        assert!(check_queue_group("q").is_ok());
        assert!(check_queue_group("").is_err());
        assert!(check_queue_group("a b").is_err());
        assert!(check_queue_group("a>b").is_err());
    }

    #[test]
    fn ids_are_unique_subject_tokens() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
