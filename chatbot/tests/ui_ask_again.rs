#![allow(clippy::unwrap_used)]
//! Asking a question again, in headless Chromium: regenerate the last answer, edit
//! an earlier question, retry after a throttle. Without history the browser cuts its
//! own conversation and sends it; with history on (the emulator's DynamoDB) the page
//! tells the server which stored question it replaces, and a reload shows the branch
//! the conversation went on with.

mod support;

use bedrock_standin::{Fault, Reply};
use fantoccini::Locator;
use serde_json::{Value, json};
use support::browser::*;
use support::*;

/// What the log shows: `[role, text]` of each message, in order.
const SHOWN: &str = "return [...document.querySelectorAll('#messages > .message')] \
    .map(m => [m.classList.contains('user') ? 'user' : 'assistant', m.querySelector('.body').textContent.trim()])";

fn turns(pairs: &[(&str, &str)]) -> Value {
    json!(
        pairs
            .iter()
            .map(|(role, text)| json!([role, text]))
            .collect::<Vec<_>>()
    )
}

/// Waits until no answer streams and the log shows `expected`.
async fn shows(browser: &Browser, what: &str, expected: &Value) {
    browser
        .wait_for(
            what,
            &format!(
                "const shown = (() => {{ {SHOWN} }})(); \
                 return document.getElementById('messages').getAttribute('aria-busy') === 'false' \
                 && JSON.stringify(shown) === JSON.stringify({expected})"
            ),
        )
        .await;
}

async fn click(browser: &Browser, css: &str) {
    browser
        .client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The user's messages the stand-in was sent for the last answer.
fn last_sent(world: &World) -> Vec<(String, String)> {
    world.standin.state().requests().last().unwrap().messages()
}

fn sent(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(r, t)| ((*r).to_string(), (*t).to_string()))
        .collect()
}

/// The same walk with history on and off: regenerate, edit, retry, each surviving a
/// reload.
async fn regenerate_edit_and_retry(browser: &Browser, world: &World) {
    let replies = world.standin.state();
    replies.push_reply(Reply::text("Answer one"));
    replies.push_reply(Reply::text("Answer two"));
    browser.ask("Question one").await;
    shows(
        browser,
        "the first answer",
        &turns(&[("user", "Question one"), ("assistant", "Answer one")]),
    )
    .await;
    browser.ask("Question two").await;
    shows(
        browser,
        "the second answer",
        &turns(&[
            ("user", "Question one"),
            ("assistant", "Answer one"),
            ("user", "Question two"),
            ("assistant", "Answer two"),
        ]),
    )
    .await;
    // Only the last answer offers to be regenerated.
    assert_eq!(
        browser
            .js(
                "return [...document.querySelectorAll('.message-action.again')] \
                 .filter(b => b.offsetParent !== null).map(b => b.getAttribute('aria-label'))"
            )
            .await,
        json!(["Regenerate this answer"])
    );

    // Regenerate: the same question, its answer replaced.
    replies.push_reply(Reply::text("Answer two, again"));
    click(
        browser,
        "#messages > .message:last-child .message-action.again",
    )
    .await;
    let regenerated = turns(&[
        ("user", "Question one"),
        ("assistant", "Answer one"),
        ("user", "Question two"),
        ("assistant", "Answer two, again"),
    ]);
    shows(browser, "the regenerated answer", &regenerated).await;
    assert_eq!(
        last_sent(world),
        sent(&[
            ("user", "Question one"),
            ("assistant", "Answer one"),
            ("user", "Question two"),
        ])
    );
    browser.reload_showing(".message").await;
    shows(browser, "the regenerated answer after reload", &regenerated).await;
    assert_eq!(
        browser.js(LISTED).await,
        json!(["Question one"]),
        "one conversation"
    );

    // Edit the first question: what came after it goes.
    replies.push_reply(Reply::text("Edited answer"));
    click(browser, "#messages > .message.user .message-action.edit").await;
    let editor = browser
        .client
        .find(Locator::Css(".edit-form textarea"))
        .await
        .unwrap();
    assert_eq!(
        browser
            .js("return document.activeElement === document.querySelector('.edit-form textarea')")
            .await,
        true,
        "the editor has the focus"
    );
    editor.clear().await.unwrap();
    editor
        .send_keys("Question one, edited\u{E007}")
        .await
        .unwrap();
    let edited = turns(&[
        ("user", "Question one, edited"),
        ("assistant", "Edited answer"),
    ]);
    shows(browser, "the edited question and its answer", &edited).await;
    assert_eq!(last_sent(world), sent(&[("user", "Question one, edited")]));
    browser.reload_showing(".message").await;
    shows(browser, "the edited branch after reload", &edited).await;

    // A throttled answer: one click retries it, nothing to retype.
    replies.push_reply(Reply::fault(Fault::Throttling));
    browser.ask("Question three").await;
    browser
        .wait_for(
            "the throttled answer with its retry",
            "const last = document.querySelector('#messages > .message:last-child'); \
             return document.getElementById('messages').getAttribute('aria-busy') === 'false' \
             && !!last.querySelector('.meta .error') \
             && last.querySelector('.message-action.again')?.textContent === 'Retry'",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('input').value")
            .await,
        "",
        "the composer is free for something else"
    );
    assert_eq!(
        browser.axe_violations().await,
        json!([]),
        "the failed answer, its error and its retry are accessible"
    );
    // It waits out the throttle, as sending does.
    browser
        .wait_for(
            "the retry to be offered",
            "return !document.querySelector('#messages > .message:last-child .message-action.again').disabled",
        )
        .await;
    replies.push_reply(Reply::text("Answer three"));
    click(
        browser,
        "#messages > .message:last-child .message-action.again",
    )
    .await;
    let retried = turns(&[
        ("user", "Question one, edited"),
        ("assistant", "Edited answer"),
        ("user", "Question three"),
        ("assistant", "Answer three"),
    ]);
    shows(browser, "the retried answer", &retried).await;
    assert_eq!(
        last_sent(world),
        sent(&[
            ("user", "Question one, edited"),
            ("assistant", "Edited answer"),
            ("user", "Question three"),
        ])
    );
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#messages .meta .error').length")
            .await,
        0
    );
    browser.reload_showing(".message").await;
    shows(browser, "the retried answer after reload", &retried).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerate_edit_and_retry_in_the_browsers_own_conversation() {
    let world = World::dev("dev@example.com").await;
    let (browser, server) = open(&world).await;
    regenerate_edit_and_retry(&browser, &world).await;
    browser.close().await;
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerate_edit_and_retry_in_a_stored_conversation() {
    let moto = testkit::Moto::start().unwrap();
    create_history_table(&dynamodb_at(&moto.endpoint()).await, HISTORY_TABLE, true).await;
    let world = dev_with_history("ada@example.com", &moto.endpoint(), HISTORY_TABLE).await;
    let server = serve(&world).await;
    let browser = Browser::start().await;
    visit(&browser, &server, "ada@example.com").await;
    regenerate_edit_and_retry(&browser, &world).await;
    // The server lists what the page shows: the newest branch.
    let stored = browser
        .client
        .execute_async(
            "const done = arguments[0]; \
             fetch('/api/conversations').then(r => r.json()) \
               .then(l => fetch('/api/conversations/' + l.conversations[0].id)).then(r => r.json()) \
               .then(c => done(c.turns.map(t => [t.role, t.text])));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        stored,
        turns(&[
            ("user", "Question one, edited"),
            ("assistant", "Edited answer"),
            ("user", "Question three"),
            ("assistant", "Answer three"),
        ])
    );
    browser.close().await;
    let _ = server.stop.send(());
}
