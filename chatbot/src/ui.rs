//! The single-page UI, embedded in the binary (no CDN): the page at `/` (signed-in
//! users only) and its assets at `/assets/…` (public: code and styles, no data, so the
//! sign-in and signed-out pages are styled too).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;

const INDEX_HTML: &str = include_str!("../assets/index.html");

/// `(name, content type, content)` of every asset.
const ASSETS: [(&str, &str, &str); 7] = [
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/app.js"),
    ),
    (
        "store.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/store.js"),
    ),
    (
        "markdown.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/markdown.js"),
    ),
    // Vendored from npm by scripts/update-vendored (versions and licences next to
    // them in assets/vendor/), served as they came: plain scripts, no build step.
    (
        "markdown-it.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/vendor/markdown-it.min.js"),
    ),
    (
        "highlight.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/vendor/highlight.min.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../assets/app.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../assets/icon.svg"),
    ),
];

/// The page (authenticated).
pub fn router() -> Router<AppState> {
    Router::new().route("/", get(index))
}

/// The assets (public).
pub fn assets_router() -> Router<AppState> {
    Router::new().route("/assets/{name}", get(asset))
}

async fn index() -> Response {
    let mut response = Html(INDEX_HTML).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, content)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *content,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A small page with a title, a sentence and an optional link (sign-in failures,
/// signed out).
pub fn message_page(title: &str, message: &str, link: Option<(&str, &str)>) -> String {
    let link = link
        .map(|(text, href)| {
            format!(
                r#"<p><a class="button" href="{}">{}</a></p>"#,
                escape(href),
                escape(text)
            )
        })
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Chat</title>
<link rel="icon" href="/assets/icon.svg">
<link rel="stylesheet" href="/assets/app.css">
</head>
<body class="message-page">
<main class="message-card">
<h1>{title}</h1>
<p>{message}</p>
{link}
</main>
</body>
</html>
"#,
        title = escape(title),
        message = escape(message),
    )
}

/// HTML-escapes text for element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_show() {
        let page = message_page("<t>", "a \"b\" <script>", Some(("x", "/?a=1&b=2")));
        assert!(page.contains("&lt;script&gt;"));
        assert!(!page.contains("<script>"));
        assert!(page.contains("/?a=1&amp;b=2"));
    }
}
