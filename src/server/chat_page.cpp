// The chat page at "/": plain HTML, CSS and JavaScript in one document, no
// external assets. It keeps the conversation in the page and streams replies
// from /v1/chat/completions.
#include "server/server.h"

namespace strata {

const char* const kChatPageHtml = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>strata chat</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; display: flex; flex-direction: column;
         height: 100vh; background: #f6f6f4; color: #222; }
  header { padding: 0.6em 1em; background: #243447; color: #fff; display: flex; gap: 1em;
           align-items: baseline; }
  header h1 { font-size: 1.1em; margin: 0; }
  #model { opacity: 0.8; font-size: 0.9em; }
  #log { flex: 1; overflow-y: auto; padding: 1em; }
  .msg { max-width: 48em; margin: 0.4em 0; padding: 0.5em 0.8em; border-radius: 8px;
         white-space: pre-wrap; word-wrap: break-word; }
  .user { background: #dde8f4; margin-left: auto; }
  .assistant { background: #fff; border: 1px solid #ddd; }
  .error { background: #fbe3e3; border: 1px solid #e0a0a0; }
  form { display: flex; gap: 0.5em; padding: 0.8em; border-top: 1px solid #ddd; background: #fff; }
  textarea { flex: 1; font: inherit; padding: 0.5em; min-height: 2.5em; }
  button { font: inherit; padding: 0 1em; }
  #stats { font-size: 0.8em; color: #666; padding: 0 1em 0.5em; }
</style>
</head>
<body>
<header><h1>strata</h1><span id="model"></span></header>
<div id="log"></div>
<div id="stats"></div>
<form id="form">
  <textarea id="input" placeholder="Message (Enter to send, Shift+Enter for a new line)"></textarea>
  <button id="send" type="submit">Send</button>
  <button id="stop" type="button" disabled>Stop</button>
  <button id="reset" type="button">Reset</button>
  <label title="Most tokens per reply">max <input id="max" type="number" value="256" min="1"
    style="width: 5em"></label>
</form>
<script>
"use strict";
const log = document.getElementById("log");
const input = document.getElementById("input");
const sendButton = document.getElementById("send");
const stopButton = document.getElementById("stop");
const stats = document.getElementById("stats");
let history = [];
let controller = null;

fetch("/v1/models").then(r => r.json()).then(j => {
  document.getElementById("model").textContent = j.data[0].id;
}).catch(() => {});

function add(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
  return div;
}

async function send(text) {
  history.push({role: "user", content: text});
  add("user", text);
  const out = add("assistant", "");
  controller = new AbortController();
  sendButton.disabled = true;
  stopButton.disabled = false;
  const started = performance.now();
  let reply = "", pieces = 0, usage = null;
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({messages: history, stream: true,
                            max_tokens: Number(document.getElementById("max").value) || 256,
                            stream_options: {include_usage: true}}),
      signal: controller.signal,
    });
    if (!res.ok) {
      const j = await res.json();
      throw new Error(j.error ? j.error.message : res.statusText);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let at;
      while ((at = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") continue;
        const j = JSON.parse(data);
        if (j.error) throw new Error(j.error.message);
        if (j.usage) usage = j.usage;
        for (const c of j.choices || []) {
          if (c.delta && c.delta.content) {
            reply += c.delta.content;
            pieces++;
            out.textContent = reply;
            log.scrollTop = log.scrollHeight;
          }
        }
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") {
      out.className = "msg error";
      out.textContent = (reply ? reply + "\n" : "") + "error: " + e.message;
    }
  }
  history.push({role: "assistant", content: reply});
  const s = (performance.now() - started) / 1000;
  if (usage) {
    stats.textContent = `${usage.completion_tokens} tokens in ${s.toFixed(2)} s ` +
        `(${(usage.completion_tokens / s).toFixed(1)} tok/s), prompt ${usage.prompt_tokens} ` +
        `(${usage.prompt_tokens_details ? usage.prompt_tokens_details.cached_tokens : 0} cached)`;
  }
  controller = null;
  sendButton.disabled = false;
  stopButton.disabled = true;
  out.dataset.done = "1";
}

document.getElementById("form").addEventListener("submit", e => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text || controller) return;
  input.value = "";
  send(text);
});
input.addEventListener("keydown", e => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    document.getElementById("form").requestSubmit();
  }
});
stopButton.addEventListener("click", () => { if (controller) controller.abort(); });
document.getElementById("reset").addEventListener("click", () => {
  if (controller) controller.abort();
  history = [];
  log.textContent = "";
  stats.textContent = "";
});
</script>
</body>
</html>
)html";

}  // namespace strata
