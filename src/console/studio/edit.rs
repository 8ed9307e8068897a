//! The studio's compiler: a subscription's text and the templates (one of them as edited)
//! compiled by the compiler `hookshape validate` uses, without reading the environment:
//! each `${VAR}` takes its default or a placeholder, so no value the server holds can reach
//! the page, whatever a person types into the editor.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::config_file::LoadError;
use crate::secret::Masker;
use crate::subscription::{LoadOptions, LoadedTexts, Subscription, SubscriptionSet};

/// The files as the editors hold them.
pub struct Draft<'a> {
    pub yaml: &'a str,
    /// The body template's path under `templates/` and its text, when the page edits one.
    pub template: Option<(&'a str, &'a str)>,
}

/// Where a subscription's files are, as the loaded set knows them.
pub struct Files<'a> {
    /// The subscription file's path (errors name it).
    pub path: &'a Path,
    pub texts: &'a LoadedTexts,
    /// The loaded subscription's secrets: masked out of everything the studio answers.
    pub masker: &'a Masker,
}

/// Which editor a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Editor {
    Yaml,
    Template,
    /// Another file under `templates/` (an include), not on the page.
    Other,
}

/// One problem, as `hookshape validate` prints it, with the editor it belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub editor: Editor,
    /// The file as the repository names it: `subscriptions/crm.yaml`, `templates/crm/body.json.j2`.
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

/// A compiled draft: a set holding only it, so routing answers as intake would.
pub struct Compiled {
    pub set: SubscriptionSet,
    pub sub: Arc<Subscription>,
}

/// Compiles `draft`, or says every problem (file and line) the way `validate` would.
pub fn compile(files: &Files<'_>, draft: &Draft<'_>) -> Result<Compiled, Vec<Problem>> {
    if let Err(refused) = crate::yaml_bounds::check(draft.yaml) {
        let e = LoadError { file: files.path.to_path_buf(), line: refused.line, message: refused.message };
        return Err(vec![problem(files, draft, e)]);
    }
    let templates = with_edited(files.texts, draft.template);
    let no_env = |_: &str| None;
    let dir = files.path.parent().unwrap_or(Path::new("."));
    let opts = LoadOptions {
        subscriptions_dir: dir,
        templates_dir: &files.texts.templates_dir,
        sources_dir: None,
        topics_dir: None,
        env: &no_env,
        allow_missing_env: true,
        read_files: false,
        placeholders: Default::default(),
    };
    let mut secrets = Vec::new();
    let sub = crate::subscription::compile::compile_file(files.path, draft.yaml, templates, &opts, &mut secrets)
        .map_err(|errors| errors.into_iter().map(|e| problem(files, draft, e)).collect::<Vec<_>>())?;
    let set = SubscriptionSet::new(vec![sub], String::new());
    let sub = set.iter().next().cloned().ok_or_else(Vec::new)?;
    Ok(Compiled { set, sub })
}

/// The problems the events' contexts lead the draft's templates to (as `validate` runs
/// its test cases' events): a misspelt macro in a branch only some data reaches.
pub fn reached_by(files: &Files<'_>, draft: &Draft<'_>, c: &Compiled, ctxs: &[minijinja::Value]) -> Vec<Problem> {
    let dir = &files.texts.templates_dir;
    let errors = c.sub.template.check(ctxs);
    errors
        .into_iter()
        .map(|e| problem(files, draft, crate::subscription::template_load_error(&c.sub, draft.yaml, dir, e)))
        .collect()
}

/// The loaded templates, the edited one in place of its loaded text.
fn with_edited(texts: &LoadedTexts, edited: Option<(&str, &str)>) -> crate::render::TemplateFiles {
    match edited {
        None => texts.templates.clone(),
        Some((path, text)) => {
            let mut files = (*texts.templates).clone();
            files.insert(path.to_string(), text.to_string());
            Arc::new(files)
        }
    }
}

fn problem(files: &Files<'_>, draft: &Draft<'_>, e: LoadError) -> Problem {
    let templates_dir = &files.texts.templates_dir;
    let (editor, file) = if e.file == files.path {
        (Editor::Yaml, format!("subscriptions/{}", file_name(files.path)))
    } else {
        let relative = e.file.strip_prefix(templates_dir).map(path_text).unwrap_or_else(|_| path_text(&e.file));
        let edited = draft.template.is_some_and(|(path, _)| path == relative);
        (if edited { Editor::Template } else { Editor::Other }, format!("templates/{relative}"))
    };
    Problem { editor, file, line: e.line, message: files.masker.mask(&e.message) }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A relative path with `/` separators, as templates are named.
fn path_text(path: &Path) -> String {
    path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}

/// The body template a subscription file names, if it parses far enough to say.
pub fn body_template(yaml: &str) -> Option<String> {
    let raw: crate::subscription::raw::RawSubscription = serde_norway::from_str(yaml).ok()?;
    raw.request.body_template
}

/// What a secret written into a subscription file as it is becomes in the editor: a
/// reference (a YAML file cannot hold `***`, an alias marker, where a value starts), so
/// the file still parses and compiles here, and a download asks for the value from the
/// environment instead of carrying it.
pub const HIDDEN: &str = "${HIDDEN_SECRET}";

/// A subscription file as the editor shows it: the loaded subscription's secret values
/// (written literally, or equal to what a variable took) become `HIDDEN`, but `${…}` stays
/// as written, so a download holds the references and never a value; a default that is a
/// secret in force (`${TOKEN:-dev-secret}` with TOKEN unset) becomes `HIDDEN` too.
pub fn shown(text: &str, masker: &Masker) -> String {
    let hide = |part: &str| {
        let masked = masker.mask(part);
        if masked == part {
            masked
        } else {
            masked.replace(crate::secret::MASK, HIDDEN)
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&hide(&rest[..start]));
        let end = reference_end(&rest[start..]).map_or(rest.len(), |i| start + i);
        let reference = &rest[start..end];
        match reference.split_once(":-") {
            Some((name, default)) if masker.mask(default) != default => {
                out.push_str(&format!("{name}:-{HIDDEN}}}"));
            }
            _ => out.push_str(reference),
        }
        rest = &rest[end..];
    }
    out.push_str(&hide(rest));
    out
}

/// Where the `${…}` that `text` begins with ends (after its `}`), defaults' own `${…}`
/// included.
fn reference_end(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => return Some(i + 1),
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editor_shows_variables_as_written_and_literal_secrets_masked() {
        // A URL's host and path are not secrets: the subscription's masker never holds them.
        let masker = Masker::new(["s3cret-literal-value"]);
        let text = "url: ${CRM_URL:-http://127.0.0.1:9/x}\nsecret: s3cret-literal-value\ntoken: ${TOKEN}\n";
        assert_eq!(
            shown(text, &masker),
            "url: ${CRM_URL:-http://127.0.0.1:9/x}\nsecret: ${HIDDEN_SECRET}\ntoken: ${TOKEN}\n"
        );
        assert_eq!(shown("a ${unclosed", &masker), "a ${unclosed");
        // A default in force that is a secret: hidden as a literal one is.
        let masker = Masker::new(["mySecretKey123"]);
        let text = "secret: ${TOKEN:-mySecretKey123}\nurl: ${U:-${V:-http://127.0.0.1:9/x}}\nenv: ${ENV:-staging}\n";
        assert_eq!(
            shown(text, &masker),
            "secret: ${TOKEN:-${HIDDEN_SECRET}}\nurl: ${U:-${V:-http://127.0.0.1:9/x}}\nenv: ${ENV:-staging}\n"
        );
    }

    #[test]
    fn the_body_template_is_read_from_the_file() {
        let yaml = "topics: [T]\nrequest:\n  url: http://127.0.0.1:9/\n  body_template: crm/body.json.j2\n";
        assert_eq!(body_template(yaml).as_deref(), Some("crm/body.json.j2"));
        assert_eq!(body_template("topics: [T]\nrequest: {url: x}\n"), None);
    }
}
