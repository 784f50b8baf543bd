#![allow(clippy::unwrap_used)]
//! Small things users notice, in headless Chromium: copying a whole conversation as
//! Markdown, choosing light or dark colours (remembered across reloads and
//! sign-outs), and a stopped answer keeping what arrived. With history on and off
//! where the two differ.

mod support;

use std::time::Duration;

use bedrock_standin::Reply;
use fantoccini::Locator;
use serde_json::{Value, json};
use support::browser::*;
use support::*;

/// Puts a stand-in for the clipboard in the page: what is copied lands in
/// `window.copied` (headless Chromium's clipboard needs a permission WebDriver cannot
/// grant without a vendor command).
const STUB_CLIPBOARD: &str = "window.copied = null; \
    navigator.clipboard.writeText = async (text) => { window.copied = text; }; return true";

/// Asks two questions, copies the conversation; returns what was copied.
async fn copy_a_conversation(browser: &Browser, world: &World) -> String {
    let replies = world.standin.state();
    replies.push_reply(Reply::text("## Plan\n\n1. one\n2. two"));
    replies.push_reply(Reply::text("Use `cargo test`."));
    assert_eq!(
        browser
            .js("return document.getElementById('copy-conversation').hidden")
            .await,
        true,
        "nothing to copy yet"
    );
    browser.ask("Make a plan").await;
    browser.answer_done().await;
    browser.ask("How do I test it?").await;
    browser
        .wait_for(
            "the second answer",
            "return document.querySelectorAll('.message.assistant').length === 2 \
             && document.getElementById('messages').getAttribute('aria-busy') === 'false'",
        )
        .await;
    browser.js(STUB_CLIPBOARD).await;
    browser.click("copy-conversation").await;
    browser
        .wait_for("the copy", "return typeof window.copied === 'string'")
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('copy-conversation').getAttribute('aria-label')")
            .await,
        "Copy this conversation as Markdown"
    );
    browser
        .js("return window.copied")
        .await
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_kept_in_the_browser_is_copied_as_markdown() {
    let world = World::dev("dev@example.com").await;
    let (browser, server) = open(&world).await;
    let copied = copy_a_conversation(&browser, &world).await;
    assert_eq!(
        copied,
        "# Make a plan\n\n\
         ## You\n\nMake a plan\n\n\
         ## Assistant\n\n## Plan\n\n1. one\n2. two\n\n\
         ## You\n\nHow do I test it?\n\n\
         ## Assistant\n\nUse `cargo test`.\n\n"
    );
    browser.close().await;
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_conversation_is_copied_as_the_server_exports_it() {
    let moto = testkit::Moto::start().unwrap();
    create_history_table(&dynamodb_at(&moto.endpoint()).await, HISTORY_TABLE, true).await;
    let world = dev_with_history("ada@example.com", &moto.endpoint(), HISTORY_TABLE).await;
    let server = serve(&world).await;
    let browser = Browser::start().await;
    visit(&browser, &server, "ada@example.com").await;
    let copied = copy_a_conversation(&browser, &world).await;
    let exported = browser
        .client
        .execute_async(
            "const done = arguments[0]; \
             fetch(document.getElementById('export-md').href).then(r => r.text()).then(done);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(copied, exported.as_str().unwrap());
    assert!(copied.starts_with("# Make a plan\n\n## You\n\nMake a plan\n\n"));
    browser.close().await;
    let _ = server.stop.send(());
}

/// The page's background colour and colour scheme as used now.
const COLOURS: &str = "const style = getComputedStyle(document.documentElement); \
    return [style.getPropertyValue('--bg').trim(), style.colorScheme, document.getElementById('theme').value]";

async fn choose_theme(browser: &Browser, value: &str) {
    browser
        .client
        .find(Locator::Id("theme"))
        .await
        .unwrap()
        .select_by_value(value)
        .await
        .unwrap();
}

const LIGHT_BG: &str = "#f7f7f8";
const DARK_BG: &str = "#16171b";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dark_or_light_is_chosen_remembered_and_else_follows_the_system() {
    let world = World::dev("dev@example.com").await;
    let server = serve(&world).await;

    // A system asking for light colours.
    let browser = Browser::start().await;
    visit(&browser, &server, "dev@example.com").await;
    let shown = browser.js(COLOURS).await;
    assert_eq!(
        shown[0], LIGHT_BG,
        "the system's colours by default: {shown}"
    );
    assert_eq!(shown[2], "system");
    assert_eq!(
        browser
            .js("return document.querySelector('label[for=theme]').textContent")
            .await,
        "Theme"
    );
    choose_theme(&browser, "dark").await;
    assert_eq!(browser.js(COLOURS).await, json!([DARK_BG, "dark", "dark"]));
    browser.client.refresh().await.unwrap();
    visit(&browser, &server, "dev@example.com").await;
    assert_eq!(
        browser.js(COLOURS).await,
        json!([DARK_BG, "dark", "dark"]),
        "remembered across a reload"
    );
    assert_eq!(
        browser.axe_violations().await,
        json!([]),
        "dark colours chosen are as readable as the system's"
    );
    // Signing out forgets the user's data, not how the browser shows pages.
    browser
        .js("document.getElementById('sign-out').addEventListener('click', e => e.preventDefault()); \
             document.getElementById('sign-out').click(); return true")
        .await;
    visit(&browser, &server, "dev@example.com").await;
    assert_eq!(browser.js(COLOURS).await[0], DARK_BG, "kept at sign-out");
    choose_theme(&browser, "system").await;
    assert_eq!(browser.js(COLOURS).await[0], LIGHT_BG);
    browser.close().await;

    // A system asking for dark colours: light can be chosen too.
    let browser = Browser::start_dark().await;
    visit(&browser, &server, "dev@example.com").await;
    assert_eq!(browser.js(COLOURS).await[0], DARK_BG, "follows the system");
    choose_theme(&browser, "light").await;
    assert_eq!(
        browser.js(COLOURS).await,
        json!([LIGHT_BG, "light", "light"])
    );
    browser.client.refresh().await.unwrap();
    visit(&browser, &server, "dev@example.com").await;
    assert_eq!(browser.js(COLOURS).await[0], LIGHT_BG);
    browser.close().await;
    let _ = server.stop.send(());
}

/// The last answer's text, whether it says it was stopped, and its error line.
const LAST_ANSWER: &str = "const a = [...document.querySelectorAll('.message.assistant')].pop(); \
    return [a.querySelector('.body').textContent.trim(), \
            [...a.querySelectorAll('.meta .chip')].map(c => c.textContent), \
            a.querySelector('.meta .error')?.textContent || null]";

/// Stops a long answer once some of it arrived; returns the text shown.
async fn stop_an_answer(browser: &Browser, world: &World) -> String {
    world
        .standin
        .state()
        .push_reply(Reply::text("word ".repeat(3000)).paced(Duration::from_millis(20)));
    browser.ask("Talk for a long time").await;
    browser
        .wait_for(
            "the first words",
            "const a = document.querySelector('.message.assistant .body'); \
             return !!a && a.textContent.includes('word word word')",
        )
        .await;
    browser.click("stop").await;
    browser.answer_done().await;
    let shown = browser.js(LAST_ANSWER).await;
    let text = shown[0].as_str().unwrap().to_string();
    assert!(
        text.starts_with("word word word") && text.len() < "word ".len() * 3000,
        "what arrived is kept: {shown}"
    );
    assert!(
        shown[1].as_array().unwrap().contains(&json!("Stopped")),
        "{shown}"
    );
    assert_eq!(shown[2], Value::Null, "a stop is no error: {shown}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_answer_keeps_what_arrived_in_the_browsers_own_conversation() {
    let world = World::dev("dev@example.com").await;
    let (browser, server) = open(&world).await;
    let text = stop_an_answer(&browser, &world).await;
    browser.reload_showing(".message.assistant").await;
    let shown = browser.js(LAST_ANSWER).await;
    assert_eq!(shown[0], text.as_str(), "kept across a reload");
    assert!(
        shown[1].as_array().unwrap().contains(&json!("Stopped")),
        "{shown}"
    );
    browser.close().await;
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_answer_keeps_what_arrived_in_a_stored_conversation() {
    let moto = testkit::Moto::start().unwrap();
    create_history_table(&dynamodb_at(&moto.endpoint()).await, HISTORY_TABLE, true).await;
    let world = dev_with_history("ada@example.com", &moto.endpoint(), HISTORY_TABLE).await;
    let server = serve(&world).await;
    let browser = Browser::start().await;
    visit(&browser, &server, "ada@example.com").await;
    let text = stop_an_answer(&browser, &world).await;
    browser.reload_showing(".message.assistant").await;
    let shown = browser.js(LAST_ANSWER).await;
    assert_eq!(shown[0], text.as_str(), "saved as it was shown");
    assert_eq!(shown[2], "You stopped this answer.", "{shown}");
    browser.close().await;
    let _ = server.stop.send(());
}
