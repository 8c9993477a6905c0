import type { AuditLog, Project } from "../../api/types";
import { Badge } from "../../components/Badge";
import { EmptyState } from "../../components/EmptyState";
import { ErrorBanner } from "../../components/ErrorBanner";
import { SearchBox } from "../../components/SearchBox";
import { Table, type Column } from "../../components/Table";
import { dateTime } from "../../format";
import { useList } from "../../list";
import { setQuery, useLocation } from "../../router";
import { projectApi } from "./access";

const OPERATIONS = ["create", "delete", "pull", "update"];

/** Harbor's q for the filters: who (fuzzy) and what operation. */
export function logFilter(search: string, operation: string): string | undefined {
  const terms = [];
  if (search) terms.push(`username=~${search}`);
  if (operation) terms.push(`operation=${operation}`);
  return terms.length ? terms.join(",") : undefined;
}

export function ProjectLogs({ project }: { project: Project }) {
  const { query } = useLocation();
  const operation = query.get("operation") ?? "";
  const logs = useList<AuditLog>(`${projectApi(project)}/logs`, {
    defaultSort: "-op_time",
    extra: { q: logFilter(query.get("q") ?? "", operation) },
  });
  const columns: Column<AuditLog>[] = [
    { key: "time", label: "Time", sort: "op_time", render: (e) => dateTime(e.op_time) },
    { key: "user", label: "User", render: (e) => e.username },
    { key: "operation", label: "Operation", render: (e) => e.operation },
    { key: "resource", label: "Resource", render: (e) => <code>{e.resource}</code> },
    { key: "type", label: "Type", render: (e) => e.resource_type },
    {
      key: "result",
      label: "Result",
      render: (e) =>
        e.result && e.result !== "success" ? <Badge tone="warn">{e.result}</Badge> : <Badge tone="ok">success</Badge>,
    },
  ];
  return (
    <div>
      <div class="toolbar">
        <SearchBox label="Filter by user" value={logs.search} onSearch={logs.setSearch} />
        <label>
          Operation{" "}
          <select value={operation} onChange={(e) => setQuery({ operation: (e.target as HTMLSelectElement).value, page: null })}>
            <option value="">Any</option>
            {OPERATIONS.map((op) => (
              <option key={op} value={op}>
                {op}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBanner error={logs.error} />
      <Table
        caption={`Audit log of ${project.name}`}
        columns={columns}
        rows={logs.data?.items ?? []}
        rowKey={(e) => e.id}
        sort={logs.sort}
        onSort={logs.setSort}
        page={logs.page}
        pageSize={logs.pageSize}
        total={logs.data?.total}
        onPage={logs.setPage}
        loading={logs.loading}
        empty={
          logs.search || operation ? (
            <EmptyState title="No event matches these filters.">Change or clear the filters.</EmptyState>
          ) : (
            <EmptyState title="Nothing happened in this project yet.">
              Pushes, pulls, deletes and membership changes show here.
            </EmptyState>
          )
        }
      />
    </div>
  );
}
