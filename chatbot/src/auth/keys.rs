//! The ALB's public signing keys, fetched by key id from
//! `https://public-keys.auth.elb.<region>.amazonaws.com/<kid>` and kept in a bounded
//! cache (keys rotate rarely; the bound only stops a flood of made-up ids from growing
//! memory).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey;

/// Most keys kept.
pub const KEY_CACHE_CAPACITY: usize = 32;

/// Largest key document read (a PEM P-256 key is under 200 bytes).
const MAX_KEY_BYTES: usize = 4096;

/// The key server could not give an answer either way.
#[derive(Debug, thiserror::Error)]
pub enum KeyFetchError {
    /// No HTTP answer (refused, timed out, TLS, DNS).
    #[error("request to {url} failed")]
    Request {
        /// Where.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// An answer other than the key or "no such key".
    #[error("{url} answered HTTP {status}")]
    Status {
        /// Where.
        url: String,
        /// What it said.
        status: u16,
    },
    /// A 200 whose body is not a P-256 public key in PEM.
    #[error("{url} did not return a P-256 public key in PEM")]
    NotAKey {
        /// Where.
        url: String,
    },
}

/// Fetches and caches keys.
#[derive(Debug)]
pub struct KeyStore {
    base_url: String,
    http: reqwest::Client,
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    keys: HashMap<String, VerifyingKey>,
    order: VecDeque<String>,
}

impl KeyStore {
    /// A store fetching from `base_url` (no trailing slash).
    pub fn new(base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(4))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            base_url: base_url.into(),
            http,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The key `kid`: `Ok(None)` when the key server says there is no such key.
    /// `kid` must already be checked to be a key id (see `token::Unverified::parse`).
    pub async fn get(&self, kid: &str) -> Result<Option<VerifyingKey>, KeyFetchError> {
        if let Some(key) = self.cached(kid) {
            return Ok(Some(key));
        }
        let url = format!("{}/{kid}", self.base_url);
        let response =
            self.http
                .get(&url)
                .send()
                .await
                .map_err(|source| KeyFetchError::Request {
                    url: url.clone(),
                    source,
                })?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::FORBIDDEN {
            // S3-style hosting answers 403 for a missing object.
            return Ok(None);
        }
        if !status.is_success() {
            return Err(KeyFetchError::Status {
                url,
                status: status.as_u16(),
            });
        }
        let body = response
            .bytes()
            .await
            .map_err(|source| KeyFetchError::Request {
                url: url.clone(),
                source,
            })?;
        let pem = std::str::from_utf8(&body[..body.len().min(MAX_KEY_BYTES)])
            .map_err(|_| KeyFetchError::NotAKey { url: url.clone() })?;
        let key = VerifyingKey::from_public_key_pem(pem.trim())
            .map_err(|_| KeyFetchError::NotAKey { url })?;
        self.remember(kid, key);
        Ok(Some(key))
    }

    /// Keys held now (for tests of the bound).
    pub fn cached_len(&self) -> usize {
        self.lock().keys.len()
    }

    fn cached(&self, kid: &str) -> Option<VerifyingKey> {
        self.lock().keys.get(kid).copied()
    }

    fn remember(&self, kid: &str, key: VerifyingKey) {
        let mut cache = self.lock();
        if cache.keys.insert(kid.to_string(), key).is_none() {
            cache.order.push_back(kid.to_string());
        }
        while cache.order.len() > KEY_CACHE_CAPACITY {
            if let Some(oldest) = cache.order.pop_front() {
                cache.keys.remove(&oldest);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}
