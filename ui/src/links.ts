// URLs of the UI's pages, built in one place so links and routes agree.
import { path } from "./router";

export const projectHref = (project: string, tab = "") => (tab ? path("projects", project, tab) : path("projects", project));

/** The page of repository `name` ("library/team/app": the project is the first segment). */
export function repositoryHref(project: string, name: string): string {
  const inside = name.startsWith(project + "/") ? name.slice(project.length + 1) : name;
  return `${path("projects", project, "repositories")}/${inside.split("/").map(encodeURIComponent).join("/")}`;
}

/** The page of one artifact (by digest) of repository `name`: the repository's page +
 * "/artifacts/<digest>". A digest has a ":", which no repository name has, so the two
 * never mix (see `splitRepositoryPath`). */
export function artifactHref(project: string, name: string, digest: string): string {
  return `${repositoryHref(project, name)}/artifacts/${encodeURIComponent(digest)}`;
}

/** The rest of a repository URL ("team/app" or "team/app/artifacts/sha256:…") as the
 * repository's name inside its project and the digest of an artifact, if one is named. */
export function splitRepositoryPath(rest: string): { repo: string; digest: string | null } {
  const parts = rest.split("/");
  const last = parts[parts.length - 1] ?? "";
  if (parts.length >= 3 && parts[parts.length - 2] === "artifacts" && last.includes(":")) {
    return { repo: parts.slice(0, -2).join("/"), digest: last };
  }
  return { repo: rest, digest: null };
}

/** Harbor's API path of a repository (its name inside the project, slashes encoded twice). */
export function repositoryApi(project: string, repo: string): string {
  return `/projects/${encodeURIComponent(project)}/repositories/${encodeURIComponent(encodeURIComponent(repo))}`;
}

/** The API path of an artifact of that repository, by tag or digest. */
export function artifactApi(project: string, repo: string, reference: string): string {
  return `${repositoryApi(project, repo)}/artifacts/${encodeURIComponent(reference)}`;
}
