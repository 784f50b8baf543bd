use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_types::region::Region;

/// Why the emulator could not be started.
#[derive(Debug)]
pub struct MotoError(String);

impl std::fmt::Display for MotoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MotoError {}

/// A moto server on 127.0.0.1, stopped when dropped.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    port: u16,
}

/// The account id moto answers with.
pub const ACCOUNT_ID: &str = "123456789012";

impl Moto {
    /// Starts a fresh emulator on a free port and waits until it answers.
    pub fn start() -> Result<Self, MotoError> {
        Self::start_with_env(&[])
    }

    /// [`Moto::start`] with moto settings (`MOTO_*` environment variables) set to
    /// other values than the defaults this harness gives them.
    pub fn start_with_env(settings: &[(&str, &str)]) -> Result<Self, MotoError> {
        let (python, launcher) = emulator()?;
        let port = free_port()?;
        // The launcher gives moto this project's settings (see its docstring).
        let child = Command::new(&python)
            .arg(&launcher)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(settings.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| MotoError(format!("cannot start {}: {e}", python.display())))?;
        let moto = Self { child, port };
        moto.wait_ready(Duration::from_secs(60))?;
        Ok(moto)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK configuration pointing at this emulator: explicit endpoint, region
    /// and static test credentials — nothing read from the environment, so no test
    /// can reach real AWS.
    pub fn sdk_config(&self, region: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(self.endpoint())
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                    "testing", "testing", None, None, "testkit",
                )),
            )
            .build()
    }

    /// The environment variables that point standard AWS tooling (our binary, the
    /// AWS CLI, boto3) at this emulator.
    pub fn env(&self, region: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", region.to_string()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// Requests an ACM certificate for `domain` in `region` and returns its ARN. The
    /// emulator checks that a listener's certificate exists, as AWS does, so a
    /// platform needs a real (emulated) one.
    pub fn certificate(&self, domain: &str, region: &str) -> Result<String, MotoError> {
        self.certificate_in(domain, region, None)
    }

    /// [`Moto::certificate`] in another emulated account than the default one (as
    /// moto's `x-moto-account-id` header selects it).
    pub fn certificate_in(
        &self,
        domain: &str,
        region: &str,
        account: Option<&str>,
    ) -> Result<String, MotoError> {
        let body = format!(r#"{{"DomainName":"{domain}","ValidationMethod":"DNS"}}"#);
        let reply = self.post_json(
            region,
            "acm",
            "CertificateManager.RequestCertificate",
            &body,
            account,
        )?;
        let marker = "\"CertificateArn\": \"";
        let marker_compact = "\"CertificateArn\":\"";
        let start = reply
            .find(marker)
            .map(|i| i + marker.len())
            .or_else(|| reply.find(marker_compact).map(|i| i + marker_compact.len()))
            .ok_or_else(|| MotoError(format!("no certificate in the reply: {reply}")))?;
        let end = reply[start..]
            .find('"')
            .ok_or_else(|| MotoError(format!("malformed reply: {reply}")))?;
        Ok(reply[start..start + end].to_string())
    }

    /// A JSON-protocol AWS call, unsigned: moto reads the region and service from
    /// the `Authorization` header and does not check signatures.
    fn post_json(
        &self,
        region: &str,
        service: &str,
        target: &str,
        body: &str,
        account: Option<&str>,
    ) -> Result<String, MotoError> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
            .map_err(|e| MotoError(format!("cannot reach moto: {e}")))?;
        let account = account
            .map(|a| format!("x-moto-account-id: {a}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n{account}\
             X-Amz-Target: {target}\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| MotoError(format!("cannot send to moto: {e}")))?;
        let mut reply = String::new();
        stream
            .read_to_string(&mut reply)
            .map_err(|e| MotoError(format!("cannot read from moto: {e}")))?;
        Ok(reply)
    }

    fn wait_ready(&self, limit: Duration) -> Result<(), MotoError> {
        let started = Instant::now();
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while started.elapsed() < limit {
            if let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200))
            {
                let request = "GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
                let mut reply = [0u8; 12];
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_exact(&mut reply).is_ok()
                    && reply.starts_with(b"HTTP/1.")
                {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(MotoError(format!(
            "moto did not answer on port {} within {limit:?}",
            self.port
        )))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, MotoError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| MotoError(format!("no free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| MotoError(format!("no free port: {e}")))
}

/// The Python that runs the emulator and the launcher it runs
/// (`scripts/aws-emulator.py`: moto's server with this project's settings and its
/// DynamoDB's requests served one at a time). The Python is `MOTO_PYTHON` when set
/// (one with `moto[server]` installed), else `.venv/bin/python` in the working
/// directory or one of its parents (tests run in their package's directory, inside
/// the workspace), else next to this crate's source.
fn emulator() -> Result<(PathBuf, PathBuf), MotoError> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    let launcher = workspace.join("scripts/aws-emulator.py");
    if !launcher.exists() {
        return Err(MotoError(format!("no {}", launcher.display())));
    }
    if let Some(path) = std::env::var_os("MOTO_PYTHON") {
        return Ok((PathBuf::from(path), launcher));
    }
    let relative = Path::new(".venv/bin/python");
    let here = std::env::current_dir().unwrap_or_default();
    let found = here
        .ancestors()
        .chain(workspace.ancestors())
        .map(|dir| dir.join(relative))
        .find(|candidate| candidate.exists() && candidate.with_file_name("moto_server").exists());
    let python = found.ok_or_else(|| {
        MotoError(format!(
            "no .venv with moto above {}: run ./scripts/setup-aws-emulator (scripts/test does it for you)",
            here.display()
        ))
    })?;
    Ok((python, launcher))
}
