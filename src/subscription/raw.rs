//! A subscription file exactly as written: serde types that reject unknown keys, so a
//! typo is a load error with its line instead of a silently ignored setting.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::auth::ClientAuth;
pub use crate::sign::Scheme;

/// A hookshape subscription: one YAML file in the subscriptions directory.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "hookshape subscription")]
pub struct RawSubscription {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub topics: Vec<String>,
    pub filter: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    pub request: RawRequest,
    pub signature: Option<RawSignature>,
    #[serde(default)]
    pub retry: RawRetry,
    #[serde(default)]
    pub delivery: RawDelivery,
    /// Template delimiters, for bodies that must contain a literal `{{`.
    pub delimiters: Option<RawDelimiters>,
    /// What the ping sent before enabling carries.
    pub ping: Option<RawPing>,
    /// How hookshape proves itself to the receiver: one of `basic`, `bearer`, `oauth2`.
    pub auth: Option<RawAuth>,
    /// Mutual TLS and a private CA for this subscription's receiver.
    pub tls: Option<RawTls>,
    /// The receiver's quota: at most `requests` per rolling `per`, across all nodes.
    pub rate_limit: Option<RawRateLimit>,
    /// Paths into the Payload (`Customer.Id`, `Customer.Email`) whose values are indexed
    /// with each event this subscription takes, so that history search finds its
    /// deliveries by them (`GET /v1/deliveries?key=C-1007`).
    #[serde(default)]
    pub search_keys: Vec<String>,
}

/// `auth:`, exactly one of its keys (checked when compiled). Every value may use `${VAR}`
/// and is a secret.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// `Authorization: Basic base64(username:password)`.
    pub basic: Option<RawBasic>,
    /// `Authorization: Bearer TOKEN`.
    pub bearer: Option<String>,
    /// An access token from the OAuth2 client-credentials grant (RFC 6749 section 4.4),
    /// sent as `Authorization: Bearer`.
    pub oauth2: Option<RawOAuth2>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBasic {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth2 {
    /// The token endpoint (http or https; the egress rules apply to it).
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// Sent as `scope` in the token request.
    pub scope: Option<String>,
    /// Sent as `audience` in the token request (Auth0 and others).
    pub audience: Option<String>,
    /// How the client authenticates to the token endpoint.
    #[serde(default)]
    pub client_auth: ClientAuth,
}

/// `tls:`: PEM files, read when the subscription loads. A relative path is read from the
/// subscription file's directory.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// The client certificate chain (PEM), for receivers that require mutual TLS.
    pub client_cert: Option<String>,
    /// The client certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<String>,
    /// CA certificates (PEM) trusted for this subscription, in addition to the web roots.
    pub ca: Option<String>,
}

/// `rate_limit: {requests: N, per: DURATION}`: requests are spread one every `per / N`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// Requests allowed in any interval of length `per` (1 to 1,000,000).
    #[schemars(range(min = 1, max = 1_000_000))]
    pub requests: i64,
    /// The interval (`10s`, `1m`, `1d`: at most 31 days); parsed at compile time.
    pub per: String,
}

/// The ping before an enable: Topic `hookshape.ping`, with this subscription's headers and
/// signature.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPing {
    /// The ping's Payload, rendered through this subscription's own URL, headers and body,
    /// so a receiver that parses its platform's envelope accepts it. Without it the ping is
    /// the canonical envelope with an empty Payload.
    pub payload: Option<Map<String, Value>>,
    /// Where the ping goes instead of `request.url` (a health route): a template under the
    /// same rules (literal scheme and host, inserted values percent-encoded, an empty path
    /// segment refused), rendered from the ping's Payload; `${VAR}` expanded.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Sends as soon as it is loaded.
    #[default]
    Immediate,
    /// Starts disabled the first time the store sees it (its deliveries are held) until an
    /// enable whose ping got a 2xx (Eduzz's rule for new configurations).
    Ping,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deliveries are sent.
    #[default]
    Live,
    /// Deliveries are rendered and recorded, never sent.
    Shadow,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    #[default]
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    #[serde(default)]
    pub method: Method,
    pub url: String,
    /// Header values may be strings, numbers or booleans; order is kept.
    #[serde(default, deserialize_with = "header_values")]
    pub headers: Map<String, Value>,
    pub body: Option<Value>,
    pub body_template: Option<String>,
    /// How the body is written and which Content-Type goes with it (a `Content-Type`
    /// header overrides that, and is then the only one sent).
    #[serde(default)]
    pub body_format: crate::render::BodyFormat,
    /// A duration (`30s`); parsed at compile time so an error can name its line.
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSignature {
    pub scheme: Scheme,
    pub header: Option<String>,
    pub secret: Option<String>,
    /// Several secrets, for rotation (standard-webhooks signs with each).
    pub secrets: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Durations (`[30s, 60s, 120s]`); parsed at compile time.
    pub schedule: Option<Vec<String>>,
    #[serde(default)]
    pub give_up_on: Vec<u16>,
}

/// The seeds' defaults: 30 s timeout; retries after 30 s, 60 s and 120 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_SCHEDULE: [Duration; 3] =
    [Duration::from_secs(30), Duration::from_secs(60), Duration::from_secs(120)];

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDelivery {
    /// Parallel requests to this subscription, at most; none means no cap.
    pub max_in_flight: Option<u32>,
    #[serde(default = "default_disable_after")]
    pub disable_after_failures: u32,
    #[serde(default)]
    pub activation: Activation,
}

impl Default for RawDelivery {
    fn default() -> Self {
        Self { max_in_flight: None, disable_after_failures: default_disable_after(), activation: Activation::default() }
    }
}

fn default_disable_after() -> u32 {
    5
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDelimiters {
    pub variable: Option<[String; 2]>,
    pub block: Option<[String; 2]>,
    pub comment: Option<[String; 2]>,
}

/// Header values as written: a header is text, so an unquoted `1.10` is `1.10` (read as a
/// number it was `1.1`, `0x1F` was `31`, `1e3` was `1000.0`). YAML's reader gives a plain
/// scalar's own text to whoever asks for a string.
fn header_values<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    use serde::de::{MapAccess, Visitor};

    struct AsWritten;
    impl Visitor<'_> for AsWritten {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a header value: a string, a number or a boolean")
        }
        // A string is asked for, so YAML's null comes as its spelling (`~`, or nothing):
        // `compile` refuses a header written so, from the file's text.
        fn visit_str<E>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    struct Text(String);
    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D2: serde::Deserializer<'de>>(d: D2) -> Result<Self, D2::Error> {
            d.deserialize_str(AsWritten).map(Text)
        }
    }
    struct Headers;
    impl<'de> Visitor<'de> for Headers {
        type Value = Map<String, Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a mapping of header names to values")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut headers = Map::new();
            while let Some((name, Text(value))) = map.next_entry::<String, Text>()? {
                headers.insert(name, Value::String(value));
            }
            Ok(headers)
        }
    }
    d.deserialize_map(Headers)
}
