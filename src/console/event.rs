//! One event: the canonical envelope as accepted, the source it came through, its
//! deliveries; replay (render it again for today's subscriptions).

use std::sync::Arc;

use minijinja::context;
use warp::http::StatusCode;
use warp::reply::Response;

use super::page::{redirect, shown_json, value, Console};
use super::session::Viewer;
use crate::api::events::event_view;
use crate::api::operations::replay_event;
use crate::api::ApiState;

pub async fn page(uuid: String, console: Arc<Console>, viewer: Viewer, state: ApiState) -> Response {
    match event_view(uuid, &state).await {
        Ok(view) => {
            let ctx = context! {
                title => format!("Event {}", view.uuid),
                nav => "deliveries",
                uuid => view.uuid,
                source => view.source,
                topic => view.event.get("Topic").and_then(|t| t.as_str()).map(str::to_string),
                event => shown_json(&view.event.to_string()),
                deliveries => value(&view.deliveries),
            };
            console.render(&viewer, StatusCode::OK, "event.html", ctx)
        }
        Err(e) => console.api_error(&viewer, e),
    }
}

pub async fn replay(
    uuid: String,
    console: Arc<Console>,
    viewer: Viewer,
    _form: Vec<(String, String)>,
    state: ApiState,
) -> Response {
    match replay_event(uuid, &state).await {
        Ok(replayed) => redirect(&format!("/console/events/{}", replayed.uuid)),
        Err(e) => console.api_error(&viewer, e),
    }
}
