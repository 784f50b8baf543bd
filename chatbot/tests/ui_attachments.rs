#![allow(clippy::unwrap_used)]
//! Attaching files in headless Chromium, with history on (the emulator's DynamoDB
//! and S3): files chosen with the file button show as chips (a picture for an image),
//! a chip is removed by keyboard-reachable button (its file deleted from S3), the
//! question goes with the rest, the stand-in's echo says what reached Bedrock (the
//! same bytes), and the question shows its files, after a reload too. The page with
//! chips stays clean for axe-core. A file too large, of a wrong type (read from its
//! bytes by the server) or one too many is refused with a message that says why,
//! and leaves no chip and no object behind.

mod support;

use bedrock_standin::Reply;
use fantoccini::Locator;
use serde_json::json;
use support::browser::*;
use support::*;

/// Chips shown and whether each is still uploading: `[[name, uploading]]`.
const CHIPS: &str = "return [...document.querySelectorAll('#attachments .attachment')] \
    .map(c => [c.querySelector('.file-name').textContent, c.classList.contains('uploading')])";

/// The notice's text, or null while it is hidden (a JavaScript expression).
const NOTICE: &str = "(document.getElementById('notice').hidden ? null \
    : document.getElementById('notice-text').textContent)";

/// A developer's chatbot keeping history and attachments in a fresh emulator (its
/// table and bucket made), and an S3 client to look into the bucket.
async fn with_attachments() -> (testkit::Moto, aws_sdk_s3::Client, World) {
    let moto = testkit::Moto::start().unwrap();
    let endpoint = moto.endpoint();
    create_history_table(&dynamodb_at(&endpoint).await, HISTORY_TABLE, true).await;
    let s3 = s3_at(&endpoint).await;
    create_attachments_bucket(&s3).await;
    let world = dev_with_history_and(
        "dev@example.com",
        &endpoint,
        HISTORY_TABLE,
        &attachments_env(),
    )
    .await
    .keeping_attachments_at(&endpoint)
    .await;
    (moto, s3, world)
}

#[tokio::test]
async fn files_are_attached_by_the_button_removed_by_their_chip_and_sent_with_the_question() {
    let (_moto, s3, world) = with_attachments().await;
    world.standin.state().set_default(Reply::echo());

    let dir = std::env::temp_dir().join(format!("chatbot-ui-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let image = png(64, 48);
    let picture = dir.join("diagram.png");
    std::fs::write(&picture, &image).unwrap();
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "not for this question").unwrap();

    let (browser, _server) = open(&world).await;
    let attach = browser.client.find(Locator::Id("attach")).await.unwrap();
    assert!(
        attach.is_displayed().await.unwrap(),
        "the file button shows"
    );
    let input = browser
        .client
        .find(Locator::Id("file-input"))
        .await
        .unwrap();
    for file in [&picture, &notes] {
        input.send_keys(file.to_str().unwrap()).await.unwrap();
    }
    browser
        .wait_for(
            "both files uploaded",
            "return document.querySelectorAll('#attachments .attachment:not(.uploading)').length === 2",
        )
        .await;
    assert_eq!(
        browser.js(CHIPS).await,
        json!([["diagram.png", false], ["notes.txt", false]])
    );
    assert_eq!(
        browser
            .js("return document.querySelector('#attachments img').src.startsWith('blob:')")
            .await,
        json!(true),
        "the image's chip shows the picture itself"
    );
    assert_eq!(browser.axe_violations().await, json!([]), "with chips");
    assert_eq!(attachment_keys(&s3).await.len(), 2);

    // The text file's chip goes by keyboard, and its file with it.
    assert!(
        browser
            .tab_to("button[aria-label='Remove notes.txt']", false)
            .await
    );
    browser.keys("\u{e007}").await; // Enter
    browser
        .wait_for(
            "one chip left",
            "return document.querySelectorAll('#attachments .attachment').length === 1",
        )
        .await;
    wait_until_async(|| async { attachment_keys(&s3).await.len() == 1 }).await;

    browser.ask("What does the diagram show?").await;
    browser.answer_done().await;
    let answer = browser
        .js("return document.querySelector('.message.assistant .body').textContent")
        .await;
    assert!(
        answer
            .as_str()
            .unwrap()
            .contains("You attached:an image: png"),
        "{answer}"
    );
    assert!(!answer.as_str().unwrap().contains("document"), "{answer}");
    let request = world.standin.state().requests().pop().unwrap();
    assert_eq!(request.attachments.len(), 1);
    assert!(request.attachments[0].is(&image));
    assert_eq!(
        browser.js(CHIPS).await,
        json!([]),
        "the chips went with the question"
    );

    let shown =
        "return [...document.querySelectorAll('.message.user .sent-files img')].map(i => i.alt)";
    assert_eq!(browser.js(shown).await, json!(["diagram.png"]));
    browser.reload_showing(".message.user .sent-files").await;
    assert_eq!(browser.js(shown).await, json!(["diagram.png"]));
    // Regenerated (after the reload: from the stored question), with its file.
    let asked = world.standin.state().requests().len();
    browser
        .js("document.querySelector('.message.assistant .message-action.again').click()")
        .await;
    wait_until(|| world.standin.state().requests().len() > asked).await;
    browser.answer_done().await;
    let again = world.standin.state().requests().pop().unwrap();
    assert_eq!(again.attachments.len(), 1, "regenerated with its file");
    assert!(again.attachments[0].is(&image));
    assert_eq!(browser.js(shown).await, json!(["diagram.png"]));

    // The picture comes from the chatbot, as the image it was checked to be.
    let served = browser
        .js(
            "return fetch(document.querySelector('.message.user .sent-files img').src) \
             .then(r => [r.status, r.headers.get('content-type')])",
        )
        .await;
    assert_eq!(served, json!([200, "image/png"]));

    // An earlier file no longer there (deleted, or expired) is left out of the
    // next question's context, and its answer says so.
    let id = request_id_of(&browser).await;
    let deleted = browser
        .js(&format!(
            "return fetch('/api/attachments/{id}', {{ method: 'DELETE' }}).then(r => r.status)"
        ))
        .await;
    assert_eq!(deleted, json!(204));
    browser.ask("And without it?").await;
    browser
        .wait_for(
            "the second answer",
            "return document.querySelectorAll('.message.assistant').length === 2 \
             && document.getElementById('stop').hidden",
        )
        .await;
    let chips = browser
        .js("return [...document.querySelectorAll('.message.assistant:last-of-type .chip')].map(c => c.textContent)")
        .await;
    assert_eq!(
        chips,
        json!(["1 earlier file was left out: one question can carry only so many"])
    );
    assert!(
        world
            .standin
            .state()
            .requests()
            .pop()
            .unwrap()
            .attachments
            .is_empty()
    );

    browser.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn refused_files_say_why_and_leave_no_chip_and_no_object() {
    let (_moto, s3, world) = with_attachments().await;

    let dir = std::env::temp_dir().join(format!("chatbot-ui-refused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    };
    let mut big = png(100, 100);
    big.resize(5 * 1024 * 1024, 0);
    let big = file("big.png", &big);
    let disguised = file("cat.png", b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xffPE\0\0");
    let notes: Vec<String> = (1..=6)
        .map(|n| file(&format!("notes-{n}.txt"), format!("note {n}").as_bytes()))
        .collect();

    let (browser, _server) = open(&world).await;
    let input = browser
        .client
        .find(Locator::Id("file-input"))
        .await
        .unwrap();

    // Too large: refused by the page before any byte is sent.
    input.send_keys(&big).await.unwrap();
    assert_refused(
        &browser,
        "big.png",
        "“big.png” is 5 MB: an image may be at most",
    )
    .await;
    assert_eq!(browser.js(CHIPS).await, json!([]));
    assert!(attachment_keys(&s3).await.is_empty());

    // Named as a picture, but a program: the server reads the bytes and refuses; the
    // chip shown while it uploaded goes, and nothing stays in the bucket.
    browser
        .js("document.getElementById('notice-close').click()")
        .await;
    input.send_keys(&disguised).await.unwrap();
    assert_refused(
        &browser,
        "cat.png",
        "“cat.png” is named as a PNG image but is binary data",
    )
    .await;
    assert_eq!(browser.js(CHIPS).await, json!([]));
    assert!(attachment_keys(&s3).await.is_empty());

    // Five documents are allowed with one question; the sixth is refused by the page.
    browser
        .js("document.getElementById('notice-close').click()")
        .await;
    for path in &notes[..5] {
        input.send_keys(path).await.unwrap();
    }
    browser
        .wait_for(
            "five documents uploaded",
            "return document.querySelectorAll('#attachments .attachment:not(.uploading)').length === 5",
        )
        .await;
    input.send_keys(&notes[5]).await.unwrap();
    browser
        .wait_for("the count refusal", &format!("return {NOTICE} !== null"))
        .await;
    assert_eq!(
        browser.js(&format!("return {NOTICE}")).await,
        json!("A question may carry at most 5 documents.")
    );
    assert_eq!(
        browser.js(CHIPS).await,
        json!(
            (1..=5)
                .map(|n| [json!(format!("notes-{n}.txt")), json!(false)])
                .collect::<Vec<_>>()
        )
    );
    assert_eq!(attachment_keys(&s3).await.len(), 5);

    browser.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits for the notice about `file` and checks it says `why`.
async fn assert_refused(browser: &Browser, file: &str, why: &str) {
    browser
        .wait_for(
            &format!("the refusal of {file}"),
            &format!("return ({NOTICE} ?? '').includes('{file}')"),
        )
        .await;
    let said = browser.js(&format!("return {NOTICE}")).await;
    assert!(said.as_str().unwrap().contains(why), "{said}");
}

/// The id of the file the first question carries, from its link.
async fn request_id_of(browser: &Browser) -> String {
    let href = browser
        .js("return document.querySelector('.message.user .sent-files a').getAttribute('href')")
        .await;
    href.as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

/// Polls the async `done` until it holds, for at most 20 s.
async fn wait_until_async<F, Fut>(done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done().await {
        assert!(std::time::Instant::now() < deadline, "condition never held");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
