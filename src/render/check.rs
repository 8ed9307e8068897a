//! What `validate` finds in every template a subscription can reach, before anything is
//! deployed: a missing import or include, an unknown macro, filter, function or test, a
//! call with too many arguments, each with its file and line. minijinja resolves names
//! only when a template runs, so each template is run in a copy of the environment where
//! undefined values chain instead of failing: against an empty event when files load, and
//! against each test case's event in `validate`. A macro used only in a branch that no such
//! event takes is not seen; filters and tests are also read from the text (`super::names`).

use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};

use super::environment::{JSON_PREFIX, TEXT_PREFIX, URL_PREFIX};
use super::{compile_error, CompileError};

/// A place in a file under the templates directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateAt {
    /// The file's path under the templates directory (`loyalty/enums.j2`).
    pub file: String,
    pub line: usize,
}

/// The environment `env` with undefined values chaining, so that a missing field does not
/// stop a run before it reaches the names to check.
pub(super) fn dry(env: &Environment<'static>) -> Environment<'static> {
    let mut dry = env.clone();
    dry.set_undefined_behavior(UndefinedBehavior::Chainable);
    dry
}

/// The templates a subscription renders itself (URL, headers, filter, body); the files
/// they import or include are reached by running them. Listed before any delivery runs,
/// so only the ones `compile` added.
pub(super) fn roots(env: &Environment<'static>) -> Vec<String> {
    env.templates().map(|(name, _)| name.to_string()).collect()
}

/// The check run when files load, against an empty event: the first problem found.
pub(super) fn at_load(env: &Environment<'static>) -> Result<(), CompileError> {
    let empty = Value::from_pairs(std::iter::empty::<(&str, Value)>());
    let unknown_name = || {
        super::names::first_unknown(env)
            .map(|(root, used, e)| located_at(env, &root, Some(&used.file), Some(used.line), &e))
    };
    // An include whose name is computed from the event (`"parts/" ~ Kind`) names no file
    // for an empty one: the test cases' events check it in `validate`.
    let dry = dry(env);
    let fault = |e: &Error| !computed_template_name(&dry, e);
    match problems(&dry, &roots(env), &empty, fault).into_iter().next().or_else(unknown_name) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The first problem of each template in `roots`, run in `dry` for `ctx`.
pub(super) fn run(dry: &Environment<'static>, roots: &[String], ctx: &Value) -> Vec<CompileError> {
    problems(dry, roots, ctx, |_| true)
}

/// `run`, keeping only the problems `fault` says are the template's.
fn problems(
    dry: &Environment<'static>,
    roots: &[String],
    ctx: &Value,
    fault: impl Fn(&Error) -> bool,
) -> Vec<CompileError> {
    roots
        .iter()
        .filter_map(|root| {
            // A panic in a filter on odd data is not what is looked for here: skipped.
            let render = || dry.get_template(root).and_then(|t| t.render(ctx)).err();
            let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(render)).ok().flatten()?;
            (is_structural(&e) && fault(&e)).then(|| located(dry, root, &e))
        })
        .collect()
}

/// Whether `e` is a template not found by a name the template computes (`{% include
/// "parts/" ~ kind %}`), not one it writes as a string.
fn computed_template_name(dry: &Environment<'static>, e: &Error) -> bool {
    if !matches!(e.kind(), ErrorKind::TemplateNotFound | ErrorKind::BadInclude) {
        return false;
    }
    let source = e.name().and_then(|n| dry.get_template(n).ok()).map(|t| t.source().to_string()).unwrap_or_default();
    let Some(line) = e.line().and_then(|l| source.lines().nth(l.saturating_sub(1))) else { return false };
    line.split("{%").skip(1).any(|tag| {
        let tag = tag.trim_start_matches(['-', '+']).trim_start();
        let Some((keyword, argument)) = tag.split_once(char::is_whitespace) else { return false };
        if !["include", "import", "from", "extends"].contains(&keyword) {
            return false;
        }
        let argument = argument.split("%}").next().unwrap_or_default().trim_start();
        // A literal is a quoted string and nothing more (but `ignore missing`, `as …`).
        let literal = ['"', '\''].iter().any(|&q| {
            argument.strip_prefix(q).and_then(|rest| rest.split_once(q)).is_some_and(|(_, after)| {
                let after = after.trim_start();
                after.is_empty()
                    || ["ignore", "as", "import", "with", "without", "-"].iter().any(|w| after.starts_with(w))
            })
        });
        !literal
    })
}

/// Whether `e` is a fault of the template itself, whatever the event holds.
fn is_structural(e: &Error) -> bool {
    let detail = e.detail().unwrap_or_default();
    match e.kind() {
        ErrorKind::UnknownFilter
        | ErrorKind::UnknownFunction
        | ErrorKind::UnknownTest
        | ErrorKind::UnknownBlock
        | ErrorKind::TooManyArguments
        | ErrorKind::MissingArgument
        | ErrorKind::TemplateNotFound
        | ErrorKind::BadInclude
        | ErrorKind::SyntaxError => true,
        // A method on a missing value (`Customer.Name.upper()` on an event without it)
        // depends on the event; on a module or a literal it is a misspelt name.
        ErrorKind::UnknownMethod => !(detail.starts_with("undefined ") || detail.starts_with("none ")),
        // Calling something that is not a macro or function: a name from an import that
        // the imported file does not define.
        ErrorKind::InvalidOperation => detail.contains("is not callable"),
        _ => false,
    }
}

/// `e`, met while rendering `root`, as an error naming the subscription field and, when it
/// is in a file under the templates directory, that file and line.
fn located(dry: &Environment<'static>, root: &str, e: &Error) -> CompileError {
    located_at(dry, root, e.name(), e.line(), e)
}

/// `e`, about what template `name` (reached from `root`) has at `line`, as an error naming
/// the subscription field and the file and line when that is under the templates directory.
fn located_at(
    dry: &Environment<'static>,
    root: &str,
    name: Option<&str>,
    line: Option<usize>,
    e: &Error,
) -> CompileError {
    let field = field_of(root);
    let mut error = compile_error(field, explain(dry, (name, line), e));
    error.at = match (name, line) {
        (Some(name), Some(line)) if !is_inline(name) => Some(TemplateAt { file: name.to_string(), line }),
        _ => None,
    };
    error
}

/// The subscription field a root template renders (`request.url`), or its body file's.
fn field_of(root: &str) -> String {
    match [URL_PREFIX, TEXT_PREFIX, JSON_PREFIX].iter().find_map(|p| root.strip_prefix(p)) {
        Some(field) => field.to_string(),
        None => "request.body_template".to_string(),
    }
}

fn is_inline(name: &str) -> bool {
    [URL_PREFIX, TEXT_PREFIX, JSON_PREFIX].iter().any(|p| name.starts_with(p))
}

/// What went wrong, in the template writer's words: the macro and what the module has,
/// the call and how many arguments the macro takes.
fn explain(dry: &Environment<'static>, (name, line): (Option<&str>, Option<usize>), e: &Error) -> String {
    let source = name.and_then(|n| dry.get_template(n).ok()).map(|t| t.source().to_string()).unwrap_or_default();
    let line = line.and_then(|l| source.lines().nth(l.saturating_sub(1))).unwrap_or_default().trim();
    let line = if name == Some(super::FILTER_TEMPLATE) { filter_expression(line) } else { line };
    // As written: the line holds the comparisons' checked calls (`super::compare`).
    let written = super::compare::unrewrite(line);
    let line = written.as_str();
    let detail = e.detail().unwrap_or_default();
    let generic = || {
        let what = match detail {
            "" => e.kind().to_string(),
            d => format!("{}: {d}", e.kind()),
        };
        if line.is_empty() {
            what
        } else {
            format!("{what}: `{line}`")
        }
    };
    match e.kind() {
        ErrorKind::UnknownMethod => unknown_macro(dry, &source, line, detail).unwrap_or_else(generic),
        ErrorKind::InvalidOperation => unknown_imported(dry, &source, line).unwrap_or_else(|| {
            format!("`{line}` calls something that is not a macro or function (an import of a name its file does not define?)")
        }),
        ErrorKind::TooManyArguments => too_many_arguments(dry, &source, line).unwrap_or_else(generic),
        ErrorKind::TemplateNotFound => {
            format!("{detail} (no such file under the templates directory): `{line}`")
        }
        _ => generic(),
    }
}

/// The expression a subscription's `filter:` wrote, out of the template that wraps it
/// (`{% if (EXPR) %}1{% endif %}`).
fn filter_expression(line: &str) -> &str {
    match (line.find("if ("), line.rfind(')')) {
        (Some(start), Some(end)) if start + 4 <= end => &line[start + 4..end],
        _ => line,
    }
}

/// `unknown macro `br_dat` (loyalty/enums.j2 defines: a, b)` for `enums.br_dat(…)`, where
/// minijinja only says that a map has no such method.
fn unknown_macro(dry: &Environment<'static>, source: &str, line: &str, detail: &str) -> Option<String> {
    let name = detail.rsplit_once(" has no method named ")?.1.trim();
    let alias = alias_before(line, name)?;
    let Some(file) = import_of(source, &alias) else {
        return Some(format!("`{alias}` has no macro or method `{name}`: `{line}`"));
    };
    let defined = macros(&module_source(dry, &file));
    let names: Vec<&str> = defined.iter().map(|(n, _)| n.as_str()).collect();
    Some(format!("unknown macro `{name}` ({file} defines: {})", names.join(", ")))
}

/// `unknown macro `x` (a.j2 defines: …)` for a call on `line` of a name that
/// `{% from 'a.j2' import x %}` imports but `a.j2` does not define.
fn unknown_imported(dry: &Environment<'static>, source: &str, line: &str) -> Option<String> {
    calls(line).into_iter().filter(|(alias, _, _)| alias.is_none()).find_map(|(_, name, _)| {
        let file = from_import_of(source, &name)?;
        let defined = macros(&module_source(dry, &file));
        if defined.iter().any(|(n, _)| *n == name) {
            return None;
        }
        let names: Vec<&str> = defined.iter().map(|(n, _)| n.as_str()).collect();
        Some(format!("unknown macro `{name}`, imported from {file} (it defines: {})", names.join(", ")))
    })
}

/// For a call with too many arguments on `line`: the macro, what it takes and the call.
fn too_many_arguments(dry: &Environment<'static>, source: &str, line: &str) -> Option<String> {
    for (alias, name, given) in calls(line) {
        let defined = match &alias {
            Some(alias) => macros(&module_source(dry, &import_of(source, alias)?)),
            None => match from_import_of(source, &name) {
                Some(file) => macros(&module_source(dry, &file)),
                None => macros(source),
            },
        };
        let Some((_, params)) = defined.iter().find(|(n, _)| *n == name) else { continue };
        if given > params.len() {
            let called = alias.map_or(name.clone(), |a| format!("{a}.{name}"));
            let plural = if params.len() == 1 { "" } else { "s" };
            return Some(format!(
                "macro `{called}({})` takes {} argument{plural}, called with {given}: `{line}`",
                params.join(", "),
                params.len(),
            ));
        }
    }
    None
}

fn module_source(dry: &Environment<'static>, file: &str) -> String {
    dry.get_template(file).map(|t| t.source().to_string()).unwrap_or_default()
}

/// The identifier written right before `.name(` on `line`.
fn alias_before(line: &str, name: &str) -> Option<String> {
    let mut from = 0;
    while let Some(at) = line[from..].find(name).map(|i| from + i) {
        from = at + name.len();
        let before = line[..at].trim_end();
        let Some(before) = before.strip_suffix('.') else { continue };
        let before = before.trim_end();
        let start = before.rfind(|c: char| !is_ident_char(c)).map_or(0, |i| i + 1);
        if start < before.len() {
            return Some(before[start..].to_string());
        }
    }
    None
}

/// The file of `{% import 'file' as alias %}` in `source`.
fn import_of(source: &str, alias: &str) -> Option<String> {
    statements(source, "import").into_iter().find_map(|rest| {
        let (file, after) = quoted(rest)?;
        let after = after.trim_start().strip_prefix("as")?;
        (ident(after.trim_start()) == alias).then_some(file)
    })
}

/// The file of `{% from 'file' import … name … %}` in `source`.
fn from_import_of(source: &str, name: &str) -> Option<String> {
    statements(source, "from").into_iter().find_map(|rest| {
        let (file, after) = quoted(rest)?;
        let names = after.trim_start().strip_prefix("import")?;
        let names = &names[..names.find(['%', '}', '-']).unwrap_or(names.len())];
        names.split(',').any(|n| ident(n.trim()) == name).then_some(file)
    })
}

/// The text after each `keyword ` that starts a word in `source`.
fn statements<'s>(source: &'s str, keyword: &str) -> Vec<&'s str> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = source[from..].find(keyword).map(|i| from + i) {
        from = at + keyword.len();
        let starts_word = source[..at].chars().next_back().is_none_or(|c| !is_ident_char(c));
        let rest = &source[from..];
        if starts_word && rest.starts_with(char::is_whitespace) {
            found.push(rest);
        }
    }
    found
}

/// A quoted string at the start of `text` (after spaces), and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let text = text.trim_start();
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let end = text[1..].find(quote)? + 1;
    Some((text[1..end].to_string(), &text[end + 1..]))
}

/// The macros `source` defines, each with its parameters' names.
fn macros(source: &str) -> Vec<(String, Vec<String>)> {
    statements(source, "macro")
        .into_iter()
        .filter_map(|rest| {
            let rest = rest.trim_start();
            let name = ident(rest);
            let args = rest[name.len()..].trim_start().strip_prefix('(')?;
            let params = split_args(&args[..closing_paren(args)?]);
            let params = params.iter().map(|p| ident(p.trim()).to_string()).filter(|p| !p.is_empty()).collect();
            (!name.is_empty()).then(|| (name.to_string(), params))
        })
        .collect()
}

/// Each call `name(…)` or `alias.name(…)` on `line`, with its number of positional and
/// keyword arguments.
fn calls(line: &str) -> Vec<(Option<String>, String, usize)> {
    let mut found = Vec::new();
    for (at, _) in line.match_indices('(') {
        let before = line[..at].trim_end();
        let start = before.rfind(|c: char| !is_ident_char(c)).map_or(0, |i| i + 1);
        let name = &before[start..];
        if name.is_empty() {
            continue;
        }
        let alias = before[..start].trim_end().strip_suffix('.').map(|b| {
            let b = b.trim_end();
            b[b.rfind(|c: char| !is_ident_char(c)).map_or(0, |i| i + 1)..].to_string()
        });
        let args = &line[at + 1..];
        let Some(end) = closing_paren(args) else { continue };
        let given = split_args(&args[..end]).iter().filter(|a| !a.trim().is_empty()).count();
        found.push((alias.filter(|a| !a.is_empty()), name.to_string(), given));
    }
    found
}

/// Where the `)` closing an argument list that starts `text` is.
fn closing_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')') if depth == 0 => return Some(i),
            (None, ')' | ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// `args` split at its top-level commas.
fn split_args(args: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None, 0);
    for (i, c) in args.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth = depth.saturating_sub(1),
            (None, ',') if depth == 0 => {
                parts.push(&args[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&args[start..]);
    parts
}

fn ident(text: &str) -> &str {
    &text[..text.find(|c: char| !is_ident_char(c)).unwrap_or(text.len())]
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_template_written_as_a_name_fails_at_load_and_one_computed_from_the_event_waits() {
        let env_of = |source: &'static str| {
            let mut env = Environment::new();
            env.add_template("body.j2", source).unwrap();
            env
        };
        assert!(at_load(&env_of(r#"{% include "parts/" ~ Kind %}"#)).is_ok(), "Kind comes with the event");
        assert!(at_load(&env_of(r#"{% include 'parts/' ~ (Kind | lower) ~ '.j2' %}"#)).is_ok());
        for written in [
            r#"{% include "missing.j2" %}"#,
            r#"{%- include 'missing.j2' ignore missing -%}{% include "gone.j2" %}"#,
            r#"{% from "m.j2" import a %}{{ a() }}"#,
            r#"{% import 'm.j2' as m %}{{ m.a() }}"#,
        ] {
            assert!(at_load(&env_of(written)).is_err(), "{written}");
        }
    }

    #[test]
    fn reads_macros_imports_and_calls_from_template_text() {
        let module = "{%- macro name_of(table, value=1) -%}x{%- endmacro -%}\n{% macro tier(v) %}{% endmacro %}";
        assert_eq!(
            macros(module),
            [
                ("name_of".to_string(), vec!["table".to_string(), "value".to_string()]),
                ("tier".into(), vec!["v".into()])
            ]
        );
        let source = "{% import 'loyalty/enums.j2' as enums %}{% from \"a.j2\" import x, y as z %}";
        assert_eq!(import_of(source, "enums").as_deref(), Some("loyalty/enums.j2"));
        assert_eq!(from_import_of(source, "y").as_deref(), Some("a.j2"));
        assert_eq!(import_of(source, "other"), None);
        let line = "{{ enums.tier(Points, f(1, 2), 'a,b') }}";
        assert!(calls(line).contains(&(Some("enums".to_string()), "tier".to_string(), 3)), "{:?}", calls(line));
        assert_eq!(alias_before(line, "tier").as_deref(), Some("enums"));
    }
}
