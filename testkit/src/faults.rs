//! A fault-injecting HTTP proxy for the AWS emulator. Each request, with the
//! configured probability, gets one of the configured faults, and otherwise is
//! forwarded unchanged. Most faults come *instead of* the emulator's answer, so they
//! have no side effect, as with AWS's own throttling and most 5xx; a
//! [`Fault::LostResponse`] lets the request take effect and drops its answer — the
//! case that tests whether a retried create makes a twin.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::watch;

use crate::proxy::{self, Upstream, read_body};
use crate::scenarios::{Answer, Armed, Rule};

/// One kind of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// The service's own throttling error, in the request's protocol
    /// (`ThrottlingException`, `Throttling`, `RequestLimitExceeded`).
    Throttle,
    /// `TooManyRequestsException`, the code Cognito (and Lambda, API Gateway) throttle
    /// with, in the request's protocol, on an HTTP 400: only the code says "retry".
    TooManyRequestsException,
    /// HTTP 429 Too Many Requests, with no AWS error code.
    TooManyRequests,
    /// HTTP 500 Internal Server Error.
    InternalError,
    /// HTTP 503 Service Unavailable.
    Unavailable,
    /// The connection is closed without an answer; the request never reached the
    /// emulator.
    Reset,
    /// The request reaches the emulator (and takes effect), but the connection is
    /// closed before its answer: the caller cannot know whether it happened.
    LostResponse,
    /// The request is answered, but only after a delay.
    Latency(Duration),
    /// A client error that no retry fixes (`ValidationException` and the like),
    /// whose message differs from request to request, as AWS's often do (they name
    /// request ids and resources): the case of a persistent error that must not
    /// make the operator spin.
    Refused,
    /// A [`Rule`] of a scenario answered (the rule's name).
    Replayed(&'static str),
}

/// What to inject, and how often.
#[derive(Clone, Debug)]
pub struct Faults {
    /// Probability (0 to 1) that a request gets a fault.
    pub rate: f64,
    /// Faults to choose from, uniformly.
    pub kinds: Vec<Fault>,
    /// Seed of the random choices, so a failing run can be repeated.
    pub seed: u64,
}

impl Faults {
    /// Every fault kind at `rate`, with 200 ms of latency for [`Fault::Latency`].
    pub fn all(rate: f64, seed: u64) -> Self {
        Self {
            rate,
            kinds: vec![
                Fault::Throttle,
                Fault::TooManyRequestsException,
                Fault::TooManyRequests,
                Fault::InternalError,
                Fault::Unavailable,
                Fault::Reset,
                Fault::LostResponse,
                Fault::Latency(Duration::from_millis(200)),
            ],
            seed,
        }
    }
}

/// One request the proxy answered.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The AWS operation (`CreateVpc`, `DescribeServices`, …), from the request.
    pub operation: String,
    /// The fault it got instead of (or besides) the emulator's answer.
    pub fault: Option<Fault>,
    /// When it arrived.
    pub at: Instant,
}

impl Exchange {
    /// Whether the operation may change something: anything but `Describe*`,
    /// `List*` and `Get*`.
    pub fn is_write(&self) -> bool {
        !["Describe", "List", "Get"]
            .iter()
            .any(|read| self.operation.starts_with(read))
    }
}

#[derive(Debug, Default)]
struct Counters {
    forwarded: AtomicU64,
    injected: Mutex<Vec<Fault>>,
    journal: Mutex<Vec<Exchange>>,
}

/// The proxy, listening on 127.0.0.1 until dropped.
#[derive(Debug)]
pub struct FaultProxy {
    address: SocketAddr,
    counters: Arc<Counters>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (e.g. `http://127.0.0.1:5000`).
    pub async fn start(upstream: &str, faults: Faults) -> std::io::Result<Self> {
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            upstream: Upstream::new(upstream),
            rng: Mutex::new(fastrand::Rng::with_seed(faults.seed)),
            faults: Mutex::new(faults),
            rules: Mutex::new(Vec::new()),
            counters: counters.clone(),
        });
        // A `Reset` fault is a handler error: it ends its connection.
        let handler = shared.clone();
        let address = proxy::serve(
            move |request| {
                let shared = handler.clone();
                async move { shared.handle(request).await }
            },
            stopped,
        )
        .await?;
        Ok(Self {
            address,
            counters,
            shared,
            stop,
        })
    }

    /// `http://127.0.0.1:<port>`: point the AWS SDK here.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Requests that reached the emulator.
    pub fn forwarded(&self) -> u64 {
        self.counters.forwarded.load(Ordering::Relaxed)
    }

    /// How many of each fault were injected so far.
    pub fn counts(&self) -> std::collections::BTreeMap<Fault, u64> {
        let mut counts = std::collections::BTreeMap::new();
        for fault in self.injected() {
            *counts.entry(fault).or_default() += 1;
        }
        counts
    }

    /// From now on, inject `faults` instead of what was configured before.
    pub fn set_faults(&self, faults: Faults) {
        if let Ok(mut rng) = self.shared.rng.lock() {
            *rng = fastrand::Rng::with_seed(faults.seed);
        }
        if let Ok(mut current) = self.shared.faults.lock() {
            *current = faults;
        }
    }

    /// From now on, also replay `rules` (a scenario of [`crate::scenarios`]), before
    /// any random fault; added to the rules given before.
    pub fn replay(&self, rules: Vec<Rule>) {
        if let Ok(mut armed) = self.shared.rules.lock() {
            armed.extend(rules.into_iter().map(Armed::new));
        }
    }

    /// How many requests each rule answered so far, by name.
    pub fn replayed(&self) -> std::collections::BTreeMap<&'static str, u64> {
        let mut counts = std::collections::BTreeMap::new();
        for fault in self.injected() {
            if let Fault::Replayed(name) = fault {
                *counts.entry(name).or_default() += 1;
            }
        }
        counts
    }

    /// Every request answered so far, in order of arrival.
    pub fn journal(&self) -> Vec<Exchange> {
        self.counters
            .journal
            .lock()
            .map(|journal| journal.clone())
            .unwrap_or_default()
    }

    /// Every fault injected so far, in order.
    pub fn injected(&self) -> Vec<Fault> {
        self.counters
            .injected
            .lock()
            .map(|faults| faults.clone())
            .unwrap_or_default()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// What the connections share; its `Debug` shows the configuration, not the
/// upstream client.
struct Shared {
    upstream: Upstream,
    rng: Mutex<fastrand::Rng>,
    faults: Mutex<Faults>,
    rules: Mutex<Vec<Armed>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

/// The error a `Reset` fault ends the connection with.
#[derive(Debug)]
struct InjectedReset;

impl std::fmt::Display for InjectedReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected connection reset")
    }
}

impl std::error::Error for InjectedReset {}

impl Shared {
    fn pick(&self) -> Option<Fault> {
        let faults = self.faults.lock().ok()?;
        let mut rng = self.rng.lock().ok()?;
        if faults.kinds.is_empty() || rng.f64() >= faults.rate {
            return None;
        }
        Some(faults.kinds[rng.usize(..faults.kinds.len())])
    }

    /// The first rule that answers `operation` now.
    fn rule_for(&self, operation: &str) -> Option<(&'static str, Answer)> {
        let now = Instant::now();
        let mut rules = self.rules.lock().ok()?;
        rules
            .iter_mut()
            .find_map(|rule| rule.answer(operation, now))
    }

    /// `operation` was carried out (or accepted for later): rules' windows may
    /// open or close.
    fn accepted(&self, operation: &str) {
        let now = Instant::now();
        if let Ok(mut rules) = self.rules.lock() {
            for rule in rules.iter_mut() {
                rule.forwarded(operation, now);
            }
        }
    }

    async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, InjectedReset> {
        let (parts, body) = read_body(request).await;
        let operation = operation(&parts.headers, &body);
        let rule = self.rule_for(&operation);
        let fault = match rule {
            Some((name, _)) => Some(Fault::Replayed(name)),
            None => self.pick(),
        };
        if let Some(fault) = fault
            && let Ok(mut injected) = self.counters.injected.lock()
        {
            injected.push(fault);
        }
        let sequence = if let Ok(mut journal) = self.counters.journal.lock() {
            journal.push(Exchange {
                operation: operation.clone(),
                fault,
                at: Instant::now(),
            });
            journal.len()
        } else {
            0
        };
        let protocol = Protocol::of(&parts.headers, &body);
        let mut rewrite = None;
        match rule {
            Some((
                _,
                Answer::Error {
                    status,
                    code,
                    message,
                },
            )) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                return Ok(service_error_saying(protocol, status, code, message));
            }
            Some((_, Answer::Deferred(delay))) => {
                self.accepted(&operation);
                let shared = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    shared.counters.forwarded.fetch_add(1, Ordering::Relaxed);
                    let _ = shared.upstream.forward(&parts, body, &[]).await;
                });
                return Ok(empty_success(protocol, &operation));
            }
            Some((_, Answer::Rewrite { from, to })) => rewrite = Some((from, to)),
            None => {}
        }
        match fault {
            Some(Fault::Reset) => return Err(InjectedReset),
            Some(Fault::Throttle) => return Ok(throttle(Protocol::of(&parts.headers, &body))),
            Some(Fault::TooManyRequestsException) => {
                return Ok(service_error(
                    Protocol::of(&parts.headers, &body),
                    StatusCode::BAD_REQUEST,
                    "TooManyRequestsException",
                ));
            }
            Some(Fault::Refused) => {
                let protocol = Protocol::of(&parts.headers, &body);
                let code = match protocol {
                    Protocol::Json => "InvalidParameterException",
                    Protocol::Ec2 => "InvalidParameterValue",
                    Protocol::Query => "ValidationError",
                    Protocol::RestXml => "InvalidArgument",
                };
                return Ok(service_error_saying(
                    protocol,
                    StatusCode::BAD_REQUEST,
                    code,
                    &format!("request {sequence} refused (injected)"),
                ));
            }
            Some(Fault::TooManyRequests) => return Ok(status(StatusCode::TOO_MANY_REQUESTS)),
            Some(Fault::InternalError) => return Ok(status(StatusCode::INTERNAL_SERVER_ERROR)),
            Some(Fault::Unavailable) => return Ok(status(StatusCode::SERVICE_UNAVAILABLE)),
            Some(Fault::Latency(delay)) => tokio::time::sleep(delay).await,
            Some(Fault::LostResponse | Fault::Replayed(_)) | None => {}
        }
        self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
        let answer = self.upstream.forward(&parts, body, &[]).await;
        if fault == Some(Fault::LostResponse) {
            return Err(InjectedReset);
        }
        match answer {
            Some((parts, body)) => {
                if parts.status.is_success() {
                    self.accepted(&operation);
                }
                let body = match rewrite {
                    Some((from, to)) => Bytes::from(
                        String::from_utf8_lossy(&body)
                            .replace(from, to)
                            .into_bytes(),
                    ),
                    None => body,
                };
                let mut response = Response::from_parts(parts, Full::new(body));
                // The length changed with the text.
                response.headers_mut().remove(hyper::header::CONTENT_LENGTH);
                Ok(response)
            }
            None => Ok(status(StatusCode::BAD_GATEWAY)),
        }
    }
}

/// The empty success of `operation`, as AWS shapes it in `protocol`.
fn empty_success(protocol: Protocol, operation: &str) -> Response<Full<Bytes>> {
    let (content_type, text) = match protocol {
        Protocol::Json => ("application/x-amz-json-1.1", "{}".to_string()),
        Protocol::Ec2 => (
            "text/xml",
            format!(
                "<{operation}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
                 <requestId>deferred</requestId></{operation}Response>"
            ),
        ),
        Protocol::Query => (
            "text/xml",
            format!(
                "<{operation}Response><{operation}Result/><ResponseMetadata>\
                 <RequestId>deferred</RequestId></ResponseMetadata></{operation}Response>"
            ),
        ),
        Protocol::RestXml => ("application/xml", String::new()),
    };
    error_response(StatusCode::OK, content_type, text)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    proxy::status(code, "injected fault")
}

/// The wire protocol of a request, which decides the shape of its errors.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// AWS JSON 1.0/1.1: ECS, ECR, Cognito, CloudWatch Logs, Application Auto Scaling.
    Json,
    /// EC2's own query dialect.
    Ec2,
    /// The other query services: ELBv2, IAM, STS.
    Query,
    /// REST with XML bodies and no `Action` parameter: S3.
    RestXml,
}

impl Protocol {
    fn of(headers: &hyper::HeaderMap, body: &[u8]) -> Self {
        let json = headers.contains_key("x-amz-target")
            || headers
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("amz-json"));
        let form = String::from_utf8_lossy(body);
        if json {
            Self::Json
        } else if form.contains("Version=2016-11-15") {
            Self::Ec2
        } else if form.contains("Action=") {
            Self::Query
        } else {
            Self::RestXml
        }
    }
}

/// The service's own throttling error, as AWS sends it: `ThrottlingException` from
/// the JSON services, `RequestLimitExceeded` (HTTP 503) from EC2, `Throttling` from
/// the other query services, `SlowDown` (HTTP 503) from S3.
fn throttle(protocol: Protocol) -> Response<Full<Bytes>> {
    match protocol {
        Protocol::Json => service_error(protocol, StatusCode::BAD_REQUEST, "ThrottlingException"),
        Protocol::Ec2 => service_error(
            protocol,
            StatusCode::SERVICE_UNAVAILABLE,
            "RequestLimitExceeded",
        ),
        Protocol::Query => service_error(protocol, StatusCode::BAD_REQUEST, "Throttling"),
        Protocol::RestXml => service_error(protocol, StatusCode::SERVICE_UNAVAILABLE, "SlowDown"),
    }
}

/// The AWS operation a request asks for: the end of its `X-Amz-Target` (JSON
/// services) or its `Action` parameter (query services).
fn operation(headers: &hyper::HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("unknown")
        .to_string()
}

/// A throttling error with AWS error code `code`, shaped as `protocol` shapes its
/// errors.
fn service_error(protocol: Protocol, status: StatusCode, code: &str) -> Response<Full<Bytes>> {
    service_error_saying(protocol, status, code, "Rate exceeded (injected)")
}

/// An error with AWS error code `code` and `message`, shaped as `protocol` shapes
/// its errors.
fn service_error_saying(
    protocol: Protocol,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response<Full<Bytes>> {
    match protocol {
        Protocol::Json => {
            let mut response = error_response(
                status,
                "application/x-amz-json-1.1",
                format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
            );
            if let Ok(value) = code.parse() {
                response.headers_mut().insert("x-amzn-errortype", value);
            }
            response
        }
        Protocol::Ec2 => error_response(
            status,
            "text/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code>\
                 <Message>{message}</Message></Error></Errors><RequestID>injected</RequestID></Response>"
            ),
        ),
        Protocol::Query => error_response(
            status,
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>\
                 </Error><RequestId>injected</RequestId></ErrorResponse>"
            ),
        ),
        Protocol::RestXml => error_response(
            status,
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>\
                 <Message>{message}</Message><RequestId>injected</RequestId></Error>"
            ),
        ),
    }
}

fn error_response(status: StatusCode, content_type: &str, text: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
