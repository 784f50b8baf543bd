#![allow(clippy::unwrap_used)]
//! The real `aws-sdk-bedrockruntime` client against the stand-in: if the SDK parses
//! what the stand-in sends, the stand-in speaks Bedrock's wire protocol.

use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::SdkError;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput,
    InferenceConfiguration, Message, StopReason, SystemContentBlock, TokenUsage,
};
use bedrock_standin::{Fault, Operation, Reply, StandIn};

mod support;

use support::{MODEL, client, user};

fn assistant(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::Assistant)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

/// What one ConverseStream call produced, event by event.
#[derive(Debug, Default)]
struct Streamed {
    deltas: Vec<String>,
    stop_reason: Option<StopReason>,
    usage: Option<TokenUsage>,
    error: Option<SdkError<ConverseStreamOutputError, aws_smithy_types::event_stream::RawMessage>>,
}

async fn ask(client: &Client, messages: Vec<Message>) -> Result<Streamed, ConverseStreamError> {
    let output = client
        .converse_stream()
        .model_id(MODEL)
        .set_messages(Some(messages))
        .system(SystemContentBlock::Text("Be brief.".into()))
        .inference_config(
            InferenceConfiguration::builder()
                .temperature(0.9)
                .max_tokens(2000)
                .top_p(1.0)
                .build(),
        )
        .send()
        .await
        .map_err(SdkError::into_service_error)?;
    let mut stream = output.stream;
    let mut streamed = Streamed::default();
    loop {
        match stream.recv().await {
            Ok(Some(ConverseStreamOutput::ContentBlockDelta(event))) => {
                if let Some(ContentBlockDelta::Text(text)) = event.delta {
                    streamed.deltas.push(text);
                }
            }
            Ok(Some(ConverseStreamOutput::MessageStop(event))) => {
                streamed.stop_reason = Some(event.stop_reason);
            }
            Ok(Some(ConverseStreamOutput::Metadata(event))) => streamed.usage = event.usage,
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                streamed.error = Some(e);
                break;
            }
        }
    }
    Ok(streamed)
}

#[tokio::test]
async fn streams_the_answer_delta_by_delta_with_usage() {
    let standin = StandIn::start(0, Reply::echo()).await.unwrap();
    let text = "Rust is a **systems** language.\n\nIt is fast.";
    standin.state().push_reply(Reply::text(text));
    let client = client(&standin, 1).await;

    let streamed = ask(&client, vec![user("What is Rust?")]).await.unwrap();

    assert!(streamed.error.is_none(), "{:?}", streamed.error);
    assert!(streamed.deltas.len() > 3, "{:?}", streamed.deltas);
    assert_eq!(streamed.deltas.concat(), text);
    assert_eq!(streamed.stop_reason, Some(StopReason::EndTurn));
    let usage = streamed.usage.unwrap();
    assert_eq!(
        usage.output_tokens,
        i32::try_from(streamed.deltas.len()).unwrap()
    );
    // "What is Rust?" + "Be brief." = 22 characters, a token per four.
    assert_eq!(usage.input_tokens, 6);
    assert_eq!(usage.total_tokens, usage.input_tokens + usage.output_tokens);
    assert_eq!(standin.state().streams_finished(), 1);
}

#[tokio::test]
async fn records_the_model_and_inference_parameters_sent() {
    let standin = StandIn::start(0, Reply::text("ok")).await.unwrap();
    let client = client(&standin, 1).await;

    let history = vec![user("first"), assistant("an answer"), user("second")];
    ask(&client, history).await.unwrap();

    let requests = standin.state().requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.operation, Operation::ConverseStream);
    // The SDK percent-encodes the colon in the path; the stand-in decodes it.
    assert_eq!(request.model_id, MODEL);
    assert!((request.inference("temperature").unwrap() - 0.9).abs() < 1e-6);
    assert_eq!(request.inference("maxTokens"), Some(2000.0));
    assert!((request.inference("topP").unwrap() - 1.0).abs() < 1e-6);
    assert_eq!(request.system_text().as_deref(), Some("Be brief."));
    assert_eq!(
        request.messages(),
        vec![
            ("user".into(), "first".into()),
            ("assistant".into(), "an answer".into()),
            ("user".into(), "second".into()),
        ]
    );
    let authorization = request.authorization.as_deref().unwrap();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDSTANDIN/")
            && authorization.contains("/us-west-2/bedrock/aws4_request"),
        "{authorization}"
    );
}

#[tokio::test]
async fn converse_without_streaming_returns_the_whole_answer() {
    let standin = StandIn::start(0, Reply::text("All at once."))
        .await
        .unwrap();
    let client = client(&standin, 1).await;

    let output = client
        .converse()
        .model_id(MODEL)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();

    let message = output.output.unwrap().as_message().unwrap().clone();
    assert_eq!(message.role, ConversationRole::Assistant);
    assert_eq!(message.content[0].as_text().unwrap(), "All at once.");
    assert_eq!(output.stop_reason, StopReason::EndTurn);
    assert_eq!(output.usage.unwrap().output_tokens, 3);
    assert_eq!(standin.state().requests()[0].operation, Operation::Converse);
}

#[tokio::test]
async fn throttling_before_the_stream_is_a_throttling_exception() {
    let standin = StandIn::start(0, Reply::fault(Fault::Throttling))
        .await
        .unwrap();
    let client = client(&standin, 1).await;

    let err = ask(&client, vec![user("hi")]).await.unwrap_err();

    let ConverseStreamError::ThrottlingException(e) = err else {
        panic!("expected throttling, got {err:?}");
    };
    assert_eq!(
        e.message(),
        Some("Too many requests, please wait before trying again.")
    );
    assert_eq!(standin.state().streams_started(), 0);
}

#[tokio::test]
async fn the_sdk_retries_a_single_throttle_and_then_streams() {
    let standin = StandIn::start(0, Reply::text("second time lucky"))
        .await
        .unwrap();
    standin.state().push_reply(Reply::fault(Fault::Throttling));
    let client = client(&standin, 3).await;

    let streamed = ask(&client, vec![user("hi")]).await.unwrap();

    assert_eq!(streamed.deltas.concat(), "second time lucky");
    assert_eq!(standin.state().requests().len(), 2);
}

#[tokio::test]
async fn faults_before_the_stream_map_to_the_modelled_errors() {
    let standin = StandIn::start(0, Reply::echo()).await.unwrap();
    let client = client(&standin, 1).await;
    type Expected = fn(&ConverseStreamError) -> bool;
    let cases: Vec<(Fault, Expected)> = vec![
        (Fault::AccessDenied, |e| {
            matches!(e, ConverseStreamError::AccessDeniedException(_))
        }),
        (Fault::InternalServer, |e| {
            matches!(e, ConverseStreamError::InternalServerException(_))
        }),
        (Fault::ServiceUnavailable, |e| {
            matches!(e, ConverseStreamError::ServiceUnavailableException(_))
        }),
        (
            Fault::Validation {
                message: "Input is too long for requested model.".into(),
            },
            |e| {
                matches!(e, ConverseStreamError::ValidationException(v)
                    if v.message() == Some("Input is too long for requested model."))
            },
        ),
    ];
    for (fault, expected) in cases {
        standin.state().push_reply(Reply::fault(fault.clone()));
        let err = ask(&client, vec![user("hi")]).await.unwrap_err();
        assert!(expected(&err), "{fault:?} gave {err:?}");
    }
}

#[tokio::test]
async fn a_model_stream_error_arrives_mid_stream_after_the_first_deltas() {
    let standin = StandIn::start(0, Reply::echo()).await.unwrap();
    standin.state().push_reply(
        Reply::text("one two three four five six")
            .failing(Fault::ModelStreamError { after_tokens: 3 }),
    );
    let client = client(&standin, 1).await;

    let streamed = ask(&client, vec![user("hi")]).await.unwrap();

    assert_eq!(streamed.deltas, vec!["one ", "two ", "three "]);
    let err = streamed.error.unwrap().into_service_error();
    assert!(
        matches!(err, ConverseStreamOutputError::ModelStreamErrorException(ref e)
            if e.original_status_code == Some(500)),
        "{err:?}"
    );
    assert!(streamed.stop_reason.is_none());
}

#[tokio::test]
async fn bedrock_validation_catches_a_malformed_history() {
    let standin = StandIn::start(0, Reply::echo()).await.unwrap();
    let client = client(&standin, 1).await;

    let err = ask(&client, vec![user("a"), user("b")]).await.unwrap_err();

    assert!(
        matches!(&err, ConverseStreamError::ValidationException(v)
            if v.message().is_some_and(|m| m.contains("alternate"))),
        "{err:?}"
    );
}

#[tokio::test]
async fn max_tokens_cuts_the_answer_short() {
    let standin = StandIn::start(0, Reply::text("a b c d e f g"))
        .await
        .unwrap();
    let client = client(&standin, 1).await;

    let output = client
        .converse_stream()
        .model_id(MODEL)
        .messages(user("hi"))
        .inference_config(InferenceConfiguration::builder().max_tokens(3).build())
        .send()
        .await
        .unwrap();
    let mut stream = output.stream;
    let mut deltas = 0;
    let mut stop = None;
    while let Some(event) = stream.recv().await.unwrap() {
        match event {
            ConverseStreamOutput::ContentBlockDelta(_) => deltas += 1,
            ConverseStreamOutput::MessageStop(e) => stop = Some(e.stop_reason),
            _ => {}
        }
    }

    assert_eq!(deltas, 3);
    assert_eq!(stop, Some(StopReason::MaxTokens));
}

#[tokio::test]
async fn a_slow_first_token_still_streams() {
    let delay = Duration::from_millis(300);
    let standin = StandIn::start(0, Reply::text("late but whole").first_token_after(delay))
        .await
        .unwrap();
    let client = client(&standin, 1).await;

    let started = Instant::now();
    let streamed = ask(&client, vec![user("hi")]).await.unwrap();

    assert!(started.elapsed() >= delay);
    assert_eq!(streamed.deltas.concat(), "late but whole");
}

#[tokio::test]
async fn dropping_the_stream_abandons_it_at_the_stand_in() {
    let long = "word ".repeat(500);
    let standin = StandIn::start(0, Reply::text(long).paced(Duration::from_millis(10)))
        .await
        .unwrap();
    let client = client(&standin, 1).await;

    let output = client
        .converse_stream()
        .model_id(MODEL)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    let mut stream = output.stream;
    let mut deltas = 0;
    while deltas < 3 {
        if let Some(ConverseStreamOutput::ContentBlockDelta(_)) = stream.recv().await.unwrap() {
            deltas += 1;
        }
    }
    drop(stream);
    drop(client);

    let state = standin.state().clone();
    wait_until(|| state.streams_abandoned() == 1).await;
    assert_eq!(state.streams_finished(), 0);
}

/// Polls `done` until it holds; panics after a generous ceiling (not a timing assert:
/// the event is expected within milliseconds).
async fn wait_until(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "condition never held");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn directives_let_a_person_ask_for_a_fault() {
    let standin = StandIn::start(0, Reply::echo()).await.unwrap();
    let client = client(&standin, 1).await;

    let err = ask(&client, vec![user("[standin:access-denied]")])
        .await
        .unwrap_err();
    assert!(matches!(err, ConverseStreamError::AccessDeniedException(_)));

    let streamed = ask(&client, vec![user("hello")]).await.unwrap();
    let answer = streamed.deltas.concat();
    assert!(answer.contains("local Bedrock stand-in"), "{answer}");
    assert!(answer.contains("> hello"), "{answer}");
}

#[tokio::test]
async fn a_claude_model_that_takes_one_sampling_setting_refuses_temperature_with_top_p() {
    let standin = StandIn::start(0, Reply::text("ok")).await.unwrap();
    let client = client(&standin, 1).await;
    let send = |model: &'static str, top_p: Option<f32>| {
        client
            .converse_stream()
            .model_id(model)
            .messages(user("hi"))
            .inference_config(
                InferenceConfiguration::builder()
                    .temperature(0.9)
                    .set_top_p(top_p)
                    .build(),
            )
            .send()
    };

    let err = send("us.anthropic.claude-sonnet-4-5-20250929-v1:0", Some(0.8))
        .await
        .map_err(SdkError::into_service_error)
        .unwrap_err();
    assert!(
        matches!(&err, ConverseStreamError::ValidationException(v)
            if v.message() == Some(bedrock_standin::TEMPERATURE_WITH_TOP_P)),
        "{err:?}"
    );
    assert_eq!(standin.state().streams_started(), 0);

    // Temperature alone is what such a model takes; Sonnet 4 takes both.
    send("us.anthropic.claude-sonnet-4-5-20250929-v1:0", None)
        .await
        .unwrap();
    send(MODEL, Some(0.8)).await.unwrap();
    assert_eq!(standin.state().streams_started(), 2);
}

#[tokio::test]
async fn a_model_the_account_has_not_subscribed_to_is_access_denied_naming_the_marketplace() {
    let standin = StandIn::start(0, Reply::fault(Fault::ModelNotSubscribed))
        .await
        .unwrap();
    let client = client(&standin, 1).await;

    let err = ask(&client, vec![user("hi")]).await.unwrap_err();

    let ConverseStreamError::AccessDeniedException(e) = err else {
        panic!("expected access denied, got {err:?}");
    };
    let message = e.message().unwrap();
    assert_eq!(message, bedrock_standin::MARKETPLACE_ACCESS_DENIED);
    assert!(
        message.contains("aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe"),
        "{message}"
    );
    assert_eq!(standin.state().streams_started(), 0);

    // By hand, from a browser: a directive in the question.
    standin.state().set_default(Reply::echo());
    let err = ask(&client, vec![user("hello [standin:not-subscribed]")])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConverseStreamError::AccessDeniedException(e)
            if e.message() == Some(bedrock_standin::MARKETPLACE_ACCESS_DENIED)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_as_bedrock_refuses_it_and_the_next_request_is_served() {
    let standin = StandIn::start(0, Reply::text("ok")).await.unwrap();
    let client = client(&standin, 1).await;
    let huge = "a".repeat(bedrock_standin::MAX_BODY_BYTES + 1);

    let err = client
        .converse()
        .model_id(MODEL)
        .messages(user(&huge))
        .send()
        .await
        .map_err(SdkError::into_service_error)
        .unwrap_err();

    assert!(
        matches!(&err, ConverseError::ValidationException(v)
            if v.message() == Some(bedrock_standin::INPUT_TOO_LONG)),
        "{err:?}"
    );
    let output = client
        .converse()
        .model_id(MODEL)
        .messages(user("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(output.stop_reason, StopReason::EndTurn);
}
