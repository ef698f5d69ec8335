//! Event-name matching as Moleculer does it (`utils.match` of Moleculer.js 0.14 and 0.15): `*`
//! is any run of characters within one dot-separated segment, `**` any run across segments,
//! `?` exactly one character.
//!
//! Moleculer.js answers the simple shapes (`name`, `prefix*`, `prefix**`, `*`, `**`) directly
//! and turns every other pattern into a regular expression without escaping it, so in those
//! patterns a `.` matches any one character too. Every node must route an event the same way,
//! so this follows it, fast paths and all (`tests/tests/properties.rs` compares the two on
//! generated tables). Unlike a backtracking regex, matching takes time proportional to
//! pattern × name length, whatever the pattern: a peer's INFO can announce any pattern.
//! Characters JS would read as other regex syntax (`+`, `(`, `[`, `|`, …, a `$` past the
//! start) are taken literally here; Moleculer.js throws on some of them.

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
    if !pattern.contains('?') {
        let Some(first_star) = pattern.find('*') else {
            return pattern == name;
        };
        let len = pattern.len();
        // `prefix**`: everything under the prefix.
        if len > 2 && pattern.ends_with("**") && first_star + 3 > len {
            return name.starts_with(&pattern[..len - 2]);
        }
        // `prefix*`: Moleculer looks for a dot from the pattern's length on (one past the
        // prefix), so a dot right after the prefix is let through; kept for the same routing.
        if len > 1 && pattern.ends_with('*') && first_star + 2 > len {
            let Some(rest) = name.strip_prefix(&pattern[..len - 1]) else {
                return false;
            };
            let mut after = rest.chars();
            after.next();
            return !after.as_str().contains('.');
        }
        if pattern == "*" {
            return !name.contains('.');
        }
        if pattern == "**" {
            return true;
        }
    }
    Matcher::new(pattern).is_match(name)
}

/// One element of a pattern in its regular-expression reading.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    /// A character that must be there.
    Char(char),
    /// `?` or `.`: any one character but a line break.
    Any,
    /// `*`: any run of characters without a dot.
    Segment,
    /// `**`: any run of characters without a line break.
    Anything,
}

/// What JS's `.` does not match.
fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

struct Matcher {
    tokens: Vec<Token>,
}

impl Matcher {
    fn new(pattern: &str) -> Matcher {
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut chars = pattern.chars().peekable();
        // A leading `$` is escaped by Moleculer (`$node.*`): a literal.
        if let Some('$') = chars.peek() {
            chars.next();
            tokens.push(Token::Char('$'));
        }
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' if chars.peek() == Some(&'*') => {
                    chars.next();
                    Token::Anything
                }
                '*' => Token::Segment,
                '?' | '.' => Token::Any,
                c => Token::Char(c),
            });
        }
        Matcher { tokens }
    }

    /// A walk of the pattern as an automaton: the set of token positions reachable after
    /// each character of the name (no backtracking, so no blow-up).
    fn is_match(&self, name: &str) -> bool {
        let n = self.tokens.len();
        let mut current = vec![false; n + 1];
        let mut next = vec![false; n + 1];
        current[0] = true;
        self.close(&mut current);
        for c in name.chars() {
            next.iter_mut().for_each(|s| *s = false);
            let mut any = false;
            for (i, token) in self.tokens.iter().enumerate() {
                if !current[i] {
                    continue;
                }
                let (stay, advance) = match *token {
                    Token::Char(want) => (false, c == want),
                    Token::Any => (false, !is_line_break(c)),
                    Token::Segment => (c != '.', false),
                    Token::Anything => (!is_line_break(c), false),
                };
                if stay {
                    next[i] = true;
                    any = true;
                }
                if advance {
                    next[i + 1] = true;
                    any = true;
                }
            }
            if !any {
                return false;
            }
            self.close(&mut next);
            std::mem::swap(&mut current, &mut next);
        }
        current[n]
    }

    /// Stars match the empty run too: being before one is being after it.
    fn close(&self, states: &mut [bool]) {
        for (i, token) in self.tokens.iter().enumerate() {
            if states[i] && matches!(token, Token::Segment | Token::Anything) {
                states[i + 1] = true;
            }
        }
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
            // Moleculer's quirks, kept for the same routing.
            ("user.*", "user..x", true),
            ("a.?", "axb", true),
            ("a.b.*.?", "a.b.c.d", true),
            ("a.**.?", "a.b.c.d", true),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(matches(pattern, name), expected, "{pattern} vs {name}");
        }
    }

    #[test]
    fn hostile_patterns_take_linear_time() {
        // A backtracking matcher would not finish this in the age of the universe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let pattern = "**a".repeat(40) + "b";
            let name = "a".repeat(5000);
            let _ = tx.send(matches(&pattern, &name));
        });
        let answer = rx.recv_timeout(std::time::Duration::from_secs(2));
        assert_eq!(answer, Ok(false), "answered within 2 s");
    }
}
