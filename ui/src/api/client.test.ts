import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, del, linkTarget, list, onUnauthorized, plainWords, post, withQuery } from "./client";

function answer(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

afterEach(() => {
  vi.unstubAllGlobals();
  onUnauthorized(() => {});
});

describe("requests", () => {
  it("echoes the __csrf cookie in X-Harbor-CSRF-Token on changes only", async () => {
    document.cookie = "__csrf=tok%2Ben";
    const fetch = vi.fn(async () => answer(201, undefined));
    vi.stubGlobal("fetch", fetch);
    await post("/projects", { project_name: "p" });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/v2.0/projects");
    expect((init.headers as Record<string, string>)["X-Harbor-CSRF-Token"]).toBe("tok+en");
    expect(init.body).toBe('{"project_name":"p"}');
    fetch.mockClear();
    await list("/projects");
    const [, getInit] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect((getInit.headers as Record<string, string>)["X-Harbor-CSRF-Token"]).toBeUndefined();
  });

  it("turns Harbor's error body into plain words, keeping the API's reason", async () => {
    vi.stubGlobal("fetch", async () =>
      answer(412, { errors: [{ code: "PRECONDITION", message: "the project contains repositories" }] }),
    );
    const failure = await del("/projects/p").catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).message).toBe("That cannot be done now: the project contains repositories.");
    expect((failure as ApiError).detail).toBe("the project contains repositories");
  });

  it("reports a 401 to the session, unless the caller handles it", async () => {
    const seen: number[] = [];
    onUnauthorized((e) => seen.push(e.status));
    vi.stubGlobal("fetch", async () => answer(401, { errors: [{ code: "UNAUTHORIZED", message: "x" }] }));
    await expect(del("/projects/p")).rejects.toThrow("Your session has ended");
    expect(seen).toEqual([401]);
    await expect(del("/projects/p", { quiet401: true })).rejects.toBeInstanceOf(ApiError);
    expect(seen).toEqual([401]);
  });

  it("says when the server cannot be reached", async () => {
    vi.stubGlobal("fetch", async () => {
      throw new TypeError("Failed to fetch");
    });
    await expect(del("/x")).rejects.toThrow("Wharf cannot be reached");
  });
});

describe("lists", () => {
  it("reads X-Total-Count and the Link header", async () => {
    const fetch = vi.fn(async () =>
      answer(200, [{ name: "a" }], {
        "X-Total-Count": "31",
        Link: '</api/v2.0/projects?page=1&page_size=15>; rel="prev" , </api/v2.0/projects?page=3&page_size=15>; rel="next"',
      }),
    );
    vi.stubGlobal("fetch", fetch);
    const page = await list<{ name: string }>("/projects", { page: 2, sort: "-name", q: "name=~a" });
    expect(page).toEqual({ items: [{ name: "a" }], total: 31, hasNext: true });
    const [url] = fetch.mock.calls[0] as unknown as [string];
    expect(url).toBe("/api/v2.0/projects?page=2&page_size=15&sort=-name&q=name%3D%7Ea");
  });

  it("counts the items when the server sends no total", async () => {
    vi.stubGlobal("fetch", async () => answer(200, [{}, {}]));
    expect(await list("/x")).toEqual({ items: [{}, {}], total: 2, hasNext: false });
  });

  it("parses Link targets", () => {
    expect(linkTarget('<a?page=2>; rel="next"', "next")).toBe("a?page=2");
    expect(linkTarget('<a?page=1>; rel="prev"', "next")).toBeNull();
    expect(linkTarget(null, "next")).toBeNull();
  });

  it("leaves empty query values out", () => {
    expect(withQuery("/p", { a: 1, b: "", c: undefined, d: null, e: false })).toBe("/p?a=1&e=false");
  });
});

describe("plain words", () => {
  it("has a sentence for each kind of failure", () => {
    expect(plainWords(403, "FORBIDDEN", "forbidden")).toBe("You do not have permission to do that: forbidden.");
    expect(plainWords(409, "CONFLICT", "")).toBe("That conflicts with what exists already.");
    expect(plainWords(500, "UNKNOWN", "internal server error")).toBe("Wharf had a problem (UNKNOWN): internal server error.");
    expect(plainWords(429, "", "")).toMatch(/Too many attempts/);
  });
});
