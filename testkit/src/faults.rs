//! A fault-injecting HTTP proxy for the AWS emulator. Each request, with the
//! configured probability, gets one of the configured faults, and otherwise is
//! forwarded unchanged. Most faults come *instead of* the emulator's answer, so they
//! have no side effect, as with AWS's own throttling and most 5xx; a
//! [`Fault::LostResponse`] lets the request take effect and drops its answer — the
//! case that tests whether a retried create makes a twin.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

#[derive(Debug, Default)]
struct Counters {
    forwarded: AtomicU64,
    injected: Mutex<Vec<Fault>>,
}

/// The proxy, listening on 127.0.0.1 until dropped.
#[derive(Debug)]
pub struct FaultProxy {
    address: SocketAddr,
    counters: Arc<Counters>,
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
            faults,
            counters: counters.clone(),
        });
        // A `Reset` fault is a handler error: it ends its connection.
        let address = proxy::serve(
            move |request| {
                let shared = shared.clone();
                async move { shared.handle(request).await }
            },
            stopped,
        )
        .await?;
        Ok(Self {
            address,
            counters,
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

struct Shared {
    upstream: Upstream,
    rng: Mutex<fastrand::Rng>,
    faults: Faults,
    counters: Arc<Counters>,
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
        let mut rng = self.rng.lock().ok()?;
        if self.faults.kinds.is_empty() || rng.f64() >= self.faults.rate {
            return None;
        }
        Some(self.faults.kinds[rng.usize(..self.faults.kinds.len())])
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

/// An error with AWS error code `code`, shaped as `protocol` shapes its errors.
fn service_error(protocol: Protocol, status: StatusCode, code: &str) -> Response<Full<Bytes>> {
    match protocol {
        Protocol::Json => {
            let mut response = error_response(
                status,
                "application/x-amz-json-1.1",
                format!(r#"{{"__type":"{code}","message":"Rate exceeded (injected)"}}"#),
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
                 <Message>Rate exceeded (injected)</Message></Error></Errors><RequestID>injected</RequestID></Response>"
            ),
        ),
        Protocol::Query => error_response(
            status,
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>Rate exceeded (injected)</Message>\
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
