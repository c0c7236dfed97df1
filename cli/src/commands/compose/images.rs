//! `berth compose images`: the images the project's containers use.

use super::super::Ctx;
use crate::format;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Only display IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open_named(ctx, g)?;
    let list = c.images(&a.services)?;
    if a.quiet {
        for (_, img) in &list {
            if let Some(i) = img {
                println!("{}", i.id.to_string().trim_start_matches("sha256:"));
            }
        }
        return Ok(());
    }
    let mut rows = vec![["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"].map(String::from).to_vec()];
    for (ct, img) in &list {
        let (repo, tag) = match ct.config.image.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((r, t)) => (r.to_string(), t.to_string()),
            None => (ct.config.image.clone(), "latest".to_string()),
        };
        let id = img
            .as_ref()
            .map(|i| i.id.to_string().trim_start_matches("sha256:").chars().take(12).collect())
            .unwrap_or_default();
        let size = img.as_ref().map(|i| format::human_size(i.size())).unwrap_or_default();
        rows.push(vec![ct.name.clone(), repo, tag, id, size]);
    }
    print!("{}", format::table(&rows, 3));
    Ok(())
}
