import { useEffect, useState } from "preact/hooks";
import { get } from "../api/client";
import type { Project, ProjectSummary } from "../api/types";
import { Badge } from "../components/Badge";
import { EmptyState } from "../components/EmptyState";
import { ErrorBanner } from "../components/ErrorBanner";
import { PageHeader } from "../components/Layout";
import { SearchBox } from "../components/SearchBox";
import { Table, type Column } from "../components/Table";
import { bytes, dateTime } from "../format";
import { useList } from "../list";
import { path } from "../router";
import { roleName } from "./project/Summary";

export function isPublic(project: Project): boolean {
  return project.metadata?.public === "true";
}

/** Storage used by each listed project (its summary), fetched alongside the page. */
function useStorage(projects: Project[] | undefined): Record<string, number | null> {
  const [used, setUsed] = useState<Record<string, number | null>>({});
  const names = (projects ?? []).map((p) => p.name).join("\n");
  useEffect(() => {
    let live = true;
    for (const name of names ? names.split("\n") : []) {
      get<ProjectSummary>(`/projects/${encodeURIComponent(name)}/summary`)
        .then((summary) => live && setUsed((u) => ({ ...u, [name]: summary.quota?.used?.storage ?? null })))
        .catch(() => live && setUsed((u) => ({ ...u, [name]: null })));
    }
    return () => {
      live = false;
    };
  }, [names]);
  return used;
}

export function ProjectsPage() {
  const projects = useList<Project>("/projects", {
    defaultSort: "name",
    filter: (text) => `name=~${text}`,
  });
  const storage = useStorage(projects.data?.items);

  const columns: Column<Project>[] = [
    {
      key: "name",
      label: "Name",
      sort: "name",
      render: (p) => <a href={path("projects", p.name)}>{p.name}</a>,
    },
    {
      key: "access",
      label: "Access",
      render: (p) => (isPublic(p) ? <Badge tone="info">Public</Badge> : <Badge>Private</Badge>),
    },
    {
      key: "role",
      label: "Your role",
      render: (p) => roleName(p),
    },
    { key: "repos", label: "Repositories", kind: "num", render: (p) => p.repo_count },
    {
      key: "storage",
      label: "Storage used",
      kind: "num",
      render: (p) => (p.name in storage ? bytes(storage[p.name]) : "…"),
    },
    { key: "created", label: "Created", sort: "creation_time", render: (p) => dateTime(p.creation_time) },
  ];

  return (
    <section>
      <PageHeader title="Projects" />
      <div class="toolbar">
        <SearchBox label="Search projects" value={projects.search} onSearch={projects.setSearch} />
      </div>
      <ErrorBanner error={projects.error} />
      <Table
        caption="Projects"
        columns={columns}
        rows={projects.data?.items ?? []}
        rowKey={(p) => p.project_id}
        sort={projects.sort}
        onSort={projects.setSort}
        page={projects.page}
        pageSize={projects.pageSize}
        total={projects.data?.total}
        onPage={projects.setPage}
        loading={projects.loading}
        empty={
          projects.search ? (
            <EmptyState title={`No project matches “${projects.search}”.`}>Try a shorter search, or clear it.</EmptyState>
          ) : (
            <EmptyState title="You see no projects yet.">
              Ask a project admin to add you to a project. Public projects show here for everyone.
            </EmptyState>
          )
        }
      />
    </section>
  );
}
