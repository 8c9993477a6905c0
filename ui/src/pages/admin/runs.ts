// What a garbage collection run says about itself: its parameters and, once ended, what
// it freed (Harbor's job check-in: freed_space, purged_blobs, purged_manifests).
import type { GCHistory } from "../../api/types";

export interface RunFacts {
  dryRun: boolean;
  deleteUntagged: boolean;
  workers: number | null;
  /** null while running (nothing checked in yet) */
  freed: number | null;
  blobs: number | null;
  manifests: number | null;
}

function parse(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const count = (value: unknown): number | null => (typeof value === "number" && Number.isFinite(value) ? value : null);

export function runFacts(run: Pick<GCHistory, "job_parameters">): RunFacts {
  const p = parse(run.job_parameters);
  return {
    dryRun: p.dry_run === true,
    deleteUntagged: p.delete_untagged === true,
    workers: count(p.workers),
    freed: count(p.freed_space),
    blobs: count(p.purged_blobs),
    manifests: count(p.purged_manifests),
  };
}

export interface FreedPoint {
  id: number;
  time: string;
  freed: number;
}

/** Bytes freed by each finished real run, oldest first (dry runs free nothing). */
export function freedOverTime(runs: GCHistory[]): FreedPoint[] {
  const points: FreedPoint[] = [];
  for (const run of runs) {
    const facts = runFacts(run);
    if (facts.dryRun || facts.freed === null) continue;
    points.push({ id: run.id, time: run.creation_time, freed: facts.freed });
  }
  return points.sort((a, b) => a.time.localeCompare(b.time) || a.id - b.id);
}
