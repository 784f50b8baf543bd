//! The chat web app the Bedrock Chatbot Operator deploys.
//!
//! The operator configures each chatbot task through environment variables; their
//! names and meaning live in [`config`], so the operator and the app share one
//! definition of that contract. Everything else — the axum server, ALB token
//! verification, ConverseStream, the embedded UI — is behind the default `server`
//! feature, which the operator turns off.

pub mod config;
pub mod history_table;

#[cfg(feature = "server")]
pub mod app;
#[cfg(feature = "server")]
pub mod attachments;
#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod bedrock;
#[cfg(feature = "server")]
pub mod chat;
#[cfg(feature = "server")]
pub mod conversation;
#[cfg(feature = "server")]
mod error;
#[cfg(feature = "server")]
pub mod health;
#[cfg(feature = "server")]
pub mod healthcheck;
#[cfg(feature = "server")]
pub mod history;
#[cfg(feature = "server")]
pub mod limits;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod ui;

#[cfg(feature = "server")]
pub use app::{AppState, app, serve};
#[cfg(feature = "server")]
pub use error::{Error, ErrorKind, Result};
