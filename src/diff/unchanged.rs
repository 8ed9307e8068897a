//! Which subscriptions cannot render differently, so `diff` need not render them at all:
//! the same file text, and the same text of every template file it reaches (its
//! `body_template`, and whatever those files or its own text name: imports, includes,
//! macros), followed from file to file. Both sets were loaded with the same environment,
//! so the same texts compile to the same subscription.

use std::collections::{BTreeSet, HashMap};

use crate::subscription::SubscriptionSet;

/// Whether subscription `base_name` of `base` and `work_name` of `work` have the same
/// texts, their template files included.
pub fn same(base: &SubscriptionSet, base_name: &str, work: &SubscriptionSet, work_name: &str) -> bool {
    let (Some(b), Some(w)) = (base.texts.subscriptions.get(base_name), work.texts.subscriptions.get(work_name)) else {
        return false;
    };
    if base_name != work_name || b != w {
        return false;
    }
    let (bt, wt) = (&base.texts.templates, &work.texts.templates);
    let (from_base, from_work) = (reached(b, bt), reached(w, wt));
    // A template name computed when rendering (`include "parts/" ~ kind`) can reach any
    // file: only rendering tells.
    let computes = |reached: &BTreeSet<String>, files: &HashMap<String, String>| {
        names_a_template_it_computes(b)
            || reached.iter().filter_map(|p| files.get(p)).any(|t| names_a_template_it_computes(t))
    };
    if computes(&from_base, bt) || computes(&from_work, wt) {
        return false;
    }
    from_work.union(&from_base).all(|path| bt.get(path) == wt.get(path))
}

/// Whether `text` includes, imports or extends a template by a name it computes rather than
/// writes as one string (`include "parts/" ~ kind ~ ".j2"`, `include [a, b]`,
/// `import name`). Plain words count too (`to include the…` in a description): a false
/// alarm only costs rendering what was the same.
fn names_a_template_it_computes(text: &str) -> bool {
    ["include", "import", "extends", "from"].iter().any(|keyword| {
        text.match_indices(keyword).any(|(at, _)| {
            let before = text[..at].trim_end();
            let after = &text[at + keyword.len()..];
            let word_before = text[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_');
            if word_before || !after.starts_with(char::is_whitespace) {
                return false;
            }
            // `from` is an English word too: only a tag's first word counts (`{% from`, `{%- from`).
            if *keyword == "from" && !before.trim_end_matches(['-', '+']).trim_end().ends_with("{%") {
                return false;
            }
            // `from "x.j2" import name`: the name imported, not a template's.
            if *keyword == "import" && (before.ends_with('"') || before.ends_with('\'')) {
                return false;
            }
            !one_string_literal(after.trim_start())
        })
    })
}

/// Whether `text` begins with a string literal that is the whole name (nothing joined to it).
fn one_string_literal(text: &str) -> bool {
    let Some(quote) = text.chars().next().filter(|c| *c == '"' || *c == '\'') else { return false };
    let Some(end) = text[1..].find(quote) else { return false };
    let rest = text[1 + end + 1..].trim_start();
    !rest.starts_with(['~', '+', '[', '|', '.', '%']) || rest.starts_with("%}")
}

/// The template files `text` names, and those they name, and so on.
fn reached(text: &str, files: &HashMap<String, String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue = vec![text];
    while let Some(t) = queue.pop() {
        for (path, content) in files {
            if !seen.contains(path) && t.contains(path.as_str()) {
                seen.insert(path.clone());
                queue.push(content);
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_name_computed_when_rendering_is_told_from_a_written_one() {
        for computed in [
            r#"{% include "parts/" ~ kind ~ ".j2" %}"#,
            "{% include name %}",
            r#"{% include ["a.j2", "b.j2"] %}"#,
            "{% import macros_file as m %}",
            "{% extends layout %}",
            r#"{% from "macros/" ~ kind ~ ".j2" import money %}"#,
            "{%- from name import money %}",
            r#"{% include "a" + "b" %}"#,
        ] {
            assert!(names_a_template_it_computes(computed), "{computed}");
        }
        for written in [
            r#"{% include "parts/a.j2" %}"#,
            r#"{% include 'parts/a.j2' ignore missing %}"#,
            r#"{% import "macros/c.j2" as c %}"#,
            r#"{% from "macros/c.j2" import id, name %}"#,
            r#"{% extends "base.j2" %}"#,
            r#"{%- include "a.j2" -%}"#,
            "{{ Customer.Id }} includes",
            "description: events from the ERP",
        ] {
            assert!(!names_a_template_it_computes(written), "{written}");
        }
    }

    #[test]
    fn the_files_a_subscription_reaches_are_followed_through_imports() {
        let files: HashMap<String, String> = [
            ("crm/body.json.j2", "{% import \"macros/customer.j2\" as c %}{{ c.id(Customer) }}"),
            ("macros/customer.j2", "{% include \"macros/deep.j2\" %}"),
            ("macros/deep.j2", "{{ Customer.Id }}"),
            ("other.json.j2", "{}"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let reached = reached("request:\n  body_template: crm/body.json.j2\n", &files);
        assert_eq!(
            reached.into_iter().collect::<Vec<_>>(),
            ["crm/body.json.j2", "macros/customer.j2", "macros/deep.j2"]
        );
        assert!(super::reached("request:\n  body: {}\n", &files).is_empty());
    }
}
