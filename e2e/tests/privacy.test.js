// Personal data in the browser: the desk masks a password a school pasted
// (the school then sees that it was masked, by whom and why), and an
// administrator looks a person up, downloads their export and erases them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useServerAndBrowser, api, audit, screenshot, signIn, cspViolations } from "./helpers.js";

const ctx = useServerAndBrowser();

test("the desk masks a pasted password and the school sees who masked it and why", async () => {
  const requester = ctx.server.logins.requester;
  const own = (await api(ctx.server.url, requester.token, "GET", "/tickets?per_page=1")).json.items[0];
  const posted = await api(ctx.server.url, requester.token, "POST", `/tickets/${own.key}/comments`, { body: "Mon mot de passe : Tr0ub4dor&3" });
  assert.equal(posted.status, 201);

  const { context, page } = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.agent.email);
  await page.goto(`${ctx.server.url}/tickets/${own.key}`);
  const message = page.locator("li.message", { hasText: "Tr0ub4dor&3" });
  await message.locator("summary", { hasText: "Masquer" }).click();
  await message.getByLabel("Texte à masquer (vide : tout)").fill("Tr0ub4dor&3");
  await message.getByLabel("Motif").fill("mot de passe collé");
  await message.getByRole("button", { name: "Masquer" }).click();
  await page.waitForURL((u) => u.search.includes("ok="));
  assert.match(await page.textContent("body"), /Contenu masqué\./);
  await context.close();

  const school = await signIn(ctx.browser, ctx.server.url, requester.email);
  await school.page.goto(`${ctx.server.url}/tickets/${own.key}`);
  const body = await school.page.textContent("body");
  assert.ok(!body.includes("Tr0ub4dor&3"), "the password is gone");
  assert.match(body, /Mon mot de passe : \[contenu masqué\]/);
  assert.match(body, /Contenu masqué par Claire Oreja/);
  assert.match(body, /motif : mot de passe collé/);
  assert.equal(await school.page.locator("details.mask").count(), 0, "schools do not mask");
  await school.context.close();
});

test("an administrator looks a person up, exports their data and erases them", async () => {
  const { context, page } = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.admin.email);
  await page.getByRole("link", { name: "Données personnelles" }).click();
  await page.waitForURL((u) => u.pathname === "/admin/privacy");
  await page.getByLabel("Adresse e-mail").fill(ctx.server.logins.requester.email);
  await page.getByRole("button", { name: "Rechercher" }).click();
  await page.locator("#person").waitFor();
  assert.match(await page.textContent("#person"), /Demandes déposées : \d+/);
  await screenshot(page, "privacy");
  assert.deepEqual(await audit(page), []);

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Exporter (ZIP)" }).click()]);
  assert.equal(download.suggestedFilename(), "guichet-export.zip");

  await page.getByLabel("Je confirme : l'effacement est définitif.").check();
  await page.getByRole("button", { name: "Anonymiser maintenant" }).click();
  await page.waitForURL((u) => u.search.includes("ok="));
  assert.match(await page.textContent("body"), /Données anonymisées\./);
  const rows = await page.locator("table").last().textContent();
  assert.match(rows, /erasure/);
  assert.match(rows, /export/);
  const me = await api(ctx.server.url, ctx.server.logins.requester.token, "GET", "/me");
  assert.equal(me.status, 401, "the erased person's token no longer works");
  await context.close();
  assert.deepEqual(cspViolations, []);
});
