// The frame of the UI in a real browser: sign-in, deep links, session expiry, sign-out,
// light/dark, phone width, keyboard, CSP. Run by tests/test_ui_browser.py.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { checkA11y, closeBrowser, open, screenshot, settle, signIn, visit, ADMIN_PASSWORD } from "./harness.mjs";

let session;
let page;

before(async () => {
  session = await open();
  page = session.page;
});

after(async () => {
  await closeBrowser();
});

test("the page is served with a strict CSP and runs under it", async () => {
  const response = await page.goto("/sign-in");
  const headers = response.headers();
  assert.match(headers["content-security-policy"], /default-src 'self'/);
  assert.match(headers["content-security-policy"], /frame-ancestors 'none'/);
  assert.equal(headers["x-content-type-options"], "nosniff");
  await settle(page, "Wharf");
  await checkA11y(page, "sign-in");
  await screenshot(page, "sign-in");
});

test("a wrong password is refused in plain words", async () => {
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "The username or password is wrong." }).waitFor();
});

test("a deep link asks to sign in, then opens the page it named", async () => {
  await page.goto("/projects/library/repositories");
  await page.waitForURL(/\/sign-in\?next=/);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/projects\/library\/repositories$/);
  await settle(page, "library");
  await page.getByRole("link", { name: "library/demo" }).waitFor();
  await checkA11y(page, "project repositories");
  await screenshot(page, "project-repositories");
});

test("the projects list, its search and sorting", async () => {
  await visit(page, "/projects", { heading: "Projects", shot: "projects" });
  await page.getByRole("link", { name: "library", exact: true }).waitFor();
  await page.getByRole("searchbox").fill("no-such-project");
  await page.getByText("No project matches").waitFor();
  assert.match(page.url(), /q=no-such-project/);
  await page.getByRole("searchbox").fill("");
  await page.getByRole("searchbox").press("Enter");
  await page.getByRole("link", { name: "library", exact: true }).waitFor();
  await page.getByRole("button", { name: /^Name/ }).click();
  await page.waitForURL(/sort=-name/);
  await page.getByRole("columnheader", { name: /Name/ }).and(page.locator("[aria-sort='descending']")).waitFor();
});

test("every page has a URL: tabs are links, back works", async () => {
  await page.goto("/projects");
  await settle(page, "Projects");
  await page.getByRole("link", { name: "library", exact: true }).click();
  await page.waitForURL(/\/projects\/library$/);
  await settle(page, "library");
  await checkA11y(page, "project summary");
  await screenshot(page, "project-summary");
  await page.getByRole("link", { name: "Repositories" }).click();
  await page.waitForURL(/\/projects\/library\/repositories$/);
  await page.goBack();
  await page.waitForURL(/\/projects\/library$/);
  await page.goto("/no/such/page");
  await settle(page, "Page not found");
  await checkA11y(page, "not found");
});

test("dark theme follows the system and the toggle", async () => {
  const dark = await open({ colorScheme: "dark" });
  try {
    await signIn(dark.page);
    await settle(dark.page, "Projects");
    const background = await dark.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(background, "rgb(17, 22, 29)");
    await checkA11y(dark.page, "projects (dark)");
    await screenshot(dark.page, "projects-dark");
    await dark.page.getByRole("button", { name: "Switch to light theme" }).click();
    const light = await dark.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(light, "rgb(255, 255, 255)");
    await checkA11y(dark.page, "projects (light by choice)");
    assert.deepEqual(dark.problems, []);
  } finally {
    await dark.close();
  }
});

test("phone width: the menu folds, tables become cards", async () => {
  const phone = await open({ width: 390, height: 844 });
  try {
    await signIn(phone.page);
    await settle(phone.page, "Projects");
    const nav = phone.page.locator("#main-nav");
    assert.equal(await nav.isVisible(), false);
    await phone.page.getByRole("button", { name: "Menu" }).click();
    assert.equal(await nav.isVisible(), true);
    await phone.page.getByRole("button", { name: "Menu" }).click();
    const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false, "the page scrolls sideways at phone width");
    await checkA11y(phone.page, "projects (phone)");
    await screenshot(phone.page, "projects-phone");
    assert.deepEqual(phone.problems, []);
  } finally {
    await phone.close();
  }
});

test("keyboard: the skip link comes first and focus is visible", async () => {
  await page.goto("/projects");
  await settle(page, "Projects");
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement?.textContent);
  assert.equal(focused, "Skip to content");
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.equal(outline, "solid");
  await page.keyboard.press("Enter");
  await page.keyboard.press("Tab");
  const next = await page.evaluate(() => document.activeElement?.closest("main") !== null);
  assert.ok(next, "after the skip link, Tab moves into the page's content");
});

test("an ended session sends the user back to sign in with a message", async () => {
  await page.goto("/projects/library");
  await settle(page, "library");
  await session.context.clearCookies({ name: "sid" });
  await page.getByRole("link", { name: "Repositories" }).click();
  await page.waitForURL(/\/sign-in\?next=%2Fprojects%2Flibrary%2Frepositories/);
  await page.getByText("Your session has ended. Please sign in again.").waitFor();
  await checkA11y(page, "sign-in (expired)");
});

test("sign out ends the session", async () => {
  await signIn(page);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/sign-in$/);
  await page.getByText("You are signed out.").waitFor();
  await page.goto("/projects");
  await page.waitForURL(/\/sign-in\?next=%2Fprojects$/);
  assert.deepEqual(session.problems, []);
});
