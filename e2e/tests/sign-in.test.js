// Signing in with the ENT: a school administrator the desk has never seen
// clicks the ENT button, signs in on the CAS server's own login form
// (django-cas-server, started by the test command) and lands on their
// school's requests — and on no other school's.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, launch, api, audit, screenshot, watchCsp, freePort, cspViolations } from "./helpers.js";

const cas = process.env.GUICHET_TEST_CAS;
const casUsers = process.env.GUICHET_TEST_CAS_USERS;
let server;
let browser;

before(async () => {
  assert.ok(cas && casUsers, "GUICHET_TEST_CAS is not set: run the tests with scripts/test.sh, which starts the CAS server");
  const port = await freePort();
  const config = `
public_url = "http://127.0.0.1:${port}"

[[auth.cas]]
name = "ent"
server_url = "${cas}"
trust_email = true
match_email = true
uai_attribute = "ENTPersonStructRattachUAI"

[[auth.cas.create]]
attribute = "ENTPersonProfils"
values = ["National_DIR"]
role = "requester"
`;
  server = await startServer({ config, port });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a school administrator signs in through the ENT's login form and lands on their school's requests", async () => {
  const requester = server.logins.requester.token;
  const agent = server.logins.agent.token;
  const me = await api(server.url, requester, "GET", "/me");
  const uai = me.json.establishments[0];
  const own = (await api(server.url, requester, "GET", "/tickets?per_page=1")).json.items[0];
  const all = (await api(server.url, agent, "GET", "/tickets?per_page=100")).json.items;
  const foreign = all.find((t) => t.establishment.uai !== uai);
  assert.ok(own && foreign, "the demo has tickets in this school and in others");

  // A person of the ENT: head of that school, unknown to the desk so far.
  const username = `dir-${Date.now().toString(36)}`;
  const attributes = {
    mail: `${username}@ac-creteil.test`,
    displayName: "Mme Sophie Lambert",
    ENTPersonProfils: "National_DIR",
    ENTPersonStructRattachUAI: [`${uai}$LYCEE`],
  };
  writeFileSync(join(casUsers, `${username}.json`), JSON.stringify({ password: "ent-password", attributes }));

  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "fr-FR" });
  const page = await context.newPage();
  watchCsp(page);
  await page.goto(`${server.url}/login`);
  await screenshot(page, "sign-in-ent");
  await page.getByRole("link", { name: "Se connecter avec l'ENT" }).click();
  await page.waitForURL((u) => u.href.startsWith(cas));
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill("ent-password");
  await page.locator('button[type="submit"]').click();
  await page.waitForURL((u) => u.href.startsWith(server.url) && u.pathname === "/tickets");
  const body = await page.textContent("body");
  assert.match(body, /Mme Sophie Lambert/);
  assert.deepEqual(await audit(page), []);

  const mine = await page.goto(`${server.url}/tickets/${own.key}`);
  assert.equal(mine.status(), 200);
  assert.match(await page.textContent("h1"), new RegExp(own.title.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").slice(0, 20)));
  const theirs = await page.goto(`${server.url}/tickets/${foreign.key}`);
  assert.equal(theirs.status(), 404, "another school's request stays out of reach");

  // Signing out here signs out of the ENT too (its logout sends the browser
  // back to the sign-in page): the ENT button then asks for the password again.
  await page.goto(`${server.url}/tickets`);
  await page.getByRole("button", { name: "Se déconnecter" }).click();
  await page.waitForURL((u) => u.href.startsWith(server.url) && u.pathname === "/login");
  const after = await page.goto(`${server.url}/tickets`);
  assert.ok(after.url().includes("/login"), after.url());
  await page.getByRole("link", { name: "Se connecter avec l'ENT" }).click();
  await page.waitForURL((u) => u.href.startsWith(cas));
  assert.equal(await page.locator('input[name="password"]').count(), 1, "signed out of the ENT as well");
  await context.close();
  assert.deepEqual(cspViolations, []);
});
