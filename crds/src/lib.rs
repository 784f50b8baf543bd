//! Custom resources of the Bedrock Chatbot Operator, group `bedrock-chatbot.dev`,
//! version `v1alpha1`.
//!
//! - [`ChatbotPlatform`] (cluster-scoped): what every team shares — network, load
//!   balancer, ECS cluster, the private Bedrock endpoint.
//! - [`BedrockChatbot`] (namespaced): one team's chatbot on a platform — Cognito user
//!   pool, listener rule, target group, task role, ECS service.
//!
//! The types carry their own validation: schema bounds and CEL rules end up in the
//! CRD, so the API server rejects what the controller could never build.

// `#[kube(printcolumn(...))]` repeats `type_ = …` by design; clippy reads that as a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

mod chatbot;
mod common;
mod platform;

pub use chatbot::*;
pub use common::*;
pub use platform::*;

/// API group of both custom resources.
pub const GROUP: &str = "bedrock-chatbot.dev";
/// API version of both custom resources.
pub const VERSION: &str = "v1alpha1";
