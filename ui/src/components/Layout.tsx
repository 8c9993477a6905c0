import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { navItems } from "../nav";
import { isAdmin, signOut, useSession } from "../session";
import { effectiveTheme, toggleTheme } from "../theme";
import { useLocation } from "../router";

/** The frame of every signed-in page: skip link, header with navigation, theme, sign-out. */
export function Layout({ children }: { children: ComponentChildren }) {
  const session = useSession();
  const { path } = useLocation();
  const [theme, setTheme] = useState(effectiveTheme);
  const [menuOpen, setMenuOpen] = useState(false);
  const admin = isAdmin(session);
  const items = navItems().filter((item) => !item.admin || admin);
  return (
    <>
      <a class="skip-link" href="#main" data-native>
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="/projects">
          <img src="/favicon.svg" alt="" width="24" height="24" />
          Wharf
        </a>
        <button
          type="button"
          class="menu-toggle button-plain"
          aria-expanded={menuOpen ? "true" : "false"}
          aria-controls="main-nav"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          Menu
        </button>
        <nav id="main-nav" class={menuOpen ? "nav open" : "nav"} aria-label="Main">
          <ul>
            {items.map((item) => (
              <li key={item.href}>
                <a
                  href={item.href}
                  aria-current={path === item.href || path.startsWith(item.href + "/") ? "page" : undefined}
                  onClick={() => setMenuOpen(false)}
                >
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="topbar-end">
          <button
            type="button"
            class="button-plain"
            onClick={() => setTheme(toggleTheme())}
            aria-label={theme === "dark" ? "Switch to light theme" : "Switch to dark theme"}
          >
            {theme === "dark" ? "Light" : "Dark"}
          </button>
          {session.user && (
            <>
              <span class="whoami" title="Signed in">
                {session.user.username}
              </span>
              <button type="button" class="button-plain" onClick={() => void signOut()}>
                Sign out
              </button>
            </>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

/** A page's heading row: title (focused on navigation for screen readers), actions. */
export function PageHeader({ title, children, crumbs }: { title: string; children?: ComponentChildren; crumbs?: { href: string; label: string }[] }) {
  return (
    <div class="page-header">
      {crumbs && crumbs.length > 0 && (
        <nav aria-label="Breadcrumb" class="crumbs">
          <ol>
            {crumbs.map((crumb) => (
              <li key={crumb.href}>
                <a href={crumb.href}>{crumb.label}</a>
              </li>
            ))}
          </ol>
        </nav>
      )}
      <div class="page-title-row">
        <h1>{title}</h1>
        {children && <div class="page-actions">{children}</div>}
      </div>
    </div>
  );
}
