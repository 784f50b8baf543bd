//! The Bedrock Chatbot Operator: desired state of the AWS resources behind a
//! `ChatbotPlatform` and its `BedrockChatbot`s, the manifests they come from, and
//! the command line that plans them.

pub mod crd;
pub mod desired;
pub mod manifest;
pub mod plan;
