// pocketgpt web UI: streams replies from this server's OpenAI-compatible API and, in the
// token inspector, shows the prompt and reply as tokens with the model's probabilities.
// Model text is only ever inserted with textContent, never as HTML.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = {
  models: [],            // entries of GET /v1/models
  columns: [],           // {model, mode, history: [{role, content}], el, messagesEl}
  controllers: [],       // AbortControllers of replies in flight
};

// -- helpers ----------------------------------------------------------------------------

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("#api-key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function banner(text, isError) {
  const b = $("#banner");
  b.hidden = !text;
  b.textContent = text || "";
  b.classList.toggle("error", !!isError);
}

async function errorText(resp) {
  try {
    const body = await resp.json();
    return (body.error && body.error.message) || resp.statusText;
  } catch (e) {
    return resp.status + " " + resp.statusText;
  }
}

// Token text for a chip: make whitespace visible so boundaries can be seen.
function chipText(t) {
  return t.replace(/ /g, "\u00b7").replace(/\n/g, "\u21b5").replace(/\t/g, "\u2192") || "\u2205";
}

function probColor(p) {
  return "hsl(" + Math.round(120 * p) + ", 65%, 82%)";
}

// -- models and columns -----------------------------------------------------------------

async function loadModels() {
  state.loadedKey = $("#api-key").value.trim();
  const resp = await fetch("/v1/models", { headers: headers() });
  if (resp.status === 401) {
    banner("This server needs an API key: enter it under Settings.", true);
    $("#settings").hidden = false;
    return false;
  }
  if (!resp.ok) { banner("Could not list models: " + await errorText(resp), true); return false; }
  state.models = (await resp.json()).data;
  for (const id of ["#model-a", "#model-b"]) {
    const sel = $(id);
    sel.replaceChildren();
    for (const m of state.models) {
      const o = el("option", "", m.id + " (" + m.kind + ")");
      o.value = m.id;
      sel.append(o);
    }
  }
  const hasAssistant = state.models.findIndex((m) => m.kind === "assistant");
  if (hasAssistant >= 0) $("#model-a").selectedIndex = hasAssistant;
  if (state.models.length > 1) {
    $("#compare-wrap").hidden = false;
    $("#model-b").selectedIndex = $("#model-a").selectedIndex === 0 ? 1 : 0;
    const kinds = new Set(state.models.map((m) => m.kind));
    $("#compare").checked = kinds.size > 1;  // a base and an assistant: show both by default
  }
  banner("");
  buildColumns();
  return true;
}

function modelInfo(id) {
  return state.models.find((m) => m.id === id);
}

function buildColumns() {
  abortAll();
  const ids = [$("#model-a").value];
  if ($("#compare").checked && state.models.length > 1) ids.push($("#model-b").value);
  state.columns = [];
  const main = $("#columns");
  main.replaceChildren();
  for (const id of ids) {
    const info = modelInfo(id);
    const node = $("#column-template").content.firstElementChild.cloneNode(true);
    node.dataset.model = id;
    node.querySelector(".model-name").textContent = id;
    const badge = node.querySelector(".badge");
    badge.textContent = info.kind + " \u00b7 " + Intl.NumberFormat("en", { notation: "compact" }).format(info.parameters) +
      " params \u00b7 ctx " + info.context_length;
    badge.classList.add(info.kind);
    // An assistant chats; a base model completes raw text (switchable: chatting with a base model is the demo).
    const col = { model: id, mode: info.kind === "assistant" && info.chat_ready ? "chat" : "complete",
                  history: [], el: node, messagesEl: node.querySelector(".messages") };
    const mode = node.querySelector(".mode");
    mode.value = col.mode;
    mode.querySelector("option[value=chat]").disabled = !info.chat_ready;
    mode.addEventListener("change", () => { col.mode = mode.value; col.history = []; col.messagesEl.replaceChildren(); });
    state.columns.push(col);
    main.append(node);
  }
}

// -- sending and streaming ----------------------------------------------------------------

function settings() {
  const s = {
    temperature: parseFloat($("#temperature").value),
    top_p: parseFloat($("#top-p").value),
  };
  const max = parseInt($("#max-tokens").value, 10);
  if (max > 0) s.max_tokens = max;  // else the server's default: the rest of the context, up to its cap
  const seed = $("#seed").value.trim();
  if (seed !== "") s.seed = parseInt(seed, 10);
  return s;
}

function addMessage(col, role, text, extraClass) {
  const box = el("div", "msg " + role + (extraClass ? " " + extraClass : ""));
  const textEl = el("div", "text", text);
  box.append(textEl);
  col.messagesEl.append(box);
  col.messagesEl.scrollTop = col.messagesEl.scrollHeight;
  return box;
}

function send(text) {
  const common = settings();
  for (const col of state.columns) sendTo(col, text, common);
}

async function sendTo(col, text, common) {
  const chat = col.mode === "chat";
  addMessage(col, "user", text);
  const box = addMessage(col, "assistant", "", chat ? "streaming" : "streaming complete");
  const textEl = box.querySelector(".text");
  const tokensEl = el("div", "tokens");
  const promptChips = el("div", "chips prompt");
  const replyChips = el("div", "chips reply");
  tokensEl.append(el("h4", "", "Prompt tokens"), promptChips, el("h4", "", "Reply tokens (click one)"), replyChips);
  box.append(tokensEl);
  const meta = el("div", "meta");
  box.append(meta);

  // Chat history that no longer fits the context is dropped, oldest turn first (the server says so with
  // code context_length_exceeded); the conversation on screen stays as it was.
  const request = () => {
    if (chat) {
      const messages = [];
      const system = $("#system").value.trim();
      if (system) messages.push({ role: "system", content: system });
      messages.push(...col.history, { role: "user", content: text });
      return { url: "/v1/chat/completions", tok: { model: col.model, messages },
               body: { model: col.model, messages, stream: true, logprobs: true, top_logprobs: 5,
                       stream_options: { include_usage: true }, ...common } };
    }
    // The completions API defaults to 16 tokens; ask for a paragraph unless the user chose.
    const cap = modelInfo(col.model).max_tokens_cap || 200;
    return { url: "/v1/completions", tok: { model: col.model, prompt: text },
             body: { model: col.model, prompt: text, stream: true, logprobs: 5, stream_options: { include_usage: true },
                     max_tokens: Math.min(200, cap), ...common } };
  };

  const ctrl = new AbortController();
  state.controllers.push(ctrl);
  setSending(true);
  let reply = "", finish = null, usage = null, dropped = 0;
  const t0 = performance.now();
  try {
    let req, resp;
    while (true) {
      req = request();
      resp = await fetch(req.url, { method: "POST", headers: headers(), body: JSON.stringify(req.body),
                                    signal: ctrl.signal });
      if (resp.ok) break;
      const err = await resp.json().catch(() => ({}));
      const e = err.error || {};
      if (e.code === "context_length_exceeded" && chat && col.history.length) {
        col.history.splice(0, 2);
        dropped += 1;
        continue;
      }
      throw new Error(e.message || resp.status + " " + resp.statusText);
    }
    showPromptTokens(req.tok, promptChips);
    for await (const obj of sseEvents(resp)) {
      if (obj.error) throw new Error(obj.error.message);
      if (obj.usage) usage = obj.usage;
      const choice = obj.choices && obj.choices[0];
      if (!choice) continue;
      const delta = chat ? (choice.delta && choice.delta.content) || "" : choice.text || "";
      reply += delta;
      textEl.textContent = reply;
      for (const t of normalizeLogprobs(choice.logprobs, chat)) addReplyChip(replyChips, t);
      if (choice.finish_reason) finish = choice.finish_reason;
      col.messagesEl.scrollTop = col.messagesEl.scrollHeight;
    }
  } catch (e) {
    if (e.name !== "AbortError") box.append(el("div", "error", "Error: " + e.message));
    else finish = "stopped";
  } finally {
    box.classList.remove("streaming");
    state.controllers = state.controllers.filter((c) => c !== ctrl);
    setSending(state.controllers.length > 0);
  }
  // An empty reply cannot go back into the history (every message needs text), so that turn is not kept.
  const kept = chat && finish !== "stopped" && reply.trim() !== "";
  if (kept) col.history.push({ role: "user", content: text }, { role: "assistant", content: reply });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  const parts = [];
  if (dropped) parts.push("dropped the " + dropped + " oldest turn(s) to fit the context");
  if (chat && !kept && finish !== "stopped") parts.push("empty reply: this turn is not kept");
  if (usage) parts.push(usage.completion_tokens + " tokens");
  parts.push(secs + " s");
  if (finish) parts.push(finish === "length" ? "hit the length limit" : finish === "stop" ? "stopped by itself" : finish);
  meta.append(el("span", "", parts.join(" \u00b7 ")));
  const copy = el("button", "copy", "Copy");
  copy.type = "button";
  copy.addEventListener("click", () => copyText(reply, copy));
  meta.append(copy);
}

function showPromptTokens(tokBody, container) {
  fetch("/v1/tokenize", { method: "POST", headers: headers(), body: JSON.stringify(tokBody) })
    .then((r) => (r.ok ? r.json() : null))
    .then((t) => {
      if (!t) return;
      for (const tok of t.tokens) {
        const chip = el("span", "tok" + (tok.special ? " special" : ""), chipText(tok.text));
        chip.title = "id " + tok.id;
        container.append(chip);
      }
      container.dataset.count = t.count;
    });
}

// Parse a fetch Response body as server-sent events, yielding each JSON data payload.
async function* sseEvents(resp) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let idx;
    while ((idx = buf.indexOf("\n\n")) >= 0) {
      const event = buf.slice(0, idx);
      buf = buf.slice(idx + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }
}

// Chat and completion logprobs to one shape: [{token, logprob, top: [{token, logprob}]}].
function normalizeLogprobs(lp, chat) {
  if (!lp) return [];
  if (chat) {
    return (lp.content || []).map((c) => ({ token: c.token, logprob: c.logprob,
      top: (c.top_logprobs || []).map((t) => ({ token: t.token, logprob: t.logprob })) }));
  }
  return (lp.tokens || []).map((tok, i) => ({ token: tok, logprob: lp.token_logprobs[i],
    top: Object.entries(lp.top_logprobs[i] || {}).map(([token, logprob]) => ({ token, logprob })) }));
}

function addReplyChip(container, t) {
  const p = Math.exp(t.logprob);
  const chip = el("span", "tok gen", chipText(t.token));
  chip.style.background = probColor(p);
  chip.dataset.prob = p.toFixed(4);
  chip.title = (100 * p).toFixed(1) + "%";
  chip.addEventListener("click", (ev) => { ev.stopPropagation(); showPopover(chip, t); });
  container.append(chip);
}

function showPopover(chip, t) {
  document.querySelectorAll(".tok.selected").forEach((c) => c.classList.remove("selected"));
  chip.classList.add("selected");
  const pop = $("#popover");
  pop.replaceChildren();
  const p = Math.exp(t.logprob);
  pop.append(el("div", "prob", "\u201c" + chipText(t.token) + "\u201d  p = " + (100 * p).toFixed(2) + "%"));
  pop.append(el("div", "lp", "logprob " + t.logprob.toFixed(3) + " (the model's own distribution)"));
  const table = el("table", "alts");
  const head = el("tr");
  head.append(el("td", "", "Top " + t.top.length + " at this step"));
  table.append(head);
  for (const alt of t.top) {
    const q = Math.exp(alt.logprob);
    const row = el("tr", alt.token === t.token ? "chosen" : "");
    row.append(el("td", "t", chipText(alt.token)), el("td", "p", (100 * q).toFixed(2) + "%"));
    const barCell = el("td", "b");
    const bar = el("div", "bar");
    bar.style.width = Math.max(2, Math.round(80 * q)) + "px";
    barCell.append(bar);
    row.append(barCell);
    table.append(row);
  }
  pop.append(table);
  pop.hidden = false;
  const r = chip.getBoundingClientRect();
  const w = pop.offsetWidth, h = pop.offsetHeight;
  pop.style.left = Math.max(4, Math.min(r.left, window.innerWidth - w - 4)) + "px";
  pop.style.top = (r.bottom + h + 8 < window.innerHeight ? r.bottom + 4 : Math.max(4, r.top - h - 4)) + "px";
}

function copyText(text, button) {
  const done = () => { button.textContent = "Copied"; setTimeout(() => (button.textContent = "Copy"), 1200); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
  } else {
    fallbackCopy(text, done);
  }
}

function fallbackCopy(text, done) {
  const ta = el("textarea");
  ta.value = text;
  document.body.append(ta);
  ta.select();
  try { document.execCommand("copy"); done(); } finally { ta.remove(); }
}

function setSending(on) {
  const b = $("#send");
  b.textContent = on ? "Stop" : "Send";
  b.classList.toggle("stop", on);
}

function abortAll() {
  for (const c of state.controllers) c.abort();
  state.controllers = [];
  setSending(false);
}

// -- wiring ----------------------------------------------------------------------------------

function init() {
  $("#api-key").value = localStorage.getItem("pocketgpt-api-key") || "";
  // Reload the model list only when the key really changed: reloading rebuilds the columns,
  // which would stop replies in flight and clear the chat.
  $("#api-key").addEventListener("change", () => {
    const key = $("#api-key").value.trim();
    if (key === state.loadedKey) return;
    localStorage.setItem("pocketgpt-api-key", key);
    loadModels();
  });
  for (const id of ["temperature", "top-p"]) {
    const input = $("#" + id);
    input.addEventListener("input", () => ($("#" + id + "-val").textContent = input.value));
  }
  $("#settings-toggle").addEventListener("click", () => {
    const s = $("#settings");
    s.hidden = !s.hidden;
    $("#settings-toggle").setAttribute("aria-expanded", String(!s.hidden));
  });
  $("#inspect").addEventListener("change", () => document.body.classList.toggle("inspect", $("#inspect").checked));
  $("#new-chat").addEventListener("click", buildColumns);
  for (const id of ["#model-a", "#model-b", "#compare"]) $(id).addEventListener("change", buildColumns);
  $("#composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (state.controllers.length) { abortAll(); return; }
    const text = $("#input").value;
    if (!text.trim() || !state.columns.length) return;
    $("#input").value = "";
    send(text);
  });
  $("#input").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("#composer").requestSubmit(); }
  });
  document.addEventListener("click", (ev) => {
    if (!$("#popover").contains(ev.target)) $("#popover").hidden = true;
  });
  loadModels();
}

init();
