// The admin pages against a fake server: what they ask of the API when a person acts.
// (jsdom's role queries are slow on a busy machine: hence the longer timeouts.)
import { fireEvent, render, screen } from "@testing-library/preact";
import { afterEach, describe, expect, it, vi } from "vitest";
import { App } from "../../app";
import { load } from "../../session";
import { GCPage } from "./GC";
import { storagePerProject } from "./System";
import { UsersPage } from "./Users";

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

const ADMIN = { user_id: 1, username: "admin", sysadmin_flag: true, admin_role_in_auth: false, enabled: true };
const CAROL = { user_id: 2, username: "carol", email: "c@example.com", realname: "Carol", comment: "", sysadmin_flag: false, admin_role_in_auth: false, enabled: true, creation_time: "2026-12-01T10:00:00Z", update_time: null };

type Call = { method: string; url: string; body: unknown };

/** A fake Wharf: the answers the admin pages read, and a record of the changes asked. */
function server(me: object = ADMIN) {
  const calls: Call[] = [];
  const fetch = vi.fn(async (url: string, init?: RequestInit) => {
    const method = init?.method ?? "GET";
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
    if (method !== "GET") calls.push({ method, url, body });
    const path = url.split("?")[0];
    if (path === "/api/v2.0/systeminfo") return json(200, { auth_mode: "db_auth" });
    if (path === "/api/v2.0/users/current") return json(200, me);
    if (path === "/api/v2.0/users" && method === "GET") return json(200, [ADMIN, CAROL], { "X-Total-Count": "2" });
    if (path === "/api/v2.0/system/gc/schedule" && method === "GET") {
      return json(200, { id: 1, job_name: "", job_kind: "", job_parameters: "{}", job_status: "", deleted: false, schedule: { type: "None", cron: "", next_scheduled_time: "0001-01-01T00:00:00.000Z" }, creation_time: "", update_time: "" });
    }
    if (path === "/api/v2.0/system/gc/schedule" && method === "POST") {
      return new Response(null, { status: 201, headers: { Location: "/api/v2.0/system/gc/7" } });
    }
    if (path === "/api/v2.0/system/gc") return json(200, [], { "X-Total-Count": "0" });
    if (method !== "GET") return new Response(null, { status: 200 });
    return json(404, { errors: [{ code: "NOT_FOUND", message: "no" }] });
  });
  return { fetch, calls };
}

afterEach(() => vi.unstubAllGlobals());

describe("the users page", { timeout: 30000 }, () => {
  it("makes a user an administrator after asking", async () => {
    const fake = server();
    vi.stubGlobal("fetch", fake.fetch);
    window.history.replaceState(null, "", "/admin/users");
    await load();
    render(<UsersPage />);
    fireEvent.click(await screen.findByLabelText("Make admin: carol"));
    fireEvent.click(await screen.findByRole("button", { name: "Make admin" }));
    await screen.findByText("carol is now an administrator.");
    expect(fake.calls).toEqual([{ method: "PUT", url: "/api/v2.0/users/2/sysadmin", body: { sysadmin_flag: true } }]);
    // no actions on oneself
    expect(screen.queryByLabelText("Delete admin")).toBeNull();
  });

  it("creates a user with the form's fields", async () => {
    const fake = server();
    vi.stubGlobal("fetch", fake.fetch);
    await load();
    render(<UsersPage />);
    fireEvent.click(await screen.findByRole("button", { name: "New user" }));
    for (const [label, value] of [["Username", "dave"], ["Email", "d@example.com"], ["Full name", "Dave"], ["Password", "Dave-Pass-1"]]) {
      fireEvent.input(screen.getByLabelText(label), { target: { value } });
    }
    fireEvent.click(screen.getByRole("button", { name: "Create user" }));
    await screen.findByText("User dave was created.");
    expect(fake.calls).toEqual([
      { method: "POST", url: "/api/v2.0/users", body: { username: "dave", email: "d@example.com", realname: "Dave", password: "Dave-Pass-1", comment: "" } },
    ]);
  });
});

describe("garbage collection", { timeout: 30000 }, () => {
  it("a dry run asks for dry_run and names the run it started", async () => {
    const fake = server();
    vi.stubGlobal("fetch", fake.fetch);
    await load();
    render(<GCPage />);
    fireEvent.click(await screen.findByRole("button", { name: "Dry run" }));
    await screen.findByText("Dry run 7 started.");
    expect(fake.calls).toEqual([
      { method: "POST", url: "/api/v2.0/system/gc/schedule", body: { schedule: { type: "Manual" }, parameters: { delete_untagged: false, dry_run: true } } },
    ]);
    await screen.findByText("No garbage collection has run yet.");
  });
});

describe("the admin gate", { timeout: 30000 }, () => {
  it("refuses the administration pages to others", async () => {
    vi.stubGlobal("fetch", server({ ...ADMIN, user_id: 5, username: "erin", sysadmin_flag: false }).fetch);
    window.history.replaceState(null, "", "/admin/gc");
    await load();
    render(<App />);
    await screen.findByText("This page is for system administrators.");
    expect(screen.queryByRole("link", { name: "Administration" })).toBeNull();
  });
});

describe("storage per project", { timeout: 30000 }, () => {
  it("reads Harbor's /quotas when the server has it", async () => {
    const fetch = vi.fn(async (url: string) => {
      expect(url).toContain("/api/v2.0/quotas?");
      expect(url).toContain("sort=-used.storage");
      expect(url).toContain("reference=project");
      return json(200, [
        { id: 1, ref: { id: 1, name: "small" }, hard: { storage: -1 }, used: { storage: 10 } },
        { id: 2, ref: { id: 2, name: "big" }, hard: { storage: -1 }, used: { storage: 5000 } },
      ]);
    });
    vi.stubGlobal("fetch", fetch);
    const bars = await storagePerProject();
    expect(bars.map((b) => [b.label, b.value, b.href])).toEqual([
      ["big", 5000, "/projects/big"],
      ["small", 10, "/projects/small"],
    ]);
  });

  it("falls back to each project's summary when /quotas is not there", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string) => {
        const path = url.split("?")[0];
        if (path === "/api/v2.0/quotas") return json(404, { errors: [{ code: "NOT_FOUND", message: "no" }] });
        if (path === "/api/v2.0/projects") return json(200, [{ name: "a" }, { name: "b" }], { "X-Total-Count": "2" });
        if (path === "/api/v2.0/projects/a/summary") return json(200, { repo_count: 1, quota: { hard: {}, used: { storage: 1 } } });
        if (path === "/api/v2.0/projects/b/summary") return json(200, { repo_count: 1, quota: { hard: {}, used: { storage: 9 } } });
        return json(500, {});
      }),
    );
    expect((await storagePerProject()).map((b) => [b.label, b.value])).toEqual([
      ["b", 9],
      ["a", 1],
    ]);
  });
});
