//! The functions a template can call: Go's builtins (`index`, `slice`, `len`, `print`,
//! `printf`, `println`, `eq`…`ge`, `not`, `html`, `js`, `urlquery`, `call`; `and`/`or` are
//! evaluated lazily by the executor) and Docker's (`json`, `split`, `join`, `title`, `lower`,
//! `upper`, `pad`, `truncate`), with Go's argument checks and error texts.

use crate::printf::{sprint, sprintf};
use crate::value::Value;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// How a function failed: `Call` errors are reported as `error calling NAME: …` at the
/// command, `Plain` ones as they are at the node being evaluated.
pub(crate) enum FnErr {
    Call(String),
    Plain(String),
}

type R = Result<Value, FnErr>;

const BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge",
    "html", "js", "urlquery", "call",
];

/// Docker's `templates.basicFunctions`.
const DOCKER: &[&str] = &["json", "split", "join", "title", "lower", "upper", "pad", "truncate"];

/// The functions Docker replaces while rendering a table's header: they return their first
/// argument (a header) as it is.
pub(crate) const HEADER_FUNCS: &[&str] = DOCKER;

pub(crate) fn defined(name: &str) -> bool {
    BUILTINS.contains(&name) || DOCKER.contains(&name)
}

/// Go checks the number of arguments before evaluating them: `None` when it is right.
pub(crate) fn arity(name: &str, given: usize) -> Option<String> {
    let (n, variadic) = match name {
        "not" | "len" | "json" | "title" | "lower" | "upper" => (1, false),
        "ne" | "lt" | "le" | "gt" | "ge" | "split" | "join" | "truncate" => (2, false),
        "pad" => (3, false),
        "and" | "or" | "eq" | "index" | "slice" | "printf" | "call" => (1, true),
        _ => (0, true),
    };
    match variadic {
        false if given != n => Some(format!("wrong number of args for {name}: want {n} got {given}")),
        true if given < n => Some(format!("wrong number of args for {name}: want at least {n} got {given}")),
        _ => None,
    }
}

/// The Go types of a function's parameters, the last one repeating (`any` takes anything).
pub(crate) fn signature(name: &str) -> &'static [&'static str] {
    match name {
        "split" => &["string", "string"],
        "join" => &["[]string", "string"],
        "title" | "lower" | "upper" => &["string"],
        "pad" => &["string", "int", "int"],
        "truncate" => &["string", "int"],
        "printf" => &["string", "any"],
        _ => &[],
    }
}

fn s(v: String) -> R {
    Ok(Value::Str(v))
}

fn string_arg(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn int_arg(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        _ => 0,
    }
}

/// Go's `evalArgs` for `html`, `js`, `urlquery`: one string as it is, else `fmt.Sprint`.
fn eval_args(args: &[Value]) -> String {
    match args {
        [Value::Str(s)] => s.clone(),
        _ => sprint(args),
    }
}

pub(crate) fn call(name: &str, args: &[Value], raw: bool) -> R {
    match name {
        "json" => s(args[0].to_json()),
        "split" => {
            let (text, sep) = (string_arg(&args[0]), string_arg(&args[1]));
            // Go splits after each UTF-8 sequence when the separator is empty.
            let parts: Vec<Value> = if sep.is_empty() {
                text.chars().map(|c| Value::Str(c.into())).collect()
            } else {
                text.split(sep.as_str()).map(|p| Value::Str(p.into())).collect()
            };
            Ok(Value::List(parts))
        }
        "join" => {
            let Value::List(l) = &args[0] else { unreachable!("checked as []string") };
            s(l.iter().map(string_arg).collect::<Vec<_>>().join(&string_arg(&args[1])))
        }
        "title" => {
            let mut up = true;
            s(string_arg(&args[0])
                .chars()
                .map(|c| {
                    let out = if up { c.to_uppercase().collect::<String>() } else { c.to_string() };
                    up = !c.is_alphanumeric() && c != '_' && c != '\'';
                    out
                })
                .collect())
        }
        "lower" => s(string_arg(&args[0]).to_lowercase()),
        "upper" => s(string_arg(&args[0]).to_uppercase()),
        "pad" => {
            let text = string_arg(&args[0]);
            // Docker pads only what is not empty.
            if text.is_empty() {
                return s(text);
            }
            let (l, r) = (int_arg(&args[1]).max(0) as usize, int_arg(&args[2]).max(0) as usize);
            s(format!("{}{text}{}", " ".repeat(l), " ".repeat(r)))
        }
        "truncate" => {
            let n = int_arg(&args[1]).max(0) as usize;
            s(string_arg(&args[0]).chars().take(n).collect())
        }
        "print" => s(sprint(args)),
        "println" => {
            let parts: Vec<String> = args.iter().map(nested).collect();
            s(parts.join(" ") + "\n")
        }
        "printf" => s(sprintf(&string_arg(&args[0]), &args[1..])),
        "html" => s(html(&eval_args(args))),
        "js" => s(js(&eval_args(args))),
        "urlquery" => s(urlquery(&eval_args(args))),
        "index" => index(&args[0], &args[1..], raw),
        "slice" => slice(&args[0], &args[1..]),
        "len" => match &args[0] {
            Value::Str(x) => Ok(Value::Int(x.len() as i64)),
            Value::List(l) => Ok(Value::Int(l.len() as i64)),
            Value::Map(m) => Ok(Value::Int(m.len() as i64)),
            Value::NilOf(_) => Ok(Value::Int(0)),
            Value::Missing | Value::Nil => Err(FnErr::Call("len of nil pointer".into())),
            other => Err(FnErr::Call(format!("len of type {}", other.type_name(raw)))),
        },
        "not" => Ok(Value::Bool(!args[0].truth())),
        "eq" => {
            if args.len() < 2 {
                return Err(FnErr::Call("missing argument for comparison".into()));
            }
            for b in &args[1..] {
                if eq(&args[0], b, raw)? {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" => Ok(Value::Bool(!eq(&args[0], &args[1], raw)?)),
        "lt" => Ok(Value::Bool(lt(&args[0], &args[1])?)),
        "le" => Ok(Value::Bool(lt(&args[0], &args[1])? || eq(&args[0], &args[1], raw)?)),
        "gt" => Ok(Value::Bool(!(lt(&args[0], &args[1])? || eq(&args[0], &args[1], raw)?))),
        "ge" => Ok(Value::Bool(!lt(&args[0], &args[1])?)),
        "call" => Err(FnErr::Call(format!("non-function {} of type {}", args[0].go_string(), args[0].type_name(raw)))),
        other => Err(FnErr::Plain(format!("function {other:?} not defined"))),
    }
}

/// A value as `fmt` prints an operand: an invalid one is a nil interface.
fn nested(v: &Value) -> String {
    match v {
        Value::Missing => "<nil>".into(),
        other => other.go_string(),
    }
}

/// Go's `basicKind`: comparable scalars, `None` for everything else.
fn kind(v: &Value) -> Option<u8> {
    match v {
        Value::Bool(_) => Some(1),
        Value::Int(_) => Some(2),
        Value::Float(_) => Some(3),
        Value::Str(_) => Some(4),
        _ => None,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

/// Go's `eq` of two values (`raw` names types as Docker's retry on the raw JSON does).
fn eq(a: &Value, b: &Value, raw: bool) -> Result<bool, FnErr> {
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        // Values of different kinds are an error, unless one is missing (never equal).
        if !matches!(a, Value::Missing) && !matches!(b, Value::Missing) {
            return Err(FnErr::Call(BAD_COMPARISON.into()));
        }
        return Ok(false);
    }
    match (a, b) {
        (Value::List(_) | Value::Map(_) | Value::Struct(_), _) => {
            Err(FnErr::Call(format!("non-comparable type {}: {}", a.go_string(), a.type_name(raw))))
        }
        _ => Ok(a == b),
    }
}

fn lt(a: &Value, b: &Value) -> Result<bool, FnErr> {
    let (Some(ka), Some(kb)) = (kind(a), kind(b)) else {
        return Err(FnErr::Call(BAD_COMPARISON_TYPE.into()));
    };
    if ka != kb {
        return Err(FnErr::Call(BAD_COMPARISON.into()));
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y) == Some(Ordering::Less),
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => return Err(FnErr::Call(BAD_COMPARISON_TYPE.into())),
    })
}

/// Go's `index`: maps by key, slices and strings by position; a key a map lacks is the zero
/// value of its element type (`""` for a map of strings such as labels).
fn index(item: &Value, keys: &[Value], raw: bool) -> R {
    let mut cur = item.clone();
    for key in keys {
        // A nil slice or map indexes as an empty one.
        let empty = match &cur {
            Value::NilOf(true) => Some(Value::List(Vec::new())),
            Value::NilOf(false) => Some(Value::Map(BTreeMap::new())),
            _ => None,
        };
        if let Some(e) = empty {
            cur = e;
        }
        cur = match (&cur, key) {
            (Value::Missing, _) => return Err(FnErr::Call("index of untyped nil".into())),
            (Value::Nil, _) => return Err(FnErr::Call("index of nil pointer".into())),
            (Value::Map(m), Value::Str(k)) => match m.get(k) {
                Some(v) => v.clone(),
                None => match m.values().next() {
                    None | Some(Value::Str(_)) => Value::Str(String::new()),
                    Some(Value::List(_)) => Value::List(Vec::new()),
                    Some(Value::Map(_)) => Value::Map(Default::default()),
                    Some(_) => Value::Nil,
                },
            },
            // Docker retries a failed inspect template on the raw JSON, where a struct is a map.
            (Value::Struct(st), Value::Str(k)) if st.type_name.is_none() => {
                st.field(k).cloned().unwrap_or(Value::Missing)
            }
            (Value::Map(_), k) => {
                return Err(FnErr::Call(format!("value has type {}; should be string", k.type_name(false))))
            }
            (Value::List(l), Value::Int(i)) => {
                usize::try_from(*i).ok().and_then(|i| l.get(i)).cloned().ok_or_else(|| out_of_range(*i))?
            }
            (Value::Str(text), Value::Int(i)) => {
                let byte = usize::try_from(*i).ok().and_then(|i| text.as_bytes().get(i).copied());
                Value::Int(byte.ok_or_else(|| out_of_range(*i))? as i64)
            }
            (Value::List(_) | Value::Str(_), k) => {
                return Err(FnErr::Call(format!("cannot index slice/array with type {}", k.type_name(raw))))
            }
            (other, _) => return Err(FnErr::Call(format!("can't index item of type {}", other.type_name(raw)))),
        };
    }
    Ok(cur)
}

fn out_of_range(i: i64) -> FnErr {
    FnErr::Call(format!("index out of range: {i}"))
}

/// Go's `slice`: `slice x 1 2` is `x[1:2]`.
fn slice(item: &Value, idx: &[Value]) -> R {
    let empty = Value::List(Vec::new());
    let item = if matches!(item, Value::NilOf(true)) { &empty } else { item };
    let len = match item {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Missing | Value::Nil => return Err(FnErr::Call("slice of untyped nil".into())),
        other => return Err(FnErr::Call(format!("can't slice item of type {}", other.type_name(false)))),
    };
    let max = if matches!(item, Value::Str(_)) { 2 } else { 3 };
    if idx.len() > max {
        return Err(FnErr::Call(format!("too many slice indexes: {}", idx.len())));
    }
    let mut bounds = [0usize, len, len];
    for (n, v) in idx.iter().enumerate() {
        let Value::Int(i) = v else {
            return Err(FnErr::Call(format!("cannot index slice/array with type {}", v.type_name(false))));
        };
        let i = usize::try_from(*i).ok().filter(|i| *i <= len).ok_or_else(|| out_of_range(*i))?;
        bounds[n] = i;
    }
    if idx.len() < 2 {
        bounds[1] = len;
    }
    if bounds[0] > bounds[1] {
        return Err(FnErr::Call(format!("invalid slice index: {} > {}", bounds[0], bounds[1])));
    }
    Ok(match item {
        Value::Str(s) => Value::Str(String::from_utf8_lossy(&s.as_bytes()[bounds[0]..bounds[1]]).into_owned()),
        Value::List(l) => Value::List(l[bounds[0]..bounds[1]].to_vec()),
        _ => unreachable!("checked above"),
    })
}

/// Go's `template.HTMLEscapeString`.
fn html(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
fn js(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 || c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
fn urlquery(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printf::go_quote;

    #[test]
    fn escapers_like_go() {
        assert_eq!(html("<a&>\"'"), "&lt;a&amp;&gt;&#34;&#39;");
        assert_eq!(js("a'b<"), "a\\'b\\u003C");
        assert_eq!(js("x=\"\n"), "x\\u003D\\\"\\u000A");
        assert_eq!(urlquery("a b&c/é"), "a+b%26c%2F%C3%A9");
        assert_eq!(go_quote("a\"b\n\x01é"), "\"a\\\"b\\n\\x01é\"");
    }
}
