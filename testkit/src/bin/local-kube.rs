//! `local-kube` — run it as `./scripts/local-kube`, which builds it: a real
//! Kubernetes control plane on this machine for trying the operator the way a
//! cluster runs it. etcd and kube-apiserver on 127.0.0.1 (no kubelet, so no pod ever
//! runs), the project's CRDs, the local AWS emulator with a certificate for
//! `*.example.com`, and `bedrock-chatbot-operator run` reconciling against both; it
//! prints the `kubectl` commands that apply the examples and watch them converge,
//! and runs in the foreground until Ctrl-C, which stops the operator, then the rest.
//!
//! `local-kube --check` (CI) runs those commands itself: applies the examples,
//! waits until they converge, deletes them, waits until they are gone, and exits 0;
//! any failure exits 1 with the end of the operator's log.
//!
//! Nothing here reaches anything but 127.0.0.1, and the operator gets only the
//! emulator's static test credentials (its environment is cleared first).
//!
//! Two processes: the one started (the launcher) runs a copy of itself (the
//! worker) in a process group of its own and waits. Ctrl-C signals the terminal's
//! whole foreground process group, and etcd and kube-apiserver run as background
//! jobs of testkit's `sh` supervisor, which ignore SIGINT, while the supervisor dies
//! of it before it stops them: they would outlive Ctrl-C. In a group of its own,
//! nothing the worker starts sees the terminal's signals; the launcher turns Ctrl-C
//! (or SIGTERM, SIGHUP) into closing the worker's stdin, and the worker stops
//! everything in order when its stdin closes, which also happens if the launcher
//! dies in any way.

use std::fmt::Display;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use testkit::{KubeControlPlane, Moto};
use tokio::signal::unix::{SignalKind, signal};

/// Set in the worker's environment by the launcher.
const WORKER: &str = "LOCAL_KUBE_WORKER";

/// The region of the examples, of the certificate, and the operator's default.
const REGION: &str = "us-west-2";

/// The certificate the examples name, which no emulator can issue (moto picks a
/// random ARN for each certificate): the copy of the examples names the one the
/// emulator issued instead, as the quick start and the tests do.
const PLACEHOLDER_CERTIFICATE: &str =
    "arn:aws:acm:us-west-2:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef";

/// How long each `kubectl wait` and `kubectl delete` may take.
const KUBECTL_TIMEOUT: &str = "300s";

/// The operator's `--shutdown-grace-seconds` (reconciles in flight finish within
/// it; the chart's 90 s suits a pod, not Ctrl-C on a laptop).
const OPERATOR_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

const USAGE: &str =
    "usage: local-kube [--check]   (run it as ./scripts/local-kube, which builds it)

Runs etcd and kube-apiserver on 127.0.0.1 (no kubelet), the local AWS emulator, the
operator's CRDs and `bedrock-chatbot-operator run`, prints the kubectl commands to
try, and runs until Ctrl-C.

  --check   apply the examples, wait until they converge, delete them, wait until
            they are gone, stop, and exit (0: all of it worked)";

/// Why local-kube could not start or the check failed: what went wrong, with enough
/// context to act on.
#[derive(Debug)]
struct Error(String);

impl Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// `map_err` that says what was being done: `.map_err(because("cannot …"))`.
fn because<E: Display>(doing: impl Display) -> impl FnOnce(E) -> Error {
    move |error| Error(format!("{doing}: {error}"))
}

/// The command line.
#[derive(Debug, Clone, Copy)]
struct Options {
    /// Run the walkthrough and exit instead of waiting for Ctrl-C.
    check: bool,
}

impl Options {
    fn parse(args: impl Iterator<Item = String>) -> Result<Option<Self>> {
        let mut options = Self { check: false };
        for arg in args {
            match arg.as_str() {
                "--check" => options.check = true,
                "-h" | "--help" => return Ok(None),
                other => return Err(Error(format!("unknown argument {other:?}\n{USAGE}"))),
            }
        }
        Ok(Some(options))
    }
}

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("local-kube: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = if std::env::var_os(WORKER).is_some() {
        work(options)
    } else {
        launch()
    };
    outcome.unwrap_or_else(|error| {
        eprintln!("local-kube: {error}");
        ExitCode::FAILURE
    })
}

/// The launcher: runs the worker in a process group of its own (see the module
/// documentation) and closes its stdin on Ctrl-C, SIGTERM or SIGHUP.
fn launch() -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(because("cannot start the signal handling runtime"))?;
    runtime.block_on(async {
        // Registered before the worker starts, and never unregistered: a second
        // Ctrl-C while the worker stops does not kill the launcher.
        let mut interrupt = signal(SignalKind::interrupt()).map_err(because("SIGINT"))?;
        let mut terminate = signal(SignalKind::terminate()).map_err(because("SIGTERM"))?;
        let mut hangup = signal(SignalKind::hangup()).map_err(because("SIGHUP"))?;
        let program = std::env::current_exe().map_err(because("cannot find this program"))?;
        let mut worker = Command::new(&program)
            .args(std::env::args_os().skip(1))
            .env(WORKER, "1")
            .process_group(0)
            .stdin(Stdio::piped())
            .spawn()
            .map_err(because(format!("cannot start {}", program.display())))?;
        let stop = worker.stdin.take();
        let mut exited = tokio::task::spawn_blocking(move || worker.wait());
        let status = tokio::select! {
            status = &mut exited => status,
            _ = interrupt.recv() => {
                drop(stop);
                eprintln!("\nlocal-kube: stopping (the operator first, then the control plane and the emulator) …");
                exited.await
            }
            _ = terminate.recv() => { drop(stop); exited.await }
            _ = hangup.recv() => { drop(stop); exited.await }
        };
        let status = status
            .map_err(because("waiting for the worker"))?
            .map_err(because("waiting for the worker"))?;
        Ok(exit_code(status))
    })
}

/// The worker's exit status as ours (a worker killed by a signal: failure).
fn exit_code(status: ExitStatus) -> ExitCode {
    status
        .code()
        .and_then(|code| u8::try_from(code).ok())
        .map_or(ExitCode::FAILURE, ExitCode::from)
}

/// The worker: starts everything, then waits for a stop or runs the check.
fn work(options: Options) -> Result<ExitCode> {
    let stop = StopRequest::listen()?;
    let started = Instant::now();
    let mut cluster = match LocalCluster::start(&stop) {
        Ok(cluster) => cluster,
        Err(error) => {
            return if stop.requested() {
                eprintln!("local-kube: stopped while starting");
                Ok(ExitCode::SUCCESS)
            } else {
                Err(error)
            };
        }
    };
    let walkthrough = Walkthrough::new(&cluster);
    if options.check {
        let start_time = started.elapsed();
        eprintln!(
            "== check: the walkthrough's commands, as printed without --check (started in {} s)",
            start_time.as_secs()
        );
        match walkthrough.check(&mut cluster, &stop) {
            Ok(times) => {
                drop(cluster);
                eprintln!(
                    "local cluster check passed in {} s (start {} s, converge {} s, delete {} s, stop {} s)",
                    started.elapsed().as_secs(),
                    start_time.as_secs(),
                    times.converge.as_secs(),
                    times.delete.as_secs(),
                    (started.elapsed() - start_time - times.converge - times.delete).as_secs(),
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                let tail = cluster.operator.log_tail(60);
                drop(cluster);
                Err(Error(format!(
                    "check failed: {error}\n--- the operator's log ends ---\n{tail}"
                )))
            }
        }
    } else {
        println!("{}", walkthrough.instructions(&cluster));
        cluster.run_until(&stop)?;
        drop(cluster);
        eprintln!("local-kube: stopped");
        Ok(ExitCode::SUCCESS)
    }
}

/// Set when the worker is to stop: its stdin (the launcher's pipe) closed, or it
/// got SIGTERM or SIGINT itself.
#[derive(Debug, Clone)]
struct StopRequest(Arc<AtomicBool>);

impl StopRequest {
    fn listen() -> Result<Self> {
        let requested = Arc::new(AtomicBool::new(false));
        let on_eof = Arc::clone(&requested);
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            on_eof.store(true, Ordering::SeqCst);
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(because("cannot start the signal handling runtime"))?;
        let (mut interrupt, mut terminate) = {
            let _context = runtime.enter();
            (
                signal(SignalKind::interrupt()).map_err(because("SIGINT"))?,
                signal(SignalKind::terminate()).map_err(because("SIGTERM"))?,
            )
        };
        let on_signal = Arc::clone(&requested);
        std::thread::spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            });
            on_signal.store(true, Ordering::SeqCst);
        });
        Ok(Self(requested))
    }

    fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// An error when a stop was requested, to end a step early.
    fn check(&self) -> Result<()> {
        if self.requested() {
            Err(Error("stopped".into()))
        } else {
            Ok(())
        }
    }
}

/// The files other shells use, in `.cache/local-kube/` of the repository: a
/// kubeconfig that outlives no session, the examples with the emulator's
/// certificate, the operator's log (kept after the session, for reading), and the
/// pid of the session that owns them.
#[derive(Debug)]
struct SessionFiles {
    repository: PathBuf,
    dir: PathBuf,
}

impl SessionFiles {
    /// Claims `.cache/local-kube/` for this session, or says which session has it.
    fn claim(repository: &Path) -> Result<Self> {
        let dir = repository.join(".cache/local-kube");
        std::fs::create_dir_all(&dir)
            .map_err(because(format!("cannot create {}", dir.display())))?;
        // Checked before `Self` exists: its drop would remove the other session's files.
        let pid_file = dir.join("pid");
        if let Ok(pid) = std::fs::read_to_string(&pid_file) {
            let pid = pid.trim();
            if !pid.is_empty() && Path::new("/proc").join(pid).exists() {
                return Err(Error(format!(
                    "another local-kube (pid {pid}) is running with {}: stop it first (remove {} if pid {pid} is not local-kube)",
                    dir.display(),
                    pid_file.display()
                )));
            }
        }
        let files = Self {
            repository: repository.to_path_buf(),
            dir,
        };
        std::fs::write(files.pid(), format!("{}\n", std::process::id()))
            .map_err(because(format!("cannot write {}", files.pid().display())))?;
        Ok(files)
    }

    fn pid(&self) -> PathBuf {
        self.dir.join("pid")
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    fn operator_log(&self) -> PathBuf {
        self.dir.join("operator.log")
    }

    /// The examples' copy, as the instructions name it (relative to the repository).
    fn examples_relative(&self) -> &'static str {
        ".cache/local-kube/examples/"
    }

    fn examples(&self) -> PathBuf {
        self.repository.join(self.examples_relative())
    }

    /// Writes `examples/*.yaml` into [`SessionFiles::examples`] with `certificate`
    /// in place of the placeholder, as the printed `sed` does.
    fn copy_examples(&self, certificate: &str) -> Result<()> {
        let source = self.repository.join("examples");
        let target = self.examples();
        let _ = std::fs::remove_dir_all(&target);
        std::fs::create_dir_all(&target)
            .map_err(because(format!("cannot create {}", target.display())))?;
        let entries = std::fs::read_dir(&source)
            .map_err(because(format!("cannot read {}", source.display())))?;
        for entry in entries {
            let path = entry
                .map_err(because(format!("cannot read {}", source.display())))?
                .path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path)
                    .map_err(because(format!("cannot read {}", path.display())))?;
                let copy = target.join(path.file_name().unwrap_or_default());
                std::fs::write(&copy, text.replace(PLACEHOLDER_CERTIFICATE, certificate))
                    .map_err(because(format!("cannot write {}", copy.display())))?;
            }
        }
        Ok(())
    }
}

impl Drop for SessionFiles {
    /// The kubeconfig and the examples' copy name a cluster and a certificate that
    /// are gone; the log stays.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.kubeconfig());
        let _ = std::fs::remove_dir_all(self.examples());
        let _ = std::fs::remove_file(self.pid());
    }
}

/// Everything a session runs. Fields drop in order: the operator first (while the
/// API server still answers it), then the emulator, then the control plane, then
/// the session's files.
#[derive(Debug)]
struct LocalCluster {
    operator: Operator,
    moto: Moto,
    plane: KubeControlPlane,
    certificate: String,
    files: SessionFiles,
}

impl LocalCluster {
    /// Starts everything, saying what on stderr; gives up early when a stop is
    /// requested.
    fn start(stop: &StopRequest) -> Result<Self> {
        let repository = repository();
        let operator_binary = operator_binary()?;
        let files = SessionFiles::claim(&repository)?;

        let release = testkit::kube::release().map_err(because("no Kubernetes binaries"))?;
        eprintln!("== etcd and kube-apiserver {release} on 127.0.0.1 (no kubelet)");
        let plane = KubeControlPlane::start()
            .map_err(because("cannot start the Kubernetes control plane"))?;
        stop.check()?;

        eprintln!("== the CRDs (charts/bedrock-chatbot-operator/crds/crds.yaml)");
        let crds = repository.join("charts/bedrock-chatbot-operator/crds/crds.yaml");
        plane
            .kubectl_ok(&["apply", "--server-side", "-f", &crds.display().to_string()])
            .map_err(because("cannot install the CRDs"))?;
        plane
            .kubectl_ok(&[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/chatbotplatforms.bedrock-chatbot.dev",
                "crd/bedrockchatbots.bedrock-chatbot.dev",
            ])
            .map_err(because("the CRDs were not established"))?;
        stop.check()?;

        eprintln!("== the local AWS emulator, with a certificate for *.example.com");
        let moto = Moto::start().map_err(because("cannot start the local AWS emulator"))?;
        let certificate = moto
            .certificate("*.example.com", REGION)
            .map_err(because("the emulator issued no certificate"))?;
        files.copy_examples(&certificate)?;
        std::fs::copy(plane.kubeconfig(), files.kubeconfig()).map_err(because(format!(
            "cannot write {}",
            files.kubeconfig().display()
        )))?;
        for namespace in example_namespaces(&plane, &files)? {
            plane
                .kubectl_ok(&["create", "namespace", &namespace])
                .map_err(because(format!("cannot create namespace {namespace}")))?;
        }
        stop.check()?;

        eprintln!(
            "== bedrock-chatbot-operator run (log: {})",
            files.operator_log().display()
        );
        let mut operator = Operator::start(&operator_binary, &files, &moto)?;
        operator.wait_ready(Duration::from_secs(60), stop)?;
        Ok(Self {
            operator,
            moto,
            plane,
            certificate,
            files,
        })
    }

    /// Runs until a stop is requested; an error if the operator stops on its own.
    fn run_until(&mut self, stop: &StopRequest) -> Result<()> {
        while !stop.requested() {
            if let Some(status) = self.operator.exited() {
                return Err(Error(format!(
                    "the operator stopped on its own ({status}); its log ends:\n{}",
                    self.operator.log_tail(60)
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }
}

/// The repository this program was built from (it holds the CRDs, the examples
/// and `.cache/`).
fn repository() -> PathBuf {
    let testkit = Path::new(env!("CARGO_MANIFEST_DIR"));
    testkit.parent().unwrap_or(testkit).to_path_buf()
}

/// `bedrock-chatbot-operator`, built beside this program.
fn operator_binary() -> Result<PathBuf> {
    let program = std::env::current_exe().map_err(because("cannot find this program"))?;
    let binary = program.with_file_name("bedrock-chatbot-operator");
    if binary.exists() {
        Ok(binary)
    } else {
        Err(Error(format!(
            "no {}: run ./scripts/local-kube, which builds it (cargo build --locked --workspace --all-targets)",
            binary.display()
        )))
    }
}

/// The namespaces the examples' objects are in, as kubectl reads them: a cluster
/// gets them from its administrators, not from the examples, so the session
/// creates them.
fn example_namespaces(plane: &KubeControlPlane, files: &SessionFiles) -> Result<Vec<String>> {
    let examples = files.examples().display().to_string();
    let listed = plane
        .kubectl_ok(&[
            "create",
            "--dry-run=client",
            "-f",
            &examples,
            "-o",
            "jsonpath={.metadata.namespace}{\"\\n\"}",
        ])
        .map_err(because("cannot read the examples' namespaces"))?;
    let mut namespaces: Vec<String> = listed
        .lines()
        .map(str::trim)
        .filter(|namespace| !namespace.is_empty())
        .map(ToString::to_string)
        .collect();
    namespaces.sort();
    namespaces.dedup();
    Ok(namespaces)
}

/// A running `bedrock-chatbot-operator run`; stopped as Kubernetes stops a pod
/// (SIGTERM, then SIGKILL after its grace period) when dropped.
#[derive(Debug)]
struct Operator {
    child: Child,
    log: PathBuf,
    metrics_port: u16,
}

impl Operator {
    /// Starts it with a cleared environment: the session's kubeconfig, the
    /// emulator's endpoint and static test credentials, nothing of the user's (no
    /// AWS profile or credentials, no home directory with an AWS configuration).
    fn start(binary: &Path, files: &SessionFiles, moto: &Moto) -> Result<Self> {
        let metrics_port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .map_err(because("no free port for the operator's metrics"))?
            .port();
        let log_path = files.operator_log();
        let log = std::fs::File::create(&log_path)
            .map_err(because(format!("cannot write {}", log_path.display())))?;
        let log_for_stderr = log
            .try_clone()
            .map_err(because(format!("cannot write {}", log_path.display())))?;
        let child = Command::new(binary)
            .args(["run", "--no-leader-election", "--log-format=text"])
            .arg(format!("--metrics-addr=127.0.0.1:{metrics_port}"))
            .arg(format!(
                "--shutdown-grace-seconds={}",
                OPERATOR_SHUTDOWN_GRACE.as_secs()
            ))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &files.dir)
            .env("KUBECONFIG", files.kubeconfig())
            .env("POD_NAME", "local-kube")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(moto.env(REGION))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .spawn()
            .map_err(because(format!("cannot start {}", binary.display())))?;
        Ok(Self {
            child,
            log: log_path,
            metrics_port,
        })
    }

    /// Waits until its `/readyz` says its caches are synced.
    fn wait_ready(&mut self, limit: Duration, stop: &StopRequest) -> Result<()> {
        let started = Instant::now();
        loop {
            stop.check()?;
            if let Some(status) = self.exited() {
                return Err(Error(format!(
                    "the operator exited ({status}) while starting; its log ends:\n{}",
                    self.log_tail(60)
                )));
            }
            if self.get("/readyz").is_some_and(|status| status == 200) {
                return Ok(());
            }
            if started.elapsed() > limit {
                return Err(Error(format!(
                    "the operator was not ready after {limit:?}; its log ends:\n{}",
                    self.log_tail(60)
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The status code of GET `path` on its metrics server, if it answers.
    fn get(&self, path: &str) -> Option<u16> {
        testkit::http::get(self.metrics_port, path, Duration::from_secs(2)).map(|(code, _)| code)
    }

    fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.metrics_port)
    }

    /// Its exit status, if it has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of its log.
    fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let child = &mut self.child;
        if matches!(child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .stderr(Stdio::null())
                .status();
            let limit = OPERATOR_SHUTDOWN_GRACE + Duration::from_secs(5);
            let started = Instant::now();
            while matches!(child.try_wait(), Ok(None)) && started.elapsed() < limit {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The `kubectl` commands a person runs against the session (printed), and the
/// check runs exactly as printed.
#[derive(Debug)]
struct Walkthrough {
    apply: Vec<String>,
    wait_platforms: Vec<String>,
    wait_chatbots: Vec<String>,
    delete: Vec<String>,
}

/// How long the check's phases took.
#[derive(Debug)]
struct CheckTimes {
    converge: Duration,
    delete: Duration,
}

impl Walkthrough {
    fn new(cluster: &LocalCluster) -> Self {
        let examples = cluster.files.examples_relative();
        let words = |words: &[&str]| words.iter().map(ToString::to_string).collect();
        let timeout = format!("--timeout={KUBECTL_TIMEOUT}");
        Self {
            apply: words(&["apply", "-f", examples]),
            wait_platforms: words(&["wait", "--for=condition=Ready", "cbp", "--all", &timeout]),
            // A chatbot's Ready also needs its ECS tasks running, which the
            // emulator never runs (Ready=False, TasksNotRunning): Synced says its
            // AWS resources converged.
            wait_chatbots: words(&[
                "wait",
                "--for=condition=Synced",
                "bcb",
                "--all",
                "-A",
                &timeout,
            ]),
            delete: words(&["delete", "-f", examples, &timeout]),
        }
    }

    /// What to do, for a person.
    fn instructions(&self, cluster: &LocalCluster) -> String {
        let files = &cluster.files;
        let repository = files.repository.display();
        let kubectl_dir = cluster.plane.bin().display();
        let aws = cluster.moto.endpoint();
        let kubectl = |args: &[String]| format!("kubectl {}", shell_words(args));
        format!(
            "
Kubernetes is up: kube-apiserver and etcd at {server} (no kubelet: no pod runs),
with the operator's CRDs and `bedrock-chatbot-operator run` reconciling against the
local AWS emulator. Namespaces for the examples' teams are created.

In another shell, in {repository}:

  export KUBECONFIG={kubeconfig}
  export PATH={kubectl_dir}:$PATH   # kubectl, as built by ./scripts/setup-kube

  {apply}
  kubectl get bcb -A -w             # watch the chatbots converge (Ctrl-C ends the watch)
  {wait_platforms}
  {wait_chatbots}
  kubectl get cbp,bcb -A            # their state
  kubectl describe bcb assistant -n team-a   # conditions, AWS ids, events
  {delete}   # the operator deletes what it made in AWS first

The examples name a placeholder certificate; {examples} is examples/ with the one the
emulator issued for *.example.com. After editing examples/, copy them again with:

  for f in examples/*.yaml; do sed 's#{placeholder}#{certificate}#' \"$f\" >{examples}\"${{f##*/}}\"; done

A chatbot's Ready stays False (TasksNotRunning): the emulator never runs ECS tasks.
Synced=True says its AWS resources converged; a platform becomes Ready.

The operator's log:  tail -f {log}
Its metrics:         {metrics}
The emulated AWS:    {aws}  (region {REGION}, access key testing, secret testing), e.g.
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url {aws} --region {REGION} ec2 describe-vpcs

Ctrl-C stops everything, the operator first; the cluster and the emulated AWS go with it.",
            server = cluster.plane.server(),
            kubeconfig = files.kubeconfig().display(),
            apply = kubectl(&self.apply),
            wait_platforms = kubectl(&self.wait_platforms),
            wait_chatbots = kubectl(&self.wait_chatbots),
            delete = kubectl(&self.delete),
            examples = files.examples_relative(),
            placeholder = PLACEHOLDER_CERTIFICATE,
            certificate = cluster.certificate,
            log = files.operator_log().display(),
            metrics = cluster.operator.metrics_url(),
        )
    }

    /// Runs the commands as printed (in the repository, with the session's
    /// kubeconfig and kubectl), then checks that no object is left.
    fn check(&self, cluster: &mut LocalCluster, stop: &StopRequest) -> Result<CheckTimes> {
        let converging = Instant::now();
        for args in [&self.apply, &self.wait_platforms, &self.wait_chatbots] {
            run_kubectl(cluster, args, stop)?;
        }
        let converge = converging.elapsed();
        let deleting = Instant::now();
        run_kubectl(cluster, &self.delete, stop)?;
        let left = cluster
            .plane
            .kubectl_ok(&["get", "cbp,bcb", "-A", "-o", "name"])
            .map_err(because("cannot list what is left"))?;
        if !left.trim().is_empty() {
            return Err(Error(format!("objects left after kubectl delete:\n{left}")));
        }
        Ok(CheckTimes {
            converge,
            delete: deleting.elapsed(),
        })
    }
}

/// Runs `kubectl args…` as a person would after the printed `export`s, showing
/// its output; ends it early when a stop is requested or the operator exits.
fn run_kubectl(cluster: &mut LocalCluster, args: &[String], stop: &StopRequest) -> Result<()> {
    let shown = format!("kubectl {}", shell_words(args));
    eprintln!("$ {shown}");
    let mut child = Command::new(cluster.plane.bin().join("kubectl"))
        .args(args)
        .current_dir(&cluster.files.repository)
        .env("KUBECONFIG", cluster.files.kubeconfig())
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(because(format!("cannot run {shown}")))?;
    loop {
        if let Some(status) = child.try_wait().map_err(because(&shown))? {
            return if status.success() {
                Ok(())
            } else {
                Err(Error(format!("`{shown}` failed ({status})")))
            };
        }
        let interrupted = if stop.requested() {
            Some("stopped".to_string())
        } else {
            cluster
                .operator
                .exited()
                .map(|status| format!("the operator exited ({status})"))
        };
        if let Some(why) = interrupted {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error(format!("{why} during `{shown}`")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `args` as one would type them in a shell: single-quoted where needed.
fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
            if plain {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
