//! A subscription file exactly as written: serde types that reject unknown keys, so a
//! typo is a load error with its line instead of a silently ignored setting.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::duration::serde_text;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
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
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deliveries are sent.
    #[default]
    Live,
    /// Deliveries are rendered and recorded, never sent.
    Shadow,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
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

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    #[serde(default)]
    pub method: Method,
    pub url: String,
    /// Header values may be strings, numbers or booleans; order is kept.
    #[serde(default)]
    pub headers: Map<String, Value>,
    pub body: Option<Value>,
    pub body_template: Option<String>,
    #[serde(default = "default_timeout", with = "serde_text")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    HmacSha256Hex,
    HmacSha256Prefixed,
    StandardWebhooks,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignature {
    pub scheme: Scheme,
    pub header: Option<String>,
    pub secret: Option<String>,
    /// Several secrets, for rotation (standard-webhooks signs with each).
    pub secrets: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    #[serde(default = "default_schedule", deserialize_with = "schedule")]
    pub schedule: Vec<Duration>,
    #[serde(default)]
    pub give_up_on: Vec<u16>,
}

impl Default for RawRetry {
    fn default() -> Self {
        Self { schedule: default_schedule(), give_up_on: Vec::new() }
    }
}

fn default_schedule() -> Vec<Duration> {
    [30, 60, 120].into_iter().map(Duration::from_secs).collect()
}

fn schedule<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts.iter().map(|t| crate::duration::parse(t).map_err(serde::de::Error::custom)).collect()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelivery {
    /// Parallel requests to this subscription, at most; none means no cap.
    pub max_in_flight: Option<u32>,
    #[serde(default = "default_disable_after")]
    pub disable_after_failures: u32,
}

impl Default for RawDelivery {
    fn default() -> Self {
        Self { max_in_flight: None, disable_after_failures: default_disable_after() }
    }
}

fn default_disable_after() -> u32 {
    5
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelimiters {
    pub variable: Option<[String; 2]>,
    pub block: Option<[String; 2]>,
    pub comment: Option<[String; 2]>,
}
