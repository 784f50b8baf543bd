//! Who is asking: the ALB's signed `x-amzn-oidc-data` token, verified on every request
//! (or, for local use only, a fixed development identity), and signing out.

mod keys;
mod token;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

pub use keys::{KEY_CACHE_CAPACITY, KeyFetchError, KeyStore};
pub use token::{AuthFailure, Expectations, Identity, MAX_TOKEN_BYTES, Unverified};

use crate::app::AppState;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ui;

/// The header the ALB puts its signed user claims in.
pub const TOKEN_HEADER: &str = "x-amzn-oidc-data";

/// Name prefix of the ALB's session cookies (`…-0`, `…-1`, … when sharded).
const SESSION_COOKIE: &str = "AWSELBAuthSessionCookie";

/// How requests are authenticated.
#[derive(Debug)]
pub enum Authenticator {
    /// Verify the ALB's token.
    Alb(AlbVerifier),
    /// Local use only: everyone is this identity.
    Dev(Identity),
}

impl Authenticator {
    /// The signed-in user of a request with these headers.
    pub async fn identify(&self, headers: &HeaderMap) -> Result<Identity> {
        match self {
            Self::Dev(identity) => Ok(identity.clone()),
            Self::Alb(verifier) => {
                let token = headers
                    .get(TOKEN_HEADER)
                    .ok_or(AuthFailure::Missing)?
                    .to_str()
                    .map_err(|_| AuthFailure::Malformed("header is not ASCII"))?;
                verifier.verify(token, unix_now()).await
            }
        }
    }

    /// Whether this is the development identity.
    pub fn is_dev(&self) -> bool {
        matches!(self, Self::Dev(_))
    }
}

/// Verifies ALB tokens: claims, then the signature with the key fetched by `kid`.
#[derive(Debug)]
pub struct AlbVerifier {
    expected: Expectations,
    keys: KeyStore,
}

impl AlbVerifier {
    /// A verifier for the chatbot configured by `config`.
    pub fn new(config: &Config) -> Self {
        Self {
            expected: Expectations {
                signer: config.auth.alb_arn.clone(),
                client_id: config.auth.cognito_client_id.clone(),
                issuer: config.auth.token_issuer.clone(),
            },
            keys: KeyStore::new(config.server.alb_keys_url.clone()),
        }
    }

    /// The key store (tests look at its bound).
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// The identity in `token`, or why there is none. A key server that cannot be
    /// reached is [`Error::KeyServer`] — never a pass.
    pub async fn verify(&self, token: &str, now: i64) -> Result<Identity> {
        let unverified = Unverified::parse(token, &self.expected)?;
        let kid = unverified.key_id().to_string();
        let key = self
            .keys
            .get(&kid)
            .await
            .map_err(Error::KeyServer)?
            .ok_or(AuthFailure::UnknownKey(kid))?;
        Ok(unverified.verify(&key, &self.expected, now)?)
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Middleware for every authenticated route: puts the [`Identity`] in the request's
/// extensions, or answers 401/503 — JSON under `/api/`, a page elsewhere.
pub async fn require_identity(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match state.auth.identify(request.headers()).await {
        Ok(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Err(error) => {
            if let Error::Unauthenticated(why) = &error {
                tracing::info!(reason = %why, path = request.uri().path(), "request refused");
            }
            if request.uri().path().starts_with("/api/") {
                error.into_response()
            } else {
                let status = error.status();
                let kind = error.kind();
                let body = error.body();
                let mut response = (
                    status,
                    Html(ui::message_page(
                        if status == StatusCode::UNAUTHORIZED {
                            "Not signed in"
                        } else {
                            "Sign-in is unavailable"
                        },
                        &body.message,
                        Some(("Try again", "/")),
                    )),
                )
                    .into_response();
                response.extensions_mut().insert(kind);
                response
            }
        }
    }
}

/// Routes about the session: who am I, sign out, signed out.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-out", get(sign_out))
        .route("/signed-out", get(signed_out))
}

/// Ends the ALB session (its cookies expire here) and the Cognito session (through the
/// hosted UI's logout, which comes back to `/signed-out`).
async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let location = if state.auth.is_dev() {
        "/signed-out".to_string()
    } else {
        cognito_logout_url(&state.config)
    };
    let mut response = (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
    )
        .into_response();
    for name in session_cookie_names(&headers) {
        let expired = format!(
            "{name}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Secure; HttpOnly"
        );
        if let Ok(value) = HeaderValue::from_str(&expired) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

async fn signed_out() -> Html<String> {
    Html(ui::message_page(
        "Signed out",
        "You have signed out of the chatbot. Your conversations stay in this browser.",
        Some(("Sign in again", "/")),
    ))
}

/// `<domain>/logout?client_id=…&logout_uri=<public url>/signed-out`. The logout URI
/// must be among the app client's allowed sign-out URLs.
pub fn cognito_logout_url(config: &Config) -> String {
    let back = format!(
        "{}/signed-out",
        config.auth.public_url.trim_end_matches('/')
    );
    format!(
        "{}/logout?client_id={}&logout_uri={}",
        config.auth.cognito_domain_url.trim_end_matches('/'),
        percent_encode(&config.auth.cognito_client_id),
        percent_encode(&back)
    )
}

/// The ALB shards its session cookie as `…-0` to `…-3`; clear those and any other
/// shard the browser sent.
fn session_cookie_names(headers: &HeaderMap) -> Vec<String> {
    let mut names: Vec<String> = (0..4).map(|i| format!("{SESSION_COOKIE}-{i}")).collect();
    for cookie_header in headers.get_all(header::COOKIE) {
        let Ok(text) = cookie_header.to_str() else {
            continue;
        };
        for pair in text.split(';') {
            let name = pair.split('=').next().unwrap_or_default().trim();
            let is_shard = name
                .strip_prefix(SESSION_COOKIE)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|n| {
                    !n.is_empty() && n.len() <= 2 && n.bytes().all(|b| b.is_ascii_digit())
                });
            if is_shard && !names.iter().any(|known| known == name) {
                names.push(name.to_string());
            }
        }
    }
    names
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_session_cookie_shard() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; AWSELBAuthSessionCookie-7=x; AWSELBAuthSessionCookie-0=y; AWSELBAuthSessionCookieX=z"),
        );
        let names = session_cookie_names(&headers);
        assert_eq!(names.len(), 5);
        assert!(names.contains(&"AWSELBAuthSessionCookie-7".to_string()));
        assert!(!names.iter().any(|n| n.ends_with('X')));
    }

    #[test]
    fn percent_encodes_the_logout_uri() {
        assert_eq!(
            percent_encode("https://chat.example.com/signed-out"),
            "https%3A%2F%2Fchat.example.com%2Fsigned-out"
        );
    }
}
