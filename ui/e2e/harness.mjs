// Shared by the browser tests (*.e2e.mjs, run by tests/test_ui_browser.py with node --test):
// Debian's chromium driven by playwright-core, an axe-core check of every page visited,
// screenshots into docs/screenshots/, skopeo for pushes and pulls.
//
// Environment (set by the pytest side): E2E_URL (the wharf serve), E2E_ADMIN_PASSWORD,
// E2E_REGISTRY (host:port), E2E_IMAGE (an oci:DIR:TAG image to push), E2E_SCREENSHOTS
// (directory), E2E_CHROMIUM (the browser binary), E2E_SKOPEO_ENV_* (client config).
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { promisify } from "node:util";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const run = promisify(execFile);
const PROBLEMS = new WeakMap(); // page -> console errors, CSP reports, uncaught exceptions

export const URL = process.env.E2E_URL ?? "http://127.0.0.1:5000";
export const ADMIN_PASSWORD = process.env.E2E_ADMIN_PASSWORD ?? "";
export const REGISTRY = process.env.E2E_REGISTRY ?? new globalThis.URL(URL).host;
export const IMAGE = process.env.E2E_IMAGE ?? "";
const SCREENSHOTS = process.env.E2E_SCREENSHOTS ?? "";

let shared = null; // one chromium per test file; each open() gets a context of its own

function browser() {
  shared ??= chromium.launch({
    executablePath: process.env.E2E_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
  return shared;
}

/** Close the file's browser (call in the file's `after`). */
export async function closeBrowser() {
  const running = shared;
  shared = null;
  if (running) await (await running).close();
}

/**
 * A fresh browser context (its own cookies: one signed-in person) and page; every page is
 * watched for console errors (CSP reports) and uncaught exceptions. `close()` ends it.
 */
export async function open({ width = 1280, height = 800, colorScheme = "light" } = {}) {
  const context = await (await browser()).newContext({
    baseURL: URL,
    viewport: { width, height },
    colorScheme,
    permissions: ["clipboard-read", "clipboard-write"],
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  const problems = [];
  page.on("console", (message) => {
    const text = message.text();
    // a 4xx the page expected (sign-in probes, refused actions) is logged by chromium too
    if (message.type() === "error" && !/status of 4\d\d/.test(text)) problems.push(text);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  PROBLEMS.set(page, problems);
  return { context, page, problems, close: () => context.close() };
}

/** axe-core on the page as it is now: no serious or critical violations; and no console
 * error (a CSP report, an uncaught exception) since the page was opened. */
export async function checkA11y(page, name) {
  assert.deepEqual(PROBLEMS.get(page) ?? [], [], `console errors by ${name}`);
  // evaluated through the DevTools protocol, so the page's CSP (no inline script) holds
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const found = await axe.run(document, { resultTypes: ["violations"] });
    return found.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
    }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `accessibility violations on ${name}: ${JSON.stringify(bad, null, 2)}`);
  return result;
}

/** Screenshot into docs/screenshots/<name>.png (when E2E_SCREENSHOTS is set). */
export async function screenshot(page, name, options = {}) {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), ...options });
}

/** Go to `url`, wait for the page's heading, check accessibility (and screenshot). */
export async function visit(page, url, { heading, shot } = {}) {
  await page.goto(url);
  await settle(page, heading);
  await checkA11y(page, url);
  if (shot) await screenshot(page, shot);
}

/** Wait until the app rendered (its h1, optionally with `heading`) and loading ended. */
export async function settle(page, heading) {
  const h1 = heading ? page.locator("h1", { hasText: heading }) : page.locator("h1").first();
  await h1.waitFor({ timeout: 10000 });
  await page.waitForFunction(() => !document.querySelector("[aria-busy='true']") && !document.body.innerText.includes("Loading…"), null, { timeout: 10000 });
}

export async function signIn(page, username = "admin", password = ADMIN_PASSWORD) {
  await page.goto("/sign-in");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("h1", { hasText: "Projects" }).waitFor();
}

/** An API call with the page's session (cookie + CSRF header), for set-up steps. */
export async function api(page, method, apiPath, body) {
  return page.evaluate(
    async ({ method, apiPath, body }) => {
      const csrf = document.cookie.split("; ").find((c) => c.startsWith("__csrf="))?.slice(7) ?? "";
      const response = await fetch(`/api/v2.0${apiPath}`, {
        method,
        headers: { "Content-Type": "application/json", "X-Harbor-CSRF-Token": decodeURIComponent(csrf) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : null };
    },
    { method, apiPath, body },
  );
}

/** skopeo with the tests' private client configuration; resolves to {code, stdout, stderr}. */
export async function skopeo(...args) {
  const env = { ...process.env };
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("E2E_SKOPEO_ENV_")) env[key.slice("E2E_SKOPEO_ENV_".length)] = value;
  }
  try {
    const { stdout, stderr } = await run("skopeo", args, { env, timeout: 120000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    return { code: error.code ?? 1, stdout: error.stdout ?? "", stderr: error.stderr ?? String(error) };
  }
}

/** Push the test image to REGISTRY/<repo> as `user`:`password`. */
export function push(repo, user, password) {
  return skopeo("copy", "--dest-tls-verify=false", "--dest-creds", `${user}:${password}`, IMAGE, `docker://${REGISTRY}/${repo}`);
}

/** Pull (copy into a throwaway OCI layout) REGISTRY/<ref> as `user`:`password`
 * (anonymously when `user` is null). */
export function pull(ref, user, password, into) {
  const creds = user === null ? ["--src-no-creds"] : ["--src-creds", `${user}:${password}`];
  return skopeo("copy", "--src-tls-verify=false", ...creds, `docker://${REGISTRY}/${ref}`, `oci:${into}:pulled`);
}
