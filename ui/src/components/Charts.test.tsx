import { render, screen } from "@testing-library/preact";
import { describe, expect, test } from "vitest";
import { bytes } from "../format";
import { BarChart, byteTicks, ColumnChart, niceTicks } from "./Charts";

describe("axis ticks", () => {
  test("round numbers covering the largest value", () => {
    expect(niceTicks(0)).toEqual([0]);
    expect(niceTicks(95)).toEqual([0, 25, 50, 75, 100]);
    expect(niceTicks(7)).toEqual([0, 2, 4, 6, 8]);
  });

  test("byte ticks are round in one binary unit", () => {
    expect(byteTicks(300 * 1024)).toEqual([0, 100, 200, 300].map((n) => n * 1024));
    expect(byteTicks(3.5 * 1024 ** 3).map(bytes)).toEqual(["0 B", "1.00 GiB", "2.00 GiB", "3.00 GiB", "4.00 GiB"]);
  });
});

describe("charts", () => {
  test("a bar chart is one named picture with its figures as a table", () => {
    render(
      <BarChart
        title="Storage used by each project"
        description="2 projects; the largest, library, uses 2.00 KiB."
        bars={[
          { label: "library", value: 2048, href: "/projects/library" },
          { label: "empty", value: 0 },
        ]}
        format={bytes}
        labelHeader="Project"
        valueHeader="Storage used"
      />,
    );
    const picture = screen.getByRole("img", { name: /Storage used by each project/ });
    expect(picture.querySelectorAll("rect.chart-bar")).toHaveLength(2);
    expect(picture.querySelector("desc")?.textContent).toContain("the largest, library");
    expect(screen.getByRole("link", { name: "library" }).getAttribute("href")).toBe("/projects/library");
    expect(screen.getByRole("cell", { name: "2.00 KiB" })).toBeTruthy();
    // the bars are as long as their values: the largest fills the track, zero draws none
    const [big, none] = [...picture.querySelectorAll("rect.chart-bar")];
    const track = picture.querySelector("rect.chart-track");
    expect(big.getAttribute("width")).toBe(track?.getAttribute("width"));
    expect(none.getAttribute("width")).toBe("0");
  });

  test("a column chart over time", () => {
    render(
      <ColumnChart
        title="Space freed"
        description="2 runs"
        points={[
          { time: "2026-12-01T01:00:00Z", value: 100, label: "Run 1" },
          { time: "2026-12-02T01:00:00Z", value: 300, label: "Run 2" },
        ]}
        format={String}
        timeLabel={(t) => t.slice(5, 10)}
        labelHeader="Run"
        valueHeader="Freed"
      />,
    );
    const picture = screen.getByRole("img", { name: /Space freed/ });
    const heights = [...picture.querySelectorAll("rect.chart-bar")].map((r) => Number(r.getAttribute("height")));
    expect(heights[1]).toBeCloseTo(heights[0] * 3);
    expect(picture.textContent).toContain("12-02");
    expect(screen.getByRole("cell", { name: "Run 2" })).toBeTruthy();
  });
});
