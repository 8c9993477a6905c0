import { describe, expect, test } from "vitest";
import { cronProblem, scheduleBody, typeOf } from "./schedule";
import { freedOverTime, runFacts } from "./runs";
import type { GCHistory } from "../../api/types";

describe("the schedule editor", () => {
  test("cron expressions of six fields", () => {
    expect(cronProblem("0 30 2 * * 1-5")).toBe("");
    expect(cronProblem("0 */15 * * * *")).toBe("");
    expect(cronProblem("0 0 0 1,15 * ?")).toBe("");
    expect(cronProblem("30 2 * * *")).toBe(""); // the classic five: no seconds
    expect(cronProblem("0 2 * *")).toMatch(/6 fields.*or 5.*this has 4/);
    expect(cronProblem("0 61 * * * *")).toMatch(/minute field must be between 0 and 59/);
    expect(cronProblem("0 0 0 * * mon")).toMatch(/day of week field “mon” is not understood/);
  });

  test("presets become their cron, None clears", () => {
    const parameters = { delete_untagged: true, workers: 2 };
    expect(scheduleBody("Daily", "", parameters)).toEqual({ schedule: { type: "Daily", cron: "0 0 0 * * *" }, parameters });
    expect(scheduleBody("Custom", " 0 0 3 * * * ", parameters).schedule).toEqual({ type: "Custom", cron: "0 0 3 * * *" });
    expect(scheduleBody("None", "0 0 3 * * *", parameters).schedule).toEqual({ type: "None" });
  });

  test("the type shown for what the server answered", () => {
    expect(typeOf("Weekly", "0 0 0 * * 0")).toBe("Weekly");
    expect(typeOf("None", "")).toBe("None");
    expect(typeOf("Schedule", "0 0 * * * *")).toBe("Hourly");
    expect(typeOf("Schedule", "0 5 4 * * *")).toBe("Custom");
  });
});

function run(id: number, time: string, parameters: object): GCHistory {
  return {
    id,
    job_name: "GARBAGE_COLLECTION",
    job_kind: "MANUAL",
    job_parameters: JSON.stringify(parameters),
    job_status: "Success",
    deleted: false,
    schedule: { type: "Manual", cron: "", next_scheduled_time: "" },
    creation_time: time,
    update_time: time,
  };
}

describe("what runs freed", () => {
  test("facts of a run, before and after it checked in", () => {
    expect(runFacts(run(1, "", { dry_run: true, workers: 3 }))).toEqual({
      dryRun: true, deleteUntagged: false, workers: 3, freed: null, blobs: null, manifests: null,
    });
    expect(runFacts(run(2, "", { freed_space: 2048, purged_blobs: 2, purged_manifests: 1 })).freed).toBe(2048);
    expect(runFacts({ job_parameters: "not json" }).dryRun).toBe(false);
  });

  test("bytes freed over time: real, ended runs, oldest first", () => {
    const points = freedOverTime([
      run(3, "2026-12-02T01:00:00Z", { dry_run: false, freed_space: 300 }),
      run(2, "2026-12-01T01:00:00Z", { dry_run: true, freed_space: 900 }),
      run(1, "2026-11-30T01:00:00Z", { dry_run: false, freed_space: 100 }),
      run(4, "2026-12-02T02:00:00Z", { dry_run: false }),
    ]);
    expect(points.map((p) => [p.id, p.freed])).toEqual([[1, 100], [3, 300]]);
  });
});
