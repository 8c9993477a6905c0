// One garbage collection run: what it was asked, how it ended, its log (refreshed while
// it runs), and a stop button while it runs.
import { useEffect, useState } from "preact/hooks";
import { API, get, put, send } from "../../api/client";
import type { GCHistory } from "../../api/types";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { ErrorBanner } from "../../components/ErrorBanner";
import { dateTime } from "../../format";
import { useLoad } from "../../load";
import { AdminFrame } from "./Admin";
import { outcome, StatusBadge } from "./GC";
import { runFacts } from "./runs";

export function GCRunPage({ id }: { id: string }) {
  const run = useLoad(`gc-${id}`, () => get<GCHistory>(`/system/gc/${encodeURIComponent(id)}`));
  const log = useLoad(`gc-log-${id}`, async () => (await send("GET", `${API}/system/gc/${encodeURIComponent(id)}/log`)).text());
  const [stopping, setStopping] = useState(false);
  const r = run.data;
  const active = r?.job_status === "Running" || r?.job_status === "Pending";

  useEffect(() => {
    if (!active) return;
    const timer = window.setInterval(() => {
      run.reload();
      log.reload();
    }, 2000);
    return () => window.clearInterval(timer);
  }, [active]);

  const facts = r ? runFacts(r) : null;
  return (
    <AdminFrame
      tab="gc"
      title={`Garbage collection run ${id}`}
      crumbs={[{ href: "/admin/gc", label: "Garbage collection" }]}
      actions={
        active && (
          <button type="button" class="button-danger" onClick={() => setStopping(true)}>
            Stop
          </button>
        )
      }
    >
      <ErrorBanner error={run.error} />
      {r && facts && (
        <dl class="facts">
          <div>
            <dt>Status</dt>
            <dd>
              <StatusBadge status={r.job_status} />
            </dd>
          </div>
          <div>
            <dt>Trigger</dt>
            <dd>{r.schedule.type === "Schedule" ? "Scheduled" : r.schedule.type}</dd>
          </div>
          <div>
            <dt>Dry run</dt>
            <dd>{facts.dryRun ? "Yes" : "No"}</dd>
          </div>
          <div>
            <dt>Untagged artifacts</dt>
            <dd>{facts.deleteUntagged ? "Deleted" : "Kept"}</dd>
          </div>
          <div>
            <dt>Started</dt>
            <dd>{dateTime(r.creation_time)}</dd>
          </div>
          <div>
            <dt>Updated</dt>
            <dd>{dateTime(r.update_time)}</dd>
          </div>
        </dl>
      )}
      {r && <p>{outcome(r)}</p>}
      <h2 id="gc-log">Log</h2>
      <ErrorBanner error={log.error} />
      {log.data !== null && (
        <pre class="log" aria-labelledby="gc-log" tabIndex={0}>
          {log.data || "(empty)"}
        </pre>
      )}
      {stopping && (
        <ConfirmDialog
          title={`Stop run ${id}?`}
          confirmLabel="Stop run"
          danger
          onClose={() => setStopping(false)}
          onConfirm={async () => {
            await put(`/system/gc/${encodeURIComponent(id)}`);
            run.reload();
            log.reload();
          }}
        >
          <p>It stops at its next batch; what it deleted stays deleted, and the next run finishes the rest.</p>
        </ConfirmDialog>
      )}
    </AdminFrame>
  );
}
