// Who is signed in. The session itself is the server's `sid` cookie (HttpOnly); the UI
// keeps the current user and the system information, signs in with Harbor's form
// endpoint (POST /c/login) and sends the browser back to sign in when a call answers 401.
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, onUnauthorized, send } from "./api/client";
import type { SystemInfo, User } from "./api/types";
import { navigate } from "./router";

export interface Session {
  /** false until the first check (who is signed in) answered */
  ready: boolean;
  user: User | null;
  system: SystemInfo;
  /** why the user was sent to sign in (shown on the sign-in page) */
  notice: string;
}

let state: Session = { ready: false, user: null, system: {}, notice: "" };
const listeners = new Set<(s: Session) => void>();

function set(changes: Partial<Session>): void {
  state = { ...state, ...changes };
  for (const listener of listeners) listener(state);
}

export function session(): Session {
  return state;
}

export function useSession(): Session {
  const [value, setValue] = useState(state);
  useEffect(() => {
    listeners.add(setValue);
    setValue(state);
    return () => {
      listeners.delete(setValue);
    };
  }, []);
  return value;
}

export const SIGN_IN = "/sign-in";

/** The sign-in page's URL that comes back to `next` afterwards. */
export function signInUrl(next: string): string {
  return next && next !== "/" && !next.startsWith(SIGN_IN)
    ? `${SIGN_IN}?next=${encodeURIComponent(next)}`
    : SIGN_IN;
}

/** A same-site path to go to after signing in (never another origin). */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/projects";
}

/** Ask the server who we are (the session cookie decides). */
export async function load(): Promise<void> {
  let system: SystemInfo = {};
  try {
    system = await get<SystemInfo>("/systeminfo", { quiet401: true });
  } catch {
    system = {};
  }
  let user: User | null = null;
  try {
    user = await get<User>("/users/current", { quiet401: true });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) {
      user = null;
    }
  }
  set({ ready: true, user, system });
}

/** Sign in with a username and password (local or LDAP users); throws ApiError. */
export async function signIn(username: string, password: string): Promise<void> {
  const form = new URLSearchParams({ principal: username, password });
  await send("POST", "/c/login", { body: form, quiet401: true });
  const user = await get<User>("/users/current", { quiet401: true });
  set({ user, notice: "" });
}

export async function signOut(): Promise<void> {
  try {
    await send("GET", "/c/log_out", { quiet401: true });
  } finally {
    set({ user: null, notice: "You are signed out." });
    navigate(SIGN_IN);
  }
}

/**
 * Whether the server still knows us: called on every navigation. Public projects answer
 * anonymous callers too, so an ended session would otherwise show a silently smaller
 * world instead of the sign-in page; GET /users/current answers 401 to anonymous callers.
 */
export async function verify(): Promise<void> {
  if (!state.user) return;
  try {
    await get<User>("/users/current");
  } catch {
    // a 401 went to expired() already; other failures show on the page's own calls
  }
}

/** A 401 from any call: the session expired (or the user was disabled). */
export function expired(): void {
  if (window.location.pathname === SIGN_IN) return;
  const next = window.location.pathname + window.location.search;
  set({ user: null, notice: "Your session has ended. Please sign in again." });
  navigate(signInUrl(next));
}

onUnauthorized(expired);

/** Whether the signed-in user is a system administrator. */
export function isAdmin(s: Session = state): boolean {
  return Boolean(s.user?.sysadmin_flag);
}
