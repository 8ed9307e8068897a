//! What `hookshape init` writes: the example repository's files, kept in `src/init/repo/`
//! and compiled into the binary, plus the editor schemas generated from this binary's own
//! file types (so they always match the version that wrote them).

use std::borrow::Cow;

/// Stands for the version of the binary in the files that name it (the CI files install
/// that version): not `{{ }}`, which templates and GitHub expressions use.
const VERSION_MARK: &str = "@HOOKSHAPE_VERSION@";

/// One file of the new repository: where it goes (relative, `/`-separated) and its text.
#[derive(Debug, Clone)]
pub struct File {
    pub path: &'static str,
    pub text: Cow<'static, str>,
}

/// The embedded files, by where they go. Names that would mean something inside hookshape's
/// own repository (`.gitignore`, `.github/`, `.gitlab-ci.yml`) are stored without their dot.
const EMBEDDED: [(&str, &str); 12] = [
    ("README.md", include_str!("repo/README.md")),
    (".gitignore", include_str!("repo/gitignore")),
    (".github/workflows/hookshape.yml", include_str!("repo/github-workflow.yml")),
    (".gitlab-ci.yml", include_str!("repo/gitlab-ci.yml")),
    ("subscriptions/crm-orders.yaml", include_str!("repo/subscriptions/crm-orders.yaml")),
    ("subscriptions/crm-orders.test.yaml", include_str!("repo/subscriptions/crm-orders.test.yaml")),
    ("templates/crm/order.json.j2", include_str!("repo/templates/crm/order.json.j2")),
    ("sources/shop.yaml", include_str!("repo/sources/shop.yaml")),
    ("sources/shop.test.yaml", include_str!("repo/sources/shop.test.yaml")),
    ("topics/order.paid.yaml", include_str!("repo/topics/order.paid.yaml")),
    ("events/order-paid.json", include_str!("repo/events/order-paid.json")),
    ("events/traffic.jsonl", include_str!("repo/events/traffic.jsonl")),
];

/// Every file `init` writes, in the order it writes them.
pub fn files() -> serde_json::Result<Vec<File>> {
    let mut out: Vec<File> = EMBEDDED.iter().map(|&(path, text)| File { path, text: with_version(text) }).collect();
    out.push(File { path: "schema/subscription.schema.json", text: Cow::Owned(subscription_schema()?) });
    out.push(File { path: "schema/source.schema.json", text: Cow::Owned(source_schema()?) });
    out.push(File { path: "schema/topic.schema.json", text: Cow::Owned(topic_schema()?) });
    Ok(out)
}

fn with_version(text: &'static str) -> Cow<'static, str> {
    if text.contains(VERSION_MARK) {
        Cow::Owned(text.replace(VERSION_MARK, env!("CARGO_PKG_VERSION")))
    } else {
        Cow::Borrowed(text)
    }
}

/// `hookshape schema`'s output, which the subscriptions' first line points editors to.
fn subscription_schema() -> serde_json::Result<String> {
    pretty(&schemars::schema_for!(crate::subscription::raw::RawSubscription))
}

/// `hookshape schema --sources`' output, for the sources' first line.
fn source_schema() -> serde_json::Result<String> {
    pretty(&schemars::schema_for!(crate::source::raw::RawSource))
}

/// `hookshape schema --topics`' output, for the topics' first line.
fn topic_schema() -> serde_json::Result<String> {
    pretty(&schemars::schema_for!(crate::catalog::raw::RawTopic))
}

fn pretty(schema: &schemars::Schema) -> serde_json::Result<String> {
    Ok(serde_json::to_string_pretty(schema)? + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_mark_is_replaced_by_this_binarys_version_everywhere() {
        let files = files().unwrap();
        assert!(files.iter().all(|f| !f.text.contains(VERSION_MARK)));
        let workflow = files.iter().find(|f| f.path == ".github/workflows/hookshape.yml").map(|f| &f.text);
        let expected = format!("HOOKSHAPE_VERSION: \"{}\"", env!("CARGO_PKG_VERSION"));
        assert!(workflow.is_some_and(|t| t.contains(&expected)), "{workflow:?}");
    }

    #[test]
    fn every_path_is_relative_and_appears_once() {
        let files = files().unwrap();
        let mut paths: Vec<&str> = files.iter().map(|f| f.path).collect();
        assert!(paths.iter().all(|p| !p.starts_with('/') && !p.split('/').any(|s| s == ".." || s.is_empty())));
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), files.len());
    }
}
