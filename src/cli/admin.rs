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
    async fn call(&self, method: reqwest::Method, path: &str) -> anyhow::Result<(bool, Value)> {
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
        let resp = req.send().await.with_context(|| format!("cannot reach {url}"))?;
        let ok = resp.status().is_success();
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let value =
            serde_json::from_str(&body).unwrap_or_else(|_| serde_json::json!({ "error": format!("{status}: {body}") }));
        Ok((ok, value))
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
            let (ok, v) = conn.call(reqwest::Method::GET, &format!("/v1/deliveries?{}", query.join("&"))).await?;
            conn.print(ok, &v, deliveries_table)
        }
        DeliveriesCommand::Show { id } => {
            let (ok, v) = conn.call(reqwest::Method::GET, &format!("/v1/deliveries/{id}")).await?;
            conn.print(ok, &v, delivery_detail)
        }
        DeliveriesCommand::Retry { id } => {
            let (ok, v) = conn.call(reqwest::Method::POST, &format!("/v1/deliveries/{id}/retry")).await?;
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
        _ => format!("{id} is pending and will be sent now\n"),
    }
}

pub async fn subscriptions(a: SubscriptionsArgs) -> anyhow::Result<ExitCode> {
    let conn = &a.conn;
    Ok(match a.command {
        SubscriptionsCommand::List => {
            let (ok, v) = conn.call(reqwest::Method::GET, "/v1/subscriptions").await?;
            conn.print(ok, &v, subscriptions_table)
        }
        SubscriptionsCommand::Enable { name } => {
            let (ok, v) = conn.call(reqwest::Method::POST, &format!("/v1/subscriptions/{name}/enable")).await?;
            conn.print(ok, &v, |v| {
                format!(
                    "{} enabled (ping answered {}); {} held deliveries released\n",
                    text(&v["name"]),
                    v["ping_status"],
                    v["released"]
                )
            })
        }
        SubscriptionsCommand::Disable { name } => {
            let (ok, v) = conn.call(reqwest::Method::POST, &format!("/v1/subscriptions/{name}/disable")).await?;
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
            vec![
                text(&s["name"]),
                text(&s["state"]),
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
