// A small client-side router: the path is the state (deep links), the query string holds a
// page's view state (page, sort, search), history.pushState moves between pages.
import { useEffect, useState } from "preact/hooks";

export interface Location {
  path: string;
  query: URLSearchParams;
}

type Listener = () => void;
const listeners = new Set<Listener>();

function current(): Location {
  return { path: window.location.pathname, query: new URLSearchParams(window.location.search) };
}

function notify(): void {
  for (const listener of listeners) listener();
}

window.addEventListener("popstate", notify);

/** Go to `url` (a path with an optional query); `replace` keeps the history entry. */
export function navigate(url: string, replace = false): void {
  const here = window.location.pathname + window.location.search;
  if (url === here) return;
  if (replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  if (!replace) window.scrollTo?.(0, 0);
  notify();
}

/** The current location; the component re-renders when it changes. */
export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const listener = () => setLocation(current());
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  return location;
}

/** Change some query parameters of the current page (null removes one). */
export function setQuery(changes: Record<string, string | number | null>, replace = true): void {
  const query = new URLSearchParams(window.location.search);
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === "") query.delete(key);
    else query.set(key, String(value));
  }
  const text = query.toString();
  navigate(window.location.pathname + (text ? `?${text}` : ""), replace);
}

export type Params = Record<string, string>;

/** Match "/projects/:name/members" against a path: the parameters, or null. */
export function match(pattern: string, path: string): Params | null {
  const want = pattern.split("/").filter(Boolean);
  const got = path.split("/").filter(Boolean);
  const params: Params = {};
  for (let i = 0; i < want.length; i++) {
    const part = want[i];
    if (part.startsWith("*")) {
      // "*rest": the remainder of the path (repository names contain slashes)
      if (i >= got.length) return null;
      params[part.slice(1)] = got.slice(i).map(decodeURIComponent).join("/");
      return params;
    }
    if (i >= got.length) return null;
    if (part.startsWith(":")) params[part.slice(1)] = decodeURIComponent(got[i]);
    else if (part !== got[i]) return null;
  }
  return want.length === got.length ? params : null;
}

/** A path built from segments, each one encoded ("/projects/" + name). */
export function path(...segments: (string | number)[]): string {
  return "/" + segments.map((s) => encodeURIComponent(String(s))).join("/");
}

/** Plain left clicks on same-origin links navigate inside the app. */
export function interceptLinks(root: HTMLElement): () => void {
  const onClick = (event: MouseEvent) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = (event.target as Element | null)?.closest?.("a");
    if (!anchor || anchor.target || anchor.hasAttribute("download")) return;
    if (anchor.dataset.native !== undefined) return; // e.g. the OIDC sign-in: a server route
    const url = new URL(anchor.href, window.location.href);
    if (url.origin !== window.location.origin) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  };
  root.addEventListener("click", onClick);
  return () => root.removeEventListener("click", onClick);
}
