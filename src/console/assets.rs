//! The console's stylesheet and script, compiled into the binary: nothing is fetched at
//! run time, and the CSP allows nothing but this origin.

use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;

const CSS: &str = include_str!("static/console.css");
const JS: &str = include_str!("static/console.js");
const STUDIO_JS: &str = include_str!("static/studio.js");
const STUDIO_CSS: &str = include_str!("static/studio.css");

pub fn serve(name: String) -> Response {
    let (status, body, kind) = match name.as_str() {
        "console.css" => (StatusCode::OK, CSS, "text/css; charset=utf-8"),
        "console.js" => (StatusCode::OK, JS, "text/javascript; charset=utf-8"),
        "studio.css" => (StatusCode::OK, STUDIO_CSS, "text/css; charset=utf-8"),
        "studio.js" => (StatusCode::OK, STUDIO_JS, "text/javascript; charset=utf-8"),
        _ => (StatusCode::NOT_FOUND, "not found", "text/plain; charset=utf-8"),
    };
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    resp.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if status == StatusCode::NOT_FOUND {
        // Like every other answer under /console that is not an asset (assets stay cacheable).
        super::page::secure_headers(resp.headers_mut());
    }
    resp
}
