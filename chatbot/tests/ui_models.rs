#![allow(clippy::unwrap_used)]
//! The model picker, and tokens and cost, in headless Chromium: a chatbot offering
//! several models (`CHATBOT_MODELS`) shows a labelled picker, the choice reaches
//! Bedrock (the stand-in records the model of each request), survives a reload, and
//! each answer says which model wrote it; a priced model's answers and conversations
//! show their tokens and estimated cost. With history on and off.

mod support;

use bedrock_chatbot::config::ENV_MODELS;
use bedrock_standin::Reply;
use serde_json::{Value, json};
use support::browser::*;
use support::*;

const HAIKU: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";

/// Two models, both priced (USD).
fn priced_models() -> String {
    json!([
        { "id": MODEL, "label": "Claude Sonnet 4",
          "pricing": { "currency": "USD", "inputPerMillion": 3, "outputPerMillion": 15 } },
        { "id": HAIKU, "label": "Claude 3.5 Haiku",
          "pricing": { "currency": "USD", "inputPerMillion": 0.8, "outputPerMillion": 4 } },
    ])
    .to_string()
}

/// What the page offers and shows: the picker's options and value, the top bar's
/// model, the conversation's totals, each answer's line about itself.
const SHOWN: &str = "const picker = document.getElementById('model-picker'); \
    return { \
      picker: picker.closest('[hidden]') ? null : [...picker.options].map(o => [o.value, o.textContent]), \
      chosen: picker.value, \
      model: document.getElementById('model').hidden ? null : document.getElementById('model').textContent, \
      totals: document.getElementById('totals').hidden ? null : document.getElementById('totals').textContent, \
      answers: [...document.querySelectorAll('.message.assistant .answer-info')].map(i => i.textContent) \
    }";

fn models_asked(world: &World) -> Vec<String> {
    world
        .standin
        .state()
        .requests()
        .iter()
        .map(|r| r.model_id.clone())
        .collect()
}

/// Asks with the default, picks Haiku by keyboard, asks again, reloads: the choice
/// stays and is used.
async fn pick_a_model(browser: &Browser, world: &World) {
    let shown = browser.js(SHOWN).await;
    assert_eq!(
        shown["picker"],
        json!([[MODEL, "Claude Sonnet 4"], [HAIKU, "Claude 3.5 Haiku"]]),
        "{shown}"
    );
    assert_eq!(shown["chosen"], MODEL, "the default first");
    assert_eq!(shown["model"], Value::Null, "the picker says it all");
    assert_eq!(
        browser
            .js("return document.querySelector('label[for=model-picker]').textContent")
            .await,
        "Model"
    );

    browser.ask("First question").await;
    browser.answer_done().await;

    // By keyboard: Tab to the picker, arrow down to the next model.
    assert!(
        browser.tab_to("#model-picker", false).await,
        "the picker is reached by Tab"
    );
    browser.keys("\u{E015}").await;
    browser
        .wait_for(
            "Haiku to be chosen",
            &format!("return document.getElementById('model-picker').value === '{HAIKU}'"),
        )
        .await;
    browser.ask("Second question").await;
    browser
        .wait_for(
            "the second answer",
            "return document.querySelectorAll('.message.assistant .answer-info').length === 2 \
             && document.getElementById('messages').getAttribute('aria-busy') === 'false'",
        )
        .await;
    assert_eq!(models_asked(world), [MODEL, HAIKU]);

    let shown = browser.js(SHOWN).await;
    let answers: Vec<&str> = shown["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        answers[0].starts_with("Claude Sonnet 4 · ")
            && answers[1].starts_with("Claude 3.5 Haiku · "),
        "each answer names its model by label: {shown}"
    );
    for answer in &answers {
        assert!(answer.contains(" tokens · ≈ $"), "tokens and cost: {shown}");
    }
    let totals = shown["totals"].as_str().unwrap();
    assert!(totals.contains(" tokens · ≈ $"), "{shown}");
    // The breakdown behind each usage line opens from the keyboard (no tooltip).
    for (line, what) in [
        ("#totals-text", "the totals"),
        (".message.assistant .usage > summary", "an answer's line"),
    ] {
        assert!(
            browser.tab_to(line, false).await,
            "{what} is reached by Tab"
        );
        browser.keys("\u{E007}").await;
        browser
            .wait_for(
                &format!("{what} to open onto its tokens"),
                "const open = document.activeElement.closest('details[open]'); \
                 return !!open && open.querySelector('.usage-detail').checkVisibility() \
                   && /[0-9,]+ input, [0-9,]+ output/.test(open.querySelector('.usage-detail').textContent)",
            )
            .await;
        browser.keys("\u{E007}").await;
    }
    assert_eq!(
        browser.axe_violations().await,
        json!([]),
        "the picker and the totals are accessible"
    );

    browser.reload_showing(".message.assistant").await;
    let again = browser.js(SHOWN).await;
    assert_eq!(again["chosen"], HAIKU, "the choice is remembered: {again}");
    assert_eq!(
        again["totals"], shown["totals"],
        "the same totals after reload"
    );
    assert_eq!(
        again["answers"], shown["answers"],
        "each answer still names its model, tokens and cost after reload"
    );
    browser.ask("Third question").await;
    browser
        .wait_for(
            "the third answer",
            "return document.querySelectorAll('.message.assistant').length === 3 \
             && document.getElementById('messages').getAttribute('aria-busy') === 'false'",
        )
        .await;
    assert_eq!(models_asked(world), [MODEL, HAIKU, HAIKU]);
}

/// The top bar's totals start with `tokens` (a small number, not abbreviated).
fn totals_text_contains_tokens(totals: &Value, tokens: u64) {
    let text = totals.as_str().unwrap();
    assert!(text.starts_with(&format!("{tokens} tokens")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chosen_model_answers_in_the_browsers_own_conversation() {
    let models = priced_models();
    let world = World::dev_with("dev@example.com", &[(ENV_MODELS, &models)]).await;
    let (browser, server) = open(&world).await;
    pick_a_model(&browser, &world).await;
    // Kept in this browser, each answer still says which model wrote it.
    browser.reload_showing(".message.assistant").await;
    let shown = browser.js(SHOWN).await;
    assert_eq!(shown["answers"].as_array().unwrap().len(), 3, "{shown}");
    assert!(
        shown["answers"][1]
            .as_str()
            .unwrap()
            .starts_with("Claude 3.5 Haiku · "),
        "{shown}"
    );
    // Signing out forgets the choice with the rest.
    let kept = browser
        .js("return Object.keys(localStorage).filter(k => k.startsWith('bedrock-chatbot.model.'))")
        .await;
    assert_eq!(kept, json!(["bedrock-chatbot.model.dev@example.com"]));
    browser
        .js("document.getElementById('sign-out').addEventListener('click', e => e.preventDefault()); \
             document.getElementById('sign-out').click(); return true")
        .await;
    assert_eq!(
        browser
            .js("return Object.keys(localStorage).filter(k => k.startsWith('bedrock-chatbot.'))")
            .await,
        json!([])
    );
    browser.close().await;
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chosen_model_answers_in_a_stored_conversation() {
    let moto = testkit::Moto::start().unwrap();
    create_history_table(&dynamodb_at(&moto.endpoint()).await, HISTORY_TABLE, true).await;
    let models = priced_models();
    let world = dev_with_history_and(
        "ada@example.com",
        &moto.endpoint(),
        HISTORY_TABLE,
        &[(ENV_MODELS, &models)],
    )
    .await;
    let server = serve(&world).await;
    let browser = Browser::start().await;
    visit(&browser, &server, "ada@example.com").await;
    pick_a_model(&browser, &world).await;
    // The totals shown are the server's.
    let listed = browser
        .client
        .execute_async(
            "const done = arguments[0]; \
             fetch('/api/conversations').then(r => r.json()).then(l => done(l.conversations[0]));",
            vec![],
        )
        .await
        .unwrap();
    assert!(listed["cost"]["amount"].as_f64().unwrap() > 0.0, "{listed}");
    let tokens: u64 = [
        "inputTokens",
        "outputTokens",
        "cacheReadInputTokens",
        "cacheWriteInputTokens",
    ]
    .iter()
    .map(|k| listed["usage"][k].as_u64().unwrap_or(0))
    .sum();
    totals_text_contains_tokens(&browser.js(SHOWN).await["totals"], tokens);
    browser.close().await;
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_model_is_named_without_a_picker_and_unpriced_answers_show_no_cost() {
    let models = json!([{ "id": MODEL, "label": "Claude Sonnet 4" }]).to_string();
    let world = World::dev_with("dev@example.com", &[(ENV_MODELS, &models)]).await;
    world.standin.state().push_reply(Reply::text("Short."));
    let (browser, server) = open(&world).await;
    browser.ask("Hello").await;
    browser.answer_done().await;
    let shown = browser.js(SHOWN).await;
    assert_eq!(shown["picker"], Value::Null, "{shown}");
    assert_eq!(shown["model"], "Claude Sonnet 4", "{shown}");
    let answer = shown["answers"][0].as_str().unwrap();
    assert!(answer.ends_with(" tokens"), "no model, no cost: {shown}");
    assert!(!shown["totals"].as_str().unwrap().contains('≈'), "{shown}");
    assert_eq!(models_asked(&world), [MODEL]);
    browser.close().await;
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_model_no_longer_offered_gives_way_to_the_default() {
    let models = priced_models();
    let world = World::dev_with("dev@example.com", &[(ENV_MODELS, &models)]).await;
    let (browser, server) = open(&world).await;
    browser
        .js("localStorage.setItem('bedrock-chatbot.model.dev@example.com', 'us.anthropic.claude-retired-v1:0'); return true")
        .await;
    browser.client.refresh().await.unwrap();
    browser
        .wait_for(
            "the page after reload",
            "return document.body.dataset.ready === 'true'",
        )
        .await;
    assert_eq!(browser.js(SHOWN).await["chosen"], MODEL);
    browser.ask("Hello").await;
    browser.answer_done().await;
    assert_eq!(models_asked(&world), [MODEL]);
    browser.close().await;
    let _ = server.stop.send(());
}
