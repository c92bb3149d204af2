//! The self-test of `source_size.rs`: each rule and each exemption on small inline sources.

use super::*;

/// `fn name() {` + `inner` lines + `}`: a body of `inner + 2` lines.
fn func(name: &str, first: &str, inner: usize) -> String {
    let mut f = format!("fn {name}() {{\n{first}\n");
    for _ in 1..inner {
        f.push_str("    let _ = 1;\n");
    }
    f.push_str("}\n");
    f
}

fn lines(n: usize) -> String {
    "const X: u8 = 0;\n".repeat(n)
}

fn names(src: &str) -> Vec<(String, usize)> {
    offences("x.rs", src)
        .into_iter()
        .map(|o| (o.name, o.lines))
        .collect()
}

#[test]
fn a_long_function_is_an_offence_and_its_reason_excuses_it() {
    assert_eq!(
        names(&func("f", "    let a = 0;", 79)),
        vec![("f".into(), 81)]
    );
    assert!(
        names(&func("f", "    let a = 0;", 78)).is_empty(),
        "80 lines is fine"
    );
    let reason = "    // Long: a flat table of cases, read whole";
    assert!(names(&func("f", reason, 79)).is_empty());
    let empty_reason = "    // Long:   ";
    assert_eq!(
        names(&func("f", empty_reason, 79)).len(),
        1,
        "a reason needs text"
    );
    let second = format!("    let a = 0;\n{reason}");
    assert_eq!(
        names(&func("f", &second, 78)).len(),
        1,
        "only the first line counts"
    );
    let doc = "    /// Long: a doc comment is not a reason";
    assert_eq!(names(&func("f", doc, 79)).len(), 1);
    // The line reported is the opening brace's, counted from 1.
    let src = format!("//! Doc.\n\n{}", func("g", "", 79));
    assert_eq!(offences("x.rs", &src)[0].line, 3);
}

#[test]
fn a_long_file_is_an_offence_and_its_reason_excuses_it() {
    assert_eq!(names(&lines(601)), vec![(FILE.into(), 601)]);
    assert!(names(&lines(600)).is_empty());
    let reason = "//! The module.\n//!\n//! Long: generated tables, one per vendor\n";
    assert!(names(&format!("{reason}{}", lines(700))).is_empty());
    let late = format!(
        "{}//! Long: too late, not at the top\n{}",
        lines(1),
        lines(700)
    );
    assert_eq!(names(&late).len(), 1);
    let attrs = "//! The module.\n#![allow(dead_code)]\n//! Long: one table per vendor\n";
    assert!(names(&format!("{attrs}{}", lines(700))).is_empty());
    let plain = format!("// Long: a plain comment is not a doc line\n{}", lines(700));
    assert_eq!(names(&plain).len(), 1);
}

#[test]
fn test_code_after_cfg_test_is_left_out() {
    let src = format!(
        "{}#[cfg(test)]\nmod tests {{\n{}}}\n",
        lines(500),
        lines(300)
    );
    assert!(
        names(&src).is_empty(),
        "only the 500 lines before the cut count"
    );
    let src = format!(
        "{}#[cfg(test)]\nmod tests {{\n{}}}\n",
        lines(650),
        lines(300)
    );
    assert_eq!(names(&src), vec![(FILE.into(), 650)]);
    let src = format!(
        "{}#[cfg(test)]\n#[path = \"t.rs\"]\n\npub(crate) mod t {{\n{}}}\n",
        func("f", "", 10),
        func("t", "", 100)
    );
    assert!(
        names(&src).is_empty(),
        "a test module, after other attributes"
    );
    // A `#[cfg(test)]` on one helper is no cut: what follows it still counts.
    let src = format!(
        "#[cfg(test)]\n{}{}",
        func("helper", "", 3),
        func("later", "", 100)
    );
    assert_eq!(names(&src), vec![("later".into(), 102)]);
    let src = format!("{}#[cfg(test)]\n", func("f", "", 100));
    assert_eq!(names(&src).len(), 1, "code before the cut still counts");
    // A `#[cfg(test)]` inside a string is no cut.
    let src = format!(
        "const S: &str = \"\n#[cfg(test)]\";\n{}",
        func("f", "", 100)
    );
    assert_eq!(names(&src).len(), 1);
}

#[test]
fn braces_and_fns_in_strings_chars_and_comments_count_for_nothing() {
    let tricky = [
        r#"    let a = "}}} fn fake() { \" }";"#,
        r###"    let b = r##"}} "# fn raw() {"##;"###,
        r#"    let c = br"}}";"#,
        "    let d = ['}', '{', '\\'', '\\u{7d}', b'}', '\"', '\\\"', '{', '\\'','}'];",
        "    let e: &'static str = \"\"; // } fn comment() {",
        "    /* } /* nested } */ fn block() { */",
        "    let f: fn(u8) -> u8 = |x| x;",
    ]
    .join("\n");
    // The tricky lines plus filler make a body of exactly 81 lines, then a short function.
    let src = format!("{}{}", func("f", &tricky, 73), func("after", "", 5));
    let body = fn_bodies(&blank_non_code(&src));
    let found: Vec<(&str, usize)> = body
        .iter()
        .map(|b| (b.name.as_str(), b.close - b.open + 1))
        .collect();
    assert_eq!(found, vec![("f", 81), ("after", 7)]);
    assert_eq!(names(&src), vec![("f".into(), 81)]);
}

#[test]
fn declarations_nested_functions_and_lifetimes_are_measured_right() {
    let src = "trait T {\n    fn decl(&self);\n}\nfn outer<'a>(x: &'a str) -> impl Fn() + 'a {\n    fn inner() {\n    }\n    move || { let _ = x; }\n}\n";
    let body = fn_bodies(&blank_non_code(src));
    let found: Vec<(&str, usize, usize)> = body
        .iter()
        .map(|b| (b.name.as_str(), b.open, b.close))
        .collect();
    assert_eq!(found, vec![("outer", 3, 7), ("inner", 4, 5)]);
}

#[test]
fn test_files_and_the_modules_they_declare_are_left_out() {
    let dir = switchyard_testkit::TempDir::new("source-size-self-test");
    let root = dir.path();
    let src = root.join("crates/x/src");
    std::fs::create_dir_all(src.join("deep")).unwrap();
    let long = func("long", "", 100);
    let write = |rel: &str, text: &str| std::fs::write(src.join(rel), text).unwrap();
    write(
        "lib.rs",
        "mod deep;\n#[cfg(test)]\nmod helper;\n#[cfg(test)]\n#[path = \"elsewhere.rs\"]\nmod other;\n",
    );
    write("helper.rs", &long);
    write("elsewhere.rs", &long);
    write("deep.rs", "#[cfg(test)]\nmod tests;\n");
    write("deep/tests.rs", "#[path = \"props.rs\"]\nmod props;\n");
    write("deep/props.rs", &long);
    write("deep/unit_tests.rs", &long);
    write("deep/real.rs", &long);
    // An integration test (a crate root) declares its modules beside it.
    let tests = root.join("crates/x/tests");
    std::fs::create_dir_all(tests.join("helper")).unwrap();
    std::fs::write(
        tests.join("it.rs"),
        "#[cfg(test)]\npub(crate) mod helper;\n",
    )
    .unwrap();
    std::fs::write(tests.join("helper/mod.rs"), &long).unwrap();
    let found: Vec<String> = workspace_offences(root)
        .into_iter()
        .map(|o| format!("{}:{}", o.path, o.name))
        .collect();
    assert_eq!(found, vec!["crates/x/src/deep/real.rs:long"]);
}

#[test]
fn pending_excuses_its_entries_and_fails_when_one_is_done() {
    let all = offences(
        "a.rs",
        &format!("{}{}", func("f", "", 100), func("g", "", 100)),
    );
    let (new, stale) = judge(&all, &["a.rs: f", "a.rs: gone"]);
    assert_eq!(new.len(), 1);
    assert!(new[0].starts_with("a.rs:"), "{new:?}");
    assert!(new[0].contains("`g`"), "{new:?}");
    assert_eq!(stale, vec!["a.rs: gone"]);
}
