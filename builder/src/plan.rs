//! Stages and their order: which stages a build needs (`--target` and what it depends on),
//! in an order where every stage comes after the stages it uses.
//!
//! A stage depends on another through `FROM <stage>`, `COPY --from=<stage|index>` and
//! `RUN --mount=from=<stage>`. Stages the target does not reach are never built, as in
//! BuildKit; a dependency cycle is an error naming a stage on it.

use super::instructions::{Instr, Step};
use super::parser::{Dockerfile, ParseError};

/// One stage: its FROM and the steps after it.
#[derive(Clone, Debug)]
pub struct Stage {
    pub index: usize,
    /// Lower-cased `AS` name.
    pub name: Option<String>,
    /// The FROM argument, unexpanded.
    pub base: String,
    pub platform: Option<String>,
    pub from_line: usize,
    pub from_original: String,
    pub steps: Vec<Step>,
}

impl Stage {
    /// BuildKit's label for progress lines: the name or `stage-N`.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

/// The Dockerfile split into global ARGs and stages.
#[derive(Clone, Debug)]
pub struct Plan {
    /// ARG steps before the first FROM (visible to FROM lines only, unless re-declared).
    pub global_args: Vec<Step>,
    pub stages: Vec<Stage>,
}

/// Splits steps into stages.
pub fn split(df: &Dockerfile, steps: Vec<Step>) -> Result<Plan, ParseError> {
    let mut plan = Plan { global_args: Vec::new(), stages: Vec::new() };
    for s in steps {
        match &s.instr {
            Instr::From { image, name, platform } => {
                if let Some(n) = name {
                    if plan.stages.iter().any(|st| st.name.as_deref() == Some(n)) {
                        return Err(df.error(s.line, 1, format!("duplicate stage name {n:?}")));
                    }
                }
                plan.stages.push(Stage {
                    index: plan.stages.len(),
                    name: name.clone(),
                    base: image.clone(),
                    platform: platform.clone(),
                    from_line: s.line,
                    from_original: s.original.clone(),
                    steps: Vec::new(),
                });
            }
            _ => match plan.stages.last_mut() {
                Some(st) => st.steps.push(s),
                None if matches!(s.instr, Instr::Arg { .. }) => plan.global_args.push(s),
                None => {
                    return Err(df.error(
                        s.line,
                        1,
                        "no build stage in current context: the first instruction must be FROM (or ARG)",
                    ))
                }
            },
        }
    }
    if plan.stages.is_empty() {
        return Err(df.error(df.lines.len().max(1), 1, "the Dockerfile has no FROM instruction"));
    }
    Ok(plan)
}

impl Plan {
    /// The stage a name (or index) refers to.
    pub fn find(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        if let Some(i) = self.stages.iter().position(|s| s.name.as_deref() == Some(lower.as_str())) {
            return Some(i);
        }
        name.parse::<usize>().ok().filter(|i| *i < self.stages.len())
    }

    /// Stages `i` uses, with the line that uses them. `base` is stage `i`'s expanded FROM.
    pub fn deps(&self, i: usize, base: &str) -> Vec<(usize, usize)> {
        let st = &self.stages[i];
        let mut out = Vec::new();
        // A FROM naming another stage (a number in FROM is an image name, never an index).
        if base.parse::<usize>().is_err() {
            if let Some(j) = self.find(base).filter(|j| *j != i) {
                out.push((j, st.from_line));
            }
        }
        for s in &st.steps {
            match &s.instr {
                Instr::Copy(c) => {
                    if let Some(j) = c.from.as_deref().and_then(|f| self.find(f)) {
                        out.push((j, s.line));
                    }
                }
                Instr::Run { mounts, .. } => {
                    for m in mounts {
                        for kv in m.split(',') {
                            if let Some(f) = kv.strip_prefix("from=") {
                                if let Some(j) = self.find(f) {
                                    out.push((j, s.line));
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The stages to build for `target` (default: the last), dependencies first. `bases[i]` is
    /// stage i's FROM with the global ARGs expanded.
    pub fn order(&self, df: &Dockerfile, target: Option<&str>, bases: &[String]) -> Result<Vec<usize>, ParseError> {
        let t = match target {
            Some(t) => {
                self.stages.iter().position(|s| s.name.as_deref() == Some(t.to_ascii_lowercase().as_str())).ok_or_else(
                    || df.error(1, 1, format!("failed to reach build target {t} in Dockerfile: no stage named {t}")),
                )?
            }
            None => self.stages.len() - 1,
        };
        let mut state = vec![0u8; self.stages.len()]; // 0 new, 1 on the stack, 2 done
        let mut out = Vec::new();
        self.visit(df, t, bases, &mut state, &mut out)?;
        Ok(out)
    }

    fn visit(
        &self,
        df: &Dockerfile,
        i: usize,
        bases: &[String],
        state: &mut [u8],
        out: &mut Vec<usize>,
    ) -> Result<(), ParseError> {
        state[i] = 1;
        for (j, line) in self.deps(i, &bases[i]) {
            match state[j] {
                1 => {
                    return Err(df.error(
                        line,
                        1,
                        format!("circular dependency detected on stage: {}", self.stages[j].label()),
                    ))
                }
                0 => self.visit(df, j, bases, state, out)?,
                _ => {}
            }
        }
        state[i] = 2;
        out.push(i);
        Ok(())
    }
}
