#![allow(clippy::unwrap_used)]
//! Honest sessions, in headless Chromium: an expired load balancer session (every
//! request answered with a redirect to the sign-in page) says "signed out" and keeps
//! the unsent question; older turns left out of the model's context are shown; a
//! connection cut mid-answer says what was kept. A gate in front of the app, on
//! 127.0.0.1, plays the load balancer and the network: nothing leaves the machine
//! (the redirect is never followed).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use bedrock_standin::Reply;
use futures_util::StreamExt;
use serde_json::Value;
use support::browser::*;
use support::*;

/// Where an expired session is sent: the Cognito hosted UI, as the ALB would.
const SIGN_IN: &str = "https://team-a.auth.us-west-2.amazoncognito.com/oauth2/authorize?client_id=5c0le2ttoocl1cnt&response_type=code";

/// What the gate does to the requests it passes on.
#[derive(Default)]
struct Gate {
    /// The session expired: every request is sent to sign in.
    expired: AtomicBool,
    /// The next answer's stream is cut after its first events.
    cut: AtomicBool,
}

async fn gate(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    if gate.expired.load(Ordering::SeqCst) {
        return (StatusCode::FOUND, [(header::LOCATION, SIGN_IN)]).into_response();
    }
    let chat = request.uri().path() == "/api/chat";
    let response = next.run(request).await;
    if !(chat && response.status().is_success() && gate.cut.swap(false, Ordering::SeqCst)) {
        return response;
    }
    // The start and three deltas, then the connection breaks (an error in the body
    // makes the server abort it, as a dropped network would).
    let (parts, body) = response.into_parts();
    let cut = body
        .into_data_stream()
        .take(4)
        .chain(futures_util::stream::once(async {
            Err(axum::Error::new(std::io::Error::other(
                "the network went away",
            )))
        }));
    Response::from_parts(parts, Body::from_stream(cut))
}

/// The app behind the gate, on 127.0.0.1.
async fn serve_gated(world: &World) -> (Arc<Gate>, Server) {
    let gate_state = Arc::new(Gate::default());
    let router = world
        .app()
        .layer(middleware::from_fn_with_state(gate_state.clone(), gate));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, signal) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = signal.await;
            })
            .await
            .unwrap();
    });
    (
        gate_state,
        Server {
            url: format!("http://{addr}/"),
            stop,
        },
    )
}

const NOTICE: &str =
    "const n = document.getElementById('notice'); return n.hidden ? '' : n.textContent";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_says_signed_out_and_keeps_the_question() {
    let world = World::dev("dev@example.com").await;
    signed_out_and_back(&world, "dev@example.com").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_says_signed_out_and_keeps_the_question_with_history_on() {
    let moto = testkit::Moto::start().unwrap();
    create_history_table(&dynamodb_at(&moto.endpoint()).await, HISTORY_TABLE, true).await;
    let world = dev_with_history("ada@example.com", &moto.endpoint(), HISTORY_TABLE).await;
    signed_out_and_back(&world, "ada@example.com").await;
}

/// The session expires with the page open; a question asked then waits for the
/// sign-in and is sent after it.
async fn signed_out_and_back(world: &World, name: &str) {
    let (gate, server) = serve_gated(world).await;
    let browser = Browser::start().await;
    visit(&browser, &server, name).await;

    gate.expired.store(true, Ordering::SeqCst);
    browser
        .ask("A question asked after the session ended")
        .await;
    browser
        .wait_for(
            "the signed-out notice",
            "const n = document.getElementById('notice'); \
             return !n.hidden && n.textContent.includes('You were signed out — sign in again')",
        )
        .await;
    let page = browser
        .js("return { url: location.href, \
                      input: document.getElementById('input').value, \
                      action: document.getElementById('notice-action').textContent, \
                      focused: document.activeElement.id, \
                      error: document.querySelector('.message.assistant .meta .error').textContent }")
        .await;
    assert_eq!(page["url"], server.url, "the redirect was not followed");
    assert_eq!(
        page["input"], "A question asked after the session ended",
        "the question waits in the composer: {page}"
    );
    assert_eq!(page["action"], "Sign in again");
    assert_eq!(page["focused"], "notice-action");
    assert!(
        page["error"].as_str().unwrap().contains("signed out"),
        "{page}"
    );
    assert!(
        !browser
            .js(NOTICE)
            .await
            .as_str()
            .unwrap()
            .contains("connection"),
        "not a lost connection"
    );
    assert!(
        world.standin.state().requests().is_empty(),
        "nothing reached the model"
    );
    assert_eq!(
        browser.axe_violations().await,
        serde_json::json!([]),
        "the signed-out view is accessible"
    );

    // Signed in again (the load balancer knows the browser again): the button
    // reloads the page, and the question is still there to send.
    gate.expired.store(false, Ordering::SeqCst);
    browser.click("notice-action").await;
    visit(&browser, &server, name).await;
    browser
        .wait_for(
            "the question back in the composer",
            "return document.getElementById('input').value === 'A question asked after the session ended' \
             && !document.getElementById('send').disabled",
        )
        .await;
    assert_eq!(browser.js(NOTICE).await, "");
    browser.click("send").await;
    browser
        .wait_for(
            "the answer",
            "const a = document.querySelector('#messages > .message:last-child .body'); \
             return !!a && a.textContent.includes('stand-in')",
        )
        .await;
    browser.close().await;
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_turns_left_out_of_the_context_are_shown_on_the_answer() {
    let world = World::dev_with("dev@example.com", &[("CHATBOT_HISTORY_BUDGET_CHARS", "30")]).await;
    let (browser, server) = open(&world).await;
    browser.ask("0123456789").await;
    browser.answer_done().await;
    browser.ask("Second").await;
    browser
        .wait_for(
            "the second answer",
            "return document.querySelectorAll('.message.assistant').length === 2 \
             && document.getElementById('messages').getAttribute('aria-busy') === 'false'",
        )
        .await;
    let notes = browser
        .js(
            "return [...document.querySelectorAll('.message.assistant')] \
             .map(a => [...a.querySelectorAll('.meta .chip')].map(c => c.textContent) \
               .filter(t => t.includes('left out')))",
        )
        .await;
    assert_eq!(notes[0], Value::Array(vec![]), "{notes}");
    let second = notes[1].as_array().unwrap();
    assert_eq!(second.len(), 1, "{notes}");
    assert!(
        second[0]
            .as_str()
            .unwrap()
            .ends_with("left out to fit the model's context"),
        "{notes}"
    );
    browser.close().await;
    let _ = server.stop.send(());
}

/// The last answer of the page: its text, whether marked incomplete, its error.
const LAST_ANSWER: &str = "const a = document.querySelector('#messages > .message.assistant:last-child'); \
    return a && { text: a.querySelector('.body').textContent, incomplete: a.classList.contains('incomplete'), \
                  error: a.querySelector('.meta .error')?.textContent || '', \
                  busy: document.getElementById('messages').getAttribute('aria-busy') }";

const LONG_ANSWER: &str = "one two three four five six seven eight nine ten eleven twelve";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_mid_answer_keeps_what_arrived_marked_incomplete() {
    let world = World::dev("dev@example.com").await;
    world
        .standin
        .state()
        .push_reply(Reply::text(LONG_ANSWER).paced(Duration::from_millis(30)));
    let (gate, server) = serve_gated(&world).await;
    let browser = Browser::start().await;
    visit(&browser, &server, "dev@example.com").await;
    gate.cut.store(true, Ordering::SeqCst);
    browser.ask("Count for me").await;
    browser
        .wait_for(
            "the cut answer",
            "const a = (() => { {LAST_ANSWER} })(); return !!a && a.busy === 'false' && !!a.error"
                .replace("{LAST_ANSWER}", LAST_ANSWER)
                .as_str(),
        )
        .await;
    let answer = browser.js(LAST_ANSWER).await;
    let text = answer["text"].as_str().unwrap().trim().to_string();
    assert!(
        !text.is_empty() && LONG_ANSWER.starts_with(&text) && text != LONG_ANSWER,
        "{answer}"
    );
    assert_eq!(answer["incomplete"], true, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("what arrived is kept here, marked incomplete"),
        "{answer}"
    );
    browser.client.refresh().await.unwrap();
    visit(&browser, &server, "dev@example.com").await;
    assert_eq!(browser.js(LAST_ANSWER).await["text"], answer["text"]);
    browser.close().await;
    let _ = server.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_mid_answer_shows_what_the_server_saved() {
    let moto = testkit::Moto::start().unwrap();
    create_history_table(&dynamodb_at(&moto.endpoint()).await, HISTORY_TABLE, true).await;
    let world = dev_with_history("ada@example.com", &moto.endpoint(), HISTORY_TABLE).await;
    world
        .standin
        .state()
        .push_reply(Reply::text(LONG_ANSWER).paced(Duration::from_millis(30)));
    let (gate, server) = serve_gated(&world).await;
    let browser = Browser::start().await;
    visit(&browser, &server, "ada@example.com").await;
    gate.cut.store(true, Ordering::SeqCst);
    browser.ask("Count for me").await;
    browser
        .wait_for(
            "the notice of what was saved",
            "const n = document.getElementById('notice'); \
             return !n.hidden && n.textContent.includes('what the chatbot saved')",
        )
        .await;
    let answer = browser.js(LAST_ANSWER).await;
    let text = answer["text"].as_str().unwrap().trim().to_string();
    assert!(
        !text.is_empty() && LONG_ANSWER.starts_with(&text),
        "{answer}"
    );
    assert_eq!(answer["incomplete"], true, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("The connection was lost before this answer was complete"),
        "the server's reason: {answer}"
    );
    // The same after a reload: it is what the server has.
    browser.client.refresh().await.unwrap();
    visit(&browser, &server, "ada@example.com").await;
    browser
        .wait_for(
            "the conversation after reload",
            "return document.querySelectorAll('#messages > .message').length === 2",
        )
        .await;
    let reloaded = browser.js(LAST_ANSWER).await;
    assert_eq!(reloaded["text"], answer["text"]);
    assert_eq!(reloaded["incomplete"], true);
    browser.close().await;
    let _ = server.stop.send(());
}
