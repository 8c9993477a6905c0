import type { ComponentChildren } from "preact";

export interface Column<T> {
  /** unique per table */
  key: string;
  label: string;
  render: (row: T) => ComponentChildren;
  /** Harbor's sort key ("name", "creation_time"); the header becomes a sort button */
  sort?: string;
  /** "num" right-aligns; "actions" for buttons */
  kind?: "num" | "actions";
}

export interface TableProps<T> {
  /** read by screen readers; also the table's accessible name */
  caption: string;
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string | number;
  /** Harbor's sort expression now in force: "name" or "-name" */
  sort?: string;
  onSort?: (sort: string) => void;
  page?: number;
  pageSize?: number;
  total?: number;
  onPage?: (page: number) => void;
  loading?: boolean;
  /** shown instead of the table when there are no rows (and nothing is loading) */
  empty?: ComponentChildren;
}

/** The sort after clicking `key`: ascending first, then descending. */
export function nextSort(current: string | undefined, key: string): string {
  return current === key ? `-${key}` : key;
}

function ariaSort(current: string | undefined, key: string): "ascending" | "descending" | undefined {
  if (current === key) return "ascending";
  if (current === `-${key}`) return "descending";
  return undefined;
}

/** A paginated, sortable table; the page and sort live in the caller (the URL query). */
export function Table<T>(props: TableProps<T>) {
  const { caption, columns, rows, rowKey, sort, onSort, loading, empty } = props;
  if (!loading && rows.length === 0 && empty) return <>{empty}</>;
  return (
    <div class="table-wrap">
      <table class="table" aria-busy={loading ? "true" : "false"}>
        <caption class="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {columns.map((column) => {
              const direction = column.sort ? ariaSort(sort, column.sort) : undefined;
              return (
                <th scope="col" key={column.key} class={column.kind ? `col-${column.kind}` : undefined} aria-sort={direction}>
                  {column.sort && onSort ? (
                    <button type="button" class="sort" onClick={() => onSort(nextSort(sort, column.sort as string))}>
                      {column.label}
                      <span aria-hidden="true" class="sort-mark">
                        {direction === "ascending" ? "▲" : direction === "descending" ? "▼" : "↕"}
                      </span>
                    </button>
                  ) : (
                    column.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)}>
              {columns.map((column) => (
                <td key={column.key} class={column.kind ? `col-${column.kind}` : undefined} data-label={column.label}>
                  {column.render(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {loading && rows.length === 0 && <p class="muted">Loading…</p>}
      <Pagination {...props} />
    </div>
  );
}

export function Pagination({
  page = 1,
  pageSize = 15,
  total,
  onPage,
  caption,
}: Pick<TableProps<unknown>, "page" | "pageSize" | "total" | "onPage" | "caption">) {
  if (total === undefined || !onPage) return null;
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const first = total === 0 ? 0 : (page - 1) * pageSize + 1;
  const last = Math.min(total, page * pageSize);
  return (
    <nav class="pagination" aria-label={`${caption}: pages`}>
      <span>
        {first}–{last} of {total}
      </span>
      <button type="button" class="button-small" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span>
        Page {page} of {pages}
      </span>
      <button type="button" class="button-small" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}
