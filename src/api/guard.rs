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
        // A page on this machine but another port (a dev server, any local app) is
        // another site too: only pages this server gave out (its own port) may change
        // anything.
        let own_port = text(warp::http::header::HOST).map(|h| port_of(h, "http"));
        let same_site = origin.split_once("://").is_some_and(|(scheme, authority)| {
            is_loopback_authority(authority) && own_port.is_none_or(|own| port_of(authority, scheme) == own)
        });
        if !same_site {
            return Err(ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                format!("a request from the web page at {origin:?} may not change anything here"),
            ));
        }
    }
    Ok(())
}

/// `localhost`, `*.localhost`, a 127.0.0.0/8 address or `[::1]`, with or without a port.
/// Anything after the host but a `:port` makes it foreign: `[::1]evil.example` is not
/// `[::1]`, whatever a lenient parser in front might make of it.
pub fn is_loopback_authority(authority: &str) -> bool {
    let Some((host, port)) = split_authority(authority) else { return false };
    if port.is_some_and(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
        return false;
    }
    if authority.starts_with('[') {
        return host.parse::<std::net::Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// The port of an authority, or the scheme's default.
fn port_of<'a>(authority: &'a str, scheme: &str) -> &'a str {
    match split_authority(authority) {
        Some((_, Some(port))) => port,
        _ if scheme.eq_ignore_ascii_case("https") => "443",
        _ => "80",
    }
}

/// An authority's host and port (when there is a `:`): `[v6]` must be followed by nothing
/// or `:port`; a bare host may hold no `:` but the port's. None when it is neither.
fn split_authority(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        return match rest {
            "" => Some((host, None)),
            _ => Some((host, Some(rest.strip_prefix(':')?))),
        };
    }
    match authority.split_once(':') {
        None => Some((authority, None)),
        Some((host, port)) => Some((host, Some(port))),
    }
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
    fn only_a_port_may_follow_the_host() {
        let table = [
            ("[::1]", true),
            ("[::1]:8080", true),
            ("localhost.", true),
            ("127.0.0.1:8080", true),
            ("[::1]evil.example", false),
            ("[::1].evil.example", false),
            ("[::1]:8080evil.example", false),
            ("[::1]:", false),
            ("[::1]:80:80", false),
            ("[::1", false),
            ("[127.0.0.1]", false),
            ("[localhost]", false),
            ("[::ffff:127.0.0.1]x", false),
            ("127.0.0.1:8080:evil.example", false),
            ("localhost:", false),
            ("localhost:80x", false),
            ("127.0.0.1@evil.example", false),
            ("::1", false),
            ("", false),
        ];
        for (authority, loopback) in table {
            assert_eq!(is_loopback_authority(authority), loopback, "{authority:?}");
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
        for other_port in ["http://localhost:9999", "http://127.0.0.1:3000", "http://[::1]:5555", "http://localhost"] {
            headers.insert("origin", other_port.parse().unwrap());
            assert!(check(&Method::POST, &headers).is_err(), "{other_port}: a page of another local server");
        }
        headers.insert("host", "localhost".parse().unwrap());
        headers.insert("origin", "http://localhost".parse().unwrap());
        assert!(check(&Method::POST, &headers).is_ok(), "port 80 either way");
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
