//! "did you mean ...?": the known name closest to a misspelled one, by edit distance.

/// The candidate `unknown` is most likely a typo or a variant of: the closest one by edit
/// distance when it is close enough (at most one edit per three characters, and always one; an
/// adjacent swap counts as one edit), or else the only one that contains it or is contained in
/// it (`queue` → `max_queue_size`, `timeout_ms` → `timeout`; three characters at least).
pub(crate) fn closest<'a, I>(unknown: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let limit = (unknown.chars().count() / 3).max(1);
    let by_distance = candidates
        .iter()
        .map(|c| (distance(unknown, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    by_distance.or_else(|| {
        let mut containing = candidates.iter().filter(|c| {
            let (shorter, longer) = if c.len() < unknown.len() {
                (**c, unknown)
            } else {
                (unknown, **c)
            };
            shorter.chars().count() >= 3 && longer.contains(shorter)
        });
        match (containing.next(), containing.next()) {
            (Some(only), None) => Some(*only),
            _ => None,
        }
    })
}

/// The optimal string alignment distance, in characters: insertions, deletions, substitutions
/// and swaps of two adjacent characters (`nmae` → `name`) each count as one edit.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the dynamic-programming table: two back (for swaps), previous, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j - 1] + cost)
                .min(previous[j] + 1)
                .min(current[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::{closest, distance};

    #[test]
    fn distances() {
        assert_eq!(distance("crate", "create"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("same", "same"), 0);
        assert_eq!(distance("nmae", "name"), 1);
        assert_eq!(distance("timout", "timeout"), 1);
        assert_eq!(distance("ab", "ba"), 1);
    }

    #[test]
    fn suggests_only_close_names() {
        let keys = [
            "name",
            "visibility",
            "timeout",
            "bulkhead",
            "strategy",
            "shard_key",
        ];
        assert_eq!(closest("timout", keys), Some("timeout"));
        assert_eq!(closest("nmae", keys), Some("name"));
        assert_eq!(closest("Name", keys), Some("name"));
        assert_eq!(closest("strategie", keys), Some("strategy"));
        assert_eq!(closest("params", keys), None);
        assert_eq!(closest("timeout_ms", keys), Some("timeout"));
        assert_eq!(closest("shard", keys), Some("shard_key"));
        assert_eq!(
            closest("queue", ["concurrency", "max_queue_size"]),
            Some("max_queue_size")
        );
        // Contains two keys: no guess.
        assert_eq!(closest("name_strategy", keys), None);
        assert_eq!(closest("me", keys), None);
        assert_eq!(closest("x", keys), None);
        assert_eq!(closest("anything", []), None);
    }
}
