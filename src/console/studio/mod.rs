//! The studio (`/console/studio/{subscription}`): a loaded subscription's file and body
//! template in two editors, checked as one types by `POST /console/studio/check` (the
//! compiler of `hookshape validate`), rendered against real or pasted events through the
//! loaded and the edited version side by side, with the diffs. It never writes a file:
//! changes leave as downloads, for a commit.

mod compare;
mod diff;
mod edit;
mod events;

use std::sync::Arc;

use minijinja::context;
use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::field;
use super::page::{secure_headers, Console};
use super::session::Viewer;
use crate::api::{ApiError, ApiState};
use crate::subscription::{Subscription, SubscriptionSet};
use edit::{Draft, Files, Problem};

/// `GET /console/studio`: the subscriptions to open.
pub async fn index(console: Arc<Console>, viewer: Viewer, state: ApiState) -> Response {
    let names: Vec<String> = state.subscriptions.load().iter().map(|s| s.name.clone()).collect();
    let ctx = context! { title => "Studio", nav => "studio", subscriptions => names };
    console.render(&viewer, StatusCode::OK, "studio_index.html", ctx)
}

/// `GET /console/studio/{name}`: the editors, holding the files as loaded.
pub async fn open(name: String, console: Arc<Console>, viewer: Viewer, state: ApiState) -> Response {
    let set = state.subscriptions.load_full();
    let loaded = match Loaded::find(&set, &name) {
        Ok(found) => found,
        Err(e) => return console.api_error(&viewer, e),
    };
    let ctx = context! {
        title => format!("Studio: {name}"),
        nav => "studio",
        name,
        yaml_file => loaded.yaml_file(),
        yaml_name => loaded.sub.file.file_name().map(|n| n.to_string_lossy().into_owned()),
        template_name => loaded.template.as_ref().and_then(|t| t.0.rsplit('/').next().map(str::to_string)),
        yaml => loaded.yaml,
        template_path => loaded.template.as_ref().map(|t| t.0.clone()),
        template => loaded.template.as_ref().map(|t| t.1.clone()),
        max_recent => events::MAX_RECENT,
        examples => examples_of(&set, loaded.sub),
    };
    console.render(&viewer, StatusCode::OK, "studio.html", ctx)
}

/// The catalog's examples `sub` can receive, for the page's choice of events.
fn examples_of(set: &SubscriptionSet, sub: &Subscription) -> Vec<minijinja::Value> {
    use crate::catalog::examples;
    let found = examples::for_patterns(&set.catalog, &sub.topics);
    // Those it can receive: a family's example may fit none of the topics it names.
    let receivable = found.iter().filter(|e| examples::event_topic(&set.catalog, e, &sub.topics).is_ok());
    receivable.map(|e| context! { key => e.key(), label => e.label() }).collect()
}

/// A subscription's files as the studio shows them (secrets `***`, `${VAR}` as written).
struct Loaded<'a> {
    sub: &'a Arc<Subscription>,
    set: &'a SubscriptionSet,
    yaml: String,
    /// The body template's path under `templates/` and its text.
    template: Option<(String, String)>,
}

impl<'a> Loaded<'a> {
    fn find(set: &'a SubscriptionSet, name: &str) -> Result<Self, ApiError> {
        let missing = || ApiError::not_found(format!("There is no subscription named {name:?}."));
        let sub = set.get(name).ok_or_else(missing)?;
        let text = set.texts.subscriptions.get(name).ok_or_else(missing)?;
        let template = edit::body_template(text).and_then(|path| {
            let text = set.texts.templates.get(&path)?;
            // No `${VAR}` in a template: `***` is text there like any other.
            Some((path, sub.secrets.mask(text)))
        });
        Ok(Self { sub, set, yaml: edit::shown(text, &sub.secrets), template })
    }

    fn yaml_file(&self) -> String {
        let name = self.sub.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        format!("subscriptions/{name}")
    }

    fn files(&self) -> Files<'_> {
        Files { path: &self.sub.file, texts: &self.set.texts, masker: &self.sub.secrets }
    }

    fn draft(&self) -> Draft<'_> {
        Draft { yaml: &self.yaml, template: self.template.as_ref().map(|(p, t)| (p.as_str(), t.as_str())) }
    }
}

/// The check's answer: the edited files' problems, their diffs against the loaded files,
/// and each chosen event rendered through both versions.
#[derive(Serialize)]
struct Answer {
    valid: bool,
    problems: Vec<Problem>,
    diff: FileDiffs,
    /// Why the chosen events could not be rendered (a field of the form, or history).
    events_error: Option<String>,
    renders: Vec<compare::Compared>,
}

#[derive(Serialize)]
struct FileDiffs {
    yaml: diff::LineDiff,
    template: Option<diff::LineDiff>,
}

/// `POST /console/studio/check` (a session and the form's CSRF token, as every console
/// form): `subscription`, `yaml`, `template`, and which events (`events`: none, pasted with
/// `event`, stored with `uuid`, recent with `last`). Answers JSON; writes nothing.
pub async fn check(_console: Arc<Console>, _viewer: Viewer, form: Vec<(String, String)>, state: ApiState) -> Response {
    let name = field(&form, "subscription").cloned().unwrap_or_default();
    if let Err(e) = Loaded::find(&state.subscriptions.load(), &name) {
        return with_console_headers(e.into_response()); // before reading history for nothing
    }
    let gathered = match events::Choice::from_form(&form) {
        Ok(choice) => events::gather(state.store.as_ref(), &state.subscriptions.load_full(), &name, &choice).await,
        Err(e) => Err(e),
    };
    // The set may have been reloaded meanwhile: then this answers for the new one.
    let set = state.subscriptions.load_full();
    let loaded = match Loaded::find(&set, &name) {
        Ok(found) => found,
        Err(e) => return with_console_headers(e.into_response()),
    };
    let yaml = field(&form, "yaml").cloned().unwrap_or_default();
    let template = loaded
        .template
        .as_ref()
        .map(|(path, text)| (path.as_str(), field(&form, "template").map_or(text.as_str(), String::as_str)));
    let draft = Draft { yaml: &yaml, template };
    let answer = answer(&loaded, &draft, gathered);
    with_console_headers(crate::api::error::json(StatusCode::OK, &answer))
}

fn answer(loaded: &Loaded<'_>, draft: &Draft<'_>, gathered: Result<Vec<events::Sample>, String>) -> Answer {
    let files = loaded.files();
    let masker = &loaded.sub.secrets;
    let (samples, events_error) = match gathered {
        Ok(samples) => (samples, None),
        Err(e) => (Vec::new(), Some(masker.mask(&e))),
    };
    let base = edit::compile(&files, &loaded.draft()).ok();
    let (edited, mut problems) = match edit::compile(&files, draft) {
        Ok(c) => (Some(c), Vec::new()),
        Err(problems) => (None, problems),
    };
    if let Some(c) = &edited {
        let ctxs: Vec<minijinja::Value> = samples.iter().map(|s| crate::render::context(&s.event)).collect();
        problems.extend(edit::reached_by(&files, draft, c, &ctxs));
    }
    let renders = compare::all(base.as_ref(), edited.as_ref(), &samples, masker);
    // Masked too: a secret pasted into an editor is not shown back.
    let lines = |before: &str, after: &str| diff::masked(diff::lines(before, after), masker);
    let template_diff =
        loaded.template.as_ref().zip(draft.template).map(|((_, before), (_, after))| lines(before, after));
    Answer {
        valid: problems.is_empty(),
        problems,
        diff: FileDiffs { yaml: lines(&loaded.yaml, draft.yaml), template: template_diff },
        events_error,
        renders,
    }
}

fn with_console_headers(mut resp: Response) -> Response {
    secure_headers(resp.headers_mut());
    resp
}
