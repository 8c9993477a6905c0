// The Administration area (system administrators only; routes.tsx marks every route
// admin, so others get "This page is for system administrators"): one URL per tab.
import type { ComponentChildren } from "preact";
import { PageHeader } from "../../components/Layout";
import { Tabs, type Tab } from "../../components/Tabs";

export const ADMIN = "/admin";

export const ADMIN_TABS: Tab[] = [
  { id: "", label: "System" },
  { id: "users", label: "Users" },
  { id: "audit-log", label: "Audit log" },
  { id: "gc", label: "Garbage collection" },
];

export function AdminFrame({
  tab,
  title,
  actions,
  crumbs = [],
  children,
}: {
  tab: string;
  title: string;
  actions?: ComponentChildren;
  crumbs?: { href: string; label: string }[];
  children: ComponentChildren;
}) {
  return (
    <section>
      <PageHeader title={title} crumbs={tab === "" ? crumbs : [{ href: ADMIN, label: "Administration" }, ...crumbs]}>
        {actions}
      </PageHeader>
      <Tabs base={ADMIN} tabs={ADMIN_TABS} active={tab} label="Administration" />
      {children}
    </section>
  );
}
