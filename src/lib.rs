//! hookshape: a template-driven webhook adapter. This crate root only lists the modules;
//! `ARCHITECTURE.md` maps them and follows one event from intake to receiver.

pub mod accept;
pub mod api;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod config_file;
pub mod console;
pub mod diff;
pub mod dispatch;
pub mod duration;
pub mod egress;
pub mod event;
pub mod export;
pub mod files;
pub mod headers;
pub mod housekeeping;
pub mod http;
pub mod init;
pub mod iso8601;
pub mod json;
pub mod metrics;
pub mod outcome;
pub mod percent;
pub mod reload;
pub mod render;
pub mod search;
pub mod secret;
pub mod server;
pub mod sign;
pub mod source;
pub mod store;
pub mod subscription;
pub mod topic_pattern;
pub mod yaml_bounds;

/// Sent as `User-Agent: hookshape/VERSION` on every delivery.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `hookshape --version` says: the version and the commit it was built from.
pub const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("HOOKSHAPE_COMMIT"), ")");

/// Milliseconds since the Unix epoch: the one clock every module stores and compares
/// (`clock`: monotonic, on the store's clock).
pub fn now_ms() -> i64 {
    clock::now_ms()
}
