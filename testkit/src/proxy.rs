//! What the test proxies share: a loopback listener that serves each connection with
//! a handler until the proxy is dropped, and a forwarder to the emulator.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A request's body, read whole (an unreadable body counts as empty).
pub(crate) async fn read_body(request: Request<Incoming>) -> (Parts, Bytes) {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    (parts, body)
}

/// A response with `code` and a short body naming who answered.
pub(crate) fn status(code: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = code;
    response
}

/// Listens on 127.0.0.1 (a free port) and serves every connection with `handle`
/// until `stop` turns true; then the listener closes and open connections end, even
/// those whose request is still pending. A handler error ends its connection, which
/// the client sees as a reset.
pub(crate) async fn serve<H, F, E>(
    handle: H,
    stop: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr>
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Response<Full<Bytes>>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let address = listener.local_addr()?;
    let handle = Arc::new(handle);
    let mut stopped_accept = stop.clone();
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stopped_accept.wait_for(|stopped| *stopped) => break,
            };
            let Ok((stream, _)) = accepted else { continue };
            let handle = handle.clone();
            let mut stopped = stop.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| handle(request));
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = connection => {}
                    _ = stopped.wait_for(|stopped| *stopped) => {}
                }
            });
        }
    });
    Ok(address)
}

/// Forwards requests to the emulator at one base address.
pub(crate) struct Upstream {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Upstream {
    /// `base` like `http://127.0.0.1:5000` (a trailing slash is ignored).
    pub(crate) fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    /// Sends the request as it came (but for `Host`), plus `extra` headers, and
    /// returns the emulator's answer read whole; `None` when it could not be reached.
    pub(crate) async fn forward(
        &self,
        parts: &Parts,
        body: Bytes,
        extra: &[(&str, &str)],
    ) -> Option<(hyper::http::response::Parts, Bytes)> {
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let mut forward = Request::builder()
            .method(parts.method.clone())
            .uri(format!("{}{path}", self.base));
        for (name, value) in &parts.headers {
            if name != hyper::header::HOST {
                forward = forward.header(name, value);
            }
        }
        for (name, value) in extra {
            forward = forward.header(*name, *value);
        }
        let response = self
            .client
            .request(forward.body(Full::new(body)).ok()?)
            .await
            .ok()?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Some((parts, body))
    }
}
