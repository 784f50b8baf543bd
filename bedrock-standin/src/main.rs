//! `bedrock-standin`: the Bedrock runtime stand-in as a process, for the quick start
//! and for tests in other languages. Prints `listening on http://127.0.0.1:<port>` as
//! its first line of standard output, then serves until interrupted.

use std::io::Write;
use std::process::ExitCode;

use bedrock_standin::{Reply, StandIn};
use clap::Parser;

/// A local stand-in for the Amazon Bedrock runtime (Converse, ConverseStream).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Port on 127.0.0.1; 0 picks a free one (printed on start).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Pause between streamed tokens, in milliseconds (Converse answers after as long
    /// as the stream would take).
    #[arg(long, default_value_t = 30)]
    pace_ms: u64,
    /// Pause before the first token, in milliseconds.
    #[arg(long, default_value_t = 0)]
    first_token_ms: u64,
    /// Answer every question with this text instead of the stand-in's echo.
    #[arg(long)]
    reply: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let default = Reply {
        text: cli.reply,
        pace_ms: cli.pace_ms,
        first_token_ms: cli.first_token_ms,
        fault: None,
    };
    let standin = match StandIn::start(cli.port, default).await {
        Ok(standin) => standin,
        Err(e) => {
            eprintln!(
                "error: {e}: {}",
                std::error::Error::source(&e).map_or_else(String::new, |s| s.to_string())
            );
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {}", standin.endpoint_url());
    let _ = out.flush();
    tracing::info!(endpoint = %standin.endpoint_url(), "Bedrock stand-in ready");
    let _ = tokio::signal::ctrl_c().await;
    standin.stop().await;
    ExitCode::SUCCESS
}
