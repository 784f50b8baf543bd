//! The security write-up cites the tests that prove each control; a cited test that
//! is renamed or removed must not leave the document claiming a proof that is gone.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use delivery_tests::repo;

/// Every `.rs` file of the repository, outside build output and virtualenvs.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if !(name == "target" || name.starts_with('.')) {
                rust_files(&path, found);
            }
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

/// The backticked words of `text`.
fn quoted(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

/// `text` without its parenthesised notes, which may quote words that are not tests.
fn outside_parentheses(text: &str) -> String {
    let mut depth = 0usize;
    text.chars()
        .filter(|&c| {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth = depth.saturating_sub(1);
                    return false;
                }
                _ => {}
            }
            depth == 0
        })
        .collect()
}

/// `(file, function)` citations: in "`a.rs` → `f`, `g`; `b.rs` → `h`", the file is the
/// last backticked `.rs` before the arrow, the functions what follows up to `;` or `|`.
fn citations(doc: &str) -> Vec<(String, String)> {
    let mut cited = Vec::new();
    for line in doc.lines() {
        let segments: Vec<&str> = line.split('→').collect();
        for pair in segments.windows(2) {
            let Some(file) = quoted(pair[0]).filter(|q| q.ends_with(".rs")).last() else {
                continue;
            };
            let names = outside_parentheses(pair[1].split([';', '|']).next().unwrap_or_default());
            for name in quoted(&names) {
                if name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    cited.push((file.to_string(), name.to_string()));
                }
            }
        }
    }
    cited
}

#[test]
fn every_test_the_security_doc_cites_exists_where_it_says() {
    let doc = std::fs::read_to_string(repo().join("docs/security.md")).unwrap();
    let mut files = Vec::new();
    rust_files(&repo(), &mut files);
    let cited = citations(&doc);
    assert!(
        cited.len() > 50,
        "only {} citations found: has the format changed?",
        cited.len()
    );

    let mut missing = Vec::new();
    for (file, name) in &cited {
        let holders: Vec<&PathBuf> = files.iter().filter(|p| p.ends_with(file)).collect();
        let defined = holders.iter().any(|path| {
            let source = std::fs::read_to_string(path).unwrap();
            source.contains(&format!("fn {name}(")) || source.contains(&format!("fn {name}<"))
        });
        if !defined {
            missing.push(format!("{file} → {name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/security.md cites tests that do not exist: {missing:#?}"
    );
}

#[test]
fn citations_are_read_as_file_and_function() {
    let cited = citations("| x | y | `a/b.rs` → `one`, `two` (with `-v`); `c.rs` → `three` |");
    assert_eq!(
        cited,
        [("a/b.rs", "one"), ("a/b.rs", "two"), ("c.rs", "three")]
            .map(|(f, n)| (f.to_string(), n.to_string()))
    );
}
