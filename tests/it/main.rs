//! Integration tests: one binary (fast links on a 2-core machine), real HTTP on port 0,
//! real SQLite files, and the real `hookshape` binary for crash tests.

// A failing test is a panic: unwrap and expect are how these say "this must hold".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod pg;

mod abuse;
mod bench;
mod body_formats;
mod catalog;
mod catalog_paths;
mod cli;
mod cli_checks;
mod cli_examples;
mod cluster;
mod console;
mod console_a11y;
mod console_topics;
mod crash;
mod delivery;
mod diff;
mod docs;
mod edges;
mod export;
mod exposure;
mod hostile;
mod init;
mod intake;
mod layers;
mod numbers;
mod openapi;
mod operations;
mod outcomes;
mod pg_scale;
mod pg_writes;
mod platform_headers;
mod platforms;
mod policy;
mod properties;
mod rate_limit;
mod read_side;
mod receiver_auth;
mod receiver_tls;
mod recovery;
mod reload;
mod search;
mod signatures;
mod source_schemes;
mod sources;
mod sqlite_scale;
mod store;
mod store_errors;
mod studio;
mod templates;
mod url_rule;
