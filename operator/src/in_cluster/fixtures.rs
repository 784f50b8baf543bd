//! The tower-test mock API server for the kube layer's tests: a `Client` whose
//! requests arrive here, to be checked one by one and answered like the API
//! server would.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use tower_test::mock::{self, Handle, SendResponse};

/// One request as the API server saw it.
#[derive(Debug)]
pub struct Seen {
    /// `GET`, `PATCH`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, without the `?` (empty without one).
    pub query: String,
    /// The body as JSON (`null` without one).
    pub body: serde_json::Value,
}

/// The server side of the mock.
pub struct ApiServer(Handle<Request<Body>, Response<Body>>);

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiServer")
    }
}

impl ApiServer {
    /// A client and the server it talks to.
    pub fn new() -> (Client, Self) {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        (Client::new(service, "default"), Self(handle))
    }

    /// The next request (fails the test after 5 s without one).
    pub async fn next(&mut self) -> (Seen, SendResponse<Response<Body>>) {
        let (request, send) = tokio::time::timeout(Duration::from_secs(5), self.0.next_request())
            .await
            .expect("the client sent no request within 5 s")
            .expect("the client is gone");
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.unwrap();
        let seen = Seen {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        };
        (seen, send)
    }

    /// Fails the test if another request arrives within 200 ms.
    pub async fn assert_idle(&mut self) {
        if let Ok(Some((request, _))) =
            tokio::time::timeout(Duration::from_millis(200), self.0.next_request()).await
        {
            panic!("unexpected request: {} {}", request.method(), request.uri());
        }
    }
}

/// Answers a request with `status` and `body`.
pub fn respond(send: SendResponse<Response<Body>>, status: u16, body: serde_json::Value) {
    send.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap(),
    );
}

/// A request and how many AWS writes the engine had made when it arrived.
#[derive(Debug)]
pub struct Served {
    pub seen: Seen,
    /// AWS writes recorded in the engine's call log at that moment.
    pub aws_writes_before: usize,
}

impl Served {
    /// Whether this is a JSON patch adding `finalizer` to the object.
    pub fn adds_finalizer(&self, finalizer: &str) -> bool {
        self.seen.method == "PATCH"
            && !self.seen.path.ends_with("/status")
            && self.seen.body.as_array().is_some_and(|ops| {
                ops.iter()
                    .any(|op| op["op"] == "add" && op["value"].to_string().contains(finalizer))
            })
    }

    /// Whether this is a JSON patch removing a finalizer.
    pub fn removes_finalizer(&self) -> bool {
        self.seen.method == "PATCH"
            && !self.seen.path.ends_with("/status")
            && self
                .seen
                .body
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op["op"] == "remove"))
    }

    /// The applied status, if this is a status patch.
    pub fn status(&self) -> Option<&serde_json::Value> {
        (self.seen.method == "PATCH" && self.seen.path.ends_with("/status"))
            .then(|| &self.seen.body["status"])
    }

    /// The event, if this creates one.
    pub fn event(&self) -> Option<&serde_json::Value> {
        (self.seen.method == "POST" && self.seen.path.contains("/events"))
            .then_some(&self.seen.body)
    }
}

impl ApiServer {
    /// Answers every request the way the API server would for `object` (finalizer
    /// patches, status patches, events), recording each, until every client is
    /// dropped; then returns what it saw.
    pub fn serve(
        mut self,
        object: serde_json::Value,
        calls: crate::aws::CallLog,
    ) -> tokio::task::JoinHandle<Vec<Served>> {
        tokio::spawn(async move {
            let mut served = Vec::new();
            while let Some((request, send)) = self.0.next_request().await {
                let aws_writes_before = calls.calls().iter().filter(|c| c.is_write()).count();
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.unwrap();
                let seen = Seen {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    query: parts.uri.query().unwrap_or_default().to_string(),
                    body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
                };
                let answer = match seen.method.as_str() {
                    "POST" if seen.path.contains("/events") => seen.body.clone(),
                    "PATCH" if seen.path.ends_with("/status") => {
                        let mut object = object.clone();
                        object["status"] = seen.body["status"].clone();
                        object
                    }
                    "PATCH" => {
                        let mut object = object.clone();
                        let adds = seen
                            .body
                            .as_array()
                            .is_some_and(|ops| ops.iter().any(|op| op["op"] == "add"));
                        object["metadata"]["finalizers"] = if adds {
                            serde_json::json!([super::FINALIZER])
                        } else {
                            serde_json::json!([])
                        };
                        object
                    }
                    _ => panic!("unexpected request {} {}", seen.method, seen.path),
                };
                respond(send, 200, answer);
                served.push(Served {
                    seen,
                    aws_writes_before,
                });
            }
            served
        })
    }
}
