//! Probes and metrics: `/?health=check` (the ALB's and the container's health check),
//! `/healthz`, `/readyz`, `/metrics`. None needs a token; none touches Bedrock.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;

/// The path and query of the health check the ALB and the container run.
pub const HEALTH_CHECK: &str = "/?health=check";

/// The probe routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Middleware in front of everything: `GET /?health=check` is answered at once,
/// before authentication, so the ALB sees a healthy target without a token.
pub async fn answer_health_check(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let is_check = (request.method() == Method::GET || request.method() == Method::HEAD)
        && uri.path() == "/"
        && uri
            .query()
            .is_some_and(|q| q.split('&').any(|pair| pair == "health=check"));
    if is_check {
        return (StatusCode::OK, "ok").into_response();
    }
    next.run(request).await
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready unless draining for shutdown: the ALB stops sending new questions first.
async fn readyz(State(state): State<AppState>) -> Response {
    if state.lifecycle.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response()
    } else {
        (StatusCode::OK, "ready").into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    response
}
