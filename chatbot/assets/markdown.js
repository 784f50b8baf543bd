// A small markdown renderer that builds DOM nodes. Model output only ever reaches the
// page as text (textContent / createTextNode), never as HTML, so nothing it says can
// run script: no innerHTML, no event attributes, links only to http(s) and mailto,
// and no images (a remote image would leak the conversation through its URL).

const SAFE_LINK = /^(https?:\/\/|mailto:)/i;

/** Renders `source` into a DocumentFragment. `streaming` tolerates an open code fence. */
export function renderMarkdown(source) {
  const fragment = document.createDocumentFragment();
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*(```+|~~~+)\s*([\w+#.-]*)\s*$/);
    if (fence) {
      const closing = fence[1];
      const code = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(closing)) {
        code.push(lines[i]);
        i += 1;
      }
      i += 1; // the closing fence (or the end, while streaming)
      fragment.append(codeBlock(code.join("\n"), fence[2]));
      continue;
    }
    if (/^\s*$/.test(line)) {
      i += 1;
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*?)\s*#*\s*$/);
    if (heading) {
      const h = document.createElement(`h${Math.min(heading[1].length + 1, 6)}`);
      appendInline(h, heading[2]);
      fragment.append(h);
      i += 1;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      fragment.append(document.createElement("hr"));
      i += 1;
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) {
        quoted.push(lines[i].replace(/^\s*>\s?/, ""));
        i += 1;
      }
      const blockquote = document.createElement("blockquote");
      blockquote.append(renderMarkdown(quoted.join("\n")));
      fragment.append(blockquote);
      continue;
    }
    if (isTableStart(lines, i)) {
      i = table(lines, i, fragment);
      continue;
    }
    const item = listItem(line);
    if (item) {
      i = list(lines, i, item.ordered, fragment);
      continue;
    }
    const paragraph = [];
    while (i < lines.length && !/^\s*$/.test(lines[i]) && !startsBlock(lines, i)) {
      paragraph.push(lines[i]);
      i += 1;
    }
    const p = document.createElement("p");
    paragraph.forEach((text, n) => {
      if (n > 0) p.append(document.createElement("br"));
      appendInline(p, text.trim());
    });
    fragment.append(p);
  }
  return fragment;
}

function startsBlock(lines, i) {
  const line = lines[i];
  return (
    /^\s*(```|~~~)/.test(line) ||
    /^#{1,6}\s/.test(line) ||
    /^\s*>/.test(line) ||
    listItem(line) !== null ||
    isTableStart(lines, i)
  );
}

function listItem(line) {
  const m = line.match(/^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/);
  if (!m) return null;
  return { indent: m[1].length, ordered: /\d/.test(m[2]), start: parseInt(m[2], 10), text: m[3] };
}

function list(lines, i, ordered, fragment) {
  const el = document.createElement(ordered ? "ol" : "ul");
  const first = listItem(lines[i]);
  if (ordered && first.start !== 1) el.start = first.start;
  const base = first.indent;
  let li = null;
  while (i < lines.length) {
    const item = listItem(lines[i]);
    if (item && item.indent <= base + 1 && item.ordered === ordered) {
      li = document.createElement("li");
      const task = item.text.match(/^\[([ xX])\]\s+(.*)$/);
      if (task) {
        const box = document.createElement("input");
        box.type = "checkbox";
        box.disabled = true;
        box.checked = task[1] !== " ";
        li.append(box, " ");
        appendInline(li, task[2]);
      } else {
        appendInline(li, item.text);
      }
      el.append(li);
      i += 1;
    } else if (li && lines[i].match(/^\s{2,}\S/)) {
      // An indented line: a nested list or a continuation of the item.
      const nested = [];
      while (i < lines.length && (lines[i].match(/^\s{2,}\S/) || /^\s*$/.test(lines[i]))) {
        if (/^\s*$/.test(lines[i]) && !(lines[i + 1] || "").match(/^\s{2,}\S/)) break;
        nested.push(lines[i].replace(/^\s{2,4}/, ""));
        i += 1;
      }
      li.append(renderMarkdown(nested.join("\n")));
    } else {
      break;
    }
  }
  fragment.append(el);
  return i;
}

function splitRow(line) {
  let row = line.trim();
  if (row.startsWith("|")) row = row.slice(1);
  if (row.endsWith("|")) row = row.slice(0, -1);
  return row.split("|").map((cell) => cell.trim());
}

function isTableStart(lines, i) {
  return (
    i + 1 < lines.length &&
    lines[i].includes("|") &&
    /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/.test(lines[i + 1])
  );
}

function table(lines, i, fragment) {
  const wrapper = document.createElement("div");
  wrapper.className = "table-wrap";
  const el = document.createElement("table");
  const head = document.createElement("thead");
  const headRow = document.createElement("tr");
  for (const cell of splitRow(lines[i])) {
    const th = document.createElement("th");
    appendInline(th, cell);
    headRow.append(th);
  }
  head.append(headRow);
  el.append(head);
  const body = document.createElement("tbody");
  i += 2;
  while (i < lines.length && lines[i].includes("|") && !/^\s*$/.test(lines[i])) {
    const tr = document.createElement("tr");
    for (const cell of splitRow(lines[i])) {
      const td = document.createElement("td");
      appendInline(td, cell);
      tr.append(td);
    }
    body.append(tr);
    i += 1;
  }
  el.append(body);
  wrapper.append(el);
  fragment.append(wrapper);
  return i;
}

// Inline markup, in order of precedence. Each match becomes nodes; the text between
// matches becomes text nodes.
const INLINE = [
  { re: /`([^`]+)`/, make: (m) => el("code", [text(m[1])]) },
  { re: /!\[([^\]]*)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/, make: (m) => link(m[1] || m[2], m[2], true) },
  { re: /\[([^\]]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/, make: (m) => link(m[1], m[2], false) },
  { re: /<(https?:\/\/[^\s>]+)>/, make: (m) => link(m[1], m[1], false) },
  { re: /\*\*(?=\S)([\s\S]*?\S)\*\*/, make: (m) => el("strong", inline(m[1])) },
  { re: /__(?=\S)([\s\S]*?\S)__/, make: (m) => el("strong", inline(m[1])) },
  { re: /~~(?=\S)([\s\S]*?\S)~~/, make: (m) => el("del", inline(m[1])) },
  { re: /\*(?=\S)([^*]*?\S)\*/, make: (m) => el("em", inline(m[1])) },
  { re: /(^|[^\w])_(?=\S)([^_]*?\S)_(?!\w)/, make: (m) => [text(m[1]), el("em", inline(m[2]))] },
];

function inline(source) {
  const nodes = [];
  let rest = source;
  while (rest.length > 0) {
    let best = null;
    for (const rule of INLINE) {
      const m = rule.re.exec(rest);
      if (m && (best === null || m.index < best.m.index)) best = { m, rule };
    }
    if (best === null) {
      nodes.push(text(rest));
      break;
    }
    if (best.m.index > 0) nodes.push(text(rest.slice(0, best.m.index)));
    const made = best.rule.make(best.m);
    Array.isArray(made) ? nodes.push(...made) : nodes.push(made);
    rest = rest.slice(best.m.index + best.m[0].length);
  }
  return nodes;
}

function appendInline(parent, source) {
  parent.append(...inline(source));
}

function text(value) {
  return document.createTextNode(value);
}

function el(tag, children) {
  const node = document.createElement(tag);
  node.append(...children);
  return node;
}

function link(label, href, isImage) {
  if (!SAFE_LINK.test(href)) {
    // Not a link we follow (javascript:, data:, relative paths): show it as text.
    return text(isImage ? `[image: ${label}]` : label);
  }
  const a = document.createElement("a");
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer nofollow";
  a.textContent = isImage ? `[image: ${label}]` : "";
  if (!isImage) a.append(...inline(label));
  return a;
}

// Code highlighting: a small tokenizer for the usual languages. Spans with classes,
// text through textContent.
const KEYWORDS = {
  js: "async await break case catch class const continue default delete do else export extends false finally for from function if import in instanceof let new null of return static super switch this throw true try typeof undefined var void while yield",
  ts: "abstract any as async await boolean break case catch class const continue declare default do else enum export extends false finally for from function if implements import in interface is keyof let module namespace never new null number of private protected public readonly return static string super switch this throw true try type typeof undefined unknown var void while",
  py: "and as assert async await break class continue def del elif else except False finally for from global if import in is lambda None nonlocal not or pass raise return self True try while with yield",
  rust: "as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod move mut pub ref return Self self static struct super trait true type unsafe use where while Some None Ok Err",
  go: "break case chan const continue default defer else fallthrough false for func go goto if import interface map nil package range return select struct switch true type var",
  java: "abstract boolean break byte case catch char class const continue default do double else enum extends final finally float for if implements import instanceof int interface long new null package private protected public return short static super switch this throw throws true false try void volatile while var record",
  c: "auto bool break case char class const constexpr continue default delete do double else enum extern false float for if include inline int long namespace new nullptr private protected public return short signed sizeof static struct switch template this throw true typedef typename union unsigned using virtual void volatile while",
  sh: "if then else elif fi for while until do done case esac in function return local export set echo exit",
  sql: "select from where and or not insert into values update set delete create table drop alter index join left right inner outer on group by order having limit offset as distinct union all null is in like between case when then else end primary key foreign references",
};
const ALIASES = {
  javascript: "js", jsx: "js", mjs: "js", node: "js", typescript: "ts", tsx: "ts",
  python: "py", python3: "py", rs: "rust", golang: "go", kotlin: "java", scala: "java",
  cpp: "c", "c++": "c", h: "c", hpp: "c", cs: "java", csharp: "java",
  bash: "sh", shell: "sh", zsh: "sh", console: "sh", postgres: "sql", mysql: "sql",
};
const HASH_COMMENTS = new Set(["py", "sh", "yaml", "yml", "toml", "ruby", "rb", "r"]);

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
  copy.dataset.copy = code;
  bar.append(name, copy);
  const pre = document.createElement("pre");
  const codeEl = document.createElement("code");
  const lang = (language || "").toLowerCase();
  if (lang) codeEl.className = `language-${lang.replace(/[^\w-]/g, "")}`;
  highlight(codeEl, code, lang);
  pre.append(codeEl);
  figure.append(bar, pre);
  return figure;
}

function highlight(target, code, language) {
  const key = ALIASES[language] || language;
  const words = new Set((KEYWORDS[key] || (key === "json" ? "true false null" : "")).split(" ").filter(Boolean));
  if (words.size === 0 && key !== "json" && !HASH_COMMENTS.has(key)) {
    target.textContent = code;
    return;
  }
  const comment = HASH_COMMENTS.has(key) ? "#[^\\n]*" : key === "sql" ? "--[^\\n]*" : "\\/\\/[^\\n]*|\\/\\*[\\s\\S]*?\\*\\/";
  const token = new RegExp(
    `(${comment})|("(?:\\\\.|[^"\\\\\\n])*"|'(?:\\\\.|[^'\\\\\\n])*'|\`(?:\\\\.|[^\`\\\\])*\`)|(\\b\\d[\\d_]*(?:\\.\\d+)?(?:e[+-]?\\d+)?\\b|\\b0x[\\da-f]+\\b)|([A-Za-z_][\\w]*)`,
    "gi",
  );
  let last = 0;
  for (const m of code.matchAll(token)) {
    if (m.index > last) target.append(text(code.slice(last, m.index)));
    let cls = null;
    if (m[1]) cls = "tok-com";
    else if (m[2]) cls = "tok-str";
    else if (m[3]) cls = "tok-num";
    else if (m[4] && words.has(key === "sql" ? m[4].toLowerCase() : m[4])) cls = "tok-kw";
    if (cls) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = m[0];
      target.append(span);
    } else {
      target.append(text(m[0]));
    }
    last = m.index + m[0].length;
  }
  if (last < code.length) target.append(text(code.slice(last)));
}
