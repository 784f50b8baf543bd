// The chat page. Conversations live in this browser (localStorage) and are sent with
// each question; the server keeps nothing. Answers stream over server-sent events read
// from fetch(), so a question can be a POST and a stop can abort it.
import { renderMarkdown } from "./markdown.js";

const STORE = "bedrock-chatbot.conversations.v1";
const CURRENT = "bedrock-chatbot.current.v1";
const MAX_CONVERSATIONS = 100;

const $ = (id) => document.getElementById(id);
const ui = {
  app: $("app"), sidebar: $("sidebar"), scrim: $("scrim"), toggle: $("toggle-sidebar"),
  list: $("conversations"), newChat: $("new-chat"), who: $("who"), avatar: $("avatar"),
  signOut: $("sign-out"), title: $("title"), model: $("model"), devBanner: $("dev-banner"),
  messages: $("messages"), empty: $("empty"), notice: $("notice"), noticeText: $("notice-text"),
  noticeClose: $("notice-close"), form: $("composer"), input: $("input"), counter: $("counter"),
  send: $("send"), stop: $("stop"),
};

const state = {
  conversations: load(),
  currentId: localStorage.getItem(CURRENT),
  maxChars: 32000,
  streaming: null, // { id, controller, conversationId, message, node }
  retryTimer: null,
};

function load() {
  try {
    const parsed = JSON.parse(localStorage.getItem(STORE) || "[]");
    return Array.isArray(parsed) ? parsed.filter((c) => c && Array.isArray(c.messages)) : [];
  } catch {
    return [];
  }
}

function save() {
  state.conversations.sort((a, b) => b.updated - a.updated);
  state.conversations = state.conversations.slice(0, MAX_CONVERSATIONS);
  try {
    localStorage.setItem(STORE, JSON.stringify(state.conversations));
    if (state.currentId) localStorage.setItem(CURRENT, state.currentId);
  } catch {
    showNotice("This browser's storage is full: delete old conversations to keep new ones.");
  }
}

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function current() {
  return state.conversations.find((c) => c.id === state.currentId) || null;
}

// ---- who is signed in -------------------------------------------------------------

async function loadIdentity() {
  try {
    const response = await fetch("/api/me", { credentials: "same-origin" });
    if (!response.ok) {
      ui.who.textContent = "Not signed in";
      showNotice("Your sign-in expired. Reload the page to sign in again.");
      return;
    }
    const me = await response.json();
    ui.who.textContent = me.name;
    ui.who.title = `Signed in as ${me.name}`;
    ui.avatar.textContent = (me.name || "?").trim().charAt(0).toUpperCase();
    ui.model.textContent = me.model;
    ui.model.title = `Model: ${me.model}`;
    ui.signOut.href = me.signOutUrl;
    state.maxChars = me.maxMessageChars || state.maxChars;
    if (me.devIdentity) {
      ui.devBanner.textContent = `Development identity: everyone is signed in as ${me.name}, without the load balancer. For local use only.`;
      ui.devBanner.hidden = false;
    }
  } catch {
    showNotice("Cannot reach the chatbot. Check your connection and reload.");
  }
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
}

function renderConversation() {
  const conversation = current();
  ui.messages.replaceChildren();
  ui.title.textContent = conversation?.title || "New chat";
  document.title = conversation?.title ? `${conversation.title} · Chat` : "Chat";
  if (!conversation || conversation.messages.length === 0) {
    ui.messages.append(ui.empty);
    return;
  }
  for (const message of conversation.messages) ui.messages.append(messageNode(message));
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
  fillMessage(article, message);
  return article;
}

function fillMessage(article, message) {
  const body = article.querySelector(".body");
  if (message.role === "user") {
    body.textContent = message.text;
  } else {
    body.replaceChildren(renderMarkdown(message.text));
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
  if (message.role === "assistant" && !message.pending) {
    if (message.incomplete) meta.prepend(chip("Incomplete answer"));
    if (message.stopReason === "stopped") meta.append(chip("Stopped"));
    if (message.stopReason === "max_tokens") meta.append(chip("Cut short: the answer reached its length limit"));
    if (message.usage) meta.append(chip(`${message.usage.inputTokens} in · ${message.usage.outputTokens} out tokens`));
    if (message.text) {
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "copy-message";
      copy.textContent = "Copy";
      copy.dataset.copy = message.text;
      meta.append(copy);
    }
  }
  if (meta.childNodes.length) article.append(meta);
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

function select(id) {
  state.currentId = id;
  localStorage.setItem(CURRENT, id);
  renderList();
  renderConversation();
  ui.input.focus();
}

function startNewChat() {
  const empty = state.conversations.find((c) => c.messages.length === 0);
  if (empty) {
    select(empty.id);
  } else {
    const conversation = { id: newId(), title: "", messages: [], updated: Date.now() };
    state.conversations.unshift(conversation);
    save();
    select(conversation.id);
  }
  closeSidebar();
}

function removeConversation(id) {
  if (state.streaming?.conversationId === id) stopAnswer();
  state.conversations = state.conversations.filter((c) => c.id !== id);
  if (state.currentId === id) state.currentId = state.conversations[0]?.id || null;
  save();
  if (!state.currentId) startNewChat();
  renderList();
  renderConversation();
}

// ---- asking -----------------------------------------------------------------------

function updateComposer() {
  const length = ui.input.value.length;
  const over = length > state.maxChars;
  ui.counter.textContent = length > state.maxChars * 0.8 ? `${length.toLocaleString()} / ${state.maxChars.toLocaleString()}` : "";
  ui.counter.classList.toggle("over", over);
  const busy = state.streaming !== null;
  ui.send.disabled = busy || over || ui.input.value.trim() === "" || state.retryTimer !== null;
  ui.send.hidden = busy;
  ui.stop.hidden = !busy;
  ui.input.style.height = "auto";
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, 240)}px`;
}

async function ask(text) {
  if (state.streaming) return;
  if (text.length > state.maxChars) {
    showNotice(`Your message is ${text.length.toLocaleString()} characters long; the limit is ${state.maxChars.toLocaleString()}. Shorten it and send again.`);
    return;
  }
  let conversation = current();
  if (!conversation) {
    conversation = { id: newId(), title: "", messages: [], updated: Date.now() };
    state.conversations.unshift(conversation);
    state.currentId = conversation.id;
  }
  hideNotice();
  if (!conversation.title) conversation.title = text.replace(/\s+/g, " ").trim().slice(0, 60);
  conversation.messages.push({ role: "user", text });
  const history = conversation.messages
    .filter((m) => m.text && m.text.trim() !== "")
    .map((m) => ({ role: m.role, text: m.text }));
  const answer = { role: "assistant", text: "", pending: true };
  conversation.messages.push(answer);
  conversation.updated = Date.now();
  save();
  renderList();
  renderConversation();

  const node = ui.messages.lastElementChild;
  const id = newId();
  const controller = new AbortController();
  state.streaming = { id, controller, conversationId: conversation.id, message: answer, node };
  ui.input.value = "";
  updateComposer();
  ui.messages.setAttribute("aria-busy", "true");
  node.setAttribute("aria-busy", "true");

  try {
    const response = await fetch("/api/chat", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ id, messages: history }),
      signal: controller.signal,
    });
    if (!response.ok) {
      await refused(response, answer);
    } else if (!(await readEvents(response, answer, node)) && answer.stopReason !== "stopped") {
      // The stream closed without a last word from the server.
      answer.error = answer.error || "The connection was lost before the answer was complete. Try again.";
    }
  } catch (error) {
    if (error.name === "AbortError") {
      answer.stopReason = answer.stopReason || "stopped";
    } else {
      answer.error = "The connection was lost before the answer was complete. Try again.";
    }
  } finally {
    answer.pending = false;
    // Text that ended in an error is kept, and marked as not the whole answer.
    if (answer.text && answer.error) answer.incomplete = true;
    state.streaming = null;
    conversation.updated = Date.now();
    if (!answer.text && !answer.error && answer.stopReason !== "stopped") answer.error = "No answer came back. Try again.";
    save();
    if (state.currentId === conversation.id) fillMessage(node, answer);
    node.removeAttribute("aria-busy");
    ui.messages.setAttribute("aria-busy", "false");
    updateComposer();
    ui.input.focus();
  }
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
async function readEvents(response, answer, node) {
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
      if (event === "delta") {
        answer.text += payload.text;
        if (!frame) frame = requestAnimationFrame(paint);
      } else if (event === "done") {
        ended = true;
        answer.stopReason = payload.stopReason;
        answer.usage = payload.usage || null;
      } else if (event === "error") {
        ended = true;
        explain(payload, answer);
      }
    }
  }
  if (frame) cancelAnimationFrame(frame);
  return ended;
}

async function stopAnswer() {
  const streaming = state.streaming;
  if (!streaming) return;
  streaming.message.stopReason = "stopped";
  try {
    // The server cancels the model's stream and ends ours with a "done".
    await fetch("/api/chat/stop", {
      method: "POST",
      credentials: "same-origin",
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

function showNotice(text) {
  ui.noticeText.textContent = text;
  ui.notice.hidden = false;
}

function hideNotice() {
  ui.notice.hidden = true;
}

function openSidebar() {
  ui.app.classList.add("sidebar-open");
  ui.scrim.hidden = false;
  ui.toggle.setAttribute("aria-expanded", "true");
}

function closeSidebar() {
  ui.app.classList.remove("sidebar-open");
  ui.scrim.hidden = true;
  ui.toggle.setAttribute("aria-expanded", "false");
}

async function copy(button) {
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
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
  if (text.trim() && !ui.send.disabled) ask(text);
});
ui.input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.form.requestSubmit();
  }
});
ui.input.addEventListener("input", updateComposer);
ui.stop.addEventListener("click", stopAnswer);
ui.newChat.addEventListener("click", startNewChat);
ui.noticeClose.addEventListener("click", hideNotice);
ui.toggle.addEventListener("click", () => (ui.app.classList.contains("sidebar-open") ? closeSidebar() : openSidebar()));
ui.scrim.addEventListener("click", closeSidebar);
ui.messages.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (button) copy(button);
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.streaming) stopAnswer();
});

if (!current()) {
  if (state.conversations.length) state.currentId = state.conversations[0].id;
  else startNewChat();
}
renderList();
renderConversation();
updateComposer();
loadIdentity();
ui.input.focus();
document.body.dataset.ready = "true";
