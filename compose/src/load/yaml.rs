//! YAML to a JSON tree, keeping the line of every key.
//!
//! Compose files are YAML with anchors, aliases and merge keys (`<<`), and errors must name
//! the line of the key they are about. `yaml-rust2`'s event parser gives a position for every
//! event, so the tree is built here from its events: aliases are copies of their anchor's
//! node, merge keys are applied as YAML 1.1 defines them (explicit keys win, earlier merged
//! maps win over later ones), and scalars are typed by the YAML 1.2 core schema, as go-yaml v3
//! (Compose v2's parser) types them. Compose's own tags `!reset` and `!override` survive as
//! one-key marker objects ([`RESET`], [`OVERRIDE`]) for the merge to act on.

use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The marker key of a `!reset` node: the key is removed from what it merges into.
pub const RESET: &str = "\u{0}!reset";
/// The marker key of an `!override` node: the value replaces what it merges into whole.
pub const OVERRIDE: &str = "\u{0}!override";

/// A parsed document and the line (1-based) of each key, by dotted path (`services.web.ports`,
/// list items by index: `services.web.ports.0`).
#[derive(Debug, Default, Clone)]
pub struct Doc {
    pub value: Value,
    pub lines: HashMap<String, usize>,
}

/// Parses the first YAML document of `text`; the error is `line N: what`, for the caller to
/// prefix the file.
pub fn parse(text: &str) -> Result<Doc, String> {
    Ok(parse_all(text)?.into_iter().next().unwrap_or_default())
}

/// Parses every document of `text` (`---` separated; an empty text is one empty document).
pub fn parse_all(text: &str) -> Result<Vec<Doc>, String> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut b, true).map_err(|e| {
        format!(
            "line {}: {}",
            e.marker().line(),
            // The scanner's text ends with its own position; the line is said once, first.
            e.to_string().split(" at byte ").next().unwrap_or_default().trim()
        )
    })?;
    if let Some(e) = b.error {
        return Err(e);
    }
    if b.roots.is_empty() {
        b.roots.push(Node { kind: Kind::Scalar(Value::Null), line: 1 });
    }
    Ok(b.roots
        .into_iter()
        .map(|node| {
            let mut doc = Doc::default();
            doc.value = node.into_value("", &mut doc.lines);
            doc
        })
        .collect())
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    line: usize,
}

#[derive(Debug, Clone)]
enum Kind {
    Scalar(Value),
    Seq(Vec<Node>),
    /// Keys in order, with their lines; merge keys already applied.
    Map(Vec<(String, usize, Node)>),
    /// A node tagged `!reset` or `!override`.
    Tagged(&'static str, Box<Node>),
}

impl Node {
    fn into_value(self, path: &str, lines: &mut HashMap<String, usize>) -> Value {
        match self.kind {
            Kind::Scalar(v) => v,
            Kind::Seq(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, n)| {
                        let p = join(path, &i.to_string());
                        lines.entry(p.clone()).or_insert(n.line);
                        n.into_value(&p, lines)
                    })
                    .collect(),
            ),
            Kind::Map(entries) => {
                let mut m = Map::new();
                for (k, line, n) in entries {
                    let p = join(path, &k);
                    lines.insert(p.clone(), line);
                    m.insert(k, n.into_value(&p, lines));
                }
                Value::Object(m)
            }
            Kind::Tagged(marker, inner) => {
                let mut m = Map::new();
                m.insert(marker.to_string(), inner.into_value(path, lines));
                Value::Object(m)
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

enum Frame {
    Seq {
        anchor: usize,
        tag: Option<Tag>,
        line: usize,
        items: Vec<Node>,
    },
    Map {
        anchor: usize,
        tag: Option<Tag>,
        line: usize,
        entries: Vec<(String, usize, Node)>,
        merges: Vec<Node>,
        key: Option<(String, usize)>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    roots: Vec<Node>,
    error: Option<String>,
}

impl Builder {
    fn fail(&mut self, line: usize, msg: String) {
        if self.error.is_none() {
            self.error = Some(format!("line {line}: {msg}"));
        }
    }

    /// A finished node goes to its parent (a sequence item, a map's key or value) or is the root.
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.roots.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, merges, key, .. }) => match key.take() {
                None => {
                    let k = match &node.kind {
                        Kind::Scalar(Value::String(s)) => s.clone(),
                        Kind::Scalar(Value::Null) => "null".to_string(),
                        Kind::Scalar(v) => v.to_string(),
                        _ => {
                            let line = node.line;
                            self.fail(line, "a mapping key must be a scalar".into());
                            return;
                        }
                    };
                    *key = Some((k, node.line));
                }
                Some((k, line)) if k == "<<" => match node.kind {
                    Kind::Map(_) => merges.push(node),
                    Kind::Seq(items) => merges.extend(items),
                    _ => {
                        let _ = line;
                        self.fail(node.line, "merge key `<<` needs a mapping".into());
                    }
                },
                Some((k, line)) => {
                    if entries.iter().any(|(e, _, _)| *e == k) {
                        self.fail(line, format!("mapping key {k:?} already defined"));
                        return;
                    }
                    entries.push((k, line, node));
                }
            },
        }
    }
}

fn tagged(tag: &Option<Tag>, node: Node) -> Node {
    let marker = match tag.as_ref().map(|t| t.suffix.as_str()) {
        Some("reset") => RESET,
        Some("override") => OVERRIDE,
        _ => return node,
    };
    Node { line: node.line, kind: Kind::Tagged(marker, Box::new(node)) }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = mark.line();
        match ev {
            Event::Scalar(s, style, anchor, tag) => {
                let v = scalar(s, style, tag.as_ref());
                let node = tagged(&tag, Node { kind: Kind::Scalar(v), line });
                self.push(node, anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => {
                    let mut n = n.clone();
                    n.line = line;
                    self.push(n, 0)
                }
                None => self.fail(line, "unknown anchor".into()),
            },
            Event::SequenceStart(anchor, tag) => self.stack.push(Frame::Seq { anchor, tag, line, items: Vec::new() }),
            Event::MappingStart(anchor, tag) => {
                self.stack.push(Frame::Map { anchor, tag, line, entries: Vec::new(), merges: Vec::new(), key: None })
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq { anchor, tag, line, items }) = self.stack.pop() {
                    let node = tagged(&tag, Node { kind: Kind::Seq(items), line });
                    self.push(node, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map { anchor, tag, line, mut entries, merges, .. }) = self.stack.pop() {
                    for m in merges {
                        let Kind::Map(from) = m.kind else {
                            self.fail(m.line, "merge key `<<` needs a mapping".into());
                            return;
                        };
                        for (k, l, n) in from {
                            if !entries.iter().any(|(e, _, _)| *e == k) {
                                entries.push((k, l, n));
                            }
                        }
                    }
                    let node = tagged(&tag, Node { kind: Kind::Map(entries), line });
                    self.push(node, anchor);
                }
            }
            _ => {}
        }
    }
}

/// Types a plain scalar by the YAML 1.2 core schema (quoted ones are strings).
fn scalar(s: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(t) = tag {
        if t.handle == "tag:yaml.org,2002:" || t.handle == "!!" {
            match t.suffix.as_str() {
                "str" => return Value::String(s),
                "null" => return Value::Null,
                _ => {}
            }
        }
    }
    if style != TScalarStyle::Plain {
        return Value::String(s);
    }
    match s.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::String(s);
        }
        _ => {}
    }
    if let Some(n) = parse_int(&s) {
        return Value::Number(n.into());
    }
    if looks_float(&s) {
        if let Some(n) = s.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(s)
}

fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let v = if let Some(h) = body.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = body.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit()) {
        // go-yaml reads a leading zero as octal (Go's ParseInt with base 0): `mode: 0440`.
        i64::from_str_radix(body, 8).ok()?
    } else if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        body.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

fn looks_float(s: &str) -> bool {
    let b = s.strip_prefix(['-', '+']).unwrap_or(s);
    !b.is_empty()
        && b.bytes().any(|c| c.is_ascii_digit())
        && b.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'))
        && b.bytes().filter(|c| *c == b'.').count() <= 1
        && (b.contains('.') || b.contains(['e', 'E']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn anchors_merge_keys_and_types() {
        let d = parse(
            "x-base: &b\n  image: a\n  tty: true\nservices:\n  web:\n    <<: *b\n    image: b\n    n: 010\n    p: 80\n    f: 1.5\n    s: '1'\n    z: ~\n",
        )
        .unwrap();
        assert_eq!(
            d.value["services"]["web"],
            json!({"image": "b", "tty": true, "n": 8, "p": 80, "f": 1.5, "s": "1", "z": null})
        );
        assert_eq!(d.lines["services.web.image"], 7);
        assert_eq!(d.lines["services.web"], 5);
    }

    #[test]
    fn several_documents() {
        let docs = parse_all("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].value, json!({"b": 2}));
        assert_eq!(docs[1].lines["b"], 3);
        assert_eq!(parse_all("").unwrap().len(), 1);
    }

    #[test]
    fn syntax_error_names_the_line() {
        let e = parse("services:\n  web:\n    image: [a\n").unwrap_err();
        assert!(e.starts_with("line "), "{e}");
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("already defined"), "{e}");
    }

    #[test]
    fn reset_and_override_tags_are_kept() {
        let d = parse("a: !reset []\nb: !override {x: 1}\n").unwrap();
        assert_eq!(d.value["a"], json!({RESET: []}));
        assert_eq!(d.value["b"], json!({OVERRIDE: {"x": 1}}));
    }
}
