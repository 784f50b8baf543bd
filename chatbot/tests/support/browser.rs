//! A real browser for the UI tests: Debian's headless Chromium (installed by
//! `scripts/setup-browser`) driven through chromedriver with fantoccini, and the
//! app served on 127.0.0.1 for it.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::World;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process, a fresh browser profile and a WebDriver session.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

/// What a phone shows: the viewport of a 390×844 screen (CSS pixels), touch input
/// (`pointer: coarse`).
pub const PHONE: (u32, u32) = (390, 844);

impl Browser {
    pub async fn start() -> Self {
        Self::start_with(None, &[]).await
    }

    /// A browser whose system asks for dark colours (`prefers-color-scheme: dark`).
    pub async fn start_dark() -> Self {
        Self::start_with(None, &["--force-dark-mode"]).await
    }

    /// A browser emulating a phone ([`PHONE`]), as Chromium's device mode does.
    pub async fn start_phone() -> Self {
        Self::start_phone_at(3.0).await
    }

    /// [`Browser::start_phone`] with `pixel_ratio` device pixels per CSS pixel (its
    /// screenshots are that much larger).
    pub async fn start_phone_at(pixel_ratio: f64) -> Self {
        Self::start_with(Some(json!({
            "deviceMetrics": { "width": PHONE.0, "height": PHONE.1, "pixelRatio": pixel_ratio, "touch": true },
            "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
        })), &[])
        .await
    }

    async fn start_with(mobile_emulation: Option<Value>, extra_args: &[&str]) -> Self {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the UI tests need Debian's chromium and chromium-driver; run ./scripts/setup-browser"
            );
        }
        let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile =
            std::env::temp_dir().join(format!("chatbot-ui-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let mut capabilities = serde_json::Map::new();
        let mut options = json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1200,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
        });
        for arg in extra_args {
            options["args"].as_array_mut().unwrap().push(json!(arg));
        }
        if let Some(emulation) = mobile_emulation {
            options["mobileEmulation"] = emulation;
        }
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        Self {
            client,
            driver,
            profile,
        }
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits until `script` returns true (a ceiling, not a timing assertion).
    pub async fn wait_for(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.js(script).await == Value::Bool(true) {
                return;
            }
            assert!(Instant::now() < deadline, "never happened: {what}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The serious and critical violations axe-core finds in the page as it is now
    /// (WCAG 2.1 A and AA, and axe's best practices): `[{id, impact, help, nodes}]`.
    /// axe-core (vendored by `scripts/update-vendored` under `tests/axe/`) is put in
    /// the page through WebDriver: the app never serves it.
    pub async fn axe_violations(&self) -> Value {
        let loaded = self.js("return typeof window.axe === 'object'").await;
        if loaded != Value::Bool(true) {
            let axe = std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/axe/axe.min.js"
            ))
            .expect("tests/axe/axe.min.js: run ./scripts/update-vendored");
            self.js(&format!("{axe}\nreturn true;")).await;
        }
        self.client
            .execute_async(
                "const done = arguments[0]; \
                 axe.run(document, { runOnly: { type: 'tag', \
                     values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } }) \
                   .then(r => done(r.violations \
                     .filter(v => v.impact === 'serious' || v.impact === 'critical') \
                     .map(v => ({ id: v.id, impact: v.impact, help: v.help, \
                                  nodes: v.nodes.map(n => [n.target.join(' '), n.failureSummary]) })))) \
                   .catch(e => done(String(e)));",
                vec![],
            )
            .await
            .unwrap()
    }

    /// Presses Tab (or Shift+Tab, `backwards`) until the focused element matches
    /// `css`, at most 80 times; true when it did.
    pub async fn tab_to(&self, css: &str, backwards: bool) -> bool {
        let check = format!(
            "return !!document.activeElement && document.activeElement.matches({})",
            json!(css)
        );
        for _ in 0..80 {
            if self.js(&check).await == Value::Bool(true) {
                return true;
            }
            let key = if backwards {
                "\u{E008}\u{E004}"
            } else {
                "\u{E004}"
            };
            self.client
                .active_element()
                .await
                .unwrap()
                .send_keys(key)
                .await
                .unwrap();
        }
        false
    }

    /// Types `keys` into whatever has the focus.
    pub async fn keys(&self, keys: &str) {
        self.client
            .active_element()
            .await
            .unwrap()
            .send_keys(keys)
            .await
            .unwrap();
    }

    pub async fn ask(&self, question: &str) {
        let input = self.client.find(Locator::Id("input")).await.unwrap();
        input.send_keys(question).await.unwrap();
        self.client
            .find(Locator::Id("send"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    pub async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Reloads the page and waits until it is ready and shows `messages` (a CSS
    /// selector under `#messages`) again.
    pub async fn reload_showing(&self, messages: &str) {
        self.client.refresh().await.unwrap();
        self.wait_for(
            "the page after reload",
            &format!(
                "return document.body.dataset.ready === 'true' \
                 && document.querySelectorAll('#messages > {messages}').length > 0"
            ),
        )
        .await;
    }

    pub async fn answer_done(&self) {
        self.wait_for(
            "the answer to finish",
            "return document.getElementById('messages').getAttribute('aria-busy') === 'false' \
             && !!document.querySelector('.message.assistant') \
             && document.getElementById('stop').hidden",
        )
        .await;
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

pub struct Server {
    pub url: String,
    pub stop: oneshot::Sender<()>,
}

pub async fn serve(world: &World) -> Server {
    let listener = bedrock_chatbot::app::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, signal) = oneshot::channel::<()>();
    tokio::spawn(bedrock_chatbot::serve(
        world.state.clone(),
        listener,
        async move {
            let _ = signal.await;
        },
    ));
    Server {
        url: format!("http://{addr}/"),
        stop,
    }
}

pub async fn open(world: &World) -> (Browser, Server) {
    let server = serve(world).await;
    let browser = Browser::start().await;
    browser.client.goto(&server.url).await.unwrap();
    browser
        .wait_for(
            "the page to load and know who is signed in",
            "return document.body.dataset.ready === 'true' && document.getElementById('who').textContent === 'dev@example.com'",
        )
        .await;
    (browser, server)
}

/// A chatbot keeping history in the emulator's DynamoDB, signed in as `name` (a
/// development identity), on `table` (made by the caller, as the operator makes it).
pub async fn dev_with_history(name: &str, dynamodb: &str, table: &str) -> World {
    dev_with_history_and(name, dynamodb, table, &[]).await
}

/// [`dev_with_history`] with these variables set too.
pub async fn dev_with_history_and(
    name: &str,
    dynamodb: &str,
    table: &str,
    overrides: &[(&str, &str)],
) -> World {
    let mut vars = vec![
        (bedrock_chatbot::config::ENV_HISTORY_TABLE, table),
        (bedrock_chatbot::config::ENV_HISTORY_RETENTION_DAYS, "90"),
    ];
    vars.extend_from_slice(overrides);
    let world = World::dev_with(name, &vars).await;
    world.keeping_history_at(dynamodb).await
}

/// Opens `server` in `browser` signed in as `name`, the page ready.
pub async fn visit(browser: &Browser, server: &Server, name: &str) {
    browser.client.goto(&server.url).await.unwrap();
    browser
        .wait_for(
            "the page to load and know who is signed in",
            &format!(
                "return document.body.dataset.ready === 'true' \
                 && document.getElementById('who').textContent === '{name}'"
            ),
        )
        .await;
}

/// The titles the sidebar lists.
pub const LISTED: &str =
    "return Array.from(document.querySelectorAll('#conversations .open')).map(b => b.textContent)";
