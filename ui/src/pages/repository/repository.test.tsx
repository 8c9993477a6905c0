import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, render, screen, waitFor } from "@testing-library/preact";
import { resolve } from "../../app";
import { artifactApi, artifactHref, splitRepositoryPath } from "../../links";
import type { Artifact } from "../../api/types";
import { RepositoryPage } from "../Repository";
import { platforms, pullCommand, shortDigest } from "./shared";

const DIGEST = "sha256:" + "ab".repeat(32);

function artifact(extra: Partial<Artifact> = {}): Artifact {
  return {
    id: 1,
    type: "IMAGE",
    media_type: "application/vnd.oci.image.config.v1+json",
    manifest_media_type: "application/vnd.oci.image.manifest.v1+json",
    artifact_type: "",
    project_id: 1,
    repository_id: 1,
    repository_name: "team/app/web",
    digest: DIGEST,
    size: 2048,
    push_time: "2026-12-01T10:00:00.000Z",
    pull_time: "0001-01-01T00:00:00.000Z",
    extra_attrs: { os: "linux", architecture: "arm64", variant: "v8" },
    annotations: {},
    tags: [],
    accessories: [],
    addition_links: {},
    ...extra,
  };
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("repository and artifact URLs", () => {
  it("tells a repository from one of its artifacts (a digest has a colon, names do not)", () => {
    expect(splitRepositoryPath("app/web")).toEqual({ repo: "app/web", digest: null });
    expect(splitRepositoryPath(`app/artifacts/${DIGEST}`)).toEqual({ repo: "app", digest: DIGEST });
    // a repository may be called "artifacts"
    expect(splitRepositoryPath("app/artifacts")).toEqual({ repo: "app/artifacts", digest: null });
    expect(splitRepositoryPath(`app/artifacts/artifacts/${DIGEST}`)).toEqual({ repo: "app/artifacts", digest: DIGEST });
    const href = artifactHref("team", "team/app/web", DIGEST);
    expect(href).toBe(`/projects/team/repositories/app/web/artifacts/${encodeURIComponent(DIGEST)}`);
    expect(resolve(decodeURIComponent(href))?.params).toEqual({ name: "team", rest: `app/web/artifacts/${DIGEST}` });
  });

  it("encodes the repository's slashes twice in API paths, as Harbor wants", () => {
    expect(artifactApi("team", "app/web", "v1")).toBe("/projects/team/repositories/app%252Fweb/artifacts/v1");
  });

  it("builds pull commands by tag and by digest", () => {
    const host = window.location.host;
    expect(pullCommand("team", "app/web", "v1")).toBe(`docker pull ${host}/team/app/web:v1`);
    expect(pullCommand("team", "app/web", DIGEST)).toBe(`docker pull ${host}/team/app/web@${DIGEST}`);
    expect(shortDigest(DIGEST)).toBe("sha256:abababababab");
  });

  it("names the platforms of an image and of an index", () => {
    expect(platforms(artifact())).toEqual(["linux/arm64/v8"]);
    const index = artifact({
      extra_attrs: {},
      references: [
        { parent_id: 1, child_id: 2, child_digest: "sha256:1", platform: { os: "linux", architecture: "amd64" } },
        { parent_id: 1, child_id: 3, child_digest: "sha256:2", platform: null },
      ],
    });
    expect(platforms(index)).toEqual(["linux/amd64", "unknown platform"]);
  });
});

describe("the repository page", () => {
  it("lists artifacts with their tags, a link to each and its accessories", async () => {
    const tags = Array.from({ length: 5 }, (_, i) => ({
      id: i,
      repository_id: 1,
      artifact_id: 1,
      name: `t${i}`,
      push_time: null,
      pull_time: null,
      immutable: false,
    }));
    const accessories = [
      {
        id: 9,
        artifact_id: 9,
        subject_artifact_id: 1,
        subject_artifact_digest: DIGEST,
        subject_artifact_repo: "team/app",
        size: 600,
        digest: "sha256:" + "cd".repeat(32),
        type: "signature.cosign",
        creation_time: null,
      },
    ];
    const calls: string[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string) => {
        calls.push(url);
        if (url.includes("/artifacts?")) {
          return new Response(JSON.stringify([artifact({ tags, accessories })]), {
            headers: { "X-Total-Count": "1", "Content-Type": "application/json" },
          });
        }
        return new Response(JSON.stringify({ id: 1, name: "team/app", artifact_count: 1, pull_count: 0 }));
      }),
    );
    render(<RepositoryPage project="team" repo="app" />);
    await screen.findByRole("link", { name: "sha256:abababababab" });
    expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("team/app");
    // three tags, then a link to the rest
    expect(screen.getByRole("button", { name: "Delete tag t0" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Delete tag t3" })).toBeNull();
    expect(screen.getByRole("link", { name: "+2 more" })).toBeTruthy();
    expect(screen.getByText("linux/arm64/v8")).toBeTruthy();
    expect(screen.getByText("cosign signature")).toBeTruthy();
    const copy = screen.getByRole("button", { name: "Copy the pull command of t0" });
    expect(copy.getAttribute("data-copy")).toBe(`docker pull ${window.location.host}/team/app:t0`);
    const list = calls.find((c) => c.includes("/artifacts?")) ?? "";
    expect(list).toContain("sort=-push_time");
    expect(list).toContain("with_accessory=true");
    await waitFor(() => expect(screen.getByText("1 artifact · 0 pulls")).toBeTruthy());
  });

  it("says how to push when the repository is empty", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => new Response("[]", { headers: { "X-Total-Count": "0" } })),
    );
    render(<RepositoryPage project="team" repo="empty" />);
    await screen.findByText("This repository has no artifacts.");
    expect(screen.getByText(`docker push ${window.location.host}/team/empty:TAG`)).toBeTruthy();
  });
});
