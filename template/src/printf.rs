//! Go's `fmt.Sprint` and `fmt.Sprintf` over template values: the verbs `%v %s %q %d %x %X
//! %o %b %c %U %e %E %f %F %g %G %t %T %%`, the flags `- + # 0 space`, width and precision
//! (`*` too), and Go's complaints (`%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA …)`).

use crate::value::{go_float, Value};

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&operand(a).go_string());
    }
    out
}

/// An invalid value given to a function is a nil interface.
fn operand(v: &Value) -> &Value {
    match v {
        Value::Missing => &Value::Nil,
        other => other,
    }
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if (c as u32) < 0x80 && c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() && (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\U{:08x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt.Sprintf`.
pub(crate) fn sprintf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut sp = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => sp.minus = true,
                '+' => sp.plus = true,
                '#' => sp.sharp = true,
                ' ' => sp.space = true,
                '0' => sp.zero = true,
                _ => break,
            }
            chars.next();
        }
        let number = |chars: &mut std::iter::Peekable<std::str::Chars>, next: &mut usize| {
            if chars.peek() == Some(&'*') {
                chars.next();
                let n = match args.get(*next) {
                    Some(Value::Int(n)) => Some(*n),
                    _ => None,
                };
                *next += 1;
                return n.map(|n| n.unsigned_abs() as usize);
            }
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        sp.width = number(&mut chars, &mut next);
        if chars.peek() == Some(&'.') {
            chars.next();
            sp.prec = Some(number(&mut chars, &mut next).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(v) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        out.push_str(&format_arg(operand(v), verb, sp));
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| match operand(a) {
                Value::Nil => "<nil>".to_string(),
                a => format!("{}={}", a.type_name(false), a.go_string()),
            })
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn pad(text: String, sp: Spec, zero_ok: bool) -> String {
    let width = sp.width.unwrap_or(0);
    let n = text.chars().count();
    if n >= width {
        return text;
    }
    let fill = width - n;
    if sp.minus {
        return text + &" ".repeat(fill);
    }
    if sp.zero && zero_ok {
        // Zeros go after the sign.
        let (sign, rest) = match text.strip_prefix(['-', '+']) {
            Some(rest) => (&text[..1], rest),
            None => ("", text.as_str()),
        };
        return format!("{sign}{}{rest}", "0".repeat(fill));
    }
    " ".repeat(fill) + &text
}

fn bad_verb(v: &Value, verb: char) -> String {
    match v {
        Value::Nil => format!("%!{verb}(<nil>)"),
        v => format!("%!{verb}({}={})", v.type_name(false), v.go_string()),
    }
}

fn format_arg(v: &Value, verb: char, sp: Spec) -> String {
    if verb == 'T' {
        return pad(v.type_name(false), sp, false);
    }
    match v {
        Value::NilOf(true) if verb != 'v' => return "[]".into(),
        Value::List(items) if verb != 'v' => {
            let parts: Vec<String> = items.iter().map(|x| format_arg(operand(x), verb, sp)).collect();
            return format!("[{}]", parts.join(" "));
        }
        Value::Struct(s) if verb == 'v' && sp.plus => {
            let parts: Vec<String> = s.fields.iter().map(|(k, x)| format!("{k}:{}", operand(x).go_string())).collect();
            return pad(format!("{{{}}}", parts.join(" ")), sp, false);
        }
        _ => {}
    }
    match (verb, v) {
        ('v', Value::Float(f)) => pad(sign(float(*f, 'g', sp.prec), sp), sp, true),
        ('v', Value::Int(n)) => pad(sign(n.to_string(), sp), sp, true),
        ('v', v) => pad(v.go_string(), sp, false),
        ('t', Value::Bool(b)) => pad(b.to_string(), sp, false),
        ('s', Value::Str(s)) => pad(truncate(s, sp.prec), sp, true),
        ('q', Value::Str(s)) => pad(go_quote(&truncate(s, sp.prec)), sp, false),
        ('x' | 'X', Value::Str(s)) => {
            let mut h: Vec<String> = s.bytes().map(|b| format!("{b:02x}")).collect();
            if sp.sharp {
                h = h.into_iter().map(|x| format!("0x{x}")).collect();
            }
            let text = h.join(if sp.space { " " } else { "" });
            pad(if verb == 'X' { text.to_uppercase() } else { text }, sp, true)
        }
        ('d', Value::Int(n)) => pad(sign(min_digits(n.unsigned_abs().to_string(), *n < 0, sp.prec), sp), sp, true),
        ('x' | 'X' | 'o' | 'O' | 'b', Value::Int(n)) => {
            let mag = n.unsigned_abs();
            let (digits, prefix) = match verb {
                'x' => (format!("{mag:x}"), "0x"),
                'X' => (format!("{mag:X}"), "0X"),
                'o' => (format!("{mag:o}"), "0"),
                'O' => (format!("{mag:o}"), "0o"),
                _ => (format!("{mag:b}"), "0b"),
            };
            let prefix = if sp.sharp || verb == 'O' { prefix } else { "" };
            let body = min_digits(format!("{prefix}{digits}"), *n < 0, sp.prec);
            pad(sign(body, sp), sp, true)
        }
        ('c', Value::Int(n)) => pad(char::from_u32(*n as u32).unwrap_or('\u{FFFD}').to_string(), sp, false),
        ('q', Value::Int(n)) => {
            let c = char::from_u32(*n as u32).unwrap_or('\u{FFFD}');
            let q = go_quote(&c.to_string());
            let inner = &q[1..q.len() - 1];
            let inner = if c == '\'' { "\\'".to_string() } else { inner.replace("\\\"", "\"") };
            pad(format!("'{inner}'"), sp, false)
        }
        ('U', Value::Int(n)) => pad(format!("U+{:04X}", n), sp, false),
        ('e' | 'E' | 'f' | 'F' | 'g' | 'G', Value::Float(f)) => pad(sign(float(*f, verb, sp.prec), sp), sp, true),
        (verb, v) => bad_verb(v, verb),
    }
}

fn truncate(s: &str, prec: Option<usize>) -> String {
    match prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    }
}

/// `%.3d`: at least that many digits (the sign not counted).
fn min_digits(digits: String, negative: bool, prec: Option<usize>) -> String {
    let digits = match prec {
        Some(p) if digits.len() < p => "0".repeat(p - digits.len()) + &digits,
        _ => digits,
    };
    if negative {
        format!("-{digits}")
    } else {
        digits
    }
}

/// The `+` and space flags: a sign or a space before a non-negative number.
fn sign(text: String, sp: Spec) -> String {
    if text.starts_with('-') {
        text
    } else if sp.plus {
        format!("+{text}")
    } else if sp.space {
        format!(" {text}")
    } else {
        text
    }
}

/// Go's exponent form: at least two digits (`1.5e+06`).
fn go_exp(sci: &str, upper: bool) -> String {
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let e = if upper { 'E' } else { 'e' };
    format!("{mant}{e}{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

fn float(f: f64, verb: char, prec: Option<usize>) -> String {
    if !f.is_finite() {
        return go_float(f);
    }
    match verb {
        'f' | 'F' => format!("{f:.*}", prec.unwrap_or(6)),
        'e' | 'E' => go_exp(&format!("{f:.*e}", prec.unwrap_or(6)), verb == 'E'),
        _ => {
            let text = match prec {
                None => go_float(f),
                Some(p) => go_g(f, p.max(1)),
            };
            if verb == 'G' {
                text.to_uppercase()
            } else {
                text
            }
        }
    }
}

/// Go's `%.*g`: `precision` significant digits, exponent form when the exponent is below -4
/// or at least the precision, trailing zeros dropped.
pub fn go_g(v: f64, precision: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let p = precision.max(1);
    // Round to the significant digits first: the exponent is the rounded one (999.5 -> 1e+03).
    let sci = format!("{:.*e}", p - 1, v);
    let (mant, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    let trim =
        |s: &str| if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s.into() };
    if exp < -4 || exp >= p as i32 {
        return format!("{}e{}{:02}", trim(mant), if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    trim(&format!("{:.*}", (p as i32 - 1 - exp).max(0) as usize, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(fmt: &str, args: &[Value]) -> String {
        sprintf(fmt, args)
    }

    #[test]
    fn verbs_like_go() {
        let s = |x: &str| Value::Str(x.into());
        let i = Value::Int;
        let fl = Value::Float;
        let cases: &[(&str, Vec<Value>, &str)] = &[
            (
                "%5.2f|%-10s|%x|%q|%v",
                vec![fl(1.2345), s("ab"), i(255), s("q"), Value::List(vec![s("A=1")])],
                " 1.23|ab        |ff|\"q\"|[A=1]",
            ),
            (
                "%d %+d %05d %-5d| %x %X %#x %o %b %c %U",
                vec![i(5), i(5), i(-42), i(7), i(-255), i(255), i(255), i(8), i(5), i(97), i(0x1F600)],
                "5 +5 -0042 7    | -ff FF 0xff 10 101 a U+1F600",
            ),
            (
                "%s %10s %-4s| %.2s %q",
                vec![s("a"), s("right"), s("l"), s("trunc"), s("x\ny")],
                "a      right l   | tr \"x\\ny\"",
            ),
            (
                "%e %E %.3g %g %G %f",
                vec![fl(1234.5678), fl(1e-7), fl(1234.5678), fl(1e21), fl(2.5e-10), fl(2.0)],
                "1.234568e+03 1.000000E-07 1.23e+03 1e+21 2.5E-10 2.000000",
            ),
            (
                "%v %t %T %T %T",
                vec![Value::Bool(true), Value::Bool(false), i(1), s(""), fl(1.0)],
                "true false int string float64",
            ),
            ("%d %s", vec![s("x"), i(3)], "%!d(string=x) %!s(int=3)"),
            ("%s %d", vec![s("only")], "only %!d(MISSING)"),
            ("%s", vec![s("a"), i(1), s("b")], "a%!(EXTRA int=1, string=b)"),
            ("%v %s %d", vec![Value::Missing, Value::Nil, Value::Nil], "<nil> %!s(<nil>) %!d(<nil>)"),
            ("100%% %", vec![], "100% %!(NOVERB)"),
            ("%x % x %q", vec![s("hi"), s("hi"), i('a' as i64)], "6869 68 69 'a'"),
            ("%*d|%-*d", vec![i(4), i(1), i(3), i(2)], "   1|2  "),
            ("%6.2v|%.1s|%-8q|", vec![fl(1.2345), s("abc"), s("q")], "   1.2|a|\"q\"     |"),
            ("%s", vec![Value::List(vec![s("a"), s("b")])], "[a b]"),
            ("%q", vec![Value::List(vec![s("a"), s("b")])], "[\"a\" \"b\"]"),
        ];
        for (fmt, args, want) in cases {
            assert_eq!(f(fmt, args), *want, "{fmt}");
        }
    }

    #[test]
    fn sprint_spacing_like_go() {
        let v = [Value::Int(1), Value::Int(2), Value::str("a"), Value::str("b"), Value::Int(3), Value::Missing];
        assert_eq!(sprint(&v), "1 2ab3 <nil>");
    }
}
