//! Action patterns of a route's whitelist: Moleculer globs (`users.*`, `$node.*`, `**`) or
//! regular expressions.

use regex::Regex;

/// One whitelist entry.
#[derive(Debug, Clone)]
pub enum ActionPattern {
    /// A glob: `*` matches within one dot-separated part, `**` across parts, `?` one character.
    Glob(String),
    /// A regular expression tested against the full action name.
    Regex(Regex),
}

impl ActionPattern {
    /// Whether `action` is allowed by this entry.
    pub fn matches(&self, action: &str) -> bool {
        match self {
            ActionPattern::Glob(g) => glob_match(g.as_bytes(), action.as_bytes()),
            ActionPattern::Regex(r) => r.is_match(action),
        }
    }
}

impl From<&str> for ActionPattern {
    fn from(glob: &str) -> ActionPattern {
        ActionPattern::Glob(glob.to_owned())
    }
}

impl From<String> for ActionPattern {
    fn from(glob: String) -> ActionPattern {
        ActionPattern::Glob(glob)
    }
}

impl From<Regex> for ActionPattern {
    fn from(re: Regex) -> ActionPattern {
        ActionPattern::Regex(re)
    }
}

fn glob_match(pat: &[u8], text: &[u8]) -> bool {
    match pat.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) if rest.first() == Some(&b'*') => {
            let rest = &rest[1..];
            (0..=text.len()).any(|i| glob_match(rest, &text[i..]))
        }
        Some((b'*', rest)) => {
            let limit = text.iter().position(|&c| c == b'.').unwrap_or(text.len());
            (0..=limit).any(|i| glob_match(rest, &text[i..]))
        }
        Some((b'?', rest)) => !text.is_empty() && glob_match(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob_match(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_moleculer() {
        let p = ActionPattern::from("users.*");
        assert!(p.matches("users.get"));
        assert!(!p.matches("users.admin.get"));
        assert!(!p.matches("posts.get"));
        assert!(ActionPattern::from("$node.*").matches("$node.list"));
        assert!(ActionPattern::from("**").matches("a.b.c"));
        assert!(ActionPattern::from("users.**").matches("users.admin.get"));
        let re = ActionPattern::from(Regex::new("^math\\.(add|sub)$").expect("valid"));
        assert!(re.matches("math.add") && !re.matches("math.mul"));
    }
}
