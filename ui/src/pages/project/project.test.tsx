import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Project, Robot } from "../../api/types";
import { load } from "../../session";
import { logFilter } from "./Logs";
import { ProjectMembers } from "./Members";
import { accessSummary, ProjectRobots } from "./Robots";
import { canManage } from "./access";

const PROJECT: Project = {
  project_id: 7,
  owner_id: 1,
  name: "team",
  owner_name: "admin",
  creation_time: null,
  update_time: null,
  current_user_role_id: 0,
  current_user_role_ids: [],
  repo_count: 1,
  metadata: { public: "false" },
};

type Call = { method: string; url: string; body: unknown };

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

/** A fake API: `routes` maps "METHOD /path" (no query) to an answer; every call is recorded. */
function fakeApi(routes: Record<string, (call: Call) => Response>, admin = true) {
  const calls: Call[] = [];
  const fetch = vi.fn(async (url: string, init?: RequestInit) => {
    const method = init?.method ?? "GET";
    const path = url.split("?")[0];
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : init?.body;
    const call = { method, url, body };
    calls.push(call);
    if (path === "/api/v2.0/systeminfo") return json(200, { auth_mode: "db_auth" });
    if (path === "/api/v2.0/users/current") return json(200, { user_id: 1, username: "admin", sysadmin_flag: admin });
    const handler = routes[`${method} ${path}`];
    return handler ? handler(call) : json(404, { errors: [{ code: "NOT_FOUND", message: `no route ${method} ${path}` }] });
  });
  vi.stubGlobal("fetch", fetch);
  return calls;
}

beforeEach(() => window.history.replaceState(null, "", "/projects/team/members"));
afterEach(() => vi.unstubAllGlobals());

describe("project helpers", () => {
  it("summarises a robot's permissions", () => {
    const robot = {
      permissions: [
        {
          kind: "project",
          namespace: "team",
          access: [
            { resource: "repository", action: "pull" },
            { resource: "repository", action: "push" },
            { resource: "tag", action: "list" },
          ],
        },
      ],
    } as Robot;
    expect(accessSummary(robot)).toBe("repository: pull, push · tag: list");
  });

  it("builds the audit log's q from the filters", () => {
    expect(logFilter("", "")).toBeUndefined();
    expect(logFilter("ali", "")).toBe("username=~ali");
    expect(logFilter("ali", "delete")).toBe("username=~ali,operation=delete");
  });

  it("lets project admins and system admins manage a project", async () => {
    fakeApi({}, false);
    await load();
    expect(canManage(PROJECT)).toBe(false);
    expect(canManage({ ...PROJECT, current_user_role_id: 1, current_user_role_ids: [1] })).toBe(true);
    expect(canManage({ ...PROJECT, current_user_role_id: 2, current_user_role_ids: [2] })).toBe(false);
  });
});

describe("members", () => {
  it("adds a user with a role and changes a member's role", async () => {
    const members = [{ id: 3, project_id: 7, entity_name: "admin", role_name: "projectAdmin", role_id: 1, entity_id: 1, entity_type: "u" }];
    const calls = fakeApi({
      "GET /api/v2.0/projects/team/members": () => json(200, members, { "X-Total-Count": String(members.length) }),
      "POST /api/v2.0/projects/team/members": (call) => {
        const body = call.body as { role_id: number; member_user: { username: string } };
        members.push({ id: 4, project_id: 7, entity_name: body.member_user.username, role_name: "guest", role_id: body.role_id, entity_id: 2, entity_type: "u" });
        return json(201, undefined, { Location: "/api/v2.0/projects/7/members/4" });
      },
      "PUT /api/v2.0/projects/team/members/4": () => json(200, undefined),
      "GET /api/v2.0/users/search": () => json(200, [{ user_id: 2, username: "alice" }]),
    });
    await load();
    render(<ProjectMembers project={PROJECT} />);
    await screen.findByLabelText("Role of admin");
    fireEvent.click(screen.getByRole("button", { name: "Add member" }));
    fireEvent.input(screen.getByLabelText("Username"), { target: { value: "alice" } });
    fireEvent.change(screen.getByLabelText("Role"), { target: { value: "3" } });
    fireEvent.submit(screen.getByLabelText("Username").closest("form") as HTMLFormElement);
    await screen.findByText("alice is now guest of team.");
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ role_id: 3, member_user: { username: "alice" } });
    const role = await screen.findByLabelText("Role of alice");
    fireEvent.change(role, { target: { value: "2" } });
    await screen.findByText("alice is now developer.");
    expect(calls.find((c) => c.method === "PUT")?.body).toEqual({ role_id: 2 });
  });

  it("shows the API's reason when a change is refused", async () => {
    fakeApi({
      "GET /api/v2.0/projects/team/members": () =>
        json(200, [{ id: 4, project_id: 7, entity_name: "bob", role_name: "guest", role_id: 3, entity_id: 2, entity_type: "u" }]),
      "PUT /api/v2.0/projects/team/members/4": () => json(403, { errors: [{ code: "FORBIDDEN", message: "forbidden" }] }),
    });
    await load();
    render(<ProjectMembers project={PROJECT} />);
    fireEvent.change(await screen.findByLabelText("Role of bob"), { target: { value: "1" } });
    await screen.findByText("You do not have permission to do that: forbidden.");
  });
});

describe("robots", () => {
  it("creates a robot with the chosen permissions and shows its secret once", async () => {
    const calls = fakeApi({
      "GET /api/v2.0/robots": () => json(200, [], { "X-Total-Count": "0" }),
      "POST /api/v2.0/robots": () =>
        json(201, { id: 9, name: "robot$team+ci", secret: "s3cr3t-value", creation_time: null, expires_at: -1 }),
    });
    await load();
    render(<ProjectRobots project={PROJECT} />);
    await screen.findByText("This project has no robot accounts.");
    expect(calls[calls.length - 1].url).toContain("q=Level%3Dproject%2CProjectID%3D7");
    fireEvent.click(screen.getByRole("button", { name: "New robot account" }));
    fireEvent.input(screen.getByLabelText(/^Name/), { target: { value: "ci" } });
    fireEvent.click(screen.getByLabelText("push"));
    fireEvent.submit(screen.getByLabelText(/^Name/).closest("form") as HTMLFormElement);
    await screen.findByText("s3cr3t-value");
    const body = calls.find((c) => c.method === "POST")?.body as Record<string, unknown>;
    expect(body).toMatchObject({ name: "ci", level: "project", duration: -1 });
    expect(body.permissions).toEqual([
      {
        kind: "project",
        namespace: "team",
        access: [
          { resource: "repository", action: "pull", effect: "allow" },
          { resource: "repository", action: "push", effect: "allow" },
        ],
      },
    ]);
    fireEvent.click(screen.getByRole("button", { name: "I copied it" }));
    await waitFor(() => expect(screen.queryByText("s3cr3t-value")).toBeNull());
  });
});
