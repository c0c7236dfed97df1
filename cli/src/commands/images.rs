//! `berth images`: Docker's image table, JSON lines, or a Go-template format.
//!
//! Also home to the presentation helpers Docker's image commands share (`history`,
//! `image prune`): its human sizes (decimal units, 3 significant digits: `4.26MB`), human
//! durations (`About an hour ago`), tabwriter alignment and simple `{{.Field}}` templates.

use super::Ctx;
use berth_engine::image::Image;
use berth_engine::Reference;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

#[derive(clap::Args)]
pub struct Args {
    /// Only images matching this reference (repository, optionally with tag).
    pub reference: Option<String>,
    /// Show only image ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Output format: table (default), json, or a Go template (`{{.Repository}}:{{.Tag}}`).
    #[arg(long)]
    pub format: Option<String>,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Do not truncate ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Show all images (berth has no intermediate images; accepted for compatibility).
    #[arg(short = 'a', long)]
    pub all: bool,
}

/// Docker's `units.HumanSizeWithPrecision(size, 3)`: decimal units, `%.3g`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", fmt_g3(v), UNITS[i])
}

/// Go's `%.3g` for the non-negative values sizes produce.
fn fmt_g3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    // Round to 3 significant digits first: 999.5 becomes 1e+03 as in Go.
    let rounded = format!("{:.2e}", v);
    let (mant, e) = rounded.split_once('e').expect("exponent form");
    let e: i32 = e.parse().unwrap_or(exp);
    if !(-4..3).contains(&e) {
        let m = mant.trim_end_matches('0').trim_end_matches('.');
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = (2 - e).max(0) as usize;
    let s = format!("{:.*}", decimals, v);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    let minutes = d.num_minutes();
    let hours = ((d.num_milliseconds() as f64) / 3_600_000.0 + 0.5).floor() as i64;
    if secs < 1 {
        "Less than a second".into()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
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
        format!("{} years", d.num_hours() / 24 / 365)
    }
}

/// `N minutes ago`, or `N/A` when the time is unknown.
pub fn since(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    match t {
        Some(t) => format!("{} ago", human_duration(chrono::Utc::now() - t)),
        None => "N/A".into(),
    }
}

/// Go's `time.Time.String()` for a UTC time, as Docker's `CreatedAt`.
pub fn go_time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()).unwrap_or_default()
}

/// Aligns tab-separated lines as Go's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)` (Docker's
/// table writer): every cell but the last of a line is padded to its column's width + 3.
pub fn tabwrite(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            let w = c.chars().count() + 3;
            if widths.len() <= i {
                widths.resize(i + 1, 10);
            }
            widths[i] = widths[i].max(w);
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                let _ = write!(out, "{c:<width$}", width = widths[i]);
            } else {
                out.push_str(c);
            }
        }
        out.push('\n');
    }
    out
}

/// Docker's column headers for template fields.
pub fn header_for(field: &str) -> String {
    match field {
        "ID" => "IMAGE ID".into(),
        "CreatedSince" => "CREATED".into(),
        "CreatedAt" => "CREATED AT".into(),
        "CreatedBy" => "CREATED BY".into(),
        "SharedSize" => "SHARED SIZE".into(),
        "UniqueSize" => "UNIQUE SIZE".into(),
        "VirtualSize" => "VIRTUAL SIZE".into(),
        other => other.to_ascii_uppercase(),
    }
}

/// Renders a Docker `--format` for one row: `{{.Field}}`, `{{json .}}`, `{{json .Field}}`;
/// `\t` and `\n` are unescaped as Docker does. With `header`, renders the header line.
pub fn render(tmpl: &str, fields: &BTreeMap<&str, String>, header: Option<&[(&str, &str)]>) -> anyhow::Result<String> {
    let tmpl = tmpl.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = tmpl.as_str();
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let j = rest[i..].find("}}").ok_or_else(|| anyhow::anyhow!("template: unclosed action in {tmpl:?}"))?;
        let expr = rest[i + 2..i + j].trim();
        let (json, path) = match expr.strip_prefix("json") {
            Some(p) if p.starts_with(char::is_whitespace) => (true, p.trim()),
            _ => (false, expr),
        };
        let field =
            path.strip_prefix('.').ok_or_else(|| anyhow::anyhow!("template: unsupported action {{{{{expr}}}}}"))?;
        let text = if let Some(overrides) = header {
            match overrides.iter().find(|(f, _)| *f == field) {
                Some((_, h)) => h.to_string(),
                None if field.is_empty() => String::new(),
                None => header_for(field),
            }
        } else if field.is_empty() {
            serde_json::to_string(fields).unwrap_or_default()
        } else {
            let v = fields.get(field).ok_or_else(|| anyhow::anyhow!("template: can't evaluate field {field}"))?;
            if json {
                serde_json::to_string(v).unwrap_or_default()
            } else {
                v.clone()
            }
        };
        out.push_str(&text);
        rest = &rest[i + j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Prints rows with a format: default table, `json`, `table TEMPLATE` or a bare template.
/// `headers` overrides Docker's default column names (`history` calls its id `IMAGE`).
pub fn print_formatted(
    format: Option<&str>,
    default_table: &str,
    headers: &[(&str, &str)],
    rows: &[BTreeMap<&str, String>],
) -> anyhow::Result<()> {
    let f = format.unwrap_or("table").trim();
    if f == "json" {
        for r in rows {
            println!("{}", serde_json::to_string(r)?);
        }
        return Ok(());
    }
    let (table, tmpl) = if f == "table" {
        (true, default_table.to_string())
    } else if let Some(t) = f.strip_prefix("table") {
        (true, t.trim().to_string())
    } else {
        (false, f.to_string())
    };
    if table {
        let mut lines = vec![render(&tmpl, &BTreeMap::new(), Some(headers))?];
        for r in rows {
            lines.push(render(&tmpl, r, None)?);
        }
        print!("{}", tabwrite(&lines));
    } else {
        let mut out = String::new();
        for r in rows {
            out.push_str(&render(&tmpl, r, None)?);
            out.push('\n');
        }
        print!("{out}");
    }
    Ok(())
}

struct Row<'a> {
    image: &'a Image,
    repository: String,
    tag: String,
}

fn matches(filter: &Reference, filter_has_tag: bool, name: &str) -> bool {
    let Ok(r) = Reference::parse(name) else { return false };
    r.name() == filter.name() && (!filter_has_tag || r.tag() == filter.tag())
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let mut images = engine.list_images()?;
    images.sort_by(|a, b| b.created().cmp(&a.created()).then_with(|| a.names.cmp(&b.names)));
    let filter = args.reference.as_deref().map(Reference::parse_name_only).transpose()?;
    let filter_has_tag = filter.as_ref().is_some_and(|f| f.tag().is_some());
    let mut rows: Vec<Row> = Vec::new();
    for img in &images {
        let mut names: Vec<Reference> = img.references();
        names.sort_by_key(|r| r.to_string());
        if names.is_empty() {
            if filter.is_none() {
                rows.push(Row { image: img, repository: "<none>".into(), tag: "<none>".into() });
            }
            continue;
        }
        for r in names {
            if let Some(f) = &filter {
                if !matches(f, filter_has_tag, &r.to_string()) {
                    continue;
                }
            }
            rows.push(Row { image: img, repository: r.familiar_name(), tag: r.tag().unwrap_or("<none>").to_string() });
        }
    }
    let id_of = |img: &Image| if args.no_trunc { img.id.to_string() } else { img.id.short().to_string() };
    if args.quiet {
        let mut seen = HashSet::new();
        for r in &rows {
            let id = id_of(r.image);
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(());
    }
    let fields: Vec<BTreeMap<&str, String>> = rows
        .iter()
        .map(|r| {
            let size = human_size(r.image.content_size(engine.store()));
            BTreeMap::from([
                ("Containers", "N/A".to_string()),
                ("CreatedAt", go_time(r.image.created())),
                ("CreatedSince", since(r.image.created())),
                ("Digest", r.image.manifest_digest.to_string()),
                ("ID", id_of(r.image)),
                ("Repository", r.repository.clone()),
                ("SharedSize", "N/A".to_string()),
                ("Size", size.clone()),
                ("Tag", r.tag.clone()),
                ("UniqueSize", "N/A".to_string()),
                ("VirtualSize", size),
            ])
        })
        .collect();
    let table = if args.digests {
        "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    print_formatted(args.format.as_deref(), table, &[], &fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(12_000_000), "12MB");
        assert_eq!(human_size(1_500), "1.5kB");
        assert_eq!(human_size(123_456_789), "123MB");
        assert_eq!(human_size(999_500), "1e+03kB");
    }

    #[test]
    fn durations_like_docker() {
        let d = chrono::Duration::seconds;
        assert_eq!(human_duration(d(0)), "Less than a second");
        assert_eq!(human_duration(d(1)), "1 second");
        assert_eq!(human_duration(d(59)), "59 seconds");
        assert_eq!(human_duration(d(60)), "About a minute");
        assert_eq!(human_duration(d(45 * 60)), "45 minutes");
        assert_eq!(human_duration(d(3600)), "About an hour");
        assert_eq!(human_duration(d(5 * 3600)), "5 hours");
        assert_eq!(human_duration(d(3 * 86400)), "3 days");
        assert_eq!(human_duration(d(21 * 86400)), "3 weeks");
        assert_eq!(human_duration(d(90 * 86400)), "3 months");
        assert_eq!(human_duration(d(800 * 86400)), "2 years");
    }

    #[test]
    fn tabwriter_like_go() {
        let out = tabwrite(&["REPOSITORY\tTAG\tIMAGE ID".into(), "busybox\tlatest\ta416a98b71e2".into()]);
        assert_eq!(out, "REPOSITORY   TAG       IMAGE ID\nbusybox      latest    a416a98b71e2\n");
    }

    #[test]
    fn templates() {
        let f = BTreeMap::from([("Repository", "busybox".to_string()), ("Tag", "latest".to_string())]);
        assert_eq!(render("{{.Repository}}:{{ .Tag }}", &f, None).unwrap(), "busybox:latest");
        assert_eq!(render("{{json .}}", &f, None).unwrap(), r#"{"Repository":"busybox","Tag":"latest"}"#);
        assert_eq!(render("{{.Repository}}\\t{{.Tag}}", &f, Some(&[])).unwrap(), "REPOSITORY\tTAG");
        assert!(render("{{.Nope}}", &f, None).is_err());
    }
}
