// Shared set-up for the end-to-end tests: a real `guichet serve --demo` on a
// fresh database and a free port, and headless Chromium driven by Playwright.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { createInterface } from "node:readline";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { before, after } from "node:test";

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "..", "..");
export const PASSWORD = "guichet-demo";

/** Starts the server with demo data (and `config` as its guichet.toml when
 * given, on `port` when given: a public URL in `config` needs it known);
 * resolves with its URL and the demo logins. */
export async function startServer({ config, port = 0 } = {}) {
  const bin = process.env.GUICHET_BIN || join(root, "target", "debug", "guichet");
  const dir = mkdtempSync(join(tmpdir(), "guichet-e2e-"));
  if (config) writeFileSync(join(dir, "guichet.toml"), config);
  const child = spawn(bin, ["serve", "--demo", "--bind", `127.0.0.1:${port}`], {
    cwd: dir,
    env: { ...process.env, GUICHET_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const logins = {};
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    child.on("exit", (code) => reject(new Error(`guichet exited with ${code}`)));
    lines.on("line", (line) => {
      const login = line.match(/^\s+(\w+)\s+(\S+@\S+)\s+API token: (\S+)/);
      if (login) logins[login[1]] = { email: login[2], token: login[3] };
      const listening = line.match(/^Guichet is listening on (http:\/\/\S+?)\/?$/);
      if (listening) resolve(listening[1]);
    });
  });
  // Once stopped, its demo database goes: each run would otherwise leave one in the temporary directory.
  const stop = () =>
    new Promise((r) => {
      child.on("exit", () => {
        rmSync(dir, { recursive: true, force: true });
        r();
      });
      child.kill("SIGTERM");
    });
  return { url, logins, stop };
}

/** A TCP port nothing listens on now. */
export function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

/** What the browser refused under the pages' Content-Security-Policy: must stay empty. */
export const cspViolations = [];

/** Records the Content-Security-Policy violations a page reports. */
export function watchCsp(page) {
  page.on("console", (message) => {
    if (message.text().includes("Content Security Policy")) cspViolations.push(`${page.url()}: ${message.text()}`);
  });
}

/** A browser context signed in as `email`. */
export async function signIn(browser, url, email, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "fr-FR", ...options });
  const page = await context.newPage();
  watchCsp(page);
  await page.goto(`${url}/login`);
  await page.getByLabel("Adresse e-mail").fill(email);
  await page.getByLabel("Mot de passe").fill(PASSWORD);
  await page.getByRole("button", { name: "Connexion" }).click();
  await page.waitForURL((u) => !u.pathname.startsWith("/login"));
  return { context, page };
}

/** Calls the REST API with a token. */
export async function api(url, token, method, path, body) {
  const response = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

/** Runs axe-core on the page; returns the serious and critical violations. */
export async function audit(page) {
  // Evaluated by the browser's debugging protocol: the pages' Content-Security-Policy
  // (no inline script) would refuse it as a <script> tag, as it should.
  await page.evaluate(readFileSync(join(root, "e2e", "node_modules", "axe-core", "axe.min.js"), "utf8"));
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }));
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/**
 * Screenshots go to target/screenshots/, so that a test run leaves the
 * checkout clean; UPDATE_SCREENSHOTS=1 refreshes the documentation's.
 */
export async function screenshot(page, name, { around } = {}) {
  const dir = process.env.UPDATE_SCREENSHOTS === "1" ? join(root, "docs", "screenshots") : join(root, "target", "screenshots");
  mkdirSync(dir, { recursive: true });
  // `around`: a selector to bring to the middle of the view rather than the page's top.
  if (around) await page.locator(around).evaluate((el) => el.scrollIntoView({ block: "center" }));
  else await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
}

/** A 40×24 PNG (red), for pasting and uploading. */
export const PNG_BASE64 =
  "iVBORw0KGgoAAAANSUhEUgAAACgAAAAYCAIAAAAH5iiXAAAAKElEQVR4nGM4o6Q0IIhh1OJRi0ctHrV41OJRi0ctHrV41OJRi4ePxQAsC/wu1IvE4gAAAABJRU5ErkJggg==";

/**
 * Starts a demo server and Chromium before a file's tests and stops both
 * after them: `ctx.server` and `ctx.browser` are there once the tests run.
 */
export function useServerAndBrowser(options) {
  const ctx = {};
  before(async () => {
    ctx.server = await startServer(options);
    ctx.browser = await launch();
  });
  after(async () => {
    await ctx.browser?.close();
    await ctx.server?.stop();
  });
  return ctx;
}
