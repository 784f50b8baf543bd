//! Text helpers of the history: conversation ids, titles, search snippets, export
//! file names and Markdown, opaque cursors. Pure functions, no I/O.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Length of a conversation id: 9 base-36 digits of its creation time in
/// milliseconds (so ids sort by creation), then 7 random ones.
pub const ID_LEN: usize = 16;

/// Longest title, in characters; longer ones are cut (with an ellipsis).
pub const MAX_TITLE_CHARS: usize = 120;

/// Title of a conversation whose question has no words (never stored empty).
pub const UNTITLED: &str = "New chat";

/// Characters of context on each side of a search match in its snippet.
pub const SNIPPET_CONTEXT_CHARS: usize = 60;

const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A new conversation id for a conversation created at `now_ms`.
pub fn new_id(now_ms: i64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_i64(now_ms);
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut random = hasher.finish();
    let mut time = u64::try_from(now_ms).unwrap_or_default();
    let mut id = [b'0'; ID_LEN];
    for slot in id[..9].iter_mut().rev() {
        *slot = DIGITS[usize::try_from(time % 36).unwrap_or_default()];
        time /= 36;
    }
    for slot in &mut id[9..] {
        *slot = DIGITS[usize::try_from(random % 36).unwrap_or_default()];
        random /= 36;
    }
    String::from_utf8_lossy(&id).into_owned()
}

/// Whether `id` has the shape of a conversation id (anything else names nothing).
pub fn is_id(id: &str) -> bool {
    id.len() == ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// A title made from `text`: whitespace and control characters collapsed to single
/// spaces, trimmed, cut to [`MAX_TITLE_CHARS`] (ending with "…" when cut).
/// [`UNTITLED`] when nothing is left.
pub fn title_from(text: &str) -> String {
    let mut title = String::with_capacity(text.len().min(MAX_TITLE_CHARS * 4));
    let mut chars = 0;
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !title.is_empty();
            continue;
        }
        let needed = usize::from(pending_space) + 1;
        if chars + needed > MAX_TITLE_CHARS {
            // Room for the ellipsis: drop the last character if there is none.
            if chars == MAX_TITLE_CHARS {
                title.pop();
                if title.ends_with(' ') {
                    title.pop();
                }
            }
            title.push('…');
            return title;
        }
        if pending_space {
            title.push(' ');
            chars += 1;
            pending_space = false;
        }
        title.push(c);
        chars += 1;
    }
    if title.is_empty() {
        UNTITLED.to_string()
    } else {
        title
    }
}

/// Where `needle` (already lowercase) occurs in `text`, case-insensitively: a
/// snippet of the text around the first match, or `None`.
pub fn find(text: &str, needle: &str) -> Option<String> {
    if needle.is_empty() {
        return None;
    }
    // The lowercase text, and for each of its chars the index of the original char
    // it came from (lowercasing may change lengths).
    let mut lower = String::with_capacity(text.len());
    let mut origin: Vec<(usize, usize)> = Vec::new();
    for (i, c) in text.chars().enumerate() {
        origin.push((lower.len(), i));
        lower.extend(c.to_lowercase());
    }
    let at = lower.find(needle)?;
    let start = match origin.binary_search_by(|(byte, _)| byte.cmp(&at)) {
        Ok(k) => origin[k].1,
        Err(k) => origin[k.saturating_sub(1)].1,
    };
    let end_byte = at + needle.len();
    let end = match origin.binary_search_by(|(byte, _)| byte.cmp(&end_byte)) {
        Ok(k) => origin[k].1,
        Err(k) => origin.get(k).map_or(origin.len(), |o| o.1),
    };
    Some(snippet(text, start, end))
}

fn snippet(text: &str, start: usize, end: usize) -> String {
    let from = start.saturating_sub(SNIPPET_CONTEXT_CHARS);
    let total = text.chars().count();
    let to = (end + SNIPPET_CONTEXT_CHARS).min(total);
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let mut space = false;
    for c in text.chars().skip(from).take(to - from) {
        if c.is_whitespace() || c.is_control() {
            space = true;
        } else {
            if space && !out.is_empty() && !out.ends_with('…') {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    if to < total {
        out.push('…');
    }
    out
}

/// A file name for an export of the conversation `title` (`id`): ASCII letters,
/// digits and '-' only, so it is safe in a header and on any file system.
pub fn file_name(title: &str, id: &str, extension: &str) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 60 {
            break;
        }
    }
    let slug = slug.trim_matches('-');
    let slug = if slug.is_empty() {
        "conversation"
    } else {
        slug
    };
    let id: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("{slug}-{id}.{extension}")
}

/// `bytes` as an opaque cursor (URL-safe base64, no padding).
pub fn encode_cursor(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The bytes of a cursor made by [`encode_cursor`], if it is one.
pub fn decode_cursor(cursor: &str) -> Option<Vec<u8>> {
    if cursor.len() > 1024 {
        return None;
    }
    URL_SAFE_NO_PAD.decode(cursor).ok()
}

/// The largest index not above `at` that is a char boundary of `text`.
pub fn floor_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    let mut at = at;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_creation_and_differ() {
        let a = new_id(1_700_000_000_000);
        let b = new_id(1_700_000_000_000);
        let c = new_id(1_700_000_000_001);
        assert!(is_id(&a) && is_id(&b) && is_id(&c), "{a} {b} {c}");
        assert_ne!(a, b);
        assert_eq!(a[..9], b[..9]);
        assert!(c[..9] > a[..9]);
        for bad in [
            "",
            "search",
            "ABCDEFGHIJKLMNOP",
            "0123456789abcde/",
            "../../etc/passwd",
        ] {
            assert!(!is_id(bad), "{bad}");
        }
    }

    #[test]
    fn titles_are_one_trimmed_capped_line() {
        assert_eq!(title_from("  How do\n\tI   sort?  "), "How do I sort?");
        assert_eq!(title_from(" \n "), UNTITLED);
        let long = title_from(&"word ".repeat(100));
        assert_eq!(long.chars().count(), MAX_TITLE_CHARS);
        assert!(long.ends_with('…'));
        assert!(!long.ends_with(" …"));
        assert_eq!(
            title_from(&"é".repeat(MAX_TITLE_CHARS)).chars().count(),
            MAX_TITLE_CHARS
        );
    }

    #[test]
    fn finds_case_insensitively_with_a_snippet() {
        let text = format!(
            "{} The Quick Brown fox {}",
            "a".repeat(100),
            "b".repeat(100)
        );
        let found = find(&text, "quick brown").unwrap();
        assert!(found.contains("The Quick Brown fox"), "{found}");
        assert!(found.starts_with('…') && found.ends_with('…'), "{found}");
        assert_eq!(find("À L'ÉCOLE", "l'école").unwrap(), "À L'ÉCOLE");
        assert_eq!(find("nothing here", "absent"), None);
        assert_eq!(find("short", "short").unwrap(), "short");
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(
            file_name("Rust: \"lifetimes\" & /etc/passwd", "abc", "md"),
            "rust-lifetimes-etc-passwd-abc.md"
        );
        assert_eq!(file_name("日本語", "x1", "json"), "conversation-x1.json");
        assert_eq!(
            file_name("a\r\nContent-Type: x", "1", "md"),
            "a-content-type-x-1.md"
        );
    }

    #[test]
    fn cursors_round_trip() {
        let c = encode_cursor(b"{\"s\":\"c#x\"}");
        assert_eq!(decode_cursor(&c).unwrap(), b"{\"s\":\"c#x\"}");
        assert_eq!(decode_cursor("not base64!"), None);
    }

    #[test]
    fn boundaries_fall_between_chars() {
        let t = "aé€";
        assert_eq!(floor_boundary(t, 2), 1);
        assert_eq!(floor_boundary(t, 3), 3);
        assert_eq!(floor_boundary(t, 99), t.len());
    }
}
