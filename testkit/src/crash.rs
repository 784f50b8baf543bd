//! A proxy that plays the operator's process being killed: requests pass to the
//! emulator unchanged until the test's `crashed` predicate says the process is
//! dead; from then on every request is held unanswered and never reaches the
//! emulator. What AWS saw is then exactly what a killed process had sent, and the
//! client — waiting at an await point — can be dropped like a killed task.
//!
//! Optionally every forwarded request is marked with moto's `x-moto-account-id`
//! header, so runs side by side on one emulator each get an account of their own.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

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
    /// others — as `account` on moto, when given.
    pub async fn start(
        upstream: &str,
        account: Option<&str>,
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
                Ok(Response::from_parts(parts, Full::new(body)))
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
