//! The single-page UI, embedded in the binary (no CDN): the page at `/` (signed-in
//! users only) and its assets at `/assets/…` (public: code and styles, no data, so the
//! sign-in and signed-out pages are styled too).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;

const INDEX_HTML: &str = include_str!("../assets/index.html");

/// `(name, content type, content)` of every asset.
const ASSETS: [(&str, &str, &str); 9] = [
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
    // Fetched by markdown.js only when an answer has math.
    (
        "katex.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/vendor/katex.min.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../assets/app.css"),
    ),
    // Applies the chosen theme before the page is drawn (a classic script in <head>).
    (
        "theme.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/theme.js"),
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

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    asset_response(&name, headers.get(header::IF_NONE_MATCH))
}

/// The asset `name`, or 304 when the browser holds this version (`if_none_match`).
/// Assets are revalidated on every load (`no-cache`), and the page's scripts weigh
/// some 250 KB: unchanged, they are not sent again.
fn asset_response(name: &str, if_none_match: Option<&HeaderValue>) -> Response {
    let Some(index) = ASSETS.iter().position(|(n, _, _)| *n == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (_, content_type, content) = ASSETS[index];
    let etag = ETAGS[index].as_str();
    let cached = if_none_match
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
        });
    let headers = [(header::ETAG, etag), (header::CACHE_CONTROL, "no-cache")];
    if cached {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, [(header::CONTENT_TYPE, content_type)], content).into_response()
}

/// Each asset's entity tag, a hash of its content (which is fixed at build time):
/// another build with other content has other tags.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|(_, _, content)| {
            let mut hasher = DefaultHasher::new();
            content.hash(&mut hasher);
            format!("\"{:016x}-{:x}\"", hasher.finish(), content.len())
        })
        .collect()
});

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
    fn an_unchanged_asset_is_not_sent_again() {
        let first = asset_response("highlight.min.js", None);
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        assert!(etag.to_str().unwrap().starts_with('"'), "{etag:?}");

        let again = asset_response("highlight.min.js", Some(&etag));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG], etag);
        let weak_in_a_list =
            HeaderValue::from_str(&format!("\"other\", W/{}", etag.to_str().unwrap())).unwrap();
        assert_eq!(
            asset_response("highlight.min.js", Some(&weak_in_a_list)).status(),
            StatusCode::NOT_MODIFIED
        );

        // Another asset's tag, or another version's, is no match.
        let other = asset_response("markdown-it.min.js", None).headers()[header::ETAG].clone();
        assert_ne!(other, etag);
        assert_eq!(
            asset_response("highlight.min.js", Some(&other)).status(),
            StatusCode::OK
        );
        assert_eq!(
            asset_response("nothing.js", Some(&etag)).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn pages_escape_what_they_show() {
        let page = message_page("<t>", "a \"b\" <script>", Some(("x", "/?a=1&b=2")));
        assert!(page.contains("&lt;script&gt;"));
        assert!(!page.contains("<script>"));
        assert!(page.contains("/?a=1&amp;b=2"));
    }
}
