//! Shared test fixtures: ALB-style tokens, a local key server, the app wired to the
//! Bedrock stand-in, and an SSE reader.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_sdk_bedrockruntime::config::Credentials;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use bedrock_chatbot::auth::{AlbVerifier, Authenticator, Identity};
use bedrock_chatbot::bedrock::Bedrock;
use bedrock_chatbot::config::{self, Config};
use bedrock_chatbot::{AppState, app};
use bedrock_standin::{Reply, StandIn};
use http_body_util::BodyExt;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub mod browser;

pub const ALB_ARN: &str = "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/platform/50dc6c495c0c9188";
pub const CLIENT_ID: &str = "5c0le2ttoocl1cnt";
pub const ISSUER: &str = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_AbCdEfGhI";
pub const KID: &str = "6f8d3c2e-1a2b-4c5d-9e8f-0a1b2c3d4e5f";
pub const MODEL: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

/// A fixed P-256 key (tests are deterministic).
pub fn alb_key() -> SigningKey {
    SigningKey::from_slice(&[7u8; 32]).unwrap()
}

/// Another key, for "signed with the wrong key".
pub fn other_key() -> SigningKey {
    SigningKey::from_slice(&[9u8; 32]).unwrap()
}

pub fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Token parts as the ALB makes them.
#[derive(Clone, Debug)]
pub struct TokenSpec {
    pub header: Value,
    pub payload: Value,
    pub padded: bool,
}

impl TokenSpec {
    pub fn valid() -> Self {
        let exp = now() + 120;
        Self {
            header: json!({
                "typ": "JWT", "kid": KID, "alg": "ES256", "iss": ISSUER,
                "client": CLIENT_ID, "signer": ALB_ARN, "exp": exp,
            }),
            payload: json!({
                "sub": "2b4e1c9a-user", "email_verified": "true",
                "email": "ada@example.com", "username": "ada", "exp": exp, "iss": ISSUER,
            }),
            padded: true,
        }
    }

    pub fn header(mut self, field: &str, value: Value) -> Self {
        self.header[field] = value;
        self
    }

    pub fn payload(mut self, field: &str, value: Value) -> Self {
        self.payload[field] = value;
        self
    }

    fn encode(&self, bytes: &[u8]) -> String {
        if self.padded {
            URL_SAFE.encode(bytes)
        } else {
            URL_SAFE_NO_PAD.encode(bytes)
        }
    }

    /// Signed with `key`, ES256 over the two first parts exactly as they appear.
    pub fn sign(&self, key: &SigningKey) -> String {
        let signed = format!(
            "{}.{}",
            self.encode(self.header.to_string().as_bytes()),
            self.encode(self.payload.to_string().as_bytes())
        );
        let signature: Signature = key.sign(signed.as_bytes());
        format!("{signed}.{}", self.encode(&signature.to_bytes()))
    }
}

/// A local stand-in for `public-keys.auth.elb.<region>.amazonaws.com`.
#[derive(Debug)]
pub struct KeyServer {
    pub url: String,
    pub fetches: Arc<AtomicUsize>,
    keys: Arc<Mutex<HashMap<String, String>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct KeyServerState {
    keys: Arc<Mutex<HashMap<String, String>>>,
    fetches: Arc<AtomicUsize>,
}

impl KeyServer {
    pub async fn start() -> Self {
        let keys = Arc::new(Mutex::new(HashMap::new()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let state = KeyServerState {
            keys: keys.clone(),
            fetches: fetches.clone(),
        };
        let router = Router::new()
            .route("/{kid}", get(serve_key))
            .with_state(state);
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        let server = Self {
            url,
            fetches,
            keys,
            task,
        };
        server.publish(KID, &alb_key());
        server
    }

    pub fn publish(&self, kid: &str, key: &SigningKey) {
        let pem = key
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        self.keys.lock().unwrap().insert(kid.into(), pem);
    }

    pub fn publish_raw(&self, kid: &str, body: &str) {
        self.keys.lock().unwrap().insert(kid.into(), body.into());
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Stops serving: connections are refused from now on.
    pub async fn stop(self) -> String {
        self.task.abort();
        let _ = self.task.await;
        self.url
    }
}

async fn serve_key(State(state): State<KeyServerState>, Path(kid): Path<String>) -> Response {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    if kid == "server-error" {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    match state.keys.lock().unwrap().get(&kid) {
        Some(pem) => pem.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A URL where nothing listens.
pub async fn closed_url() -> String {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// The environment the operator's task definition sets, plus test overrides.
pub fn env(keys_url: &str, overrides: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<&str, String> = HashMap::from([
        (config::ENV_REGION, "us-west-2".into()),
        (config::ENV_MODEL_ID, MODEL.into()),
        (config::ENV_TEMPERATURE, "0.9".into()),
        (config::ENV_MAX_TOKENS, "2000".into()),
        (config::ENV_TOP_P, "1.0".into()),
        (
            config::ENV_SYSTEM_PROMPT,
            "You are the team's assistant.".into(),
        ),
        (config::ENV_ALB_ARN, ALB_ARN.into()),
        (
            config::ENV_PUBLIC_URL,
            "https://chat.team-a.example.com".into(),
        ),
        (
            config::ENV_COGNITO_DOMAIN_URL,
            "https://team-a.auth.us-west-2.amazoncognito.com".into(),
        ),
        (config::ENV_COGNITO_CLIENT_ID, CLIENT_ID.into()),
        (config::ENV_TOKEN_ISSUER, ISSUER.into()),
        (config::ENV_ALB_KEYS_URL, keys_url.into()),
    ]);
    for (name, value) in overrides {
        vars.insert(name, (*value).to_string());
    }
    Config::from_lookup(|name| vars.get(name).cloned()).unwrap()
}

/// The real SDK client aimed at the stand-in, with static test credentials.
pub async fn bedrock_for(standin: &StandIn, config: &Config) -> Bedrock {
    // No retry: a test sees each fault the stand-in makes.
    let sdk = emulator_config(&standin.endpoint_url())
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await;
    Bedrock::new(
        aws_sdk_bedrockruntime::Client::new(&sdk),
        config.model.clone(),
    )
}

/// Everything a test talks to: the app, its state, the stand-in, the key server.
pub struct World {
    pub state: AppState,
    pub standin: StandIn,
    pub keys: KeyServer,
}

impl World {
    pub async fn new(overrides: &[(&str, &str)]) -> Self {
        Self::signed_in_by(overrides, |config| {
            Authenticator::Alb(AlbVerifier::new(config))
        })
        .await
    }

    /// The same world, everyone signed in as `name` (the development identity).
    pub async fn dev(name: &str) -> Self {
        Self::dev_with(name, &[]).await
    }

    /// [`World::dev`] with these variables set.
    pub async fn dev_with(name: &str, overrides: &[(&str, &str)]) -> Self {
        Self::signed_in_by(overrides, |_| {
            Authenticator::Dev(Identity {
                subject: format!("dev:{name}"),
                name: name.into(),
            })
        })
        .await
    }

    /// The stand-in, the key server and the app with these variables set, users
    /// signed in by the authenticator `auth` makes of the configuration.
    async fn signed_in_by(
        overrides: &[(&str, &str)],
        auth: impl FnOnce(&Config) -> Authenticator,
    ) -> Self {
        let standin = StandIn::start(0, Reply::text("Hello from the stand-in."))
            .await
            .unwrap();
        let keys = KeyServer::start().await;
        let config = env(&keys.url, overrides);
        let bedrock = bedrock_for(&standin, &config).await;
        let auth = auth(&config);
        Self {
            state: AppState::new(config, auth, bedrock),
            standin,
            keys,
        }
    }

    pub fn app(&self) -> Router {
        app(self.state.clone())
    }

    /// `POST /api/chat/stop` of the answer streaming in the conversation `id`, with
    /// a valid ALB token.
    pub async fn stop(&self, id: &str) -> Response {
        use tower::ServiceExt;
        self.app()
            .oneshot(signed("POST", "/api/chat/stop", Some(json!({ "id": id }))))
            .await
            .unwrap()
    }

    /// `POST /api/chat`: `text` asked in the conversation `id`, with a valid ALB
    /// token.
    pub async fn ask(&self, id: &str, text: &str) -> Response {
        use tower::ServiceExt;
        self.app()
            .oneshot(signed("POST", "/api/chat", Some(question(id, text))))
            .await
            .unwrap()
    }
}

/// A request with a valid ALB token.
pub fn signed(method: &str, uri: &str, body: Option<Value>) -> Request<Body> {
    with_token(
        method,
        uri,
        body,
        Some(&TokenSpec::valid().sign(&alb_key())),
    )
}

pub fn with_token(
    method: &str,
    uri: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        builder = builder.header("x-amzn-oidc-data", token);
    }
    match body {
        Some(json) => builder
            .header("content-type", "application/json")
            .body(Body::from(json.to_string()))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

pub async fn body_json(response: Response) -> Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
}

pub async fn body_text(response: Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// One server-sent event.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub data: Value,
}

/// Reads server-sent events from a streaming body, one at a time.
pub struct SseReader {
    body: Body,
    buffer: String,
}

impl SseReader {
    pub fn new(response: Response) -> Self {
        Self {
            body: response.into_body(),
            buffer: String::new(),
        }
    }

    /// The next event (comments and keep-alives skipped), or `None` at the end.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event = Some(name.trim().to_string());
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.strip_prefix(' ').unwrap_or(d));
                    }
                }
                if let Some(event) = event {
                    return Some(SseEvent {
                        event,
                        data: serde_json::from_str(&data).unwrap(),
                    });
                }
            }
            let frame = self.body.frame().await?.unwrap();
            if let Ok(bytes) = frame.into_data() {
                self.buffer.push_str(std::str::from_utf8(&bytes).unwrap());
            }
        }
    }

    /// Every remaining event.
    pub async fn all(mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(e) = self.next().await {
            events.push(e);
        }
        events
    }
}

pub fn question(id: &str, text: &str) -> Value {
    json!({ "id": id, "messages": [ { "role": "user", "text": text } ] })
}

pub fn text_of(events: &[SseEvent]) -> String {
    events
        .iter()
        .filter(|e| e.event == "delta")
        .map(|e| e.data["text"].as_str().unwrap().to_string())
        .collect()
}

/// Polls `done` until it holds, for at most 20 s (events expected within ms).
pub async fn wait_until(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "condition never held");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub fn local(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// The log lines (JSON, as in production) the current thread writes while it is
/// held: what the team running the chatbot would read. Tests using it run on the
/// current-thread runtime, so every task of the request logs here.
pub struct Logs {
    written: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    pub fn capture() -> Self {
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = written.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        Self {
            written,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// Every line so far, parsed.
    pub fn lines(&self) -> Vec<Value> {
        let written = self.written.lock().unwrap();
        String::from_utf8_lossy(&written)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Conversation history (DynamoDB, against the emulator).

/// The history table's name in tests (as the operator names it).
pub const HISTORY_TABLE: &str = "bedrock-chatbot-team-a-history";

/// A DynamoDB client on `endpoint` with static test credentials: the SDK's standard
/// retry (3 attempts), with short backoffs so that faults are met in milliseconds.
pub async fn dynamodb_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let sdk = emulator_config(endpoint)
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(2))
                .operation_attempt_timeout(std::time::Duration::from_secs(5))
                .build(),
        )
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&sdk)
}

/// Creates the history table exactly as the operator does, from the shared names
/// (`bedrock_chatbot::history_table`): `pk` HASH and `sk` RANGE (strings), the local
/// index `byUpdated` on the number `updatedAt` (projection ALL), on-demand billing,
/// and time to live on `expiresAt` when `ttl`.
pub async fn create_history_table(client: &aws_sdk_dynamodb::Client, table: &str, ttl: bool) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, LocalSecondaryIndex,
        Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    };
    use bedrock_chatbot::history_table::{
        BY_UPDATED_INDEX, EXPIRES_AT, PARTITION_KEY, SORT_KEY, UPDATED_AT,
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(table)
        .key_schema(key(PARTITION_KEY, KeyType::Hash))
        .key_schema(key(SORT_KEY, KeyType::Range))
        .attribute_definitions(attribute(PARTITION_KEY, ScalarAttributeType::S))
        .attribute_definitions(attribute(SORT_KEY, ScalarAttributeType::S))
        .attribute_definitions(attribute(UPDATED_AT, ScalarAttributeType::N))
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(BY_UPDATED_INDEX)
                .key_schema(key(PARTITION_KEY, KeyType::Hash))
                .key_schema(key(UPDATED_AT, KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    if ttl {
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(EXPIRES_AT)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
}

/// Every item of the history table (tests look at what is stored).
pub async fn history_items(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return items;
        }
    }
}

impl World {
    /// [`World::new`] keeping history in `table` on the DynamoDB at `endpoint` (the
    /// table is the caller's to create), items kept `retention_days`.
    pub async fn with_history(
        endpoint: &str,
        table: &str,
        retention_days: u32,
        overrides: &[(&str, &str)],
    ) -> Self {
        let retention = retention_days.to_string();
        let mut all: Vec<(&str, &str)> = vec![
            (config::ENV_HISTORY_TABLE, table),
            (config::ENV_HISTORY_RETENTION_DAYS, retention.as_str()),
        ];
        all.extend_from_slice(overrides);
        Self::new(&all).await.keeping_history_at(endpoint).await
    }

    /// This world, keeping history on the DynamoDB at `endpoint`, in the table its
    /// configuration names.
    pub async fn keeping_history_at(self, endpoint: &str) -> Self {
        let history = bedrock_chatbot::history::History::new(
            dynamodb_at(endpoint).await,
            self.state.config.history.as_ref().unwrap(),
        );
        Self {
            state: self.state.clone().with_history(history),
            ..self
        }
    }
}

/// A request signed for the user `sub` (another person than [`TokenSpec::valid`]'s).
pub fn signed_as(sub: &str, method: &str, uri: &str, body: Option<Value>) -> Request<Body> {
    let token = TokenSpec::valid()
        .payload("sub", json!(sub))
        .payload("email", json!(format!("{sub}@example.com")))
        .sign(&alb_key());
    with_token(method, uri, body, Some(&token))
}

// ---------------------------------------------------------------------------
// Attachments (S3, against the emulator).

/// The platform's attachments bucket in tests.
pub const ATTACHMENTS_BUCKET: &str = "bcb-shared-attachments";
/// This chatbot's prefix in it (as the operator sets it: `<namespace>/<name>/`).
pub const ATTACHMENTS_PREFIX: &str = "team-a/chatbot/";

/// An SDK configuration for the emulator (or a proxy) at `endpoint`, with static test
/// credentials and the SDK's standard retry with short backoffs: what the app loads,
/// with `AWS_ENDPOINT_URL` set.
pub async fn sdk_at(endpoint: &str) -> aws_config::SdkConfig {
    emulator_config(endpoint).load().await
}

/// The SDK configuration of every AWS client of the tests: `endpoint`, static test
/// credentials, the standard retry (3 attempts) with short backoffs.
fn emulator_config(endpoint: &str) -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .region("us-west-2")
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "AKIDCHATBOT",
            "secret",
            None,
            None,
            "test",
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(std::time::Duration::from_millis(10))
                .with_max_backoff(std::time::Duration::from_millis(50)),
        )
}

/// An S3 client on `endpoint`, configured as the app configures its own.
pub async fn s3_at(endpoint: &str) -> aws_sdk_s3::Client {
    let sdk = sdk_at(endpoint).await;
    aws_sdk_s3::Client::from_conf(bedrock_chatbot::attachments::Attachments::s3_config(&sdk))
}

/// Creates the attachments bucket (the operator's job).
pub async fn create_attachments_bucket(client: &aws_sdk_s3::Client) {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    client
        .create_bucket()
        .bucket(ATTACHMENTS_BUCKET)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::UsWest2)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Every key in the attachments bucket (tests look at what is stored).
pub async fn attachment_keys(client: &aws_sdk_s3::Client) -> Vec<String> {
    let listed = client
        .list_objects_v2()
        .bucket(ATTACHMENTS_BUCKET)
        .send()
        .await
        .unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|object| object.key().map(str::to_string))
        .collect()
}

/// The variables that turn attachments on.
pub fn attachments_env() -> [(&'static str, &'static str); 2] {
    [
        (config::ENV_ATTACHMENTS_BUCKET, ATTACHMENTS_BUCKET),
        (config::ENV_ATTACHMENTS_PREFIX, ATTACHMENTS_PREFIX),
    ]
}

impl World {
    /// This world, keeping attachments in the S3 at `endpoint` (the bucket its
    /// configuration names; the caller's to create), through a client the app makes
    /// itself from an SDK configuration with that endpoint.
    pub async fn keeping_attachments_at(self, endpoint: &str) -> Self {
        let attachments = bedrock_chatbot::attachments::Attachments::from_sdk(
            &sdk_at(endpoint).await,
            self.state.config.attachments.as_ref().unwrap(),
        );
        Self {
            state: self.state.clone().with_attachments(attachments),
            ..self
        }
    }
}

/// The boundary of [`upload_as`]'s bodies.
pub const BOUNDARY: &str = "chatbot-test-boundary-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body with one part `field`, a file named `file_name`.
pub fn multipart_body(field: &str, file_name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// `POST /api/attachments` of `bytes` as `file_name`, signed for the user `sub`.
pub fn upload_as(sub: &str, file_name: &str, bytes: &[u8]) -> Request<Body> {
    raw_upload_as(sub, multipart_body("file", file_name, bytes))
}

/// `POST /api/attachments` with this body, signed for the user `sub`.
pub fn raw_upload_as(sub: &str, body: Vec<u8>) -> Request<Body> {
    let mut request = signed_as(sub, "POST", "/api/attachments", None);
    request.headers_mut().insert(
        "content-type",
        format!("multipart/form-data; boundary={BOUNDARY}")
            .parse()
            .unwrap(),
    );
    *request.body_mut() = Body::from(body);
    request
}

/// A small, valid PNG (`width` × `height`, the header only, as Bedrock's checks read).
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend(width.to_be_bytes());
    bytes.extend(height.to_be_bytes());
    bytes.extend([8, 6, 0, 0, 0]);
    bytes
}
