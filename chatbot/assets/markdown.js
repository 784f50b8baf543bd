// Markdown as DOM nodes. markdown-it (vendor/markdown-it.min.js, CommonMark with GFM
// tables, strikethrough and bare links) parses; highlight.js (vendor/highlight.min.js)
// tokenizes code. Both are loaded by the page as plain scripts before this module
// runs; KaTeX (vendor/katex.min.js) is fetched when an answer first has math. None
// ever writes HTML here: their tokens are walked into elements and text nodes
// (createElement / createTextNode; KaTeX's own render builds nodes too, as MathML),
// so nothing the model says can run script. Raw HTML stays text (`html: false`), links go only to http(s) and mailto,
// and images are shown as links, never loaded (a remote image would leak the
// conversation through its URL).

const SAFE_LINK = /^(https?:|mailto:)/i;
// Bare links: markdown-it's linkify also finds names such as "main.rs" or "app.py"
// (two-letter country domains); only those written as links become links, as in GFM.
const WRITTEN_AS_LINK = /^(https?:\/\/|www\.|mailto:)/i;

/**
 * How the page renders by default. `headingOffset` moves headings one level down
 * (the page's own title is the h1); `breaks` keeps the model's single newlines as
 * line breaks, as it means them. `{ headingOffset: 0, breaks: false }` is CommonMark.
 */
const PAGE = { headingOffset: 1, breaks: true };

const parsers = new Map();

function parser(breaks) {
  let md = parsers.get(breaks);
  if (!md) {
    md = globalThis.markdownit({ html: false, linkify: true, typographer: false, breaks });
    md.linkify.set({ fuzzyLink: true, fuzzyEmail: true });
    md.inline.ruler.before("escape", "math_inline", mathInline);
    md.block.ruler.before("fence", "math_block", mathBlock, { alt: ["paragraph", "reference", "blockquote", "list"] });
    parsers.set(breaks, md);
  }
  return md;
}

/** Renders `source` into a DocumentFragment. */
export function renderMarkdown(source, options = {}) {
  const settings = { ...PAGE, ...options };
  const fragment = document.createDocumentFragment();
  for (const block of parse(source, settings).blocks) fragment.append(...renderBlock(block.tokens, settings));
  return fragment;
}

// What renderMarkdownInto last put in each element.
const rendered = new WeakMap();

/**
 * Renders `source` into `target`, keeping the nodes of every top-level block whose
 * source did not change since the last call on `target`. While an answer streams,
 * only its last block (or a new one) is built again: earlier blocks stay the same
 * nodes, and text selected in them stays selected.
 */
export function renderMarkdownInto(target, source, options = {}) {
  const settings = { ...PAGE, ...options };
  const { blocks, references } = parse(source, settings);
  // What every block's rendering depends on besides its own lines.
  const context = JSON.stringify([settings, references]);
  let previous = rendered.get(target);
  const intact = previous
    && previous.context === context
    && previous.blocks.every((block) => block.nodes.every((node) => node.parentNode === target));
  if (!intact) {
    // A link reference defined further down changes blocks above it: all anew.
    for (const block of previous?.blocks ?? []) for (const node of block.nodes) if (node.parentNode === target) node.remove();
    previous = { blocks: [], context };
  }
  let same = 0;
  while (same < previous.blocks.length && same < blocks.length && previous.blocks[same].key === blocks[same].key) same += 1;
  for (const block of previous.blocks.slice(same)) for (const node of block.nodes) node.remove();
  const kept = previous.blocks.slice(0, same);
  const lastKept = kept.at(-1)?.nodes.at(-1);
  const anchor = lastKept ? lastKept.nextSibling : target.firstChild;
  for (const block of blocks.slice(same)) {
    const nodes = renderBlock(block.tokens, settings);
    for (const node of nodes) target.insertBefore(node, anchor);
    kept.push({ key: block.key, nodes });
  }
  rendered.set(target, { blocks: kept, context });
}

// The top-level blocks of `source`, each with its tokens and a key: its type and
// source lines (the same lines always render the same, given the same references).
function parse(source, settings) {
  const env = {};
  const text = source.replace(/\r\n?/g, "\n");
  const tokens = parser(settings.breaks).parse(text, env);
  const lines = text.split("\n");
  const blocks = [];
  let start = 0;
  let depth = 0;
  tokens.forEach((token, i) => {
    depth += token.nesting;
    if (depth !== 0) return;
    const first = tokens[start];
    // (Every top-level token has its lines; one without would be built every time.)
    const key = first.map ? `${first.type}\n${lines.slice(first.map[0], first.map[1]).join("\n")}` : {};
    blocks.push({ tokens: tokens.slice(start, i + 1), key });
    start = i + 1;
  });
  return { blocks, references: JSON.stringify(env.references ?? {}) };
}

// Builds the nodes of one block's tokens.
function renderBlock(tokens, settings) {
  const root = document.createDocumentFragment();
  const stack = [root];
  const top = () => stack[stack.length - 1];
  let taskItem = false;
  for (const token of tokens) {
    const starting = taskItem;
    taskItem = false;
    switch (token.type) {
      case "inline":
        inline(top(), token.children, starting, settings);
        break;
      case "fence":
        top().append(codeBlock(token.content, parser(settings.breaks).utils.unescapeAll(token.info).trim().split(/\s+/)[0]));
        break;
      case "code_block":
        top().append(codeBlock(token.content, ""));
        break;
      case "hr":
        top().append(document.createElement("hr"));
        break;
      case "math_block":
        top().append(math(token.content, true));
        break;
      case "html_block": // not with `html: false`; text if it ever comes
        top().append(document.createTextNode(token.content));
        break;
      default: {
        if (token.nesting === -1) {
          stack.pop();
          if (token.type === "table_close") stack.pop();
        } else if (token.nesting === 1) {
          if (token.hidden) {
            // A tight list's paragraph: its text goes straight into the item.
            stack.push(top());
            taskItem = starting;
            continue;
          }
          const element = blockElement(token, settings);
          if (token.type === "table_open") {
            const wrapper = document.createElement("div");
            wrapper.className = "table-wrap";
            top().append(wrapper);
            stack.push(wrapper);
          }
          top().append(element);
          stack.push(element);
          taskItem = token.type === "list_item_open" || (starting && token.type === "paragraph_open");
        }
      }
    }
  }
  return [...root.childNodes];
}

function blockElement(token, settings) {
  let tag = token.tag;
  if (/^h[1-6]$/.test(tag)) tag = `h${Math.min(Number(tag[1]) + settings.headingOffset, 6)}`;
  const element = document.createElement(tag);
  if (token.type === "ordered_list_open") {
    const start = token.attrGet("start");
    if (start !== null) element.setAttribute("start", String(Number(start)));
  }
  if (token.type === "th_open" || token.type === "td_open") {
    const align = /text-align:(left|center|right)/.exec(token.attrGet("style") ?? "");
    if (align) element.style.textAlign = align[1];
  }
  return element;
}

// Inline tokens into `parent`. `taskItem`: the first text of a list item, where
// "[ ] " and "[x] " make a checkbox, as in GFM.
function inline(parent, children, taskItem, settings) {
  const stack = [parent];
  const top = () => stack[stack.length - 1];
  children.forEach((token, i) => {
    switch (token.type) {
      case "text": {
        let content = token.content;
        const task = taskItem && i === 0 ? /^\[([ xX])\] /.exec(content) : null;
        if (task) {
          const box = document.createElement("input");
          box.type = "checkbox";
          box.disabled = true;
          box.defaultChecked = task[1] !== " "; // the attribute, as GFM writes it
          top().append(box);
          content = content.slice(3);
        }
        if (content) top().append(document.createTextNode(content));
        break;
      }
      case "softbreak":
        if (settings.breaks) top().append(document.createElement("br"));
        top().append(document.createTextNode("\n"));
        break;
      case "hardbreak":
        top().append(document.createElement("br"), document.createTextNode("\n"));
        break;
      case "code_inline": {
        const code = document.createElement("code");
        code.textContent = token.content;
        top().append(code);
        break;
      }
      case "image": {
        const label = `[image: ${plainText(token.children)}]`;
        const href = token.attrGet("src") ?? "";
        top().append(SAFE_LINK.test(href) ? link(href, null, document.createTextNode(label)) : document.createTextNode(label));
        break;
      }
      case "link_open": {
        const href = token.attrGet("href") ?? "";
        const closing = children.indexOf(children.find((t, j) => j > i && t.type === "link_close" && t.level === token.level));
        const shown = plainText(children.slice(i + 1, closing));
        const followed = SAFE_LINK.test(href) && (token.markup !== "linkify" || WRITTEN_AS_LINK.test(shown) || /^mailto:/i.test(href));
        // Not a link we follow (relative, or a name that only looks like a domain):
        // its text stays, in a span the closing token leaves.
        const element = followed ? link(href, token.attrGet("title")) : document.createElement("span");
        top().append(element);
        stack.push(element);
        break;
      }
      case "math_inline":
        top().append(math(token.content, token.markup === "$$"));
        break;
      case "html_inline": // not with `html: false`; text if it ever comes
        top().append(document.createTextNode(token.content));
        break;
      default:
        if (token.nesting === 1) {
          const element = document.createElement(token.tag);
          top().append(element);
          stack.push(element);
        } else if (token.nesting === -1) {
          const element = stack.pop();
          if (token.type === "link_close" && element.tagName === "SPAN") element.replaceWith(...element.childNodes);
        } else if (token.content) {
          top().append(document.createTextNode(token.content));
        }
    }
  });
}

function plainText(tokens) {
  return tokens.map((t) => (t.type === "image" ? plainText(t.children) : t.type === "softbreak" || t.type === "hardbreak" ? "\n" : t.content)).join("");
}

function link(href, title, ...children) {
  const a = document.createElement("a");
  a.setAttribute("href", href);
  if (title) a.title = title;
  a.target = "_blank";
  a.rel = "noopener noreferrer nofollow";
  a.append(...children);
  return a;
}

// A code block with its language, a copy button and highlighted code.
function codeBlock(code, language) {
  const figure = document.createElement("div");
  figure.className = "code-block";
  const bar = document.createElement("div");
  bar.className = "code-bar";
  const name = document.createElement("span");
  name.textContent = language || "text";
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "copy-code";
  copy.textContent = "Copy";
  copy.dataset.copy = code.replace(/\n$/, "");
  bar.append(name, copy);
  const pre = document.createElement("pre");
  const codeEl = document.createElement("code");
  if (language) codeEl.className = `language-${language}`;
  highlight(codeEl, code, language.toLowerCase());
  pre.append(codeEl);
  figure.append(bar, pre);
  return figure;
}

// highlight.js scopes that the page's colours (app.css) know by their own names.
const COLOURS = {
  keyword: "tok-kw", built_in: "tok-kw", literal: "tok-kw", type: "tok-kw", meta: "tok-kw",
  string: "tok-str", regexp: "tok-str", char: "tok-str", symbol: "tok-str",
  number: "tok-num",
  comment: "tok-com", quote: "tok-com", doctag: "tok-com",
};

function highlight(target, code, language) {
  const hljs = globalThis.hljs;
  if (!language || !hljs?.getLanguage(language)) {
    target.textContent = code;
    return;
  }
  let result;
  try {
    result = hljs.highlight(code, { language, ignoreIllegals: true });
  } catch {
    target.textContent = code;
    return;
  }
  // highlight.js builds a token tree and walks it with a renderer (its own makes an
  // HTML string); this one makes elements.
  const stack = [target];
  result._emitter.walk({
    addText(text) {
      stack[stack.length - 1].append(document.createTextNode(text));
    },
    openNode(node) {
      if (!node.scope) {
        stack.push(stack[stack.length - 1]); // the root: no element of its own
        return;
      }
      const span = document.createElement("span");
      span.className = scopeClasses(node.scope);
      stack[stack.length - 1].append(span);
      stack.push(span);
    },
    closeNode() {
      stack.pop();
    },
  });
}

// As highlight.js names them ("title.function" is "hljs-title function_"), plus the
// page's colour class.
function scopeClasses(scope) {
  if (scope.startsWith("language:")) return `language-${scope.slice(9)}`;
  const [first, ...rest] = scope.split(".");
  const classes = [`hljs-${first}`, ...rest.map((part, i) => `${part}${"_".repeat(i + 1)}`)];
  if (COLOURS[first]) classes.push(COLOURS[first]);
  return classes.join(" ");
}

// ---- math ----------------------------------------------------------------------
// TeX between $…$ or \(…\) (inline), and $$…$$ or \[…\] (display), as models write
// it. A $ opens only before a non-space and closes only after one and before no digit
// (pandoc's rule), so "$5 and $10" stays text. \[…\] is display math only from the
// start of a line: within a line it is CommonMark's escaped brackets. And TeX has a
// letter or digit, so "\(\)" or "\[\\\]" stay escapes.
const INLINE_MATH = [
  { open: "\\(", close: "\\)" },
  { open: "$$", close: "$$" },
  { open: "$", close: "$" },
];
const BLOCK_MATH = [
  { open: "$$", close: "$$" },
  { open: "\\[", close: "\\]" },
];
const TEX = /[A-Za-z0-9]/;

function mathInline(state, silent) {
  const { src, pos, posMax: max } = state;
  const delimiter = INLINE_MATH.find((d) => src.startsWith(d.open, pos));
  if (!delimiter) return false;
  const start = pos + delimiter.open.length;
  let end = start;
  for (;;) {
    end = src.indexOf(delimiter.close, end);
    if (end < 0 || end + delimiter.close.length > max) return false;
    if (delimiter.open !== "$") break;
    if (/\s/.test(src[start]) || end === start) return false;
    if (!/[\s\\]/.test(src[end - 1]) && !/\d/.test(src[end + 1] ?? "")) break;
    end += 1;
  }
  if (!TEX.test(src.slice(start, end))) return false;
  if (!silent) {
    const token = state.push("math_inline", "math", 0);
    token.content = src.slice(start, end);
    token.markup = delimiter.open;
  }
  state.pos = end + delimiter.close.length;
  return true;
}

// A display block: a line that starts with $$ or \[, up to the line that ends with
// the closing delimiter (nothing until it comes: while it streams, it is text).
function mathBlock(state, startLine, endLine, silent) {
  if (state.sCount[startLine] - state.blkIndent >= 4) return false;
  const lineAt = (n) => state.src.slice(state.bMarks[n] + state.tShift[n], state.eMarks[n]);
  const first = lineAt(startLine);
  const delimiter = BLOCK_MATH.find((d) => first.startsWith(d.open));
  if (!delimiter) return false;
  const lines = [first.slice(delimiter.open.length)];
  const closed = (line) => line.trimEnd().endsWith(delimiter.close);
  // "$$x$$ and more" is a paragraph with math in it.
  if (lines[0].includes(delimiter.close) && !closed(lines[0])) return false;
  let last = startLine;
  while (!closed(lines.at(-1)) || (last === startLine && lines[0].trim() === "")) {
    last += 1;
    // No blank line in display math: what has one is not math.
    if (last >= endLine || state.isEmpty(last) || state.sCount[last] < state.blkIndent) return false;
    lines.push(lineAt(last));
  }
  const closing = lines.at(-1).trimEnd();
  lines[lines.length - 1] = closing.slice(0, closing.length - delimiter.close.length);
  const content = lines.join("\n").trim();
  if (!TEX.test(content)) return false;
  if (silent) return true;
  const token = state.push("math_block", "math", 0);
  token.block = true;
  token.content = content;
  token.markup = delimiter.open;
  token.map = [startLine, last + 1];
  state.line = last + 1;
  return true;
}

// Elements waiting for KaTeX, with their TeX.
const waiting = new Map();
let katexRequested = false;

function math(tex, display) {
  const element = document.createElement(display ? "div" : "span");
  element.className = display ? "math math-display" : "math";
  if (globalThis.katex) {
    typeset(element, tex, display);
  } else {
    // The source until KaTeX is here, then the same element is typeset in place.
    element.textContent = tex;
    waiting.set(element, { tex, display });
    requestKatex();
  }
  return element;
}

function requestKatex() {
  if (katexRequested) return;
  katexRequested = true;
  const script = document.createElement("script");
  script.src = "/assets/katex.min.js";
  script.onload = () => {
    for (const [element, { tex, display }] of waiting) typeset(element, tex, display);
    waiting.clear();
  };
  document.head.append(script);
}

function typeset(element, tex, display) {
  // MathML only (no HTML layer, so no KaTeX stylesheet or fonts); nothing trusted:
  // \href, \url, \includegraphics and \html… show as errors, in KaTeX's words.
  globalThis.katex.render(tex, element, {
    displayMode: display,
    output: "mathml",
    throwOnError: false,
    trust: false,
    strict: "ignore",
    maxSize: 50,
    maxExpand: 500,
  });
}
