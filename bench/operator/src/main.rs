//! `bench-operator`: the operator at scale, measured (never asserted).
//!
//! ```text
//! bench-operator all OUT_DIR [--teams 1,10,50,100] [--objects 1000] [--profile NAME]
//! bench-operator scale N      # one platform, N teams, against a fresh moto; JSON on stdout
//! bench-operator cluster N    # in-cluster mode, N chatbots in the cache; JSON on stdout
//! ```
//!
//! `all` runs every measurement in a child process of its own (`scale` once per N,
//! then `cluster`), so each peak RSS is that of a process doing only that work, and
//! writes `operator.md`, `operator.json` and the SVG plots into `OUT_DIR`.

mod cluster;
mod plot;
mod report;
mod rss;
mod scale;

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench-operator: {error}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(args: &[String]) -> Result<(), BoxError> {
    match args.first().map(String::as_str) {
        Some("scale") => {
            let teams = number(args.get(1))?;
            let figures = runtime()?.block_on(scale::run(teams))?;
            println!("{}", serde_json::to_string(&figures)?);
            Ok(())
        }
        Some("cluster") => {
            let objects = number(args.get(1))?;
            let figures = runtime()?.block_on(cluster::run(objects))?;
            println!("{}", serde_json::to_string(&figures)?);
            // The controller runs until a signal; the measurement is done.
            std::process::exit(0);
        }
        Some("all") => {
            let out = PathBuf::from(args.get(1).ok_or("all: OUT_DIR missing")?);
            let mut teams = vec![1, 10, 50, 100];
            let mut objects = 1000;
            let mut profile = "unknown".to_string();
            let mut rest = args[2..].iter();
            while let Some(flag) = rest.next() {
                let value = rest.next().ok_or_else(|| format!("{flag}: value missing"))?;
                match flag.as_str() {
                    "--teams" => {
                        teams = value
                            .split(',')
                            .map(|n| n.trim().parse())
                            .collect::<Result<_, _>>()
                            .map_err(|e| format!("--teams {value}: {e}"))?;
                    }
                    "--objects" => objects = number(Some(value))?,
                    "--profile" => profile.clone_from(value),
                    other => return Err(format!("unknown flag {other}").into()),
                }
            }
            all(&out, &teams, objects, &profile)
        }
        _ => Err("usage: bench-operator all OUT_DIR [--teams 1,10,50,100] [--objects 1000] [--profile NAME] | scale N | cluster N".into()),
    }
}

fn number(arg: Option<&String>) -> Result<usize, BoxError> {
    let arg = arg.ok_or("a number is missing")?;
    arg.parse()
        .map_err(|e| format!("{arg} is not a number: {e}").into())
}

/// Runs `bench-operator <args>` as a child and parses the JSON it prints.
fn child<T: serde::de::DeserializeOwned>(args: &[String]) -> Result<T, BoxError> {
    let exe = std::env::current_exe()?;
    let output = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "bench-operator {} failed: {}",
            args.join(" "),
            output.status
        )
        .into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn all(
    out: &std::path::Path,
    teams: &[usize],
    objects: usize,
    profile: &str,
) -> Result<(), BoxError> {
    std::fs::create_dir_all(out)?;
    let mut scales = Vec::new();
    for &n in teams {
        eprintln!("bench-operator: {n} team(s) against moto");
        let figures: scale::Figures = child(&["scale".into(), n.to_string()])?;
        eprintln!(
            "  converged in {:.1} s, {:.1} calls/team; resync {:.2} reads/team, {} writes; peak RSS {:.1} MiB",
            figures.converge.seconds,
            figures.converge.calls_per_team,
            figures.resync.reads_per_team,
            figures.resync.writes,
            figures.peak_rss_mib
        );
        scales.push(figures);
    }
    eprintln!("bench-operator: in-cluster mode, {objects} chatbots in the cache");
    let cluster: cluster::Figures = child(&["cluster".into(), objects.to_string()])?;
    eprintln!(
        "  {:.0} reconciles/s, RSS {:.1} MiB (peak {:.1} MiB)",
        cluster.reconciles_per_second, cluster.rss_mib, cluster.peak_rss_mib
    );
    report::write(out, profile, &scales, &cluster)
}
