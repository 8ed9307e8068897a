//! `hookshape validate`: exit 0 when every subscription, source and template loads, else 1
//! with a `file:line: message` line per problem. Beyond what loading checks, each
//! subscription's templates run once for every test case's event its topics take, so a
//! misspelt macro in a branch only real data reaches is found before it deploys. With an
//! event catalog, every Payload path the templates read is checked against the schemas of
//! the topics each subscription takes (`crate::subscription::template_paths`).

use crate::cli::output::outln;
use std::process::ExitCode;

use super::{load_or_report, FileArgs};
use crate::subscription::{LoadError, SubscriptionSet};

pub fn run(files: FileArgs) -> anyhow::Result<ExitCode> {
    let Some(set) = load_or_report(&files) else { return Ok(ExitCode::FAILURE) };
    let mut problems = reached_by_cases(&set, &files);
    for sub in set.iter() {
        problems.extend(crate::subscription::template_paths::problems(&set.catalog, sub, &files.templates));
    }
    for p in &problems {
        outln!("{p}");
    }
    if !problems.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    let (subs, sources, topics) = (set.len(), set.sources.len(), set.catalog.topics.len());
    outln!("{subs} subscriptions, {sources} sources, {topics} topics OK (version {})", set.version);
    Ok(ExitCode::SUCCESS)
}

/// The test files that cannot be read, and the template problems the test cases' events
/// lead to, one line each.
fn reached_by_cases(set: &SubscriptionSet, files: &FileArgs) -> Vec<LoadError> {
    let (events, mut problems) = super::test_cases::case_events(set, files);
    for sub in set.iter() {
        let ctxs: Vec<minijinja::Value> = events
            .iter()
            .filter(|e| set.routes(&e.topic).any(|s| s.name == sub.name))
            .map(crate::render::context)
            .collect();
        if ctxs.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(&sub.file).unwrap_or_default();
        for e in sub.template.check(&ctxs) {
            problems.push(crate::subscription::template_load_error(sub, &text, &files.templates, e));
        }
    }
    problems
}
