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

    async fn handle(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, InjectedReset> {
        let (parts, body) = read_body(request).await;
        let fault = self.pick();
        if let Some(fault) = fault
            && let Ok(mut injected) = self.counters.injected.lock()
        {
            injected.push(fault);
        }
        let sequence = if let Ok(mut journal) = self.counters.journal.lock() {
            journal.push(Exchange {
                operation: operation(&parts.headers, &body),
                fault,
                at: Instant::now(),
            });
            journal.len()
        } else {
            0
        };
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
            Some(Fault::LostResponse) | None => {}
        }
        self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
        let answer = self.upstream.forward(&parts, body, &[]).await;
        if fault == Some(Fault::LostResponse) {
            return Err(InjectedReset);
        }
        match answer {
            Some((parts, body)) => Ok(Response::from_parts(parts, Full::new(body))),
            None => Ok(status(StatusCode::BAD_GATEWAY)),
        }
    }
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
}

impl Protocol {
    fn of(headers: &hyper::HeaderMap, body: &[u8]) -> Self {
        let json = headers.contains_key("x-amz-target")
            || headers
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("amz-json"));
        if json {
            Self::Json
        } else if String::from_utf8_lossy(body).contains("Version=2016-11-15") {
            Self::Ec2
        } else {
            Self::Query
        }
    }
}

/// The service's own throttling error, as AWS sends it: `ThrottlingException` from
/// the JSON services, `RequestLimitExceeded` (HTTP 503) from EC2, `Throttling` from
/// the other query services.
fn throttle(protocol: Protocol) -> Response<Full<Bytes>> {
    match protocol {
        Protocol::Json => service_error(protocol, StatusCode::BAD_REQUEST, "ThrottlingException"),
        Protocol::Ec2 => service_error(
            protocol,
            StatusCode::SERVICE_UNAVAILABLE,
            "RequestLimitExceeded",
        ),
        Protocol::Query => service_error(protocol, StatusCode::BAD_REQUEST, "Throttling"),
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
