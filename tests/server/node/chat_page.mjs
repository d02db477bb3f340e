// The chat page at "/" in headless Chromium (Debian's): it loads with no external requests,
// names the model, streams a reply to a typed message, and a second message continues the
// conversation.
import puppeteer from "puppeteer-core";
import assert from "node:assert/strict";

const url = process.env.STRATA_URL;
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  const page = await browser.newPage();
  const foreign = [];
  page.on("request", r => { if (!r.url().startsWith(url)) foreign.push(r.url()); });
  const errors = [];
  page.on("pageerror", e => errors.push(String(e)));
  await page.goto(url + "/", { waitUntil: "networkidle0" });
  await page.waitForFunction(() => document.getElementById("model").textContent.length > 0);
  assert.equal(await page.$eval("#model", e => e.textContent), "stories260K.gguf");
  await page.type("#input", "Tell me a story");
  await page.keyboard.press("Enter");
  await page.waitForSelector(".msg.assistant[data-done='1']", { timeout: 30000 });
  const reply = await page.$eval(".msg.assistant", e => e.textContent);
  assert.ok(reply.length > 0, "empty reply");
  assert.equal(await page.$eval(".msg.user", e => e.textContent), "Tell me a story");
  await page.type("#input", "And then?");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelectorAll(".msg.assistant[data-done='1']").length === 2,
                             { timeout: 30000 });
  const stats = await page.$eval("#stats", e => e.textContent);
  assert.match(stats, /tokens in .* cached\)/);
  assert.ok(!/\(0 cached\)/.test(stats), "the second turn should reuse the cache: " + stats);
  assert.deepEqual(foreign, []);
  assert.deepEqual(errors, []);
  console.log("chat page: reply streamed; " + stats);
} finally {
  await browser.close();
}
