// The chat page. Conversations are kept by a store (./store.js): on the server, per
// signed-in user, when the chatbot keeps history; else in this browser, for the
// signed-in user until they sign out. Answers stream over server-sent events read
// from fetch(), so a question can be a POST and a stop can abort it. Other tabs of
// the same user hear of every change and show it.
import { renderMarkdownInto } from "./markdown.js";
import {
  LocalStore, SIGNED_OUT, ServerStore, SignedOutError, api, dropLegacy, forgetBrowser, legacyConversations,
} from "./store.js";

const $ = (id) => document.getElementById(id);
const ui = {
  app: $("app"), chat: $("chat"), sidebar: $("sidebar"), scrim: $("scrim"), toggle: $("toggle-sidebar"),
  list: $("conversations"), newChat: $("new-chat"), who: $("who"), avatar: $("avatar"),
  signOut: $("sign-out"), title: $("title"), model: $("model"), devBanner: $("dev-banner"),
  messages: $("messages"), empty: $("empty"), emptyText: $("empty-text"), notice: $("notice"),
  noticeText: $("notice-text"), noticeAction: $("notice-action"), noticeClose: $("notice-close"), form: $("composer"), input: $("input"),
  counter: $("counter"), send: $("send"), stop: $("stop"), search: $("search"), more: $("more"),
  rename: $("rename"), exportMd: $("export-md"), exportJson: $("export-json"),
  historyStatus: $("history-status"), offer: $("import-offer"), offerText: $("import-text"),
  offerAccept: $("import-accept"), offerDecline: $("import-decline"),
  picker: $("model-picker"), pickerField: $("model-field"), totals: $("totals"), totalsText: $("totals-text"), totalsDetail: $("totals-detail"),
  copyConversation: $("copy-conversation"), theme: $("theme"),
  attach: $("attach"), fileInput: $("file-input"), attachments: $("attachments"),
};

const state = {
  store: null,
  user: null,
  conversations: [], // { id, title, updated, messages (null until loaded), saved }
  next: null, // cursor of the next page of the list
  query: "",
  currentId: null,
  maxChars: 32000,
  streaming: null, // { id, controller, conversation, message, node }
  retryTimer: null,
  tabs: null, // BroadcastChannel to this user's other tabs
  signedOut: false, // the load balancer's session expired: nothing works until sign-in
  models: [], // [{ id, label }] the chatbot offers, the default first
  model: null, // the chosen model's id
  files: null, // what /api/me says of attachments, when the chatbot takes them
  attached: [], // the composer's files: { name, size, kind, url?, id?, uploading }
};

// The message each article of the log shows.
const messageOf = new WeakMap();

// Phones and tablets: focusing the composer would pop their keyboard up over the
// answer just written, so it is focused only when the user asks for it.
const touch = matchMedia("(pointer: coarse)");
// The width below which the sidebar slides over the chat (as in app.css).
const narrow = matchMedia("(max-width: 760px)");

// Light, dark, or (by default) whatever the system asks for: remembered per browser,
// outside the per-user prefix, so signing out does not forget it (it says nothing
// about anyone).
const THEME_KEY = "bedrock-chatbot-theme";

function applyTheme(choice) {
  const theme = choice === "light" || choice === "dark" ? choice : "system";
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  ui.theme.value = theme;
}

applyTheme(localStorage.getItem(THEME_KEY));

// The composer's text, kept in this tab's session storage so that a sign-in (which
// leaves the page and comes back) or a reload does not lose it.
const DRAFT_KEY = "bedrock-chatbot.draft";

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function current() {
  return state.conversations.find((c) => c.id === state.currentId) || null;
}

// ---- who is signed in -------------------------------------------------------------

// Who is signed in, and whether the server keeps history; null when unknown.
async function loadIdentity() {
  try {
    const response = await api("/api/me");
    if (!response.ok) {
      ui.who.textContent = "Not signed in";
      showNotice("Your sign-in expired. Reload the page to sign in again.");
      return null;
    }
    const me = await response.json();
    ui.who.textContent = me.name;
    ui.who.title = `Signed in as ${me.name}`;
    ui.avatar.textContent = (me.name || "?").trim().charAt(0).toUpperCase();
    ui.signOut.href = me.signOutUrl;
    state.maxChars = me.maxMessageChars || state.maxChars;
    if (me.devIdentity) {
      ui.devBanner.textContent = `Development identity: everyone is signed in as ${me.name}, without the load balancer. For local use only.`;
      ui.devBanner.hidden = false;
    }
    return me;
  } catch (error) {
    if (error instanceof SignedOutError) return null;
    showNotice("Cannot reach the chatbot. Check your connection and reload.");
    return null;
  }
}

// ---- models -----------------------------------------------------------------------

function modelKey() {
  return `bedrock-chatbot.model.${state.user}`;
}

// The models `me` offers; a picker when there is a choice, the user's last choice
// (kept in this browser until sign-out) selected if it is still offered.
function setUpModels(me) {
  state.models = Array.isArray(me?.models) && me.models.length
    ? me.models.map((m) => ({ id: m.id, label: m.label || m.id }))
    : me?.model ? [{ id: me.model, label: me.model }] : [];
  const remembered = localStorage.getItem(modelKey());
  state.model = (state.models.find((m) => m.id === remembered) || state.models[0])?.id ?? null;
  const choice = state.models.length > 1;
  ui.pickerField.hidden = !choice;
  ui.model.hidden = choice || !state.model;
  if (choice) {
    ui.picker.replaceChildren(...state.models.map((m) => new Option(m.label, m.id, false, m.id === state.model)));
  } else if (state.model) {
    ui.model.textContent = modelLabel(state.model);
    ui.model.title = `Model: ${state.model}`;
  }
}

function modelLabel(id) {
  return state.models.find((m) => m.id === id)?.label || id;
}

function modelChosen() {
  state.model = ui.picker.value;
  localStorage.setItem(modelKey(), state.model);
}

// ---- tokens and cost --------------------------------------------------------------

const USAGE_FIELDS = ["inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens"];
const compactNumber = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
const fullNumber = new Intl.NumberFormat();

function tokenCount(usage) {
  return USAGE_FIELDS.reduce((sum, field) => sum + (Number(usage?.[field]) || 0), 0);
}

function tokensText(usage) {
  const n = tokenCount(usage);
  return `${compactNumber.format(n)} token${n === 1 ? "" : "s"}`;
}

// "≈ $0.04": an estimate by the team's prices; small amounts keep two significant
// digits rather than showing as nothing. Empty when unpriced.
function costText(cost) {
  if (!cost || !Number.isFinite(cost.amount) || !cost.currency) return "";
  const digits = cost.amount > 0 && cost.amount < 0.01
    ? { maximumSignificantDigits: 2 }
    : { minimumFractionDigits: 2, maximumFractionDigits: 2 };
  try {
    return `≈ ${new Intl.NumberFormat(undefined, { style: "currency", currency: cost.currency, ...digits }).format(cost.amount)}`;
  } catch {
    return `≈ ${cost.amount} ${cost.currency}`;
  }
}

// The tokens of `usage` one by one, for the disclosure under a usage line.
function usageDetail(usage) {
  const parts = [`${fullNumber.format(usage.inputTokens || 0)} input`, `${fullNumber.format(usage.outputTokens || 0)} output`];
  if (usage.cacheReadInputTokens) parts.push(`${fullNumber.format(usage.cacheReadInputTokens)} read from the prompt cache`);
  if (usage.cacheWriteInputTokens) parts.push(`${fullNumber.format(usage.cacheWriteInputTokens)} written to the prompt cache`);
  return `${parts.join(", ")} tokens`;
}

// Adds an answer's tokens and cost to its conversation's totals (the server keeps the
// same totals for stored conversations; the list brings them back on reload).
function addSpent(conversation, usage, cost) {
  if (!usage) return;
  const total = { ...conversation.usage };
  for (const field of USAGE_FIELDS) total[field] = (Number(total[field]) || 0) + (Number(usage[field]) || 0);
  conversation.usage = total;
  if (cost && Number.isFinite(cost.amount)) {
    const before = conversation.cost?.currency === cost.currency ? conversation.cost.amount : 0;
    conversation.cost = { amount: before + cost.amount, currency: cost.currency };
  }
}

// `line`, opening (by click, Enter or Space: a native disclosure) onto `detail`.
function usageDisclosure(line, detail) {
  const details = document.createElement("details");
  details.className = "usage";
  const summary = document.createElement("summary");
  summary.append(line);
  const more = document.createElement("p");
  more.className = "usage-detail";
  more.textContent = detail;
  details.append(summary, more);
  return details;
}

function renderTotals() {
  const conversation = current();
  const used = tokenCount(conversation?.usage);
  ui.totals.hidden = !used;
  if (!used) return;
  ui.totalsText.textContent = [tokensText(conversation.usage), costText(conversation.cost)].filter(Boolean).join(" · ");
  ui.totalsDetail.textContent = `This conversation's answers used ${usageDetail(conversation.usage)}${conversation.cost ? "; the cost is an estimate by this chatbot's prices" : ""}.`;
}

// ---- rendering --------------------------------------------------------------------

function renderList() {
  ui.list.replaceChildren();
  for (const conversation of state.conversations) {
    const li = document.createElement("li");
    li.className = "conversation" + (conversation.id === state.currentId ? " active" : "");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    open.textContent = conversation.title || "New chat";
    open.title = conversation.title || "New chat";
    if (conversation.snippet) {
      const snippet = document.createElement("span");
      snippet.className = "snippet";
      snippet.textContent = conversation.snippet;
      open.append(snippet);
    }
    if (conversation.id === state.currentId) open.setAttribute("aria-current", "true");
    open.addEventListener("click", () => {
      select(conversation.id);
      closeSidebar();
    });
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "delete icon-button";
    remove.setAttribute("aria-label", `Delete “${conversation.title || "New chat"}”`);
    remove.textContent = "×";
    remove.addEventListener("click", () => removeConversation(conversation.id));
    li.append(open, remove);
    ui.list.append(li);
  }
  ui.more.hidden = !state.next;
}

function renderHeader() {
  const conversation = current();
  ui.title.textContent = conversation?.title || "New chat";
  document.title = conversation?.title ? `${conversation.title} · Chat` : "Chat";
  const stored = Boolean(conversation?.saved && state.store?.server);
  ui.rename.hidden = !conversation?.saved;
  for (const [link, format] of [[ui.exportMd, "markdown"], [ui.exportJson, "json"]]) {
    link.hidden = !stored;
    if (stored) link.href = state.store.exportUrl(conversation.id, format);
  }
  ui.copyConversation.hidden = !conversation?.messages?.some((m) => m.text);
  renderTotals();
}

function renderConversation() {
  renderHeader();
  const conversation = current();
  ui.messages.replaceChildren();
  if (!conversation?.messages?.length) {
    ui.messages.append(ui.empty);
    return;
  }
  for (const message of conversation.messages) ui.messages.append(messageNode(message));
  scrollToEnd(true);
}

// Adds the newest `messages` of the open conversation to the log, which only grows
// while the conversation is open (a screen reader then reads only what is new); drawn
// whole when what it shows is not the rest of the conversation.
function appendMessages(...messages) {
  const conversation = current();
  const shown = ui.messages.querySelectorAll(":scope > .message").length;
  if (shown !== (conversation?.messages?.length ?? 0) - messages.length) {
    renderConversation();
    return;
  }
  ui.empty.remove();
  for (const message of messages) ui.messages.append(messageNode(message));
  scrollToEnd(true);
}

function messageNode(message) {
  const article = document.createElement("article");
  article.className = `message ${message.role}`;
  const label = document.createElement("div");
  label.className = "role";
  label.textContent = message.role === "user" ? "You" : "Assistant";
  const body = document.createElement("div");
  body.className = "body";
  article.append(label, body);
  messageOf.set(article, message);
  fillMessage(article, message);
  return article;
}

function fillMessage(article, message) {
  const body = article.querySelector(".body");
  if (message.role === "user") {
    body.textContent = message.text;
    if (message.attachments?.length) body.append(sentFiles(message.attachments));
  } else {
    // Only what changed is built again: text selected in an earlier block stays.
    body.querySelector(":scope > .typing")?.remove();
    renderMarkdownInto(body, message.text);
    if (message.pending && !message.text) {
      const dots = document.createElement("span");
      dots.className = "typing";
      dots.setAttribute("aria-label", "Writing");
      dots.append(document.createElement("i"), document.createElement("i"), document.createElement("i"));
      body.append(dots);
    }
  }
  article.querySelector(".meta")?.remove();
  const meta = document.createElement("div");
  meta.className = "meta";
  if (message.error) {
    const error = document.createElement("p");
    error.className = "error";
    error.textContent = message.error;
    meta.append(error);
  }
  article.classList.toggle("incomplete", Boolean(message.incomplete));
  if (message.dropped > 0) {
    const n = message.dropped;
    meta.append(chip(`${n} older message${n === 1 ? " was" : "s were"} left out to fit the model's context`));
  }
  if (message.droppedFiles > 0) {
    const n = message.droppedFiles;
    meta.append(chip(`${n} earlier file${n === 1 ? " was" : "s were"} left out: one question can carry only so many`));
  }
  if (message.role === "user") meta.append(action("edit", "Edit", "Edit this question"));
  if (message.role === "assistant" && !message.pending) {
    if (message.incomplete) meta.prepend(chip("Incomplete answer"));
    if (message.stopReason === "stopped") meta.append(chip("Stopped"));
    if (message.stopReason === "max_tokens") meta.append(chip("Cut short: the answer reached its length limit"));
    const about = [];
    if (message.model && state.models.length > 1) about.push(modelLabel(message.model));
    if (message.usage) about.push(tokensText(message.usage), costText(message.cost));
    if (about.some(Boolean)) {
      const info = document.createElement("span");
      info.className = "answer-info";
      info.textContent = about.filter(Boolean).join(" · ");
      meta.append(message.usage ? usageDisclosure(info, usageDetail(message.usage) + (message.cost ? "; the cost is an estimate" : "") + ".") : info);
    }
    if (message.text) {
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "copy-message";
      copy.textContent = "Copy";
      copy.dataset.copy = message.text;
      meta.append(copy);
    }
    // Shown on the last answer only (app.css): the question asked again in its place.
    const failed = Boolean(message.error || message.incomplete);
    const again = action("again", failed ? "Retry" : "Regenerate", failed ? "Retry this question" : "Regenerate this answer");
    again.disabled = state.retryTimer !== null;
    meta.append(again);
  }
  if (meta.childNodes.length) article.append(meta);
}

// A button of a message; `label` names it for screen readers, starting with its text.
function action(name, text, label) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `message-action ${name}`;
  button.dataset.action = name;
  button.textContent = text;
  button.setAttribute("aria-label", label);
  return button;
}

function chip(text) {
  const span = document.createElement("span");
  span.className = "chip";
  span.textContent = text;
  return span;
}

function scrollToEnd(force) {
  const el = ui.messages;
  const nearEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 120;
  if (force || nearEnd) el.scrollTop = el.scrollHeight;
}

// ---- conversations ----------------------------------------------------------------

function currentKey() {
  return `bedrock-chatbot.current.${state.user}`;
}

// A conversation not asked anything yet: the page's alone until its first question.
function draft() {
  return { id: newId(), title: "", messages: [], updated: Date.now(), saved: false };
}

// Tells this user's other tabs that conversation `id` changed (or went).
function announce(id) {
  state.tabs?.postMessage({ changed: id });
}

async function heard(message) {
  await refreshList();
  const conversation = current();
  if (conversation && conversation.id === message?.changed && state.streaming?.conversation !== conversation) {
    conversation.messages = null;
    await select(conversation.id);
  } else if (!conversation) {
    startNewChat();
  }
}

async function select(id) {
  state.currentId = id;
  localStorage.setItem(currentKey(), id);
  renderList();
  const conversation = current();
  if (conversation && conversation.messages === null) {
    renderConversation();
    await loadMessages(conversation);
  }
  renderConversation();
  focusComposer();
}

async function loadMessages(conversation) {
  try {
    const full = await state.store.get(conversation.id);
    if (full) {
      conversation.messages = full.messages;
      conversation.title = full.title || conversation.title;
      if (full.usage) conversation.usage = full.usage;
      if (full.cost) conversation.cost = full.cost;
      return;
    }
    forget(conversation.id);
    showNotice("This conversation no longer exists.");
  } catch (error) {
    if (error.status === 404) {
      forget(conversation.id);
      showNotice("This conversation no longer exists.");
    } else {
      showNotice("This conversation cannot be loaded right now. Open it again in a moment.");
    }
  }
}

function forget(id) {
  state.conversations = state.conversations.filter((c) => c.id !== id);
  if (state.currentId === id) state.currentId = null;
}

function startNewChat() {
  const empty = state.conversations.find((c) => !c.saved && c.messages?.length === 0);
  if (empty) {
    select(empty.id);
  } else {
    const conversation = draft();
    state.conversations.unshift(conversation);
    select(conversation.id);
  }
  closeSidebar();
}

async function removeConversation(id) {
  const conversation = state.conversations.find((c) => c.id === id);
  if (state.streaming?.conversation === conversation) await stopAnswer();
  if (conversation?.saved) {
    try {
      await state.store.remove(id);
    } catch (error) {
      showNotice(`The conversation could not be deleted: ${error.message}`);
      return;
    }
    announce(id);
  }
  forget(id);
  if (!state.currentId && state.conversations.length) await select(state.conversations[0].id);
  if (!state.currentId) startNewChat();
  renderList();
  renderConversation();
}

// The first page of conversations (or of search results), keeping drafts, what is
// loaded already, and the open conversation even when it is further down the list.
async function refreshList() {
  let page;
  try {
    page = state.query ? await state.store.search(state.query) : await state.store.list();
  } catch {
    showNotice("Your saved conversations cannot be listed right now. Reload the page in a moment.");
    return;
  }
  const known = new Map(state.conversations.map((c) => [c.id, c]));
  const listed = page.conversations.map((c) => ({ ...c, messages: known.get(c.id)?.messages ?? c.messages ?? null, saved: true }));
  const drafts = state.conversations.filter((c) => !c.saved);
  const open = current();
  const keep = open?.saved && !listed.some((c) => c.id === open.id) ? [open] : [];
  state.conversations = [...drafts, ...listed, ...keep];
  state.next = page.next;
  renderList();
}

async function loadMore() {
  if (!state.next) return;
  try {
    const page = state.query ? await state.store.search(state.query, state.next) : await state.store.list(state.next);
    const known = new Set(state.conversations.map((c) => c.id));
    for (const c of page.conversations) {
      if (!known.has(c.id)) state.conversations.push({ ...c, saved: true });
    }
    state.next = page.next;
  } catch {
    showNotice("More conversations cannot be listed right now. Try again in a moment.");
  }
  renderList();
}

let searchTimer = null;
function searchChanged() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(async () => {
    state.query = ui.search.value.trim();
    await refreshList();
  }, 250);
}

function beginRename() {
  const conversation = current();
  if (!conversation?.saved) return;
  const input = document.createElement("input");
  input.className = "rename-input";
  input.value = conversation.title || "";
  input.maxLength = 200;
  input.setAttribute("aria-label", "Conversation title");
  ui.title.replaceChildren(input);
  input.focus();
  input.select();
  let done = false;
  const finish = async (keep) => {
    if (done) return;
    done = true;
    const title = input.value.replace(/\s+/g, " ").trim();
    if (keep && title && title !== conversation.title) {
      try {
        await state.store.rename(conversation.id, title);
        conversation.title = title;
        announce(conversation.id);
      } catch (error) {
        showNotice(`The conversation could not be renamed: ${error.message}`);
      }
    }
    renderList();
    renderConversation();
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") finish(true);
    if (event.key === "Escape") finish(false);
  });
  input.addEventListener("blur", () => finish(true));
}

// Conversations an earlier version of this page kept in this browser for whoever
// used it: offered once to the first person who signs in, then removed either way.
function offerImport() {
  const legacy = legacyConversations();
  if (!legacy.length) {
    dropLegacy();
    return;
  }
  const where = state.store.server ? "your history" : "this browser, for you";
  ui.offerText.textContent = `${legacy.length} conversation${legacy.length === 1 ? " is" : "s are"} stored in this browser by an earlier version of this page. Import ${legacy.length === 1 ? "it" : "them"} into ${where}?`;
  ui.offer.hidden = false;
  ui.offerAccept.onclick = async () => {
    try {
      await state.store.import(legacy);
    } catch (error) {
      showNotice(`The conversations could not be imported: ${error.message}`);
      return;
    }
    dropLegacy();
    ui.offer.hidden = true;
    await refreshList();
    announce(null);
  };
  ui.offerDecline.onclick = () => {
    dropLegacy();
    ui.offer.hidden = true;
  };
}

// Whether the answer is being saved (the server's `history`: `{saving, message}`).
function historyStatus(history) {
  if (!history) return;
  ui.historyStatus.hidden = history.saving !== false;
}

// ---- attachments ------------------------------------------------------------------

const sizeText = (bytes) =>
  bytes < 1024 ? `${bytes} bytes` : bytes < 1048576 ? `${Math.ceil(bytes / 1024)} KB` : `${(Math.ceil(bytes / 10485.76) / 100).toFixed(2).replace(/\.?0+$/, "")} MB`;

// The files of a sent question: images as small pictures, documents as downloads,
// each served by the chatbot to its owner only.
function sentFiles(files) {
  const list = document.createElement("ul");
  list.className = "sent-files";
  list.setAttribute("aria-label", "Attached files");
  for (const file of files) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/api/attachments/${encodeURIComponent(file.id)}`;
    if (file.kind === "image") {
      link.target = "_blank";
      link.rel = "noopener";
      const image = document.createElement("img");
      image.src = link.href;
      image.alt = file.name;
      image.loading = "lazy";
      link.append(image);
    } else {
      link.download = file.name;
      link.textContent = `📄 ${file.name} (${sizeText(file.size)})`;
    }
    item.append(link);
    list.append(item);
  }
  return list;
}

function setUpAttachments(me) {
  state.files = me?.attachments?.enabled ? me.attachments : null;
  ui.attach.hidden = !state.files;
}

// What is refused before uploading (the server checks everything again, by the
// bytes): too many of a kind, too large.
function refusedBeforeUpload(file, kind) {
  const limits = state.files;
  const count = state.attached.filter((f) => f.kind === kind).length;
  if (kind === "image" && count >= limits.maxImages) return `A question may carry at most ${limits.maxImages} images.`;
  if (kind === "document" && count >= limits.maxDocuments) return `A question may carry at most ${limits.maxDocuments} documents.`;
  const most = kind === "image" ? limits.maxImageBytes : limits.maxDocumentBytes;
  if (file.size > most) return `“${file.name}” is ${sizeText(file.size)}: ${kind === "image" ? "an image" : "a document"} may be at most ${sizeText(most)}.`;
  return null;
}

// Uploads `files` (from the button, a drop or a paste), each shown as a chip at once.
function attachFiles(files) {
  if (!state.files || state.signedOut) return;
  for (const file of files) {
    const kind = file.type.startsWith("image/") ? "image" : "document";
    const refusal = refusedBeforeUpload(file, kind);
    if (refusal) {
      showNotice(refusal);
      continue;
    }
    const entry = { name: file.name || "pasted file", size: file.size, kind, uploading: true };
    if (kind === "image") entry.url = URL.createObjectURL(file);
    state.attached.push(entry);
    upload(entry, file);
  }
  renderAttached();
}

async function upload(entry, file) {
  const form = new FormData();
  form.append("file", file, entry.name);
  try {
    const response = await api("/api/attachments", { method: "POST", body: form });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error?.message || `The file could not be attached (${response.status}).`);
    if (!state.attached.includes(entry)) {
      // Removed while it uploaded.
      forgetFile(answer.id);
      return;
    }
    Object.assign(entry, { id: answer.id, kind: answer.kind, format: answer.format, size: answer.size, name: answer.name, uploading: false });
  } catch (error) {
    dropAttached(entry);
    if (!(error instanceof SignedOutError)) showNotice(error.message);
  }
  renderAttached();
}

// Deletes an uploaded file never sent (its chip was removed).
function forgetFile(id) {
  if (id) api(`/api/attachments/${encodeURIComponent(id)}`, { method: "DELETE" }).catch(() => {});
}

function dropAttached(entry) {
  state.attached = state.attached.filter((f) => f !== entry);
  if (entry.url) URL.revokeObjectURL(entry.url);
}

function removeAttached(entry) {
  dropAttached(entry);
  forgetFile(entry.id);
  renderAttached();
  focusComposer();
}

function renderAttached() {
  ui.attachments.replaceChildren();
  for (const entry of state.attached) {
    const item = document.createElement("li");
    item.className = `attachment${entry.uploading ? " uploading" : ""}`;
    if (entry.url) {
      const image = document.createElement("img");
      image.src = entry.url;
      image.alt = "";
      item.append(image);
    } else {
      const icon = document.createElement("span");
      icon.className = "file-icon";
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = "📄";
      item.append(icon);
    }
    const name = document.createElement("span");
    name.className = "file-name";
    name.textContent = entry.name;
    name.title = entry.name;
    const size = document.createElement("span");
    size.className = "file-size";
    size.textContent = entry.uploading ? "uploading…" : sizeText(entry.size);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "icon-button remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove ${entry.name}`);
    remove.addEventListener("click", () => removeAttached(entry));
    item.append(name, size, remove);
    ui.attachments.append(item);
  }
  ui.attachments.hidden = state.attached.length === 0;
  updateComposer();
}

// The composer's files, taken for a question (the chips go; the files stay stored).
function takeAttached() {
  const files = state.attached.map(({ id, name, kind, format, size }) => ({ id, name, kind, format, size }));
  for (const entry of state.attached) if (entry.url) URL.revokeObjectURL(entry.url);
  state.attached = [];
  renderAttached();
  return files;
}

// ---- asking -----------------------------------------------------------------------

function updateComposer() {
  const length = ui.input.value.length;
  const over = length > state.maxChars;
  ui.counter.textContent = length > state.maxChars * 0.8 ? `${length.toLocaleString()} / ${state.maxChars.toLocaleString()}` : "";
  ui.counter.classList.toggle("over", over);
  const busy = state.streaming !== null;
  const uploading = state.attached.some((f) => f.uploading);
  ui.send.disabled = busy || over || uploading || ui.input.value.trim() === "" || state.retryTimer !== null;
  ui.send.hidden = busy;
  ui.stop.hidden = !busy;
  // Asking the last question again waits out a throttle as sending does.
  for (const again of ui.messages.querySelectorAll(".message-action.again")) again.disabled = state.retryTimer !== null;
  ui.input.style.height = "auto";
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, 240)}px`;
}

function tooLong(text) {
  if (text.length <= state.maxChars) return false;
  showNotice(`Your message is ${text.length.toLocaleString()} characters long; the limit is ${state.maxChars.toLocaleString()}. Shorten it and send again.`);
  return true;
}

// Asks `text` in the open conversation. `replaces`: the stored index of the question
// it is asked in place of (see askAgain). From the composer, the composer is emptied
// once the question is on its way; a question that could not be sent comes back.
async function ask(text, { replaces, fromComposer = false, files = [] } = {}) {
  if (state.streaming || tooLong(text)) return;
  let conversation = current();
  if (!conversation) {
    conversation = draft();
    state.conversations.unshift(conversation);
    state.currentId = conversation.id;
  }
  conversation.messages = conversation.messages || [];
  hideNotice();
  if (!conversation.title) conversation.title = text.replace(/\s+/g, " ").trim().slice(0, 60);
  const question = { role: "user", text };
  if (files.length) question.attachments = files;
  conversation.messages.push(question);
  const id = newId();
  const body = { id, ...state.store.question(conversation, text, replaces) };
  if (files.length && "question" in body) body.attachments = files.map((f) => f.id);
  if (state.models.length > 1) body.model = state.model;
  const answer = { role: "assistant", text: "", pending: true };
  conversation.messages.push(answer);
  conversation.updated = Date.now();
  // Newest first, as the store lists them.
  state.conversations = [conversation, ...state.conversations.filter((c) => c !== conversation)];
  if (!state.store.server) {
    state.store.save(conversation);
    conversation.saved = true;
  }
  renderList();
  renderHeader();
  appendMessages(question, answer);

  const node = ui.messages.lastElementChild;
  const controller = new AbortController();
  state.streaming = { id, controller, conversation, message: answer, node };
  if (fromComposer) {
    ui.input.value = "";
    keepDraft();
  }
  updateComposer();
  ui.messages.setAttribute("aria-busy", "true");
  node.setAttribute("aria-busy", "true");

  let lost = false; // the connection closed before the server's last word
  try {
    const response = await api("/api/chat", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    if (!response.ok) {
      await refused(response, answer);
      // The refused question's files wait in the composer again (still stored).
      if (fromComposer && files.length && !state.attached.length) {
        state.attached = files.map((f) => ({ ...f, uploading: false }));
        renderAttached();
      }
    } else if (!(await readEvents(response, answer, node, conversation)) && answer.stopReason !== "stopped") {
      lost = true;
    }
  } catch (error) {
    if (error.name === "AbortError") {
      answer.stopReason = answer.stopReason || "stopped";
    } else if (error instanceof SignedOutError) {
      answer.error = "You were signed out, so this question was not answered. Sign in again, then retry it.";
      // Not lost: it waits in the composer (and this tab's draft) for the sign-in.
      if (!ui.input.value.trim()) {
        ui.input.value = text;
        keepDraft();
      }
    } else {
      lost = true;
    }
  } finally {
    answer.pending = false;
    if (lost) {
      answer.error = answer.text
        ? "The connection was lost before the answer was complete: what arrived is kept here, marked incomplete."
        : "The connection was lost before an answer arrived. Retry when you are back online.";
    }
    // Text that ended in an error is kept, and marked as not the whole answer.
    if (answer.text && answer.error) answer.incomplete = true;
    state.streaming = null;
    conversation.updated = Date.now();
    if (!answer.text && !answer.error && answer.stopReason !== "stopped") answer.error = "No answer came back. Try again.";
    if (!state.store.server) state.store.save(conversation);
    if (conversation.saved) announce(conversation.id);
    if (state.currentId === conversation.id) {
      fillMessage(node, answer);
      renderHeader();
    }
    node.removeAttribute("aria-busy");
    ui.messages.setAttribute("aria-busy", "false");
    renderList();
    updateComposer();
    focusComposer();
  }
  if (lost && state.store.server && conversation.saved) await showSaved(conversation);
  else if (answer.restarted && conversation.saved) await showChangedElsewhere(conversation);
}

// After an answer the server started over because the conversation had changed in
// another tab or device: the conversation as stored, with what was added there.
async function showChangedElsewhere(conversation) {
  let stored;
  try {
    stored = await state.store.get(conversation.id);
  } catch {
    return; // what this page has stays; the next reload shows the rest
  }
  if (!stored || state.streaming) return;
  conversation.messages = stored.messages;
  if (state.currentId === conversation.id) renderConversation();
}

// After a connection lost mid-answer with history on: the server saved the answer as
// far as it got, marked incomplete; the conversation is read again to show exactly
// that (read again for a few seconds while the server has not yet noticed the cut
// and still has it as being written). If it cannot be read (still offline), what
// arrived stays, marked incomplete.
async function showSaved(conversation) {
  let stored;
  for (let attempt = 0; ; attempt += 1) {
    try {
      stored = await state.store.get(conversation.id);
    } catch {
      showNotice("The connection was lost before the answer was complete. What arrived is shown, marked incomplete; open the conversation again when you are back online to see what was saved.");
      return;
    }
    if (stored?.messages.at(-1)?.reason !== "streaming" || attempt === 4) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  if (!stored || state.streaming) return;
  conversation.messages = stored.messages;
  if (state.currentId === conversation.id) renderConversation();
  const last = stored.messages.at(-1);
  showNotice(last?.role === "assistant" && last.text
    ? "The connection was lost before the answer was complete. Shown is what the chatbot saved of it, marked incomplete."
    : "The connection was lost before an answer was saved. Your question is kept: retry it when you are back online.");
}

// Asks `question` again in its place, as `text` (edited, or the same words to
// regenerate or retry its answer): what came after it goes. With history on, the
// server is told which stored question this replaces and goes on from the turn
// before it (the old branch stays stored but is no longer listed); without, the
// browser's conversation is cut there and sent as it then is.
async function askAgain(question, text) {
  const conversation = current();
  const at = conversation?.messages?.indexOf(question) ?? -1;
  if (state.streaming || at < 0 || tooLong(text)) return;
  let replaces;
  if (state.store.server && conversation.saved) {
    try {
      replaces = await storedIndex(conversation, question);
    } catch (error) {
      if (!(error instanceof SignedOutError)) showNotice("This conversation cannot be read right now, so the question cannot be asked again yet. Try again in a moment.");
      return;
    }
  }
  conversation.messages.splice(at);
  for (const node of [...ui.messages.querySelectorAll(":scope > .message")]) {
    if (!conversation.messages.includes(messageOf.get(node))) node.remove();
  }
  if (!state.store.server) state.store.save(conversation);
  // Asked again (edited or regenerated) with the files it had.
  await ask(text, { replaces, files: question.attachments || [] });
}

// The stored index of `question`: known for a conversation read from the server; for
// questions asked on this page, read from the server, matching its turns in order
// (a question the server never stored, such as one refused for asking too fast, has
// none and is simply asked again).
async function storedIndex(conversation, question) {
  if (question.index === undefined) {
    const stored = await state.store.get(conversation.id);
    let next = 0;
    for (const message of conversation.messages) {
      const turn = stored?.messages[next];
      if (turn && turn.role === message.role && (message.role === "assistant" || turn.text === message.text)) {
        message.index = turn.index;
        next += 1;
      }
    }
  }
  return question.index;
}

// The question of `answer`, asked again (regenerate, or retry after a failure).
function askAgainFor(answer) {
  const messages = current()?.messages || [];
  const question = messages[messages.indexOf(answer) - 1];
  if (question?.role === "user") askAgain(question, question.text);
}

// Edits a question in place: its text becomes an editor; sending asks it again.
function beginEdit(article, question) {
  if (state.streaming || article.querySelector(".edit-form")) return;
  const body = article.querySelector(".body");
  const form = document.createElement("form");
  form.className = "edit-form";
  const editor = document.createElement("textarea");
  editor.value = question.text;
  editor.rows = Math.min(10, question.text.split("\n").length + 1);
  editor.setAttribute("aria-label", "Edit your question");
  const send = document.createElement("button");
  send.type = "submit";
  send.className = "send";
  send.textContent = "Send";
  send.setAttribute("aria-label", "Send the edited question");
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "cancel";
  cancel.textContent = "Cancel";
  cancel.setAttribute("aria-label", "Cancel editing");
  const buttons = document.createElement("div");
  buttons.className = "edit-actions";
  buttons.append(cancel, send);
  form.append(editor, buttons);
  const shown = [...body.childNodes];
  body.replaceChildren(form);
  article.classList.add("editing");
  editor.focus();
  const close = () => {
    body.replaceChildren(...shown);
    article.classList.remove("editing");
    article.querySelector(".message-action.edit")?.focus();
  };
  cancel.addEventListener("click", close);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = editor.value;
    if (!text.trim() || state.streaming) return;
    askAgain(question, text);
  });
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.key === "Escape") {
      event.stopPropagation();
      close();
    }
  });
}

async function refused(response, answer) {
  let error = { kind: "unknown", message: `The chatbot answered ${response.status}.` };
  try {
    error = (await response.json()).error || error;
  } catch {
    // not JSON: keep the status
  }
  explain(error, answer);
}

// A sentence for each kind of refusal; the server's own words where they are best.
function explain(error, answer) {
  const retry = error.retryAfter;
  switch (error.kind) {
    case "throttled":
    case "model_unavailable":
    case "rate_limited":
      answer.error = error.kind === "rate_limited"
        ? `You are asking faster than this chatbot allows. Retry in ${retry} s.`
        : `The model is busy right now. Retry in ${retry} s.`;
      countdown(retry, answer.error);
      break;
    case "unauthenticated":
      answer.error = "Your sign-in expired. Reload the page to sign in again.";
      showNotice(answer.error);
      break;
    case "input_too_long":
      answer.error = "This conversation is too long for the model. Start a new chat, or shorten your message.";
      showNotice(answer.error);
      break;
    default:
      // Among others model_not_enabled, model_access and bedrock_rejected: the
      // server's sentence says what happened and whom to ask.
      answer.error = error.message || "Something went wrong. Try again.";
      showNotice(answer.error);
  }
}

function countdown(seconds, message) {
  clearInterval(state.retryTimer);
  let left = Math.max(1, Number(seconds) || 5);
  const tick = () => {
    showNotice(message.replace(/Retry in \d+ s\./, `Retry in ${left} s.`));
    left -= 1;
    if (left < 0) {
      clearInterval(state.retryTimer);
      state.retryTimer = null;
      hideNotice();
      updateComposer();
    }
  };
  tick();
  state.retryTimer = setInterval(tick, 1000);
  updateComposer();
}

// Reads the answer's events into `answer`; true when the server ended the stream
// itself (a "done" or an "error" event), false when the connection just closed.
async function readEvents(response, answer, node, conversation) {
  let ended = false;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let frame = 0;
  const paint = () => {
    frame = 0;
    fillMessage(node, answer);
    scrollToEnd(false);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).replace(/^ /, "");
      }
      if (!data) continue;
      const payload = JSON.parse(data);
      if (event === "start") {
        started(conversation, payload);
        answer.dropped = payload.dropped || 0;
        answer.droppedFiles = payload.droppedAttachments || 0;
        answer.model = payload.model;
      } else if (event === "restart") {
        // The conversation had changed elsewhere (another tab or device): the server
        // answers again from it as stored. What came so far is dropped, and the
        // conversation is read again after the answer, to show what was added.
        answer.text = "";
        answer.dropped = payload.dropped || 0;
        answer.droppedFiles = payload.droppedAttachments || 0;
        answer.restarted = true;
        if (!frame) frame = requestAnimationFrame(paint);
      } else if (event === "history") {
        historyStatus(payload);
        if (payload.conversation === null) notCreated(conversation);
      } else if (event === "delta") {
        answer.text += payload.text;
        if (!frame) frame = requestAnimationFrame(paint);
      } else if (event === "done") {
        ended = true;
        answer.stopReason = payload.stopReason;
        answer.usage = payload.usage || null;
        answer.cost = payload.cost || null;
        addSpent(conversation, answer.usage, answer.cost);
      } else if (event === "error") {
        ended = true;
        explain(payload, answer);
      }
    }
  }
  if (frame) cancelAnimationFrame(frame);
  return ended;
}

// The server's first word on an answer: with history on, the conversation's id and
// title (being saved: a "history" event follows if that fails), and whether saving
// works right now.
function started(conversation, payload) {
  if (payload.conversation && payload.conversation !== conversation.id) {
    const wasCurrent = state.currentId === conversation.id;
    conversation.id = payload.conversation;
    if (wasCurrent) {
      state.currentId = conversation.id;
      localStorage.setItem(currentKey(), conversation.id);
    }
  }
  if (payload.conversation) conversation.saved = true;
  if (payload.title) conversation.title = payload.title;
  if (state.store.server) historyStatus(payload.history);
  renderList();
  if (state.currentId === conversation.id) {
    ui.title.textContent = conversation.title || "New chat";
    ui.rename.hidden = !conversation.saved;
  }
}

// The server could not create the conversation `start` named (its history was out of
// reach): it stays this page's own, and its next question goes with its messages.
function notCreated(conversation) {
  conversation.saved = false;
  if (state.currentId === conversation.id) ui.rename.hidden = true;
  renderList();
}

async function stopAnswer() {
  const streaming = state.streaming;
  if (!streaming) return;
  streaming.message.stopReason = "stopped";
  try {
    // The server cancels the model's stream and ends ours with a "done".
    await api("/api/chat/stop", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: streaming.id }),
    });
  } catch {
    // fall through to the abort
  }
  // Whatever the server said, stop reading: closing the connection ends it too.
  setTimeout(() => streaming.controller.abort(), 1500);
}

// ---- notices, sidebar, copy -------------------------------------------------------

// Once signed out, that is the only notice: nothing else works until sign-in.
function showNotice(text) {
  if (state.signedOut) return;
  ui.noticeText.textContent = text;
  ui.noticeAction.hidden = true;
  ui.notice.hidden = false;
}

function hideNotice() {
  if (!state.signedOut) ui.notice.hidden = true;
}

// The load balancer's session expired (a call was sent to sign in). Signing in
// leaves the page: the composer's text waits in this tab's draft meanwhile.
function signedOut() {
  if (state.signedOut) return;
  keepDraft();
  ui.noticeText.textContent = "You were signed out — sign in again.";
  ui.noticeAction.textContent = "Sign in again";
  ui.noticeAction.hidden = false;
  ui.notice.hidden = false;
  state.signedOut = true;
  ui.who.textContent = "Signed out";
  ui.noticeAction.focus();
}

function keepDraft() {
  if (ui.input.value) sessionStorage.setItem(DRAFT_KEY, JSON.stringify({ user: state.user, text: ui.input.value }));
  else sessionStorage.removeItem(DRAFT_KEY);
}

// The draft this tab kept for this user, if the composer is empty.
function restoreDraft() {
  try {
    const draft = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "null");
    if (draft?.user === state.user && draft.text && !ui.input.value) {
      ui.input.value = draft.text;
      updateComposer();
    }
  } catch {
    sessionStorage.removeItem(DRAFT_KEY);
  }
}

// Signed out, the focus stays on the sign-in button.
function focusComposer() {
  if (!touch.matches && !state.signedOut) ui.input.focus();
}

function openSidebar() {
  ui.app.classList.add("sidebar-open");
  ui.scrim.hidden = false;
  ui.toggle.setAttribute("aria-expanded", "true");
  sidebarReach();
  if (narrow.matches) ui.newChat.focus();
}

function closeSidebar() {
  const inside = ui.sidebar.contains(document.activeElement);
  ui.app.classList.remove("sidebar-open");
  ui.scrim.hidden = true;
  ui.toggle.setAttribute("aria-expanded", "false");
  sidebarReach();
  if (inside && narrow.matches) ui.toggle.focus();
}

// On a narrow screen the closed sidebar is off screen: inert, out of the tab order
// and of what screen readers read; open, it covers the chat, which is inert instead.
function sidebarReach() {
  const open = ui.app.classList.contains("sidebar-open");
  ui.sidebar.inert = narrow.matches && !open;
  ui.chat.inert = narrow.matches && open;
}

// The conversation as Markdown, as the server exports a stored one.
function conversationMarkdown(conversation) {
  let out = `# ${conversation.title || "New chat"}\n\n`;
  for (const message of conversation.messages || []) {
    if (!message.text) continue;
    out += message.role === "user" ? "## You\n\n" : "## Assistant\n\n";
    out += `${message.text.trimEnd()}\n\n`;
    if (message.incomplete) out += `_(incomplete${message.reason ? `: ${message.reason}` : ""})_\n\n`;
  }
  return out;
}

function copyConversation() {
  const conversation = current();
  if (conversation?.messages?.length) copy(ui.copyConversation, conversationMarkdown(conversation));
}

async function copy(button, text = button.dataset.copy) {
  try {
    await navigator.clipboard.writeText(text);
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = label), 1200);
  } catch {
    showNotice("This browser did not allow copying.");
  }
}

// ---- wiring -----------------------------------------------------------------------

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = ui.input.value;
  if (text.trim() && !ui.send.disabled) ask(text, { fromComposer: true, files: takeAttached() });
});
ui.input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.form.requestSubmit();
  }
});
ui.input.addEventListener("input", () => {
  updateComposer();
  keepDraft();
});
ui.stop.addEventListener("click", stopAnswer);
ui.attach.addEventListener("click", () => ui.fileInput.click());
ui.fileInput.addEventListener("change", () => {
  attachFiles([...ui.fileInput.files]);
  ui.fileInput.value = "";
});
ui.form.addEventListener("dragover", (event) => {
  if (!state.files || !event.dataTransfer?.types.includes("Files")) return;
  event.preventDefault();
  ui.form.classList.add("dropping");
});
ui.form.addEventListener("dragleave", () => ui.form.classList.remove("dropping"));
ui.form.addEventListener("drop", (event) => {
  ui.form.classList.remove("dropping");
  if (!state.files || !event.dataTransfer?.files.length) return;
  event.preventDefault();
  attachFiles([...event.dataTransfer.files]);
});
ui.input.addEventListener("paste", (event) => {
  const files = [...(event.clipboardData?.files || [])];
  if (!state.files || !files.length) return;
  event.preventDefault();
  attachFiles(files);
});
ui.newChat.addEventListener("click", startNewChat);
ui.noticeClose.addEventListener("click", () => (ui.notice.hidden = true));
ui.noticeAction.addEventListener("click", () => {
  keepDraft();
  location.assign("/");
});
window.addEventListener(SIGNED_OUT, signedOut);
narrow.addEventListener("change", sidebarReach);
ui.toggle.addEventListener("click", () => (ui.app.classList.contains("sidebar-open") ? closeSidebar() : openSidebar()));
ui.scrim.addEventListener("click", closeSidebar);
ui.messages.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button || button.disabled) return;
  if (button.dataset.copy !== undefined) {
    copy(button);
    return;
  }
  const article = button.closest(".message");
  const message = messageOf.get(article);
  if (!message) return;
  if (button.dataset.action === "edit") beginEdit(article, message);
  else if (button.dataset.action === "again") askAgainFor(message);
});
ui.search.addEventListener("input", searchChanged);
ui.more.addEventListener("click", loadMore);
ui.rename.addEventListener("click", beginRename);
ui.copyConversation.addEventListener("click", copyConversation);
ui.picker.addEventListener("change", modelChosen);
ui.theme.addEventListener("change", () => {
  localStorage.setItem(THEME_KEY, ui.theme.value);
  applyTheme(ui.theme.value);
});
// Signing out leaves nothing of this user in the browser.
ui.signOut.addEventListener("click", () => {
  forgetBrowser();
  sessionStorage.removeItem(DRAFT_KEY);
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  if (state.streaming) stopAnswer();
  else if (narrow.matches && ui.app.classList.contains("sidebar-open")) closeSidebar();
});

async function start() {
  try {
    await begin();
  } catch (error) {
    showNotice(`The page could not start: ${error.message}. Reload it.`);
  } finally {
    document.body.dataset.ready = "true";
  }
}

async function begin() {
  updateComposer();
  sidebarReach();
  const me = await loadIdentity();
  state.user = me?.user || me?.name || "anonymous";
  setUpModels(me);
  setUpAttachments(me);
  restoreDraft();
  const history = me?.history;
  state.store = history?.enabled ? new ServerStore() : new LocalStore(state.user);
  ui.emptyText.textContent = !history?.enabled
    ? "Your conversations stay in this browser until you sign out."
    : history.retentionDays
      ? `Your conversations are kept for ${history.retentionDays} days and follow you to your other devices.`
      : "Your conversations are kept until you delete them, and follow you to your other devices.";
  if ("BroadcastChannel" in window) {
    state.tabs = new BroadcastChannel(`bedrock-chatbot.${state.user}`);
    state.tabs.onmessage = (event) => heard(event.data);
  }
  await refreshList();
  const remembered = localStorage.getItem(currentKey());
  if (remembered && state.conversations.some((c) => c.id === remembered)) await select(remembered);
  else if (state.conversations.length) await select(state.conversations[0].id);
  else startNewChat();
  offerImport();
  focusComposer();
}

start();
