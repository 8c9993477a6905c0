// The audit log page's filters, in the URL (op, type, resource, user, from, to) and as
// Harbor's q: operation=…,resource_type=…,resource=~…,username=~…,op_time=[from~to]
// (names match in part, as in Harbor's portal).

export interface AuditFilters {
  operation: string;
  resourceType: string;
  resource: string;
  username: string;
  /** datetime-local values ("2026-12-02T01:30"), in the viewer's time zone */
  from: string;
  to: string;
}

export const NO_FILTERS: AuditFilters = { operation: "", resourceType: "", resource: "", username: "", from: "", to: "" };

export const FILTER_PARAMS: Record<keyof AuditFilters, string> = {
  operation: "op",
  resourceType: "type",
  resource: "resource",
  username: "user",
  from: "from",
  to: "to",
};

export function filtersOf(query: URLSearchParams): AuditFilters {
  const found = { ...NO_FILTERS };
  for (const [key, param] of Object.entries(FILTER_PARAMS) as [keyof AuditFilters, string][]) {
    found[key] = query.get(param) ?? "";
  }
  return found;
}

/** A datetime-local value (local time) as Harbor's q time, in UTC: 2026-12-02T00:30:00. */
export function utcOf(local: string, endOfMinute = false): string {
  const date = new Date(local);
  if (Number.isNaN(date.getTime())) return "";
  if (endOfMinute) date.setSeconds(59);
  return date.toISOString().slice(0, 19);
}

/** Harbor's q for the filters ("" for none). Values lose the characters q reserves. */
export function auditQuery(filters: AuditFilters): string {
  const clean = (text: string) => text.trim().replace(/[,=~[\]{}()]/g, " ").trim();
  const terms: string[] = [];
  if (clean(filters.operation)) terms.push(`operation=${clean(filters.operation)}`);
  if (clean(filters.resourceType)) terms.push(`resource_type=${clean(filters.resourceType)}`);
  if (clean(filters.resource)) terms.push(`resource=~${clean(filters.resource)}`);
  if (clean(filters.username)) terms.push(`username=~${clean(filters.username)}`);
  const from = filters.from ? utcOf(filters.from) : "";
  const to = filters.to ? utcOf(filters.to, true) : "";
  if (from || to) terms.push(`op_time=[${from}~${to}]`);
  return terms.join(",");
}

/** The operations and resource types named by Harbor's event types (create_user, …). */
export function vocabulary(eventTypes: string[]): { operations: string[]; resourceTypes: string[] } {
  const operations = new Set<string>();
  const resourceTypes = new Set<string>();
  for (const type of eventTypes) {
    const at = type.indexOf("_");
    if (at <= 0) continue;
    operations.add(type.slice(0, at));
    resourceTypes.add(type.slice(at + 1));
  }
  return { operations: [...operations].sort(), resourceTypes: [...resourceTypes].sort() };
}
