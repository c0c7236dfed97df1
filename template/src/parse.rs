//! The parser: tokens into Go's parse tree (`if`/`else if`, `range` with `else`, `break` and
//! `continue`, `with`/`else with`, `define`/`template`/`block`, pipelines with `:=` and `=`,
//! parenthesised pipelines, field chains), with Go's parse-time checks (undefined variables
//! and functions, `{{break}}` outside `{{range}}`) and messages.

use crate::lex::{parse_error, unescape_char, Tok, Token};
use crate::value::Value;
use crate::Error;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If { pipe: Pipe, list: Vec<Node>, otherwise: Vec<Node> },
    Range { pipe: Pipe, list: Vec<Node>, otherwise: Vec<Node> },
    With { pipe: Pipe, list: Vec<Node>, otherwise: Vec<Node> },
    Break,
    Continue,
    Template { name: String, pipe: Option<Pipe>, pos: usize, text: String },
}

#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub decl: Vec<String>,
    /// `$x = ...` assigns an existing variable instead of declaring one.
    pub is_assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Dot,
    Nil {
        pos: usize,
    },
    Lit {
        value: Value,
        pos: usize,
        text: String,
    },
    /// `.A.B` (names after the dot).
    Field {
        names: Vec<String>,
        pos: usize,
    },
    /// `$x.A.B`.
    Var {
        name: String,
        names: Vec<String>,
        pos: usize,
    },
    /// A function's name.
    Func {
        name: String,
        pos: usize,
    },
    /// `(pipeline)`.
    Pipe {
        pipe: Box<Pipe>,
        pos: usize,
    },
    /// `(pipeline).A.B` and other chains on a term.
    Chain {
        base: Box<Arg>,
        names: Vec<String>,
        pos: usize,
    },
}

impl Pipe {
    /// Go's `PipeNode.String()`.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if !self.decl.is_empty() {
            s.push_str(&self.decl.join(", "));
            s.push_str(if self.is_assign { " = " } else { " := " });
        }
        s.push_str(&self.cmds.iter().map(Cmd::text).collect::<Vec<_>>().join(" | "));
        s
    }
}

impl Cmd {
    /// Go's `CommandNode.String()`.
    pub fn text(&self) -> String {
        self.args.iter().map(Arg::text).collect::<Vec<_>>().join(" ")
    }
}

impl Arg {
    /// Go's `String()` of the node.
    pub fn text(&self) -> String {
        let chain = |names: &[String]| names.iter().map(|n| format!(".{n}")).collect::<String>();
        match self {
            Arg::Dot => ".".into(),
            Arg::Nil { .. } => "nil".into(),
            Arg::Lit { text, .. } => text.clone(),
            Arg::Field { names, .. } => chain(names),
            Arg::Var { name, names, .. } => format!("{name}{}", chain(names)),
            Arg::Func { name, .. } => name.clone(),
            Arg::Pipe { pipe, .. } => format!("({})", pipe.text()),
            Arg::Chain { base, names, .. } => format!("{}{}", base.text(), chain(names)),
        }
    }

    pub fn pos(&self) -> usize {
        match self {
            Arg::Dot => 0,
            Arg::Nil { pos }
            | Arg::Lit { pos, .. }
            | Arg::Field { pos, .. }
            | Arg::Var { pos, .. }
            | Arg::Func { pos, .. }
            | Arg::Pipe { pos, .. }
            | Arg::Chain { pos, .. } => *pos,
        }
    }
}

pub(crate) struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    at: usize,
    vars: Vec<String>,
    range_depth: usize,
    funcs: &'s dyn Fn(&str) -> bool,
    pub defines: BTreeMap<String, Vec<Node>>,
}

/// What stopped a list: `{{end}}`, `{{else}}` (with the keyword after it, for `else if`), or
/// the end of the template.
enum Stop {
    End,
    Else(Option<&'static str>, usize),
    Eof,
}

impl<'s> Parser<'s> {
    pub fn new(src: &'s str, toks: Vec<Token>, funcs: &'s dyn Fn(&str) -> bool) -> Self {
        Parser { src, toks, at: 0, vars: vec!["$".into()], range_depth: 0, funcs, defines: BTreeMap::new() }
    }

    fn err(&self, pos: usize, msg: &str) -> Error {
        parse_error(self.src, pos, msg)
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(Token { tok: Tok::Space, .. })) {
            self.at += 1;
        }
    }

    fn next_non_space(&mut self) -> Option<Token> {
        self.skip_space();
        self.next()
    }

    fn peek_non_space(&mut self) -> Option<Token> {
        self.skip_space();
        self.peek().cloned()
    }

    fn eof_pos(&self) -> usize {
        self.src.len()
    }

    /// Go's `unexpected %s in %s`, with the token as Go's `item.String()` shows it.
    fn unexpected(&self, t: Option<&Token>, context: &str) -> Error {
        let Some(t) = t else {
            return self.err(self.eof_pos(), &format!("unexpected EOF in {context}"));
        };
        let shown = match &t.tok {
            Tok::Keyword(k) => format!("<{k}>"),
            _ if t.text.chars().count() > 10 => format!("{:?}...", t.text.chars().take(10).collect::<String>()),
            _ => format!("{:?}", t.text),
        };
        self.err(t.pos, &format!("unexpected {shown} in {context}"))
    }

    /// The whole template: the main list, with `{{define}}`s collected.
    pub fn parse(&mut self) -> Result<Vec<Node>, Error> {
        let mut nodes = Vec::new();
        loop {
            let save = self.at;
            if let Some(Token { tok: Tok::Open, .. }) = self.peek() {
                self.at += 1;
                if let Some(Token { tok: Tok::Keyword("define"), .. }) = self.peek_non_space() {
                    self.next_non_space();
                    self.definition()?;
                    continue;
                }
                self.at = save;
            }
            match self.list_item()? {
                Some(Ok(n)) => nodes.push(n),
                Some(Err(stop)) => {
                    let what = match stop {
                        Stop::End => "{{end}}".to_string(),
                        Stop::Else(..) => "{{else}}".to_string(),
                        Stop::Eof => unreachable!("list_item returns None at the end"),
                    };
                    return Err(self.err(self.toks[self.at - 1].pos, &format!("unexpected {what}")));
                }
                None => return Ok(nodes),
            }
        }
    }

    /// `{{define "name"}}...{{end}}`: the `define` keyword has been read.
    fn definition(&mut self) -> Result<(), Error> {
        let name = match self.next_non_space() {
            Some(Token { tok: Tok::Str(s), .. }) => s,
            t => return Err(self.unexpected(t.as_ref(), "define clause")),
        };
        match self.next_non_space() {
            Some(Token { tok: Tok::Close, .. }) => {}
            t => return Err(self.unexpected(t.as_ref(), "define clause")),
        }
        let vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, stop) = self.list()?;
        self.vars = vars;
        match stop {
            Stop::End => {}
            Stop::Else(_, pos) => return Err(self.err(pos, "unexpected {{else}}")),
            Stop::Eof => return Err(self.err(self.eof_pos(), "unexpected EOF")),
        }
        self.defines.insert(name, list);
        Ok(())
    }

    /// Nodes up to `{{end}}`, `{{else}}` or the end.
    fn list(&mut self) -> Result<(Vec<Node>, Stop), Error> {
        let mut nodes = Vec::new();
        loop {
            match self.list_item()? {
                Some(Ok(n)) => nodes.push(n),
                Some(Err(stop)) => return Ok((nodes, stop)),
                None => return Ok((nodes, Stop::Eof)),
            }
        }
    }

    /// One text or action; `Err(stop)` for `{{end}}` and `{{else}}`, `None` at the end.
    fn list_item(&mut self) -> Result<Option<Result<Node, Stop>>, Error> {
        let Some(t) = self.next() else { return Ok(None) };
        match t.tok {
            Tok::Text(s) => Ok(Some(Ok(Node::Text(s)))),
            Tok::Open => self.action().map(Some),
            _ => Err(self.unexpected(Some(&t), "input")),
        }
    }

    /// After `{{`.
    fn action(&mut self) -> Result<Result<Node, Stop>, Error> {
        let t = self.peek_non_space();
        let kw = match &t {
            Some(Token { tok: Tok::Keyword(k), .. }) => Some(*k),
            _ => None,
        };
        let pos = t.as_ref().map(|t| t.pos).unwrap_or(self.eof_pos());
        match kw {
            Some("end") => {
                self.next_non_space();
                self.close("end")?;
                Ok(Err(Stop::End))
            }
            Some("else") => {
                self.next_non_space();
                match self.peek_non_space() {
                    Some(Token { tok: Tok::Keyword(k @ ("if" | "with")), .. }) => Ok(Err(Stop::Else(Some(k), pos))),
                    _ => {
                        self.close("else")?;
                        Ok(Err(Stop::Else(None, pos)))
                    }
                }
            }
            Some(k @ ("if" | "with" | "range")) => {
                self.next_non_space();
                self.control(k).map(Ok)
            }
            Some(k @ ("break" | "continue")) => {
                self.next_non_space();
                if self.range_depth == 0 {
                    return Err(self.err(pos, &format!("{{{{{k}}}}} outside {{{{range}}}}")));
                }
                let t = self.next_non_space();
                if !matches!(t, Some(Token { tok: Tok::Close, .. })) {
                    return Err(self.unexpected(t.as_ref(), &format!("{{{{{k}}}}}")));
                }
                Ok(Ok(if k == "break" { Node::Break } else { Node::Continue }))
            }
            Some("template") => {
                self.next_non_space();
                self.template("template").map(Ok)
            }
            Some("block") => {
                self.next_non_space();
                let node = self.template("block")?;
                let Node::Template { name, .. } = &node else { unreachable!() };
                let name = name.clone();
                let vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
                let (list, stop) = self.list()?;
                self.vars = vars;
                match stop {
                    Stop::End => {}
                    Stop::Else(_, p) => return Err(self.err(p, "unexpected {{else}}")),
                    Stop::Eof => return Err(self.err(self.eof_pos(), "unexpected EOF")),
                }
                self.defines.insert(name, list);
                Ok(Ok(node))
            }
            _ => Ok(Ok(Node::Action(self.pipeline("command", false)?))),
        }
    }

    fn close(&mut self, context: &str) -> Result<(), Error> {
        let t = self.next_non_space();
        match t {
            Some(Token { tok: Tok::Close, .. }) => Ok(()),
            t => Err(self.unexpected(t.as_ref(), context)),
        }
    }

    /// `{{template "name" pipeline}}` / `{{block ...}}`: the keyword has been read.
    fn template(&mut self, context: &str) -> Result<Node, Error> {
        let context = format!("{context} clause");
        let (name, pos, quoted) = match self.next_non_space() {
            Some(Token { tok: Tok::Str(s), pos, text }) => (s, pos, text),
            t => return Err(self.unexpected(t.as_ref(), &context)),
        };
        let pipe = match self.peek_non_space() {
            Some(Token { tok: Tok::Close, .. }) => {
                self.next_non_space();
                None
            }
            _ => Some(self.pipeline(&context, false)?),
        };
        let text = match &pipe {
            Some(p) => format!("{{{{template {quoted} {}}}}}", p.text()),
            None => format!("{{{{template {quoted}}}}}"),
        };
        Ok(Node::Template { name, pipe, pos, text })
    }

    /// `if`, `with`, `range`: the keyword has been read.
    fn control(&mut self, kw: &'static str) -> Result<Node, Error> {
        let mark = self.vars.len();
        let pipe = self.pipeline(kw, false)?;
        if kw == "range" {
            self.range_depth += 1;
        }
        let (list, stop) = self.list()?;
        if kw == "range" {
            self.range_depth -= 1;
        }
        let otherwise = match stop {
            Stop::End => Vec::new(),
            Stop::Eof => return Err(self.err(self.eof_pos(), "unexpected EOF")),
            // `{{else if …}}` in an `if`, `{{else with …}}` in a `with`: a nested control
            // sharing the outer `{{end}}`.
            Stop::Else(Some(k), _) if k == kw => {
                self.next_non_space();
                vec![self.control(kw)?]
            }
            Stop::Else(Some(_), pos) => {
                let t = self.peek_non_space();
                return Err(
                    self.unexpected(t.as_ref().or(Some(&Token { tok: Tok::Space, pos, text: "else".into() })), "else")
                );
            }
            Stop::Else(None, _) => {
                let (list, stop) = self.list()?;
                match stop {
                    Stop::End => list,
                    Stop::Else(_, pos) => return Err(self.err(pos, "expected end; found {{else}}")),
                    Stop::Eof => return Err(self.err(self.eof_pos(), "unexpected EOF")),
                }
            }
        };
        self.vars.truncate(mark);
        Ok(match kw {
            "if" => Node::If { pipe, list, otherwise },
            "range" => Node::Range { pipe, list, otherwise },
            _ => Node::With { pipe, list, otherwise },
        })
    }

    /// A pipeline up to `}}` (or `)` inside parentheses).
    fn pipeline(&mut self, context: &str, paren: bool) -> Result<Pipe, Error> {
        let mut pipe = Pipe { decl: Vec::new(), is_assign: false, cmds: Vec::new() };
        let start = self.peek_non_space().map(|t| t.pos).unwrap_or(self.eof_pos());
        // Declarations: `$x :=`, `$x =`, `$i, $e :=` (range only).
        loop {
            let save = self.at;
            let Some(Token { tok: Tok::Var(name), pos, .. }) = self.peek_non_space() else { break };
            self.next_non_space();
            match self.peek_non_space().map(|t| t.tok) {
                Some(Tok::Declare) | Some(Tok::Assign) => {
                    let t = self.next_non_space().expect("peeked");
                    pipe.is_assign = t.tok == Tok::Assign;
                    if pipe.is_assign && !self.vars.contains(&name) {
                        return Err(self.err(pos, &format!("undefined variable {name:?}")));
                    }
                    pipe.decl.push(name.clone());
                    if !pipe.is_assign {
                        self.vars.push(name);
                    }
                    break;
                }
                Some(Tok::Comma) => {
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().map(|t| t.tok) {
                            Some(Tok::Var(_)) => continue,
                            _ => return Err(self.err(pos, "range can only initialize variables")),
                        }
                    }
                    return Err(self.err(pos, &format!("too many declarations in {context}")));
                }
                _ => {
                    self.at = save;
                    break;
                }
            }
        }
        loop {
            let t = self.peek_non_space();
            match t.as_ref().map(|t| &t.tok) {
                Some(Tok::Close) if !paren => {
                    self.next_non_space();
                    break;
                }
                Some(Tok::RParen) if paren => {
                    self.next_non_space();
                    break;
                }
                Some(
                    Tok::Bool(_)
                    | Tok::Char(_)
                    | Tok::Dot
                    | Tok::Field(_)
                    | Tok::Ident(_)
                    | Tok::Number(_)
                    | Tok::Nil
                    | Tok::Str(_)
                    | Tok::Var(_)
                    | Tok::LParen,
                ) => pipe.cmds.push(self.command()?),
                _ => return Err(self.unexpected(t.as_ref(), context)),
            }
        }
        if pipe.cmds.is_empty() {
            return Err(self.err(start, &format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(c.args[0], Arg::Dot | Arg::Nil { .. } | Arg::Lit { .. }) {
                return Err(self.err(c.pos, &format!("non executable command in pipeline stage {}", i + 1)));
            }
        }
        Ok(pipe)
    }

    /// One command: operands up to `|`, `}}` or `)`.
    fn command(&mut self) -> Result<Cmd, Error> {
        let pos = self.peek_non_space().map(|t| t.pos).unwrap_or(self.eof_pos());
        let mut args = Vec::new();
        loop {
            self.skip_space();
            if let Some(a) = self.operand()? {
                args.push(a);
            }
            let t = self.peek().cloned();
            match t.as_ref().map(|t| &t.tok) {
                Some(Tok::Space) => continue,
                Some(Tok::Close | Tok::RParen) => break,
                Some(Tok::Pipe) => {
                    self.next();
                    break;
                }
                _ => return Err(self.unexpected(t.as_ref(), "operand")),
            }
        }
        if args.is_empty() {
            return Err(self.err(pos, "empty command"));
        }
        Ok(Cmd { pos, args })
    }

    /// A term and the field chain after it.
    fn operand(&mut self) -> Result<Option<Arg>, Error> {
        let Some(term) = self.term()? else { return Ok(None) };
        let mut names = Vec::new();
        let mut chain_pos = None;
        while let Some(Token { tok: Tok::Field(f), pos, .. }) = self.peek().cloned() {
            chain_pos.get_or_insert(pos);
            names.push(f);
            self.next();
        }
        let Some(pos) = chain_pos else { return Ok(Some(term)) };
        // Go places a chain at its second element.
        Ok(Some(match term {
            Arg::Field { names: mut first, .. } => {
                first.extend(names);
                Arg::Field { names: first, pos }
            }
            Arg::Var { name, names: mut first, .. } => {
                first.extend(names);
                Arg::Var { name, names: first, pos }
            }
            Arg::Dot | Arg::Nil { .. } | Arg::Lit { .. } => {
                return Err(self.err(pos, &format!("unexpected . after term {:?}", term.text())));
            }
            other => Arg::Chain { base: Box::new(other), names, pos },
        }))
    }

    fn term(&mut self) -> Result<Option<Arg>, Error> {
        let Some(t) = self.peek().cloned() else { return Ok(None) };
        let pos = t.pos;
        let arg = match t.tok {
            Tok::Ident(name) => {
                if !(self.funcs)(&name) {
                    return Err(self.err(pos, &format!("function {name:?} not defined")));
                }
                Arg::Func { name, pos }
            }
            Tok::Dot => Arg::Dot,
            Tok::Nil => Arg::Nil { pos },
            Tok::Var(name) => {
                if !self.vars.contains(&name) {
                    return Err(self.err(pos, &format!("undefined variable {name:?}")));
                }
                Arg::Var { name, names: Vec::new(), pos }
            }
            Tok::Field(f) => Arg::Field { names: vec![f], pos },
            Tok::Bool(b) => Arg::Lit { value: Value::Bool(b), pos, text: t.text.clone() },
            Tok::Str(s) => Arg::Lit { value: Value::Str(s), pos, text: t.text.clone() },
            Tok::Number(n) => Arg::Lit { value: self.number(&n, pos)?, pos, text: n },
            Tok::Char(c) => {
                let v = char_value(&c).ok_or_else(|| self.err(pos, &format!("malformed character constant: {c}")))?;
                Arg::Lit { value: Value::Int(v), pos, text: c }
            }
            Tok::LParen => {
                self.next();
                let pipe = self.pipeline("parenthesized pipeline", true)?;
                return Ok(Some(Arg::Pipe { pipe: Box::new(pipe), pos }));
            }
            _ => return Ok(None),
        };
        self.next();
        Ok(Some(arg))
    }

    /// A number constant as Go's `idealConstant` gives it to an untyped use: an int unless
    /// it is written as a float.
    fn number(&self, text: &str, pos: usize) -> Result<Value, Error> {
        let bad = || self.err(pos, &format!("illegal number syntax: {text:?}"));
        let clean = text.replace('_', "");
        let (neg, body) = match clean.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
        };
        let lower = body.to_ascii_lowercase();
        let radix = if lower.starts_with("0x") {
            Some((16, &body[2..]))
        } else if lower.starts_with("0o") {
            Some((8, &body[2..]))
        } else if lower.starts_with("0b") {
            Some((2, &body[2..]))
        } else {
            None
        };
        if let Some((radix, digits)) = radix {
            if radix == 16 && (digits.contains('.') || digits.contains(['p', 'P'])) {
                return Err(bad());
            }
            let n = i64::from_str_radix(digits, radix).map_err(|_| bad())?;
            return Ok(Value::Int(if neg { -n } else { n }));
        }
        if body.contains(['.', 'e', 'E']) {
            let f: f64 = body.parse().map_err(|_| bad())?;
            return Ok(Value::Float(if neg { -f } else { f }));
        }
        // A leading zero is octal, as in Go.
        let n = if body.len() > 1 && body.starts_with('0') {
            i64::from_str_radix(&body[1..], 8).map_err(|_| bad())?
        } else {
            body.parse::<i64>().map_err(|_| self.err(pos, &format!("number {text} overflows int")))?
        };
        Ok(Value::Int(if neg { -n } else { n }))
    }
}

/// A character constant's code point: `'a'` is 97, `'\n'` 10.
fn char_value(quoted: &str) -> Option<i64> {
    let inner = quoted.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut chars = inner.chars();
    let c = match chars.next()? {
        '\\' => unescape_char(&mut chars, '\'')?,
        c => c,
    };
    chars.next().is_none().then_some(c as i64)
}
