//! Images and documents in Converse messages, accepted and refused as Bedrock does.
//!
//! The wire shape (restJson1): a content block `{"image": {"format": "png", "source":
//! {"bytes": "<base64>"}}}` or `{"document": {"format": "pdf", "name": "Report",
//! "source": {"bytes": "<base64>"}}}` (Amazon Bedrock API Reference,
//! [ImageBlock](https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ImageBlock.html),
//! [DocumentBlock](https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_DocumentBlock.html)).
//! Bedrock also takes an `s3Location` source (and, for documents, `text` and `content`);
//! the stand-in has no S3 and takes bytes only, and says so when refusing the others.
//!
//! The limits are the API reference's, on the
//! [Message](https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Message.html)
//! content: "up to 20 images. Each image's size, height, and width must be no more than
//! 3.75 MB, 8000 px, and 8000 px"; "up to five documents. Each document's size must be
//! no more than 4.5 MB"; a document needs a text block beside it; images and documents
//! only where the role is `user`. The User Guide's
//! [API restrictions](https://docs.aws.amazon.com/bedrock/latest/userguide/inference-api-restrictions.html)
//! page adds that Bedrock itself limits documents only (5 a request, 4.5 MB each, except
//! PDFs for Claude 4 and later and PDFs and DOCX for Nova) and leaves images to the
//! model's provider. The image rules here are therefore Claude's, refused in Claude's
//! words behind Bedrock's "The model returned the following errors: ".
//!
//! Messages quoted from Bedrock are marked so; the others are the stand-in's own,
//! written to say what is wrong.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Most images one request may carry (the Message reference). Claude on Bedrock has
/// been seen to take up to 100 since late 2025, each at most 2000 px a side when there
/// are more than 20; the stand-in keeps to the documented 20.
pub const MAX_IMAGES: usize = 20;

/// Largest image, in bytes: the documented 3.75 MB is 3.75 MiB, so that its base64
/// text fits Claude's 5 MiB ([`MAX_IMAGE_BASE64_BYTES`]), which is what is checked.
pub const MAX_IMAGE_BYTES: usize = MAX_IMAGE_BASE64_BYTES / 4 * 3;

/// Largest base64 text of one image: Claude refuses "image exceeds 5 MB maximum:
/// N bytes > 5242880 bytes", N being the encoded length.
pub const MAX_IMAGE_BASE64_BYTES: usize = 5 * 1024 * 1024;

/// Widest and tallest image, in pixels (the Message reference).
pub const MAX_IMAGE_SIDE: u32 = 8000;

/// Most documents one request may carry (the Message reference, API restrictions).
pub const MAX_DOCUMENTS: usize = 5;

/// Largest document, in bytes (4.5 MiB; the Message reference, API restrictions).
/// Not applied to PDFs for Claude 4 and later, nor to PDFs and DOCX for Nova
/// ([`document_size_is_limited`]).
pub const MAX_DOCUMENT_BYTES: usize = 9 * 1024 * 1024 / 2;

/// Longest document name, in characters (DocumentBlock: length 1 to 200).
pub const MAX_DOCUMENT_NAME_CHARS: usize = 200;

/// The image formats Bedrock takes, lowercase only (ImageBlock).
pub const IMAGE_FORMATS: [&str; 4] = ["png", "jpeg", "gif", "webp"];

/// The document formats Bedrock takes (DocumentBlock); `txt` when none is given.
pub const DOCUMENT_FORMATS: [&str; 9] = [
    "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md",
];

/// Bedrock's words for a document name outside the DocumentBlock rule (as quoted in
/// simonw/llm-bedrock#8 and vercel/ai#20365).
pub const DOCUMENT_NAME_REFUSED: &str = "The document file name can only contain alphanumeric characters, whitespace characters, hyphens, parentheses, and square brackets. The name can't contain more than one consecutive whitespace character. Check that the file name conforms to these restrictions and retry your request.";

/// Bedrock's words for two documents of one request with the same name, in the same
/// message or not (as quoted in aws-samples/generative-ai-use-cases#1685).
pub const DUPLICATE_DOCUMENT_NAMES: &str =
    "Messages can't contain duplicate document names. Rename the document and retry your request.";

/// Bedrock's words for a message with a document and no text (as quoted in
/// BerriAI/litellm#36499).
pub const DOCUMENT_WITHOUT_TEXT: &str =
    "A text block must be included when using documents. Add a text block and retry your request.";

/// Bedrock's words for more than [`MAX_DOCUMENTS`] documents (as quoted in
/// aws-samples/generative-ai-use-cases#1685).
pub const TOO_MANY_DOCUMENTS: &str = "You can't include more than 5 documents in a request.";

/// Bedrock's words for an image sent to a model without vision (as quoted in
/// anomalyco/opencode#49443).
pub const IMAGE_UNSUPPORTED: &str =
    "This model doesn't support the image field for user messages. Remove image and try again.";

/// What the stand-in answers a document sent to a model without document chat (its
/// own words, shaped like [`IMAGE_UNSUPPORTED`]).
pub const DOCUMENT_UNSUPPORTED: &str = "This model doesn't support the document field for user messages. Remove document and try again.";

/// Claude's prefix to the errors Bedrock passes on from it.
const MODEL_ERRORS: &str = "The model returned the following errors: ";

/// An image or a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AttachmentKind {
    /// An `image` content block.
    Image,
    /// A `document` content block.
    Document,
}

impl AttachmentKind {
    /// The content block's field: `image` or `document`.
    pub fn field(self) -> &'static str {
        match self {
            AttachmentKind::Image => "image",
            AttachmentKind::Document => "document",
        }
    }
}

/// An image's size in pixels, read from its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Dimensions {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// One image or document of an accepted request, as the stand-in received it: enough
/// to tell what reached Bedrock without keeping the bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Index of the message it came in (in `messages`).
    pub message: usize,
    /// Image or document.
    pub kind: AttachmentKind,
    /// The format the caller declared (`png`, `pdf`, …).
    pub format: String,
    /// A document's name; `None` for images.
    pub name: Option<String>,
    /// Length of the decoded bytes.
    pub size: usize,
    /// SHA-256 of the decoded bytes, lowercase hex.
    pub sha256: String,
    /// An image's size in pixels; `None` for documents.
    pub dimensions: Option<Dimensions>,
}

impl Attachment {
    /// Whether these are exactly the bytes that reached the stand-in (same length, same
    /// SHA-256): "the file I uploaded reached Bedrock unchanged".
    pub fn is(&self, bytes: &[u8]) -> bool {
        self.size == bytes.len() && self.sha256 == sha256_hex(bytes)
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Where a content block is: message and block index, from 0.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Position {
    pub(crate) message: usize,
    pub(crate) block: usize,
}

impl Position {
    /// The path the model's errors use: `messages.0.content.1.image`.
    fn model_path(self, kind: AttachmentKind) -> String {
        format!(
            "messages.{}.content.{}.{}",
            self.message,
            self.block,
            kind.field()
        )
    }

    /// Bedrock's input validation error for `member` of this block (its paths count
    /// from 1: `messages.1.member.content.2.member.image.format`).
    fn constraint(self, kind: AttachmentKind, member: &str, constraint: &str) -> String {
        format!(
            "1 validation error detected: Value at 'messages.{}.member.content.{}.member.{}.{member}' failed to satisfy constraint: {constraint}",
            self.message + 1,
            self.block + 1,
            kind.field()
        )
    }
}

/// Reads an `image` or `document` content block of a message with this role, checking
/// what Bedrock checks of one block; the request-wide rules are [`check_request`]'s.
pub(crate) fn read(
    kind: AttachmentKind,
    block: &Value,
    role: &str,
    at: Position,
) -> Result<Attachment, String> {
    if role != "user" {
        // Claude's words (as quoted in epam/ai-dial-adapter-bedrock#306).
        return Err(format!(
            "{MODEL_ERRORS}messages.{}.content: '{}' blocks are not permitted within assistant turns.",
            at.message,
            kind.field()
        ));
    }
    let (formats, default): (&[&str], _) = match kind {
        AttachmentKind::Image => (&IMAGE_FORMATS, None),
        AttachmentKind::Document => (&DOCUMENT_FORMATS, Some("txt")),
    };
    let format = match block.get("format") {
        None => default.unwrap_or_default(),
        Some(format) => format.as_str().unwrap_or_default(),
    };
    if !formats.contains(&format) {
        // Bedrock's words (as quoted in strands-agents/harness-sdk#3607).
        return Err(at.constraint(
            kind,
            "format",
            &format!(
                "Member must satisfy enum value set: [{}]",
                formats.join(", ")
            ),
        ));
    }
    let name = match kind {
        AttachmentKind::Image => None,
        AttachmentKind::Document => Some(document_name(block, at)?),
    };
    let encoded = base64_source(kind, block, at)?;
    let bytes = aws_smithy_types::base64::decode(encoded).map_err(|e| {
        format!(
            "{}.source.bytes is not valid base64: {e}",
            at.model_path(kind)
        )
    })?;
    let dimensions = match kind {
        AttachmentKind::Image => Some(check_image(format, encoded.len(), &bytes, at)?),
        AttachmentKind::Document => None,
    };
    Ok(Attachment {
        message: at.message,
        kind,
        format: format.to_string(),
        name,
        size: bytes.len(),
        sha256: sha256_hex(&bytes),
        dimensions,
    })
}

/// The block's `source.bytes`, base64 text of at least one character.
fn base64_source(kind: AttachmentKind, block: &Value, at: Position) -> Result<&str, String> {
    let source = block.get("source").and_then(Value::as_object);
    let Some(bytes) = source.and_then(|s| s.get("bytes")) else {
        let given: Vec<&str> = source
            .map(|s| s.keys().map(String::as_str).collect())
            .unwrap_or_default();
        return Err(format!(
            "{}.source must be bytes: the stand-in has no S3 and takes no other source (got: [{}]).",
            at.model_path(kind),
            given.join(", ")
        ));
    };
    match bytes.as_str() {
        Some("") => Err(at.constraint(
            kind,
            "source.bytes",
            "Member must have length greater than or equal to 1",
        )),
        Some(encoded) => Ok(encoded),
        None => Err(format!(
            "{}.source.bytes must be base64 text.",
            at.model_path(kind)
        )),
    }
}

/// A document's name, held to the DocumentBlock rule: 1 to 200 characters, each an
/// ASCII letter or digit, a space (never two in a row), a hyphen, a parenthesis or a
/// square bracket. Live Bedrock was seen to let underscores through as well
/// (strands-agents/harness-sdk#3019); the stand-in keeps to the documented rule.
fn document_name(block: &Value, at: Position) -> Result<String, String> {
    let name = block
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = AttachmentKind::Document;
    let length = name.chars().count();
    if length == 0 {
        return Err(at.constraint(
            kind,
            "name",
            "Member must have length greater than or equal to 1",
        ));
    }
    if length > MAX_DOCUMENT_NAME_CHARS {
        return Err(at.constraint(
            kind,
            "name",
            &format!("Member must have length less than or equal to {MAX_DOCUMENT_NAME_CHARS}"),
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || " -()[]".contains(c);
    if !name.chars().all(allowed) || name.contains("  ") {
        return Err(DOCUMENT_NAME_REFUSED.to_string());
    }
    Ok(name.to_string())
}

/// Claude's checks of one image: its encoded size, that its bytes are the declared
/// format, and its dimensions. Claude's messages, as quoted in aws/aws-sdk-js-v3#6785
/// (size), ziatdinovmax/SciLink#382 (format) and anthropics/claude-code#52220
/// (dimensions).
fn check_image(
    format: &str,
    encoded_len: usize,
    bytes: &[u8],
    at: Position,
) -> Result<Dimensions, String> {
    let path = at.model_path(AttachmentKind::Image);
    if encoded_len > MAX_IMAGE_BASE64_BYTES {
        return Err(format!(
            "{MODEL_ERRORS}{path}.source.bytes: image exceeds 5 MB maximum: {encoded_len} bytes > {MAX_IMAGE_BASE64_BYTES} bytes"
        ));
    }
    let Some(image) = ImageHeader::read(bytes) else {
        return Err(format!(
            "{MODEL_ERRORS}{path}.source.bytes: Could not process image"
        ));
    };
    if image.format != format {
        return Err(format!(
            "{MODEL_ERRORS}{path}.source.bytes: The image was specified using the image/{format} media type, but the image appears to be a image/{} image",
            image.format
        ));
    }
    let Dimensions { width, height } = image.dimensions;
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(format!(
            "{MODEL_ERRORS}{path}.source.bytes: At least one of the image dimensions exceed max allowed size: {MAX_IMAGE_SIDE} pixels"
        ));
    }
    Ok(image.dimensions)
}

/// The rules over all of a request's attachments: at most [`MAX_IMAGES`] images and
/// [`MAX_DOCUMENTS`] documents, document names unique, and a text block beside every
/// document (`documents_without_text`: messages that have a document and no text).
pub(crate) fn check_request(
    attachments: &[Attachment],
    documents_without_text: bool,
) -> Result<(), String> {
    let count = |kind| attachments.iter().filter(|a| a.kind == kind).count();
    let images = count(AttachmentKind::Image);
    if images > MAX_IMAGES {
        // Claude's words, as AWS support quoted them in boto/boto3#4632.
        return Err(format!(
            "{MODEL_ERRORS}messages: too many images: image_count > {MAX_IMAGES}"
        ));
    }
    if count(AttachmentKind::Document) > MAX_DOCUMENTS {
        return Err(TOO_MANY_DOCUMENTS.to_string());
    }
    let mut names = HashSet::new();
    if !attachments
        .iter()
        .filter_map(|a| a.name.as_deref())
        .all(|name| names.insert(name))
    {
        return Err(DUPLICATE_DOCUMENT_NAMES.to_string());
    }
    if documents_without_text {
        return Err(DOCUMENT_WITHOUT_TEXT.to_string());
    }
    Ok(())
}

/// The rules that depend on the model: whether it reads images and documents, and how
/// large a document it takes.
pub(crate) fn check_model(model_id: &str, attachments: &[Attachment]) -> Result<(), String> {
    for attachment in attachments {
        match attachment.kind {
            AttachmentKind::Image if !supports_images(model_id) => {
                return Err(IMAGE_UNSUPPORTED.to_string());
            }
            AttachmentKind::Document if !supports_documents(model_id) => {
                return Err(DOCUMENT_UNSUPPORTED.to_string());
            }
            AttachmentKind::Document
                if attachment.size > MAX_DOCUMENT_BYTES
                    && document_size_is_limited(model_id, &attachment.format) =>
            {
                return Err(format!(
                    "The document {} is {} bytes; a document can be at most {MAX_DOCUMENT_BYTES} bytes (4.5 MB).",
                    attachment.name.as_deref().unwrap_or_default(),
                    attachment.size
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The model id without an inference-profile prefix or ARN around it: what follows
/// `anthropic.`, `amazon.`, `meta.`, … (`claude-sonnet-4-20250514-v1:0`), and its
/// provider.
fn provider_and_model(model_id: &str) -> Option<(&str, &str)> {
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    [
        "anthropic.",
        "amazon.",
        "meta.",
        "mistral.",
        "cohere.",
        "ai21.",
    ]
    .into_iter()
    .find_map(|provider| {
        id.split_once(provider)
            .map(|(_, model)| (provider.trim_end_matches('.'), model))
    })
}

/// The major version of a Claude model (`3` for `claude-3-5-sonnet-…`, `4` for
/// `claude-sonnet-4-…`), whichever order the id puts family and version in.
fn claude_major(model: &str) -> Option<u32> {
    let rest = model.strip_prefix("claude-")?;
    let mut parts = rest.split(['-', ':', '.']);
    let first = parts.next()?;
    match first.parse::<u32>() {
        Ok(major) => Some(major),
        Err(_) => parts.next()?.parse().ok(),
    }
}

/// Whether Bedrock passes images to this model ("Vision" in the User Guide's
/// [supported models and model features](https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-supported-models-features.html)):
/// Claude 3 and later, Nova Lite, Pro and Premier (not Micro), Llama 3.2 11B and 90B
/// and Llama 4, Mistral's Pixtral. Not Titan, Cohere, AI21, Mistral's text models, nor
/// Llama 3.1 and earlier or Llama 3.2 1B and 3B.
pub fn supports_images(model_id: &str) -> bool {
    let Some((provider, model)) = provider_and_model(model_id) else {
        return false;
    };
    match provider {
        "anthropic" => claude_major(model).is_some_and(|major| major >= 3),
        "amazon" => ["nova-lite", "nova-pro", "nova-premier", "nova-2-lite"]
            .iter()
            .any(|family| model.starts_with(family)),
        "meta" => {
            model.starts_with("llama4")
                || model.starts_with("llama3-2-11b")
                || model.starts_with("llama3-2-90b")
        }
        "mistral" => model.starts_with("pixtral"),
        _ => false,
    }
}

/// Whether Bedrock passes documents to this model ("Document chat" in the same table):
/// every model the Converse API serves except Titan Text Premier, AI21's Jamba-Instruct
/// and Jurassic-2, and Cohere Command Light.
pub fn supports_documents(model_id: &str) -> bool {
    let Some((_, model)) = provider_and_model(model_id) else {
        return true;
    };
    ![
        "titan-text-premier",
        "jamba-instruct",
        "j2-",
        "command-light",
    ]
    .iter()
    .any(|family| model.starts_with(family))
}

/// Whether the 4.5 MB document limit applies (API restrictions): not to PDFs for Claude
/// 4 and later, nor to PDFs and DOCX for Nova.
pub fn document_size_is_limited(model_id: &str, format: &str) -> bool {
    match provider_and_model(model_id) {
        Some(("anthropic", model)) => {
            !(format == "pdf" && claude_major(model).is_some_and(|major| major >= 4))
        }
        Some(("amazon", model)) if model.starts_with("nova") => !matches!(format, "pdf" | "docx"),
        _ => true,
    }
}

/// What an image's first bytes say it is: its format and size in pixels.
#[derive(Debug, PartialEq, Eq)]
struct ImageHeader {
    format: &'static str,
    dimensions: Dimensions,
}

impl ImageHeader {
    /// Reads a PNG, GIF, JPEG or WebP header; `None` for anything else.
    fn read(bytes: &[u8]) -> Option<Self> {
        let (format, dimensions) = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            // IHDR, the first chunk: width and height, big-endian, at 16 and 20.
            (
                "png",
                Dimensions {
                    width: be32(bytes, 16)?,
                    height: be32(bytes, 20)?,
                },
            )
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            // The logical screen: width and height, little-endian, at 6 and 8.
            (
                "gif",
                Dimensions {
                    width: le16(bytes, 6)?.into(),
                    height: le16(bytes, 8)?.into(),
                },
            )
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            ("jpeg", jpeg_dimensions(bytes)?)
        } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            ("webp", webp_dimensions(bytes)?)
        } else {
            return None;
        };
        Some(Self { format, dimensions })
    }
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn le24(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 3)?;
    Some(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
}

/// A JPEG's size: from its start-of-frame segment (SOF0–SOF15 but DHT, JPG and DAC),
/// found by walking the segments after SOI.
fn jpeg_dimensions(bytes: &[u8]) -> Option<Dimensions> {
    let mut at = 2;
    loop {
        while *bytes.get(at)? != 0xFF {
            at += 1;
        }
        while *bytes.get(at)? == 0xFF {
            at += 1;
        }
        let marker = *bytes.get(at)?;
        at += 1;
        // Markers without a length: TEM and RST0–RST7.
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            continue;
        }
        let length = usize::from(be16(bytes, at)?);
        if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            // Length, precision, then height and width.
            return Some(Dimensions {
                height: be16(bytes, at + 3)?.into(),
                width: be16(bytes, at + 5)?.into(),
            });
        }
        at += length;
    }
}

/// A WebP's size, from its first chunk: `VP8 ` (lossy), `VP8L` (lossless) or `VP8X`
/// (extended).
fn webp_dimensions(bytes: &[u8]) -> Option<Dimensions> {
    let data = 20;
    match bytes.get(12..16)? {
        b"VP8 " => Some(Dimensions {
            width: u32::from(le16(bytes, data + 6)? & 0x3FFF),
            height: u32::from(le16(bytes, data + 8)? & 0x3FFF),
        }),
        b"VP8L" => {
            let bits = u32::from_le_bytes(bytes.get(data + 1..data + 5)?.try_into().ok()?);
            Some(Dimensions {
                width: (bits & 0x3FFF) + 1,
                height: ((bits >> 14) & 0x3FFF) + 1,
            })
        }
        b"VP8X" => Some(Dimensions {
            width: le24(bytes, data + 4)? + 1,
            height: le24(bytes, data + 7)? + 1,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        bytes.extend(width.to_be_bytes());
        bytes.extend(height.to_be_bytes());
        bytes.extend([8, 6, 0, 0, 0]);
        bytes
    }

    #[test]
    fn image_headers_give_format_and_size() {
        let header = |bytes: &[u8]| ImageHeader::read(bytes).map(|h| (h.format, h.dimensions));
        let size = |width, height| Dimensions { width, height };
        assert_eq!(header(&png(640, 480)), Some(("png", size(640, 480))));
        let gif = [b"GIF89a".as_slice(), &[0x20, 0x03, 0x58, 0x02]].concat();
        assert_eq!(header(&gif), Some(("gif", size(800, 600))));
        // SOI, an APP0 segment of 16 bytes, then SOF0: height 300, width 400.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        jpeg.extend([0; 14]);
        jpeg.extend([0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0x2C, 0x01, 0x90, 0x03]);
        assert_eq!(header(&jpeg), Some(("jpeg", size(400, 300))));
        let webp = |chunk: &[u8], data: &[u8]| {
            [b"RIFF\0\0\0\0WEBP".as_slice(), chunk, &[0; 4], data].concat()
        };
        let lossy = webp(
            b"VP8 ",
            &[0, 0, 0, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01],
        );
        assert_eq!(header(&lossy), Some(("webp", size(640, 480))));
        // 14 bits each of width - 1 (99) and height - 1 (49) after the 0x2F signature.
        let bits: u32 = 99 | (49 << 14);
        let lossless = webp(b"VP8L", &[[0x2F].as_slice(), &bits.to_le_bytes()].concat());
        assert_eq!(header(&lossless), Some(("webp", size(100, 50))));
        let extended = webp(b"VP8X", &[0, 0, 0, 0, 0x3F, 0x1F, 0, 0x0F, 0x0F, 0]);
        assert_eq!(header(&extended), Some(("webp", size(8000, 3856))));

        assert_eq!(header(b"%PDF-1.7"), None);
        assert_eq!(header(&png(1, 1)[..20]), None, "a cut header is no image");
        assert_eq!(header(&[0xFF, 0xD8, 0xFF, 0xE0]), None);
    }

    #[test]
    fn document_names_follow_the_documented_rule() {
        let at = Position {
            message: 0,
            block: 1,
        };
        let name = |name: &str| document_name(&json!({ "name": name }), at);
        for good in ["Quarterly report", "report-2026 (final) [v2]", "A1", "x"] {
            assert_eq!(name(good).as_deref(), Ok(good));
        }
        for bad in [
            "report.pdf",
            "two  spaces",
            "tab\there",
            "John's",
            "résumé",
            "snake_case",
            "a/b",
        ] {
            assert_eq!(name(bad), Err(DOCUMENT_NAME_REFUSED.to_string()), "{bad}");
        }
        assert!(name("").unwrap_err().contains(
            "'messages.1.member.content.2.member.document.name' failed to satisfy constraint: Member must have length greater than or equal to 1"
        ));
        assert_eq!(name(&"a".repeat(200)).map(|n| n.len()), Ok(200));
        assert!(
            name(&"a".repeat(201))
                .unwrap_err()
                .contains("less than or equal to 200")
        );
    }

    #[test]
    fn vision_and_document_chat_are_for_the_models_aws_lists() {
        for yes in [
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "global.anthropic.claude-opus-4-5-20251101-v1:0",
            "us.amazon.nova-pro-v1:0",
            "us.meta.llama3-2-90b-instruct-v1:0",
            "meta.llama4-maverick-17b-instruct-v1:0",
            "mistral.pixtral-large-2502-v1:0",
            "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0",
        ] {
            assert!(supports_images(yes), "{yes}");
        }
        for no in [
            "anthropic.claude-v2:1",
            "amazon.nova-micro-v1:0",
            "amazon.titan-text-express-v1",
            "meta.llama3-70b-instruct-v1:0",
            "meta.llama3-2-3b-instruct-v1:0",
            "mistral.mistral-large-2402-v1:0",
            "cohere.command-r-plus-v1:0",
        ] {
            assert!(!supports_images(no), "{no}");
        }
        assert!(supports_documents(
            "us.anthropic.claude-sonnet-4-20250514-v1:0"
        ));
        assert!(supports_documents("meta.llama3-70b-instruct-v1:0"));
        assert!(!supports_documents("amazon.titan-text-premier-v1:0"));
        assert!(!supports_documents("cohere.command-light-text-v14"));

        let sonnet_4 = "us.anthropic.claude-sonnet-4-20250514-v1:0";
        assert!(!document_size_is_limited(sonnet_4, "pdf"));
        assert!(document_size_is_limited(sonnet_4, "docx"));
        assert!(document_size_is_limited(
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "pdf"
        ));
        assert!(!document_size_is_limited("us.amazon.nova-pro-v1:0", "docx"));
        assert!(document_size_is_limited("us.amazon.nova-pro-v1:0", "csv"));
    }

    #[test]
    fn an_attachment_is_the_bytes_it_was_made_from() {
        let bytes = png(2, 2);
        let block = json!({
            "format": "png",
            "source": { "bytes": aws_smithy_types::base64::encode(&bytes) },
        });
        let at = Position {
            message: 0,
            block: 0,
        };
        let image = read(AttachmentKind::Image, &block, "user", at).unwrap();
        assert!(image.is(&bytes));
        let mut changed = bytes.clone();
        changed[25] ^= 1;
        assert!(!image.is(&changed));
        assert!(!image.is(&bytes[1..]));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
