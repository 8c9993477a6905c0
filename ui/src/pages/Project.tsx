import { useState } from "preact/hooks";
import { del, get, put } from "../api/client";
import type { Project, ProjectDeletable } from "../api/types";
import { Badge } from "../components/Badge";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ErrorBanner, Notice } from "../components/ErrorBanner";
import { PageHeader } from "../components/Layout";
import { Tabs, type Tab } from "../components/Tabs";
import { projectHref } from "../links";
import { useLoad } from "../load";
import { navigate } from "../router";
import { isAdmin } from "../session";
import { canManage, projectApi } from "./project/access";
import { ProjectLogs } from "./project/Logs";
import { ProjectMembers } from "./project/Members";
import { ProjectRepositories } from "./project/Repositories";
import { ProjectRobots } from "./project/Robots";
import { ProjectSummaryTab } from "./project/Summary";
import { isPublic } from "./Projects";

/** The tabs of a project's page; each has its URL /projects/:name/<id>. `members`: shown to
 * the project's members and system admins only. */
export const PROJECT_TABS: (Tab & { members?: boolean })[] = [
  { id: "", label: "Summary" },
  { id: "repositories", label: "Repositories" },
  { id: "members", label: "Members", members: true },
  { id: "robots", label: "Robot accounts", members: true },
  { id: "logs", label: "Logs", members: true },
];

function DeleteProject({ project, onClose }: { project: Project; onClose: () => void }) {
  const check = useLoad(project.name, () => get<ProjectDeletable>(`${projectApi(project)}/_deletable`));
  return (
    <ConfirmDialog
      title={`Delete project ${project.name}?`}
      confirmLabel="Delete project"
      danger
      onClose={onClose}
      onConfirm={async () => {
        await del(projectApi(project));
        navigate(`/projects?deleted=${encodeURIComponent(project.name)}`);
      }}
    >
      {check.data && !check.data.deletable ? (
        <p role="status">
          It cannot be deleted now: {(check.data.message || "it is not empty").replace(/\.$/, "")}.
        </p>
      ) : (
        <p>Its members, robot accounts and settings go with it. This cannot be undone.</p>
      )}
    </ConfirmDialog>
  );
}

export function ProjectPage({ name, tab }: { name: string; tab: string }) {
  const project = useLoad(name, () => get<Project>(projectApi(name)));
  const [deleting, setDeleting] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState("");
  const p = project.data;
  const member = p !== null && (isAdmin() || (p.current_user_role_id ?? 0) > 0);
  const tabs = PROJECT_TABS.filter((t) => !t.members || member);

  const setPublic = async (value: boolean) => {
    if (!p) return;
    setError(null);
    try {
      await put(projectApi(p), { metadata: { public: value ? "true" : "false" } });
      setNotice(value ? `${p.name} is public: anyone may pull from it.` : `${p.name} is private: only members may pull.`);
      project.reload();
    } catch (failure) {
      setError(failure);
    }
  };

  return (
    <section>
      <PageHeader title={name} crumbs={[{ href: "/projects", label: "Projects" }]}>
        {p && (isPublic(p) ? <Badge tone="info">Public</Badge> : <Badge>Private</Badge>)}
        {p && canManage(p) && (
          <>
            <button type="button" onClick={() => void setPublic(!isPublic(p))}>
              {isPublic(p) ? "Make private" : "Make public"}
            </button>
            <button type="button" class="button-danger" onClick={() => setDeleting(true)}>
              Delete project
            </button>
          </>
        )}
      </PageHeader>
      <Notice text={notice} onDismiss={() => setNotice("")} />
      <ErrorBanner error={error ?? project.error} onDismiss={error ? () => setError(null) : undefined} />
      <Tabs base={projectHref(name)} tabs={tabs} active={tab} label={`Project ${name}`} />
      {p && tab === "" && <ProjectSummaryTab project={p} />}
      {p && tab === "repositories" && <ProjectRepositories project={p} />}
      {p && member && tab === "members" && <ProjectMembers project={p} />}
      {p && member && tab === "robots" && <ProjectRobots project={p} />}
      {p && member && tab === "logs" && <ProjectLogs project={p} />}
      {p && !member && tabs.every((t) => t.id !== tab) && (
        <p class="muted">Only members of {p.name} see this tab.</p>
      )}
      {deleting && p && <DeleteProject project={p} onClose={() => setDeleting(false)} />}
    </section>
  );
}
