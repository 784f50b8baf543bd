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
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::watch;

use crate::proxy::{self, Upstream, read_body};

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
        let (held_tx, held) = watch::channel(false);
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            upstream: Upstream::new(upstream),
            account: account.map(str::to_string),
            crashed,
            held: held_tx,
            tokens,
        });
        // Held requests never finish: their connections end with the proxy.
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
    upstream: Upstream,
    account: Option<String>,
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
        let (parts, body) = read_body(request).await;
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
        let account: Vec<(&str, &str)> = self
            .account
            .iter()
            .map(|account| ("x-moto-account-id", account.as_str()))
            .collect();
        let Some((parts, body)) = self.upstream.forward(&parts, body, &account).await else {
            return Ok(proxy::status(StatusCode::BAD_GATEWAY, "proxy error"));
        };
        let answer = Answer(parts.status, parts.headers, body);
        if let (Some(tokens), Some(token)) = (&self.tokens, token)
            && answer.0.is_success()
            && let Ok(mut tokens) = tokens.0.lock()
        {
            tokens.insert(token, answer.clone());
        }
        Ok(answer.response())
    }
}
