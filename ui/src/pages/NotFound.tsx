import { EmptyState } from "../components/EmptyState";

export function NotFound({ reason }: { reason?: string }) {
  return (
    <section>
      <h1>Page not found</h1>
      <EmptyState title={reason ?? "There is no page at this address."} action={<a href="/projects">Go to the projects</a>} />
    </section>
  );
}
