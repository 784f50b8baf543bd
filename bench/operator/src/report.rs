//! `operator.md` (the report's section), `operator.json` (the figures) and the plots.

use std::fmt::Write;
use std::path::Path;

use crate::BoxError;
use crate::cluster;
use crate::plot::{Series, Target, line_chart};
use crate::scale;

/// Target: read calls per team of a no-op resync, amortised.
const RESYNC_READS_TARGET: f64 = 6.0;
/// Target: RSS with 1,000 chatbots in the cache, MiB.
const CLUSTER_RSS_TARGET: f64 = 64.0;

pub fn write(
    out: &Path,
    profile: &str,
    scales: &[scale::Figures],
    cluster: &cluster::Figures,
) -> Result<(), BoxError> {
    let figures = serde_json::json!({
        "profile": profile,
        "targets": {
            "resyncReadsPerTeam": RESYNC_READS_TARGET,
            "resyncWrites": 0,
            "clusterRssMib": CLUSTER_RSS_TARGET,
        },
        "scale": scales,
        "cluster": cluster,
    });
    std::fs::write(
        out.join("operator.json"),
        serde_json::to_string_pretty(&figures)? + "\n",
    )?;

    let teams = |f: &scale::Figures| f.teams as f64;
    std::fs::write(
        out.join("operator-converge-time.svg"),
        line_chart(
            "Time to converge N teams (platform already converged)",
            "teams",
            "seconds",
            &[Series {
                name: "apply, ReadyWhen::Converged",
                points: scales
                    .iter()
                    .map(|f| (teams(f), f.converge.seconds))
                    .collect(),
            }],
            &[],
        ),
    )?;
    std::fs::write(
        out.join("operator-calls-per-team.svg"),
        line_chart(
            "AWS calls per team",
            "teams",
            "calls per team",
            &[
                Series {
                    name: "converge (reads + writes)",
                    points: scales
                        .iter()
                        .map(|f| (teams(f), f.converge.calls_per_team))
                        .collect(),
                },
                Series {
                    name: "no-op resync reads (platform amortised)",
                    points: scales
                        .iter()
                        .map(|f| (teams(f), f.resync.reads_per_team))
                        .collect(),
                },
            ],
            &[Target {
                name: "target: 6 reads per team",
                y: RESYNC_READS_TARGET,
            }],
        ),
    )?;
    std::fs::write(
        out.join("operator-peak-rss.svg"),
        line_chart(
            "Peak RSS of the operator process (file mode)",
            "teams",
            "MiB",
            &[Series {
                name: "VmHWM",
                points: scales.iter().map(|f| (teams(f), f.peak_rss_mib)).collect(),
            }],
            &[],
        ),
    )?;

    std::fs::write(out.join("operator.md"), markdown(profile, scales, cluster))?;
    Ok(())
}

fn yes(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn markdown(profile: &str, scales: &[scale::Figures], cluster: &cluster::Figures) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## Operator at scale\n");
    let _ = writeln!(
        md,
        "Measured by `bench-operator` (crate `bench/operator`, cargo profile `{profile}`). \
         Each N runs in a child process of its own against a fresh moto (`testkit::Moto`, a \
         separate Python process, so the RSS below is the operator's alone): `apply` of \
         `examples/platform.yaml` alone, then of the platform and N copies of \
         `examples/chatbot.yaml` (namespaces `team-001`…), with `ReadyWhen::Converged` (moto \
         never runs ECS tasks) and 200 ms between passes; then the same `apply` again — a no-op \
         resync, which finds everything by its ownership tags in one pass. Every AWS call is \
         counted by the engine's `CallLog`; `Describe*`/`List*`/`Get*` are reads.\n"
    );
    let _ = writeln!(
        md,
        "| teams | time to converge | calls/team to converge | no-op resync: reads/team (target ≤ 6) | writes (target 0) | resync time | peak RSS |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|");
    for f in scales {
        let _ = writeln!(
            md,
            "| {} | {:.1} s | {:.1} ({:.1} reads, {:.1} writes) | {:.2} ({}) | {} ({}) | {:.2} s | {:.1} MiB |",
            f.teams,
            f.converge.seconds,
            f.converge.calls_per_team,
            f.converge.reads as f64 / f.teams.max(1) as f64,
            f.converge.writes as f64 / f.teams.max(1) as f64,
            f.resync.reads_per_team,
            yes(f.resync.reads_per_team <= RESYNC_READS_TARGET),
            f.resync.writes,
            yes(f.resync.writes == 0),
            f.resync.seconds,
            f.peak_rss_mib,
        );
    }
    if let Some(first) = scales.first() {
        let _ = writeln!(
            md,
            "\nThe platform alone: {:.1} s and {} calls ({} writes) to converge from nothing; \
             {} reads to re-check when converged (its share of every resync, amortised over the \
             teams above).\n",
            first.platform.seconds,
            first.platform.calls,
            first.platform.writes,
            first.platform_resync.reads,
        );
    }
    if let Some(last) = scales.last() {
        let team_reads = last.resync.reads.saturating_sub(last.platform_resync.reads) as f64
            / last.teams.max(1) as f64;
        let _ = writeln!(
            md,
            "Where the reads of the no-op resync go at N = {} ({:.2} per team without the \
             platform's share), by operation:\n",
            last.teams, team_reads
        );
        let _ = writeln!(md, "| operation | reads | per team |");
        let _ = writeln!(md, "|---|---:|---:|");
        let mut ops: Vec<_> = last.resync.reads_by_operation.iter().collect();
        ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (op, n) in ops {
            let _ = writeln!(
                md,
                "| {op} | {n} | {:.2} |",
                *n as f64 / last.teams.max(1) as f64
            );
        }
        let _ = writeln!(md);
        let per_team = scales
            .iter()
            .filter(|f| f.teams > 0)
            .map(|f| f.resync.teams_per_second())
            .fold(0.0, f64::max);
        let _ = writeln!(
            md,
            "A no-op engine pass against moto (what a resync reconcile does, all reads answered \
             by moto on this machine) runs at up to {per_team:.1} teams/s; moto, not the operator, \
             is most of that time.\n"
        );
    }
    let _ = writeln!(
        md,
        "Reads are shared between teams within one file-mode pass (`PassReads`): the HTTPS \
         listener's rules and their tags, the region's user pools, target groups (tags 20 a \
         call), the chatbots' log groups, ECS scalable targets and ECS services (10 a call) \
         are listed once per pass. A task definition revision is not read when the service \
         runs the revision its `bedrock-chatbot.dev/task-definition` tag records for the \
         current spec (revisions are immutable). What is left per team has no batch read in \
         AWS: Cognito (DescribeUserPool, GetUserPoolMfaConfig, DescribeUserPoolDomain, \
         ListUserPoolClients, DescribeUserPoolClient), IAM (GetRole, \
         ListAttachedRolePolicies, ListRolePolicies, GetRolePolicy), and one call each for \
         the target group's attributes and the log group's tags. The target of 6 reads per \
         team is therefore out of reach without skipping drift checks. IAM's \
         GetAccountAuthorizationDetails would list every role with its policies at once, \
         but it cannot be scoped: the controller would read every IAM policy of the \
         account, a grant we chose not to ask for. The in-cluster controller \
         reconciles one object at a time and does not share reads (a resync there costs the \
         per-team figure without the amortisation).\n"
    );
    if profile == "dev" {
        let _ = writeln!(
            md,
            "These figures come from the unoptimised `dev` build (the one the tests warm up): \
             times, throughput and RSS are pessimistic next to an optimised build \
             (`BENCH_PROFILE=bench-fast`).\n"
        );
    }
    let _ = writeln!(
        md,
        "![time to converge](operator-converge-time.svg)\n![calls per team](operator-calls-per-team.svg)\n![peak RSS](operator-peak-rss.svg)\n"
    );

    let _ = writeln!(md, "### In-cluster mode, {} chatbots\n", cluster.objects);
    let _ = writeln!(
        md,
        "The real controller (`operator::in_cluster::run`, {} reconciles at a time per kind) \
         against an in-process fake API server that serves {} Ready `ChatbotPlatform`s and {} \
         `BedrockChatbot`s (100 per platform, the most one HTTPS listener's rules allow; list in pages of 500, watches that stay open without changes, \
         Events accepted), with `--dry-run`: each reconcile admits the object (schema and CEL), \
         checks it against every cached object (hostnames, sign-in domains, rule priorities), \
         computes its desired state and plan and publishes an Event — everything a reconcile \
         does except the AWS calls and the status patch. The fake server's objects \
         ({:.1} MiB serialized) live in the same process and are counted in its RSS.\n",
        cluster.concurrency, cluster.platforms, cluster.objects, cluster.served_objects_mib
    );
    let _ = writeln!(md, "| figure | value | target |");
    let _ = writeln!(md, "|---|---:|---|");
    let _ = writeln!(
        md,
        "| RSS with every chatbot cached and reconciled | {:.1} MiB | < {CLUSTER_RSS_TARGET} MiB ({}) |",
        cluster.rss_mib,
        yes(cluster.rss_mib < CLUSTER_RSS_TARGET)
    );
    let _ = writeln!(
        md,
        "| peak RSS | {:.1} MiB | < {CLUSTER_RSS_TARGET} MiB ({}) |",
        cluster.peak_rss_mib,
        yes(cluster.peak_rss_mib < CLUSTER_RSS_TARGET)
    );
    let _ = writeln!(
        md,
        "| RSS before the controller started | {:.1} MiB | |",
        cluster.baseline_rss_mib
    );
    let _ = writeln!(
        md,
        "| dry-run reconcile throughput | {:.0} reconciles/s ({} reconciles) | |",
        cluster.reconciles_per_second, cluster.reconciles
    );
    let _ = writeln!(
        md,
        "| start to every chatbot reconciled once | {:.2} s | |",
        cluster.seconds_to_all_reconciled
    );
    if !cluster.unexpected_requests.is_empty() {
        let _ = writeln!(
            md,
            "\nUnexpected API requests (answered 404): {}",
            cluster.unexpected_requests.join(", ")
        );
    }
    md
}

impl scale::Run {
    /// Teams per second of this run's wall time.
    fn teams_per_second(&self) -> f64 {
        if self.seconds > 0.0 && self.calls_per_team > 0.0 {
            (self.calls as f64 / self.calls_per_team) / self.seconds
        } else {
            0.0
        }
    }
}
