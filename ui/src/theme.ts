// Light and dark: the system's preference (prefers-color-scheme) unless the user chose one
// with the toggle; the choice is remembered in localStorage.
export type Theme = "light" | "dark";
const KEY = "wharf.theme";

export function chosenTheme(): Theme | null {
  try {
    const value = window.localStorage.getItem(KEY);
    return value === "light" || value === "dark" ? value : null;
  } catch {
    return null;
  }
}

export function systemTheme(): Theme {
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function effectiveTheme(): Theme {
  return chosenTheme() ?? systemTheme();
}

export function applyTheme(theme: Theme | null): void {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

/** Switch to the other theme and remember it. */
export function toggleTheme(): Theme {
  const next: Theme = effectiveTheme() === "dark" ? "light" : "dark";
  try {
    window.localStorage.setItem(KEY, next);
  } catch {
    // private mode: the choice lasts for this page only
  }
  applyTheme(next);
  return next;
}
