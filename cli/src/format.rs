//! How the CLI presents things, in one place and the way Docker's CLI does: human sizes
//! (`units.HumanSizeWithPrecision`, `HumanSize`, `BytesSize`), human durations
//! (`units.HumanDuration`: "About an hour", "2 hours"), the STATUS column of `ps`, Go's
//! `tabwriter` alignment, and how `--format`/`-f` run Go templates (the `berth-template`
//! crate) the way Docker's CLI does: `table` prefixes with headers, `json`, rows with Docker's
//! methods, inspect documents, and Docker's wording and exit codes of template errors. Each
//! command builds its rows as data and calls into this module, so `ps`, `images`, `inspect` and
//! the rest agree on unknown fields, `{{json .}}` and alignment.
//! The engine returns times and numbers only; turning them into words happens here.

use berth_engine::container::{Container, ZERO_TIME};
use berth_template::{go_g, unescape, Template, Value};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

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

/// One row of a list: Docker's field names to their text. The entry [`LABELS`], when there is
/// one, is not a field: it holds the row's labels as a JSON object, for Docker's `.Label "k"`.
pub type Row<'a> = BTreeMap<&'a str, String>;

/// The [`Row`] entry that holds the labels behind `.Label "k"`.
pub const LABELS: &str = "Label";

/// A row's labels as its [`LABELS`] entry holds them.
pub fn labels_entry(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_default()
}

/// A row as the template sees it: a Go struct of Docker's type whose fields are its
/// (argument-less) methods, plus `.Label` when the row has labels.
fn row_value(kind: &RowKind, row: &Row) -> Value {
    let labels = row.get(LABELS).map(|j| serde_json::from_str(j).unwrap_or_default());
    Value::row(
        kind.go_type,
        row.iter().filter(|(k, _)| **k != LABELS).map(|(k, v)| (k.to_string(), v.clone())),
        labels.map(|l| vec![(LABELS.to_string(), l)]).unwrap_or_default(),
    )
}

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
    let parse_error = |e| FormatError::from(e).context(kind.parse_error);
    let tmpl = match body {
        None => Template::parse(default_table).map_err(parse_error)?,
        Some(src) => {
            let skip = if table { "table".len() } else { 0 };
            let start = skip + src[skip..].len() - src[skip..].trim_start_matches(' ').len();
            let end = src.trim_end_matches(' ').len().max(start);
            let parsed = if kind.positions_as_typed {
                Template::parse_in(src, start, end, true)
            } else {
                Template::parse(&unescape(&src[start..end]))
            };
            parsed.map_err(parse_error)?
        }
    };
    let mut out = String::new();
    for r in rows {
        let text = tmpl.execute(&row_value(kind, r), false);
        out.push_str(&text.map_err(|e| FormatError::from(e).context(kind.exec_error))?);
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

/// Formats inspect documents with `-f`, as `docker inspect` does: the text is Go's (no `\t`
/// escapes), each document is run as Docker's typed structs would hold it (see
/// [`Value::from_json`]), and a field the document does not have fails as Docker's retry on
/// the raw JSON fails (`map has no entry for key "X"`). Returns what the documents that did not
/// fail print (a lone newline when none printed, as Docker's inspector flushes) and the errors
/// of those that failed.
fn render_docs(format: &str, docs: &[serde_json::Value]) -> Result<(String, Vec<String>), FormatError> {
    // `docker inspect` exits 64 (a usage error) when its template does not parse.
    let tmpl = Template::parse(format)
        .map_err(|e| FormatError { code: 64, ..FormatError::from(e).context("template parsing error") })?;
    let mut out = String::new();
    let mut errors = Vec::new();
    for d in docs {
        match tmpl.execute(&Value::from_json(d), true) {
            Ok(text) => {
                out.push_str(&text);
                out.push('\n');
            }
            Err(e) => errors.push(FormatError::from(e).context("template parsing error").message),
        }
    }
    if out.is_empty() {
        out.push('\n');
    }
    Ok((out, errors))
}

/// [`render_docs`] as one result: the text, or the errors joined (exit status 1).
#[cfg(test)]
fn format_docs(format: &str, docs: &[serde_json::Value]) -> Result<String, FormatError> {
    let (out, errors) = render_docs(format, docs)?;
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(FormatError { message: errors.join("\n"), code: 1 })
    }
}

/// [`render_docs`] printed as Docker prints it: what printed on stdout, then the errors on
/// stderr and exit status 1.
pub fn print_docs(format: &str, docs: &[serde_json::Value]) -> anyhow::Result<()> {
    let (out, errors) = render_docs(format, docs).map_err(FormatError::exit)?;
    print!("{out}");
    if !errors.is_empty() {
        return Err(FormatError { message: errors.join("\n"), code: 1 }.exit());
    }
    Ok(())
}

/// A template that did not parse or failed on a value, with Docker's prefix and exit status.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatError {
    pub message: String,
    /// Docker's exit status for it.
    pub code: u8,
}

impl From<berth_template::Error> for FormatError {
    fn from(e: berth_template::Error) -> Self {
        FormatError { message: e.message, code: 1 }
    }
}

impl FormatError {
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
    fn label_method_of_rows() {
        let mut row = ps_row("a", "a=b,k=v");
        row.insert(LABELS, labels_entry(&BTreeMap::from([("k".into(), "v".into()), ("a".into(), "b".into())])));
        let rows = [row];
        let f = |t: &str| format_rows(Some(t), PS_TABLE, &CONTAINERS, &[], &rows);
        // Docker's output for `ps --format` on a container with these labels.
        assert_eq!(f("table {{.ID}}\\t{{.Label \"k\"}}").unwrap(), "CONTAINER ID   k\n000000000000   v\n");
        assert_eq!(f("{{.Labels}}|{{.Label \"a\"}}|{{.Label \"zz\"}}").unwrap(), "a=b,k=v|b|\n");
        // The labels are a method, not a field of the row's JSON.
        assert!(!f("{{json .}}").unwrap().contains("\"Label\""));
        assert_eq!(
            f("{{.Label}}").unwrap_err().message,
            "failed to execute template: template: :1:2: executing \"\" at <.Label>: wrong number of args for Label: want 1 got 0"
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

    fn doc() -> serde_json::Value {
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
        // What the document leaves out fails as Docker's retry on the raw JSON does; a key a
        // map lacks is Go's `<no value>`.
        assert_eq!(
            f("{{.Nope}}").unwrap_err(),
            FormatError {
                message: "template parsing error: template: :1:2: executing \"\" at <.Nope>: map has no entry for key \"Nope\"".into(),
                code: 1
            }
        );
        assert_eq!(f("{{.Config.Labels.nope}}|{{index .Config.Labels \"nope\"}}").unwrap(), "<no value>|\n");
        // inspect -f reads `\t` as Go does: two characters.
        assert_eq!(f("{{.Id}}\\t{{.Id}}").unwrap(), "abc\\tabc\n");
        let e = f("{{.Id").unwrap_err();
        assert_eq!((e.message.as_str(), e.code), ("template parsing error: template: :1: unclosed action", 64));
        let e = f("{{nofunc .Id}}").unwrap_err();
        assert_eq!(e.message, "template parsing error: template: :1: function \"nofunc\" not defined");
        let e = f(r#"{{index .Id "x"}}"#).unwrap_err();
        assert_eq!((e.message.as_str(), e.code), ("template parsing error: template: :1:2: executing \"\" at <index .Id \"x\">: error calling index: cannot index slice/array with type string", 1));
        // A JSON null is a nil pointer, slice or map of Docker's structs.
        assert_eq!(
            format_docs("{{.X}} {{.Env}} {{.Labels}}", &[serde_json::json!({"X": null, "Env": null, "Labels": null})])
                .unwrap(),
            "<nil> [] map[]\n"
        );
    }
}
