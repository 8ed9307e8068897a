//! A JSON value whose strings are templates, compiled once and rendered per input: the
//! mapping of an inbound source's body to a canonical event. The same rules as a
//! subscription's structured `body:` (a string that is one `{{ expr }}` keeps its JSON
//! type and its digits).

use minijinja::{Environment, Value};
use serde_json::Value as Json;

use super::{body, check, compile_error, environment, CompileError, Delimiters, TemplateFiles};

pub struct ValueTemplate {
    env: Environment<'static>,
    root: body::Node,
}

impl std::fmt::Debug for ValueTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueTemplate").finish_non_exhaustive()
    }
}

impl ValueTemplate {
    /// Compiles `value`; errors name the field under `path` (`event.Topic`).
    pub fn compile(value: &Json, path: &str, d: &Delimiters, files: TemplateFiles) -> Result<Self, CompileError> {
        let mut env = environment::build(d, files).map_err(|e| compile_error("delimiters", super::describe(&e)))?;
        let root = body::compile(&mut env, value, path, d)?;
        check::at_load(&env)?;
        Ok(Self { env, root })
    }

    pub fn render(&self, ctx: &Value) -> Result<Json, String> {
        body::render(&self.env, &self.root, ctx)
    }
}
