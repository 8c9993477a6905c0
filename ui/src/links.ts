// URLs of the UI's pages, built in one place so links and routes agree.
import { path } from "./router";

export const projectHref = (project: string, tab = "") => (tab ? path("projects", project, tab) : path("projects", project));

/** The page of repository `name` ("library/team/app": the project is the first segment). */
export function repositoryHref(project: string, name: string): string {
  const inside = name.startsWith(project + "/") ? name.slice(project.length + 1) : name;
  return `${path("projects", project, "repositories")}/${inside.split("/").map(encodeURIComponent).join("/")}`;
}
