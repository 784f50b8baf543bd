//! Progress on the command line: on a terminal, a live table with one row per
//! resource that updates in place; otherwise (logs, CI) one plain line per resource
//! and pass.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use crate::resources::{Event, Outcome, Progress};

/// Writes each event as a line to standard error.
#[derive(Debug)]
pub struct Lines {
    terminal: bool,
    /// Unchanged resources are shown only with `verbose`.
    verbose: bool,
    out: Mutex<()>,
}

impl Lines {
    /// Decides on colour by whether standard error is a terminal.
    pub fn new(verbose: bool) -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            verbose,
            out: Mutex::new(()),
        }
    }
}

/// The display that suits standard error: [`Live`] on a terminal, [`Lines`] otherwise.
pub fn for_stderr(verbose: bool) -> Arc<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Arc::new(Live::default())
    } else {
        Arc::new(Lines::new(verbose))
    }
}

/// A table redrawn in place: one row per resource, showing its latest outcome.
#[derive(Debug, Default)]
pub struct Live(Mutex<LiveRows>);

#[derive(Debug, Default)]
struct LiveRows {
    rows: Vec<(String, String)>,
    drawn: usize,
}

impl LiveRows {
    /// Records `event` in its row and returns the escape sequence that redraws the
    /// table over the previous drawing.
    fn update(&mut self, event: &Event) -> String {
        let key = format!("{}\u{0}{}\u{0}{}", event.owner, event.kind, event.name);
        let (symbol, colour) = symbol(&event.outcome);
        let id = event
            .id
            .as_ref()
            .map(|id| format!(" ({id})"))
            .unwrap_or_default();
        let text = format!(
            "\x1b[{colour}m{symbol}\x1b[0m {} {} {}{id}: {}",
            event.owner,
            event.kind,
            event.name,
            describe(&event.outcome)
        );
        match self.rows.iter_mut().find(|(k, _)| *k == key) {
            Some(row) => row.1 = text,
            None => self.rows.push((key, text)),
        }
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for (_, text) in &self.rows {
            out.push_str("\r\x1b[2K");
            out.push_str(text);
            out.push('\n');
        }
        self.drawn = self.rows.len();
        out
    }
}

impl Progress for Live {
    fn report(&self, event: Event) {
        let mut rows = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let drawing = rows.update(&event);
        let _ = std::io::stderr().lock().write_all(drawing.as_bytes());
    }
}

fn symbol(outcome: &Outcome) -> (&'static str, &'static str) {
    match outcome {
        Outcome::Created | Outcome::Deleted => ("+", "32"),
        Outcome::Updated(_) => ("~", "33"),
        Outcome::Unchanged | Outcome::Absent | Outcome::Retained => ("=", "2"),
        Outcome::Waiting(_) | Outcome::Blocked(_) | Outcome::Deleting(_) => ("…", "36"),
        Outcome::Failed(_) => ("!", "31"),
    }
}

/// `created`, `updated (…)`, … — the words of an outcome.
pub fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Created => "created".into(),
        Outcome::Updated(drift) => {
            let changes: Vec<String> = drift.iter().map(ToString::to_string).collect();
            format!("updated: {}", changes.join(", "))
        }
        Outcome::Unchanged => "unchanged".into(),
        Outcome::Waiting(why) => format!("waiting: {why}"),
        Outcome::Blocked(why) => format!("blocked: {why}"),
        Outcome::Deleted => "deleted".into(),
        Outcome::Deleting(why) => format!("deleting: {why}"),
        Outcome::Absent => "absent".into(),
        Outcome::Retained => "retained (deletionPolicy: Retain)".into(),
        Outcome::Failed(error) => format!("FAILED: {error}"),
    }
}

impl Progress for Lines {
    fn report(&self, event: Event) {
        if matches!(event.outcome, Outcome::Unchanged | Outcome::Absent) && !self.verbose {
            return;
        }
        let (symbol, colour) = symbol(&event.outcome);
        let id = event.id.map(|id| format!(" ({id})")).unwrap_or_default();
        let text = format!(
            "{} {} {}{id}: {}",
            event.owner,
            event.kind,
            event.name,
            describe(&event.outcome)
        );
        let _guard = self.out.lock();
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            writeln!(err, "\x1b[{colour}m{symbol}\x1b[0m {text}")
        } else {
            writeln!(err, "{symbol} {text}")
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::Owner;

    fn event(name: &str, outcome: Outcome) -> Event {
        Event {
            owner: Owner::ChatbotPlatform {
                name: "shared".into(),
            },
            kind: "NAT gateway",
            name: name.into(),
            id: Some("nat-1".into()),
            outcome,
        }
    }

    #[test]
    fn live_table_updates_rows_in_place() {
        let mut rows = LiveRows::default();
        let first = rows.update(&event("a", Outcome::Waiting("pending".into())));
        assert!(
            !first.contains("\x1b[1A"),
            "nothing to move over yet: {first:?}"
        );
        assert!(first.contains("NAT gateway a (nat-1): waiting: pending"));
        let second = rows.update(&event("b", Outcome::Created));
        assert!(
            second.starts_with("\x1b[1A"),
            "redraws over the one drawn row: {second:?}"
        );
        let third = rows.update(&event("a", Outcome::Unchanged));
        assert!(third.starts_with("\x1b[2A"));
        assert_eq!(rows.rows.len(), 2, "the same resource keeps its row");
        assert!(third.contains("NAT gateway a (nat-1): unchanged"));
        assert!(!third.contains("waiting"));
    }

    #[test]
    fn outcomes_read_as_words() {
        assert_eq!(
            describe(&Outcome::Retained),
            "retained (deletionPolicy: Retain)"
        );
        let setting = crate::resources::log_group::LogGroupSetting::RetentionInDays;
        let drift = crate::resources::Drift::new(setting, 7, 30).named();
        assert_eq!(
            describe(&Outcome::Updated(vec![drift])),
            "updated: retentionInDays 7 → 30"
        );
    }
}
