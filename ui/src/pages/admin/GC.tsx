// Garbage collection: run now (a dry run first, if you like), the schedule (presets or a
// cron), what the runs freed over time, and the history with each run's log.
import { useEffect, useState } from "preact/hooks";
import { createdId, get, list, put, send, API } from "../../api/client";
import type { GCHistory } from "../../api/types";
import { Badge } from "../../components/Badge";
import { byteTicks, ColumnChart } from "../../components/Charts";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { EmptyState } from "../../components/EmptyState";
import { ErrorBanner, Notice } from "../../components/ErrorBanner";
import { Table, type Column } from "../../components/Table";
import { bytes, dateTime, plural } from "../../format";
import { useList } from "../../list";
import { useLoad } from "../../load";
import { path } from "../../router";
import { AdminFrame } from "./Admin";
import { freedOverTime, runFacts } from "./runs";
import { cronProblem, PRESETS, SCHEDULE_TYPES, scheduleBody, typeOf, type ScheduleType } from "./schedule";

export function runHref(id: number): string {
  return path("admin", "gc", id);
}

export function StatusBadge({ status }: { status: string }) {
  const tone = status === "Success" ? "ok" : status === "Error" || status === "Stopped" ? "warn" : "info";
  return <Badge tone={tone}>{status || "–"}</Badge>;
}

/** "3 blobs and 1 manifest deleted, 12 MiB freed" (or what a dry run would do). */
export function outcome(run: GCHistory): string {
  const facts = runFacts(run);
  if (facts.freed === null) return run.job_status === "Running" ? "Running…" : "–";
  const what = `${plural(facts.blobs ?? 0, "blob", "blobs")} and ${plural(facts.manifests ?? 0, "manifest", "manifests")}`;
  return facts.dryRun ? `${what} would be deleted, ${bytes(facts.freed)} would be freed` : `${what} deleted, ${bytes(facts.freed)} freed`;
}

export function GCPage() {
  const history = useList<GCHistory>("/system/gc", { defaultSort: "-creation_time", pageSize: 10 });
  const recent = useLoad("gc-recent", () => list<GCHistory>("/system/gc", { pageSize: 100, sort: "-creation_time" }));
  const [notice, setNotice] = useState("");
  const running = (history.data?.items ?? []).some((r) => r.job_status === "Running" || r.job_status === "Pending");

  // while a run is going, look again every 2 seconds
  useEffect(() => {
    if (!running) return;
    const timer = window.setInterval(() => {
      history.reload();
      recent.reload();
    }, 2000);
    return () => window.clearInterval(timer);
  }, [running]);

  const started = (id: number | null, dryRun: boolean) => {
    setNotice(id ? `${dryRun ? "Dry run" : "Garbage collection"} ${id} started.` : "Garbage collection started.");
    history.reload();
    recent.reload();
  };

  const columns: Column<GCHistory>[] = [
    { key: "id", label: "Run", sort: "id", render: (r) => <a href={runHref(r.id)}>Run {r.id}</a> },
    { key: "trigger", label: "Trigger", render: (r) => (r.schedule.type === "Schedule" ? "Scheduled" : r.schedule.type) },
    { key: "dry", label: "Dry run", render: (r) => (runFacts(r).dryRun ? "Yes" : "No") },
    { key: "status", label: "Status", render: (r) => <StatusBadge status={r.job_status} /> },
    { key: "outcome", label: "Outcome", render: outcome },
    { key: "created", label: "Started", sort: "creation_time", render: (r) => dateTime(r.creation_time) },
    { key: "updated", label: "Updated", sort: "update_time", render: (r) => dateTime(r.update_time) },
    {
      key: "log",
      label: "Log",
      kind: "actions",
      render: (r) => (
        <a href={runHref(r.id)} aria-label={`Log of run ${r.id}`}>
          Log
        </a>
      ),
    },
  ];

  return (
    <AdminFrame tab="gc" title="Garbage collection">
      <p class="muted">
        Garbage collection deletes the blobs and manifests nothing refers to any more, and frees their space. Pushes and pulls go on while it runs.
      </p>
      <Notice text={notice} onDismiss={() => setNotice("")} />
      <div class="panel-row">
        <RunNow onStarted={started} />
        <ScheduleEditor />
      </div>
      <h2>Space freed</h2>
      <FreedChart runs={recent.data?.items ?? []} error={recent.error} loading={recent.loading} />
      <h2>History</h2>
      <ErrorBanner error={history.error} />
      <Table
        caption="Garbage collection runs, newest first"
        columns={columns}
        rows={history.data?.items ?? []}
        rowKey={(r) => r.id}
        sort={history.sort}
        onSort={history.setSort}
        page={history.page}
        pageSize={history.pageSize}
        total={history.data?.total}
        onPage={history.setPage}
        loading={history.loading}
        empty={<EmptyState title="No garbage collection has run yet.">Start one above, or set a schedule.</EmptyState>}
      />
    </AdminFrame>
  );
}

function RunNow({ onStarted }: { onStarted: (id: number | null, dryRun: boolean) => void }) {
  const [deleteUntagged, setDeleteUntagged] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const start = async (dryRun: boolean) => {
    const response = await send("POST", `${API}/system/gc/schedule`, {
      body: { schedule: { type: "Manual" }, parameters: { delete_untagged: deleteUntagged, dry_run: dryRun } },
    });
    onStarted(createdId(response), dryRun);
  };

  return (
    <section class="panel" aria-labelledby="gc-run-now">
      <h2 id="gc-run-now">Run now</h2>
      <div class="form">
        <label class="check">
          <input type="checkbox" checked={deleteUntagged} onChange={(e) => setDeleteUntagged((e.target as HTMLInputElement).checked)} />
          Also delete untagged artifacts
        </label>
        <p class="hint">A dry run only counts what would be deleted and deletes nothing.</p>
        <ErrorBanner error={error} />
        <div class="actions-row">
          <button
            type="button"
            disabled={busy}
            onClick={async () => {
              setBusy(true);
              setError(null);
              try {
                await start(true);
              } catch (failure) {
                setError(failure);
              } finally {
                setBusy(false);
              }
            }}
          >
            Dry run
          </button>
          <button type="button" class="button-primary" disabled={busy} onClick={() => setConfirm(true)}>
            Run garbage collection
          </button>
        </div>
      </div>
      {confirm && (
        <ConfirmDialog title="Run garbage collection now?" confirmLabel="Run now" danger onClose={() => setConfirm(false)} onConfirm={() => start(false)}>
          <p>
            Blobs and manifests nothing refers to are deleted for good{deleteUntagged ? ", and so are untagged artifacts" : ""}. Content pushed in the last hour is
            kept.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function ScheduleEditor() {
  const current = useLoad("gc-schedule", () => get<GCHistory>("/system/gc/schedule"));
  const [type, setType] = useState<ScheduleType>("None");
  const [cron, setCron] = useState("");
  const [deleteUntagged, setDeleteUntagged] = useState(false);
  const [workers, setWorkers] = useState(""); // "": the server's default
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState("");
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const s = current.data;
    if (!s) return;
    const shown = typeOf(s.schedule.type, s.schedule.cron);
    setType(shown);
    setCron(s.schedule.cron || "0 0 3 * * *");
    const facts = runFacts(s);
    setDeleteUntagged(facts.deleteUntagged);
    setWorkers(facts.workers === null ? "" : String(facts.workers));
  }, [current.data]);

  const problem = type === "Custom" ? cronProblem(cron) : "";
  const next = current.data?.schedule.next_scheduled_time;
  const hasNext = next && !next.startsWith("0001-");

  return (
    <section class="panel" aria-labelledby="gc-schedule">
      <h2 id="gc-schedule">Schedule</h2>
      <p>
        {current.data && typeOf(current.data.schedule.type, current.data.schedule.cron) !== "None" ? (
          <>
            Runs <strong>{typeOf(current.data.schedule.type, current.data.schedule.cron).toLowerCase()}</strong> (<code>{current.data.schedule.cron}</code>)
            {hasNext ? <>; next at {dateTime(next)}</> : null}.
          </>
        ) : (
          "No schedule: garbage collection runs only when started by hand."
        )}
      </p>
      <ErrorBanner error={current.error ?? error} />
      <Notice text={saved} onDismiss={() => setSaved("")} />
      <form
        class="form"
        onSubmit={async (event) => {
          event.preventDefault();
          if (problem) return;
          setBusy(true);
          setError(null);
          setSaved("");
          try {
            const parameters = workers.trim() ? { delete_untagged: deleteUntagged, workers: Number(workers) } : { delete_untagged: deleteUntagged };
            await put("/system/gc/schedule", scheduleBody(type, cron, parameters));
            setSaved(type === "None" ? "The schedule was removed." : "The schedule was saved.");
            current.reload();
          } catch (failure) {
            setError(failure);
          } finally {
            setBusy(false);
          }
        }}
      >
        <fieldset>
          <legend>When</legend>
          {SCHEDULE_TYPES.map((option) => (
            <label class="check" key={option.type}>
              <input type="radio" name="gc-schedule-type" value={option.type} checked={type === option.type} onChange={() => setType(option.type)} />
              {option.label}
              {option.type !== "None" && option.type !== "Custom" && <code class="hint">{PRESETS[option.type]}</code>}
            </label>
          ))}
        </fieldset>
        {type === "Custom" && (
          <div class="field">
            <label for="gc-cron">Cron expression</label>
            <input
              id="gc-cron"
              value={cron}
              spellcheck={false}
              aria-invalid={problem ? "true" : "false"}
              aria-describedby="gc-cron-help"
              onInput={(e) => setCron((e.target as HTMLInputElement).value)}
            />
            <span id="gc-cron-help" class="hint" aria-live="polite">
              {problem || "In UTC: second minute hour day-of-month month day-of-week (or five fields, without seconds). “0 30 2 * * 1-5”: 02:30 on weekdays."}
            </span>
          </div>
        )}
        <label class="check">
          <input type="checkbox" checked={deleteUntagged} onChange={(e) => setDeleteUntagged((e.target as HTMLInputElement).checked)} />
          Also delete untagged artifacts
        </label>
        <div class="field">
          <label for="gc-workers">Workers</label>
          <input
            id="gc-workers"
            type="number"
            min={1}
            max={10}
            value={workers}
            aria-describedby="gc-workers-help"
            onInput={(e) => setWorkers((e.target as HTMLInputElement).value)}
          />
          <span id="gc-workers-help" class="hint">
            Deletions in flight at once (1–10); empty: Wharf’s default.
          </span>
        </div>
        <div>
          <button type="submit" class="button-primary" disabled={busy || Boolean(problem)}>
            Save schedule
          </button>
        </div>
      </form>
    </section>
  );
}

function FreedChart({ runs, error, loading }: { runs: GCHistory[]; error: unknown; loading: boolean }) {
  if (error) return <ErrorBanner error={error} />;
  if (loading && runs.length === 0) return <p class="muted">Loading…</p>;
  const points = freedOverTime(runs);
  if (points.length === 0) {
    return <EmptyState title="No finished garbage collection yet.">Once a run (not a dry run) finishes, the space it freed shows here.</EmptyState>;
  }
  const total = points.reduce((sum, p) => sum + p.freed, 0);
  const biggest = points.reduce((a, b) => (b.freed > a.freed ? b : a));
  // within a day the time of day tells the runs apart; over longer spans, the date
  const sameDay = Date.parse(points[points.length - 1].time) - Date.parse(points[0].time) < 86400000;
  return (
    <ColumnChart
      title="Space freed by each garbage collection run"
      description={`${plural(points.length, "run", "runs")} freed ${bytes(total)} in all; the most, ${bytes(biggest.freed)}, by run ${biggest.id} on ${dateTime(biggest.time)}.`}
      points={points.map((p) => ({ time: p.time, value: p.freed, label: `Run ${p.id}, ${dateTime(p.time)}` }))}
      format={bytes}
      timeLabel={(time) => (sameDay ? dateTime(time).slice(11) : dateTime(time).slice(5, 10))}
      ticksOf={byteTicks}
      labelHeader="Run"
      valueHeader="Freed"
    />
  );
}
