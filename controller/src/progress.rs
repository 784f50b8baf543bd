//! Progress on the command line: one line per resource and pass, with symbols and
//! colour on a terminal, plain text otherwise (logs, CI).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

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
        let (symbol, colour) = match event.outcome {
            Outcome::Created | Outcome::Deleted => ("+", "32"),
            Outcome::Updated(_) => ("~", "33"),
            Outcome::Unchanged | Outcome::Absent | Outcome::Retained => ("=", "2"),
            Outcome::Waiting(_) | Outcome::Blocked(_) | Outcome::Deleting(_) => ("…", "36"),
            Outcome::Failed(_) => ("!", "31"),
        };
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
