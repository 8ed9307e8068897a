//! A real PostgreSQL for tests: `HOOKSHAPE_TEST_POSTGRES_URL` names the server, and each
//! test gets a schema of its own (dropped afterwards), so runs never collide.

use std::io::Write;
use std::sync::Once;

use tokio_postgres::NoTls;

pub const URL_VAR: &str = "HOOKSHAPE_TEST_POSTGRES_URL";

/// The server's URL, or None after saying (once, past the test harness's capture) that
/// the PostgreSQL tests are skipped.
pub fn server_url() -> Option<String> {
    static SAID: Once = Once::new();
    let url = std::env::var(URL_VAR).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        SAID.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "\nNOTE: {URL_VAR} is not set, so the PostgreSQL store and cluster tests were SKIPPED \
                 (.ci/run sets it; e.g. {URL_VAR}=postgres://postgres@127.0.0.1:5432/test cargo test)\n"
            );
        });
    }
    url
}

/// A fresh schema on the test server; `url` points hookshape at it through `search_path`.
pub struct PgSchema {
    pub url: String,
    server: String,
    name: String,
}

impl PgSchema {
    /// None when no server is configured (the test then returns early, skipped).
    pub async fn create() -> Option<Self> {
        let server = server_url()?;
        let name = format!("hs_test_{}", uuid::Uuid::new_v4().simple());
        let client = connect(&server).await;
        client.batch_execute(&format!("CREATE SCHEMA {name}")).await.unwrap();
        let separator = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{separator}options=-c%20search_path%3D{name}");
        Some(Self { url, server, name })
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|e| panic!("{URL_VAR}={url} does not connect: {e}"));
    tokio::spawn(connection);
    client
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop runs inside the test's runtime; a thread with its own does the async work.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok((client, connection)) = tokio_postgres::connect(&server, NoTls).await {
                    tokio::spawn(connection);
                    let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
