import { path as buildPath } from "../router";

export interface Tab {
  /** the last path segment ("members"); "" for the default tab */
  id: string;
  label: string;
}

/** Tabs as links (each tab has its URL): base + "/" + id. */
export function Tabs({ base, tabs, active, label }: { base: string; tabs: Tab[]; active: string; label: string }) {
  return (
    <nav class="tabs" aria-label={label}>
      <ul>
        {tabs.map((tab) => (
          <li key={tab.id}>
            <a href={tab.id ? `${base}/${buildPath(tab.id).slice(1)}` : base} aria-current={tab.id === active ? "page" : undefined}>
              {tab.label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
