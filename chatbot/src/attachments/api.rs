//! The `/api/attachments` routes (documented in [the module](super)).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Extension, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tower_http::set_header::SetResponseHeaderLayer;

use super::format::{self, Kind, Refusal};
use super::{Attachments, MAX_UPLOAD_BODY_BYTES, name};
use crate::app::AppState;
use crate::auth::Identity;
use crate::error::{Error, Result};

/// The attachment routes (authenticated by the app's router).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/attachments",
            post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY_BYTES)),
        )
        .route("/api/attachments/{id}", get(download).delete(remove))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

fn enabled(state: &AppState) -> Result<&Arc<Attachments>> {
    state.attachments.as_ref().ok_or(Error::AttachmentsDisabled)
}

/// A multipart body that cannot be read: over the body limit, or malformed.
fn unreadable(error: MultipartError) -> Error {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large_upload()
    } else {
        Error::InvalidRequest(format!("the upload cannot be read: {}", error.body_text()))
    }
}

fn too_large_upload() -> Error {
    Error::AttachmentRefused(Refusal::TooLarge {
        name: "the file".into(),
        size: format!("over {}", format::human_size(MAX_UPLOAD_BODY_BYTES)),
        what: "a file",
        limit: format::human_size(Kind::Document.max_bytes()),
    })
}

async fn upload(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    let attachments = enabled(&state)?;
    // Counted, not held: an upload takes no stream slot.
    drop(
        state
            .uploads
            .admit(&identity.subject, Instant::now())
            .map_err(|e| match e {
                Error::RateLimited { retry_after } => Error::UploadsRateLimited { retry_after },
                other => other,
            })?,
    );
    let mut multipart = multipart.map_err(|rejection| {
        Error::InvalidRequest(format!(
            "send the file as multipart/form-data, in a part named \"file\": {}",
            rejection.body_text()
        ))
    })?;
    let Some(mut field) = multipart.next_field().await.map_err(unreadable)? else {
        return Err(Error::InvalidRequest(
            "the upload has no file: send it in a part named \"file\"".into(),
        ));
    };
    if field.name() != Some("file") {
        return Err(Error::InvalidRequest(
            "send one file, in a part named \"file\"".into(),
        ));
    }
    let shown = name::display_name(field.file_name().unwrap_or_default());
    // Read no further than the largest file taken: the rest is refused unread.
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
        if bytes.len() + chunk.len() > Kind::Document.max_bytes() {
            return Err(Error::AttachmentRefused(format::too_large(
                &shown,
                bytes.len() + chunk.len(),
                Kind::Document,
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    drop(field);
    if multipart.next_field().await.map_err(unreadable)?.is_some() {
        return Err(Error::InvalidRequest("send one file per upload".into()));
    }
    let format = format::identify(&shown, &bytes).map_err(Error::AttachmentRefused)?;
    let stored = attachments
        .put(&identity.subject, &shown, format, bytes)
        .await?;
    tracing::info!(
        user = %identity.subject,
        attachment = %stored.id,
        format = stored.format.as_str(),
        size = stored.size,
        "attachment stored"
    );
    Ok((StatusCode::CREATED, Json(stored.to_json())).into_response())
}

async fn download(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response> {
    let attachments = enabled(&state)?;
    let file = attachments.get(&identity.subject, &id).await?;
    let format = file.stored.format;
    let disposition = match format.kind() {
        Kind::Image => "inline".to_string(),
        // An ASCII fallback and the name itself (RFC 6266), both made safe for a header.
        Kind::Document => format!(
            "attachment; filename=\"{}\"; filename*=UTF-8''{}",
            ascii_file_name(&file.stored.name),
            rfc5987(&file.stored.name)
        ),
    };
    let mut response = file.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.served_as()),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

async fn remove(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let attachments = enabled(&state)?;
    attachments.delete(&identity.subject, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `name` with only characters safe in a quoted header value: others become `_`.
fn ascii_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " .-_()[]".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `name` percent-encoded as RFC 5987's `ext-value` wants it.
fn rfc5987(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_cannot_break_the_header() {
        let hostile = "a\"; filename=evil.exe\r\nX: y résumé.pdf";
        let ascii = ascii_file_name(hostile);
        assert!(!ascii.contains('"') && !ascii.contains('\r') && !ascii.contains(';'));
        let encoded = rfc5987(hostile);
        assert!(encoded.bytes().all(|b| b.is_ascii_graphic()), "{encoded}");
        assert!(!encoded.contains('"') && !encoded.contains(';'));
        assert_eq!(rfc5987("r é"), "r%20%C3%A9");
    }
}
