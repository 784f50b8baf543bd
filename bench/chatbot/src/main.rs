//! `bench-chatbot`: drive the chatbot or the Bedrock stand-in, print what was measured
//! as one JSON object. Run by `bench/chatbot/run-part`; not a test.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use bench_chatbot::load::{self, Settings};
use bench_chatbot::target::{Kind, Target};
use clap::{Parser, Subcommand};

/// Load driver of the chatbot benchmark.
#[derive(Debug, Parser)]
struct Cli {
    /// What to drive.
    #[arg(long, value_enum)]
    target: Kind,
    /// Its address, `127.0.0.1:PORT`.
    #[arg(long)]
    addr: SocketAddr,
    /// Tokens in every complete answer (the stand-in's scripted reply).
    #[arg(long)]
    tokens: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Virtual users asking back to back; measures inside a window.
    Load {
        /// Virtual users.
        #[arg(long)]
        concurrency: usize,
        /// Seconds over which users start.
        #[arg(long, default_value_t = 2.0)]
        ramp: f64,
        /// Seconds after the ramp before the window opens.
        #[arg(long, default_value_t = 3.0)]
        warmup: f64,
        /// Seconds the window lasts.
        #[arg(long, default_value_t = 8.0)]
        duration: f64,
        /// Answers per conversation before a user starts a new one (0: never).
        #[arg(long, default_value_t = 5)]
        turns_per_conversation: usize,
    },
    /// One question at a time, each on a new connection.
    Sequential {
        /// Questions.
        #[arg(long)]
        count: usize,
        /// Stop reading each answer after its first token.
        #[arg(long)]
        first_token_only: bool,
        /// Questions per conversation (1: each question starts a new one).
        #[arg(long, default_value_t = 1)]
        turns_per_conversation: usize,
    },
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or_default()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One thread: the driver is pinned to one core, next to the stand-in.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let target = Target {
        kind: cli.target,
        addr: cli.addr,
    };
    let summary = runtime.block_on(async {
        match cli.command {
            Command::Load {
                concurrency,
                ramp,
                warmup,
                duration,
                turns_per_conversation,
            } => {
                let settings = Settings {
                    concurrency,
                    ramp: seconds(ramp),
                    warmup: seconds(warmup),
                    duration: seconds(duration),
                    tokens: cli.tokens,
                    turns_per_conversation,
                };
                load::run(&target, &settings).await
            }
            Command::Sequential {
                count,
                first_token_only,
                turns_per_conversation,
            } => {
                load::sequential(
                    &target,
                    count,
                    cli.tokens,
                    first_token_only,
                    turns_per_conversation,
                )
                .await
            }
        }
    });
    match serde_json::to_string(&summary) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
