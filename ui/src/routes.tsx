// Every page of the UI and its URL. To add a page: write it under pages/, add a Route here
// (and a NavItem in nav.ts if it belongs in the top navigation). Patterns: ":name" is one path
// segment, "*name" the rest of the path (repository names have slashes). See README.md.
import type { JSX } from "preact";
import type { Params } from "./router";
import { SignIn } from "./pages/SignIn";
import { ProjectsPage } from "./pages/Projects";
import { ProjectPage, PROJECT_TABS } from "./pages/Project";
import { RepositoryRoute } from "./pages/Repository";
import { splitRepositoryPath } from "./links";
import { AuditLogPage } from "./pages/admin/AuditLog";
import { GCPage } from "./pages/admin/GC";
import { GCRunPage } from "./pages/admin/GCRun";
import { SystemPage } from "./pages/admin/System";
import { UsersPage } from "./pages/admin/Users";

export interface Route {
  path: string;
  /** the document title (" · Wharf" is appended) */
  title: (params: Params) => string;
  page: (params: Params) => JSX.Element;
  /** shown without signing in (only the sign-in page) */
  public?: boolean;
  /** system administrators only */
  admin?: boolean;
}

export const routes: Route[] = [
  { path: "/sign-in", title: () => "Sign in", page: () => <SignIn />, public: true },
  { path: "/projects", title: () => "Projects", page: () => <ProjectsPage /> },
  {
    path: "/projects/:name",
    title: (p) => p.name,
    page: (p) => <ProjectPage name={p.name} tab="" />,
  },
  ...PROJECT_TABS.filter((tab) => tab.id !== "").map(
    (tab): Route => ({
      path: `/projects/:name/${tab.id}`,
      title: (p) => `${p.name}: ${tab.label}`,
      page: (p) => <ProjectPage name={p.name} tab={tab.id} />,
    }),
  ),
  {
    // a repository's artifacts; ".../artifacts/<digest>" one artifact (pages/Repository.tsx)
    path: "/projects/:name/repositories/*rest",
    title: (p) => {
      const { repo, digest } = splitRepositoryPath(p.rest);
      return digest ? `${p.name}/${repo}@${digest.slice(0, 19)}` : `${p.name}/${repo}`;
    },
    page: (p) => <RepositoryRoute project={p.name} rest={p.rest} />,
  },
  // Administration (system administrators): pages/admin/
  { path: "/admin", title: () => "Administration", page: () => <SystemPage />, admin: true },
  { path: "/admin/users", title: () => "Users", page: () => <UsersPage />, admin: true },
  { path: "/admin/audit-log", title: () => "Audit log", page: () => <AuditLogPage />, admin: true },
  { path: "/admin/gc", title: () => "Garbage collection", page: () => <GCPage />, admin: true },
  {
    path: "/admin/gc/:id",
    title: (p) => `Garbage collection run ${p.id}`,
    page: (p) => <GCRunPage id={p.id} />,
    admin: true,
  },
];

/** Where "/" goes. */
export const HOME = "/projects";
