// Load: 16 concurrent streaming clients x 20 requests, malformed requests mixed in (every
// fifth). Checks no valid request goes unanswered or wrong, every malformed one gets a 400,
// the server lives on; prints p50/p99 latency, time to first token and tokens/s as JSON.
import assert from "node:assert/strict";

const url = process.env.STRATA_URL;
const clients = Number(process.env.LOAD_CLIENTS ?? 16), perClient = Number(process.env.LOAD_REQUESTS ?? 20);
const maxTokens = Number(process.env.LOAD_MAX_TOKENS ?? 32);
const bad = [
  "{not json",
  JSON.stringify({ prompt: "x", max_tokens: "lots" }),
  JSON.stringify({ messages: [{ role: "user" }] }),
  JSON.stringify({ prompt: "x", temperature: -1 }),
];
const latencies = [], ttfts = [];
let tokens = 0, valid = 0, rejected = 0;

async function streamOne(i) {
  const t0 = performance.now();
  const res = await fetch(url + "/v1/chat/completions", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: `Story number ${i}` }], max_tokens: maxTokens,
                           stream: true, stream_options: { include_usage: true }, seed: i }),
  });
  assert.equal(res.status, 200);
  const body = res.body.getReader(), dec = new TextDecoder();
  let buf = "", first = 0, done = false, usage = null;
  for (;;) {
    const { value, done: end } = await body.read();
    if (end) break;
    buf += dec.decode(value, { stream: true });
    let at;
    while ((at = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, at); buf = buf.slice(at + 2);
      if (!ev.startsWith("data: ")) continue;
      if (ev === "data: [DONE]") { done = true; continue; }
      const j = JSON.parse(ev.slice(6));
      if (j.usage) usage = j.usage;
      if (!first && j.choices[0]?.delta?.content) first = performance.now();
    }
  }
  assert.ok(done, "stream ended without [DONE]");
  assert.ok(usage && usage.completion_tokens > 0);
  latencies.push(performance.now() - t0);
  ttfts.push((first || performance.now()) - t0);
  tokens += usage.completion_tokens;
  valid++;
}

async function badOne(i) {
  const res = await fetch(url + (i % 2 ? "/v1/completions" : "/v1/chat/completions"), {
    method: "POST", headers: { "Content-Type": "application/json" }, body: bad[i % bad.length],
  });
  assert.equal(res.status, 400);
  const j = await res.json();
  assert.ok(j.error && j.error.message);
  rejected++;
}

const t0 = performance.now();
await Promise.all(Array.from({ length: clients }, async (_, c) => {
  for (let r = 0; r < perClient; r++) {
    const i = c * perClient + r;
    if (i % 5 === 4) await badOne(i); else await streamOne(i);
  }
}));
const wall = (performance.now() - t0) / 1000;
const expectedBad = Array.from({ length: clients * perClient }, (_, i) => i % 5 === 4).filter(Boolean).length;
assert.equal(rejected, expectedBad);
assert.equal(valid, clients * perClient - expectedBad);
const health = await fetch(url + "/health");
assert.equal(health.status, 200);
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
console.log(JSON.stringify({
  clients, requests_per_client: perClient, valid, rejected, wall_s: +wall.toFixed(2),
  latency_ms: { p50: +pct(latencies, 0.5).toFixed(1), p99: +pct(latencies, 0.99).toFixed(1) },
  ttft_ms: { p50: +pct(ttfts, 0.5).toFixed(1), p99: +pct(ttfts, 0.99).toFixed(1) },
  generated_tokens: tokens, tokens_per_s: +(tokens / wall).toFixed(1),
}));
