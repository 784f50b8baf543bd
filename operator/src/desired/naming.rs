//! Deterministic AWS names that fit each service's length and character rules.
//!
//! Kubernetes names are longer and allow other characters than most AWS names, and
//! a team's resources are named from two parts (namespace and name) that could join
//! ambiguously. Every name built from user input therefore ends in a short hash of
//! the full, unambiguous input whenever the readable part alone might collide.

use sha2::{Digest, Sha256};

/// Eight hex characters of the SHA-256 of `input`: stable across runs and machines.
pub fn short_hash(input: &str) -> String {
    sha256_hex(input.as_bytes(), 4)
}

/// The first `bytes` bytes (at most 32) of the SHA-256 of `input`, in lowercase hex.
pub fn sha256_hex(input: &[u8], bytes: usize) -> String {
    Sha256::digest(input)
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The characters a kind of AWS name allows besides ASCII letters and digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// Letters, digits and hyphens (load balancers, target groups).
    Hyphens,
    /// Letters, digits, hyphens and underscores (ECS clusters, services, families).
    HyphensUnderscores,
    /// IAM role names: letters, digits and `+=,.@_-`.
    Iam,
    /// Lowercase letters, digits and hyphens (Cognito domain prefixes).
    LowerHyphens,
}

impl Charset {
    fn allows(self, c: char) -> bool {
        match self {
            Self::Hyphens => c.is_ascii_alphanumeric() || c == '-',
            Self::HyphensUnderscores => c.is_ascii_alphanumeric() || c == '-' || c == '_',
            Self::Iam => c.is_ascii_alphanumeric() || "+=,.@_-".contains(c),
            Self::LowerHyphens => c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
        }
    }
}

/// Replaces characters `charset` does not allow with hyphens.
pub fn sanitize(raw: &str, charset: Charset) -> String {
    let lowered;
    let raw = if charset == Charset::LowerHyphens {
        lowered = raw.to_ascii_lowercase();
        &lowered
    } else {
        raw
    };
    raw.chars()
        .map(|c| if charset.allows(c) { c } else { '-' })
        .collect()
}

/// `readable` (sanitized, cut to fit) + `-` + [`short_hash`] of `identity` + `suffix`,
/// at most `max` characters, never starting or ending with a hyphen.
///
/// `identity` is the unambiguous key of the owner (e.g. `BedrockChatbot/ns/name`), so
/// two owners never share a name even when their readable parts look alike.
pub fn hashed_name(
    readable: &str,
    identity: &str,
    suffix: &str,
    max: usize,
    charset: Charset,
) -> String {
    let hash = short_hash(identity);
    let budget = max.saturating_sub(hash.len() + 1 + suffix.len());
    let readable = sanitize(readable, charset);
    let cut: String = readable.chars().take(budget).collect();
    let cut = cut.trim_matches('-');
    if cut.is_empty() {
        format!("{hash}{suffix}")
    } else {
        format!("{cut}-{hash}{suffix}")
    }
}

/// `readable` as it is when it already fits `max` and `charset`; otherwise a
/// [`hashed_name`] of it.
pub fn fitted_name(readable: &str, max: usize, charset: Charset) -> String {
    let clean = sanitize(readable, charset);
    if clean == readable
        && readable.len() <= max
        && !readable.starts_with('-')
        && !readable.ends_with('-')
    {
        readable.to_string()
    } else {
        hashed_name(readable, readable, "", max, charset)
    }
}

/// Words Cognito refuses in a hosted-UI domain prefix.
const COGNITO_RESERVED: [(&str, &str); 3] =
    [("cognito", "cgnt"), ("amazon", "amzn"), ("aws", "a-ws")];

/// A Cognito hosted-UI domain prefix (≤ 63 lowercase letters, digits, hyphens,
/// without the reserved words) from a readable part and the chatbot's hostname.
///
/// Prefixes are unique per region across all AWS accounts; the hostname belongs to
/// the team, so hashing it makes a clash with someone else's prefix unlikely.
pub fn cognito_domain_prefix(readable: &str, hostname: &str) -> String {
    let mut clean = sanitize(readable, Charset::LowerHyphens);
    for (word, replacement) in COGNITO_RESERVED {
        clean = clean.replace(word, replacement);
    }
    hashed_name(&clean, hostname, "", 63, Charset::LowerHyphens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hash_is_stable_and_eight_hex_chars() {
        assert_eq!(
            short_hash("BedrockChatbot/team-a/assistant"),
            short_hash("BedrockChatbot/team-a/assistant")
        );
        assert_ne!(short_hash("a"), short_hash("b"));
        assert_eq!(short_hash("x").len(), 8);
        assert!(short_hash("x").chars().all(|c| c.is_ascii_hexdigit()));
        // SHA-256("abc") starts with ba7816bf.
        assert_eq!(short_hash("abc"), "ba7816bf");
    }

    #[test]
    fn hashed_name_fits_and_keeps_identity_apart() {
        let long = "a".repeat(300);
        let name = hashed_name(&long, "id-1", "", 32, Charset::Hyphens);
        assert_eq!(name.len(), 32);
        assert!(name.ends_with(&short_hash("id-1")));
        // Same readable text, different owners: different names.
        assert_ne!(
            hashed_name(
                "team-a-bot",
                "BedrockChatbot/team-a/bot",
                "",
                32,
                Charset::Hyphens
            ),
            hashed_name(
                "team-a-bot",
                "BedrockChatbot/team/a-bot",
                "",
                32,
                Charset::Hyphens
            )
        );
    }

    #[test]
    fn hashed_name_never_ends_readable_part_with_hyphen() {
        // 22 readable chars fit a 32-char budget with "-" + 8 hash chars + suffix "";
        // the cut lands right after a hyphen, which must be trimmed.
        let name = hashed_name(
            "abcdefghijklmnopqrstu-vwxyz",
            "id",
            "",
            31,
            Charset::Hyphens,
        );
        assert!(!name.contains("--"), "{name}");
        assert!(name.len() <= 31);
    }

    #[test]
    fn suffix_is_kept_inside_the_limit() {
        let name = hashed_name(&"x".repeat(100), "id", "-task", 64, Charset::Iam);
        assert_eq!(name.len(), 64);
        assert!(name.ends_with("-task"));
    }

    #[test]
    fn fitted_name_keeps_short_clean_names_and_hashes_the_rest() {
        assert_eq!(
            fitted_name("bcb-shared", 32, Charset::Hyphens),
            "bcb-shared"
        );
        let dotted = fitted_name("bcb-my.platform", 32, Charset::Hyphens);
        assert!(dotted.starts_with("bcb-my-platform-"), "{dotted}");
        assert_ne!(dotted, fitted_name("bcb-my-platform", 32, Charset::Hyphens));
        assert_eq!(fitted_name(&"p".repeat(40), 32, Charset::Hyphens).len(), 32);
    }

    #[test]
    fn cognito_prefix_avoids_reserved_words_and_uppercase() {
        let prefix = cognito_domain_prefix("AWS-Amazon-Cognito-team", "chat.example.com");
        assert!(
            !prefix.contains("aws") && !prefix.contains("amazon") && !prefix.contains("cognito"),
            "{prefix}"
        );
        assert!(
            prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        assert!(prefix.len() <= 63);
        assert_ne!(
            prefix,
            cognito_domain_prefix("AWS-Amazon-Cognito-team", "chat.other.com")
        );
    }
}
