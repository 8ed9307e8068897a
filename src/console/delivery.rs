//! One delivery: why it is where it is (its render error, held and since when, the
//! receiver unreachable, the last answer), its request as sent (secrets `***`), every
//! attempt, the subscription-set version that rendered it; resend, saying what it did,
//! and copy as curl.

use std::sync::Arc;

use minijinja::context;
use warp::http::StatusCode;
use warp::reply::Response;

use super::page::{curl, redirect, shown_body, shown_json, value, Console};
use super::session::Viewer;
use crate::api::answers::{Outcome, Retried};
use crate::api::deliveries::delivery_answer;
use crate::api::operations::retry_delivery;
use crate::api::ApiState;

/// `GET /console/deliveries/{id}`; after a resend, `?resent=sent|held|rerendered` says
/// what it did (only those words are taken from the link, and only when it is the
/// viewer's own: `notice`).
pub async fn page(
    id: String,
    console: Arc<Console>,
    viewer: Viewer,
    state: ApiState,
    query: Vec<(String, String)>,
) -> Response {
    let said = super::notice::believed(&viewer, &format!("delivery:{id}"), &query, &["resent"]);
    let resent = said.iter().find(|(k, _)| *k == "resent").and_then(|(_, v)| resent_outcome(v));
    let notice = resent.map(|outcome| context! { outcome, text => resent_text(outcome), error => false });
    delivery_page(&id, &console, &viewer, &state, notice, StatusCode::OK).await
}

async fn delivery_page(
    id: &str,
    console: &Console,
    viewer: &Viewer,
    state: &ApiState,
    notice: Option<minijinja::Value>,
    status: StatusCode,
) -> Response {
    let answer = match delivery_answer(state, id).await {
        Ok(a) => a,
        Err(e) => return console.api_error(viewer, e),
    };
    let detail = &answer.detail;
    let r = &detail.request;
    let curl = curl(&r.method, &r.url, &r.headers, r.body.as_deref());
    let body = r.body.as_deref().map(|b| shown_body(b, &r.headers));
    let attempts: Vec<minijinja::Value> = detail
        .attempts
        .iter()
        .rev()
        .map(|a| context! { response => a.response_body.as_deref().map(shown_json), ..value(a) })
        .collect();
    let reasons: Vec<minijinja::Value> = answer
        .reasons
        .iter()
        .map(|r| context! { shown_body => r.body.as_deref().map(shown_json), ..value(r) })
        .collect();
    let ctx = context! {
        title => format!("Delivery {id}"),
        nav => "deliveries",
        d => value(&detail.summary),
        request => value(r),
        reasons,
        notice,
        body,
        curl,
        attempts,
        live => matches!(detail.summary.status, crate::store::DeliveryStatus::Pending | crate::store::DeliveryStatus::InFlight),
    };
    console.render(viewer, status, "delivery.html", ctx)
}

/// Resend: done, it redirects (303) to the delivery's page saying what happened (a reload
/// sends nothing again); not sendable, it answers the page with why (409).
pub async fn resend(
    id: String,
    console: Arc<Console>,
    viewer: Viewer,
    _form: Vec<(String, String)>,
    state: ApiState,
) -> Response {
    match retry_delivery(&state, &id).await {
        Ok(Retried { outcome: Outcome::NotSendable, reason, .. }) => {
            let text = format!("Not sent: {}.", reason.unwrap_or_default());
            let notice = context! { outcome => "not_sendable", text, error => true };
            delivery_page(&id, &console, &viewer, &state, Some(notice), StatusCode::CONFLICT).await
        }
        Ok(retried) => {
            let word = match retried.outcome {
                Outcome::Held => "held",
                Outcome::Rerendered if retried.status == crate::store::DeliveryStatus::Held => "rerendered_held",
                Outcome::Rerendered => "rerendered",
                _ if retried.paused_until.is_some() => "sent_paused",
                _ => "sent",
            };
            let said = super::notice::query(&viewer, &format!("delivery:{id}"), &[("resent", word)]);
            redirect(&format!(
                "/console/deliveries/{}?{said}",
                url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
            ))
        }
        Err(e) => console.api_error(&viewer, e),
    }
}

fn resent_outcome(word: &str) -> Option<&'static str> {
    ["sent", "sent_paused", "held", "rerendered", "rerendered_held"].into_iter().find(|w| *w == word)
}

fn resent_text(outcome: &str) -> &'static str {
    match outcome {
        "held" => "Held, not sent: its subscription is disabled. It goes when the subscription is enabled.",
        "rerendered" => "Rendered again with today's subscription, and sent.",
        "rerendered_held" => {
            "Rendered again with today's subscription, then held: its subscription is disabled. It goes when the subscription is enabled."
        }
        "sent_paused" => {
            "Due again, not sent yet: its receiver asked to wait (429 or 503 with Retry-After), and it goes when that pause ends."
        }
        _ => "Sent again: it is due now.",
    }
}
