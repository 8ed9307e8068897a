//! The OAuth2 client-credentials grant (RFC 6749 section 4.4) as pure steps: the token
//! request a credential makes, and what the token endpoint's answer means, a token or an
//! error worded for the delivery's history ("token endpoint answered 400: invalid_client").

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, Uri};
use sha2::{Digest, Sha256};

use super::ClientAuth;
use crate::secret::Secret;

/// A token whose `expires_in` is shorter than this is kept this long: an endpoint saying 0
/// would otherwise be asked again for every delivery. A receiver that refuses it earlier
/// answers 401, which renews it at once.
pub const MIN_LIFETIME: Duration = Duration::from_secs(5);
/// A token is kept no longer than this, whatever its `expires_in` (10 years is not a
/// promise worth holding a credential to); also the lifetime of one without `expires_in`
/// is this default's: an hour, as most providers issue.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// At most this long before it expires a token is renewed, and at least a third of its
/// lifetime before: the next delivery after that fetches a new one, so none is sent with a
/// token about to expire in flight.
pub const RENEW_AHEAD: Duration = Duration::from_secs(300);

/// One `auth.oauth2` credential, compiled. Subscriptions with equal credentials share one
/// token: `key` identifies it.
#[derive(Debug)]
pub struct Credential {
    pub token_url: Uri,
    pub client_id: Secret,
    pub client_secret: Secret,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub client_auth: ClientAuth,
    /// SHA-256 of everything above: the token cache's key (never the secret itself).
    pub key: String,
}

impl Credential {
    /// The credential, or why `token_url` cannot be one (an http or https URL with a host).
    pub fn new(
        token_url: &str,
        client_id: Secret,
        client_secret: Secret,
        scope: Option<String>,
        audience: Option<String>,
        client_auth: ClientAuth,
    ) -> Result<Self, String> {
        if token_url.contains("{{") || token_url.contains("{%") {
            // It would go out as `%7B%7B%20Id%20%7D%7D`: one token serves every delivery.
            return Err("is not a template: the token endpoint's URL is the same for every delivery (a ${VAR} \
                        is fine)"
                .into());
        }
        let url = url::Url::parse(token_url).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err("must be an http or https URL with a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials: use client_id and client_secret".into());
        }
        let token_url: Uri = url.as_str().parse().map_err(|e| format!("not a URL: {e}"))?;
        let mut hash = Sha256::new();
        let parts = [
            token_url.to_string(),
            client_id.expose().to_string(),
            client_secret.expose().to_string(),
            scope.clone().unwrap_or_default(),
            audience.clone().unwrap_or_default(),
            format!("{client_auth:?}"),
        ];
        for part in &parts {
            // Length-prefixed, so no two different credentials hash the same parts.
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        let key = hex::encode(hash.finalize());
        Ok(Self { token_url, client_id, client_secret, scope, audience, client_auth, key })
    }

    /// The token request: a form POST of `grant_type=client_credentials` (with `scope` and
    /// `audience` when set), the client authenticated as `client_auth` says.
    pub fn request(&self) -> Request<Full<Bytes>> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        if let Some(scope) = &self.scope {
            form.append_pair("scope", scope);
        }
        if let Some(audience) = &self.audience {
            form.append_pair("audience", audience);
        }
        if self.client_auth == ClientAuth::Post {
            form.append_pair("client_id", self.client_id.expose());
            form.append_pair("client_secret", self.client_secret.expose());
        }
        let mut request = Request::new(Full::new(Bytes::from(form.finish())));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.token_url.clone();
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Ok(agent) = HeaderValue::from_str(&format!("hookshape/{}", crate::VERSION)) {
            headers.insert(USER_AGENT, agent);
        }
        if self.client_auth == ClientAuth::Basic {
            headers.insert(AUTHORIZATION, self.basic_header());
        }
        request
    }

    /// RFC 6749 section 2.3.1: each of id and secret form-urlencoded, then HTTP Basic.
    fn basic_header(&self) -> HeaderValue {
        use base64::Engine as _;
        let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", encode(self.client_id.expose()), encode(self.client_secret.expose()));
        let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
        // base64 is always a valid header value.
        let mut value = HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("Basic"));
        value.set_sensitive(true);
        value
    }
}

/// An access token and how long it may be used (its `expires_in`, clamped).
#[derive(Debug, Clone)]
pub struct Token {
    pub access_token: Secret,
    pub lifetime: Duration,
}

impl Token {
    /// How long after it was issued the token is renewed by the next delivery.
    pub fn renew_after(&self) -> Duration {
        self.lifetime - (self.lifetime / 3).min(RENEW_AHEAD)
    }
}

/// The token endpoint's answer, `code` and the first bytes of its body, as a token or the
/// error to record on the delivery. The caller masks the error with the credential's
/// secrets: an endpoint may echo them.
pub fn parse_response(code: u16, body: &str) -> Result<Token, String> {
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    if !(200..300).contains(&code) {
        // RFC 6749 section 5.2: `error` is one ASCII word; anything else is not shown.
        let given = json.as_ref().and_then(|j| j.get("error"));
        return Err(match given.and_then(|e| e.as_str()).filter(|e| is_error_code(e)) {
            Some(error) => format!("token endpoint answered {code}: {error}"),
            None if given.is_some() => {
                format!("token endpoint answered {code} (JSON whose error is not an RFC 6749 code; not shown)")
            }
            None => format!("token endpoint answered {code}{}", kind_of(body, json.is_some())),
        });
    }
    let Some(json) = json.filter(|j| j.is_object()) else {
        return Err(format!("token endpoint answered {code}{}, not a JSON object", kind_of(body, false)));
    };
    let access_token = match json.get("access_token") {
        Some(serde_json::Value::String(t)) if !t.is_empty() => t,
        _ => return Err(format!("token endpoint answered {code} without an access_token")),
    };
    // RFC 6750's b64token, loosely: what an Authorization header can carry as it is.
    if !access_token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("token endpoint answered {code} with an access_token that cannot go in a header"));
    }
    if let Some(kind) = json.get("token_type").and_then(|t| t.as_str()) {
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(format!("token endpoint answered {code} with token_type {:?}, not Bearer", short(kind)));
        }
    }
    Ok(Token { access_token: Secret::new(access_token.clone()), lifetime: lifetime(json.get("expires_in")) })
}

/// `expires_in` (seconds, a number or a numeric string) clamped to
/// [`MIN_LIFETIME`, `MAX_LIFETIME`]; absent or unreadable, `DEFAULT_LIFETIME`.
fn lifetime(expires_in: Option<&serde_json::Value>) -> Duration {
    let seconds = match expires_in {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match seconds.filter(|s| s.is_finite()) {
        None => DEFAULT_LIFETIME,
        Some(s) => Duration::from_secs_f64(s.clamp(MIN_LIFETIME.as_secs_f64(), MAX_LIFETIME.as_secs_f64())),
    }
}

fn is_error_code(e: &str) -> bool {
    !e.is_empty()
        && e.len() <= 64
        && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// What a body that is not the answer expected was, in a few words.
fn kind_of(body: &str, json: bool) -> &'static str {
    let start = body.trim_start().get(..15).unwrap_or(body.trim_start()).to_ascii_lowercase();
    if json {
        " (JSON without an error)"
    } else if start.starts_with("<!doctype html") || start.starts_with("<html") || start.starts_with('<') {
        " with HTML"
    } else if body.trim().is_empty() {
        " with an empty body"
    } else {
        " with a body that is not JSON"
    }
}

fn short(s: &str) -> String {
    s.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(client_auth: ClientAuth) -> Credential {
        Credential::new(
            "https://login.example.com/oauth2/token",
            Secret::new("my client"),
            Secret::new("s3cr:t&"),
            Some("contacts.write".into()),
            Some("https://api.example.com".into()),
            client_auth,
        )
        .unwrap()
    }

    #[test]
    fn the_token_request_is_a_client_credentials_form_authenticated_as_configured() {
        let basic = credential(ClientAuth::Basic).request();
        assert_eq!(basic.method(), Method::POST);
        assert_eq!(basic.uri().to_string(), "https://login.example.com/oauth2/token");
        assert_eq!(basic.headers()[CONTENT_TYPE], "application/x-www-form-urlencoded");
        // base64("my+client:s3cr%3At%26"): each part form-encoded first (RFC 6749 2.3.1).
        assert_eq!(basic.headers()[AUTHORIZATION], "Basic bXkrY2xpZW50OnMzY3IlM0F0JTI2");
        let body = format!("{:?}", basic.body());
        assert!(
            body.contains("grant_type=client_credentials&scope=contacts.write&audience=https%3A%2F%2Fapi"),
            "{body}"
        );
        assert!(!body.contains("client_secret"), "{body}");
        let post = credential(ClientAuth::Post).request();
        assert!(post.headers().get(AUTHORIZATION).is_none());
        let body = format!("{:?}", post.body());
        assert!(body.contains("client_id=my+client&client_secret=s3cr%3At%26"), "{body}");
    }

    #[test]
    fn equal_credentials_share_a_key_and_any_difference_parts_them() {
        assert_eq!(credential(ClientAuth::Basic).key, credential(ClientAuth::Basic).key);
        assert_ne!(credential(ClientAuth::Basic).key, credential(ClientAuth::Post).key);
        assert!(!credential(ClientAuth::Basic).key.contains("s3cr"));
    }

    #[test]
    fn token_urls_must_be_http_with_a_host_and_no_userinfo() {
        let new = |u: &str| Credential::new(u, Secret::new("a"), Secret::new("b"), None, None, ClientAuth::Basic);
        assert!(new("ftp://h/t").is_err());
        assert!(new("not a url").is_err());
        assert!(new("https://u:p@h/t").unwrap_err().contains("credentials"));
        assert!(new("http://127.0.0.1:9/t").is_ok());
    }

    #[test]
    fn answers_become_a_token_or_an_error_worded_for_history() {
        let token =
            parse_response(200, r#"{"access_token":"abc.def","token_type":"bearer","expires_in":3600}"#).unwrap();
        assert_eq!((token.access_token.expose(), token.lifetime.as_secs()), ("abc.def", 3600));
        let cases = [
            (
                400,
                r#"{"error":"invalid_client","error_description":"bad secret s3cr"}"#,
                "token endpoint answered 400: invalid_client",
            ),
            (401, "<html><body>Sign in</body></html>", "token endpoint answered 401 with HTML"),
            (200, "<!DOCTYPE html><p>portal</p>", "token endpoint answered 200 with HTML, not a JSON object"),
            (200, "ok", "token endpoint answered 200 with a body that is not JSON, not a JSON object"),
            (200, r#"{"token_type":"bearer"}"#, "token endpoint answered 200 without an access_token"),
            (200, r#"{"access_token":""}"#, "token endpoint answered 200 without an access_token"),
            (
                200,
                r#"{"access_token":"a b"}"#,
                "token endpoint answered 200 with an access_token that cannot go in a header",
            ),
            (
                200,
                r#"{"access_token":"t","token_type":"mac"}"#,
                "token endpoint answered 200 with token_type \"mac\", not Bearer",
            ),
            (503, "", "token endpoint answered 503 with an empty body"),
            (
                500,
                r#"{"error":"<script>"}"#,
                "token endpoint answered 500 (JSON whose error is not an RFC 6749 code; not shown)",
            ),
            (401, r#"{"message":"no"}"#, "token endpoint answered 401 (JSON without an error)"),
        ];
        for (code, body, expected) in cases {
            assert_eq!(parse_response(code, body).unwrap_err(), expected, "{code} {body}");
        }
    }

    #[test]
    fn absurd_lifetimes_are_clamped_and_renewal_comes_ahead_of_expiry() {
        let life =
            |v: &str| parse_response(200, &format!(r#"{{"access_token":"t","expires_in":{v}}}"#)).unwrap().lifetime;
        assert_eq!(life("0"), MIN_LIFETIME);
        assert_eq!(life("-5"), MIN_LIFETIME);
        assert_eq!(life("315360000"), MAX_LIFETIME);
        assert_eq!(life("\"120\""), Duration::from_secs(120));
        assert_eq!(life("null"), DEFAULT_LIFETIME);
        assert_eq!(life("1e400"), DEFAULT_LIFETIME);
        let token = |s| Token { access_token: Secret::new("t"), lifetime: Duration::from_secs(s) };
        assert_eq!(token(6).renew_after(), Duration::from_secs(4));
        assert_eq!(token(3600).renew_after(), Duration::from_secs(3300));
    }
}
