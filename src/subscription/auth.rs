//! `auth:` of a subscription file → `crate::auth::Auth`: every value `${VAR}`-expanded and
//! kept as a secret (masked wherever the subscription's secrets are), the token URL checked.

use std::sync::Arc;

use super::raw::{RawOAuth2, RawSubscription};
use crate::auth::{Auth, Credential};
use crate::config_file::FileContext;
use crate::secret::Secret;

/// Where a token URL that came from a missing variable points (`validate` without the
/// environment): a valid URL, never fetched.
const PLACEHOLDER_TOKEN_URL: &str = "https://placeholder.invalid/token";

pub(super) fn compile_auth(cx: &FileContext<'_>, raw: &RawSubscription) -> Option<Auth> {
    let auth = raw.auth.as_ref()?;
    if raw.request.headers.keys().any(|k| k.eq_ignore_ascii_case("authorization")) {
        let m = "sets the Authorization header: remove request.headers.Authorization, or auth:".to_string();
        cx.field_error("auth", m);
        return None;
    }
    match (&auth.basic, &auth.bearer, &auth.oauth2) {
        (Some(basic), None, None) => {
            let (username, password) = (&basic.username, &basic.password);
            let username = secret(cx, "auth.basic.username", username)?;
            let password = secret(cx, "auth.basic.password", password)?;
            let pair = format!("{username}:{password}");
            // And as it goes on the wire, base64: a receiver may echo that in its own
            // encodings (hex, base64 again).
            let wire = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &pair);
            cx.secrets.borrow_mut().extend([pair, wire]);
            Some(Auth::basic(&username, &password))
        }
        (None, Some(token), None) => {
            let token = secret(cx, "auth.bearer", token)?;
            if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
                cx.field_error("auth.bearer", "must be a token of visible ASCII characters, without spaces".into());
                return None;
            }
            Some(Auth::bearer(&token))
        }
        (None, None, Some(o)) => oauth2(cx, o).map(|c| Auth::OAuth2(Arc::new(c))),
        _ => {
            cx.field_error("auth", "set exactly one of basic, bearer and oauth2".into());
            None
        }
    }
}

fn oauth2(cx: &FileContext<'_>, o: &RawOAuth2) -> Option<Credential> {
    let token_url = cx.expand("auth.oauth2.token_url", &o.token_url)?;
    let token_url = if token_url.placeholders.is_empty() { token_url.text } else { PLACEHOLDER_TOKEN_URL.into() };
    let client_id = secret(cx, "auth.oauth2.client_id", &o.client_id);
    let client_secret = secret(cx, "auth.oauth2.client_secret", &o.client_secret);
    // Some(None) when not set; None when set but its variable is missing.
    let optional = |field: &str, value: &Option<String>| match value {
        None => Some(None),
        Some(v) => cx.expand(field, v).map(|x| Some(x.text)),
    };
    let scope = optional("auth.oauth2.scope", &o.scope);
    let audience = optional("auth.oauth2.audience", &o.audience);
    let (Some(client_id), Some(client_secret), Some(scope), Some(audience)) =
        (client_id, client_secret, scope, audience)
    else {
        return None;
    };
    if client_id.is_empty() {
        cx.field_error("auth.oauth2.client_id", "must not be empty".into());
    }
    let made =
        Credential::new(&token_url, Secret::new(client_id), Secret::new(client_secret), scope, audience, o.client_auth);
    made.map_err(|m| cx.field_error("auth.oauth2.token_url", m)).ok()
}

/// A credential's value, expanded and registered as a secret even when written literally.
fn secret(cx: &FileContext<'_>, field: &str, text: &str) -> Option<String> {
    let value = cx.expand(field, text)?.text;
    cx.secrets.borrow_mut().push(value.clone());
    Some(value)
}
