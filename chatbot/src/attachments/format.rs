//! What a file is, told by its bytes: the formats Converse takes, Bedrock's limits on
//! them, and the refusals a person reads. Pure functions, no I/O.
//!
//! The limits are Bedrock's, from the Converse API reference's
//! [Message](https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Message.html)
//! ("up to 20 images. Each image's size, height, and width must be no more than
//! 3.75 MB, 8000 px, and 8000 px"; "up to five documents. Each document's size must be
//! no more than 4.5 MB") and the User Guide's
//! [API restrictions](https://docs.aws.amazon.com/bedrock/latest/userguide/inference-api-restrictions.html);
//! the formats are [ImageBlock](https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ImageBlock.html)'s
//! and [DocumentBlock](https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_DocumentBlock.html)'s.
//! A Converse request is at most 20 MB in all, base64 included
//! ([Bedrock quotas](https://docs.aws.amazon.com/bedrock/latest/userguide/quotas.html)):
//! so the files of one request share [`REQUEST_BUDGET_BYTES`].

use serde::Serialize;

/// Most images one request may carry.
pub const MAX_IMAGES: usize = 20;

/// Most documents one request may carry.
pub const MAX_DOCUMENTS: usize = 5;

/// Largest image: the documented 3.75 MB is 3.75 MiB, the size whose base64 text is
/// Claude's 5 MiB limit ("image exceeds 5 MB maximum: … > 5242880 bytes").
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024 / 4 * 3;

/// Largest document: 4.5 MB (4.5 MiB). Claude 4 and later take larger PDFs; the
/// chatbot keeps to the limit every model has.
pub const MAX_DOCUMENT_BYTES: usize = 9 * 1024 * 1024 / 2;

/// Bytes of files one question's request may carry, every turn's together: their
/// base64 text (4/3 of it, 17.3 MiB) leaves room for the conversation's text
/// (`CHATBOT_HISTORY_BUDGET_CHARS`, 200,000 characters by default) within Bedrock's
/// 20 MB. About three full-size images, or a dozen photos from a phone.
pub const REQUEST_BUDGET_BYTES: usize = 13 * 1024 * 1024;

// The budget's base64 text and 200,000 characters of up to 4 bytes fit in 20 MiB.
const _: () = assert!(REQUEST_BUDGET_BYTES / 3 * 4 + 800_000 < 20 * 1024 * 1024);

/// An image or a document: the two content blocks Converse takes files in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An `image` block.
    Image,
    /// A `document` block.
    Document,
}

impl Kind {
    /// `image` or `document`, as the API and storage name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Document => "document",
        }
    }

    /// The largest file of this kind.
    pub fn max_bytes(self) -> usize {
        match self {
            Self::Image => MAX_IMAGE_BYTES,
            Self::Document => MAX_DOCUMENT_BYTES,
        }
    }

    /// The most files of this kind one request may carry.
    pub fn max_count(self) -> usize {
        match self {
            Self::Image => MAX_IMAGES,
            Self::Document => MAX_DOCUMENTS,
        }
    }
}

/// A format Converse takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// PNG image.
    Png,
    /// JPEG image.
    Jpeg,
    /// GIF image.
    Gif,
    /// WebP image.
    Webp,
    /// PDF document.
    Pdf,
    /// Comma-separated values.
    Csv,
    /// Word 97–2003 document.
    Doc,
    /// Word document.
    Docx,
    /// Excel 97–2003 workbook.
    Xls,
    /// Excel workbook.
    Xlsx,
    /// HTML page (given to the model as text; never served back as HTML).
    Html,
    /// Plain text.
    Txt,
    /// Markdown.
    Md,
}

impl Format {
    /// Every format, images first.
    pub const ALL: [Format; 13] = [
        Self::Png,
        Self::Jpeg,
        Self::Gif,
        Self::Webp,
        Self::Pdf,
        Self::Csv,
        Self::Doc,
        Self::Docx,
        Self::Xls,
        Self::Xlsx,
        Self::Html,
        Self::Txt,
        Self::Md,
    ];

    /// Converse's name of it (`png`, `pdf`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpeg",
            Self::Gif => "gif",
            Self::Webp => "webp",
            Self::Pdf => "pdf",
            Self::Csv => "csv",
            Self::Doc => "doc",
            Self::Docx => "docx",
            Self::Xls => "xls",
            Self::Xlsx => "xlsx",
            Self::Html => "html",
            Self::Txt => "txt",
            Self::Md => "md",
        }
    }

    /// The format Converse calls `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// Image or document.
    pub fn kind(self) -> Kind {
        match self {
            Self::Png | Self::Jpeg | Self::Gif | Self::Webp => Kind::Image,
            _ => Kind::Document,
        }
    }

    /// What a person calls it, in refusals.
    pub fn label(self) -> &'static str {
        match self {
            Self::Png => "a PNG image",
            Self::Jpeg => "a JPEG image",
            Self::Gif => "a GIF image",
            Self::Webp => "a WebP image",
            Self::Pdf => "a PDF",
            Self::Csv => "a CSV file",
            Self::Doc => "a Word 97-2003 document",
            Self::Docx => "a Word document",
            Self::Xls => "an Excel 97-2003 workbook",
            Self::Xlsx => "an Excel workbook",
            Self::Html => "an HTML file",
            Self::Txt => "a text file",
            Self::Md => "a Markdown file",
        }
    }

    /// The content type it is served back with: an image's own (shown inline, the
    /// bytes were checked to be that image), and for every document one no browser
    /// renders or runs (it is downloaded), HTML included.
    pub fn served_as(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            _ => "application/octet-stream",
        }
    }

    /// The format a file name's extension claims (case ignored).
    fn from_extension(name: &str) -> Option<Self> {
        let (_, extension) = name.rsplit_once('.')?;
        Some(match extension.to_ascii_lowercase().as_str() {
            "png" => Self::Png,
            "jpg" | "jpeg" | "jpe" | "jfif" => Self::Jpeg,
            "gif" => Self::Gif,
            "webp" => Self::Webp,
            "pdf" => Self::Pdf,
            "csv" => Self::Csv,
            "doc" => Self::Doc,
            "docx" => Self::Docx,
            "xls" => Self::Xls,
            "xlsx" => Self::Xlsx,
            "html" | "htm" => Self::Html,
            "txt" | "text" | "log" => Self::Txt,
            "md" | "markdown" => Self::Md,
            _ => return None,
        })
    }
}

/// Why a file, or a question's files, are refused: what a person reads.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not one of [`Format::ALL`], or not what its name says.
    #[error("{0}")]
    WrongType(String),
    /// A file over its kind's limit.
    #[error("“{name}” is {size}: {what} may be at most {limit} (Bedrock's limit)")]
    TooLarge {
        /// The file's name.
        name: String,
        /// Its size, for a person.
        size: String,
        /// "an image" or "a document".
        what: &'static str,
        /// The limit, for a person.
        limit: String,
    },
    /// No bytes at all.
    #[error("“{0}” is empty")]
    Empty(String),
    /// More files of a kind than one question may carry.
    #[error("a question may carry at most {limit} {kind}s; this one has {count}")]
    TooMany {
        /// `image` or `document`.
        kind: &'static str,
        /// How many it has.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The files of a request, together, over [`REQUEST_BUDGET_BYTES`].
    #[error(
        "the files of this question are {size} together; one question may carry at most {limit} of files: remove some"
    )]
    OverBudget {
        /// Their size, for a person.
        size: String,
        /// The budget, for a person.
        limit: String,
    },
}

impl Refusal {
    /// A file that is none of the formats taken.
    fn unsupported(name: &str, seen: &str) -> Self {
        Self::WrongType(format!(
            "“{name}” {seen}: this chatbot takes images (PNG, JPEG, GIF, WebP) and documents (PDF, CSV, DOC, DOCX, XLS, XLSX, HTML, TXT, MD)"
        ))
    }
}

/// `bytes` for a person: `812 bytes`, `3.4 MB` (MiB, as Bedrock's figures are),
/// rounded up, so a file over a limit never reads as the limit.
pub fn human_size(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    // Sizes of files, far below f64's exact range.
    #[allow(clippy::cast_precision_loss)]
    let (value, unit) = match bytes {
        b if b < KIB => return format!("{b} bytes"),
        b if b < MIB => (b as f64 / KIB as f64, "KB"),
        b => (b as f64 / MIB as f64, "MB"),
    };
    let text = format!("{:.2}", (value * 100.0).ceil() / 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {unit}")
}

/// What the first bytes of a file are, as far as they tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    /// A format with a signature of its own.
    Exactly(Format),
    /// An Office Open XML package (a zip) holding a Word or an Excel part.
    OfficeZip(Format),
    /// Another zip.
    Zip,
    /// A Compound File (OLE2): Word or Excel 97–2003, or another Office file.
    Ole,
    /// UTF-8 text without NUL characters.
    Text,
    /// None of these.
    Unknown,
}

impl Seen {
    fn of(bytes: &[u8]) -> Self {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Self::Exactly(Format::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Self::Exactly(Format::Jpeg)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Self::Exactly(Format::Gif)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Self::Exactly(Format::Webp)
        } else if bytes.starts_with(b"%PDF-") {
            Self::Exactly(Format::Pdf)
        } else if bytes.starts_with(b"PK\x03\x04") {
            // The parts' names are stored as they are, in each local header and in
            // the central directory: a Word package has `word/`, Excel `xl/`.
            if contains(bytes, b"word/document") {
                Self::OfficeZip(Format::Docx)
            } else if contains(bytes, b"xl/workbook") {
                Self::OfficeZip(Format::Xlsx)
            } else {
                Self::Zip
            }
        } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
            Self::Ole
        } else if !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok() {
            Self::Text
        } else {
            Self::Unknown
        }
    }

    /// What a refusal says the bytes are.
    fn described(self) -> &'static str {
        match self {
            Self::Exactly(format) | Self::OfficeZip(format) => format.label(),
            Self::Zip => "a zip archive",
            Self::Ole => "an Office 97-2003 file",
            Self::Text => "text",
            Self::Unknown => "binary data of an unknown type",
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The format of the file `name` holding `bytes`, told by the bytes: the name's
/// extension only chooses among the formats bytes cannot tell apart (the text
/// formats; Word and Excel 97–2003). An image named as another image is taken as
/// what its bytes are (Claude refuses an image of another format than declared); a
/// file whose bytes are not what its name says (a program named `.png`, a PDF named
/// `.docx`), or of no format taken, is refused. Within its kind's size limit.
pub fn identify(name: &str, bytes: &[u8]) -> Result<Format, Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::Empty(name.to_string()));
    }
    let claimed = Format::from_extension(name);
    let seen = Seen::of(bytes);
    let format = match (claimed, seen) {
        (_, Seen::Exactly(found)) if found.kind() == Kind::Image => match claimed {
            Some(claimed) if claimed.kind() == Kind::Document => {
                return Err(mismatch(name, claimed, seen));
            }
            _ => found,
        },
        (None | Some(Format::Pdf), Seen::Exactly(Format::Pdf)) => Format::Pdf,
        (None, Seen::OfficeZip(found)) => found,
        (Some(claimed), Seen::OfficeZip(found)) if claimed == found => found,
        (Some(claimed @ (Format::Doc | Format::Xls)), Seen::Ole) => claimed,
        (Some(claimed @ (Format::Csv | Format::Html | Format::Txt | Format::Md)), Seen::Text) => {
            claimed
        }
        (Some(claimed), _) => return Err(mismatch(name, claimed, seen)),
        (None, Seen::Text) => Format::Txt,
        (None, _) => {
            return Err(Refusal::unsupported(
                name,
                &format!("is {}", seen.described()),
            ));
        }
    };
    let kind = format.kind();
    if bytes.len() > kind.max_bytes() {
        return Err(too_large(name, bytes.len(), kind));
    }
    Ok(format)
}

/// The refusal of a file over `kind`'s limit.
pub fn too_large(name: &str, size: usize, kind: Kind) -> Refusal {
    Refusal::TooLarge {
        name: name.to_string(),
        size: human_size(size),
        what: match kind {
            Kind::Image => "an image",
            Kind::Document => "a document",
        },
        limit: human_size(kind.max_bytes()),
    }
}

fn mismatch(name: &str, claimed: Format, seen: Seen) -> Refusal {
    Refusal::WrongType(format!(
        "“{name}” is named as {} but is {}: this chatbot takes a file only when its content is what its name says",
        claimed.label(),
        seen.described()
    ))
}

/// A file of a question, as far as the request-wide limits care.
#[derive(Clone, Copy, Debug)]
pub struct Sized {
    /// Image or document.
    pub kind: Kind,
    /// Its bytes.
    pub size: usize,
}

/// The limits over one request's files, every turn's together: at most
/// [`MAX_IMAGES`] images, [`MAX_DOCUMENTS`] documents, [`REQUEST_BUDGET_BYTES`] bytes.
pub fn check_request(files: impl IntoIterator<Item = Sized>) -> Result<(), Refusal> {
    let (mut images, mut documents, mut bytes) = (0, 0, 0);
    for file in files {
        match file.kind {
            Kind::Image => images += 1,
            Kind::Document => documents += 1,
        }
        bytes += file.size;
    }
    for (kind, count) in [(Kind::Image, images), (Kind::Document, documents)] {
        if count > kind.max_count() {
            return Err(Refusal::TooMany {
                kind: kind.as_str(),
                count,
                limit: kind.max_count(),
            });
        }
    }
    if bytes > REQUEST_BUDGET_BYTES {
        return Err(Refusal::OverBudget {
            size: human_size(bytes),
            limit: human_size(REQUEST_BUDGET_BYTES),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x02\0\0\0\x02\x08\x06\0\0\0";
    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F'];
    const OLE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0];

    fn zip_with(part: &str) -> Vec<u8> {
        let mut bytes = b"PK\x03\x04\x14\0\0\0\x08\0".to_vec();
        bytes.extend(part.as_bytes());
        bytes
    }

    #[test]
    fn formats_are_told_by_their_bytes() {
        assert_eq!(identify("photo.png", PNG), Ok(Format::Png));
        assert_eq!(identify("photo.JPG", JPEG), Ok(Format::Jpeg));
        assert_eq!(identify("anim.gif", b"GIF89a\x01\0\x01\0"), Ok(Format::Gif));
        assert_eq!(
            identify("pic.webp", b"RIFF\x10\0\0\0WEBPVP8 "),
            Ok(Format::Webp)
        );
        assert_eq!(identify("paper.pdf", b"%PDF-1.7\n"), Ok(Format::Pdf));
        let docx = zip_with("word/document.xml");
        assert_eq!(identify("letter.docx", &docx), Ok(Format::Docx));
        let xlsx = zip_with("xl/workbook.xml");
        assert_eq!(identify("budget.xlsx", &xlsx), Ok(Format::Xlsx));
        assert_eq!(identify("old.doc", OLE), Ok(Format::Doc));
        assert_eq!(identify("old.XLS", OLE), Ok(Format::Xls));
        assert_eq!(identify("data.csv", b"a,b\n1,2\n"), Ok(Format::Csv));
        assert_eq!(identify("page.htm", b"<p>hi</p>"), Ok(Format::Html));
        assert_eq!(
            identify("notes.md", "# Überblick".as_bytes()),
            Ok(Format::Md)
        );
        assert_eq!(identify("README", b"plain words"), Ok(Format::Txt));
        // Without an extension, what the bytes say.
        assert_eq!(identify("scan", b"%PDF-1.4"), Ok(Format::Pdf));
        assert_eq!(identify("letter", &docx), Ok(Format::Docx));
        assert_eq!(identify("clipboard", PNG), Ok(Format::Png));
        // An image named as another image is what its bytes are.
        assert_eq!(identify("really-a-png.jpg", PNG), Ok(Format::Png));
    }

    #[test]
    fn a_file_that_is_not_what_its_name_says_is_refused() {
        let refused = |name: &str, bytes: &[u8]| match identify(name, bytes) {
            Err(Refusal::WrongType(message)) => message,
            other => panic!("{name}: {other:?}"),
        };
        let program = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff";
        assert!(refused("cat.png", program).contains("named as a PNG image but is binary data"));
        assert!(refused("report.pdf", PNG).contains("named as a PDF but is a PNG image"));
        assert!(refused("letter.docx", b"%PDF-1.7").contains("is a PDF"));
        assert!(refused("budget.xlsx", &zip_with("word/document.xml")).contains("Word document"));
        assert!(refused("archive.docx", &zip_with("other.txt")).contains("a zip archive"));
        assert!(refused("notes.txt", b"\xff\xfe\0h\0i").contains("binary data"));
        assert!(refused("notes.txt", PNG).contains("is a PNG image"));
        assert!(refused("tool.exe", program).contains("this chatbot takes images"));
        assert!(refused("archive", &zip_with("x")).contains("is a zip archive"));
        assert_eq!(
            identify("empty.txt", b""),
            Err(Refusal::Empty("empty.txt".into()))
        );
    }

    #[test]
    fn each_kind_has_its_own_size_limit() {
        let mut image = PNG.to_vec();
        image.resize(MAX_IMAGE_BYTES, 0);
        assert_eq!(identify("big.png", &image), Ok(Format::Png));
        image.push(0);
        let refusal = identify("big.png", &image).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "“big.png” is 3.76 MB: an image may be at most 3.75 MB (Bedrock's limit)"
        );
        let mut text = vec![b'a'; MAX_DOCUMENT_BYTES];
        assert_eq!(identify("long.txt", &text), Ok(Format::Txt));
        text.push(b'a');
        assert!(matches!(
            identify("long.txt", &text),
            Err(Refusal::TooLarge {
                what: "a document",
                ..
            })
        ));
        assert_eq!(MAX_IMAGE_BYTES, 3_932_160);
        assert_eq!(MAX_DOCUMENT_BYTES, 4_718_592);
    }

    #[test]
    fn a_request_carries_at_most_twenty_images_five_documents_and_its_budget() {
        let files = |kind, count, size| vec![Sized { kind, size }; count];
        assert!(check_request(files(Kind::Image, 20, 1000)).is_ok());
        assert_eq!(
            check_request(files(Kind::Image, 21, 1000))
                .unwrap_err()
                .to_string(),
            "a question may carry at most 20 images; this one has 21"
        );
        assert!(check_request(files(Kind::Document, 5, 1000)).is_ok());
        assert!(matches!(
            check_request(files(Kind::Document, 6, 1000)),
            Err(Refusal::TooMany {
                kind: "document",
                count: 6,
                limit: 5
            })
        ));
        // Four full-size images do not fit one request once base64'd; three do.
        assert!(check_request(files(Kind::Image, 3, MAX_IMAGE_BYTES)).is_ok());
        assert!(matches!(
            check_request(files(Kind::Image, 4, MAX_IMAGE_BYTES)),
            Err(Refusal::OverBudget { .. })
        ));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(812), "812 bytes");
        assert_eq!(human_size(2048), "2 KB");
        assert_eq!(human_size(1536 * 1024), "1.5 MB");
        assert_eq!(human_size(MAX_DOCUMENT_BYTES), "4.5 MB");
        assert_eq!(human_size(REQUEST_BUDGET_BYTES), "13 MB");
    }

    #[test]
    fn served_types_never_let_a_browser_run_a_document() {
        for format in Format::ALL {
            let served = format.served_as();
            match format.kind() {
                Kind::Image => assert!(served.starts_with("image/") && !served.contains("svg")),
                Kind::Document => assert_eq!(served, "application/octet-stream", "{format:?}"),
            }
            assert_eq!(Format::parse(format.as_str()), Some(format));
        }
    }
}
