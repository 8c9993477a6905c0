import { get } from "../api/client";
import type { Project } from "../api/types";
import { Badge } from "../components/Badge";
import { ErrorBanner } from "../components/ErrorBanner";
import { PageHeader } from "../components/Layout";
import { Tabs, type Tab } from "../components/Tabs";
import { projectHref } from "../links";
import { useLoad } from "../load";
import { isPublic } from "./Projects";
import { ProjectRepositories } from "./project/Repositories";
import { ProjectSummaryTab } from "./project/Summary";

/** The tabs of a project's page; each has its URL /projects/:name/<id>. */
export const PROJECT_TABS: Tab[] = [
  { id: "", label: "Summary" },
  { id: "repositories", label: "Repositories" },
];

export function ProjectPage({ name, tab }: { name: string; tab: string }) {
  const project = useLoad(name, () => get<Project>(`/projects/${encodeURIComponent(name)}`));
  const p = project.data;
  return (
    <section>
      <PageHeader title={name} crumbs={[{ href: "/projects", label: "Projects" }]}>
        {p && (isPublic(p) ? <Badge tone="info">Public</Badge> : <Badge>Private</Badge>)}
      </PageHeader>
      <ErrorBanner error={project.error} />
      <Tabs base={projectHref(name)} tabs={PROJECT_TABS} active={tab} label={`Project ${name}`} />
      {p && tab === "" && <ProjectSummaryTab project={p} />}
      {p && tab === "repositories" && <ProjectRepositories project={p} />}
    </section>
  );
}
