//! One delivery: its request as sent (secrets `***`), every attempt, the subscription-set
//! version that rendered it; resend, and copy as curl.

use std::sync::Arc;

use minijinja::context;
use warp::http::StatusCode;
use warp::reply::Response;

use super::page::{curl, redirect, shown_body, shown_json, value, Console};
use super::session::Viewer;
use crate::api::operations::retry_delivery;
use crate::api::{ApiError, ApiState};

pub async fn page(id: String, console: Arc<Console>, viewer: Viewer, state: ApiState) -> Response {
    let detail = match state.store.get_delivery(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => return console.api_error(&viewer, ApiError::not_found(format!("There is no delivery {id}."))),
        Err(e) => return console.api_error(&viewer, ApiError::store(e)),
    };
    let r = &detail.request;
    let curl = curl(&r.method, &r.url, &r.headers, r.body.as_deref());
    let body = r.body.as_deref().map(|b| shown_body(b, &r.headers));
    let attempts: Vec<minijinja::Value> = detail
        .attempts
        .iter()
        .rev()
        .map(|a| context! { response => a.response_body.as_deref().map(shown_json), ..value(a) })
        .collect();
    let ctx = context! {
        title => format!("Delivery {id}"),
        nav => "deliveries",
        d => value(&detail.summary),
        request => value(r),
        body,
        curl,
        attempts,
        live => matches!(detail.summary.status, crate::store::DeliveryStatus::Pending | crate::store::DeliveryStatus::InFlight),
    };
    console.render(&viewer, StatusCode::OK, "delivery.html", ctx)
}

pub async fn resend(
    id: String,
    console: Arc<Console>,
    viewer: Viewer,
    _form: Vec<(String, String)>,
    state: ApiState,
) -> Response {
    match retry_delivery(&state, &id).await {
        Ok(_) => redirect(&format!(
            "/console/deliveries/{}",
            url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        )),
        Err(e) => console.api_error(&viewer, e),
    }
}
