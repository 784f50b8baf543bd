//! A proxy that plays the operator's process being killed: requests pass to the
//! emulator unchanged until the test's `crashed` predicate says the process is
//! dead; from then on every request is held unanswered and never reaches the
//! emulator. What AWS saw is then exactly what a killed process had sent, and the
//! client — waiting at an await point — can be dropped like a killed task.
//!
//! Optionally every forwarded request is marked with moto's `x-moto-account-id`
//! header, so runs side by side on one emulator each get an account of their own.
//! And optionally the proxy remembers EC2 client tokens as AWS does and moto does
//! not: a create whose `ClientToken` was seen before gets the first answer again,
//! even when what it created is gone by now.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Whether the process counts as dead, asked for each request as it arrives.
pub type Crashed = dyn Fn() -> bool + Send + Sync;

/// EC2 client tokens seen, with their first answers: one memory per emulated
/// account, shared by every proxy in front of it (AWS remembers a token across
/// processes).
#[derive(Clone, Default)]
pub struct ClientTokens(Arc<Mutex<HashMap<String, Answer>>>);

impl std::fmt::Debug for ClientTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seen = self.0.lock().map(|t| t.len()).unwrap_or_default();
        f.debug_struct("ClientTokens").field("seen", &seen).finish()
    }
}

/// The proxy, listening on 127.0.0.1 until dropped.
pub struct CrashProxy {
    address: SocketAddr,
    held: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for CrashProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrashProxy")
            .field("address", &self.address)
            .field("held", &*self.held.borrow())
            .finish()
    }
}

impl CrashProxy {
    /// Starts a proxy in front of `upstream` (e.g. `http://127.0.0.1:5000`) that
    /// holds every request arriving once `crashed()` is true, and forwards the
    /// others — as `account` on moto, when given. With `tokens`, a request with a
    /// client token seen before is answered as it was the first time.
    pub async fn start(
        upstream: &str,
        account: Option<&str>,
        tokens: Option<ClientTokens>,
        crashed: Arc<Crashed>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        let (held_tx, held) = watch::channel(false);
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            account: account.map(str::to_string),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            crashed,
            held: held_tx,
            tokens,
        });
        let mut stopped_accept = stopped.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stopped_accept.changed() => break,
                };
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = shared.clone();
                        async move { shared.handle(request).await }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    // Held requests never finish: the connection ends with the proxy.
                    tokio::select! {
                        _ = connection => {}
                        _ = stopped.changed() => {}
                    }
                });
            }
        });
        Ok(Self {
            address,
            held,
            stop,
        })
    }

    /// `http://127.0.0.1:<port>`: point the AWS SDK here.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Whether a request has been held (the crash point was reached).
    pub fn has_held(&self) -> bool {
        *self.held.borrow()
    }

    /// Waits until a request is held: the client now waits forever, as a killed
    /// process's would, and is ready to be dropped.
    pub async fn held(&self) {
        let mut held = self.held.clone();
        // The sender lives as long as the proxy does.
        let _ = held.wait_for(|held| *held).await;
    }
}

impl Drop for CrashProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Shared {
    upstream: String,
    account: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
    crashed: Arc<Crashed>,
    held: watch::Sender<bool>,
    /// First answers by client token, when remembering them.
    tokens: Option<ClientTokens>,
}

/// The `ClientToken` of a query-protocol request body (EC2).
fn client_token(body: &[u8]) -> Option<String> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("ClientToken="))
        .map(str::to_string)
}

/// A response as remembered: status, headers, body.
#[derive(Clone, Debug)]
struct Answer(StatusCode, hyper::HeaderMap, Bytes);

impl Answer {
    fn response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.2));
        *response.status_mut() = self.0;
        *response.headers_mut() = self.1;
        response
    }
}

impl Shared {
    async fn handle(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if (self.crashed)() {
            self.held.send_replace(true);
            return std::future::pending().await;
        }
        let token = self.tokens.as_ref().and_then(|_| client_token(&body));
        if let (Some(tokens), Some(token)) = (&self.tokens, &token)
            && let Some(first) = tokens.0.lock().ok().and_then(|t| t.get(token).cloned())
        {
            return Ok(first.response());
        }
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let mut forward = Request::builder()
            .method(parts.method.clone())
            .uri(format!("{}{path}", self.upstream));
        for (name, value) in &parts.headers {
            if name != hyper::header::HOST {
                forward = forward.header(name, value);
            }
        }
        if let Some(account) = &self.account {
            forward = forward.header("x-moto-account-id", account);
        }
        let Ok(forward) = forward.body(Full::new(body)) else {
            return Ok(status(StatusCode::BAD_GATEWAY));
        };
        match self.client.request(forward).await {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let answer = Answer(parts.status, parts.headers, body);
                if let (Some(tokens), Some(token)) = (&self.tokens, token)
                    && answer.0.is_success()
                    && let Ok(mut tokens) = tokens.0.lock()
                {
                    tokens.insert(token, answer.clone());
                }
                Ok(answer.response())
            }
            Err(_) => Ok(status(StatusCode::BAD_GATEWAY)),
        }
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"proxy error")));
    *response.status_mut() = code;
    response
}
