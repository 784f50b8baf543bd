#![allow(clippy::unwrap_used)]
//! The screenshots of the chatbot's README, made in headless Chromium: a chatbot
//! keeping history (the emulator's DynamoDB) and offering two priced models, on a
//! desktop and on a phone. Written under `target/tmp/screenshots/` on every run;
//! `CHATBOT_UPDATE_SCREENSHOTS=1 cargo test -p bedrock-chatbot --test ui_screenshots`
//! also writes them into `docs/screenshots/`, where the README links them.

mod support;

use bedrock_chatbot::config::ENV_MODELS;
use bedrock_standin::Reply;
use serde_json::json;
use support::browser::*;
use support::*;

const FIRST_QUESTION: &str = "Summarise our on-call policy in three bullets";
const FIRST_ANSWER: &str = "- **Who**: one engineer per week, handing over on Mondays.\n- **When**: pages are acknowledged within 15 minutes.\n- **After**: every incident gets a short write-up.";

const QUESTION: &str = "How do I read a file line by line in Rust?";
const ANSWER: &str = "Wrap the file in a `BufReader` and iterate over `lines()`:\n\n```rust\nuse std::fs::File;\nuse std::io::{self, BufRead, BufReader};\n\nfn main() -> io::Result<()> {\n    let file = File::open(\"notes.txt\")?;\n    for line in BufReader::new(file).lines() {\n        println!(\"{}\", line?);\n    }\n    Ok(())\n}\n```\n\n- `lines()` yields an `io::Result<String>` per line, without its newline.\n- The buffer makes **one read per 8 KiB**, not one per line.\n\nFor a file of $n$ lines that is $O(n)$ time in constant memory.";

/// Saves `png` as `name` under target/, and into docs/screenshots/ when asked.
fn keep(name: &str, png: &[u8]) {
    assert_eq!(&png[1..4], b"PNG");
    let scratch = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::write(scratch.join(name), png).unwrap();
    if std::env::var("CHATBOT_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(name), png).unwrap();
    }
}

/// The page as a team's users see it: without the development identity's banner
/// (the test signs in that way; a deployed chatbot has the load balancer).
const AS_DEPLOYED: &str = "document.getElementById('dev-banner').hidden = true; return true";

const ANSWERED: &str = "return document.getElementById('messages').getAttribute('aria-busy') === 'false' \
    && document.querySelectorAll('.message.assistant').length > 0 \
    && !document.querySelector('.typing') \
    && (!document.querySelector('.math-inline, .math-display') || !!document.querySelector('math'))";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_screenshots() {
    let moto = testkit::Moto::start().unwrap();
    create_history_table(&dynamodb_at(&moto.endpoint()).await, HISTORY_TABLE, true).await;
    let models = json!([
        { "id": MODEL, "label": "Claude Sonnet 4",
          "pricing": { "currency": "USD", "inputPerMillion": 3, "outputPerMillion": 15 } },
        { "id": "us.anthropic.claude-3-5-haiku-20241022-v1:0", "label": "Claude 3.5 Haiku",
          "pricing": { "currency": "USD", "inputPerMillion": 0.8, "outputPerMillion": 4 } },
    ])
    .to_string();
    let world = dev_with_history_and(
        "ada@example.com",
        &moto.endpoint(),
        HISTORY_TABLE,
        &[(ENV_MODELS, &models)],
    )
    .await;
    let replies = world.standin.state();
    replies.push_reply(Reply::text(FIRST_ANSWER));
    replies.push_reply(Reply::text(ANSWER));
    let server = serve(&world).await;

    let desktop = Browser::start().await;
    visit(&desktop, &server, "ada@example.com").await;
    desktop.ask(FIRST_QUESTION).await;
    desktop.wait_for("the first answer", ANSWERED).await;
    desktop.click("new-chat").await;
    desktop.ask(QUESTION).await;
    desktop
        .wait_for(
            "the second answer",
            &format!(
                "return document.getElementById('title').textContent === {} && (() => {{ {ANSWERED} }})()",
                json!(QUESTION)
            ),
        )
        .await;
    desktop.js(AS_DEPLOYED).await;
    keep(
        "chatbot-desktop.png",
        &desktop.client.screenshot().await.unwrap(),
    );
    desktop.close().await;

    // The same user on a phone: the newest conversation opens.
    let phone = Browser::start_phone_at(2.0).await;
    visit(&phone, &server, "ada@example.com").await;
    phone.wait_for("the conversation", ANSWERED).await;
    phone.js(AS_DEPLOYED).await;
    // With the picker too, the composer fits the screen.
    let fits = phone
        .js(
            "const inside = (id) => { const r = document.getElementById(id).getBoundingClientRect(); \
               return r.left >= 0 && r.right <= innerWidth && r.bottom <= innerHeight; }; \
             return [inside('input'), inside('model-picker'), inside('send'), \
                     document.documentElement.scrollWidth <= innerWidth]",
        )
        .await;
    assert_eq!(fits, json!([true, true, true, true]));
    keep(
        "chatbot-phone.png",
        &phone.client.screenshot().await.unwrap(),
    );
    phone.close().await;
    let _ = server.stop.send(());
}
