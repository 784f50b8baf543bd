//! Files attached to questions: images and documents, uploaded one per request,
//! kept in the platform's S3 bucket under this chatbot's prefix
//! (`CHATBOT_ATTACHMENTS_BUCKET`, `CHATBOT_ATTACHMENTS_PREFIX`), and given to the
//! model as Converse `image` and `document` blocks. Without the bucket the feature is
//! off: `GET /api/me` says `"attachments": {"enabled": false}` and every route below
//! answers 404 `attachments_disabled`; on, it says `{"enabled": true, "imageFormats",
//! "documentFormats", "maxImageBytes", "maxDocumentBytes", "maxImages",
//! "maxDocuments", "requestBudgetBytes"}` ([`offered`]).
//!
//! # Whose files
//!
//! A file is stored at `<prefix><user>/<id>` ([`store`]): the user is the verified
//! token's `sub`, the id is made by the server. Nothing a browser sends chooses a key:
//! an id names a file only within the caller's own part, so another user's id is
//! answered exactly like one that does not exist (404). The task role may touch
//! nothing outside the chatbot's prefix (the operator's policy).
//!
//! # What is taken
//!
//! What a file is comes from its bytes ([`format::identify`]): PNG, JPEG, GIF and WebP
//! images by their signatures, PDF by `%PDF-`, DOCX and XLSX by their zip parts, DOC and
//! XLS by the Compound File signature, CSV, HTML, TXT and MD as UTF-8 text. The name's
//! extension only chooses among what bytes cannot tell apart; the browser's content
//! type is not read. A file whose bytes are not what its name says is refused (415).
//! Limits are Bedrock's ([`format`] cites them): an image at most 3.75 MB, a document
//! 4.5 MB; a question's request at most 20 images, 5 documents and 13 MB of files,
//! every turn's together (Bedrock takes 20 MB per request, base64 included).
//!
//! The name is never trusted: it is shown back as text only ([`name::display_name`])
//! and the model gets a name made to Converse's rule, unique in the request
//! ([`name::unique_converse_names`]).
//!
//! # HTTP API
//!
//! Every route needs a signed-in user, answers `Cache-Control: no-store`, and answers
//! errors as every other route: a status and `{"error": {"kind", "message",
//! "retryAfter"?}}`. The kinds specific to attachments:
//!
//! - `attachments_disabled` (404): no bucket configured.
//! - `unsupported_attachment` (415): not an image or document taken, or not what its
//!   name says.
//! - `attachment_too_large` (413): a file over its kind's limit, or an upload body
//!   over [`MAX_UPLOAD_BODY_BYTES`].
//! - `too_many_attachments` (400): more images or documents, or more bytes of files,
//!   than one question may carry (at `/api/chat`).
//! - `attachments_unavailable` (503, `retryAfter` 5): S3 could not be reached or
//!   refused; its words are logged, never sent.
//!
//! ## `POST /api/attachments`
//!
//! `multipart/form-data` with one part, `file`, whose filename is the name shown.
//! Uploads have a per-user rate of their own ([`upload_limits`]; 429 `rate_limited`
//! with `Retry-After` beyond it).
//! The body may be [`MAX_UPLOAD_BODY_BYTES`] (the 2 MiB limit of JSON bodies does not
//! apply). 201 with `{"id", "name", "kind": "image" | "document", "format", "size"}`
//! (`format`: Converse's, `png` … `md`; `size` in bytes).
//!
//! ## `GET /api/attachments/{id}`
//!
//! The caller's file. An image inline, as its own content type (its bytes were checked
//! to be that image); a document as `application/octet-stream` with
//! `Content-Disposition: attachment` (an HTML file is downloaded, never rendered).
//! `X-Content-Type-Options: nosniff`, as every response.
//!
//! ## `DELETE /api/attachments/{id}`
//!
//! 204: the caller's file is deleted (a chip removed before sending). Deleting it
//! again, or another well-formed id, is 204 too (S3's rule; nothing of another user's
//! can be named); a malformed id is 404.
//!
//! # Files never sent, and files of deleted conversations
//!
//! A file uploaded and never sent (the tab closed before the question) stays until
//! the bucket's lifecycle rule for this chatbot's prefix expires it (the operator sets
//! it to the conversations' retention): nothing lists a user's files, so it costs
//! storage, not exposure.

mod api;
pub mod context;
pub mod format;
pub mod name;
pub mod store;

use std::sync::OnceLock;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::Client;
use aws_types::service_config::ServiceConfigKey;

pub use api::router;
pub use format::{Format, Kind, Refusal};
pub use store::{File, Stored};

use crate::config::AttachmentsConfig;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Uploads one user may make per question the rate limit allows
/// (`CHATBOT_RATE_LIMIT_PER_MINUTE`), and at least one question's worth of files:
/// what a page needs, and a bound on what a user can store.
pub const UPLOADS_PER_QUESTION: u32 = 5;

/// The per-user limits of uploads, from the chatbot's limits of questions: a token
/// bucket of [`UPLOADS_PER_QUESTION`] per question a minute (at least
/// [`format::MAX_IMAGES`] + [`format::MAX_DOCUMENTS`]); an upload holds no stream.
pub fn upload_limits(questions: &crate::config::Limits) -> crate::config::Limits {
    let most_files = u32::try_from(format::MAX_IMAGES + format::MAX_DOCUMENTS).unwrap_or(25);
    crate::config::Limits {
        requests_per_minute: questions
            .requests_per_minute
            .saturating_mul(UPLOADS_PER_QUESTION)
            .max(most_files),
        streams_per_user: u32::MAX,
        ..questions.clone()
    }
}

/// Largest upload body: the largest file (a 4.5 MB document) and the multipart
/// framing around it.
pub const MAX_UPLOAD_BODY_BYTES: usize = format::MAX_DOCUMENT_BYTES + 64 * 1024;

/// What `GET /api/me` says of attachments: `{"enabled": false}`, or the limits and
/// formats a page checks before uploading (the server checks them again).
pub fn offered(enabled: bool) -> serde_json::Value {
    if !enabled {
        return serde_json::json!({ "enabled": false });
    }
    let of = |kind: Kind| -> Vec<&str> {
        Format::ALL
            .into_iter()
            .filter(|f| f.kind() == kind)
            .map(Format::as_str)
            .collect()
    };
    serde_json::json!({
        "enabled": true,
        "imageFormats": of(Kind::Image),
        "documentFormats": of(Kind::Document),
        "maxImageBytes": format::MAX_IMAGE_BYTES,
        "maxDocumentBytes": format::MAX_DOCUMENT_BYTES,
        "maxImages": format::MAX_IMAGES,
        "maxDocuments": format::MAX_DOCUMENTS,
        "requestBudgetBytes": format::REQUEST_BUDGET_BYTES,
    })
}

/// This chatbot's part of the attachments bucket.
#[derive(Clone, Debug)]
pub struct Attachments {
    /// Made at first use from `sdk` (so a chatbot nobody attaches to does not carry
    /// it), or given by [`Attachments::new`].
    client: OnceLock<Client>,
    sdk: Option<SdkConfig>,
    bucket: String,
    prefix: String,
}

/// Why an attachment operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    /// No such file for this user.
    #[error("no such attachment")]
    NotFound,
    /// The file, or the files of a question, are refused.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// S3 could not be reached, or refused (after the SDK's own retries).
    #[error("attached files cannot be reached")]
    Unavailable(#[source] BoxError),
}

impl From<AttachmentError> for crate::Error {
    fn from(error: AttachmentError) -> Self {
        match error {
            AttachmentError::NotFound => Self::NotFound,
            AttachmentError::Refused(refusal) => Self::AttachmentRefused(refusal),
            AttachmentError::Unavailable(source) => Self::AttachmentsUnavailable(source),
        }
    }
}

impl Attachments {
    /// The bucket and prefix `config` names, through `client`.
    pub fn new(client: Client, config: &AttachmentsConfig) -> Self {
        Self {
            client: OnceLock::from(client),
            sdk: None,
            bucket: config.bucket.clone(),
            prefix: config.prefix.clone(),
        }
    }

    /// The bucket and prefix `config` names, through a client made (at its first use)
    /// from the SDK configuration the app loaded: region, the task role's credentials,
    /// and the endpoint (`AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, else S3's).
    pub fn from_sdk(sdk: &SdkConfig, config: &AttachmentsConfig) -> Self {
        Self {
            client: OnceLock::new(),
            sdk: Some(sdk.clone()),
            bucket: config.bucket.clone(),
            prefix: config.prefix.clone(),
        }
    }

    /// The client's configuration. Path-style addressing (`<endpoint>/<bucket>/<key>`)
    /// only when the endpoint is overridden: S3 emulators and S3-compatible stores on
    /// a plain host or an IP (moto on 127.0.0.1) have no `<bucket>.<host>` names,
    /// while AWS's own endpoints want virtual-hosted addressing (path-style is
    /// deprecated there). Timeouts tighter than the SDK's defaults, sized for a 4.5 MB
    /// file; transient faults are retried by the SDK's standard retry only.
    pub fn s3_config(sdk: &SdkConfig) -> aws_sdk_s3::Config {
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(endpoint_overridden(sdk))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(15))
                    .operation_timeout(Duration::from_secs(40))
                    .build(),
            )
            .build()
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// This chatbot's prefix in it.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// Whether `sdk` sends S3 requests somewhere else than AWS's endpoints: an endpoint
/// given to the loader or by `AWS_ENDPOINT_URL`, or S3's own (`AWS_ENDPOINT_URL_S3`,
/// or a profile's `services` section), which the S3 client reads the same way.
fn endpoint_overridden(sdk: &SdkConfig) -> bool {
    if sdk.endpoint_url().is_some() {
        return true;
    }
    let Ok(key) = ServiceConfigKey::builder()
        .service_id("S3")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
    else {
        return false;
    };
    sdk.service_config()
        .and_then(|config| config.load_config(key))
        .is_some()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::config::Limits;
    use crate::limits::UserLimits;

    #[test]
    fn uploads_allow_a_questions_worth_of_files_at_least() {
        let questions = |per_minute| Limits {
            requests_per_minute: per_minute,
            ..Limits::default()
        };
        assert_eq!(upload_limits(&questions(20)).requests_per_minute, 100);
        let one = upload_limits(&questions(1));
        assert_eq!(one.requests_per_minute, 25);
        let limits = UserLimits::new(one);
        let now = Instant::now();
        for _ in 0..25 {
            drop(limits.admit("u", now).unwrap());
        }
        assert!(matches!(
            limits.admit("u", now),
            Err(crate::Error::RateLimited { retry_after: 3 })
        ));
    }
}
