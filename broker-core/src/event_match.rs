//! Event-name matching as Moleculer does it: `*` is any run of characters within one
//! dot-separated segment, `**` any run across segments, `?` exactly one character.

/// Whether `name` matches `pattern`.
///
/// ```
/// use broker_core::event_match::matches;
/// assert!(matches("user.*", "user.created"));
/// assert!(!matches("user.*", "user.created.now"));
/// assert!(matches("user.**", "user.created.now"));
/// assert!(matches("**", "anything.at.all"));
/// assert!(matches("user.?reated", "user.created"));
/// ```
pub fn matches(pattern: &str, name: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return pattern == name;
    }
    glob(pattern.as_bytes(), name.as_bytes())
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p {
        [] => s.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        [b'*', rest @ ..] => {
            let segment_end = s.iter().position(|&c| c == b'.').unwrap_or(s.len());
            (0..=segment_end).any(|i| glob(rest, &s[i..]))
        }
        [b'?', rest @ ..] => !s.is_empty() && glob(rest, &s[1..]),
        [c, rest @ ..] => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn moleculer_wildcards() {
        let cases = [
            ("user.created", "user.created", true),
            ("user.created", "user.removed", false),
            ("user.*", "user.created", true),
            ("user.*", "user", false),
            ("user.*", "user.created.now", false),
            ("user.**", "user.created.now", true),
            ("user.**", "user.created", true),
            ("**", "a", true),
            ("**", "a.b.c", true),
            ("*", "a", true),
            ("*", "a.b", false),
            ("*.created", "user.created", true),
            ("*.created", "user.x.created", false),
            ("**.created", "user.x.created", true),
            ("user.?reated", "user.created", true),
            ("user.?", "user.ab", false),
            ("$node.*", "$node.connected", true),
            ("posts.*.done", "posts.x.done", true),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(matches(pattern, name), expected, "{pattern} vs {name}");
        }
    }
}
