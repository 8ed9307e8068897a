//! Server configuration: command-line flags override `HOOKSHAPE_*` environment variables,
//! which override `hookshape.yaml`, which overrides the defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;

use crate::secret::Secret;

pub const DEFAULT_CONFIG_FILE: &str = "hookshape.yaml";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_STORE: &str = "sqlite://data/hookshape.db";
/// A rolling deploy or a `git pull` mid-reload is over well within this.
pub const DEFAULT_ORPHAN_GRACE: Duration = Duration::from_secs(600);
/// How long a stopping node lets attempts in flight finish (`--shutdown-grace`).
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long finished deliveries and their events are kept (`--retention`).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// `hookshape.yaml`. Every key is optional; unknown keys are errors.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub store: Option<String>,
    pub subscriptions: Option<PathBuf>,
    pub templates: Option<PathBuf>,
    pub sources: Option<PathBuf>,
    pub topics: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub concurrency: Option<usize>,
    pub shutdown_grace: Option<String>,
    pub retention: Option<String>,
    pub orphan_grace: Option<String>,
    pub max_pending: Option<u64>,
    pub max_connections: Option<usize>,
    pub max_batch_items: Option<usize>,
    pub header_read_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub body_read_timeout: Option<String>,
    pub deny_private_networks: Option<bool>,
    pub egress_allow: Option<Vec<String>>,
    pub intake_token: Option<String>,
    pub admin_token: Option<String>,
}

/// What flags and environment variables said (clap has already merged those two): the
/// same settings as the file, one layer above it.
pub type Overrides = FileConfig;

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub store: StoreUrl,
    pub subscriptions_dir: PathBuf,
    pub templates_dir: PathBuf,
    /// Inbound sources; a directory that does not exist means none.
    pub sources_dir: PathBuf,
    /// The event catalog; a directory that does not exist means none.
    pub topics_dir: PathBuf,
    pub max_body_bytes: usize,
    pub concurrency: usize,
    pub shutdown_grace: Duration,
    /// Finished deliveries older than this are pruned.
    pub retention: Duration,
    /// How long deliveries of a subscription no node has loaded wait for one that does,
    /// before they are failed as "subscription removed".
    pub orphan_grace: Duration,
    /// Past this many pending deliveries intake answers 503.
    pub max_pending: u64,
    /// Connections and their timeouts.
    pub limits: crate::server::Limits,
    /// A request body must arrive within this long (408 otherwise).
    pub body_read_timeout: Duration,
    /// Items in one `POST /v1/events/batch`, at most.
    pub max_batch_items: usize,
    /// Which addresses deliveries may connect to.
    pub egress: crate::egress::EgressPolicy,
    pub intake_token: Option<Secret>,
    pub admin_token: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StoreUrl {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!("store {url:?}: give a file, like sqlite://data/hookshape.db");
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_string()));
        }
        bail!("store {:?}: use sqlite://PATH or postgres://…", mask_store_userinfo(url))
    }
}

impl ServeConfig {
    /// Merges the layers. `config_file` None means `hookshape.yaml` if it exists.
    /// The settings from the flags and variables (`o`) and the file. An error never shows
    /// a value a `${VAR}` in the file gave, nor a store URL's password.
    pub fn resolve(config_file: Option<&Path>, o: Overrides) -> anyhow::Result<Self> {
        let path = config_path(config_file);
        Self::resolve_from(path, o).map_err(|e| {
            let text = path.and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
            anyhow::anyhow!("{}", hide_variables(&format!("{e:#}"), &text))
        })
    }

    fn resolve_from(path: Option<&Path>, o: Overrides) -> anyhow::Result<Self> {
        let (file, text) = match path {
            Some(path) => read_file_and_text(path)?,
            None => (FileConfig::default(), String::new()),
        };
        // A value the file gave is named with the file and its line when it is wrong.
        let place = |key: &str| match path {
            Some(path) => {
                let line = crate::config_file::line_of_key(&text, key).map(|l| format!(":{l}")).unwrap_or_default();
                format!("{}{line}: ", path.display())
            }
            None => String::new(),
        };
        let duration = |name: &str, flag: Option<String>, in_file: Option<String>, default: Duration| {
            let (value, at) = match (flag, in_file) {
                (Some(value), _) => (value, String::new()),
                (None, Some(value)) => (value, place(name)),
                (None, None) => return Ok(default),
            };
            crate::duration::parse(&value).map_err(|e| anyhow::anyhow!("{at}{name}: {e}"))
        };
        let listen_at = if o.listen.is_none() && file.listen.is_some() { place("listen") } else { String::new() };
        let listen = o.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen = parse_listen(&listen).map_err(|e| anyhow::anyhow!("{listen_at}{e}"))?;
        let store = StoreUrl::parse(&o.store.or(file.store).unwrap_or_else(|| DEFAULT_STORE.into()))?;
        let token = |t: Option<String>| t.filter(|t| !t.is_empty()).map(Secret::new);
        let limits = crate::server::Limits {
            max_connections: o
                .max_connections
                .or(file.max_connections)
                .unwrap_or(crate::server::DEFAULT_MAX_CONNECTIONS)
                .max(1),
            header_read_timeout: duration(
                "header_read_timeout",
                o.header_read_timeout,
                file.header_read_timeout,
                crate::server::DEFAULT_HEADER_READ_TIMEOUT,
            )?,
            idle_timeout: duration(
                "idle_timeout",
                o.idle_timeout,
                file.idle_timeout,
                crate::server::DEFAULT_IDLE_TIMEOUT,
            )?,
        };
        let flag_allow = o.egress_allow.filter(|a| !a.is_empty());
        let allow_at =
            if flag_allow.is_none() && file.egress_allow.is_some() { place("egress_allow") } else { String::new() };
        let allow = flag_allow.or(file.egress_allow).unwrap_or_default();
        let allow = allow
            .iter()
            .map(|c| crate::egress::parse_cidr(c).map_err(|e| anyhow::anyhow!("{allow_at}egress_allow: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let deny_private = o.deny_private_networks.or(file.deny_private_networks).unwrap_or(false);
        let config = Self {
            listen,
            store,
            subscriptions_dir: o.subscriptions.or(file.subscriptions).unwrap_or_else(|| "subscriptions".into()),
            templates_dir: o.templates.or(file.templates).unwrap_or_else(|| "templates".into()),
            sources_dir: o.sources.or(file.sources).unwrap_or_else(|| "sources".into()),
            topics_dir: o.topics.or(file.topics).unwrap_or_else(|| "topics".into()),
            max_body_bytes: o.max_body_bytes.or(file.max_body_bytes).unwrap_or(crate::api::DEFAULT_MAX_BODY_BYTES),
            concurrency: o.concurrency.or(file.concurrency).unwrap_or(256).max(1),
            shutdown_grace: duration("shutdown_grace", o.shutdown_grace, file.shutdown_grace, DEFAULT_SHUTDOWN_GRACE)?,
            retention: duration("retention", o.retention, file.retention, DEFAULT_RETENTION)?,
            orphan_grace: duration("orphan_grace", o.orphan_grace, file.orphan_grace, DEFAULT_ORPHAN_GRACE)?,
            max_pending: o.max_pending.or(file.max_pending).unwrap_or(1_000_000),
            limits,
            body_read_timeout: duration(
                "body_read_timeout",
                o.body_read_timeout,
                file.body_read_timeout,
                crate::api::DEFAULT_BODY_READ_TIMEOUT,
            )?,
            max_batch_items: o
                .max_batch_items
                .or(file.max_batch_items)
                .unwrap_or(crate::api::DEFAULT_MAX_BATCH_ITEMS)
                .max(1),
            egress: crate::egress::EgressPolicy::new(deny_private, allow),
            intake_token: token(o.intake_token.or(file.intake_token)),
            admin_token: token(o.admin_token.or(file.admin_token)),
        };
        config.check_exposure()?;
        Ok(config)
    }

    /// Without tokens the API is open, which is only acceptable on this machine.
    pub fn check_exposure(&self) -> anyhow::Result<()> {
        if !self.listen.ip().is_loopback() && (self.intake_token.is_none() || self.admin_token.is_none()) {
            bail!(
                "refusing to listen on {} without HOOKSHAPE_INTAKE_TOKEN and HOOKSHAPE_ADMIN_TOKEN: \
                 set both, or listen on 127.0.0.1",
                self.listen
            );
        }
        Ok(())
    }
}

/// The store `serve` would open with the same `--store` and `--config`: the flag (or
/// `HOOKSHAPE_STORE`), else the config file's `store:`, else the default. For the commands
/// that read a node's store without serving it (`events export`, `diff --store`).
pub fn store_url(config_file: Option<&Path>, flag: Option<String>) -> anyhow::Result<StoreUrl> {
    let from_file = match (&flag, config_file) {
        (Some(_), _) => None,
        (None, Some(path)) => read_file(path)?.store,
        (None, None) if Path::new(DEFAULT_CONFIG_FILE).exists() => read_file(Path::new(DEFAULT_CONFIG_FILE))?.store,
        (None, None) => None,
    };
    StoreUrl::parse(&flag.or(from_file).unwrap_or_else(|| DEFAULT_STORE.into()))
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    read_file_and_text(path).map(|(file, _)| file)
}

/// The file given, else `hookshape.yaml` when there is one.
fn config_path(given: Option<&Path>) -> Option<&Path> {
    given.or_else(|| Some(Path::new(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()))
}

/// `message` with every value the file's `${VAR}`s took from the environment masked, in
/// any spelling (a message quotes a value escaped: `"s3\"cr"`): they are secrets as much
/// as a subscription's are. A default written in the file is no secret of the environment.
fn hide_variables(message: &str, text: &str) -> String {
    hide_variables_from(message, text, &|name| std::env::var(name).ok())
}

fn hide_variables_from(message: &str, text: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let expanded = crate::config_file::env_vars::expand(text, env);
    let values = expanded.map(|x| x.values).unwrap_or_default();
    let from_environment = values.iter().filter(|v| !v.is_empty() && !text.contains(v.as_str()));
    crate::secret::Masker::new(from_environment).mask(message)
}

/// `url` with everything between its scheme and its last `@` as `***`: a password may hold
/// `/`, `?` or `#` unencoded, which `mask_userinfo` would take for the path's start.
fn mask_store_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}{}{}", &url[..scheme_end + 3], crate::secret::MASK, &url[at..])
        }
        _ => url.to_string(),
    }
}

/// The file's settings, and its text (for the line of a setting found wrong later).
fn read_file_and_text(path: &Path) -> anyhow::Result<(FileConfig, String)> {
    let text = crate::yaml_bounds::read(path).map_err(|r| {
        let line = r.line.map(|l| format!(":{l}")).unwrap_or_default();
        anyhow::anyhow!("{}{line}: {}", path.display(), r.message)
    })?;
    let expanded = crate::config_file::expand_env(&text).map_err(|m| {
        // The line of the first `${VAR}` that does not expand.
        let line = text.lines().position(|l| crate::config_file::expand_env(l).is_err());
        anyhow::anyhow!("{}{}: {m}", path.display(), line.map(|i| format!(":{}", i + 1)).unwrap_or_default())
    })?;
    let file = serde_norway::from_str(&expanded).map_err(|e| {
        let (line, message) = crate::config_file::yaml_error_at(&e.to_string(), e.location().map(|l| l.line()));
        anyhow::anyhow!("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())
    })?;
    Ok((file, text))
}

/// `--listen`: an IP address and port, or `localhost:PORT` (the IPv4 loopback); other names
/// are not resolved, so what is listened on is what the flag says.
fn parse_listen(text: &str) -> anyhow::Result<SocketAddr> {
    if let Some(port) = text.strip_prefix("localhost:") {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
        }
    }
    text.parse().map_err(|_| {
        anyhow::anyhow!(
            "listen address {text:?} is not an IP address and port (127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080, or \
             localhost:8080): host names other than localhost are not resolved"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_takes_an_address_and_port_or_localhost() {
        assert_eq!(parse_listen("localhost:8080").unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(parse_listen("[::1]:9").unwrap().to_string(), "[::1]:9");
        assert_eq!(parse_listen("0.0.0.0:80").unwrap().to_string(), "0.0.0.0:80");
        for bad in ["example.com:80", "localhost", "localhost:x", "127.0.0.1"] {
            let e = parse_listen(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")) && e.contains("IP address and port"), "{e}");
        }
    }

    #[test]
    fn an_error_never_shows_what_a_variable_gave_nor_a_store_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hookshape.yaml");
        // PATH is set wherever tests run; its value stands for a secret here.
        let path = std::env::var("PATH").unwrap();
        for setting in ["max_body_bytes: ${PATH}", "listen: ${PATH}", "retention: \"${PATH}\""] {
            std::fs::write(&file, format!("{setting}\n")).unwrap();
            let e = ServeConfig::resolve(Some(&file), Overrides::default()).unwrap_err().to_string();
            assert!(!e.contains(&path) && e.contains("\"***\""), "{setting}: {e}");
        }
        // A value with a quote or a backslash is quoted escaped in a message.
        let env = |name: &str| (name == "ADM").then(|| r#"adm"Tok\Secret"#.to_string());
        let message = format!("c.yaml:3: max_body_bytes: invalid type: string {:?}", r#"adm"Tok\Secret"#);
        let hidden = hide_variables_from(&message, "admin_token: ${ADM}\nmax_body_bytes: ${ADM}\n", &env);
        assert_eq!(hidden, "c.yaml:3: max_body_bytes: invalid type: string \"***\"");
        for url in ["pg://hs:dbPassSecretK9@127.0.0.1:5/db", "pg://hs:dbPass/Sec?ret#K9@127.0.0.1:5/db"] {
            let o = Overrides { store: Some(url.into()), ..Overrides::default() };
            let e = ServeConfig::resolve(None, o).unwrap_err().to_string();
            assert_eq!(e, "store \"pg://***@127.0.0.1:5/db\": use sqlite://PATH or postgres://…");
        }
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hookshape.yaml");
        std::fs::write(&file, "listen: 127.0.0.1:9999\nstore: sqlite://file.db\nmax_body_bytes: 10\n").unwrap();
        let o = Overrides { store: Some("sqlite://flag.db".into()), ..Overrides::default() };
        let c = ServeConfig::resolve(Some(&file), o).unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.store, StoreUrl::Sqlite("flag.db".into()));
        assert_eq!(c.max_body_bytes, 10);
        assert_eq!(c.subscriptions_dir, PathBuf::from("subscriptions"));
    }

    #[test]
    fn the_orphan_grace_defaults_to_ten_minutes_and_is_read_from_flag_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hookshape.yaml");
        std::fs::write(&file, "orphan_grace: 30s\n").unwrap();
        assert_eq!(ServeConfig::resolve(None, Overrides::default()).unwrap().orphan_grace, Duration::from_secs(600));
        assert_eq!(
            ServeConfig::resolve(Some(&file), Overrides::default()).unwrap().orphan_grace,
            Duration::from_secs(30)
        );
        let o = Overrides { orphan_grace: Some("1h".into()), ..Overrides::default() };
        assert_eq!(ServeConfig::resolve(Some(&file), o).unwrap().orphan_grace, Duration::from_secs(3600));
        let o = Overrides { orphan_grace: Some("soon".into()), ..Overrides::default() };
        let e = ServeConfig::resolve(Some(&file), o).unwrap_err().to_string();
        assert!(e.contains("orphan_grace"), "{e}");
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors_with_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hookshape.yaml");
        std::fs::write(&file, "listen: 127.0.0.1:1\nlsten: oops\n").unwrap();
        let e = ServeConfig::resolve(Some(&file), Overrides::default()).unwrap_err().to_string();
        assert!(e.contains("hookshape.yaml:2") && e.contains("lsten"), "{e}");
        assert!(!e.contains("at line"), "the line said once: {e}");
        std::fs::write(&file, "listen: 127.0.0.1:1\n\nadmin_token: ${HS_CONFIG_TEST_NEVER_SET}\n").unwrap();
        let e = ServeConfig::resolve(Some(&file), Overrides::default()).unwrap_err().to_string();
        assert!(e.contains("hookshape.yaml:3: ") && e.contains("HS_CONFIG_TEST_NEVER_SET"), "{e}");
    }

    #[test]
    fn a_wrong_value_from_the_file_is_named_with_its_line_and_one_from_a_flag_without() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hookshape.yaml");
        std::fs::write(&file, "listen: 127.0.0.1:1\nretention: 30\n").unwrap();
        let e = ServeConfig::resolve(Some(&file), Overrides::default()).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:2: retention: invalid duration", file.display())), "{e}");
        let flag = Overrides { retention: Some("7".into()), ..Overrides::default() };
        let e = ServeConfig::resolve(Some(&file), flag).unwrap_err().to_string();
        assert!(e.starts_with("retention: invalid duration \"7\""), "the flag's value, not the file's: {e}");
        std::fs::write(&file, "store: sqlite://x.db\nlisten: example.com:80\negress_allow: [10.0.0.0/33]\n").unwrap();
        let e = ServeConfig::resolve(Some(&file), Overrides::default()).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:2: listen address", file.display())), "{e}");
        std::fs::write(&file, "egress_allow: [10.0.0.0/33]\n").unwrap();
        let e = ServeConfig::resolve(Some(&file), Overrides::default()).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:1: egress_allow:", file.display())), "{e}");
        std::fs::write(&file, "listen: 127.0.0.1:1\nretention: 30\n").unwrap();
        let fixed = Overrides { retention: Some("7d".into()), ..Overrides::default() };
        assert_eq!(ServeConfig::resolve(Some(&file), fixed).unwrap().retention, Duration::from_secs(7 * 86_400));
    }

    #[test]
    fn a_deeply_nested_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hookshape.yaml");
        std::fs::write(&file, format!("listen: 127.0.0.1:1\nstore: {}\n", "{a: ".repeat(100_000))).unwrap();
        let e = ServeConfig::resolve(Some(&file), Overrides::default()).unwrap_err().to_string();
        assert!(e.contains("hookshape.yaml:2: nested deeper than 64 levels"), "{e}");
    }

    #[test]
    fn refuses_to_listen_beyond_loopback_without_tokens() {
        let o = Overrides { listen: Some("0.0.0.0:8080".into()), ..Overrides::default() };
        assert!(ServeConfig::resolve(None, o.clone()).is_err());
        let with_tokens = Overrides { intake_token: Some("i".into()), admin_token: Some("a".into()), ..o };
        assert!(ServeConfig::resolve(None, with_tokens).is_ok());
    }
}
