//! `berth compose top`: the processes of each running service container.

use super::super::Ctx;

#[derive(clap::Args, Clone)]
pub struct Args {
    pub services: Vec<String>,
}

pub fn run(ctx: &Ctx, g: &super::Args, a: Args) -> anyhow::Result<()> {
    let c = super::open_named(ctx, g)?;
    let out = std::process::Command::new("ps").args(["-o", "uid,pid,ppid,c,stime,tty,time,cmd", "-e"]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header: Vec<String> = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"].map(String::from).to_vec();
    let _ = lines.next();
    let procs: Vec<Vec<String>> = lines
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let mut row: Vec<String> = f.iter().take(7).map(|s| s.to_string()).collect();
            row.push(f.iter().skip(7).copied().collect::<Vec<_>>().join(" "));
            row
        })
        .collect();
    for (ct, pids) in c.top(&a.services)? {
        println!("{}", ct.name);
        let mut rows = vec![header.clone()];
        rows.extend(
            procs
                .iter()
                .filter(|r| r.get(1).and_then(|p| p.parse::<i32>().ok()).is_some_and(|p| pids.contains(&p)))
                .cloned(),
        );
        print!("{}", crate::format::table(&rows, 3));
        println!();
    }
    Ok(())
}
