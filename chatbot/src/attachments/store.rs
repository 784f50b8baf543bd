//! The objects of the attachments bucket and every S3 call the app makes on it.
//!
//! One object per file, at `<prefix><user>/<id>`: `<prefix>` the chatbot's
//! (`CHATBOT_ATTACHMENTS_PREFIX`, all its task role may touch), `<user>` the verified
//! token's `sub` (percent-encoded outside `[A-Za-z0-9._@:-]`, so no `/` of a `sub` can
//! make a key of another user's), `<id>` made by the server. A browser only ever
//! names an id, and an id only ever selects within the caller's own part. The object
//! carries its content type ([`Format::served_as`]) and, as user metadata, the name
//! shown (percent-encoded: metadata is ASCII) and the format, so a file is served
//! back, and sent to Bedrock, as it was checked at upload without being checked again.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;

use super::format::{Format, Kind};
use super::{AttachmentError, Attachments};
use crate::history::text;

const NAME: &str = "name";
const FORMAT: &str = "format";

/// A stored file: what the API says of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Its id.
    pub id: String,
    /// The name shown (never trusted for anything else).
    pub name: String,
    /// Its format (and so its kind).
    pub format: Format,
    /// Its length in bytes.
    pub size: usize,
}

impl Stored {
    /// Image or document.
    pub fn kind(&self) -> Kind {
        self.format.kind()
    }

    /// `{id, name, kind, format, size}`, as the API answers it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "kind": self.kind(),
            "format": self.format,
            "size": self.size,
        })
    }
}

/// A stored file and its bytes.
#[derive(Clone, Debug)]
pub struct File {
    /// What it is.
    pub stored: Stored,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// `value` with every byte outside `keep` as `%XX`.
fn percent_encode(value: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if keep(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The text [`percent_encode`] made (anything else decodes to `None`).
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = value.get(at + 1..at + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The user's part of a key: their `sub`, with nothing in it that S3 or a policy
/// would read as structure.
pub fn user_part(user: &str) -> String {
    percent_encode(user, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b':' | b'-')
    })
}

fn metadata_name(name: &str) -> String {
    percent_encode(name, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b' ' | b'.' | b'_' | b'-' | b'(' | b')')
    })
}

impl Attachments {
    /// The key of `user`'s file `id`.
    pub fn key(&self, user: &str, id: &str) -> String {
        format!("{}{}/{id}", self.prefix, user_part(user))
    }

    /// Stores `bytes`, checked to be `format`, as a new file of `user` shown as
    /// `name`.
    pub async fn put(
        &self,
        user: &str,
        name: &str,
        format: Format,
        bytes: Vec<u8>,
    ) -> Result<Stored, AttachmentError> {
        let id = text::new_id(crate::history::store::now_ms());
        let size = bytes.len();
        self.client()
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(user, &id))
            .content_type(format.served_as())
            .metadata(NAME, metadata_name(name))
            .metadata(FORMAT, format.as_str())
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(Stored {
            id,
            name: name.to_string(),
            format,
            size,
        })
    }

    /// `user`'s file `id`, with its bytes. [`AttachmentError::NotFound`] when there is
    /// none (another user's id included: it is looked for under the caller's part).
    pub async fn get(&self, user: &str, id: &str) -> Result<File, AttachmentError> {
        if !text::is_id(id) {
            return Err(AttachmentError::NotFound);
        }
        let output = match self
            .client()
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(user, id))
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) if is_missing(&e) => return Err(AttachmentError::NotFound),
            Err(e) => return Err(unavailable(e)),
        };
        let metadata = output.metadata().cloned().unwrap_or_default();
        let format = metadata
            .get(FORMAT)
            .and_then(|f| Format::parse(f))
            .ok_or_else(|| {
                AttachmentError::Unavailable(
                    format!("the object of attachment {id} has no format").into(),
                )
            })?;
        let name = metadata
            .get(NAME)
            .and_then(|n| percent_decode(n))
            .unwrap_or_else(|| "file".to_string());
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| AttachmentError::Unavailable(Box::new(e)))?
            .to_vec();
        Ok(File {
            stored: Stored {
                id: id.to_string(),
                name,
                format,
                size: bytes.len(),
            },
            bytes,
        })
    }

    /// Deletes `user`'s file `id`; deleting one that is not there is not an error
    /// (S3's own rule), so a deletion can be repeated.
    pub async fn delete(&self, user: &str, id: &str) -> Result<(), AttachmentError> {
        if !text::is_id(id) {
            return Err(AttachmentError::NotFound);
        }
        self.client()
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(user, id))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The S3 client, made at its first use.
    pub fn client(&self) -> &Client {
        self.client.get_or_init(|| match &self.sdk {
            Some(sdk) => Client::from_conf(Self::s3_config(sdk)),
            // `Attachments::new` sets the client.
            None => unreachable!("attachments without a client or an SDK configuration"),
        })
    }
}

/// Whether S3 says the key is not there: `NoSuchKey`, or `AccessDenied`, which is
/// what S3 answers for a missing key to a caller without `s3:ListBucket` (Amazon S3
/// API Reference, GetObject, "Permissions"), as the task role is: it may get any
/// object under its prefix, so a denial there means no object.
fn is_missing<R>(error: &SdkError<GetObjectError, R>) -> bool {
    error
        .as_service_error()
        .is_some_and(|e| e.is_no_such_key() || e.code() == Some("AccessDenied"))
}

fn unavailable<E, R>(error: SdkError<E, R>) -> AttachmentError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    AttachmentError::Unavailable(Box::new(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_part_cannot_reach_another_users_part() {
        assert_eq!(
            user_part("2b4e1c9a-7f3d-4e5a-9b8c-1d2e3f4a5b6c"),
            "2b4e1c9a-7f3d-4e5a-9b8c-1d2e3f4a5b6c"
        );
        assert_eq!(user_part("dev:ada@example.com"), "dev:ada@example.com");
        assert_eq!(user_part("alice/x"), "alice%2Fx");
        assert_eq!(user_part("../bob"), "..%2Fbob");
        assert_eq!(user_part("a*b%"), "a%2Ab%25");
        assert!(!user_part("a/b").contains('/'));
    }

    #[test]
    fn names_survive_ascii_metadata() {
        for name in [
            "Report (final).pdf",
            "résumé 2026.docx",
            "a%2Fb.txt",
            "日本.md",
        ] {
            let encoded = metadata_name(name);
            assert!(encoded.is_ascii(), "{encoded}");
            assert_eq!(percent_decode(&encoded).as_deref(), Some(name));
        }
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
    }
}
