//! What the stand-in's SDK tests share: a real `aws-sdk-bedrockruntime` client pointed
//! at a stand-in, and the model they ask.

use aws_config::BehaviorVersion;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::Credentials;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use bedrock_standin::StandIn;

/// The chatbot's default model: Claude Sonnet 4, through the US inference profile.
pub const MODEL: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

/// A client of the stand-in with static test credentials, making at most `attempts`
/// attempts per call.
pub async fn client(standin: &StandIn, attempts: u32) -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region("us-west-2")
        .endpoint_url(standin.endpoint_url())
        .credentials_provider(Credentials::new(
            "AKIDSTANDIN",
            "secret",
            None,
            None,
            "test",
        ))
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .load()
        .await;
    Client::new(&config)
}

/// A user message of one text block.
pub fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .expect("a role and content make a message")
}
