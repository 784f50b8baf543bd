#![allow(clippy::unwrap_used)]
//! Attached files, through the real handlers and the real S3 client, against the
//! AWS emulator's S3 (a bucket as the operator makes it): upload and download, whose
//! files they are, what is refused (by the bytes, not the name), and S3 faults.

mod support;

use axum::http::StatusCode;
use bedrock_chatbot::attachments::format::{MAX_DOCUMENT_BYTES, MAX_IMAGE_BYTES};
use serde_json::Value;
use support::*;
use testkit::{Fault, FaultProxy, Faults, Moto};
use tower::ServiceExt;

/// Emulators this file runs at once: each is a Python process, and all of this
/// file's tests at once, on a machine busy with other work, made some of their calls
/// time out.
const EMULATORS_AT_ONCE: usize = 4;

/// The emulators running now.
static RUNNING: (std::sync::Mutex<usize>, std::sync::Condvar) =
    (std::sync::Mutex::new(0), std::sync::Condvar::new());

/// A place among the [`EMULATORS_AT_ONCE`], given back when dropped (a panic
/// while starting included).
struct Place;

impl Place {
    fn take() -> Self {
        let (count, freed) = &RUNNING;
        let mut running = count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *running >= EMULATORS_AT_ONCE {
            running = freed
                .wait(running)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *running += 1;
        Self
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let (count, freed) = &RUNNING;
        *count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) -= 1;
        freed.notify_one();
    }
}

/// An emulator with its place (the emulator stops first).
struct Emulator {
    moto: Moto,
    _place: Place,
}

impl Emulator {
    fn start() -> Self {
        let place = Place::take();
        Self {
            moto: Moto::start().unwrap(),
            _place: place,
        }
    }

    fn endpoint(&self) -> String {
        self.moto.endpoint()
    }
}

/// `TokenSpec::valid()`'s user.
const ADA: &str = "2b4e1c9a-user";
/// Another user of the same chatbot.
const BOB: &str = "7f3d0c1e-bob";

/// Bind every field (`_moto` too: `..` would drop the emulator at once).
struct Setup {
    _moto: Emulator,
    /// Straight to the emulator.
    s3: aws_sdk_s3::Client,
    world: World,
}

async fn setup() -> Setup {
    let moto = Emulator::start();
    let s3 = s3_at(&moto.endpoint()).await;
    create_attachments_bucket(&s3).await;
    let world = World::new(&attachments_env())
        .await
        .keeping_attachments_at(&moto.endpoint())
        .await;
    Setup {
        _moto: moto,
        s3,
        world,
    }
}

/// Uploads `bytes` as `name` for `user`: the status and the JSON answered.
async fn upload(world: &World, user: &str, name: &str, bytes: &[u8]) -> (StatusCode, Value) {
    let response = world
        .app()
        .oneshot(upload_as(user, name, bytes))
        .await
        .unwrap();
    (response.status(), body_json(response).await)
}

async fn call(world: &World, user: &str, method: &str, uri: &str) -> axum::response::Response {
    world
        .app()
        .oneshot(signed_as(user, method, uri, None))
        .await
        .unwrap()
}

async fn bytes_of(response: axum::response::Response) -> Vec<u8> {
    use http_body_util::BodyExt;
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

#[tokio::test]
async fn an_uploaded_image_is_stored_under_the_users_prefix_and_served_back_inline() {
    let Setup { _moto, s3, world } = setup().await;
    let image = png(64, 48);
    let (status, stored) = upload(&world, ADA, "C:\\fakepath\\holiday.png", &image).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    let id = stored["id"].as_str().unwrap();
    assert_eq!(stored["name"], "holiday.png");
    assert_eq!(stored["kind"], "image");
    assert_eq!(stored["format"], "png");
    assert_eq!(stored["size"], image.len());
    assert_eq!(
        attachment_keys(&s3).await,
        vec![format!("{ATTACHMENTS_PREFIX}{ADA}/{id}")]
    );

    let response = call(&world, ADA, "GET", &format!("/api/attachments/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["content-disposition"], "inline");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(bytes_of(response).await, image);
}

#[tokio::test]
async fn a_document_is_downloaded_never_rendered_whatever_its_name() {
    let Setup { _moto, world, .. } = setup().await;
    let page = b"<script>alert(document.cookie)</script>";
    let (status, stored) = upload(&world, ADA, "r\u{e9}sum\u{e9}; x.html", page).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["kind"], "document");
    assert_eq!(stored["format"], "html");
    assert_eq!(stored["name"], "r\u{e9}sum\u{e9}; x.html");
    let id = stored["id"].as_str().unwrap();
    let response = call(&world, ADA, "GET", &format!("/api/attachments/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert_eq!(
        disposition,
        "attachment; filename=\"r_sum__ x.html\"; filename*=UTF-8''r%C3%A9sum%C3%A9%3B%20x.html"
    );
    assert_eq!(bytes_of(response).await, page);
}

#[tokio::test]
async fn another_users_attachment_is_answered_as_if_it_did_not_exist() {
    let Setup { _moto, s3, world } = setup().await;
    let (_, stored) = upload(&world, ADA, "mine.txt", b"Ada's notes").await;
    let id = stored["id"].as_str().unwrap();
    let uri = format!("/api/attachments/{id}");

    let response = call(&world, BOB, "GET", &uri).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_json(response).await["error"]["kind"], "not_found");
    // Bob's delete of Ada's id names Bob's own (absent) file: Ada's stays.
    assert_eq!(
        call(&world, BOB, "DELETE", &uri).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(attachment_keys(&s3).await.len(), 1);
    assert_eq!(
        call(&world, ADA, "GET", &uri).await.status(),
        StatusCode::OK
    );

    for bad in ["../x", "0123456789ABCDEF", "short"] {
        let response = call(&world, ADA, "GET", &format!("/api/attachments/{bad}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{bad}");
    }
}

#[tokio::test]
async fn a_user_deletes_an_attachment_of_their_own() {
    let Setup { _moto, s3, world } = setup().await;
    let (_, stored) = upload(&world, ADA, "chip.png", &png(2, 2)).await;
    let uri = format!("/api/attachments/{}", stored["id"].as_str().unwrap());
    assert_eq!(
        call(&world, ADA, "DELETE", &uri).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(attachment_keys(&s3).await.is_empty());
    assert_eq!(
        call(&world, ADA, "GET", &uri).await.status(),
        StatusCode::NOT_FOUND
    );
    // Again: nothing to delete, and nothing wrong.
    assert_eq!(
        call(&world, ADA, "DELETE", &uri).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn files_are_refused_by_their_bytes_and_size_and_nothing_is_stored() {
    let Setup { _moto, s3, world } = setup().await;
    let program = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xffPE\0\0";
    let mut big_image = png(100, 100);
    big_image.resize(MAX_IMAGE_BYTES + 1, 0);
    let mut big_document = b"%PDF-1.7\n".to_vec();
    big_document.resize(MAX_DOCUMENT_BYTES + 1, b' ');
    let cases: [(&str, &[u8], StatusCode, &str, &str); 6] = [
        (
            "cat.png",
            program,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_attachment",
            "“cat.png” is named as a PNG image but is binary data",
        ),
        (
            "report.pdf",
            &png(2, 2),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_attachment",
            "“report.pdf” is named as a PDF but is a PNG image",
        ),
        (
            "setup.exe",
            program,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_attachment",
            "this chatbot takes images (PNG, JPEG, GIF, WebP) and documents",
        ),
        (
            "big.png",
            &big_image,
            StatusCode::PAYLOAD_TOO_LARGE,
            "attachment_too_large",
            "an image may be at most 3.75 MB",
        ),
        (
            "big.pdf",
            &big_document,
            StatusCode::PAYLOAD_TOO_LARGE,
            "attachment_too_large",
            "a document may be at most 4.5 MB",
        ),
        (
            "empty.txt",
            b"",
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "“empty.txt” is empty",
        ),
    ];
    for (name, bytes, status, kind, says) in cases {
        let (got, body) = upload(&world, ADA, name, bytes).await;
        assert_eq!(got, status, "{name}: {body}");
        assert_eq!(body["error"]["kind"], kind, "{name}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{name}: {message}");
    }
    assert!(attachment_keys(&s3).await.is_empty());
}

#[tokio::test]
async fn uploads_have_their_own_body_limit_and_one_file_each() {
    let Setup { _moto, s3, world } = setup().await;
    // Over the JSON bodies' 2 MiB and within a document's 4.5 MB: taken.
    let mut text = vec![b'a'; 3 * 1024 * 1024];
    text.extend(b"\n");
    let (status, body) = upload(&world, ADA, "long.txt", &text).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Over the upload limit itself: refused unread, with the same words.
    let huge = vec![b'a'; 6 * 1024 * 1024];
    let (status, body) = upload(&world, ADA, "huge.txt", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["kind"], "attachment_too_large");

    let mut two = multipart_body("file", "a.txt", b"one");
    let second = multipart_body("file", "b.txt", b"two");
    // One body, two parts: drop the first closing boundary.
    two.truncate(two.len() - format!("--{BOUNDARY}--\r\n").len());
    two.extend_from_slice(&second[..]);
    let response = world.app().oneshot(raw_upload_as(ADA, two)).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = body_json(response).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("one file per upload"),
        "{body}"
    );
    let response = world
        .app()
        .oneshot(raw_upload_as(
            ADA,
            multipart_body("picture", "a.png", &png(1, 1)),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = world
        .app()
        .oneshot(signed_as(
            ADA,
            "POST",
            "/api/attachments",
            Some(serde_json::json!({})),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Only the 3 MB text file was stored.
    assert_eq!(attachment_keys(&s3).await.len(), 1);
}

#[tokio::test]
async fn me_says_whether_attachments_are_taken_and_within_what_limits() {
    let Setup { _moto, world, .. } = setup().await;
    let me = body_json(call(&world, ADA, "GET", "/api/me").await).await;
    let offered = &me["attachments"];
    assert_eq!(offered["enabled"], true);
    assert_eq!(offered["maxImageBytes"], MAX_IMAGE_BYTES);
    assert_eq!(offered["maxDocumentBytes"], MAX_DOCUMENT_BYTES);
    assert_eq!(offered["maxImages"], 20);
    assert_eq!(offered["maxDocuments"], 5);
    assert_eq!(
        offered["imageFormats"],
        serde_json::json!(["png", "jpeg", "gif", "webp"])
    );

    let off = World::new(&[]).await;
    let me = body_json(call(&off, ADA, "GET", "/api/me").await).await;
    assert_eq!(me["attachments"], serde_json::json!({ "enabled": false }));
    let (status, body) = upload(&off, ADA, "a.png", &png(1, 1)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["kind"], "attachments_disabled");
}

#[tokio::test]
async fn s3_unavailable_is_a_clear_error_and_the_next_upload_works() {
    let moto = Emulator::start();
    let s3 = s3_at(&moto.endpoint()).await;
    create_attachments_bucket(&s3).await;
    let proxy = FaultProxy::start(
        &moto.endpoint(),
        Faults {
            rate: 1.0,
            kinds: vec![Fault::Unavailable, Fault::Reset, Fault::InternalError],
            seed: 7,
        },
    )
    .await
    .unwrap();
    let world = World::new(&attachments_env())
        .await
        .keeping_attachments_at(&proxy.endpoint())
        .await;
    let response = world
        .app()
        .oneshot(upload_as(ADA, "a.png", &png(1, 1)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    let body = body_json(response).await;
    assert_eq!(body["error"]["kind"], "attachments_unavailable");
    assert_eq!(
        body["error"]["message"],
        "attached files cannot be reached right now; retry in a moment"
    );
    assert!(attachment_keys(&s3).await.is_empty());

    proxy.set_faults(Faults {
        rate: 0.0,
        kinds: vec![],
        seed: 1,
    });
    let (status, body) = upload(&world, ADA, "a.png", &png(1, 1)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

// ---------------------------------------------------------------------------
// Questions with attachments: what reaches Bedrock.

/// Uploads `bytes` as `name` for Ada; its id.
async fn uploaded(world: &World, name: &str, bytes: &[u8]) -> String {
    let (status, stored) = upload(world, ADA, name, bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{name}: {stored}");
    stored["id"].as_str().unwrap().to_string()
}

/// Asks `body` as Ada: the status and, when it streams, its events.
async fn ask(world: &World, body: Value) -> (StatusCode, Vec<SseEvent>, Value) {
    let response = world
        .app()
        .oneshot(signed_as(ADA, "POST", "/api/chat", Some(body)))
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::OK {
        (status, SseReader::new(response).all().await, Value::Null)
    } else {
        (status, Vec::new(), body_json(response).await)
    }
}

fn user(text: &str, attachments: &[&str]) -> Value {
    serde_json::json!({ "role": "user", "text": text, "attachments": attachments })
}

fn model(text: &str) -> Value {
    serde_json::json!({ "role": "assistant", "text": text })
}

fn messages(id: &str, turns: Vec<Value>) -> Value {
    serde_json::json!({ "id": id, "messages": turns })
}

#[tokio::test]
async fn an_attached_file_reaches_bedrock_unchanged_beside_its_question() {
    let Setup { _moto, world, .. } = setup().await;
    world
        .standin
        .state()
        .set_default(bedrock_standin::Reply::echo());
    let image = png(64, 48);
    let pdf = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n".to_vec();
    let image_id = uploaded(&world, "chart.png", &image).await;
    let pdf_id = uploaded(&world, "Q3 report_final.pdf", &pdf).await;

    let (status, events, _) = ask(
        &world,
        messages(
            "a1",
            vec![user("What do these show?", &[&image_id, &pdf_id])],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let answer = text_of(&events);
    assert!(answer.contains("- an image: png"), "{answer}");
    assert!(
        answer.contains("- a document, \"Q3 report final\": pdf"),
        "{answer}"
    );
    assert_eq!(events[0].data.get("droppedAttachments"), None);

    let request = world.standin.state().requests().pop().unwrap();
    assert_eq!(request.attachments.len(), 2);
    assert!(request.attachments[0].is(&image));
    assert!(request.attachments[1].is(&pdf));
    assert_eq!(
        request.attachments[1].name.as_deref(),
        Some("Q3 report final")
    );
}

#[tokio::test]
async fn files_of_the_same_name_in_two_turns_get_names_unique_in_the_request() {
    let Setup { _moto, world, .. } = setup().await;
    let first = uploaded(&world, "notes.txt", b"first notes").await;
    let second = uploaded(&world, "notes.txt", b"second notes").await;
    let (status, events, body) = ask(
        &world,
        messages(
            "a2",
            vec![
                user("Read my notes.", &[&first]),
                model("Read."),
                user("And these?", &[&second]),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(events.last().unwrap().event, "done");
    let request = world.standin.state().requests().pop().unwrap();
    let names: Vec<_> = request
        .attachments
        .iter()
        .map(|a| a.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["notes", "notes (2)"]);
    assert!(request.attachments[0].is(b"first notes"));
    assert!(request.attachments[1].is(b"second notes"));
}

#[tokio::test]
async fn a_question_with_another_users_file_is_refused_before_bedrock() {
    let Setup { _moto, world, .. } = setup().await;
    let (status, bob) = upload(&world, BOB, "bob.txt", b"Bob's secret").await;
    assert_eq!(status, StatusCode::CREATED);
    let bobs = bob["id"].as_str().unwrap();
    let (status, _, body) = ask(&world, messages("a3", vec![user("Read it", &[bobs])])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not there (removed, or not yours)"),
        "{message}"
    );
    assert!(world.standin.state().requests().is_empty());
    // Files on the model's side are refused too.
    let mine = uploaded(&world, "mine.txt", b"mine").await;
    let turns = vec![
        user("q", &[]),
        serde_json::json!({ "role": "assistant", "text": "a", "attachments": [mine] }),
        user("q2", &[]),
    ];
    let (status, _, _) = ask(&world, messages("a4", turns)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(world.standin.state().requests().is_empty());
}

#[tokio::test]
async fn a_question_over_the_counts_or_the_budget_is_refused_before_bedrock() {
    let Setup { _moto, world, .. } = setup().await;
    let mut ids = Vec::new();
    for n in 0..21 {
        ids.push(uploaded(&world, &format!("{n}.png"), &png(1, 1)).await);
    }
    let all: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (status, _, body) = ask(&world, messages("a5", vec![user("Look", &all)])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["kind"], "too_many_attachments");
    assert_eq!(
        body["error"]["message"],
        "a question may carry at most 20 images; this one has 21"
    );

    let mut full = png(100, 100);
    full.resize(MAX_IMAGE_BYTES, 0);
    let mut big = Vec::new();
    for n in 0..4 {
        big.push(uploaded(&world, &format!("big{n}.png"), &full).await);
    }
    let four: Vec<&str> = big.iter().map(String::as_str).collect();
    let (status, _, body) = ask(&world, messages("a6", vec![user("Look", &four)])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("at most 13 MB of files"), "{message}");
    assert!(world.standin.state().requests().is_empty());

    // Older turns' files that no longer fit beside the question's are left out, and
    // the answer says how many.
    let turns = vec![
        user("first", &four[..3]),
        model("seen"),
        user("and this one?", &four[3..]),
    ];
    let (status, events, body) = ask(&world, messages("a7", turns)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(events[0].data["droppedAttachments"], 1);
    let request = world.standin.state().requests().pop().unwrap();
    assert_eq!(request.attachments.len(), 3);
    assert!(request.attachments.iter().all(|a| a.is(&full)));
}

// ---------------------------------------------------------------------------
// With history: a conversation keeps its files, and deleting it deletes them.

struct WithHistory {
    _moto: Emulator,
    s3: aws_sdk_s3::Client,
    world: World,
}

/// History in the emulator's DynamoDB, attachments in its S3; and its endpoint, for
/// other worlds (tasks) on the same table and bucket.
async fn setup_with_history() -> (WithHistory, String) {
    let moto = Emulator::start();
    let s3 = s3_at(&moto.endpoint()).await;
    create_attachments_bucket(&s3).await;
    let dynamodb = dynamodb_at(&moto.endpoint()).await;
    create_history_table(&dynamodb, HISTORY_TABLE, true).await;
    let endpoint = moto.endpoint();
    let world = World::with_history(&endpoint, HISTORY_TABLE, 90, &attachments_env())
        .await
        .keeping_attachments_at(&endpoint)
        .await;
    (
        WithHistory {
            _moto: moto,
            s3,
            world,
        },
        endpoint,
    )
}

/// Asks `question` with these files in `conversation` (none: a new one); the
/// conversation's id.
async fn ask_stored(
    world: &World,
    conversation: Option<&str>,
    question: &str,
    files: &[&str],
) -> String {
    let mut body = serde_json::json!({
        "id": format!("s{}", files.len()),
        "question": question,
        "attachments": files,
    });
    if let Some(id) = conversation {
        body["conversation"] = serde_json::json!(id);
    }
    let (status, events, body) = ask(world, body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(events.last().unwrap().event, "done", "{events:?}");
    events[0].data["conversation"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_stored_conversation_reopens_with_its_files_and_keeps_giving_them_to_the_model() {
    let (WithHistory { _moto, world, .. }, endpoint) = setup_with_history().await;
    let image = png(640, 480);
    let image_id = uploaded(&world, "diagram.png", &image).await;
    let conversation = ask_stored(&world, None, "What is this?", &[&image_id]).await;
    let first = world.standin.state().requests().pop().unwrap();
    assert!(first.attachments[0].is(&image));

    // The next question (from the memory of this conversation) still shows it.
    ask_stored(&world, Some(&conversation), "And its colours?", &[]).await;
    let second = world.standin.state().requests().pop().unwrap();
    assert_eq!(second.attachments.len(), 1);
    assert!(second.attachments[0].is(&image));
    assert_eq!(second.attachments[0].message, 0);

    let response = call(
        &world,
        ADA,
        "GET",
        &format!("/api/conversations/{conversation}"),
    )
    .await;
    let stored = body_json(response).await;
    let listed = &stored["turns"][0]["attachments"];
    assert_eq!(
        listed,
        &serde_json::json!([{
            "id": image_id, "name": "diagram.png", "kind": "image",
            "format": "png", "size": image.len(),
        }])
    );
    assert_eq!(stored["turns"][2].get("attachments"), None);

    // Another task (no memory of it) reads the files from the stored conversation.
    let fresh = World::with_history(&endpoint, HISTORY_TABLE, 90, &attachments_env())
        .await
        .keeping_attachments_at(&endpoint)
        .await;
    ask_stored(&fresh, Some(&conversation), "Once more?", &[]).await;
    let third = fresh.standin.state().requests().pop().unwrap();
    assert_eq!(third.attachments.len(), 1);
    assert!(third.attachments[0].is(&image));
}

#[tokio::test]
async fn deleting_a_conversation_deletes_its_files_and_only_the_owners() {
    let (WithHistory { _moto, s3, world }, _) = setup_with_history().await;
    let kept = uploaded(&world, "unsent.txt", b"never sent").await;
    let sent = uploaded(&world, "sent.txt", b"sent once").await;
    let conversation = ask_stored(&world, None, "Read this", &[&sent]).await;
    assert_eq!(attachment_keys(&s3).await.len(), 2);

    let uri = format!("/api/conversations/{conversation}");
    assert_eq!(
        call(&world, BOB, "DELETE", &uri).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(attachment_keys(&s3).await.len(), 2);

    assert_eq!(
        call(&world, ADA, "DELETE", &uri).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        attachment_keys(&s3).await,
        vec![format!("{ATTACHMENTS_PREFIX}{ADA}/{kept}")]
    );
    assert_eq!(
        call(&world, ADA, "GET", &format!("/api/attachments/{sent}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_conversation_whose_files_cannot_be_deleted_stays_to_be_deleted_again() {
    let (setup, endpoint) = setup_with_history().await;
    let proxy = FaultProxy::start(
        &endpoint,
        Faults {
            rate: 0.0,
            kinds: vec![],
            seed: 3,
        },
    )
    .await
    .unwrap();
    let world = World::with_history(&endpoint, HISTORY_TABLE, 90, &attachments_env())
        .await
        .keeping_attachments_at(&proxy.endpoint())
        .await;
    let sent = uploaded(&world, "sent.txt", b"sent once").await;
    let conversation = ask_stored(&world, None, "Read this", &[&sent]).await;

    proxy.set_faults(Faults {
        rate: 1.0,
        kinds: vec![Fault::Unavailable],
        seed: 3,
    });
    let uri = format!("/api/conversations/{conversation}");
    let response = call(&world, ADA, "DELETE", &uri).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body_json(response).await["error"]["kind"],
        "attachments_unavailable"
    );
    assert_eq!(
        call(&world, ADA, "GET", &uri).await.status(),
        StatusCode::OK
    );
    assert_eq!(attachment_keys(&setup.s3).await.len(), 1);

    proxy.set_faults(Faults {
        rate: 0.0,
        kinds: vec![],
        seed: 3,
    });
    assert_eq!(
        call(&world, ADA, "DELETE", &uri).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(attachment_keys(&setup.s3).await.is_empty());
}

// ---------------------------------------------------------------------------
// What AWS's S3 does that the emulator does not.

/// S3 as the task role sees it: it may get objects under its prefix but not list the
/// bucket, so S3 answers a key that is not there with 403 `AccessDenied`, not 404
/// `NoSuchKey` (Amazon S3 API Reference, GetObject, "Permissions").
async fn s3_without_list_permission() -> String {
    use axum::response::IntoResponse;
    let denied = || async {
        (
            StatusCode::FORBIDDEN,
            [("content-type", "application/xml")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>x</HostId></Error>",
        )
            .into_response()
    };
    let router = axum::Router::new().fallback(denied);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::test]
async fn a_missing_file_is_not_found_when_s3_says_access_denied_for_it() {
    let endpoint = s3_without_list_permission().await;
    let world = World::new(&attachments_env())
        .await
        .keeping_attachments_at(&endpoint)
        .await;
    let response = call(&world, ADA, "GET", "/api/attachments/0mxb0zh8kw3pkaj1").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (status, _, body) = ask(
        &world,
        messages("d1", vec![user("Read it", &["0mxb0zh8kw3pkaj1"])]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // An earlier turn's file gone (expired) is left out, not an error.
    let turns = vec![
        user("first", &["0mxb0zh8kw3pkaj1"]),
        model("seen"),
        user("go on", &[]),
    ];
    let (status, events, body) = ask(&world, messages("d2", turns)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(events[0].data["droppedAttachments"], 1);
}

#[tokio::test]
async fn uploads_have_a_per_user_rate_of_their_own() {
    let moto = Emulator::start();
    let s3 = s3_at(&moto.endpoint()).await;
    create_attachments_bucket(&s3).await;
    let mut vars = attachments_env().to_vec();
    vars.push((bedrock_chatbot::config::ENV_RATE_PER_MINUTE, "1"));
    let world = World::new(&vars)
        .await
        .keeping_attachments_at(&moto.endpoint())
        .await;
    // One question a minute still allows one question's worth of files (25 at once,
    // then one every 2.4 s): uploading faster is refused sooner or later.
    let mut stored = 0;
    let response = loop {
        let response = world
            .app()
            .oneshot(upload_as(ADA, &format!("{stored}.txt"), b"x"))
            .await
            .unwrap();
        if response.status() != StatusCode::CREATED {
            break response;
        }
        stored += 1;
        assert!(stored < 500, "never refused");
    };
    assert!(stored >= 25, "{stored}");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let body = body_json(response).await;
    assert_eq!(body["error"]["kind"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("you are attaching files faster than this chatbot allows"),
        "{body}"
    );
    assert_eq!(attachment_keys(&s3).await.len(), stored);
    // Another user is not affected.
    let (status, _) = upload(&world, BOB, "b.txt", b"x").await;
    assert_eq!(status, StatusCode::CREATED);
}
