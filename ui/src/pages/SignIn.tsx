import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api/client";
import { ErrorBanner, Notice } from "../components/ErrorBanner";
import { navigate, useLocation } from "../router";
import { safeNext, signIn, useSession } from "../session";
import { effectiveTheme, toggleTheme } from "../theme";

const MODES: Record<string, string> = {
  db_auth: "Sign in with your Wharf account.",
  ldap_auth: "Sign in with your directory (LDAP) account.",
  oidc_auth: "Sign in through your identity provider, or with a local account.",
};

export function SignIn() {
  const session = useSession();
  const { query } = useLocation();
  const next = safeNext(query.get("next"));
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [theme, setTheme] = useState(effectiveTheme);
  const oidc = session.system.auth_mode === "oidc_auth";

  useEffect(() => {
    if (session.user) navigate(next, true);
  }, [session.user]);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(username, password);
    } catch (failure) {
      setError(
        failure instanceof ApiError && failure.status === 401
          ? new Error("The username or password is wrong.")
          : failure instanceof ApiError && failure.status === 403 && oidc
            ? new Error("Only system administrators use this form here: use “Login via OIDC provider”.")
            : failure,
      );
      setBusy(false);
    }
  };

  return (
    <main id="main" class="sign-in" tabIndex={-1}>
      <div class="sign-in-card">
        <h1>
          <img src="/favicon.svg" alt="" width="32" height="32" /> Wharf
        </h1>
        <p class="muted">{MODES[session.system.auth_mode ?? ""] ?? "Sign in to the registry."}</p>
        <Notice text={session.notice} />
        <ErrorBanner error={error} />
        {oidc && (
          <p>
            <a class="button button-primary button-wide" data-native href={`/c/oidc/login?redirect_url=${encodeURIComponent(next)}`}>
              Login via OIDC provider
              {session.system.oidc_provider_name ? ` (${session.system.oidc_provider_name})` : ""}
            </a>
          </p>
        )}
        <form onSubmit={submit} class="form">
          <label>
            Username
            <input
              name="username"
              autocomplete="username"
              required
              value={username}
              onInput={(e) => setUsername((e.target as HTMLInputElement).value)}
            />
          </label>
          <label>
            Password
            <input
              name="password"
              type="password"
              autocomplete="current-password"
              required
              value={password}
              onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
            />
          </label>
          <button type="submit" class={oidc ? "button-wide" : "button-primary button-wide"} disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
        <p class="sign-in-foot">
          <button type="button" class="button-plain" onClick={() => setTheme(toggleTheme())}>
            {theme === "dark" ? "Light theme" : "Dark theme"}
          </button>
        </p>
      </div>
    </main>
  );
}
