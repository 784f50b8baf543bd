//! `bedrock-chatbot-operator`: the command line. Parses arguments and wires the
//! library together; the work happens in the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use operator::desired::UNKNOWN_ACCOUNT;
use operator::{Error, crd, manifest, plan};

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
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
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
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    let text = match cli.command {
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
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(Error::Output)
}
