//! Execution: the parse tree over a [`Value`], as Go's `text/template/exec.go` runs it —
//! including which node an error names and where (`template: :1:8: executing "" at <.Tag>:`),
//! short-circuit `and`/`or`, `break`/`continue`, variable scopes and `{{template}}` calls.

use crate::funcs::{self, FnErr};
use crate::parse::{Arg, Cmd, Node, Pipe};
use crate::value::Value;
use crate::Error;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// Go's limit on nested `{{template}}` calls.
const MAX_DEPTH: usize = 100_000;

/// What a list stopped for: a `{{break}}` or `{{continue}}` on its way to its `{{range}}`.
enum Flow {
    Break,
    Continue,
}

pub(crate) struct Exec<'a> {
    pub source: &'a str,
    pub defines: &'a BTreeMap<String, Vec<Node>>,
    pub root: &'a Value,
    /// Errors name the types of Docker's raw-JSON fallback (inspect documents).
    pub raw: bool,
    /// Renders a table header: fields of the row name their columns.
    pub header: Option<&'a dyn Fn(&str) -> String>,
    pub vars: RefCell<Vec<(String, Value)>>,
    /// The node being evaluated, for errors: its position and Go's text of it.
    pub at: RefCell<(usize, String)>,
    /// The name of the template executing (`""` for the main one).
    pub name: RefCell<String>,
    pub depth: Cell<usize>,
}

type R<T> = Result<T, Error>;

impl Exec<'_> {
    fn at(&self, pos: usize, text: String) {
        *self.at.borrow_mut() = (pos, text);
    }

    /// `template: :LINE:COL: executing "NAME" at <NODE>: MSG`, located as Go's `ErrorContext`.
    fn error(&self, msg: &str) -> Error {
        let (pos, node) = self.at.borrow().clone();
        let before = &self.source[..pos.min(self.source.len())];
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(nl) => pos - nl - 1,
            None => pos,
        };
        Error::exec(format!("template: :{line}:{col}: executing {:?} at <{node}>: {msg}", self.name.borrow()))
    }

    pub fn run(&self, nodes: &[Node], dot: &Value, out: &mut String) -> R<()> {
        self.walk(nodes, dot, out).map(|_| ())
    }

    fn walk(&self, nodes: &[Node], dot: &Value, out: &mut String) -> R<Option<Flow>> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    // An action that declares or assigns a variable prints nothing.
                    if p.decl.is_empty() {
                        out.push_str(&v.go_string());
                    }
                }
                Node::If { pipe, list, otherwise } | Node::With { pipe, list, otherwise } => {
                    let mark = self.vars.borrow().len();
                    let v = self.pipe(pipe, dot)?;
                    let flow = match (n, v.truth()) {
                        (Node::With { .. }, true) => self.walk(list, &v, out)?,
                        (_, true) => self.walk(list, dot, out)?,
                        (_, false) => self.walk(otherwise, dot, out)?,
                    };
                    self.vars.borrow_mut().truncate(mark);
                    if flow.is_some() {
                        return Ok(flow);
                    }
                }
                Node::Range { pipe, list, otherwise } => {
                    let mark = self.vars.borrow().len();
                    self.range(pipe, list, otherwise, dot, out)?;
                    self.vars.borrow_mut().truncate(mark);
                }
                Node::Break => return Ok(Some(Flow::Break)),
                Node::Continue => return Ok(Some(Flow::Continue)),
                Node::Template { name, pipe, pos, text } => {
                    self.at(*pos, text.clone());
                    let Some(body) = self.defines.get(name) else {
                        return Err(self.error(&format!("template {name:?} not defined")));
                    };
                    if self.depth.get() >= MAX_DEPTH {
                        return Err(self.error(&format!("exceeded maximum template depth ({MAX_DEPTH})")));
                    }
                    let new_dot = match pipe {
                        Some(p) => self.pipe(p, dot)?,
                        None => Value::Missing,
                    };
                    // A template runs in its own scope, `$` being its dot.
                    let vars = std::mem::replace(&mut *self.vars.borrow_mut(), vec![("$".into(), new_dot.clone())]);
                    let name = std::mem::replace(&mut *self.name.borrow_mut(), name.clone());
                    self.depth.set(self.depth.get() + 1);
                    let r = self.walk(body, &new_dot, out);
                    self.depth.set(self.depth.get() - 1);
                    *self.vars.borrow_mut() = vars;
                    *self.name.borrow_mut() = name;
                    r?;
                }
            }
        }
        Ok(None)
    }

    fn range(&self, pipe: &Pipe, list: &[Node], otherwise: &[Node], dot: &Value, out: &mut String) -> R<()> {
        let v = self.pipe_value(pipe, dot)?;
        let items: Vec<(Value, Value)> = match &v {
            Value::List(l) => l.iter().enumerate().map(|(i, x)| (Value::Int(i as i64), x.clone())).collect(),
            Value::Map(m) => m.iter().map(|(k, x)| (Value::Str(k.clone()), x.clone())).collect(),
            Value::Missing | Value::Nil | Value::NilOf(_) => Vec::new(),
            other => return Err(self.error(&format!("range can't iterate over {}", other.go_string()))),
        };
        if items.is_empty() {
            self.walk(otherwise, dot, out)?;
            return Ok(());
        }
        for (key, item) in &items {
            let mark = self.vars.borrow().len();
            // `$e :=` binds the element, `$i, $e :=` the index (or key) and the element.
            match pipe.decl.as_slice() {
                [e] => self.set_var(e, item.clone(), pipe.is_assign),
                [i, e, ..] => {
                    self.set_var(i, key.clone(), pipe.is_assign);
                    self.set_var(e, item.clone(), pipe.is_assign);
                }
                [] => {}
            }
            let flow = self.walk(list, item, out)?;
            self.vars.borrow_mut().truncate(mark);
            if let Some(Flow::Break) = flow {
                break;
            }
        }
        Ok(())
    }

    fn set_var(&self, name: &str, v: Value, assign: bool) {
        let mut vars = self.vars.borrow_mut();
        if assign {
            if let Some(slot) = vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v;
                return;
            }
        }
        vars.push((name.to_string(), v));
    }

    /// A pipeline's value, its variable declared or assigned.
    fn pipe(&self, p: &Pipe, dot: &Value) -> R<Value> {
        let v = self.pipe_value(p, dot)?;
        if let Some(name) = p.decl.first() {
            self.set_var(name, v.clone(), p.is_assign);
        }
        Ok(v)
    }

    /// A pipeline's value alone (`range` binds its variables per element).
    fn pipe_value(&self, p: &Pipe, dot: &Value) -> R<Value> {
        self.at(p.cmds[0].pos, p.text());
        let mut prev: Option<Value> = None;
        for c in &p.cmds {
            prev = Some(self.cmd(c, dot, prev)?);
        }
        Ok(prev.unwrap_or(Value::Missing))
    }

    fn not_a_function(&self, c: &Cmd, fin: &Option<Value>) -> R<()> {
        if c.args.len() > 1 || fin.is_some() {
            let first = match &c.args[0] {
                Arg::Pipe { pipe, .. } => pipe.text(),
                other => other.text(),
            };
            return Err(self.error(&format!("can't give argument to non-function {first}")));
        }
        Ok(())
    }

    fn cmd(&self, c: &Cmd, dot: &Value, fin: Option<Value>) -> R<Value> {
        let first = &c.args[0];
        match first {
            Arg::Field { names, pos } => {
                self.at(*pos, first.text());
                if self.header.is_some() && std::ptr::eq(dot, self.root) {
                    return self.header_of(names, &c.args[1..], dot);
                }
                return self.field_chain(dot.clone(), names, &c.args[1..], fin, dot);
            }
            Arg::Var { name, names, pos } => {
                self.at(*pos, first.text());
                let v = self.var(name);
                if names.is_empty() {
                    self.not_a_function(c, &fin)?;
                    return Ok(v);
                }
                if self.header.is_some() && name == "$" {
                    return self.header_of(names, &c.args[1..], dot);
                }
                return self.field_chain(v, names, &c.args[1..], fin, dot);
            }
            Arg::Chain { base, names, pos } => {
                self.at(*pos, first.text());
                let v = self.arg(base, dot)?;
                self.at(*pos, first.text());
                return self.field_chain(v, names, &c.args[1..], fin, dot);
            }
            Arg::Func { name, pos } => return self.call(name, *pos, c, dot, fin),
            Arg::Pipe { pipe, .. } => {
                self.not_a_function(c, &fin)?;
                return self.pipe(pipe, dot);
            }
            _ => {}
        }
        self.at(first.pos(), first.text());
        self.not_a_function(c, &fin)?;
        match first {
            Arg::Nil { .. } => Err(self.error("nil is not a command")),
            Arg::Dot => Ok(dot.clone()),
            Arg::Lit { value, .. } => Ok(value.clone()),
            _ => unreachable!("handled above"),
        }
    }

    fn var(&self, name: &str) -> Value {
        let vars = self.vars.borrow();
        vars.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or(Value::Missing)
    }

    /// A table header: the row's fields name their columns, `.Label "k"` its label's.
    fn header_of(&self, names: &[String], args: &[Arg], dot: &Value) -> R<Value> {
        let header = self.header.expect("header mode");
        if names.len() == 1 && names[0] == "Label" {
            if let Some(a) = args.first() {
                let key = self.arg(a, dot)?.go_string();
                // Docker: the label's last dotted part, dashes and underscores as spaces.
                let last = key.rsplit('.').next().unwrap_or("").replace(['-', '_'], " ");
                return Ok(Value::Str(last));
            }
        }
        Ok(Value::Str(names.first().map(|f| header(f)).unwrap_or_default()))
    }

    /// Go's `evalFieldChain`: each name looked up on the last value, the last one given the
    /// command's arguments (a method call such as `.Label "k"`).
    fn field_chain(
        &self,
        mut recv: Value,
        names: &[String],
        args: &[Arg],
        fin: Option<Value>,
        dot: &Value,
    ) -> R<Value> {
        for name in &names[..names.len() - 1] {
            recv = self.field(recv, name, &[], None, dot)?;
        }
        self.field(recv, &names[names.len() - 1], args, fin, dot)
    }

    fn field(&self, recv: Value, name: &str, args: &[Arg], fin: Option<Value>, dot: &Value) -> R<Value> {
        let given = args.len() + usize::from(fin.is_some());
        match recv {
            Value::Missing | Value::NilOf(false) => Ok(Value::Missing),
            Value::Struct(s) => {
                if let Some(map) = s.lookup(name) {
                    if given != 1 {
                        return Err(self.error(&format!("wrong number of args for {name}: want 1 got {given}")));
                    }
                    let here = self.at.borrow().clone();
                    let key = match args.first() {
                        Some(a) => self.typed_arg(a, dot, "string")?,
                        None => fin.unwrap_or(Value::Missing),
                    };
                    *self.at.borrow_mut() = here;
                    let Value::Str(key) = key else {
                        return Err(self.error(&format!(
                            "wrong type for value; expected string; got {}",
                            key.type_name(self.raw)
                        )));
                    };
                    return Ok(Value::Str(map.get(&key).cloned().unwrap_or_default()));
                }
                match s.field(name) {
                    Some(v) if given == 0 => Ok(v.clone()),
                    // A row's fields are Docker's methods without parameters.
                    Some(_) if s.type_name.is_some() => {
                        Err(self.error(&format!("wrong number of args for {name}: want 0 got {given}")))
                    }
                    Some(_) => Err(self.error(&format!("{name} is not a method but has arguments"))),
                    None => match &s.type_name {
                        Some(t) => Err(self.error(&format!("can't evaluate field {name} in type {t}"))),
                        // Docker retries an inspect template on the raw JSON with
                        // missingkey=error; that is the error it reports.
                        None => Err(self.error(&format!("map has no entry for key {name:?}"))),
                    },
                }
            }
            Value::Map(m) => {
                if given > 0 {
                    return Err(self.error(&format!("{name} is not a method but has arguments")));
                }
                Ok(m.get(name).cloned().unwrap_or(Value::Missing))
            }
            Value::Nil => Err(self.error(&format!("nil pointer evaluating interface {{}}.{name}"))),
            other => {
                let t = if self.raw { "interface {}".to_string() } else { other.type_name(false) };
                Err(self.error(&format!("can't evaluate field {name} in type {t}")))
            }
        }
    }

    /// Go's `evalArg` for an argument of any type.
    fn arg(&self, a: &Arg, dot: &Value) -> R<Value> {
        self.at(a.pos(), a.text());
        match a {
            Arg::Dot => Ok(dot.clone()),
            Arg::Nil { .. } => Ok(Value::Nil),
            Arg::Lit { value, .. } => Ok(value.clone()),
            Arg::Pipe { pipe, .. } => self.pipe(pipe, dot),
            Arg::Func { name, pos } => {
                let c = Cmd { pos: *pos, args: vec![a.clone()] };
                self.call(name, *pos, &c, dot, None)
            }
            Arg::Field { .. } | Arg::Var { .. } | Arg::Chain { .. } => {
                let c = Cmd { pos: a.pos(), args: vec![a.clone()] };
                self.cmd(&c, dot, None)
            }
        }
    }

    /// An argument a function or method wants of type `want` (`string`, `int`): a constant of
    /// another type is a parse-like error naming it, as Go's `evalArg` has it.
    fn typed_arg(&self, a: &Arg, dot: &Value, want: &str) -> R<Value> {
        let v = self.arg(a, dot)?;
        if let Arg::Lit { text, .. } = a {
            let ok = match want {
                "string" => matches!(v, Value::Str(_)),
                _ => matches!(v, Value::Int(_)),
            };
            if !ok {
                let kind = if want == "string" { "string" } else { "integer" };
                return Err(self.error(&format!("expected {kind}; found {text}")));
            }
        }
        Ok(v)
    }

    fn call(&self, name: &str, pos: usize, c: &Cmd, dot: &Value, fin: Option<Value>) -> R<Value> {
        self.at(pos, name.to_string());
        let explicit = &c.args[1..];
        let given = explicit.len() + usize::from(fin.is_some());
        if let Some(msg) = funcs::arity(name, given) {
            return Err(self.error(&msg));
        }
        // In a table's header Docker's functions return the header they are given.
        if self.header.is_some() && funcs::HEADER_FUNCS.contains(&name) {
            return match explicit.first() {
                Some(a) => self.arg(a, dot),
                None => Ok(fin.unwrap_or(Value::Missing)),
            };
        }
        // `and` and `or` stop at the first argument that decides (Go 1.18).
        if name == "and" || name == "or" {
            let mut last = Value::Missing;
            for a in explicit {
                last = self.arg(a, dot)?;
                if last.truth() == (name == "or") {
                    return Ok(last);
                }
            }
            return Ok(fin.unwrap_or(last));
        }
        let sig = funcs::signature(name);
        let mut args = Vec::with_capacity(given);
        for (i, a) in explicit.iter().enumerate() {
            let want = sig.get(i).copied().or(sig.last().copied()).unwrap_or("any");
            let v = if want == "any" { self.arg(a, dot)? } else { self.typed_arg(a, dot, want)? };
            self.check_type(&v, want)?;
            args.push(v);
        }
        if let Some(v) = fin {
            let want = sig.get(args.len()).copied().or(sig.last().copied()).unwrap_or("any");
            self.check_type(&v, want)?;
            args.push(v);
        }
        funcs::call(name, &args, self.raw).map_err(|e| match e {
            FnErr::Call(msg) => {
                self.at(c.pos, c.text());
                self.error(&format!("error calling {name}: {msg}"))
            }
            FnErr::Plain(msg) => self.error(&msg),
        })
    }

    /// Go's `validateType` for a function's parameter.
    fn check_type(&self, v: &Value, want: &str) -> R<()> {
        let ok = match (want, v) {
            ("any", _) => true,
            (_, Value::Missing) => return Err(self.error(&format!("invalid value; expected {want}"))),
            ("string", Value::Str(_)) => true,
            ("int", Value::Int(_)) => true,
            ("[]string", Value::List(l)) => l.iter().all(|x| matches!(x, Value::Str(_))),
            _ => false,
        };
        if ok {
            return Ok(());
        }
        Err(self.error(&format!("wrong type for value; expected {want}; got {}", v.type_name(self.raw))))
    }
}
