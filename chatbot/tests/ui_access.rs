#![allow(clippy::unwrap_used)]
//! Accessible and on a phone, in headless Chromium: axe-core finds no serious or
//! critical violation on the main views; everything is done with the keyboard
//! alone; on a 390×844 touch screen the page fits, the closed sidebar is inert, and
//! answers do not pop the keyboard up (a screenshot is kept under target/).

mod support;

use bedrock_standin::Reply;
use serde_json::{Value, json};
use support::browser::*;
use support::*;

const RICH_ANSWER: &str = "## A heading\n\nSome **bold** text, a [link](https://example.com/docs) and `code`.\n\n```rust\nfn main() {\n    println!(\"a fairly long line of code that must scroll inside its block on a phone\");\n}\n```\n\n| column | another column | a third, wide column |\n|---|---|---|\n| 1 | 2 | 3 |\n\n$$\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2} + \\int_0^\\infty e^{-x^2} dx + \\sum_{k=0}^{100} \\binom{100}{k} x^k y^{100-k}$$\n";

fn assert_no_violations(view: &str, violations: &Value) {
    assert_eq!(
        violations,
        &json!([]),
        "{view}: {}",
        serde_json::to_string_pretty(violations).unwrap()
    );
}

async fn answered(browser: &Browser, count: usize) {
    browser
        .wait_for(
            "the answer",
            &format!(
                "return document.querySelectorAll('.message.assistant').length === {count} \
                 && document.getElementById('messages').getAttribute('aria-busy') === 'false' \
                 && !document.querySelector('.typing')"
            ),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_finds_nothing_serious_on_the_main_views() {
    let world = World::dev("dev@example.com").await;
    world.standin.state().push_reply(Reply::text(RICH_ANSWER));
    let (browser, server) = open(&world).await;
    assert_no_violations("a new chat", &browser.axe_violations().await);

    browser.ask("Show me everything").await;
    answered(&browser, 1).await;
    browser
        .wait_for(
            "the math typeset",
            "return !!document.querySelector('.math-display math')",
        )
        .await;
    assert_no_violations("a conversation", &browser.axe_violations().await);
    std::fs::write(
        screenshot_path("desktop-conversation.png"),
        browser.client.screenshot().await.unwrap(),
    )
    .unwrap();

    browser
        .js("document.querySelector('.message.user .message-action.edit').click()")
        .await;
    assert_no_violations("editing a question", &browser.axe_violations().await);
    browser.keys("\u{E00C}").await; // Escape

    browser.close().await;

    // In dark colours.
    let dark = Browser::start_dark().await;
    dark.client.goto(&server.url).await.unwrap();
    dark.wait_for(
        "the page in dark colours",
        "return document.body.dataset.ready === 'true' \
         && matchMedia('(prefers-color-scheme: dark)').matches",
    )
    .await;
    world.standin.state().push_reply(Reply::text(RICH_ANSWER));
    dark.ask("Show me everything").await;
    answered(&dark, 1).await;
    dark.wait_for(
        "the math typeset",
        "return !!document.querySelector('.math-display math')",
    )
    .await;
    assert_no_violations("dark colours", &dark.axe_violations().await);
    std::fs::write(
        screenshot_path("desktop-conversation-dark.png"),
        dark.client.screenshot().await.unwrap(),
    )
    .unwrap();
    dark.close().await;

    // On a phone, the sidebar closed and open.
    let phone = Browser::start_phone().await;
    phone.client.goto(&server.url).await.unwrap();
    phone
        .wait_for(
            "the page on a phone",
            "return document.body.dataset.ready === 'true'",
        )
        .await;
    assert_no_violations("a phone", &phone.axe_violations().await);
    phone.click("toggle-sidebar").await;
    assert_no_violations("a phone, sidebar open", &phone.axe_violations().await);
    phone.close().await;
    let _ = server.stop.send(());
}

/// The focused element, described: its id, else its class and accessible label.
const FOCUSED: &str = "const e = document.activeElement; \
    return e.id || `${e.className}:${e.getAttribute('aria-label') || e.textContent}`";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_is_done_with_the_keyboard_alone() {
    let world = World::dev("dev@example.com").await;
    let replies = world.standin.state();
    replies.push_reply(Reply::text("First answer"));
    replies.push_reply(Reply::text("First answer, regenerated"));
    replies.push_reply(Reply::text("Answer to the edit"));
    replies.push_reply(Reply::text("Answer in another chat"));
    let (browser, server) = open(&world).await;

    // The composer has the focus on a computer: type and press Enter.
    assert_eq!(browser.js(FOCUSED).await, "input");
    browser.keys("A first question\u{E007}").await;
    answered(&browser, 1).await;
    assert_eq!(
        browser.js(FOCUSED).await,
        "input",
        "back in the composer after the answer"
    );

    // Back through the log to Regenerate.
    assert!(
        browser.tab_to(".message-action.again", true).await,
        "Regenerate reached"
    );
    browser.keys("\u{E007}").await;
    browser
        .wait_for(
            "the regenerated answer",
            "return document.querySelector('.message.assistant .body').textContent === 'First answer, regenerated' \
             && document.getElementById('messages').getAttribute('aria-busy') === 'false'",
        )
        .await;

    // Edit the question: Enter on Edit, the editor takes the focus, Enter sends.
    assert!(
        browser.tab_to(".message-action.edit", true).await,
        "Edit reached"
    );
    browser.keys("\u{E007}").await;
    assert_eq!(
        browser
            .js("return document.activeElement.getAttribute('aria-label')")
            .await,
        "Edit your question"
    );
    browser.keys(" (edited)\u{E007}").await;
    browser
        .wait_for(
            "the answer to the edit",
            "return document.querySelector('.message.assistant .body').textContent === 'Answer to the edit' \
             && document.querySelector('.message.user .body').textContent === 'A first question (edited)'",
        )
        .await;

    // A new chat from the sidebar, then a question there.
    assert!(browser.tab_to("#new-chat", true).await, "New chat reached");
    browser.keys("\u{E007}").await;
    assert_eq!(browser.js(FOCUSED).await, "input");
    browser.keys("Another chat\u{E007}").await;
    browser
        .wait_for(
            "the answer in the other chat",
            "return document.querySelector('.message.assistant .body')?.textContent === 'Answer in another chat'",
        )
        .await;
    assert_eq!(browser.js(LISTED).await.as_array().unwrap().len(), 2);

    // The other conversation's delete button: reached, visible when focused, and
    // it deletes.
    assert!(
        browser
            .tab_to("#conversations li:not(.active) .delete", true)
            .await,
        "the delete button of a conversation that is not open reached"
    );
    assert_eq!(
        browser
            .js("return getComputedStyle(document.activeElement).opacity")
            .await,
        "1"
    );
    browser.keys("\u{E007}").await;
    browser
        .wait_for(
            "one conversation left",
            &format!("const listed = (() => {{ {LISTED} }})(); return listed.join('|') === 'Another chat'"),
        )
        .await;

    // Escape stops an answer.
    replies
        .push_reply(Reply::text("word ".repeat(2000)).paced(std::time::Duration::from_millis(20)));
    assert!(browser.tab_to("#input", false).await);
    browser.keys("Talk a lot\u{E007}").await;
    browser
        .wait_for(
            "the answer streaming",
            "return document.querySelector('#messages > .message:last-child .body').textContent.includes('word word')",
        )
        .await;
    browser.keys("\u{E00C}").await;
    browser
        .wait_for(
            "the answer stopped",
            "return document.querySelector('#messages > .message:last-child .meta')?.textContent.includes('Stopped')",
        )
        .await;
    browser.close().await;
    let _ = server.stop.send(());
}

/// Where the screenshots of a test go: under target/, never committed.
fn screenshot_path(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Layout facts of the page as it is: the viewport, whether anything is wider than
/// it, and where the composer is.
const LAYOUT: &str = "const composer = document.getElementById('composer').getBoundingClientRect(); \
    const send = document.getElementById('send').getBoundingClientRect(); \
    const messages = document.getElementById('messages'); \
    return { width: innerWidth, height: innerHeight, coarse: matchMedia('(pointer: coarse)').matches, \
             pageWidth: document.documentElement.scrollWidth, \
             logOverflow: messages.scrollWidth - messages.clientWidth, \
             composer: [composer.left, composer.top, composer.right, composer.bottom], \
             send: [send.left, send.top, send.right, send.bottom], \
             sidebarInert: document.getElementById('sidebar').inert, \
             focused: document.activeElement.id }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_the_page_fits_and_the_keyboard_stays_down() {
    let world = World::dev("dev@example.com").await;
    world.standin.state().push_reply(Reply::text(RICH_ANSWER));
    let server = serve(&world).await;
    let phone = Browser::start_phone().await;
    phone.client.goto(&server.url).await.unwrap();
    phone
        .wait_for(
            "the page on a phone",
            "return document.body.dataset.ready === 'true'",
        )
        .await;
    let layout = phone.js(LAYOUT).await;
    assert_eq!(layout["width"], PHONE.0, "{layout}");
    assert_eq!(layout["height"], PHONE.1, "{layout}");
    assert_eq!(layout["coarse"], true, "{layout}");
    assert_eq!(
        layout["sidebarInert"], true,
        "closed, out of reach: {layout}"
    );
    assert_ne!(
        layout["focused"], "input",
        "no keyboard on arrival: {layout}"
    );

    phone.ask("Show me everything").await;
    answered(&phone, 1).await;
    phone
        .wait_for(
            "the math typeset",
            "return !!document.querySelector('.math-display math')",
        )
        .await;
    let layout = phone.js(LAYOUT).await;
    assert_ne!(
        layout["focused"], "input",
        "the answer does not pop the keyboard up: {layout}"
    );
    assert!(
        layout["pageWidth"].as_u64().unwrap() <= u64::from(PHONE.0),
        "nothing wider than the screen: {layout}"
    );
    assert!(
        layout["logOverflow"].as_i64().unwrap() <= 0,
        "code, tables and math scroll inside themselves: {layout}"
    );
    let inside = |rect: &Value| {
        let r: Vec<f64> = rect
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        r[0] >= 0.0 && r[1] >= 0.0 && r[2] <= f64::from(PHONE.0) && r[3] <= f64::from(PHONE.1)
    };
    assert!(
        inside(&layout["composer"]),
        "the composer on screen: {layout}"
    );
    assert!(inside(&layout["send"]), "Send on screen: {layout}");
    let png = phone.client.screenshot().await.unwrap();
    assert_eq!(&png[1..4], b"PNG");
    std::fs::write(screenshot_path("phone-conversation.png"), &png).unwrap();

    // The sidebar: opened, it takes the focus; Escape closes it, inert again.
    phone.click("toggle-sidebar").await;
    phone
        .wait_for(
            "the sidebar open",
            "return !document.getElementById('sidebar').inert \
             && document.getElementById('chat').inert \
             && document.activeElement.id === 'new-chat'",
        )
        .await;
    std::fs::write(
        screenshot_path("phone-sidebar.png"),
        phone.client.screenshot().await.unwrap(),
    )
    .unwrap();
    phone.keys("\u{E00C}").await;
    phone
        .wait_for(
            "the sidebar closed",
            "return document.getElementById('sidebar').inert \
             && !document.getElementById('chat').inert \
             && document.activeElement.id === 'toggle-sidebar'",
        )
        .await;
    phone.close().await;
    let _ = server.stop.send(());
}

/// A screen reader reads a `role="log"` as it grows: asking must add to it, not
/// build it again (which would read the whole conversation again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_log_only_grows_while_a_conversation_is_open() {
    let world = World::dev("dev@example.com").await;
    let (browser, server) = open(&world).await;
    assert_eq!(
        browser
            .js("const m = document.getElementById('messages'); return [m.getAttribute('role'), m.getAttribute('aria-live')]")
            .await,
        json!(["log", "polite"])
    );
    browser.ask("First").await;
    answered(&browser, 1).await;
    browser
        .js("window.__removed = []; \
             new MutationObserver(records => records.forEach(r => r.removedNodes.forEach(n => \
               window.__removed.push(n.className || n.nodeName)))) \
             .observe(document.getElementById('messages'), { childList: true });")
        .await;
    browser.ask("Second").await;
    answered(&browser, 2).await;
    browser.ask("Third").await;
    answered(&browser, 3).await;
    assert_eq!(browser.js("return window.__removed").await, json!([]));
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#messages > .message').length")
            .await,
        6
    );
    browser.close().await;
    let _ = server.stop.send(());
}
