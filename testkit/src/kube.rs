//! A real Kubernetes control plane on loopback, as controller-runtime's envtest
//! runs one: `etcd` and `kube-apiserver` (no kubelet, no scheduler, no controller
//! manager, so no pod ever runs and nothing garbage-collects), built from Go modules
//! by `scripts/setup-kube`.
//!
//! The API server serves TLS with a certificate made at start by a CA of its own,
//! authorizes with RBAC, runs its default admission plugins, signs ServiceAccount
//! tokens (so the TokenRequest API works) and writes an audit log of every request
//! (who, verb, resource, answer), which the RBAC tests read. Tests authenticate as an
//! administrator (`system:masters`) with a static token, or as a ServiceAccount.
//!
//! Both processes run under a small shell supervisor that holds the read end of a
//! pipe from this process: when the [`KubeControlPlane`] is dropped, or this process
//! ends in any way (a test binary never drops its statics), the pipe closes and the
//! supervisor kills both and removes the temporary directory. Nothing outlives the
//! tests.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Why the control plane could not be started or used.
#[derive(Debug, Clone)]
pub struct KubeError(String);

impl std::fmt::Display for KubeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KubeError {}

fn error(message: impl Into<String>) -> KubeError {
    KubeError(message.into())
}

/// The programs `scripts/setup-kube` builds.
pub const PROGRAMS: [&str; 5] = ["etcd", "kube-apiserver", "kubectl", "helm", "kstatus"];

/// A running etcd + kube-apiserver on free 127.0.0.1 ports, stopped when dropped.
#[derive(Debug)]
pub struct KubeControlPlane {
    /// The supervisor's stdin: closing it stops everything.
    supervisor: Option<(Child, ChildStdin)>,
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    token: String,
    ca: String,
}

/// How many times a control plane is started on other ports when one was taken.
const PORT_ATTEMPTS: u32 = 3;

/// Names temporary directories apart within one process.
static INSTANCES: AtomicU32 = AtomicU32::new(0);

impl KubeControlPlane {
    /// Starts a control plane of its own (for a test that stops or stalls it) and
    /// waits until the API server is ready, RBAC bootstrap roles included.
    pub fn start() -> Result<Self, KubeError> {
        let bin = assets()?;
        Self::start_with(bin.join("kube-apiserver"))
    }

    /// [`KubeControlPlane::start`] with another kube-apiserver binary than the
    /// current release's: [`oldest_apiserver`], for what must hold on every
    /// release the operator claims to support.
    pub fn start_with(apiserver_binary: PathBuf) -> Result<Self, KubeError> {
        Self::start_on(apiserver_binary, free_ports()?)
    }

    /// [`KubeControlPlane::start`] on `ports` (etcd's client and peer ports, the API
    /// server's) instead of free ones: for a test of a port taken meanwhile.
    pub fn start_first_on(ports: [u16; 3]) -> Result<Self, KubeError> {
        let bin = assets()?;
        Self::start_on(bin.join("kube-apiserver"), ports)
    }

    /// Starts on `ports`; when one of them was taken before etcd or the API server
    /// bound it (a port chosen free is free only until then: any process's
    /// connection, another test's server may take it), again on other free ports,
    /// [`PORT_ATTEMPTS`] times in all.
    fn start_on(apiserver_binary: PathBuf, ports: [u16; 3]) -> Result<Self, KubeError> {
        let (mut ports, mut attempt) = (ports, 1);
        loop {
            match Self::start_once(apiserver_binary.clone(), ports) {
                Err(e) if e.0.contains("address already in use") && attempt < PORT_ATTEMPTS => {
                    attempt += 1;
                    ports = free_ports()?;
                }
                started => return started,
            }
        }
    }

    fn start_once(apiserver_binary: PathBuf, ports: [u16; 3]) -> Result<Self, KubeError> {
        let bin = assets()?;
        let dir = std::env::temp_dir().join(format!(
            "bcb-kube-{}-{}",
            std::process::id(),
            INSTANCES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| error(format!("{}: {e}", dir.display())))?;
        let pki = Pki::generate()?;
        let token = pki.admin_token.clone();
        pki.write(&dir)?;
        std::fs::write(dir.join("audit-policy.yaml"), AUDIT_POLICY)
            .map_err(|e| error(format!("audit policy: {e}")))?;

        let [etcd_client, etcd_peer, port] = ports;
        let path = |name: &str| dir.join(name).display().to_string();
        let etcd = [
            "--name=envtest".to_string(),
            format!("--data-dir={}", path("etcd")),
            format!("--listen-client-urls=http://127.0.0.1:{etcd_client}"),
            format!("--advertise-client-urls=http://127.0.0.1:{etcd_client}"),
            format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-cluster=envtest=http://127.0.0.1:{etcd_peer}"),
            // Test data: durability buys nothing, fsync costs seconds per test.
            "--unsafe-no-fsync".to_string(),
            "--log-level=warn".to_string(),
        ];
        let apiserver = [
            format!("--etcd-servers=http://127.0.0.1:{etcd_client}"),
            "--bind-address=127.0.0.1".to_string(),
            "--advertise-address=127.0.0.1".to_string(),
            // The `kubernetes` Service's endpoints may not be a loopback address,
            // and no pod here would use them.
            "--endpoint-reconciler-type=none".to_string(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", path("certs")),
            format!("--tls-cert-file={}", path("apiserver.crt")),
            format!("--tls-private-key-file={}", path("apiserver.key")),
            format!("--token-auth-file={}", path("tokens.csv")),
            "--authorization-mode=RBAC".to_string(),
            format!("--service-account-issuer=https://127.0.0.1:{port}"),
            format!(
                "--service-account-key-file={}",
                path("service-accounts.pub")
            ),
            format!(
                "--service-account-signing-key-file={}",
                path("service-accounts.key")
            ),
            "--service-cluster-ip-range=10.96.0.0/16".to_string(),
            format!("--audit-policy-file={}", path("audit-policy.yaml")),
            format!("--audit-log-path={}", path("audit.log")),
            "--audit-log-format=json".to_string(),
            // Only what a test asks for is audited (the policy drops the API
            // server's own traffic); a batch would delay what the tests read.
            "--audit-log-mode=blocking".to_string(),
            "--profiling=false".to_string(),
            "--v=0".to_string(),
        ];
        let script = supervisor_script(
            &dir,
            &bin.join("etcd"),
            &etcd,
            &apiserver_binary,
            &apiserver,
        );
        std::fs::write(dir.join("supervise.sh"), script)
            .map_err(|e| error(format!("supervisor script: {e}")))?;
        // Its own process group: a Ctrl-C in the terminal (SIGINT to the
        // foreground group) would kill the shell and orphan etcd and the API
        // server, which a non-interactive shell starts with SIGINT ignored. It
        // stops them when this process's end closes its stdin.
        let mut child = Command::new("sh")
            .arg(dir.join("supervise.sh"))
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| error(format!("cannot start the control plane: {e}")))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| error("the supervisor has no stdin"))?;
        let plane = Self {
            supervisor: Some((child, stdin)),
            dir,
            bin,
            port,
            token,
            ca: pki.ca_pem,
        };
        std::fs::write(
            plane.kubeconfig(),
            plane.kubeconfig_for("admin", &plane.token),
        )
        .map_err(|e| error(format!("kubeconfig: {e}")))?;
        plane.wait_ready(Duration::from_secs(90))?;
        Ok(plane)
    }

    /// The control plane every test of this binary shares, started on first use.
    /// Tests keep apart by namespace ([`KubeControlPlane::namespace`]) and by the
    /// names of cluster-scoped objects.
    pub fn shared() -> Result<&'static Self, KubeError> {
        static SHARED: OnceLock<Result<KubeControlPlane, KubeError>> = OnceLock::new();
        SHARED
            .get_or_init(Self::start)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The API server's release (`gitVersion` of `/version`, e.g. `v1.37.2`).
    pub fn server_version(&self) -> Result<String, KubeError> {
        git_version(&self.kubectl_ok(&["get", "--raw", "/version"])?)
    }

    /// The administrator's kubeconfig (user `admin`, group `system:masters`).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// The directory the binaries are in.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The temporary directory of this control plane (logs, certificates, kubeconfigs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The API server's log so far (for a failing test's message).
    pub fn apiserver_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kube-apiserver.log")).unwrap_or_default()
    }

    /// A kubeconfig that authenticates with `token` (a ServiceAccount's, say).
    pub fn kubeconfig_for(&self, user: &str, token: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: {user}\n  context:\n    cluster: envtest\n    user: {user}\ncurrent-context: {user}\n",
            self.server(),
            STANDARD.encode(&self.ca),
        )
    }

    /// `kubectl`, as the administrator.
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new(self.bin.join("kubectl"));
        command.env("KUBECONFIG", self.kubeconfig());
        command
    }

    /// `helm`, as the administrator, with its caches and configuration in this
    /// control plane's directory (never the user's).
    pub fn helm(&self) -> Command {
        let mut command = Command::new(self.bin.join("helm"));
        command
            .env("KUBECONFIG", self.kubeconfig())
            .env("HELM_CACHE_HOME", self.dir.join("helm/cache"))
            .env("HELM_CONFIG_HOME", self.dir.join("helm/config"))
            .env("HELM_DATA_HOME", self.dir.join("helm/data"));
        command
    }

    /// The kstatus checker: JSON objects on stdin, one verdict per line out.
    pub fn kstatus(&self) -> Command {
        Command::new(self.bin.join("kstatus"))
    }

    /// Runs `kubectl args…` and returns its stdout; a non-zero exit is an error
    /// carrying stderr.
    pub fn kubectl_ok(&self, args: &[&str]) -> Result<String, KubeError> {
        succeeded(self.kubectl().args(args), "kubectl", args)
    }

    /// Runs `kubectl args…` with `stdin` as its input.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Result<Output, KubeError> {
        run_with_stdin(self.kubectl().args(args), stdin)
    }

    /// A new namespace named `<prefix>-<n>`, unique in this control plane.
    pub fn namespace(&self, prefix: &str) -> Result<String, KubeError> {
        static NAMESPACES: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id() % 100_000,
            NAMESPACES.fetch_add(1, Ordering::Relaxed)
        );
        self.kubectl_ok(&["create", "namespace", &name])?;
        Ok(name)
    }

    /// A token of ServiceAccount `namespace/name` from the TokenRequest API.
    pub fn service_account_token(&self, namespace: &str, name: &str) -> Result<String, KubeError> {
        let token =
            self.kubectl_ok(&["create", "token", name, "-n", namespace, "--duration=2h"])?;
        Ok(token.trim().to_string())
    }

    /// Writes a kubeconfig authenticating as ServiceAccount `namespace/name` (with
    /// a TokenRequest token) and returns its path.
    pub fn service_account_kubeconfig(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<PathBuf, KubeError> {
        let token = self.service_account_token(namespace, name)?;
        let path = self.dir.join(format!("sa-{namespace}-{name}.kubeconfig"));
        std::fs::write(
            &path,
            self.kubeconfig_for(&format!("system:serviceaccount:{namespace}:{name}"), &token),
        )
        .map_err(|e| error(format!("{}: {e}", path.display())))?;
        Ok(path)
    }

    /// Every audit event so far (one JSON object per request the API server
    /// answered), as text lines.
    pub fn audit_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("audit.log")).unwrap_or_default()
    }

    /// Stops the API server from answering (SIGSTOP): connections stay open and
    /// requests hang, as with an overloaded or partitioned control plane.
    pub fn freeze(&self) -> Result<(), KubeError> {
        self.signal("STOP")
    }

    /// Lets a frozen API server answer again (SIGCONT).
    pub fn thaw(&self) -> Result<(), KubeError> {
        self.signal("CONT")
    }

    fn signal(&self, signal: &str) -> Result<(), KubeError> {
        let pid = std::fs::read_to_string(self.dir.join("kube-apiserver.pid"))
            .map_err(|e| error(format!("no API server pid: {e}")))?;
        let status = Command::new("kill")
            .args([&format!("-{signal}"), pid.trim()])
            .status()
            .map_err(|e| error(format!("kill: {e}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(error(format!("kill -{signal} {} failed", pid.trim())))
        }
    }

    /// Whether `program` (started by the supervisor) is still alive. Before the
    /// supervisor wrote its pid, it counts as alive.
    fn running(&self, program: &str) -> bool {
        match std::fs::read_to_string(self.dir.join(format!("{program}.pid"))) {
            Ok(pid) if !pid.trim().is_empty() => Path::new("/proc").join(pid.trim()).exists(),
            _ => true,
        }
    }

    fn wait_ready(&self, limit: Duration) -> Result<(), KubeError> {
        let started = Instant::now();
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut last = String::new();
        while started.elapsed() < limit {
            if let Some(dead) = ["etcd", "kube-apiserver"]
                .into_iter()
                .find(|program| !self.running(program))
            {
                last = format!("{dead} exited");
                break;
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                match self.kubectl_ok(&["get", "--raw", "/readyz"]) {
                    Ok(ready) if ready.trim() == "ok" => return Ok(()),
                    Ok(other) => last = other,
                    Err(e) => last = e.to_string(),
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(error(format!(
            "kube-apiserver on port {} was not ready after {:?}: {last}\n--- etcd log ---\n{}\n--- kube-apiserver log ---\n{}",
            self.port,
            started.elapsed(),
            tail(&std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default()),
            tail(&self.apiserver_log()),
        )))
    }
}

impl Drop for KubeControlPlane {
    fn drop(&mut self) {
        if let Some((mut child, stdin)) = self.supervisor.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// Where `scripts/setup-kube` put the binaries: `KUBE_ASSETS` when set (a
/// directory, as envtest's `KUBEBUILDER_ASSETS`), else `.cache/kube/current/bin`
/// in the working directory or one of its parents, else above this crate.
pub fn assets() -> Result<PathBuf, KubeError> {
    if let Some(dir) = std::env::var_os("KUBE_ASSETS") {
        return Ok(PathBuf::from(dir));
    }
    let relative = Path::new(".cache/kube/current/bin");
    let here = std::env::current_dir().unwrap_or_default();
    here.ancestors()
        .chain(Path::new(env!("CARGO_MANIFEST_DIR")).ancestors())
        .map(|dir| dir.join(relative))
        .find(|dir| PROGRAMS.iter().all(|p| dir.join(p).exists()))
        .ok_or_else(|| {
            error(format!(
                "no Kubernetes binaries ({}) in .cache/kube/current/bin above {}: run ./scripts/setup-kube (scripts/test does it for you)",
                PROGRAMS.join(", "),
                here.display()
            ))
        })
}

/// The kube-apiserver of the oldest Kubernetes release the operator claims to
/// support: `KUBE_OLDEST_APISERVER` when set, else
/// `.cache/kube/oldest/bin/kube-apiserver` beside [`assets`].
pub fn oldest_apiserver() -> Result<PathBuf, KubeError> {
    if let Some(path) = std::env::var_os("KUBE_OLDEST_APISERVER") {
        return Ok(PathBuf::from(path));
    }
    let path = assets()?.join("../../oldest/bin/kube-apiserver");
    if path.exists() {
        Ok(path)
    } else {
        Err(error(format!(
            "no {}: run ./scripts/setup-kube (scripts/test does it for you)",
            path.display()
        )))
    }
}

/// The Kubernetes release the binaries are (`v1.37.2`), from `kubectl version`.
pub fn release() -> Result<String, KubeError> {
    let bin = assets()?;
    git_version(&succeeded(
        Command::new(bin.join("kubectl")).args(["version", "--client", "-o", "json"]),
        "kubectl",
        &["version"],
    )?)
}

/// The first `gitVersion` in a version document.
fn git_version(output: &str) -> Result<String, KubeError> {
    let output = output.replace("\": \"", "\":\"");
    let marker = "\"gitVersion\":\"";
    let start = output
        .find(marker)
        .map(|i| i + marker.len())
        .ok_or_else(|| error(format!("no gitVersion in {output}")))?;
    let end = output[start..]
        .find('"')
        .ok_or_else(|| error(format!("malformed: {output}")))?;
    Ok(output[start..start + end].to_string())
}

/// Runs `command` and returns stdout if it exited 0.
fn succeeded(command: &mut Command, program: &str, args: &[&str]) -> Result<String, KubeError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| error(format!("cannot run {program}: {e}")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(error(format!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Runs `command` with `stdin` written to it.
pub fn run_with_stdin(command: &mut Command, stdin: &str) -> Result<Output, KubeError> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| error(format!("cannot run {command:?}: {e}")))?;
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .map_err(|e| error(format!("cannot write to {command:?}: {e}")))?;
    }
    child
        .wait_with_output()
        .map_err(|e| error(format!("{command:?}: {e}")))
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Three free loopback ports, held together while they are chosen so none repeats.
fn free_ports() -> Result<[u16; 3], KubeError> {
    let listeners = (0..3)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(format!("no free port: {e}")))?;
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(format!("no free port: {e}")))?;
    Ok([ports[0], ports[1], ports[2]])
}

/// Single-quoted for `sh` (the paths and flags here never hold a quote; one that
/// did would still be quoted right).
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The supervisor: starts etcd and kube-apiserver (the API server retries etcd
/// until it answers), records their pids, then waits for its stdin to close and
/// kills both and removes the directory.
fn supervisor_script(
    dir: &Path,
    etcd_binary: &Path,
    etcd: &[String],
    apiserver_binary: &Path,
    apiserver: &[String],
) -> String {
    let command = |program: &Path, args: &[String]| {
        let mut words = vec![quote(&program.display().to_string())];
        words.extend(args.iter().map(|a| quote(a)));
        words.join(" ")
    };
    let dir = quote(&dir.display().to_string());
    format!(
        "cd {dir} || exit 1\n\
         {etcd} </dev/null >etcd.log 2>&1 &\n\
         echo $! >etcd.pid\n\
         {apiserver} </dev/null >kube-apiserver.log 2>&1 &\n\
         echo $! >kube-apiserver.pid\n\
         cat >/dev/null\n\
         kill -KILL $(cat kube-apiserver.pid) $(cat etcd.pid) 2>/dev/null\n\
         wait\n\
         cd / && rm -rf {dir}\n",
        etcd = command(etcd_binary, etcd),
        apiserver = command(apiserver_binary, apiserver),
    )
}

/// Audit what tests do, not the API server's own traffic: every request of
/// another user than the API server's loopback client, at the Metadata level
/// (user, verb, resource, namespace, answer; no bodies), and Leases with their
/// bodies (who held a Lease when, for the leader election tests).
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  users: [\"system:apiserver\"]
- level: None
  nonResourceURLs: [\"/readyz*\", \"/livez*\", \"/healthz*\"]
- level: RequestResponse
  resources: [{group: coordination.k8s.io, resources: [leases]}]
- level: Metadata
";

/// The control plane's keys and certificates.
struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    service_account_key: String,
    service_account_public_key: String,
    admin_token: String,
}

impl Pki {
    fn generate() -> Result<Self, KubeError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType,
        };
        let fail = |e: rcgen::Error| error(format!("cannot make the control plane's PKI: {e}"));
        let ca_key = KeyPair::generate().map_err(fail)?;
        let mut ca = CertificateParams::default();
        ca.distinguished_name.push(DnType::CommonName, "envtest-ca");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = rcgen::CertifiedIssuer::self_signed(ca, ca_key).map_err(fail)?;

        let server_key = KeyPair::generate().map_err(fail)?;
        let mut server = CertificateParams::new(vec![
            "localhost".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
        ])
        .map_err(fail)?;
        server
            .subject_alt_names
            .push(SanType::IpAddress(Ipv4Addr::LOCALHOST.into()));
        server
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        server.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &issuer).map_err(fail)?;

        let service_account_key = KeyPair::generate().map_err(fail)?;
        // 24 random bytes: the end of a fresh P-256 public key (the x and y
        // coordinates of a point from ring's CSPRNG), so no other random source
        // is needed.
        let admin_token = KeyPair::generate()
            .map_err(fail)?
            .public_key_raw()
            .iter()
            .rev()
            .take(24)
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            ca_pem: issuer.pem(),
            server_cert: server_cert.pem(),
            server_key: server_key.serialize_pem(),
            service_account_key: service_account_key.serialize_pem(),
            service_account_public_key: service_account_key.public_key_pem(),
            admin_token,
        })
    }

    fn write(&self, dir: &Path) -> Result<(), KubeError> {
        let files = [
            ("ca.crt", self.ca_pem.clone()),
            ("apiserver.crt", self.server_cert.clone()),
            ("apiserver.key", self.server_key.clone()),
            ("service-accounts.key", self.service_account_key.clone()),
            (
                "service-accounts.pub",
                self.service_account_public_key.clone(),
            ),
            (
                "tokens.csv",
                format!("{},admin,admin-uid,\"system:masters\"\n", self.admin_token),
            ),
        ];
        for (name, content) in files {
            std::fs::write(dir.join(name), content).map_err(|e| error(format!("{name}: {e}")))?;
        }
        Ok(())
    }
}
