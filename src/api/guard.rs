//! What a web page must not be able to do to a hookshape that runs without tokens on a
//! laptop: reach it under another name (DNS rebinding: a `Host` that is not loopback),
//! change anything from a foreign `Origin`, or post a JSON endpoint as a "simple" form
//! or text request (which browsers send cross-site without asking).

use warp::http::{HeaderMap, Method, StatusCode};
use warp::Filter;

use super::error::ApiError;

/// Refuses foreign `Host`s, and state-changing requests from foreign `Origin`s, when `open`
/// (some side has no token, so nothing else stands in a web page's way).
pub fn same_machine(open: bool) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::method()
        .and(warp::header::headers_cloned())
        .and_then(move |method: Method, headers: HeaderMap| async move {
            if !open {
                return Ok(());
            }
            check(&method, &headers).map_err(warp::reject::custom)
        })
        .untuple_one()
}

fn check(method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(host) = text(warp::http::header::HOST) {
        if !is_loopback_authority(host) {
            return Err(ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "Host {host:?} is not this machine: without tokens hookshape answers only to \
                     localhost, 127.0.0.1 or [::1] (set HOOKSHAPE_INTAKE_TOKEN and HOOKSHAPE_ADMIN_TOKEN \
                     to serve other names)"
                ),
            ));
        }
    }
    let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if let Some(origin) = text(warp::http::header::ORIGIN).filter(|_| changes_state) {
        let authority = origin.split_once("://").map(|(_, rest)| rest);
        if !authority.is_some_and(is_loopback_authority) {
            return Err(ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                format!("a request from the web page at {origin:?} may not change anything here"),
            ));
        }
    }
    Ok(())
}

/// `localhost`, `*.localhost`, a 127.0.0.0/8 address or `[::1]`, with or without a port.
pub fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                authority
            }
        }),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A JSON endpoint's body must be declared JSON (or not declared at all): a form or
/// `text/plain` post is what a cross-site page can send without a preflight.
pub fn json_body() -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(|kind: Option<String>| async move {
            match kind {
                Some(k) if !is_json_media_type(&k) => Err(warp::reject::custom(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("Content-Type {k:?}: this endpoint takes application/json"),
                ))),
                _ => Ok(()),
            }
        })
        .untuple_one()
}

fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_addresses_pass_and_others_do_not() {
        for ok in ["localhost", "localhost:8080", "127.0.0.1:1", "127.1.2.3", "[::1]:8080", "[::1]", "app.localhost"] {
            assert!(is_loopback_authority(ok), "{ok}");
        }
        for bad in ["evil.example", "evil.example:8080", "localhost.evil.example", "10.0.0.1", "[::2]", "0.0.0.0"] {
            assert!(!is_loopback_authority(bad), "{bad}");
        }
    }

    #[test]
    fn a_foreign_origin_may_read_but_not_change() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:8080".parse().unwrap());
        headers.insert("origin", "https://evil.example".parse().unwrap());
        assert!(check(&Method::GET, &headers).is_ok());
        assert_eq!(check(&Method::POST, &headers).unwrap_err().status, StatusCode::MISDIRECTED_REQUEST);
        headers.insert("origin", "http://localhost:8080".parse().unwrap());
        assert!(check(&Method::POST, &headers).is_ok());
        headers.insert("origin", "null".parse().unwrap());
        assert!(check(&Method::POST, &headers).is_err(), "a sandboxed page's null origin is foreign");
    }

    #[test]
    fn json_media_types() {
        for ok in
            ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/cloudevents+json"]
        {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for bad in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }
}
