//! `hookshape render`: the exact request a subscription would send for an event file,
//! with secrets shown as `***`. Sends nothing.

use crate::cli::output::outln;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context};

use super::{load_or_report, FileArgs};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["subscription", "all"])))]
pub struct Args {
    /// The subscription to render.
    #[arg(long)]
    subscription: Option<String>,
    /// Render every subscription whose topics and filter take the event. One whose filter or
    /// template fails is said on stderr, the others still shown; the exit is 1 then.
    #[arg(long)]
    all: bool,
    /// A file holding a canonical event as JSON.
    #[arg(long)]
    event: PathBuf,
    #[command(flatten)]
    files: FileArgs,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let Some(set) = load_or_report(&a.files) else { return Ok(ExitCode::FAILURE) };
    let bytes = std::fs::read(&a.event).with_context(|| format!("cannot read {}", a.event.display()))?;
    let bytes = crate::json::without_bom(bytes);
    let event = crate::event::parse(&bytes).map_err(|e| anyhow!("{}: {e}", a.event.display()))?;
    let ctx = crate::render::context(&event);
    let Some(name) = &a.subscription else { return Ok(render_all(&set, &event, &ctx)) };
    let sub = set.get(name).ok_or_else(|| anyhow!("no subscription named {name:?}"))?;
    if !set.routes(&event.topic).any(|s| s.name == sub.name) {
        eprintln!("note: topic {:?} does not match this subscription's topics; rendering anyway", event.topic);
    }
    let matches = sub.template.matches(&ctx);
    if let Some(reason) = matches.as_ref().err().and_then(|e| crate::render::aborted(e)) {
        outln!("aborted: {}", sub.secrets.mask(reason));
        return Ok(ExitCode::SUCCESS);
    }
    if !matches.map_err(|e| anyhow!("filter: {}", sub.secrets.mask(&e)))? {
        eprintln!("note: the filter does not let this event through; rendering anyway");
    }
    print_request(sub, &event, &ctx)?;
    Ok(ExitCode::SUCCESS)
}

/// `--all`: each subscription that takes the event, in turn; one whose filter or template
/// fails is said on stderr and the others are still shown (as `serve` still delivers
/// them), exit 1 then.
fn render_all(
    set: &crate::subscription::SubscriptionSet,
    event: &crate::event::Event,
    ctx: &minijinja::Value,
) -> ExitCode {
    let (mut shown, mut failed) = (0, 0);
    for sub in set.routes(&event.topic).filter(|s| s.enabled) {
        let gap = if shown > 0 { "\n" } else { "" };
        let matches = sub.template.matches(ctx);
        if let Some(reason) = matches.as_ref().err().and_then(|e| crate::render::aborted(e)) {
            outln!("{gap}# {}\naborted: {}", sub.name, sub.secrets.mask(reason));
            shown += 1;
            continue;
        }
        let outcome = match matches {
            Ok(false) => continue,
            Ok(true) => {
                outln!("{gap}# {}", sub.name);
                shown += 1;
                print_request(sub, event, ctx)
            }
            Err(e) => Err(anyhow!("{}: filter: {}", sub.name, sub.secrets.mask(&e))),
        };
        if let Err(e) = outcome {
            eprintln!("hookshape: {e:#}");
            failed += 1;
        }
    }
    if shown + failed == 0 {
        eprintln!("no subscription takes topic {:?} with this payload", event.topic);
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_request(
    sub: &crate::subscription::Subscription,
    event: &crate::event::Event,
    ctx: &minijinja::Value,
) -> anyhow::Result<()> {
    let shown = match crate::accept::preview(sub, event, ctx, "dlv_render", crate::accept::Shown::Real) {
        // `abort(reason)`: not delivered, which is an answer, not a failure.
        Err(e) if crate::render::aborted(&e).is_some() => {
            outln!("{e}");
            return Ok(());
        }
        other => other.map_err(|e| anyhow!("{}: render failed: {e}", sub.name))?.redacted(),
    };
    outln!("{} {}", shown.method, shown.url);
    for (k, v) in &shown.headers {
        outln!("{k}: {v}");
    }
    if let Some(body) = &shown.body {
        outln!("\n{body}");
    }
    Ok(())
}
