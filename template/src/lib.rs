//! Go's `text/template`, as Docker's `--format` and `inspect -f` use it.
//!
//! Docker users write Go templates; berth must run them as Go does, printing values as Go
//! prints them and failing with Go's messages. The crates that port `text/template` to Rust
//! were checked and found unfaithful where Docker's templates need it (map printing and order,
//! struct printing, error texts and positions, `break`/`continue`), so this crate follows Go's
//! `text/template/parse` and `exec` closely: [`lex`] and [`parse`] build Go's tree with Go's
//! parse errors, [`exec`] runs it with Go's semantics (variables and scopes, short-circuit
//! `and`/`or`, `range` over slices and maps in key order, `{{template}}`), [`funcs`] holds Go's
//! builtins and Docker's functions, [`printf`] Go's `fmt` verbs, and [`value`] the values with
//! Go's printing (`map[k:v]`, `[a b]`, `{f1 f2}`, `<nil>`, `<no value>`). What is not
//! supported: function values (`call` always fails), complex numbers, `%[n]` argument indexes,
//! and range over integers, channels and functions.

#![forbid(unsafe_code)]

mod exec;
mod funcs;
mod lex;
mod parse;
mod printf;
mod value;

pub use lex::unescape;
pub use printf::go_g;
pub use value::{go_float, Struct, Value};

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// A template that did not parse, or failed on a value, worded as Go words it
/// (`template: :1: unclosed action`, `template: :1:2: executing "" at <.X>: …`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub message: String,
    /// Whether the template did not parse (else it failed while executing).
    pub parse: bool,
}

impl Error {
    fn parse(message: String) -> Self {
        Error { message, parse: true }
    }

    fn exec(message: String) -> Self {
        Error { message, parse: false }
    }
}

/// A parsed template.
#[derive(Debug)]
pub struct Template {
    /// The text as given: error positions are offsets into it.
    source: String,
    nodes: Vec<parse::Node>,
    defines: BTreeMap<String, Vec<parse::Node>>,
}

impl Template {
    /// Parses a template as Go's `template.New("").Parse(src)` does.
    pub fn parse(src: &str) -> Result<Template, Error> {
        Self::parse_in(src, 0, src.len(), false)
    }

    /// Parses `src[start..end]`, reporting positions as offsets into all of `src` (Docker's
    /// `ps` strips `table` and spaces but counts error positions in the text as typed). With
    /// `unescape_text`, `\t` and `\n` in the text are a tab and a newline.
    pub fn parse_in(src: &str, start: usize, end: usize, unescape_text: bool) -> Result<Template, Error> {
        let toks = lex::lex(src, start, end, unescape_text)?;
        let funcs = funcs::defined;
        let mut p = parse::Parser::new(src, toks, &funcs);
        let nodes = p.parse()?;
        let defines = std::mem::take(&mut p.defines);
        Ok(Template { source: src.to_string(), nodes, defines })
    }

    /// Runs the template on a value. `raw` words type errors as Docker's raw-JSON fallback
    /// of `inspect` does (`in type interface {}`, `json.Number`).
    pub fn execute(&self, v: &Value, raw: bool) -> Result<String, Error> {
        self.run(v, raw, None)
    }

    /// Renders a table header: every field of the row names its column (`header` gives the
    /// name), and Docker's functions return their argument as it is.
    pub fn execute_header(&self, header: &dyn Fn(&str) -> String) -> Result<String, Error> {
        self.run(&Value::Missing, false, Some(header))
    }

    fn run(&self, v: &Value, raw: bool, header: Option<&dyn Fn(&str) -> String>) -> Result<String, Error> {
        let ex = exec::Exec {
            source: &self.source,
            defines: &self.defines,
            root: v,
            raw,
            header,
            vars: RefCell::new(vec![("$".into(), v.clone())]),
            at: RefCell::new((0, String::new())),
            name: RefCell::new(String::new()),
            depth: Cell::new(0),
        };
        let mut out = String::new();
        ex.run(&self.nodes, v, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
