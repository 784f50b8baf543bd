//! `bedrock-chatbot-operator`: the command line. Parses arguments and wires the
//! library together; the work happens in the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aws_config::SdkConfig;
use bedrock_chatbot_crds::CONDITION_READY;
use clap::{ArgAction, Parser, Subcommand, ValueEnum};
use operator::desired::UNKNOWN_ACCOUNT;
use operator::engine::Engine;
use operator::telemetry::{self, LogFormat};
use operator::{Error, crd, file_mode, in_cluster, manifest, metrics, plan, progress};

/// Gives every team its own secure Amazon Bedrock chatbot, declared as Kubernetes
/// objects.
#[derive(Debug, Parser)]
#[command(name = "bedrock-chatbot-operator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run in a cluster: watch ChatbotPlatforms and BedrockChatbots and make AWS
    /// match them (finalizers, status, events, leader election, /metrics).
    Run(RunArgs),
    /// Print both CustomResourceDefinitions (YAML), or their field reference.
    Crd {
        /// `yaml`: the CRDs to install; `markdown`: the field reference.
        #[arg(short, long, value_enum, default_value_t = CrdOutput::Yaml)]
        output: CrdOutput,
    },
    /// Show the AWS resources the manifests ask for, offline: no cluster, no
    /// credentials, no AWS calls. ARNs use AWS_ACCOUNT_ID when it is set.
    Plan {
        /// Manifest files or directories (YAML, multi-document, or JSON).
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// `text`: a table per owner; `json`: the complete desired state, for scripts.
        #[arg(short, long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Make AWS match the manifests: create what is missing, correct what drifted,
    /// wait until everything is ready. Uses the standard AWS configuration
    /// (AWS_REGION, AWS_ENDPOINT_URL, AWS_PROFILE, web identity, …).
    Apply {
        /// Manifest files or directories (YAML, multi-document, or JSON).
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// What to print at the end.
        #[arg(short, long, value_enum, default_value_t = StatusOutput::Text)]
        output: StatusOutput,
        /// Give up waiting for readiness after this many seconds.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
        /// Seconds between passes while something is still being provisioned.
        #[arg(long, default_value_t = 5)]
        poll_interval: u64,
        /// `ready`: wait until every object is Ready (chatbots' tasks running);
        /// `converged`: until every AWS resource matches the spec.
        #[arg(long, value_enum, default_value_t = ReadyWhenArg::Ready)]
        ready_when: ReadyWhenArg,
        /// Also show resources that were already as desired.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Delete what `apply` made for the manifests, in dependency order, waiting for
    /// AWS to confirm; objects with `deletionPolicy: Retain` are left in place. A
    /// ChatbotPlatform is deleted only when its own manifest is among the -f files:
    /// `delete -f team-b.yaml` deletes that team's chatbot and nothing else.
    Delete {
        /// Manifest files or directories (YAML, multi-document, or JSON).
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// Give up waiting for deletions after this many seconds.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
        /// Seconds between passes while AWS is still deleting.
        #[arg(long, default_value_t = 5)]
        poll_interval: u64,
        /// The manifest of the platform of chatbots given with -f without it: read
        /// only to find that platform on AWS (its region and network), never
        /// deleted; it must be a ChatbotPlatform some chatbot in the -f files is on.
        /// Without it, such a chatbot's platform is looked up by name and ownership
        /// tags in the region of the standard AWS configuration (AWS_REGION, the
        /// profile's region). A platform that cannot be found stops the delete
        /// before anything is deleted.
        #[arg(long = "platform", value_name = "FILE", num_args = 1..)]
        platform_context: Vec<PathBuf>,
        /// Also show resources that were already gone.
        #[arg(short, long)]
        verbose: bool,
    },
}

/// `run`'s flags; each has an environment variable for Helm charts.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Namespaces whose BedrockChatbots are watched (comma-separated); empty: all.
    #[arg(long, env = "BCB_NAMESPACES", value_delimiter = ',')]
    namespaces: Vec<String>,
    /// Reconciles at the same time, per kind.
    #[arg(long, env = "BCB_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Seconds between drift resyncs of a ready object (jittered by ±10%).
    #[arg(long, env = "BCB_RESYNC_SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..))]
    resync_seconds: u64,
    /// Address of /metrics, /healthz and /readyz: `:PORT` for every address of
    /// the pod (IPv6 and IPv4), or `HOST:PORT`.
    #[arg(long, env = "BCB_METRICS_ADDR", default_value = ":8080")]
    metrics_addr: metrics::ListenAddr,
    /// Hold a coordination.k8s.io Lease so only one replica reconciles.
    #[arg(long, env = "BCB_LEADER_ELECTION", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", overrides_with = "no_leader_election")]
    leader_election: bool,
    /// Reconcile without a Lease (a single replica).
    #[arg(long, overrides_with = "leader_election")]
    no_leader_election: bool,
    /// Namespace of the Lease (the pod's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Name of the Lease: replicas given the same one elect one leader.
    #[arg(
        long,
        env = "BCB_LEASE_NAME",
        default_value = "bedrock-chatbot-operator"
    )]
    lease_name: String,
    /// Compute and report (events, logs) what would be done; write nothing to AWS
    /// and add no finalizers.
    #[arg(long, env = "BCB_DRY_RUN")]
    dry_run: bool,
    /// How the logs on stderr are written.
    #[arg(long, env = "BCB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
    /// Seconds a stopping controller (SIGTERM) waits for the reconciles in flight
    /// before it releases the Lease and exits; the pod's
    /// terminationGracePeriodSeconds must be longer.
    #[arg(long, env = "BCB_SHUTDOWN_GRACE_SECONDS", default_value_t = 90)]
    shutdown_grace_seconds: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ReadyWhenArg {
    /// Every object Ready.
    Ready,
    /// Every AWS resource converged.
    Converged,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum StatusOutput {
    /// One line per object.
    Text,
    /// The objects with their status, as `kubectl get -o yaml` shows them.
    Yaml,
    /// The same as JSON.
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CrdOutput {
    /// Both CRDs as a multi-document YAML stream.
    Yaml,
    /// A Markdown table of every spec field.
    Markdown,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    /// A table per owner.
    Text,
    /// The complete desired state as JSON.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Run(args) => telemetry::init(args.log_format, "info"),
        _ => telemetry::init(LogFormat::Text, "warn"),
    }
    let result = match cli.command {
        Command::Run(args) => runtime().and_then(|runtime| runtime.block_on(run_controller(args))),
        Command::Apply { .. } | Command::Delete { .. } => {
            runtime().and_then(|runtime| runtime.block_on(run_aws(cli.command)))
        }
        command => run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Stack of each tokio worker thread. A reconcile drives the AWS SDK's futures, which
/// are large; Rust's 2 MiB default left too little headroom in unoptimised builds
/// (a test overflowed it), so the binary does not rely on it in any build.
const WORKER_STACK: usize = 8 * 1024 * 1024;

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK)
        .build()
        .map_err(Error::Output)
}

fn run(command: Command) -> Result<(), Error> {
    let text = match command {
        Command::Crd {
            output: CrdOutput::Yaml,
        } => crd::yaml(),
        Command::Crd {
            output: CrdOutput::Markdown,
        } => crd::reference_markdown(),
        Command::Plan { files, output } => {
            let manifests = manifest::load(&files)?;
            let account = std::env::var("AWS_ACCOUNT_ID")
                .ok()
                .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
                .unwrap_or_else(|| UNKNOWN_ACCOUNT.to_string());
            let plan = plan::plan(&manifests, &account);
            match output {
                Output::Text => plan.to_text(),
                Output::Json => {
                    let mut json = serde_json::to_string_pretty(&plan).map_err(Error::Render)?;
                    json.push('\n');
                    json
                }
            }
        }
        Command::Apply { .. } | Command::Delete { .. } | Command::Run(_) => {
            unreachable!("handled by run_aws and run_controller")
        }
    };
    print(&text)
}

fn print(text: &str) -> Result<(), Error> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(Error::Output)
}

/// `apply` and `delete`: the engine against AWS (or whatever the standard AWS
/// configuration points at).
async fn run_aws(command: Command) -> Result<(), Error> {
    let sdk = operator::aws::load_config().await;
    match command {
        Command::Apply {
            files,
            output,
            timeout,
            poll_interval,
            ready_when,
            verbose,
        } => {
            let timing = timing(timeout, poll_interval, ready_when);
            apply(sdk, &files, output, timing, verbose).await
        }
        Command::Delete {
            files,
            timeout,
            poll_interval,
            platform_context,
            verbose,
        } => {
            let timing = timing(timeout, poll_interval, ReadyWhenArg::Converged);
            delete(sdk, &files, &platform_context, timing, verbose).await
        }
        other => run(other),
    }
}

/// The file mode's timing from the flags (`--timeout` and `--poll-interval` in
/// seconds).
fn timing(timeout: u64, poll_interval: u64, ready_when: ReadyWhenArg) -> file_mode::Timing {
    file_mode::Timing {
        timeout: Duration::from_secs(timeout),
        interval: Duration::from_secs(poll_interval),
        ready_when: match ready_when {
            ReadyWhenArg::Ready => file_mode::ReadyWhen::Ready,
            ReadyWhenArg::Converged => file_mode::ReadyWhen::Converged,
        },
    }
}

/// `apply`: makes AWS match the manifests in `files`, prints every object's
/// status, and fails when something is still not ready.
async fn apply(
    sdk: SdkConfig,
    files: &[PathBuf],
    output: StatusOutput,
    timing: file_mode::Timing,
    verbose: bool,
) -> Result<(), Error> {
    let manifests = manifest::load(files)?;
    let engine = Engine::new(sdk, progress::for_stderr(verbose));
    let report = file_mode::apply(&engine, &manifests, timing).await?;
    print(&status_text(&report.items, output)?)?;
    eprintln!("{} AWS calls", engine.calls().len());
    if report.not_ready.is_empty() {
        Ok(())
    } else {
        Err(Error::NotReady(report.not_ready))
    }
}

/// The objects `apply` reports, as `--output` asks: a line each, or a `List` as
/// `kubectl get -o yaml|json` prints one.
fn status_text(items: &[file_mode::ObjectReport], output: StatusOutput) -> Result<String, Error> {
    let list = || serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items });
    Ok(match output {
        StatusOutput::Text => items
            .iter()
            .map(|item| {
                let ready = item
                    .status
                    .condition(CONDITION_READY)
                    .map(|c| format!("Ready={:?} ({})", c.status, c.reason))
                    .unwrap_or_default();
                let name = match &item.metadata.namespace {
                    Some(namespace) => format!("{namespace}/{}", item.metadata.name),
                    None => item.metadata.name.clone(),
                };
                format!("{} {name}: {ready}\n", item.kind)
            })
            .collect(),
        StatusOutput::Yaml => serde_norway::to_string(&list())
            .map_err(|e| Error::Render(serde::ser::Error::custom(e)))?,
        StatusOutput::Json => serde_json::to_string_pretty(&list()).map_err(Error::Render)? + "\n",
    })
}

/// `delete`: deletes what `apply` made for the manifests in `files` (with the
/// platforms of `platform_context` only as context), and fails when something
/// is still there.
async fn delete(
    sdk: SdkConfig,
    files: &[PathBuf],
    platform_context: &[PathBuf],
    timing: file_mode::Timing,
    verbose: bool,
) -> Result<(), Error> {
    let manifests = manifest::load_for_delete(files, platform_context)?;
    let engine = Engine::new(sdk, progress::for_stderr(verbose));
    let remaining = file_mode::delete(&engine, &manifests, timing).await?;
    eprintln!("{} AWS calls", engine.calls().len());
    if remaining.is_empty() {
        Ok(())
    } else {
        Err(Error::NotReady(remaining))
    }
}

/// `run`: the in-cluster controller.
async fn run_controller(args: RunArgs) -> Result<(), Error> {
    let settings = in_cluster::Settings {
        namespaces: args
            .namespaces
            .into_iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect(),
        concurrency: args.concurrency,
        resync: Duration::from_secs(args.resync_seconds),
        dry_run: args.dry_run,
        shutdown_grace: Duration::from_secs(args.shutdown_grace_seconds),
    };
    let election =
        (args.leader_election && !args.no_leader_election).then(|| in_cluster::Election {
            namespace: args.lease_namespace,
            name: args.lease_name,
            identity: std::env::var("POD_NAME")
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_else(|_| format!("bedrock-chatbot-operator-{}", std::process::id())),
        });
    let health = std::sync::Arc::new(metrics::Health::new(std::sync::Arc::default()));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = metrics::serve(args.metrics_addr, health.clone(), async {
        let _ = stop_rx.await;
    })
    .await?;
    tracing::info!(addr = %args.metrics_addr, ?settings, leader_election = election.is_some(), "starting");
    let client = kube::Client::try_default().await.map_err(Error::Kube)?;
    let sdk = operator::aws::load_config().await;
    let result = in_cluster::run(client, sdk, settings, election, health).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    result
}
