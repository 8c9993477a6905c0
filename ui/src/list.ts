// useList: a page of a Harbor list whose page, sort and search live in the URL's query
// (so a list view is a deep link too). Pages pass how to turn the search box into `q`.
import { useCallback, useEffect, useState } from "preact/hooks";
import { list, type Page, type Query } from "./api/client";
import { setQuery, useLocation } from "./router";

export interface ListOptions {
  /** the sort when the URL has none */
  defaultSort?: string;
  pageSize?: number;
  /** Harbor's q for the search text: (s) => `name=~${s}` */
  filter?: (search: string) => string;
  /** the endpoint's own search parameter instead of q ("entityname" of members) */
  searchParam?: string;
  /** further query parameters of the endpoint */
  extra?: Query;
  /** prefix of this list's URL parameters, when a page shows two lists */
  prefix?: string;
}

export interface ListState<T> {
  page: number;
  pageSize: number;
  sort: string;
  search: string;
  data: Page<T> | null;
  error: unknown;
  loading: boolean;
  setPage: (page: number) => void;
  setSort: (sort: string) => void;
  setSearch: (search: string) => void;
  reload: () => void;
}

export function useList<T>(path: string | null, options: ListOptions = {}): ListState<T> {
  const { query } = useLocation();
  const p = options.prefix ?? "";
  const page = Math.max(1, Number(query.get(`${p}page`)) || 1);
  const pageSize = options.pageSize ?? 15;
  const sort = query.get(`${p}sort`) ?? options.defaultSort ?? "";
  const search = query.get(`${p}q`) ?? "";
  const [data, setData] = useState<Page<T> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const q = search && options.filter ? options.filter(search) : undefined;
  const searchExtra = search && options.searchParam ? { [options.searchParam]: search } : {};
  const extra = JSON.stringify({ ...options.extra, ...searchExtra });

  useEffect(() => {
    if (path === null) return;
    const controller = new AbortController();
    setLoading(true);
    list<T>(path, { page, pageSize, sort: sort || undefined, q, extra: JSON.parse(extra) as Query }, controller.signal)
      .then((result) => {
        setData(result);
        setError(null);
        setLoading(false);
      })
      .catch((failure: unknown) => {
        if (failure instanceof DOMException && failure.name === "AbortError") return;
        setError(failure);
        setLoading(false);
      });
    return () => controller.abort();
  }, [path, page, pageSize, sort, q, extra, generation]);

  return {
    page,
    pageSize,
    sort,
    search,
    data,
    error,
    loading,
    setPage: (next) => setQuery({ [`${p}page`]: next > 1 ? next : null }),
    setSort: (next) => setQuery({ [`${p}sort`]: next, [`${p}page`]: null }),
    setSearch: (next) => setQuery({ [`${p}q`]: next.trim() || null, [`${p}page`]: null }),
    reload: useCallback(() => setGeneration((g) => g + 1), []),
  };
}
