import { describe, expect, it } from "vitest";
import { bytes, dateTime, plural } from "./format";

describe("format", () => {
  it("shows sizes in binary units", () => {
    expect(bytes(0)).toBe("0 B");
    expect(bytes(1536)).toBe("1.50 KiB");
    expect(bytes(52_428_800)).toBe("50.0 MiB");
    expect(bytes(null)).toBe("–");
  });
  it("shows times and counts", () => {
    expect(dateTime(null)).toBe("–");
    expect(dateTime("2026-12-02T01:04:00Z")).toMatch(/^2026-12-0[12] \d\d:\d\d$/);
    expect(plural(1, "repository", "repositories")).toBe("1 repository");
    expect(plural(3, "repository", "repositories")).toBe("3 repositories");
  });
});
