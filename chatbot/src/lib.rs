//! The chat web app the Bedrock Chatbot Operator deploys.
//!
//! The operator configures each chatbot task through environment variables; their
//! names and meaning live in [`config`], so the operator and the app share one
//! definition of that contract.

pub mod config;
