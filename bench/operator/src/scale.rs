//! File mode at scale: one platform and N teams against a fresh moto, in this
//! process (moto is a child process, so this process's peak RSS is the operator's).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use operator::aws::Call;
use operator::engine::{Engine, platform};
use operator::file_mode::{self, ReadyWhen, Timing};
use operator::manifest::{self, Manifests};
use operator::resources::{Event, Progress};
use serde::{Deserialize, Serialize};
use testkit::Moto;

use crate::BoxError;

const REGION: &str = "us-west-2";
/// The certificate ARN in `examples/platform.yaml`, replaced by one moto knows.
const EXAMPLE_CERTIFICATE: &str =
    "arn:aws:acm:us-west-2:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef";

/// Discards progress: the benchmark counts calls, not events.
struct Quiet;

impl Progress for Quiet {
    fn report(&self, _event: Event) {}
}

/// Reads and writes of one service.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Counts {
    /// `Describe*`, `List*`, `Get*`.
    pub reads: usize,
    /// Everything else.
    pub writes: usize,
}

/// What one `apply` cost.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Run {
    /// Wall time of the `apply`, in seconds.
    pub seconds: f64,
    /// AWS calls made.
    pub calls: usize,
    /// Of which reads.
    pub reads: usize,
    /// Of which writes.
    pub writes: usize,
    /// `calls / teams`.
    pub calls_per_team: f64,
    /// `reads / teams`: the platform's share amortised over the teams.
    pub reads_per_team: f64,
    /// By service.
    pub by_service: BTreeMap<String, Counts>,
    /// Reads by `service:Operation`.
    pub reads_by_operation: BTreeMap<String, usize>,
}

impl Run {
    fn of(calls: &[Call], seconds: f64, teams: usize) -> Self {
        let mut run = Self {
            seconds,
            calls: calls.len(),
            ..Self::default()
        };
        for call in calls {
            let counts = run.by_service.entry(call.service.clone()).or_default();
            if call.is_write() {
                counts.writes += 1;
                run.writes += 1;
            } else {
                counts.reads += 1;
                run.reads += 1;
                *run.reads_by_operation
                    .entry(format!("{}:{}", call.service, call.operation))
                    .or_default() += 1;
            }
        }
        let teams = teams.max(1) as f64;
        run.calls_per_team = run.calls as f64 / teams;
        run.reads_per_team = run.reads as f64 / teams;
        run
    }
}

/// The figures of one N.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figures {
    /// Teams (chatbots) on the platform.
    pub teams: usize,
    /// The platform alone, from nothing to converged.
    pub platform: Run,
    /// The platform and N teams, from a converged platform to every team converged.
    pub converge: Run,
    /// A second `apply` of the same manifests: a no-op resync (one pass).
    pub resync: Run,
    /// One pass over the platform alone, already converged: its share of a resync.
    pub platform_resync: Run,
    /// Peak RSS of this process (the operator's work; moto runs as a child).
    pub peak_rss_mib: f64,
}

/// The manifests: `examples/platform.yaml` with moto's certificate and, unless
/// `teams` is 0, `teams` copies of `examples/chatbot.yaml` in namespaces
/// `team-001`, `team-002`, … with hostnames `chat.team-001.example.com`, ….
pub fn manifests(teams: usize, certificate: &str) -> Result<Manifests, BoxError> {
    Ok(manifest::load_str(
        Path::new("bench.yaml"),
        &text(1, teams, certificate)?,
    )?)
}

/// `platforms` copies of the example platform (`shared`, or `shared-1`,
/// `shared-2`, … when there are several), each with `teams` chatbots.
pub fn text(platforms: usize, teams: usize, certificate: &str) -> Result<String, BoxError> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let platform = std::fs::read_to_string(examples.join("platform.yaml"))?
        .replace(EXAMPLE_CERTIFICATE, certificate);
    let chatbot = std::fs::read_to_string(examples.join("chatbot.yaml"))?;
    let mut text = String::new();
    let mut team = 0;
    for p in 1..=platforms {
        let name = if platforms == 1 {
            "shared".to_string()
        } else {
            format!("shared-{p}")
        };
        let rename = |doc: &str| doc.replace("  name: shared\n", &format!("  name: {name}\n"));
        text.push_str("\n---\n");
        text.push_str(&rename(&platform));
        for _ in 0..teams {
            team += 1;
            text.push_str("\n---\n");
            text.push_str(&rename(&chatbot).replace("team-a", &format!("team-{team:03}")));
        }
    }
    Ok(text)
}

fn timing() -> Timing {
    Timing {
        timeout: Duration::from_secs(1800),
        interval: Duration::from_millis(200),
        ready_when: ReadyWhen::Converged,
    }
}

async fn apply(engine: &Engine, manifests: &Manifests, teams: usize) -> Result<Run, BoxError> {
    let before = engine.calls().len();
    let started = Instant::now();
    let report = file_mode::apply(engine, manifests, timing()).await?;
    let seconds = started.elapsed().as_secs_f64();
    if !report.not_ready.is_empty() {
        return Err(format!("not converged: {}", report.not_ready.join("; ")).into());
    }
    Ok(Run::of(&engine.calls().since(before), seconds, teams))
}

/// Measures one N against a fresh moto.
pub async fn run(teams: usize) -> Result<Figures, BoxError> {
    let moto = Moto::start()?;
    let certificate = moto.certificate("*.example.com", REGION)?;
    let engine = Engine::new(moto.sdk_config(REGION), Arc::new(Quiet));

    let platform_only = manifests(0, &certificate)?;
    let everything = manifests(teams, &certificate)?;
    let platform = apply(&engine, &platform_only, teams).await?;
    let converge = apply(&engine, &everything, teams).await?;
    let resync = apply(&engine, &everything, teams).await?;

    let object = &platform_only.platforms[0].object;
    let before = engine.calls().len();
    let started = Instant::now();
    platform::apply(&engine, object).await?;
    let platform_resync = Run::of(
        &engine.calls().since(before),
        started.elapsed().as_secs_f64(),
        teams,
    );

    Ok(Figures {
        teams,
        platform,
        converge,
        resync,
        platform_resync,
        peak_rss_mib: crate::rss::peak_mib(),
    })
}
