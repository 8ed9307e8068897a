//! The command line: one file per subcommand; this one parses arguments and sets up logging.

use crate::cli::output::outln;
mod admin;
mod bench;
mod diff;
mod docs;
mod events;
mod init;
mod listen;
mod output;
mod render;
mod schema;
mod send;
mod serve;
mod test_cases;
mod test_examples;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "hookshape", version = crate::LONG_VERSION, about = "Template-driven webhook adapter")]
struct Cli {
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value = "text", env = "HOOKSHAPE_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Where subscription and template files are.
#[derive(Debug, clap::Args, Clone)]
pub struct FileArgs {
    /// Subscriptions, one YAML file each (and their *.test.yaml cases).
    #[arg(long, env = "HOOKSHAPE_SUBSCRIPTIONS", default_value = "subscriptions")]
    pub subscriptions: PathBuf,
    /// Body templates and macros the subscriptions use.
    #[arg(long, env = "HOOKSHAPE_TEMPLATES", default_value = "templates")]
    pub templates: PathBuf,
    /// Inbound sources, one YAML file each (a directory that does not exist means none).
    #[arg(long, env = "HOOKSHAPE_SOURCES", default_value = "sources")]
    pub sources: PathBuf,
    /// The event catalog, one topic per YAML file (a directory that does not exist means none).
    #[arg(long, env = "HOOKSHAPE_TOPICS", default_value = "topics")]
    pub topics: PathBuf,
    /// Accept unset ${VAR}s, checking only that they are well-formed (CI without secrets):
    /// a variable with a default keeps it, one without gets a placeholder (listed on stderr).
    #[arg(long)]
    pub allow_missing_env: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the intake API and the delivery workers.
    Serve(serve::Args),
    /// Check every subscription, template and topic, and every event field the templates read
    /// against the topics' schemas; print file:line: message for each problem.
    Validate(FileArgs),
    /// Print the JSON Schema of a subscription file, with --sources of a source file, with
    /// --topics of a topic file (for editors' YAML language server).
    Schema(schema::Args),
    /// Run the *.test.yaml cases beside the subscriptions (a run in which no case runs fails).
    Test(test_cases::Args),
    /// Write a new subscriptions repository: an example subscription, template, source and
    /// topic with test cases, editor schemas, and CI for GitHub Actions and GitLab CI.
    Init(init::Args),
    /// Print the request a subscription would send for an event; sends nothing.
    Render(render::Args),
    /// Stored events out of a node's store, read-only.
    Events(events::Args),
    /// What a change to the files does to real events: each rendered through a base (a
    /// directory or git ref) and the working files, per subscription. Sends nothing; both
    /// sets load as with --allow-missing-env. Exit 0 no change, 1 changes, 2 an error;
    /// 130 on Ctrl-C (143 on SIGTERM), once the base's git checkout is removed.
    Diff(diff::Args),
    /// Post an event file to a running intake.
    Send(send::Args),
    /// A local receiver that prints each request and checks its signature.
    Listen(listen::Args),
    /// Delivery history over the admin API: list, show, retry.
    Deliveries(admin::DeliveriesArgs),
    /// Subscriptions' live state over the admin API: list, enable, disable.
    Subscriptions(admin::SubscriptionsArgs),
    /// Load-test a local hookshape: throughput, end-to-end latency, memory and CPU.
    Bench(bench::Args),
    /// Writes a generated page of the reference (docs/reference/) to stdout.
    #[command(hide = true)]
    Docs(docs::Args),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hookshape: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(a) => serve::run(a).await,
            Command::Validate(a) => validate::run(a),
            Command::Test(a) => test_cases::run(a),
            Command::Init(a) => init::run(a),
            Command::Schema(a) => schema::run(a),
            Command::Render(a) => render::run(a),
            Command::Events(a) => events::run(a).await,
            Command::Diff(a) => diff::run(a).await,
            Command::Send(a) => send::run(a).await,
            Command::Listen(a) => listen::run(a).await,
            Command::Deliveries(a) => admin::deliveries(a).await,
            Command::Subscriptions(a) => admin::subscriptions(a).await,
            Command::Bench(a) => bench::run(a).await,
            Command::Docs(a) => docs::run(a),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hookshape: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Libraries whose traces print parts of a request's URL: capped whatever `HOOKSHAPE_LOG`
/// asks, since a source's token is a path segment or a query value, and no log may show
/// it. warp traces every path segment it matches at `trace`, and a query it cannot decode
/// at `debug`.
const SECRET_TRACES: [&str; 4] = [
    "warp::filters::path=debug",
    "warp::filters::query=info",
    // The pool and the resolver name the receiver's host (a `${secret:…}` URL's too).
    "hyper_util::client=info",
    "rustls=info",
];

fn init_logging(format: LogFormat) {
    // notify warns of every watch the kernel dropped with its directory (a directory made
    // again or swapped, which the reloader then watches afresh): noise in a node's log.
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOOKSHAPE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,notify=error"));
    let filter = SECRET_TRACES.iter().filter_map(|d| d.parse().ok()).fold(filter, |f, d| f.add_directive(d));
    // Colour only for a person at a terminal: escape codes in a journal or a log file are noise.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The exit code of a command that could not do its job (`events export`, `diff`): 2, the
/// reason on stderr, so a script tells it from `diff`'s 1 (changes found).
fn failed(reason: &str) -> ExitCode {
    eprintln!("hookshape: {reason}");
    ExitCode::from(2)
}

/// Loads subscriptions for the offline commands, printing every problem.
fn load_or_report(files: &FileArgs) -> Option<crate::subscription::SubscriptionSet> {
    let env = |name: &str| std::env::var(name).ok();
    let opts = crate::subscription::LoadOptions {
        subscriptions_dir: &files.subscriptions,
        templates_dir: &files.templates,
        sources_dir: Some(&files.sources),
        topics_dir: Some(&files.topics),
        env: &env,
        allow_missing_env: files.allow_missing_env,
        read_files: true,
        placeholders: Default::default(),
    };
    let loaded = crate::subscription::load(&opts);
    note_placeholders(&opts.placeholders);
    match loaded {
        Ok(set) => Some(set),
        Err(errors) => {
            for e in errors {
                outln!("{e}");
            }
            None
        }
    }
}

/// Says on stderr which variables `--allow-missing-env` gave placeholders (stdout keeps
/// only `file:line: message` lines and the result): a case that depends on one of them
/// tests the placeholder, not the real value.
fn note_placeholders(placeholders: &crate::subscription::Placeholders) {
    let Ok(noted) = placeholders.lock() else { return };
    for (name, files) in noted.iter() {
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        eprintln!("note: ${{{name}}} is not set and has no default: a placeholder stands in ({})", files.join(", "));
    }
}
