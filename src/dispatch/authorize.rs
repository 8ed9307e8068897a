//! A subscription's `auth:` on an attempt: the Authorization header it sends, the OAuth2
//! token fetched over the subscription's own client (same egress rules, same deadline as
//! the attempt, redirects never followed), and the one renewal after a 401. A token
//! endpoint that fails is the attempt's error, worded by `auth::oauth2::parse_response`.

use hyper::header::HeaderValue;

use super::retry::AttemptResult;
use super::sender::{describe, read_response, Client, HttpClient};
use crate::auth::{Auth, Credential, Issued, Token};
use crate::egress::{check_uri_host, refusal_in};
use crate::secret::Masker;
use crate::subscription::Subscription;

/// The Authorization header of one attempt, and the token it carries when it came from a
/// token endpoint (masked out of what the receiver answers; renewed on a 401).
pub struct Authorization {
    pub header: HeaderValue,
    issued: Option<(Issued, Masker)>,
}

impl Authorization {
    /// Whether the header carries a token from an OAuth2 token endpoint.
    pub fn is_oauth2_token(&self) -> bool {
        self.issued.is_some()
    }

    /// `text` with the access token masked (the subscription's secrets are masked already).
    pub fn mask(&self, text: &str) -> String {
        self.issued.as_ref().map_or_else(|| text.to_string(), |(_, masker)| masker.mask(text))
    }

    /// `Masker::mask_cut_end` with the access token.
    pub fn mask_cut_end(&self, text: String) -> String {
        match &self.issued {
            Some((_, masker)) => masker.mask_cut_end(text),
            None => text,
        }
    }
}

/// The attempt's Authorization, or the token endpoint's failure as the attempt's result.
pub async fn authorization(
    http: &HttpClient,
    client: &Client,
    sub: &Subscription,
    deadline: tokio::time::Instant,
) -> Result<Option<Authorization>, AttemptResult> {
    match &sub.auth {
        None => Ok(None),
        Some(Auth::Static(value)) => {
            // Checked at load: base64 or a token of visible ASCII.
            let mut header = HeaderValue::from_str(value.expose())
                .map_err(|_| AttemptResult::Refused("auth: not a valid header value".into()))?;
            header.set_sensitive(true);
            Ok(Some(Authorization { header, issued: None }))
        }
        Some(Auth::OAuth2(credential)) => {
            let fetch = || fetch(http, client, credential, sub, deadline);
            let issued = match tokio::time::timeout_at(deadline, http.tokens.get(credential, fetch)).await {
                Ok(issued) => issued?,
                // Waiting for another attempt's fetch of the same token, past our deadline.
                Err(_) => return Err(AttemptResult::Error("token endpoint: timeout".into())),
            };
            bearer(issued).map(Some)
        }
    }
}

/// Has `sub`'s OAuth2 token held before its rate limit's next turn is claimed (one held
/// and fresh costs nothing): a delivery that waited for the token on its turn would go
/// late, and every turn that came during a slow fetch would go at once after it. A fetch
/// that fails is left to the attempt, which records it.
pub async fn ahead_of_turn(http: &HttpClient, sub: &Subscription) {
    if let Some(Auth::OAuth2(_)) = &sub.auth {
        let client = http.client_for(sub);
        let _ = authorization(http, &client.pooled, sub, tokio::time::Instant::now() + sub.timeout).await;
    }
}

/// After a 401 from the receiver to an OAuth2 token: the renewed Authorization to send the
/// attempt again with, or the token endpoint's failure. None for any other answer, or when
/// the token was not OAuth2's.
pub async fn after_refusal(
    http: &HttpClient,
    client: &Client,
    sub: &Subscription,
    auth: Option<&Authorization>,
    result: &AttemptResult,
    deadline: tokio::time::Instant,
) -> Option<Result<Authorization, AttemptResult>> {
    let AttemptResult::Status { code: 401, .. } = result else { return None };
    let (Some(Auth::OAuth2(credential)), Some((rejected, _))) = (&sub.auth, auth.and_then(|a| a.issued.as_ref()))
    else {
        return None;
    };
    let fetch = || fetch(http, client, credential, sub, deadline);
    let renewed = match tokio::time::timeout_at(deadline, http.tokens.renew(credential, rejected, fetch)).await {
        Ok(renewed) => renewed,
        Err(_) => Err(AttemptResult::Error("token endpoint: timeout".into())),
    };
    Some(renewed.and_then(bearer))
}

fn bearer(issued: Issued) -> Result<Authorization, AttemptResult> {
    // Checked when the token came: visible ASCII only.
    let mut header = HeaderValue::from_str(&format!("Bearer {}", issued.token.expose())).map_err(|_| {
        AttemptResult::Error("token endpoint answered an access_token that cannot go in a header".into())
    })?;
    header.set_sensitive(true);
    let masker = Masker::new([issued.token.expose()]);
    Ok(Authorization { header, issued: Some((issued, masker)) })
}

/// One token request over `client`, the egress policy checked first for a literal address
/// (names are checked by the resolver), until `deadline`.
async fn fetch(
    http: &HttpClient,
    client: &Client,
    credential: &Credential,
    sub: &Subscription,
    deadline: tokio::time::Instant,
) -> Result<Token, AttemptResult> {
    let request = credential.request();
    let refused = |why: String| AttemptResult::Refused(sub.secrets.mask(&format!("token endpoint: {why}")));
    check_uri_host(&http.egress, request.uri()).map_err(|why| refused(why.to_string()))?;
    let response = match tokio::time::timeout_at(deadline, client.request(request)).await {
        Err(_) => return Err(AttemptResult::Error("token endpoint: timeout".into())),
        Ok(Err(e)) => {
            return Err(match refusal_in(&e) {
                Some(why) => refused(why.to_string()),
                None => AttemptResult::Error(sub.secrets.mask(&format!("token endpoint: {}", describe(&e)))),
            })
        }
        Ok(Ok(response)) => response,
    };
    match read_response(response, deadline).await {
        (AttemptResult::Status { code, .. }, body) => {
            crate::auth::oauth2::parse_response(code, &body).map_err(|m| AttemptResult::Error(sub.secrets.mask(&m)))
        }
        (AttemptResult::Error(e) | AttemptResult::Refused(e), _) => {
            Err(AttemptResult::Error(sub.secrets.mask(&format!("token endpoint: {e}"))))
        }
    }
}
