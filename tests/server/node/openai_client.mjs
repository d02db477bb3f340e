// The openai npm client against strata serve (bundled stories260K): models, chat (whole and
// streamed), completions equal to `strata run`'s greedy text, and errors as APIError.
import OpenAI from "openai";
import { execFileSync } from "node:child_process";
import assert from "node:assert/strict";

const client = new OpenAI({ baseURL: process.env.STRATA_URL + "/v1", apiKey: "unused" });

const models = await client.models.list();
assert.equal(models.data.length, 1);
const model = models.data[0].id;
assert.equal(model, "stories260K.gguf");

// Completions: the same text as `strata run` prints after the prompt.
const prompt = "Once upon a time";
const completion = await client.completions.create({ model, prompt, max_tokens: 40, temperature: 0 });
const run = execFileSync(process.env.STRATA_BINARY, ["run", "-p", prompt, "-n", "40", "--temp", "0", "-q"],
                         { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
assert.equal(prompt + completion.choices[0].text + "\n", run);
assert.equal(completion.usage.completion_tokens, 40);
assert.equal(completion.choices[0].finish_reason, "length");

// Streamed completions give the same text.
let streamedCompletion = "";
for await (const chunk of await client.completions.create({ model, prompt, max_tokens: 40, temperature: 0, stream: true })) {
  streamedCompletion += chunk.choices[0]?.text ?? "";
}
assert.equal(streamedCompletion, completion.choices[0].text);

// Chat, whole and streamed, greedy: the same reply.
const messages = [{ role: "system", content: "You tell stories." }, { role: "user", content: "A story about a cat." }];
const chat = await client.chat.completions.create({ model, messages, max_tokens: 30, temperature: 0 });
assert.equal(chat.object, "chat.completion");
assert.equal(chat.choices[0].message.role, "assistant");
assert.ok(chat.choices[0].message.content.length > 0);
let streamed = "", finish = null, usage = null, sawRole = false;
const stream = await client.chat.completions.create({
  model, messages, max_tokens: 30, temperature: 0, stream: true, stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    if (c.delta.role) sawRole = true;
    streamed += c.delta.content ?? "";
    if (c.finish_reason) finish = c.finish_reason;
  }
}
assert.ok(sawRole);
assert.equal(streamed, chat.choices[0].message.content);
assert.equal(finish, chat.choices[0].finish_reason);
assert.equal(usage.completion_tokens, chat.usage.completion_tokens);

// Stop strings end the text before them.
const cut = completion.choices[0].text.indexOf(" little");
assert.ok(cut > 0);
const stopped = await client.completions.create({ model, prompt, max_tokens: 40, temperature: 0, stop: [" little"] });
assert.equal(stopped.choices[0].text, completion.choices[0].text.slice(0, cut));
assert.equal(stopped.choices[0].finish_reason, "stop");

// Errors arrive as the client's typed errors.
await assert.rejects(client.chat.completions.create({ model, messages: [], max_tokens: 5 }),
                     e => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === "messages");
await assert.rejects(client.completions.create({ model: "gpt-4", prompt }),
                     e => e instanceof OpenAI.NotFoundError && e.status === 404);
await assert.rejects(client.completions.create({ model, prompt, temperature: 9 }),
                     e => e instanceof OpenAI.BadRequestError && e.param === "temperature");
console.log("openai client: all checks passed");
