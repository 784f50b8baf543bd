#![allow(clippy::unwrap_used)]
//! The server over real sockets on 127.0.0.1: graceful shutdown, the container health
//! check, and the binary's refusals.

mod support;

use std::process::Command;
use std::time::Duration;

use bedrock_chatbot::healthcheck;
use bedrock_standin::Reply;
use support::*;
use tokio::sync::oneshot;

struct Running {
    addr: std::net::SocketAddr,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<bedrock_chatbot::Result<()>>,
}

async fn start(world: &World) -> Running {
    let listener = bedrock_chatbot::app::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, signal) = oneshot::channel::<()>();
    let state = world.state.clone();
    let served = tokio::spawn(bedrock_chatbot::serve(state, listener, async move {
        let _ = signal.await;
    }));
    Running { addr, stop, served }
}

/// Reads server-sent events from a reqwest response.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn next(&mut self) -> Option<(String, serde_json::Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let event = block.lines().find_map(|l| l.strip_prefix("event: "));
                let data = block.lines().find_map(|l| l.strip_prefix("data: "));
                if let (Some(event), Some(data)) = (event, data) {
                    return Some((event.to_string(), serde_json::from_str(data).unwrap()));
                }
                continue;
            }
            let chunk = self.response.chunk().await.unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

async fn ask(addr: std::net::SocketAddr, id: &str) -> Events {
    let response = reqwest::Client::new()
        .post(format!("{}/api/chat", local(addr)))
        .header("x-amzn-oidc-data", TokenSpec::valid().sign(&alb_key()))
        .header("content-type", "application/json")
        .body(question(id, "tell me a long story").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    Events {
        response,
        buffer: String::new(),
    }
}

#[tokio::test]
async fn sigterm_lets_running_answers_finish_within_the_grace_period() {
    let world = World::new(&[("CHATBOT_SHUTDOWN_GRACE_SECONDS", "60")]).await;
    let story = "word ".repeat(60);
    world
        .standin
        .state()
        .push_reply(Reply::text(story.clone()).paced(Duration::from_millis(10)));
    let server = start(&world).await;
    let mut events = ask(server.addr, "story").await;
    assert_eq!(events.next().await.unwrap().0, "start");
    let mut text = String::new();
    let (event, data) = events.next().await.unwrap();
    assert_eq!(event, "delta");
    text.push_str(data["text"].as_str().unwrap());

    server.stop.send(()).unwrap();
    wait_until(|| world.state.lifecycle.is_draining()).await;

    let mut last = None;
    while let Some((event, data)) = events.next().await {
        if event == "delta" {
            text.push_str(data["text"].as_str().unwrap());
        }
        last = Some((event, data));
    }
    let (event, data) = last.unwrap();
    assert_eq!(event, "done", "{data}");
    assert_eq!(data["stopReason"], "end_turn");
    assert_eq!(text, story);
    server.served.await.unwrap().unwrap();
    assert!(healthcheck::check(server.addr, Duration::from_secs(1)).is_err());
}

#[tokio::test]
async fn past_the_grace_period_running_answers_end_with_a_reason() {
    let world = World::new(&[("CHATBOT_SHUTDOWN_GRACE_SECONDS", "0")]).await;
    world
        .standin
        .state()
        .push_reply(Reply::text("word ".repeat(2000)).paced(Duration::from_millis(10)));
    let server = start(&world).await;
    let mut events = ask(server.addr, "endless").await;
    events.next().await.unwrap();
    events.next().await.unwrap();

    server.stop.send(()).unwrap();

    let mut last = None;
    while let Some(event) = events.next().await {
        last = Some(event);
    }
    let (event, data) = last.unwrap();
    assert_eq!(event, "error");
    assert_eq!(data["kind"], "shutting_down");
    server.served.await.unwrap().unwrap();
    let state = world.standin.state().clone();
    wait_until(|| state.streams_abandoned() == 1).await;
}

// Multi-threaded: the check and the binary block, and the server must keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_healthcheck_passes_only_on_a_200() {
    let world = World::new(&[]).await;
    let server = start(&world).await;
    healthcheck::check(server.addr, Duration::from_secs(2)).unwrap();

    // The binary, as the container runs it.
    let binary = env!("CARGO_BIN_EXE_bedrock-chatbot");
    let status = Command::new(binary)
        .args(["healthcheck", "--port", &server.addr.port().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    // Something that answers, but not 200 (the stand-in has no `/`).
    let standin = world.standin.addr();
    let err = healthcheck::check(standin, Duration::from_secs(2)).unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    let status = Command::new(binary)
        .args(["healthcheck", "--port", &standin.port().to_string()])
        .status()
        .unwrap();
    assert!(!status.success());

    server.stop.send(()).unwrap();
    server.served.await.unwrap().unwrap();
    // Nothing listening.
    let status = Command::new(binary)
        .args([
            "healthcheck",
            "--port",
            &server.addr.port().to_string(),
            "--timeout-ms",
            "500",
        ])
        .status()
        .unwrap();
    assert!(!status.success());
}

#[test]
fn the_dev_identity_is_refused_off_loopback() {
    let output = Command::new(env!("CARGO_BIN_EXE_bedrock-chatbot"))
        .args(["--dev-identity", "dev@example.com", "--listen", "0.0.0.0:0"])
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--dev-identity is for local use only"),
        "{stderr}"
    );
}

#[test]
fn a_missing_variable_is_named_at_startup() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bedrock-chatbot"));
    for name in bedrock_chatbot::config::OPERATOR_SET {
        command.env_remove(name);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AWS_REGION"), "{stderr}");
}
