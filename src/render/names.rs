//! That every filter and test a template names exists, read from the template's text in
//! every branch. The run against an empty event (`check`) reaches only the branches that
//! event takes, and minijinja looks a filter up only when it runs, so `{% if Vip %}{{ Name
//! | uppr }}{% endif %}` loaded and then failed every delivery for a VIP.

use minijinja::{Environment, Error, ErrorKind};

use super::variables::{self, NameKind, NameUse};

/// The first filter or test that `env`'s templates name and `env` does not have: the
/// template it was reached from, where it is used, and the error a run would raise there.
pub(super) fn first_unknown(env: &Environment<'static>) -> Option<(String, NameUse, Error)> {
    let mut known: Vec<(NameKind, String)> = Vec::new();
    for (root, _) in env.templates() {
        for used in variables::names(env, root) {
            let key = (used.kind, used.name.clone());
            if known.contains(&key) {
                continue;
            }
            if let Some(e) = unknown(env, &used) {
                return Some((root.to_string(), used, e));
            }
            known.push(key);
        }
    }
    None
}

/// The error `env` raises for `used`'s name, when it has no such filter or test.
fn unknown(env: &Environment<'static>, used: &NameUse) -> Option<Error> {
    let expr = match used.kind {
        NameKind::Filter => format!("none | {}", used.name),
        NameKind::Test => format!("none is {}", used.name),
    };
    // What a known filter makes of `none` (an error, even a panic) is not the question.
    let run = || env.compile_expression(&expr).and_then(|e| e.eval(())).err();
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).ok().flatten()?;
    matches!(e.kind(), ErrorKind::UnknownFilter | ErrorKind::UnknownTest).then_some(e)
}
