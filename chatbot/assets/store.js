// Where conversations are kept. With history on, on the server (`/api/conversations`,
// per signed-in user, following them to other browsers and devices); with history off,
// in this browser only, under a key of the signed-in user, and removed at sign-out.
// Both stores answer the same calls, so the page does not care which it has.

const PREFIX = "bedrock-chatbot.";
// What earlier versions kept for everyone who used this browser, under one key.
export const LEGACY_KEY = "bedrock-chatbot.conversations.v1";
const LEGACY_CURRENT = "bedrock-chatbot.current.v1";
const PAGE = 30;

// Removes everything this page ever kept in this browser (at sign-out).
export function forgetBrowser() {
  for (const key of Object.keys(localStorage)) {
    if (key.startsWith(PREFIX)) localStorage.removeItem(key);
  }
}

// Conversations an earlier version left in this browser, as title and turns.
export function legacyConversations() {
  try {
    const parsed = JSON.parse(localStorage.getItem(LEGACY_KEY) || "[]");
    if (!Array.isArray(parsed)) return [];
    return parsed
      .filter((c) => c && Array.isArray(c.messages))
      .map((c) => ({
        title: String(c.title || "").slice(0, 120),
        updatedAt: Number.isFinite(c.updated) && c.updated < Date.now() ? c.updated : undefined,
        turns: c.messages
          .filter((m) => (m.role === "user" || m.role === "assistant") && typeof m.text === "string" && m.text.trim())
          .map((m) => ({ role: m.role, text: m.text })),
      }))
      .filter((c) => c.turns.length > 0);
  } catch {
    return [];
  }
}

export function dropLegacy() {
  localStorage.removeItem(LEGACY_KEY);
  localStorage.removeItem(LEGACY_CURRENT);
}

// A failed call to the history API, with the server's sentence when it gave one.
export class HistoryError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `The chatbot answered ${status}.`);
    this.status = status;
    this.kind = body?.error?.kind || "unknown";
  }
}

// Said (as a "signed-out" event on window) when the chatbot's load balancer no
// longer knows this browser's session.
export const SIGNED_OUT = "bedrock-chatbot:signed-out";

// A call the load balancer turned away: its session expired.
export class SignedOutError extends Error {
  constructor() {
    super("You were signed out.");
    this.status = 401;
    this.kind = "signed_out";
  }
}

// fetch() for the chatbot's API. An expired load balancer session answers every
// request with a redirect to the sign-in page, which a script cannot follow (another
// origin): it is not followed but seen (`opaqueredirect`), as is a 401, and both
// throw SignedOutError after telling the page.
export async function api(path, options = {}) {
  const response = await fetch(path, { ...options, credentials: "same-origin", redirect: "manual" });
  if (response.type === "opaqueredirect" || response.status === 401) {
    window.dispatchEvent(new Event(SIGNED_OUT));
    throw new SignedOutError();
  }
  return response;
}

async function call(method, path, body) {
  const response = await api(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let parsed = null;
    try {
      parsed = await response.json();
    } catch {
      // not JSON: the status says enough
    }
    throw new HistoryError(response.status, parsed);
  }
  return response.status === 204 ? null : response.json();
}

const encode = encodeURIComponent;

// What a stored conversation's answers used (`usage`) and, priced, cost (`cost`).
function spentOf(c) {
  const spent = {};
  if (c.usage) spent.usage = c.usage;
  if (c.cost) spent.cost = c.cost;
  return spent;
}

// The turns of a stored conversation as the page shows them.
function messagesOf(turns) {
  return (turns || []).map((t) => ({
    role: t.role,
    text: t.text,
    index: t.index,
    incomplete: Boolean(t.incomplete),
    reason: t.incomplete?.reason,
    error: t.incomplete ? reasonText(t.incomplete.reason) : undefined,
    // A question's files: { id, name, kind, format, size } each.
    attachments: t.attachments,
    // An answer saved at its end: which model wrote it, what it used and cost.
    model: t.model,
    usage: t.usage,
    cost: t.cost,
  }));
}

// Why a stored answer is not whole, in words (the server's `incomplete.reason`).
function reasonText(reason) {
  switch (reason) {
    case "streaming":
      return "This answer is still being written, maybe in another tab. Open the conversation again to see the rest.";
    case "stopped":
      return "You stopped this answer.";
    case "disconnected":
    case "client_stalled":
      return "The connection was lost before this answer was complete.";
    case "shutting_down":
    case "interrupted":
      return "The chatbot restarted before this answer was complete.";
    case "max_tokens":
      return "Cut short: the answer reached its length limit.";
    default:
      return "This answer was cut off by an error before it was complete.";
  }
}

export class ServerStore {
  constructor() {
    this.server = true;
  }

  // One page of the newest conversations: { conversations, next }.
  async list(cursor) {
    const query = `limit=${PAGE}` + (cursor ? `&cursor=${encode(cursor)}` : "");
    const page = await call("GET", `/api/conversations?${query}`);
    return {
      conversations: page.conversations.map((c) => ({ ...spentOf(c), id: c.id, title: c.title, updated: c.updatedAt, messages: null })),
      next: page.next || null,
    };
  }

  async get(id) {
    const c = await call("GET", `/api/conversations/${encode(id)}`);
    return { ...spentOf(c), id: c.id, title: c.title, updated: c.updatedAt, messages: messagesOf(c.turns) };
  }

  async rename(id, title) {
    await call("PATCH", `/api/conversations/${encode(id)}`, { title });
  }

  async remove(id) {
    await call("DELETE", `/api/conversations/${encode(id)}`);
  }

  async search(query, cursor) {
    const page = await call("GET", `/api/conversations/search?q=${encode(query)}` + (cursor ? `&cursor=${encode(cursor)}` : ""));
    return {
      conversations: page.conversations.map((r) => ({ id: r.id, title: r.title, updated: r.updatedAt, snippet: r.snippet, messages: null })),
      next: page.next || null,
    };
  }

  async import(conversations) {
    return call("POST", "/api/conversations/import", { conversations });
  }

  exportUrl(id, format) {
    return `/api/conversations/${encode(id)}/export?format=${format}`;
  }

  // The body of a question: the server holds the conversation. `replaces`: the
  // stored index of the question this one is asked in place of (edited or asked
  // again), the conversation going on from the turn before it. One the server could
  // not store (history was unavailable when it began) is sent whole, as without
  // history.
  question(conversation, text, replaces) {
    if (conversation.saved) {
      const body = { conversation: conversation.id, question: text };
      if (Number.isInteger(replaces)) body.replaces = replaces;
      return body;
    }
    if (conversation.messages.length > 1) return LocalStore.prototype.question(conversation);
    return { question: text };
  }
}

export class LocalStore {
  constructor(user) {
    this.server = false;
    this.key = `${PREFIX}conversations.v2.${user}`;
  }

  read() {
    try {
      const parsed = JSON.parse(localStorage.getItem(this.key) || "[]");
      return Array.isArray(parsed) ? parsed.filter((c) => c && Array.isArray(c.messages)) : [];
    } catch {
      return [];
    }
  }

  write(conversations) {
    localStorage.setItem(this.key, JSON.stringify(conversations));
  }

  async list() {
    const conversations = this.read().sort((a, b) => b.updated - a.updated);
    return { conversations, next: null };
  }

  async get(id) {
    return this.read().find((c) => c.id === id) || null;
  }

  // Keeps `conversation` (pending answers are kept as they are, marked incomplete).
  save(conversation) {
    const others = this.read().filter((c) => c.id !== conversation.id);
    const messages = conversation.messages.map(({ pending, ...m }) => m);
    const { id, title, updated, usage, cost } = conversation;
    this.write([{ id, title, updated, usage, cost, messages }, ...others]);
  }

  async rename(id, title) {
    this.write(this.read().map((c) => (c.id === id ? { ...c, title } : c)));
  }

  async remove(id) {
    this.write(this.read().filter((c) => c.id !== id));
  }

  async search(query) {
    const q = query.toLowerCase();
    const conversations = (await this.list()).conversations.filter(
      (c) => (c.title || "").toLowerCase().includes(q) || c.messages.some((m) => m.text.toLowerCase().includes(q)),
    );
    return { conversations, next: null };
  }

  async import(conversations) {
    const now = Date.now();
    const mine = this.read();
    conversations.forEach((c, i) => {
      mine.push({
        id: crypto.randomUUID ? crypto.randomUUID() : `${now}-${i}`,
        title: c.title,
        updated: now - i,
        messages: c.turns.map((t) => ({ role: t.role, text: t.text })),
      });
    });
    this.write(mine);
  }

  exportUrl() {
    return null;
  }

  // The body of a question: the whole conversation, as the browser holds it (an
  // edited or repeated question has already cut it there).
  question(conversation) {
    const messages = conversation.messages
      .filter((m) => !m.pending && m.text && m.text.trim() !== "")
      .map((m) => (m.attachments?.length
        ? { role: m.role, text: m.text, attachments: m.attachments.map((a) => a.id) }
        : { role: m.role, text: m.text }));
    return { messages };
  }
}
