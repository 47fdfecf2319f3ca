// Webhooks in the browser, against the real binary and its delivery job: an
// administrator subscribes a receiver from the page and copies the secret;
// a request filed through the API reaches the receiver signed (checked here
// with Node's own HMAC), after one retry; the log shows both tries.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";
import { useServerAndBrowser, api, audit, screenshot, signIn, cspViolations } from "./helpers.js";

const ctx = useServerAndBrowser({
  config: "[webhooks]\nallow_private_networks = true\ndeliver_interval_seconds = 1\nfirst_retry_seconds = 1\n",
});

/** A receiver on loopback: answers 500 to the first delivery, then 200. */
const received = [];
let receiver;
let receiverUrl;
before(async () => {
  receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(received.length === 1 ? 500 : 200, { "Content-Type": "text/plain" });
      res.end(received.length === 1 ? "busy, try later" : "ok");
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  receiverUrl = `http://127.0.0.1:${receiver.address().port}/guichet`;
});
after(() => receiver.close());

/** The receiver's side of the signature, written from the README. */
function verify(secret, header, body) {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=")));
  const expected = createHmac("sha256", secret).update(`${parts.t}.`).update(body).digest();
  const given = Buffer.from(parts.v1, "hex");
  const fresh = Math.abs(Date.now() / 1000 - Number(parts.t)) < 300;
  return fresh && given.length === expected.length && timingSafeEqual(given, expected);
}

async function until(what, check) {
  for (let i = 0; i < 100; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test("an administrator subscribes a receiver, which gets a new request signed after one retry", async () => {
  const { context, page } = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.admin.email);
  await page.getByRole("link", { name: "Webhooks" }).click();
  await page.waitForURL((u) => u.pathname === "/admin/webhooks");
  await page.getByLabel("Nom", { exact: true }).fill("Supervision régionale");
  await page.getByLabel("Adresse du destinataire (URL)").fill(receiverUrl);
  await page.getByLabel(/Réponse publique/).check();
  await page.getByRole("button", { name: "Créer" }).click();
  const secret = (await page.locator("#hook-secret").textContent()).trim();
  assert.ok(secret.length >= 40, secret);
  assert.match(await page.textContent("body"), /il ne sera plus affiché/);

  const requester = ctx.server.logins.requester;
  const uai = (await api(ctx.server.url, requester.token, "GET", "/me")).json.establishments[0];
  const filed = await api(ctx.server.url, requester.token, "POST", "/tickets", {
    title: "Webhook : messagerie inaccessible", description: "Depuis ce matin", establishment: uai,
  });
  assert.equal(filed.status, 201);
  await until("the retry", () => received.length >= 2);
  const [first, second] = received;
  assert.equal(first.headers["x-guichet-delivery"], second.headers["x-guichet-delivery"], "one delivery, tried twice");
  assert.deepEqual(first.body, second.body, "the same body each time");
  assert.equal(second.headers["x-guichet-event"], "ticket.created");
  assert.ok(verify(secret, second.headers["x-guichet-signature"], second.body), "signed with the secret shown");
  assert.ok(!verify("another secret", second.headers["x-guichet-signature"], second.body));
  const body = JSON.parse(second.body);
  assert.equal(body.ticket.key, filed.json.key);
  assert.equal(body.ticket.title, "Webhook : messagerie inaccessible");

  // The page that showed the secret answered a form: open the subscription afresh.
  const hooks = (await api(ctx.server.url, ctx.server.logins.admin.token, "GET", "/webhooks")).json;
  assert.equal(hooks.length, 1);
  assert.equal(hooks[0].secret, undefined, "never read back");
  await page.goto(`${ctx.server.url}/admin/webhooks/${hooks[0].id}`);
  const log = page.locator("table").first();
  await log.getByText("Envoyé").first().waitFor();
  await page.getByRole("link", { name: "1", exact: true }).click();
  const tries = await page.locator("table").first().textContent();
  assert.match(tries, /500/);
  assert.match(tries, /busy, try later/);
  assert.match(tries, /200/);
  assert.match(await page.textContent("body"), /Webhook : messagerie inaccessible/);
  await page.goBack();
  await screenshot(page, "webhooks");
  assert.deepEqual(await audit(page), []);
  await context.close();
  assert.deepEqual(cspViolations, []);
});
