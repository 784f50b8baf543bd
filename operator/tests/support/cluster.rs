//! The operator as it runs for real: `bedrock-chatbot-operator run` as a process,
//! against a real kube-apiserver (a control plane of its own per test: platforms are
//! cluster-scoped and every running controller reconciles all of them, so two tests
//! sharing one API server would reconcile each other's objects) and the local AWS
//! emulator. Objects are written and read with the real `kubectl`.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use operator::aws::{Aws, CallLog};
use serde_json::Value;
use testkit::{FaultProxy, Faults, KubeControlPlane, Moto};

/// The examples' placeholder certificate, replaced by one the emulator issued.
pub const PLACEHOLDER_CERTIFICATE: &str =
    "arn:aws:acm:us-west-2:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef";

/// How long a test waits for the operator to converge: generous, the emulator
/// answers at once, but the machine may be busy.
pub const CONVERGE: Duration = Duration::from_secs(300);

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Installs both CRDs (the committed file the chart ships) and waits until the
/// API server serves them.
pub fn install_crds(plane: &KubeControlPlane) {
    let crds = repository().join("charts/bedrock-chatbot-operator/crds/crds.yaml");
    plane
        .kubectl_ok(&["apply", "--server-side", "-f", &crds.display().to_string()])
        .unwrap();
    plane
        .kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/chatbotplatforms.bedrock-chatbot.dev",
            "crd/bedrockchatbots.bedrock-chatbot.dev",
        ])
        .unwrap();
}

/// A control plane with the CRDs, an emulated AWS with a certificate for
/// `*.example.com`, and a scratch directory.
pub struct Cluster {
    /// The Kubernetes side.
    pub plane: KubeControlPlane,
    /// The AWS side.
    pub moto: Moto,
    /// An issued certificate of the emulator's ACM.
    pub certificate: String,
    dir: PathBuf,
}

impl Cluster {
    /// Starts both sides.
    pub fn start() -> Self {
        let cluster = Self::start_without_crds();
        install_crds(&cluster.plane);
        cluster
    }

    /// `kubectl args…` as the administrator; panics with stderr when it fails.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.plane
            .kubectl_ok(args)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `kubectl args…`, whatever its exit status.
    pub fn kubectl_output(&self, args: &[&str]) -> Output {
        self.plane.kubectl().args(args).output().unwrap()
    }

    /// `kubectl wait --timeout=300s <args>`; on failure the message holds
    /// kubectl's error and the end of `operator`'s log.
    pub fn kubectl_wait(&self, operator: &Operator, args: &[&str]) {
        let mut full = vec!["wait", "--timeout=300s"];
        full.extend_from_slice(args);
        let output = self.kubectl_output(&full);
        assert!(
            output.status.success(),
            "kubectl {}: {}\n{}",
            full.join(" "),
            String::from_utf8_lossy(&output.stderr),
            operator.log_tail()
        );
    }

    /// `kubectl apply -f -` of `yaml`.
    pub fn apply(&self, yaml: &str) {
        let output = self
            .plane
            .kubectl_stdin(&["apply", "-f", "-"], yaml)
            .unwrap();
        assert!(
            output.status.success(),
            "kubectl apply: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Creates the namespaces.
    pub fn namespaces(&self, names: &[&str]) {
        for name in names {
            self.kubectl(&["create", "namespace", name]);
        }
    }

    /// `examples/<files>` written into a directory with the emulator's certificate
    /// in place of the placeholder; the directory, for `kubectl apply -f`.
    pub fn examples(&self, files: &[&str]) -> String {
        let dir = self.dir.join(format!("examples-{}", files.join("-")));
        std::fs::create_dir_all(&dir).unwrap();
        for file in files {
            let text = std::fs::read_to_string(repository().join("examples").join(file))
                .unwrap()
                .replace(PLACEHOLDER_CERTIFICATE, &self.certificate);
            std::fs::write(dir.join(file), text).unwrap();
        }
        dir.display().to_string()
    }

    /// The object as JSON (`kind` as kubectl takes it, e.g. `bcb/assistant`), or
    /// `None` when it does not exist.
    pub fn get(&self, object: &str, namespace: Option<&str>) -> Option<Value> {
        let mut args = vec!["get", object, "-o", "json", "--ignore-not-found"];
        if let Some(namespace) = namespace {
            args.extend(["-n", namespace]);
        }
        let text = self.kubectl(&args);
        (!text.trim().is_empty()).then(|| serde_json::from_str(&text).unwrap())
    }

    /// Waits at most [`CONVERGE`] until the platform `shared` is Ready, and returns
    /// it; panics with the end of `operator`'s log otherwise.
    pub fn wait_for_platform_ready(&self, operator: &Operator) -> Value {
        self.wait_for(
            "chatbotplatform/shared",
            None,
            CONVERGE,
            || operator.log_tail(),
            |p| condition_is(p, "Ready", "True"),
        )
        .unwrap()
    }

    /// Waits at most [`CONVERGE`] until team A's chatbot `assistant` is Synced, and
    /// returns it; panics with the end of `operator`'s log otherwise.
    pub fn wait_for_chatbot_synced(&self, operator: &Operator) -> Value {
        self.wait_for(
            "bcb/assistant",
            Some("team-a"),
            CONVERGE,
            || operator.log_tail(),
            |c| condition_is(c, "Synced", "True"),
        )
        .unwrap()
    }

    /// A spec edit the controller must act on: the platform's load balancer idle
    /// timeout to 90 s.
    pub fn edit_platform(&self) {
        self.kubectl(&[
            "patch",
            "chatbotplatform/shared",
            "--type=merge",
            "-p",
            r#"{"spec":{"loadBalancer":{"idleTimeoutSeconds":90}}}"#,
        ]);
    }

    /// A spec edit of team A's chatbot that drifts its task definition only: the
    /// model's temperature to 0.2.
    pub fn edit_chatbot(&self) {
        self.kubectl(&[
            "patch",
            "bcb/assistant",
            "-n",
            "team-a",
            "--type=merge",
            "-p",
            r#"{"spec":{"model":{"temperature":0.2}}}"#,
        ]);
    }

    /// Polls `object` until `done` holds for it (`None`: it does not exist), at most
    /// `limit`; panics with its last state and `context()` otherwise.
    pub fn wait_for(
        &self,
        object: &str,
        namespace: Option<&str>,
        limit: Duration,
        context: impl Fn() -> String,
        done: impl Fn(Option<&Value>) -> bool,
    ) -> Option<Value> {
        let started = Instant::now();
        loop {
            let current = self.get(object, namespace);
            if done(current.as_ref()) {
                return current;
            }
            if started.elapsed() > limit {
                panic!(
                    "{object} did not reach the expected state within {limit:?}; last: {}\n{}",
                    current.map(|v| v.to_string()).unwrap_or("absent".into()),
                    context()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The emulator's standard AWS environment for the operator.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        self.moto.env("us-west-2")
    }

    /// SDK clients on the emulator, for reading AWS back.
    pub fn aws(&self) -> Aws {
        Aws::new(
            &self.moto.sdk_config("us-west-2"),
            "us-west-2",
            CallLog::default(),
        )
    }

    /// `bedrock-chatbot-operator run args…` as the administrator, on the emulator.
    pub fn operator(&self, args: &[&str]) -> Operator {
        Operator::start(OperatorSettings {
            kubeconfig: self.plane.kubeconfig(),
            aws_endpoint: self.moto.endpoint(),
            identity: "operator-0".into(),
            args: args.iter().map(ToString::to_string).collect(),
            log: log_path("operator-0"),
            env: Vec::new(),
        })
    }

    /// Settings for an operator process as the administrator, reaching AWS at
    /// `aws_endpoint`.
    pub fn settings(&self, identity: &str, aws_endpoint: &str, args: &[&str]) -> OperatorSettings {
        OperatorSettings {
            kubeconfig: self.plane.kubeconfig(),
            aws_endpoint: aws_endpoint.to_string(),
            identity: identity.to_string(),
            args: args.iter().map(ToString::to_string).collect(),
            log: log_path(identity),
            env: Vec::new(),
        }
    }

    /// A fault proxy in front of the emulator (injecting nothing until told to),
    /// served by the returned runtime, which must live as long as the proxy.
    pub fn fault_proxy(&self) -> (tokio::runtime::Runtime, FaultProxy) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let proxy = runtime
            .block_on(FaultProxy::start(
                &self.moto.endpoint(),
                Faults::all(0.0, 1),
            ))
            .unwrap();
        (runtime, proxy)
    }
}

/// Where an operator's log goes: outside the control plane's directory, so it
/// outlives a failed test for reading.
pub fn log_path(identity: &str) -> PathBuf {
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join("bcb-operator-logs");
    std::fs::create_dir_all(&dir).unwrap();
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!("{}-{n}-{identity}.log", std::process::id()))
}

/// A TCP port free on loopback just now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How to start one operator process.
pub struct OperatorSettings {
    /// Whom it authenticates as.
    pub kubeconfig: PathBuf,
    /// Where its AWS calls go (the emulator, or a proxy in front of it).
    pub aws_endpoint: String,
    /// `POD_NAME`: its Lease identity and Events' reporting instance.
    pub identity: String,
    /// Arguments after `run` (`--log-format` is added, and `--metrics-addr` on a
    /// free loopback port unless they hold one).
    pub args: Vec<String>,
    /// Where its log goes.
    pub log: PathBuf,
    /// More environment (e.g. `AWS_MAX_ATTEMPTS`).
    pub env: Vec<(String, String)>,
}

/// A running `bedrock-chatbot-operator run`, killed when dropped.
pub struct Operator {
    child: Child,
    log: PathBuf,
    metrics_port: u16,
}

impl Operator {
    /// Starts it with only the standard Kubernetes and AWS environment.
    pub fn start(settings: OperatorSettings) -> Self {
        let mut args = settings.args.clone();
        let given = args.iter().find_map(|a| a.strip_prefix("--metrics-addr="));
        let metrics_port = match given {
            Some(addr) => addr.rsplit_once(':').unwrap().1.parse().unwrap(),
            None => {
                let port = free_port();
                args.push(format!("--metrics-addr=127.0.0.1:{port}"));
                port
            }
        };
        let log = std::fs::File::create(&settings.log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_bedrock-chatbot-operator"))
            .arg("run")
            .args(&args)
            .arg("--log-format=text")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .env("KUBECONFIG", &settings.kubeconfig)
            .env("POD_NAME", &settings.identity)
            // OPERATOR_LOG=debug (or any RUST_LOG filter) when a test needs more.
            .env(
                "RUST_LOG",
                std::env::var("OPERATOR_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("AWS_ENDPOINT_URL", &settings.aws_endpoint)
            .env("AWS_REGION", "us-west-2")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(settings.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            child,
            log: settings.log,
            metrics_port,
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of its log, for a failing test's message.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Sends `signal` (e.g. `TERM`, `KILL`, `STOP`) to it.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    /// SIGTERM, as Kubernetes stops a pod, then waits up to `limit` for it to exit.
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        self.signal("TERM");
        self.wait(limit)
    }

    /// Waits up to `limit` for it to exit; panics with its log otherwise.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "the operator did not exit within {limit:?}:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// GET `path` of its metrics server: (status code, body), or `None` when it
    /// does not answer.
    pub fn http_get(&self, path: &str) -> Option<(u16, String)> {
        testkit::http::get(self.metrics_port, path, Duration::from_secs(5))
    }

    /// GET `path` on its metrics server at `ip` (IPv6 loopback, say).
    pub fn http_get_at(&self, ip: std::net::IpAddr, path: &str) -> Option<(u16, String)> {
        let addr = std::net::SocketAddr::new(ip, self.metrics_port);
        testkit::http::get_from(addr, path, Duration::from_secs(5))
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The condition `type_` of an object's status, if set.
pub fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Whether condition `type_` is `status` for the object's current generation.
pub fn condition_is(object: Option<&Value>, type_: &str, status: &str) -> bool {
    object.is_some_and(|o| {
        condition(o, type_).is_some_and(|c| {
            c["status"] == status && c["observedGeneration"] == o["metadata"]["generation"]
        })
    })
}

/// Runs `future` to completion on a runtime of its own (the tests are synchronous:
/// they drive processes).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

impl Cluster {
    /// Both sides, without the CRDs: for a test that installs them the way a
    /// cluster gets them (the Helm chart).
    pub fn start_without_crds() -> Self {
        let plane = KubeControlPlane::start().unwrap();
        let moto = Moto::start().unwrap();
        let certificate = moto.certificate("*.example.com", "us-west-2").unwrap();
        let dir = plane.dir().join("manifests");
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            plane,
            moto,
            certificate,
            dir,
        }
    }
}
