//! The console for everyone, in a real browser: every page at 390 px (a phone) and 1440 px
//! without sideways page scroll and with axe-core finding nothing; the live list only adds
//! rows, keeping focus, selection and scroll; a skip link and a job done by keyboard only;
//! the overview's and sources' lists (failed by subscription, disabled by name, refused by
//! reason).
//!
//! axe-core is the npm package's `axe.min.js`, vendored for these tests only
//! (`tests/vendor/axe/`, MPL-2.0, its licence beside it): `npm pack axe-core@4` to update.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::json;

use crate::console::{browser, click, rows, screenshot, text, WAIT};
use crate::helpers::*;

const AXE: &str = include_str!("../vendor/axe/axe.min.js");

/// The widths every page must work at: a phone and a laptop.
const WIDTHS: [u32; 2] = [1440, 390];

/// Runs axe-core (every rule it runs by default, best practices included) on what `c`
/// shows and fails naming each violation: its rule, the elements and why. `page` names
/// the page in the message. For any console page, the studio's too.
pub(crate) async fn assert_accessible(c: &Client, page: &str) {
    let found = axe_violations(c).await;
    assert!(found.is_empty(), "{page}: axe-core found {} violation(s):\n{}", found.len(), found.join("\n"));
}

async fn axe_violations(c: &Client) -> Vec<String> {
    // The script is the body of the function WebDriver runs, so the page's CSP (no eval)
    // does not stop it; it defines window.axe.
    c.execute(&format!("{AXE}\n;return typeof window.axe;"), vec![]).await.expect("axe-core loads");
    let run = r##"
        const done = arguments[arguments.length - 1];
        axe.run(document).then(
          (r) => done(r.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n` +
            v.nodes.map((n) => `    ${n.target.join(" ")}: ${n.failureSummary.replace(/\n/g, " ")}`).join("\n"))),
          (e) => done([`axe-core failed: ${e}`]));"##;
    let found = c.execute_async(run, vec![]).await.expect("axe-core runs");
    let found = found.as_array().unwrap_or_else(|| panic!("axe-core answered {found}, not a list"));
    found.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect()
}

/// Fails when the page scrolls sideways: `document.documentElement.scrollWidth` wider
/// than the window.
async fn assert_no_sideways_scroll(c: &Client, page: &str, width: u32) {
    let script = "return [document.documentElement.scrollWidth, window.innerWidth];";
    let found = c.execute(script, vec![]).await.unwrap();
    let (scroll, inner) = (found[0].as_u64().unwrap_or(u64::MAX), found[1].as_u64().unwrap_or(0));
    assert!(inner.abs_diff(u64::from(width)) <= 20, "{page}: the window is {inner} px wide, not about {width}");
    assert!(scroll <= inner, "{page}: the page is {scroll} px wide, it scrolls sideways");
}

/// Fails when a table's own box cuts what it holds at this width without letting one
/// scroll to it (a box that scrolls must be focusable and labelled: axe checks that), when
/// a URL cell hides part of its text, or when the navigation is cut instead of wrapping.
async fn assert_nothing_cut(c: &Client, page: &str) {
    let script = r##"
        const cut = [];
        for (const td of document.querySelectorAll("td.url")) {
          if (td.scrollWidth > td.clientWidth + 1) cut.push("a URL cell: " + td.innerText);
        }
        for (const box of document.querySelectorAll(".scroll")) {
          const s = getComputedStyle(box);
          if (!["auto", "scroll"].includes(s.overflowX) || box.getAttribute("tabindex") !== "0" || !box.getAttribute("aria-label"))
            cut.push("a table box that cannot be scrolled by keyboard: " + box.getAttribute("aria-label"));
        }
        for (const item of document.querySelectorAll(".top a:not(.skip), .top button")) {
          const r = item.getBoundingClientRect();
          if (r.left < 0 || r.right > window.innerWidth) cut.push("a navigation item off screen: " + item.innerText);
        }
        return cut;"##;
    let cut = c.execute(script, vec![]).await.unwrap();
    assert_eq!(cut, json!([]), "{page}: something is cut");
}

pub(crate) async fn press(c: &Client, key: Key) {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key.into() })
        .then(KeyAction::Up { value: key.into() });
    c.perform_actions(keys).await.unwrap();
}

/// What has focus, as `tag#id.class text`.
async fn focused(c: &Client) -> String {
    let script = "const e = document.activeElement; return `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${e.innerText.slice(0, 60)}`;";
    c.execute(script, vec![]).await.unwrap().as_str().unwrap_or_default().to_string()
}

/// Presses Tab until the focused element matches `css` (at most 60 times).
pub(crate) async fn tab_to(c: &Client, css: &str) {
    for _ in 0..60 {
        let script = "return document.activeElement.matches(arguments[0]);";
        if c.execute(script, vec![json!(css)]).await.unwrap() == json!(true) {
            return;
        }
        press(c, Key::Tab).await;
    }
    panic!("{css}: not reached by Tab; focus is on {}", focused(c).await);
}

/// crm fails (500), loyalty succeeds with a customer id in its URL, erp is disabled; a
/// source refused one request for its signature.
async fn support_history(receiver: &Receiver) -> (TestApp, Workspace) {
    receiver.set_status(500);
    receiver.set_status_for("/api", 200);
    let ws = Workspace::new();
    for (name, path) in [
        ("crm", "crm/{{ Payload.Id }}"),
        ("erp", "erp/{{ Payload.Id }}"),
        ("loyalty", "api/v2/loyalty-program/customers/C-10000{{ Payload.Id }}/points"),
    ] {
        ws.subscription(
            &format!("{name}.yaml"),
            &format!(
                "description: Customer changes into the {name}\ntopics: [customer.updated]\nrequest:\n  url: \"{}/{path}\"\n  body:\n    id: \"{{{{ Payload.Id }}}}\"\nretry:\n  schedule: []\n",
                receiver.url()
            ),
        );
    }
    // A catalog topic for its events, so the catalog, the playground and the studio show
    // their examples to axe-core too.
    ws.topic(
        "customer.yaml",
        "name: customer.updated\ndescription: A customer's record changed\nschema:\n  type: object\n  properties:\n    Id: {type: integer}\nexamples:\n  - {Id: 1}\n  - {Id: 2}\nsearch_keys: [Id]\nvalidation: off\n",
    );
    std::fs::create_dir_all(ws.path().join("sources")).unwrap();
    let themembers = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sources/themembers.yaml");
    std::fs::copy(themembers, ws.path().join("sources/themembers.yaml")).unwrap();
    let app = TestApp::spawn(with_tokens(ws.config(), "intake-token", "admin-token")).await;
    let base = app.base.clone();
    let disabled =
        app.http.post(format!("{base}/v1/subscriptions/erp/disable")).bearer_auth("admin-token").send().await;
    assert_eq!(disabled.unwrap().status().as_u16(), 200);
    for id in 1..=3 {
        let event = json!({ "Topic": "customer.updated", "Payload": { "Id": id } });
        let sent = app.http.post(format!("{base}/v1/events")).bearer_auth("intake-token").json(&event).send().await;
        assert_eq!(sent.unwrap().status().as_u16(), 202);
    }
    let forged = app
        .http
        .post(format!("{base}/v1/sources/themembers"))
        .header("Content-Type", "application/json")
        .header("X-Webhook-Signature", "00")
        .body(r#"{"event":"user.created","data":{}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);
    receiver.wait_for(6, WAIT).await;
    (app, ws)
}

/// A delivery of `subscription` and its event's Uuid, from the API.
async fn one_delivery(app: &TestApp, subscription: &str, status: &str) -> (String, String) {
    let query = format!("/v1/deliveries?subscription={subscription}&status={status}");
    let found = eventually(WAIT, &format!("a {status} delivery of {subscription}"), || async {
        let (_, page) = app.get_with_token(&query, "admin-token").await;
        page["deliveries"].as_array().and_then(|l| l.first().cloned())
    })
    .await;
    (found["id"].as_str().unwrap().to_string(), found["event"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone_and_a_laptop_and_axe_core_finds_no_violation() {
    let Some(browser) = browser().await else { return };
    let c = &browser.client;
    let receiver = Receiver::start().await;
    let (app, _ws) = support_history(&receiver).await;
    let base = app.base.clone();
    let (delivery, event) = one_delivery(&app, "loyalty", "succeeded").await;
    let (failed, _) = one_delivery(&app, "crm", "failed").await;

    for width in WIDTHS {
        c.set_window_size(width, 1000).await.unwrap();
        c.goto(&format!("{base}/console/")).await.unwrap();
        text(c, "#token").await;
        assert_no_sideways_scroll(c, &format!("sign-in at {width} px"), width).await;
        assert_accessible(c, &format!("sign-in at {width} px")).await;
    }
    sign_in(c).await;

    // Every console page; a new page is checked by adding it here.
    let pages = [
        ("overview", "/console/".to_string()),
        ("deliveries", "/console/deliveries".to_string()),
        ("a delivery", format!("/console/deliveries/{delivery}")),
        ("a failed delivery", format!("/console/deliveries/{failed}")),
        ("an event", format!("/console/events/{event}")),
        ("a replay's confirmation", format!("/console/events/{event}/replay?which=all")),
        ("subscriptions", "/console/subscriptions".to_string()),
        ("a subscription", "/console/subscriptions/loyalty".to_string()),
        ("a disabled subscription", "/console/subscriptions/erp".to_string()),
        ("sources", "/console/sources".to_string()),
        ("the event catalog", "/console/topics".to_string()),
        ("playground with a catalog example", "/console/playground?example=customer.updated%232".to_string()),
        ("playground", "/console/playground?subscription=loyalty".to_string()),
        ("recover", "/console/recover?status=failed".to_string()),
        ("a message", "/console/deliveries/no-such-delivery".to_string()),
        ("studio", "/console/studio".to_string()),
        ("a subscription in the studio", "/console/studio/loyalty".to_string()),
    ];
    let mut problems = Vec::new();
    for width in WIDTHS {
        c.set_window_size(width, 1000).await.unwrap();
        problems.extend(check_pages(c, &base, &pages, width).await);
    }
    assert!(problems.is_empty(), "axe-core found {} violation(s):\n{}", problems.len(), problems.join("\n"));

    ids_are_shown_whole_at_1440(c, &base).await;
    // Phone-sized pictures, only when asked.
    c.set_window_size(390, 1000).await.unwrap();
    for (name, path) in [("overview-390", "/console/"), ("deliveries-390", "/console/deliveries")] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        text(c, "h1").await;
        screenshot(c, name).await;
    }
    let _ = browser.client.clone().close().await;
}

async fn sign_in(c: &Client) {
    c.find(Locator::Css("#token")).await.unwrap().send_keys("admin-token").await.unwrap();
    click(c, "#sign-in").await;
    text(c, "#failed").await;
}

/// Opens each page at the window's `width`: fails on sideways scroll or something cut;
/// returns what axe-core finds (gathered, so one run shows every page's violations). The
/// playground is checked with its answer shown too.
async fn check_pages(c: &Client, base: &str, pages: &[(&str, String)], width: u32) -> Vec<String> {
    let mut problems = Vec::new();
    for (page, path) in pages {
        c.goto(&format!("{base}{path}")).await.unwrap();
        c.wait().at_most(WAIT).for_element(Locator::Css("h1")).await.unwrap();
        let page = format!("{page} ({path}) at {width} px");
        assert_no_sideways_scroll(c, &page, width).await;
        assert_nothing_cut(c, &page).await;
        problems.extend(axe_violations(c).await.into_iter().map(|v| format!("{page}: {v}")));
    }
    c.goto(&format!("{base}/console/playground?subscription=loyalty")).await.unwrap();
    click(c, "#render").await;
    text(c, "#result").await;
    let page = format!("the playground's answer at {width} px");
    assert_no_sideways_scroll(c, &page, width).await;
    problems.extend(axe_violations(c).await.into_iter().map(|v| format!("{page}: {v}")));
    problems
}

/// At 1440 px the whole deliveries table shows, the delivery id column included; the
/// customer id in a URL is whole; the event's Uuid, shortened, shows whole on focus.
async fn ids_are_shown_whole_at_1440(c: &Client, base: &str) {
    c.set_window_size(1440, 1000).await.unwrap();
    c.goto(&format!("{base}/console/deliveries")).await.unwrap();
    let script =
        "const box = document.querySelector('#deliveries').parentElement; return box.scrollWidth <= box.clientWidth;";
    assert_eq!(c.execute(script, vec![]).await.unwrap(), json!(true), "the table fits at 1440 px");
    assert!(text(c, "#deliveries").await.contains("/customers/C-100001/points"), "the customer id whole");
    let script = "const a = document.querySelector('#deliveries a[data-rest]'); a.focus(); \
        return [a.title, a.innerText + JSON.parse(getComputedStyle(a, '::after').content)];";
    let shown = c.execute(script, vec![]).await.unwrap();
    assert_eq!(shown[0].as_str().unwrap().len(), 36, "{shown}");
    assert_eq!(shown[0], shown[1], "the whole Uuid on focus");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_names_failed_and_disabled_subscriptions_and_sources_count_refusals() {
    let Some(browser) = browser().await else { return };
    let c = &browser.client;
    let receiver = Receiver::start().await;
    let (app, _ws) = support_history(&receiver).await;
    let base = app.base.clone();
    eventually(WAIT, "crm's 3 failed deliveries", || async {
        let (_, page) = app.get_with_token("/v1/deliveries?status=failed", "admin-token").await;
        (page["deliveries"].as_array().map_or(0, Vec::len) == 3).then_some(())
    })
    .await;
    c.goto(&format!("{base}/console/")).await.unwrap();
    sign_in(c).await;

    // Failed by subscription: crm's 3 (from the counters), linked to its failed history.
    assert_eq!(text(c, "#failed li").await, "crm: 3 failed");
    let links = rows(c, "#failed li a").await;
    assert_eq!(links, ["crm", "3 failed"]);
    let script = "return Array.from(document.querySelectorAll(arguments[0])).map(a => a.getAttribute('href'));";
    let hrefs = c.execute(script, vec![json!("#failed li a")]).await.unwrap();
    assert_eq!(hrefs, json!(["/console/subscriptions/crm", "/console/deliveries?status=failed&subscription=crm"]));
    // Disabled subscriptions by name, each a link to its page.
    assert!(text(c, "#disabled li").await.starts_with("erp"), "{}", text(c, "#disabled").await);
    let hrefs = c.execute(script, vec![json!("#disabled li a")]).await.unwrap();
    assert_eq!(hrefs, json!(["/console/subscriptions/erp"]));
    click(c, "#disabled li a").await;
    assert_eq!(text(c, "#state").await, "disabled");
    // Refused requests by source and reason.
    c.goto(&format!("{base}/console/")).await.unwrap();
    assert_eq!(text(c, "#refused li").await, "themembers: 1 bad signature");

    // Sources: the scheme as the file writes it, and the refusals.
    c.goto(&format!("{base}/console/sources")).await.unwrap();
    let source = text(c, "#source-themembers").await;
    assert!(source.contains("hmac-sha256-hex in X-Webhook-Signature"), "{source}");
    assert!(!source.contains("HmacSha256"), "{source}");
    assert_eq!(text(c, "#source-themembers .refused").await, "1 bad signature");
    let _ = browser.client.clone().close().await;
}

/// Someone reading the deliveries list: scrolled down, the text of the 6th row's URL
/// selected, the 8th row's link focused; every row marked, every change in the list counted.
const READING: &str = r##"
        const rows = Array.from(document.querySelectorAll("#live tr"));
        rows.forEach((r) => { r.kept = true; });
        window.scrollTo(0, 200);
        const cell = rows[5].querySelector("td.url");
        const range = document.createRange();
        range.selectNodeContents(cell);
        document.getSelection().removeAllRanges();
        document.getSelection().addRange(range);
        rows[7].querySelector("a[href*='/console/deliveries/']").focus();
        window.changes = 0;
        new MutationObserver((m) => { window.changes += m.length; })
          .observe(document.getElementById("live"), { subtree: true, childList: true, characterData: true, attributes: true });
        window.watched = rows[5];
        window.watchedTop = rows[5].getBoundingClientRect().top;
        return [cell.innerText, window.scrollY];"##;

/// Whether the new row came on top and the reading went on undisturbed.
const AFTER_NEW_ROW: &str = r##"
        const rows = Array.from(document.querySelectorAll("#live tr"));
        const sel = document.getSelection();
        return {
          first_is_new: rows[0].kept !== true,
          old_rows_kept: rows.slice(1).every((r) => r.kept === true),
          selection: sel.toString(),
          selection_in_place: window.watched.contains(sel.anchorNode),
          focus_in_place: rows[8].contains(document.activeElement),
          moved: Math.abs(window.watched.getBoundingClientRect().top - window.watchedTop),
        };"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_refresh_adds_new_rows_on_top_and_keeps_focus_selection_and_scroll() {
    let Some(browser) = browser().await else { return };
    let c = &browser.client;
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription(
        "crm.yaml",
        &format!("topics: [T]\nrequest:\n  url: \"{}/crm/{{{{ Payload.Id }}}}\"\n", receiver.url()),
    );
    let app = TestApp::spawn(ws.config()).await;
    for id in 1..=12 {
        assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": { "Id": id } })).await.0, 202);
    }
    app.wait_for_status("succeeded", 12).await;
    c.set_window_size(1440, 500).await.unwrap();
    c.goto(&format!("{}/console/deliveries", app.base)).await.unwrap();
    assert_eq!(rows(c, "#deliveries tbody tr").await.len(), 12);

    // Someone reading: scrolled down, a cell's text selected, a link focused.
    let before = c.execute(READING, vec![]).await.unwrap();
    let selected = before[0].as_str().unwrap().to_string();
    assert!(before[1].as_f64().unwrap() > 0.0, "the page is scrolled: {before}");

    // Nothing new: two refreshes pass and nothing in the list changes.
    tokio::time::sleep(Duration::from_millis(7000)).await;
    assert_eq!(
        c.execute("return window.changes;", vec![]).await.unwrap(),
        json!(0),
        "nothing changed, nothing touched"
    );

    // A new delivery arrives: it appears on top; the rows shown, the selection, the focus
    // and what is on screen stay.
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": { "Id": 13 } })).await.0, 202);
    eventually(WAIT, "the new row", || async { (rows(c, "#deliveries tbody tr").await.len() == 13).then_some(()) })
        .await;
    let found = c.execute(AFTER_NEW_ROW, vec![]).await.unwrap();
    assert_eq!(found["first_is_new"], json!(true), "{found}");
    assert_eq!(found["old_rows_kept"], json!(true), "{found}");
    assert_eq!(found["selection"], json!(selected), "{found}");
    assert_eq!(found["selection_in_place"], json!(true), "{found}");
    assert_eq!(found["focus_in_place"], json!(true), "{found}");
    assert!(found["moved"].as_f64().unwrap() < 2.0, "the row being read stays where it was on screen: {found}");
    assert!(text(c, "#deliveries tbody tr").await.contains("/crm/13"), "the newest on top");

    let _ = browser.client.clone().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyboard_alone_skips_to_the_content_and_resends_a_failed_delivery() {
    let Some(browser) = browser().await else { return };
    let c = &browser.client;
    let receiver = Receiver::start().await;
    receiver.set_status(500);
    let ws = Workspace::new();
    let yaml = format!(
        "topics: [T]\nrequest:\n  url: \"{}/crm/{{{{ Payload.Id }}}}\"\nretry:\n  schedule: []\n",
        receiver.url()
    );
    ws.subscription("crm.yaml", &yaml);
    let app = TestApp::spawn(ws.config()).await;
    assert_eq!(app.post_event(&json!({ "Topic": "T", "Payload": { "Id": 1 } })).await.0, 202);
    app.wait_for_status("failed", 1).await;
    receiver.set_status(200);

    for page in ["/console/", "/console/deliveries", "/console/sources", "/console/playground"] {
        c.goto(&format!("{}{page}", app.base)).await.unwrap();
        text(c, "h1").await;
        press(c, Key::Tab).await;
        let first = focused(c).await;
        assert!(first.starts_with("a#.skip Skip to content"), "{page}: the first Tab reaches {first}");
        let shown = "const r = document.activeElement.getBoundingClientRect(); return r.top >= 0 && r.height > 0;";
        assert_eq!(c.execute(shown, vec![]).await.unwrap(), json!(true), "{page}: the focused skip link is visible");
        press(c, Key::Enter).await;
        assert!(focused(c).await.starts_with("main#main"), "{page}: Enter moves focus to the content");
    }

    // The job: from the list, open the failed delivery and resend it, keys only.
    c.goto(&format!("{}/console/deliveries", app.base)).await.unwrap();
    text(c, "#deliveries").await;
    tab_to(c, "#deliveries a[href^='/console/deliveries/']").await;
    press(c, Key::Enter).await;
    text(c, "#attempts").await;
    tab_to(c, "#resend").await;
    let outline = "return getComputedStyle(document.activeElement).outlineStyle;";
    assert_ne!(c.execute(outline, vec![]).await.unwrap(), json!("none"), "focus is visible");
    press(c, Key::Enter).await;
    eventually(WAIT, "the resent delivery to succeed", || async {
        c.refresh().await.ok()?;
        (text(c, "#state").await == "succeeded").then_some(())
    })
    .await;
    let _ = browser.client.clone().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_refreshes_only_the_part_that_changed() {
    let Some(browser) = browser().await else { return };
    let c = &browser.client;
    let receiver = Receiver::start().await;
    let ws = Workspace::new();
    ws.subscription("crm.yaml", &format!("topics: [T]\nrequest:\n  url: \"{}/crm\"\n", receiver.url()));
    let app = TestApp::spawn(ws.config()).await;

    // The rates are measured from the first refresh on; the other cards stay as they are.
    c.goto(&format!("{}/console/", app.base)).await.unwrap();
    text(c, "#failed").await;
    c.execute("document.querySelectorAll('#live > *').forEach((p) => { p.kept = true; });", vec![]).await.unwrap();
    eventually(WAIT, "the rates", || async { text(c, "#live").await.contains("deliveries finished").then_some(()) })
        .await;
    let script = "return Array.from(document.querySelectorAll('#live > *')).map((p) => [p.querySelector('h2').innerText, p.kept === true]);";
    let parts = c.execute(script, vec![]).await.unwrap();
    for part in parts.as_array().unwrap() {
        let changed = part[0] == json!("Per minute, this node");
        assert_eq!(part[1], json!(!changed), "only the rates are swapped: {parts}");
    }
    let _ = browser.client.clone().close().await;
}
