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
    reached(w, wt).union(&reached(b, bt)).all(|path| bt.get(path) == wt.get(path))
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
