import { useEffect, useState } from "preact/hooks";
import { get, post } from "../api/client";
import type { Project, ProjectSummary } from "../api/types";
import { Badge } from "../components/Badge";
import { EmptyState } from "../components/EmptyState";
import { Dialog } from "../components/ConfirmDialog";
import { ErrorBanner, Notice } from "../components/ErrorBanner";
import { PageHeader } from "../components/Layout";
import { SearchBox } from "../components/SearchBox";
import { Table, type Column } from "../components/Table";
import { bytes, dateTime } from "../format";
import { useList } from "../list";
import { navigate, path, setQuery, useLocation } from "../router";
import { isAdmin, session } from "../session";
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

/** Whether the signed-in user may create projects (Harbor's project_creation_restriction). */
export function canCreateProjects(): boolean {
  return isAdmin() || session().system.project_creation_restriction !== "adminonly";
}

function NewProject({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState("");
  const [open, setOpen] = useState(false);
  const create = async () => {
    const wanted = name.trim();
    await post("/projects", { project_name: wanted, metadata: { public: open ? "true" : "false" } });
    navigate(path("projects", wanted));
  };
  return (
    <Dialog title="New project" onClose={onClose}>
      {(busy, run) => (
        <form
          class="form"
          onSubmit={(e) => {
            e.preventDefault();
            void run(create);
          }}
        >
          <label>
            Name
            <input
              name="project_name"
              required
              maxLength={255}
              pattern="[a-z0-9]+(?:[._\-][a-z0-9]+)*"
              value={name}
              onInput={(e) => setName((e.target as HTMLInputElement).value)}
            />
            <span class="hint">Lower-case letters and digits, with . _ - between them. Images are pushed to HOST/{name || "NAME"}/….</span>
          </label>
          <label class="check">
            <input type="checkbox" checked={open} onChange={() => setOpen(!open)} /> Public: anyone may pull, without
            signing in
          </label>
          <div class="dialog-actions">
            <button type="button" onClick={onClose} disabled={busy}>
              Cancel
            </button>
            <button type="submit" class="button-primary" disabled={busy}>
              Create project
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

export function ProjectsPage() {
  const { query } = useLocation();
  const deleted = query.get("deleted");
  const [creating, setCreating] = useState(false);
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
      <PageHeader title="Projects">
        {canCreateProjects() && (
          <button type="button" class="button-primary" onClick={() => setCreating(true)}>
            New project
          </button>
        )}
      </PageHeader>
      {deleted && <Notice text={`Project ${deleted} is deleted.`} onDismiss={() => setQuery({ deleted: null })} />}
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
            <EmptyState
              title="You see no projects yet."
              action={
                canCreateProjects() && (
                  <button type="button" class="button-primary" onClick={() => setCreating(true)}>
                    Create a project
                  </button>
                )
              }
            >
              Create one, or ask a project admin to add you to theirs. Public projects show here for everyone.
            </EmptyState>
          )
        }
      />
      {creating && <NewProject onClose={() => setCreating(false)} />}
    </section>
  );
}
