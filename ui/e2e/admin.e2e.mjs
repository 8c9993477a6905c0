// The Administration pages in a real browser: system information and storage per project,
// users (create, make admin, reset password, disable, delete), the audit log's filters,
// garbage collection (dry run, then a real run, its history, log and the chart of space
// freed; the schedule editor), and a non-admin refused. axe-core on every page.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, utimesSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { api, checkA11y, closeBrowser, screenshot, open, settle, signIn, visit, URL } from "./harness.mjs";

const PASSWORD = "Alice-Admin-1";
let s;
let page;

before(async () => {
  s = await open();
  page = s.page;
  await signIn(page);
});

after(async () => {
  await closeBrowser();
});

/** GET /api/v2.0<apiPath> with HTTP Basic credentials (what a script would do): the status. */
async function basic(apiPath, username, password) {
  const response = await fetch(`${URL}/api/v2.0${apiPath}`, {
    headers: { Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` },
  });
  return response.status;
}

/** A second signed-in browser context, as another person. */
async function as(username, password) {
  const other = await open();
  await signIn(other.page, username, password);
  return other;
}

function row(name) {
  return page.getByRole("row").filter({ has: page.getByRole("cell", { name, exact: true }) });
}

test("system information and storage per project", async () => {
  // a second, empty project: the chart orders projects by what they use
  assert.equal((await api(page, "POST", "/projects", { project_name: "staging" })).status, 201);
  await visit(page, "/admin", { heading: "Administration" });
  await page.getByRole("link", { name: "Administration" }).first().waitFor();
  await page.getByText("Local users (database)").waitFor();
  await page.getByRole("meter", { name: "Storage volume used" }).waitFor();
  const chart = page.getByRole("img", { name: "Storage used by each project" });
  await chart.waitFor();
  // the figures as a table, for those who would rather read
  await page.getByText("Show these figures as a table").first().click();
  const cells = await page.locator(".chart-table tbody td:first-child").allTextContents();
  assert.deepEqual(cells.slice(0, 2), ["library", "staging"]);
  await checkA11y(page, "admin system with its table");
  await screenshot(page, "admin-system", { fullPage: true });
});

test("create a user, make them admin, reset their password, disable and delete them", async () => {
  await visit(page, "/admin/users", { heading: "Users" });
  await page.getByRole("button", { name: "New user" }).click();
  const dialog = page.getByRole("dialog", { name: "New user" });
  await dialog.getByLabel("Username").fill("ada");
  await dialog.getByLabel("Email").fill("ada@example.com");
  await dialog.getByLabel("Full name").fill("Ada Lovelace");
  await dialog.getByLabel("Password").fill(PASSWORD);
  await checkA11y(page, "new user dialog");
  await dialog.getByRole("button", { name: "Create user" }).click();
  await page.getByText("User ada was created.").waitFor();
  await row("ada").getByText("Enabled").waitFor();

  // a second user with the same name: the API's reason, in the dialog, in plain words
  await page.getByRole("button", { name: "New user" }).click();
  await dialog.getByLabel("Username").fill("ada");
  await dialog.getByLabel("Email").fill("ada2@example.com");
  await dialog.getByLabel("Full name").fill("Alice Two");
  await dialog.getByLabel("Password").fill(PASSWORD);
  await dialog.getByRole("button", { name: "Create user" }).click();
  await dialog.getByRole("alert").filter({ hasText: "conflicts with what exists already" }).waitFor();
  await dialog.getByRole("button", { name: "Cancel" }).click();

  // ada is not an administrator yet
  assert.equal(await basic("/users", "ada", PASSWORD), 403);

  await page.getByRole("button", { name: "Make admin: ada" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Make admin" }).click();
  await page.getByText("ada is now an administrator.").waitFor();
  await row("ada").getByText("Administrator").waitFor();
  const ada = await as("ada", PASSWORD);
  await ada.page.getByRole("link", { name: "Administration" }).click();
  await settle(ada.page, "Administration");
  await ada.close();
  await screenshot(page, "admin-users");

  await page.getByRole("button", { name: "Reset password: ada" }).click();
  const reset = page.getByRole("dialog");
  await reset.getByLabel("New password").fill("Alice-Reset-2");
  await reset.getByLabel("The same again").fill("Alice-Reset-3");
  await reset.getByText("The two passwords differ.").waitFor();
  await reset.getByLabel("The same again").fill("Alice-Reset-2");
  await reset.getByRole("button", { name: "Reset password" }).click();
  await page.getByText("The password of ada was reset.").waitFor();
  assert.equal(await basic("/users/current", "ada", "Alice-Reset-2"), 200);
  assert.equal(await basic("/users/current", "ada", PASSWORD), 401);

  await page.getByRole("button", { name: "Disable ada" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Disable" }).click();
  await row("ada").getByText("Disabled").waitFor();
  assert.equal(await basic("/users/current", "ada", "Alice-Reset-2"), 401);
  await page.getByRole("button", { name: "Enable ada" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Enable" }).click();
  await row("ada").getByText("Enabled").waitFor();
  assert.equal(await basic("/users/current", "ada", "Alice-Reset-2"), 200);

  // search, then delete a user made for the purpose
  assert.equal((await api(page, "POST", "/users", { username: "tempuser", password: PASSWORD, email: "t@example.com", realname: "Temp" })).status, 201);
  await page.getByRole("searchbox").fill("tempuser");
  await page.waitForURL(/q=tempuser/);
  await page.getByRole("button", { name: "Delete tempuser" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete user" }).click();
  await page.getByText("User tempuser was deleted.").waitFor();
  await page.getByText("No user matches “tempuser”.").waitFor();
  await checkA11y(page, "users after deleting");
});

test("a user who is not an administrator sees no Administration and is refused its pages", async () => {
  assert.equal((await api(page, "POST", "/users", { username: "norm", password: PASSWORD, email: "norm@example.com", realname: "Norm" })).status, 201);
  const norm = await as("norm", PASSWORD);
  assert.equal(await norm.page.getByRole("link", { name: "Administration" }).count(), 0);
  for (const url of ["/admin", "/admin/users", "/admin/audit-log", "/admin/gc", "/admin/gc/1"]) {
    await norm.page.goto(url);
    await norm.page.getByText("This page is for system administrators.").waitFor();
  }
  await norm.close();
});

test("the audit log, filtered by operation, resource type, user and time", async () => {
  await visit(page, "/admin/audit-log", { heading: "Audit log" });
  await page.getByLabel("Operation").fill("create");
  await page.getByLabel("Resource type").fill("user");
  await page.getByLabel("User name contains").fill("adm");
  await page.getByRole("button", { name: "Apply filters" }).click();
  await page.waitForURL(/op=create/);
  assert.match(page.url(), /type=user/);
  assert.match(page.url(), /user=adm/);
  await page.getByRole("cell", { name: "ada", exact: true }).first().waitFor();
  await settle(page, "Audit log");
  await checkA11y(page, "audit log filtered");
  await screenshot(page, "admin-audit-log");
  // a time range long past: nothing
  await page.getByLabel("From").fill("2001-01-01T00:00");
  await page.getByLabel("Until").fill("2001-01-02T00:00");
  await page.getByRole("button", { name: "Apply filters" }).click();
  await page.getByText("No event matches these filters.").waitFor();
  // the filtered view is a deep link
  await page.reload();
  await page.getByText("No event matches these filters.").waitFor();
  await page.getByRole("button", { name: "Clear" }).click();
  await page.waitForURL((url) => !url.search.includes("op="));
  await page.getByRole("cell", { name: "ada", exact: true }).first().waitFor();
});

/** An unreferenced blob in the blob store, older than GC's grace: what a run frees. */
function plantOrphan(size) {
  const data = randomBytes(size);
  const hex = createHash("sha256").update(data).digest("hex");
  const file = path.join(process.env.E2E_DATA, "storage", "blobs", "sha256", hex.slice(0, 2), hex);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
  const old = Date.now() / 1000 - 7200;
  utimesSync(file, old, old);
  return file;
}

async function finishedRow(id, text) {
  const line = row(`Run ${id}`);
  await line.getByText("Success").waitFor({ timeout: 30000 });
  await line.getByText(text).waitFor();
}

test("garbage collection: a dry run, a real run, their history, log and the space freed", async () => {
  assert.ok(process.env.E2E_DATA, "E2E_DATA names the server's data directory");
  const orphan = plantOrphan(300 * 1024);
  await visit(page, "/admin/gc", { heading: "Garbage collection" });

  await page.getByRole("button", { name: "Dry run" }).click();
  const dry = Number((await page.getByText(/^Dry run \d+ started\.$/).textContent()).match(/\d+/)[0]);
  await finishedRow(dry, /would be freed/);
  assert.ok(existsSync(orphan), "a dry run deletes nothing");

  await page.getByRole("button", { name: "Run garbage collection" }).click();
  await checkA11y(page, "gc confirm dialog");
  await page.getByRole("dialog").getByRole("button", { name: "Run now" }).click();
  const real = Number((await page.getByText(/^Garbage collection \d+ started\.$/).textContent()).match(/\d+/)[0]);
  await finishedRow(real, /(KiB|MiB|GiB) freed/);
  assert.ok(!existsSync(orphan), "the real run freed the orphan");
  await page.getByRole("img", { name: "Space freed by each garbage collection run" }).waitFor();
  await settle(page, "Garbage collection");
  await checkA11y(page, "gc with history and chart");
  await screenshot(page, "admin-gc", { fullPage: true });
  // the charts follow the dark theme too (contrast checked by axe)
  await page.emulateMedia({ colorScheme: "dark" });
  await checkA11y(page, "gc in the dark theme");
  await screenshot(page, "admin-gc-dark", { fullPage: true });
  await page.emulateMedia({ colorScheme: "light" });

  await page.getByRole("link", { name: `Log of run ${real}` }).click();
  await settle(page, `Garbage collection run ${real}`);
  await page.locator("pre.log", { hasText: `gc run ${real}: Success` }).waitFor();
  await checkA11y(page, "gc run log");
  await screenshot(page, "admin-gc-run");
});

test("the GC schedule editor: presets, a custom cron, none", async () => {
  await visit(page, "/admin/gc", { heading: "Garbage collection" });
  await page.getByLabel("Custom cron expression").check();
  const cron = page.getByLabel("Cron expression", { exact: true });
  await cron.fill("30 2 * *");
  await page.getByText(/6 fields.*this has 4/).waitFor();
  assert.equal(await page.getByRole("button", { name: "Save schedule" }).isDisabled(), true);
  await cron.fill("0 30 2 * * 1-5");
  await page.getByRole("button", { name: "Save schedule" }).click();
  await page.getByText("The schedule was saved.").waitFor();
  await page.getByText("0 30 2 * * 1-5", { exact: true }).first().waitFor();
  await page.getByText(/next at/).waitFor();
  const saved = await api(page, "GET", "/system/gc/schedule");
  assert.deepEqual([saved.body.schedule.type, saved.body.schedule.cron], ["Custom", "0 30 2 * * 1-5"]);

  await page.getByLabel("Daily, at midnight (UTC)").check();
  await page.getByRole("button", { name: "Save schedule" }).click();
  await page.getByText(/Runs daily/).waitFor();
  await page.getByLabel("None (only when run by hand)").check();
  await page.getByRole("button", { name: "Save schedule" }).click();
  await page.getByText("No schedule: garbage collection runs only when started by hand.").waitFor();
  await checkA11y(page, "gc schedule");
});

test("phone width: the administration pages fold, their tables become cards", async () => {
  const phone = await open({ width: 390, height: 844 });
  try {
    await signIn(phone.page);
    await visit(phone.page, "/admin/users", { heading: "Users" });
    await phone.page.getByRole("button", { name: "Make admin: norm" }).waitFor();
    await visit(phone.page, "/admin/gc", { heading: "Garbage collection" });
    await phone.page.getByRole("img", { name: "Space freed by each garbage collection run" }).waitFor();
    // nothing wider than the screen
    const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than the phone`);
    await screenshot(phone.page, "admin-gc-phone", { fullPage: true });
  } finally {
    await phone.close();
  }
});
