#![allow(clippy::unwrap_used)]
//! The chat API through the real handlers and the real SDK client, against the
//! Bedrock stand-in: streaming, parameters, history, each fault, stop, disconnect,
//! limits, hardening and probes.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use bedrock_standin::{Fault, Reply};
use serde_json::json;
use support::*;
use tower::ServiceExt;

#[tokio::test]
async fn streams_the_answer_as_server_sent_events() {
    let world = World::new(&[]).await;
    let answer = "# Title\n\nSome **bold** text and `code`.";
    world.standin.state().push_reply(Reply::text(answer));

    let response = world.ask("a1", "Hello?").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let events = SseReader::new(response).all().await;
    assert_eq!(events[0].event, "start");
    assert_eq!(events[0].data["model"], MODEL);
    assert!(events.iter().filter(|e| e.event == "delta").count() > 3);
    assert_eq!(text_of(&events), answer);
    let done = events.last().unwrap();
    assert_eq!(done.event, "done");
    assert_eq!(done.data["stopReason"], "end_turn");
    assert!(done.data["usage"]["outputTokens"].as_u64().unwrap() > 3);
    assert!(done.data["usage"]["inputTokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn sends_the_configured_model_parameters_and_the_whole_history() {
    let world = World::new(&[]).await;
    let body = json!({ "id": "a2", "messages": [
        { "role": "user", "text": "first question" },
        { "role": "assistant", "text": "first answer" },
        { "role": "user", "text": "second question" },
    ]});
    let response = world
        .app()
        .oneshot(signed("POST", "/api/chat", Some(body)))
        .await
        .unwrap();
    SseReader::new(response).all().await;

    let requests = world.standin.state().requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.model_id, MODEL);
    assert!((sent.inference("temperature").unwrap() - 0.9).abs() < 1e-6);
    assert_eq!(sent.inference("maxTokens"), Some(2000.0));
    // 1.0, the neutral value, is not sent: newer Claude models refuse `topP` next to
    // `temperature`.
    assert_eq!(sent.inference("topP"), None);
    assert_eq!(
        sent.system_text().as_deref(),
        Some("You are the team's assistant.")
    );
    assert_eq!(sent.messages().len(), 3);
    assert_eq!(
        sent.messages()[2],
        ("user".into(), "second question".into())
    );
}

/// Asks `turns` (alternating, from the user) as the browser sends them; the events.
async fn converse_with(world: &World, id: &str, turns: &[&str]) -> Vec<SseEvent> {
    let messages: Vec<serde_json::Value> = turns
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            json!({ "role": role, "text": text })
        })
        .collect();
    let response = world
        .app()
        .oneshot(signed(
            "POST",
            "/api/chat",
            Some(json!({ "id": id, "messages": messages })),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    SseReader::new(response).all().await
}

#[tokio::test]
async fn prompt_caching_marks_the_system_prompt_and_the_last_answer_and_reports_the_cache() {
    // A system prompt long enough to be worth caching.
    let prompt = "Answer as the team's assistant, briefly. ".repeat(120);
    let world = World::new(&[("CHATBOT_SYSTEM_PROMPT", prompt.as_str())]).await;
    let first = converse_with(&world, "c1", &["first question"]).await;
    let usage = &first.last().unwrap().data["usage"];
    assert!(
        usage["cacheWriteInputTokens"].as_u64().unwrap() > 0,
        "{usage}"
    );
    assert!(usage.get("cacheReadInputTokens").is_none(), "{usage}");

    let second = converse_with(
        &world,
        "c2",
        &["first question", "first answer", "second question"],
    )
    .await;
    let requests = world.standin.state().requests();
    assert_eq!(requests[0].cache_points(), ["system"]);
    // The conversation up to its last answer is the next question's stable prefix.
    assert_eq!(requests[1].cache_points(), ["system", "1"]);
    let usage = &second.last().unwrap().data["usage"];
    let read = usage["cacheReadInputTokens"].as_u64().unwrap();
    assert!(
        read > 0,
        "the system prompt is read from the cache: {usage}"
    );
    assert!(usage["inputTokens"].as_u64().unwrap() < read, "{usage}");
    // The metrics count the cache's tokens apart from the input's.
    let metrics = world.state.metrics.render();
    assert!(
        metrics.contains(&format!(
            "chatbot_tokens_total{{direction=\"cache_read\"}} {read}"
        )),
        "{metrics}"
    );
}

/// The chatbot marks cache points for exactly the models the stand-in (AWS's list, in
/// its own tests) caches prompts of: no request of ours is refused for a cache point,
/// and no model that caches goes without.
#[test]
fn the_models_given_cache_points_are_those_bedrock_caches_for() {
    for model in [
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        "global.anthropic.claude-opus-4-5-20251101-v1:0",
        "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "us.amazon.nova-pro-v1:0",
        "amazon.nova-micro-v1:0",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "anthropic.claude-3-haiku-20240307-v1:0",
        "meta.llama3-70b-instruct-v1:0",
        "amazon.titan-text-express-v1",
        "mistral.mistral-large-2402-v1:0",
    ] {
        assert_eq!(
            bedrock_chatbot::bedrock::caches_prompts(model),
            bedrock_standin::supports_prompt_caching(model),
            "{model}"
        );
    }
}

#[tokio::test]
async fn a_conversation_trimmed_to_the_budget_marks_only_the_system_prompt() {
    // Its start moves with every question: a cache point there would be written
    // each time (at more than the input price) and never read.
    let world = World::new(&[("CHATBOT_HISTORY_BUDGET_CHARS", "40")]).await;
    let events = converse_with(
        &world,
        "t1",
        &[
            "a first question, long enough to go",
            "a first answer, long enough to go",
            "q2",
            "a2",
            "q3",
        ],
    )
    .await;
    assert!(
        events[0].data["dropped"].as_u64().unwrap() > 0,
        "{:?}",
        events[0]
    );
    assert_eq!(
        world.standin.state().requests()[0].cache_points(),
        ["system"]
    );
}

#[tokio::test]
async fn no_cache_point_goes_to_a_model_without_a_prompt_cache_or_when_switched_off() {
    for overrides in [
        vec![("CHATBOT_MODEL_ID", "meta.llama3-70b-instruct-v1:0")],
        vec![(
            "CHATBOT_MODEL_ID",
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
        )],
        vec![("CHATBOT_PROMPT_CACHING", "off")],
    ] {
        let world = World::new(&overrides).await;
        // The stand-in refuses a cache point for models without a cache, as Bedrock does.
        let events = converse_with(&world, "n1", &["q1", "a1", "q2"]).await;
        assert_eq!(
            events.last().unwrap().event,
            "done",
            "{overrides:?}: {events:?}"
        );
        let sent = &world.standin.state().requests()[0];
        assert!(sent.cache_points().is_empty(), "{overrides:?}");
        assert!(
            events.last().unwrap().data["usage"]
                .get("cacheReadInputTokens")
                .is_none()
        );
    }
}

#[tokio::test]
async fn a_question_asks_the_model_the_user_chose_among_the_chatbots() {
    let models = format!(
        r#"[{{"id": "{MODEL}", "label": "Claude Sonnet 4"}}, {{"id": "us.amazon.nova-pro-v1:0", "label": "Nova Pro"}}]"#
    );
    let world = World::new(&[("CHATBOT_MODELS", models.as_str())]).await;
    let response = world
        .app()
        .oneshot(signed("GET", "/api/me", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let me = body_json(response).await;
    assert_eq!(me["model"], MODEL);
    assert_eq!(
        me["models"],
        json!([
            { "id": MODEL, "label": "Claude Sonnet 4" },
            { "id": "us.amazon.nova-pro-v1:0", "label": "Nova Pro" }
        ])
    );
    let ask = |model: Option<&str>| {
        let mut body = question("m1", "Which model?");
        if let Some(model) = model {
            body["model"] = json!(model);
        }
        world.app().oneshot(signed("POST", "/api/chat", Some(body)))
    };
    let events = SseReader::new(ask(Some("us.amazon.nova-pro-v1:0")).await.unwrap())
        .all()
        .await;
    assert_eq!(events[0].data["model"], "us.amazon.nova-pro-v1:0");
    assert_eq!(events.last().unwrap().event, "done");
    let events = SseReader::new(ask(None).await.unwrap()).all().await;
    assert_eq!(events[0].data["model"], MODEL);
    let asked: Vec<String> = world
        .standin
        .state()
        .requests()
        .iter()
        .map(|r| r.model_id.clone())
        .collect();
    assert_eq!(asked, ["us.amazon.nova-pro-v1:0", MODEL]);

    // A model the chatbot does not offer is refused before Bedrock is asked.
    let response = ask(Some("anthropic.claude-opus-4-1-20250805-v1:0"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = body_json(response).await;
    assert_eq!(body["error"]["kind"], "invalid_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not offer"),
        "{body}"
    );
    assert_eq!(world.standin.state().requests().len(), 2);
}

#[tokio::test]
async fn an_answer_says_what_it_cost_when_the_model_is_priced() {
    let models = format!(
        r#"[{{"id": "{MODEL}", "label": "Claude", "pricing": {{"currency": "EUR", "inputPerMillion": 3, "outputPerMillion": 15}}}}, {{"id": "amazon.nova-micro-v1:0", "label": "Unpriced"}}]"#
    );
    let world = World::new(&[
        ("CHATBOT_MODELS", models.as_str()),
        ("CHATBOT_PROMPT_CACHING", "off"),
    ])
    .await;
    let events = converse_with(&world, "p1", &["How much?"]).await;
    let done = &events.last().unwrap().data;
    let input = done["usage"]["inputTokens"].as_u64().unwrap();
    let output = done["usage"]["outputTokens"].as_u64().unwrap();
    let micros = (input * 3 + output * 15) as f64;
    assert_eq!(done["cost"]["currency"], "EUR");
    assert!(
        (done["cost"]["amount"].as_f64().unwrap() * 1e6 - micros).abs() < 0.5,
        "{done}"
    );
    // A model without prices: tokens, no cost.
    let response = world
        .app()
        .oneshot(signed(
            "POST",
            "/api/chat",
            Some(json!({ "id": "p2", "model": "amazon.nova-micro-v1:0", "messages": [{ "role": "user", "text": "And this?" }] })),
        ))
        .await
        .unwrap();
    let events = SseReader::new(response).all().await;
    let done = &events.last().unwrap().data;
    assert!(done["usage"]["outputTokens"].as_u64().unwrap() > 0);
    assert!(done.get("cost").is_none(), "{done}");
}

#[tokio::test]
async fn trims_the_oldest_turns_to_the_history_budget() {
    let world = World::new(&[("CHATBOT_HISTORY_BUDGET_CHARS", "40")]).await;
    let body = json!({ "id": "a3", "messages": [
        { "role": "user", "text": "0123456789" },
        { "role": "assistant", "text": "0123456789" },
        { "role": "user", "text": "0123456789" },
        { "role": "assistant", "text": "0123456789" },
        { "role": "user", "text": "newest" },
    ]});
    let response = world
        .app()
        .oneshot(signed("POST", "/api/chat", Some(body)))
        .await
        .unwrap();
    let events = SseReader::new(response).all().await;

    assert_eq!(events[0].data["dropped"], 2);
    let sent = world.standin.state().requests()[0].messages();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].0, "user");
    assert_eq!(sent[2].1, "newest");
}

/// A model that takes `temperature` or `topP`, never both (Bedrock refuses the pair
/// for Opus 4.1, Sonnet 4.5, Haiku 4.5 and later).
const SONNET_4_5: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

async fn ask_once(world: &World) -> (StatusCode, Vec<SseEvent>, serde_json::Value) {
    let response = world.ask("p", "hi").await;
    let status = response.status();
    if status == StatusCode::OK {
        (status, SseReader::new(response).all().await, json!(null))
    } else {
        (status, Vec::new(), body_json(response).await)
    }
}

#[tokio::test]
async fn the_default_settings_work_for_models_that_refuse_temperature_with_top_p() {
    for model in [SONNET_4_5, MODEL] {
        let world = World::new(&[("CHATBOT_MODEL_ID", model)]).await;

        let (status, events, error) = ask_once(&world).await;

        assert_eq!(status, StatusCode::OK, "{model}: {error}");
        assert_eq!(events.last().unwrap().event, "done", "{model}");
        assert_eq!(text_of(&events), "Hello from the stand-in.");
        let sent = &world.standin.state().requests()[0];
        assert!((sent.inference("temperature").unwrap() - 0.9).abs() < 1e-6);
        assert_eq!(
            sent.inference("topP"),
            None,
            "{model}: topP 1.0 is not sent"
        );
        assert_eq!(sent.inference("maxTokens"), Some(2000.0));
    }
}

#[tokio::test]
async fn a_top_p_other_than_one_is_sent_with_the_temperature() {
    let world = World::new(&[("CHATBOT_TOP_P", "0.8")]).await;

    let (status, _, error) = ask_once(&world).await;

    assert_eq!(status, StatusCode::OK, "{error}");
    let sent = &world.standin.state().requests()[0];
    assert!((sent.inference("topP").unwrap() - 0.8).abs() < 1e-6);
    assert!((sent.inference("temperature").unwrap() - 0.9).abs() < 1e-6);
}

#[tokio::test]
async fn both_set_for_a_model_that_refuses_them_shows_bedrocks_words() {
    let world = World::new(&[("CHATBOT_MODEL_ID", SONNET_4_5), ("CHATBOT_TOP_P", "0.8")]).await;

    let (status, _, body) = ask_once(&world).await;

    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["kind"], "bedrock_rejected");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
        ),
        "{message}"
    );
    assert!(
        message.contains("model settings") && message.contains("platform team"),
        "the user is told it is the chatbot's settings, not their question: {message}"
    );
    assert_eq!(world.standin.state().streams_started(), 0);
}

async fn refused(world: &World, fault: Fault) -> (StatusCode, serde_json::Value, Option<String>) {
    world.standin.state().push_reply(Reply::fault(fault));
    let response = world.ask("f", "hi").await;
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, body_json(response).await, retry)
}

#[tokio::test]
async fn bedrock_faults_become_clear_errors() {
    let world = World::new(&[]).await;

    let (status, body, retry) = refused(&world, Fault::Throttling).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["kind"], "throttled");
    assert_eq!(body["error"]["retryAfter"], 10);
    assert_eq!(retry.as_deref(), Some("10"));
    assert!(body["error"]["message"].as_str().unwrap().contains("busy"));

    let (status, body, _) = refused(&world, Fault::AccessDenied).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["kind"], "model_access");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("model access is not enabled")
    );

    let (status, body, _) = refused(
        &world,
        Fault::Validation {
            message: "Input is too long for requested model.".into(),
        },
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["kind"], "input_too_long");

    let (status, body, _) = refused(&world, Fault::InternalServer).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"]["kind"], "model_failed");

    let (status, body, _) = refused(&world, Fault::ServiceUnavailable).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["kind"], "model_unavailable");

    let metrics = world.state.metrics.render();
    assert!(
        metrics.contains("chatbot_errors_total{kind=\"throttled\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("chatbot_errors_total{kind=\"model_access\"} 1"));
}

/// AWS's page on enabling models now that the console's "Model access" page is gone.
const MODEL_ACCESS_DOC: &str =
    "https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html";

#[tokio::test]
async fn a_model_the_account_has_not_subscribed_to_says_an_administrator_must_enable_it() {
    let logs = Logs::capture();
    let world = World::new(&[]).await;

    let (status, body, _) = refused(&world, Fault::ModelNotSubscribed).await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["kind"], "model_not_enabled", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    for expected in [
        "not enabled",
        "AWS administrator",
        "once",
        "AWS Marketplace",
        MODEL_ACCESS_DOC,
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
    // The console page to point to is gone; Bedrock's own words name the task role
    // and the IAM actions, which are for the operators, not for every user.
    assert!(!message.contains("Model access"), "{message}");
    assert!(!message.contains("is not authorized"), "{message}");
    let metrics = world.state.metrics.render();
    assert!(
        metrics.contains("chatbot_errors_total{kind=\"model_not_enabled\"} 1"),
        "{metrics}"
    );

    // The operators read what happened, for which model, in Bedrock's words.
    let lines = logs.lines();
    let logged = lines
        .iter()
        .find(|line| {
            line["fields"]["bedrock_message"] == bedrock_standin::MARKETPLACE_ACCESS_DENIED
        })
        .unwrap_or_else(|| panic!("no log line quotes Bedrock: {lines:#?}"));
    assert_eq!(logged["level"], "ERROR", "{logged}");
    assert_eq!(logged["fields"]["model"], MODEL, "{logged}");
    let said = logged["fields"]["message"].as_str().unwrap();
    assert!(
        said.contains("AWS Marketplace") && said.contains(MODEL_ACCESS_DOC),
        "{said}"
    );
}

#[tokio::test]
async fn an_access_denied_without_the_marketplace_names_no_retired_console_page() {
    let logs = Logs::capture();
    let world = World::new(&[]).await;

    let (status, body, _) = refused(&world, Fault::AccessDenied).await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["kind"], "model_access");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("task role"), "{message}");
    assert!(!message.contains("Model access"), "{message}");
    let lines = logs.lines();
    assert!(
        lines.iter().any(|line| line["level"] == "ERROR"
            && line["fields"]["model"] == MODEL
            && line["fields"]["bedrock_message"]
                == "You don't have access to the model with the specified model ID."),
        "the operators are told: {lines:#?}"
    );
}

#[tokio::test]
async fn a_model_stream_error_mid_answer_is_an_error_event() {
    let world = World::new(&[]).await;
    world.standin.state().push_reply(
        Reply::text("one two three four five").failing(Fault::ModelStreamError { after_tokens: 2 }),
    );
    let response = world.ask("m", "hi").await;
    let events = SseReader::new(response).all().await;

    assert_eq!(text_of(&events), "one two ");
    let last = events.last().unwrap();
    assert_eq!(last.event, "error");
    assert_eq!(last.data["kind"], "model_failed");
    assert_eq!(
        world
            .state
            .metrics
            .errors(bedrock_chatbot::ErrorKind::ModelFailed),
        1
    );
}

#[tokio::test]
async fn an_unreachable_bedrock_is_502() {
    let world = World::new(&[]).await;
    let closed = closed_url().await;
    let config = world.state.config.as_ref().clone();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region("us-west-2")
        .endpoint_url(closed)
        .credentials_provider(aws_sdk_bedrockruntime::config::Credentials::new(
            "a", "b", None, None, "t",
        ))
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
        .load()
        .await;
    let bedrock = bedrock_chatbot::bedrock::Bedrock::new(
        aws_sdk_bedrockruntime::Client::new(&sdk),
        config.model.clone(),
    );
    let auth =
        bedrock_chatbot::auth::Authenticator::Alb(bedrock_chatbot::auth::AlbVerifier::new(&config));
    let app = bedrock_chatbot::app(bedrock_chatbot::AppState::new(config, auth, bedrock));

    let response = app
        .oneshot(signed("POST", "/api/chat", Some(question("u", "hi"))))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        body_json(response).await["error"]["kind"],
        "bedrock_unreachable"
    );
}

#[tokio::test]
async fn stop_cancels_the_bedrock_stream_on_the_server() {
    let world = World::new(&[]).await;
    world
        .standin
        .state()
        .push_reply(Reply::text("word ".repeat(400)).paced(Duration::from_millis(10)));
    let response = world.ask("stop-me", "long answer please").await;
    let mut reader = SseReader::new(response);
    assert_eq!(reader.next().await.unwrap().event, "start");
    assert_eq!(reader.next().await.unwrap().event, "delta");

    let stopped = world.stop("stop-me").await;
    assert_eq!(stopped.status(), StatusCode::NO_CONTENT);

    let rest = reader.all().await;
    let done = rest.last().unwrap();
    assert_eq!(done.event, "done");
    assert_eq!(done.data["stopReason"], "stopped");
    assert!(text_of(&rest).len() < "word ".len() * 400);
    let state = world.standin.state().clone();
    wait_until(|| state.streams_abandoned() == 1).await;
    assert_eq!(state.streams_finished(), 0);
    wait_until(|| world.state.streams.is_empty()).await;

    // Stopping it again: there is nothing to stop.
    let again = world.stop("stop-me").await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_browser_that_goes_away_drops_the_bedrock_stream() {
    let world = World::new(&[]).await;
    world
        .standin
        .state()
        .push_reply(Reply::text("word ".repeat(400)).paced(Duration::from_millis(10)));
    let response = world.ask("gone", "hi").await;
    let mut reader = SseReader::new(response);
    reader.next().await.unwrap();
    reader.next().await.unwrap();
    assert_eq!(world.state.metrics.active_streams(), 1);

    drop(reader);

    let state = world.standin.state().clone();
    wait_until(|| state.streams_abandoned() == 1).await;
    assert_eq!(world.state.metrics.active_streams(), 0);
    assert!(world.state.streams.is_empty());
}

#[tokio::test]
async fn one_user_cannot_stop_another_users_answer() {
    let world = World::new(&[]).await;
    world
        .standin
        .state()
        .push_reply(Reply::text("word ".repeat(100)).paced(Duration::from_millis(10)));
    let app = world.app();
    let response = app
        .clone()
        .oneshot(signed("POST", "/api/chat", Some(question("mine", "hi"))))
        .await
        .unwrap();
    let mut reader = SseReader::new(response);
    reader.next().await.unwrap();

    let other = TokenSpec::valid()
        .payload("sub", json!("another-user"))
        .sign(&alb_key());
    let attempt = app
        .oneshot(with_token(
            "POST",
            "/api/chat/stop",
            Some(json!({ "id": "mine" })),
            Some(&other),
        ))
        .await
        .unwrap();
    assert_eq!(attempt.status(), StatusCode::NOT_FOUND);
    let rest = reader.all().await;
    assert_eq!(rest.last().unwrap().data["stopReason"], "end_turn");
}

#[tokio::test]
async fn per_user_rate_and_stream_limits() {
    let world = World::new(&[("CHATBOT_RATE_LIMIT_PER_MINUTE", "2")]).await;
    for id in ["r1", "r2"] {
        let response = world.ask(id, "hi").await;
        assert_eq!(response.status(), StatusCode::OK);
        SseReader::new(response).all().await;
    }
    let response = world.ask("r3", "hi").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = body_json(response).await;
    assert_eq!(body["error"]["kind"], "rate_limited");
    assert!(body["error"]["retryAfter"].as_u64().unwrap() >= 1);
    assert_eq!(world.standin.state().requests().len(), 2);

    let world = World::new(&[("CHATBOT_MAX_STREAMS_PER_USER", "1")]).await;
    world
        .standin
        .state()
        .push_reply(Reply::text("word ".repeat(100)).paced(Duration::from_millis(10)));
    let first = world.ask("s1", "hi").await;
    let mut reader = SseReader::new(first);
    reader.next().await.unwrap();
    let second = world.ask("s2", "hi").await;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body_json(second).await["error"]["kind"], "too_many_streams");
}

#[tokio::test]
async fn refuses_bad_requests_before_asking_bedrock() {
    let world = World::new(&[("CHATBOT_MAX_MESSAGE_CHARS", "100")]).await;
    let cases = [
        (
            json!({ "id": "x", "messages": [] }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({ "id": "x", "messages": [{ "role": "assistant", "text": "hi" }] }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({ "id": "../x", "messages": [{ "role": "user", "text": "hi" }] }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({ "id": "x", "messages": [{ "role": "system", "text": "hi" }] }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({ "nonsense": true }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            question("x", &"a".repeat(101)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "message_too_long",
        ),
    ];
    for (body, status, kind) in cases {
        let response = world
            .app()
            .oneshot(signed("POST", "/api/chat", Some(body.clone())))
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{body}");
        assert_eq!(body_json(response).await["error"]["kind"], kind, "{body}");
    }
    // A body over the limit never reaches the handler.
    let huge = question("x", &"a".repeat(3 * 1024 * 1024));
    let response = world
        .app()
        .oneshot(signed("POST", "/api/chat", Some(huge)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(world.standin.state().requests().is_empty());
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let world = World::new(&[]).await;
    for request in [
        signed("GET", "/", None),
        with_token("GET", "/?health=check", None, None),
        with_token("GET", "/api/me", None, None),
        with_token("GET", "/assets/app.js", None, None),
    ] {
        let uri = request.uri().to_string();
        let response = world.app().oneshot(request).await.unwrap();
        let h = response.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{uri}");
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}");
        assert!(!csp.contains("unsafe-inline"), "{uri}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{uri}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{uri}");
    }
}

#[tokio::test]
async fn probes_answer_without_a_token() {
    let world = World::new(&[]).await;
    for (uri, status) in [
        ("/?health=check", StatusCode::OK),
        ("/healthz", StatusCode::OK),
        ("/readyz", StatusCode::OK),
        ("/metrics", StatusCode::OK),
        ("/?health=other", StatusCode::UNAUTHORIZED),
    ] {
        let response = world
            .app()
            .oneshot(with_token("GET", uri, None, None))
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{uri}");
    }
    assert_eq!(world.keys.fetches(), 0, "no probe may need a key");

    world.state.lifecycle.begin_drain();
    let response = world
        .app()
        .oneshot(with_token("GET", "/readyz", None, None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let response = world.ask("late", "hi").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn metrics_count_questions_tokens_and_latency() {
    let world = World::new(&[]).await;
    let response = world.ask("m1", "hi").await;
    let events = SseReader::new(response).all().await;
    let output = events.last().unwrap().data["usage"]["outputTokens"]
        .as_u64()
        .unwrap();

    let response = world
        .app()
        .oneshot(with_token("GET", "/metrics", None, None))
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    let text = body_text(response).await;
    assert!(text.contains("chatbot_questions_total 1"), "{text}");
    assert!(text.contains("chatbot_active_streams 0"));
    assert!(text.contains(&format!(
        "chatbot_tokens_total{{direction=\"output\"}} {output}"
    )));
    assert!(text.contains("chatbot_time_to_first_token_seconds_count 1"));
    assert!(text.contains("chatbot_answer_duration_seconds_count 1"));
    assert!(text.contains("chatbot_http_responses_total{class=\"2xx\"} 1"));
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_from_the_binary() {
    let world = World::new(&[]).await;
    let response = world.app().oneshot(signed("GET", "/", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = body_text(response).await;
    assert!(page.contains("/assets/app.js"));
    // The chosen theme is applied by a classic script in <head>, before the body is
    // drawn and before the module (deferred) runs: no flash of the other theme.
    let theme = page
        .find(r#"<script src="/assets/theme.js"></script>"#)
        .unwrap();
    assert!(theme < page.find("</head>").unwrap() && theme < page.find("app.js").unwrap());
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external assets"
    );
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "no inline script or style"
    );

    for (asset, kind) in [
        ("/assets/app.js", "text/javascript"),
        ("/assets/theme.js", "text/javascript"),
        ("/assets/markdown.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
    ] {
        let response = world
            .app()
            .oneshot(with_token("GET", asset, None, None))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
    }
    let missing = world
        .app()
        .oneshot(with_token("GET", "/assets/nope.js", None, None))
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
