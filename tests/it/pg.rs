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

/// hookshape's PostgreSQL migration files, in the order they are applied.
pub fn migration_files() -> Vec<std::path::PathBuf> {
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/postgres/migrations")).unwrap();
    let mut files: Vec<_> = migrations.map(|f| f.unwrap().path()).collect();
    files.sort();
    files
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

    /// A connection of the test's own to this schema, to do to the tables what no API does.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }
}

/// A connection to `url` with its driver running; panics, naming the URL, if it cannot.
pub async fn connect(url: &str) -> tokio_postgres::Client {
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

/// A PostgreSQL server of the test's own, which the test may stop and start again (an
/// outage): initdb into a temp dir, run as the `postgres` user. None, said once, where that
/// cannot be done here (no PostgreSQL binaries, or not root to switch users).
pub struct ThrowawayPostgres {
    dir: tempfile::TempDir,
    pub port: u16,
    bin: std::path::PathBuf,
}

impl ThrowawayPostgres {
    pub fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("initdb").exists());
        let (Some(bin), true) = (bin, running_as_root()) else {
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "\nNOTE: no PostgreSQL binaries under /usr/lib/postgresql, or not root: the database-outage \
                     test was SKIPPED (.ci/run installs PostgreSQL and runs as root)\n"
                );
            });
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let uid_gid = |field: usize| -> u32 {
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
            let line = passwd.lines().find(|l| l.starts_with("postgres:")).expect("a postgres user");
            line.split(':').nth(field).unwrap().parse().unwrap()
        };
        std::os::unix::fs::chown(dir.path(), Some(uid_gid(2)), Some(uid_gid(3))).unwrap();
        let pg = Self { dir, port: crate::helpers::free_port(), bin };
        let data = pg.data();
        pg.as_postgres(&["initdb", "-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"]);
        pg.start_again();
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn as_postgres(&self, command: &[&str]) {
        let program = self.bin.join(command[0]);
        let out = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(program)
            .args(&command[1..])
            .output()
            .unwrap();
        assert!(out.status.success(), "{command:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn start_again(&self) {
        let data = self.data();
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("log").display().to_string();
        self.as_postgres(&["pg_ctl", "-D", &data, "-o", &options, "-l", &log, "-w", "start"]);
    }

    pub fn stop(&self) {
        self.as_postgres(&["pg_ctl", "-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .output();
    }
}

pub fn running_as_root() -> bool {
    std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}
