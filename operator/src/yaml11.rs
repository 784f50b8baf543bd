//! Where kubectl and the file mode would read one YAML file differently.
//!
//! kubectl, Helm, Argo CD and Flux read YAML through `sigs.k8s.io/yaml`, which
//! resolves plain (unquoted) scalars by YAML 1.1's rules: `yes`, `no`, `on`, `off`,
//! `y` and `n` are booleans, `0755` is octal, `2_000` has a digit separator. The
//! file mode reads YAML 1.2 (`serde_norway`), where all of those are strings. A
//! file must mean one thing whichever tool applies it, so the file mode refuses a
//! plain scalar the two read differently, saying where it is and how to write it.

use granit_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

/// A plain scalar that YAML 1.1 and YAML 1.2 read as different values.
#[derive(Clone, Debug, PartialEq)]
pub struct Ambiguity {
    /// 1-based position of its document in the file.
    pub document: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The scalar as written.
    pub scalar: String,
    /// What kubectl reads (YAML 1.1).
    pub kubectl: Value,
    /// What the file mode reads (YAML 1.2).
    pub file_mode: Value,
}

impl Ambiguity {
    /// What is wrong and how to write it so that both read the same.
    pub fn message(&self) -> String {
        let Self {
            line,
            column,
            scalar,
            kubectl,
            file_mode,
            ..
        } = self;
        format!(
            "line {line}, column {column}: `{scalar}` unquoted is {kubectl} to kubectl, Helm, \
             Argo CD and Flux (YAML 1.1) but {file_mode} here (YAML 1.2); write \"{scalar}\" \
             (quoted) for the string, or {kubectl} for the value"
        )
    }
}

/// Every plain scalar of `text` — values and mapping keys — that YAML 1.1 and YAML
/// 1.2 read differently, in file order. A file that is not valid YAML yields what
/// was found before the error (reading it reports the error).
pub fn ambiguities(text: &str) -> Vec<Ambiguity> {
    let mut found = Vec::new();
    let mut document = 0;
    for event in Parser::new_from_str(text) {
        let Ok((event, span)) = event else { break };
        match event {
            Event::DocumentStart(..) => document += 1,
            Event::Scalar(scalar, ScalarStyle::Plain, _, None) => {
                let Some(kubectl) = yaml_1_1(&scalar) else {
                    continue;
                };
                let file_mode = yaml_1_2(&scalar);
                if !same(&kubectl, &file_mode) {
                    found.push(Ambiguity {
                        document,
                        line: span.start.line(),
                        column: span.start.col() + 1,
                        scalar: scalar.into_owned(),
                        kubectl,
                        file_mode,
                    });
                }
            }
            _ => {}
        }
    }
    found
}

/// Two readings are the same value: numbers compare by value (`1e3` is `1000`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => a == b,
    }
}

/// A plain scalar as YAML 1.2's core schema reads it, as the file mode does.
fn yaml_1_2(scalar: &str) -> Value {
    serde_norway::from_str(scalar).unwrap_or_else(|_| Value::String(scalar.to_owned()))
}

/// A plain scalar as `sigs.k8s.io/yaml` (go-yaml v2) reads it, when that is not a
/// string: `None` for a string (and for what kubectl cannot turn into JSON, such
/// as `.inf`, which it refuses itself).
fn yaml_1_1(scalar: &str) -> Option<Value> {
    match scalar {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            Some(Value::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            Some(Value::Bool(false))
        }
        "" | "~" | "null" | "Null" | "NULL" => Some(Value::Null),
        _ => number(scalar),
    }
}

/// go-yaml v2: underscores are dropped, then Go's `strconv.ParseInt(s, 0, 64)`
/// (prefixes 0x, 0o, 0b, and a leading 0 for octal), then `ParseUint`, then a
/// float of the form `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn number(scalar: &str) -> Option<Value> {
    let first = scalar.chars().next()?;
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return None;
    }
    let plain = scalar.replace('_', "");
    if let Some(integer) = integer(&plain) {
        return Some(integer);
    }
    if is_float(&plain) {
        let float: f64 = plain.parse().ok()?;
        return serde_json::Number::from_f64(float).map(Value::Number);
    }
    None
}

/// Go's `ParseInt`/`ParseUint` with base 0.
fn integer(plain: &str) -> Option<Value> {
    let (negative, unsigned) = match plain.as_bytes().first()? {
        b'-' => (true, &plain[1..]),
        b'+' => (false, &plain[1..]),
        _ => (false, plain),
    };
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    // from_str_radix would take a second sign.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = i64::try_from(-i128::from(magnitude)).ok()?;
        Some(Value::from(value))
    } else {
        Some(Value::from(magnitude))
    }
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, the whole string.
fn is_float(plain: &str) -> bool {
    let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = plain.strip_prefix(['+', '-']).unwrap_or(plain);
    let rest = if let Some(fraction) = rest.strip_prefix('.') {
        let n = digits(fraction);
        if n == 0 {
            return false;
        }
        &fraction[n..]
    } else {
        let n = digits(rest);
        if n == 0 {
            return false;
        }
        let rest = &rest[n..];
        match rest.strip_prefix('.') {
            Some(fraction) => &fraction[digits(fraction)..],
            None => rest,
        }
    };
    match rest.strip_prefix(['e', 'E']) {
        None => rest.is_empty(),
        Some(exponent) => {
            let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            let n = digits(exponent);
            n > 0 && n == exponent.len()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What `sigs.k8s.io/yaml`'s `YAMLToJSON` (the one in kubectl v1.37.2) gave
    /// for each plain scalar, and what YAML 1.2 gives.
    #[test]
    fn plain_scalars_read_as_kubectl_reads_them() {
        let kubectl = [
            ("yes", json!(true)),
            ("n", json!(false)),
            ("On", json!(true)),
            ("0036", json!(30)),
            ("1_000", json!(1000)),
            ("0b101", json!(5)),
            ("0o17", json!(15)),
            ("0x1F", json!(31)),
            (".5", json!(0.5)),
            ("+12", json!(12)),
            ("~", Value::Null),
            ("1e3", json!(1000.0)),
            ("08", json!(8.0)),
            ("-0x10", json!(-16)),
        ];
        for (scalar, value) in kubectl {
            let read = yaml_1_1(scalar);
            assert!(
                read.as_ref().is_some_and(|read| same(read, &value)),
                "{scalar}: {read:?}"
            );
        }
        for string in [
            "2026-12-05",
            "1:30",
            "abc",
            "0x",
            "1.2.3",
            "+-1",
            "e3",
            "-",
            ".",
        ] {
            assert_eq!(yaml_1_1(string), None, "{string}");
        }
    }

    #[test]
    fn only_plain_scalars_read_differently_are_found_with_their_place() {
        let text =
            "a: yes\nb: \"yes\"\nc: 'no'\nd: true\ne: 12\nf: 0755\n---\ny: |\n  on\ng: 2_000\n";
        let all = ambiguities(text);
        let places: Vec<(usize, usize, usize, &str)> = all
            .iter()
            .map(|a| (a.document, a.line, a.column, a.scalar.as_str()))
            .collect();
        assert_eq!(
            places,
            [
                (1, 1, 4, "yes"),
                (1, 6, 4, "0755"),
                (2, 8, 1, "y"),
                (2, 10, 4, "2_000")
            ]
        );
        assert_eq!(
            all[1].message(),
            "line 6, column 4: `0755` unquoted is 493 to kubectl, Helm, Argo CD and Flux \
             (YAML 1.1) but \"0755\" here (YAML 1.2); write \"0755\" (quoted) for the string, \
             or 493 for the value"
        );
    }
}
