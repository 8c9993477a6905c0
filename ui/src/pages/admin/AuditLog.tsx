// The whole audit log (/auditlog-exts), filtered by operation, resource type, resource,
// user and a time range; the filters and the page live in the URL. Operation and resource
// type suggest Harbor's event types (/auditlog-exts/events) and take any other word too:
// Wharf also records tags, blobs, labels, registries and GC runs.
import { useEffect, useState } from "preact/hooks";
import { get } from "../../api/client";
import type { AuditLogEventType, AuditLogExt } from "../../api/types";
import { Badge } from "../../components/Badge";
import { EmptyState } from "../../components/EmptyState";
import { ErrorBanner } from "../../components/ErrorBanner";
import { Table, type Column } from "../../components/Table";
import { dateTime } from "../../format";
import { useList } from "../../list";
import { useLoad } from "../../load";
import { setQuery, useLocation } from "../../router";
import { AdminFrame } from "./Admin";
import { auditQuery, FILTER_PARAMS, filtersOf, NO_FILTERS, vocabulary, type AuditFilters } from "./audit";

export function AuditLogPage() {
  const { query } = useLocation();
  const applied = filtersOf(query);
  const q = auditQuery(applied);
  const events = useList<AuditLogExt>("/auditlog-exts", { pageSize: 20, extra: { q } });
  const types = useLoad("audit-event-types", () => get<AuditLogEventType[]>("/auditlog-exts/events"));
  const { operations, resourceTypes } = vocabulary((types.data ?? []).map((t) => t.event_type));
  const [draft, setDraft] = useState<AuditFilters>(applied);
  const appliedKey = JSON.stringify(applied);
  useEffect(() => setDraft(applied), [appliedKey]);

  const apply = (filters: AuditFilters) => {
    const changes: Record<string, string | null> = { page: null };
    for (const [key, param] of Object.entries(FILTER_PARAMS) as [keyof AuditFilters, string][]) {
      changes[param] = filters[key].trim() || null;
    }
    setQuery(changes, false);
  };
  const input = (key: keyof AuditFilters) => ({
    value: draft[key],
    onInput: (event: Event) => setDraft({ ...draft, [key]: (event.target as HTMLInputElement).value }),
  });
  const filtered = q !== "";

  const columns: Column<AuditLogExt>[] = [
    { key: "time", label: "Time", render: (e) => <time dateTime={e.op_time ?? undefined}>{dateTime(e.op_time)}</time> },
    { key: "user", label: "User", render: (e) => e.username },
    { key: "operation", label: "Operation", render: (e) => e.operation },
    { key: "type", label: "Resource type", render: (e) => e.resource_type },
    { key: "resource", label: "Resource", render: (e) => <code>{e.resource}</code> },
    {
      key: "result",
      label: "Result",
      render: (e) => (e.operation_result ? <Badge tone="ok">Success</Badge> : <Badge tone="warn">Failed</Badge>),
    },
    { key: "description", label: "Description", render: (e) => e.operation_description },
  ];

  return (
    <AdminFrame tab="audit-log" title="Audit log">
      <form
        class="filters"
        aria-label="Filter the audit log"
        onSubmit={(event) => {
          event.preventDefault();
          apply(draft);
        }}
      >
        <label>
          Operation
          <input type="search" list="audit-operations" placeholder="Any" {...input("operation")} />
        </label>
        <datalist id="audit-operations">
          {operations.map((op) => (
            <option key={op} value={op} />
          ))}
        </datalist>
        <label>
          Resource type
          <input type="search" list="audit-resource-types" placeholder="Any" {...input("resourceType")} />
        </label>
        <datalist id="audit-resource-types">
          {resourceTypes.map((type) => (
            <option key={type} value={type} />
          ))}
        </datalist>
        <label>
          Resource contains
          <input type="search" {...input("resource")} />
        </label>
        <label>
          User name contains
          <input type="search" {...input("username")} />
        </label>
        <label>
          From
          <input type="datetime-local" {...input("from")} />
        </label>
        <label>
          Until
          <input type="datetime-local" {...input("to")} />
        </label>
        <div class="filter-actions">
          <button type="submit" class="button-primary">
            Apply filters
          </button>
          <button type="button" disabled={!filtered} onClick={() => apply(NO_FILTERS)}>
            Clear
          </button>
        </div>
      </form>
      <ErrorBanner error={events.error ?? types.error} />
      <Table
        caption="Audit log events, newest first"
        columns={columns}
        rows={events.data?.items ?? []}
        rowKey={(e) => e.id}
        page={events.page}
        pageSize={events.pageSize}
        total={events.data?.total}
        onPage={events.setPage}
        loading={events.loading}
        empty={
          filtered ? (
            <EmptyState title="No event matches these filters.">Widen the time range or clear a filter.</EmptyState>
          ) : (
            <EmptyState title="The audit log is empty.">Pushes, pulls, deletions, sign-ins and permission changes appear here as they happen.</EmptyState>
          )
        }
      />
    </AdminFrame>
  );
}
