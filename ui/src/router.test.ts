import { describe, expect, it } from "vitest";
import { match, navigate, path, setQuery } from "./router";
import { repositoryHref } from "./links";

describe("router", () => {
  it("matches segments and the rest of a path", () => {
    expect(match("/projects/:name", "/projects/library")).toEqual({ name: "library" });
    expect(match("/projects/:name", "/projects/library/members")).toBeNull();
    expect(match("/projects/:name/repositories/*repo", "/projects/p/repositories/team/app")).toEqual({
      name: "p",
      repo: "team/app",
    });
    expect(match("/projects/:name/repositories/*repo", "/projects/p/repositories")).toBeNull();
    expect(match("/projects/:name", "/projects/a%20b")).toEqual({ name: "a b" });
  });

  it("builds paths whose segments are encoded", () => {
    expect(path("projects", "a/b")).toBe("/projects/a%2Fb");
    expect(repositoryHref("p", "p/team/app")).toBe("/projects/p/repositories/team/app");
  });

  it("keeps view state in the query", () => {
    navigate("/projects?sort=name");
    setQuery({ page: 2 });
    expect(window.location.search).toBe("?sort=name&page=2");
    setQuery({ page: null, sort: "-name" });
    expect(window.location.search).toBe("?sort=-name");
  });
});
