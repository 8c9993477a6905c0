import { get } from "../../api/client";
import type { Project, ProjectSummary } from "../../api/types";
import { Copyable } from "../../components/CopyButton";
import { ErrorBanner } from "../../components/ErrorBanner";
import { bytes, dateTime } from "../../format";
import { useLoad } from "../../load";
import { ROLES } from "../../api/types";
import { isAdmin } from "../../session";

export function registryHost(): string {
  return window.location.host;
}

/** The signed-in user's role in `project`, as a person reads it. */
export function roleName(project: Project): string {
  const role = ROLES[project.current_user_role_id];
  if (role) return role;
  return isAdmin() ? "System admin" : "None (public project)";
}

export function ProjectSummaryTab({ project }: { project: Project }) {
  const summary = useLoad(project.name, () => get<ProjectSummary>(`/projects/${encodeURIComponent(project.name)}/summary`));
  const s = summary.data;
  const members: [string, number | undefined][] = s
    ? [
        ["Project admins", s.project_admin_count],
        ["Maintainers", s.maintainer_count],
        ["Developers", s.developer_count],
        ["Guests", s.guest_count],
        ["Limited guests", s.limited_guest_count],
      ]
    : [];
  return (
    <div class="summary">
      <ErrorBanner error={summary.error} />
      <dl class="facts">
        <div>
          <dt>Repositories</dt>
          <dd>{s ? s.repo_count : "…"}</dd>
        </div>
        <div>
          <dt>Storage used</dt>
          <dd>{s ? bytes(s.quota?.used?.storage ?? null) : "…"}</dd>
        </div>
        <div>
          <dt>Owner</dt>
          <dd>{project.owner_name || "–"}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{dateTime(project.creation_time)}</dd>
        </div>
        <div>
          <dt>Your role</dt>
          <dd>{roleName(project)}</dd>
        </div>
        {members
          .filter(([, n]) => n !== undefined)
          .map(([label, n]) => (
            <div key={label}>
              <dt>{label}</dt>
              <dd>{n}</dd>
            </div>
          ))}
      </dl>
      <h2>Push an image here</h2>
      <p>
        <Copyable text={`docker tag IMAGE ${registryHost()}/${project.name}/REPOSITORY:TAG`} what="the tag command" />
      </p>
      <p>
        <Copyable text={`docker push ${registryHost()}/${project.name}/REPOSITORY:TAG`} what="the push command" />
      </p>
    </div>
  );
}
