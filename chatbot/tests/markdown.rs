#![allow(clippy::unwrap_used)]
//! The page's Markdown in headless Chromium: the renderer (`assets/markdown.js` on
//! the vendored markdown-it, highlight.js and KaTeX) against examples of the
//! CommonMark spec and the cases chat answers are full of (under Trusted Types, so
//! that no HTML is ever written as a string), an answer streaming under a reader's
//! selection, and math.

mod support;

use std::time::Duration;

use bedrock_standin::Reply;
use serde_json::{Value, json};
use support::browser::*;
use support::*;

/// The examples of the CommonMark spec, but those about raw HTML and bare links
/// (`scripts/update-vendored` writes this file from the npm package
/// `commonmark-spec`, and says which it leaves out and why).
const SPEC_EXAMPLES: &str = include_str!("commonmark/commonmark-spec-0.31.2.json");

/// Renders each case with the page's renderer and compares it with its expected
/// HTML, both normalised the same way: whitespace between blocks and attribute order
/// do not count; the page's chrome (a code block's bar and copy button, a table's
/// scrolling wrapper, a link's `target` and `rel`, highlighting spans) is taken off;
/// and what the page does on purpose differently from plain CommonMark is applied to
/// the expected HTML: a link to anything but http(s) and mailto shows its text only,
/// and an image is a link to it, never loaded. Resolves to the cases that differ.
const COMPARE: &str = r#"
const [cases] = arguments;
// Trusted Types: from here on, any HTML written as a string (innerHTML and the like)
// throws, so a renderer that wrote HTML would fail every case. Only this test's own
// policy may turn a string into HTML: to parse the expected HTML.
const csp = document.createElement('meta');
csp.httpEquiv = 'Content-Security-Policy';
csp.content = "require-trusted-types-for 'script'; trusted-types corpus";
document.head.append(csp);
const corpus = trustedTypes.createPolicy('corpus', { createHTML: (html) => html });
try {
  document.createElement('div').innerHTML = '<b>x</b>';
  return [{ name: 'Trusted Types are enforced', markdown: '', want: 'innerHTML refused', got: 'innerHTML written' }];
} catch {
  // refused, as it should be
}
return import('/assets/markdown.js').then(({ renderMarkdown }) => {
const SAFE = /^(https?:|mailto:)/i;
const BLOCKS = new Set(['P', 'DIV', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'UL', 'OL', 'LI', 'BLOCKQUOTE',
  'PRE', 'TABLE', 'THEAD', 'TBODY', 'TR', 'TH', 'TD', 'HR']);

function unwrap(el) { el.replaceWith(...el.childNodes); }

function expected(html) {
  const root = new DOMParser().parseFromString(corpus.createHTML(`<div>${html}</div>`), 'text/html').body.firstChild;
  for (const img of [...root.querySelectorAll('img')]) {
    const label = document.createTextNode(`[image: ${img.getAttribute('alt') ?? ''}]`);
    const src = img.getAttribute('src') ?? '';
    if (SAFE.test(src)) {
      const a = document.createElement('a');
      a.setAttribute('href', src);
      a.append(label);
      img.replaceWith(a);
    } else {
      img.replaceWith(label);
    }
  }
  for (const a of [...root.querySelectorAll('a')]) if (!SAFE.test(a.getAttribute('href') ?? '')) unwrap(a);
  return root;
}

function rendered(markdown, options) {
  const root = document.createElement('div');
  root.append(renderMarkdown(markdown, options));
  for (const block of [...root.querySelectorAll('div.code-block')]) block.replaceWith(block.querySelector('pre'));
  for (const code of root.querySelectorAll('pre > code')) code.textContent = code.textContent;
  for (const wrap of [...root.querySelectorAll('div.table-wrap')]) unwrap(wrap);
  for (const a of root.querySelectorAll('a')) { a.removeAttribute('target'); a.removeAttribute('rel'); }
  return root;
}

function canonical(root) {
  for (const cell of root.querySelectorAll('[style]')) {
    if (cell.style.textAlign) cell.setAttribute('align', cell.style.textAlign);
    cell.removeAttribute('style');
  }
  root.normalize();
  const walk = (node, pre) => {
    if (node.nodeType === Node.TEXT_NODE) {
      if (pre) return node.data;
      let text = node.data.replace(/\s+/g, ' ');
      const atBlock = (sibling) => !sibling ? BLOCKS.has(node.parentNode.tagName) : sibling.nodeType === Node.ELEMENT_NODE && BLOCKS.has(sibling.tagName);
      if (atBlock(node.previousSibling)) text = text.replace(/^ /, '');
      if (atBlock(node.nextSibling)) text = text.replace(/ $/, '');
      return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    }
    if (node.nodeType !== Node.ELEMENT_NODE) return `<!--${node.nodeType}-->`;
    const tag = node.tagName.toLowerCase();
    const attrs = [...node.attributes].map((a) => `${a.name}="${a.value}"`).sort().join(' ');
    const inner = [...node.childNodes].map((child) => walk(child, pre || tag === 'pre')).join('');
    return `<${tag}${attrs ? ' ' + attrs : ''}>${inner}</${tag}>`;
  };
  return [...root.childNodes].map((child) => walk(child, false)).join('');
}

const differ = [];
for (const c of cases) {
  try {
    const want = canonical(expected(c.html));
    const got = canonical(rendered(c.markdown, c.options));
    if (want !== got) differ.push({ name: c.name, markdown: c.markdown, want, got });
  } catch (error) {
    differ.push({ name: c.name, markdown: c.markdown, want: '(no error)', got: String(error.stack) });
  }
}
return differ;
});
"#;

/// Plain CommonMark: headings at their own level, single newlines as spaces.
fn commonmark() -> Value {
    json!({ "headingOffset": 0, "breaks": false })
}

/// Cases beyond the spec's examples: what answers hold and a hand-written renderer
/// gets wrong, the GFM extensions the page turns on, and the page's own choices.
fn chat_cases() -> Vec<Value> {
    let case = |name: &str, markdown: &str, html: &str| json!({ "name": name, "markdown": markdown, "html": html, "options": commonmark() });
    vec![
        case(
            "a link with parentheses in its destination",
            "See [Rust](https://en.wikipedia.org/wiki/Rust_(programming_language)) and [this](<https://example.com/a (b)>).\n",
            r#"<p>See <a href="https://en.wikipedia.org/wiki/Rust_(programming_language)">Rust</a> and <a href="https://example.com/a%20(b)">this</a>.</p>"#,
        ),
        case(
            "backslash escapes",
            "\\*not emphasis\\*, \\`not code\\`, \\[not a link\\](x), 1\\. not a list, a \\\\ backslash\n",
            "<p>*not emphasis*, `not code`, [not a link](x), 1. not a list, a \\ backslash</p>",
        ),
        case(
            "a table with a pipe in code",
            "| command | meaning |\n|:--|--:|\n| `a \\| b` | pipe |\n| `x` | **bold** |\n",
            r#"<table><thead><tr><th align="left">command</th><th align="right">meaning</th></tr></thead>
               <tbody><tr><td align="left"><code>a | b</code></td><td align="right">pipe</td></tr>
               <tr><td align="left"><code>x</code></td><td align="right"><strong>bold</strong></td></tr></tbody></table>"#,
        ),
        case(
            "bare links, and file names that only look like domains",
            "Read https://example.com/docs?q=1. Or www.example.com, or write to ops@example.com. Not main.rs nor app.py.\n",
            r#"<p>Read <a href="https://example.com/docs?q=1">https://example.com/docs?q=1</a>. Or <a href="http://www.example.com">www.example.com</a>, or write to <a href="mailto:ops@example.com">ops@example.com</a>. Not main.rs nor app.py.</p>"#,
        ),
        case(
            "a fence inside a longer fence",
            "````markdown\n```python\nprint(1)\n```\n````\n",
            "<pre><code class=\"language-markdown\">```python\nprint(1)\n```\n</code></pre>",
        ),
        case(
            "a fence inside a tilde fence, and one left open while streaming",
            "~~~\n```\n~~~\n\n```rust\nfn main() {\n",
            "<pre><code>```\n</code></pre><pre><code class=\"language-rust\">fn main() {\n</code></pre>",
        ),
        case(
            "strikethrough and task lists",
            "- [x] done ~~later~~\n- [ ] to do\n",
            r#"<ul><li><input type="checkbox" checked disabled> done <s>later</s></li><li><input type="checkbox" disabled> to do</li></ul>"#,
        ),
        case(
            "links to anything but http(s) and mailto are text",
            "[a](javascript:alert(1)) [b](/sign-out) [c](data:text/html,x) <javascript:alert(2)>\n",
            "<p>[a](javascript:alert(1)) b [c](data:text/html,x) &lt;javascript:alert(2)&gt;</p>",
        ),
        case(
            "images are links, never loaded",
            "![chart](https://example.com/c.png \"t\") ![x](/local.png)\n",
            r#"<p><a href="https://example.com/c.png">[image: chart]</a> [image: x]</p>"#,
        ),
        case(
            "dollar amounts and escaped brackets are not math",
            "It costs $5 or $10, \\[not math\\], and \\$x\\$.\n",
            "<p>It costs $5 or $10, [not math], and $x$.</p>",
        ),
        case(
            "HTML is text",
            "<div onclick=\"x()\">hi</div>\n\nand <b>bold</b>\n",
            "<p>&lt;div onclick=\"x()\"&gt;hi&lt;/div&gt;</p><p>and &lt;b&gt;bold&lt;/b&gt;</p>",
        ),
        json!({
            "name": "the page's headings sit below its title, and single newlines break lines",
            "markdown": "# Title\n\none\ntwo\n",
            "html": "<h2>Title</h2><p>one<br>\ntwo</p>",
            "options": {},
        }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renders_commonmark_spec_examples_and_chat_cases_like_commonmark() {
    let world = World::dev("dev@example.com").await;
    let (browser, server) = open(&world).await;

    let spec: Vec<Value> = serde_json::from_str(SPEC_EXAMPLES).unwrap();
    assert!(spec.len() > 500, "{} examples", spec.len());
    let mut cases: Vec<Value> = spec
        .iter()
        .map(|example| {
            json!({
                "name": format!("spec example {} ({})", example["number"], example["section"].as_str().unwrap()),
                "markdown": example["markdown"],
                "html": example["html"],
                "options": commonmark(),
            })
        })
        .collect();
    cases.extend(chat_cases());

    let differ = browser
        .client
        .execute(COMPARE, vec![Value::Array(cases)])
        .await
        .unwrap();
    let differ = differ.as_array().unwrap();
    assert!(
        differ.is_empty(),
        "{} cases render differently:\n{}",
        differ.len(),
        differ
            .iter()
            .map(|d| format!(
                "{}\n  markdown: {:?}\n  want: {}\n  got:  {}",
                d["name"].as_str().unwrap(),
                d["markdown"].as_str().unwrap(),
                d["want"].as_str().unwrap(),
                d["got"].as_str().unwrap()
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );

    browser.close().await;
    let _ = server.stop.send(());
}

/// While an answer streams, the blocks already written stay the same nodes: a reader
/// who selects text in the first paragraph keeps the selection as the rest arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_selected_in_an_earlier_block_stays_selected_while_the_answer_streams() {
    let world = World::dev("dev@example.com").await;
    let answer = format!(
        "The first paragraph has words to select.\n\nThe second {}\n\n- a list\n- at the end\n",
        "keeps going, ".repeat(150)
    );
    world
        .standin
        .state()
        .push_reply(Reply::text(answer).paced(Duration::from_millis(30)));
    let (browser, server) = open(&world).await;

    browser.ask("Write at length").await;
    browser
        .wait_for(
            "the first paragraph, followed by the second",
            "const a = document.querySelector('.message.assistant .body'); \
             return !!a && a.textContent.includes('keeps going')",
        )
        .await;
    let selected = browser
        .js(
            "const a = document.querySelector('.message.assistant .body'); \
             const p = a.querySelector('p'); \
             p.dataset.marked = 'before'; \
             const text = p.firstChild; \
             const start = text.data.indexOf('words to select'); \
             const range = document.createRange(); \
             range.setStart(text, start); \
             range.setEnd(text, start + 'words to select'.length); \
             getSelection().removeAllRanges(); \
             getSelection().addRange(range); \
             return { selection: getSelection().toString(), length: a.textContent.length, \
                      streaming: document.getElementById('messages').getAttribute('aria-busy') }",
        )
        .await;
    assert_eq!(selected["selection"], "words to select");
    assert_eq!(
        selected["streaming"], "true",
        "the answer was still streaming when the text was selected"
    );

    // More of the answer arrives, and is shown…
    let length = selected["length"].as_u64().unwrap();
    browser
        .wait_for(
            "more of the answer",
            &format!(
                "return document.querySelector('.message.assistant .body').textContent.length > {length} + 200"
            ),
        )
        .await;
    // …while the first paragraph is the same element, still selected.
    let after = browser
        .js("const p = document.querySelector('.message.assistant .body p'); \
             const s = getSelection(); \
             return { marked: p.dataset.marked || null, selection: s.toString(), \
                      inFirst: s.rangeCount === 1 && p.contains(s.getRangeAt(0).commonAncestorContainer), \
                      streaming: document.getElementById('messages').getAttribute('aria-busy') }")
        .await;
    assert_eq!(
        after,
        json!({ "marked": "before", "selection": "words to select", "inFirst": true, "streaming": "true" })
    );

    // The whole answer, once done, is rendered and the first paragraph still stands.
    browser.answer_done().await;
    let done = browser
        .js("const a = document.querySelector('.message.assistant .body'); \
             return { marked: a.querySelector('p').dataset.marked || null, items: a.querySelectorAll('ul li').length, \
                      paragraphs: a.querySelectorAll(':scope > p').length }")
        .await;
    assert_eq!(
        done,
        json!({ "marked": "before", "items": 2, "paragraphs": 2 })
    );

    browser.close().await;
    let _ = server.stop.send(());
}

/// Rendering a growing text into the same element builds only the blocks that
/// changed; a link reference defined further down, which changes blocks above it,
/// builds them all again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_answer_rebuilds_only_its_changed_blocks() {
    let world = World::dev("dev@example.com").await;
    let (browser, server) = open(&world).await;

    let kept = browser
        .client
        .execute(
            "return import('/assets/markdown.js').then(({ renderMarkdownInto }) => {
                const body = document.createElement('div');
                const steps = ['Intro\\n\\nSee [docs]', 'Intro\\n\\nSee [docs] and more\\n\\n- a',
                               'Intro\\n\\nSee [docs] and more\\n\\n- a\\n- b\\n\\n[docs]: https://example.com/docs'];
                const seen = [];
                for (const text of steps) {
                    const before = [...body.children];
                    renderMarkdownInto(body, text);
                    seen.push({
                        html: [...body.children].map((e) => e.outerHTML.replace(/ target=\"_blank\" rel=\"[^\"]*\"/, '')).join(''),
                        kept: [...body.children].map((e) => before.includes(e)),
                    });
                }
                return seen;
            })",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        kept,
        json!([
            { "html": "<p>Intro</p><p>See [docs]</p>", "kept": [false, false] },
            { "html": "<p>Intro</p><p>See [docs] and more</p><ul><li>a</li></ul>", "kept": [true, false, false] },
            {
                "html": "<p>Intro</p><p>See <a href=\"https://example.com/docs\">docs</a> and more</p><ul><li>a</li><li>b</li></ul>",
                "kept": [false, false, false]
            },
        ])
    );

    browser.close().await;
    let _ = server.stop.send(());
}

/// TeX in an answer is typeset as MathML once KaTeX, fetched for it, is there; dollar
/// amounts stay text, and nothing KaTeX would only do when trusted (links, HTML
/// ids and classes) is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn math_is_typeset_and_trusts_nothing() {
    let world = World::dev("dev@example.com").await;
    let answer = "Euler: $e^{i\\pi} + 1 = 0$, for $5 or $10, and \\(x_1\\).\n\n\
        $$\n\\int_0^1 x\\,dx = \\frac{1}{2}\n$$\n\n\
        \\[\nE = mc^2\n\\]\n\n\
        Not trusted: $\\href{javascript:window.__pwned=1}{click}$ $\\url{javascript:window.__pwned=2}$ \
        $\\htmlId{pwned}{x}$ $\\includegraphics{https://attacker.example/leak.png}$\n";
    world.standin.state().push_reply(Reply::text(answer));
    let (browser, server) = open(&world).await;

    browser.ask("Some maths").await;
    browser.answer_done().await;
    browser
        .wait_for(
            "KaTeX to typeset the math",
            "return !!window.katex && [...document.querySelectorAll('.message.assistant .math')].every((m) => !!m.querySelector('math'))",
        )
        .await;
    browser
        .client
        .find(fantoccini::Locator::Css(".message.assistant .body"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let typeset = browser
        .js("const a = document.querySelector('.message.assistant .body'); return {
                inline: [...a.querySelectorAll('span.math')].map((m) => m.querySelector('annotation').textContent),
                display: [...a.querySelectorAll('div.math > span > math[display=block], div.math math[display=block]')].length,
                firstParagraph: a.querySelector('p').textContent.includes('for $5 or $10, and'),
                pwned: window.__pwned === undefined ? null : window.__pwned,
                links: a.querySelectorAll('a, [href], [src], #pwned, img, script, [style*=url]').length,
            }")
        .await;
    assert_eq!(
        typeset,
        json!({
            "inline": [
                "e^{i\\pi} + 1 = 0",
                "x_1",
                "\\href{javascript:window.__pwned=1}{click}",
                "\\url{javascript:window.__pwned=2}",
                "\\htmlId{pwned}{x}",
                "\\includegraphics{https://attacker.example/leak.png}",
            ],
            "display": 2,
            "firstParagraph": true,
            "pwned": null,
            "links": 0,
        })
    );

    browser.close().await;
    let _ = server.stop.send(());
}
