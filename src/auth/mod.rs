//! How hookshape proves itself to a receiver (`auth:` on a subscription): the credentials
//! as loaded, the OAuth2 client-credentials exchange as pure steps (`oauth2.rs`), and the
//! access tokens cached per credential and shared by every subscription using it
//! (`tokens.rs`). No I/O here: `dispatch::sender` makes the token requests with the
//! deliveries' own client, so they obey the same egress rules, deadline and TLS settings.

pub mod oauth2;
mod tokens;

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

pub use oauth2::{Credential, Token};
pub use tokens::{Issued, Tokens};

/// A subscription's `auth:`, compiled.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A header value fixed at load: `Basic base64(username:password)` or `Bearer TOKEN`.
    Static(Secret),
    /// A bearer token from the credential's token endpoint.
    OAuth2(Arc<Credential>),
}

impl Auth {
    /// `Authorization: Basic …` for `basic: {username, password}` (RFC 7617).
    pub fn basic(username: &str, password: &str) -> Self {
        use base64::Engine as _;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        Self::Static(Secret::new(format!("Basic {pair}")))
    }

    /// `Authorization: Bearer TOKEN`.
    pub fn bearer(token: &str) -> Self {
        Self::Static(Secret::new(format!("Bearer {token}")))
    }
}

/// RFC 6749 section 2.3.1: how the client proves itself to the token endpoint, HTTP Basic
/// (the default) or `client_id` and `client_secret` in the form body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    #[default]
    Basic,
    Post,
}
