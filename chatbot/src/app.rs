//! The application: its state, its router (one per feature, merged here), the
//! hardening every response gets, and serving with a graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::IntoResponse;
use axum::serve::{Listener, ListenerExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::attachments::{self, Attachments};
use crate::auth::{self, Authenticator};
use crate::bedrock::Bedrock;
use crate::chat::{self, Streams};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::health;
use crate::history::{self, History};
use crate::limits::UserLimits;
use crate::metrics::{self, Metrics};
use crate::ui;

/// Largest request body: a long conversation with long answers, not more.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Longest wait for a response to begin (a streamed answer may then go on).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Only the page's own scripts, styles, images and API; never framed; no plugins,
/// no `<base>`, forms post only here. Images also from `blob:`: the preview of a file
/// being attached is shown from the file itself (an object URL), before it uploads.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Everything a handler needs, cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// How requests are authenticated.
    pub auth: Arc<Authenticator>,
    /// The Bedrock client.
    pub bedrock: Arc<Bedrock>,
    /// Per-user limits.
    pub limits: Arc<UserLimits>,
    /// Per-user limits of uploads ([`attachments::upload_limits`]).
    pub uploads: Arc<UserLimits>,
    /// Answers streaming now.
    pub streams: Arc<Streams>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Draining and stopping.
    pub lifecycle: Arc<Lifecycle>,
    /// The conversation history, when this chatbot keeps one on the server.
    pub history: Option<Arc<History>>,
    /// Where attached files are kept, when this chatbot takes them.
    pub attachments: Option<Arc<Attachments>>,
}

impl AppState {
    /// State for `config`, authenticating with `auth`, asking `bedrock`.
    pub fn new(config: Config, auth: Authenticator, bedrock: Bedrock) -> Self {
        Self {
            limits: UserLimits::new(config.server.limits.clone()),
            uploads: UserLimits::new(attachments::upload_limits(&config.server.limits)),
            config: Arc::new(config),
            auth: Arc::new(auth),
            bedrock: Arc::new(bedrock),
            streams: Arc::default(),
            metrics: Arc::default(),
            lifecycle: Arc::default(),
            history: None,
            attachments: None,
        }
    }

    /// The same state, keeping conversations in `history`.
    #[must_use]
    pub fn with_history(mut self, history: History) -> Self {
        self.history = Some(Arc::new(history));
        self
    }

    /// The same state, taking attachments into `attachments`.
    #[must_use]
    pub fn with_attachments(mut self, attachments: Attachments) -> Self {
        self.attachments = Some(Arc::new(attachments));
        self
    }
}

/// Where the server is in its life: serving, draining (no new questions, running
/// answers go on), or past the deadline (running answers are ended).
#[derive(Debug, Default)]
pub struct Lifecycle {
    draining: AtomicBool,
    end_streams: CancellationToken,
}

impl Lifecycle {
    /// Stop taking questions; `/readyz` turns 503.
    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// End every running answer now (each gets an error event saying why).
    pub fn end_streams(&self) {
        self.end_streams.cancel();
    }

    /// Resolves when running answers must end.
    pub fn streams_must_end(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.end_streams.cancelled()
    }
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    let authenticated = Router::new()
        .merge(ui::router())
        .merge(chat::router())
        .merge(history::router())
        .merge(attachments::router())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_identity,
        ));
    let security_headers = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ),
    ];
    let mut router = Router::new()
        .merge(authenticated)
        .merge(auth::router())
        .merge(health::router())
        .merge(ui::assets_router())
        .fallback(|| async { Error::NotFound.into_response() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            RESPONSE_TIMEOUT,
        ))
        .layer(middleware::from_fn(health::answer_health_check));
    for (name, value) in security_headers {
        router = router.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// Binds `addr`.
pub async fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen {
            addr: addr.to_string(),
            source,
        })
}

/// `listener` with Nagle's algorithm off on every connection it accepts: an answer
/// streams as many small writes, and with Nagle each one after the first waits for
/// the peer's (delayed) acknowledgement — tens to hundreds of milliseconds per token.
pub fn without_delay(
    listener: TcpListener,
) -> impl Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
        }
    })
}

/// Serves `state` on `listener` until `signal` resolves; then drains: no new
/// questions, `/readyz` 503, running answers get `grace` to finish before they are
/// ended with an error event.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let lifecycle = Arc::clone(&state.lifecycle);
    let grace = Duration::from_secs(state.config.server.shutdown_grace_seconds);
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (draining, drained) = tokio::sync::oneshot::channel::<()>();
    let drain = Arc::clone(&lifecycle);
    tokio::spawn(async move {
        signal.await;
        tracing::info!(grace_seconds = grace.as_secs(), "shutting down: draining");
        drain.begin_drain();
        let _ = draining.send(());
        tokio::time::sleep(grace).await;
        tracing::info!("grace period over: ending running answers");
        drain.end_streams();
    });
    // Graceful shutdown starts at the signal: no new connections, while running
    // answers go on until they finish or the grace period ends them.
    let serving =
        axum::serve(without_delay(listener), app(state)).with_graceful_shutdown(async move {
            let _ = drained.await;
        });
    tokio::select! {
        served = serving => served.map_err(|source| Error::Listen { addr, source }),
        () = async {
            lifecycle.streams_must_end().await;
            // Ended answers close their connections at once; do not wait on a peer
            // that never reads.
            tokio::time::sleep(Duration::from_secs(5)).await;
        } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_send_small_writes_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = without_delay(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await;
        assert!(accepted.nodelay().unwrap());
    }
}
