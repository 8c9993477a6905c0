// The garbage collection schedule as people pick it: Harbor's presets (Hourly, Daily,
// Weekly; fixed crons), a Custom cron (six fields, seconds first, as Harbor's; or five), or None.

export type ScheduleType = "None" | "Hourly" | "Daily" | "Weekly" | "Custom";

export const PRESETS: Record<Exclude<ScheduleType, "None" | "Custom">, string> = {
  Hourly: "0 0 * * * *",
  Daily: "0 0 0 * * *",
  Weekly: "0 0 0 * * 0",
};

export const SCHEDULE_TYPES: { type: ScheduleType; label: string }[] = [
  { type: "None", label: "None (only when run by hand)" },
  { type: "Hourly", label: "Hourly, on the hour" },
  { type: "Daily", label: "Daily, at midnight (UTC)" },
  { type: "Weekly", label: "Weekly, Sunday at midnight (UTC)" },
  { type: "Custom", label: "Custom cron expression" },
];

const FIELD_NAMES = ["second", "minute", "hour", "day of month", "month", "day of week"];
const RANGES: [number, number][] = [
  [0, 59],
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
];
const ATOM = /^(\*|\?|\d+(-\d+)?)(\/\d+)?$/;

/** Why a cron expression is not one Wharf takes — six fields (seconds first, as Harbor
 * writes them) or the classic five — or "" when it is. The server has the last word; this
 * catches typing slips before the request. */
export function cronProblem(expression: string): string {
  let fields = expression.trim().split(/\s+/).filter(Boolean);
  if (fields.length === 5) fields = ["0", ...fields];
  if (fields.length !== 6) {
    return `A cron expression has 6 fields (second minute hour day month weekday) or 5 (no seconds); this has ${fields.length}.`;
  }
  for (let i = 0; i < 6; i++) {
    const field = fields[i];
    for (const part of field.split(",")) {
      if (!ATOM.test(part)) return `The ${FIELD_NAMES[i]} field “${field}” is not understood.`;
      const numbers = part.replace(/\/.*/, "").split("-").filter((n) => n !== "*" && n !== "?").map(Number);
      const [low, high] = RANGES[i];
      if (numbers.some((n) => n < low || n > high)) {
        return `The ${FIELD_NAMES[i]} field must be between ${low} and ${high}.`;
      }
    }
  }
  return "";
}

/** The type shown for a schedule the server answered (a preset's cron as its preset). */
export function typeOf(type: string, cron: string): ScheduleType {
  if (type === "Hourly" || type === "Daily" || type === "Weekly" || type === "Custom") return type;
  if (!cron) return "None";
  for (const [name, preset] of Object.entries(PRESETS)) if (preset === cron) return name as ScheduleType;
  return "Custom";
}

/** The body of PUT /system/gc/schedule. */
export function scheduleBody(
  type: ScheduleType,
  cron: string,
  parameters: { delete_untagged: boolean; workers?: number },
): { schedule: { type: string; cron?: string }; parameters: Record<string, unknown> } {
  if (type === "None") return { schedule: { type: "None" }, parameters };
  const expression = type === "Custom" ? cron.trim() : PRESETS[type];
  return { schedule: { type, cron: expression }, parameters };
}
