// System information: version, sign-in mode, the registry's address, storage (the blob
// store's volume), counts, and storage per project as a bar chart.
import { ApiError, get, list } from "../../api/client";
import type { Project, ProjectSummary, Quota, Statistic, SystemInfo, SystemVolumes } from "../../api/types";
import { BarChart, type Bar } from "../../components/Charts";
import { EmptyState } from "../../components/EmptyState";
import { ErrorBanner } from "../../components/ErrorBanner";
import { bytes, plural } from "../../format";
import { useLoad } from "../../load";
import { path } from "../../router";
import { AdminFrame } from "./Admin";

export const AUTH_MODES: Record<string, string> = {
  db_auth: "Local users (database)",
  ldap_auth: "LDAP directory",
  oidc_auth: "OpenID Connect provider",
};

const TOP = 15; // projects shown in the chart

/** Storage used per project, most first: Harbor's /quotas when the server has it, else
 * each project's summary. */
export async function storagePerProject(): Promise<Bar[]> {
  try {
    const quotas = await list<Quota>("/quotas", { pageSize: 100, sort: "-used.storage", extra: { reference: "project" } });
    return quotas.items
      .filter((q) => q.ref?.name)
      .map((q) => ({ label: q.ref?.name ?? "", value: q.used.storage ?? 0, href: path("projects", q.ref?.name ?? "") }))
      .sort((a, b) => b.value - a.value);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
  }
  const projects = await list<Project>("/projects", { pageSize: 100, sort: "name" });
  const bars = await Promise.all(
    projects.items.map(async (p) => {
      const summary = await get<ProjectSummary>(`/projects/${encodeURIComponent(p.name)}/summary`);
      return { label: p.name, value: summary.quota?.used?.storage ?? 0, href: path("projects", p.name) };
    }),
  );
  return bars.sort((a, b) => b.value - a.value);
}

export function SystemPage() {
  const info = useLoad("systeminfo", () => get<SystemInfo & { registry_storage_provider_name?: string; current_time?: string }>("/systeminfo"));
  const volumes = useLoad("volumes", () => get<SystemVolumes>("/systeminfo/volumes"));
  const stats = useLoad("statistics", () => get<Statistic>("/statistics"));
  const storage = useLoad("storage-per-project", storagePerProject);
  const i = info.data;
  const volume = volumes.data?.storage?.[0];
  const s = stats.data;

  return (
    <AdminFrame tab="" title="Administration">
      <ErrorBanner error={info.error ?? volumes.error ?? stats.error} />
      <h2>System</h2>
      {i && (
        <dl class="facts">
          <div>
            <dt>Version</dt>
            <dd>{i.harbor_version ?? "–"}</dd>
          </div>
          <div>
            <dt>Sign-in</dt>
            <dd>{AUTH_MODES[i.auth_mode ?? ""] ?? i.auth_mode ?? "–"}</dd>
          </div>
          <div>
            <dt>Registry address</dt>
            <dd>
              <code>{i.registry_url ?? "–"}</code>
            </dd>
          </div>
          <div>
            <dt>Blob storage</dt>
            <dd>{i.registry_storage_provider_name ?? "–"}</dd>
          </div>
          <div>
            <dt>Mode</dt>
            <dd>{i.read_only ? "Read-only" : "Read-write"}</dd>
          </div>
        </dl>
      )}
      <h2>Storage</h2>
      {volume && volume.total > 0 ? (
        <div class="panel">
          <p>
            <strong>{bytes(volume.total - volume.free)}</strong> of {bytes(volume.total)} used on the storage volume; {bytes(volume.free)} free.
          </p>
          <meter class="meter" min={0} max={volume.total} value={volume.total - volume.free} low={volume.total * 0.7} high={volume.total * 0.9} optimum={0} aria-label="Storage volume used">
            {bytes(volume.total - volume.free)} of {bytes(volume.total)}
          </meter>
        </div>
      ) : (
        volume && <p class="muted">The blob store is not a local disk (object storage): its capacity is the provider's to tell.</p>
      )}
      {s && (
        <dl class="facts">
          <div>
            <dt>Projects</dt>
            <dd>{s.total_project_count}</dd>
          </div>
          <div>
            <dt>Public / private</dt>
            <dd>
              {s.public_project_count} / {s.private_project_count}
            </dd>
          </div>
          <div>
            <dt>Repositories</dt>
            <dd>{s.total_repo_count}</dd>
          </div>
          <div>
            <dt>Blobs stored</dt>
            <dd>{bytes(s.total_storage_consumption)}</dd>
          </div>
        </dl>
      )}
      <h2>Storage per project</h2>
      <ErrorBanner error={storage.error} />
      {storage.loading && !storage.data && <p class="muted">Loading…</p>}
      {storage.data && storage.data.length === 0 && <EmptyState title="No projects yet.">Projects and the storage they use appear here.</EmptyState>}
      {storage.data && storage.data.length > 0 && (
        <BarChart
          title={storage.data.length > TOP ? `Storage used by the ${TOP} largest projects` : "Storage used by each project"}
          description={`${plural(storage.data.length, "project", "projects")}; the largest, ${storage.data[0].label}, uses ${bytes(storage.data[0].value)}. A blob shared by two projects counts in both.`}
          bars={storage.data.slice(0, TOP)}
          format={bytes}
          labelHeader="Project"
          valueHeader="Storage used"
        />
      )}
    </AdminFrame>
  );
}
