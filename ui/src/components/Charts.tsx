// Hand-drawn SVG charts: a horizontal bar chart (one bar per thing) and a column chart over
// time. Each is an <svg role="img"> named by its <title> and described by its <desc>, with
// the same figures as a table under a disclosure, for screen readers and for copying.
import { useId } from "preact/hooks";

export interface Bar {
  label: string;
  value: number;
  /** a link for the bar's label (e.g. the project) */
  href?: string;
}

export interface ChartProps {
  title: string;
  /** one sentence: what the picture shows, with its biggest figure */
  description: string;
  /** the value as people read it (bytes(), a count) */
  format: (value: number) => string;
  /** the header of the label column of the table */
  labelHeader: string;
  valueHeader: string;
}

/** Round numbers for an axis: 0, step, 2·step… covering `max` in about `ticks` steps. */
export function niceTicks(max: number, ticks = 4): number[] {
  if (!(max > 0)) return [0];
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
  const found: number[] = [];
  for (let v = 0; v < max + step; v += step) {
    found.push(v);
    if (v >= max) break;
  }
  return found;
}

function FigureTable({ caption, rows, labelHeader, valueHeader, format }: { caption: string; rows: Bar[] } & Pick<ChartProps, "labelHeader" | "valueHeader" | "format">) {
  return (
    <details class="chart-table">
      <summary>Show these figures as a table</summary>
      <table class="table">
        <caption class="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">{labelHeader}</th>
            <th scope="col" class="col-num">
              {valueHeader}
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={`${row.label}-${i}`}>
              <td>{row.href ? <a href={row.href}>{row.label}</a> : row.label}</td>
              <td class="col-num">{format(row.value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

/** Axis ticks for byte counts: round numbers of one binary unit (0, 128 KiB, 256 KiB…). */
export function byteTicks(max: number, ticks = 4): number[] {
  let unit = 1;
  while (max / unit >= 1024 && unit < 1024 ** 5) unit *= 1024;
  return niceTicks(max / unit, ticks).map((t) => t * unit);
}

const WIDTH = 640;

/** One horizontal bar per item, largest first as given. */
export function BarChart({ bars, title, description, format, labelHeader, valueHeader }: ChartProps & { bars: Bar[] }) {
  const id = useId();
  const row = 30;
  const labelWidth = 170;
  const valueWidth = 90;
  const top = 8;
  const height = top + bars.length * row + 8;
  const max = Math.max(0, ...bars.map((b) => b.value));
  const span = WIDTH - labelWidth - valueWidth - 16;
  return (
    <figure class="chart">
      <svg
        class="chart-svg"
        viewBox={`0 0 ${WIDTH} ${height}`}
        role="img"
        aria-labelledby={`${id}-title ${id}-desc`}
        preserveAspectRatio="xMinYMin meet"
      >
        <title id={`${id}-title`}>{title}</title>
        <desc id={`${id}-desc`}>{description}</desc>
        {bars.map((bar, i) => {
          const y = top + i * row;
          const length = max > 0 ? Math.max(bar.value > 0 ? 2 : 0, (bar.value / max) * span) : 0;
          const name = bar.label.length > 24 ? `${bar.label.slice(0, 23)}…` : bar.label;
          return (
            <g key={`${bar.label}-${i}`} aria-hidden="true">
              <text class="chart-label" x={labelWidth - 8} y={y + row / 2} text-anchor="end" dominant-baseline="middle">
                {name}
              </text>
              <rect class="chart-track" x={labelWidth} y={y + 5} width={span} height={row - 10} rx="3" />
              <rect class="chart-bar" x={labelWidth} y={y + 5} width={length} height={row - 10} rx="3" />
              <text class="chart-value" x={labelWidth + span + 8} y={y + row / 2} dominant-baseline="middle">
                {format(bar.value)}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption class="visually-hidden">{title}</figcaption>
      <FigureTable caption={title} rows={bars} labelHeader={labelHeader} valueHeader={valueHeader} format={format} />
    </figure>
  );
}

export interface Point {
  /** an ISO time */
  time: string;
  value: number;
  /** the point's name in the table (e.g. "Run 12, 2026-12-02 01:00") */
  label: string;
}

/** Columns over time, oldest on the left, with a value axis. */
export function ColumnChart({
  points,
  title,
  description,
  format,
  labelHeader,
  valueHeader,
  timeLabel,
  ticksOf = niceTicks,
}: ChartProps & { points: Point[]; timeLabel: (time: string) => string; ticksOf?: (max: number) => number[] }) {
  const id = useId();
  const height = 240;
  const left = 78;
  const right = 12;
  const top = 12;
  const bottom = 40;
  const plotW = WIDTH - left - right;
  const plotH = height - top - bottom;
  const max = Math.max(0, ...points.map((p) => p.value));
  const ticks = ticksOf(max);
  const ceiling = ticks[ticks.length - 1] || 1;
  const slot = points.length > 0 ? plotW / points.length : plotW;
  const barW = Math.max(2, Math.min(48, slot * 0.7));
  const every = Math.max(1, Math.ceil(points.length / 6)); // at most ~6 time labels
  return (
    <figure class="chart">
      <svg class="chart-svg" viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-labelledby={`${id}-title ${id}-desc`}>
        <title id={`${id}-title`}>{title}</title>
        <desc id={`${id}-desc`}>{description}</desc>
        <g aria-hidden="true">
          {ticks.map((tick) => {
            const y = top + plotH - (tick / ceiling) * plotH;
            return (
              <g key={tick}>
                <line class="chart-grid" x1={left} x2={WIDTH - right} y1={y} y2={y} />
                <text class="chart-axis" x={left - 6} y={y} text-anchor="end" dominant-baseline="middle">
                  {format(tick)}
                </text>
              </g>
            );
          })}
          {points.map((point, i) => {
            const h = (point.value / ceiling) * plotH;
            const x = left + i * slot + (slot - barW) / 2;
            return (
              <g key={`${point.time}-${i}`}>
                <rect class="chart-bar" x={x} y={top + plotH - h} width={barW} height={Math.max(h, point.value > 0 ? 1 : 0)} rx="2" />
                {i % every === 0 && (
                  <text class="chart-axis" x={x + barW / 2} y={height - bottom + 16} text-anchor="middle">
                    {timeLabel(point.time)}
                  </text>
                )}
              </g>
            );
          })}
          <line class="chart-baseline" x1={left} x2={WIDTH - right} y1={top + plotH} y2={top + plotH} />
        </g>
      </svg>
      <figcaption class="visually-hidden">{title}</figcaption>
      <FigureTable
        caption={title}
        rows={points.map((p) => ({ label: p.label, value: p.value }))}
        labelHeader={labelHeader}
        valueHeader={valueHeader}
        format={format}
      />
    </figure>
  );
}
