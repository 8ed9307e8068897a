//! `hookshape schema`: the JSON Schema of a subscription file, generated from the same
//! types the loader deserializes, for editors running the YAML language server.

use std::process::ExitCode;

pub fn run() -> anyhow::Result<ExitCode> {
    let schema = schemars::schema_for!(crate::subscription::raw::RawSubscription);
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}
