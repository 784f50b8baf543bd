//! The load driver of the chatbot benchmark (`bench/chatbot/run-part`).
//!
//! It asks questions the way the chatbot's own page does — `POST /api/chat` with the
//! conversation so far, reading the answer's server-sent events — or calls the Bedrock
//! stand-in's `converse-stream` directly, reading its event-stream frames, which is the
//! baseline for "added time to first token". Virtual users ask one question after the
//! other on their own keep-alive connection ([`load::run`]); only what happens inside
//! the measurement window is counted. The reference Streamlit app has its own driver
//! in Python (`reference/driver.py`) that prints the same [`load::Summary`].
//!
//! Nothing here asserts a timing: the driver measures and prints JSON.

pub mod load;
pub mod stats;
pub mod target;

/// What can go wrong for one question.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connecting, sending or reading failed.
    #[error("connection to {url}: {source}")]
    Connection {
        /// Where.
        url: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built.
    #[error("request: {0}")]
    Request(#[from] hyper::http::Error),
    /// The answer was refused.
    #[error("HTTP status {status}: {body}")]
    Status {
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer ended with an error event or frame.
    #[error("the answer failed: {0}")]
    Answer(String),
    /// The stream broke off before the answer's end.
    #[error("the stream ended after {tokens} tokens without finishing")]
    Truncated {
        /// Tokens received.
        tokens: usize,
    },
    /// An event-stream frame could not be decoded.
    #[error("event stream: {0}")]
    Frame(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
