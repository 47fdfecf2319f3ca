// The main flows of the desk and of school administrators, in a real browser.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useServerAndBrowser, signIn, api, audit, screenshot, PNG_BASE64, cspViolations } from "./helpers.js";

const ctx = useServerAndBrowser();

/** The requester's school and a ticket of another school, from the API. */
async function schools() {
  const me = await api(ctx.server.url, ctx.server.logins.requester.token, "GET", "/me");
  const own = me.json.establishments[0];
  const all = await api(ctx.server.url, ctx.server.logins.admin.token, "GET", "/tickets?per_page=100");
  const other = all.json.items.find((t) => t.establishment.uai !== own);
  return { own, other };
}

test("a requester files an anomaly with a pasted screenshot, the desk answers, the requester reopens, the desk resolves", async () => {
  const requester = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.requester.email);
  const page = requester.page;
  await page.goto(`${ctx.server.url}/tickets/new`);
  await page.getByLabel("Je signale une anomalie").check();
  await page.getByLabel("Titre").fill("Messagerie : page blanche à l'ouverture");
  await page.getByLabel("Description", { exact: true }).fill("Depuis ce matin, la messagerie affiche une page blanche.");
  await page.getByLabel("Service ENT concerné").fill("Messagerie");
  await page.getByLabel("Navigateur et système").fill("Firefox 128 / Windows 11");
  // Paste a screenshot, as with Ctrl+V.
  await page.evaluate((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], "image.png", { type: "image/png" }));
    document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true }));
  }, PNG_BASE64);
  assert.equal(await page.locator("#n-file").evaluate((i) => i.files.length), 1);
  await screenshot(page, "portal-new-request");
  await page.getByRole("button", { name: "Envoyer la demande" }).click();
  await page.waitForURL(/\/tickets\/SUP-\d+/);
  const key = page.url().match(/SUP-\d+/)[0];
  await assert.doesNotReject(page.getByText("Demande envoyée.").waitFor());
  assert.equal(await page.locator(".files img").count(), 1, "the screenshot is attached and shown");

  // The agent classifies, writes an internal note and a reply.
  const agent = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.agent.email);
  const desk = agent.page;
  await desk.goto(`${ctx.server.url}/tickets/${key}`);
  await desk.getByRole("button", { name: "M'attribuer" }).click();
  await desk.getByLabel("Priorité").selectOption("high");
  await desk.getByLabel("Statut", { exact: true }).selectOption("in_progress");
  await desk.getByRole("button", { name: "Enregistrer" }).first().click();
  await desk.getByText("Enregistré.").waitFor();
  await desk.getByRole("radio", { name: /^Note interne/ }).check();
  await desk.getByLabel("Votre message").fill("Reproduit en recette avec un profil enseignant.");
  await desk.getByRole("button", { name: "Envoyer" }).click();
  await desk.getByText("Envoyé.").waitFor();
  await desk.getByRole("radio", { name: /^Réponse/ }).check();
  await desk.getByLabel("Votre message").fill("Bonjour, nous avons reproduit le problème et le corrigeons.");
  await desk.getByRole("button", { name: "Envoyer" }).click();
  await desk.getByText("Envoyé.").waitFor();
  await screenshot(desk, "ticket-agent");

  // The requester sees the reply, not the note; then reopens after a resolution.
  await page.reload();
  await page.getByText("nous avons reproduit le problème").waitFor();
  assert.equal(await page.getByText("Reproduit en recette").count(), 0, "internal note hidden from the requester");
  await desk.reload();
  await desk.getByLabel("Résolution", { exact: true }).selectOption("fixed");
  await desk.getByLabel("Statut", { exact: true }).selectOption("resolved");
  await desk.getByRole("button", { name: "Enregistrer" }).first().click();
  await desk.getByText("Enregistré.").waitFor();
  await page.reload();
  await page.getByRole("button", { name: "Rouvrir" }).click();
  await page.getByText("Enregistré.").waitFor();
  const reopened = await api(ctx.server.url, ctx.server.logins.agent.token, "GET", `/tickets/${key}`);
  assert.equal(reopened.json.status, "in_progress");
  await screenshot(page, "ticket-requester");

  await desk.reload();
  await desk.getByLabel("Résolution", { exact: true }).selectOption("fixed");
  await desk.getByLabel("Statut", { exact: true }).selectOption("resolved");
  await desk.getByRole("button", { name: "Enregistrer" }).first().click();
  await desk.getByText("Enregistré.").waitFor();
  const resolved = await api(ctx.server.url, ctx.server.logins.agent.token, "GET", `/tickets/${key}`);
  assert.equal(resolved.json.status, "resolved");
  assert.equal(resolved.json.type, "anomaly");
  assert.equal(resolved.json.reproduction.service, "Messagerie");
  await requester.context.close();
  await agent.context.close();
});

test("an agent logs a phone call for an existing caller found by phone number", async () => {
  const me = await api(ctx.server.url, ctx.server.logins.requester.token, "GET", "/me");
  const phone = me.json.phones[0].replace(/(\d{2})(?=\d)/g, "$1 ");
  const agent = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.agent.email);
  const page = agent.page;
  await page.goto(`${ctx.server.url}/phone`);
  await page.getByLabel("Appelant").fill(phone);
  await page.getByRole("button", { name: "Rechercher" }).click();
  await page.getByRole("link", { name: me.json.name }).click();
  await page.getByLabel("Titre").fill("Réinitialiser le mot de passe d'un élève");
  await page.getByLabel("Résolue pendant l'appel").check();
  await screenshot(page, "phone-intake");
  await page.getByRole("button", { name: "Créer" }).click();
  await page.getByText("Appel enregistré.").waitFor();
  const key = page.url().match(/SUP-\d+/)[0];
  const ticket = await api(ctx.server.url, ctx.server.logins.agent.token, "GET", `/tickets/${key}`);
  assert.equal(ticket.json.channel, "phone");
  assert.equal(ticket.json.status, "resolved");
  assert.equal(ticket.json.requester.name, me.json.name);
  await agent.context.close();
});

test("a requester cannot open another school's ticket by URL, nor its attachment", async () => {
  const { other } = await schools();
  const upload = new FormData();
  upload.append("file", new Blob([Buffer.from(PNG_BASE64, "base64")], { type: "image/png" }), "autre.png");
  const res = await fetch(`${ctx.server.url}/api/v1/tickets/${other.key}/attachments`, {
    method: "POST", headers: { Authorization: `Bearer ${ctx.server.logins.admin.token}` }, body: upload,
  });
  const attachment = await res.json();
  const requester = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.requester.email);
  const ticketPage = await requester.page.goto(`${ctx.server.url}/tickets/${other.key}`);
  assert.equal(ticketPage.status(), 404);
  assert.equal(await requester.page.getByText(other.title).count(), 0);
  const file = await requester.page.goto(`${ctx.server.url}/attachments/${attachment.id}`);
  assert.equal(file.status(), 404);
  await requester.context.close();
});

test("a form post without the CSRF token is refused", async () => {
  const agent = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.agent.email);
  const { own } = await schools();
  const list = await api(ctx.server.url, ctx.server.logins.agent.token, "GET", `/tickets?establishment=${own}`);
  const key = list.json.items[0].key;
  const before = await api(ctx.server.url, ctx.server.logins.agent.token, "GET", `/tickets/${key}/comments`);
  for (const form of [{ body: "Sans jeton", kind: "reply" }, { body: "Mauvais jeton", kind: "reply", _csrf: "forged" }]) {
    const response = await agent.context.request.post(`${ctx.server.url}/tickets/${key}/comments`, { form, maxRedirects: 0 });
    assert.equal(response.status(), 403);
  }
  const afterwards = await api(ctx.server.url, ctx.server.logins.agent.token, "GET", `/tickets/${key}/comments`);
  assert.equal(afterwards.json.length, before.json.length, "nothing was written");
  await agent.context.close();
});

test("every main page passes an accessibility audit and renders quickly", async () => {
  const { own } = await schools();
  const list = await api(ctx.server.url, ctx.server.logins.agent.token, "GET", `/tickets?establishment=${own}`);
  const key = list.json.items[0].key;
  const pages = [
    ["agent", "/desk", "desk-dashboard"],
    ["agent", "/tickets", "queue"],
    ["agent", `/tickets/${key}`, null],
    ["agent", "/phone", null],
    ["agent", "/canned", "canned-responses"],
    ["agent", "/kb", null],
    ["agent", "/kb/1", null],
    ["agent", "/kb/new", null],
    ["requester", "/kb", null],
    ["requester", "/tickets", "portal-requests"],
    ["requester", "/tickets/new", null],
    ["requester", `/tickets/${key}`, null],
    ["admin", "/admin/establishments", "admin-establishments"],
    ["admin", "/admin/users", "admin-users"],
    ["admin", "/admin/categories", null],
    ["admin", "/admin/rota", null],
    ["admin", "/admin/calendar", "admin-calendar"],
    ["admin", "/admin/mail", "admin-mail"],
    ["agent", "/reports", "reports"],
    ["requester", "/reports", null],
    ["agent", "/incidents", "incidents"],
    ["agent", "/incidents/1", null],
    ["requester", "/incidents/1", null],
  ];
  const report = [];
  const contexts = {};
  for (const [role, path, shot] of pages) {
    contexts[role] ??= await signIn(ctx.browser, ctx.server.url, ctx.server.logins[role].email);
    const { page, context } = contexts[role];
    await page.goto(`${ctx.server.url}${path}`);
    const violations = await audit(page);
    assert.deepEqual(violations.map((v) => `${v.id}: ${v.help} (${v.nodes.length})`), [], `${role} ${path}`);
    if (shot) await screenshot(page, shot);
    const times = [];
    for (let i = 0; i < 15; i++) {
      const start = performance.now();
      const response = await context.request.get(`${ctx.server.url}${path}`);
      assert.equal(response.status(), 200);
      await response.body();
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    report.push(`${role.padEnd(10)} ${path.padEnd(28)} median ${times[7].toFixed(1)} ms, axe: 0 serious/critical`);
  }
  // The login page, before signing in.
  const anonymous = await ctx.browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "fr-FR" });
  const login = await anonymous.newPage();
  await login.goto(`${ctx.server.url}/login`);
  assert.deepEqual(await audit(login), []);
  await screenshot(login, "login");
  // The public HELP page of the requester's school.
  await login.goto(`${ctx.server.url}/aide/${own}`);
  assert.deepEqual(await audit(login), []);
  // The requester portal on a phone.
  const phone = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.requester.email, { viewport: { width: 390, height: 844 }, isMobile: true });
  await phone.page.goto(`${ctx.server.url}/tickets/new`);
  assert.deepEqual(await audit(phone.page), []);
  await screenshot(phone.page, "portal-mobile");
  console.log(["Page render times (HTTP round trip on loopback, demo data):", ...report].join("\n"));
  for (const c of Object.values(contexts)) await c.context.close();
  await anonymous.close();
  await phone.context.close();
});

test("the interface speaks English on request and French by default", async () => {
  const context = await ctx.browser.newContext({ locale: "en-GB", extraHTTPHeaders: { "Accept-Language": "en-GB,en;q=0.9" } });
  const page = await context.newPage();
  await page.goto(`${ctx.server.url}/login`);
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  await page.getByRole("button", { name: "Français" }).click();
  await page.getByRole("button", { name: "Connexion" }).waitFor();
  await context.close();
});

test("the monthly report prints without the navigation, its charts and tables whole", async () => {
  const { page, context } = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.agent.email);
  await page.goto(`${ctx.server.url}/reports`);
  await page.getByRole("link", { name: "Rapport du mois dernier" }).click();
  await page.waitForURL((u) => u.search.includes("granularity=day"));
  const charts = await page.locator("svg.chart").count();
  assert.ok(charts >= 8, `${charts} charts`);
  // Every chart is named and described for assistive technology.
  const unnamed = await page.locator("svg.chart:not([aria-labelledby])").count();
  assert.equal(unnamed, 0);
  await page.emulateMedia({ media: "print" });
  assert.equal(await page.locator("header.top").isVisible(), false);
  assert.equal(await page.locator("form.report-form").isVisible(), false);
  assert.ok(await page.locator("#volume table").isVisible());
  await screenshot(page, "monthly-report-print");
  await context.close();
});

test("the global search box is one keystroke away and highlights what it found", async () => {
  const { page, context } = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.agent.email);
  await page.goto(`${ctx.server.url}/desk`);
  await page.keyboard.press("/");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "global-q");
  await page.keyboard.type("messagerie");
  await page.keyboard.press("Enter");
  await page.waitForURL((u) => u.pathname === "/search");
  const hits = await page.locator("ol.hits > li").count();
  assert.ok(hits > 0, "the demo data has requests about the messaging service");
  assert.ok((await page.locator("ol.hits mark").count()) > 0);
  assert.deepEqual(await audit(page), []);
  await screenshot(page, "search");
  await context.close();
});

test("a pupil asks for help on the school's HELP page; its administrator answers, then forwards it to the desk", async () => {
  const { own } = await schools();
  const visitor = await ctx.browser.newContext({ viewport: { width: 800, height: 900 }, locale: "fr-FR" });
  const help = await visitor.newPage();
  await help.goto(`${ctx.server.url}/aide/${own}`);
  await help.getByLabel("Élève").check();
  await help.getByLabel("Votre nom").fill("Léa Martin");
  await help.getByLabel("Votre message").fill("Je ne vois plus mes devoirs dans le cahier de textes depuis lundi.");
  await help.getByLabel("Capture d'écran (facultatif)").setInputFiles({
    name: "devoirs.png", mimeType: "image/png", buffer: Buffer.from(PNG_BASE64, "base64"),
  });
  await screenshot(help, "help-page");
  await help.getByRole("button", { name: "Envoyer" }).click();
  await help.getByText("Merci, votre message a été transmis.").waitFor();
  // HTML is refused with a readable message, and what was typed is kept.
  await help.getByRole("link", { name: "Envoyer un autre message" }).click();
  await help.getByLabel("Parent").check();
  await help.getByLabel("Votre nom").fill("Marc");
  await help.getByLabel("Votre message").fill("<b>urgent</b>");
  await help.getByRole("button", { name: "Envoyer" }).click();
  await help.locator("#help-error").getByText("sans HTML").waitFor();
  assert.equal(await help.getByLabel("Votre nom").inputValue(), "Marc");
  await visitor.close();

  // The school's administrator finds it in their requests, answers, then forwards it.
  const requester = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.requester.email);
  const page = requester.page;
  const mine = await api(ctx.server.url, ctx.server.logins.requester.token, "GET", "/tickets?channel=help_form&tier=establishment&sort=-created");
  const key = mine.json.items.find((t) => t.title.startsWith("Je ne vois plus mes devoirs")).key;
  await page.goto(`${ctx.server.url}/tickets/${key}`);
  await page.getByText("Léa Martin · Élève").waitFor();
  assert.equal(await page.locator(".files img").count(), 1, "the screenshot is attached");
  await page.getByLabel("Votre message").fill("Bonjour Léa, ton compte est rattaché à la bonne classe maintenant.");
  await page.getByRole("button", { name: "Envoyer", exact: true }).click();
  await page.getByText("Envoyé.").waitFor();
  await page.getByLabel("Note pour le support (facultatif)").fill("Le rattachement n'a pas suffi, les devoirs restent invisibles.");
  await page.getByRole("button", { name: "Transmettre au support" }).click();
  await page.getByText("Transmise.").waitFor();

  // Level 1 now has it, with the conversation, and can escalate it with a summary.
  const agent = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.agent.email);
  await agent.page.goto(`${ctx.server.url}/tickets/${key}`);
  await agent.page.getByText("ton compte est rattaché").waitFor();
  await agent.page.getByLabel(/^Résumé pour le niveau suivant/).fill("Devoirs invisibles pour une élève de 4e B après rattachement ; reproduit avec son compte.");
  await agent.page.getByRole("button", { name: "Transmettre au niveau 2" }).click();
  await agent.page.getByText("Transmise.").waitFor();
  await screenshot(agent.page, "ticket-escalated");
  const tech = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.technician.email);
  await tech.page.goto(`${ctx.server.url}/desk`);
  const dashboard = await api(ctx.server.url, ctx.server.logins.technician.token, "GET", "/dashboard");
  assert.ok(dashboard.json.every((tile) => tile.tickets.every((t) => t.tier === "technical")), "level 2 sees its own queue");
  await requester.context.close();
  await agent.context.close();
  await tech.context.close();
});

test("an agent answers, classifies and resolves with a macro in three keystrokes", async () => {
  const { own } = await schools();
  const filed = await api(ctx.server.url, ctx.server.logins.requester.token, "POST", "/tickets", {
    title: "Mot de passe oublié pour un élève de 5e A",
    description: "L'élève ne peut plus se connecter depuis les vacances.",
    establishment: own,
  });
  assert.equal(filed.status, 201);
  const key = filed.json.key;
  const me = await api(ctx.server.url, ctx.server.logins.requester.token, "GET", "/me");
  const firstName = me.json.name.split(" ")[0];

  const agent = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.agent.email);
  const page = agent.page;
  await page.goto(`${ctx.server.url}/tickets/${key}`);
  // m: the picker, the most used response first; Enter: into the composer; Ctrl+Enter: sent.
  await page.keyboard.press("m");
  await page.locator("#canned-list li[aria-selected=true]", { hasText: "Mot de passe réinitialisé" }).waitFor();
  await screenshot(page, "canned-picker", { around: "#composer" });
  await page.keyboard.press("Enter");
  assert.match(await page.getByLabel("Votre message").inputValue(), new RegExp(`^Bonjour ${firstName},`));
  await page.getByText("En l'envoyant, cette réponse type change aussi").waitFor();
  await page.keyboard.press("Control+Enter");
  await page.getByText("Envoyé.").waitFor();

  const ticket = await api(ctx.server.url, ctx.server.logins.agent.token, "GET", `/tickets/${key}`);
  assert.deepEqual(
    [ticket.json.status, ticket.json.type, ticket.json.category, ticket.json.resolution],
    ["resolved", "assistance", "accounts", "answered"],
  );
  const comments = await api(ctx.server.url, ctx.server.logins.requester.token, "GET", `/tickets/${key}/comments`);
  const reply = comments.json.find((c) => c.body.startsWith(`Bonjour ${firstName},`));
  assert.ok(reply && reply.body.includes(key), "the requester reads the filled reply");

  // Typing filters: another response is found by a word of its text.
  await page.keyboard.press("m");
  await page.keyboard.type("annuaire");
  const options = page.locator("#canned-list li[role=option]");
  assert.equal(await options.count(), 1);
  assert.match(await options.first().innerText(), /Compte sans adresse e-mail valide/);
  await page.keyboard.press("Escape");
  await agent.context.close();
});

test("a school administrator types a question, reads the suggested article, says it answered, and nothing is filed", async () => {
  const before = await api(ctx.server.url, ctx.server.logins.agent.token, "GET", "/tickets?per_page=1");
  const requester = await signIn(ctx.browser, ctx.server.url, ctx.server.logins.requester.email);
  const page = requester.page;
  await page.goto(`${ctx.server.url}/tickets/new`);
  await page.getByLabel("J'ai besoin d'aide").check();
  await page.getByLabel("Titre").fill("Un élève a oublié son mot de passe");
  const suggestion = page.locator("#similar .kb-suggestions li", { hasText: "Réinitialiser le mot de passe d'un élève" });
  await suggestion.waitFor();
  assert.equal(await page.locator("#similar").getByText("Procédure interne").count(), 0, "desk-only articles never show");
  await screenshot(page, "kb-suggestion", { around: "#similar" });
  await suggestion.getByRole("button", { name: "Cela a répondu à ma question" }).click();
  await page.getByText("Tant mieux ! Aucune demande n'a été déposée.").waitFor();
  const after = await api(ctx.server.url, ctx.server.logins.agent.token, "GET", "/tickets?per_page=1");
  assert.equal(after.json.total, before.json.total, "nothing was filed");
  const articles = await api(ctx.server.url, ctx.server.logins.agent.token, "GET", `/kb/articles?q=${encodeURIComponent("réinitialiser")}`);
  assert.equal(articles.json.find((a) => a.title === "Réinitialiser le mot de passe d'un élève").deflections, 1);
  await requester.context.close();
});

test("no page breaks its own Content-Security-Policy", () => {
  // Every page visited by the tests above ran under the server's policy
  // (scripts, styles and images from the server only, no inline script).
  assert.deepEqual(cspViolations, []);
});
