//! Routing by topic: exact names in a hash map, `*` globs indexed by their literal
//! prefix, so the cost of routing one event does not grow with subscriptions to other topics.

use std::collections::HashMap;

pub use crate::topic_pattern::{glob_match, validate};

#[derive(Debug, Default)]
pub struct TopicIndex {
    exact: HashMap<String, Vec<usize>>,
    /// Literal prefix (text before the first `*`) → (pattern, subscription index).
    globs: HashMap<String, Vec<(String, usize)>>,
    /// Lengths of the prefixes present, so lookup probes only those.
    prefix_lengths: Vec<usize>,
}

impl TopicIndex {
    pub fn insert(&mut self, pattern: &str, subscription: usize) {
        match pattern.find('*') {
            None => self.exact.entry(pattern.to_string()).or_default().push(subscription),
            Some(star) => {
                let prefix = &pattern[..star];
                if !self.prefix_lengths.contains(&prefix.len()) {
                    self.prefix_lengths.push(prefix.len());
                    self.prefix_lengths.sort_unstable();
                }
                self.globs.entry(prefix.to_string()).or_default().push((pattern.to_string(), subscription));
            }
        }
    }

    /// Indexes of the subscriptions whose patterns match `topic`, sorted, without repeats.
    pub fn lookup(&self, topic: &str) -> Vec<usize> {
        let mut found: Vec<usize> = self.exact.get(topic).cloned().unwrap_or_default();
        for &len in &self.prefix_lengths {
            // Not a char boundary of this topic: a longer prefix may still be one.
            let Some(prefix) = topic.get(..len) else { continue };
            for (pattern, sub) in self.globs.get(prefix).into_iter().flatten() {
                if glob_match(pattern, topic) {
                    found.push(*sub);
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }
}

impl TopicIndex {
    /// The configured pattern `topic` matches: the topic itself when a subscription names
    /// it, else the first glob (by prefix length, then file order) that matches.
    pub fn matching_pattern(&self, topic: &str) -> Option<&str> {
        if let Some((name, _)) = self.exact.get_key_value(topic) {
            return Some(name);
        }
        self.prefix_lengths.iter().filter_map(|&len| topic.get(..len)).find_map(|prefix| {
            self.globs.get(prefix)?.iter().find(|(pattern, _)| glob_match(pattern, topic)).map(|(p, _)| p.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_expected() {
        let cases = [
            ("Communication_Earn*", "Communication_EarnPurchasePoints", true),
            ("Communication_Earn*", "Communication_Other", false),
            ("*", "anything", true),
            ("*Points", "EarnPoints", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXc", false),
            ("ab*ba", "aba", false),
            ("note.*", "note.completed", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob_match(p, t), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn index_finds_exact_and_glob_subscriptions_once() {
        let mut index = TopicIndex::default();
        index.insert("Communication_EarnPurchasePoints", 0);
        index.insert("Communication_Earn*", 1);
        index.insert("*", 2);
        index.insert("Other*", 3);
        index.insert("Communication_*Points", 1);
        assert_eq!(index.lookup("Communication_EarnPurchasePoints"), vec![0, 1, 2]);
        assert_eq!(index.lookup("Other.thing"), vec![2, 3]);
        assert_eq!(index.lookup("x"), vec![2]);
    }

    #[test]
    fn a_glob_after_a_longer_prefix_still_matches_non_ascii_topics() {
        let mut index = TopicIndex::default();
        index.insert("ab*", 0);
        index.insert("aé*", 1);
        assert_eq!(index.lookup("aéX"), vec![1], "'ab' cuts 'aé' inside a character; 'aé*' must still be tried");
        assert_eq!(index.matching_pattern("aéX"), Some("aé*"));
        assert_eq!(index.matching_pattern("nothing"), None);
    }
}
