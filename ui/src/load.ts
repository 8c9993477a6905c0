// useLoad: one API answer for a page (a project, a summary), reloadable.
import { useCallback, useEffect, useState } from "preact/hooks";

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `fetcher` whenever `key` changes (null: nothing to load yet). */
export function useLoad<T>(key: string | null, fetcher: () => Promise<T>): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    if (key === null) return;
    let live = true;
    setLoading(true);
    fetcher()
      .then((value) => {
        if (!live) return;
        setData(value);
        setError(null);
        setLoading(false);
      })
      .catch((failure: unknown) => {
        if (!live) return;
        setError(failure);
        setLoading(false);
      });
    return () => {
      live = false;
    };
    // the fetcher is a new closure every render; `key` says when the answer changes
  }, [key, generation]);
  return { data, error, loading, reload: useCallback(() => setGeneration((g) => g + 1), []) };
}
