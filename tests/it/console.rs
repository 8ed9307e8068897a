//! The console in a real browser: Debian's Chromium driven through its chromedriver
//! (WebDriver). `.ci/run` installs both; elsewhere the tests say they were skipped unless
//! HOOKSHAPE_TEST_CHROMEDRIVER names a driver (or /usr/bin/chromedriver exists).

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::helpers::*;

pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// A headless Chromium, and the chromedriver behind it (killed when dropped).
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: std::process::Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn chromedriver() -> Option<PathBuf> {
    let named = std::env::var_os("HOOKSHAPE_TEST_CHROMEDRIVER").map(PathBuf::from);
    let found = named.or_else(|| Some(PathBuf::from("/usr/bin/chromedriver")).filter(|p| p.exists()));
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must run the console tests: install chromium-driver");
        eprintln!("skipped: no chromedriver (apt-get install chromium chromium-driver)");
    }
    found
}

pub(crate) async fn browser() -> Option<Browser> {
    let driver_path = chromedriver()?;
    let port = free_port();
    let driver = std::process::Command::new(driver_path)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"] }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let client = eventually(WAIT, "chromedriver to take a session", || {
        let (caps, url) = (caps.clone(), url.clone());
        async move {
            let http = hyper_util::client::legacy::connect::HttpConnector::new();
            ClientBuilder::new(http).capabilities(caps).connect(&url).await.ok()
        }
    })
    .await;
    Some(Browser { client, driver })
}

/// The text of the first element `css` selects, once there is one. Read in one script, so
/// a live refresh of the page between finding and reading cannot make it stale.
pub(crate) async fn text(c: &Client, css: &str) -> String {
    c.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap();
    let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;";
    c.execute(script, vec![json!(css)]).await.unwrap().as_str().unwrap_or_default().to_string()
}

pub(crate) async fn click(c: &Client, css: &str) {
    c.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

pub(crate) async fn rows(c: &Client, css: &str) -> Vec<String> {
    let script = "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText);";
    let found = c.execute(script, vec![json!(css)]).await.unwrap();
    found.as_array().unwrap().iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect()
}

/// Waits until the text of `css` satisfies `ok` (a form's answer replacing the page).
pub(crate) async fn until_text(c: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let started = std::time::Instant::now();
    loop {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';";
        let found = c.execute(script, vec![json!(css)]).await.ok().and_then(|v| v.as_str().map(str::to_string));
        let found = found.unwrap_or_default();
        if ok(&found) {
            return found;
        }
        assert!(started.elapsed() < WAIT, "{css}: still {found:?} after {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Submits with a click and waits for the page it leads to (its URL contains `to`).
pub(crate) async fn submit(c: &Client, css: &str, to: &str) {
    click(c, css).await;
    eventually(WAIT, &format!("a page at {to}"), || async {
        c.current_url().await.ok().filter(|u| u.as_str().contains(to)).map(|_| ())
    })
    .await;
}

/// Reloads `url` until `css`'s text satisfies `ok`.
async fn until_page(c: &Client, url: &str, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let started = std::time::Instant::now();
    loop {
        c.goto(url).await.unwrap();
        let found = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if ok(&found) {
            return found;
        }
        assert!(started.elapsed() < WAIT, "{what}: still {found:?} after {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Takes what the browser shows; with `HOOKSHAPE_SCREENSHOTS=1` saves it as
/// docs/console/NAME.png, for the README (only when asked: tests leave the tree clean).
pub(crate) async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
    if std::env::var_os("HOOKSHAPE_SCREENSHOTS").is_none_or(|v| v != "1") {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/console");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

fn failing_subscriptions(ws: &Workspace, receiver: &Receiver) {
    for name in ["crm", "erp"] {
        ws.subscription(
            &format!("{name}.yaml"),
            &format!(
                "description: Customer changes into the {name}\ntopics: [customer.updated]\nrequest:\n  url: \"{base}/{name}/{{{{ Payload.Id }}}}\"\n  headers:\n    X-Team: loyalty\n  body:\n    id: \"{{{{ Payload.Id }}}}\"\n    name: \"{{{{ Payload.Name }}}}\"\nsignature:\n  scheme: hmac-sha256-hex\n  secret: {name}-secret-value\nretry:\n  schedule: []\nping:\n  url: \"{base}/{name}/ping\"\n",
                base = receiver.url()
            ),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_finds_failed_deliveries_and_fixes_them_from_the_console() {
    let Some(browser) = browser().await else { return };
    let c = &browser.client;
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let ws = Workspace::new();
    failing_subscriptions(&ws, &receiver);
    std::fs::create_dir_all(ws.path().join("sources")).unwrap();
    let themembers = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sources/themembers.yaml");
    std::fs::copy(themembers, ws.path().join("sources/themembers.yaml")).unwrap();
    let app = TestApp::spawn(with_tokens(ws.config(), "intake-token", "admin-token")).await;
    let base = app.base.clone();
    for id in 1..=3 {
        let event = json!({ "Topic": "customer.updated", "Payload": { "Id": id, "Name": format!("Customer {id}") } });
        let status = app.http.post(format!("{base}/v1/events")).bearer_auth("intake-token").json(&event).send().await;
        assert_eq!(status.unwrap().status().as_u16(), 202);
    }
    receiver.wait_for(6, WAIT).await;

    // Sign in: a wrong token is refused, the admin token opens the page asked for.
    c.goto(&format!("{base}/console/deliveries")).await.unwrap();
    assert!(c.current_url().await.unwrap().as_str().contains("/console/signin"), "no session: sign in first");
    screenshot(c, "sign-in").await;
    c.find(Locator::Css("#token")).await.unwrap().send_keys("not-the-token").await.unwrap();
    click(c, "#sign-in").await;
    assert!(text(c, ".alert.error").await.contains("not the admin token"));
    c.find(Locator::Css("#token")).await.unwrap().send_keys("admin-token").await.unwrap();
    submit(c, "#sign-in", "/console/deliveries").await;

    // Filter by state and subscription with the form: exactly crm's three failed deliveries.
    let failed =
        until_page(c, &format!("{base}/console/deliveries?status=failed"), "#deliveries tbody", "failed", |t| {
            t.matches("failed").count() == 6
        })
        .await;
    assert!(failed.contains("crm") && failed.contains("erp"));
    c.goto(&format!("{base}/console/deliveries")).await.unwrap();
    click(c, "input[name=status][value=failed]").await;
    click(c, "select[name=subscription] option[value=crm]").await;
    submit(c, "#apply", "subscription=crm").await;
    let shown = rows(c, "#deliveries tbody tr").await;
    assert_eq!(shown.len(), 3, "{shown:?}");
    assert!(shown.iter().all(|r| r.contains("crm") && r.contains("failed") && r.contains("500")), "{shown:?}");
    let url = format!("{}/crm/", receiver.url());
    assert!(shown.iter().all(|r| r.contains(&url) && r.contains(" ms")), "URL and duration: {shown:?}");
    let url = c.current_url().await.unwrap();
    assert!(url.query().unwrap().contains("status=failed") && url.query().unwrap().contains("subscription=crm"));
    screenshot(c, "deliveries").await;

    // The unfiltered list updates itself: a new event's deliveries appear without a reload.
    c.goto(&format!("{base}/console/deliveries")).await.unwrap();
    let before = rows(c, "#deliveries tbody tr").await.len();
    let late = json!({ "Topic": "customer.updated", "Payload": { "Id": 4, "Name": "Customer 4" } });
    app.http.post(format!("{base}/v1/events")).bearer_auth("intake-token").json(&late).send().await.unwrap();
    eventually(WAIT, "the live list to show the new event", || async {
        (rows(c, "#deliveries tbody tr").await.len() == before + 2).then_some(())
    })
    .await;

    // Open one: its attempt and its body; the secret is not on the page.
    click(c, "#deliveries tbody tr a.mono[href*='/console/deliveries/']").await;
    assert_eq!(rows(c, "#attempts tbody tr").await.len(), 1);
    assert!(text(c, "#attempts").await.contains("500"));
    assert!(text(c, "#body").await.contains("\"name\": \"Customer"), "the body, pretty-printed");
    assert!(text(c, "table.headers").await.contains("X-Team"));
    assert!(!c.source().await.unwrap().contains("crm-secret-value"), "no secret in the page");
    screenshot(c, "delivery").await;

    // Fixed receiver: resend from the page, and the new attempt appears.
    receiver.set_status(200);
    let detail = c.current_url().await.unwrap().to_string();
    click(c, "#resend").await;
    until_page(c, &detail, "#state", "the resent delivery", |s| s == "succeeded").await;
    assert_eq!(rows(c, "#attempts tbody tr").await.len(), 2, "the first attempt and the resent one");

    // Recover the rest (2 crm, 3 erp) after a confirmation that counts them.
    c.goto(&format!("{base}/console/deliveries")).await.unwrap();
    submit(c, "#recover", "/console/recover").await;
    assert!(text(c, "#count").await.starts_with("7 failed deliveries"), "{}", text(c, "#count").await);
    screenshot(c, "recover").await;
    click(c, "#confirm").await;
    until_text(c, "#message", |m| m.starts_with("7 sent again.")).await;
    let done = format!("{base}/console/deliveries?status=succeeded");
    until_page(c, &done, "#deliveries tbody", "recovered", |t| t.matches("succeeded").count() == 8).await;

    // An event: its envelope and deliveries; replay makes new deliveries for it.
    click(c, "#deliveries tbody tr a[href*='/console/events/']").await;
    let before = rows(c, "table.list tbody tr").await.len();
    assert_eq!(before, 2, "the event's delivery to each subscription");
    assert!(text(c, "#event").await.contains("\"Topic\": \"customer.updated\""));
    screenshot(c, "event").await;
    submit(c, "#replay", "/replay?which=all").await;
    assert!(text(c, "#count").await.contains("into 2 new deliveries: crm, erp"), "{}", text(c, "#count").await);
    click(c, "#confirm").await;
    until_text(c, "#deliveries-count", |h| h.contains("(4)")).await;
    assert_eq!(rows(c, "#replayed li a").await.len(), 2, "the new deliveries, linked");
    c.goto(&format!("{base}/console/sources")).await.unwrap();
    assert!(text(c, "#source-themembers").await.contains("X-Webhook-Signature"));
    screenshot(c, "sources").await;

    // Disable, then enable: the ping's answer is shown, a failing ping is refused.
    c.goto(&format!("{base}/console/subscriptions/crm")).await.unwrap();
    // From the store's counters: everything here finished within the hour.
    let rate = text(c, "#rate").await;
    assert!(rate.contains("% (") && rate.contains(" succeeded, ") && rate.ends_with(" failed)"), "{rate}");
    let page = c.source().await.unwrap();
    assert!(page.contains("secret: ***") && !page.contains("crm-secret-value"), "the file's secret is masked");
    click(c, "#disable").await;
    until_text(c, "#state", |s| s == "disabled").await;
    receiver.set_status(503);
    click(c, "#enable").await;
    until_text(c, "#notice", |n| n.contains("503")).await;
    assert_eq!(text(c, "#state").await, "disabled", "a failed ping leaves it disabled");
    receiver.set_status(200);
    click(c, "#enable").await;
    until_text(c, "#notice", |n| n.contains("the ping was answered 200")).await;
    assert_eq!(text(c, "#state").await, "enabled");
    // Done, the post redirected to a page a reload only reads (303, then GET).
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/console/subscriptions/crm");
    let query = url.query().unwrap_or_default().to_string();
    assert!(query.starts_with("enabled=200&released=0&done="), "marked for this viewer: {query}");
    c.refresh().await.unwrap();
    assert!(text(c, "#notice").await.contains("the ping was answered 200"));
    // The same words in a link not made for this viewer (edited, or someone else's) say nothing.
    let edited = query.replace("released=0", "released=999");
    c.goto(&format!("{base}/console/subscriptions/crm?{edited}")).await.unwrap();
    assert!(c.find(Locator::Css("#notice")).await.is_err(), "an edited link's notice is not shown");
    screenshot(c, "subscription").await;
    c.goto(&format!("{base}/console/subscriptions")).await.unwrap();
    assert_eq!(rows(c, "#subscriptions tbody tr").await.len(), 2);
    screenshot(c, "subscriptions").await;

    // The playground renders an event through a subscription.
    c.goto(&format!("{base}/console/playground?subscription=erp")).await.unwrap();
    let area = c.find(Locator::Css("#event")).await.unwrap();
    area.clear().await.unwrap();
    area.send_keys(r#"{"Topic": "customer.updated", "Payload": {"Id": 77, "Name": "Ana"}}"#).await.unwrap();
    click(c, "#render").await;
    let result = text(c, "#result").await;
    assert!(!result.contains("render failed"), "{result}");
    assert_eq!(text(c, "#request-line").await, format!("POST {}/erp/77", receiver.url()));
    assert!(text(c, "#rendered-body").await.contains("77"));
    screenshot(c, "playground").await;
    c.goto(&format!("{base}/console/")).await.unwrap();
    screenshot(c, "overview").await;

    // A cross-site form post (the session cookie, no CSRF token) is refused.
    let cookie = c.get_named_cookie("hookshape_session").await.unwrap();
    let forged = app
        .http
        .post(format!("{base}/console/subscriptions/crm/disable"))
        .header("Cookie", format!("hookshape_session={}", cookie.value()))
        .header("Origin", "https://evil.example")
        .form(&[("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let (_, sub) = app.get_with_token("/v1/subscriptions/crm", "admin-token").await;
    assert_eq!(sub["state"], "enabled", "the forged post changed nothing");

    // Signing out ends the session.
    click(c, ".signout button").await;
    c.goto(&format!("{base}/console/subscriptions")).await.unwrap();
    assert!(c.current_url().await.unwrap().as_str().contains("/console/signin"));
    let _ = browser.client.clone().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_from_events_and_receivers_are_shown_as_text_and_run_nothing() {
    let Some(browser) = browser().await else { return };
    let c = &browser.client;
    let receiver = Receiver::start().await;
    receiver.set_body("<script>window.pwned = 'response'</script><b>answer</b>");
    let ws = Workspace::new();
    ws.subscription(
        "crm.yaml",
        &format!(
            "topics: [T]\nrequest:\n  url: \"{}/crm\"\n  body: {{ note: \"{{{{ Payload.Note }}}}\" }}\n",
            receiver.url()
        ),
    );
    let app = TestApp::spawn(ws.config()).await;
    // An empty list, open: the first delivery appears in it by itself.
    c.goto(&format!("{}/console/deliveries", app.base)).await.unwrap();
    assert!(text(c, "#deliveries").await.contains("No deliveries yet"));
    let hostile = "<script>window.pwned = 'payload'</script><img src=x onerror=\"window.pwned = 'img'\">";
    let (status, accepted) = app.post_event(&json!({ "Topic": "T", "Payload": { "Note": hostile } })).await;
    assert_eq!(status, 202, "{accepted}");
    eventually(WAIT, "the first delivery in the live list", || async {
        (rows(c, "#deliveries tbody tr:not(.empty-row)").await.len() == 1).then_some(())
    })
    .await;
    receiver.wait_for(1, WAIT).await;
    let deliveries = app.wait_for_status("succeeded", 1).await;
    let id = deliveries[0]["id"].as_str().unwrap();

    let pages =
        [format!("/console/deliveries/{id}"), format!("/console/events/{}", accepted["uuid"].as_str().unwrap())];
    for page in pages {
        c.goto(&format!("{}{page}", app.base)).await.unwrap();
        c.wait().at_most(WAIT).for_element(Locator::Css("h1")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let pwned: Value = c.execute("return window.pwned === undefined ? null : window.pwned;", vec![]).await.unwrap();
        assert_eq!(pwned, Value::Null, "{page}: nothing from the event or the receiver ran");
        let images = c.find_all(Locator::Css("main img")).await.unwrap();
        assert!(images.is_empty(), "{page}: the payload's <img> is text, not an element");
        let shown = text(c, "main").await;
        assert!(shown.contains("<script>window.pwned = 'payload'</script>"), "{page}: shown as text:\n{shown}");
    }
    c.goto(&format!("{}/console/deliveries/{id}", app.base)).await.unwrap();
    assert!(text(c, "#attempts").await.contains("<script>window.pwned = 'response'</script>"));
    // A filter the history cannot take: the API's error, in the page.
    c.goto(&format!("{}/console/deliveries?since=yesterday", app.base)).await.unwrap();
    assert!(text(c, "#error").await.contains("since: must be an RFC 3339 time"), "{}", text(c, "#error").await);
    let csp = app.http.get(format!("{}/console/deliveries/{id}", app.base)).send().await.unwrap();
    assert!(csp.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'self'"));
    let _ = browser.client.clone().close().await;
}

/// Clicks counted: the support jobs are judged in clicks (issue 25).
struct Clicks<'a> {
    c: &'a Client,
    n: u32,
}

impl Clicks<'_> {
    async fn click(&mut self, css: &str) {
        self.n += 1;
        click(self.c, css).await;
    }
}

/// A body template that fails for an event without `Customer`, on its second line.
const BROKEN_BODY: &str = "{\n  \"id\": {{ Payload.Customer.Id | tojson }}\n}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_recover_and_replay_say_per_delivery_what_they_did_and_the_reason_is_on_the_page() {
    let Some(browser) = browser().await else { return };
    let c = &browser.client;
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let ws = Workspace::new();
    for name in ["crm", "erp"] {
        let yaml = format!("topics: [T]\nrequest:\n  url: \"{}/{name}\"\nretry:\n  schedule: []\n", receiver.url());
        ws.subscription(&format!("{name}.yaml"), &yaml);
    }
    let yaml = format!("topics: [T]\nrequest:\n  url: \"{}/tpl\"\n  body_template: tpl.json.j2\n", receiver.url());
    ws.subscription("tpl.yaml", &yaml);
    ws.template("tpl.json.j2", BROKEN_BODY);
    let app = TestApp::spawn(ws.config()).await;
    let base = app.base.clone();
    let mut events = Vec::new();
    for id in 1..=2 {
        let (_, accepted) = app.post_event(&json!({ "Topic": "T", "Payload": { "Id": id } })).await;
        events.push(accepted["uuid"].as_str().unwrap().to_string());
    }
    app.wait_for_status("failed", 6).await;
    assert_eq!(app.post("/v1/subscriptions/erp/disable").await.0, 200);
    receiver.set_status(200);
    let ids = |sub: &'static str| {
        let app = &app;
        async move {
            let (_, page) = app.get(&format!("/v1/deliveries?subscription={sub}")).await;
            let list = page["deliveries"].as_array().unwrap().clone();
            list.iter()
                .map(|d| (d["id"].as_str().unwrap().to_string(), d["event"].as_str().unwrap().to_string()))
                .collect::<Vec<_>>()
        }
    };

    // Resend a delivery of a disabled subscription: one click, and the page says held, why,
    // since when, and links Enable (never "sent" for what stays held).
    let mut clicks = Clicks { c, n: 0 };
    let erp = ids("erp").await;
    c.goto(&format!("{base}/console/deliveries/{}", erp[0].0)).await.unwrap();
    assert!(text(c, "#why").await.contains("attempt 1 was answered 500"), "the last answer: {}", text(c, "#why").await);
    clicks.click("#resend").await;
    let notice = until_text(c, "#notice", |n| n.starts_with("Held, not sent")).await;
    assert!(notice.contains("Enable erp"), "{notice}");
    assert_eq!(text(c, "#state").await, "held");
    let why = text(c, "#why").await;
    assert!(why.contains("held: subscription erp is disabled since ") && why.contains("(disabled by hand)"), "{why}");
    c.wait().at_most(WAIT).for_element(Locator::Css("#why-enable")).await.unwrap();
    assert_eq!(clicks.n, 1, "resend and its answer: one click");
    screenshot(c, "resend-held").await;
    clicks.click("#notice-enable").await;
    assert!(text(c, "#disabled").await.starts_with("Disabled since "), "{}", text(c, "#disabled").await);
    assert!(receiver.requests_to("/erp").len() == 2, "held: nothing more was sent to erp");

    // Recover: sent, held (with the subscription's state and Enable), not sendable and why.
    c.goto(&format!("{base}/console/recover?status=failed")).await.unwrap();
    assert!(text(c, "#count").await.starts_with("5 failed deliveries"), "{}", text(c, "#count").await);
    clicks.n = 0;
    clicks.click("#confirm").await;
    let message = until_text(c, "#message", |m| m.contains("sent again")).await;
    assert_eq!(message, "2 sent again, 1 held (not sent: subscription disabled), 2 not sendable.");
    let erp_row = text(c, "#by-subscription tr[data-subscription=erp]").await;
    assert!(erp_row.contains("disabled since") && erp_row.contains("Enable erp"), "{erp_row}");
    let each = rows(c, "#each li").await;
    assert_eq!(each.iter().filter(|l| l.ends_with(": sent")).count(), 2, "{each:?}");
    assert!(each.iter().any(|l| l.contains("not sendable: it still does not render")), "{each:?}");
    assert_eq!(clicks.n, 1, "recover from its confirmation: one click");
    screenshot(c, "recover-done").await;

    // The render error is on the delivery's page, with the template and the line; fixed,
    // Resend renders it again and it is sent.
    let tpl = ids("tpl").await;
    let (tpl_id, tpl_event) = tpl.iter().find(|(_, e)| *e == events[0]).cloned().unwrap();
    c.goto(&format!("{base}/console/deliveries/{tpl_id}")).await.unwrap();
    let why = text(c, "#why").await;
    assert!(why.contains("Render error") && why.contains("tpl.json.j2") && why.contains("line 2"), "{why}");
    screenshot(c, "render-error").await;
    let (_, ready) = app.get("/readyz").await;
    ws.template("tpl.json.j2", "{\n  \"id\": {{ Payload.Id | tojson }}\n}\n");
    eventually(WAIT, "the fixed template to load", || async {
        (app.get("/readyz").await.1["version"] != ready["version"]).then_some(())
    })
    .await;
    click(c, "#resend").await;
    until_text(c, "#notice", |n| n.starts_with("Rendered again with today's subscription, and sent")).await;
    let detail = format!("{base}/console/deliveries/{tpl_id}");
    until_page(c, &detail, "#state", "the rendered delivery", |s| s == "succeeded").await;
    assert_eq!(receiver.requests_to("/tpl")[0].json(), json!({ "id": 1 }));
    assert_eq!(tpl_event, events[0]);

    // Replay the other event: the failed subscriptions only (tpl), confirmed, then linked.
    c.goto(&format!("{base}/console/events/{}", events[1])).await.unwrap();
    assert!(text(c, "#replay-form").await.contains("those whose delivery failed (1: tpl)"));
    clicks.n = 0;
    clicks.click("#replay").await;
    assert!(text(c, "#count").await.contains("into 1 new delivery: tpl"), "{}", text(c, "#count").await);
    clicks.click("#confirm").await;
    let replayed = until_text(c, "#replayed", |t| t.contains("Replayed: 1 new delivery")).await;
    assert!(replayed.contains("to tpl"), "{replayed}");
    assert_eq!(clicks.n, 2, "replay: choose (the default), confirm");
    click(c, "#replayed li a").await;
    until_text(c, "#state", |s| ["pending", "in_flight", "succeeded"].contains(&s)).await;

    // Or picked: erp's replay is held, and says so with the way to enable it.
    c.goto(&format!("{base}/console/events/{}", events[1])).await.unwrap();
    click(c, "#which-pick").await;
    click(c, "input[name=subscription][value=erp]").await;
    click(c, "#replay").await;
    assert!(text(c, "#count").await.contains("into 1 new delivery: erp"));
    click(c, "#confirm").await;
    let replayed = until_text(c, "#replayed", |t| t.contains("Replayed: 1 new delivery")).await;
    assert!(
        replayed.contains("held, not sent: subscription erp is disabled since") && replayed.contains("Enable erp"),
        "{replayed}"
    );
    screenshot(c, "replayed").await;
    let _ = browser.client.clone().close().await;
}

/// The support job that starts from a customer: "why did C-1007's delivery fail?". From
/// any page, the header's search box (typed, no click), then one click on the delivery: the
/// page says why, the receiver's answer included. Another customer's failures are not shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn why_a_customers_delivery_failed_is_one_search_and_one_click_away() {
    let Some(browser) = browser().await else { return };
    let c = &browser.client;
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let ws = Workspace::new();
    let yaml = format!(
        "topics: [Loyalty_Points]\nsearch_keys: [Customer.Id]\nrequest:\n  url: \"{}/points\"\n\
         retry:\n  schedule: []\ndelivery:\n  disable_after_failures: 0\n",
        receiver.url()
    );
    ws.subscription("crm.yaml", &yaml);
    let app = TestApp::spawn(ws.config()).await;
    for n in 1001..=1012 {
        let event =
            json!({ "Topic": "Loyalty_Points", "Payload": { "Customer": { "Id": format!("C-{n}") }, "Points": n } });
        assert_eq!(app.post_event(&event).await.0, 202);
    }
    app.wait_for_status("failed", 12).await;

    let mut clicks = Clicks { c, n: 0 };
    c.goto(&format!("{}/console/", app.base)).await.unwrap();
    let search = c.find(Locator::Css("header form[role=search] input[name=key]")).await.unwrap();
    search.send_keys("C-1007\u{E007}").await.unwrap();
    eventually(WAIT, "the search's results", || async {
        c.current_url().await.ok().filter(|u| u.as_str().contains("/console/deliveries?key=C-1007")).map(|_| ())
    })
    .await;
    let found = until_text(c, "#deliveries tbody tr", |t| t.contains("failed")).await;
    assert!(found.contains("500"), "the row shows the last status: {found}");
    assert_eq!(rows(c, "#deliveries tbody tr").await.len(), 1, "C-1007's one delivery, no other customer's");
    clicks.click("#deliveries tbody tr a[href^='/console/deliveries/']").await;
    let why = text(c, "#why").await;
    assert!(why.contains("answered 500"), "the reason is on the page: {why}");
    assert_eq!(text(c, "#state").await, "failed");
    assert_eq!(clicks.n, 1, "from the search to the reason: one click");
    app.stop().await;
}
