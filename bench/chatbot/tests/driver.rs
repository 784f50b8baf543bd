#![allow(clippy::unwrap_used)]
//! The driver against the real Bedrock stand-in and the real chatbot (in process, dev
//! identity): it counts whole answers, their tokens, and every failure a user would see.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::Credentials;
use bedrock_chatbot::auth::{Authenticator, Identity};
use bedrock_chatbot::bedrock::Bedrock;
use bedrock_chatbot::config::{self, Config};
use bedrock_standin::{Fault, Reply, StandIn};
use bench_chatbot::load::{self, Settings};
use bench_chatbot::target::{Kind, Target};

const ANSWER: &str = "one two three four five";

async fn chatbot(standin: &StandIn) -> Target {
    let config = Config::from_lookup(|name| match name {
        config::ENV_MAX_STREAMS_PER_USER => Some("100".into()),
        config::ENV_RATE_PER_MINUTE => Some("100000".into()),
        _ => config::local_default(name).map(str::to_string),
    })
    .unwrap();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region("us-west-2")
        .endpoint_url(standin.endpoint_url())
        .credentials_provider(Credentials::new("AKIDBENCH", "secret", None, None, "test"))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await;
    let bedrock = Bedrock::new(
        aws_sdk_bedrockruntime::Client::new(&sdk),
        config.model.clone(),
    );
    let auth = Authenticator::Dev(Identity {
        subject: "dev:bench@example.com".into(),
        name: "bench@example.com".into(),
    });
    let listener = bedrock_chatbot::app::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = bedrock_chatbot::AppState::new(config, auth, bedrock);
    tokio::spawn(bedrock_chatbot::serve(
        state,
        listener,
        std::future::pending(),
    ));
    Target {
        kind: Kind::Chatbot,
        addr,
    }
}

fn standin_target(standin: &StandIn) -> Target {
    Target {
        kind: Kind::Standin,
        addr: standin.addr(),
    }
}

#[tokio::test]
async fn counts_whole_answers_from_the_stand_in_and_through_the_chatbot() {
    let standin = StandIn::start(0, Reply::text(ANSWER)).await.unwrap();
    let chatbot = chatbot(&standin).await;
    for target in [standin_target(&standin), chatbot] {
        let summary = load::sequential(&target, 3, 5, false, 1).await;
        assert_eq!(
            summary.errors, 0,
            "{:?}: {:?}",
            target.kind, summary.error_samples
        );
        assert_eq!(summary.answers, 3);
        assert_eq!(summary.ttft_ms.n, 3);

        let first_only = load::sequential(&target, 2, 5, true, 1).await;
        assert_eq!((first_only.answers, first_only.errors), (2, 0));
    }
}

#[tokio::test]
async fn a_short_answer_is_an_error() {
    let standin = StandIn::start(0, Reply::text(ANSWER)).await.unwrap();
    let summary = load::sequential(&standin_target(&standin), 1, 6, false, 1).await;
    assert_eq!((summary.answers, summary.errors), (0, 1));
    assert!(summary.error_samples[0].contains("expected 6 tokens"));
}

#[tokio::test]
async fn failures_the_user_sees_are_counted() {
    let standin = StandIn::start(0, Reply::text(ANSWER)).await.unwrap();
    let chatbot = chatbot(&standin).await;
    standin
        .state()
        .push_reply(Reply::fault(Fault::AccessDenied));
    standin
        .state()
        .push_reply(Reply::text(ANSWER).failing(Fault::ModelStreamError { after_tokens: 2 }));
    let summary = load::sequential(&chatbot, 3, 5, false, 1).await;
    assert_eq!(
        (summary.answers, summary.errors),
        (1, 2),
        "{:?}",
        summary.error_samples
    );
    assert!(summary.error_samples[0].contains("HTTP status 403"));
    assert!(summary.error_samples[1].contains("the answer failed"));
}

#[tokio::test]
async fn virtual_users_keep_their_conversation_and_count_only_the_window() {
    let standin = StandIn::start(0, Reply::text(ANSWER)).await.unwrap();
    let chatbot = chatbot(&standin).await;
    let settings = Settings {
        concurrency: 4,
        ramp: Duration::ZERO,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(2),
        tokens: 5,
        turns_per_conversation: 0,
    };
    let summary = load::run(&chatbot, &settings).await;
    assert_eq!(summary.errors, 0, "{:?}", summary.error_samples);
    assert!(summary.answers >= 1, "{summary:?}");
    assert!(summary.window_epoch[1] > summary.window_epoch[0]);
    // Every later question carried the conversation so far.
    let longest = standin
        .state()
        .requests()
        .iter()
        .map(|r| r.messages().len())
        .max()
        .unwrap();
    assert!(longest >= 3, "{longest}");
}

#[tokio::test]
async fn a_user_starts_a_new_conversation_after_so_many_answers() {
    let standin = StandIn::start(0, Reply::text(ANSWER)).await.unwrap();
    let chatbot = chatbot(&standin).await;
    let settings = Settings {
        concurrency: 2,
        ramp: Duration::ZERO,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(1),
        tokens: 5,
        turns_per_conversation: 2,
    };
    let summary = load::run(&chatbot, &settings).await;
    assert_eq!(summary.errors, 0, "{:?}", summary.error_samples);
    let requests = standin.state().requests();
    let lengths: Vec<usize> = requests.iter().map(|r| r.messages().len()).collect();
    // Questions 1 and 2 of each conversation, then a fresh one.
    assert!(lengths.iter().all(|&n| n == 1 || n == 3), "{lengths:?}");
    assert!(
        lengths.iter().filter(|&&n| n == 1).count() >= 4,
        "{lengths:?}"
    );
}
