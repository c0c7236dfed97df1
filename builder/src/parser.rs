//! The Dockerfile parser: text in, [`Instruction`]s out, with BuildKit's syntax rules.
//!
//! Parser directives (`# syntax=`, `# escape=`) are read only before the first comment, blank
//! line or instruction; the escape character (`\` or `` ` ``) ends a line that continues on the
//! next; comment lines and blank lines inside a continuation are dropped; heredocs (`<<EOF`,
//! `<<-EOF`, `<<"EOF"`) follow the line of a RUN, COPY or ADD, several per instruction. Words
//! and variables are *not* expanded here: which instructions expand, and with which ARG/ENV
//! values, is the executor's business ([`expand`], [`expand_words`] do it), since values change
//! as the stage runs. Errors carry the file, line and column and the offending line, as
//! BuildKit's do, so a user sees where to look.

use serde::Serialize;
use std::fmt;

/// A parse (or later, an instruction validation) error, positioned in the Dockerfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    /// 1-based line and column.
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// The text of the line, shown under the message.
    pub source_line: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: dockerfile parse error on line {}: {}",
            self.file, self.line, self.col, self.line, self.message
        )?;
        writeln!(f, "--------------------")?;
        writeln!(f, "{:>4} | >>> {}", self.line, self.source_line)?;
        writeln!(f, "     |     {}^", " ".repeat(self.col.saturating_sub(1)))?;
        write!(f, "--------------------")
    }
}

impl std::error::Error for ParseError {}

/// A heredoc attached to an instruction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    /// Unquoted terminator: variables in the content are expanded (by the shell, for RUN).
    pub expand: bool,
    /// `<<-`: leading tabs were stripped.
    pub chomp: bool,
}

/// An `--name=value` flag of an instruction (value `None` for a bare `--name`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
}

/// One instruction as written: keyword, flags, the rest of the line (continuations joined).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Instruction {
    /// 1-based first and last physical line (the last includes heredoc bodies).
    pub line: usize,
    pub end_line: usize,
    /// 1-based column of the keyword.
    pub col: usize,
    /// Upper-cased keyword.
    pub keyword: String,
    pub flags: Vec<Flag>,
    /// The arguments after the flags, untouched (no expansion, quotes kept).
    pub args: String,
    /// The arguments as a JSON string array, when they are one (exec form).
    pub json: Option<Vec<String>>,
    pub heredocs: Vec<Heredoc>,
    /// The logical line as written (continuations joined), for history and messages.
    pub original: String,
}

impl Instruction {
    /// The value of flag `name` (last one wins, as in BuildKit).
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().rev().find(|f| f.name == name).map(|f| f.value.as_deref().unwrap_or(""))
    }
    /// Every value of a repeatable flag (`--mount`, `--exclude`).
    pub fn flag_all(&self, name: &str) -> Vec<&str> {
        self.flags.iter().filter(|f| f.name == name).map(|f| f.value.as_deref().unwrap_or("")).collect()
    }
}

/// A parsed Dockerfile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    /// Parser directives (`syntax`, `escape`, `check`), lower-case keys.
    pub directives: Vec<(String, String)>,
    pub escape: char,
    pub instructions: Vec<Instruction>,
    #[serde(skip)]
    pub lines: Vec<String>,
    #[serde(skip)]
    pub file: String,
}

/// Every instruction Docker knows.
pub const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

impl Dockerfile {
    /// An error at `line`/`col` (1-based) showing that line.
    pub fn error(&self, line: usize, col: usize, msg: impl Into<String>) -> ParseError {
        ParseError {
            file: self.file.clone(),
            line,
            col,
            message: msg.into(),
            source_line: self.lines.get(line.wrapping_sub(1)).cloned().unwrap_or_default(),
        }
    }
}

fn is_directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (k, v) = rest.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) || k.contains(char::is_whitespace) {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim().to_string()))
}

/// Parses a Dockerfile. `file` names it in errors.
pub fn parse(src: &str, file: &str) -> Result<Dockerfile, ParseError> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let lines: Vec<String> = src.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l).to_string()).collect();
    let mut df = Dockerfile {
        directives: Vec::new(),
        escape: '\\',
        instructions: Vec::new(),
        lines: lines.clone(),
        file: file.into(),
    };
    let mut i = 0;
    // Directives: only at the very top, each key once.
    while i < lines.len() {
        let Some((k, v)) = is_directive(&lines[i]) else { break };
        if df.directives.iter().any(|(x, _)| *x == k) {
            return Err(df.error(i + 1, 1, format!("only one {k} parser directive can be used")));
        }
        if k == "escape" {
            df.escape = match v.as_str() {
                "\\" => '\\',
                "`" => '`',
                _ => return Err(df.error(i + 1, 1, format!("invalid escape token '{v}' does not match ` or \\"))),
            };
        }
        df.directives.push((k, v));
        i += 1;
    }
    let esc = df.escape;
    let continues = |l: &str| -> Option<String> {
        let t = l.trim_end();
        t.strip_suffix(esc).map(String::from)
    };
    while i < lines.len() {
        let raw = &lines[i];
        let t = raw.trim_start();
        if t.is_empty() || t.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        let col = raw.len() - t.len() + 1;
        let mut logical = String::new();
        let mut cur = t.to_string();
        loop {
            match continues(&cur) {
                Some(head) => {
                    logical.push_str(&head);
                    i += 1;
                    // Comment lines and blank lines inside a continuation are dropped.
                    while i < lines.len() {
                        let n = lines[i].trim_start();
                        if n.starts_with('#') || lines[i].trim().is_empty() {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    if i >= lines.len() {
                        break;
                    }
                    cur = lines[i].clone();
                }
                None => {
                    logical.push_str(&cur);
                    i += 1;
                    break;
                }
            }
        }
        let end_of_line = i; // index of the first line after the instruction's own text
        let (kw, rest) = match logical.find(char::is_whitespace) {
            Some(p) => (&logical[..p], logical[p..].trim_start()),
            None => (logical.as_str(), ""),
        };
        let keyword = kw.to_ascii_uppercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(df.error(start + 1, col, format!("unknown instruction: {kw}")));
        }
        let (flags, args) = split_flags(rest);
        let args = args.trim_end().to_string();
        let json = if takes_json(&keyword) {
            parse_json_array(&args).map_err(|m| df.error(start + 1, col, m))?
        } else {
            parse_json_array(&args).unwrap_or(None)
        };
        let mut ins = Instruction {
            line: start + 1,
            end_line: end_of_line.max(start + 1),
            col,
            keyword: keyword.clone(),
            flags,
            json,
            args,
            heredocs: Vec::new(),
            original: logical.trim_end().to_string(),
        };
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") && ins.json.is_none() {
            for (name, expand, chomp) in heredoc_markers(&ins.args) {
                let mut content = String::new();
                let mut found = false;
                while i < lines.len() {
                    let l = &lines[i];
                    i += 1;
                    let cmp = if chomp { l.trim_start_matches('\t') } else { l.as_str() };
                    if cmp == name {
                        found = true;
                        break;
                    }
                    content.push_str(cmp);
                    content.push('\n');
                }
                if !found {
                    return Err(df.error(
                        start + 1,
                        col,
                        format!("unterminated heredoc {name}: no line {name} follows"),
                    ));
                }
                ins.heredocs.push(Heredoc { name, content, expand, chomp });
            }
            ins.end_line = i.max(start + 1);
        }
        df.instructions.push(ins);
    }
    Ok(df)
}

/// Leading `--flag[=value]` words.
fn split_flags(rest: &str) -> (Vec<Flag>, &str) {
    let mut flags = Vec::new();
    let mut r = rest;
    while let Some(f) = r.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let word = &f[..end];
        if word.is_empty() {
            break;
        }
        match word.split_once('=') {
            Some((k, v)) => flags.push(Flag { name: k.to_ascii_lowercase(), value: Some(unquote(v)) }),
            None => flags.push(Flag { name: word.to_ascii_lowercase(), value: None }),
        }
        r = f[end..].trim_start();
    }
    (flags, r)
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'` markers in a line, in order: (name, expand, chomp).
pub fn heredoc_markers(args: &str) -> Vec<(String, bool, bool)> {
    let b = args.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i + 2 < b.len() + 1 && i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == b'"' || c == b'\'' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if c == b'<' && b.get(i + 1) == Some(&b'<') && b.get(i + 2) != Some(&b'<') {
            let mut j = i + 2;
            let chomp = b.get(j) == Some(&b'-');
            if chomp {
                j += 1;
            }
            let q = match b.get(j) {
                Some(&x) if x == b'"' || x == b'\'' => {
                    j += 1;
                    Some(x)
                }
                _ => None,
            };
            let s = j;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.' || b[j] == b'-') {
                j += 1;
            }
            if j > s && (q.is_none() || b.get(j) == q.as_ref()) {
                out.push((args[s..j].to_string(), q.is_none(), chomp));
                i = if q.is_some() { j + 1 } else { j };
                continue;
            }
        }
        i += 1;
    }
    out
}

/// BuildKit's refusal of a JSON array holding something other than strings.
pub const NOT_STRING_ARRAY: &str = "when using JSON array syntax, arrays must be comprised of strings only";

/// The exec form: a JSON array of strings (anything that is not a JSON array is shell form).
/// A valid JSON array with a non-string element is an error, as in BuildKit (which would
/// otherwise run `[ "echo", [ "x" ] ]` through the shell): [`NOT_STRING_ARRAY`].
pub fn parse_json_array(s: &str) -> Result<Option<Vec<String>>, &'static str> {
    let t = s.trim();
    if !t.starts_with('[') {
        return Ok(None);
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(t) {
        Err(_) => Ok(None),
        Ok(v) => v
            .into_iter()
            .map(|x| match x {
                serde_json::Value::String(s) => Ok(s),
                _ => Err(NOT_STRING_ARRAY),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
    }
}

/// The instructions whose arguments BuildKit reads as a JSON array when they are one
/// (`parseMaybeJSON` / `parseMaybeJSONToList`); the others take `[` literally.
fn takes_json(keyword: &str) -> bool {
    matches!(keyword, "RUN" | "CMD" | "ENTRYPOINT" | "SHELL" | "ADD" | "COPY" | "VOLUME")
}

/// Variable lookup for expansion.
pub trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Expands variables and removes quotes in one word (BuildKit's `ProcessWord`):
/// `$V`, `${V}`, `${V:-w}`, `${V-w}`, `${V:+w}`, `${V+w}`, `${V:?msg}`, escaped `\$`.
pub fn expand(s: &str, escape: char, env: &dyn Lookup) -> Result<String, String> {
    Ok(lex(s, escape, env, false)?.join(""))
}

/// Expands and splits into words on unquoted whitespace (BuildKit's `ProcessWords`).
pub fn expand_words(s: &str, escape: char, env: &dyn Lookup) -> Result<Vec<String>, String> {
    lex(s, escape, env, true)
}

fn lex(s: &str, escape: char, env: &dyn Lookup, split: bool) -> Result<Vec<String>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == escape {
            if let Some(&n) = chars.get(i + 1) {
                cur.push(n);
                i += 2;
            } else {
                cur.push(c);
                i += 1;
            }
            in_word = true;
            continue;
        }
        match c {
            '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == '\'')
                    .ok_or("unexpected end of statement while looking for matching single-quote")?;
                cur.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
                in_word = true;
            }
            '"' => {
                i += 1;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Err("unexpected end of statement while looking for matching double-quote".into());
                    };
                    if d == '"' {
                        i += 1;
                        break;
                    }
                    if d == escape {
                        match chars.get(i + 1) {
                            Some(&n) if n == '"' || n == '$' || n == escape => {
                                cur.push(n);
                                i += 2;
                                continue;
                            }
                            _ => {}
                        }
                    }
                    if d == '$' {
                        let (v, n) = variable(&chars, i, escape, env)?;
                        cur.push_str(&v);
                        i = n;
                        continue;
                    }
                    cur.push(d);
                    i += 1;
                }
                in_word = true;
            }
            '$' => {
                let (v, n) = variable(&chars, i, escape, env)?;
                cur.push_str(&v);
                i = n;
                in_word = true;
            }
            c if split && c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                i += 1;
            }
            c => {
                cur.push(c);
                in_word = true;
                i += 1;
            }
        }
    }
    if in_word || !split {
        words.push(cur);
    }
    Ok(words)
}

/// Expands the variable at `chars[i] == '$'`; returns its value and the index after it.
fn variable(chars: &[char], i: usize, escape: char, env: &dyn Lookup) -> Result<(String, usize), String> {
    let is_start = |c: char| c.is_ascii_alphabetic() || c == '_';
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match chars.get(i + 1) {
        Some(&'{') => {
            let mut j = i + 2;
            let s = j;
            while j < chars.len() && is_name(chars[j]) {
                j += 1;
            }
            let name: String = chars[s..j].iter().collect();
            if name.is_empty() {
                return Err(format!(
                    "bad substitution: missing variable name at {:?}",
                    chars[i..].iter().collect::<String>()
                ));
            }
            match chars.get(j) {
                Some(&'}') => Ok((env.get(&name).unwrap_or_default(), j + 1)),
                Some(&c) if c == ':' || c == '-' || c == '+' || c == '?' => {
                    let colon = c == ':';
                    let op_at = if colon { j + 1 } else { j };
                    let op = *chars.get(op_at).ok_or("bad substitution: unexpected end")?;
                    if !matches!(op, '-' | '+' | '?') {
                        return Err(format!("unsupported modifier ({op}) in substitution"));
                    }
                    // The word runs to the matching brace.
                    let mut depth = 1;
                    let mut k = op_at + 1;
                    let ws = k;
                    while k < chars.len() {
                        if chars[k] == escape {
                            k += 2;
                            continue;
                        }
                        match chars[k] {
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        k += 1;
                    }
                    if k >= chars.len() {
                        return Err("missing '}' in substitution".into());
                    }
                    let word_raw: String = chars[ws..k].iter().collect();
                    let word = expand(&word_raw, escape, env)?;
                    let val = env.get(&name);
                    let set = if colon { val.as_deref().is_some_and(|v| !v.is_empty()) } else { val.is_some() };
                    let out = match op {
                        '-' => {
                            if set {
                                val.unwrap_or_default()
                            } else {
                                word
                            }
                        }
                        '+' => {
                            if set {
                                word
                            } else {
                                String::new()
                            }
                        }
                        _ => {
                            if set {
                                val.unwrap_or_default()
                            } else {
                                return Err(format!(
                                    "{name}: {}",
                                    if word.is_empty() { "is not allowed to be unset" } else { &word }
                                ));
                            }
                        }
                    };
                    Ok((out, k + 1))
                }
                _ => Err(format!("missing '}}' in substitution of ${{{name}")),
            }
        }
        Some(&c) if is_start(c) => {
            let mut j = i + 1;
            while j < chars.len() && is_name(chars[j]) {
                j += 1;
            }
            let name: String = chars[i + 1..j].iter().collect();
            Ok((env.get(&name).unwrap_or_default(), j))
        }
        _ => Ok(("$".into(), i + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(n: &str) -> Option<String> {
        match n {
            "A" => Some("a".into()),
            "E" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitution_forms() {
        let e = &env;
        assert_eq!(expand("$A${A}x", '\\', e).unwrap(), "aax");
        assert_eq!(expand("${B:-d}${E:-d}${E-d}", '\\', e).unwrap(), "dd");
        assert_eq!(expand("${A:+y}${E:+y}${E+y}${B+y}", '\\', e).unwrap(), "yy");
        assert_eq!(expand("\\$A '$A' \"$A\"", '\\', e).unwrap(), "$A $A a");
        assert_eq!(expand_words("a \"b c\" ${A}d", '\\', e).unwrap(), vec!["a", "b c", "ad"]);
        assert!(expand("${B:?need B}", '\\', e).unwrap_err().contains("need B"));
        assert!(expand("${A", '\\', e).is_err());
    }

    #[test]
    fn continuation_comments_and_heredocs() {
        let d = parse("# escape=`\nFROM x\nRUN a `\n# c\n\n  b\nRUN <<EOF\necho hi\nEOF\n", "Dockerfile").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.instructions[1].args, "a   b");
        assert_eq!(d.instructions[2].heredocs[0].content, "echo hi\n");
        let e = parse("FROM x\n  BOGUS y\n", "Dockerfile").unwrap_err();
        assert_eq!((e.line, e.col), (2, 3));
    }
}
