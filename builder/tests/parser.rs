//! The Dockerfile parser, table-driven: every case in `builder/tests/fixtures/dockerfiles/<case>/` is a
//! Dockerfile and the `expected.json` the parser must produce for it — the typed steps and the
//! directives, or for `err_*` cases the error's line, column and message. `BLESS=1` rewrites
//! the expected files from the current parser (review the diff before committing it).
//!
//! Variable substitution has its own table below: every form BuildKit's shell lexer knows.

use berth_builder::instructions::parse_steps;
use berth_builder::parser::{expand, expand_words};
use serde_json::{json, Value};
use std::path::PathBuf;

fn cases_dir() -> PathBuf {
    // The run-time value (what `cargo test` says) names the checkout being tested; the
    // compile-time one may be another checkout's that shared the target directory.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    dir.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR"))).join("tests/fixtures/dockerfiles")
}

fn actual(src: &str) -> Value {
    match parse_steps(src, "Dockerfile") {
        Ok((df, steps)) => json!({
            "directives": df.directives.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "escape": df.escape.to_string(),
            "steps": steps,
        }),
        Err(e) => json!({"error": {"line": e.line, "col": e.col, "message": e.message, "source_line": e.source_line}}),
    }
}

#[test]
fn dockerfile_cases() {
    let mut names: Vec<_> = std::fs::read_dir(cases_dir()).unwrap().flatten().map(|e| e.path()).collect();
    names.sort();
    assert!(names.len() >= 15, "the fixture cases are missing");
    let bless = std::env::var("BLESS").is_ok();
    let mut failures = Vec::new();
    for dir in names {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let src = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let got = actual(&src);
        let exp_path = dir.join("expected.json");
        if bless {
            std::fs::write(&exp_path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
            continue;
        }
        let want: Value = serde_json::from_str(&std::fs::read_to_string(&exp_path).unwrap()).unwrap();
        assert_eq!(name.starts_with("err_"), want.get("error").is_some(), "{name}: err_ cases and only they fail");
        if got != want {
            failures.push(format!(
                "{name}:\n want {}\n got  {}",
                serde_json::to_string(&want).unwrap(),
                serde_json::to_string(&got).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn errors_show_file_line_column_and_the_line() {
    let e = parse_steps("FROM busybox\n\n   BOGUS x\n", "ctx/Dockerfile").unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.starts_with("ctx/Dockerfile:3:4: dockerfile parse error on line 3: unknown instruction: BOGUS"),
        "{shown}"
    );
    assert!(shown.contains(">>>    BOGUS x"), "{shown}");
}

#[test]
fn substitution_table() {
    let env = |n: &str| -> Option<String> {
        match n {
            "A" => Some("a".into()),
            "EMPTY" => Some(String::new()),
            "SP" => Some("x y".into()),
            _ => None,
        }
    };
    let cases: &[(&str, &str)] = &[
        ("$A", "a"),
        ("${A}", "a"),
        ("pre${A}post", "preapost"),
        ("$A$A", "aa"),
        ("$UNSET", ""),
        ("${UNSET:-def}", "def"),
        ("${EMPTY:-def}", "def"),
        ("${EMPTY-def}", ""),
        ("${UNSET-def}", "def"),
        ("${A:-def}", "a"),
        ("${A:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${UNSET:-${A}}", "a"),
        ("\\$A", "$A"),
        ("\\${A}", "${A}"),
        ("'$A'", "$A"),
        ("\"$A\"", "a"),
        ("\"\\$A\"", "$A"),
        ("$", "$"),
        ("a$-b", "a$-b"),
        ("$SP", "x y"),
        ("${A}_1", "a_1"),
    ];
    for (input, want) in cases {
        assert_eq!(expand(input, '\\', &env).unwrap(), *want, "expanding {input}");
    }
    // The backtick escape (`# escape=`` ` ``) escapes `$` the same way.
    assert_eq!(expand("`$A", '`', &env).unwrap(), "$A");
    // Word splitting: quotes keep spaces, expansions are not re-split inside quotes.
    assert_eq!(expand_words("a \"b c\" '$A d' ${A}e", '\\', &env).unwrap(), vec!["a", "b c", "$A d", "ae"]);
    assert_eq!(expand_words("k=\"v w\" k2=$A", '\\', &env).unwrap(), vec!["k=v w", "k2=a"]);
    // Errors: required variables and unterminated forms.
    assert!(expand("${UNSET:?must be set}", '\\', &env).unwrap_err().contains("must be set"));
    assert!(expand("${A", '\\', &env).is_err());
    assert!(expand("\"open", '\\', &env).is_err());
    assert!(expand("${A:*x}", '\\', &env).is_err());
}
