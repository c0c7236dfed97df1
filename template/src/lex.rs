//! The lexer: template text into text runs and action tokens, as Go's `text/template/parse`
//! lexes it (trim markers `{{- -}}`, comments, strings, raw strings, character constants,
//! numbers, fields, variables, keywords), with Go's lexical error messages.

use crate::Error;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    /// `{{`, after any trim marker.
    Open,
    /// `}}`.
    Close,
    Space,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    Dot,
    /// `.Name`, without the dot.
    Field(String),
    /// `$` or `$name`, with the dollar.
    Var(String),
    Ident(String),
    Keyword(&'static str),
    Bool(bool),
    Nil,
    /// A quoted string, unquoted.
    Str(String),
    /// A number or character constant, as written.
    Number(String),
    Char(String),
    /// Another printable ASCII character: the parser says it is unexpected.
    Other(char),
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte offset into the template's source.
    pub pos: usize,
    /// The token as written (strings with their quotes).
    pub text: String,
}

const KEYWORDS: &[&str] = &["block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"];

/// Go's line of an offset (parse errors name the line only).
pub(crate) fn line_of(src: &str, pos: usize) -> usize {
    1 + src[..pos.min(src.len())].matches('\n').count()
}

pub(crate) fn parse_error(src: &str, pos: usize, msg: &str) -> Error {
    Error::parse(format!("template: :{}: {msg}", line_of(src, pos)))
}

/// Docker's list formats read `\t` and `\n` in their text as a tab and a newline.
pub fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Lexes `src[start..end]`; positions are offsets into all of `src`. With `unescape_text`,
/// `\t` and `\n` in the text between actions become a tab and a newline.
pub(crate) fn lex(src: &str, start: usize, end: usize, unescape_text: bool) -> Result<Vec<Token>, Error> {
    let mut toks: Vec<Token> = Vec::new();
    let mut i = start;
    let mut trim_next = false;
    let push_text = |toks: &mut Vec<Token>, text: &str, pos: usize| {
        if !text.is_empty() {
            let t = if unescape_text { unescape(text) } else { text.to_string() };
            toks.push(Token { tok: Tok::Text(t), pos, text: text.to_string() });
        }
    };
    while i < end {
        let open = src[i..end].find("{{").map(|o| i + o);
        let text_end = open.unwrap_or(end);
        let mut text = &src[i..text_end];
        if trim_next {
            text = text.trim_start_matches(is_space);
        }
        let Some(open) = open else {
            push_text(&mut toks, text, i);
            break;
        };
        let mut body = open + 2;
        // `{{- ` trims the text before; the dash must be followed by a space.
        if src[body..end].starts_with('-') && src[body + 1..end].starts_with(is_space) {
            text = text.trim_end_matches(is_space);
            body += 1;
        }
        push_text(&mut toks, text, i);
        // A comment: `{{/* ... */}}`, possibly with trim markers.
        let after = src[body..end].trim_start_matches(is_space);
        if after.starts_with("/*") {
            let c = end - after.len();
            let Some(close) = src[c + 2..end].find("*/").map(|o| c + 2 + o + 2) else {
                return Err(parse_error(src, open, "unclosed comment"));
            };
            let rest = &src[close..end];
            let (trim, skip) = if rest.starts_with(" -}}") {
                (true, 4)
            } else if rest.starts_with("}}") {
                (false, 2)
            } else {
                return Err(parse_error(src, close, "comment ends before closing delimiter"));
            };
            trim_next = trim;
            i = close + skip;
            continue;
        }
        toks.push(Token { tok: Tok::Open, pos: open, text: "{{".into() });
        let (next, trim) = lex_action(src, body, end, &mut toks)?;
        trim_next = trim;
        i = next;
    }
    Ok(toks)
}

/// Lexes one action from `at`; returns the offset after its `}}` and whether it trims the
/// text after it.
fn lex_action(src: &str, mut at: usize, end: usize, toks: &mut Vec<Token>) -> Result<(usize, bool), Error> {
    let mut depth = 0usize;
    let tok = |toks: &mut Vec<Token>, tok: Tok, pos: usize, to: usize| {
        toks.push(Token { tok, pos, text: src[pos..to].to_string() });
    };
    loop {
        let rest = &src[at..end];
        let Some(c) = rest.chars().next() else {
            return Err(parse_error(src, at, "unclosed action"));
        };
        // ` -}}` closes and trims (the space belongs to the marker).
        if is_space(c) {
            let n = rest.len() - rest.trim_start_matches(is_space).len();
            if rest[n..].starts_with("-}}") && depth == 0 {
                tok(toks, Tok::Close, at + n + 1, at + n + 3);
                return Ok((at + n + 3, true));
            }
            tok(toks, Tok::Space, at, at + n);
            at += n;
            continue;
        }
        if rest.starts_with("}}") {
            if depth > 0 {
                return Err(parse_error(src, at, "unclosed left paren"));
            }
            tok(toks, Tok::Close, at, at + 2);
            return Ok((at + 2, false));
        }
        match c {
            '|' => {
                tok(toks, Tok::Pipe, at, at + 1);
                at += 1;
            }
            '(' => {
                depth += 1;
                tok(toks, Tok::LParen, at, at + 1);
                at += 1;
            }
            ')' => {
                if depth == 0 {
                    return Err(parse_error(src, at, "unexpected right paren"));
                }
                depth -= 1;
                tok(toks, Tok::RParen, at, at + 1);
                at += 1;
            }
            ',' => {
                tok(toks, Tok::Comma, at, at + 1);
                at += 1;
            }
            ':' => {
                if !rest.starts_with(":=") {
                    return Err(parse_error(src, at, "expected :="));
                }
                tok(toks, Tok::Declare, at, at + 2);
                at += 2;
            }
            '=' => {
                tok(toks, Tok::Assign, at, at + 1);
                at += 1;
            }
            '"' => {
                let Some(close) = closing_quote(rest, '"').map(|o| at + o) else {
                    return Err(parse_error(src, at, "unterminated quoted string"));
                };
                let quoted = &src[at..close];
                let s = unquote(quoted).ok_or_else(|| parse_error(src, at, &format!("bad quoted string {quoted}")))?;
                tok(toks, Tok::Str(s), at, close);
                at = close;
            }
            '`' => {
                let Some(o) = rest[1..].find('`') else {
                    return Err(parse_error(src, at, "unterminated raw quoted string"));
                };
                let close = at + 1 + o + 1;
                let s = src[at + 1..close - 1].replace('\r', "");
                tok(toks, Tok::Str(s), at, close);
                at = close;
            }
            '\'' => {
                let Some(close) = closing_quote(rest, '\'').map(|o| at + o) else {
                    return Err(parse_error(src, at, "unterminated character constant"));
                };
                tok(toks, Tok::Char(src[at..close].to_string()), at, close);
                at = close;
            }
            '$' => {
                let n = 1 + rest[1..].len() - rest[1..].trim_start_matches(is_alnum).len();
                tok(toks, Tok::Var(rest[..n].to_string()), at, at + n);
                at += n;
            }
            '.' if rest[1..].starts_with(|d: char| d.is_ascii_digit()) => {
                let n = number_len(rest);
                tok(toks, Tok::Number(rest[..n].to_string()), at, at + n);
                at += n;
            }
            '.' => {
                let n = 1 + rest[1..].len() - rest[1..].trim_start_matches(is_alnum).len();
                if n == 1 {
                    tok(toks, Tok::Dot, at, at + 1);
                } else {
                    tok(toks, Tok::Field(rest[1..n].to_string()), at, at + n);
                }
                at += n;
            }
            '+' | '-' | '0'..='9' => {
                let n = number_len(rest);
                if n == 0 || (n == 1 && matches!(c, '+' | '-')) {
                    return Err(parse_error(src, at, &format!("unrecognized character in action: {}", go_char(c))));
                }
                if rest[n..].starts_with(is_alnum) {
                    let bad = n + rest[n..].len() - rest[n..].trim_start_matches(is_alnum).len();
                    return Err(parse_error(src, at, &format!("bad number syntax: {:?}", &rest[..bad])));
                }
                tok(toks, Tok::Number(rest[..n].to_string()), at, at + n);
                at += n;
            }
            c if is_alnum(c) => {
                let n = rest.len() - rest.trim_start_matches(is_alnum).len();
                let word = &rest[..n];
                let t = match word {
                    "true" => Tok::Bool(true),
                    "false" => Tok::Bool(false),
                    "nil" => Tok::Nil,
                    w => match KEYWORDS.iter().find(|k| **k == w) {
                        Some(k) => Tok::Keyword(k),
                        None => Tok::Ident(w.to_string()),
                    },
                };
                tok(toks, t, at, at + n);
                at += n;
            }
            other if other.is_ascii_graphic() => {
                tok(toks, Tok::Other(other), at, at + 1);
                at += 1;
            }
            other => {
                return Err(parse_error(src, at, &format!("unrecognized character in action: {}", go_char(other))));
            }
        }
    }
}

/// Go's `%#U` of a character: `U+0040 '@'`.
fn go_char(c: char) -> String {
    format!("U+{:04X} '{c}'", c as u32)
}

/// The length of the number at the start of `s`, scanned as Go's lexer does.
fn number_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut digits: &[u8] = b"0123456789_";
    let mut exp: &[u8] = b"eE";
    if b[i..].starts_with(b"0x") || b[i..].starts_with(b"0X") {
        i += 2;
        digits = b"0123456789abcdefABCDEF_";
        exp = b"pP";
    } else if b[i..].starts_with(b"0o") || b[i..].starts_with(b"0O") {
        i += 2;
        digits = b"01234567_";
        exp = b"";
    } else if b[i..].starts_with(b"0b") || b[i..].starts_with(b"0B") {
        i += 2;
        digits = b"01_";
        exp = b"";
    }
    while i < b.len() && digits.contains(&b[i]) {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && digits.contains(&b[i]) {
            i += 1;
        }
    }
    if i < b.len() && exp.contains(&b[i]) {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    i
}

/// Go's `strconv.Unquote` of a double-quoted string.
pub(crate) fn unquote(quoted: &str) -> Option<String> {
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(unescape_char(&mut chars, '"')?);
    }
    Some(out)
}

/// One escape after a backslash, as Go reads it in strings and character constants.
pub(crate) fn unescape_char(chars: &mut std::str::Chars, quote: char) -> Option<char> {
    let hex = |chars: &mut std::str::Chars, n: usize| -> Option<u32> {
        let s: String = chars.take(n).collect();
        if s.len() != n {
            return None;
        }
        u32::from_str_radix(&s, 16).ok()
    };
    Some(match chars.next()? {
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        '\\' => '\\',
        c if c == quote => c,
        'x' => char::from_u32(hex(chars, 2)?)?,
        'u' => char::from_u32(hex(chars, 4)?)?,
        'U' => char::from_u32(hex(chars, 8)?)?,
        d @ '0'..='7' => {
            let rest: String = chars.take(2).collect();
            char::from_u32(u32::from_str_radix(&format!("{d}{rest}"), 8).ok()?)?
        }
        _ => return None,
    })
}

/// Where a quoted string or character constant that opens `rest` ends (the offset just past its
/// closing `quote`), skipping backslash escapes; `None` when a newline or the end comes first,
/// as Go's lexer reports an unterminated one.
fn closing_quote(rest: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (o, ch) in rest.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if ch == '\\' {
            escaped = true;
        } else if ch == '\n' {
            return None;
        } else if ch == quote {
            return Some(o + 1);
        }
    }
    None
}
