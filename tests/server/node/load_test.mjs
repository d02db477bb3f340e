// Load: 16 concurrent streaming clients x 20 requests, malformed requests mixed in (every
// fifth). Checks no valid request goes unanswered or wrong, every malformed one gets a 400,
// the server lives on; prints p50/p99 latency, time to first token and tokens/s as JSON.
import assert from "node:assert/strict";
import http from "node:http";

const url = process.env.STRATA_URL;
const clients = Number(process.env.LOAD_CLIENTS ?? 16), perClient = Number(process.env.LOAD_REQUESTS ?? 20);
const maxTokens = Number(process.env.LOAD_MAX_TOKENS ?? 32);
// LOAD_BAD=0 sends only valid requests (to measure a peer server the same way).
const withBad = (process.env.LOAD_BAD ?? "1") !== "0";
const bad = [
  "{not json",
  JSON.stringify({ prompt: "x", max_tokens: "lots" }),
  JSON.stringify({ messages: [{ role: "user" }] }),
  JSON.stringify({ prompt: "x", temperature: -1 }),
];
const latencies = [], ttfts = [];
let tokens = 0, valid = 0, rejected = 0;

// One connection per request (node:http without keep-alive), so a server that closes
// keep-alive connections on its own schedule is measured the same as one that does not.
function post(path, body, onData) {
  return new Promise((resolve, reject) => {
    const req = http.request(url + path, { method: "POST", agent: false,
                                           headers: { "Content-Type": "application/json" } }, res => {
      res.setEncoding("utf8");
      let text = "";
      res.on("data", d => { text += d; onData?.(d); });
      res.on("end", () => resolve({ status: res.statusCode, text }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function streamOne(i) {
  const t0 = performance.now();
  let buf = "", first = 0, done = false, usage = null;
  const res = await post("/v1/chat/completions",
    JSON.stringify({ messages: [{ role: "user", content: `Story number ${i}` }], max_tokens: maxTokens,
                     stream: true, stream_options: { include_usage: true }, seed: i }),
    d => {
      buf += d;
      let at;
      while ((at = buf.indexOf("\n\n")) >= 0) {
        const ev = buf.slice(0, at); buf = buf.slice(at + 2);
        if (!ev.startsWith("data: ")) continue;
        if (ev === "data: [DONE]") { done = true; continue; }
        const j = JSON.parse(ev.slice(6));
        if (j.usage) usage = j.usage;
        if (!first && j.choices[0]?.delta?.content) first = performance.now();
      }
    });
  assert.equal(res.status, 200);
  assert.ok(done, "stream ended without [DONE]: ..." + res.text.slice(-400));
  assert.ok(usage && usage.completion_tokens > 0);
  latencies.push(performance.now() - t0);
  ttfts.push((first || performance.now()) - t0);
  tokens += usage.completion_tokens;
  valid++;
}

async function badOne(i) {
  const res = await post(i % 2 ? "/v1/completions" : "/v1/chat/completions", bad[i % bad.length]);
  assert.equal(res.status, 400);
  const j = JSON.parse(res.text);
  assert.ok(j.error && j.error.message);
  rejected++;
}

const t0 = performance.now();
await Promise.all(Array.from({ length: clients }, async (_, c) => {
  for (let r = 0; r < perClient; r++) {
    const i = c * perClient + r;
    if (withBad && i % 5 === 4) await badOne(i); else await streamOne(i);
  }
}));
const wall = (performance.now() - t0) / 1000;
const expectedBad = withBad ? Array.from({ length: clients * perClient }, (_, i) => i % 5 === 4).filter(Boolean).length : 0;
assert.equal(rejected, expectedBad);
assert.equal(valid, clients * perClient - expectedBad);
const health = await fetch(url + "/health");
assert.equal(health.status, 200);  // the server lives on
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
console.log(JSON.stringify({
  clients, requests_per_client: perClient, valid, rejected, wall_s: +wall.toFixed(2),
  latency_ms: { p50: +pct(latencies, 0.5).toFixed(1), p99: +pct(latencies, 0.99).toFixed(1) },
  ttft_ms: { p50: +pct(ttfts, 0.5).toFixed(1), p99: +pct(ttfts, 0.99).toFixed(1) },
  generated_tokens: tokens, tokens_per_s: +(tokens / wall).toFixed(1),
}));
