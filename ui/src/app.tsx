import { useEffect, useRef } from "preact/hooks";
import { Layout } from "./components/Layout";
import { NotFound } from "./pages/NotFound";
import { match, navigate, useLocation, type Params } from "./router";
import { HOME, routes, type Route } from "./routes";
import { isAdmin, signInUrl, useSession, verify } from "./session";

export function resolve(path: string): { route: Route; params: Params } | null {
  for (const route of routes) {
    const params = match(route.path, path);
    if (params) return { route, params };
  }
  return null;
}

export function App() {
  const session = useSession();
  const location = useLocation();
  const first = useRef(true);
  const found = resolve(location.path);
  const needsSignIn = session.ready && !session.user && found !== null && !found.route.public;

  useEffect(() => {
    if (location.path === "/") navigate(HOME, true);
    else if (needsSignIn) navigate(signInUrl(location.path + location.query.toString().replace(/^(?=.)/, "?")), true);
  }, [location.path, needsSignIn]);

  const title = found ? found.route.title(found.params) : "Not found";
  useEffect(() => {
    document.title = `${title} · Wharf`;
    // after a navigation, screen readers and keyboards start at the new page's content
    if (first.current) first.current = false;
    else {
      document.getElementById("main")?.focus({ preventScroll: true });
      void verify();
    }
  }, [location.path]);

  if (!session.ready || location.path === "/" || needsSignIn) {
    return (
      <p class="loading" role="status">
        Loading…
      </p>
    );
  }
  if (found?.route.public) return found.route.page(found.params);
  if (!found) return <Layout>{<NotFound />}</Layout>;
  if (found.route.admin && !isAdmin(session)) {
    return <Layout>{<NotFound reason="This page is for system administrators." />}</Layout>;
  }
  return <Layout>{found.route.page(found.params)}</Layout>;
}
