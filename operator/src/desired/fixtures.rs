//! Objects shared by the desired-state tests.

use bedrock_chatbot_crds::{BedrockChatbot, ChatbotPlatform};
use serde_json::json;

/// The reference architecture's platform: every default, us-west-2.
pub fn reference_platform() -> ChatbotPlatform {
    serde_json::from_value(json!({
        "apiVersion": "bedrock-chatbot.dev/v1alpha1",
        "kind": "ChatbotPlatform",
        "metadata": { "name": "shared" },
        "spec": {
            "region": "us-west-2",
            "loadBalancer": {
                "certificateArn": "arn:aws:acm:us-west-2:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef"
            }
        }
    }))
    .expect("reference platform deserializes")
}

/// A team's chatbot with every default, on [`reference_platform`].
pub fn reference_chatbot() -> BedrockChatbot {
    serde_json::from_value(json!({
        "apiVersion": "bedrock-chatbot.dev/v1alpha1",
        "kind": "BedrockChatbot",
        "metadata": { "name": "assistant", "namespace": "team-a" },
        "spec": {
            "platformRef": { "name": "shared" },
            "hostname": "chat.team-a.example.com"
        }
    }))
    .expect("reference chatbot deserializes")
}
