//! `berth images`: Docker's image table, JSON lines, or a Go-template format.

use super::Ctx;
use crate::format::{self, go_time, human_size, human_size4, since};
use berth_engine::image::Image;
use berth_engine::Reference;
use std::collections::{BTreeMap, HashSet};

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
            let bytes = r.image.content_size(engine.store());
            let labels: BTreeMap<String, String> =
                serde_json::from_value(r.image.config_json["config"]["Labels"].clone()).unwrap_or_default();
            BTreeMap::from([
                (format::LABELS, format::labels_entry(&labels)),
                ("Containers", "N/A".to_string()),
                ("CreatedAt", go_time(r.image.created())),
                ("CreatedSince", since(r.image.created())),
                ("Digest", r.image.manifest_digest.to_string()),
                ("ID", id_of(r.image)),
                ("Repository", r.repository.clone()),
                ("SharedSize", "N/A".to_string()),
                ("Size", human_size(bytes)),
                ("Tag", r.tag.clone()),
                ("UniqueSize", "N/A".to_string()),
                ("VirtualSize", human_size4(bytes)),
            ])
        })
        .collect();
    let table = if args.digests {
        "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    format::print_rows(args.format.as_deref(), table, &format::IMAGES, &[], &fields)
}
