//! `berth inspect`: Docker-like JSON for containers (and volumes or images by name).

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Format the output using a Go template (`{{.State.ExitCode}}`, `{{json .Mounts}}`).
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Only inspect objects of this type (container, volume, image).
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes (accepted for compatibility).
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Evaluates a Go-template path (`.State.Running`, `json .Config`) against a JSON value.
pub fn template(tmpl: &str, v: &serde_json::Value) -> String {
    let mut out = String::new();
    let mut rest = tmpl;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find("}}") else { break };
        let expr = rest[i + 2..i + j].trim();
        let (json, path) = match expr.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, expr),
        };
        let mut cur = v.clone();
        for part in path.trim_start_matches('.').split('.').filter(|p| !p.is_empty()) {
            cur = cur.get(part).cloned().unwrap_or(serde_json::Value::Null);
        }
        out.push_str(&match (&cur, json) {
            (_, true) => serde_json::to_string(&cur).unwrap_or_default(),
            (serde_json::Value::String(s), _) => s.clone(),
            (serde_json::Value::Null, _) => "<no value>".into(),
            (other, _) => other.to_string(),
        });
        rest = &rest[i + j + 2..];
    }
    out.push_str(rest);
    out.replace("\\n", "\n").replace("\\t", "\t")
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let engine = ctx.engine()?;
    let mut docs = Vec::new();
    let mut failed = false;
    for name in &args.names {
        let kind = args.kind.as_deref();
        let doc = (|| {
            if kind.is_none() || kind == Some("container") {
                if let Ok(c) = engine.find_container(name) {
                    return Some(c.inspect());
                }
            }
            if kind.is_none() || kind == Some("volume") {
                if let Ok(v) = engine.inspect_volume(name) {
                    return serde_json::to_value(v).ok();
                }
            }
            if kind.is_none() || kind == Some("image") {
                if let Ok(img) = engine.resolve_image(name) {
                    let mut v = img.config_json.clone();
                    if let Some(o) = v.as_object_mut() {
                        o.insert("Id".into(), serde_json::json!(img.id.to_string()));
                        o.insert("RepoTags".into(), serde_json::json!(img.names));
                    }
                    return Some(v);
                }
            }
            None
        })();
        match doc {
            Some(d) => docs.push(d),
            None => {
                eprintln!("Error: No such object: {name}");
                failed = true;
            }
        }
    }
    match &args.format {
        Some(f) => {
            for d in &docs {
                println!("{}", template(f, d));
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&docs)?),
    }
    if failed {
        return Err(super::Exit(1).into());
    }
    Ok(())
}
