//! File names: never trusted. The name a browser sends is shown back as text only
//! (cut, without path or control characters); the name Converse gets is made from it
//! to DocumentBlock's rule ("alphanumeric characters, whitespace characters, hyphens,
//! parentheses, and square brackets", no two whitespace characters in a row, 1 to 200
//! characters), and made unique across the whole request, whose turns may carry two
//! files of the same name (Bedrock refuses "duplicate document names" in any two
//! messages of one request).

use std::collections::HashSet;

/// Longest name kept for display, in characters.
pub const MAX_DISPLAY_CHARS: usize = 255;

/// Longest name given to Converse, in characters (DocumentBlock: at most 200), with
/// room for a ` (99)` that makes it unique.
pub const MAX_CONVERSE_CHARS: usize = 190;

/// The name of a document whose own name leaves no letter or digit.
pub const UNNAMED: &str = "Document";

/// The name to show for a file the browser calls `raw`: its last path part (some
/// browsers send `C:\fakepath\…`), without control characters, trimmed, at most
/// [`MAX_DISPLAY_CHARS`]; `file` when nothing is left.
pub fn display_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DISPLAY_CHARS)
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        "file".to_string()
    } else {
        trimmed.to_string()
    }
}

/// The name Converse gets for a document shown as `display`: its extension dropped
/// (the format says it), every character outside the rule made a space, spaces
/// collapsed, cut to [`MAX_CONVERSE_CHARS`]; [`UNNAMED`] when no letter or digit
/// is left.
pub fn converse_name(display: &str) -> String {
    let stem = match display.rsplit_once('.') {
        Some((stem, _)) if !stem.trim().is_empty() => stem,
        _ => display,
    };
    let mut name = String::with_capacity(stem.len());
    for c in stem.chars() {
        let c = if c.is_ascii_alphanumeric() || "-()[]".contains(c) {
            c
        } else {
            ' '
        };
        if c == ' ' && (name.is_empty() || name.ends_with(' ')) {
            continue;
        }
        name.push(c);
        if name.len() >= MAX_CONVERSE_CHARS {
            break;
        }
    }
    let name = name.trim_end();
    if name.chars().any(|c| c.is_ascii_alphanumeric()) {
        name.to_string()
    } else {
        UNNAMED.to_string()
    }
}

/// Converse names for the documents of one request, in order: each
/// [`converse_name`], with ` (2)`, ` (3)`, … added to a name met before.
pub fn unique_converse_names<'a>(displays: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut taken = HashSet::new();
    displays
        .into_iter()
        .map(|display| {
            let base = converse_name(display);
            let mut name = base.clone();
            let mut n = 1;
            while !taken.insert(name.clone()) {
                n += 1;
                name = format!("{base} ({n})");
            }
            name
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DocumentBlock's rule, as the Bedrock stand-in applies it.
    fn converse_accepts(name: &str) -> bool {
        (1..=200).contains(&name.chars().count())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " -()[]".contains(c))
            && !name.contains("  ")
    }

    #[test]
    fn names_shown_lose_paths_and_control_characters() {
        assert_eq!(display_name("C:\\fakepath\\Report.pdf"), "Report.pdf");
        assert_eq!(display_name("../../etc/passwd"), "passwd");
        assert_eq!(display_name("a\u{0}b\u{202e}c.txt\n"), "ab\u{202e}c.txt");
        assert_eq!(display_name("  "), "file");
        assert_eq!(
            display_name(&"x".repeat(400)).chars().count(),
            MAX_DISPLAY_CHARS
        );
    }

    #[test]
    fn converse_names_follow_the_document_block_rule() {
        for (shown, expected) in [
            ("Quarterly report.pdf", "Quarterly report"),
            ("report_2026 (final) [v2].docx", "report 2026 (final) [v2]"),
            ("résumé.pdf", "r sum"),
            ("John's   notes.txt", "John s notes"),
            ("../evil\r\nname.md", "evil name"),
            ("日本語.pdf", UNNAMED),
            (".env", "env"),
            ("archive.tar.gz", "archive tar"),
            ("<script>alert(1)</script>.html", "script alert(1) script"),
        ] {
            let name = converse_name(shown);
            assert_eq!(name, expected, "{shown}");
            assert!(converse_accepts(&name), "{name}");
        }
        let long = converse_name(&format!("{}.pdf", "word ".repeat(100)));
        assert!(long.chars().count() <= MAX_CONVERSE_CHARS);
        assert!(converse_accepts(&long));
    }

    #[test]
    fn names_of_one_request_are_made_unique() {
        let names = unique_converse_names([
            "notes.txt",
            "notes.md",
            "Notes.txt",
            "notes (2).txt",
            "notes.txt",
        ]);
        assert_eq!(
            names,
            ["notes", "notes (2)", "Notes", "notes (2) (2)", "notes (3)"]
        );
        assert!(names.iter().all(|n| converse_accepts(n)));
        let long = "a".repeat(300);
        let two = unique_converse_names([long.as_str(), long.as_str()]);
        assert_ne!(two[0], two[1]);
        assert!(two.iter().all(|n| converse_accepts(n)));
    }
}
