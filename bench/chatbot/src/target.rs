//! What the driver talks to, and how one question goes: the chatbot's
//! `POST /api/chat` (server-sent events) or the stand-in's `converse-stream`
//! (AWS event-stream frames).

use std::net::SocketAddr;
use std::time::Instant;

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::{Error, Result};

/// The model every question names (the reference's).
pub const MODEL_ID: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

/// Which protocol the target speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// The chatbot: `POST /api/chat` with the conversation's messages, server-sent
    /// events.
    Chatbot,
    /// The chatbot keeping history: `POST /api/chat` with the question and the id of
    /// the stored conversation it continues (from the `start` event of its first
    /// answer), server-sent events.
    ChatbotHistory,
    /// The Bedrock stand-in called directly: `converse-stream`, event-stream frames.
    Standin,
}

/// One turn of a conversation, as the chatbot's page sends it.
#[derive(Clone, Debug)]
pub struct Turn {
    /// `user` or `assistant`.
    pub role: &'static str,
    /// What was said.
    pub text: String,
}

/// A server to ask.
#[derive(Clone, Debug)]
pub struct Target {
    /// Its protocol.
    pub kind: Kind,
    /// Its address on loopback.
    pub addr: SocketAddr,
}

/// One keep-alive HTTP/1.1 connection.
#[derive(Debug)]
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

/// How one answer went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It arrived whole, with this many tokens.
    Finished {
        /// Tokens in the answer.
        tokens: usize,
    },
    /// The driver stopped reading after the first token (and dropped the connection).
    FirstTokenOnly,
}

impl Target {
    /// Opens a connection.
    pub async fn connect(&self) -> Result<Connection> {
        let url = self.addr.to_string();
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|source| Error::Connection {
                url: url.clone(),
                source,
            })?;
        stream
            .set_nodelay(true)
            .map_err(|source| Error::Connection { url, source })?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the connection closes; errors show up on the request side.
            let _ = connection.await;
        });
        Ok(Connection { sender })
    }

    /// The request that asks `history`'s last question (`id` names the answer;
    /// `stored`: the stored conversation it continues, for [`Kind::ChatbotHistory`]).
    pub fn request(
        &self,
        history: &[Turn],
        stored: Option<&str>,
        id: &str,
    ) -> Result<Request<Full<Bytes>>> {
        let (path, body) = match self.kind {
            Kind::ChatbotHistory => {
                let question = history.last().map_or("", |t| t.text.as_str());
                let mut body = json!({ "id": id, "question": question });
                if let Some(stored) = stored {
                    body["conversation"] = json!(stored);
                }
                ("/api/chat".to_string(), body)
            }
            Kind::Chatbot => {
                let messages: Vec<Value> = history
                    .iter()
                    .map(|t| json!({ "role": t.role, "text": t.text }))
                    .collect();
                (
                    "/api/chat".to_string(),
                    json!({ "id": id, "messages": messages }),
                )
            }
            Kind::Standin => {
                let messages: Vec<Value> = history
                    .iter()
                    .map(|t| json!({ "role": t.role, "content": [{ "text": t.text }] }))
                    .collect();
                (
                    format!("/model/{MODEL_ID}/converse-stream"),
                    json!({
                        "messages": messages,
                        "inferenceConfig": { "temperature": 0.9, "maxTokens": 2000, "topP": 1.0 },
                    }),
                )
            }
        };
        Ok(Request::post(path)
            .header(header::HOST, self.addr.to_string())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "text/event-stream")
            .body(Full::new(Bytes::from(body.to_string())))?)
    }

    /// Sends `request` on `connection` and reads the answer, calling
    /// `on_update(arrival, new_tokens)` for every read that brought tokens. With
    /// `first_token_only` it stops after the first. `stored` gets the id of the
    /// stored conversation the answer's `start` event names.
    pub async fn ask(
        &self,
        connection: &mut Connection,
        request: Request<Full<Bytes>>,
        first_token_only: bool,
        stored: &mut Option<String>,
        mut on_update: impl FnMut(Instant, usize),
    ) -> Result<Outcome> {
        connection.sender.ready().await?;
        let response = connection.sender.send_request(request).await?;
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let bytes = body.collect().await?.to_bytes();
            return Err(Error::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
            });
        }
        let mut decoder = Decoder::new(self.kind);
        let mut tokens = 0;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            let arrived = Instant::now();
            let progress = decoder.feed(&data)?;
            if progress.conversation.is_some() {
                *stored = progress.conversation;
            }
            if progress.not_created {
                *stored = None;
            }
            if progress.tokens > 0 {
                tokens += progress.tokens;
                on_update(arrived, progress.tokens);
                if first_token_only {
                    return Ok(Outcome::FirstTokenOnly);
                }
            }
            if progress.finished {
                return Ok(Outcome::Finished { tokens });
            }
        }
        Err(Error::Truncated { tokens })
    }
}

/// What one read of the body brought.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Tokens (words) of answer text.
    pub tokens: usize,
    /// The answer's last event arrived.
    pub finished: bool,
    /// The stored conversation the `start` event named.
    pub conversation: Option<String>,
    /// A `history` event said that conversation was not created after all (its
    /// question could not be saved): the next question starts a new one.
    pub not_created: bool,
}

/// Cuts a response body into events, however the reads split it.
#[derive(Debug)]
pub enum Decoder {
    /// Server-sent events: blocks separated by a blank line.
    Sse {
        /// Bytes of an unfinished block.
        pending: BytesMut,
    },
    /// AWS event-stream frames.
    Frames {
        /// Unfinished frame bytes.
        pending: BytesMut,
        /// The frame decoder (keeps a prelude across reads).
        decoder: MessageFrameDecoder,
    },
}

impl Decoder {
    /// A decoder for `kind`'s answers.
    pub fn new(kind: Kind) -> Self {
        match kind {
            Kind::Chatbot | Kind::ChatbotHistory => Self::Sse {
                pending: BytesMut::new(),
            },
            Kind::Standin => Self::Frames {
                pending: BytesMut::new(),
                decoder: MessageFrameDecoder::new(),
            },
        }
    }

    /// Takes one read's bytes; says what complete events they finished.
    pub fn feed(&mut self, data: &[u8]) -> Result<Progress> {
        let mut progress = Progress::default();
        match self {
            Self::Sse { pending } => {
                pending.extend_from_slice(data);
                while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
                    let block = pending.split_to(end + 2);
                    sse_event(&block, &mut progress)?;
                }
            }
            Self::Frames { pending, decoder } => {
                pending.extend_from_slice(data);
                loop {
                    match decoder.decode_frame(&mut *pending) {
                        Ok(DecodedFrame::Complete(message)) => {
                            frame_event(&message, &mut progress)?
                        }
                        Ok(DecodedFrame::Incomplete) => break,
                        Err(e) => return Err(Error::Frame(e.to_string())),
                    }
                }
                if !pending.has_remaining() {
                    pending.clear();
                }
            }
        }
        Ok(progress)
    }
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

fn sse_event(block: &[u8], progress: &mut Progress) -> Result<()> {
    let block = String::from_utf8_lossy(block);
    let field = |name: &str| {
        block
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim_start)
    };
    let data = field("data:").unwrap_or_default();
    match field("event:") {
        Some("delta") => {
            let value: Value = serde_json::from_str(data)
                .map_err(|e| Error::Answer(format!("unreadable delta {data:?}: {e}")))?;
            progress.tokens += value.get("text").and_then(Value::as_str).map_or(0, words);
        }
        Some("start") => {
            let value: Value = serde_json::from_str(data)
                .map_err(|e| Error::Answer(format!("unreadable start {data:?}: {e}")))?;
            progress.conversation = value
                .get("conversation")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        Some("history") => {
            let value: Value = serde_json::from_str(data)
                .map_err(|e| Error::Answer(format!("unreadable history {data:?}: {e}")))?;
            progress.not_created = value.get("conversation").is_some_and(Value::is_null);
        }
        Some("done") => progress.finished = true,
        Some("error") => return Err(Error::Answer(data.to_string())),
        // Keep-alive comments.
        _ => {}
    }
    Ok(())
}

fn frame_event(message: &Message, progress: &mut Progress) -> Result<()> {
    let header = |name: &str| {
        message.headers().iter().find_map(|h| match h.value() {
            HeaderValue::String(s) if h.name().as_str() == name => Some(s.as_str().to_string()),
            _ => None,
        })
    };
    if header(":message-type").as_deref() != Some("event") {
        return Err(Error::Answer(
            String::from_utf8_lossy(message.payload()).into_owned(),
        ));
    }
    match header(":event-type").as_deref() {
        Some("contentBlockDelta") => {
            let value: Value = serde_json::from_slice(message.payload())
                .map_err(|e| Error::Frame(e.to_string()))?;
            progress.tokens += value
                .pointer("/delta/text")
                .and_then(Value::as_str)
                .map_or(0, words);
        }
        Some("metadata") => progress.finished = true,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_sent_events_split_anywhere_still_count() {
        let body = "event: start\ndata: {\"model\":\"m\",\"dropped\":0}\n\n\
                    event: delta\ndata: {\"text\":\"Hello \"}\n\n\
                    : keep-alive\n\n\
                    event: delta\ndata: {\"text\":\"big world\"}\n\n\
                    event: done\ndata: {\"stopReason\":\"end_turn\"}\n\n";
        for cut in 1..body.len() {
            let mut decoder = Decoder::new(Kind::Chatbot);
            let a = decoder.feed(&body.as_bytes()[..cut]).unwrap();
            let b = decoder.feed(&body.as_bytes()[cut..]).unwrap();
            assert_eq!(a.tokens + b.tokens, 3, "cut at {cut}");
            assert!(!a.finished && b.finished, "cut at {cut}");
        }
    }

    #[test]
    fn an_error_event_fails_the_answer() {
        let mut decoder = Decoder::new(Kind::Chatbot);
        let err = decoder
            .feed(b"event: error\ndata: {\"kind\":\"throttled\"}\n\n")
            .unwrap_err();
        assert!(err.to_string().contains("throttled"), "{err}");
    }

    #[test]
    fn keeping_history_the_question_goes_with_the_stored_conversation_start_named() {
        let mut decoder = Decoder::new(Kind::ChatbotHistory);
        let progress = decoder
            .feed(b"event: start\ndata: {\"conversation\":\"c1\",\"dropped\":0}\n\n")
            .unwrap();
        assert_eq!(progress.conversation.as_deref(), Some("c1"));
        let lost = decoder
            .feed(b"event: history\ndata: {\"saving\":false,\"conversation\":null}\n\n")
            .unwrap();
        assert!(lost.not_created);
        let stopped = decoder
            .feed(b"event: history\ndata: {\"saving\":false}\n\n")
            .unwrap();
        assert!(
            !stopped.not_created,
            "saving stopped, the conversation exists"
        );
        let history = [
            Turn {
                role: "user",
                text: "first".into(),
            },
            Turn {
                role: "assistant",
                text: "answer".into(),
            },
            Turn {
                role: "user",
                text: "second".into(),
            },
        ];
        let target = Target {
            kind: Kind::ChatbotHistory,
            addr: "127.0.0.1:9".parse().unwrap(),
        };
        let body = |stored| {
            let request = target.request(&history, stored, "q2").unwrap();
            let bytes = futures_body(request);
            serde_json::from_slice::<Value>(&bytes).unwrap()
        };
        assert_eq!(
            body(Some("c1")),
            json!({ "id": "q2", "question": "second", "conversation": "c1" })
        );
        assert_eq!(body(None), json!({ "id": "q2", "question": "second" }));
    }

    fn futures_body(request: Request<Full<Bytes>>) -> Bytes {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(request.into_body().collect())
            .unwrap()
            .to_bytes()
    }

    #[test]
    fn the_request_is_what_each_side_expects() {
        let history = [Turn {
            role: "user",
            text: "hi".into(),
        }];
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let chatbot = Target {
            kind: Kind::Chatbot,
            addr,
        }
        .request(&history, None, "q1")
        .unwrap();
        assert_eq!(chatbot.uri().path(), "/api/chat");
        let standin = Target {
            kind: Kind::Standin,
            addr,
        }
        .request(&history, None, "q1")
        .unwrap();
        assert_eq!(
            standin.uri().path(),
            format!("/model/{MODEL_ID}/converse-stream")
        );
    }
}
