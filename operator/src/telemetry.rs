//! Logs: JSON lines (with the reconcile span's kind/namespace/name on every line)
//! for a cluster's log pipeline, or plain text for a terminal.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, with the current span's fields.
    Json,
    /// Human-readable lines.
    Text,
}

/// Installs the global subscriber on stderr. `RUST_LOG` overrides `default_filter`.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    match format {
        LogFormat::Json => json(filter, std::io::stderr).init(),
        LogFormat::Text => tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            // Colour only for a person at a terminal, not in a file or a log pipeline.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_env_filter(filter)
            .init(),
    }
}

/// The JSON-lines subscriber `init` installs, writing to `writer` (tests capture
/// exactly what a cluster's log pipeline would receive with it).
pub fn json<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(filter)
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .finish()
}
