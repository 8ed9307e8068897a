//! `hookshape deliveries …` and `hookshape subscriptions …`: the admin API from the
//! terminal, as readable tables or, with `--json`, the API's own answers.

use crate::cli::output::{out, outln};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct Connection {
    /// Where hookshape serve listens.
    #[arg(long, global = true, env = "HOOKSHAPE_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Admin token (default: HOOKSHAPE_ADMIN_TOKEN).
    #[arg(long, global = true, env = "HOOKSHAPE_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct DeliveriesArgs {
    #[command(subcommand)]
    command: DeliveriesCommand,
    #[command(flatten)]
    conn: Connection,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "one value per run of the command line, never stored or moved around")]
enum DeliveriesCommand {
    /// Newest first, with the API's filters.
    List {
        /// Only these states (comma-separated): pending, in_flight, succeeded, failed, held, shadow.
        #[arg(long)]
        status: Option<String>,
        /// Only these subscriptions (comma-separated names).
        #[arg(long)]
        subscription: Option<String>,
        /// Only these topics (comma-separated).
        #[arg(long)]
        topic: Option<String>,
        /// Only the deliveries of this event (its Uuid).
        #[arg(long)]
        event: Option<String>,
        /// Only the deliveries of events indexed by this value (a subscription's
        /// `search_keys`, the event's SourceId, a URL path or an id in one), or by
        /// `Path:value` (`Customer.Email:joao@exemplo.com`); case does not matter.
        #[arg(long)]
        key: Option<String>,
        /// Only deliveries of events that came in through this inbound source.
        #[arg(long)]
        source: Option<String>,
        /// Created at or after this time (RFC 3339, Unix milliseconds, or a duration back
        /// from now: 1h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Created before this time (as --since).
        #[arg(long)]
        until: Option<String>,
        /// At most this many rows, 1 to 1000 (default 50).
        #[arg(long)]
        limit: Option<usize>,
        /// Where the previous page ended (the `next_cursor` of its answer).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One delivery: its request (secrets as ***) and every attempt.
    Show {
        /// The delivery's id (`dlv_…`).
        id: String,
    },
    /// Send a delivery again now.
    Retry {
        /// The delivery's id (`dlv_…`).
        id: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct SubscriptionsArgs {
    #[command(subcommand)]
    command: SubscriptionsCommand,
    #[command(flatten)]
    conn: Connection,
}

#[derive(Debug, Subcommand)]
enum SubscriptionsCommand {
    /// Every subscription with its live state and counts.
    List,
    /// Ping the receiver; a 2xx enables the subscription and releases held deliveries.
    Enable {
        /// The subscription's name.
        name: String,
    },
    /// Hold new deliveries until enabled again.
    Disable {
        /// The subscription's name.
        name: String,
    },
}

impl Connection {
    /// Sends the request and gives whether it succeeded and hookshape's JSON answer: one
    /// with every field of `expected`, or an error body. Anything else is an error naming
    /// the URL, so a `--url` that points at some other server is said, not shown as an
    /// empty table.
    async fn call(&self, method: reqwest::Method, path: &str, expected: Shape) -> anyhow::Result<(bool, Value)> {
        let shown = crate::secret::mask_userinfo(&self.url);
        let base = url::Url::parse(&self.url).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
        let Some(base) = base else {
            anyhow::bail!("--url {shown:?} is not an http:// or https:// address (http://127.0.0.1:8080)");
        };
        // A path of a reverse proxy's own (`https://ops.example/hookshape`) is kept; one of
        // hookshape's routes, or a query, is not where serve listens.
        if names_a_route(base.path()) || base.query().is_some() {
            anyhow::bail!(
                "--url {shown:?} is not where hookshape serve listens (http://host:port, or a proxy's prefix): \
                 the routes are added to it"
            );
        }
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut req = reqwest::Client::new().request(method, &url);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let shown = crate::secret::mask_userinfo(&url);
        let resp = req.send().await.with_context(|| format!("cannot reach {shown}"))?;
        let status = resp.status();
        let (value, _) = read_answer(&shown, resp, expected).await?;
        Ok((status.is_success(), value))
    }

    /// Prints an answer: JSON, the given table, or the API's error; exit 1 on an error.
    fn print(&self, ok: bool, value: &Value, table: impl FnOnce(&Value) -> String) -> ExitCode {
        if self.json {
            outln!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
        } else if ok {
            out!("{}", table(value));
        } else {
            eprintln!("hookshape: {}", value["error"].as_str().unwrap_or("request failed"));
        }
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// A field a route's answer always has, and of what kind.
#[derive(Debug, Clone, Copy)]
pub(super) enum Field {
    List(&'static str),
    Text(&'static str),
    Number(&'static str),
}

/// The fields that make an answer hookshape's (docs/reference/http-api.md): checked so
/// that a server answering 200 to anything is not taken for one with nothing to show.
pub(super) type Shape = &'static [Field];

/// Every answer that is not 2xx: `{"error": "what and where"}`.
const ERROR: Shape = &[Field::Text("error")];
const DELIVERY_PAGE: Shape = &[Field::List("deliveries")];
const DELIVERY: Shape = &[Field::Text("id"), Field::Text("status"), Field::List("attempts")];
const RETRIED: Shape = &[Field::Text("id"), Field::Text("status"), Field::Text("outcome")];
const SUBSCRIPTION_LIST: Shape = &[Field::List("subscriptions")];
/// `ping_status` is null for a shadow subscription, which is enabled without a ping.
const ENABLED: Shape = &[Field::Text("name"), Field::Number("released")];
const DISABLED: Shape = &[Field::Text("name"), Field::Text("state")];

impl Field {
    /// What an answer lacks when it lacks this field (`no "deliveries" list`).
    fn missing_in(self, v: &Value) -> Option<String> {
        let (name, present, kind) = match self {
            Field::List(n) => (n, v[n].is_array(), "list"),
            Field::Text(n) => (n, v[n].is_string(), "string"),
            Field::Number(n) => (n, v[n].is_u64(), "number"),
        };
        (!present).then(|| format!("no {name:?} {kind}"))
    }
}

/// Reads `resp`, the answer of `shown` (a URL, its userinfo masked), as hookshape's JSON:
/// an object with every field of `expected` when the status is 2xx, an error body
/// otherwise; gives it parsed and as sent. Anything else is an error saying where the
/// answer came from and what it was.
pub(super) async fn read_answer(
    shown: &str,
    resp: reqwest::Response,
    expected: Shape,
) -> anyhow::Result<(Value, String)> {
    let status = resp.status();
    let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let media = content_type.and_then(|t| t.split(';').next()).map(|t| t.trim().to_string());
    let body = resp.text().await.with_context(|| format!("cannot read the answer of {shown}"))?;
    let shape = if status.is_success() { expected } else { ERROR };
    let place = shown.split('?').next().unwrap_or(shown);
    let hint = "is --url the address hookshape serve listens on?";
    let what = match serde_json::from_str::<Value>(&body) {
        Ok(v) if v.is_object() => {
            let Some(lacking) = shape.iter().find_map(|f| f.missing_in(&v)) else {
                return Ok((v, body));
            };
            format!("JSON that is not hookshape's answer ({lacking})")
        }
        Ok(_) => "JSON that is not hookshape's answer (not an object)".to_string(),
        Err(_) if body.trim().is_empty() => "an empty body, not hookshape's JSON".to_string(),
        Err(_) => format!("{}, not hookshape's JSON", media.as_deref().unwrap_or("a body of no declared type")),
    };
    anyhow::bail!("{place} answered {} with {what}: {hint}", status.as_u16())
}

/// Whether a URL path ends in one of hookshape's routes (`/v1`, `/v1/events`,
/// `/v1/sources/NAME`, …) rather than a proxy's prefix (`/hookshape`, `/v1/hookshape`).
pub(super) fn names_a_route(path: &str) -> bool {
    const ROUTES: [&str; 7] = ["events", "sources", "deliveries", "subscriptions", "render", "openapi.json", "nodes"];
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    segments.iter().enumerate().any(|(i, s)| *s == "v1" && segments.get(i + 1).is_none_or(|next| ROUTES.contains(next)))
}

/// A duration (`1h`) as the Unix milliseconds that long ago; an RFC 3339 time or Unix
/// milliseconds as given; anything else an error naming the flag and the three forms (the
/// API's own refusal knows nothing of durations).
fn ago(flag: &str, text: &str) -> anyhow::Result<String> {
    if let Ok(d) = crate::duration::parse(text) {
        return Ok(crate::now_ms().saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).to_string());
    }
    if text.parse::<i64>().is_ok() || chrono::DateTime::parse_from_rfc3339(text).is_ok() {
        return Ok(text.to_string());
    }
    anyhow::bail!("{flag} {text:?}: give a duration ago (30m, 1h, 7d), an RFC 3339 time (2026-12-07T15:00:00Z) or Unix milliseconds")
}

pub async fn deliveries(a: DeliveriesArgs) -> anyhow::Result<ExitCode> {
    let conn = &a.conn;
    Ok(match a.command {
        DeliveriesCommand::List { status, subscription, topic, event, key, source, since, until, limit, cursor } => {
            let params: Vec<(&str, Option<String>)> = vec![
                ("status", status),
                ("subscription", subscription),
                ("topic", topic),
                ("event", event),
                ("key", key),
                ("source", source),
                ("since", since.map(|t| ago("--since", &t)).transpose()?),
                ("until", until.map(|t| ago("--until", &t)).transpose()?),
                ("limit", limit.map(|l| l.to_string())),
                ("cursor", cursor),
            ];
            let query: Vec<String> = params
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={}", crate::percent::encode_component(&v))))
                .collect();
            let path = if query.is_empty() {
                "/v1/deliveries".to_string()
            } else {
                format!("/v1/deliveries?{}", query.join("&"))
            };
            let (ok, v) = conn.call(reqwest::Method::GET, &path, DELIVERY_PAGE).await?;
            conn.print(ok, &v, deliveries_table)
        }
        DeliveriesCommand::Show { id } => {
            let (ok, v) = conn.call(reqwest::Method::GET, &format!("/v1/deliveries/{id}"), DELIVERY).await?;
            conn.print(ok, &v, delivery_detail)
        }
        DeliveriesCommand::Retry { id } => {
            let (ok, v) = conn.call(reqwest::Method::POST, &format!("/v1/deliveries/{id}/retry"), RETRIED).await?;
            conn.print(ok, &v, retried_line)
        }
    })
}

/// What a retry did to one delivery, in a line: sent, held (and how to enable), or rendered again.
fn retried_line(v: &serde_json::Value) -> String {
    let (id, sub) = (text(&v["id"]), text(&v["subscription"]));
    let held = || {
        let since = v["held_by"]["disabled_since"].as_str().map(|t| format!(" since {t}")).unwrap_or_default();
        format!("held: subscription {sub} is disabled{since}; `hookshape subscriptions enable {sub}` sends it")
    };
    match (v["outcome"].as_str(), v["status"].as_str()) {
        (Some("rerendered"), Some("held")) => format!("{id} never rendered: rendered again, then {}\n", held()),
        (Some("rerendered"), _) => format!("{id} never rendered: rendered again and will be sent now\n"),
        (_, Some("held")) => format!("{id} is {}\n", held()),
        _ => match v["paused_until"].as_str() {
            Some(until) => format!(
                "{id} is pending: subscription {sub} is paused until {until} (its receiver asked to wait), and it goes then\n"
            ),
            None => format!("{id} is pending and will be sent now\n"),
        },
    }
}

pub async fn subscriptions(a: SubscriptionsArgs) -> anyhow::Result<ExitCode> {
    let conn = &a.conn;
    Ok(match a.command {
        SubscriptionsCommand::List => {
            let (ok, v) = conn.call(reqwest::Method::GET, "/v1/subscriptions", SUBSCRIPTION_LIST).await?;
            conn.print(ok, &v, subscriptions_table)
        }
        SubscriptionsCommand::Enable { name } => {
            let path = format!("/v1/subscriptions/{name}/enable");
            let (ok, v) = conn.call(reqwest::Method::POST, &path, ENABLED).await?;
            conn.print(ok, &v, |v| {
                let pinged = match v["ping_status"].as_u64() {
                    Some(status) => format!("ping answered {status}"),
                    None => "no ping: shadow mode pings no receiver".to_string(),
                };
                format!("{} enabled ({pinged}); {} held deliveries released\n", text(&v["name"]), v["released"])
            })
        }
        SubscriptionsCommand::Disable { name } => {
            let path = format!("/v1/subscriptions/{name}/disable");
            let (ok, v) = conn.call(reqwest::Method::POST, &path, DISABLED).await?;
            conn.print(ok, &v, |v| format!("{} disabled; new deliveries are held\n", text(&v["name"])))
        }
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Left-aligned columns, two spaces apart.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

fn deliveries_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            ["id", "status", "subscription", "topic", "attempts", "last_status_code", "created_at"]
                .iter()
                .map(|k| text(&d[*k]))
                .collect()
        })
        .collect();
    let mut out = table(&["ID", "STATUS", "SUBSCRIPTION", "TOPIC", "ATTEMPTS", "LAST", "CREATED"], &rows);
    if let Some(cursor) = v["next_cursor"].as_str() {
        out.push_str(&format!("more: --cursor {cursor}\n"));
    }
    out
}

fn delivery_detail(v: &Value) -> String {
    let mut out = String::new();
    for k in ["id", "status", "subscription", "event", "topic"] {
        out.push_str(&format!("{k}: {}\n", text(&v[k])));
    }
    // The detail's `attempts` is the list (the summary's count is its length).
    let attempts = v["attempts"].as_array().map_or(0, Vec::len);
    out.push_str(&format!("attempts: {attempts}\n"));
    for k in ["next_attempt_at", "created_at", "config_version", "last_error"] {
        if !v[k].is_null() {
            out.push_str(&format!("{k}: {}\n", text(&v[k])));
        }
    }
    for reason in v["reasons"].as_array().into_iter().flatten() {
        out.push_str(&format!("why: {}\n", text(&reason["text"])));
    }
    let r = &v["request"];
    match r["url"].as_str().filter(|u| !u.is_empty()) {
        Some(url) => out.push_str(&format!("\n{} {url}\n", text(&r["method"]))),
        None => out.push_str("\n(no request: it never rendered)\n"),
    }
    for h in r["headers"].as_array().into_iter().flatten() {
        out.push_str(&format!("{}: {}\n", text(&h[0]), text(&h[1])));
    }
    if let Some(body) = r["body"].as_str() {
        out.push_str(&format!("\n{body}\n"));
    }
    let rows: Vec<Vec<String>> = v["attempts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            vec![
                text(&a["attempt"]),
                text(&a["started_at"]),
                format!("{}ms", text(&a["duration_ms"])),
                text(&a["status_code"]),
                text(&a["error"]),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table(&["ATTEMPT", "STARTED", "TOOK", "STATUS", "ERROR"], &rows));
    out
}

fn subscriptions_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v["subscriptions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let topics: Vec<String> = s["topics"].as_array().into_iter().flatten().map(text).collect();
            let c = &s["counts"];
            // A 429's pause is why deliveries wait though the subscription is enabled.
            let state = match s["paused_until"].as_str() {
                Some(until) => format!("{} (paused until {until})", text(&s["state"])),
                None => text(&s["state"]),
            };
            vec![
                text(&s["name"]),
                state,
                text(&s["mode"]),
                topics.join(","),
                text(&c["in_flight"]),
                text(&c["pending"]),
                text(&c["held"]),
                text(&c["succeeded"]),
                text(&c["failed"]),
            ]
        })
        .collect();
    table(&["NAME", "STATE", "MODE", "TOPICS", "IN FLIGHT", "PENDING", "HELD", "SUCCEEDED", "FAILED"], &rows)
}

#[cfg(test)]
mod tests {
    use super::{read_answer, Field, Shape, DELIVERY_PAGE};

    /// What `read_answer` says of an answer with this status, Content-Type and body.
    async fn said(status: u16, content_type: Option<&str>, body: &str, shape: Shape) -> Result<String, String> {
        let mut answer = hyper::Response::builder().status(status);
        if let Some(t) = content_type {
            answer = answer.header("Content-Type", t);
        }
        let resp = reqwest::Response::from(answer.body(body.to_string()).unwrap());
        read_answer("http://h:1/v1/x?a=1", resp, shape).await.map(|(_, text)| text).map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn only_hookshapes_json_is_taken_and_anything_else_names_the_url_and_what_came() {
        let json = Some("application/json");
        let ok = r#"{"deliveries": [], "next_cursor": null}"#;
        assert_eq!(said(200, json, ok, DELIVERY_PAGE).await.unwrap(), ok);
        assert!(said(404, json, r#"{"error": "no delivery d"}"#, DELIVERY_PAGE).await.is_ok());
        let refused = |text: &str| text.ends_with(": is --url the address hookshape serve listens on?");
        let cases = [
            (
                200,
                Some("text/plain; charset=utf-8"),
                "ok",
                "http://h:1/v1/x answered 200 with text/plain, not hookshape's JSON",
            ),
            (200, None, "", "answered 200 with an empty body, not hookshape's JSON"),
            (200, None, "<html>", "answered 200 with a body of no declared type, not hookshape's JSON"),
            (200, json, "[]", "answered 200 with JSON that is not hookshape's answer (not an object)"),
            (200, json, r#"{"deliveries": {}}"#, "with JSON that is not hookshape's answer (no \"deliveries\" list)"),
            (
                502,
                json,
                r#"{"message": "bad gateway"}"#,
                "answered 502 with JSON that is not hookshape's answer (no \"error\" string)",
            ),
        ];
        for (status, content_type, body, expected) in cases {
            let text = said(status, content_type, body, DELIVERY_PAGE).await.unwrap_err();
            assert!(text.contains(expected) && refused(&text), "{body}: {text}");
        }
        let enabled: Shape = &[Field::Text("name"), Field::Number("released")];
        let text = said(200, json, r#"{"name": "crm", "released": null}"#, enabled).await.unwrap_err();
        assert!(text.contains("(no \"released\" number)"), "{text}");
    }
}
