//! Interpolation (`${VAR}` and its forms) and `.env` files, as compose-go does them.
//!
//! The forms: `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
//! `${VAR:?message}`/`${VAR?message}` (an error when unset or empty / unset),
//! `${VAR:+alternative}`/`${VAR+alternative}` (the alternative when set and non-empty / set),
//! and `$$` for a literal `$` (a `$` that starts no form stays as it is; a `${` that does not
//! parse is an error). Defaults and alternatives are themselves interpolated, so
//! `${A:-${B:-x}}` nests. An unset variable with no default is the empty string and a warning,
//! as Compose says it. Only values are interpolated, never keys.

use serde_json::Value;
use std::collections::BTreeMap;

/// What went wrong in one string.
#[derive(Debug, PartialEq)]
pub enum Fault {
    /// `${VAR:?msg}` with VAR unset (or empty): Compose's wording.
    Required(String),
    /// A `$` that starts no valid form.
    Invalid,
}

/// Substitutes every form in `s`; the names of unset variables read without a default go to
/// `unset`.
pub fn substitute(s: &str, env: &dyn Fn(&str) -> Option<String>, unset: &mut Vec<String>) -> Result<String, Fault> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut lit = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        out.push_str(&s[lit..i]);
        match b.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let close = matching_brace(s, i + 1).ok_or(Fault::Invalid)?;
                out.push_str(&braced(&s[i + 2..close], env, unset)?);
                i = close + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let end = name_end(s, i + 1);
                let name = &s[i + 1..end];
                out.push_str(&lookup(name, env, unset));
                i = end;
            }
            // A `$` that starts no form (`a $ b`, `cost: 5$`) is itself, as compose-go's
            // pattern leaves it; only a `${` that does not parse is an error.
            _ => {
                out.push('$');
                i += 1;
            }
        }
        lit = i;
    }
    out.push_str(&s[lit..]);
    Ok(out)
}

fn name_end(s: &str, from: usize) -> usize {
    s[from..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(s.len(), |n| from + n)
}

/// The index of the `}` closing the `{` at `open`, counting nested `${`.
fn matching_brace(s: &str, open: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn lookup(name: &str, env: &dyn Fn(&str) -> Option<String>, unset: &mut Vec<String>) -> String {
    env(name).unwrap_or_else(|| {
        unset.push(name.to_string());
        String::new()
    })
}

fn braced(inner: &str, env: &dyn Fn(&str) -> Option<String>, unset: &mut Vec<String>) -> Result<String, Fault> {
    let end = name_end(inner, 0);
    let name = &inner[..end];
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        return Err(Fault::Invalid);
    }
    let rest = &inner[end..];
    if rest.is_empty() {
        return Ok(lookup(name, env, unset));
    }
    let (colon, op, arg) = match rest.strip_prefix(':') {
        Some(r) => (true, r.chars().next(), r.get(1..).unwrap_or("")),
        None => (false, rest.chars().next(), &rest[1..]),
    };
    let value = env(name);
    let empty = value.as_deref().is_none_or(str::is_empty);
    let missing = if colon { empty } else { value.is_none() };
    match op {
        Some('-') => {
            if missing {
                substitute(arg, env, unset)
            } else {
                Ok(value.unwrap_or_default())
            }
        }
        Some('?') => {
            if missing {
                let msg = substitute(arg, env, unset)?;
                Err(Fault::Required(if msg.is_empty() {
                    format!("required variable {name} is missing a value")
                } else {
                    format!("required variable {name} is missing a value: {msg}")
                }))
            } else {
                Ok(value.unwrap_or_default())
            }
        }
        Some('+') => {
            if missing {
                Ok(String::new())
            } else {
                substitute(arg, env, unset)
            }
        }
        _ => Err(Fault::Invalid),
    }
}

/// A variable a file reads, as `config --variables` lists it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Variable {
    pub name: String,
    /// `${V:?…}` or `${V?…}`.
    pub required: bool,
    /// `${V:-default}` / `${V-default}`.
    pub default: String,
    /// `${V:+alternative}` / `${V+alternative}`.
    pub alternate: String,
}

/// Adds the variables `s` reads to `out` (those of defaults and alternatives too), as
/// compose-go's `ExtractVariables` finds them.
pub fn variables(s: &str, out: &mut BTreeMap<String, Variable>) {
    let mut i = 0;
    while let Some(off) = s[i..].find('$') {
        let at = i + off;
        match s.as_bytes().get(at + 1) {
            Some(b'$') => i = at + 2,
            Some(b'{') => {
                let Some(close) = matching_brace(s, at + 1) else { return };
                let inner = &s[at + 2..close];
                let (name, rest) = inner.split_at(name_end(inner, 0));
                let mut v = Variable { name: name.to_string(), ..Default::default() };
                let op = rest.strip_prefix(':').unwrap_or(rest);
                match op.as_bytes().first() {
                    Some(b'?') => v.required = true,
                    Some(b'-') => v.default = op[1..].to_string(),
                    Some(b'+') => v.alternate = op[1..].to_string(),
                    _ => {}
                }
                variables(&v.default.clone(), out);
                variables(&v.alternate.clone(), out);
                if !name.is_empty() {
                    out.insert(v.name.clone(), v);
                }
                i = close + 1;
            }
            _ => {
                let end = name_end(s, at + 1);
                let name = &s[at + 1..end];
                if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    out.insert(name.to_string(), Variable { name: name.to_string(), ..Default::default() });
                }
                i = end.max(at + 1);
            }
        }
    }
}

/// Interpolates every string value of `v` in place. `at` is the dotted path of `v`; an error
/// carries the path of the string that failed and the message.
pub fn interpolate_tree(
    v: &mut Value,
    at: &str,
    env: &BTreeMap<String, String>,
    unset: &mut Vec<String>,
) -> Result<(), (String, String)> {
    let look = |k: &str| env.get(k).cloned();
    match v {
        Value::String(s) if s.contains('$') => {
            *s = substitute(s, &look, unset).map_err(|f| {
                let msg = match f {
                    Fault::Required(m) => format!("error while interpolating {at}: {m}"),
                    Fault::Invalid => format!(
                        "invalid interpolation format for {at}: {s:?}; you may need to escape any $ with another $"
                    ),
                };
                (at.to_string(), msg)
            })?;
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                interpolate_tree(x, &format!("{at}.{i}"), env, unset)?;
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                let p = if at.is_empty() {
                    k.clone()
                } else if k.starts_with('\u{0}') {
                    at.to_string()
                } else {
                    format!("{at}.{k}")
                };
                interpolate_tree(x, &p, env, unset)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Parses a `.env`-style file (Compose's dotenv): `KEY=VALUE` lines, `export ` prefixes,
/// `#` comments, single quotes (literal), double quotes (escapes `\n`, `\t`, `\"`, `\\`;
/// interpolated), unquoted values (trimmed, ` #` starts a comment; interpolated), and a bare
/// `KEY` taking its value from `outer`. Variables resolve against the file's earlier lines,
/// then `outer`.
pub fn parse_dotenv(text: &str, outer: &dyn Fn(&str) -> Option<String>) -> Result<Vec<(String, String)>, String> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, raw)) = lines.next() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let (key, value) = match line.find('=') {
            Some(eq) => (line[..eq].trim(), Some(&line[eq + 1..])),
            None => (line.trim(), None),
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("line {}: unexpected character in variable name {key:?}", n + 1));
        }
        let Some(value) = value else {
            if let Some(v) = outer(key) {
                vars.push((key.to_string(), v));
            }
            continue;
        };
        let value = value.trim_start();
        let lookup = |k: &str| vars.iter().rev().find(|(vk, _)| vk == k).map(|(_, v)| v.clone()).or_else(|| outer(k));
        let parsed = if let Some(q) = value.strip_prefix('\'') {
            let mut body = q.to_string();
            while !body.contains('\'') {
                let Some((_, more)) = lines.next() else {
                    return Err(format!("line {}: unterminated quoted value", n + 1));
                };
                body.push('\n');
                body.push_str(more);
            }
            body[..body.find('\'').unwrap_or(body.len())].to_string()
        } else if let Some(q) = value.strip_prefix('"') {
            let mut body = q.to_string();
            let end = loop {
                if let Some(e) = closing_quote(&body) {
                    break e;
                }
                let Some((_, more)) = lines.next() else {
                    return Err(format!("line {}: unterminated quoted value", n + 1));
                };
                body.push('\n');
                body.push_str(more);
            };
            let unescaped = unescape(&body[..end]);
            substitute(&unescaped, &lookup, &mut Vec::new()).unwrap_or(unescaped)
        } else {
            let v = match value.find(" #") {
                Some(c) => &value[..c],
                None => value,
            }
            .trim();
            substitute(v, &lookup, &mut Vec::new()).unwrap_or_else(|_| v.to_string())
        };
        vars.push((key.to_string(), parsed));
    }
    Ok(vars)
}

fn closing_quote(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(s: &str) -> Result<String, Fault> {
        let env = |k: &str| match k {
            "A" => Some("a".to_string()),
            "E" => Some(String::new()),
            _ => None,
        };
        substitute(s, &env, &mut Vec::new())
    }

    #[test]
    fn forms() {
        assert_eq!(sub("$A-${A}").unwrap(), "a-a");
        assert_eq!(sub("${U:-d}|${E:-d}|${E-d}|${U-d}").unwrap(), "d|d||d");
        assert_eq!(sub("${A:+x}|${E:+x}|${E+x}|${U+x}").unwrap(), "x||x|");
        assert_eq!(sub("$$A $${A}").unwrap(), "$A ${A}");
        assert_eq!(sub("${U:-${V:-${A}}}/x").unwrap(), "a/x");
        assert_eq!(sub("${A:?boom}").unwrap(), "a");
        assert_eq!(
            sub("${U:?needs U}").unwrap_err(),
            Fault::Required("required variable U is missing a value: needs U".into())
        );
        assert!(matches!(sub("${E:?x}"), Err(Fault::Required(_))));
        assert_eq!(sub("${E?x}").unwrap(), "");
        assert_eq!(sub("${ A}"), Err(Fault::Invalid));
        assert_eq!(sub("a $ b 5$").unwrap(), "a $ b 5$");
        assert_eq!(sub("${}"), Err(Fault::Invalid));
        assert_eq!(sub("${A"), Err(Fault::Invalid));
    }

    #[test]
    fn variables_as_compose_lists_them() {
        let mut out = BTreeMap::new();
        variables("$A ${B:?need} ${C:-${D-x}} ${E+alt} $$F ${G}", &mut out);
        let v = |n: &str| out[n].clone();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["A", "B", "C", "D", "E", "G"]);
        assert!(v("B").required);
        assert_eq!(v("C").default, "${D-x}");
        assert_eq!(v("D").default, "x");
        assert_eq!(v("E").alternate, "alt");
    }

    #[test]
    fn unset_is_blank_and_reported() {
        let mut unset = Vec::new();
        let v = substitute("x${NOPE}y$NOPE2", &|_: &str| None, &mut unset).unwrap();
        assert_eq!(v, "xy");
        assert_eq!(unset, ["NOPE", "NOPE2"]);
    }

    #[test]
    fn dotenv() {
        let text = "# c\nexport A=1\nB = two words # note\nC='lit $A'\nD=\"x\\ny $A\"\nE=${A}0\nF\nG=\n";
        let outer = |k: &str| (k == "F").then(|| "from-env".to_string());
        let v = parse_dotenv(text, &outer).unwrap();
        let get = |k: &str| v.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("two words"));
        assert_eq!(get("C"), Some("lit $A"));
        assert_eq!(get("D"), Some("x\ny 1"));
        assert_eq!(get("E"), Some("10"));
        assert_eq!(get("F"), Some("from-env"));
        assert_eq!(get("G"), Some(""));
    }
}
