// A major incident from first report to last answer, with real mail: five
// schools report the same messaging outage (portal and e-mail), the dashboard
// proposes an incident, the agent declares it, a sixth school sees the banner
// and joins, and resolving it answers all six by mail, each in its language.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launch, signIn, api, screenshot, audit, PASSWORD } from "./helpers.js";
import { dovecot, startRelay, sendMail, readMailbox, AUTHSERV_ID } from "./mail.js";

const mail = dovecot();
const run = Date.now().toString(36);
const desk = `desk-${run}`;
let server;
let browser;
let relay;

before(async () => {
  if (!mail) return;
  relay = await startRelay(mail.lmtp);
  const [imapHost, imapPort] = mail.imap.split(":");
  const config = `
[mail]
send_interval_seconds = 1
trusted_authserv_id = "${AUTHSERV_ID}"

[smtp]
host = "127.0.0.1"
port = ${relay.port}
tls = "none"
from = "Support ENT <${desk}@guichet.test>"

[[mailboxes]]
name = "support"
host = "${imapHost}"
port = ${imapPort}
tls = "none"
user = "${desk}"
password = "guichet"
poll_seconds = 1
`;
  server = await startServer({ config });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  relay?.stop();
});

async function until(what, check, seconds = 30) {
  for (let i = 0; i < seconds * 4; i++) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Six schools of the demo, each with a new administrator; the third and fifth read English. */
async function sixSchools() {
  const admin = server.logins.admin.token;
  const list = await api(server.url, admin, "GET", "/establishments?per_page=100");
  const schools = list.json.items.filter((e) => e.parent_uai).slice(0, 6);
  assert.equal(schools.length, 6);
  const people = [];
  for (const [i, school] of schools.entries()) {
    const local = `e2e${i}-${run}`;
    const language = i === 2 || i === 4 ? "en" : "fr";
    const body = {
      email: `${local}@college.test`,
      name: `Admin ${i + 1}`,
      role: "requester",
      language,
      establishments: [school.uai],
      password: PASSWORD,
    };
    const created = await api(server.url, admin, "POST", "/users", body);
    assert.equal(created.status, 201, JSON.stringify(created.json));
    people.push({ local, email: body.email, uai: school.uai, language });
  }
  return people;
}

async function reportOnPortal(person, title) {
  const { page, context } = await signIn(browser, server.url, person.email);
  await page.goto(`${server.url}/tickets/new`);
  await page.getByLabel(person.language === "en" ? "I need help" : "J'ai besoin d'aide").check();
  await page.locator("#n-title").fill(title);
  await page.locator("#n-description").fill("Depuis ce matin les élèves n'ont plus accès à la messagerie.");
  await page.locator("#n-title").press("End");
  await page.getByRole("button", { name: person.language === "en" ? "Send the request" : "Envoyer la demande" }).click();
  await page.waitForURL(/\/tickets\/SUP-\d+/);
  await context.close();
}

test("five schools report a messaging outage, the desk declares the incident, a sixth joins, and the resolution answers all six by mail in their language", { skip: !mail && "needs Dovecot (GUICHET_TEST_IMAP, GUICHET_TEST_LMTP)" }, async () => {
  const people = await sixSchools();
  await reportOnPortal(people[0], "La messagerie ne fonctionne plus");
  await reportOnPortal(people[1], "Messagerie ENT en panne, elle ne fonctionne plus");
  await reportOnPortal(people[2], "La messagerie ne fonctionne plus du tout");
  sendMail(relay.port, people[3].email, `${desk}@guichet.test`, "Messagerie en panne",
    "Bonjour, la messagerie ne fonctionne plus depuis ce matin pour nos élèves.");
  sendMail(relay.port, people[4].email, `${desk}@guichet.test`, "Messagerie : ne fonctionne plus",
    "Hello, la messagerie ne fonctionne plus chez nous.");

  // The dashboard proposes the incident once the mails are in.
  const agentToken = server.logins.agent.token;
  const ours = new Set(people.slice(0, 5).map((p) => p.uai));
  const proposal = await until("the incident proposal", async () => {
    const r = await api(server.url, agentToken, "GET", "/incidents/proposals");
    return r.json.find((p) => new Set(p.tickets.map((t) => t.establishment.uai)).size >= 5
      && p.tickets.filter((t) => ours.has(t.establishment.uai)).length === 5);
  });
  assert.ok(proposal.tickets.some((t) => t.channel === "email"), "mail reports are part of it");

  const agent = await signIn(browser, server.url, server.logins.agent.email);
  const deskPage = agent.page;
  await deskPage.goto(`${server.url}/desk`);
  const proposals = deskPage.locator(".proposals");
  await proposals.getByRole("heading", { name: "Incidents proposés" }).waitFor();
  await proposals.getByLabel("Titre").first().fill("Messagerie indisponible");
  await proposals.getByLabel("Service ENT concerné").first().fill("Messagerie");
  await proposals.getByLabel("Message public (bandeau du portail)").first()
    .fill("La messagerie est indisponible dans plusieurs établissements. Nos équipes y travaillent.");
  await screenshot(deskPage, "incident-proposal");
  await proposals.getByRole("button", { name: "Déclarer l'incident" }).first().click();
  await deskPage.waitForURL(/\/incidents\/\d+/);
  await deskPage.getByText("Incident déclaré.").waitFor();
  const incidentUrl = deskPage.url().split("?")[0];

  // The sixth school sees the banner while writing its request, and joins.
  const sixth = await signIn(browser, server.url, people[5].email);
  const portal = sixth.page;
  await portal.goto(`${server.url}/tickets/new`);
  await portal.getByText("Ce problème est déjà connu").first().waitFor();
  await portal.locator("#n-title").fill("La messagerie ne marche plus");
  await portal.locator("#similar").getByText("Messagerie indisponible").waitFor();
  await screenshot(portal, "incident-banner");
  await portal.locator("#similar").getByRole("link", { name: "Suivre l'incident" }).click();
  await portal.waitForURL(/\/incidents\/\d+/);
  await portal.locator("#join").getByRole("button", { name: "Suivre l'incident" }).click();
  await portal.waitForURL(/\/tickets\/SUP-\d+/);
  await portal.getByText(/Incident INC-\d+ : Messagerie indisponible/).waitFor();

  // The agent resolves it once, in both languages.
  await deskPage.goto(incidentUrl);
  await deskPage.getByRole("heading", { name: /Établissements concernés \(\d+\)/ }).waitFor();
  const affected = await deskPage.locator("#est-h").innerText();
  assert.ok(Number(affected.match(/\((\d+)\)/)[1]) >= 6, affected);
  await deskPage.getByLabel("Réponse (français)").fill("La messagerie est rétablie. Merci de votre patience.");
  await deskPage.getByLabel("Réponse (anglais, facultatif)").fill("Mail is working again. Thank you for your patience.");
  await deskPage.getByRole("button", { name: "Résoudre l'incident" }).click();
  await deskPage.getByText("Incident résolu : chaque demande a reçu la réponse.").waitFor();
  await screenshot(deskPage, "incident");

  // Each of the six administrators finds the answer in their mailbox, in their language.
  for (const person of people) {
    const english = person.language === "en";
    const expected = english ? "Mail is working again." : "La messagerie est rétablie.";
    const found = await until(`the answer in ${person.local}'s mailbox`, () =>
      readMailbox(mail.imap, person.local).find((m) => m.body.includes(expected)));
    assert.match(found.subject, /\[SUP-\d+\]/);
    assert.ok(found.body.startsWith(english ? "Hello" : "Bonjour"), found.body);
    // The one mail resolves the request and asks for a rating, as any resolution does.
    assert.match(found.body, /\/satisfaction\/[0-9a-f]+/, found.body);
  }
  await agent.context.close();
  await sixth.context.close();
});

test("a requester rates a resolved request from the link in the mail, without signing in, once", { skip: !mail && "needs Dovecot (GUICHET_TEST_IMAP, GUICHET_TEST_LMTP)" }, async () => {
  const admin = server.logins.admin.token;
  const list = await api(server.url, admin, "GET", "/establishments?per_page=100");
  const school = list.json.items.find((e) => e.parent_uai);
  const local = `rate-${run}`;
  const created = await api(server.url, admin, "POST", "/users", {
    email: `${local}@college.test`, name: "Inès Martin", role: "requester", establishments: [school.uai], password: PASSWORD,
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  // Filed by mail, answered and resolved by the desk.
  sendMail(relay.port, `${local}@college.test`, `${desk}@guichet.test`, "Compte élève bloqué",
    "Bonjour, le compte d'une élève de 4e est bloqué depuis ce matin.");
  const agentToken = server.logins.agent.token;
  const ticket = await until("the mailed request", async () => {
    const r = await api(server.url, agentToken, "GET", `/tickets?q=${encodeURIComponent(`title ~ "Compte élève bloqué"`)}`);
    return r.json.items.find((t) => t.requester.name === "Inès Martin");
  });
  const resolved = await api(server.url, agentToken, "PATCH", `/tickets/${ticket.key}`, { status: "resolved", resolution: "fixed" });
  assert.equal(resolved.status, 200, JSON.stringify(resolved.json));

  // The "resolved" mail carries the survey's link.
  const mailed = await until("the resolved mail", () =>
    readMailbox(mail.imap, local).find((m) => m.subject.includes(ticket.key) && m.body.includes("/satisfaction/")));
  const link = mailed.body.match(/https?:\/\/\S+\/satisfaction\/[0-9a-f]+/)[0];
  // The mail names the public address of the desk; this test server listens elsewhere.
  const url = `${server.url}${new URL(link).pathname}`;
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "fr-FR" });
  const page = await context.newPage();
  await page.goto(`${url}?note=4`);
  assert.equal(await page.getByLabel("4 — Satisfait").isChecked(), true, "the mail's choice is ready");
  assert.deepEqual((await audit(page)).map((v) => v.id), []);
  await page.getByLabel("5 — Très satisfait").check();
  await page.getByLabel("Un commentaire ? (facultatif)").fill("Réglé en une heure, merci !");
  await screenshot(page, "satisfaction-survey");
  await page.getByRole("button", { name: "Envoyer mon avis" }).click();
  await page.getByText("Merci ! Votre avis est enregistré : 5/5.").waitFor();
  // Once: the link now only thanks.
  await page.goto(url);
  await page.getByText("Merci ! Votre avis est enregistré : 5/5.").waitFor();
  assert.equal(await page.getByRole("button", { name: "Envoyer mon avis" }).count(), 0);
  const history = await api(server.url, agentToken, "GET", `/tickets/${ticket.key}/history`);
  assert.deepEqual(history.json.filter((e) => e.field === "satisfaction").map((e) => e.new), ["5/5"]);
  await context.close();
});
