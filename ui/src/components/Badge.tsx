import type { ComponentChildren } from "preact";

export function Badge({ tone = "neutral", children }: { tone?: "neutral" | "ok" | "warn" | "info"; children: ComponentChildren }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}
