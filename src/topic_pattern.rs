//! Topic patterns: an exact topic or a `*` glob, as subscriptions' `topics:` and the event
//! catalog's topic names write them. Below both, so each can match without the other.

pub fn validate(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("a topic pattern may not be empty".into());
    }
    if pattern.contains(['?', '[', ']', '{', '}']) {
        return Err(format!("topic pattern {pattern:?}: only * is a wildcard"));
    }
    Ok(())
}

/// `*` matches any run of characters, including none.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == text; // the common case, without the split below
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == text;
    }
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut middle = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match middle.find(part) {
            Some(at) => middle = &middle[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Whether some topic matches both patterns (`*` globs, or exact names).
pub fn patterns_overlap(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // A search over (a[i..], b[j..]) states with a stack of its own: a long pattern in a
    // file must not overflow the thread's stack.
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![(0, 0)];
    while let Some((i, j)) = todo.pop() {
        if !seen.insert((i, j)) {
            continue;
        }
        match (a.get(i), b.get(j)) {
            (None, None) => return true,
            // A star matches nothing, or takes the other side's next character (or star).
            (Some('*'), other) => {
                todo.push((i + 1, j));
                if other.is_some() {
                    todo.push((i, j + 1));
                }
            }
            (other, Some('*')) => {
                todo.push((i, j + 1));
                if other.is_some() {
                    todo.push((i + 1, j));
                }
            }
            (Some(x), Some(y)) if x == y => todo.push((i + 1, j + 1)),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_overlap_when_some_topic_matches_both() {
        let cases = [
            ("note.*", "note.completed", true),
            ("note.completed", "note.*", true),
            ("note.*", "*.completed", true),
            ("note.*", "order.*", false),
            ("a*", "*b", true),
            ("a*c", "ab*", true),
            ("a*c", "b*", false),
            ("*", "anything", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("ab*ba", "aba", false),
            ("ab*ba", "ab*", true),
        ];
        for (a, b, want) in cases {
            assert_eq!(patterns_overlap(a, b), want, "{a} ~ {b}");
        }
    }
}
