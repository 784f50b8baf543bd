//! `bedrock-chatbot`: serve the chat app (the default), or check its health.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use bedrock_chatbot::attachments::Attachments;
use bedrock_chatbot::auth::{AlbVerifier, Authenticator, Identity};
use bedrock_chatbot::bedrock::Bedrock;
use bedrock_chatbot::config::{self, Config};
use bedrock_chatbot::history::History;
use bedrock_chatbot::{AppState, Error, healthcheck};
use clap::{Parser, Subcommand};

/// The chat web app of the Bedrock Chatbot Operator. Configured by environment
/// variables (see the chatbot's README); AWS by the standard SDK chain.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the chat app (the default).
    Serve(ServeArgs),
    /// Exit 0 when the local server answers its health check, 1 otherwise.
    Healthcheck {
        /// Port of the server on 127.0.0.1.
        #[arg(long, default_value_t = 8501)]
        port: u16,
        /// Give up after this many milliseconds per step.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on (default: CHATBOT_LISTEN_ADDR, else 0.0.0.0:8501; with
    /// --dev-identity, 127.0.0.1:8501).
    #[arg(long)]
    listen: Option<String>,
    /// LOCAL USE ONLY: sign everyone in as EMAIL, without the ALB. Refused unless the
    /// listen address is loopback. The operator's variables get local defaults.
    #[arg(long, value_name = "EMAIL")]
    dev_identity: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Healthcheck { port, timeout_ms }) => {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            match healthcheck::check(addr, Duration::from_millis(timeout_ms)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("unhealthy: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Serve(args)) => run(args),
        None => run(cli.serve),
    }
}

fn run(args: ServeArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aws_config=warn".into()),
        )
        .json()
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "chatbot stopped");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), Error> {
    let dev = args.dev_identity.is_some();
    let config = Config::from_lookup(|name| {
        std::env::var(name).ok().or_else(|| {
            dev.then(|| config::local_default(name).map(str::to_string))
                .flatten()
        })
    })?;
    let listen = args.listen.clone().unwrap_or_else(|| {
        if dev && std::env::var(config::ENV_LISTEN_ADDR).is_err() {
            "127.0.0.1:8501".into()
        } else {
            config.server.listen_addr.clone()
        }
    });
    let auth = match args.dev_identity {
        Some(email) => {
            if !is_loopback(&listen) {
                return Err(Error::DevIdentityNotLoopback { addr: listen });
            }
            tracing::warn!(
                identity = %email,
                "DEVELOPMENT IDENTITY: every request is signed in as {email} without the ALB. For local use only."
            );
            Authenticator::Dev(Identity {
                subject: format!("dev:{email}"),
                name: email,
            })
        }
        None => Authenticator::Alb(AlbVerifier::new(&config)),
    };
    let sdk = bedrock_chatbot::bedrock::sdk_config(&config).await;
    let bedrock = Bedrock::from_sdk(&sdk, &config);
    let history = config
        .history
        .as_ref()
        .map(|history| History::from_sdk(&sdk, history));
    let attachments = config
        .attachments
        .as_ref()
        .map(|attachments| Attachments::from_sdk(&sdk, attachments));
    drop(sdk);
    let listener = bedrock_chatbot::app::bind(&listen).await?;
    tracing::info!(
        listen = %listen,
        model = %config.model.model_id,
        region = %config.region,
        history_table = config.history.as_ref().map(|h| h.table.as_str()),
        history_retention_days = config.history.as_ref().map(|h| h.retention_days),
        attachments_bucket = config.attachments.as_ref().map(|a| a.bucket.as_str()),
        attachments_prefix = config.attachments.as_ref().map(|a| a.prefix.as_str()),
        "chatbot ready"
    );
    let mut state = AppState::new(config, auth, bedrock);
    if let Some(history) = history {
        state = state.with_history(history);
    }
    if let Some(attachments) = attachments {
        state = state.with_attachments(attachments);
    }
    bedrock_chatbot::serve(state, listener, shutdown_signal()).await
}

/// Every address `addr` names is loopback (so `localhost:8501` passes and
/// `0.0.0.0:8501` does not).
fn is_loopback(addr: &str) -> bool {
    match addr.to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

/// SIGTERM (ECS stopping the task) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
