// Projects, members and robot accounts through the UI, with their effect checked by skopeo:
// a member's access follows the role the UI gives them; a robot made in the UI pushes with
// the secret the UI showed once. Run by tests/test_ui_browser.py.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { api, checkA11y, closeBrowser, open, pull, push, screenshot, settle, signIn, visit } from "./harness.mjs";

const PROJECT = "team";
const USER = "alice";
const USER_PASSWORD = "Alice-Pass-123";
let s;
let page;
let scratch;

before(async () => {
  s = await open();
  page = s.page;
  scratch = mkdtempSync(path.join(tmpdir(), "wharf-ui-e2e-"));
  await signIn(page);
  const made = await api(page, "POST", "/users", {
    username: USER,
    password: USER_PASSWORD,
    email: "alice@example.com",
    realname: "Alice",
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
});

after(async () => {
  await closeBrowser();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

let pulls = 0;
const alicePull = () => pull(`${PROJECT}/app:v1`, USER, USER_PASSWORD, path.join(scratch, `p${pulls++}`));
const alicePush = (tag) => push(`${PROJECT}/app:${tag}`, USER, USER_PASSWORD);

test("create a private project", async () => {
  await visit(page, "/projects", { heading: "Projects" });
  await page.getByRole("button", { name: "New project" }).click();
  const dialog = page.getByRole("dialog", { name: "New project" });
  await dialog.getByLabel("Name").fill(PROJECT);
  await checkA11y(page, "new project dialog");
  await dialog.getByRole("button", { name: "Create project" }).click();
  await page.waitForURL(new RegExp(`/projects/${PROJECT}$`));
  await settle(page, PROJECT);
  await page.getByText("Private", { exact: true }).waitFor();
  const pushed = await push(`${PROJECT}/app:v1`, "admin", process.env.E2E_ADMIN_PASSWORD);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.notEqual((await alicePull()).code, 0, "a non-member pulled from a private project");
});

test("add a member: their access follows the role", async () => {
  await visit(page, `/projects/${PROJECT}/members`, { heading: PROJECT });
  // the creator is the project's first admin
  await page.getByLabel("Role of admin").waitFor();
  assert.equal(await page.getByLabel("Role of admin").inputValue(), "1");
  await page.getByRole("button", { name: "Add member" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Username").fill(USER);
  await dialog.getByLabel("Role").selectOption({ label: "Guest" });
  await checkA11y(page, "add member dialog");
  await dialog.getByRole("button", { name: "Add member" }).click();
  await page.getByRole("status").filter({ hasText: `${USER} is now guest of ${PROJECT}.` }).waitFor();
  await page.getByRole("cell", { name: USER, exact: true }).waitFor();
  await checkA11y(page, "members");
  await screenshot(page, "project-members");

  const guestPull = await alicePull();
  assert.equal(guestPull.code, 0, `a guest could not pull: ${guestPull.stderr}`);
  assert.notEqual((await alicePush("guest")).code, 0, "a guest pushed");

  await page.getByLabel(`Role of ${USER}`).selectOption({ label: "Developer" });
  await page.getByRole("status").filter({ hasText: `${USER} is now developer.` }).waitFor();
  const devPush = await alicePush("dev");
  assert.equal(devPush.code, 0, `a developer could not push: ${devPush.stderr}`);

  await page.getByRole("button", { name: `Remove ${USER}` }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Remove" }).click();
  await page.getByRole("status").filter({ hasText: `${USER} is no longer a member` }).waitFor();
  await page.getByRole("cell", { name: USER, exact: true }).waitFor({ state: "detached" });
  assert.notEqual((await alicePull()).code, 0, "a removed member still pulled");
});

test("a robot account pushes with the secret shown once", async () => {
  await visit(page, `/projects/${PROJECT}/robots`, { heading: PROJECT });
  await page.getByRole("button", { name: "New robot account" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel("Name").fill("ci");
  await dialog.getByLabel("Description").fill("the pipeline");
  await dialog.getByRole("group", { name: "Repositories" }).getByLabel("push").check();
  await checkA11y(page, "new robot dialog");
  await dialog.getByRole("button", { name: "Create robot" }).click();
  const secretDialog = page.getByRole("dialog", { name: `Secret of robot$${PROJECT}+ci` });
  await secretDialog.waitFor();
  const secret = (await secretDialog.locator(".secret code").textContent()).trim();
  assert.ok(secret.length >= 8);
  await checkA11y(page, "robot secret dialog");
  await secretDialog.getByRole("button", { name: "Copy the secret" }).click();
  await secretDialog.getByText("Copied", { exact: true }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await secretDialog.getByRole("button", { name: "I copied it" }).click();

  const robot = `robot$${PROJECT}+ci`;
  const robotPush = await push(`${PROJECT}/app:robot`, robot, secret);
  assert.equal(robotPush.code, 0, `the robot could not push: ${robotPush.stderr}`);
  await page.getByRole("cell", { name: robot, exact: true }).waitFor();
  await checkA11y(page, "robots");
  await screenshot(page, "project-robots");

  // refresh: the old secret stops working, the new one works
  await page.getByRole("button", { name: `Refresh secret of ${robot}` }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Refresh secret" }).click();
  const fresh = page.getByRole("dialog", { name: `Secret of ${robot}` });
  await fresh.waitFor();
  const newSecret = (await fresh.locator(".secret code").textContent()).trim();
  assert.notEqual(newSecret, secret);
  await fresh.getByRole("button", { name: "I copied it" }).click();
  assert.notEqual((await push(`${PROJECT}/app:old`, robot, secret)).code, 0, "the old secret still works");
  assert.equal((await push(`${PROJECT}/app:new`, robot, newSecret)).code, 0);

  // disable: refused; enable: works again; delete
  await page.getByRole("button", { name: `Disable ${robot}` }).click();
  await page.getByText("Disabled", { exact: true }).waitFor();
  assert.notEqual((await push(`${PROJECT}/app:disabled`, robot, newSecret)).code, 0, "a disabled robot pushed");
  await page.getByRole("button", { name: `Enable ${robot}` }).click();
  await page.getByText("Enabled", { exact: true }).waitFor();
  await page.getByRole("button", { name: `Delete ${robot}` }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await page.getByText("This project has no robot accounts.").waitFor();
  assert.notEqual((await push(`${PROJECT}/app:deleted`, robot, newSecret)).code, 0, "a deleted robot pushed");
});

test("the project's audit log, its filters and the summary", async () => {
  await visit(page, `/projects/${PROJECT}/logs`, { heading: PROJECT });
  await page.getByRole("cell", { name: `${PROJECT}/app:dev` }).first().waitFor();
  await screenshot(page, "project-logs");
  await page.getByLabel("Operation").selectOption("delete");
  await page.waitForURL(/operation=delete/);
  await page.getByRole("searchbox").fill(USER);
  await page.getByText("No event matches these filters.").waitFor();
  await visit(page, `/projects/${PROJECT}`, { heading: PROJECT });
  await page.locator(".facts").getByText("Repositories").waitFor();
});

test("public and private, as anonymous clients see it", async () => {
  await visit(page, `/projects/${PROJECT}`, { heading: PROJECT });
  assert.notEqual((await pull(`${PROJECT}/app:v1`, null, "", path.join(scratch, "anon0"))).code, 0);
  await page.getByRole("button", { name: "Make public" }).click();
  await page.getByRole("status").filter({ hasText: "is public" }).waitFor();
  const anonymous = await pull(`${PROJECT}/app:v1`, null, "", path.join(scratch, "anon1"));
  assert.equal(anonymous.code, 0, anonymous.stderr);
  await page.getByRole("button", { name: "Make private" }).click();
  await page.getByRole("status").filter({ hasText: "is private" }).waitFor();
  assert.notEqual((await pull(`${PROJECT}/app:v1`, null, "", path.join(scratch, "anon2"))).code, 0);
});

test("deleting a project that is not empty is refused, saying why", async () => {
  await page.getByRole("button", { name: "Delete project" }).click();
  const dialog = page.getByRole("dialog", { name: `Delete project ${PROJECT}?` });
  await dialog.getByText("It cannot be deleted now").waitFor();
  await dialog.getByRole("button", { name: "Delete project" }).click();
  await dialog.getByRole("alert").waitFor();
  const reason = await dialog.getByRole("alert").textContent();
  assert.match(reason, /repositor/i);
  await checkA11y(page, "delete refused");
  await screenshot(page, "project-delete-refused");
  await dialog.getByRole("button", { name: "Cancel" }).click();

  const gone = await api(page, "DELETE", `/projects/${PROJECT}/repositories/app`);
  assert.equal(gone.status, 200, JSON.stringify(gone.body));
  await page.getByRole("button", { name: "Delete project" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete project" }).click();
  await page.waitForURL(/\/projects\?deleted=team/);
  await page.getByText(`Project ${PROJECT} is deleted.`).waitFor();
  assert.deepEqual(s.problems, []);
});

test("a member sees the project; a stranger does not see its members", async () => {
  const other = await open();
  try {
    await signIn(other.page, USER, USER_PASSWORD);
    await visit(other.page, "/projects/library", { heading: "library" });
    assert.equal(await other.page.getByRole("link", { name: "Members" }).count(), 0);
    assert.equal(await other.page.getByRole("button", { name: "Delete project" }).count(), 0);
  } finally {
    await other.close();
  }
});
