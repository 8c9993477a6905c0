// The one way the UI talks to Wharf: Harbor's /api/v2.0 and the /c sign-in endpoints.
// - changes (POST, PUT, PATCH, DELETE) echo the `__csrf` cookie in X-Harbor-CSRF-Token
//   (the session cookie `sid` is HttpOnly; the browser sends it by itself);
// - an error answer ({"errors": [{code, message}]}) becomes an ApiError whose message is
//   plain words for a person;
// - a 401 tells the session (onUnauthorized), which sends the browser to the sign-in page;
// - lists come with X-Total-Count and a Link header: see `list`.

export const API = "/api/v2.0";
export const CSRF_COOKIE = "__csrf";
export const CSRF_HEADER = "X-Harbor-CSRF-Token";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** the API's own message, unchanged */
  readonly detail: string;

  constructor(status: number, code: string, detail: string) {
    super(plainWords(status, code, detail));
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

/** What a person reads for an error answer: what happened, then the server's reason. */
export function plainWords(status: number, code: string, detail: string): string {
  const reason = detail.trim().replace(/\.$/, "");
  const withReason = (lead: string) => (reason ? `${lead}: ${reason}.` : `${lead}.`);
  if (status === 0) return withReason("Wharf cannot be reached (check your connection)");
  if (status === 400) return withReason("That request was not accepted");
  if (status === 401) return "Your session has ended. Please sign in again.";
  if (status === 403) return withReason("You do not have permission to do that");
  if (status === 404) return withReason("Not found");
  if (status === 409) return withReason("That conflicts with what exists already");
  if (status === 412) return withReason("That cannot be done now");
  if (status === 413) return withReason("That is too large");
  if (status === 429) return "Too many attempts. Please wait a moment and try again.";
  if (status >= 500) return withReason(`Wharf had a problem (${code || status})`);
  return withReason(`The request failed (${status})`);
}

export function cookie(name: string): string {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

type Unauthorized = (error: ApiError) => void;
let unauthorized: Unauthorized = () => {};

/** Called on every 401 of an API call (the session module sends the browser to sign in). */
export function onUnauthorized(handler: Unauthorized): void {
  unauthorized = handler;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  query?: Query;
  /** JSON body, or a URLSearchParams sent as a form */
  body?: unknown;
  /** a 401 is the caller's business (the sign-in form), not "session ended" */
  quiet401?: boolean;
  signal?: AbortSignal;
}

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

async function errorOf(response: Response): Promise<ApiError> {
  let code = "";
  let detail = "";
  try {
    const body: unknown = await response.json();
    const first = (body as { errors?: { code?: string; message?: string }[] })?.errors?.[0];
    code = first?.code ?? "";
    detail = first?.message ?? "";
  } catch {
    detail = "";
  }
  return new ApiError(response.status, code, detail);
}

/** One request; resolves to the Response of a 2xx answer, else throws ApiError. */
export async function send(method: string, url: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  let body: BodyInit | undefined;
  if (options.body instanceof URLSearchParams) {
    body = options.body;
  } else if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  if (method !== "GET" && method !== "HEAD") {
    const token = cookie(CSRF_COOKIE);
    if (token) headers[CSRF_HEADER] = token;
  }
  let response: Response;
  try {
    response = await fetch(withQuery(url, options.query), {
      method,
      headers,
      body,
      credentials: "same-origin",
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, "", "");
  }
  if (response.ok) return response;
  const error = await errorOf(response);
  if (response.status === 401 && !options.quiet401) unauthorized(error);
  throw error;
}

async function json<T>(response: Response): Promise<T> {
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export async function get<T>(path: string, options: RequestOptions = {}): Promise<T> {
  return json<T>(await send("GET", API + path, options));
}

export async function post<T = undefined>(path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
  return json<T>(await send("POST", API + path, { ...options, body }));
}

export async function put<T = undefined>(path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
  return json<T>(await send("PUT", API + path, { ...options, body }));
}

export async function patch<T = undefined>(path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
  return json<T>(await send("PATCH", API + path, { ...options, body }));
}

export async function del(path: string, options: RequestOptions = {}): Promise<void> {
  await send("DELETE", API + path, options);
}

/** The id of a created resource, from the Location header of a 201. */
export function createdId(response: Response): number | null {
  const location = response.headers.get("Location") ?? "";
  const id = Number(location.split("/").pop());
  return Number.isInteger(id) ? id : null;
}

export interface Page<T> {
  items: T[];
  /** X-Total-Count; the number of items when the server sent none */
  total: number;
  /** whether the Link header names a next page */
  hasNext: boolean;
}

export interface ListQuery {
  page?: number;
  pageSize?: number;
  /** Harbor's sort: "name", "-creation_time" */
  sort?: string;
  /** Harbor's q: "name=~nginx,public=true" */
  q?: string;
  extra?: Query;
}

/** The rel="next" (or other) target of a Link header. */
export function linkTarget(header: string | null, rel: string): string | null {
  if (!header) return null;
  for (const part of header.split(",")) {
    const match = /<([^>]*)>\s*;\s*rel="?([^";]+)"?/.exec(part.trim());
    if (match && match[2] === rel) return match[1];
  }
  return null;
}

/** A page of a Harbor list with its total. */
export async function list<T>(path: string, query: ListQuery = {}, signal?: AbortSignal): Promise<Page<T>> {
  const response = await send("GET", API + path, {
    signal,
    query: {
      page: query.page ?? 1,
      page_size: query.pageSize ?? 15,
      sort: query.sort,
      q: query.q,
      ...query.extra,
    },
  });
  const items = (await json<T[] | null>(response)) ?? [];
  const header = response.headers.get("X-Total-Count");
  const total = header !== null && header !== "" ? Number(header) : items.length;
  return { items, total, hasNext: linkTarget(response.headers.get("Link"), "next") !== null };
}
