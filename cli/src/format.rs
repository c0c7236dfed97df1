//! How the CLI presents things, in one place and the way Docker's CLI does: human sizes
//! (`units.HumanSizeWithPrecision`, `HumanSize`, `BytesSize`), human durations
//! (`units.HumanDuration`: "About an hour", "2 hours"), the STATUS column of `ps`, Go's
//! `tabwriter` alignment, and the Go-template subset behind every `--format`/`-f` (fields,
//! pipelines, Docker's template functions and Go's builtins, `if`/`range`/`with`, `table`
//! prefixes with headers). Each command builds its rows as data and calls into this module, so
//! `ps`, `images`, `inspect` and the rest agree on unknown fields, `{{json .}}` and alignment.
//! The engine returns times and numbers only; turning them into words happens here.

use berth_engine::container::{Container, ZERO_TIME};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

// ---------------------------------------------------------------------------------------------
// Sizes

const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// Docker's `units.HumanSizeWithPrecision(size, 3)`, the SIZE columns of `images` and
/// `history` and the I/O columns of `stats`: decimal units, three significant digits (`4.26MB`).
pub fn human_size(bytes: u64) -> String {
    sized(bytes as f64, 1000.0, &DECIMAL, 3)
}

/// Docker's `units.HumanSize` (four significant digits): `Total reclaimed space`, `VirtualSize`.
pub fn human_size4(bytes: u64) -> String {
    sized(bytes as f64, 1000.0, &DECIMAL, 4)
}

/// Docker's `units.BytesSize`: binary units, four significant digits (`stats` memory).
pub fn bytes_size(bytes: u64) -> String {
    sized(bytes as f64, 1024.0, &BINARY, 4)
}

fn sized(mut v: f64, base: f64, units: &[&str], precision: usize) -> String {
    let mut i = 0;
    while v >= base && i < units.len() - 1 {
        v /= base;
        i += 1;
    }
    format!("{}{}", go_g(v, precision), units[i])
}

/// Go's `%.*g` (what `units` formats with): `precision` significant digits, exponent form when
/// the exponent is below -4 or at least the precision, trailing zeros dropped.
fn go_g(v: f64, precision: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let p = precision.max(1);
    // Round to the significant digits first: the exponent is the rounded one (999.5 -> 1e+03).
    let sci = format!("{:.*e}", p - 1, v);
    let (mant, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    let trim =
        |s: &str| if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s.into() };
    if exp < -4 || exp >= p as i32 {
        return format!("{}e{}{:02}", trim(mant), if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    trim(&format!("{:.*}", (p as i32 - 1 - exp).max(0) as usize, v))
}

// ---------------------------------------------------------------------------------------------
// Durations and times

/// Docker's `units.HumanDuration`: seconds and minutes truncated, hours rounded, then days,
/// weeks, months (30 days) and years (365 days) from the rounded hours.
pub fn human_duration(d: chrono::Duration) -> String {
    let ms = d.num_milliseconds();
    let seconds = ms / 1000;
    let minutes = ms / 60_000;
    // Go: int(d.Hours() + 0.5), truncated toward zero.
    let hours = (ms as f64 / 3_600_000.0 + 0.5) as i64;
    if seconds < 1 {
        "Less than a second".into()
    } else if seconds == 1 {
        "1 second".into()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", ms / 3_600_000 / 24 / 365)
    }
}

/// `2 hours ago` for a time, or `N/A` when it is unknown (images without a creation time).
pub fn since(t: Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => format!("{} ago", human_duration(Utc::now() - t)),
        None => "N/A".into(),
    }
}

/// [`human_duration`] from an RFC 3339 time of a container record up to now; a time that does
/// not parse reads as "Less than a second", as the engine's old formatter had it.
fn human_since_rfc3339(rfc3339: &str) -> String {
    let d = match DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => Utc::now() - t.with_timezone(&Utc),
        Err(_) => chrono::Duration::zero(),
    };
    human_duration(d)
}

/// `ps`'s CREATED column for a container: `5 minutes ago`.
pub fn running_for(c: &Container) -> String {
    format!("{} ago", human_since_rfc3339(&c.created))
}

/// Docker's STATUS column: `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`.
pub fn container_status(c: &Container) -> String {
    let st = &c.state;
    if st.restarting {
        return format!("Restarting ({}) {} ago", st.exit_code, human_since_rfc3339(&st.finished_at));
    }
    if st.running {
        let up = format!("Up {}", human_since_rfc3339(&st.started_at));
        // Docker's health suffix: `(healthy)`, `(unhealthy)`, `(health: starting)`.
        return match st.health.as_ref().map(|h| h.status.as_str()) {
            Some("starting") => format!("{up} (health: starting)"),
            Some(s) => format!("{up} ({s})"),
            None => up,
        };
    }
    match st.status.as_str() {
        "created" => "Created".into(),
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        _ if st.finished_at == ZERO_TIME => "Created".into(),
        _ => format!("Exited ({}) {} ago", st.exit_code, human_since_rfc3339(&st.finished_at)),
    }
}

/// Go's `time.Time.String()` for a UTC time, as Docker's `CreatedAt`.
pub fn go_time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()).unwrap_or_default()
}

/// Docker's `formatter.Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

// ---------------------------------------------------------------------------------------------
// Tables

/// Docker's table writer for lists: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
pub const TABLE_MIN_WIDTH: usize = 10;
/// `docker top` aligns with a minimum cell width of 20.
pub const TOP_MIN_WIDTH: usize = 20;

/// Aligns tab-separated lines as Go's `text/tabwriter` with padding 3 and space padding: a
/// cell ended by a tab is padded to its column's width (the widest cell + 3, at least
/// `min_width`), the text after a line's last tab is written as it is. A column spans the
/// consecutive lines that have a cell in it (Go's column blocks).
pub fn tabwrite(text: &str, min_width: usize) -> String {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<Vec<&str>> = body.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    let mut widths = Vec::new();
    column_block(&lines, &mut widths, min_width, &mut out);
    out
}

/// Rows of cells aligned as [`tabwrite`] does (for callers that hold cells, not lines).
pub fn table(rows: &[Vec<String>], min_width: usize) -> String {
    let text: Vec<String> = rows.iter().map(|r| r.join("\t")).collect();
    tabwrite(&(text.join("\n") + "\n"), min_width)
}

/// Go's `Writer.format`: the lines having a cell in column `widths.len()` form a block whose
/// width is decided before the columns right of it.
fn column_block(lines: &[Vec<&str>], widths: &mut Vec<usize>, min_width: usize, out: &mut String) {
    let column = widths.len();
    let mut start = 0;
    let mut this = 0;
    while this < lines.len() {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(&lines[start..this], widths, out);
        start = this;
        let mut width = min_width;
        while this < lines.len() && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].chars().count() + 3);
            this += 1;
        }
        widths.push(width);
        column_block(&lines[start..this], widths, min_width, out);
        widths.pop();
        start = this;
    }
    write_lines(&lines[start..], widths, out);
}

fn write_lines(lines: &[Vec<&str>], widths: &[usize], out: &mut String) {
    for line in lines {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() {
                let pad = widths[j].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

// ---------------------------------------------------------------------------------------------
// Printing lists

/// What a list command's `--format` names a row type as in Go's error messages
/// (`can't evaluate field Nope in type *formatter.ContainerContext`) and how it words errors.
#[derive(Clone, Copy)]
pub struct RowKind {
    /// Go's type of a row, as Docker's errors name it.
    pub go_type: &'static str,
    /// Docker's prefix for a template that does not parse, and for one that fails on a row.
    pub parse_error: &'static str,
    pub exec_error: &'static str,
    /// The header of the ID column (`CONTAINER ID`, `IMAGE ID`, `NETWORK ID`, `IMAGE`).
    pub id_header: &'static str,
    /// Whether error positions count from the format as typed (`ps`) or from the template
    /// after `table`, the spaces around it and the `\t`/`\n` escapes are gone (the others).
    pub positions_as_typed: bool,
}

pub const CONTAINERS: RowKind = RowKind {
    go_type: "*formatter.ContainerContext",
    parse_error: "failed to parse template",
    exec_error: "failed to execute template",
    id_header: "CONTAINER ID",
    positions_as_typed: true,
};
/// Docker's other list commands word both kinds of template errors alike.
const fn docker_list(go_type: &'static str, id_header: &'static str) -> RowKind {
    RowKind {
        go_type,
        parse_error: "template parsing error",
        exec_error: "template parsing error",
        id_header,
        positions_as_typed: false,
    }
}

pub const IMAGES: RowKind = docker_list("*formatter.imageContext", "IMAGE ID");
pub const HISTORY: RowKind = docker_list("*image.historyContext", "IMAGE");
pub const NETWORKS: RowKind = docker_list("*network.networkContext", "NETWORK ID");
pub const VOLUMES: RowKind = docker_list("*formatter.volumeContext", "VOLUME ID");
pub const STATS: RowKind = docker_list("*container.statsContext", "CONTAINER ID");

/// Docker's column header for a field of a list row.
fn header_for(kind: &RowKind, headers: &[(&str, &str)], field: &str) -> String {
    if let Some((_, h)) = headers.iter().find(|(f, _)| *f == field) {
        return h.to_string();
    }
    match field {
        "ID" => kind.id_header.into(),
        "CreatedSince" | "RunningFor" => "CREATED".into(),
        "CreatedAt" => "CREATED AT".into(),
        "CreatedBy" => "CREATED BY".into(),
        "SharedSize" => "SHARED SIZE".into(),
        "UniqueSize" => "UNIQUE SIZE".into(),
        // Docker names both size columns of `images` SIZE.
        "VirtualSize" => "SIZE".into(),
        "LocalVolumes" => "LOCAL VOLUMES".into(),
        other => other.to_ascii_uppercase(),
    }
}

/// One row of a list: Docker's field names to their text.
pub type Row<'a> = BTreeMap<&'a str, String>;

/// Formats a list as Docker's `--format` does: the default table when there is no format (or
/// it is `table`), `json` as one JSON object per line, `table TEMPLATE` as aligned columns under
/// headers, any other text as a Go template run once per row. `headers` renames columns where
/// the command's differ from Docker's usual names.
pub fn format_rows(
    format: Option<&str>,
    default_table: &str,
    kind: &RowKind,
    headers: &[(&str, &str)],
    rows: &[Row],
) -> Result<String, FormatError> {
    let raw = match format {
        None | Some("") => "table",
        Some("json") => "{{json .}}",
        Some(f) => f,
    };
    let (table, body) = match raw.strip_prefix("table") {
        Some(rest) if rest.trim_matches(' ').is_empty() => (true, None),
        Some(_) => (true, Some(raw)),
        None => (false, Some(raw)),
    };
    let tmpl = match body {
        None => Template::parse(default_table).map_err(|e| e.context(kind.parse_error))?,
        Some(src) => {
            let skip = if table { "table".len() } else { 0 };
            let start = skip + src[skip..].len() - src[skip..].trim_start_matches(' ').len();
            let end = src.trim_end_matches(' ').len().max(start);
            let parsed = if kind.positions_as_typed {
                Template::parse_in(src, start, end)
            } else {
                Template::parse(&unescape(&src[start..end]))
            };
            parsed.map_err(|e| e.context(kind.parse_error))?
        }
    };
    let mut out = String::new();
    for r in rows {
        let v = Value::Object(r.iter().map(|(k, v)| (k.to_string(), Value::String(v.clone()))).collect());
        out.push_str(&tmpl.execute(&v, Some(kind.go_type)).map_err(|e| e.context(kind.exec_error))?);
        out.push('\n');
    }
    if !table {
        return Ok(out);
    }
    // Docker renders the header after the rows, with its header functions, ignoring errors.
    let header = tmpl.execute_header(&|f| header_for(kind, headers, f)).unwrap_or_default();
    Ok(tabwrite(&format!("{header}\n{out}"), TABLE_MIN_WIDTH))
}

/// [`format_rows`] printed to stdout; a template error is reported as Docker does (its message
/// on stderr, exit status 1).
pub fn print_rows(
    format: Option<&str>,
    default_table: &str,
    kind: &RowKind,
    headers: &[(&str, &str)],
    rows: &[Row],
) -> anyhow::Result<()> {
    let text = format_rows(format, default_table, kind, headers, rows).map_err(FormatError::exit)?;
    print!("{text}");
    Ok(())
}

/// Formats inspect documents with `-f`: the template runs on each document as JSON and
/// `\t`/`\n` in the template's text are tabs and newlines as in the list formats. A path that
/// is not in the document prints `<no value>`: Docker runs inspect templates on its typed
/// structs first, where a field berth leaves out of its JSON (an image's `Config.Cmd`) still
/// exists, so only a list row, whose fields are all known, can say a field does not exist.
pub fn format_docs(format: &str, docs: &[Value]) -> Result<String, FormatError> {
    // `docker inspect` exits 64 (a usage error) when its template does not parse.
    let tmpl = Template::parse(format).map_err(|e| FormatError { code: 64, ..e.context("template parsing error") })?;
    let mut out = String::new();
    for d in docs {
        out.push_str(&tmpl.execute(d, None).map_err(|e| e.context("template parsing error"))?);
        out.push('\n');
    }
    Ok(out)
}

/// [`format_docs`] printed to stdout, errors reported as Docker does.
pub fn print_docs(format: &str, docs: &[Value]) -> anyhow::Result<()> {
    let text = format_docs(format, docs).map_err(FormatError::exit)?;
    print!("{text}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Templates

/// A template that did not parse or failed on a value, worded as Go's `text/template` does.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatError {
    pub message: String,
    /// Docker's exit status for it.
    pub code: u8,
}

impl FormatError {
    fn new(message: String) -> Self {
        FormatError { message, code: 1 }
    }

    fn context(self, prefix: &str) -> Self {
        FormatError { message: format!("{prefix}: {}", self.message), code: self.code }
    }

    /// Prints the message and turns it into the command's exit status.
    pub fn exit(self) -> anyhow::Error {
        eprintln!("{}", self.message);
        crate::exit::Exit(self.code).into()
    }
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FormatError {}

/// A parsed Go template (the subset Docker's formats use).
#[derive(Debug)]
pub struct Template {
    /// The text as the user wrote it: positions in errors are offsets into it.
    source: String,
    nodes: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Text(String),
    Action(Pipe),
    If { pipe: Pipe, then: Vec<Node>, otherwise: Vec<Node> },
    Range { pipe: Pipe, body: Vec<Node>, otherwise: Vec<Node> },
    With { pipe: Pipe, body: Vec<Node>, otherwise: Vec<Node> },
}

#[derive(Debug)]
struct Pipe {
    /// Variables the pipeline declares (`$v :=`, `$i, $e :=` in a `range`).
    decl: Vec<String>,
    cmds: Vec<Cmd>,
}

#[derive(Debug)]
struct Cmd {
    pos: usize,
    text: String,
    args: Vec<Arg>,
}

#[derive(Debug)]
enum Arg {
    /// `.`, `.A.B`, `(pipe).A.B` or `$v.A.B`; `pos`/`text` locate it for errors.
    Field {
        base: Option<Base>,
        path: Vec<String>,
        pos: usize,
        text: String,
    },
    Func(String),
    Lit(Value),
}

#[derive(Debug)]
enum Base {
    Pipe(Box<Pipe>),
    /// A variable; `$` is the value the template runs on.
    Var(String),
}

const FUNCS: &[&str] = &[
    "json", "split", "join", "title", "lower", "upper", "pad", "truncate", "print", "printf", "println", "index",
    "len", "eq", "ne", "lt", "le", "gt", "ge", "not", "and", "or",
];

/// The functions Docker replaces while rendering a table's header: they return their
/// first argument (a header) as it is.
const HEADER_FUNCS: &[&str] = &["json", "split", "join", "title", "lower", "upper", "pad", "truncate"];

enum Item {
    Text(String),
    /// An action's words and where its body starts.
    Action(String, usize),
}

impl Template {
    /// Parses a template.
    pub fn parse(src: &str) -> Result<Template, FormatError> {
        Self::parse_in(src, 0, src.len())
    }

    /// Parses `src[start..end]`, reporting positions as offsets into all of `src` (Docker
    /// strips `table` and spaces but its errors count from the text as typed).
    fn parse_in(src: &str, start: usize, end: usize) -> Result<Template, FormatError> {
        let items = lex(src, start, end)?;
        let mut p = Parser { src, items, at: 0 };
        let (nodes, stop) = p.list()?;
        if let Some(word) = stop {
            return Err(p.error(src.len(), &format!("unexpected {{{{{word}}}}}")));
        }
        Ok(Template { source: src.to_string(), nodes })
    }

    /// Runs the template on a value. With `go_type`, the value is a typed row whose unknown
    /// fields are errors naming that type; without, it is a JSON document (a map).
    pub fn execute(&self, v: &Value, go_type: Option<&str>) -> Result<String, FormatError> {
        let ex = Exec { t: self, vars: Default::default(), root: v, go_type, header: None };
        let mut out = String::new();
        ex.walk(&self.nodes, v, &mut out)?;
        Ok(out)
    }

    /// Renders a table header: every field of the row names its column.
    fn execute_header(&self, header: &dyn Fn(&str) -> String) -> Result<String, FormatError> {
        let root = Value::Null;
        let ex = Exec { t: self, vars: Default::default(), root: &root, go_type: None, header: Some(header) };
        let mut out = String::new();
        ex.walk(&self.nodes, &root, &mut out)?;
        Ok(out)
    }
}

/// Go's line of an offset (for parse errors).
fn line_of(src: &str, pos: usize) -> usize {
    1 + src[..pos.min(src.len())].matches('\n').count()
}

/// Docker's formats read `\t` and `\n` in their text as a tab and a newline.
fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

fn lex(src: &str, start: usize, end: usize) -> Result<Vec<Item>, FormatError> {
    let mut items = Vec::new();
    let mut i = start;
    let mut trim_next = false;
    while i < end {
        let open = src[i..end].find("{{").map(|o| i + o);
        let text_end = open.unwrap_or(end);
        let mut text = &src[i..text_end];
        if trim_next {
            text = text.trim_start();
        }
        let Some(open) = open else {
            items.push(Item::Text(unescape(text)));
            break;
        };
        let mut body = open + 2;
        if src[body..end].starts_with("- ") {
            text = text.trim_end();
            body += 2;
        }
        items.push(Item::Text(unescape(text)));
        // The action ends at the first `}}` outside a string literal.
        let mut quote: Option<char> = None;
        let mut escaped = false;
        let mut close = None;
        for (o, c) in src[body..end].char_indices() {
            match quote {
                Some(_) if escaped => escaped = false,
                Some('"') if c == '\\' => escaped = true,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '`' => quote = Some(c),
                None if src[body + o..end].starts_with("}}") => {
                    close = Some(body + o);
                    break;
                }
                None => {}
            }
        }
        let Some(close) = close else {
            let what = if quote.is_some() { "unterminated quoted string" } else { "unclosed action" };
            return Err(FormatError::new(format!("template: :{}: {what}", line_of(src, open))));
        };
        let (words_end, trim) = if src[body..close].ends_with(" -") { (close - 2, true) } else { (close, false) };
        let words = &src[body..words_end.max(body)];
        if !(words.trim_start().starts_with("/*") && words.trim_end().ends_with("*/")) {
            items.push(Item::Action(words.to_string(), body));
        }
        trim_next = trim;
        i = close + 2;
    }
    Ok(items)
}

struct Parser<'s> {
    src: &'s str,
    items: Vec<Item>,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, pos: usize, msg: &str) -> FormatError {
        FormatError::new(format!("template: :{}: {msg}", line_of(self.src, pos)))
    }

    /// Nodes up to an `end` or `else` (returned as the stop word with its rest).
    fn list(&mut self) -> Result<(Vec<Node>, Option<String>), FormatError> {
        let src = self.src;
        let mut nodes = Vec::new();
        while self.at < self.items.len() {
            let at = self.at;
            self.at += 1;
            match &self.items[at] {
                Item::Text(t) => {
                    if !t.is_empty() {
                        nodes.push(Node::Text(t.clone()));
                    }
                }
                Item::Action(words, pos) => {
                    let (words, pos) = (words.clone(), *pos);
                    let trimmed = words.trim();
                    let keyword = trimmed.split_whitespace().next().unwrap_or("");
                    match keyword {
                        "end" if trimmed == "end" => return Ok((nodes, Some("end".into()))),
                        "else" => return Ok((nodes, Some(trimmed.to_string()))),
                        "if" | "range" | "with" => {
                            let rest_at = pos + words.find(keyword).unwrap_or(0) + keyword.len();
                            nodes.push(self.control(keyword, &src[rest_at..pos + words.len()], rest_at)?);
                        }
                        "end" | "define" | "template" | "block" | "break" | "continue" => {
                            return Err(self.error(pos, &format!("unexpected {{{{{trimmed}}}}}")))
                        }
                        _ => nodes.push(Node::Action(parse_pipe(src, &words, pos)?)),
                    }
                }
            }
        }
        Ok((nodes, None))
    }

    fn control(&mut self, keyword: &str, rest: &str, pos: usize) -> Result<Node, FormatError> {
        if rest.trim().is_empty() {
            return Err(self.error(pos, &format!("missing value for {keyword}")));
        }
        let pipe = parse_pipe(self.src, rest, pos)?;
        let (body, stop) = self.list()?;
        let otherwise = match stop.as_deref() {
            None => return Err(self.error(self.src.len(), "unexpected EOF")),
            Some("end") => Vec::new(),
            Some("else") => {
                let (nodes, stop) = self.list()?;
                if stop.as_deref() != Some("end") {
                    return Err(self.error(self.src.len(), "unexpected EOF"));
                }
                nodes
            }
            Some(other) => {
                // `else if …` / `else with …`: a nested block sharing the outer `end`.
                let inner = other.trim_start_matches("else").trim_start();
                let word = inner.split_whitespace().next().unwrap_or("");
                if word != keyword || keyword == "range" {
                    return Err(self.error(pos, &format!("unexpected {{{{{other}}}}}")));
                }
                let at = pos + self.src[pos..].find(inner).unwrap_or(0) + word.len();
                vec![self.control(keyword, &inner[word.len()..], at)?]
            }
        };
        Ok(match keyword {
            "if" => Node::If { pipe, then: body, otherwise },
            "range" => Node::Range { pipe, body, otherwise },
            _ => Node::With { pipe, body, otherwise },
        })
    }
}

/// Parses an action's words (`.A | upper`, `json .`, `$v := index .Labels "k"`) at `pos`.
fn parse_pipe(src: &str, words: &str, pos: usize) -> Result<Pipe, FormatError> {
    if let Some((names, _)) = words.split_once(":=") {
        let decl: Vec<String> = names.split(',').map(|n| n.trim().to_string()).collect();
        let is_var =
            |n: &String| n.len() > 1 && n.starts_with('$') && n[1..].chars().all(|c| c.is_alphanumeric() || c == '_');
        if decl.iter().all(is_var) {
            let at = names.len() + 2;
            let mut pipe = parse_cmds(src, &words[at..], pos + at)?;
            pipe.decl = decl;
            return Ok(pipe);
        }
    }
    parse_cmds(src, words, pos)
}

fn parse_cmds(src: &str, words: &str, pos: usize) -> Result<Pipe, FormatError> {
    let err = |msg: String| FormatError::new(format!("template: :{}: {msg}", line_of(src, pos)));
    let chars: Vec<(usize, char)> = words.char_indices().collect();
    let mut cmds = Vec::new();
    let mut args: Vec<Arg> = Vec::new();
    let mut cmd_start: Option<usize> = None;
    let mut k = 0;
    let finish = |args: &mut Vec<Arg>, cmds: &mut Vec<Cmd>, start: Option<usize>, end: usize| {
        if let Some(s) = start {
            cmds.push(Cmd { pos: pos + s, text: words[s..end].trim().to_string(), args: std::mem::take(args) });
        }
    };
    let mut last_end = 0;
    while k < chars.len() {
        let (off, c) = chars[k];
        if c.is_whitespace() {
            k += 1;
            continue;
        }
        if c == '|' {
            if args.is_empty() {
                return Err(err("missing value for command".into()));
            }
            finish(&mut args, &mut cmds, cmd_start.take(), last_end);
            k += 1;
            continue;
        }
        cmd_start.get_or_insert(off);
        // One operand: up to whitespace, `|` or `)` outside strings and parentheses.
        let mut depth = 0;
        let mut quote: Option<char> = None;
        let mut e = k;
        while e < chars.len() {
            let ch = chars[e].1;
            match quote {
                Some('"') if ch == '\\' => e += 1,
                Some(q) if ch == q => quote = None,
                Some(_) => {}
                None if ch == '"' || ch == '`' => quote = Some(ch),
                None if ch == '(' => depth += 1,
                None if ch == ')' => {
                    depth -= 1;
                    if depth < 0 {
                        return Err(err("unexpected right paren".into()));
                    }
                }
                None if depth == 0 && (ch.is_whitespace() || ch == '|') => break,
                None => {}
            }
            e += 1;
        }
        if quote.is_some() {
            return Err(err("unterminated quoted string".into()));
        }
        if depth > 0 {
            return Err(err("unclosed left paren".into()));
        }
        let end_off = chars.get(e).map(|x| x.0).unwrap_or(words.len());
        let word = &words[off..end_off];
        args.push(parse_operand(src, word, pos + off)?);
        last_end = end_off;
        k = e;
    }
    if args.is_empty() {
        return Err(err("missing value for command".into()));
    }
    finish(&mut args, &mut cmds, cmd_start, last_end);
    Ok(Pipe { decl: Vec::new(), cmds })
}

fn parse_operand(src: &str, word: &str, pos: usize) -> Result<Arg, FormatError> {
    let err = |msg: String| FormatError::new(format!("template: :{}: {msg}", line_of(src, pos)));
    let field = |base, rest: &str, pos: usize| -> Result<Arg, FormatError> {
        let path: Vec<String> = rest.split('.').filter(|p| !p.is_empty()).map(String::from).collect();
        // Go places a field chain (`.State.Nope`) at its last field.
        let pos = pos + word.rfind('.').unwrap_or(0);
        Ok(Arg::Field { base, path, pos, text: word.to_string() })
    };
    if word == "." {
        return field(None, "", pos);
    }
    if let Some(rest) = word.strip_prefix('.') {
        return field(None, rest, pos);
    }
    if word.starts_with('(') {
        let close = word.rfind(')').unwrap_or(word.len());
        let inner = parse_pipe(src, &word[1..close], pos + 1)?;
        return field(Some(Base::Pipe(Box::new(inner))), &word[close + 1..], pos);
    }
    if word.starts_with('"') {
        return serde_json::from_str::<String>(word)
            .map(|s| Arg::Lit(Value::String(s)))
            .map_err(|_| err(format!("bad quoted string {word}")));
    }
    if let Some(raw) = word.strip_prefix('`').and_then(|w| w.strip_suffix('`')) {
        return Ok(Arg::Lit(Value::String(raw.to_string())));
    }
    match word {
        "true" => return Ok(Arg::Lit(Value::Bool(true))),
        "false" => return Ok(Arg::Lit(Value::Bool(false))),
        "nil" => return Ok(Arg::Lit(Value::Null)),
        _ => {}
    }
    if let Ok(n) = word.parse::<i64>() {
        return Ok(Arg::Lit(Value::from(n)));
    }
    if let Ok(n) = word.parse::<f64>() {
        return Ok(Arg::Lit(serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null)));
    }
    if word.starts_with('$') {
        let name_end = word.find('.').unwrap_or(word.len());
        return field(Some(Base::Var(word[..name_end].to_string())), &word[name_end..], pos);
    }
    if word.chars().all(|c| c.is_alphanumeric() || c == '_') {
        if FUNCS.contains(&word) {
            return Ok(Arg::Func(word.to_string()));
        }
        return Err(err(format!("function \"{word}\" not defined")));
    }
    Err(err(format!("unexpected \"{word}\" in command")))
}

struct Exec<'a> {
    t: &'a Template,
    /// Declared variables, innermost last.
    vars: std::cell::RefCell<Vec<(String, Value)>>,
    root: &'a Value,
    go_type: Option<&'a str>,
    header: Option<&'a dyn Fn(&str) -> String>,
}

impl Exec<'_> {
    /// `template: :LINE:COL: executing "" at <NODE>: MSG`, located as Go's `ErrorContext`.
    fn error(&self, pos: usize, node: &str, msg: &str) -> FormatError {
        let before = &self.t.source[..pos.min(self.t.source.len())];
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(nl) => pos - nl - 1,
            None => pos,
        };
        FormatError::new(format!("template: :{line}:{col}: executing \"\" at <{node}>: {msg}"))
    }

    fn walk(&self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), FormatError> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    // An action that declares a variable prints nothing.
                    match p.decl.first() {
                        Some(name) => self.vars.borrow_mut().push((name.clone(), v)),
                        None => out.push_str(&go_print(&v)),
                    }
                }
                Node::If { pipe, then, otherwise } => {
                    let mark = self.vars.borrow().len();
                    let v = self.declare(pipe, dot)?;
                    self.walk(if truth(&v) { then } else { otherwise }, dot, out)?;
                    self.vars.borrow_mut().truncate(mark);
                }
                Node::With { pipe, body, otherwise } => {
                    let mark = self.vars.borrow().len();
                    let v = self.declare(pipe, dot)?;
                    if truth(&v) {
                        self.walk(body, &v, out)?;
                    } else {
                        self.walk(otherwise, dot, out)?;
                    }
                    self.vars.borrow_mut().truncate(mark);
                }
                Node::Range { pipe, body, otherwise } => {
                    let v = self.pipe(pipe, dot)?;
                    let items: Vec<(Value, Value)> = match &v {
                        Value::Array(a) => a.iter().enumerate().map(|(i, x)| (Value::from(i), x.clone())).collect(),
                        Value::Object(o) => o.iter().map(|(k, x)| (Value::String(k.clone()), x.clone())).collect(),
                        Value::Null => Vec::new(),
                        other => {
                            let (pos, text) = pipe_location(pipe);
                            return Err(self.error(
                                pos,
                                &text,
                                &format!("range can't iterate over {}", go_print(other)),
                            ));
                        }
                    };
                    if items.is_empty() {
                        self.walk(otherwise, dot, out)?;
                    }
                    for (key, item) in &items {
                        let mark = self.vars.borrow().len();
                        // `$e :=` binds the element, `$i, $e :=` the index (or key) and element.
                        match pipe.decl.as_slice() {
                            [e] => self.vars.borrow_mut().push((e.clone(), item.clone())),
                            [i, e, ..] => {
                                self.vars.borrow_mut().push((i.clone(), key.clone()));
                                self.vars.borrow_mut().push((e.clone(), item.clone()));
                            }
                            [] => {}
                        }
                        self.walk(body, item, out)?;
                        self.vars.borrow_mut().truncate(mark);
                    }
                }
            }
        }
        Ok(())
    }

    /// A pipeline's value, bound to the variable it declares (in `if` and `with`).
    fn declare(&self, p: &Pipe, dot: &Value) -> Result<Value, FormatError> {
        let v = self.pipe(p, dot)?;
        if let Some(name) = p.decl.first() {
            self.vars.borrow_mut().push((name.clone(), v.clone()));
        }
        Ok(v)
    }

    fn pipe(&self, p: &Pipe, dot: &Value) -> Result<Value, FormatError> {
        let mut prev: Option<Value> = None;
        for c in &p.cmds {
            prev = Some(self.cmd(c, dot, prev)?);
        }
        Ok(prev.unwrap_or(Value::Null))
    }

    fn cmd(&self, c: &Cmd, dot: &Value, piped: Option<Value>) -> Result<Value, FormatError> {
        let Some(Arg::Func(name)) = c.args.first() else {
            let given = c.args.len() - 1 + usize::from(piped.is_some());
            match &c.args[0] {
                Arg::Lit(Value::Null) => return Err(self.error(c.pos, "nil", "nil is not a command")),
                // A row's fields are Go methods without parameters.
                Arg::Field { base: None, path, pos, text }
                    if given > 0 && path.len() == 1 && self.go_type.is_some() =>
                {
                    self.arg(&c.args[0], dot)?;
                    let msg = format!("wrong number of args for {}: want 0 got {given}", path[0]);
                    return Err(self.error(*pos, text, &msg));
                }
                _ if given > 0 => {
                    return Err(self.error(c.pos, &c.text, &format!("can't give argument to non-function {}", c.text)))
                }
                first => return self.arg(first, dot),
            }
        };
        let mut args = Vec::new();
        for a in &c.args[1..] {
            args.push(self.arg(a, dot)?);
        }
        args.extend(piped);
        if self.header.is_some() && HEADER_FUNCS.contains(&name.as_str()) {
            return Ok(args.into_iter().next().unwrap_or(Value::Null));
        }
        call(name, &args).map_err(|msg| {
            let msg =
                if msg.starts_with("wrong number of args") { msg } else { format!("error calling {name}: {msg}") };
            self.error(c.pos, &c.text, &msg)
        })
    }

    fn arg(&self, a: &Arg, dot: &Value) -> Result<Value, FormatError> {
        match a {
            Arg::Lit(v) => Ok(v.clone()),
            Arg::Func(name) => {
                call(name, &[]).map_err(|msg| self.error(0, name, &format!("error calling {name}: {msg}")))
            }
            Arg::Field { base, path, pos, text } => {
                let start = match base {
                    Some(Base::Pipe(p)) => self.pipe(p, dot)?,
                    Some(Base::Var(name)) if name == "$" => self.root.clone(),
                    Some(Base::Var(name)) => {
                        let vars = self.vars.borrow();
                        match vars.iter().rev().find(|(n, _)| n == name) {
                            Some((_, v)) => v.clone(),
                            None => return Err(self.error(*pos, text, &format!("undefined variable: {name}"))),
                        }
                    }
                    None => dot.clone(),
                };
                if let (Some(header), None) = (self.header, base) {
                    if std::ptr::eq(dot, self.root) {
                        return Ok(Value::String(path.first().map(|f| header(f)).unwrap_or_default()));
                    }
                }
                let Some(go_type) = self.go_type else {
                    // A document: whatever is not there is nil (see `format_docs`).
                    let mut cur = &start;
                    for key in path {
                        cur = cur.get(key.as_str()).unwrap_or(&Value::Null);
                    }
                    return Ok(cur.clone());
                };
                let mut cur = start;
                for (i, key) in path.iter().enumerate() {
                    cur = match cur {
                        Value::Object(mut o) => match o.remove(key.as_str()) {
                            Some(v) => v,
                            None => {
                                let at_root = match base {
                                    None => std::ptr::eq(dot, self.root),
                                    Some(Base::Var(name)) => name == "$",
                                    Some(Base::Pipe(_)) => false,
                                };
                                let on = if i == 0 && at_root { go_type } else { "map[string]interface {}" };
                                let msg = format!("can't evaluate field {key} in type {on}");
                                return Err(self.error(*pos, text, &msg));
                            }
                        },
                        other => {
                            let msg = format!("can't evaluate field {key} in type {}", go_type_name(&other));
                            return Err(self.error(*pos, text, &msg));
                        }
                    };
                }
                Ok(cur)
            }
        }
    }
}

/// Where a pipeline's first operand sits, for `range` errors (Go points at the value).
fn pipe_location(p: &Pipe) -> (usize, String) {
    match p.cmds.first().and_then(|c| c.args.first()) {
        Some(Arg::Field { pos, text, .. }) if p.cmds.len() == 1 && p.cmds[0].args.len() == 1 => (*pos, text.clone()),
        _ => p.cmds.first().map(|c| (c.pos, c.text.clone())).unwrap_or_default(),
    }
}

fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Number(_) => "json.Number",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        Value::Null => "interface {}",
    }
}

/// Go's truth in `if`, `with`, `not`, `and`, `or`: zero values and empty things are false.
fn truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Go's `%v` of a decoded JSON value: strings bare, `[a b]`, `map[k:v]`, `<no value>` for nil.
pub fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_inner).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => {
            format!("map[{}]", o.iter().map(|(k, v)| format!("{k}:{}", go_inner(v))).collect::<Vec<_>>().join(" "))
        }
        other => other.to_string(),
    }
}

/// A nil inside a slice or map prints as `<nil>` in Go.
fn go_inner(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        other => go_print(other),
    }
}

/// Go's `fmt.Sprint` spacing: a space between operands when neither is a string.
fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&go_inner(a));
    }
    out
}

fn as_str(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(format!("wrong type for value; expected string; got {}", go_type_name(other))),
    }
}

fn as_int(v: &Value) -> Result<i64, String> {
    v.as_i64().ok_or_else(|| format!("wrong type for value; expected int; got {}", go_type_name(v)))
}

/// Go checks a function's argument count before calling it; its message has no
/// `error calling` prefix (see [`Exec::cmd`]).
fn arity(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!("wrong number of args for {name}: want {n} got {}", args.len()))
    }
}

fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            Ok(x.as_f64().unwrap_or(0.0).partial_cmp(&y.as_f64().unwrap_or(0.0)).unwrap_or(std::cmp::Ordering::Equal))
        }
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => Err("incompatible types for comparison".into()),
    }
}

/// Docker's template functions (`templates.basicFunctions`) and Go's builtins.
fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    let s = |v: String| Ok(Value::String(v));
    match name {
        "json" => {
            arity(name, args, 1)?;
            s(serde_json::to_string(&args[0]).map_err(|e| e.to_string())?)
        }
        "split" => {
            arity(name, args, 2)?;
            let (text, sep) = (as_str(&args[0])?, as_str(&args[1])?);
            // Go splits around each character when the separator is empty.
            let parts: Vec<Value> = if sep.is_empty() {
                text.chars().map(|c| Value::String(c.into())).collect()
            } else {
                text.split(sep.as_str()).map(|p| Value::String(p.into())).collect()
            };
            Ok(Value::Array(parts))
        }
        "join" => {
            arity(name, args, 2)?;
            let sep = as_str(&args[1])?;
            match &args[0] {
                Value::Array(a) => s(a.iter().map(as_str).collect::<Result<Vec<_>, _>>()?.join(&sep)),
                other => Err(format!("wrong type for value; expected []string; got {}", go_type_name(other))),
            }
        }
        "title" => {
            arity(name, args, 1)?;
            let mut up = true;
            s(as_str(&args[0])?
                .chars()
                .map(|c| {
                    let out = if up { c.to_uppercase().collect::<String>() } else { c.to_string() };
                    up = !c.is_alphanumeric() && c != '_' && c != '\'';
                    out
                })
                .collect())
        }
        "lower" => {
            arity(name, args, 1)?;
            s(as_str(&args[0])?.to_lowercase())
        }
        "upper" => {
            arity(name, args, 1)?;
            s(as_str(&args[0])?.to_uppercase())
        }
        "pad" => {
            arity(name, args, 3)?;
            let (l, r) = (as_int(&args[1])?.max(0) as usize, as_int(&args[2])?.max(0) as usize);
            s(format!("{}{}{}", " ".repeat(l), as_str(&args[0])?, " ".repeat(r)))
        }
        "truncate" => {
            arity(name, args, 2)?;
            let n = as_int(&args[1])?.max(0) as usize;
            s(as_str(&args[0])?.chars().take(n).collect())
        }
        "print" => s(sprint(args)),
        "println" => s(args.iter().map(go_inner).collect::<Vec<_>>().join(" ") + "\n"),
        "printf" => {
            let fmt = as_str(args.first().ok_or("wrong number of args for printf: want at least 1 got 0")?)?;
            s(printf(&fmt, &args[1..]))
        }
        "index" => {
            let mut cur = args.first().cloned().ok_or("wrong number of args for index: want at least 1 got 0")?;
            for key in &args[1..] {
                cur = match (&cur, key) {
                    (Value::Object(o), Value::String(k)) => o.get(k).cloned().unwrap_or(Value::Null),
                    (Value::Array(a), k) if k.is_i64() => {
                        let i = k.as_i64().unwrap_or(-1);
                        a.get(usize::try_from(i).map_err(|_| format!("index out of range: {i}"))?)
                            .cloned()
                            .ok_or_else(|| format!("index out of range: {i}"))?
                    }
                    (Value::String(text), k) if k.is_i64() => {
                        let i = k.as_i64().unwrap_or(-1);
                        let byte = usize::try_from(i).ok().and_then(|i| text.as_bytes().get(i).copied());
                        Value::from(byte.ok_or_else(|| format!("index out of range: {i}"))?)
                    }
                    (Value::Array(_) | Value::String(_), k) => {
                        return Err(format!("cannot index slice/array with type {}", go_type_name(k)))
                    }
                    (Value::Null, _) => return Err("index of untyped nil".into()),
                    (other, _) => return Err(format!("can't index item of type {}", go_type_name(other))),
                };
            }
            Ok(cur)
        }
        "len" => {
            arity(name, args, 1)?;
            match &args[0] {
                Value::String(x) => Ok(Value::from(x.len())),
                Value::Array(a) => Ok(Value::from(a.len())),
                Value::Object(o) => Ok(Value::from(o.len())),
                other => Err(format!("len of type {}", go_type_name(other))),
            }
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            Ok(Value::Bool(args[1..].iter().any(|b| *b == args[0])))
        }
        "ne" => {
            arity(name, args, 2)?;
            Ok(Value::Bool(args[0] != args[1]))
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(name, args, 2)?;
            let o = compare(&args[0], &args[1])?;
            Ok(Value::Bool(match name {
                "lt" => o.is_lt(),
                "le" => o.is_le(),
                "gt" => o.is_gt(),
                _ => o.is_ge(),
            }))
        }
        "not" => {
            arity(name, args, 1)?;
            Ok(Value::Bool(!truth(&args[0])))
        }
        "and" => Ok(args.iter().find(|a| !truth(a)).or(args.last()).cloned().unwrap_or(Value::Null)),
        "or" => Ok(args.iter().find(|a| truth(a)).or(args.last()).cloned().unwrap_or(Value::Null)),
        other => Err(format!("function \"{other}\" not defined")),
    }
}

/// Go's `fmt.Sprintf` for what formats use: `%s`, `%v`, `%d`, `%q`, `%f`, `%x`, `%%`, with the
/// `-` and `0` flags, a width and a precision.
fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero) = (false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let number = |chars: &mut std::iter::Peekable<std::str::Chars>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        let width = number(&mut chars);
        let precision = if chars.peek() == Some(&'.') {
            chars.next();
            Some(number(&mut chars).unwrap_or(0))
        } else {
            None
        };
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(v) = it.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        let text = match (verb, v) {
            ('q', v) => serde_json::to_string(&go_inner(v)).unwrap_or_default(),
            ('d', Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
            ('f' | 'g' | 'e', Value::Number(n)) => {
                let x = n.as_f64().unwrap_or(0.0);
                match verb {
                    'f' => format!("{x:.*}", precision.unwrap_or(6)),
                    'e' => format!("{x:.*e}", precision.unwrap_or(6)),
                    _ => go_g(x, precision.unwrap_or(17)),
                }
            }
            ('x', Value::Number(n)) if n.is_i64() => format!("{:x}", n.as_i64().unwrap_or(0)),
            ('x', Value::String(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('s' | 'v', v) => {
                let t = go_inner(v);
                match precision {
                    Some(p) if verb == 's' => t.chars().take(p).collect(),
                    _ => t,
                }
            }
            (verb, v) => format!("%!{verb}({}={})", go_type_name(v), go_inner(v)),
        };
        let pad = width.unwrap_or(0).saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            let fill = if zero && matches!(verb, 'd' | 'f' | 'x') { '0' } else { ' ' };
            out.extend(std::iter::repeat_n(fill, pad));
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    //! The expected strings were printed by Docker's CLI (28.2) for the same inputs, served
    //! by a stand-in Engine API so that ages and sizes could be chosen exactly.
    use super::*;

    #[test]
    fn sizes_like_docker() {
        // bytes, HumanSizeWithPrecision(3) (SIZE), HumanSize (VirtualSize, reclaimed space)
        let cases: &[(u64, &str, &str)] = &[
            (0, "0B", "0B"),
            (1, "1B", "1B"),
            (999, "999B", "999B"),
            (1000, "1kB", "1kB"),
            (1001, "1kB", "1.001kB"),
            (1499, "1.5kB", "1.499kB"),
            (1500, "1.5kB", "1.5kB"),
            (9994, "9.99kB", "9.994kB"),
            (9995, "9.99kB", "9.995kB"),
            (9999, "10kB", "9.999kB"),
            (10000, "10kB", "10kB"),
            (99949, "99.9kB", "99.95kB"),
            (99950, "100kB", "99.95kB"),
            (999499, "999kB", "999.5kB"),
            (999500, "1e+03kB", "999.5kB"),
            (999999, "1e+03kB", "1000kB"),
            (1000000, "1MB", "1MB"),
            (4261000, "4.26MB", "4.261MB"),
            (12000000, "12MB", "12MB"),
            (123456789, "123MB", "123.5MB"),
            (1234567890, "1.23GB", "1.235GB"),
            (999500000, "1e+03MB", "999.5MB"),
            (1_000_000_000_000_000, "1PB", "1PB"),
            (1_000_000_000_000_000_000, "1EB", "1EB"),
            (i64::MAX as u64, "9.22EB", "9.223EB"),
        ];
        for (n, three, four) in cases {
            assert_eq!(human_size(*n), *three, "HumanSizeWithPrecision({n}, 3)");
            assert_eq!(human_size4(*n), *four, "HumanSize({n})");
        }
    }

    #[test]
    fn binary_sizes_like_docker() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(1023), "1023B");
        assert_eq!(bytes_size(1024), "1KiB");
        assert_eq!(bytes_size(1536), "1.5KiB");
        assert_eq!(bytes_size(10 * 1024 * 1024), "10MiB");
        assert_eq!(bytes_size(7_812_345), "7.45MiB");
        assert_eq!(bytes_size(16 * 1024 * 1024 * 1024 - 1), "16GiB");
    }

    #[test]
    fn durations_like_docker_at_every_threshold() {
        // seconds of age, Docker's CreatedSince without " ago"
        let cases: &[(i64, &str)] = &[
            (0, "Less than a second"),
            (1, "1 second"),
            (2, "2 seconds"),
            (59, "59 seconds"),
            (60, "About a minute"),
            (61, "About a minute"),
            (119, "About a minute"),
            (120, "2 minutes"),
            (121, "2 minutes"),
            (2700, "45 minutes"),
            (3599, "59 minutes"),
            (3600, "About an hour"),
            (5340, "About an hour"),
            (5460, "2 hours"),
            (7200, "2 hours"),
            (12540, "3 hours"),
            (12660, "4 hours"),
            (169200, "47 hours"),
            (170940, "47 hours"),
            (171060, "2 days"),
            (172800, "2 days"),
            (1141200, "13 days"),
            (1207799, "13 days"),
            (1207801, "2 weeks"),
            (1209600, "2 weeks"),
            (2592000, "4 weeks"),
            (5180400, "8 weeks"),
            (5184000, "2 months"),
            (31449600, "12 months"),
            (63070199, "24 months"),
            (63072000, "2 years"),
            (69120000, "2 years"),
            (99792000, "3 years"),
            (315360000, "10 years"),
        ];
        for (secs, want) in cases {
            // Docker saw each age plus the part of a second its clock had moved on.
            for extra_ms in [0, 400] {
                let d = chrono::Duration::seconds(*secs) + chrono::Duration::milliseconds(extra_ms);
                assert_eq!(human_duration(d), *want, "{secs}s + {extra_ms}ms");
            }
        }
        assert_eq!(human_duration(chrono::Duration::milliseconds(450)), "Less than a second");
        // A clock that went backwards.
        assert_eq!(human_duration(chrono::Duration::seconds(-5)), "Less than a second");
        assert_eq!(since(None), "N/A");
        assert_eq!(since(Some(Utc::now() - chrono::Duration::seconds(5461))), "2 hours ago");
    }

    #[test]
    fn container_status_words() {
        let ago = |s: i64| (Utc::now() - chrono::Duration::seconds(s)).to_rfc3339();
        let mut c = Container::default();
        c.state.status = "created".into();
        assert_eq!(container_status(&c), "Created");
        c.state.status = "running".into();
        c.state.running = true;
        c.state.started_at = ago(5460);
        // The engine's old formatter said "About an hour" here; Docker rounds to the hour.
        assert_eq!(container_status(&c), "Up 2 hours");
        let health = |s: &str| Some(berth_engine::container::health::Health { status: s.into(), ..Default::default() });
        c.state.health = health("starting");
        assert_eq!(container_status(&c), "Up 2 hours (health: starting)");
        c.state.health = health("unhealthy");
        assert_eq!(container_status(&c), "Up 2 hours (unhealthy)");
        c.state.health = None;
        c.state.running = false;
        c.state.status = "exited".into();
        c.state.exit_code = 3;
        c.state.finished_at = ago(125);
        assert_eq!(container_status(&c), "Exited (3) 2 minutes ago");
        c.state.finished_at = ZERO_TIME.into();
        assert_eq!(container_status(&c), "Created");
        c.state.restarting = true;
        c.state.finished_at = ago(30);
        assert_eq!(container_status(&c), "Restarting (3) 30 seconds ago");
        c.created = ago(3600);
        assert_eq!(running_for(&c), "About an hour ago");
    }

    #[test]
    fn ellipsis_cuts_to_the_width() {
        assert_eq!(ellipsis("sleep 60", 20), "sleep 60");
        assert_eq!(ellipsis("sh -c 'echo started; exec sleep 60'", 20), "sh -c 'echo started…");
        assert_eq!(ellipsis("abc", 3), "abc");
        assert_eq!(ellipsis("abcd", 3), "ab…");
    }

    #[test]
    fn tables_align_like_go_tabwriter() {
        assert_eq!(
            tabwrite("REPOSITORY\tTAG\tIMAGE ID\nbusybox\tlatest\ta416a98b71e2\n", TABLE_MIN_WIDTH),
            "REPOSITORY   TAG       IMAGE ID\nbusybox      latest    a416a98b71e2\n"
        );
        // An empty last cell keeps its column's padding; short columns are 10 wide.
        assert_eq!(tabwrite("NAMES\tPORTS\na\t\n", TABLE_MIN_WIDTH), "NAMES     PORTS\na         \n");
        assert_eq!(
            tabwrite("NAMES\tPORTS\tIMAGE\na\t\tbusybox\n", TABLE_MIN_WIDTH),
            "NAMES     PORTS     IMAGE\na                   busybox\n"
        );
        let rows = vec![
            vec!["UID".to_string(), "PID".into(), "CMD".into()],
            vec!["root".to_string(), "1".into(), "sleep 60".into()],
        ];
        assert_eq!(
            table(&rows, TOP_MIN_WIDTH),
            "UID                 PID                 CMD\nroot                1                   sleep 60\n"
        );
        // Go's column blocks: a line without the column ends the block above it.
        assert_eq!(
            tabwrite("a\tb\tc\nlonger-cell\tx\nno tabs\nq\tr\n", 1),
            "a             b   c\nlonger-cell   x\nno tabs\nq   r\n"
        );
        // Widths count characters, not bytes.
        assert_eq!(tabwrite("é\tx\nab\ty\n", 1), "é    x\nab   y\n");
    }

    fn ps_row(names: &str, labels: &str) -> Row<'static> {
        Row::from([
            ("Command", "\"sh\"".to_string()),
            ("ID", "000000000000".into()),
            ("Image", "busybox".into()),
            ("Labels", labels.into()),
            ("Names", names.into()),
            ("Ports", String::new()),
            ("RunningFor", "5 seconds ago".into()),
            ("Status", "Up".into()),
        ])
    }

    const PS_TABLE: &str = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

    fn ps(format: &str) -> Result<String, FormatError> {
        format_rows(Some(format), PS_TABLE, &CONTAINERS, &[], &[ps_row("a", "")])
    }

    #[test]
    fn list_tables_like_docker() {
        let want = "CONTAINER ID   IMAGE     COMMAND   CREATED         STATUS    PORTS     NAMES\n\
                    000000000000   busybox   \"sh\"      5 seconds ago   Up                  a\n";
        assert_eq!(format_rows(None, PS_TABLE, &CONTAINERS, &[], &[ps_row("a", "")]).unwrap(), want);
        assert_eq!(ps("table").unwrap(), want);
        assert_eq!(ps("").unwrap(), want);
        assert_eq!(ps("table {{.Names}}\\t{{.Image}}").unwrap(), "NAMES     IMAGE\na         busybox\n");
        assert_eq!(ps("table {{.Names}}\\t{{.Ports}}").unwrap(), "NAMES     PORTS\na         \n");
        // Header functions leave the header as it is.
        assert_eq!(ps("table {{upper .Names}}\\t{{.Image | lower}}").unwrap(), "NAMES     IMAGE\nA         busybox\n");
        // A header with no rows.
        assert_eq!(format_rows(Some("table {{.ID}}"), PS_TABLE, &IMAGES, &[], &[]).unwrap(), "IMAGE ID\n");
        let vol = Row::from([("Driver", "local".to_string()), ("Name", "v1".into())]);
        assert_eq!(
            format_rows(None, "{{.Driver}}\t{{.Name}}", &VOLUMES, &[("Name", "VOLUME NAME")], &[vol]).unwrap(),
            "DRIVER    VOLUME NAME\nlocal     v1\n"
        );
    }

    #[test]
    fn templates_like_docker() {
        assert_eq!(ps("{{.Names}} {{.RunningFor}}").unwrap(), "a 5 seconds ago\n");
        assert_eq!(ps("{{ .Names }}").unwrap(), "a\n");
        assert_eq!(ps("{{json .Names}}").unwrap(), "\"a\"\n");
        assert_eq!(ps("a\\tb\\nc").unwrap(), "a\tb\nc\n");
        assert_eq!(ps("{{.Names}}\\t{{.Ports}}").unwrap(), "a\t\n");
        assert_eq!(ps("  {{.Names}}  ").unwrap(), "a\n");
        assert_eq!(
            ps(r#"{{upper .Names}} {{lower "AB"}} {{title "hello world"}} {{join (split "a,b" ",") "|"}}"#).unwrap(),
            "A ab Hello World a|b\n"
        );
        assert_eq!(ps("{{println .Names}}x").unwrap(), "a\nx\n");
        assert_eq!(ps("{{.Names | upper}}").unwrap(), "A\n");
        assert_eq!(ps("{{- .Names -}} x").unwrap(), "ax\n");
        assert_eq!(ps("{{if .Names}}yes{{else}}no{{end}}").unwrap(), "yes\n");
        assert_eq!(ps("{{if .Ports}}yes{{else}}no{{end}}").unwrap(), "no\n");
        assert_eq!(ps("{{pad .Names 1 2}}|{{truncate .Names 1}}").unwrap(), " a  |a\n");
        assert_eq!(ps("{{len .Names}}").unwrap(), "1\n");
        assert_eq!(ps(r#"{{printf "%s-%d" .Names 3}}"#).unwrap(), "a-3\n");
        assert_eq!(ps(r#"{{json .Names}} <&>"#).unwrap(), "\"a\" <&>\n");
        assert_eq!(ps("{{.Names}} {{/* a comment */}}x").unwrap(), "a x\n");
        let tag = |t: &str| Row::from([("Tag", t.to_string())]);
        let rows = [tag("1"), tag("2")];
        let images = |f: &str| format_rows(Some(f), "", &IMAGES, &[], &rows);
        assert_eq!(
            images(r#"{{.Tag | printf "%q"}} {{print 1 2 "a" "b" 3}} {{println 1 "a"}}"#).unwrap(),
            "\"1\" 1 2ab3 1 a\n\n\"2\" 1 2ab3 1 a\n\n"
        );
        assert_eq!(
            images(
                r#"{{if eq .Tag "1"}}one{{else if eq .Tag "2"}}two{{end}} {{not .Tag}} {{and .Tag ""}}|{{or "" .Tag}} {{len .Tag}} {{index (split "a,b" ",") 1}}"#
            )
            .unwrap(),
            "one false |1 1 b\ntwo false |2 1 b\n"
        );
        assert_eq!(
            images(r#"{{.Tag}} {{/* c */}} {{ "x" | upper | printf "%s!" }} {{(split "a,b" ",")}} {{truncate "hello" 2}} {{title "ab cd"}}"#)
                .unwrap(),
            "1  X! [a b] he Ab Cd\n2  X! [a b] he Ab Cd\n"
        );
        assert_eq!(images(r#"{{range split "a,b" ","}}<{{.}}>{{end}}"#).unwrap(), "<a><b>\n<a><b>\n");
        assert_eq!(images(r#"{{with .Tag}}[{{.}}]{{end}}"#).unwrap(), "[1]\n[2]\n");
    }

    #[test]
    fn more_template_features_like_docker() {
        let row = |r: &str, t: &str| Row::from([("Repository", r.to_string()), ("Tag", t.to_string())]);
        let rows = [row("x", "1"), row("yy", "latest")];
        let images = |f: &str| format_rows(Some(f), "", &IMAGES, &[], &rows);
        let cases: &[(&str, &str)] = &[
            (r#"{{split .Repository "y"}}"#, "[x]\n[  ]\n"),
            (r#"{{join (split .Repository "y") "-"}}"#, "x\n--\n"),
            (r#"{{len (split .Repository "y")}}"#, "1\n3\n"),
            (r#"{{range split .Repository ""}}[{{.}}]{{end}}"#, "[x]\n[y][y]\n"),
            (r#"{{range $i, $e := split .Repository ""}}{{$i}}{{end}}"#, "0\n01\n"),
            (r#"{{$r := .Repository}}{{range split "a,b" ","}}{{$r}}{{.}} {{end}}"#, "xa xb \nyya yyb \n"),
            ("{{$.Tag}}", "1\nlatest\n"),
            ("{{with .Tag}}<{{.}}>{{else}}none{{end}}", "<1>\n<latest>\n"),
            (r#"{{with ""}}<{{.}}>{{else}}none{{end}}"#, "none\nnone\n"),
            ("{{- .Tag -}}  |  {{- .Repository}}", "1|x\nlatest|yy\n"),
            (r#"{{printf "%5s|" .Tag}}"#, "    1|\nlatest|\n"),
            (r#"{{printf "%v %d %q" .Tag 5 .Repository}}"#, "1 5 \"x\"\nlatest 5 \"yy\"\n"),
            (r#"{{.Tag | printf "%s-%s" "a"}}"#, "a-1\na-latest\n"),
            ("{{index .Tag 0}}", "49\n108\n"),
            (
                r#"{{lt .Tag "2"}} {{gt 2 1}} {{le 1 1}} {{ge "a" "b"}}"#,
                "true true true false\nfalse true true false\n",
            ),
            (r#"{{eq .Tag "1" "latest"}}"#, "true\ntrue\n"),
            ("{{\"quoted\"}} {{`raw`}} {{1}} {{true}} {{1.5}}", "quoted raw 1 true 1.5\nquoted raw 1 true 1.5\n"),
            ("{{(.Tag)}}", "1\nlatest\n"),
            ("{{ .Tag | len }}", "1\n6\n"),
            ("{{println .Tag .Repository}}", "1 x\n\nlatest yy\n\n"),
            ("{{print .Tag .Repository}}", "1x\nlatestyy\n"),
        ];
        for (t, want) in cases {
            assert_eq!(images(t).unwrap(), *want, "{t}");
        }
        let err = |f: &str| images(f).unwrap_err().message;
        let at = |rest: &str| format!("template parsing error: template: {rest}");
        assert_eq!(
            err("{{.Tag.Foo}}"),
            at(":1:6: executing \"\" at <.Tag.Foo>: can't evaluate field Foo in type string")
        );
        assert_eq!(
            err("{{.Repository .Tag}}"),
            at(":1:2: executing \"\" at <.Repository>: wrong number of args for Repository: want 0 got 1")
        );
        assert_eq!(err("{{json}}"), at(":1:2: executing \"\" at <json>: wrong number of args for json: want 1 got 0"));
        assert_eq!(
            err("{{eq .Tag}}"),
            at(":1:2: executing \"\" at <eq .Tag>: error calling eq: missing argument for comparison")
        );
        assert_eq!(
            err("{{index .Nope 1}}"),
            at(":1:8: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.imageContext")
        );
        assert_eq!(err("{{nil}}"), at(":1:2: executing \"\" at <nil>: nil is not a command"));
        assert_eq!(err("{{if}}x{{end}}"), at(":1: missing value for if"));
        assert_eq!(err("{{else}}"), at(":1: unexpected {{else}}"));
        assert_eq!(err("{{\"unterminated}}"), at(":1: unterminated quoted string"));
        // Outside `ps`, positions count in the template after `table`, spaces and escapes.
        let unknown = "executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.imageContext";
        assert_eq!(err("table {{.Nope}}"), at(&format!(":1:2: {unknown}")));
        assert_eq!(err("{{.Tag}}\\t{{.Nope}}"), at(&format!(":1:11: {unknown}")));
        assert_eq!(err("  {{.Nope}}"), at(&format!(":1:2: {unknown}")));
        assert_eq!(err("table   {{.Tag}}\\n{{.Nope}}"), at(&format!(":2:2: {unknown}")));
        // Headers: Docker calls both size columns of `images` SIZE.
        let full =
            Row::from([("Size", "4.26MB".to_string()), ("VirtualSize", "4.261MB".into()), ("Digest", "<none>".into())]);
        assert_eq!(
            format_rows(Some("table {{.Size}}\t{{.VirtualSize}}\t{{.Digest}}"), "", &IMAGES, &[], &[full]).unwrap(),
            "SIZE      SIZE      DIGEST\n4.26MB    4.261MB   <none>\n"
        );
    }

    #[test]
    fn json_of_a_row() {
        let row = Row::from([("Ports", "127.0.0.1:8080->80/tcp".to_string()), ("ID", "abc".into())]);
        // Docker's `json.Marshal` of a whole row would write `->` as `-\u003e`; berth's rows have
        // always been plain JSON (the same value to any JSON reader), and tests rely on it.
        let want = "{\"ID\":\"abc\",\"Ports\":\"127.0.0.1:8080->80/tcp\"}\n";
        assert_eq!(format_rows(Some("json"), "", &CONTAINERS, &[], std::slice::from_ref(&row)).unwrap(), want);
        assert_eq!(format_rows(Some("{{json .}}"), "", &CONTAINERS, &[], std::slice::from_ref(&row)).unwrap(), want);
        assert_eq!(
            format_rows(Some("{{json .Ports}}|{{.Ports}}"), "", &CONTAINERS, &[], &[row]).unwrap(),
            "\"127.0.0.1:8080->80/tcp\"|127.0.0.1:8080->80/tcp\n"
        );
    }

    #[test]
    fn unknown_fields_and_bad_templates_fail_as_docker() {
        let exec = |f: &str| ps(f).unwrap_err().message;
        let typed = "can't evaluate field Nope in type *formatter.ContainerContext";
        assert_eq!(
            exec("{{.Nope}}"),
            format!("failed to execute template: template: :1:2: executing \"\" at <.Nope>: {typed}")
        );
        assert_eq!(
            exec("table {{.Nope}}"),
            format!("failed to execute template: template: :1:8: executing \"\" at <.Nope>: {typed}")
        );
        assert_eq!(
            exec("table   {{.Nope}}"),
            format!("failed to execute template: template: :1:10: executing \"\" at <.Nope>: {typed}")
        );
        assert_eq!(
            exec("table{{.Nope}}"),
            format!("failed to execute template: template: :1:7: executing \"\" at <.Nope>: {typed}")
        );
        assert_eq!(
            exec("  {{.Nope}}"),
            format!("failed to execute template: template: :1:4: executing \"\" at <.Nope>: {typed}")
        );
        assert_eq!(
            exec("{{.Names}}\\t{{.Nope}}"),
            format!("failed to execute template: template: :1:14: executing \"\" at <.Nope>: {typed}")
        );
        assert_eq!(
            exec("{{.Names}}\n{{.Nope}}"),
            format!("failed to execute template: template: :2:2: executing \"\" at <.Nope>: {typed}")
        );
        assert_eq!(
            exec("x {{json .Nope}}"),
            format!("failed to execute template: template: :1:9: executing \"\" at <.Nope>: {typed}")
        );
        assert_eq!(
            exec(r#"{{"a"}}{{.Names.Foo}}"#),
            "failed to execute template: template: :1:15: executing \"\" at <.Names.Foo>: can't evaluate field Foo in type string"
        );
        assert_eq!(
            exec(r#"{{index .Labels "x"}}"#),
            "failed to execute template: template: :1:2: executing \"\" at <index .Labels \"x\">: error calling index: cannot index slice/array with type string"
        );
        assert_eq!(exec("{{.Names"), "failed to parse template: template: :1: unclosed action");
        assert_eq!(
            exec("{{nofunc .Names}}"),
            "failed to parse template: template: :1: function \"nofunc\" not defined"
        );
        assert_eq!(ps("{{.Nope}}").unwrap_err().code, 1);
        // No rows, nothing runs the template.
        assert_eq!(format_rows(Some("{{.Nope}}"), "", &CONTAINERS, &[], &[]).unwrap(), "");

        let rows = [Row::from([("Tag", "1".to_string())])];
        let images = |f: &str| format_rows(Some(f), "", &IMAGES, &[], &rows).unwrap_err().message;
        assert_eq!(
            images("{{.Nope}}"),
            "template parsing error: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.imageContext"
        );
        assert_eq!(images("{{end}}"), "template parsing error: template: :1: unexpected {{end}}");
        assert_eq!(images("{{if .Tag}}x"), "template parsing error: template: :1: unexpected EOF");
        assert_eq!(
            images("{{range .Tag}}{{end}}"),
            "template parsing error: template: :1:8: executing \"\" at <.Tag>: range can't iterate over 1"
        );
    }

    fn doc() -> Value {
        serde_json::json!({
            "Id": "abc",
            "State": {"Running": true, "ExitCode": 0},
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"z": "1", "a": "2"}},
            "HostConfig": {"Memory": 0},
        })
    }

    #[test]
    fn inspect_templates_like_docker() {
        let f = |t: &str| format_docs(t, &[doc()]);
        assert_eq!(
            f("{{.Config.Env}} {{.Config.Labels}} {{.State.Running}} {{.HostConfig.Memory}}").unwrap(),
            "[A=1 B=2] map[a:2 z:1] true 0\n"
        );
        assert_eq!(
            f(r#"{{json .Config.Labels}} {{index .Config.Labels "z"}} {{join .Config.Env ","}}"#).unwrap(),
            "{\"a\":\"2\",\"z\":\"1\"} 1 A=1,B=2\n"
        );
        assert_eq!(f("{{.Id}} {{json .Config.Env}}").unwrap(), "abc [\"A=1\",\"B=2\"]\n");
        // What the document leaves out is nil, as both of berth's inspect templates had it.
        assert_eq!(
            f("{{.Nope}} {{.State.Nope}} {{.Id.Nope}} {{.Nope.Deeper}}").unwrap(),
            "<no value> <no value> <no value> <no value>\n"
        );
        let e = f("{{.Id").unwrap_err();
        assert_eq!((e.message.as_str(), e.code), ("template parsing error: template: :1: unclosed action", 64));
        let e = f("{{nofunc .Id}}").unwrap_err();
        assert_eq!(e.message, "template parsing error: template: :1: function \"nofunc\" not defined");
        let e = f(r#"{{index .Id "x"}}"#).unwrap_err();
        assert_eq!((e.message.as_str(), e.code), ("template parsing error: template: :1:2: executing \"\" at <index .Id \"x\">: error calling index: cannot index slice/array with type string", 1));
        // A JSON null prints as Go prints a nil interface.
        assert_eq!(format_docs("{{.X}}", &[serde_json::json!({"X": null})]).unwrap(), "<no value>\n");
    }
}
